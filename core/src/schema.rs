//! Document types, their validation and their encoding. Owns the shape of every document a
//! project stores (following the CoMapeo data model, camelCase in JSON), the limits they must
//! respect and their CBOR form; does no I/O and knows nothing of feeds, roles or the index.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::{DocId, Namespace, Timestamp, VersionId};

mod answers;
mod config_types;
mod tags;
mod types;
mod validate;

pub use config_types::{
    Icon, IconMimeType, IconSize, IconVariant, MAX_ICON_BYTES, MAX_ICON_VARIANTS,
    MAX_LANGUAGE_CODE_CHARS, MAX_PROPERTY_REF_CHARS, Translation,
};

pub use answers::check_answers;
pub use tags::{TagPrimitive, TagValue, Tags, tags_from_json};
pub use types::{
    Attachment, AttachmentKind, BlobIndex, ConfigMetadata, Coords, DefaultPresets, DeviceInfo,
    DeviceType, DocRef, DocValue, FeedPositions, Field, FieldOption, FieldType, Geometry,
    Observation, ObservationMetadata, Position, PositionProvider, Preset, ProjectSettings, Role,
    Track, TrackPoint, Variant, VariantBlob,
};

/// Largest encoded document, in bytes. Larger documents are refused when encoding and
/// decoding.
pub const MAX_DOC_BYTES: usize = 1024 * 1024;
/// Most versions one version may link to (the heads it replaces).
pub const MAX_LINKS: usize = 64;
/// Most characters in a device or project name.
pub const MAX_NAME_CHARS: usize = 100;
/// Most characters in any other text field or string tag value.
pub const MAX_TEXT_CHARS: usize = 100_000;
/// Most characters in a tag key.
pub const MAX_TAG_KEY_CHARS: usize = 256;
/// Most keys in one tag map.
pub const MAX_TAGS: usize = 1000;
/// Most items in any list: attachments, track points, refs, options, terms, tag lists.
pub const MAX_LIST_ITEMS: usize = 10_000;
/// Largest blob (a photo, audio or video file, or a variant of one), in bytes.
pub const MAX_BLOB_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Most characters in a MIME type.
pub const MAX_MIME_CHARS: usize = 255;

/// Role id of a coordinator: may manage members and configuration.
pub const ROLE_COORDINATOR: &str = "coordinator";
/// Role id of a member: may write data and edit its own documents.
pub const ROLE_MEMBER: &str = "member";
/// Role id of a blocked device: its writes are refused.
pub const ROLE_BLOCKED: &str = "blocked";
/// Role id of a device that left the project.
pub const ROLE_LEFT: &str = "left";
/// Every role id a role document may carry. The creator's role is implicit and never written.
pub const ROLE_IDS: [&str; 4] = [ROLE_COORDINATOR, ROLE_MEMBER, ROLE_BLOCKED, ROLE_LEFT];

