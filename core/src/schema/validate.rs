//! Validation of documents: ranges, required fields and size limits. Pure checks of one
//! version on its own; whether links exist or an author may write belongs to the layers above.

use std::collections::HashSet;

use super::tags::{validate_primitive, validate_tags};
use super::{
    Attachment, BlobIndex, Coords, DeviceInfo, Doc, DocValue, Field, FieldType, MAX_BLOB_BYTES,
    MAX_LINKS, MAX_LIST_ITEMS, MAX_MIME_CHARS, MAX_NAME_CHARS, MAX_TAG_KEY_CHARS, MAX_TEXT_CHARS,
    Observation, Preset, ProjectSettings, ROLE_IDS, Role, Track, ValidationError, Variant,
    check_len,
};

impl Doc {
    /// Checks the value, that `updatedAt` is not before `createdAt`, and that the links are
    /// distinct and at most [`MAX_LINKS`].
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.value.validate()?;
        if self.updated_at < self.created_at {
            return Err(ValidationError::UpdatedBeforeCreated);
        }
        if self.links.len() > MAX_LINKS {
            return Err(ValidationError::TooMany {
                field: "links",
                max: MAX_LINKS,
            });
        }
        let mut seen = HashSet::with_capacity(self.links.len());
        if !self.links.iter().all(|link| seen.insert(link)) {
            return Err(ValidationError::DuplicateLink);
        }
        if let DocValue::BlobIndex(b) = &self.value {
            let named = b
                .original()
                .is_some_and(|o| o.hash.to_string() == self.doc_id.as_str());
            if !named {
                return Err(ValidationError::BlobIndexDocId);
            }
        }
        Ok(())
    }
}

impl DocValue {
    /// Checks the fields against the rules of the document's type and the size limits.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            DocValue::Observation(o) => observation(o),
            DocValue::Track(t) => track(t),
            DocValue::Preset(p) => preset(p),
            DocValue::Field(f) => field(f),
            DocValue::ProjectSettings(s) => project_settings(s),
            DocValue::DeviceInfo(d) => device_info(d),
            DocValue::Role(r) => role(r),
            DocValue::Icon(i) => super::config_types::icon(i),
            DocValue::Translation(t) => super::config_types::translation(t),
            DocValue::BlobIndex(b) => blob_index(b),
        }
    }
}

fn observation(o: &Observation) -> Result<(), ValidationError> {
    match (o.lat, o.lon) {
        (Some(lat), Some(lon)) => lat_lon(lat, "lat", lon, "lon")?,
        (None, None) => {}
        _ => return Err(ValidationError::LocationIncomplete),
    }
    list_len(&o.attachments, "attachments")?;
    o.attachments.iter().try_for_each(attachment)?;
    validate_tags(&o.tags)?;
    let coords = o
        .metadata
        .as_ref()
        .and_then(|m| m.position.as_ref())
        .and_then(|p| p.coords.as_ref());
    if let Some(c) = coords {
        self::coords(c)?;
    }
    Ok(())
}

fn attachment(a: &Attachment) -> Result<(), ValidationError> {
    if a.name.is_empty() {
        return Err(ValidationError::Empty {
            field: "attachment name",
        });
    }
    check_len(&a.name, "attachment name", MAX_TEXT_CHARS)?;
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if a.hash.len() != 64 || !a.hash.bytes().all(lower_hex) {
        return Err(ValidationError::BadHash);
    }
    Ok(())
}

fn track(t: &Track) -> Result<(), ValidationError> {
    if t.locations.len() < 2 {
        return Err(ValidationError::TrackTooShort);
    }
    list_len(&t.locations, "locations")?;
    t.locations.iter().try_for_each(|p| coords(&p.coords))?;
    list_len(&t.observation_refs, "observationRefs")?;
    validate_tags(&t.tags)
}

