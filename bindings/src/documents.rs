//! The document records the app reads and writes — observations, tracks, presets, fields and
//! their parts — the query record, and their conversions from and to the core's schema types.
//! Field for field; rules (ranges, required fields, limits) are checked by the core when a
//! document is written, not here.

use std::collections::{BTreeMap, HashMap};

use mapeo_core::index::{BoundingBox as CoreBoundingBox, Document, Query as CoreQuery};
use mapeo_core::schema::{self, DocType, DocValue};
use mapeo_core::{DocId, Timestamp, VersionId};

use crate::error::MapeoError;

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
pub struct FieldOption {
    /// What is shown.
    pub label: String,
    /// What is stored in the tag.
    pub value: TagPrimitive,
}

/// A question shown when filling in an observation; its answer goes in one tag.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
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
pub struct ObservationDoc {
    /// Ids, times, authors and forks.
    pub meta: DocMeta,
    /// The content.
    pub value: Observation,
}

/// A track as stored.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TrackDoc {
    /// Ids, times, authors and forks.
    pub meta: DocMeta,
    /// The content.
    pub value: Track,
}

/// A preset as stored.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PresetDoc {
    /// Ids, times, authors and forks.
    pub meta: DocMeta,
    /// The content.
    pub value: Preset,
}

/// A field as stored.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FieldDoc {
    /// Ids, times, authors and forks.
    pub meta: DocMeta,
    /// The content.
    pub value: Field,
}

/// A rectangle of latitude and longitude, in degrees. `west > east` crosses the antimeridian.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
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

// ---- conversions -------------------------------------------------------------------------

fn id_err(e: mapeo_core::ids::IdError) -> MapeoError {
    mapeo_core::Error::Id(e).into()
}

pub(crate) fn doc_id(text: &str) -> Result<DocId, MapeoError> {
    text.parse().map_err(id_err)
}

pub(crate) fn version_ids(texts: &[String]) -> Result<Vec<VersionId>, MapeoError> {
    texts.iter().map(|t| t.parse().map_err(id_err)).collect()
}

impl From<schema::TagPrimitive> for TagPrimitive {
    fn from(p: schema::TagPrimitive) -> Self {
        match p {
            schema::TagPrimitive::Null => TagPrimitive::Null,
            schema::TagPrimitive::Bool(value) => TagPrimitive::Bool { value },
            schema::TagPrimitive::Number(value) => TagPrimitive::Number { value },
            schema::TagPrimitive::String(value) => TagPrimitive::Text { value },
        }
    }
}

impl From<TagPrimitive> for schema::TagPrimitive {
    fn from(p: TagPrimitive) -> Self {
        match p {
            TagPrimitive::Null => schema::TagPrimitive::Null,
            TagPrimitive::Bool { value } => schema::TagPrimitive::Bool(value),
            TagPrimitive::Number { value } => schema::TagPrimitive::Number(value),
            TagPrimitive::Text { value } => schema::TagPrimitive::String(value),
        }
    }
}

impl From<schema::TagValue> for TagValue {
    fn from(v: schema::TagValue) -> Self {
        match v {
            schema::TagValue::Null => TagValue::Null,
            schema::TagValue::Bool(value) => TagValue::Bool { value },
            schema::TagValue::Number(value) => TagValue::Number { value },
            schema::TagValue::String(value) => TagValue::Text { value },
            schema::TagValue::List(items) => TagValue::ListOf {
                items: items.into_iter().map(Into::into).collect(),
            },
        }
    }
}

impl From<TagValue> for schema::TagValue {
    fn from(v: TagValue) -> Self {
        match v {
            TagValue::Null => schema::TagValue::Null,
            TagValue::Bool { value } => schema::TagValue::Bool(value),
            TagValue::Number { value } => schema::TagValue::Number(value),
            TagValue::Text { value } => schema::TagValue::String(value),
            TagValue::ListOf { items } => {
                schema::TagValue::List(items.into_iter().map(Into::into).collect())
            }
        }
    }
}

fn tags_out(t: schema::Tags) -> HashMap<String, TagValue> {
    t.into_iter().map(|(k, v)| (k, v.into())).collect()
}

fn tags_in(t: HashMap<String, TagValue>) -> schema::Tags {
    t.into_iter()
        .map(|(k, v)| (k, v.into()))
        .collect::<BTreeMap<_, _>>()
}

impl From<schema::DocRef> for DocRef {
    fn from(r: schema::DocRef) -> Self {
        DocRef {
            doc_id: r.doc_id.to_string(),
            version_id: r.version_id.to_string(),
        }
    }
}

