//! Category configuration documents beyond presets and fields: icons (their image bytes kept
//! inline, bounded) and translations of preset and field texts, in the shape of the CoMapeo
//! data model. Owns their fields, serde names and rules.

use serde::{Deserialize, Serialize};

use super::{DocRef, DocType, MAX_TEXT_CHARS, ValidationError, check_len};

/// Largest image of one icon variant, in bytes. An icon document holds its variants inline,
/// so all of them together must also fit in [`MAX_DOC_BYTES`](super::MAX_DOC_BYTES).
pub const MAX_ICON_BYTES: usize = 512 * 1024;
/// Most variants of one icon (sizes × pixel densities × formats).
pub const MAX_ICON_VARIANTS: usize = 16;
/// Most characters in a translation's language or region code.
pub const MAX_LANGUAGE_CODE_CHARS: usize = 35;
/// Most characters in a translation's property reference (`name`, `options.3`…).
pub const MAX_PROPERTY_REF_CHARS: usize = 256;

/// An icon shown for a preset, in one or more sizes and formats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Icon {
    /// Its name (the file name it came from, without extension).
    pub name: String,
    /// The images; at least one.
    pub variants: Vec<IconVariant>,
}

/// One image of an icon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IconVariant {
    /// The size it is drawn for.
    pub size: IconSize,
    /// Pixel density of a PNG (1, 2 or 3); absent for SVG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_density: Option<u8>,
    /// The image format.
    pub mime_type: IconMimeType,
    /// The image bytes, at most [`MAX_ICON_BYTES`].
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// The size an icon variant is drawn for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IconSize {
    /// Small.
    Small,
    /// Medium.
    Medium,
    /// Large.
    Large,
}

/// The format of an icon variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IconMimeType {
    /// `image/svg+xml`.
    #[serde(rename = "image/svg+xml")]
    Svg,
    /// `image/png`.
    #[serde(rename = "image/png")]
    Png,
}

impl IconMimeType {
    /// The MIME type as text.
    pub fn as_str(self) -> &'static str {
        match self {
            IconMimeType::Svg => "image/svg+xml",
            IconMimeType::Png => "image/png",
        }
    }
}

/// A translation of one text of a preset or field into one language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Translation {
    /// The translated document's version.
    pub doc_ref: DocRef,
    /// The type of the translated document.
    pub doc_ref_type: DocType,
    /// Which text: `name`, `label`, `placeholder`, `helperText`, `terms`, `options.N`….
    pub property_ref: String,
    /// The language (BCP 47 primary subtag, e.g. `es`).
    pub language_code: String,
    /// The region, if the translation is for one (e.g. `PE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_code: Option<String>,
    /// The translated text.
    pub message: String,
}

pub(super) fn icon(i: &Icon) -> Result<(), ValidationError> {
    if i.name.trim().is_empty() {
        return Err(ValidationError::Empty { field: "icon name" });
    }
    check_len(&i.name, "icon name", MAX_TEXT_CHARS)?;
    if i.variants.is_empty() {
        return Err(ValidationError::Empty { field: "variants" });
    }
    if i.variants.len() > MAX_ICON_VARIANTS {
        return Err(ValidationError::TooMany {
            field: "variants",
            max: MAX_ICON_VARIANTS,
        });
    }
    for v in &i.variants {
        if v.data.is_empty() {
            return Err(ValidationError::Empty { field: "icon data" });
        }
        if v.data.len() > MAX_ICON_BYTES {
            return Err(ValidationError::TooMany {
                field: "icon data bytes",
                max: MAX_ICON_BYTES,
            });
        }
        match (v.mime_type, v.pixel_density) {
            (IconMimeType::Png, Some(1..=3)) | (IconMimeType::Svg, None) => {}
            _ => return Err(ValidationError::BadIconVariant),
        }
    }
    Ok(())
}

fn code(s: &str, field: &'static str) -> Result<(), ValidationError> {
    if s.is_empty() {
        return Err(ValidationError::Empty { field });
    }
    check_len(s, field, MAX_LANGUAGE_CODE_CHARS)?;
    if s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(())
    } else {
        Err(ValidationError::BadLanguageCode)
    }
}

pub(super) fn translation(t: &Translation) -> Result<(), ValidationError> {
    code(&t.language_code, "languageCode")?;
    if let Some(region) = &t.region_code {
        code(region, "regionCode")?;
    }
    if t.property_ref.is_empty() {
        return Err(ValidationError::Empty {
            field: "propertyRef",
        });
    }
    check_len(&t.property_ref, "propertyRef", MAX_PROPERTY_REF_CHARS)?;
    check_len(&t.message, "message", MAX_TEXT_CHARS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::super::DocValue;
    use super::super::tests::{icon, translation};
    use super::*;

    #[test]
    fn icon_rules_refuse_empty_oversized_and_mismatched_variants() {
        assert_eq!(DocValue::Icon(icon()).validate(), Ok(()));
        let mut none = icon();
        none.variants.clear();
        assert_eq!(
            DocValue::Icon(none).validate(),
            Err(ValidationError::Empty { field: "variants" })
        );
        let mut big = icon();
        big.variants[0].data = vec![b' '; MAX_ICON_BYTES + 1];
        assert!(matches!(
            DocValue::Icon(big).validate(),
            Err(ValidationError::TooMany { .. })
        ));
        let mut svg_density = icon();
        svg_density.variants[0].pixel_density = Some(2);
        assert_eq!(
            DocValue::Icon(svg_density).validate(),
            Err(ValidationError::BadIconVariant)
        );
        let mut png_no_density = icon();
        png_no_density.variants[1].pixel_density = None;
        assert_eq!(
            DocValue::Icon(png_no_density).validate(),
            Err(ValidationError::BadIconVariant)
        );
    }

    #[test]
    fn translation_rules_check_codes_and_property() {
        assert_eq!(DocValue::Translation(translation()).validate(), Ok(()));
        let mut bad = translation();
        bad.language_code = "es_PE".into();
        assert_eq!(
            DocValue::Translation(bad).validate(),
            Err(ValidationError::BadLanguageCode)
        );
        let mut empty = translation();
        empty.property_ref.clear();
        assert!(DocValue::Translation(empty).validate().is_err());
        let json = serde_json::to_value(translation()).unwrap();
        assert_eq!(json["docRefType"], "preset");
        assert_eq!(json["languageCode"], "es");
        let icon_json = serde_json::to_value(icon()).unwrap();
        assert_eq!(icon_json["variants"][0]["mimeType"], "image/svg+xml");
    }
}
