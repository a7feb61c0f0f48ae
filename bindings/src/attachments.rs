//! Attachments and the blob policy as the app sees them: adding a photo, audio or video to a
//! project, the files (variants) an attachment has and where they are on this device, and
//! which variants a device downloads from peers. Every method is a core call and a
//! conversion: recognising media, making a photo's preview and thumbnail, and storing are done
//! in the core (`mapeo_core::attachments`).

use std::path::Path;

use mapeo_core::schema::{self, Variant};

use crate::device::Mapeo;
use crate::documents::Attachment;
use crate::error::MapeoError;
use crate::project::Project;

/// Which rendition of an attachment a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AttachmentVariant {
    /// The bytes the camera or recorder produced, unchanged.
    Original,
    /// A photo scaled to fit a screen (longest side at most 1200 px), JPEG.
    Preview,
    /// A photo scaled for lists (longest side at most 400 px), JPEG.
    Thumbnail,
}

/// One file of an attachment, as recorded when it was added.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct AttachmentFile {
    /// Which rendition it is.
    pub variant: AttachmentVariant,
    /// The blake3 hash of its bytes (64 hex characters).
    pub hash: String,
    /// Its size in bytes.
    pub size: i64,
    /// Its MIME type, e.g. `image/jpeg`.
    pub mime_type: String,
}

/// Which attachment files a device downloads from peers. What a device added itself it
/// always keeps. See [`archive_blob_policy`] and [`previews_only_blob_policy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct BlobPolicy {
    /// Photo originals.
    pub photo_original: bool,
    /// Photo previews.
    pub photo_preview: bool,
    /// Photo thumbnails.
    pub photo_thumbnail: bool,
    /// Audio recordings.
    pub audio: bool,
    /// Videos.
    pub video: bool,
}

impl From<mapeo_core::BlobPolicy> for BlobPolicy {
    fn from(p: mapeo_core::BlobPolicy) -> Self {
        BlobPolicy {
            photo_original: p.photo_original,
            photo_preview: p.photo_preview,
            photo_thumbnail: p.photo_thumbnail,
            audio: p.audio,
            video: p.video,
        }
    }
}

impl From<BlobPolicy> for mapeo_core::BlobPolicy {
    fn from(p: BlobPolicy) -> Self {
        mapeo_core::BlobPolicy {
            photo_original: p.photo_original,
            photo_preview: p.photo_preview,
            photo_thumbnail: p.photo_thumbnail,
            audio: p.audio,
            video: p.video,
        }
    }
}

impl From<Variant> for AttachmentVariant {
    fn from(v: Variant) -> Self {
        match v {
            Variant::Original => AttachmentVariant::Original,
            Variant::Preview => AttachmentVariant::Preview,
            Variant::Thumbnail => AttachmentVariant::Thumbnail,
        }
    }
}

impl From<AttachmentVariant> for Variant {
    fn from(v: AttachmentVariant) -> Self {
        match v {
            AttachmentVariant::Original => Variant::Original,
            AttachmentVariant::Preview => Variant::Preview,
            AttachmentVariant::Thumbnail => Variant::Thumbnail,
        }
    }
}

impl TryFrom<schema::VariantBlob> for AttachmentFile {
    type Error = MapeoError;

    fn try_from(v: schema::VariantBlob) -> Result<Self, MapeoError> {
        Ok(AttachmentFile {
            variant: v.variant.into(),
            hash: v.hash.to_string(),
            size: i64::try_from(v.size)
                .map_err(|_| MapeoError::internal("a file size beyond what the app can hold"))?,
            mime_type: v.mime_type,
        })
    }
}

/// Everything, originals included: for a desktop or a coordinator's phone that keeps the
/// archive. The default.
#[uniffi::export]
pub fn archive_blob_policy() -> BlobPolicy {
    mapeo_core::BlobPolicy::ARCHIVE.into()
}

