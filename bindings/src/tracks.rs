//! Patrol recording and tracks as the app sees them: start or resume a recording, give it
//! positions as the phone reads them, see its distance and duration, save it as a track or
//! discard it; and the distance and duration of any track. The filter and the crash-safe
//! writing are the core's (`mapeo_core::project::patrol`); every method here is a core call
//! and a conversion.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use mapeo_core::project::patrol;

use crate::documents::{TagValue, TrackDoc, TrackPoint, tags_in};
use crate::error::MapeoError;
use crate::project::Project;

/// What became of a position given to [`PatrolRecording::add_position`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PositionOutcome {
    /// Written to the recording as a point of the track.
    Recorded,
    /// Too close to the last point in space or time: it ends the track if no other comes.
    Merged,
    /// Its accuracy was too poor.
    DroppedInaccurate,
    /// It was read before the last point.
    DroppedOutOfOrder,
}

impl From<patrol::PositionOutcome> for PositionOutcome {
    fn from(o: patrol::PositionOutcome) -> Self {
        match o {
            patrol::PositionOutcome::Recorded => PositionOutcome::Recorded,
            patrol::PositionOutcome::Merged => PositionOutcome::Merged,
            patrol::PositionOutcome::DroppedInaccurate => PositionOutcome::DroppedInaccurate,
            patrol::PositionOutcome::DroppedOutOfOrder => PositionOutcome::DroppedOutOfOrder,
        }
    }
}

/// Where a patrol stands: for the notification and the recording screen.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct PatrolSummary {
    /// When recording started, ms since the epoch.
    pub started_at: i64,
    /// Points the track would have if saved now.
    pub points: u32,
    /// Its length in metres.
    pub distance_metres: f64,
    /// Time from its first point to its last, in milliseconds.
    pub duration_ms: i64,
}

impl From<patrol::PatrolSummary> for PatrolSummary {
    fn from(s: patrol::PatrolSummary) -> Self {
        PatrolSummary {
            started_at: s.started_at.0,
            points: u32::try_from(s.points).unwrap_or(u32::MAX),
            distance_metres: s.distance_metres,
            duration_ms: s.duration_ms,
        }
    }
}

/// Thresholds of the patrol filter, for the app to explain them.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct PatrolFilter {
    /// Positions less accurate than this many metres are dropped.
    pub max_accuracy_metres: f64,
    /// Positions closer than this many metres to the last point are merged into it.
    pub min_distance_metres: f64,
    /// Positions read sooner than this many milliseconds after the last point are merged.
    pub min_interval_ms: i64,
}

/// The thresholds the core's patrol filter uses.
#[uniffi::export]
pub fn patrol_filter() -> PatrolFilter {
    PatrolFilter {
        max_accuracy_metres: patrol::MAX_ACCURACY_METRES,
        min_distance_metres: patrol::MIN_DISTANCE_METRES,
        min_interval_ms: patrol::MIN_INTERVAL_MS,
    }
}

/// The length of a track's points in metres (great-circle distances between consecutive
/// points).
#[uniffi::export]
pub fn track_distance_metres(locations: Vec<TrackPoint>) -> f64 {
    let points: Vec<_> = locations.into_iter().map(Into::into).collect();
    patrol::track_distance_metres(&points)
}

/// The time from a track's first point to its last, in milliseconds.
#[uniffi::export]
pub fn track_duration_ms(locations: Vec<TrackPoint>) -> i64 {
    let points: Vec<_> = locations.into_iter().map(Into::into).collect();
    patrol::track_duration_ms(&points)
}

/// A patrol being recorded. Every kept position is on disk before `addPosition` returns: if
/// the app is killed, `Project.resumePatrol()` gives the recording back.
#[derive(uniffi::Object)]
pub struct PatrolRecording {
    project: Arc<mapeo_core::Project>,
    /// `None` once discarded.
    patrol: Mutex<Option<patrol::Patrol>>,
}

impl PatrolRecording {
    fn wrap(project: Arc<mapeo_core::Project>, p: patrol::Patrol) -> Arc<Self> {
        Arc::new(PatrolRecording {
            project,
            patrol: Mutex::new(Some(p)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Option<patrol::Patrol>> {
        self.patrol
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn discarded() -> MapeoError {
    MapeoError::Patrol {
        reason: "the patrol was discarded".into(),
    }
}

#[uniffi::export]
impl PatrolRecording {
    /// Filters a position the phone read and records it if kept.
    pub fn add_position(&self, position: TrackPoint) -> Result<PositionOutcome, MapeoError> {
        let mut guard = self.lock();
        let p = guard.as_mut().ok_or_else(discarded)?;
        Ok(p.add_position(position.into())?.into())
    }

    /// When it started, how many points, how far and how long so far.
    pub fn summary(&self) -> Result<PatrolSummary, MapeoError> {
        let guard = self.lock();
        Ok(guard.as_ref().ok_or_else(discarded)?.summary().into())
    }

    /// The points so far, to draw the line being walked.
    pub fn points(&self) -> Result<Vec<TrackPoint>, MapeoError> {
        let guard = self.lock();
        let p = guard.as_ref().ok_or_else(discarded)?;
        Ok(p.points().into_iter().map(Into::into).collect())
    }

    /// Stops and saves the patrol as a track with `tags`, linking the observations this
    /// device made during it. Fewer than two points: `Patrol` error, and recording goes on.
    pub fn save(&self, tags: HashMap<String, TagValue>) -> Result<TrackDoc, MapeoError> {
        let mut guard = self.lock();
        let p = guard.as_mut().ok_or_else(discarded)?;
        self.project.save_patrol(p, tags_in(tags))?.try_into()
    }

    /// Stops the patrol without saving it: its recording is deleted.
    pub fn discard(&self) -> Result<(), MapeoError> {
        match self.lock().take() {
            Some(p) => Ok(p.discard()?),
            None => Ok(()),
        }
    }
}

#[uniffi::export]
impl Project {
    /// Starts recording a patrol. If one is under way already (the app was killed, say),
    /// `Patrol` error: resume it with `resumePatrol()`.
    pub fn start_patrol(&self) -> Result<Arc<PatrolRecording>, MapeoError> {
        let p = self.inner.start_patrol()?;
        Ok(PatrolRecording::wrap(self.inner.clone(), p))
    }

    /// The patrol under way on this device, as it was written to disk, or null.
    pub fn resume_patrol(&self) -> Result<Option<Arc<PatrolRecording>>, MapeoError> {
        Ok(self
            .inner
            .resume_patrol()?
            .map(|p| PatrolRecording::wrap(self.inner.clone(), p)))
    }
}