impl TryFrom<DocRef> for schema::DocRef {
    type Error = MapeoError;
    fn try_from(r: DocRef) -> Result<Self, MapeoError> {
        Ok(schema::DocRef {
            doc_id: doc_id(&r.doc_id)?,
            version_id: r.version_id.parse().map_err(id_err)?,
        })
    }
}

fn refs_in(refs: Vec<DocRef>) -> Result<Vec<schema::DocRef>, MapeoError> {
    refs.into_iter().map(TryInto::try_into).collect()
}

fn ref_in(r: Option<DocRef>) -> Result<Option<schema::DocRef>, MapeoError> {
    r.map(TryInto::try_into).transpose()
}

impl From<schema::AttachmentKind> for AttachmentKind {
    fn from(k: schema::AttachmentKind) -> Self {
        match k {
            schema::AttachmentKind::Photo => AttachmentKind::Photo,
            schema::AttachmentKind::Audio => AttachmentKind::Audio,
            schema::AttachmentKind::Video => AttachmentKind::Video,
        }
    }
}

impl From<AttachmentKind> for schema::AttachmentKind {
    fn from(k: AttachmentKind) -> Self {
        match k {
            AttachmentKind::Photo => schema::AttachmentKind::Photo,
            AttachmentKind::Audio => schema::AttachmentKind::Audio,
            AttachmentKind::Video => schema::AttachmentKind::Video,
        }
    }
}

impl From<schema::Attachment> for Attachment {
    fn from(a: schema::Attachment) -> Self {
        Attachment {
            name: a.name,
            kind: a.kind.into(),
            hash: a.hash,
        }
    }
}

impl From<Attachment> for schema::Attachment {
    fn from(a: Attachment) -> Self {
        schema::Attachment {
            name: a.name,
            kind: a.kind.into(),
            hash: a.hash,
        }
    }
}

impl From<schema::Coords> for Coords {
    fn from(c: schema::Coords) -> Self {
        Coords {
            latitude: c.latitude,
            longitude: c.longitude,
            altitude: c.altitude,
            altitude_accuracy: c.altitude_accuracy,
            heading: c.heading,
            speed: c.speed,
            accuracy: c.accuracy,
        }
    }
}

impl From<Coords> for schema::Coords {
    fn from(c: Coords) -> Self {
        schema::Coords {
            latitude: c.latitude,
            longitude: c.longitude,
            altitude: c.altitude,
            altitude_accuracy: c.altitude_accuracy,
            heading: c.heading,
            speed: c.speed,
            accuracy: c.accuracy,
        }
    }
}

impl From<schema::Position> for Position {
    fn from(p: schema::Position) -> Self {
        Position {
            timestamp: p.timestamp.map(|t| t.0),
            mocked: p.mocked,
            coords: p.coords.map(Into::into),
        }
    }
}

impl From<Position> for schema::Position {
    fn from(p: Position) -> Self {
        schema::Position {
            timestamp: p.timestamp.map(Timestamp),
            mocked: p.mocked,
            coords: p.coords.map(Into::into),
        }
    }
}

impl From<schema::PositionProvider> for PositionProvider {
    fn from(p: schema::PositionProvider) -> Self {
        PositionProvider {
            gps_available: p.gps_available,
            passive_available: p.passive_available,
            location_services_enabled: p.location_services_enabled,
            network_available: p.network_available,
        }
    }
}

impl From<PositionProvider> for schema::PositionProvider {
    fn from(p: PositionProvider) -> Self {
        schema::PositionProvider {
            gps_available: p.gps_available,
            passive_available: p.passive_available,
            location_services_enabled: p.location_services_enabled,
            network_available: p.network_available,
        }
    }
}

impl From<schema::ObservationMetadata> for ObservationMetadata {
    fn from(m: schema::ObservationMetadata) -> Self {
        ObservationMetadata {
            manual_location: m.manual_location,
            position: m.position.map(Into::into),
            position_provider: m.position_provider.map(Into::into),
        }
    }
}

impl From<ObservationMetadata> for schema::ObservationMetadata {
    fn from(m: ObservationMetadata) -> Self {
        schema::ObservationMetadata {
            manual_location: m.manual_location,
            position: m.position.map(Into::into),
            position_provider: m.position_provider.map(Into::into),
        }
    }
}

impl From<schema::Observation> for Observation {
    fn from(o: schema::Observation) -> Self {
        Observation {
            lat: o.lat,
            lon: o.lon,
            attachments: o.attachments.into_iter().map(Into::into).collect(),
            tags: tags_out(o.tags),
            metadata: o.metadata.map(Into::into),
            preset_ref: o.preset_ref.map(Into::into),
        }
    }
}