fn preset(p: &Preset) -> Result<(), ValidationError> {
    display_text(&p.name, "name", MAX_TEXT_CHARS)?;
    if p.geometry.is_empty() {
        return Err(ValidationError::Empty { field: "geometry" });
    }
    list_len(&p.geometry, "geometry")?;
    validate_tags(&p.tags)?;
    validate_tags(&p.add_tags)?;
    validate_tags(&p.remove_tags)?;
    list_len(&p.field_refs, "fieldRefs")?;
    list_len(&p.terms, "terms")?;
    for term in &p.terms {
        check_len(term, "terms", MAX_TEXT_CHARS)?;
    }
    p.color.as_deref().map_or(Ok(()), color)
}

fn field(f: &Field) -> Result<(), ValidationError> {
    if f.tag_key.is_empty() {
        return Err(ValidationError::Empty { field: "tagKey" });
    }
    check_len(&f.tag_key, "tagKey", MAX_TAG_KEY_CHARS)?;
    display_text(&f.label, "label", MAX_TEXT_CHARS)?;
    let select = matches!(
        f.field_type,
        FieldType::SelectOne | FieldType::SelectMultiple
    );
    if select && f.options.is_empty() {
        return Err(ValidationError::NoOptions);
    }
    list_len(&f.options, "options")?;
    for option in &f.options {
        display_text(&option.label, "option label", MAX_TEXT_CHARS)?;
        validate_primitive(&option.value, "option value")?;
    }
    optional_text(f.placeholder.as_deref(), "placeholder", MAX_TEXT_CHARS)?;
    optional_text(f.helper_text.as_deref(), "helperText", MAX_TEXT_CHARS)
}

fn project_settings(s: &ProjectSettings) -> Result<(), ValidationError> {
    optional_text(s.name.as_deref(), "name", MAX_NAME_CHARS)?;
    optional_text(
        s.project_description.as_deref(),
        "projectDescription",
        MAX_TEXT_CHARS,
    )?;
    s.project_color.as_deref().map_or(Ok(()), color)?;
    if let Some(d) = &s.default_presets {
        for list in [&d.point, &d.area, &d.vertex, &d.line, &d.relation] {
            list_len(list, "defaultPresets")?;
        }
    }
    if let Some(m) = &s.config_metadata {
        display_text(&m.name, "configMetadata name", MAX_NAME_CHARS)?;
        optional_text(
            m.version.as_deref(),
            "configMetadata version",
            MAX_NAME_CHARS,
        )?;
        check_len(&m.file_version, "fileVersion", MAX_NAME_CHARS)?;
        optional_text(m.builder_name.as_deref(), "builderName", MAX_NAME_CHARS)?;
        optional_text(
            m.builder_version.as_deref(),
            "builderVersion",
            MAX_NAME_CHARS,
        )?;
    }
    Ok(())
}

fn device_info(d: &DeviceInfo) -> Result<(), ValidationError> {
    display_text(&d.name, "name", MAX_NAME_CHARS)
}

fn role(r: &Role) -> Result<(), ValidationError> {
    if !ROLE_IDS.contains(&r.role_id.as_str()) {
        return Err(ValidationError::BadRoleId);
    }
    optional_text(r.reason.as_deref(), "reason", MAX_TEXT_CHARS)
}

fn blob_index(b: &BlobIndex) -> Result<(), ValidationError> {
    let allowed = Variant::of(b.kind);
    let mut seen = HashSet::new();
    for v in &b.variants {
        if !allowed.contains(&v.variant) || !seen.insert(v.variant) {
            return Err(ValidationError::BadVariants);
        }
        if v.size > MAX_BLOB_BYTES {
            return Err(ValidationError::BlobTooLarge);
        }
        display_text(&v.mime_type, "mimeType", MAX_MIME_CHARS)?;
    }
    if !seen.contains(&Variant::Original) {
        return Err(ValidationError::BadVariants);
    }
    Ok(())
}

fn finite(n: f64, field: &'static str) -> Result<f64, ValidationError> {
    if n.is_finite() {
        Ok(n)
    } else {
        Err(ValidationError::NotFinite { field })
    }
}

