//! Sync by file: a project's signed entries and, by choice, its media, carried in one file
//! (a memory card, a chat attachment) between devices that never meet, and taken in through
//! the same verification as a live sync. Owns the choice of what goes into a file and how a
//! file is applied; the bytes are `sync_file::format`'s. Sits above `project` and
//! `attachments`; nothing below uses it.
//!
//! A file is read twice on import: once to check every frame (so a tampered, cut or foreign
//! file changes nothing), then to apply it in batches, each verified and committed alone as
//! a live sync's are (so a kill mid-import leaves a consistent store that a re-import
//! completes).

pub mod format;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::Error;
use crate::feed::{Entry, FeedError};
use crate::ids::{BlobHash, Namespace};
use crate::index::Query;
use crate::project::Project;
use crate::schema::{DocType, DocValue, Variant};
use crate::sync::message::{FeedLength, WireEntry};
use crate::sync::{FeedKey, Replica};
use format::{FileKeys, FrameReader, FrameWriter, Record};

/// Entries read from the store at once while writing a file: with payloads of up to 2 MiB
/// each, this bounds the memory an export holds.
const ENTRIES_READ_AT_ONCE: u64 = 64;
/// Most entries verified and committed in one transaction on import.
const IMPORT_GROUP_ENTRIES: usize = 5_000;
/// Most entry payload bytes verified and committed in one transaction on import.
const IMPORT_GROUP_BYTES: usize = 8 * format::FRAME_PAYLOAD_BYTES;

/// A sync file could not be written or taken in. Nothing was changed unless said otherwise.
#[derive(Debug, Error)]
pub enum SyncFileError {
    /// Reading or writing the file failed.
    #[error("could not read or write the sync file: {0}")]
    Io(#[from] std::io::Error),
    /// The file is not a sync file.
    #[error("not a sync file")]
    NotASyncFile,
    /// The file was written in a format this version cannot read.
    #[error("sync file format version {0} is not supported")]
    UnsupportedVersion(u16),
    /// The file belongs to another project (or was written by someone without its keys).
    #[error("the sync file belongs to another project")]
    WrongProject,
    /// A byte of the file was changed, or frames were moved.
    #[error("the sync file is damaged")]
    Damaged,
    /// The file ends early.
    #[error("the sync file is cut short")]
    Truncated,
    /// A frame would be larger than the format allows.
    #[error("a record is too large for a sync file")]
    TooLarge,
    /// The entries alone need more room than the size limit allows.
    #[error("the entries alone need more than the size limit")]
    LimitTooSmall,
    /// The file holds entries that failed verification; the batches before them were kept,
    /// as a live sync keeps the batches before a refused one.
    #[error("the sync file holds entries that failed verification: {0}")]
    Refused(#[source] FeedError),
    /// The file holds media whose bytes do not match their hash; it was not kept.
    #[error("the sync file holds media that does not match its hash")]
    BadMedia,
    /// The project's store failed.
    #[error(transparent)]
    Store(Box<Error>),
}

impl From<Error> for SyncFileError {
    fn from(e: Error) -> Self {
        match e {
            Error::Feed(f) => SyncFileError::Refused(f),
            other => SyncFileError::Store(Box::new(other)),
        }
    }
}

impl From<crate::blobs::BlobError> for SyncFileError {
    fn from(e: crate::blobs::BlobError) -> Self {
        if e.is_bad_data() {
            SyncFileError::BadMedia
        } else {
            SyncFileError::Store(Box::new(Error::from(e)))
        }
    }
}

/// Which media go into a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaChoice {
    /// Every variant of every attachment.
    #[default]
    All,
    /// Photo previews and thumbnails only (no originals, no audio or video).
    Previews,
    /// No media, entries only.
    None,
}

impl MediaChoice {
    fn takes(self, variant: Variant) -> bool {
        match self {
            MediaChoice::All => true,
            MediaChoice::Previews => matches!(variant, Variant::Preview | Variant::Thumbnail),
            MediaChoice::None => false,
        }
    }
}

/// What a device holds of a project: what a file for it may leave out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings {
    /// Every feed and its length.
    pub feeds: BTreeMap<FeedKey, u64>,
    /// Every blob held complete.
    pub blobs: BTreeSet<BlobHash>,
}

