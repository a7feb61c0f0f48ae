//! Categories files: reading a CoMapeo categories file (`.comapeocat`, format 1.0 with
//! `categories.json`, or the earlier layout with `presets.json`; a zip or a folder), checking
//! everything in it, and importing it into a project as presets, fields, icons, translations
//! and the project settings' selection and metadata, in one transaction; and reading the
//! project's categories back in a language. Sits above `schema` and uses `project` only
//! through its public API; never writes anything for a file that fails a check.

use std::collections::BTreeMap;
use std::path::Path;

use thiserror::Error;

use crate::project::Project;
use crate::schema::{
    ConfigMetadata, DocType, Field, Geometry, Icon, Preset, TagPrimitive, ValidationError,
};

mod comapeocat;
mod entries;
mod files;
mod localized;
mod presets_layout;
mod write;

use entries::field_property;
use files::Files;
pub use localized::{
    LocalizedCategory, LocalizedField, categories, categories_for, fields, languages,
};
pub use write::import;

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
}
