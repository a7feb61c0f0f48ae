//! The document values: observations, tracks, presets, fields, project settings, device info
//! and roles, in the shape of the CoMapeo data model. Owns their fields and serde names; their
//! rules live in `validate`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::tags::{self, TagPrimitive, Tags};
use super::{DocType, ValidationError};
use crate::ids::{BlobHash, DocId, Timestamp, VersionId};

/// A reference to one version of a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocRef {
    /// The document.
    pub doc_id: DocId,
    /// The version referred to.
    pub version_id: VersionId,
}

/// Something observed at a place and time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    /// Latitude in degrees; set together with `lon`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Longitude in degrees; set together with `lat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// Photos, audio and video.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Answers to the preset's fields, notes (the `notes` tag) and any other tags.
    #[serde(default)]
    pub tags: Tags,
    /// How the location was obtained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ObservationMetadata>,
    /// The preset (category) chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset_ref: Option<DocRef>,
}

/// A file attached to an observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// The file name.
    pub name: String,
    /// What kind of media it is.
    #[serde(rename = "type")]
    pub kind: AttachmentKind,
    /// The blake3 hash of the original file, as 64 lowercase hex characters.
    pub hash: String,
}

/// The kind of an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttachmentKind {
    /// A photo.
    Photo,
    /// An audio recording.
    Audio,
    /// A video.
    Video,
}

/// Which rendition of an attachment a blob is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Variant {
    /// The bytes the camera or recorder produced, unchanged.
    Original,
    /// A photo scaled to fit the screen (longest side at most 1200 px), as JPEG.
    Preview,
    /// A photo scaled for lists (longest side at most 400 px), as JPEG.
    Thumbnail,
}

impl Variant {
    /// Every variant.
    pub const ALL: [Variant; 3] = [Variant::Original, Variant::Preview, Variant::Thumbnail];

    /// The variants an attachment of this kind has.
    pub fn of(kind: AttachmentKind) -> &'static [Variant] {
        match kind {
            AttachmentKind::Photo => &Variant::ALL,
            AttachmentKind::Audio | AttachmentKind::Video => &[Variant::Original],
        }
    }

    /// The name used in documents.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Original => "original",
            Variant::Preview => "preview",
            Variant::Thumbnail => "thumbnail",
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One variant of an attachment as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariantBlob {
    /// Which variant.
    pub variant: Variant,
    /// The blake3 hash of its bytes: its name in every device's blob store.
    pub hash: BlobHash,
    /// Its size in bytes.
    pub size: u64,
    /// Its MIME type, e.g. `image/jpeg`.
    pub mime_type: String,
}

/// Where an attachment's variants are: written to the `blobIndex` namespace when the
/// attachment is added. Its document id is the lowercase hex of the original's hash, so it is
/// found from the attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobIndex {
    /// What kind of media it is.
    #[serde(rename = "type")]
    pub kind: AttachmentKind,
    /// Its variants, the original first.
    pub variants: Vec<VariantBlob>,
}

impl BlobIndex {
    /// The entry of one variant, if the attachment has it.
    pub fn variant(&self, variant: Variant) -> Option<&VariantBlob> {
        self.variants.iter().find(|v| v.variant == variant)
    }

    /// The original's entry.
    pub fn original(&self) -> Option<&VariantBlob> {
        self.variant(Variant::Original)
    }
}

/// How an observation's location was obtained.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservationMetadata {
    /// Whether the location was placed by hand rather than read from GPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_location: Option<bool>,
    /// The position reading at the time of the observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// Which location providers were available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_provider: Option<PositionProvider>,
}

/// A position reading.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    /// When it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// Whether the device reported it as mocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mocked: Option<bool>,
    /// The reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coords: Option<Coords>,
}

/// Coordinates as reported by a device. Distances in metres, speed in metres per second,
/// heading in degrees.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coords {
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
    /// Altitude.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude: Option<f64>,
    /// Accuracy of the altitude.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude_accuracy: Option<f64>,
    /// Direction of travel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading: Option<f64>,
    /// Speed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    /// Horizontal accuracy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
}

/// Which location providers a device had.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionProvider {
    /// Whether GPS was enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gps_available: Option<bool>,
    /// Whether location from Wi-Fi and Bluetooth was available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passive_available: Option<bool>,
    /// Whether location services were on.
    pub location_services_enabled: bool,
    /// Whether location from cell towers was available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_available: Option<bool>,
}

