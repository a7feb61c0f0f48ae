//! `mapeo export`: GeoJSON in the reference (CoMapeo) export's shape, CSV, and a zip with
//! the GeoJSON, the best file of each attachment this device's blob store holds (original,
//! else preview, else thumbnail) and a list of the attachments whose original is missing
//! here, with why. Attachment names come from peers: exported file names are made safe
//! and unique here.
//!
//! GeoJSON: a FeatureCollection; each track is a LineString feature whose properties are the
//! track document, followed by the observations it refers to; then the other observations as
//! Point features (geometry `null` when they have no location) with properties `$id`,
//! `$createdAt`, `$categoryId`, every non-null tag as text, `attachment_1`… (the exported file
//! name, or `null` when the file is not on this device), and the whole observation under the
//! foreign member `$comapeo`. Mapeo adds `$categoryName`, `$authorId` and `$authorName`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use mapeo_core::schema::{Attachment, DocType, DocValue, Variant};
use mapeo_core::{BlobHash, DocId, Document, Project, Query, Timestamp};
use serde_json::{Map, Value, json};

use crate::args::{ExportArgs, ExportCommand};
use crate::cmd::media::{self, Holding, kind_name};
use crate::cmd::observation::observation_json;
use crate::error::{CliError, CliResult};
use crate::home::{Access, Home};
use crate::out::{Output, doc_json, iso, tag_text};
use crate::select;

/// Name of the list of attachments missing here (wholly or their original) inside the
/// zip's media folder: one JSON object a line.
pub const MISSING_LIST: &str = "missing.ndjson";
/// Most characters of an attachment's name kept in an exported file name.
pub const MAX_EXPORT_NAME_CHARS: usize = 80;
/// The mode an export is created with, before the umask: that of any new file (`0644` with
/// the usual umask).
#[cfg(unix)]
const EXPORT_FILE_MODE: u32 = 0o666;
/// Characters of the original's hash added to a file name that two attachments share.
const NAME_HASH_CHARS: usize = 12;

/// The order in which variants are exported: the best first (the reference's order).
const BEST_FIRST: [Variant; 3] = [Variant::Original, Variant::Preview, Variant::Thumbnail];

/// A file of an attachment that is on this device.
#[derive(Debug, Clone)]
pub struct AttachmentFile {
    /// Which variant.
    pub variant: Variant,
    /// The file name extension, without a dot (`jpg`).
    pub extension: Option<String>,
    /// Its blob: the bytes are read (decrypted) from the store when the zip is written.
    pub hash: BlobHash,
}

/// Where exports look for attachment files.
pub trait AttachmentSource {
    /// What this device holds of an attachment: its variants and which are here.
    fn holding(&self, attachment: &Attachment) -> CliResult<Holding>;
    /// The bytes of a file that is here, to read; `None` if it is not.
    fn open(&self, hash: &BlobHash) -> CliResult<Option<Box<dyn Read>>>;
}

/// The project's own blob store: attachments as synced to (or added on) this device.
pub struct ProjectBlobs<'a> {
    project: &'a Project,
    policy: mapeo_core::BlobPolicy,
}

impl<'a> ProjectBlobs<'a> {
    /// The blob store of `project`, with the device's current blob policy.
    pub fn new(project: &'a Project) -> Self {
        ProjectBlobs {
            project,
            policy: project.blob_policy(),
        }
    }
}

impl AttachmentSource for ProjectBlobs<'_> {
    fn holding(&self, attachment: &Attachment) -> CliResult<Holding> {
        media::holding(self.project, attachment, self.policy)
    }

    fn open(&self, hash: &BlobHash) -> CliResult<Option<Box<dyn Read>>> {
        Ok(self
            .project
            .open_blob(hash)?
            .map(|r| Box::new(r) as Box<dyn Read>))
    }
}