impl Holdings {
    /// What `project` holds now.
    pub fn of(project: &Project) -> Result<Self, SyncFileError> {
        Ok(Holdings {
            feeds: project.have_vector()?,
            blobs: project.blobs.held().into_iter().map(|(h, _)| h).collect(),
        })
    }
}

/// How to write a sync file.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Which media to carry.
    pub media: MediaChoice,
    /// The file's largest size in bytes: media are left out, largest first, until it fits.
    pub max_bytes: Option<u64>,
    /// Carry only what a device holding this lacks (from its have-file, or from a file it
    /// wrote); `None` carries everything.
    pub for_holdings: Option<Holdings>,
}

/// A blob left out of a file to keep within its size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeftOut {
    /// The blob.
    pub hash: BlobHash,
    /// Its size.
    pub size: u64,
    /// Which variant of its attachment it is.
    pub variant: Variant,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Entries in the file.
    pub entries: u64,
    /// Blobs in the file.
    pub blobs: u64,
    /// Their bytes.
    pub blob_bytes: u64,
    /// The file's size.
    pub file_bytes: u64,
    /// Media left out to keep within the size limit, largest first.
    pub left_out: Vec<LeftOut>,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Entries in the file.
    pub entries_in_file: u64,
    /// Of those, entries that were new here.
    pub entries_added: u64,
    /// Blobs received whole.
    pub blobs_added: u64,
    /// Blobs in the file this device already held or does not want (by its blob policy).
    pub blobs_skipped: u64,
    /// What the writer held when it wrote the file: write a reply file for it with
    /// [`ExportOptions::for_holdings`].
    pub writer_holds: Holdings,
}

/// Which part of the work a progress report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncFileStage {
    /// Writing entries; counts are entries.
    WritingEntries,
    /// Writing media; counts are bytes.
    WritingMedia,
    /// Checking every frame of a file before anything is taken in; counts are file bytes.
    Checking,
    /// Taking the file in; counts are file bytes.
    Importing,
}

/// Progress of an export or import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncFileProgress {
    /// What is being done.
    pub stage: SyncFileStage,
    /// How much of it is done.
    pub done: u64,
    /// How much there is.
    pub total: u64,
}

/// The media an export carries (hash, size) and those it leaves out.
type MediaPlan = (Vec<(BlobHash, u64)>, Vec<LeftOut>);

fn file_keys(project: &Project) -> FileKeys {
    FileKeys::new(&Replica::tag(project, &format::secret_input()).0)
}

/// The file next to `path` that an export writes before renaming it into place, so a killed
/// export never leaves a cut file under the name asked for.
fn part_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".part");
    path.with_file_name(name)
}

impl Project {
    /// Writes a sync file at `path` holding what `options` asks for: auth and config entries
    /// first, then data and blob index, then media. The entries stay sealed as in the feeds
    /// and every frame is sealed under a key of this project.
    pub fn export_sync_file(
        &self,
        path: &Path,
        options: &ExportOptions,
        progress: &mut dyn FnMut(SyncFileProgress),
    ) -> Result<ExportSummary, SyncFileError> {
        let part = part_path(path);
        let out = File::create(&part)?;
        let written = self.write_sync_file(BufWriter::new(out), options, progress);
        match written {
            Ok(mut summary) => {
                std::fs::rename(&part, path)?;
                summary.file_bytes = std::fs::metadata(path)?.len();
                Ok(summary)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                Err(e)
            }
        }
    }

    /// Writes a have-file: a sync file that carries only what this device holds, for the
    /// other side to write a file of just what this device lacks.
    pub fn write_have_file(&self, path: &Path) -> Result<(), SyncFileError> {
        let options = ExportOptions {
            media: MediaChoice::None,
            max_bytes: None,
            for_holdings: Some(Holdings::of(self)?),
        };
        self.export_sync_file(path, &options, &mut |_| {})?;
        Ok(())
    }

    /// What the writer of a sync file (or have-file) of this project held, after checking
    /// the whole file.
    pub fn read_sync_file_holdings(&self, path: &Path) -> Result<Holdings, SyncFileError> {
        let mut reader = FrameReader::open(BufReader::new(File::open(path)?), file_keys(self))?;
        let mut holds = Holdings::default();
        while let Some(record) = reader.next_record()? {
            add_holdings(&mut holds, record);
        }
        Ok(holds)
    }

