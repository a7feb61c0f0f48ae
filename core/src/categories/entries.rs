//! The entries both layouts of a categories file share — `metadata.json`, fields, icons, a
//! category's checks against its fields and icons, a selection list, a translated field
//! text's property reference — read and checked into the documents they become. Pure: no
//! project, no I/O beyond the files already read.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::files::Files;
use super::{CategoriesError, CategoryIn, DEFAULT_FILE_VERSION, Entry, option_ref};
use crate::ids::Timestamp;
use crate::schema::{
    ConfigMetadata, DocValue, Field, FieldOption, FieldType, Geometry, Icon, IconMimeType,
    IconSize, IconVariant, Preset, ProjectSettings, TagPrimitive, Tags, ValidationError,
    tags_from_json,
};

/// `metadata.json`, as both layouts have it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataIn {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    build_date_value: Option<i64>,
    #[serde(default)]
    builder_name: Option<String>,
    #[serde(default)]
    builder_version: Option<String>,
}

pub(super) fn metadata(files: &Files) -> Result<Option<ConfigMetadata>, CategoriesError> {
    let Some(m) = files.json::<MetadataIn>("metadata.json")? else {
        return if files.archive {
            Err(CategoriesError::Missing {
                file: "metadata.json",
            })
        } else {
            Ok(None)
        };
    };
    let meta = ConfigMetadata {
        name: m.name,
        version: m.version,
        build_date: m.build_date_value.map(Timestamp),
        import_date: Timestamp(0),
        file_version: DEFAULT_FILE_VERSION.to_owned(),
        builder_name: m.builder_name,
        builder_version: m.builder_version,
    };
    DocValue::ProjectSettings(ProjectSettings {
        config_metadata: Some(meta.clone()),
        ..ProjectSettings::default()
    })
    .validate()
    .map_err(|source| CategoriesError::Invalid {
        entry: Entry::Metadata,
        source,
    })?;
    Ok(Some(meta))
}

/// A field, as both layouts write it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FieldIn {
    #[serde(rename = "type")]
    field_type: String,
    #[serde(default, alias = "key")]
    tag_key: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    placeholder: Option<String>,
    #[serde(default)]
    helper_text: Option<String>,
    #[serde(default)]
    options: Vec<OptionIn>,
    #[serde(default)]
    universal: bool,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OptionIn {
    Full { label: String, value: Value },
    Plain(String),
}

pub(super) fn fields_in(files: &Files) -> Result<BTreeMap<String, Field>, CategoriesError> {
    let mut fields = BTreeMap::new();
    for (id, f) in files.objects::<FieldIn>("fields")?.unwrap_or_default() {
        let field_type = match f.field_type.as_str() {
            "text" | "textarea" | "localized" => FieldType::Text,
            "number" => FieldType::Number,
            "selectOne" | "select_one" | "select" | "combo" => FieldType::SelectOne,
            "selectMultiple" | "select_multiple" | "multiselect" => FieldType::SelectMultiple,
            "date" | "datetime" => FieldType::Date,
            _ => return Err(CategoriesError::UnknownFieldType { field: id }),
        };
        let invalid = |source| CategoriesError::Invalid {
            entry: Entry::Field(id.clone()),
            source,
        };
        let tag_key = f.tag_key.unwrap_or_else(|| id.clone());
        let label = f.label.unwrap_or_else(|| tag_key.clone());
        let mut options = Vec::with_capacity(f.options.len());
        for o in f.options {
            options.push(match o {
                OptionIn::Full { label, value } => FieldOption {
                    label,
                    value: primitive(&value)
                        .ok_or_else(|| invalid(ValidationError::BadTagValue))?,
                },
                OptionIn::Plain(s) => FieldOption {
                    label: s.clone(),
                    value: TagPrimitive::String(s),
                },
            });
        }
        let field = Field {
            tag_key,
            field_type,
            label,
            options,
            placeholder: f.placeholder,
            helper_text: f.helper_text,
            universal: f.universal,
        };
        DocValue::Field(field.clone()).validate().map_err(invalid)?;
        fields.insert(id, field);
    }
    Ok(fields)
}