/// The extension of a stored file: from its content (what `infer` knows), else from the
/// MIME type the blob index gives.
fn extension(mime_type: &str, store: &dyn AttachmentSource, hash: &BlobHash) -> Option<String> {
    let mut head = Vec::with_capacity(mapeo_core::attachments::SNIFF_BYTES);
    let read = match store.open(hash) {
        Ok(Some(r)) => r
            .take(mapeo_core::attachments::SNIFF_BYTES as u64)
            .read_to_end(&mut head)
            .is_ok(),
        _ => false,
    };
    if let (true, Some(t)) = (read, infer::get(&head)) {
        return Some(t.extension().to_owned());
    }
    match mime_type {
        "video/3gpp" => Some("3gp".into()),
        _ => None,
    }
}

/// Why an attachment (or its original) is not in an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingReason {
    /// Its blob index has not arrived from the device that added it.
    Unknown,
    /// This device's blob policy does not download the variant.
    NotWanted,
    /// Wanted, but not received from a peer yet.
    NotReceived,
}

impl MissingReason {
    /// A stable word for scripts.
    pub fn code(self) -> &'static str {
        match self {
            MissingReason::Unknown => "unknown",
            MissingReason::NotWanted => "not_downloaded_here",
            MissingReason::NotReceived => "not_received_yet",
        }
    }

    /// What it means, for people.
    pub fn detail(self) -> &'static str {
        match self {
            MissingReason::Unknown => {
                "its details have not arrived yet from the device that added it"
            }
            MissingReason::NotWanted => {
                "this device does not download it (it keeps photo previews only); export from a device that keeps the archive"
            }
            MissingReason::NotReceived => "not received from a peer yet: sync, then export again",
        }
    }
}

/// What an export does with one attachment.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The attachment (as the first observation naming it has it).
    pub attachment: Attachment,
    /// The best file here, and its name in the zip's media folder.
    pub file: Option<(AttachmentFile, String)>,
    /// Variants its blob index names that are not here, best first.
    pub absent: Vec<Variant>,
    /// Why the best variant (the original) is not here.
    pub reason: Option<MissingReason>,
}

/// Every attachment of an export by its original's hash, each with a unique file name.
#[derive(Debug, Default)]
pub struct MediaPlan(BTreeMap<String, Planned>);

impl MediaPlan {
    /// Looks up each attachment and names the best file of each: `NAME_VARIANT.EXT` as the
    /// reference names them (NAME without its own extension, made safe as a file name), with
    /// part of the hash added where two attachments would share a name.
    fn new(
        attachments: BTreeMap<String, Attachment>,
        store: &dyn AttachmentSource,
    ) -> CliResult<Self> {
        let mut plan = BTreeMap::new();
        let mut taken = BTreeSet::new();
        for (hash, attachment) in attachments {
            let holding = store.holding(&attachment)?;
            let best = BEST_FIRST.iter().find_map(|want| {
                holding
                    .variants
                    .iter()
                    .find(|h| h.entry.variant == *want)
                    .filter(|h| h.here)
                    .map(|h| AttachmentFile {
                        variant: *want,
                        extension: extension(&h.entry.mime_type, store, &h.entry.hash),
                        hash: h.entry.hash,
                    })
            });
            let absent: Vec<Variant> = BEST_FIRST
                .iter()
                .copied()
                .filter(|v| {
                    holding
                        .variants
                        .iter()
                        .any(|h| h.entry.variant == *v && !h.here)
                })
                .collect();
            let reason = match holding.index {
                None => Some(MissingReason::Unknown),
                Some(_) => holding
                    .variants
                    .iter()
                    .find(|h| h.entry.variant == Variant::Original && !h.here)
                    .map(|h| {
                        if h.wanted {
                            MissingReason::NotReceived
                        } else {
                            MissingReason::NotWanted
                        }
                    }),
            };
            let file = best.map(|f| {
                let name = unique_name(&attachment, &hash, &f, &mut taken);
                (f, name)
            });
            plan.insert(
                hash,
                Planned {
                    attachment,
                    file,
                    absent,
                    reason,
                },
            );
        }
        Ok(MediaPlan(plan))
    }

