//! Sync by file as the app sees it: "Save to memory card / share as a file" (`exportSyncFile`),
//! "Open a sync file" (`importSyncFile`), a have-file for the other side, and the
//! [`SyncFileListener`] that shows progress. Every method is a core call
//! (`mapeo_core::sync_file`) and a conversion.

use std::path::Path;
use std::sync::Arc;

use mapeo_core::sync_file::{self as core_file, ExportOptions, MediaChoice};

use crate::attachments::AttachmentVariant;
use crate::error::MapeoError;
use crate::project::Project;

/// Which media a sync file carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncFileMedia {
    /// Every photo, recording and video, with previews and thumbnails.
    All,
    /// Photo previews and thumbnails only.
    Previews,
    /// No media: observations, tracks and the project's configuration only.
    None,
}

/// How to write a sync file.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncFileOptions {
    /// Which media to carry.
    pub media: SyncFileMedia,
    /// The file's largest size in bytes: media are left out, largest first, until it fits.
    pub max_bytes: Option<u64>,
    /// A have-file (or a sync file) from the other device: carry only what it lacks. To
    /// answer a sync file just imported, give that file.
    pub for_file: Option<String>,
}

/// A media file left out of a sync file to keep within its size limit.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LeftOutMedia {
    /// Its blake3 hash (64 hex characters).
    pub hash: String,
    /// Its size in bytes.
    pub size: u64,
    /// Which file of its attachment it is.
    pub variant: AttachmentVariant,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncFileExport {
    /// Entries (observations, tracks, configuration, roles: each version) in the file.
    pub entries: u64,
    /// Media files in it.
    pub media_files: u64,
    /// Their bytes.
    pub media_bytes: u64,
    /// The file's size in bytes.
    pub file_bytes: u64,
    /// Media left out to keep within the size limit, largest first.
    pub left_out: Vec<LeftOutMedia>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncFileImport {
    /// Entries in the file.
    pub entries_in_file: u64,
    /// Of those, entries that were new on this device.
    pub entries_added: u64,
    /// Media files received.
    pub media_added: u64,
    /// Media files in the file this device already held or does not keep (its blob policy).
    pub media_skipped: u64,
}

/// Which part of the work a progress report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncFileStage {
    /// Writing entries; counts are entries.
    WritingEntries,
    /// Writing media; counts are bytes.
    WritingMedia,
    /// Checking the whole file before anything is taken in; counts are bytes of the file.
    Checking,
    /// Taking the file in; counts are bytes of the file.
    Importing,
}

/// Progress of writing or importing a sync file, as the app implements it.
#[uniffi::export(with_foreign)]
pub trait SyncFileListener: Send + Sync {
    /// `done` of `total` for `stage`. Called often from the thread doing the work: return
    /// quickly (post to the UI thread); throwing is logged and ignored.
    fn on_progress(&self, stage: SyncFileStage, done: u64, total: u64) -> Result<(), MapeoError>;
}

fn reporter(
    listener: Option<Arc<dyn SyncFileListener>>,
) -> impl FnMut(core_file::SyncFileProgress) {
    move |p| {
        let Some(l) = &listener else { return };
        let stage = match p.stage {
            core_file::SyncFileStage::WritingEntries => SyncFileStage::WritingEntries,
            core_file::SyncFileStage::WritingMedia => SyncFileStage::WritingMedia,
            core_file::SyncFileStage::Checking => SyncFileStage::Checking,
            core_file::SyncFileStage::Importing => SyncFileStage::Importing,
        };
        if let Err(e) = l.on_progress(stage, p.done, p.total) {
            tracing::warn!("a sync file listener failed: {e}");
        }
    }
}

#[uniffi::export]
impl Project {
    /// Writes a sync file at `path` for another device of this project (call it off the UI
    /// thread: a file with media takes a while). Nothing in it is readable without the
    /// project's keys. A size limit too small for the entries alone is `InvalidInput`.
    pub fn export_sync_file(
        &self,
        path: String,
        options: SyncFileOptions,
        listener: Option<Arc<dyn SyncFileListener>>,
    ) -> Result<SyncFileExport, MapeoError> {
        let for_holdings = match &options.for_file {
            Some(f) => Some(self.inner.read_sync_file_holdings(Path::new(f))?),
            None => None,
        };
        let options = ExportOptions {
            media: match options.media {
                SyncFileMedia::All => MediaChoice::All,
                SyncFileMedia::Previews => MediaChoice::Previews,
                SyncFileMedia::None => MediaChoice::None,
            },
            max_bytes: options.max_bytes,
            for_holdings,
        };
        let s = self
            .inner
            .export_sync_file(Path::new(&path), &options, &mut reporter(listener))?;
        Ok(SyncFileExport {
            entries: s.entries,
            media_files: s.blobs,
            media_bytes: s.blob_bytes,
            file_bytes: s.file_bytes,
            left_out: s
                .left_out
                .into_iter()
                .map(|l| LeftOutMedia {
                    hash: l.hash.to_string(),
                    size: l.size,
                    variant: l.variant.into(),
                })
                .collect(),
        })
    }

    /// Imports a sync file of this project (call it off the UI thread). Every entry is
    /// verified as in a live sync; a file that is damaged, cut short, of another project or
    /// not a sync file is `InvalidInput` and changes nothing. Importing a file twice changes
    /// nothing; an import stopped midway is completed by importing the file again.
    pub fn import_sync_file(
        &self,
        path: String,
        listener: Option<Arc<dyn SyncFileListener>>,
    ) -> Result<SyncFileImport, MapeoError> {
        let s = self
            .inner
            .import_sync_file(Path::new(&path), &mut reporter(listener))?;
        Ok(SyncFileImport {
            entries_in_file: s.entries_in_file,
            entries_added: s.entries_added,
            media_added: s.blobs_added,
            media_skipped: s.blobs_skipped,
        })
    }

    /// Writes a have-file: what this device holds of the project, for the other device's
    /// `exportSyncFile` with `forFile`, so its file carries only what this device lacks.
    pub fn write_have_file(&self, path: String) -> Result<(), MapeoError> {
        Ok(self.inner.write_have_file(Path::new(&path))?)
    }
}