    fn write_sync_file(
        &self,
        out: BufWriter<File>,
        options: &ExportOptions,
        progress: &mut dyn FnMut(SyncFileProgress),
    ) -> Result<ExportSummary, SyncFileError> {
        let mine = Holdings::of(self)?;
        let theirs = options.for_holdings.clone().unwrap_or_default();
        let mut w = FrameWriter::start(out, file_keys(self))?;
        write_holdings(&mut w, &mine)?;

        let mut summary = ExportSummary::default();
        let wanted: Vec<(FeedKey, u64, u64)> = [
            Namespace::Auth,
            Namespace::Config,
            Namespace::Data,
            Namespace::BlobIndex,
        ]
        .into_iter()
        .flat_map(|ns| {
            mine.feeds
                .iter()
                .filter(move |((_, n), _)| *n == ns)
                .filter_map(|(key, &len)| {
                    let from = theirs.feeds.get(key).copied().unwrap_or(0);
                    (len > from).then_some((*key, from, len))
                })
        })
        .collect();
        let total_entries: u64 = wanted.iter().map(|(_, from, to)| to - from).sum();
        progress(SyncFileProgress {
            stage: SyncFileStage::WritingEntries,
            done: 0,
            total: total_entries,
        });
        for ((author, ns), from, to) in wanted {
            let mut frame: Vec<WireEntry> = Vec::new();
            let mut frame_bytes = 0usize;
            let mut at = from;
            while at < to {
                let end = (at + ENTRIES_READ_AT_ONCE).min(to);
                for e in self.read_entries(&author, ns, at, end)? {
                    if !frame.is_empty()
                        && (frame.len() >= format::ENTRIES_PER_FRAME
                            || frame_bytes + e.payload.len() > format::FRAME_PAYLOAD_BYTES)
                    {
                        w.write(&Record::Entries(std::mem::take(&mut frame)))?;
                        frame_bytes = 0;
                    }
                    frame_bytes += e.payload.len();
                    frame.push(e.into());
                }
                summary.entries += end - at;
                at = end;
                progress(SyncFileProgress {
                    stage: SyncFileStage::WritingEntries,
                    done: summary.entries,
                    total: total_entries,
                });
            }
            if !frame.is_empty() {
                w.write(&Record::Entries(frame))?;
            }
        }

        let (media, left_out) = self.choose_media(options, &mine, &theirs, w.written())?;
        summary.left_out = left_out;
        let media_total: u64 = media.iter().map(|(_, size)| size).sum();
        progress(SyncFileProgress {
            stage: SyncFileStage::WritingMedia,
            done: 0,
            total: media_total,
        });
        for (hash, size) in media {
            let mut offset = 0u64;
            while offset < size {
                let Some(bytes) = self
                    .blobs
                    .read_at(&hash, offset, format::BLOB_CHUNK_BYTES)?
                else {
                    break;
                };
                if bytes.is_empty() {
                    break;
                }
                let n = bytes.len() as u64;
                w.write(&Record::Blob {
                    hash,
                    size,
                    offset,
                    bytes,
                })?;
                offset += n;
                summary.blob_bytes += n;
                progress(SyncFileProgress {
                    stage: SyncFileStage::WritingMedia,
                    done: summary.blob_bytes,
                    total: media_total,
                });
            }
            summary.blobs += 1;
        }
        let file = w.finish()?;
        file.into_inner()
            .map_err(|e| SyncFileError::Io(e.into_error()))?
            .sync_all()?;
        Ok(summary)
    }

