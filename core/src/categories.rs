//! Categories files: reading a CoMapeo categories file (`.comapeocat`, format 1.0 with
//! `categories.json`, or the earlier layout with `presets.json`; a zip or a folder), checking
//! everything in it, and importing it into a project as presets, fields, icons, translations
//! and the project settings' selection and metadata, in one transaction; and reading the
//! project's categories back in a language. Sits above `schema` and uses `project` only
//! through its public API; never writes anything for a file that fails a check.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::ids::Timestamp;
use crate::index::{Document, Query};
use crate::project::Project;
use crate::schema::{
    ConfigMetadata, DefaultPresets, DocRef, DocType, DocValue, Field, FieldOption, FieldType,
    Geometry, Icon, IconMimeType, IconSize, IconVariant, Preset, ProjectSettings, TagPrimitive,
    Tags, Translation, ValidationError, tags_from_json,
};

mod comapeocat;
mod files;
mod localized;
mod presets_layout;

use files::Files;
pub use localized::{
    LocalizedCategory, LocalizedField, categories, categories_for, fields, languages,
};

/// The newest major version of the format this reader understands.
pub const SUPPORTED_MAJOR_VERSION: u32 = 1;
/// Most entries in an archive (or files in a folder): the format's own limit.
pub const MAX_ENTRIES: usize = 10_000;
/// Largest categories archive read, in bytes.
pub const MAX_ARCHIVE_BYTES: u64 = 256 * 1024 * 1024;
/// Largest single file read from an archive or folder, after decompression, in bytes.
pub const MAX_ENTRY_BYTES: u64 = 16 * 1024 * 1024;
/// Most bytes read from an archive or folder in all, after decompression: what one import
/// may hold in memory.
pub const MAX_TOTAL_BYTES: u64 = 128 * 1024 * 1024;
/// Most an entry may expand on decompression (zip bombs), beyond [`RATIO_FREE_BYTES`].
pub const MAX_COMPRESSION_RATIO: u64 = 100;
/// Entries up to this size may expand by any ratio (small text compresses very well).
pub const RATIO_FREE_BYTES: u64 = 1024 * 1024;
/// The format version written into a project's settings when a source has no `VERSION`
/// (a folder).
pub const DEFAULT_FILE_VERSION: &str = "1.0";