/// A JSON value as a select option's value, if it is one (not a list or object).
pub(super) fn primitive(v: &Value) -> Option<TagPrimitive> {
    Some(match v {
        Value::Null => TagPrimitive::Null,
        Value::Bool(b) => TagPrimitive::Bool(*b),
        Value::Number(n) => TagPrimitive::Number(n.as_f64()?),
        Value::String(s) => TagPrimitive::String(s.clone()),
        Value::Array(_) | Value::Object(_) => return None,
    })
}

pub(super) fn icons_in(files: &Files) -> Result<BTreeMap<String, Icon>, CategoriesError> {
    let mut icons: BTreeMap<String, Icon> = BTreeMap::new();
    for (ext, mime) in [("svg", IconMimeType::Svg), ("png", IconMimeType::Png)] {
        for (name, bytes) in files.in_folder("icons", ext) {
            if mime == IconMimeType::Svg && !looks_like_svg(bytes) {
                return Err(CategoriesError::NotSvg {
                    icon: name.to_owned(),
                });
            }
            icons
                .entry(name.to_owned())
                .or_insert_with(|| Icon {
                    name: name.to_owned(),
                    variants: Vec::new(),
                })
                .variants
                .push(IconVariant {
                    size: IconSize::Medium,
                    pixel_density: (mime == IconMimeType::Png).then_some(1),
                    mime_type: mime,
                    data: bytes.to_vec(),
                });
        }
    }
    for (name, icon) in &icons {
        DocValue::Icon(icon.clone())
            .validate()
            .map_err(|source| CategoriesError::Invalid {
                entry: Entry::Icon(name.clone()),
                source,
            })?;
    }
    Ok(icons)
}

pub(super) fn looks_like_svg(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    std::str::from_utf8(bytes).is_ok() && String::from_utf8_lossy(head).contains("<svg")
}

/// The parts of a category both layouts share, before geometry.
pub(super) struct CategoryParts<'a> {
    pub(super) id: &'a str,
    pub(super) name: &'a str,
    pub(super) geometry: Vec<Geometry>,
    pub(super) tags: Option<&'a Value>,
    pub(super) add_tags: Option<&'a Value>,
    pub(super) remove_tags: Option<&'a Value>,
    pub(super) fields: &'a [String],
    pub(super) icon: Option<&'a String>,
    pub(super) terms: &'a [String],
    pub(super) color: Option<&'a str>,
}

/// Checks one category against the fields and icons and makes its preset.
pub(super) fn category(
    parts: CategoryParts<'_>,
    fields: &BTreeMap<String, Field>,
    icons: &BTreeMap<String, Icon>,
) -> Result<CategoryIn, CategoriesError> {
    let id = parts.id;
    let invalid = |source| CategoriesError::Invalid {
        entry: Entry::Category(id.to_owned()),
        source,
    };
    if parts.geometry.is_empty() {
        return Err(CategoriesError::AppliesToNothing {
            category: id.to_owned(),
        });
    }
    if let Some(f) = parts.fields.iter().find(|f| !fields.contains_key(*f)) {
        return Err(CategoriesError::UnknownField {
            category: id.to_owned(),
            field: f.clone(),
        });
    }
    if let Some(icon) = parts.icon
        && !icons.contains_key(icon)
    {
        return Err(CategoriesError::UnknownIcon {
            category: id.to_owned(),
            icon: icon.clone(),
        });
    }
    let tags = |v: Option<&Value>| -> Result<Tags, CategoriesError> {
        match v {
            None | Some(Value::Null) => Ok(Tags::new()),
            Some(v) => tags_from_json(v).map_err(invalid),
        }
    };
    let match_tags = tags(parts.tags)?;
    // The format's defaults: addTags are the tags, removeTags the addTags.
    let add_tags = match parts.add_tags {
        Some(v) => tags(Some(v))?,
        None => match_tags.clone(),
    };
    let remove_tags = match parts.remove_tags {
        Some(v) => tags(Some(v))?,
        None => add_tags.clone(),
    };
    let preset = Preset {
        name: parts.name.to_owned(),
        geometry: parts.geometry,
        tags: match_tags,
        add_tags,
        remove_tags,
        field_refs: Vec::new(),
        icon_ref: None,
        terms: parts.terms.to_vec(),
        color: parts.color.map(widen_color),
    };
    DocValue::Preset(preset.clone())
        .validate()
        .map_err(invalid)?;
    Ok(CategoryIn {
        preset,
        fields: parts.fields.to_vec(),
        icon: parts.icon.cloned(),
    })
}

