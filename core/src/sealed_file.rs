//! Files sealed at rest: an authenticated, chunked format for media blobs and map packages, with
//! a streaming writer and a random-access reader (`Read + Seek`) that decrypts only the chunks
//! a read covers, and one for many threads at once that keeps a bounded cache of decrypted
//! chunks ([`SharedSealedReader`]). Owns the format and nothing else: it knows no paths,
//! folders or hashes of what it seals, and never holds a key longer than the value it is given.
//!
//! Format (version 1):
//! - header, [`HEADER_LEN`] bytes: [`MAGIC`] (7 bytes), [`VERSION`] (1 byte), a random file id
//!   ([`FILE_ID_LEN`] bytes);
//! - then chunks: each is up to [`CHUNK_LEN`] bytes of plaintext sealed with
//!   XChaCha20-Poly1305 and followed by its 16-byte tag. Every chunk but the last holds exactly
//!   [`CHUNK_LEN`] plaintext bytes, so the chunk covering any offset is found by arithmetic. The
//!   last chunk holds 1..=[`CHUNK_LEN`] bytes (0 only for an empty file).
//!
//! Each file is sealed under its own key, derived from the [`FileKey`] and the file id, so a
//! chunk moved from another file does not open. A chunk's nonce is its index and a last-chunk
//! flag, and the header is its associated data: reordered or swapped chunks, a cut at a chunk
//! boundary (the new last chunk was not sealed as last), a flipped byte or a changed header
//! all fail authentication and give [`SealedFileError::Damaged`], never wrong bytes.
//!
//! Why not the STREAM construction (`aead-stream`): it is sequential only; reading a range of
//! a large video must not decrypt everything before it. This per-chunk construction is STREAM's
//! nonce layout (counter + last flag) addressed by index, which keeps its guarantees while
//! allowing random access.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::{FileKey, NONCE_LEN, TAG_LEN, random_bytes};

mod shared;

pub use shared::{LastChunk, SharedSealedReader};

/// The first bytes of every sealed file. A file without them is plaintext (a file written
/// before sealing existed), which is how migration recognises it.
pub const MAGIC: [u8; 7] = *b"MAPEOSF";
/// The format version written after [`MAGIC`].
pub const VERSION: u8 = 1;
/// Length of the random file id in the header.
pub const FILE_ID_LEN: usize = 24;
/// Length of the header: magic, version, file id.
pub const HEADER_LEN: usize = MAGIC.len() + 1 + FILE_ID_LEN;
/// Plaintext bytes per chunk. 64 KiB: small enough that a tile or a range costs little
/// decryption beyond what it asks for, large enough that the tags cost 0.02% of the size.
pub const CHUNK_LEN: usize = 64 * 1024;
/// Bytes of one full chunk on disk: its plaintext and its tag.
pub const SEALED_CHUNK_LEN: usize = CHUNK_LEN + TAG_LEN;

/// Context for deriving one file's key from the [`FileKey`] and the file id. Versioned with the
/// format.
const FILE_CONTEXT: &str = "mapeo 2026-12 sealed file chunk key v1";

/// Why a sealed file could not be read or written. Carries no paths or content.
#[derive(Debug, Error)]
pub enum SealedFileError {
    /// The file does not start with the sealed-file magic (plaintext, or something else).
    #[error("the file is not sealed")]
    NotSealed,
    /// The file was sealed by a newer format version.
    #[error("the sealed file's format version is not supported")]
    UnsupportedVersion,
    /// A chunk did not authenticate: wrong key, altered, truncated, reordered or spliced bytes.
    #[error("the sealed file is damaged or was altered")]
    Damaged,
    /// Reading or writing the underlying file failed.
    #[error("sealed file storage failed: {0}")]
    Io(io::Error),
}

impl From<io::Error> for SealedFileError {
    fn from(e: io::Error) -> Self {
        // A sealed-file error that travelled through `Read`/`Write` comes back as itself.
        if e.get_ref()
            .is_some_and(|inner| inner.is::<SealedFileError>())
        {
            if let Some(inner) = e.into_inner()
                && let Ok(sealed) = inner.downcast::<SealedFileError>()
            {
                return *sealed;
            }
            return SealedFileError::Damaged;
        }
        if e.kind() == io::ErrorKind::UnexpectedEof {
            return SealedFileError::Damaged;
        }
        SealedFileError::Io(e)
    }
}

