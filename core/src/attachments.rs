//! Attachments: photos, audio and video added to a project. Owns recognising the media from
//! its content (magic bytes, never the file name), making a photo's preview and thumbnail
//! (EXIF orientation applied, every piece of metadata left out), recording each attachment's
//! variants in a blob-index document, reading a variant (decrypted by `blobs`), and the
//! device's blob policy (which variants it wants from peers). Stores bytes only through
//! `blobs`; never touches the network.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::blobs::{BlobError, BlobReader, StoredBlob};
use crate::error::{Error, Result};
use crate::ids::{BlobHash, DocId, Namespace};
use crate::index::Query;
use crate::project::Project;
use crate::schema::{
    Attachment, AttachmentKind, BlobIndex, DocType, DocValue, MAX_TEXT_CHARS, Variant, VariantBlob,
};

/// Longest side of a photo's preview, in pixels.
pub const PREVIEW_MAX_PX: u32 = 1200;
/// Longest side of a photo's thumbnail, in pixels.
pub const THUMBNAIL_MAX_PX: u32 = 400;
/// JPEG quality of previews (1–100).
pub const PREVIEW_JPEG_QUALITY: u8 = 80;
/// JPEG quality of thumbnails (1–100).
pub const THUMBNAIL_JPEG_QUALITY: u8 = 75;
/// Largest photo accepted, in bytes: it is read whole to make its variants.
pub const MAX_PHOTO_BYTES: u64 = 100 * 1024 * 1024;
/// Most pixels a photo may have (a 64-megapixel camera's), so that decoding it stays within
/// a cheap phone's memory.
pub const MAX_PHOTO_PIXELS: u64 = 64_000_000;
/// Longest side of a photo, in pixels.
pub const MAX_PHOTO_SIDE_PX: u32 = 20_000;
/// Most bytes the image decoder may allocate for one photo.
pub const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;
/// Bytes read from the start of a file to recognise its type.
pub const SNIFF_BYTES: usize = 8 * 1024;
/// MIME type of previews and thumbnails.
pub const DERIVED_MIME: &str = "image/jpeg";

/// Media that cannot be attached. Carries no file names, paths or content.
#[derive(Debug, Error)]
pub enum AttachmentError {
    /// The content is not a photo, audio or video format the core takes.
    #[error("unsupported media type")]
    Unsupported,
    /// The content looks like a photo but does not decode.
    #[error("the photo cannot be read")]
    Unreadable,
    /// The file is empty.
    #[error("the file is empty")]
    Empty,
    /// The photo is larger than [`MAX_PHOTO_BYTES`], [`MAX_PHOTO_PIXELS`] or
    /// [`MAX_PHOTO_SIDE_PX`].
    #[error("the photo is too large")]
    PhotoTooLarge,
    /// The file has no usable name.
    #[error("attachment name is empty or longer than the limit")]
    BadName,
    /// Storing the bytes failed (a full disk among others); nothing was kept.
    #[error(transparent)]
    Blob(#[from] BlobError),
}

/// What the content of a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaType {
    /// Photo, audio or video.
    pub kind: AttachmentKind,
    /// Its MIME type.
    pub mime_type: &'static str,
}

/// 3GPP files (Android recorders) start with an `ftyp` box of brand `3gp*` or `3g2*`;
/// `infer` does not know them.
fn is_3gpp(buf: &[u8]) -> bool {
    buf.len() > 11 && &buf[4..8] == b"ftyp" && &buf[8..10] == b"3g"
}

/// Recognises a photo, audio or video format from the first bytes of a file. Photos are
/// those the core can make variants of (JPEG, PNG, WebP).
pub fn detect(head: &[u8]) -> Result<MediaType, AttachmentError> {
    if head.is_empty() {
        return Err(AttachmentError::Empty);
    }
    if is_3gpp(head) {
        return Ok(MediaType {
            kind: AttachmentKind::Video,
            mime_type: "video/3gpp",
        });
    }
    let found = infer::get(head).ok_or(AttachmentError::Unsupported)?;
    let mime = found.mime_type();
    let kind = match found.matcher_type() {
        infer::MatcherType::Image if photo_format(mime).is_some() => AttachmentKind::Photo,
        infer::MatcherType::Audio => AttachmentKind::Audio,
        infer::MatcherType::Video => AttachmentKind::Video,
        _ => return Err(AttachmentError::Unsupported),
    };
    Ok(MediaType {
        kind,
        mime_type: mime,
    })
}