    /// The media to carry, and those left out for the size limit (largest first).
    fn choose_media(
        &self,
        options: &ExportOptions,
        mine: &Holdings,
        theirs: &Holdings,
        written: u64,
    ) -> Result<MediaPlan, SyncFileError> {
        let mut candidates: BTreeMap<BlobHash, (u64, Variant)> = BTreeMap::new();
        if options.media != MediaChoice::None {
            for d in self.list(&Query::all(DocType::BlobIndex))? {
                let DocValue::BlobIndex(index) = &d.doc.value else {
                    continue;
                };
                for v in &index.variants {
                    if options.media.takes(v.variant)
                        && mine.blobs.contains(&v.hash)
                        && !theirs.blobs.contains(&v.hash)
                    {
                        candidates.insert(v.hash, (v.size, v.variant));
                    }
                }
            }
        }
        let mut by_size: Vec<(BlobHash, u64, Variant)> = candidates
            .into_iter()
            .map(|(h, (size, variant))| (h, size, variant))
            .collect();
        // Largest first, ties by hash so the same store always gives the same file.
        by_size.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut left_out = Vec::new();
        if let Some(max) = options.max_bytes {
            let fixed = written + end_frame_bytes();
            if fixed > max {
                return Err(SyncFileError::LimitTooSmall);
            }
            let budget = max - fixed;
            let mut need: u64 = by_size.iter().map(|(_, s, _)| media_cost(*s)).sum();
            let mut keep = Vec::new();
            for (hash, size, variant) in by_size {
                if need > budget {
                    need -= media_cost(size);
                    left_out.push(LeftOut {
                        hash,
                        size,
                        variant,
                    });
                } else {
                    keep.push((hash, size, variant));
                }
            }
            by_size = keep;
        }
        Ok((
            by_size.into_iter().map(|(h, s, _)| (h, s)).collect(),
            left_out,
        ))
    }

    /// Takes in a sync file of this project: every frame is checked first (a tampered, cut
    /// or foreign file is refused and changes nothing), then entries are verified and stored
    /// as from a live sync, in batches, and wanted media are checked against their hash.
    /// Importing the same file again changes nothing.
    pub fn import_sync_file(
        &self,
        path: &Path,
        progress: &mut dyn FnMut(SyncFileProgress),
    ) -> Result<ImportSummary, SyncFileError> {
        let total = std::fs::metadata(path)?.len();
        let mut summary = ImportSummary::default();

        let mut reader = FrameReader::open(BufReader::new(File::open(path)?), file_keys(self))?;
        while let Some(record) = reader.next_record()? {
            if let Record::Entries(e) = &record {
                summary.entries_in_file += e.len() as u64;
            }
            add_holdings(&mut summary.writer_holds, record);
            progress(SyncFileProgress {
                stage: SyncFileStage::Checking,
                done: reader.read_bytes(),
                total,
            });
        }
        // The trailer, read last, is counted too: a finished stage ends at its total.
        progress(SyncFileProgress {
            stage: SyncFileStage::Checking,
            done: reader.read_bytes(),
            total,
        });

        let mut reader = FrameReader::open(BufReader::new(File::open(path)?), file_keys(self))?;
        let mut group: Vec<Entry> = Vec::new();
        let mut group_bytes = 0usize;
        let mut wanted: Option<BTreeMap<BlobHash, u64>> = None;
        let mut receiving: Option<crate::blobs::PartialBlob> = None;
        while let Some(record) = reader.next_record()? {
            match record {
                Record::Holds { .. } => {}
                Record::Entries(entries) => {
                    let entries: Vec<Entry> = entries.into_iter().map(Entry::from).collect();
                    let bytes: usize = entries.iter().map(|e| e.payload.len()).sum();
                    if group.len() + entries.len() > IMPORT_GROUP_ENTRIES
                        || group_bytes + bytes > IMPORT_GROUP_BYTES
                    {
                        // This record's entries follow the group.
                        summary.entries_added += self.import_group(&mut group, true)?;
                        group_bytes = 0;
                    }
                    group_bytes += bytes;
                    group.extend(entries);
                }
                Record::Blob {
                    hash,
                    size,
                    offset,
                    bytes,
                } => {
                    summary.entries_added += self.import_group(&mut group, false)?;
                    group_bytes = 0;
                    let wanted = match &mut wanted {
                        Some(w) => w,
                        None => wanted.insert(self.wanted_blobs()?),
                    };
                    self.take_blob_piece(
                        wanted,
                        &mut receiving,
                        &mut summary,
                        hash,
                        size,
                        offset,
                        &bytes,
                    )?;
                }
                Record::End { .. } => {}
            }
            progress(SyncFileProgress {
                stage: SyncFileStage::Importing,
                done: reader.read_bytes(),
                total,
            });
        }
        summary.entries_added += self.import_group(&mut group, false)?;
        progress(SyncFileProgress {
            stage: SyncFileStage::Importing,
            done: reader.read_bytes(),
            total,
        });
        if let Some(partial) = receiving.take() {
            // The file stopped sending this blob before its end: keep what came for later.
            drop(partial);
        }
        // The writer's holdings say how far this device's own feeds go (a restored device
        // that syncs only by file learns it here).
        self.note_peer_holdings(&summary.writer_holds.feeds)?;
        Ok(summary)
    }

