//! The points of the map: a project's observations inside a bounding box as one GeoJSON
//! FeatureCollection, each feature carrying what a map view needs to style and open it
//! (category, colour, icon). Reads through the index's area query and never
//! writes; the map style and icon URLs belong to the local server, not here.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::error::Result;
use crate::ids::DocId;
use crate::index::{BoundingBox, Document, Query};
use crate::schema::{DocType, DocValue, Observation};

use super::Project;

/// The most points one call returns: enough for any screen of a field team's data, few enough
/// that a cheap phone builds and draws the layer without stalling. A wider area returns the
/// newest points and says it was cut ([`MapPoints::truncated`]).
pub const MAP_POINTS_LIMIT: u32 = 5_000;

/// The colour of a point whose observation has no category, or whose category has none.
pub const DEFAULT_POINT_COLOR: &str = "#B209B2";

/// Observations in an area, ready for a map's GeoJSON source.
#[derive(Debug, Clone, PartialEq)]
pub struct MapPoints {
    /// A GeoJSON FeatureCollection of points (`[lon, lat]`), newest first. Each feature's
    /// `id` is the observation's doc id; its properties are `docId`, `categoryId`,
    /// `categoryName`, `color` (always `#RRGGBB`: the form every map renderer reads),
    /// `opacity` (0 to 1, from a category colour's alpha), `iconId`, `iconName` (null when
    /// there is none) and `createdAt` (ms since the epoch). The collection also says
    /// `"truncated": true|false`.
    pub geojson: String,
    /// How many features it holds.
    pub count: u32,
    /// Whether more observations lie in the area than the limit allowed.
    pub truncated: bool,
}

/// A category as the map draws it.
struct Style {
    name: String,
    color: Option<String>,
    icon_id: Option<DocId>,
}

impl Project {
    /// The observations inside `bbox` (`west > east` crosses the antimeridian), at most
    /// `limit` of them and never more than [`MAP_POINTS_LIMIT`], newest first, as GeoJSON
    /// points with their category's name, colour and icon.
    pub fn map_points(&self, bbox: BoundingBox, limit: u32) -> Result<MapPoints> {
        let limit = limit.min(MAP_POINTS_LIMIT);
        let mut query = Query::all(DocType::Observation);
        query.bbox = Some(bbox);
        // One more than asked tells whether the area holds more.
        query.limit = limit.saturating_add(1);
        let mut found = self.list(&query)?;
        let truncated = found.len() > limit as usize;
        found.truncate(limit as usize);

        let styles = self.category_styles()?;
        let mut icon_names: BTreeMap<DocId, Option<String>> = BTreeMap::new();
        let mut features = Vec::with_capacity(found.len());
        for doc in &found {
            let DocValue::Observation(o) = doc.value() else {
                continue;
            };
            let Some((lat, lon)) = o.lat.zip(o.lon) else {
                continue;
            };
            let category = category_of(o);
            let style = category.and_then(|id| styles.get(id));
            let icon_name = match style.and_then(|s| s.icon_id.as_ref()) {
                Some(icon) => match icon_names.get(icon) {
                    Some(name) => name.clone(),
                    None => {
                        let name = self.icon_name(icon)?;
                        icon_names.insert(icon.clone(), name.clone());
                        name
                    }
                },
                None => None,
            };
            features.push(feature(doc, [lon, lat], category, style, icon_name));
        }
        let count = u32::try_from(features.len()).unwrap_or(u32::MAX);
        let collection = json!({
            "type": "FeatureCollection",
            "features": features,
            "truncated": truncated,
        });
        Ok(MapPoints {
            geojson: collection.to_string(),
            count,
            truncated,
        })
    }

    /// A value bumped after every committed change to the project's documents, written here
    /// or brought by sync: a map view waits on it to fetch its points again, with no reload.
    pub fn subscribe_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn category_styles(&self) -> Result<BTreeMap<DocId, Style>> {
        Ok(self
            .list(&Query::all(DocType::Preset))?
            .into_iter()
            .filter_map(|d| match d.doc.value {
                DocValue::Preset(p) => Some((
                    d.doc.doc_id,
                    Style {
                        name: p.name,
                        color: p.color,
                        icon_id: p.icon_ref.map(|r| r.doc_id),
                    },
                )),
                _ => None,
            })
            .collect())
    }

    /// The name of an icon, or `None` if it has not arrived (yet) or was deleted.
    fn icon_name(&self, icon: &DocId) -> Result<Option<String>> {
        match self.get(icon) {
            Ok(d) => Ok(match d.doc.value {
                DocValue::Icon(i) => Some(i.name),
                _ => None,
            }),
            Err(crate::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// `#RRGGBB` and the opacity of a category colour (`#RRGGBB` or `#RRGGBBAA`, as the schema
/// allows): MapLibre Native reads no eight-digit colours, so the alpha travels apart.
fn split_alpha(color: &str) -> Option<(&str, f64)> {
    let rgb = color.get(..7)?;
    match color.get(7..) {
        Some("") => Some((rgb, 1.0)),
        Some(aa) if aa.len() == 2 => {
            let alpha = u8::from_str_radix(aa, 16).ok()?;
            Some((rgb, (f64::from(alpha) / 255.0 * 1000.0).round() / 1000.0))
        }
        _ => None,
    }
}

fn category_of(o: &Observation) -> Option<&DocId> {
    o.preset_ref.as_ref().map(|r| &r.doc_id)
}

fn feature(
    doc: &Document,
    lon_lat: [f64; 2],
    category: Option<&DocId>,
    style: Option<&Style>,
    icon_name: Option<String>,
) -> Value {
    let id = doc.doc_id().to_string();
    let (color, opacity) = style
        .and_then(|s| s.color.as_deref())
        .and_then(split_alpha)
        .unwrap_or((DEFAULT_POINT_COLOR, 1.0));
    json!({
        "type": "Feature",
        "id": id,
        "geometry": { "type": "Point", "coordinates": lon_lat },
        "properties": {
            "docId": id,
            // The category's id even when it has not arrived yet: the point opens the same.
            "categoryId": category.map(ToString::to_string),
            "categoryName": style.map(|s| s.name.clone()),
            "color": color,
            "opacity": opacity,
            "iconId": style.and_then(|s| s.icon_id.as_ref().map(ToString::to_string)),
            "iconName": icon_name,
            "createdAt": doc.doc.created_at.0,
        },
    })
}