/// Why a document is invalid or cannot be decoded. Carries field names and limits, never the
/// values themselves.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    /// A latitude is outside [-90, 90].
    #[error("latitude out of range")]
    LatitudeOutOfRange,
    /// A longitude is outside [-180, 180].
    #[error("longitude out of range")]
    LongitudeOutOfRange,
    /// Only one of latitude and longitude is set.
    #[error("location has only one of latitude and longitude")]
    LocationIncomplete,
    /// A number is NaN or infinite.
    #[error("{field} is not a finite number")]
    NotFinite {
        /// The field.
        field: &'static str,
    },
    /// A number that cannot be negative is.
    #[error("{field} is negative")]
    Negative {
        /// The field.
        field: &'static str,
    },
    /// A required text or list is empty (or only whitespace, for names and labels).
    #[error("{field} is empty")]
    Empty {
        /// The field.
        field: &'static str,
    },
    /// A text has more characters than allowed.
    #[error("{field} is longer than {max} characters")]
    TooLong {
        /// The field.
        field: &'static str,
        /// The most characters allowed.
        max: usize,
    },
    /// A list or map has more items than allowed.
    #[error("{field} has more than {max} items")]
    TooMany {
        /// The field.
        field: &'static str,
        /// The most items allowed.
        max: usize,
    },
    /// A color is not `#RRGGBB` or `#RRGGBBAA` hex.
    #[error("color is not #rrggbb or #rrggbbaa hex")]
    BadColor,
    /// An attachment hash is not 64 lowercase hex characters.
    #[error("attachment hash is not 64 lowercase hex characters")]
    BadHash,
    /// A tag value is an object, or a list holding a list or an object.
    #[error("tag value is an object or a nested list")]
    BadTagValue,
    /// Tags given as JSON are not an object.
    #[error("tags are not an object")]
    TagsNotObject,
    /// A track has fewer than two locations.
    #[error("track has fewer than 2 locations")]
    TrackTooShort,
    /// A select field has no options.
    #[error("select field has no options")]
    NoOptions,
    /// A role document names an unknown role.
    #[error("unknown role id")]
    BadRoleId,
    /// A document type name is unknown.
    #[error("unknown document type")]
    UnknownDocType,
    /// A device type name is unknown.
    #[error("unknown device type")]
    UnknownDeviceType,
    /// A version's `updatedAt` is before its `createdAt`.
    #[error("updated before created")]
    UpdatedBeforeCreated,
    /// A version links to the same version twice.
    #[error("duplicate link")]
    DuplicateLink,
    /// An encoded document is larger than [`MAX_DOC_BYTES`].
    #[error("document is {size} bytes, more than {max}")]
    DocTooLarge {
        /// Its size in bytes.
        size: usize,
        /// The largest size allowed.
        max: usize,
    },
    /// The bytes are not an encoded document (or, never seen in practice, the CBOR encoder
    /// failed).
    #[error("malformed document")]
    Malformed,
    /// An update links to a version that is not known.
    #[error("linked version not found")]
    LinkNotFound,
    /// An update links to a version of another document.
    #[error("link to a version of another document")]
    LinkToOtherDoc,
    /// An update links to a version of another document type.
    #[error("link to a version of another document type")]
    LinkToOtherType,
    /// An update links to no version.
    #[error("update links to no version")]
    NoLinks,
    /// An icon variant's format and pixel density do not go together (PNG needs a density
    /// of 1 to 3, SVG none).
    #[error("icon variant has a bad format or pixel density")]
    BadIconVariant,
    /// A language or region code has characters other than letters, digits and `-`.
    #[error("language or region code is malformed")]
    BadLanguageCode,
    /// A blob index lists a variant twice, lacks the original, or lists a variant its kind of
    /// media does not have.
    #[error("blob index variants are not valid for the attachment's kind")]
    BadVariants,
    /// A blob index's document id is not the hex hash of the original it describes.
    #[error("blob index document id is not its original's hash")]
    BlobIndexDocId,
    /// A blob is larger than [`MAX_BLOB_BYTES`].
    #[error("blob is larger than the limit")]
    BlobTooLarge,
    /// The chosen category (preset) does not apply to this type of document.
    #[error("the category does not apply to {doc_type}s")]
    CategoryNotFor {
        /// The document's type.
        doc_type: DocType,
    },
    /// The answer to a number field is not a number.
    #[error("the answer in tag {tag_key:?} is not a number")]
    AnswerNotANumber {
        /// The field's tag.
        tag_key: String,
    },
    /// The answer to a select field is not one of its options.
    #[error("the answer in tag {tag_key:?} is not one of the field's options")]
    AnswerNotAnOption {
        /// The field's tag.
        tag_key: String,
    },
    /// The answer to a multiple-choice field is not a list.
    #[error("the answer in tag {tag_key:?} is not a list of the field's options")]
    AnswerNotAList {
        /// The field's tag.
        tag_key: String,
    },
}

/// Checks `s` has at most `max` characters (Unicode scalar values, not UTF-16 units).
fn check_len(s: &str, field: &'static str, max: usize) -> Result<(), ValidationError> {
    // A string has at least as many bytes as characters: only long ones need counting.
    if s.len() > max && s.chars().count() > max {
        Err(ValidationError::TooLong { field, max })
    } else {
        Ok(())
    }
}

