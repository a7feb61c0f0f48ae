//! `mapeo export`: GeoJSON in the reference (CoMapeo) export's shape, CSV, and a zip with
//! the GeoJSON, the best available file of each attachment and a list of those missing.
//!
//! GeoJSON: a FeatureCollection; each track is a LineString feature whose properties are the
//! track document, followed by the observations it refers to; then the other observations as
//! Point features (geometry `null` when they have no location) with properties `$id`,
//! `$createdAt`, `$categoryId`, every non-null tag as text, `attachment_1`… (the exported file
//! name, or `null` when the file is not on this device), and the whole observation under the
//! foreign member `$comapeo`. Mapeo adds `$categoryName`, `$authorId` and `$authorName`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use mapeo_core::schema::{Attachment, DocType, DocValue};
use mapeo_core::{DocId, Document, Project, Query, Timestamp};
use serde_json::{Map, Value, json};

use crate::args::{ExportArgs, ExportCommand};
use crate::cmd::observation::observation_json;
use crate::error::{CliError, CliResult};
use crate::home::{Access, Home};
use crate::out::{Output, doc_json, iso, tag_text};
use crate::select;

/// Name of the list of missing attachments inside the zip's media folder.
pub const MISSING_LIST: &str = "missing.ndjson";

/// A file of an attachment that is on this device.
#[derive(Debug, Clone)]
pub struct AttachmentFile {
    /// Which variant: `original`, `preview` or `thumbnail`.
    pub variant: &'static str,
    /// The file name extension, without a dot (`jpg`).
    pub extension: Option<String>,
    /// Where its bytes are.
    pub path: PathBuf,
}

/// Where exports look for attachment files.
pub trait AttachmentSource {
    /// The best variant of an attachment present here: the original, else the preview,
    /// else the thumbnail (the reference's order).
    fn best(&self, attachment: &Attachment) -> Option<AttachmentFile>;
}

/// The source while the core stores no blobs: every attachment is missing here.
#[derive(Debug, Clone, Copy)]
pub struct NoBlobStore;

impl AttachmentSource for NoBlobStore {
    fn best(&self, _attachment: &Attachment) -> Option<AttachmentFile> {
        None
    }
}

/// The exported name of an attachment file, as the reference names it:
/// `NAME_VARIANT.EXT`.
pub fn attachment_file_name(a: &Attachment, f: &AttachmentFile) -> String {
    match &f.extension {
        Some(ext) => format!("{}_{}.{ext}", a.name, f.variant),
        None => format!("{}_{}", a.name, f.variant),
    }
}

/// Runs an export command.
pub fn run(dir: &Path, selection: Option<&str>, cmd: ExportCommand) -> CliResult<Output> {
    let home = Home::open(dir, Access::Read)?;
    let project = select::project(&home.manager, selection)?;
    let name = project.settings()?.name.unwrap_or_else(|| "project".into());
    let store = NoBlobStore;
    let now = Timestamp::now();
    match cmd {
        ExportCommand::Geojson(a) => {
            let export = geojson(&project, &a, &store)?;
            let bytes = to_bytes(&export.collection)?;
            let path = destination(&a, &file_prefix(&name, &a, now), "geojson");
            let written = write_out(path.as_deref(), &bytes)?;
            Ok(summary("GeoJSON", written, &export))
        }
        ExportCommand::Csv(a) => {
            let export = geojson(&project, &a, &store)?;
            let bytes = csv(&project, &export.observations, &store)?;
            let path = destination(&a, &file_prefix(&name, &a, now), "csv");
            let written = write_out(path.as_deref(), &bytes)?;
            Ok(summary("CSV", written, &export))
        }
        ExportCommand::Zip(a) => {
            let prefix = file_prefix(&name, &a, now);
            let Some(path) = destination(&a, &prefix, "zip") else {
                return Err(CliError::BadInput(
                    "a zip cannot go to standard output: give --out FILE".into(),
                ));
            };
            let export = geojson(&project, &a, &store)?;
            let media = format!("{}/", media_folder(&name, now));
            let (included, missing) = zip(&path, &prefix, &media, &export, &store)?;
            let mut out = summary("zip", Some(path), &export);
            if let Value::Object(o) = &mut out.json {
                o.insert("attachmentsIncluded".into(), json!(included));
                o.insert("attachmentsMissing".into(), json!(missing));
            }
            out.text.push_str(&format!(
                "\n{included} attachment file(s) included, {missing} missing here (listed in {media}{MISSING_LIST})."
            ));
            Ok(out)
        }
    }
}

