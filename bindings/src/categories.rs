//! Categories for the apps: importing a categories file (`.comapeocat`) into a project, and
//! the project's categories and fields with their texts in the device's language, in the
//! order the file gives. Every method is a core call (`mapeo_core::categories`) and a
//! conversion.

use std::collections::HashMap;
use std::path::Path;

use mapeo_core::categories::{self, ImportSummary, LocalizedCategory, LocalizedField};

use crate::documents::{FieldOption, FieldType, Geometry, TagValue};
use crate::error::MapeoError;
use crate::project::Project;

/// What an import of a categories file did.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ImportedCategories {
    /// The categories set's name (from the file's metadata).
    pub name: Option<String>,
    /// Its version, as its authors number it.
    pub version: Option<String>,
    /// The categories' names, in the order shown.
    pub categories: Vec<String>,
    /// Fields written.
    pub fields: u32,
    /// Icons written.
    pub icons: u32,
    /// Translated texts written.
    pub translations: u32,
    /// The languages translated into (`es`, `pt-BR`…).
    pub languages: Vec<String>,
    /// Translated texts left out (unknown language, category, field or text).
    pub skipped_translations: u32,
    /// Documents of the previous categories replaced.
    pub replaced: u32,
}

/// A category (preset) with its texts in one language, as a picker shows it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Category {
    /// The preset's document id: what an observation's `preset_ref.doc_id` names.
    pub doc_id: String,
    /// Its current version: what `preset_ref.version_id` names.
    pub version_id: String,
    /// The name shown.
    pub name: String,
    /// Search terms.
    pub terms: Vec<String>,
    /// Color as `#RRGGBB` or `#RRGGBBAA`.
    pub color: Option<String>,
    /// The geometries it applies to (`Point` for observations, `Line` for tracks).
    pub geometry: Vec<Geometry>,
    /// Tags added to an observation when it is chosen.
    pub add_tags: HashMap<String, TagValue>,
    /// The icon document's id, if it has an icon.
    pub icon_doc_id: Option<String>,
    /// The icon's name.
    pub icon_name: Option<String>,
    /// The fields it asks, in order.
    pub fields: Vec<CategoryField>,
}

/// A field with its texts in one language.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CategoryField {
    /// The field's document id.
    pub doc_id: String,
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
    /// The choices, labels in the language, values as stored.
    pub options: Vec<FieldOption>,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl From<ImportSummary> for ImportedCategories {
    fn from(s: ImportSummary) -> Self {
        ImportedCategories {
            name: s.metadata.as_ref().map(|m| m.name.clone()),
            version: s.metadata.and_then(|m| m.version),
            categories: s.categories,
            fields: count(s.fields),
            icons: count(s.icons),
            translations: count(s.translations),
            languages: s.languages,
            skipped_translations: count(s.skipped_translations),
            replaced: count(s.replaced),
        }
    }
}

impl From<LocalizedField> for CategoryField {
    fn from(f: LocalizedField) -> Self {
        CategoryField {
            doc_id: f.doc_id.to_string(),
            tag_key: f.tag_key,
            field_type: f.field_type.into(),
            label: f.label,
            placeholder: f.placeholder,
            helper_text: f.helper_text,
            options: f
                .options
                .into_iter()
                .map(|o| FieldOption {
                    label: o.label,
                    value: o.value.into(),
                })
                .collect(),
        }
    }
}

impl From<LocalizedCategory> for Category {
    fn from(c: LocalizedCategory) -> Self {
        Category {
            doc_id: c.doc_id.to_string(),
            version_id: c.version_id.to_string(),
            name: c.name,
            terms: c.terms,
            color: c.color,
            geometry: c.geometry.into_iter().map(Into::into).collect(),
            add_tags: c.add_tags.into_iter().map(|(k, v)| (k, v.into())).collect(),
            icon_doc_id: c.icon.map(|r| r.doc_id.to_string()),
            icon_name: c.icon_name,
            fields: c.fields.into_iter().map(Into::into).collect(),
        }
    }
}

#[uniffi::export]
impl Project {
    /// Replaces the project's categories with those of a categories file (`.comapeocat`) or
    /// folder at `path`: everything is checked first, then written in one transaction, so a
    /// bad file changes nothing. Creator and coordinators only.
    pub fn import_categories(&self, path: String) -> Result<ImportedCategories, MapeoError> {
        Ok(categories::import_file(&self.inner, Path::new(&path))?.into())
    }

    /// Every category, in the order shown, with texts in `language` (a BCP 47 tag such as
    /// `es` or `es-PE`; falls back to the language, then to the texts as written; `None`:
    /// as written).
    pub fn categories(&self, language: Option<String>) -> Result<Vec<Category>, MapeoError> {
        let list = categories::categories(&self.inner, language.as_deref())?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// The categories offered for one geometry (`Point`: observations, `Line`: tracks), in
    /// the order the categories file gives, with texts in `language`.
    pub fn categories_for(
        &self,
        geometry: Geometry,
        language: Option<String>,
    ) -> Result<Vec<Category>, MapeoError> {
        let list = categories::categories_for(&self.inner, geometry.into(), language.as_deref())?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// Every field, with texts in `language`.
    pub fn category_fields(
        &self,
        language: Option<String>,
    ) -> Result<Vec<CategoryField>, MapeoError> {
        let list = categories::fields(&self.inner, language.as_deref())?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// The languages the categories are translated into (`es`, `pt-BR`…).
    pub fn category_languages(&self) -> Result<Vec<String>, MapeoError> {
        Ok(categories::languages(&self.inner)?)
    }
}
