//! Patrol recording: the positions of a walk written to disk as they come (so a crash or a
//! killed app loses at most the position being written), filtered (poor accuracy dropped,
//! points too close in space or time merged) and, when the patrol stops, saved as one `track`
//! document that links the observations this device made meanwhile. Also the distance and
//! duration of a track. Owns the recording file in the project's folder; writes documents
//! only through [`Project`].
//!
//! The filter lives here rather than in the apps so that both apps (and the desktop peer)
//! record the same track from the same positions, and so the file on disk only ever holds
//! kept points.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ids::Timestamp;
use crate::index::{Document, Query};
use crate::schema::{DocRef, DocType, DocValue, Tags, Track, TrackPoint};

use super::Project;

/// Positions whose horizontal accuracy is worse (larger) than this many metres are dropped:
/// a phone under canopy or in a valley reports fixes hundreds of metres off, which would
/// draw spikes and add distance never walked.
pub const MAX_ACCURACY_METRES: f64 = 50.0;
/// A position closer than this to the last kept one is merged into it (standing still).
pub const MIN_DISTANCE_METRES: f64 = 5.0;
/// A position read less than this long after the last kept one is merged into it: with
/// [`MIN_DISTANCE_METRES`] this keeps a two-hour walk to a few thousand points.
pub const MIN_INTERVAL_MS: i64 = 3_000;
/// The most points one patrol keeps; past it, positions are refused with
/// [`PatrolError::TooLong`] (at one point per [`MIN_INTERVAL_MS`] that is over three days).
pub const MAX_PATROL_POINTS: usize = 100_000;
/// The recording file, in the project's folder.
pub const PATROL_FILE: &str = "patrol-recording.jsonl";

/// The version of the recording file's format this code writes and reads.
const FORMAT_VERSION: u32 = 1;
/// Mean radius of the Earth (IUGG), for distances along a track.
const EARTH_RADIUS_METRES: f64 = 6_371_008.8;

