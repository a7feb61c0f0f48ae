//! A project's categories as an app shows them: presets with their fields, icon and texts in
//! a language (falling back from `es-PE` to `es` to another region of `es` to the original
//! text), in the order of the project's selection.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{CategoriesError, language_tag, option_ref};
use crate::ids::{DocId, VersionId};
use crate::index::{Document, Query};
use crate::project::Project;
use crate::schema::{
    DocRef, DocType, DocValue, Field, FieldOption, FieldType, Geometry, Preset, Tags, Translation,
};

/// A category (preset) with its texts in one language.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalizedCategory {
    /// The preset's document id (what an observation's `presetRef` names).
    pub doc_id: DocId,
    /// Its current version.
    pub version_id: VersionId,
    /// The name shown.
    pub name: String,
    /// Search terms.
    pub terms: Vec<String>,
    /// Color as `#RRGGBB` or `#RRGGBBAA`.
    pub color: Option<String>,
    /// The geometries it applies to (`point` for observations, `line` for tracks).
    pub geometry: Vec<Geometry>,
    /// Tags that match a document to it.
    pub tags: Tags,
    /// Tags added when it is chosen.
    pub add_tags: Tags,
    /// Tags removed when another is chosen.
    pub remove_tags: Tags,
    /// Its icon document, if it has one.
    pub icon: Option<DocRef>,
    /// The icon's name.
    pub icon_name: Option<String>,
    /// The fields it asks, in order.
    pub fields: Vec<LocalizedField>,
}

/// A field with its texts in one language.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalizedField {
    /// The field's document id.
    pub doc_id: DocId,
    /// The tag its answer is stored in.
    pub tag_key: String,
    /// How it is answered.
    pub field_type: FieldType,
    /// The question shown.
    pub label: String,
    /// Shown in an empty field.
    pub placeholder: Option<String>,
    /// Further guidance.
    pub helper_text: Option<String>,
    /// The choices, with their labels in the language (values unchanged).
    pub options: Vec<FieldOption>,
    /// Whether it can be added to any preset.
    pub universal: bool,
}

/// Texts of one language by (document, property), best match kept.
struct Texts(HashMap<(DocId, String), (u8, String)>);

impl Texts {
    fn load(project: &Project, language: Option<&str>) -> Result<Texts, CategoriesError> {
        let mut map = HashMap::new();
        let Some(language) = language else {
            return Ok(Texts(map));
        };
        let (lang, region) = language_tag(language).ok_or(CategoriesError::BadLanguage)?;
        for d in project.list(&Query::all(DocType::Translation))? {
            let DocValue::Translation(t) = d.doc.value else {
                continue;
            };
            if !t.language_code.eq_ignore_ascii_case(&lang) {
                continue;
            }
            let rank = rank(&t, region.as_deref());
            let key = (t.doc_ref.doc_id, t.property_ref);
            // Ties (two versions for one region) go to the larger text so that the choice
            // does not depend on the order of the list.
            let better = match map.get(&key) {
                None => true,
                Some((r, m)) => (rank, &t.message) > (*r, m),
            };
            if better {
                map.insert(key, (rank, t.message));
            }
        }
        Ok(Texts(map))
    }

    fn get(&self, doc: &DocId, property: &str) -> Option<&str> {
        self.0
            .get(&(doc.clone(), property.to_owned()))
            .map(|(_, m)| m.as_str())
    }
}

/// How well a translation fits: its region asked for, then no region, then another region.
fn rank(t: &Translation, region: Option<&str>) -> u8 {
    match (&t.region_code, region) {
        (Some(r), Some(want)) if r.eq_ignore_ascii_case(want) => 3,
        (None, _) => 2,
        _ => 1,
    }
}

/// Every category of the project, in the order shown (the selection for observations, then
/// for tracks, then the rest by name), with texts in `language` (`None`: as written).
pub fn categories(
    project: &Project,
    language: Option<&str>,
) -> Result<Vec<LocalizedCategory>, CategoriesError> {
    let texts = Texts::load(project, language)?;
    let presets = project.list(&Query::all(DocType::Preset))?;
    let settings = project.settings()?;
    let selected: Vec<DocId> = settings
        .default_presets
        .as_ref()
        .map(|d| d.all().cloned().collect())
        .unwrap_or_default();
    let ordered = order(presets, &selected);
    ordered
        .into_iter()
        .map(|d| localize(project, &texts, d))
        .collect()
}

/// The categories offered for one geometry (`point`: observations, `line`: tracks), in the
/// order of the project's selection; without a selection, every category that applies, by
/// name.
pub fn categories_for(
    project: &Project,
    geometry: Geometry,
    language: Option<&str>,
) -> Result<Vec<LocalizedCategory>, CategoriesError> {
    let texts = Texts::load(project, language)?;
    let presets = project.list(&Query::all(DocType::Preset))?;
    let settings = project.settings()?;
    let chosen: Vec<Document> = match settings.default_presets {
        Some(d) if !d.of(geometry).is_empty() => {
            let by_id: BTreeMap<DocId, Document> = presets
                .into_iter()
                .map(|d| (d.doc.doc_id.clone(), d))
                .collect();
            d.of(geometry)
                .iter()
                .filter_map(|id| by_id.get(id).cloned())
                .collect()
        }
        _ => order(presets, &[])
            .into_iter()
            .filter(
                |d| matches!(&d.doc.value, DocValue::Preset(p) if p.geometry.contains(&geometry)),
            )
            .collect(),
    };
    chosen
        .into_iter()
        .map(|d| localize(project, &texts, d))
        .collect()
}