fn photo_format(mime: &str) -> Option<ImageFormat> {
    match mime {
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/png" => Some(ImageFormat::Png),
        "image/webp" => Some(ImageFormat::WebP),
        _ => None,
    }
}

/// A photo's derived variants, JPEG-encoded, upright, without metadata.
#[derive(Debug, Clone)]
pub struct PhotoVariants {
    /// Longest side at most [`PREVIEW_MAX_PX`].
    pub preview: Vec<u8>,
    /// Longest side at most [`THUMBNAIL_MAX_PX`].
    pub thumbnail: Vec<u8>,
}

/// Makes a photo's preview and thumbnail: decodes it (within the named limits), scales it
/// down (never up), turns it upright as its EXIF orientation says, and encodes JPEG with no
/// metadata at all.
pub fn photo_variants(bytes: &[u8], mime_type: &str) -> Result<PhotoVariants, AttachmentError> {
    if bytes.len() as u64 > MAX_PHOTO_BYTES {
        return Err(AttachmentError::PhotoTooLarge);
    }
    let format = photo_format(mime_type).ok_or(AttachmentError::Unsupported)?;
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(AttachmentError::Unreadable);
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_PHOTO_SIDE_PX);
    limits.max_image_height = Some(MAX_PHOTO_SIDE_PX);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|_| AttachmentError::Unreadable)?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PHOTO_PIXELS {
        return Err(AttachmentError::PhotoTooLarge);
    }
    // A missing or malformed orientation tag leaves the photo as stored.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let decoded = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        image::ImageError::Limits(_) => AttachmentError::PhotoTooLarge,
        _ => AttachmentError::Unreadable,
    })?;
    let rgb = flatten(decoded);
    let preview = fit(rgb, PREVIEW_MAX_PX)?;
    let thumbnail = fit(preview.clone(), THUMBNAIL_MAX_PX)?;
    Ok(PhotoVariants {
        preview: encode_upright(preview, orientation, PREVIEW_JPEG_QUALITY)?,
        thumbnail: encode_upright(thumbnail, orientation, THUMBNAIL_JPEG_QUALITY)?,
    })
}

/// Whether a JPEG's segments run from its start to an end-of-image marker. The decoder is
/// lenient: a file cut short (a crash, a full card) would decode to a half-grey picture, so
/// it is refused here instead.
fn jpeg_is_complete(b: &[u8]) -> bool {
    if b.len() < 4 || b[..2] != [0xFF, 0xD8] {
        return false;
    }
    let mut i = 2;
    loop {
        if b.get(i) != Some(&0xFF) {
            return false;
        }
        while b.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = b.get(i) else {
            return false;
        };
        i += 1;
        match marker {
            0xD9 => return true,
            0xD0..=0xD7 | 0x01 => continue,
            _ => {}
        }
        let Some(len) = b
            .get(i..i + 2)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
        else {
            return false;
        };
        if len < 2 || i + len > b.len() {
            return false;
        }
        i += len;
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker that is neither a stuffed 0xFF00
            // nor a restart marker.
            loop {
                match (b.get(i), b.get(i + 1)) {
                    (Some(0xFF), Some(&n)) if n != 0 && !(0xD0..=0xD7).contains(&n) => break,
                    (Some(_), Some(_)) => i += 1,
                    _ => return false,
                }
            }
        }
    }
}

/// 8-bit RGB; transparent pixels over white (JPEG has no alpha).
fn flatten(img: DynamicImage) -> image::RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = image::RgbImage::new(w, h);
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(p.0[3]);
        for (dst, src) in o.0.iter_mut().zip(p.0) {
            let v = (u16::from(src) * a + 255 * (255 - a)) / 255;
            *dst = u8::try_from(v).unwrap_or(u8::MAX);
        }
    }
    out
}