impl TryFrom<Observation> for DocValue {
    type Error = MapeoError;
    fn try_from(o: Observation) -> Result<Self, MapeoError> {
        Ok(DocValue::Observation(schema::Observation {
            lat: o.lat,
            lon: o.lon,
            attachments: o.attachments.into_iter().map(Into::into).collect(),
            tags: tags_in(o.tags),
            metadata: o.metadata.map(Into::into),
            preset_ref: ref_in(o.preset_ref)?,
        }))
    }
}

impl From<schema::TrackPoint> for TrackPoint {
    fn from(p: schema::TrackPoint) -> Self {
        TrackPoint {
            timestamp: p.timestamp.0,
            mocked: p.mocked,
            coords: p.coords.into(),
        }
    }
}

impl From<TrackPoint> for schema::TrackPoint {
    fn from(p: TrackPoint) -> Self {
        schema::TrackPoint {
            timestamp: Timestamp(p.timestamp),
            mocked: p.mocked,
            coords: p.coords.into(),
        }
    }
}

impl From<schema::Track> for Track {
    fn from(t: schema::Track) -> Self {
        Track {
            locations: t.locations.into_iter().map(Into::into).collect(),
            observation_refs: t.observation_refs.into_iter().map(Into::into).collect(),
            tags: tags_out(t.tags),
            preset_ref: t.preset_ref.map(Into::into),
        }
    }
}

impl TryFrom<Track> for DocValue {
    type Error = MapeoError;
    fn try_from(t: Track) -> Result<Self, MapeoError> {
        Ok(DocValue::Track(schema::Track {
            locations: t.locations.into_iter().map(Into::into).collect(),
            observation_refs: refs_in(t.observation_refs)?,
            tags: tags_in(t.tags),
            preset_ref: ref_in(t.preset_ref)?,
        }))
    }
}

impl From<schema::Geometry> for Geometry {
    fn from(g: schema::Geometry) -> Self {
        match g {
            schema::Geometry::Point => Geometry::Point,
            schema::Geometry::Vertex => Geometry::Vertex,
            schema::Geometry::Line => Geometry::Line,
            schema::Geometry::Area => Geometry::Area,
            schema::Geometry::Relation => Geometry::Relation,
        }
    }
}

impl From<Geometry> for schema::Geometry {
    fn from(g: Geometry) -> Self {
        match g {
            Geometry::Point => schema::Geometry::Point,
            Geometry::Vertex => schema::Geometry::Vertex,
            Geometry::Line => schema::Geometry::Line,
            Geometry::Area => schema::Geometry::Area,
            Geometry::Relation => schema::Geometry::Relation,
        }
    }
}

impl From<schema::Preset> for Preset {
    fn from(p: schema::Preset) -> Self {
        Preset {
            name: p.name,
            geometry: p.geometry.into_iter().map(Into::into).collect(),
            tags: tags_out(p.tags),
            add_tags: tags_out(p.add_tags),
            remove_tags: tags_out(p.remove_tags),
            field_refs: p.field_refs.into_iter().map(Into::into).collect(),
            icon_ref: p.icon_ref.map(Into::into),
            terms: p.terms,
            color: p.color,
        }
    }
}

impl TryFrom<Preset> for DocValue {
    type Error = MapeoError;
    fn try_from(p: Preset) -> Result<Self, MapeoError> {
        Ok(DocValue::Preset(schema::Preset {
            name: p.name,
            geometry: p.geometry.into_iter().map(Into::into).collect(),
            tags: tags_in(p.tags),
            add_tags: tags_in(p.add_tags),
            remove_tags: tags_in(p.remove_tags),
            field_refs: refs_in(p.field_refs)?,
            icon_ref: ref_in(p.icon_ref)?,
            terms: p.terms,
            color: p.color,
        }))
    }
}

impl From<schema::FieldType> for FieldType {
    fn from(t: schema::FieldType) -> Self {
        match t {
            schema::FieldType::Text => FieldType::Text,
            schema::FieldType::Number => FieldType::Number,
            schema::FieldType::SelectOne => FieldType::SelectOne,
            schema::FieldType::SelectMultiple => FieldType::SelectMultiple,
            schema::FieldType::Date => FieldType::Date,
        }
    }
}

impl From<FieldType> for schema::FieldType {
    fn from(t: FieldType) -> Self {
        match t {
            FieldType::Text => schema::FieldType::Text,
            FieldType::Number => schema::FieldType::Number,
            FieldType::SelectOne => schema::FieldType::SelectOne,
            FieldType::SelectMultiple => schema::FieldType::SelectMultiple,
            FieldType::Date => schema::FieldType::Date,
        }
    }
}