/// Why a categories file was not read or not imported. Names the file inside the archive
/// and the id of the entry that is wrong, never a path on disk.
#[derive(Debug, Error)]
pub enum CategoriesError {
    /// The file or folder could not be read.
    #[error("cannot read the categories file: {0}")]
    Unreadable(std::io::ErrorKind),
    /// The archive is larger than [`MAX_ARCHIVE_BYTES`].
    #[error("the categories file is larger than {max} bytes")]
    FileTooLarge {
        /// The limit.
        max: u64,
    },
    /// The file is not a zip archive.
    #[error("not a categories file: it is not a zip archive")]
    NotZip,
    /// The archive is damaged.
    #[error("the categories file is damaged")]
    Damaged,
    /// More entries than [`MAX_ENTRIES`].
    #[error("the categories file has more than {max} entries")]
    TooManyEntries {
        /// The limit.
        max: usize,
    },
    /// An entry's name leaves the archive (`../`, an absolute path) or is not UTF-8.
    #[error("an entry of the categories file has an unsafe name")]
    UnsafeEntryName,
    /// One file is larger than [`MAX_ENTRY_BYTES`].
    #[error("{file} is larger than {max} bytes")]
    EntryTooLarge {
        /// The file inside the archive.
        file: String,
        /// The limit.
        max: u64,
    },
    /// One file expands more than [`MAX_COMPRESSION_RATIO`] times.
    #[error("{file} expands more than {max} times: refused as a zip bomb")]
    CompressionRatio {
        /// The file inside the archive.
        file: String,
        /// The limit.
        max: u64,
    },
    /// Everything together is larger than [`MAX_TOTAL_BYTES`].
    #[error("the categories file holds more than {max} bytes in all")]
    TotalTooLarge {
        /// The limit.
        max: u64,
    },
    /// A file the format requires is missing.
    #[error("{file} is missing")]
    Missing {
        /// The file.
        file: &'static str,
    },
    /// `VERSION` is not `MAJOR.MINOR`.
    #[error("VERSION is not MAJOR.MINOR")]
    BadVersion,
    /// The file's major version is newer than [`SUPPORTED_MAJOR_VERSION`].
    #[error("format version {major}.x is newer than this version of mapeo reads (1.x)")]
    NewerVersion {
        /// The file's major version.
        major: u32,
    },
    /// A JSON file is malformed or not in the format's shape.
    #[error("{file} is not valid: {detail}")]
    BadJson {
        /// The file inside the archive.
        file: String,
        /// What the JSON reader found wrong, and where.
        detail: String,
    },
    /// There are no categories at all.
    #[error("no categories: expected categories.json (or presets.json)")]
    NoCategories,
    /// A category lists a field that is not defined.
    #[error("category {category:?} uses field {field:?}, which is not defined")]
    UnknownField {
        /// The category's id.
        category: String,
        /// The field id.
        field: String,
    },
    /// A category names an icon that is not in `icons/`.
    #[error("category {category:?} uses icon {icon:?}, which is not in icons/")]
    UnknownIcon {
        /// The category's id.
        category: String,
        /// The icon id.
        icon: String,
    },
    /// A category applies to no document type this reader knows (`observation`, `track`)
    /// or, in the earlier layout, to an unknown geometry.
    #[error("category {category:?} applies to nothing this version of mapeo knows")]
    AppliesToNothing {
        /// The category's id.
        category: String,
    },
    /// A field's type is unknown.
    #[error("field {field:?} has an unknown type")]
    UnknownFieldType {
        /// The field's id.
        field: String,
    },
    /// The selection names a category that is not defined.
    #[error("the {list} selection names category {category:?}, which is not defined")]
    UnknownSelected {
        /// Which list (`observation`, `track`, `point`…).
        list: String,
        /// The category's id.
        category: String,
    },
    /// The selection for a document type names a category that does not apply to it.
    #[error("the {list} selection names category {category:?}, which does not apply to it")]
    NotApplicable {
        /// Which list.
        list: String,
        /// The category's id.
        category: String,
    },
    /// An icon file is not SVG.
    #[error("icons/{icon}.svg is not SVG")]
    NotSvg {
        /// The icon's id.
        icon: String,
    },
    /// An entry breaks a rule of the documents it becomes.
    #[error("{entry} is not valid: {source}")]
    Invalid {
        /// Which entry.
        entry: Entry,
        /// The rule.
        #[source]
        source: ValidationError,
    },
    /// A language asked for is not a language tag.
    #[error("not a language tag (expected e.g. es or es-PE)")]
    BadLanguage,
    /// The project refused or failed the write (a role that may not change categories, a
    /// store that cannot be written).
    #[error(transparent)]
    Project(#[from] crate::Error),
}

/// An entry of a categories file, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A category, by id.
    Category(String),
    /// A field, by id.
    Field(String),
    /// An icon, by id.
    Icon(String),
    /// `metadata.json`.
    Metadata,
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Entry::Category(id) => write!(f, "category {id:?}"),
            Entry::Field(id) => write!(f, "field {id:?}"),
            Entry::Icon(id) => write!(f, "icon {id:?}"),
            Entry::Metadata => f.write_str("metadata.json"),
        }
    }
}

/// A categories file, read and checked, ready to import.
#[derive(Debug, Clone)]
pub struct CategorySet {
    metadata: Option<ConfigMetadata>,
    categories: BTreeMap<String, CategoryIn>,
    fields: BTreeMap<String, Field>,
    icons: BTreeMap<String, Icon>,
    /// Category ids per geometry, in the order shown.
    selection: BTreeMap<GeometryKey, Vec<String>>,
    translations: Vec<PendingTranslation>,
    skipped_translations: usize,
}

/// Geometries in the order their selections are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum GeometryKey {
    Point,
    Line,
    Area,
}