impl From<SealedFileError> for io::Error {
    fn from(e: SealedFileError) -> Self {
        match e {
            SealedFileError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

/// Whether an I/O error from a sealed reader or writer means the sealed bytes are bad (as
/// opposed to the disk failing).
pub fn is_damage(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<SealedFileError>())
}

/// Whether `head` (the first bytes of a file) starts like a sealed file.
pub fn looks_sealed(head: &[u8]) -> bool {
    head.starts_with(&MAGIC)
}

/// The size on disk of a sealed file holding `plain_len` bytes.
pub fn sealed_len(plain_len: u64) -> u64 {
    let chunks = plain_len.div_ceil(CHUNK_LEN as u64).max(1);
    HEADER_LEN as u64 + plain_len + chunks * TAG_LEN as u64
}

/// The plaintext size and chunk count of a complete sealed file of `sealed_len` bytes; `None`
/// if no complete sealed file has that size.
fn layout(sealed_len: u64) -> Option<(u64, u64)> {
    let body = sealed_len.checked_sub(HEADER_LEN as u64)?;
    let full = body / SEALED_CHUNK_LEN as u64;
    let rem = body % SEALED_CHUNK_LEN as u64;
    if rem == 0 {
        (full > 0).then_some((full * CHUNK_LEN as u64, full))
    } else if rem < TAG_LEN as u64 {
        None
    } else {
        Some((full * CHUNK_LEN as u64 + rem - TAG_LEN as u64, full + 1))
    }
}

/// The plaintext size of a complete sealed file of `sealed_len` bytes on disk (from its length
/// alone; the last chunk's authentication confirms it when read).
pub fn plain_len(sealed_len: u64) -> Result<u64, SealedFileError> {
    layout(sealed_len)
        .map(|(plain, _)| plain)
        .ok_or(SealedFileError::Damaged)
}

/// The plaintext bytes held by the complete chunks of an unfinished sealed file (a download in
/// progress) of `sealed_len` bytes: where writing resumes.
pub fn resumable_len(sealed_len: u64) -> u64 {
    sealed_len.saturating_sub(HEADER_LEN as u64) / SEALED_CHUNK_LEN as u64 * CHUNK_LEN as u64
}

/// One file's cipher: its header and its derived key.
struct Sealer {
    header: [u8; HEADER_LEN],
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    fn new(key: &FileKey, file_id: &[u8; FILE_ID_LEN]) -> Self {
        let mut header = [0u8; HEADER_LEN];
        header[..MAGIC.len()].copy_from_slice(&MAGIC);
        header[MAGIC.len()] = VERSION;
        header[MAGIC.len() + 1..].copy_from_slice(file_id);
        let mut derived = blake3::Hasher::new_derive_key(FILE_CONTEXT);
        derived.update(key.expose_bytes());
        derived.update(file_id);
        let mut file_key: [u8; 32] = *derived.finalize().as_bytes();
        let cipher = XChaCha20Poly1305::new((&file_key).into());
        file_key.zeroize();
        Sealer { header, cipher }
    }

    /// Parses a header read from a file.
    fn from_header(key: &FileKey, header: &[u8; HEADER_LEN]) -> Result<Self, SealedFileError> {
        if !looks_sealed(header) {
            return Err(SealedFileError::NotSealed);
        }
        if header[MAGIC.len()] != VERSION {
            return Err(SealedFileError::UnsupportedVersion);
        }
        let mut id = [0u8; FILE_ID_LEN];
        id.copy_from_slice(&header[MAGIC.len() + 1..]);
        Ok(Sealer::new(key, &id))
    }

    fn nonce(index: u64, last: bool) -> XNonce {
        let mut n = [0u8; NONCE_LEN];
        n[..8].copy_from_slice(&index.to_le_bytes());
        n[8] = u8::from(last);
        XNonce::from(n)
    }

    /// Seals the plaintext in `buf` in place and appends its tag.
    fn seal(&self, index: u64, last: bool, buf: &mut Vec<u8>) -> io::Result<()> {
        let tag = self
            .cipher
            .encrypt_inout_detached(
                &Self::nonce(index, last),
                &self.header,
                buf.as_mut_slice().into(),
            )
            .map_err(|_| io::Error::other("chunk too large to seal"))?;
        buf.extend_from_slice(&tag);
        Ok(())
    }

    /// Opens a sealed chunk (ciphertext then tag) in place, leaving its plaintext in `buf`.
    fn open(&self, index: u64, last: bool, buf: &mut Vec<u8>) -> Result<(), SealedFileError> {
        let body_len = buf
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(SealedFileError::Damaged)?;
        let tag = Tag::try_from(&buf[body_len..]).map_err(|_| SealedFileError::Damaged)?;
        buf.truncate(body_len);
        self.cipher
            .decrypt_inout_detached(
                &Self::nonce(index, last),
                &self.header,
                buf.as_mut_slice().into(),
                &tag,
            )
            .map_err(|_| SealedFileError::Damaged)
    }
}

/// Writes a sealed file as a stream: plaintext in, sealed chunks out. Call
/// [`SealedWriter::finish`] to seal the last chunk; a writer dropped without it leaves a file
/// that is not complete (a reader reports it damaged; a download can resume it).
pub struct SealedWriter<W: Write> {
    inner: W,
    sealer: Sealer,
    /// The index of the chunk being filled.
    index: u64,
    /// Plaintext of the chunk being filled. A full chunk is held back until more bytes come,
    /// because only then is it known not to be the last. Zeroized when dropped.
    buf: Zeroizing<Vec<u8>>,
}

impl<W: Write> std::fmt::Debug for SealedWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedWriter(chunk {})", self.index)
    }
}

