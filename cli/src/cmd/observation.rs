//! `mapeo observation`: add, list and search, show, edit, delete. Tags come as KEY=VALUE
//! (JSON values where they parse as numbers, booleans, null or lists; text otherwise);
//! photos and audio are checked before anything is stored, the device's right to write the
//! observation too, then the media added as one unit (all or none), then the observation
//! written in one step.

use std::path::Path;

use mapeo_core::schema::{DocType, DocValue, Observation, TagValue, Tags, tags_from_json};
use mapeo_core::{BoundingBox, Document, Project, Query};
use serde_json::{Value, json};

use crate::args::{ObservationCommand, ObservationQuery};
use crate::cmd::media::{self, MediaFile};
use crate::error::{CliError, CliResult};
use crate::home::{Access, Home};
use crate::out::{Output, doc_json, iso, notes, table};
use crate::select;

/// Runs an observation command.
pub fn run(dir: &Path, selection: Option<&str>, cmd: ObservationCommand) -> CliResult<Output> {
    match cmd {
        ObservationCommand::Add(fields) => {
            // Everything given is checked before the store is opened for writing.
            let tags = parse_tags(&fields.tags)?;
            let (lat, lon) = match (fields.lat, fields.lon) {
                (Some(lat), Some(lon)) => (lat, lon),
                _ => {
                    return Err(CliError::BadInput(
                        "an observation needs --lat and --lon".into(),
                    ));
                }
            };
            check_lat_lon(lat, lon)?;
            let files = media::check_all(&fields.photos, &fields.audio)?;
            let home = Home::open(dir, Access::Write)?;
            let project = select::project(&home.manager, selection)?;
            // The role is asked before anything is stored: a refused write stores no media.
            project.check_data_write(None)?;
            let mut obs = Observation {
                lat: Some(lat),
                lon: Some(lon),
                ..Observation::default()
            };
            if let Some(p) = &fields.preset {
                let (preset, reference) = select::preset(&project, p)?;
                if let DocValue::Preset(preset) = preset.doc.value {
                    let defaults = if preset.add_tags.is_empty() {
                        preset.tags
                    } else {
                        preset.add_tags
                    };
                    obs.tags.extend(defaults);
                }
                obs.preset_ref = Some(reference);
            }
            obs.tags.extend(tags);
            if let Some(n) = fields.notes {
                obs.tags.insert("notes".into(), TagValue::String(n));
            }
            attach_then(&project, obs, &files, |obs| project.create(obs))
                .and_then(|doc| show(&project, &doc, "Observation recorded."))
        }
        ObservationCommand::List(q) => {
            let home = Home::open(dir, Access::Read)?;
            let project = select::project(&home.manager, selection)?;
            list(&project, &q)
        }
        ObservationCommand::Show { id } => {
            let home = Home::open(dir, Access::Read)?;
            let project = select::project(&home.manager, selection)?;
            let doc = select::document(&project, DocType::Observation, &id)?;
            show(&project, &doc, "")
        }
        ObservationCommand::Edit {
            id,
            fields,
            remove_tags,
        } => {
            let tags = parse_tags(&fields.tags)?;
            if let (Some(lat), Some(lon)) = (fields.lat, fields.lon) {
                check_lat_lon(lat, lon)?;
            }
            let files = media::check_all(&fields.photos, &fields.audio)?;
            let home = Home::open(dir, Access::Write)?;
            let project = select::project(&home.manager, selection)?;
            let current = select::document(&project, DocType::Observation, &id)?;
            let DocValue::Observation(mut obs) = current.doc.value.clone() else {
                return Err(CliError::UnknownDoc {
                    what: "observation",
                    selection: id,
                });
            };
            // Members edit only what they created: asked before anything is stored, so a
            // refused edit stores no media.
            project.check_data_write(Some(&current))?;
            let nothing = fields.lat.is_none()
                && fields.lon.is_none()
                && fields.preset.is_none()
                && tags.is_empty()
                && fields.notes.is_none()
                && remove_tags.is_empty()
                && files.is_empty();
            if nothing {
                return Err(CliError::BadInput(
                    "nothing to change: give --lat/--lon, --preset, --tag, --notes, --remove-tag, --photo or --audio"
                        .into(),
                ));
            }
            match (fields.lat, fields.lon) {
                (Some(lat), Some(lon)) => {
                    obs.lat = Some(lat);
                    obs.lon = Some(lon);
                }
                (None, None) => {}
                _ => {
                    return Err(CliError::BadInput("give --lat and --lon together".into()));
                }
            }
            if let Some(p) = &fields.preset {
                let (_, reference) = select::preset(&project, p)?;
                obs.preset_ref = Some(reference);
            }
            for key in &remove_tags {
                obs.tags.remove(key);
            }
            obs.tags.extend(tags);
            if let Some(n) = fields.notes {
                obs.tags.insert("notes".into(), TagValue::String(n));
            }
            // Linking every head merges any forks into this edit.
            let mut links = vec![current.version_id];
            links.extend(current.forks.iter().copied());
            attach_then(&project, obs, &files, |obs| project.update(&links, obs))
                .and_then(|doc| show(&project, &doc, "Observation updated."))
        }
        ObservationCommand::SaveMedia { hash, out } => {
            let hash: mapeo_core::BlobHash = hash.parse().map_err(|_| {
                CliError::BadInput(
                    "not a media file hash: give one that `observation show` lists".into(),
                )
            })?;
            let home = Home::open(dir, Access::Read)?;
            let project = select::project(&home.manager, selection)?;
            let size = media::save(&project, &hash, &out)?;
            Ok(Output::new(
                json!({ "path": out.display().to_string(), "size": size }),
                format!("Saved {size} bytes to {}.", out.display()),
            ))
        }
        ObservationCommand::Delete { id } => {
            let home = Home::open(dir, Access::Write)?;
            let project = select::project(&home.manager, selection)?;
            let current = select::document(&project, DocType::Observation, &id)?;
            let tombstone = project.delete(current.doc_id())?;
            Ok(Output::new(
                json!({ "docId": tombstone.doc.doc_id.as_str(), "deleted": true,
                        "versionId": tombstone.version_id.to_string() }),
                format!("Observation {} deleted.", tombstone.doc.doc_id),
            ))
        }
    }
}