/// What an export found.
pub struct Export {
    /// The FeatureCollection.
    pub collection: Value,
    /// The observations exported, in order.
    pub observations: Vec<Document>,
    /// How many tracks.
    pub tracks: usize,
    /// Every attachment of the exported observations, once per file hash.
    pub attachments: BTreeMap<String, Attachment>,
}

fn summary(what: &str, path: Option<PathBuf>, e: &Export) -> Output {
    let json = json!({
        "path": path.as_ref().map(|p| p.display().to_string()),
        "observations": e.observations.len(),
        "tracks": e.tracks,
        "attachments": e.attachments.len(),
    });
    let text = match &path {
        Some(p) => format!(
            "Exported {what}: {} observation(s), {} track(s) to {}",
            e.observations.len(),
            e.tracks,
            p.display()
        ),
        None => String::new(),
    };
    Output::new(json, text)
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn date_part(now: Timestamp) -> String {
    // `iso` gives YYYY-MM-DDT…; the reference's file names use YYYY_MM_DD.
    iso(now).get(..10).unwrap_or("").replace('-', "_")
}

/// `Mapeo_NAME_Obsvns_Tracks_YYYY_MM_DD`, as the reference names its exports.
fn file_prefix(name: &str, a: &ExportArgs, now: Timestamp) -> String {
    let mut kind = Vec::new();
    if !a.no_observations {
        kind.push("Obsvns");
    }
    if !a.no_tracks {
        kind.push("Tracks");
    }
    format!(
        "Mapeo_{}_{}_{}",
        sanitize(name),
        kind.join("_"),
        date_part(now)
    )
}

fn media_folder(name: &str, now: Timestamp) -> String {
    format!("Mapeo_{}_Media_{}", sanitize(name), date_part(now))
}

/// Where to write: `None` for standard output.
fn destination(a: &ExportArgs, prefix: &str, ext: &str) -> Option<PathBuf> {
    match &a.out {
        Some(p) if p.as_os_str() == "-" => None,
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from(format!("{prefix}.{ext}"))),
    }
}

fn to_bytes(v: &Value) -> CliResult<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| CliError::Export(e.to_string()))
}

/// Writes a whole file at once (a temporary file renamed into place: never half a file),
/// or to standard output.
fn write_out(path: Option<&Path>, bytes: &[u8]) -> CliResult<Option<PathBuf>> {
    let Some(path) = path else {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(bytes)
            .and_then(|()| stdout.flush())
            .map_err(|e| CliError::Export(e.to_string()))?;
        return Ok(None);
    };
    let mut tmp = temp_beside(path)?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| CliError::file("cannot write", path, e))?;
    tmp.persist(path)
        .map_err(|e| CliError::file("cannot write", path, e.error))?;
    Ok(Some(path.to_owned()))
}

fn temp_beside(path: &Path) -> CliResult<tempfile::NamedTempFile> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    tempfile::NamedTempFile::new_in(&parent)
        .map_err(|e| CliError::file("cannot write in", &parent, e))
}