/// Photo previews and thumbnails only: for a regular phone.
#[uniffi::export]
pub fn previews_only_blob_policy() -> BlobPolicy {
    mapeo_core::BlobPolicy::PREVIEWS_ONLY.into()
}

#[uniffi::export]
impl Project {
    /// Adds the photo, audio or video at `path` (what the camera or recorder wrote), named by
    /// its file name; the type comes from the content, never the name. A photo gets its
    /// preview and thumbnail made here (a large photo takes a moment: call it off the UI
    /// thread). Returns the attachment to put on an observation. On any error (`Attachment`:
    /// not a supported media type, unreadable, too large; `ProjectLeft`) nothing is stored.
    pub fn add_attachment_from_path(&self, path: String) -> Result<Attachment, MapeoError> {
        Ok(self
            .inner
            .add_attachment_from_path(Path::new(&path))?
            .into())
    }

    /// Adds a photo, audio or video from its bytes, named `name`. See
    /// [`Project::add_attachment_from_path`].
    pub fn add_attachment_from_bytes(
        &self,
        bytes: Vec<u8>,
        name: String,
    ) -> Result<Attachment, MapeoError> {
        Ok(self.inner.add_attachment_from_bytes(&bytes, &name)?.into())
    }

    /// The files an attachment has (original, and for a photo its preview and thumbnail), as
    /// recorded by the device that added it. Empty until that record has arrived by sync.
    pub fn attachment_files(
        &self,
        attachment: Attachment,
    ) -> Result<Vec<AttachmentFile>, MapeoError> {
        match self.inner.attachment_variants(&attachment.into())? {
            None => Ok(Vec::new()),
            Some(index) => index.variants.into_iter().map(TryInto::try_into).collect(),
        }
    }

    /// The bytes of one file of an attachment (original, preview or thumbnail), read whole
    /// into memory: unset until that file has been downloaded (or if the attachment has no
    /// such file). Media are encrypted on the device, so there is no file path to read: to
    /// show a photo or play audio or video, load it by URL from the local server
    /// ([`Mapeo::attachment_url`]), which decrypts as it serves and answers range requests.
    /// This is for small files (previews, thumbnails) and for sharing a file's bytes.
    pub fn attachment_bytes(
        &self,
        attachment: Attachment,
        variant: AttachmentVariant,
    ) -> Result<Option<Vec<u8>>, MapeoError> {
        Ok(self
            .inner
            .attachment_bytes(&attachment.into(), variant.into())?)
    }

    /// Whether one file of an attachment is on this device: its URL on the local server
    /// ([`Mapeo::attachment_url`]) answers with it, rather than 404.
    pub fn has_attachment_file(
        &self,
        attachment: Attachment,
        variant: AttachmentVariant,
    ) -> Result<bool, MapeoError> {
        Ok(self
            .inner
            .has_attachment(&attachment.into(), variant.into())?)
    }

    /// Which attachment files this project downloads from peers.
    pub fn blob_policy(&self) -> BlobPolicy {
        self.inner.blob_policy().into()
    }

    /// Changes which attachment files this project downloads, until the device is opened
    /// again; live sessions follow at once. [`Mapeo::set_blob_policy`] sets it for every
    /// project and keeps it.
    pub fn set_blob_policy(&self, policy: BlobPolicy) {
        self.inner.set_blob_policy(policy.into());
    }
}

#[uniffi::export]
impl Mapeo {
    /// Which attachment files this device downloads from peers, for every project (kept
    /// across restarts).
    pub fn blob_policy(&self) -> Result<BlobPolicy, MapeoError> {
        Ok(self.manager()?.blob_policy()?.into())
    }

    /// Sets which attachment files this device downloads, for every project; kept across
    /// restarts and applied at once to open projects (live sessions follow).
    pub fn set_blob_policy(&self, policy: BlobPolicy) -> Result<(), MapeoError> {
        Ok(self.manager()?.set_blob_policy(policy.into())?)
    }
}