/// Validates the observation with the files' attachments (stand-in hashes), adds the files,
/// then writes the observation with the real attachments: a bad observation stores no
/// media, and nothing records an observation before its media is stored.
fn attach_then(
    project: &Project,
    mut obs: Observation,
    files: &[MediaFile],
    write: impl FnOnce(DocValue) -> mapeo_core::Result<Document>,
) -> CliResult<Document> {
    let kept = obs.attachments.len();
    obs.attachments
        .extend(files.iter().map(MediaFile::placeholder));
    DocValue::Observation(obs.clone())
        .validate()
        .map_err(|v| invalid(mapeo_core::Error::Invalid(v)))?;
    obs.attachments.truncate(kept);
    obs.attachments.extend(media::attach(project, files)?);
    write(DocValue::Observation(obs)).map_err(invalid)
}

fn invalid(e: mapeo_core::Error) -> CliError {
    match e {
        mapeo_core::Error::Invalid(v) => CliError::BadInput(format!("invalid observation: {v}")),
        other => other.into(),
    }
}

/// Checks coordinates before anything is opened, with a message that names the value.
pub fn check_lat_lon(lat: f64, lon: f64) -> CliResult<()> {
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(CliError::BadInput(format!(
            "latitude {lat} is out of range: it must be between -90 and 90"
        )));
    }
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err(CliError::BadInput(format!(
            "longitude {lon} is out of range: it must be between -180 and 180"
        )));
    }
    Ok(())
}

/// Reads `KEY=VALUE` tags: the value as JSON if it is a number, boolean, null or a list
/// (or a quoted string), otherwise as text.
pub fn parse_tags(given: &[String]) -> CliResult<Tags> {
    let mut map = serde_json::Map::new();
    for t in given {
        let Some((key, raw)) = t.split_once('=') else {
            return Err(CliError::BadInput(format!("tag {t:?} is not KEY=VALUE")));
        };
        if key.is_empty() {
            return Err(CliError::BadInput(format!("tag {t:?} has no key")));
        }
        let value = match serde_json::from_str::<Value>(raw) {
            Ok(
                v @ (Value::Number(_)
                | Value::Bool(_)
                | Value::Null
                | Value::Array(_)
                | Value::String(_)),
            ) => v,
            _ => Value::String(raw.to_owned()),
        };
        map.insert(key.to_owned(), value);
    }
    tags_from_json(&Value::Object(map)).map_err(|e| CliError::BadInput(format!("bad tag: {e}")))
}

fn bbox(text: &str) -> CliResult<BoundingBox> {
    let parts: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| CliError::BadInput(format!("--bbox {text:?} is not SOUTH,WEST,NORTH,EAST")))?;
    let [south, west, north, east] = parts.as_slice() else {
        return Err(CliError::BadInput(format!(
            "--bbox {text:?} needs four numbers: SOUTH,WEST,NORTH,EAST"
        )));
    };
    for (lat, lon) in [(*south, *west), (*north, *east)] {
        check_lat_lon(lat, lon)?;
    }
    if south > north {
        return Err(CliError::BadInput("--bbox: south is north of north".into()));
    }
    Ok(BoundingBox {
        south: *south,
        west: *west,
        north: *north,
        east: *east,
    })
}