/// Builds the FeatureCollection.
pub fn geojson(
    project: &Project,
    a: &ExportArgs,
    store: &dyn AttachmentSource,
) -> CliResult<Export> {
    let mut features = Vec::new();
    let mut seen: BTreeSet<DocId> = BTreeSet::new();
    let mut observations = Vec::new();
    let mut attachments = BTreeMap::new();
    let mut tracks = 0;
    let mut add_observation = |d: Document, features: &mut Vec<Value>| {
        if !seen.insert(d.doc.doc_id.clone()) {
            return;
        }
        if let DocValue::Observation(o) = &d.doc.value {
            for att in &o.attachments {
                attachments
                    .entry(att.hash.clone())
                    .or_insert_with(|| att.clone());
            }
        }
        features.push(observation_feature(project, &d, store));
        observations.push(d);
    };
    if !a.no_tracks {
        for t in project.list(&Query::all(DocType::Track))? {
            let DocValue::Track(track) = &t.doc.value else {
                continue;
            };
            let coordinates: Vec<Value> = track
                .locations
                .iter()
                .map(|p| match p.coords.altitude {
                    Some(alt) => json!([p.coords.longitude, p.coords.latitude, alt]),
                    None => json!([p.coords.longitude, p.coords.latitude]),
                })
                .collect();
            let mut properties = doc_json(&t);
            if let Value::Object(o) = &mut properties {
                o.insert(
                    "createdByName".into(),
                    json!(select::device_name(project, &t.created_by)),
                );
            }
            features.push(json!({
                "type": "Feature",
                "properties": properties,
                "geometry": { "type": "LineString", "coordinates": coordinates },
            }));
            tracks += 1;
            for r in &track.observation_refs {
                match project.get(&r.doc_id) {
                    Ok(d) if d.doc.doc_type() == DocType::Observation => {
                        add_observation(d, &mut features);
                    }
                    _ => {}
                }
            }
        }
    }
    if !a.no_observations {
        for d in project.list(&Query::all(DocType::Observation))? {
            add_observation(d, &mut features);
        }
    }
    Ok(Export {
        collection: json!({ "type": "FeatureCollection", "features": features }),
        observations,
        tracks,
        attachments,
    })
}

fn observation_feature(project: &Project, d: &Document, store: &dyn AttachmentSource) -> Value {
    let DocValue::Observation(o) = &d.doc.value else {
        return Value::Null;
    };
    let altitude = o
        .metadata
        .as_ref()
        .and_then(|m| m.position.as_ref())
        .and_then(|p| p.coords.as_ref())
        .and_then(|c| c.altitude);
    let metadata_coords = o
        .metadata
        .as_ref()
        .and_then(|m| m.position.as_ref())
        .and_then(|p| p.coords.as_ref())
        .map(|c| (c.latitude, c.longitude));
    let geometry = match o.lat.zip(o.lon).or(metadata_coords) {
        Some((lat, lon)) => match altitude {
            Some(alt) => json!({ "type": "Point", "coordinates": [lon, lat, alt] }),
            None => json!({ "type": "Point", "coordinates": [lon, lat] }),
        },
        None => Value::Null,
    };
    let mut p = Map::new();
    p.insert("$id".into(), json!(d.doc.doc_id.as_str()));
    p.insert("$createdAt".into(), json!(iso(d.doc.created_at)));
    if let Some(preset) = d.doc.preset_doc_id() {
        p.insert("$categoryId".into(), json!(preset.as_str()));
        p.insert(
            "$categoryName".into(),
            json!(select::category_name(project, d)),
        );
    }
    p.insert("$authorId".into(), json!(d.created_by.to_string()));
    p.insert(
        "$authorName".into(),
        json!(select::device_name(project, &d.created_by)),
    );
    for (k, v) in &o.tags {
        if let Some(text) = tag_text(v) {
            p.insert(k.clone(), json!(text));
        }
    }
    for (i, att) in o.attachments.iter().enumerate() {
        let name = store.best(att).map(|f| attachment_file_name(att, &f));
        p.insert(format!("attachment_{}", i + 1), json!(name));
    }
    json!({
        "type": "Feature",
        "properties": Value::Object(p),
        "$comapeo": observation_json(project, d),
        "geometry": geometry,
    })
}