    /// The exported file name of an attachment, if a file of it is here.
    pub fn file_name(&self, a: &Attachment) -> Option<&str> {
        self.0
            .get(&a.hash)
            .and_then(|p| p.file.as_ref())
            .map(|(_, n)| n.as_str())
    }

    /// How many attachments.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// An attachment's name made safe as one file name: no folders, no control characters, not
/// hidden, not too long, without its own extension (the exported file gets the one its
/// content has).
fn safe_stem(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = match last.rsplit_once('.') {
        Some((stem, ext))
            if !stem.is_empty()
                && !ext.is_empty()
                && ext.len() <= 5
                && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            stem
        }
        _ => last,
    };
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_EXPORT_NAME_CHARS)
        .collect();
    let cleaned = cleaned.trim_start_matches(['.', ' ']).trim_end();
    if cleaned.is_empty() {
        "attachment".to_owned()
    } else {
        cleaned.to_owned()
    }
}

fn unique_name(
    a: &Attachment,
    hash: &str,
    f: &AttachmentFile,
    taken: &mut BTreeSet<String>,
) -> String {
    let stem = safe_stem(&a.name);
    let ext = f
        .extension
        .as_ref()
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    let short = hash.get(..NAME_HASH_CHARS).unwrap_or(hash);
    let candidates = [
        format!("{stem}_{}{ext}", f.variant.name()),
        format!("{stem}_{short}_{}{ext}", f.variant.name()),
        format!("{stem}_{hash}_{}{ext}", f.variant.name()),
    ];
    for c in &candidates[..2] {
        // Compared without case: the zip may be unpacked where case does not count.
        if taken.insert(c.to_lowercase()) {
            return c.clone();
        }
    }
    // Hashes are unique within a plan, so the full one always is.
    let [.., last] = candidates;
    taken.insert(last.to_lowercase());
    last
}