/// A recorded path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Track {
    /// The points, in the order recorded; at least two.
    #[serde(default)]
    pub locations: Vec<TrackPoint>,
    /// Observations made along the track.
    #[serde(default)]
    pub observation_refs: Vec<DocRef>,
    /// Tags, as on observations.
    #[serde(default)]
    pub tags: Tags,
    /// The preset (category) chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset_ref: Option<DocRef>,
}

/// One point of a track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackPoint {
    /// When it was read.
    pub timestamp: Timestamp,
    /// Whether the device reported it as mocked.
    pub mocked: bool,
    /// The reading.
    pub coords: Coords,
}

/// A category of observation: how it is shown and which fields it asks for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preset {
    /// The name shown.
    pub name: String,
    /// The geometries it applies to; at least one.
    #[serde(default)]
    pub geometry: Vec<Geometry>,
    /// Tags that match an observation to this preset.
    #[serde(default)]
    pub tags: Tags,
    /// Tags added when the preset is chosen.
    #[serde(default)]
    pub add_tags: Tags,
    /// Tags removed when another preset is chosen.
    #[serde(default)]
    pub remove_tags: Tags,
    /// The fields asked, in order.
    #[serde(default)]
    pub field_refs: Vec<DocRef>,
    /// The icon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_ref: Option<DocRef>,
    /// Synonyms used when searching for the preset.
    #[serde(default)]
    pub terms: Vec<String>,
    /// Color as `#RRGGBB` or `#RRGGBBAA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

/// A geometry a preset applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Geometry {
    /// A standalone point.
    Point,
    /// A point on a line.
    Vertex,
    /// A line.
    Line,
    /// A closed area.
    Area,
    /// A relation between features.
    Relation,
}

/// A question shown when filling in an observation; its answer is stored in one tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Field {
    /// The tag the answer is stored in.
    pub tag_key: String,
    /// How it is answered.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// The question shown.
    pub label: String,
    /// The choices, for select fields; at least one for them.
    #[serde(default)]
    pub options: Vec<FieldOption>,
    /// Shown in an empty text or number field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    /// Further guidance shown with the question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helper_text: Option<String>,
    /// Whether it can be added to any preset.
    #[serde(default)]
    pub universal: bool,
}

/// How a field is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FieldType {
    /// Free text.
    Text,
    /// A number.
    Number,
    /// One of the options.
    SelectOne,
    /// Any number of the options.
    SelectMultiple,
    /// A date.
    Date,
}

/// One choice of a select field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldOption {
    /// What is shown.
    pub label: String,
    /// What is stored in the tag.
    pub value: TagPrimitive,
}

/// The project's name, description and color.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSettings {
    /// The project name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_description: Option<String>,
    /// Color as `#RRGGBB` or `#RRGGBBAA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_color: Option<String>,
    /// The categories offered for each geometry, in the order shown: written by a categories
    /// import (a file's selection for observations becomes `point`, for tracks `line`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_presets: Option<DefaultPresets>,
    /// Which categories file the project's categories came from: written by an import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_metadata: Option<ConfigMetadata>,
}

/// Preset document ids offered for each geometry, in display order (the reference model's
/// `defaultPresets`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultPresets {
    /// For observations.
    #[serde(default)]
    pub point: Vec<DocId>,
    /// For areas.
    #[serde(default)]
    pub area: Vec<DocId>,
    /// For points on a line.
    #[serde(default)]
    pub vertex: Vec<DocId>,
    /// For tracks.
    #[serde(default)]
    pub line: Vec<DocId>,
    /// For relations.
    #[serde(default)]
    pub relation: Vec<DocId>,
}

impl DefaultPresets {
    /// The list for one geometry.
    pub fn of(&self, geometry: Geometry) -> &[DocId] {
        match geometry {
            Geometry::Point => &self.point,
            Geometry::Area => &self.area,
            Geometry::Vertex => &self.vertex,
            Geometry::Line => &self.line,
            Geometry::Relation => &self.relation,
        }
    }

    /// Every list, observations' first, then tracks', then the rest.
    pub fn all(&self) -> impl Iterator<Item = &DocId> {
        [
            &self.point,
            &self.line,
            &self.area,
            &self.vertex,
            &self.relation,
        ]
        .into_iter()
        .flatten()
    }
}

/// Where a project's categories came from (the reference model's `configMetadata`, with the
/// optional parts of a categories file's `metadata.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMetadata {
    /// The categories set's name.
    pub name: String,
    /// Its version, as its authors number it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// When the file was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_date: Option<Timestamp>,
    /// When it was imported into the project.
    pub import_date: Timestamp,
    /// The version of the file format (`1.0`).
    pub file_version: String,
    /// The tool that built the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder_name: Option<String>,
    /// That tool's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder_version: Option<String>,
}