/// The kinds of document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DocType {
    /// Something seen at a place and time.
    Observation,
    /// A recorded path.
    Track,
    /// A category of observation, with its fields.
    Preset,
    /// A question shown when filling in an observation.
    Field,
    /// The project's name, description and color.
    ProjectSettings,
    /// A device's name and kind.
    DeviceInfo,
    /// A device's role in the project.
    Role,
    /// An icon for presets.
    Icon,
    /// A translation of a preset's or field's text.
    Translation,
    /// Where an attachment's variants are: their hashes, sizes and types.
    BlobIndex,
}

impl DocType {
    /// Every document type.
    pub const ALL: [DocType; 10] = [
        DocType::Observation,
        DocType::Track,
        DocType::Preset,
        DocType::Field,
        DocType::ProjectSettings,
        DocType::DeviceInfo,
        DocType::Role,
        DocType::Icon,
        DocType::Translation,
        DocType::BlobIndex,
    ];

    /// The reference data model's `schemaName`.
    pub fn schema_name(self) -> &'static str {
        match self {
            DocType::Observation => "observation",
            DocType::Track => "track",
            DocType::Preset => "preset",
            DocType::Field => "field",
            DocType::ProjectSettings => "projectSettings",
            DocType::DeviceInfo => "deviceInfo",
            DocType::Role => "role",
            DocType::Icon => "icon",
            DocType::Translation => "translation",
            DocType::BlobIndex => "blobIndex",
        }
    }

    /// The feed namespace documents of this type are written to.
    pub fn namespace(self) -> Namespace {
        match self {
            DocType::Observation | DocType::Track => Namespace::Data,
            DocType::Preset
            | DocType::Field
            | DocType::ProjectSettings
            | DocType::DeviceInfo
            | DocType::Icon
            | DocType::Translation => Namespace::Config,
            DocType::Role => Namespace::Auth,
            DocType::BlobIndex => Namespace::BlobIndex,
        }
    }
}

impl fmt::Display for DocType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.schema_name())
    }
}

impl FromStr for DocType {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, ValidationError> {
        DocType::ALL
            .into_iter()
            .find(|t| t.schema_name() == s)
            .ok_or(ValidationError::UnknownDocType)
    }
}

/// One version of a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Doc {
    /// The document, the same for all its versions.
    pub doc_id: DocId,
    /// The document's first version; `None` when this version is the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_version_id: Option<VersionId>,
    /// When the document was created.
    pub created_at: Timestamp,
    /// When this version was written.
    pub updated_at: Timestamp,
    /// The versions this one replaces.
    #[serde(default)]
    pub links: Vec<VersionId>,
    /// Whether this version deletes the document.
    pub deleted: bool,
    /// The document's fields.
    pub value: DocValue,
}

impl Doc {
    /// The type of document.
    pub fn doc_type(&self) -> DocType {
        self.value.doc_type()
    }

    /// The preset an observation or track refers to.
    pub fn preset_doc_id(&self) -> Option<&DocId> {
        let preset_ref = match &self.value {
            DocValue::Observation(o) => o.preset_ref.as_ref(),
            DocValue::Track(t) => t.preset_ref.as_ref(),
            _ => None,
        }?;
        Some(&preset_ref.doc_id)
    }

    /// Encodes as CBOR. Refuses documents larger than [`MAX_DOC_BYTES`] without holding more
    /// than that in memory. Does not validate: call [`Doc::validate`] first.
    pub fn encode(&self) -> Result<Vec<u8>, ValidationError> {
        let mut out = CappedWriter {
            buf: Vec::new(),
            overflowed: false,
        };
        match ciborium::into_writer(self, &mut out) {
            Ok(()) => Ok(out.buf),
            Err(_) if out.overflowed => Err(ValidationError::DocTooLarge {
                size: encoded_len(self),
                max: MAX_DOC_BYTES,
            }),
            // Our types always serialize; only the writer can fail.
            Err(_) => Err(ValidationError::Malformed),
        }
    }