/// What went wrong with a patrol recording.
#[derive(Debug, thiserror::Error)]
pub enum PatrolError {
    /// A patrol is already being recorded in this project (resume it, save it or discard it).
    #[error("a patrol is already being recorded")]
    AlreadyRecording,
    /// The patrol was saved already: start a new one.
    #[error("the patrol was saved already")]
    Saved,
    /// A track needs at least two positions.
    #[error("a track needs at least two recorded positions")]
    TooShort,
    /// The patrol holds [`MAX_PATROL_POINTS`] already.
    #[error("the patrol has reached its limit of positions")]
    TooLong,
    /// The position given is not a valid reading (which field is named, never its value).
    #[error("invalid position: {0}")]
    InvalidPosition(&'static str),
    /// The recording file was written by a newer version of Mapeo.
    #[error("the patrol recording was written by a newer version")]
    NewerFormat,
    /// The recording file's first line is whole but not a recording's (another program wrote
    /// it, or the disk is damaged): it is left as it is.
    #[error("the patrol recording cannot be read")]
    Unreadable,
    /// The recording file could not be read or written (full disk, say).
    #[error("the patrol recording could not be written or read")]
    Io(#[source] std::io::Error),
    /// The project refused the track, or its store failed.
    #[error(transparent)]
    Project(#[from] crate::Error),
}

/// What became of one position given to [`Patrol::add_position`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionOutcome {
    /// Written to the recording as a point of the track.
    Recorded,
    /// Too close to the last point in space or time: kept in memory only as the latest
    /// position, which ends the track if no other comes.
    Merged,
    /// Its accuracy was worse than [`MAX_ACCURACY_METRES`].
    DroppedInaccurate,
    /// It was read before the last point (a late fix from another provider).
    DroppedOutOfOrder,
}

/// Where a patrol stands.
#[derive(Debug, Clone, PartialEq)]
pub struct PatrolSummary {
    /// When recording started.
    pub started_at: Timestamp,
    /// Points the track would have if saved now.
    pub points: usize,
    /// Its length in metres.
    pub distance_metres: f64,
    /// Time from its first to its last point, in milliseconds.
    pub duration_ms: i64,
}

/// One line of the recording file.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
enum Line {
    /// The first line.
    Started { version: u32, started_at: Timestamp },
    /// A kept point.
    Point(TrackPoint),
}

/// A patrol being recorded. Only one exists per project at a time: get it from
/// [`Project::start_patrol`] or, after the app restarts, [`Project::resume_patrol`], and keep
/// one handle.
#[derive(Debug)]
pub struct Patrol {
    path: PathBuf,
    file: File,
    started_at: Timestamp,
    points: Vec<TrackPoint>,
    /// The latest merged position, newer than the last point.
    latest: Option<TrackPoint>,
    distance: f64,
    /// Set once saved as a track: the recording is gone and the handle takes nothing more.
    saved: bool,
}

impl Patrol {
    /// Filters `p` and, if it is kept, writes it to disk before returning (synced, so neither
    /// a killed process nor a power cut loses it).
    pub fn add_position(&mut self, p: TrackPoint) -> Result<PositionOutcome, PatrolError> {
        if self.saved {
            return Err(PatrolError::Saved);
        }
        check_position(&p)?;
        if p.coords.accuracy.is_some_and(|a| a > MAX_ACCURACY_METRES) {
            return Ok(PositionOutcome::DroppedInaccurate);
        }
        let newest = self.latest.as_ref().or(self.points.last());
        if newest.is_some_and(|n| p.timestamp < n.timestamp) {
            return Ok(PositionOutcome::DroppedOutOfOrder);
        }
        if let Some(last) = self.points.last() {
            let close = distance_metres(last, &p) < MIN_DISTANCE_METRES
                || p.timestamp.0.saturating_sub(last.timestamp.0) < MIN_INTERVAL_MS;
            if close {
                self.latest = Some(p);
                return Ok(PositionOutcome::Merged);
            }
        }
        if self.points.len() >= MAX_PATROL_POINTS {
            return Err(PatrolError::TooLong);
        }
        write_line(&mut self.file, &Line::Point(p.clone()))?;
        if let Some(last) = self.points.last() {
            self.distance += distance_metres(last, &p);
        }
        self.points.push(p);
        self.latest = None;
        Ok(PositionOutcome::Recorded)
    }

    /// The points the track would have if saved now: the kept ones and the latest position.
    pub fn points(&self) -> Vec<TrackPoint> {
        let mut all = self.points.clone();
        all.extend(self.latest.clone());
        all
    }

    /// When recording started, how many points, how far and how long so far.
    pub fn summary(&self) -> PatrolSummary {
        let extra = match (self.points.last(), &self.latest) {
            (Some(last), Some(latest)) => distance_metres(last, latest),
            _ => 0.0,
        };
        let first = self.points.first();
        let end = self.latest.as_ref().or(self.points.last());
        PatrolSummary {
            started_at: self.started_at,
            points: self.points.len() + usize::from(self.latest.is_some()),
            distance_metres: self.distance + extra,
            duration_ms: match (first, end) {
                (Some(a), Some(b)) => b.timestamp.0.saturating_sub(a.timestamp.0),
                _ => 0,
            },
        }
    }

    /// Ends the patrol without saving a track: the recording is deleted.
    pub fn discard(self) -> Result<(), PatrolError> {
        remove(&self.path)
    }
}

impl Project {
    fn patrol_path(&self) -> PathBuf {
        self.path()
            .parent()
            .unwrap_or(Path::new("."))
            .join(PATROL_FILE)
    }

    /// Starts recording a patrol. Fails with [`PatrolError::AlreadyRecording`] if one is under
    /// way (after a crash, say: [`Project::resume_patrol`] returns it).
    pub fn start_patrol(&self) -> Result<Patrol, PatrolError> {
        self.check_writable()?;
        let path = self.patrol_path();
        let mut file = match OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(PatrolError::AlreadyRecording);
            }
            Err(e) => return Err(PatrolError::Io(e)),
        };
        let started_at = self.now();
        let header = Line::Started {
            version: FORMAT_VERSION,
            started_at,
        };
        if let Err(e) = write_line(&mut file, &header) {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        sync_dir(&path);
        Ok(Patrol {
            path,
            file,
            started_at,
            points: Vec::new(),
            latest: None,
            distance: 0.0,
            saved: false,
        })
    }

    /// The patrol under way, as written to disk, if any: after the app was killed or the phone
    /// restarted, recording goes on from here. A last line cut short by the crash is dropped.
    pub fn resume_patrol(&self) -> Result<Option<Patrol>, PatrolError> {
        let path = self.patrol_path();
        let file = match OpenOptions::new().read(true).append(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(PatrolError::Io(e)),
        };
        read_recording(path, file)
    }

    /// Stops the patrol and saves it as a track with `tags`, linking every observation this
    /// device created since it started. The recording is deleted once the track is saved and
    /// the handle takes no more positions ([`PatrolError::Saved`]). A patrol of fewer than two
    /// points is refused with [`PatrolError::TooShort`] and goes on.
    pub fn save_patrol(&self, patrol: &mut Patrol, tags: Tags) -> Result<Document, PatrolError> {
        if patrol.saved {
            return Err(PatrolError::Saved);
        }
        let locations = patrol.points();
        if locations.len() < 2 {
            return Err(PatrolError::TooShort);
        }
        let mut made = Query::all(DocType::Observation);
        made.created_after = Some(patrol.started_at);
        let me = self.device_id();
        let observation_refs = self
            .list(&made)?
            .into_iter()
            .filter(|d| d.created_by == me)
            .map(|d| DocRef {
                doc_id: d.doc.doc_id.clone(),
                version_id: d.version_id,
            })
            .collect();
        let track = DocValue::Track(Track {
            locations,
            observation_refs,
            tags,
            preset_ref: None,
        });
        let saved = self.create(track)?;
        patrol.saved = true;
        remove(&patrol.path)?;
        Ok(saved)
    }
}

fn read_recording(path: PathBuf, mut file: File) -> Result<Option<Patrol>, PatrolError> {
    let mut reader = BufReader::new(&mut file);
    let mut good_len: u64 = 0;
    let mut started_at = None;
    let mut points = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(PatrolError::Io)?;
        // A line without its newline was being written when the process died.
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        if started_at.is_none() {
            started_at = Some(header(&line)?);
            good_len += n as u64;
            continue;
        }
        match serde_json::from_str::<Line>(&line) {
            Ok(Line::Point(p)) if check_position(&p).is_ok() => points.push(p),
            // Anything else can only be a write cut short: what follows it is not trusted.
            _ => break,
        }
        good_len += n as u64;
    }
    drop(reader);
    let Some(started_at) = started_at else {
        // The header never made it to disk: `start_patrol` had not returned.
        remove(&path)?;
        return Ok(None);
    };
    file.set_len(good_len).map_err(PatrolError::Io)?;
    file.seek(SeekFrom::End(0)).map_err(PatrolError::Io)?;
    let distance = points
        .windows(2)
        .map(|w| distance_metres(&w[0], &w[1]))
        .sum();
    Ok(Some(Patrol {
        path,
        file,
        started_at,
        points,
        latest: None,
        distance,
        saved: false,
    }))
}

