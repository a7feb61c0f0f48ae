//! The document records the app reads and writes — observations, tracks, presets, fields and
//! their parts — and the query record. Their conversions from and to the core's schema types
//! are in `documents/convert.rs`. Field for field; rules (ranges, required fields, limits) are
//! checked by the core when a document is written, not here.

mod convert;

use std::collections::HashMap;

pub(crate) use convert::{convert_all, doc_id, tags_in, version_ids};

/// One value a tag list may hold, and a select option's value.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum TagPrimitive {
    /// No value.
    Null,
    /// A boolean.
    Bool {
        /// The value.
        value: bool,
    },
    /// A number.
    Number {
        /// The value.
        value: f64,
    },
    /// A text.
    Text {
        /// The value.
        value: String,
    },
}

/// The value of one tag: a primitive or a flat list of primitives.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum TagValue {
    /// No value.
    Null,
    /// A boolean.
    Bool {
        /// The value.
        value: bool,
    },
    /// A number.
    Number {
        /// The value.
        value: f64,
    },
    /// A text (notes are the tag `notes`).
    Text {
        /// The value.
        value: String,
    },
    /// A list of primitives; lists never nest. (Not named `List`, which would hide Kotlin's
    /// `List` inside the generated sealed class.)
    ListOf {
        /// The items.
        items: Vec<TagPrimitive>,
    },
}

/// A reference to one version of a document.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct DocRef {
    /// The document.
    pub doc_id: String,
    /// The version referred to (`author/namespace/seq`).
    pub version_id: String,
}

/// The kind of an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AttachmentKind {
    /// A photo.
    Photo,
    /// An audio recording.
    Audio,
    /// A video.
    Video,
}

/// A file attached to an observation.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Attachment {
    /// The file name.
    pub name: String,
    /// What kind of media it is.
    pub kind: AttachmentKind,
    /// The blake3 hash of the original file (64 hex characters).
    pub hash: String,
}

/// A position as a device reported it. Distances in metres, speed in m/s, heading in degrees.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Coords {
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
    /// Altitude.
    #[uniffi(default = None)]
    pub altitude: Option<f64>,
    /// Accuracy of the altitude.
    #[uniffi(default = None)]
    pub altitude_accuracy: Option<f64>,
    /// Direction of travel.
    #[uniffi(default = None)]
    pub heading: Option<f64>,
    /// Speed.
    #[uniffi(default = None)]
    pub speed: Option<f64>,
    /// Horizontal accuracy.
    #[uniffi(default = None)]
    pub accuracy: Option<f64>,
}

/// A position reading.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Position {
    /// When it was read, ms since the epoch.
    #[uniffi(default = None)]
    pub timestamp: Option<i64>,
    /// Whether the device reported it as mocked.
    #[uniffi(default = None)]
    pub mocked: Option<bool>,
    /// The reading.
    #[uniffi(default = None)]
    pub coords: Option<Coords>,
}

/// Which location providers a device had.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct PositionProvider {
    /// Whether GPS was enabled.
    #[uniffi(default = None)]
    pub gps_available: Option<bool>,
    /// Whether location from Wi-Fi and Bluetooth was available.
    #[uniffi(default = None)]
    pub passive_available: Option<bool>,
    /// Whether location services were on.
    pub location_services_enabled: bool,
    /// Whether location from cell towers was available.
    #[uniffi(default = None)]
    pub network_available: Option<bool>,
}

/// How an observation's location was obtained.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct ObservationMetadata {
    /// Whether the location was placed by hand rather than read from GPS.
    #[uniffi(default = None)]
    pub manual_location: Option<bool>,
    /// The position reading at the time of the observation.
    #[uniffi(default = None)]
    pub position: Option<Position>,
    /// Which location providers were available.
    #[uniffi(default = None)]
    pub position_provider: Option<PositionProvider>,
}

/// Something observed at a place and time.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Observation {
    /// Latitude in degrees; set together with `lon`.
    #[uniffi(default = None)]
    pub lat: Option<f64>,
    /// Longitude in degrees; set together with `lat`.
    #[uniffi(default = None)]
    pub lon: Option<f64>,
    /// Photos, audio and video.
    #[uniffi(default)]
    pub attachments: Vec<Attachment>,
    /// Answers to the preset's fields, notes (the `notes` tag) and any other tags.
    #[uniffi(default)]
    pub tags: HashMap<String, TagValue>,
    /// How the location was obtained.
    #[uniffi(default = None)]
    pub metadata: Option<ObservationMetadata>,
    /// The preset (category) chosen.
    #[uniffi(default = None)]
    pub preset_ref: Option<DocRef>,
}

/// One point of a track.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct TrackPoint {
    /// When it was read, ms since the epoch.
    pub timestamp: i64,
    /// Whether the device reported it as mocked.
    pub mocked: bool,
    /// The reading.
    pub coords: Coords,
}