/// A device's name and kind, as its owner set them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    /// The name shown to other members.
    pub name: String,
    /// What kind of device it is.
    pub device_type: DeviceType,
}

/// The kind of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeviceType {
    /// A phone.
    Mobile,
    /// A tablet.
    Tablet,
    /// A desktop or laptop computer.
    Desktop,
    /// An always-on peer with no user. Reads the reference model's `selfHostedServer` too.
    #[serde(alias = "selfHostedServer")]
    Server,
}

impl DeviceType {
    /// Every device type.
    pub const ALL: [DeviceType; 4] = [
        DeviceType::Mobile,
        DeviceType::Tablet,
        DeviceType::Desktop,
        DeviceType::Server,
    ];

    /// The name used in documents and storage.
    pub fn name(self) -> &'static str {
        match self {
            DeviceType::Mobile => "mobile",
            DeviceType::Tablet => "tablet",
            DeviceType::Desktop => "desktop",
            DeviceType::Server => "server",
        }
    }
}

impl fmt::Display for DeviceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DeviceType {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, ValidationError> {
        DeviceType::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or(ValidationError::UnknownDeviceType)
    }
}

/// A position in each of one device's feeds in a project: how many entries of each
/// namespace came before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedPositions {
    /// Entries in its `auth` feed.
    #[serde(default)]
    pub auth: u64,
    /// Entries in its `config` feed.
    #[serde(default)]
    pub config: u64,
    /// Entries in its `data` feed.
    #[serde(default)]
    pub data: u64,
    /// Entries in its `blobIndex` feed.
    #[serde(default)]
    pub blob_index: u64,
}

impl FeedPositions {
    /// The position in one namespace's feed.
    pub fn get(&self, ns: crate::ids::Namespace) -> u64 {
        use crate::ids::Namespace::*;
        match ns {
            Auth => self.auth,
            Config => self.config,
            Data => self.data,
            BlobIndex => self.blob_index,
        }
    }

    /// Sets the position in one namespace's feed.
    pub fn set(&mut self, ns: crate::ids::Namespace, at: u64) {
        use crate::ids::Namespace::*;
        match ns {
            Auth => self.auth = at,
            Config => self.config = at,
            Data => self.data = at,
            BlobIndex => self.blob_index = at,
        }
    }
}

/// A device's role in the project, from a point in its feeds onwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// One of [`ROLE_IDS`](super::ROLE_IDS).
    pub role_id: String,
    /// The point in the device's feeds from which the role applies: its entries at or
    /// after these positions are judged under this role, earlier ones under the role before.
    #[serde(default)]
    pub from_index: FeedPositions,
    /// Why the role was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A document's fields, by type. Encoded as a one-key map from the type's schema name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DocValue {
    /// An observation.
    Observation(Observation),
    /// A track.
    Track(Track),
    /// A preset.
    Preset(Preset),
    /// A field.
    Field(Field),
    /// Project settings.
    ProjectSettings(ProjectSettings),
    /// Device info.
    DeviceInfo(DeviceInfo),
    /// A role.
    Role(Role),
    /// An icon.
    Icon(super::Icon),
    /// A translation.
    Translation(super::Translation),
    /// An attachment's variants.
    BlobIndex(BlobIndex),
}

impl DocValue {
    /// The type of document.
    pub fn doc_type(&self) -> DocType {
        match self {
            DocValue::Observation(_) => DocType::Observation,
            DocValue::Track(_) => DocType::Track,
            DocValue::Preset(_) => DocType::Preset,
            DocValue::Field(_) => DocType::Field,
            DocValue::ProjectSettings(_) => DocType::ProjectSettings,
            DocValue::DeviceInfo(_) => DocType::DeviceInfo,
            DocValue::Role(_) => DocType::Role,
            DocValue::Icon(_) => DocType::Icon,
            DocValue::Translation(_) => DocType::Translation,
            DocValue::BlobIndex(_) => DocType::BlobIndex,
        }
    }

    /// An observation's latitude and longitude, when it has them.
    pub fn location(&self) -> Option<(f64, f64)> {
        match self {
            DocValue::Observation(o) => o.lat.zip(o.lon),
            _ => None,
        }
    }
}

impl Observation {
    /// Every non-empty string tag value (list members included), one per line, for full-text
    /// search. Notes are the tag named `notes`.
    pub fn search_text(&self) -> String {
        let mut strings = tags::tag_strings(&self.tags);
        strings.retain(|s| !s.is_empty());
        strings.join("\n")
    }
}
