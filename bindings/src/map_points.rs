//! The map's points as the app sees them: the observations in the visible area as a GeoJSON
//! FeatureCollection for a map view's source, and a listener told when the project's documents
//! change (sync brought observations in) so the map fetches its points again without a reload.
//! Every method is a core call and a conversion (`mapeo_core::project::MapPoints`).

use std::sync::Arc;

use mapeo_core::index::BoundingBox as CoreBoundingBox;

use crate::documents::BoundingBox;
use crate::error::MapeoError;
use crate::listen::{TaskHandle, subscribe, upgrade};
use crate::project::Project;

/// The observations in an area, ready for a map view's GeoJSON source.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct MapPoints {
    /// A GeoJSON FeatureCollection of points, newest first. Each feature's `id` is the
    /// observation's doc id; its properties are `docId`, `categoryId`, `categoryName`,
    /// `color` (always `#RRGGBB`), `opacity` (0 to 1), `iconId`, `iconName` (null when there
    /// is none) and `createdAt` (ms since the epoch).
    pub geojson: String,
    /// How many points it holds.
    pub count: u32,
    /// Whether the area holds more observations than the limit allowed (the newest came).
    pub truncated: bool,
}

impl From<mapeo_core::project::MapPoints> for MapPoints {
    fn from(m: mapeo_core::project::MapPoints) -> Self {
        MapPoints {
            geojson: m.geojson,
            count: m.count,
            truncated: m.truncated,
        }
    }
}

/// The most points [`Project::map_points`] returns, whatever limit is asked.
#[uniffi::export]
pub fn map_points_limit() -> u32 {
    mapeo_core::project::MAP_POINTS_LIMIT
}

/// Told when the project's documents change, written on this device or brought by sync, as
/// the app implements it (to fetch the map's points again).
#[uniffi::export(with_foreign)]
pub trait ProjectChangeListener: Send + Sync {
    /// Something in the project changed; `generation` grows with each change. Called once
    /// at subscription, then at most every 100 ms while changes come. Return quickly;
    /// throwing is logged and ignored.
    fn on_project_changed(&self, generation: u64) -> Result<(), MapeoError>;
}

#[uniffi::export]
impl Project {
    /// The observations inside `bbox` (`west > east` crosses the antimeridian), newest first,
    /// at most `limit` (and never more than `mapPointsLimit()`), as GeoJSON points styled by
    /// their category. A box out of range is `InvalidInput`.
    pub fn map_points(&self, bbox: BoundingBox, limit: u32) -> Result<MapPoints, MapeoError> {
        let bbox = CoreBoundingBox {
            south: bbox.south,
            west: bbox.west,
            north: bbox.north,
            east: bbox.east,
        };
        Ok(self.inner.map_points(bbox, limit)?.into())
    }

    /// Calls `listener` now, then after each change to the project's documents (throttled).
    /// Keep the handle: the subscription ends when it is cancelled or dropped.
    pub fn subscribe_changes(
        &self,
        listener: Arc<dyn ProjectChangeListener>,
    ) -> Result<Arc<TaskHandle>, MapeoError> {
        let p = Arc::downgrade(&self.inner);
        subscribe(
            self.inner.subscribe_changes(),
            move || Ok(*upgrade(&p)?.subscribe_changes().borrow()),
            move |generation: u64| listener.on_project_changed(generation),
        )
    }
}