/// A recorded path.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Track {
    /// The points, in the order recorded; at least two.
    #[uniffi(default)]
    pub locations: Vec<TrackPoint>,
    /// Observations made along the track.
    #[uniffi(default)]
    pub observation_refs: Vec<DocRef>,
    /// Tags, as on observations.
    #[uniffi(default)]
    pub tags: HashMap<String, TagValue>,
    /// The preset (category) chosen.
    #[uniffi(default = None)]
    pub preset_ref: Option<DocRef>,
}

/// A geometry a preset applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
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

/// A category of observation: how it is shown and which fields it asks for.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Preset {
    /// The name shown.
    pub name: String,
    /// The geometries it applies to; at least one.
    #[uniffi(default)]
    pub geometry: Vec<Geometry>,
    /// Tags that match an observation to this preset.
    #[uniffi(default)]
    pub tags: HashMap<String, TagValue>,
    /// Tags added when the preset is chosen.
    #[uniffi(default)]
    pub add_tags: HashMap<String, TagValue>,
    /// Tags removed when another preset is chosen.
    #[uniffi(default)]
    pub remove_tags: HashMap<String, TagValue>,
    /// The fields asked, in order.
    #[uniffi(default)]
    pub field_refs: Vec<DocRef>,
    /// The icon.
    #[uniffi(default = None)]
    pub icon_ref: Option<DocRef>,
    /// Synonyms used when searching for the preset.
    #[uniffi(default)]
    pub terms: Vec<String>,
    /// Color as `#RRGGBB` or `#RRGGBBAA`.
    #[uniffi(default = None)]
    pub color: Option<String>,
}

/// How a field is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
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
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct FieldOption {
    /// What is shown.
    pub label: String,
    /// What is stored in the tag.
    pub value: TagPrimitive,
}

/// A question shown when filling in an observation; its answer goes in one tag.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Field {
    /// The tag the answer is stored in.
    pub tag_key: String,
    /// How it is answered.
    pub field_type: FieldType,
    /// The question shown.
    pub label: String,
    /// The choices, for select fields.
    #[uniffi(default)]
    pub options: Vec<FieldOption>,
    /// Shown in an empty text or number field.
    #[uniffi(default = None)]
    pub placeholder: Option<String>,
    /// Further guidance shown with the question.
    #[uniffi(default = None)]
    pub helper_text: Option<String>,
    /// Whether it can be added to any preset.
    #[uniffi(default = false)]
    pub universal: bool,
}

/// Where a document version stands: its ids, times, authors and forks.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct DocMeta {
    /// The document's id, the same for all its versions.
    pub doc_id: String,
    /// This version's id (`author/namespace/seq`): what an update links to.
    pub version_id: String,
    /// The document's first version, unless this is it.
    pub original_version_id: Option<String>,
    /// When the document was created, ms since the epoch.
    pub created_at: i64,
    /// When this version was written, ms since the epoch.
    pub updated_at: i64,
    /// The device that created the document.
    pub created_by: String,
    /// The device that wrote this version.
    pub updated_by: String,
    /// The versions this one replaced.
    pub links: Vec<String>,
    /// Concurrent versions that lost to this one, for the UI to offer a merge.
    pub forks: Vec<String>,
    /// Whether this version deletes the document.
    pub deleted: bool,
}

/// An observation as stored: its current version and where it stands.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct ObservationDoc {
    /// Ids, times, authors and forks.
    pub meta: DocMeta,
    /// The content.
    pub value: Observation,
}

/// A track as stored.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct TrackDoc {
    /// Ids, times, authors and forks.
    pub meta: DocMeta,
    /// The content.
    pub value: Track,
}

/// A preset as stored.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct PresetDoc {
    /// Ids, times, authors and forks.
    pub meta: DocMeta,
    /// The content.
    pub value: Preset,
}

/// A field as stored.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct FieldDoc {
    /// Ids, times, authors and forks.
    pub meta: DocMeta,
    /// The content.
    pub value: Field,
}

/// A rectangle of latitude and longitude, in degrees. `west > east` crosses the antimeridian.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct BoundingBox {
    /// Southern edge.
    pub south: f64,
    /// Western edge.
    pub west: f64,
    /// Northern edge.
    pub north: f64,
    /// Eastern edge.
    pub east: f64,
}

/// Which documents to list; filters combine, results come newest first. `Query()` lists every
/// document of the type that is not deleted.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Query {
    /// Include deleted documents.
    #[uniffi(default = false)]
    pub include_deleted: bool,
    /// Observations inside this box.
    #[uniffi(default = None)]
    pub bbox: Option<BoundingBox>,
    /// Created at or after this time (ms since the epoch).
    #[uniffi(default = None)]
    pub created_after: Option<i64>,
    /// Created before this time (ms since the epoch).
    #[uniffi(default = None)]
    pub created_before: Option<i64>,
    /// Observations and tracks of this preset (its doc id).
    #[uniffi(default = None)]
    pub preset: Option<String>,
    /// Observations whose notes or tag values contain every word (prefix match).
    #[uniffi(default = None)]
    pub text: Option<String>,
    /// At most this many; unset: all.
    #[uniffi(default = None)]
    pub limit: Option<u32>,
    /// Skip this many first.
    #[uniffi(default = 0)]
    pub offset: u32,
}
