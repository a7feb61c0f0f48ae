//! Attachments on the command line: checking the files given with `--photo` and `--audio`
//! before anything is stored, adding them through the core, and telling which variants of
//! an attachment this device holds (for `observation show` and the exports). Never reads
//! or writes blob files itself beyond sniffing a file given by the user.

use std::io::Read;
use std::path::{Path, PathBuf};

use indicatif::HumanBytes;
use mapeo_core::attachments::{self, MAX_PHOTO_BYTES, SNIFF_BYTES};
use mapeo_core::schema::{Attachment, AttachmentKind, BlobIndex, MAX_TEXT_CHARS, VariantBlob};
use mapeo_core::{BlobHash, BlobPolicy, Project};
use serde_json::{Value, json};

use crate::error::{CliError, CliResult};

/// How often the spinner shown while photos are processed moves.
const SPINNER_TICK: std::time::Duration = std::time::Duration::from_millis(100);

/// A media file given on the command line that passed the checks made before the store is
/// opened (the core decodes photos when it adds them).
#[derive(Debug, Clone)]
pub struct MediaFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its file name: the attachment's name.
    pub name: String,
    /// What it is, from its content.
    pub kind: AttachmentKind,
}

impl MediaFile {
    /// An attachment with this file's name and kind and a well-formed stand-in hash, to
    /// validate an observation before anything is stored.
    pub fn placeholder(&self) -> Attachment {
        Attachment {
            name: self.name.clone(),
            kind: self.kind,
            hash: "0".repeat(64),
        }
    }
}

/// The word for a kind in messages and JSON.
pub fn kind_name(kind: AttachmentKind) -> &'static str {
    match kind {
        AttachmentKind::Photo => "photo",
        AttachmentKind::Audio => "audio",
        AttachmentKind::Video => "video",
    }
}

fn kind_phrase(kind: AttachmentKind) -> &'static str {
    match kind {
        AttachmentKind::Photo => "a photo",
        AttachmentKind::Audio => "an audio recording",
        AttachmentKind::Video => "a video",
    }
}

/// Checks a file given as `want` (`--photo` or `--audio`): a readable file, with a usable
/// name, whose content is that kind of media, not too large. A photo is decoded only once,
/// when the core adds it (decoding a camera's photo is most of the time an `add` takes):
/// a photo that does not decode is refused then, and the core's add of several files is one
/// unit, so a bad photo given after a good one stores neither.
pub fn check(path: &Path, want: AttachmentKind) -> CliResult<MediaFile> {
    let bad = |reason: String| CliError::BadMedia {
        path: path.to_owned(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| CliError::file("cannot read", path, e))?;
    if !meta.is_file() {
        return Err(bad("it is not a file".into()));
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| bad("its file name is not valid text".into()))?;
    if name.trim().is_empty() || name.chars().count() > MAX_TEXT_CHARS {
        return Err(bad("its file name is empty or too long".into()));
    }
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    std::fs::File::open(path)
        .and_then(|f| f.take(SNIFF_BYTES as u64).read_to_end(&mut head))
        .map_err(|e| CliError::file("cannot read", path, e))?;
    let media = attachments::detect(&head).map_err(|e| match e {
        attachments::AttachmentError::Unsupported => bad(format!(
            "its content is not a photo (JPEG, PNG, WebP) or an audio recording; {} is needed",
            kind_phrase(want)
        )),
        other => bad(other.to_string()),
    })?;
    if media.kind != want {
        return Err(bad(format!(
            "it is {} ({}), not {}",
            kind_phrase(media.kind),
            media.mime_type,
            kind_phrase(want)
        )));
    }
    if media.kind == AttachmentKind::Photo && meta.len() > MAX_PHOTO_BYTES {
        return Err(bad(attachments::AttachmentError::PhotoTooLarge.to_string()));
    }
    Ok(MediaFile {
        path: path.to_owned(),
        name: name.to_owned(),
        kind: media.kind,
    })
}

/// Checks every `--photo` and `--audio` file, photos first.
pub fn check_all(photos: &[PathBuf], audio: &[PathBuf]) -> CliResult<Vec<MediaFile>> {
    photos
        .iter()
        .map(|p| check(p, AttachmentKind::Photo))
        .chain(audio.iter().map(|p| check(p, AttachmentKind::Audio)))
        .collect()
}

/// Adds checked files to the project (blobs and their blob index), in order, as one unit:
/// if any of them cannot be stored, none is kept.
/// On a terminal, a spinner says what takes the time (a camera's photo is decoded and
/// scaled twice).
pub fn attach(project: &Project, files: &[MediaFile]) -> CliResult<Vec<Attachment>> {
    let paths: Vec<&Path> = files.iter().map(|f| f.path.as_path()).collect();
    let photos = files
        .iter()
        .filter(|f| f.kind == AttachmentKind::Photo)
        .count();
    // indicatif draws on stderr, and nothing when it is not a terminal.
    let spinner = (photos > 0).then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.set_message(if photos == 1 {
            "Making the photo's preview and thumbnail…".to_owned()
        } else {
            format!("Making previews and thumbnails of {photos} photos…")
        });
        s.enable_steady_tick(SPINNER_TICK);
        s
    });
    let added = project.add_attachments_from_paths(&paths);
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    added.map_err(|e| {
        let path = files
            .get(e.index)
            .map(|f| f.path.clone())
            .unwrap_or_default();
        match e.error {
            mapeo_core::Error::Attachment(attachments::AttachmentError::Blob(b))
            | mapeo_core::Error::Blob(b) => CliError::Storage {
                path,
                reason: b.to_string(),
            },
            mapeo_core::Error::Attachment(a) => CliError::BadMedia {
                path,
                reason: a.to_string(),
            },
            other => other.into(),
        }
    })
}