fn lat_lon(
    lat: f64,
    lat_field: &'static str,
    lon: f64,
    lon_field: &'static str,
) -> Result<(), ValidationError> {
    if !(-90.0..=90.0).contains(&finite(lat, lat_field)?) {
        return Err(ValidationError::LatitudeOutOfRange);
    }
    if !(-180.0..=180.0).contains(&finite(lon, lon_field)?) {
        return Err(ValidationError::LongitudeOutOfRange);
    }
    Ok(())
}

fn coords(c: &Coords) -> Result<(), ValidationError> {
    lat_lon(c.latitude, "latitude", c.longitude, "longitude")?;
    let optional = [
        (c.altitude, "altitude", false),
        (c.altitude_accuracy, "altitudeAccuracy", true),
        (c.heading, "heading", false),
        (c.speed, "speed", true),
        (c.accuracy, "accuracy", true),
    ];
    for (value, field, non_negative) in optional {
        let Some(n) = value else { continue };
        if finite(n, field)? < 0.0 && non_negative {
            return Err(ValidationError::Negative { field });
        }
    }
    Ok(())
}

fn color(c: &str) -> Result<(), ValidationError> {
    let ok = matches!(c.len(), 7 | 9)
        && c.starts_with('#')
        && c.bytes().skip(1).all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(ValidationError::BadColor)
    }
}

fn list_len<T>(items: &[T], field: &'static str) -> Result<(), ValidationError> {
    if items.len() > MAX_LIST_ITEMS {
        Err(ValidationError::TooMany {
            field,
            max: MAX_LIST_ITEMS,
        })
    } else {
        Ok(())
    }
}

/// A name or label: not blank, and at most `max` characters.
fn display_text(s: &str, field: &'static str, max: usize) -> Result<(), ValidationError> {
    if s.trim().is_empty() {
        return Err(ValidationError::Empty { field });
    }
    check_len(s, field, max)
}