/// Scales down so the longest side is at most `max` (never up), keeping the aspect ratio.
fn fit(img: image::RgbImage, max: u32) -> Result<image::RgbImage, AttachmentError> {
    let (w, h) = img.dimensions();
    let longest = w.max(h);
    if longest <= max {
        return Ok(img);
    }
    let scale = |side: u32| -> u32 {
        let scaled =
            (u64::from(side) * u64::from(max) + u64::from(longest) / 2) / u64::from(longest);
        u32::try_from(scaled.max(1)).unwrap_or(max)
    };
    let (nw, nh) = (scale(w), scale(h));
    use fast_image_resize as fr;
    let src = fr::images::Image::from_vec_u8(w, h, img.into_raw(), fr::PixelType::U8x3)
        .map_err(|_| AttachmentError::Unreadable)?;
    let mut dst = fr::images::Image::new(nw, nh, fr::PixelType::U8x3);
    let options =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3));
    fr::Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|_| AttachmentError::Unreadable)?;
    image::RgbImage::from_raw(nw, nh, dst.into_vec()).ok_or(AttachmentError::Unreadable)
}

fn encode_upright(
    img: image::RgbImage,
    orientation: image::metadata::Orientation,
    quality: u8,
) -> Result<Vec<u8>, AttachmentError> {
    let mut img = DynamicImage::ImageRgb8(img);
    img.apply_orientation(orientation);
    let mut out = Vec::new();
    // The encoder writes pixels only: no EXIF, XMP or ICC segment unless asked to.
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&img)
        .map_err(|_| AttachmentError::Unreadable)?;
    Ok(out)
}

/// Which variants a device downloads from peers. What a device made itself it always keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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

impl BlobPolicy {
    /// Everything: for a desktop peer or a coordinator's phone that keeps the archive.
    pub const ARCHIVE: BlobPolicy = BlobPolicy {
        photo_original: true,
        photo_preview: true,
        photo_thumbnail: true,
        audio: true,
        video: true,
    };

    /// Photo previews and thumbnails only: for a regular phone.
    pub const PREVIEWS_ONLY: BlobPolicy = BlobPolicy {
        photo_original: false,
        photo_preview: true,
        photo_thumbnail: true,
        audio: false,
        video: false,
    };

    /// Whether this policy wants a variant of an attachment of this kind.
    pub fn wants(&self, kind: AttachmentKind, variant: Variant) -> bool {
        match (kind, variant) {
            (AttachmentKind::Photo, Variant::Original) => self.photo_original,
            (AttachmentKind::Photo, Variant::Preview) => self.photo_preview,
            (AttachmentKind::Photo, Variant::Thumbnail) => self.photo_thumbnail,
            (AttachmentKind::Audio, Variant::Original) => self.audio,
            (AttachmentKind::Video, Variant::Original) => self.video,
            _ => false,
        }
    }
}

impl Default for BlobPolicy {
    /// Nothing is lost unless a device chooses to be a phone: [`BlobPolicy::ARCHIVE`].
    fn default() -> Self {
        BlobPolicy::ARCHIVE
    }
}

/// The document id of an attachment's blob index: the hex of its original's hash.
pub fn blob_index_doc_id(original: &BlobHash) -> DocId {
    DocId::from_hex_bytes(original.as_bytes())
}

fn check_name(name: &str) -> Result<(), AttachmentError> {
    if name.trim().is_empty() || name.chars().count() > MAX_TEXT_CHARS {
        return Err(AttachmentError::BadName);
    }
    Ok(())
}

fn file_head(path: &Path) -> Result<Vec<u8>, AttachmentError> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    std::fs::File::open(path)
        .map_err(BlobError::from)?
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(BlobError::from)?;
    Ok(head)
}

/// Blobs written so far by one add, removed again if a later step fails.
struct Written<'a> {
    project: &'a Project,
    added: Vec<BlobHash>,
    done: bool,
}

impl<'a> Written<'a> {
    fn new(project: &'a Project) -> Self {
        Written {
            project,
            added: Vec::new(),
            done: false,
        }
    }