impl<W: Write> SealedWriter<W> {
    /// Starts a new sealed file at the start of `inner` (which should be empty), writing its
    /// header with a fresh random file id.
    pub fn new(key: &FileKey, mut inner: W) -> io::Result<Self> {
        let sealer = Sealer::new(key, &random_bytes());
        inner.write_all(&sealer.header)?;
        Ok(SealedWriter {
            inner,
            sealer,
            index: 0,
            buf: Zeroizing::new(Vec::with_capacity(SEALED_CHUNK_LEN)),
        })
    }

    /// How many plaintext bytes have been written.
    pub fn plain_written(&self) -> u64 {
        self.index * CHUNK_LEN as u64 + self.buf.len() as u64
    }

    /// The underlying writer (to sync it, for instance). Bytes of the chunk being filled are
    /// not in it yet.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    fn seal_full_chunk(&mut self) -> io::Result<()> {
        self.sealer.seal(self.index, false, &mut self.buf)?;
        let written = self.inner.write_all(&self.buf);
        self.buf.clear();
        written?;
        self.index += 1;
        Ok(())
    }

    /// Seals the chunk being filled if it is full, as a chunk that is not the last. For a
    /// caller that knows more bytes follow (a download of known size): the chunk reaches the
    /// file now, so that an interruption keeps it for [`resume`], instead of waiting for the
    /// next byte to prove it was not the last.
    pub fn seal_full(&mut self) -> io::Result<()> {
        if self.buf.len() == CHUNK_LEN {
            self.seal_full_chunk()?;
        }
        Ok(())
    }

    /// Seals the last chunk, flushes, and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.sealer.seal(self.index, true, &mut self.buf)?;
        self.inner.write_all(&self.buf)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for SealedWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        if self.buf.len() == CHUNK_LEN {
            self.seal_full_chunk()?;
        }
        let take = (CHUNK_LEN - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..take]);
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Only sealed chunks can be flushed: the chunk being filled is not sealed yet.
        self.inner.flush()
    }
}

/// Resumes an unfinished sealed file (a download in progress): checks its header and each
/// complete chunk in turn, passes each chunk's plaintext to `on_chunk`, and cuts the file after
/// the last good chunk, stopping before the chunk that would reach `before` bytes (it may be
/// the last one). Returns a writer that continues after them; a file with no valid header is
/// started afresh.
pub fn resume(
    key: &FileKey,
    mut file: File,
    before: u64,
    mut on_chunk: impl FnMut(&[u8]),
) -> io::Result<SealedWriter<File>> {
    let len = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    let mut header = [0u8; HEADER_LEN];
    let sealer = if len >= HEADER_LEN as u64 {
        file.read_exact(&mut header)?;
        Sealer::from_header(key, &header).ok()
    } else {
        None
    };
    let Some(sealer) = sealer else {
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        return SealedWriter::new(key, file);
    };
    let complete = (len - HEADER_LEN as u64) / SEALED_CHUNK_LEN as u64;
    let mut buf = Vec::with_capacity(SEALED_CHUNK_LEN);
    let mut index = 0u64;
    while index < complete && (index + 1) * (CHUNK_LEN as u64) < before {
        buf.resize(SEALED_CHUNK_LEN, 0);
        file.read_exact(&mut buf)?;
        if sealer.open(index, false, &mut buf).is_err() {
            break;
        }
        on_chunk(&buf);
        index += 1;
    }
    buf.zeroize();
    let end = HEADER_LEN as u64 + index * SEALED_CHUNK_LEN as u64;
    file.set_len(end)?;
    file.seek(SeekFrom::Start(end))?;
    Ok(SealedWriter {
        inner: file,
        sealer,
        index,
        buf: Zeroizing::new(Vec::with_capacity(SEALED_CHUNK_LEN)),
    })
}