/// Every field of the project, by label, with texts in `language`.
pub fn fields(
    project: &Project,
    language: Option<&str>,
) -> Result<Vec<LocalizedField>, CategoriesError> {
    let texts = Texts::load(project, language)?;
    let mut out: Vec<LocalizedField> = project
        .list(&Query::all(DocType::Field))?
        .into_iter()
        .filter_map(|d| match d.doc.value {
            DocValue::Field(f) => Some(localize_field(&texts, d.doc.doc_id, f)),
            _ => None,
        })
        .collect();
    out.sort_by(|a, b| (&a.label, &a.doc_id).cmp(&(&b.label, &b.doc_id)));
    Ok(out)
}

/// The languages the project's categories are translated into (`es`, `pt-BR`…), sorted.
pub fn languages(project: &Project) -> Result<Vec<String>, CategoriesError> {
    let mut set = BTreeSet::new();
    for d in project.list(&Query::all(DocType::Translation))? {
        if let DocValue::Translation(t) = d.doc.value {
            set.insert(match t.region_code {
                Some(r) => format!("{}-{r}", t.language_code),
                None => t.language_code,
            });
        }
    }
    Ok(set.into_iter().collect())
}

/// Presets: those selected first in the selection's order, then the rest by name and id.
fn order(presets: Vec<Document>, selected: &[DocId]) -> Vec<Document> {
    let mut rest: Vec<Document> = Vec::new();
    let mut by_id: BTreeMap<DocId, Document> = BTreeMap::new();
    for d in presets {
        if selected.contains(&d.doc.doc_id) {
            by_id.insert(d.doc.doc_id.clone(), d);
        } else {
            rest.push(d);
        }
    }
    let mut out: Vec<Document> = Vec::new();
    for id in selected {
        if let Some(d) = by_id.remove(id) {
            out.push(d);
        }
    }
    let name = |d: &Document| match &d.doc.value {
        DocValue::Preset(p) => p.name.clone(),
        _ => String::new(),
    };
    rest.sort_by_cached_key(|d| (name(d), d.doc.doc_id.clone()));
    out.extend(rest);
    out
}

fn localize(
    project: &Project,
    texts: &Texts,
    d: Document,
) -> Result<LocalizedCategory, CategoriesError> {
    let doc_id = d.doc.doc_id.clone();
    let DocValue::Preset(p) = d.doc.value else {
        return Err(crate::Error::NotFound { what: "preset" }.into());
    };
    let Preset {
        name,
        geometry,
        tags,
        add_tags,
        remove_tags,
        field_refs,
        icon_ref,
        terms,
        color,
    } = p;
    let mut fields = Vec::with_capacity(field_refs.len());
    for r in &field_refs {
        if let Some(DocValue::Field(f)) = referenced(project, r)? {
            fields.push(localize_field(texts, r.doc_id.clone(), f));
        }
    }
    let icon_name = match &icon_ref {
        Some(r) => match referenced(project, r)? {
            Some(DocValue::Icon(i)) => Some(i.name),
            _ => None,
        },
        None => None,
    };
    let terms = match texts.get(&doc_id, "terms") {
        // The format gives translated terms as one comma-separated text.
        Some(t) => t
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        None => terms,
    };
    Ok(LocalizedCategory {
        name: texts.get(&doc_id, "name").map_or(name, str::to_owned),
        doc_id,
        version_id: d.version_id,
        terms,
        color,
        geometry,
        tags,
        add_tags,
        remove_tags,
        icon: icon_ref,
        icon_name,
        fields,
    })
}

fn localize_field(texts: &Texts, doc_id: DocId, f: Field) -> LocalizedField {
    let text = |property: &str, original: Option<String>| {
        original.map(|o| texts.get(&doc_id, property).map_or(o, str::to_owned))
    };
    let options = f
        .options
        .into_iter()
        .map(|o| FieldOption {
            label: texts
                .get(&doc_id, &option_ref(&o.value))
                .map_or(o.label, str::to_owned),
            value: o.value,
        })
        .collect();
    LocalizedField {
        label: text("label", Some(f.label)).unwrap_or_default(),
        placeholder: text("placeholder", f.placeholder),
        helper_text: text("helperText", f.helper_text),
        doc_id,
        tag_key: f.tag_key,
        field_type: f.field_type,
        options,
        universal: f.universal,
    }
}

/// The version a reference names, or else the document's current version (a preset keeps
/// referring to a field that was edited since).
fn referenced(project: &Project, r: &DocRef) -> Result<Option<DocValue>, CategoriesError> {
    match project.get_version(&r.version_id) {
        Ok(d) if d.doc.doc_id == r.doc_id => return Ok(Some(d.doc.value)),
        Ok(_) | Err(crate::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    match project.get(&r.doc_id) {
        Ok(d) => Ok(Some(d.doc.value)),
        Err(crate::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