/// One row per observation: fixed columns, then one column per tag key.
fn csv(
    project: &Project,
    observations: &[Document],
    store: &dyn AttachmentSource,
) -> CliResult<Vec<u8>> {
    let mut keys = BTreeSet::new();
    for d in observations {
        if let DocValue::Observation(o) = &d.doc.value {
            keys.extend(o.tags.keys().cloned());
        }
    }
    let fixed = [
        "id",
        "createdAt",
        "updatedAt",
        "lat",
        "lon",
        "categoryId",
        "category",
        "authorId",
        "author",
        "attachments",
        "missingAttachments",
    ];
    let mut w = csv::Writer::from_writer(Vec::new());
    let header: Vec<String> = fixed
        .iter()
        .map(|s| (*s).to_owned())
        .chain(keys.iter().map(|k| format!("tag:{k}")))
        .collect();
    w.write_record(&header)
        .map_err(|e| CliError::Export(e.to_string()))?;
    for d in observations {
        let DocValue::Observation(o) = &d.doc.value else {
            continue;
        };
        let preset = d.doc.preset_doc_id();
        let (present, missing): (Vec<_>, Vec<_>) = o
            .attachments
            .iter()
            .map(|a| (a, store.best(a)))
            .partition(|(_, f)| f.is_some());
        let mut row = vec![
            d.doc.doc_id.as_str().to_owned(),
            iso(d.doc.created_at),
            iso(d.doc.updated_at),
            o.lat.map(|v| v.to_string()).unwrap_or_default(),
            o.lon.map(|v| v.to_string()).unwrap_or_default(),
            preset.map(|p| p.as_str().to_owned()).unwrap_or_default(),
            preset
                .and_then(|_| select::category_name(project, d))
                .unwrap_or_default(),
            d.created_by.to_string(),
            select::device_name(project, &d.created_by).unwrap_or_default(),
            present
                .iter()
                .filter_map(|(a, f)| f.as_ref().map(|f| attachment_file_name(a, f)))
                .collect::<Vec<_>>()
                .join(","),
            missing
                .iter()
                .map(|(a, _)| a.name.clone())
                .collect::<Vec<_>>()
                .join(","),
        ];
        for k in &keys {
            row.push(o.tags.get(k).and_then(tag_text).unwrap_or_default());
        }
        w.write_record(&row)
            .map_err(|e| CliError::Export(e.to_string()))?;
    }
    w.into_inner().map_err(|e| CliError::Export(e.to_string()))
}

/// Writes the zip; returns how many attachments were included and how many are missing.
fn zip(
    path: &Path,
    prefix: &str,
    media: &str,
    export: &Export,
    store: &dyn AttachmentSource,
) -> CliResult<(usize, usize)> {
    let tmp = temp_beside(path)?;
    let file = tmp
        .reopen()
        .map_err(|e| CliError::file("cannot write", path, e))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let zerr = |e: zip::result::ZipError| CliError::Export(e.to_string());
    let ioerr = |e: std::io::Error| CliError::Export(e.to_string());
    zip.start_file(format!("{prefix}.geojson"), options)
        .map_err(zerr)?;
    zip.write_all(&to_bytes(&export.collection)?)
        .map_err(ioerr)?;
    let mut included = 0;
    let mut missing = Vec::new();
    for att in export.attachments.values() {
        match store.best(att) {
            Some(f) => {
                let mut source = std::fs::File::open(&f.path)
                    .map_err(|e| CliError::file("cannot read", &f.path, e))?;
                // Media is already compressed: stored as is.
                let stored = options.compression_method(zip::CompressionMethod::Stored);
                zip.start_file(format!("{media}{}", attachment_file_name(att, &f)), stored)
                    .map_err(zerr)?;
                std::io::copy(&mut source, &mut zip).map_err(ioerr)?;
                included += 1;
            }
            None => missing.push(att),
        }
    }
    zip.start_file(format!("{media}{MISSING_LIST}"), options)
        .map_err(zerr)?;
    for att in &missing {
        let line = serde_json::to_string(att).map_err(|e| CliError::Export(e.to_string()))?;
        zip.write_all(line.as_bytes()).map_err(ioerr)?;
        zip.write_all(b"\n").map_err(ioerr)?;
    }
    let mut inner = zip.finish().map_err(zerr)?;
    inner.flush().map_err(ioerr)?;
    tmp.as_file().sync_all().map_err(ioerr)?;
    tmp.persist(path)
        .map_err(|e| CliError::file("cannot write", path, e.error))?;
    Ok((included, missing.len()))
}