/// `#rgb` becomes `#rrggbb`; other forms are left for validation.
pub(super) fn widen_color(c: &str) -> String {
    let hex: Vec<char> = c.trim_start_matches('#').chars().collect();
    if c.starts_with('#') && hex.len() == 3 && hex.iter().all(char::is_ascii_hexdigit) {
        let mut out = String::from("#");
        for ch in hex {
            out.push(ch);
            out.push(ch);
        }
        out
    } else {
        c.to_owned()
    }
}

/// Checks a selection list: every id defined and applying to the list's geometry.
pub(super) fn selection_list(
    list: &str,
    geometry: Geometry,
    ids: Vec<String>,
    categories: &BTreeMap<String, CategoryIn>,
    skip_unknown: bool,
) -> Result<Vec<String>, CategoriesError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(c) = categories.get(&id) else {
            if skip_unknown {
                continue;
            }
            return Err(CategoriesError::UnknownSelected {
                list: list.to_owned(),
                category: id,
            });
        };
        if !c.preset.geometry.contains(&geometry) {
            return Err(CategoriesError::NotApplicable {
                list: list.to_owned(),
                category: id,
            });
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// A field's property reference in the stored form, if the field has that text.
pub(super) fn field_property(f: &Field, property: &str) -> Option<String> {
    match property {
        "label" | "name" => Some("label".to_owned()),
        "placeholder" => f.placeholder.is_some().then(|| property.to_owned()),
        "helperText" => f.helper_text.is_some().then(|| property.to_owned()),
        other => {
            let value = if let Some(i) = other.strip_prefix("options.") {
                // The earlier layout: by position.
                let i: usize = i.strip_suffix(".label").unwrap_or(i).parse().ok()?;
                f.options.get(i)?.value.clone()
            } else {
                let inner = other
                    .strip_prefix("options[value=")?
                    .strip_suffix("].label")?;
                let v = serde_json::from_str::<Value>(inner)
                    .ok()
                    .and_then(|v| primitive(&v))
                    .unwrap_or_else(|| TagPrimitive::String(inner.to_owned()));
                f.options.iter().find(|o| o.value == v)?.value.clone()
            };
            Some(option_ref(&value))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_references_by_position_and_by_value_meet_in_one_form() {
        let f = Field {
            tag_key: "t".into(),
            field_type: FieldType::SelectOne,
            label: "T".into(),
            options: vec![
                FieldOption {
                    label: "Church".into(),
                    value: "Church".into(),
                },
                FieldOption {
                    label: "Three".into(),
                    value: TagPrimitive::Number(3.0),
                },
            ],
            placeholder: None,
            helper_text: None,
            universal: false,
        };
        let church = Some(r#"options[value="Church"].label"#.to_owned());
        assert_eq!(
            field_property(&f, r#"options[value="Church"].label"#),
            church
        );
        assert_eq!(field_property(&f, "options.0"), church);
        assert_eq!(
            field_property(&f, "options[value=3].label"),
            Some("options[value=3].label".to_owned())
        );
        assert_eq!(field_property(&f, r#"options[value="Shop"].label"#), None);
        assert_eq!(field_property(&f, "options.7"), None);
        assert_eq!(field_property(&f, "placeholder"), None);
        assert_eq!(field_property(&f, "name"), Some("label".to_owned()));
    }

    #[test]
    fn short_colors_expand() {
        assert_eq!(widen_color("#0a3"), "#00aa33");
        assert_eq!(widen_color("#00aa33"), "#00aa33");
    }
}
