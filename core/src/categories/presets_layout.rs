//! The earlier layout of categories files (the format's 1.0 drafts, still written by older
//! tools): `presets.json` (by id, with `geometry`), `defaults.json` (the order shown, per
//! geometry), `fields.json`, `metadata.json`, `icons/` and `translations/LANG.json` shaped
//! `{preset: {id: [{propertyRef, message}]}, field: {…}}`. A folder may also hold `presets/`
//! and `fields/` with one file per id.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::entries::{CategoryParts, category, fields_in, icons_in, metadata, selection_list};
use super::files::{Files, parse_json};
use super::{CategoriesError, CategorySet, GeometryKey, RawTranslation};
use crate::schema::{DocType, Geometry};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PresetIn {
    name: String,
    #[serde(default)]
    geometry: Vec<String>,
    #[serde(default)]
    tags: Option<Value>,
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default)]
    add_tags: Option<Value>,
    #[serde(default)]
    remove_tags: Option<Value>,
    #[serde(default)]
    icon: Option<String>,
    #[serde(default)]
    terms: Vec<String>,
    #[serde(default)]
    color: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TranslationIn {
    #[serde(rename = "propertyRef")]
    property_ref: String,
    message: String,
}

#[derive(Debug, Deserialize, Default)]
struct TranslationsIn {
    #[serde(default)]
    preset: BTreeMap<String, Vec<TranslationIn>>,
    #[serde(default)]
    field: BTreeMap<String, Vec<TranslationIn>>,
}

fn geometry(g: &str) -> Option<Geometry> {
    Some(match g {
        "point" => Geometry::Point,
        "vertex" => Geometry::Vertex,
        "line" => Geometry::Line,
        "area" => Geometry::Area,
        "relation" => Geometry::Relation,
        _ => return None,
    })
}

pub(super) fn parse(files: &Files) -> Result<CategorySet, CategoriesError> {
    let presets_in = files
        .objects::<PresetIn>("presets")?
        .ok_or(CategoriesError::NoCategories)?;
    let metadata = metadata(files)?;
    let defaults = files.json::<BTreeMap<String, Vec<String>>>("defaults.json")?;
    if defaults.is_none() && files.archive {
        return Err(CategoriesError::Missing {
            file: "defaults.json",
        });
    }
    let fields = fields_in(files)?;
    let icons = icons_in(files)?;
    let mut categories = BTreeMap::new();
    for (id, p) in &presets_in {
        let mut list = Vec::new();
        for g in &p.geometry {
            // An unknown geometry is an error here: the drafts fixed the list.
            let g = geometry(g).ok_or_else(|| CategoriesError::AppliesToNothing {
                category: id.clone(),
            })?;
            if !list.contains(&g) {
                list.push(g);
            }
        }
        let parts = CategoryParts {
            id,
            name: &p.name,
            geometry: list,
            tags: p.tags.as_ref(),
            add_tags: p.add_tags.as_ref(),
            remove_tags: p.remove_tags.as_ref(),
            fields: &p.fields,
            icon: p.icon.as_ref(),
            terms: &p.terms,
            color: p.color.as_deref(),
        };
        categories.insert(id.clone(), category(parts, &fields, &icons)?);
    }
    let mut selection = BTreeMap::new();
    if let Some(mut d) = defaults {
        for (list, key) in [
            ("point", GeometryKey::Point),
            ("line", GeometryKey::Line),
            ("area", GeometryKey::Area),
        ] {
            let ids = d.remove(list).unwrap_or_default();
            // The drafts let defaults name presets that are not there.
            let ids = selection_list(list, key.geometry(), ids, &categories, true)?;
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
        for (of, by_id) in [(DocType::Preset, file.preset), (DocType::Field, file.field)] {
            for (id, list) in by_id {
                for t in list {
                    raw.push((of, id.clone(), t.property_ref, t.message));
                }
            }
        }
        set.add_translations(language, raw);
    }
    Ok(set)
}