impl From<schema::Field> for Field {
    fn from(f: schema::Field) -> Self {
        Field {
            tag_key: f.tag_key,
            field_type: f.field_type.into(),
            label: f.label,
            options: f
                .options
                .into_iter()
                .map(|o| FieldOption {
                    label: o.label,
                    value: o.value.into(),
                })
                .collect(),
            placeholder: f.placeholder,
            helper_text: f.helper_text,
            universal: f.universal,
        }
    }
}

impl From<Field> for DocValue {
    fn from(f: Field) -> Self {
        DocValue::Field(schema::Field {
            tag_key: f.tag_key,
            field_type: f.field_type.into(),
            label: f.label,
            options: f
                .options
                .into_iter()
                .map(|o| schema::FieldOption {
                    label: o.label,
                    value: o.value.into(),
                })
                .collect(),
            placeholder: f.placeholder,
            helper_text: f.helper_text,
            universal: f.universal,
        })
    }
}

impl From<&Document> for DocMeta {
    fn from(d: &Document) -> Self {
        DocMeta {
            doc_id: d.doc.doc_id.to_string(),
            version_id: d.version_id.to_string(),
            original_version_id: d.doc.original_version_id.map(|v| v.to_string()),
            created_at: d.doc.created_at.0,
            updated_at: d.doc.updated_at.0,
            created_by: d.created_by.to_string(),
            updated_by: d.updated_by.to_string(),
            links: d.doc.links.iter().map(ToString::to_string).collect(),
            forks: d.forks.iter().map(ToString::to_string).collect(),
            deleted: d.doc.deleted,
        }
    }
}

/// A stored document of another type than asked for: to the app, no such document.
fn not_a(what: &str) -> MapeoError {
    MapeoError::NotFound {
        reason: format!("{what} not found"),
    }
}

impl TryFrom<Document> for ObservationDoc {
    type Error = MapeoError;
    fn try_from(d: Document) -> Result<Self, MapeoError> {
        let meta = DocMeta::from(&d);
        match d.doc.value {
            DocValue::Observation(o) => Ok(ObservationDoc {
                meta,
                value: o.into(),
            }),
            _ => Err(not_a("observation")),
        }
    }
}

impl TryFrom<Document> for TrackDoc {
    type Error = MapeoError;
    fn try_from(d: Document) -> Result<Self, MapeoError> {
        let meta = DocMeta::from(&d);
        match d.doc.value {
            DocValue::Track(t) => Ok(TrackDoc {
                meta,
                value: t.into(),
            }),
            _ => Err(not_a("track")),
        }
    }
}

impl TryFrom<Document> for PresetDoc {
    type Error = MapeoError;
    fn try_from(d: Document) -> Result<Self, MapeoError> {
        let meta = DocMeta::from(&d);
        match d.doc.value {
            DocValue::Preset(p) => Ok(PresetDoc {
                meta,
                value: p.into(),
            }),
            _ => Err(not_a("preset")),
        }
    }
}

impl TryFrom<Document> for FieldDoc {
    type Error = MapeoError;
    fn try_from(d: Document) -> Result<Self, MapeoError> {
        let meta = DocMeta::from(&d);
        match d.doc.value {
            DocValue::Field(f) => Ok(FieldDoc {
                meta,
                value: f.into(),
            }),
            _ => Err(not_a("field")),
        }
    }
}

impl Query {
    /// The core query for documents of `doc_type`.
    pub(crate) fn to_core(&self, doc_type: DocType) -> Result<CoreQuery, MapeoError> {
        let all = CoreQuery::all(doc_type);
        Ok(CoreQuery {
            doc_type,
            include_deleted: self.include_deleted,
            bbox: self.bbox.map(|b| CoreBoundingBox {
                south: b.south,
                west: b.west,
                north: b.north,
                east: b.east,
            }),
            created_after: self.created_after.map(Timestamp),
            created_before: self.created_before.map(Timestamp),
            preset: self.preset.as_deref().map(doc_id).transpose()?,
            text: self.text.clone(),
            limit: self.limit.unwrap_or(all.limit),
            offset: self.offset,
        })
    }
}

/// Lists of stored documents, converted one by one.
pub(crate) fn convert_all<T: TryFrom<Document, Error = MapeoError>>(
    docs: Vec<Document>,
) -> Result<Vec<T>, MapeoError> {
    docs.into_iter().map(T::try_from).collect()
}