/// One variant of an attachment and whether this device holds it.
#[derive(Debug, Clone)]
pub struct Held {
    /// The variant as its blob index records it.
    pub entry: VariantBlob,
    /// Whether its file is on this device.
    pub here: bool,
    /// Whether this device's blob policy downloads it from peers.
    pub wanted: bool,
}

/// What this device holds of an attachment.
#[derive(Debug, Clone)]
pub struct Holding {
    /// The attachment's blob index; `None` until it arrives from the device that added it.
    pub index: Option<BlobIndex>,
    /// Each variant the index names, in its order (the original first).
    pub variants: Vec<Held>,
}

/// Looks up an attachment's variants and which of them are here.
pub fn holding(
    project: &Project,
    attachment: &Attachment,
    policy: BlobPolicy,
) -> CliResult<Holding> {
    let index = project.attachment_variants(attachment)?;
    let variants = index
        .iter()
        .flat_map(|i| {
            i.variants.iter().map(|v| Held {
                entry: v.clone(),
                here: project.has_blob(&v.hash),
                wanted: policy.wants(i.kind, v.variant),
            })
        })
        .collect();
    Ok(Holding { index, variants })
}

/// An observation's attachments as JSON (`name`, `type`, `hash`, whether the blob index is
/// here, and each variant with its size, type and whether it is here) and as text lines.
pub fn attachments_json(
    project: &Project,
    attachments: &[Attachment],
) -> CliResult<(Value, Vec<String>)> {
    let policy = project.blob_policy();
    let mut json = Vec::new();
    let mut lines = Vec::new();
    for a in attachments {
        let h = holding(project, a, policy)?;
        lines.push(format!("Attachment: {} ({})", a.name, kind_name(a.kind)));
        if h.index.is_none() {
            lines.push("    details not received yet from the device that added it".into());
        }
        let variants: Vec<Value> = h
            .variants
            .iter()
            .map(|v| {
                let state = match (v.here, v.wanted) {
                    (true, _) => "here".to_owned(),
                    (false, true) => "not here yet".to_owned(),
                    (false, false) => "not here (this device does not download it)".to_owned(),
                };
                lines.push(format!(
                    "    {:<10} {:<11} {:>10}  {state}",
                    v.entry.variant.name(),
                    v.entry.mime_type,
                    HumanBytes(v.entry.size).to_string()
                ));
                json!({
                    "variant": v.entry.variant.name(),
                    "mimeType": v.entry.mime_type,
                    "size": v.entry.size,
                    "hash": v.entry.hash.to_string(),
                    "here": v.here,
                    "wanted": v.wanted,
                })
            })
            .collect();
        json.push(json!({
            "name": a.name,
            "type": kind_name(a.kind),
            "hash": a.hash,
            "known": h.index.is_some(),
            "variants": variants,
        }));
    }
    Ok((Value::Array(json), lines))
}

/// Writes the file `hash` of an attachment (one variant, as `observation show` lists it) to
/// `out`, decrypted: media are sealed in the data folder, so this is how one file gets out.
/// Returns its size. A failure leaves no file at `out`.
pub fn save(project: &Project, hash: &BlobHash, out: &Path) -> CliResult<u64> {
    let Some(mut reader) = project.open_blob(hash)? else {
        return Err(CliError::BadInput(
            "that media file is not on this device (see `observation show`)".into(),
        ));
    };
    let mut file =
        std::fs::File::create(out).map_err(|e| CliError::file("cannot write", out, e))?;
    let copied = std::io::copy(&mut reader, &mut file).and_then(|n| file.sync_all().map(|()| n));
    match copied {
        Ok(n) => Ok(n),
        Err(e) => {
            drop(file);
            let _ = std::fs::remove_file(out);
            let blob = mapeo_core::blobs::BlobError::from(e);
            Err(CliError::Storage {
                path: out.to_owned(),
                reason: blob.to_string(),
            })
        }
    }
}