impl GeometryKey {
    fn geometry(self) -> Geometry {
        match self {
            GeometryKey::Point => Geometry::Point,
            GeometryKey::Line => Geometry::Line,
            GeometryKey::Area => Geometry::Area,
        }
    }
}

/// One category: its preset (without references yet), field ids and icon id.
#[derive(Debug, Clone)]
struct CategoryIn {
    preset: Preset,
    fields: Vec<String>,
    icon: Option<String>,
}

/// One translated text, waiting for the version of what it translates.
#[derive(Debug, Clone)]
struct PendingTranslation {
    of: DocType,
    id: String,
    property_ref: String,
    language: String,
    region: Option<String>,
    message: String,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSummary {
    /// The categories set's name and version (from `metadata.json`), if it has them.
    pub metadata: Option<ConfigMetadata>,
    /// The categories' names, in the order shown (observations' selection first).
    pub categories: Vec<String>,
    /// Fields written.
    pub fields: usize,
    /// Icons written.
    pub icons: usize,
    /// Translated texts written.
    pub translations: usize,
    /// The languages translated into (`es`, `pt-BR`…), sorted.
    pub languages: Vec<String>,
    /// Translated texts left out: unknown language, category, field or text.
    pub skipped_translations: usize,
    /// Documents of the previous categories deleted.
    pub replaced: usize,
}

/// Reads and checks a categories file (`.comapeocat`) or folder.
pub fn read(path: &Path) -> Result<CategorySet, CategoriesError> {
    let files = Files::read(path)?;
    let file_version = version(&files)?;
    let mut set = if files.has("categories") {
        comapeocat::parse(&files)?
    } else if files.has("presets") {
        presets_layout::parse(&files)?
    } else {
        return Err(CategoriesError::NoCategories);
    };
    if let Some(m) = &mut set.metadata {
        m.file_version = file_version;
    }
    Ok(set)
}

/// Reads and checks a categories file, then imports it (see [`import`]).
pub fn import_file(project: &Project, path: &Path) -> Result<ImportSummary, CategoriesError> {
    import(project, &read(path)?)
}

/// The format version from `VERSION` (required in an archive), refusing newer majors.
fn version(files: &Files) -> Result<String, CategoriesError> {
    let Some(bytes) = files.get("VERSION") else {
        return if files.archive {
            Err(CategoriesError::Missing { file: "VERSION" })
        } else {
            Ok(DEFAULT_FILE_VERSION.to_owned())
        };
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|_| CategoriesError::BadVersion)?
        .trim();
    let (major, minor) = text.split_once('.').ok_or(CategoriesError::BadVersion)?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(major) || !digits(minor) {
        return Err(CategoriesError::BadVersion);
    }
    let major: u32 = major.parse().map_err(|_| CategoriesError::BadVersion)?;
    if major > SUPPORTED_MAJOR_VERSION {
        return Err(CategoriesError::NewerVersion { major });
    }
    Ok(text.to_owned())
}

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

fn metadata(files: &Files) -> Result<Option<ConfigMetadata>, CategoriesError> {
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

fn fields_in(files: &Files) -> Result<BTreeMap<String, Field>, CategoriesError> {
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
fn primitive(v: &Value) -> Option<TagPrimitive> {
    Some(match v {
        Value::Null => TagPrimitive::Null,
        Value::Bool(b) => TagPrimitive::Bool(*b),
        Value::Number(n) => TagPrimitive::Number(n.as_f64()?),
        Value::String(s) => TagPrimitive::String(s.clone()),
        Value::Array(_) | Value::Object(_) => return None,
    })
}

fn icons_in(files: &Files) -> Result<BTreeMap<String, Icon>, CategoriesError> {
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

fn looks_like_svg(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    std::str::from_utf8(bytes).is_ok() && String::from_utf8_lossy(head).contains("<svg")
}

/// The parts of a category both layouts share, before geometry.
struct CategoryParts<'a> {
    id: &'a str,
    name: &'a str,
    geometry: Vec<Geometry>,
    tags: Option<&'a Value>,
    add_tags: Option<&'a Value>,
    remove_tags: Option<&'a Value>,
    fields: &'a [String],
    icon: Option<&'a String>,
    terms: &'a [String],
    color: Option<&'a str>,
}

/// Checks one category against the fields and icons and makes its preset.
fn category(
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
fn widen_color(c: &str) -> String {
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
fn selection_list(
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

/// A BCP 47 tag's language and region subtags, or `None` when it does not look like one.
/// Accepts `_` for `-` (Android and Java locales write `es_PE`).
pub(crate) fn language_tag(tag: &str) -> Option<(String, Option<String>)> {
    let mut parts = tag.split(['-', '_']);
    let lang = parts.next()?;
    if !(2..=3).contains(&lang.len()) || !lang.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let mut region = None;
    for p in parts {
        let alpha = p.len() == 2 && p.bytes().all(|b| b.is_ascii_alphabetic());
        let digits = p.len() == 3 && p.bytes().all(|b| b.is_ascii_digit());
        let other = (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric());
        if !(alpha || digits || other) {
            return None;
        }
        if region.is_none() && (alpha || digits) {
            region = Some(p.to_uppercase());
        }
    }
    Some((lang.to_lowercase(), region))
}

/// The property reference of an option's label, by its value (the format 1.0 form, which
/// survives reordering the options): `options[value="mine"].label`.
pub(crate) fn option_ref(value: &TagPrimitive) -> String {
    let json = serde_json::to_string(value).unwrap_or_default();
    format!("options[value={json}].label")
}

/// A translated text as the file gives it: (what, id, property, message).
type RawTranslation = (DocType, String, String, String);

impl CategorySet {
    /// Keeps the translations that name a known category or field and one of its texts,
    /// with property references in one form (see [`option_ref`]).
    fn add_translations(&mut self, language_file: &str, raw: Vec<RawTranslation>) {
        let Some((language, region)) = language_tag(language_file) else {
            self.skipped_translations += raw.len();
            return;
        };
        for (of, id, property, message) in raw {
            let property = match of {
                DocType::Preset => self
                    .categories
                    .contains_key(&id)
                    .then_some(property)
                    .filter(|p| matches!(p.as_str(), "name" | "terms")),
                _ => self
                    .fields
                    .get(&id)
                    .and_then(|f| field_property(f, &property)),
            };
            let Some(property_ref) = property else {
                self.skipped_translations += 1;
                continue;
            };
            self.translations.push(PendingTranslation {
                of,
                id,
                property_ref,
                language: language.clone(),
                region: region.clone(),
                message,
            });
        }
    }

    /// The categories' names in the order shown: each selection in turn, then the rest.
    fn display_order(&self) -> Vec<&str> {
        let mut order: Vec<&str> = Vec::new();
        for ids in self.selection.values() {
            for id in ids {
                if !order.contains(&id.as_str()) {
                    order.push(id);
                }
            }
        }
        for id in self.categories.keys() {
            if !order.contains(&id.as_str()) {
                order.push(id);
            }
        }
        order
    }

    /// The categories' names, in the order shown.
    pub fn category_names(&self) -> Vec<String> {
        self.display_order()
            .into_iter()
            .filter_map(|id| self.categories.get(id))
            .map(|c| c.preset.name.clone())
            .collect()
    }
}

/// A field's property reference in the stored form, if the field has that text.
fn field_property(f: &Field, property: &str) -> Option<String> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;

    #[test]
    fn language_tags_split_into_language_and_region() {
        assert_eq!(language_tag("es"), Some(("es".into(), None)));
        assert_eq!(
            language_tag("pt-BR"),
            Some(("pt".into(), Some("BR".into())))
        );
        assert_eq!(
            language_tag("es_pe"),
            Some(("es".into(), Some("PE".into())))
        );
        assert_eq!(
            language_tag("es-419"),
            Some(("es".into(), Some("419".into())))
        );
        assert_eq!(language_tag("sat"), Some(("sat".into(), None)));
        assert_eq!(language_tag("x"), None);
        assert_eq!(language_tag("es PE"), None);
    }

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