    fn keep(&mut self, stored: StoredBlob) -> StoredBlob {
        if stored.added {
            self.added.push(stored.hash);
        }
        stored
    }
}

impl Drop for Written<'_> {
    fn drop(&mut self) {
        if !self.done {
            for h in &self.added {
                self.project.blobs.remove_added(h);
            }
        }
    }
}

impl Project {
    /// Adds the photo, audio or video at `path` (what the camera or recorder wrote), named by
    /// its file name. The type comes from the content. Photos get a preview and a thumbnail.
    /// Returns the attachment to put on an observation. On any error nothing is stored.
    pub fn add_attachment_from_path(&self, path: &Path) -> Result<Attachment> {
        self.add_one(|p, written| p.store_file(path, written))
    }

    /// Adds a photo, audio or video from its bytes, named `name`. See
    /// [`Project::add_attachment_from_path`].
    pub fn add_attachment_from_bytes(&self, bytes: &[u8], name: &str) -> Result<Attachment> {
        check_name(name)?;
        self.add_one(|p, written| p.store_bytes(bytes, name.to_owned(), written))
    }

    /// Stores one attachment's blobs with `store`, then its blob index; on any error the
    /// blobs it stored are removed.
    fn add_one(
        &self,
        store: impl FnOnce(&Self, &mut Written<'_>) -> Result<Prepared>,
    ) -> Result<Attachment> {
        self.check_attachable()?;
        let mut written = Written::new(self);
        let p = store(self, &mut written)?;
        let attachment = self.record_attachment(p.media, p.original, p.derived, &p.name)?;
        written.done = true;
        Ok(attachment)
    }

    fn check_attachable(&self) -> Result<()> {
        if self.is_writable() {
            Ok(())
        } else {
            Err(Error::ProjectLeft)
        }
    }

    /// Writes the blob index of a new attachment, unless one exists (the same original added
    /// before, here or elsewhere).
    fn record_attachment(
        &self,
        media: MediaType,
        original: StoredBlob,
        derived: Option<(StoredBlob, StoredBlob)>,
        name: &str,
    ) -> Result<Attachment> {
        let entry = |variant, b: StoredBlob, mime: &str| VariantBlob {
            variant,
            hash: b.hash,
            size: b.size,
            mime_type: mime.to_owned(),
        };
        let mut variants = vec![entry(Variant::Original, original, media.mime_type)];
        if let Some((preview, thumbnail)) = derived {
            variants.push(entry(Variant::Preview, preview, DERIVED_MIME));
            variants.push(entry(Variant::Thumbnail, thumbnail, DERIVED_MIME));
        }
        let index = BlobIndex {
            kind: media.kind,
            variants,
        };
        self.create_if_absent(
            blob_index_doc_id(&original.hash),
            DocValue::BlobIndex(index),
        )?;
        Ok(Attachment {
            name: name.to_owned(),
            kind: media.kind,
            hash: original.hash.to_string(),
        })
    }

    /// The blob index of an attachment: its variants' hashes, sizes and MIME types. `None`
    /// until it has arrived from the device that added it.
    pub fn attachment_variants(&self, attachment: &Attachment) -> Result<Option<BlobIndex>> {
        let Ok(doc_id) = attachment.hash.parse::<DocId>() else {
            return Ok(None);
        };
        match self.get(&doc_id) {
            Ok(d) => match d.doc.value {
                DocValue::BlobIndex(b) => Ok(Some(b)),
                _ => Ok(None),
            },
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One variant of an attachment opened for reading (`Read + Seek`, decrypted as it is
    /// read): `None` until that variant has been downloaded (or if the attachment has no such
    /// variant). Media are sealed at rest, so this (or the local server's URL) is the way to
    /// their bytes; there is no file to hand out.
    pub fn open_attachment(
        &self,
        attachment: &Attachment,
        variant: Variant,
    ) -> Result<Option<BlobReader>> {
        let Some(index) = self.attachment_variants(attachment)? else {
            return Ok(None);
        };
        match index.variant(variant) {
            Some(v) => Ok(self.blobs.open_blob(&v.hash)?),
            None => Ok(None),
        }
    }

    /// The bytes of one variant of an attachment, read whole into memory: `None` until it
    /// has been downloaded (or if the attachment has no such variant). Meant for previews,
    /// thumbnails and photos; stream a video with [`Project::open_attachment`] instead.
    pub fn attachment_bytes(
        &self,
        attachment: &Attachment,
        variant: Variant,
    ) -> Result<Option<Vec<u8>>> {
        match self.open_attachment(attachment, variant)? {
            Some(mut r) => Ok(Some(r.read_rest()?)),
            None => Ok(None),
        }
    }

    /// Whether one variant of an attachment is on this device (to show a placeholder, or
    /// its URL on the local server, without reading it).
    pub fn has_attachment(&self, attachment: &Attachment, variant: Variant) -> Result<bool> {
        Ok(self
            .attachment_variants(attachment)?
            .and_then(|index| index.variant(variant).map(|v| self.blobs.contains(&v.hash)))
            .unwrap_or(false))
    }

    /// A blob by its hash opened for reading, if it is here.
    pub fn open_blob(&self, hash: &BlobHash) -> Result<Option<BlobReader>> {
        Ok(self.blobs.open_blob(hash)?)
    }

    /// Whether this device holds the blob `hash` whole.
    pub fn has_blob(&self, hash: &BlobHash) -> bool {
        self.blobs.contains(hash)
    }

    /// Which variants this project downloads from peers.
    pub fn blob_policy(&self) -> BlobPolicy {
        *self.blob_policy.borrow()
    }

    /// Changes which variants this project downloads; live sessions follow at once (new
    /// wants are requested, transfers no longer wanted are cancelled and kept for later).
    /// [`Manager::set_blob_policy`](crate::Manager::set_blob_policy) sets it for every
    /// project of the device.
    pub fn set_blob_policy(&self, policy: BlobPolicy) {
        let changed = self
            .blob_policy
            .send_if_modified(|p| std::mem::replace(p, policy) != policy);
        if changed {
            self.notify_blob_change();
        }
    }

    /// Deletes every blob no blob index here names (after leaving, only our own remain).
    pub(crate) fn purge_unreferenced_blobs(&self) -> Result<()> {
        let mut named = std::collections::HashSet::new();
        let mut q = Query::all(DocType::BlobIndex);
        q.include_deleted = true;
        for d in self.list(&q)? {
            if let DocValue::BlobIndex(index) = &d.doc.value {
                named.extend(index.variants.iter().map(|v| v.hash));
            }
        }
        Ok(self.blobs.retain(|h| named.contains(h))?)
    }

    /// Blobs the policy wants and this device lacks, with their sizes, from the blob index.
    pub fn wanted_blobs(&self) -> Result<BTreeMap<BlobHash, u64>> {
        let policy = self.blob_policy();
        let entries: u64 = self
            .have_vector()?
            .iter()
            .filter(|((_, ns), _)| *ns == Namespace::BlobIndex)
            .map(|(_, n)| *n)
            .sum();
        let cached = {
            let cache = self
                .wanted_cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            cache
                .as_ref()
                .filter(|c| c.entries == entries && c.policy == policy)
                .map(|c| c.wanted.clone())
        };
        let all = match cached {
            Some(all) => all,
            None => {
                let mut all = Vec::new();
                for d in self.list(&Query::all(DocType::BlobIndex))? {
                    let DocValue::BlobIndex(index) = &d.doc.value else {
                        continue;
                    };
                    all.extend(
                        index
                            .variants
                            .iter()
                            .filter(|v| policy.wants(index.kind, v.variant))
                            .map(|v| (v.hash, v.size)),
                    );
                }
                let all = std::sync::Arc::new(all);
                *self
                    .wanted_cache
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(WantedCache {
                    entries,
                    policy,
                    wanted: all.clone(),
                });
                all
            }
        };
        Ok(all
            .iter()
            .filter(|(h, _)| !self.blobs.contains(h))
            .copied()
            .collect())
    }
}

/// One attachment among several that could not be added (see
/// [`Project::add_attachments_from_paths`]); none of them was kept.
#[derive(Debug, Error)]
#[error("attachment {index}: {error}")]
pub struct AttachmentsError {
    /// Which of the paths given failed (0-based).
    pub index: usize,
    /// Why.
    #[source]
    pub error: Error,
}

/// One file's blobs, stored but not yet recorded in a blob index.
struct Prepared {
    media: MediaType,
    name: String,
    original: StoredBlob,
    derived: Option<(StoredBlob, StoredBlob)>,
}

/// Several attachments as one unit, and the check a caller makes before storing media for
/// a document: an observation with several photos stores all of them or none.
impl Project {
    /// Adds the photos, audio and videos at `paths` as one unit: every file is recognised
    /// and its blobs stored first (a photo's preview and thumbnail made one file at a time),
    /// and only when all are stored are their blob indexes written. If any file fails
    /// (unreadable, not media, the store cannot write it) every blob this call added is
    /// removed and no blob index is written. (Should the database then fail between two
    /// blob indexes, those already written stay, with their blobs; the others' blobs go.)
    /// Returns the attachments in the order given.
    pub fn add_attachments_from_paths(
        &self,
        paths: &[&Path],
    ) -> std::result::Result<Vec<Attachment>, AttachmentsError> {
        let at = |index: usize| move |error: Error| AttachmentsError { index, error };
        self.check_attachable().map_err(at(0))?;
        let mut written = Written::new(self);
        let mut prepared = Vec::with_capacity(paths.len());
        for (i, path) in paths.iter().enumerate() {
            prepared.push(self.store_file(path, &mut written).map_err(at(i))?);
        }
        // Every blob is stored; a blob index written stays, and with it the blobs it names.
        let mut out = Vec::with_capacity(prepared.len());
        let mut recorded = Vec::new();
        for (i, p) in prepared.into_iter().enumerate() {
            let hashes = [
                Some(p.original),
                p.derived.map(|d| d.0),
                p.derived.map(|d| d.1),
            ];
            out.push(
                self.record_attachment(p.media, p.original, p.derived, &p.name)
                    .map_err(at(i))?,
            );
            recorded.extend(hashes.into_iter().flatten().map(|b| b.hash));
            written.added.retain(|h| !recorded.contains(h));
        }
        written.done = true;
        Ok(out)
    }

    /// Recognises the file at `path` and stores its blobs (kept in `written`), writing no
    /// blob index.
    fn store_file(&self, path: &Path, written: &mut Written<'_>) -> Result<Prepared> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or(AttachmentError::BadName)?
            .to_owned();
        check_name(&name)?;
        let media = detect(&file_head(path)?)?;
        if media.kind != AttachmentKind::Photo {
            let original = written.keep(self.blobs.put_file(path)?);
            return Ok(Prepared {
                media,
                name,
                original,
                derived: None,
            });
        }
        let len = std::fs::metadata(path).map_err(BlobError::from)?.len();
        if len > MAX_PHOTO_BYTES {
            return Err(AttachmentError::PhotoTooLarge.into());
        }
        let bytes = std::fs::read(path).map_err(BlobError::from)?;
        self.store_bytes(&bytes, name, written)
    }

    /// Recognises `bytes` and stores them, with a photo's preview and thumbnail (made before
    /// anything is stored: an unreadable photo stores nothing), keeping them in `written`.
    fn store_bytes(
        &self,
        bytes: &[u8],
        name: String,
        written: &mut Written<'_>,
    ) -> Result<Prepared> {
        let media = detect(&bytes[..bytes.len().min(SNIFF_BYTES)])?;
        let derived = match media.kind {
            AttachmentKind::Photo => Some(photo_variants(bytes, media.mime_type)?),
            AttachmentKind::Audio | AttachmentKind::Video => None,
        };
        let original = written.keep(self.blobs.put_bytes(bytes)?);
        let derived = match derived {
            Some(d) => Some((
                written.keep(self.blobs.put_bytes(&d.preview)?),
                written.keep(self.blobs.put_bytes(&d.thumbnail)?),
            )),
            None => None,
        };
        Ok(Prepared {
            media,
            name,
            original,
            derived,
        })
    }

    /// Whether this device may write an observation or track: a new one (`current` `None`)
    /// or a new version of `current`. The same rule the store applies when the document is
    /// written (creator and coordinators write any, members only what they created), asked
    /// before anything is stored so that a refused edit stores no media. Fails with
    /// [`Error::NotAllowed`] or [`Error::ProjectLeft`].
    pub fn check_data_write(&self, current: Option<&crate::index::Document>) -> Result<()> {
        self.check_attachable()?;
        let me = self.device_id();
        let role = self.role(&me)?;
        let own = current.is_none_or(|d| {
            let origin = d.doc.original_version_id.unwrap_or(d.version_id);
            crate::roles::created_by(&me, &origin, &d.doc.doc_id)
        });
        let allowed = crate::roles::may_write_data(role, own);
        if allowed {
            Ok(())
        } else if current.is_some() {
            Err(Error::NotAllowed(
                "members edit only the observations and tracks they created",
            ))
        } else {
            Err(Error::NotAllowed(
                "this device's role in the project does not allow that",
            ))
        }
    }
}

/// What a policy wants of a project's blob index, held or not: rebuilt only when the
/// blob-index entries or the policy change, so that each finished download does not decode
/// every blob index again.
#[derive(Debug)]
pub(crate) struct WantedCache {
    entries: u64,
    policy: BlobPolicy,
    wanted: std::sync::Arc<Vec<(BlobHash, u64)>>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;

    #[test]
    fn media_is_recognised_by_content() {
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0, 1,
        ];
        assert_eq!(detect(&jpeg).unwrap().kind, AttachmentKind::Photo);
        let mut mp4 = vec![0, 0, 0, 0x18];
        mp4.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2mp41");
        assert_eq!(detect(&mp4).unwrap().kind, AttachmentKind::Video);
        let mut three_gp = vec![0, 0, 0, 0x18];
        three_gp.extend_from_slice(b"ftyp3gp4\0\0\0\0");
        assert_eq!(detect(&three_gp).unwrap().mime_type, "video/3gpp");
        let mut wav = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        wav.extend_from_slice(&[0; 8]);
        assert_eq!(detect(&wav).unwrap().kind, AttachmentKind::Audio);
        assert!(matches!(
            detect(b"%PDF-1.7\n"),
            Err(AttachmentError::Unsupported)
        ));
        assert!(matches!(
            detect(b"GIF89a......"),
            Err(AttachmentError::Unsupported)
        ));
        assert!(matches!(detect(b""), Err(AttachmentError::Empty)));
    }

    #[test]
    fn a_jpeg_cut_short_is_not_complete() {
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
            .encode_image(&image::RgbImage::from_fn(64, 48, |x, y| {
                image::Rgb([x as u8 * 3, y as u8 * 5, 0xFF])
            }))
            .unwrap();
        assert!(jpeg_is_complete(&jpeg));
        let mut trailing = jpeg.clone();
        trailing.extend_from_slice(b"vendor data after the image");
        assert!(jpeg_is_complete(&trailing));
        for cut in [3, 20, jpeg.len() / 2, jpeg.len() - 2, jpeg.len() - 1] {
            assert!(!jpeg_is_complete(&jpeg[..cut]), "cut at {cut}");
        }
    }

    #[test]
    fn policies_want_what_they_say() {
        use AttachmentKind::*;
        assert!(
            Variant::ALL
                .iter()
                .all(|v| BlobPolicy::ARCHIVE.wants(Photo, *v))
        );
        assert!(!BlobPolicy::PREVIEWS_ONLY.wants(Photo, Variant::Original));
        assert!(BlobPolicy::PREVIEWS_ONLY.wants(Photo, Variant::Thumbnail));
        assert!(!BlobPolicy::PREVIEWS_ONLY.wants(Video, Variant::Original));
        assert!(!BlobPolicy::ARCHIVE.wants(Audio, Variant::Preview));
    }
}