/// The start time in a whole first line, checking its version before anything else so that a
/// newer format is refused rather than taken for damage.
fn header(line: &str) -> Result<Timestamp, PatrolError> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|_| PatrolError::Unreadable)?;
    let version = value
        .get("started")
        .and_then(|s| s.get("version"))
        .and_then(serde_json::Value::as_u64)
        .ok_or(PatrolError::Unreadable)?;
    if version > u64::from(FORMAT_VERSION) {
        return Err(PatrolError::NewerFormat);
    }
    match serde_json::from_value::<Line>(value) {
        Ok(Line::Started { started_at, .. }) => Ok(started_at),
        _ => Err(PatrolError::Unreadable),
    }
}

fn check_position(p: &TrackPoint) -> Result<(), PatrolError> {
    let c = &p.coords;
    if !(c.latitude.is_finite() && (-90.0..=90.0).contains(&c.latitude)) {
        return Err(PatrolError::InvalidPosition("latitude out of range"));
    }
    if !(c.longitude.is_finite() && (-180.0..=180.0).contains(&c.longitude)) {
        return Err(PatrolError::InvalidPosition("longitude out of range"));
    }
    if c.accuracy.is_some_and(|a| !(a.is_finite() && a >= 0.0)) {
        return Err(PatrolError::InvalidPosition("accuracy is not a distance"));
    }
    Ok(())
}