    /// Decodes CBOR from [`Doc::encode`]. Input larger than [`MAX_DOC_BYTES`] is refused
    /// unread; anything that is not exactly one document, trailing bytes included, is
    /// [`ValidationError::Malformed`]. Never panics. Does not validate: a peer's document
    /// must still pass [`Doc::validate`].
    pub fn decode(bytes: &[u8]) -> Result<Doc, ValidationError> {
        if bytes.len() > MAX_DOC_BYTES {
            return Err(ValidationError::DocTooLarge {
                size: bytes.len(),
                max: MAX_DOC_BYTES,
            });
        }
        let mut rest = bytes;
        let doc: Doc = ciborium::from_reader(&mut rest).map_err(|_| ValidationError::Malformed)?;
        if !rest.is_empty() {
            return Err(ValidationError::Malformed);
        }
        Ok(doc)
    }
}

/// Collects up to [`MAX_DOC_BYTES`], then fails.
struct CappedWriter {
    buf: Vec<u8>,
    overflowed: bool,
}

impl std::io::Write for CappedWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > MAX_DOC_BYTES {
            self.overflowed = true;
            return Err(std::io::Error::other("document too large"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Counts bytes without keeping them.
struct CountingWriter(usize);

impl std::io::Write for CountingWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0 += data.len();
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The size of `doc` encoded, for the error of a document too large to keep.
fn encoded_len(doc: &Doc) -> usize {
    let mut counter = CountingWriter(0);
    // The counter never fails, and serializing our types cannot.
    let _ = ciborium::into_writer(doc, &mut counter);
    counter.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;
    use crate::ids::DeviceId;
    use proptest::prelude::*;
    use serde_json::json;

    pub(super) fn device(n: u8) -> DeviceId {
        crate::crypto::RootKey::from_bytes([n; 16])
            .device_keys()
            .device_id()
    }

    pub(super) fn version(ns: Namespace, seq: u64) -> VersionId {
        VersionId {
            author: device(1),
            namespace: ns,
            seq,
        }
    }

    pub(super) fn doc_ref(id: &str, seq: u64) -> DocRef {
        DocRef {
            doc_id: id.parse().unwrap(),
            version_id: version(Namespace::Config, seq),
        }
    }

    pub(super) fn coords(latitude: f64, longitude: f64) -> Coords {
        Coords {
            latitude,
            longitude,
            ..Coords::default()
        }
    }

    pub(super) fn observation() -> Observation {
        Observation {
            lat: Some(-3.4653),
            lon: Some(-62.2159),
            attachments: vec![Attachment {
                name: "photo.jpg".into(),
                kind: AttachmentKind::Photo,
                hash: "ab".repeat(32),
            }],
            tags: Tags::from([
                ("notes".to_owned(), TagValue::from("oil on the river")),
                ("count".to_owned(), TagValue::Number(5.0)),
                (
                    "animals".to_owned(),
                    TagValue::List(vec!["otter".into(), TagPrimitive::Number(2.0)]),
                ),
            ]),
            metadata: Some(ObservationMetadata {
                manual_location: Some(false),
                position: Some(Position {
                    timestamp: Some(Timestamp(1_700_000_000_000)),
                    mocked: Some(false),
                    coords: Some(Coords {
                        accuracy: Some(4.5),
                        altitude: Some(-12.0),
                        ..coords(-3.4653, -62.2159)
                    }),
                }),
                position_provider: Some(PositionProvider {
                    gps_available: Some(true),
                    passive_available: None,
                    location_services_enabled: true,
                    network_available: Some(false),
                }),
            }),
            preset_ref: Some(doc_ref("river", 3)),
        }
    }

    pub(super) fn track() -> Track {
        let point = |ms, lat| TrackPoint {
            timestamp: Timestamp(ms),
            mocked: false,
            coords: coords(lat, 10.0),
        };
        Track {
            locations: vec![point(1, 1.0), point(2, 1.5)],
            observation_refs: vec![doc_ref("obs1", 1)],
            tags: Tags::new(),
            preset_ref: Some(doc_ref("path", 2)),
        }
    }

    pub(super) fn preset() -> Preset {
        Preset {
            name: "River pollution".into(),
            geometry: vec![Geometry::Point],
            tags: Tags::from([("type".to_owned(), TagValue::from("pollution"))]),
            add_tags: Tags::new(),
            remove_tags: Tags::new(),
            field_refs: vec![doc_ref("f1", 4)],
            icon_ref: None,
            terms: vec!["oil".into()],
            color: Some("#FF00aa".into()),
        }
    }

    pub(super) fn field() -> Field {
        Field {
            tag_key: "source".into(),
            field_type: FieldType::SelectOne,
            label: "Source".into(),
            options: vec![FieldOption {
                label: "Mine".into(),
                value: "mine".into(),
            }],
            placeholder: None,
            helper_text: Some("Where does it come from?".into()),
            universal: false,
        }
    }

    pub(super) fn icon() -> Icon {
        Icon {
            name: "river".into(),
            variants: vec![
                IconVariant {
                    size: IconSize::Medium,
                    pixel_density: None,
                    mime_type: IconMimeType::Svg,
                    data: b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(),
                },
                IconVariant {
                    size: IconSize::Small,
                    pixel_density: Some(2),
                    mime_type: IconMimeType::Png,
                    data: vec![0x89, b'P', b'N', b'G'],
                },
            ],
        }
    }

    pub(super) fn translation() -> Translation {
        Translation {
            doc_ref: doc_ref("river", 3),
            doc_ref_type: DocType::Preset,
            property_ref: "name".into(),
            language_code: "es".into(),
            region_code: Some("PE".into()),
            message: "Contaminación del río".into(),
        }
    }

    pub(super) fn values() -> Vec<DocValue> {
        vec![
            DocValue::Observation(observation()),
            DocValue::Track(track()),
            DocValue::Preset(preset()),
            DocValue::Field(field()),
            DocValue::ProjectSettings(ProjectSettings {
                name: Some("Río Negro".into()),
                project_description: None,
                project_color: Some("#00ff0080".into()),
                default_presets: Some(DefaultPresets {
                    point: vec!["river".parse().unwrap()],
                    line: vec!["path".parse().unwrap()],
                    ..DefaultPresets::default()
                }),
                config_metadata: Some(ConfigMetadata {
                    name: "Rainforest".into(),
                    version: Some("6.0.0".into()),
                    build_date: Some(Timestamp(1_760_532_046_202)),
                    import_date: Timestamp(1_760_600_000_000),
                    file_version: "1.0".into(),
                    builder_name: None,
                    builder_version: None,
                }),
            }),
            DocValue::DeviceInfo(DeviceInfo {
                name: "Ana's phone".into(),
                device_type: DeviceType::Mobile,
            }),
            DocValue::Role(Role {
                role_id: ROLE_MEMBER.into(),
                from_index: FeedPositions {
                    data: 12,
                    ..Default::default()
                },
                reason: None,
            }),
            DocValue::Icon(icon()),
            DocValue::Translation(translation()),
            DocValue::BlobIndex(blob_index()),
        ]
    }

    pub(super) fn blob_index() -> BlobIndex {
        let variant = |variant, n: u8, mime: &str| VariantBlob {
            variant,
            hash: crate::ids::BlobHash::from_bytes([n; 32]),
            size: 1000 * u64::from(n),
            mime_type: mime.into(),
        };
        BlobIndex {
            kind: AttachmentKind::Photo,
            variants: vec![
                variant(Variant::Original, 1, "image/png"),
                variant(Variant::Preview, 2, "image/jpeg"),
                variant(Variant::Thumbnail, 3, "image/jpeg"),
            ],
        }
    }

    pub(super) fn doc(value: DocValue) -> Doc {
        let ns = value.doc_type().namespace();
        let doc_id = match &value {
            DocValue::BlobIndex(b) => b.original().unwrap().hash.to_string().parse().unwrap(),
            _ => DocId::random(),
        };
        Doc {
            doc_id,
            original_version_id: Some(version(ns, 0)),
            created_at: Timestamp(1_700_000_000_000),
            updated_at: Timestamp(1_700_000_000_500),
            links: vec![version(ns, 0), version(ns, 1)],
            deleted: false,
            value,
        }
    }

    #[test]
    fn schema_every_type_round_trips_through_cbor() {
        let values = values();
        let types: Vec<_> = values.iter().map(DocValue::doc_type).collect();
        assert_eq!(types, DocType::ALL);
        for value in values {
            let doc = doc(value);
            let bytes = doc.encode().unwrap();
            assert_eq!(Doc::decode(&bytes), Ok(doc.clone()), "{}", doc.doc_type());
            // Deterministic: encoding again gives the same bytes.
            assert_eq!(doc.encode().unwrap(), bytes);
        }
    }

    #[test]
    fn schema_cbor_value_is_a_one_key_map_named_by_schema() {
        for value in values() {
            let doc = doc(value);
            let raw: ciborium::Value =
                ciborium::from_reader(doc.encode().unwrap().as_slice()).unwrap();
            let envelope = raw.into_map().unwrap();
            let (_, value) = envelope
                .into_iter()
                .find(|(k, _)| k.as_text() == Some("value"))
                .unwrap();
            let inner = value.into_map().unwrap();
            assert_eq!(inner.len(), 1);
            assert_eq!(inner[0].0.as_text(), Some(doc.doc_type().schema_name()));
        }
    }

    #[test]
    fn schema_observation_json_uses_the_reference_shape() {
        let v = serde_json::to_value(observation()).unwrap();
        assert_eq!(v["lat"], json!(-3.4653));
        assert_eq!(v["presetRef"]["docId"], json!("river"));
        assert!(
            v["presetRef"]["versionId"]
                .as_str()
                .unwrap()
                .ends_with("/config/3")
        );
        assert_eq!(v["attachments"][0]["type"], json!("photo"));
        assert_eq!(
            v["metadata"]["positionProvider"]["locationServicesEnabled"],
            json!(true)
        );
        assert_eq!(v["metadata"]["position"]["coords"]["accuracy"], json!(4.5));
        assert!(
            v["metadata"]["positionProvider"]
                .get("passiveAvailable")
                .is_none()
        );
        let text = serde_json::to_string(&v["tags"]).unwrap();
        assert_eq!(
            text,
            r#"{"animals":["otter",2],"count":5,"notes":"oil on the river"}"#
        );
        // Absent options and empty lists may be left out by other systems.
        let minimal: Observation = serde_json::from_value(json!({})).unwrap();
        assert_eq!(minimal, Observation::default());
    }

    #[test]
    fn schema_other_types_json_use_the_reference_names() {
        let f = serde_json::to_value(field()).unwrap();
        assert_eq!(f["type"], json!("selectOne"));
        assert_eq!(f["tagKey"], json!("source"));
        assert_eq!(f["helperText"], json!("Where does it come from?"));
        let p = serde_json::to_value(preset()).unwrap();
        assert_eq!(p["geometry"], json!(["point"]));
        assert_eq!(p["fieldRefs"][0]["docId"], json!("f1"));
        assert!(p.get("addTags").is_some());
        let d = serde_json::to_value(doc(DocValue::Track(track()))).unwrap();
        assert!(d["value"]["track"]["observationRefs"].is_array());
        assert!(d["originalVersionId"].is_string());
        assert_eq!(d["createdAt"], json!(1_700_000_000_000_i64));
        let server: DeviceInfo =
            serde_json::from_value(json!({"name": "hub", "deviceType": "selfHostedServer"}))
                .unwrap();
        assert_eq!(server.device_type, DeviceType::Server);
        assert_eq!(
            serde_json::to_value(server).unwrap()["deviceType"],
            json!("server")
        );
    }

    #[test]
    fn schema_doc_types_have_stable_names_and_namespaces() {
        for t in DocType::ALL {
            assert_eq!(t.schema_name().parse::<DocType>(), Ok(t));
            assert_eq!(t.to_string(), t.schema_name());
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.schema_name()));
        }
        assert_eq!(
            "photo".parse::<DocType>(),
            Err(ValidationError::UnknownDocType)
        );
        assert_eq!(DocType::Icon.namespace(), Namespace::Config);
        assert_eq!(DocType::Translation.namespace(), Namespace::Config);
        assert_eq!(DocType::Track.namespace(), Namespace::Data);
        assert_eq!(DocType::DeviceInfo.namespace(), Namespace::Config);
        assert_eq!(DocType::Role.namespace(), Namespace::Auth);
        for t in DeviceType::ALL {
            assert_eq!(t.name().parse::<DeviceType>(), Ok(t));
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.to_string()));
        }
        assert_eq!(
            "phone".parse::<DeviceType>(),
            Err(ValidationError::UnknownDeviceType)
        );
    }

    #[test]
    fn schema_index_helpers_read_the_right_fields() {
        let o = observation();
        assert_eq!(o.search_text(), "otter\noil on the river");
        let d = doc(DocValue::Observation(o));
        assert_eq!(d.preset_doc_id().map(DocId::as_str), Some("river"));
        assert_eq!(d.value.location(), Some((-3.4653, -62.2159)));
        let t = doc(DocValue::Track(track()));
        assert_eq!(t.preset_doc_id().map(DocId::as_str), Some("path"));
        assert_eq!(t.value.location(), None);
        assert_eq!(doc(DocValue::Preset(preset())).preset_doc_id(), None);
    }

    #[test]
    fn schema_decode_refuses_oversized_garbage_and_trailing_bytes() {
        let huge = vec![0u8; MAX_DOC_BYTES + 1];
        assert_eq!(
            Doc::decode(&huge),
            Err(ValidationError::DocTooLarge {
                size: MAX_DOC_BYTES + 1,
                max: MAX_DOC_BYTES
            })
        );
        for garbage in [&b""[..], b"\xff", b"hello", b"\xa1\x61x\x00", &[0x9f; 600]] {
            assert_eq!(Doc::decode(garbage), Err(ValidationError::Malformed));
        }
        let mut bytes = doc(DocValue::Track(track())).encode().unwrap();
        bytes.push(0);
        assert_eq!(Doc::decode(&bytes), Err(ValidationError::Malformed));
    }

    #[test]
    fn schema_encoding_leaves_validation_to_the_caller() {
        // Peers' invalid documents must still decode, so the index can refuse them itself.
        let mut d = doc(DocValue::Track(track()));
        d.updated_at = Timestamp(0);
        let back = Doc::decode(&d.encode().unwrap()).unwrap();
        assert_eq!(back.validate(), Err(ValidationError::UpdatedBeforeCreated));
    }

    #[test]
    fn schema_encode_refuses_a_valid_but_oversized_doc() {
        let mut o = observation();
        let big = "x".repeat(MAX_TEXT_CHARS);
        for i in 0..11 {
            o.tags
                .insert(format!("k{i}"), TagValue::String(big.clone()));
        }
        let d = doc(DocValue::Observation(o));
        assert_eq!(d.validate(), Ok(()));
        let Err(ValidationError::DocTooLarge { size, max }) = d.encode() else {
            panic!("expected DocTooLarge");
        };
        assert_eq!(max, MAX_DOC_BYTES);
        let mut exact = Vec::new();
        ciborium::into_writer(&d, &mut exact).unwrap();
        assert_eq!(size, exact.len());
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        Set(usize, u8),
        Insert(usize, u8),
        Remove(usize),
        Truncate(usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
            any::<usize>().prop_map(Mutation::Remove),
            any::<usize>().prop_map(Mutation::Truncate),
        ]
    }

    proptest! {
        #[test]
        fn schema_decode_never_panics_on_random_bytes(
            bytes in prop::collection::vec(any::<u8>(), 0..512)
        ) {
            let _ = Doc::decode(&bytes);
        }

        #[test]
        fn schema_decode_never_panics_on_mutated_docs(
            which in 0..DocType::ALL.len(),
            mutations in prop::collection::vec(mutation(), 1..8),
        ) {
            let mut bytes = doc(values().swap_remove(which)).encode().unwrap();
            for m in mutations {
                let len = bytes.len();
                match m {
                    Mutation::Set(i, b) if len > 0 => bytes[i % len] = b,
                    Mutation::Insert(i, b) => bytes.insert(i % (len + 1), b),
                    Mutation::Remove(i) if len > 0 => {
                        bytes.remove(i % len);
                    }
                    Mutation::Truncate(i) => bytes.truncate(i % (len + 1)),
                    _ => {}
                }
            }
            if let Ok(d) = Doc::decode(&bytes)
                && d.validate().is_ok()
            {
                // Whatever decodes and is valid survives another round trip.
                prop_assert_eq!(Doc::decode(&d.encode().unwrap()), Ok(d));
            }
        }
    }
}
