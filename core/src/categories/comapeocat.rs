//! The categories format 1.0 as CoMapeo ships it: `categories.json` (by id, with `appliesTo`
//! document types), `categorySelection.json` (the order shown, per document type),
//! `fields.json`, `metadata.json`, `icons/*.svg` and `translations/LANG.json` shaped
//! `{category: {id: {property: text}}, field: {…}}`. An observation is a point, a track a line.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::entries::{CategoryParts, category, fields_in, icons_in, metadata, selection_list};
use super::files::{Files, parse_json};
use super::{CategoriesError, CategorySet, GeometryKey, RawTranslation};
use crate::schema::{DocType, Geometry};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CategoryIn {
    name: String,
    #[serde(default)]
    applies_to: Vec<String>,
    #[serde(default)]
    tags: Option<Value>,
    #[serde(default)]
    add_tags: Option<Value>,
    #[serde(default)]
    remove_tags: Option<Value>,
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default)]
    icon: Option<String>,
    #[serde(default)]
    terms: Vec<String>,
    #[serde(default)]
    color: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SelectionIn {
    #[serde(default)]
    observation: Vec<String>,
    #[serde(default)]
    track: Vec<String>,
}

/// `{category: {id: {property: text}}, field: {…}}`; anything but text is skipped.
#[derive(Debug, Deserialize, Default)]
struct TranslationsIn {
    #[serde(default)]
    category: BTreeMap<String, BTreeMap<String, Value>>,
    #[serde(default)]
    field: BTreeMap<String, BTreeMap<String, Value>>,
}

/// Document types a category may apply to, and the geometry each one is.
fn geometry(applies_to: &str) -> Option<Geometry> {
    match applies_to {
        "observation" => Some(Geometry::Point),
        "track" => Some(Geometry::Line),
        // Later minor versions may add document types: readers skip what they do not know.
        _ => None,
    }
}

pub(super) fn parse(files: &Files) -> Result<CategorySet, CategoriesError> {
    let categories_in = files
        .objects::<CategoryIn>("categories")?
        .ok_or(CategoriesError::NoCategories)?;
    let metadata = metadata(files)?;
    let selection_in = files.json::<SelectionIn>("categorySelection.json")?;
    if selection_in.is_none() && files.archive {
        return Err(CategoriesError::Missing {
            file: "categorySelection.json",
        });
    }
    let fields = fields_in(files)?;
    let icons = icons_in(files)?;
    let mut categories = BTreeMap::new();
    for (id, c) in &categories_in {
        let mut geometry_list = Vec::new();
        for g in c.applies_to.iter().filter_map(|a| geometry(a)) {
            if !geometry_list.contains(&g) {
                geometry_list.push(g);
            }
        }
        let parts = CategoryParts {
            id,
            name: &c.name,
            geometry: geometry_list,
            tags: c.tags.as_ref(),
            add_tags: c.add_tags.as_ref(),
            remove_tags: c.remove_tags.as_ref(),
            fields: &c.fields,
            icon: c.icon.as_ref(),
            terms: &c.terms,
            color: c.color.as_deref(),
        };
        categories.insert(id.clone(), category(parts, &fields, &icons)?);
    }
    let mut selection = BTreeMap::new();
    if let Some(s) = selection_in {
        for (list, key, ids) in [
            ("observation", GeometryKey::Point, s.observation),
            ("track", GeometryKey::Line, s.track),
        ] {
            let ids = selection_list(list, key.geometry(), ids, &categories, false)?;
            selection.insert(key, ids);
        }
    }
    let mut set = CategorySet {
        metadata,
        categories,
        fields,
        icons,
        selection,
        translations: Vec::new(),
        skipped_translations: 0,
    };
    for (language, bytes) in files.in_folder("translations", "json") {
        let file: TranslationsIn = parse_json(&format!("translations/{language}.json"), bytes)?;
        let mut raw: Vec<RawTranslation> = Vec::new();
        for (of, by_id) in [
            (DocType::Preset, file.category),
            (DocType::Field, file.field),
        ] {
            for (id, texts) in by_id {
                for (property, message) in texts {
                    match message {
                        Value::String(m) => raw.push((of, id.clone(), property, m)),
                        _ => set.skipped_translations += 1,
                    }
                }
            }
        }
        set.add_translations(language, raw);
    }
    Ok(set)
}
