//! Writing a checked categories set into a project: the previous categories replaced, the
//! selection and metadata put in the project settings, all in one batch (one transaction).

use std::collections::{BTreeMap, BTreeSet};

use super::{CategoriesError, CategorySet, GeometryKey, ImportSummary};
use crate::ids::Timestamp;
use crate::index::{Document, Query};
use crate::project::Project;
use crate::schema::{DefaultPresets, DocRef, DocType, DocValue, Translation};

/// Replaces the project's presets, fields, icons and translations with `set`'s, and writes
/// the selection and metadata into the project's settings — all in one transaction: if any
/// write is refused (this device's role may not change categories, say), nothing changes.
pub fn import(project: &Project, set: &CategorySet) -> Result<ImportSummary, CategoriesError> {
    let old: Vec<Document> = [
        DocType::Translation,
        DocType::Preset,
        DocType::Field,
        DocType::Icon,
    ]
    .into_iter()
    .map(|t| project.list(&Query::all(t)))
    .collect::<Result<Vec<_>, _>>()?
    .into_iter()
    .flatten()
    .collect();
    let mut settings = project.settings()?;
    let order = set.display_order();
    let (translations, languages) = project.batch(|b| {
        for d in &old {
            b.delete(d.doc_id())?;
        }
        let reference = |d: &Document| DocRef {
            doc_id: d.doc.doc_id.clone(),
            version_id: d.version_id,
        };
        let mut icon_refs = BTreeMap::new();
        for (name, icon) in &set.icons {
            let d = b.create(DocValue::Icon(icon.clone()))?;
            icon_refs.insert(name.as_str(), reference(&d));
        }
        let mut field_refs = BTreeMap::new();
        for (id, field) in &set.fields {
            let d = b.create(DocValue::Field(field.clone()))?;
            field_refs.insert(id.as_str(), reference(&d));
        }
        let mut preset_refs = BTreeMap::new();
        for id in &order {
            let Some(c) = set.categories.get(*id) else {
                continue;
            };
            let mut p = c.preset.clone();
            p.field_refs = c
                .fields
                .iter()
                .filter_map(|f| field_refs.get(f.as_str()).cloned())
                .collect();
            p.icon_ref = c.icon.as_deref().and_then(|i| icon_refs.get(i).cloned());
            let d = b.create(DocValue::Preset(p))?;
            preset_refs.insert(*id, reference(&d));
        }
        let mut written = 0;
        let mut languages = BTreeSet::new();
        for t in &set.translations {
            let doc_ref = match t.of {
                DocType::Preset => preset_refs.get(t.id.as_str()),
                _ => field_refs.get(t.id.as_str()),
            };
            let Some(doc_ref) = doc_ref else { continue };
            b.create(DocValue::Translation(Translation {
                doc_ref: doc_ref.clone(),
                doc_ref_type: t.of,
                property_ref: t.property_ref.clone(),
                language_code: t.language.clone(),
                region_code: t.region.clone(),
                message: t.message.clone(),
            }))?;
            languages.insert(match &t.region {
                Some(r) => format!("{}-{r}", t.language),
                None => t.language.clone(),
            });
            written += 1;
        }
        let mut defaults = DefaultPresets::default();
        for (key, ids) in &set.selection {
            let list: Vec<_> = ids
                .iter()
                .filter_map(|id| preset_refs.get(id.as_str()))
                .map(|r| r.doc_id.clone())
                .collect();
            match key {
                GeometryKey::Point => defaults.point = list,
                GeometryKey::Line => defaults.line = list,
                GeometryKey::Area => defaults.area = list,
            }
        }
        settings.default_presets = Some(defaults);
        settings.config_metadata = set.metadata.clone().map(|mut m| {
            m.import_date = Timestamp::now();
            m
        });
        b.set_settings(settings.clone())?;
        Ok((written, languages))
    })?;
    Ok(ImportSummary {
        metadata: settings.config_metadata,
        categories: set.category_names(),
        fields: set.fields.len(),
        icons: set.icons.len(),
        translations,
        languages: languages.into_iter().collect(),
        skipped_translations: set.skipped_translations,
        replaced: old.len(),
    })
}