/// Reads the header of the sealed file `inner` and its length: the file's cipher, its
/// plaintext length and its chunk count.
fn open_header<R: Read + Seek>(
    key: &FileKey,
    inner: &mut R,
) -> Result<(Sealer, u64, u64), SealedFileError> {
    let sealed_len = inner.seek(SeekFrom::End(0))?;
    inner.seek(SeekFrom::Start(0))?;
    let mut header = [0u8; HEADER_LEN];
    if sealed_len < HEADER_LEN as u64 {
        let mut head = Vec::new();
        inner.read_to_end(&mut head)?;
        return Err(if looks_sealed(&head) {
            SealedFileError::Damaged
        } else {
            SealedFileError::NotSealed
        });
    }
    inner.read_exact(&mut header)?;
    let sealer = Sealer::from_header(key, &header)?;
    let (len, chunks) = layout(sealed_len).ok_or(SealedFileError::Damaged)?;
    Ok((sealer, len, chunks))
}

/// Reads chunk `index` (ciphertext and tag, not yet opened) of a sealed file of `len`
/// plaintext bytes in `chunks` chunks into `buf`, with `read` (which fills a buffer from an
/// offset of the file); returns whether it is the last chunk.
fn read_chunk(
    len: u64,
    chunks: u64,
    index: u64,
    buf: &mut Vec<u8>,
    read: impl FnOnce(u64, &mut [u8]) -> io::Result<()>,
) -> Result<bool, SealedFileError> {
    let start = index * CHUNK_LEN as u64;
    let plain = (len - start.min(len)).min(CHUNK_LEN as u64) as usize;
    // A buffer that held a longer chunk keeps no plaintext past the new one.
    if let Some(stale) = buf.get_mut(plain + TAG_LEN..) {
        stale.zeroize();
    }
    buf.resize(plain + TAG_LEN, 0);
    read(HEADER_LEN as u64 + index * SEALED_CHUNK_LEN as u64, buf)?;
    Ok(index + 1 == chunks)
}

/// Positioned reads that move no shared cursor: what lets several threads read one sealed
/// file at once ([`SharedSealedReader`]).
pub trait ReadAt {
    /// Fills `buf` from `offset`; an error if the file ends first.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

#[cfg(unix)]
impl ReadAt for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

#[cfg(windows)]
impl ReadAt for File {
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(self, buf, offset) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Reads a complete sealed file with random access: seeking is free, and a read decrypts
/// only the chunks it covers (the last one it decrypted is kept for the next read).
pub struct SealedReader<R: Read + Seek> {
    inner: R,
    sealer: Sealer,
    /// Plaintext length, from the file's length.
    len: u64,
    chunks: u64,
    pos: u64,
    /// The index of the chunk whose plaintext is in `chunk`.
    cached: Option<u64>,
    chunk: Vec<u8>,
}

impl<R: Read + Seek> std::fmt::Debug for SealedReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedReader({} bytes)", self.len)
    }
}

impl<R: Read + Seek> SealedReader<R> {
    /// Opens a sealed file: reads its header and its length.
    pub fn open(key: &FileKey, mut inner: R) -> Result<Self, SealedFileError> {
        let (sealer, len, chunks) = open_header(key, &mut inner)?;
        Ok(SealedReader {
            inner,
            sealer,
            len,
            chunks,
            pos: 0,
            cached: None,
            chunk: Vec::with_capacity(SEALED_CHUNK_LEN),
        })
    }

    /// The plaintext length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the plaintext is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Checks the last chunk, which authenticates the length: a file cut at a chunk boundary
    /// fails here rather than at the end of a read.
    pub fn verify_len(&mut self) -> Result<(), SealedFileError> {
        self.load(self.chunks.saturating_sub(1))
    }

    fn load(&mut self, index: u64) -> Result<(), SealedFileError> {
        if self.cached == Some(index) {
            return Ok(());
        }
        self.cached = None;
        let inner = &mut self.inner;
        let last = read_chunk(self.len, self.chunks, index, &mut self.chunk, |at, buf| {
            inner.seek(SeekFrom::Start(at))?;
            inner.read_exact(buf)
        })?;
        if let Err(e) = self.sealer.open(index, last, &mut self.chunk) {
            self.chunk.zeroize();
            return Err(e);
        }
        self.cached = Some(index);
        Ok(())
    }
}