fn optional_text(s: Option<&str>, field: &'static str, max: usize) -> Result<(), ValidationError> {
    s.map_or(Ok(()), |s| check_len(s, field, max))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::super::tests::{coords, doc, field, observation, preset, track, values, version};
    use super::super::{
        Attachment, AttachmentKind, DeviceType, MAX_TAG_KEY_CHARS, MAX_TAGS, ROLE_BLOCKED,
        TagPrimitive, TagValue, Tags,
    };
    use super::*;
    use crate::ids::{Namespace, Timestamp};

    fn obs(change: impl FnOnce(&mut Observation)) -> Doc {
        let mut o = observation();
        change(&mut o);
        doc(DocValue::Observation(o))
    }

    fn trk(change: impl FnOnce(&mut Track)) -> Doc {
        let mut t = track();
        change(&mut t);
        doc(DocValue::Track(t))
    }

    fn pre(change: impl FnOnce(&mut Preset)) -> Doc {
        let mut p = preset();
        change(&mut p);
        doc(DocValue::Preset(p))
    }

    fn fld(change: impl FnOnce(&mut Field)) -> Doc {
        let mut f = field();
        change(&mut f);
        doc(DocValue::Field(f))
    }

    fn env(change: impl FnOnce(&mut Doc)) -> Doc {
        let mut d = doc(DocValue::Track(track()));
        change(&mut d);
        d
    }

    fn settings(s: ProjectSettings) -> Doc {
        doc(DocValue::ProjectSettings(s))
    }

    fn device(name: &str) -> Doc {
        doc(DocValue::DeviceInfo(DeviceInfo {
            name: name.into(),
            device_type: DeviceType::Tablet,
        }))
    }

    fn role(id: &str, reason: Option<String>) -> Doc {
        doc(DocValue::Role(Role {
            role_id: id.into(),
            from_index: Default::default(),
            reason,
        }))
    }

    fn tag(key: &str, value: TagValue) -> impl FnOnce(&mut Observation) {
        let key = key.to_owned();
        move |o| {
            o.tags.insert(key, value);
        }
    }

    fn position(c: Coords) -> impl FnOnce(&mut Observation) {
        move |o| {
            if let Some(p) = o.metadata.as_mut().and_then(|m| m.position.as_mut()) {
                p.coords = Some(c);
            }
        }
    }

    #[test]
    fn schema_samples_are_valid() {
        for value in values() {
            assert_eq!(doc(value).validate(), Ok(()));
        }
        // Only the four written roles are valid; a location may be absent altogether.
        for id in ROLE_IDS {
            assert_eq!(role(id, None).validate(), Ok(()));
        }
        assert_eq!(
            role("project-creator", None).validate(),
            Err(ValidationError::BadRoleId)
        );
        assert_eq!(obs(|o| (o.lat, o.lon) = (None, None)).validate(), Ok(()));
        assert_eq!(obs(|o| o.lat = Some(90.0)).validate(), Ok(()));
        assert_eq!(
            fld(|f| {
                f.field_type = FieldType::Text;
                f.options.clear();
            })
            .validate(),
            Ok(())
        );
        assert_eq!(device(&"é".repeat(MAX_NAME_CHARS)).validate(), Ok(()));
    }

    #[test]
    fn schema_every_rule_has_its_own_error() {
        use ValidationError as E;
        let long = |n: usize| "x".repeat(n + 1);
        let many_tags: Tags = (0..=MAX_TAGS)
            .map(|i| (format!("k{i}"), TagValue::Null))
            .collect();
        let attachment = |name: &str, hash: String| Attachment {
            name: name.into(),
            kind: AttachmentKind::Audio,
            hash,
        };
        let text_list = |n| vec![String::new(); n];
        let rows: Vec<(&str, Doc, E)> = vec![
            (
                "lat > 90",
                obs(|o| o.lat = Some(90.5)),
                E::LatitudeOutOfRange,
            ),
            (
                "lon < -180",
                obs(|o| o.lon = Some(-181.0)),
                E::LongitudeOutOfRange,
            ),
            ("lat only", obs(|o| o.lon = None), E::LocationIncomplete),
            (
                "lat NaN",
                obs(|o| o.lat = Some(f64::NAN)),
                E::NotFinite { field: "lat" },
            ),
            (
                "lon inf",
                obs(|o| o.lon = Some(f64::INFINITY)),
                E::NotFinite { field: "lon" },
            ),
            (
                "metadata latitude",
                obs(position(coords(-91.0, 0.0))),
                E::LatitudeOutOfRange,
            ),
            (
                "metadata longitude",
                obs(position(coords(0.0, 180.5))),
                E::LongitudeOutOfRange,
            ),
            (
                "metadata accuracy",
                obs(position(Coords {
                    accuracy: Some(-1.0),
                    ..coords(0.0, 0.0)
                })),
                E::Negative { field: "accuracy" },
            ),
            (
                "metadata speed",
                obs(position(Coords {
                    speed: Some(-0.5),
                    ..coords(0.0, 0.0)
                })),
                E::Negative { field: "speed" },
            ),
            (
                "metadata altitude",
                obs(position(Coords {
                    altitude: Some(f64::NAN),
                    ..coords(0.0, 0.0)
                })),
                E::NotFinite { field: "altitude" },
            ),
            (
                "attachment name",
                obs(|o| o.attachments = vec![attachment("", "0".repeat(64))]),
                E::Empty {
                    field: "attachment name",
                },
            ),
            (
                "attachment hash uppercase",
                obs(|o| o.attachments = vec![attachment("a", "AB".repeat(32))]),
                E::BadHash,
            ),
            (
                "attachment hash short",
                obs(|o| o.attachments = vec![attachment("a", "ab".repeat(31))]),
                E::BadHash,
            ),
            (
                "tag key empty",
                obs(tag("", TagValue::Null)),
                E::Empty { field: "tag key" },
            ),
            (
                "tag key long",
                obs(tag(&long(MAX_TAG_KEY_CHARS), TagValue::Null)),
                E::TooLong {
                    field: "tag key",
                    max: MAX_TAG_KEY_CHARS,
                },
            ),
            (
                "tag number",
                obs(tag("n", TagValue::Number(f64::NEG_INFINITY))),
                E::NotFinite { field: "tag value" },
            ),
            (
                "tag list number",
                obs(tag(
                    "n",
                    TagValue::List(vec![TagPrimitive::Number(f64::NAN)]),
                )),
                E::NotFinite { field: "tag value" },
            ),
            (
                "tag string",
                obs(tag("s", TagValue::String(long(MAX_TEXT_CHARS)))),
                E::TooLong {
                    field: "tag value",
                    max: MAX_TEXT_CHARS,
                },
            ),
            (
                "tag list",
                obs(tag(
                    "l",
                    TagValue::List(vec![TagPrimitive::Null; MAX_LIST_ITEMS + 1]),
                )),
                E::TooMany {
                    field: "tag value",
                    max: MAX_LIST_ITEMS,
                },
            ),
            (
                "tag count",
                obs(|o| o.tags = many_tags),
                E::TooMany {
                    field: "tags",
                    max: MAX_TAGS,
                },
            ),
            (
                "attachments",
                obs(|o| o.attachments = vec![attachment("a", "0".repeat(64)); MAX_LIST_ITEMS + 1]),
                E::TooMany {
                    field: "attachments",
                    max: MAX_LIST_ITEMS,
                },
            ),
            (
                "track short",
                trk(|t| t.locations.truncate(1)),
                E::TrackTooShort,
            ),
            (
                "track point",
                trk(|t| t.locations[1].coords.latitude = 100.0),
                E::LatitudeOutOfRange,
            ),
            (
                "track point NaN",
                trk(|t| t.locations[0].coords.longitude = f64::NAN),
                E::NotFinite { field: "longitude" },
            ),
            (
                "track points",
                trk(|t| t.locations = vec![t.locations[0].clone(); MAX_LIST_ITEMS + 1]),
                E::TooMany {
                    field: "locations",
                    max: MAX_LIST_ITEMS,
                },
            ),
            (
                "preset name",
                pre(|p| p.name = "  ".into()),
                E::Empty { field: "name" },
            ),
            (
                "preset geometry",
                pre(|p| p.geometry.clear()),
                E::Empty { field: "geometry" },
            ),
            (
                "preset color",
                pre(|p| p.color = Some("#12345".into())),
                E::BadColor,
            ),
            (
                "preset color text",
                pre(|p| p.color = Some("red".into())),
                E::BadColor,
            ),
            (
                "preset terms",
                pre(|p| p.terms = text_list(MAX_LIST_ITEMS + 1)),
                E::TooMany {
                    field: "terms",
                    max: MAX_LIST_ITEMS,
                },
            ),
            (
                "preset term",
                pre(|p| p.terms = vec![long(MAX_TEXT_CHARS)]),
                E::TooLong {
                    field: "terms",
                    max: MAX_TEXT_CHARS,
                },
            ),
            (
                "preset addTags",
                pre(|p| {
                    p.add_tags.insert(String::new(), TagValue::Null);
                }),
                E::Empty { field: "tag key" },
            ),
            (
                "field tagKey",
                fld(|f| f.tag_key.clear()),
                E::Empty { field: "tagKey" },
            ),
            (
                "field label",
                fld(|f| f.label = "\n".into()),
                E::Empty { field: "label" },
            ),
            ("field options", fld(|f| f.options.clear()), E::NoOptions),
            (
                "field option label",
                fld(|f| f.options[0].label.clear()),
                E::Empty {
                    field: "option label",
                },
            ),
            (
                "field option value",
                fld(|f| f.options[0].value = TagPrimitive::Number(f64::NAN)),
                E::NotFinite {
                    field: "option value",
                },
            ),
            (
                "field helperText",
                fld(|f| f.helper_text = Some(long(MAX_TEXT_CHARS))),
                E::TooLong {
                    field: "helperText",
                    max: MAX_TEXT_CHARS,
                },
            ),
            ("device name", device(" "), E::Empty { field: "name" }),
            (
                "device name long",
                device(&"é".repeat(MAX_NAME_CHARS + 1)),
                E::TooLong {
                    field: "name",
                    max: MAX_NAME_CHARS,
                },
            ),
            (
                "project name",
                settings(ProjectSettings {
                    name: Some(long(MAX_NAME_CHARS)),
                    ..Default::default()
                }),
                E::TooLong {
                    field: "name",
                    max: MAX_NAME_CHARS,
                },
            ),
            (
                "project color",
                settings(ProjectSettings {
                    project_color: Some("#00ff00f".into()),
                    ..Default::default()
                }),
                E::BadColor,
            ),
            ("role id", role("creator", None), E::BadRoleId),
            (
                "role reason",
                role(ROLE_BLOCKED, Some(long(MAX_TEXT_CHARS))),
                E::TooLong {
                    field: "reason",
                    max: MAX_TEXT_CHARS,
                },
            ),
            (
                "updated before created",
                env(|d| d.updated_at = Timestamp(d.created_at.0 - 1)),
                E::UpdatedBeforeCreated,
            ),
            (
                "duplicate link",
                env(|d| d.links.push(d.links[0])),
                E::DuplicateLink,
            ),
            (
                "too many links",
                env(|d| {
                    d.links = (0..=MAX_LINKS as u64)
                        .map(|s| version(Namespace::Data, s))
                        .collect()
                }),
                E::TooMany {
                    field: "links",
                    max: MAX_LINKS,
                },
            ),
        ];
        for (name, doc, expected) in rows {
            assert_eq!(doc.validate(), Err(expected), "{name}");
        }
    }

    #[test]
    fn schema_error_messages_are_lowercase_and_carry_no_values() {
        let errors = [
            ValidationError::NotFinite { field: "lat" },
            ValidationError::TooLong {
                field: "name",
                max: 100,
            },
            ValidationError::DocTooLarge { size: 2, max: 1 },
            ValidationError::BadTagValue,
            ValidationError::LinkNotFound,
            ValidationError::LinkToOtherDoc,
            ValidationError::LinkToOtherType,
            ValidationError::NoLinks,
        ];
        for e in errors {
            let text = e.to_string();
            assert!(!text.ends_with('.'), "{text}");
            assert_eq!(text, text.to_lowercase(), "{text}");
        }
    }

    #[test]
    fn blob_indexes_name_their_original_and_only_their_kind_of_variants() {
        use super::super::tests::blob_index;
        use super::super::{AttachmentKind, VariantBlob};
        let good = doc(DocValue::BlobIndex(blob_index()));
        assert_eq!(good.validate(), Ok(()));
        let mut other_id = good.clone();
        other_id.doc_id = crate::ids::DocId::random();
        assert_eq!(other_id.validate(), Err(ValidationError::BlobIndexDocId));
        let with = |change: &dyn Fn(&mut BlobIndex)| {
            let mut b = blob_index();
            change(&mut b);
            DocValue::BlobIndex(b).validate()
        };
        assert_eq!(
            with(&|b| b.kind = AttachmentKind::Audio),
            Err(ValidationError::BadVariants)
        );
        assert_eq!(
            with(&|b| {
                b.variants.remove(0);
            }),
            Err(ValidationError::BadVariants)
        );
        assert_eq!(
            with(&|b| b.variants.push(b.variants[1].clone())),
            Err(ValidationError::BadVariants)
        );
        assert_eq!(
            with(&|b| b.variants[0].size = MAX_BLOB_BYTES + 1),
            Err(ValidationError::BlobTooLarge)
        );
        assert_eq!(
            with(&|b| b.variants[2].mime_type = " ".into()),
            Err(ValidationError::Empty { field: "mimeType" })
        );
        let audio = BlobIndex {
            kind: AttachmentKind::Audio,
            variants: vec![VariantBlob {
                mime_type: "audio/mpeg".into(),
                ..blob_index().variants[0].clone()
            }],
        };
        assert_eq!(DocValue::BlobIndex(audio).validate(), Ok(()));
    }
}