/// Runs an export command.
pub fn run(dir: &Path, selection: Option<&str>, cmd: ExportCommand) -> CliResult<Output> {
    let home = Home::open(dir, Access::Read)?;
    let project = select::project(&home.manager, selection)?;
    let name = project.settings()?.name.unwrap_or_else(|| "project".into());
    let store = ProjectBlobs::new(&project);
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
            let bytes = csv(&project, &export)?;
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
            let counts = zip(&path, &prefix, &media, &export, &store)?;
            let mut out = summary("zip", Some(path), &export);
            if let Value::Object(o) = &mut out.json {
                o.insert("attachmentsIncluded".into(), json!(counts.included));
                o.insert("attachmentsMissing".into(), json!(counts.missing));
                o.insert("originalsMissing".into(), json!(counts.originals_missing));
                o.insert(
                    "missingList".into(),
                    json!(format!("{media}{MISSING_LIST}")),
                );
            }
            out.text.push_str(&format!(
                "\n{} attachment file(s) included ({} of them not the original), {} missing here; see {media}{MISSING_LIST}.",
                counts.included, counts.originals_missing - counts.missing, counts.missing
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
    /// The tracks exported, in order.
    pub tracks: Vec<Document>,
    /// Every attachment of the exported observations, once per original's hash, with the
    /// file exported for it.
    pub media: MediaPlan,
    /// When the export was made (the zip's entries are dated so).
    pub made_at: Timestamp,
}

fn summary(what: &str, path: Option<PathBuf>, e: &Export) -> Output {
    let json = json!({
        "path": path.as_ref().map(|p| p.display().to_string()),
        "observations": e.observations.len(),
        "tracks": e.tracks.len(),
        "attachments": e.media.len(),
    });
    let text = match &path {
        Some(p) => format!(
            "Exported {what}: {} observation(s), {} track(s) to {}",
            e.observations.len(),
            e.tracks.len(),
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

/// A temporary file in the folder of `path`, to be renamed onto it. It is created with the
/// mode an ordinary new file gets (0666 less the umask, so usually 0644), not the 0600 of a
/// temporary file: an export is a document to share. The folder must exist: the error names
/// it, not the temporary file.
fn temp_beside(path: &Path) -> CliResult<tempfile::NamedTempFile> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    match std::fs::metadata(&parent) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(CliError::NotAFolder(parent)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::NoSuchFolder(parent));
        }
        Err(e) => return Err(CliError::file("cannot write in", &parent, e)),
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(".mapeo-export-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(EXPORT_FILE_MODE));
    }
    builder.tempfile_in(&parent).map_err(|e| {
        // tempfile's own error names the temporary file: name the folder instead.
        let bare = std::io::Error::new(e.kind(), without_path(&e));
        CliError::file("cannot write in", &parent, bare)
    })
}

/// An I/O error's message without the path tempfile appends to it (` at path "…"`).
fn without_path(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" at path ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Builds the FeatureCollection. Attachments are looked up first, so that every feature
/// names the same file the zip holds.
pub fn geojson(
    project: &Project,
    a: &ExportArgs,
    store: &dyn AttachmentSource,
) -> CliResult<Export> {
    /// A feature to be: a track's, or an observation's.
    enum Item {
        Track(Value),
        Observation(Box<Document>),
    }
    let mut items = Vec::new();
    let mut seen: BTreeSet<DocId> = BTreeSet::new();
    let mut attachments = BTreeMap::new();
    let mut tracks = Vec::new();
    let mut add_observation = |d: Document, items: &mut Vec<Item>| {
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
        items.push(Item::Observation(Box::new(d)));
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
            items.push(Item::Track(json!({
                "type": "Feature",
                "properties": properties,
                "geometry": { "type": "LineString", "coordinates": coordinates },
            })));
            for r in &track.observation_refs {
                match project.get(&r.doc_id) {
                    Ok(d) if d.doc.doc_type() == DocType::Observation => {
                        add_observation(d, &mut items);
                    }
                    _ => {}
                }
            }
            tracks.push(t);
        }
    }
    if !a.no_observations {
        for d in project.list(&Query::all(DocType::Observation))? {
            add_observation(d, &mut items);
        }
    }
    let media = MediaPlan::new(attachments, store)?;
    let mut features = Vec::with_capacity(items.len());
    let mut observations = Vec::new();
    for item in items {
        match item {
            Item::Track(f) => features.push(f),
            Item::Observation(d) => {
                features.push(observation_feature(project, &d, &media));
                observations.push(*d);
            }
        }
    }
    Ok(Export {
        collection: json!({ "type": "FeatureCollection", "features": features }),
        observations,
        tracks,
        media,
        made_at: Timestamp::now(),
    })
}

fn observation_feature(project: &Project, d: &Document, media: &MediaPlan) -> Value {
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
        let name = media.file_name(att);
        p.insert(format!("attachment_{}", i + 1), json!(name));
    }
    json!({
        "type": "Feature",
        "properties": Value::Object(p),
        "$comapeo": observation_json(project, d),
        "geometry": geometry,
    })
}

/// One row per observation and one per track (as the GeoJSON has them: `type` says which),
/// fixed columns, then one column per tag key. A track's row has no point of its own: its
/// `points` column counts its locations (the line itself is in the GeoJSON).
fn csv(project: &Project, export: &Export) -> CliResult<Vec<u8>> {
    let observations = &export.observations;
    let mut keys = BTreeSet::new();
    for d in observations.iter().chain(&export.tracks) {
        match &d.doc.value {
            DocValue::Observation(o) => keys.extend(o.tags.keys().cloned()),
            DocValue::Track(t) => keys.extend(t.tags.keys().cloned()),
            _ => {}
        }
    }
    let fixed = [
        "type",
        "id",
        "createdAt",
        "updatedAt",
        "lat",
        "lon",
        "points",
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
    // type, id, createdAt, updatedAt; then categoryId, category, authorId, author.
    let about = |d: &Document, kind: &str| {
        let preset = d.doc.preset_doc_id();
        (
            [
                kind.to_owned(),
                d.doc.doc_id.as_str().to_owned(),
                iso(d.doc.created_at),
                iso(d.doc.updated_at),
            ],
            [
                preset.map(|p| p.as_str().to_owned()).unwrap_or_default(),
                preset
                    .and_then(|_| select::category_name(project, d))
                    .unwrap_or_default(),
                d.created_by.to_string(),
                select::device_name(project, &d.created_by).unwrap_or_default(),
            ],
        )
    };
    for d in &export.tracks {
        let DocValue::Track(t) = &d.doc.value else {
            continue;
        };
        let (head, who) = about(d, "track");
        let mut row: Vec<String> = head.into_iter().collect();
        row.extend([String::new(), String::new(), t.locations.len().to_string()]);
        row.extend(who);
        row.extend([String::new(), String::new()]);
        for k in &keys {
            row.push(t.tags.get(k).and_then(tag_text).unwrap_or_default());
        }
        w.write_record(&row)
            .map_err(|e| CliError::Export(e.to_string()))?;
    }
    for d in observations {
        let DocValue::Observation(o) = &d.doc.value else {
            continue;
        };
        let (present, missing): (Vec<_>, Vec<_>) = o
            .attachments
            .iter()
            .map(|a| (a, export.media.file_name(a)))
            .partition(|(_, f)| f.is_some());
        let (head, who) = about(d, "observation");
        let mut row: Vec<String> = head.into_iter().collect();
        row.extend([
            o.lat.map(|v| v.to_string()).unwrap_or_default(),
            o.lon.map(|v| v.to_string()).unwrap_or_default(),
            String::new(),
        ]);
        row.extend(who);
        row.extend([
            present
                .iter()
                .filter_map(|(_, f)| *f)
                .collect::<Vec<_>>()
                .join(","),
            missing
                .iter()
                .map(|(a, _)| a.name.clone())
                .collect::<Vec<_>>()
                .join(","),
        ]);
        for k in &keys {
            row.push(o.tags.get(k).and_then(tag_text).unwrap_or_default());
        }
        w.write_record(&row)
            .map_err(|e| CliError::Export(e.to_string()))?;
    }
    w.into_inner().map_err(|e| CliError::Export(e.to_string()))
}

/// What a zip holds of the attachments.
struct ZipCounts {
    /// Files included.
    included: usize,
    /// Attachments with no file here at all.
    missing: usize,
    /// Attachments whose original is not here (those missing wholly included).
    originals_missing: usize,
}

/// A time as a zip entry's date (UTC: a zip has no time zone). Without one, every entry
/// would be dated 1980-01-01, zip's zero.
fn zip_time(t: Timestamp) -> zip::DateTime {
    let nanos = i128::from(t.0) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|d| {
            zip::DateTime::from_date_and_time(
                u16::try_from(d.year()).ok()?,
                u8::from(d.month()),
                d.day(),
                d.hour(),
                d.minute(),
                d.second(),
            )
            .ok()
        })
        .unwrap_or_default()
}

/// Writes the zip: the GeoJSON, the best file of each attachment under `media`, and the
/// list of attachments whose original is not here (with the variant exported instead, if
/// any, and why).
fn zip(
    path: &Path,
    prefix: &str,
    media: &str,
    export: &Export,
    store: &dyn AttachmentSource,
) -> CliResult<ZipCounts> {
    let tmp = temp_beside(path)?;
    let file = tmp
        .reopen()
        .map_err(|e| CliError::file("cannot write", path, e))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip_time(export.made_at));
    let zerr = |e: zip::result::ZipError| CliError::Export(e.to_string());
    let ioerr = |e: std::io::Error| CliError::Export(e.to_string());
    zip.start_file(format!("{prefix}.geojson"), options)
        .map_err(zerr)?;
    zip.write_all(&to_bytes(&export.collection)?)
        .map_err(ioerr)?;
    let mut counts = ZipCounts {
        included: 0,
        missing: 0,
        originals_missing: 0,
    };
    let mut missing = Vec::new();
    for planned in export.media.0.values() {
        let att = &planned.attachment;
        if let Some((f, name)) = &planned.file {
            let mut source = store.open(&f.hash)?.ok_or_else(|| {
                CliError::Export("an attachment file vanished while exporting".into())
            })?;
            // Media is already compressed: stored as is.
            let stored = options.compression_method(zip::CompressionMethod::Stored);
            zip.start_file(format!("{media}{name}"), stored)
                .map_err(zerr)?;
            std::io::copy(&mut source, &mut zip).map_err(ioerr)?;
            counts.included += 1;
        } else {
            counts.missing += 1;
        }
        if let Some(reason) = planned.reason {
            counts.originals_missing += 1;
            missing.push(json!({
                "name": att.name,
                "type": kind_name(att.kind),
                "hash": att.hash,
                "file": planned.file.as_ref().map(|(_, n)| n),
                "exportedVariant": planned.file.as_ref().map(|(f, _)| f.variant.name()),
                "missingVariants": planned.absent.iter().map(|v| v.name()).collect::<Vec<_>>(),
                "reason": reason.code(),
                "detail": reason.detail(),
            }));
        }
    }
    zip.start_file(format!("{media}{MISSING_LIST}"), options)
        .map_err(zerr)?;
    for line in &missing {
        zip.write_all(line.to_string().as_bytes()).map_err(ioerr)?;
        zip.write_all(b"\n").map_err(ioerr)?;
    }
    let mut inner = zip.finish().map_err(zerr)?;
    inner.flush().map_err(ioerr)?;
    tmp.as_file().sync_all().map_err(ioerr)?;
    tmp.persist(path)
        .map_err(|e| CliError::file("cannot write", path, e.error))?;
    Ok(counts)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;
    use mapeo_core::schema::AttachmentKind;

    fn file(variant: Variant) -> AttachmentFile {
        AttachmentFile {
            variant,
            extension: Some("jpg".into()),
            hash: BlobHash::from_bytes([0; 32]),
        }
    }

    fn att(name: &str) -> Attachment {
        Attachment {
            name: name.into(),
            kind: AttachmentKind::Photo,
            hash: String::new(),
        }
    }

    #[test]
    fn names_from_peers_become_one_safe_file_name() {
        assert_eq!(safe_stem("IMG_0001.jpg"), "IMG_0001");
        assert_eq!(safe_stem("../../etc/passwd"), "passwd");
        assert_eq!(safe_stem("..\\..\\boot.ini"), "boot");
        assert_eq!(safe_stem(".hidden"), "hidden");
        assert_eq!(safe_stem("a:b*c?.png"), "a_b_c_");
        assert_eq!(safe_stem("..."), "attachment");
        assert_eq!(safe_stem("río negro.webp"), "río negro");
        assert_eq!(safe_stem(&"x".repeat(500)).len(), MAX_EXPORT_NAME_CHARS);
    }

    #[test]
    fn attachments_sharing_a_name_get_distinct_files() {
        let mut taken = BTreeSet::new();
        let h1 = "ab".repeat(32);
        let h2 = "cd".repeat(32);
        let first = unique_name(&att("IMG_1.jpg"), &h1, &file(Variant::Original), &mut taken);
        let second = unique_name(&att("img_1.JPG"), &h2, &file(Variant::Original), &mut taken);
        let preview = unique_name(&att("IMG_2.jpg"), &h1, &file(Variant::Preview), &mut taken);
        assert_eq!(first, "IMG_1_original.jpg");
        assert_eq!(second, "img_1_cdcdcdcdcdcd_original.jpg");
        assert_eq!(preview, "IMG_2_preview.jpg");
    }
}
