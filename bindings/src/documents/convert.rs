//! Conversions between the document records and the core's schema types, field for field;
//! text ids are parsed with the core's parsers, so their errors map like any core error.

use std::collections::{BTreeMap, HashMap};

use mapeo_core::index::{BoundingBox as CoreBoundingBox, Document, Query as CoreQuery};
use mapeo_core::schema::{self, DocType, DocValue};
use mapeo_core::{DocId, Timestamp, VersionId};

use super::{
    Attachment, AttachmentKind, Coords, DocMeta, DocRef, Field, FieldDoc, FieldOption, FieldType,
    Geometry, Observation, ObservationDoc, ObservationMetadata, Position, PositionProvider, Preset,
    PresetDoc, Query, TagPrimitive, TagValue, Track, TrackDoc, TrackPoint,
};
use crate::error::MapeoError;

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

pub(crate) fn tags_in(t: HashMap<String, TagValue>) -> schema::Tags {
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