fn list(project: &Project, q: &ObservationQuery) -> CliResult<Output> {
    let mut query = Query::all(DocType::Observation);
    if let Some(b) = &q.bbox {
        query.bbox = Some(bbox(b)?);
    }
    if let Some(s) = &q.since {
        query.created_after = Some(crate::out::parse_time(s)?);
    }
    if let Some(u) = &q.until {
        query.created_before = Some(crate::out::parse_time(u)?);
    }
    if let Some(p) = &q.preset {
        query.preset = Some(select::preset(project, p)?.0.doc.doc_id);
    }
    query.text = q.text.clone();
    if let Some(l) = q.limit {
        query.limit = l;
    }
    query.offset = q.offset;
    let docs = project.list(&query)?;
    let json: Vec<Value> = docs.iter().map(|d| observation_json(project, d)).collect();
    let rows: Vec<Vec<String>> = docs
        .iter()
        .map(|d| {
            let (lat, lon, note) = match &d.doc.value {
                DocValue::Observation(o) => (
                    o.lat.map(|v| format!("{v:.5}")).unwrap_or_default(),
                    o.lon.map(|v| format!("{v:.5}")).unwrap_or_default(),
                    crate::out::truncate(
                        &crate::out::one_line(notes(&o.tags).unwrap_or("")),
                        crate::out::NOTE_CHARS_IN_TABLE,
                    ),
                ),
                _ => Default::default(),
            };
            vec![
                d.doc.doc_id.as_str().chars().take(8).collect(),
                iso(d.doc.created_at),
                lat,
                lon,
                category(project, d).unwrap_or_default(),
                select::device_name(project, &d.created_by).unwrap_or_else(|| d.created_by.short()),
                note,
            ]
        })
        .collect();
    let text = if docs.is_empty() {
        "No observations match.".to_owned()
    } else {
        format!(
            "{}\n{} observation(s)",
            table(
                &["ID", "CREATED", "LAT", "LON", "CATEGORY", "AUTHOR", "NOTES"],
                &rows
            ),
            docs.len()
        )
    };
    Ok(Output::new(
        json!({ "count": docs.len(), "observations": json }),
        text,
    ))
}

fn category(project: &Project, d: &Document) -> Option<String> {
    select::category_name(project, d)
}

/// An observation as JSON: the reference shape plus the category's and authors' names.
pub fn observation_json(project: &Project, d: &Document) -> Value {
    let mut v = doc_json(d);
    if let Value::Object(o) = &mut v {
        o.insert("categoryName".into(), json!(category(project, d)));
        o.insert(
            "createdByName".into(),
            json!(select::device_name(project, &d.created_by)),
        );
        o.insert(
            "updatedByName".into(),
            json!(select::device_name(project, &d.updated_by)),
        );
    }
    v
}

fn show(project: &Project, d: &Document, headline: &str) -> CliResult<Output> {
    let mut json = observation_json(project, d);
    let mut lines = Vec::new();
    if !headline.is_empty() {
        lines.push(headline.to_owned());
    }
    lines.push(format!("Id:        {}", d.doc.doc_id));
    lines.push(format!("Version:   {}", d.version_id));
    lines.push(format!("Created:   {}", iso(d.doc.created_at)));
    lines.push(format!("Updated:   {}", iso(d.doc.updated_at)));
    lines.push(format!(
        "Author:    {}",
        select::device_name(project, &d.created_by).unwrap_or_else(|| d.created_by.short())
    ));
    if let DocValue::Observation(o) = &d.doc.value {
        if let (Some(lat), Some(lon)) = (o.lat, o.lon) {
            lines.push(format!("Location:  {lat}, {lon}"));
        }
        lines.push(format!(
            "Category:  {}",
            category(project, d).unwrap_or_else(|| "-".into())
        ));
        for (k, v) in &o.tags {
            lines.push(format!(
                "  {k} = {}",
                crate::out::tag_text(v).unwrap_or_else(|| "null".into())
            ));
        }
        let (media, media_lines) = media::attachments_json(project, &o.attachments)?;
        lines.extend(media_lines);
        if let Value::Object(obj) = &mut json {
            obj.insert("media".into(), media);
        }
    }
    if !d.forks.is_empty() {
        lines.push(format!(
            "Forks:     {} concurrent edit(s) not shown; `observation edit` merges them",
            d.forks.len()
        ));
    }
    Ok(Output::new(json, lines.join("\n")))
}
