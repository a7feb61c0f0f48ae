//! `mapeo track`: import tracks from a GPX file (each `<trk>` one track, its segments joined
//! in order), list tracks.

use std::path::Path;

use mapeo_core::schema::{Coords, DocType, DocValue, TagValue, Track, TrackPoint};
use mapeo_core::{Query, Timestamp};
use serde_json::{Value, json};

use crate::args::TrackCommand;
use crate::error::{CliError, CliResult};
use crate::home::{Access, Home};
use crate::out::{Output, doc_json, iso, table};
use crate::select;

/// Largest GPX file read, in bytes.
pub const MAX_GPX_BYTES: u64 = 64 * 1024 * 1024;

/// Runs a track command.
pub fn run(dir: &Path, selection: Option<&str>, cmd: TrackCommand) -> CliResult<Output> {
    match cmd {
        TrackCommand::Import { file, preset } => {
            let tracks = read_gpx(&file)?;
            let home = Home::open(dir, Access::Write)?;
            let project = select::project(&home.manager, selection)?;
            let preset_ref = match &preset {
                Some(p) => Some(select::preset(&project, p)?.1),
                None => None,
            };
            let values: Vec<DocValue> = tracks
                .into_iter()
                .map(|mut t| {
                    t.preset_ref = preset_ref.clone();
                    DocValue::Track(t)
                })
                .collect();
            for v in &values {
                v.validate()
                    .map_err(|e| CliError::Gpx(format!("a track is not valid: {e}")))?;
            }
            // All tracks of the file or none.
            let docs = project.create_many(values)?;
            let json: Vec<Value> = docs.iter().map(doc_json).collect();
            let points: usize = docs
                .iter()
                .map(|d| match &d.doc.value {
                    DocValue::Track(t) => t.locations.len(),
                    _ => 0,
                })
                .sum();
            Ok(Output::new(
                json!({ "imported": docs.len(), "points": points, "tracks": json }),
                format!("Imported {} track(s), {points} points.", docs.len()),
            ))
        }
        TrackCommand::List => {
            let home = Home::open(dir, Access::Read)?;
            let project = select::project(&home.manager, selection)?;
            let docs = project.list(&Query::all(DocType::Track))?;
            let rows: Vec<Vec<String>> = docs
                .iter()
                .map(|d| {
                    let (points, name) = match &d.doc.value {
                        DocValue::Track(t) => (
                            t.locations.len().to_string(),
                            match t.tags.get("name") {
                                Some(TagValue::String(s)) => s.clone(),
                                _ => String::new(),
                            },
                        ),
                        _ => Default::default(),
                    };
                    vec![
                        d.doc.doc_id.as_str().chars().take(8).collect(),
                        iso(d.doc.created_at),
                        points,
                        name,
                    ]
                })
                .collect();
            let json: Vec<Value> = docs.iter().map(doc_json).collect();
            let text = if docs.is_empty() {
                "No tracks.".to_owned()
            } else {
                table(&["ID", "CREATED", "POINTS", "NAME"], &rows)
            };
            Ok(Output::new(
                json!({ "count": docs.len(), "tracks": json }),
                text,
            ))
        }
    }
}

/// Reads every track of a GPX file. Every point needs a time; a track needs two points.
pub fn read_gpx(path: &Path) -> CliResult<Vec<Track>> {
    let file = std::fs::File::open(path).map_err(|e| CliError::file("cannot read", path, e))?;
    let size = file
        .metadata()
        .map_err(|e| CliError::file("cannot read", path, e))?
        .len();
    if size > MAX_GPX_BYTES {
        return Err(CliError::Gpx(format!(
            "the file is {size} bytes, more than {MAX_GPX_BYTES}"
        )));
    }
    let gpx = gpx::read(std::io::BufReader::new(file)).map_err(|e| CliError::Gpx(e.to_string()))?;
    let mut out = Vec::new();
    for (i, trk) in gpx.tracks.iter().enumerate() {
        let mut locations = Vec::new();
        for seg in &trk.segments {
            for wpt in &seg.points {
                let p = wpt.point();
                let time = wpt.time.ok_or_else(|| {
                    CliError::Gpx(format!(
                        "track {} has a point without a time; Mapeo tracks need times",
                        i + 1
                    ))
                })?;
                let t: time::OffsetDateTime = time.into();
                let ms = i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
                    .map_err(|_| CliError::Gpx("a point's time is out of range".into()))?;
                locations.push(TrackPoint {
                    timestamp: Timestamp(ms),
                    mocked: false,
                    coords: Coords {
                        latitude: p.y(),
                        longitude: p.x(),
                        altitude: wpt.elevation,
                        ..Coords::default()
                    },
                });
            }
        }
        if locations.len() < 2 {
            return Err(CliError::Gpx(format!(
                "track {} has {} point(s); a track needs at least 2",
                i + 1,
                locations.len()
            )));
        }
        let mut tags = mapeo_core::schema::Tags::new();
        if let Some(name) = &trk.name {
            tags.insert("name".into(), TagValue::String(name.clone()));
        }
        out.push(Track {
            locations,
            tags,
            ..Track::default()
        });
    }
    if out.is_empty() {
        return Err(CliError::Gpx("the file has no tracks (<trk>)".into()));
    }
    Ok(out)
}