impl<R: Read + Seek> Read for SealedReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || out.is_empty() {
            return Ok(0);
        }
        let index = self.pos / CHUNK_LEN as u64;
        self.load(index)?;
        let within = (self.pos - index * CHUNK_LEN as u64) as usize;
        let n = (self.chunk.len() - within).min(out.len());
        out[..n].copy_from_slice(&self.chunk[within..within + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for SealedReader<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.pos = target;
        Ok(target)
    }
}

impl<R: Read + Seek> Drop for SealedReader<R> {
    fn drop(&mut self) {
        self.chunk.zeroize();
    }
}

/// Seals a plaintext stream into `out`: a convenience over [`SealedWriter`]. Returns the
/// plaintext length.
pub fn seal_stream<W: Write>(key: &FileKey, mut from: impl Read, out: W) -> io::Result<(u64, W)> {
    let mut writer = SealedWriter::new(key, out)?;
    let copied = io::copy(&mut from, &mut writer)?;
    Ok((copied, writer.finish()?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Cursor;

    fn key() -> FileKey {
        FileKey::from_bytes([7; 32])
    }

    fn seal(data: &[u8]) -> Vec<u8> {
        seal_stream(&key(), data, Vec::new()).unwrap().1
    }

    fn open_all(sealed: Vec<u8>) -> Result<Vec<u8>, SealedFileError> {
        let mut r = SealedReader::open(&key(), Cursor::new(sealed))?;
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        Ok(out)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn sizes_round_trip_and_match_the_layout() {
        for n in [
            0,
            1,
            CHUNK_LEN - 1,
            CHUNK_LEN,
            CHUNK_LEN + 1,
            3 * CHUNK_LEN,
            3 * CHUNK_LEN + 5,
        ] {
            let d = data(n);
            let s = seal(&d);
            assert_eq!(s.len() as u64, sealed_len(n as u64), "size {n}");
            assert_eq!(plain_len(s.len() as u64).unwrap(), n as u64);
            assert!(looks_sealed(&s));
            assert_eq!(open_all(s).unwrap(), d, "size {n}");
        }
    }

    #[test]
    fn the_plaintext_is_not_in_the_sealed_file() {
        let marker = b"SECRET-PHOTO-MARKER-0123456789";
        let mut d = data(200_000);
        d[100_000..100_000 + marker.len()].copy_from_slice(marker);
        let s = seal(&d);
        assert!(!s.windows(marker.len()).any(|w| w == marker));
    }

    #[test]
    fn a_range_in_the_middle_reads_only_its_chunks() {
        let d = data(5 * CHUNK_LEN + 17);
        let mut s = seal(&d);
        // Damage chunk 0 and the last chunk: a read in chunks 2..3 must not touch them.
        s[HEADER_LEN + 3] ^= 1;
        let last = s.len() - 3;
        s[last] ^= 1;
        let mut r = SealedReader::open(&key(), Cursor::new(s)).unwrap();
        let from = 2 * CHUNK_LEN as u64 + 100;
        r.seek(SeekFrom::Start(from)).unwrap();
        let mut out = vec![0u8; CHUNK_LEN];
        r.read_exact(&mut out).unwrap();
        assert_eq!(out, d[from as usize..from as usize + CHUNK_LEN]);
        r.seek(SeekFrom::Start(0)).unwrap();
        assert!(is_damage(&r.read(&mut out).unwrap_err()));
    }

    #[test]
    fn wrong_key_and_plaintext_are_refused() {
        let s = seal(b"hello");
        let r = SealedReader::open(&FileKey::from_bytes([8; 32]), Cursor::new(s.clone()));
        let mut r = r.unwrap();
        let mut out = Vec::new();
        assert!(matches!(
            SealedFileError::from(r.read_to_end(&mut out).unwrap_err()),
            SealedFileError::Damaged
        ));
        assert!(out.is_empty());
        assert!(matches!(
            SealedReader::open(
                &key(),
                Cursor::new(b"plain photo bytes, long enough....".to_vec())
            ),
            Err(SealedFileError::NotSealed)
        ));
        assert!(matches!(
            SealedReader::open(&key(), Cursor::new(b"jpeg".to_vec())),
            Err(SealedFileError::NotSealed)
        ));
        let mut newer = s;
        newer[MAGIC.len()] = VERSION + 1;
        assert!(matches!(
            SealedReader::open(&key(), Cursor::new(newer)),
            Err(SealedFileError::UnsupportedVersion)
        ));
    }

    #[test]
    fn truncation_at_a_chunk_boundary_is_detected() {
        let d = data(3 * CHUNK_LEN + 10);
        let s = seal(&d);
        let cut = s[..HEADER_LEN + 2 * SEALED_CHUNK_LEN].to_vec();
        assert!(matches!(
            open_all(cut.clone()),
            Err(SealedFileError::Damaged)
        ));
        let mut r = SealedReader::open(&key(), Cursor::new(cut)).unwrap();
        assert!(matches!(r.verify_len(), Err(SealedFileError::Damaged)));
    }

    #[test]
    fn chunks_swapped_within_or_spliced_between_files_are_detected() {
        let d = data(3 * CHUNK_LEN);
        let s = seal(&d);
        let mut swapped = s.clone();
        let (a, b) = (HEADER_LEN, HEADER_LEN + SEALED_CHUNK_LEN);
        let first = s[a..a + SEALED_CHUNK_LEN].to_vec();
        swapped[a..a + SEALED_CHUNK_LEN].copy_from_slice(&s[b..b + SEALED_CHUNK_LEN]);
        swapped[b..b + SEALED_CHUNK_LEN].copy_from_slice(&first);
        assert!(matches!(open_all(swapped), Err(SealedFileError::Damaged)));

        let other = seal(&d);
        let mut spliced = s.clone();
        spliced[b..b + SEALED_CHUNK_LEN].copy_from_slice(&other[b..b + SEALED_CHUNK_LEN]);
        assert!(matches!(open_all(spliced), Err(SealedFileError::Damaged)));
    }

    #[test]
    fn an_unfinished_file_resumes_after_its_good_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part");
        let d = data(4 * CHUNK_LEN + 3);
        let file = File::create(&path).unwrap();
        let mut w = SealedWriter::new(&key(), file).unwrap();
        w.write_all(&d[..2 * CHUNK_LEN + 500]).unwrap();
        drop(w); // interrupted: two chunks sealed, 500 bytes lost
        let len = std::fs::metadata(&path).unwrap().len();
        assert_eq!(resumable_len(len), 2 * CHUNK_LEN as u64);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let mut seen = Vec::new();
        let mut w = resume(&key(), file, d.len() as u64, |c| seen.extend_from_slice(c)).unwrap();
        assert_eq!(seen, d[..2 * CHUNK_LEN]);
        assert_eq!(w.plain_written(), 2 * CHUNK_LEN as u64);
        w.write_all(&d[2 * CHUNK_LEN..]).unwrap();
        w.finish().unwrap();
        assert_eq!(open_all(std::fs::read(&path).unwrap()).unwrap(), d);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn any_seeks_and_reads_equal_the_plaintext(
            len in 0usize..(4 * CHUNK_LEN + 100),
            reads in prop::collection::vec((0u64..(5 * CHUNK_LEN as u64), 0usize..(2 * CHUNK_LEN)), 1..12),
        ) {
            let d = data(len);
            let mut r = SealedReader::open(&key(), Cursor::new(seal(&d))).unwrap();
            prop_assert_eq!(r.len(), len as u64);
            for (at, n) in reads {
                r.seek(SeekFrom::Start(at)).unwrap();
                let mut out = Vec::new();
                (&mut r).take(n as u64).read_to_end(&mut out).unwrap();
                let start = (at as usize).min(len);
                let end = (start + n).min(len);
                prop_assert_eq!(&out[..], &d[start..end]);
            }
        }

        #[test]
        fn any_flipped_byte_or_cut_gives_an_error_never_wrong_bytes(
            len in 1usize..(3 * CHUNK_LEN),
            flip_at in any::<prop::sample::Index>(),
            cut in any::<bool>(),
        ) {
            let d = data(len);
            let mut s = seal(&d);
            if cut {
                let keep = flip_at.index(s.len());
                s.truncate(keep);
            } else {
                let i = flip_at.index(s.len());
                s[i] ^= 0x40;
            }
            match open_all(s) {
                Ok(out) => prop_assert!(false, "altered file read as {} bytes", out.len()),
                Err(SealedFileError::Io(e)) => prop_assert!(false, "untyped error {e}"),
                Err(_) => {}
            }
        }
    }
}