    /// Imports a group of the file's entries (`more_to_come`: more entries follow it; see
    /// [`Project::import_from_stream`]).
    fn import_group(
        &self,
        group: &mut Vec<Entry>,
        more_to_come: bool,
    ) -> Result<u64, SyncFileError> {
        if group.is_empty() {
            return Ok(0);
        }
        let done = self.import_from_stream(group, more_to_come);
        group.clear();
        Ok(done?.appended as u64)
    }

    #[allow(clippy::too_many_arguments)] // One call site; a struct would only rename them.
    fn take_blob_piece(
        &self,
        wanted: &mut BTreeMap<BlobHash, u64>,
        receiving: &mut Option<crate::blobs::PartialBlob>,
        summary: &mut ImportSummary,
        hash: BlobHash,
        size: u64,
        offset: u64,
        bytes: &[u8],
    ) -> Result<(), SyncFileError> {
        if receiving.as_ref().is_some_and(|p| p.hash() != hash) {
            // Another blob started before the last one ended: keep what came for later.
            *receiving = None;
        }
        if receiving.is_none() {
            if offset != 0 {
                return Ok(());
            }
            // Only blobs the blob index names, at the size it names, that the policy wants.
            if wanted.get(&hash) != Some(&size) {
                summary.blobs_skipped += 1;
                return Ok(());
            }
            match self.blobs.receive(&hash, size)? {
                Some(p) => *receiving = Some(p),
                None => {
                    summary.blobs_skipped += 1;
                    return Ok(());
                }
            }
        }
        let Some(partial) = receiving.as_mut() else {
            return Ok(());
        };
        let end = offset + bytes.len() as u64;
        // What a killed import left is kept: skip the bytes already there.
        if end > partial.offset() && offset <= partial.offset() {
            let skip =
                usize::try_from(partial.offset() - offset).map_err(|_| SyncFileError::Damaged)?;
            partial.write(partial.offset(), &bytes[skip..])?;
        }
        if partial.is_complete()
            && let Some(done) = receiving.take()
        {
            done.finish()?;
            wanted.remove(&hash);
            summary.blobs_added += 1;
        }
        Ok(())
    }
}

fn write_holdings<W: std::io::Write>(
    w: &mut FrameWriter<W>,
    holds: &Holdings,
) -> Result<(), SyncFileError> {
    let feeds: Vec<FeedLength> = holds
        .feeds
        .iter()
        .map(|(&(author, namespace), &length)| FeedLength {
            author,
            namespace,
            length,
        })
        .collect();
    let blobs: Vec<BlobHash> = holds.blobs.iter().copied().collect();
    let frames = feeds
        .len()
        .max(blobs.len())
        .div_ceil(format::HOLDS_PER_FRAME)
        .max(1);
    for i in 0..frames {
        let part = |n: usize| {
            (i * format::HOLDS_PER_FRAME).min(n)..((i + 1) * format::HOLDS_PER_FRAME).min(n)
        };
        w.write(&Record::Holds {
            feeds: feeds[part(feeds.len())].to_vec(),
            blobs: blobs[part(blobs.len())].to_vec(),
        })?;
    }
    Ok(())
}

fn add_holdings(holds: &mut Holdings, record: Record) {
    if let Record::Holds { feeds, blobs } = record {
        for f in feeds {
            let len = holds.feeds.entry((f.author, f.namespace)).or_insert(0);
            *len = (*len).max(f.length);
        }
        holds.blobs.extend(blobs);
    }
}

/// Bytes of the trailer frame, at most.
fn end_frame_bytes() -> u64 {
    format::FRAME_OVERHEAD + 32
}

/// Bytes a blob of `size` takes in a file, at most.
fn media_cost(size: u64) -> u64 {
    size + size.div_ceil(format::BLOB_CHUNK_BYTES as u64).max(1) * format::FRAME_OVERHEAD
}