fn write_line(file: &mut File, line: &Line) -> Result<(), PatrolError> {
    let mut bytes = serde_json::to_vec(line)
        .map_err(|e| PatrolError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    bytes.push(b'\n');
    // One write of the whole line: a crash leaves it whole or cut, and a cut line is dropped
    // on resume.
    file.write_all(&bytes).map_err(PatrolError::Io)?;
    file.sync_data().map_err(PatrolError::Io)
}

fn remove(path: &Path) -> Result<(), PatrolError> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            sync_dir(path);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(PatrolError::Io(e)),
    }
}

/// Makes the file's creation or removal durable. Best effort: some platforms cannot open a
/// directory, and the file's own contents are synced either way.
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
}

/// The distance between two points along the Earth's surface, in metres (haversine).
fn distance_metres(a: &TrackPoint, b: &TrackPoint) -> f64 {
    let (la1, lo1) = (
        a.coords.latitude.to_radians(),
        a.coords.longitude.to_radians(),
    );
    let (la2, lo2) = (
        b.coords.latitude.to_radians(),
        b.coords.longitude.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_METRES * h.sqrt().min(1.0).asin()
}

/// The length of a track in metres: the sum of the great-circle distances between its
/// consecutive points.
pub fn track_distance_metres(points: &[TrackPoint]) -> f64 {
    points
        .windows(2)
        .map(|w| distance_metres(&w[0], &w[1]))
        .sum()
}

/// The time from a track's first point to its last, in milliseconds (0 with fewer than two).
pub fn track_duration_ms(points: &[TrackPoint]) -> i64 {
    match (points.first(), points.last()) {
        (Some(a), Some(b)) => b.timestamp.0.saturating_sub(a.timestamp.0).max(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Coords;

    fn at(lat: f64, lon: f64, t: i64) -> TrackPoint {
        TrackPoint {
            timestamp: Timestamp(t),
            mocked: false,
            coords: Coords {
                latitude: lat,
                longitude: lon,
                ..Default::default()
            },
        }
    }

    #[test]
    fn one_degree_of_latitude_is_about_111_km() {
        let d = track_distance_metres(&[at(0.0, 0.0, 0), at(1.0, 0.0, 1)]);
        assert!((d - 111_195.0).abs() < 10.0, "{d}");
    }

    #[test]
    fn a_track_across_the_antimeridian_is_short() {
        let d = track_distance_metres(&[at(0.0, 179.9999, 0), at(0.0, -179.9999, 1)]);
        assert!(d < 30.0, "{d}");
    }

    #[test]
    fn duration_runs_from_first_to_last_point() {
        let pts = [
            at(0.0, 0.0, 1_000),
            at(0.0, 0.1, 5_000),
            at(0.0, 0.2, 61_000),
        ];
        assert_eq!(track_duration_ms(&pts), 60_000);
        assert_eq!(track_duration_ms(&pts[..1]), 0);
    }
}
