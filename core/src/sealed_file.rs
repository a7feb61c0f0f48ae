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
//!
//! XChaCha20-Poly1305 is computed as its definition says: HChaCha20 of the file's key and the
//! nonce's first 16 bytes gives the chunk's key, and ChaCha20-Poly1305 (ring's, in assembly on
//! x86_64 and ARMv8) seals the chunk under it with the nonce's last 8 bytes. A test checks the
//! result against the portable `chacha20poly1305` crate byte for byte.

use std::fs::File;
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};

use ring::aead::{Aad, LessSafeKey, Nonce};
use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::{FileKey, TAG_LEN, random_bytes};

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
    /// This file's key, derived from the [`FileKey`] and the file id.
    key: Zeroizing<[u8; 32]>,
}

/// Bytes of the XChaCha20 nonce that HChaCha20 takes.
const HCHACHA_INPUT_LEN: usize = 16;

impl Sealer {
    fn new(key: &FileKey, file_id: &[u8; FILE_ID_LEN]) -> Self {
        let mut header = [0u8; HEADER_LEN];
        header[..MAGIC.len()].copy_from_slice(&MAGIC);
        header[MAGIC.len()] = VERSION;
        header[MAGIC.len() + 1..].copy_from_slice(file_id);
        let mut derived = blake3::Hasher::new_derive_key(FILE_CONTEXT);
        derived.update(key.expose_bytes());
        derived.update(file_id);
        let key = Zeroizing::new(*derived.finalize().as_bytes());
        Sealer { header, key }
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

    /// The key and nonce that seal chunk `index`. The XChaCha20 nonce is the index (8 bytes,
    /// little-endian), the last-chunk flag, then zeros: its first 16 bytes go through
    /// HChaCha20 to give the chunk's ChaCha20 key, and its last 8 (zeros) make the ChaCha20
    /// nonce after 4 zero bytes.
    fn chunk_key(&self, index: u64, last: bool) -> io::Result<(LessSafeKey, Nonce)> {
        let mut input = [0u8; HCHACHA_INPUT_LEN];
        input[..8].copy_from_slice(&index.to_le_bytes());
        input[8] = u8::from(last);
        let key = crate::crypto::hchacha_key(&self.key, &input)
            .ok_or_else(|| io::Error::other("chunk key refused"))?;
        Ok((key, Nonce::assume_unique_for_key([0u8; 12])))
    }

    /// Seals the plaintext chunk in `buf` in place; returns its tag.
    fn seal_in_place(&self, index: u64, last: bool, buf: &mut [u8]) -> io::Result<[u8; TAG_LEN]> {
        let (key, nonce) = self.chunk_key(index, last)?;
        let tag = key
            .seal_in_place_separate_tag(nonce, Aad::from(&self.header), buf)
            .map_err(|_| io::Error::other("chunk too large to seal"))?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Seals the plaintext in `buf` in place and appends its tag.
    fn seal(&self, index: u64, last: bool, buf: &mut Vec<u8>) -> io::Result<()> {
        let tag = self.seal_in_place(index, last, buf)?;
        buf.extend_from_slice(&tag);
        Ok(())
    }

    /// Opens the sealed chunk (ciphertext then tag) at `buf[from..]`, writing its plaintext
    /// to the start of `buf` (the same pass moves it back by `from` bytes). Returns the
    /// plaintext length. On failure `buf` holds nothing of use.
    fn open_within(
        &self,
        index: u64,
        last: bool,
        buf: &mut [u8],
        from: usize,
    ) -> Result<usize, SealedFileError> {
        let (key, nonce) = self.chunk_key(index, last)?;
        key.open_within(nonce, Aad::from(&self.header), buf, from..)
            .map(|plain| plain.len())
            .map_err(|_| SealedFileError::Damaged)
    }

    /// Opens a sealed chunk (ciphertext then tag) in place, leaving its plaintext in `buf`.
    fn open(&self, index: u64, last: bool, buf: &mut Vec<u8>) -> Result<(), SealedFileError> {
        match self.open_within(index, last, buf, 0) {
            Ok(n) => {
                buf.truncate(n);
                Ok(())
            }
            Err(e) => {
                buf.zeroize();
                Err(e)
            }
        }
    }
}

/// Writes every byte of `bufs`, in as few system calls as the writer allows.
fn write_all_vectored(w: &mut impl Write, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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

    /// Writes `data` as [`Write::write_all`] then [`SealedWriter::seal_full`] would, without
    /// copying it: the whole chunks that line up in `data` are sealed where they lie (so
    /// `data` holds ciphertext afterwards) and go out with their tags in one vectored write.
    /// Only bytes that complete a chunk begun before, or start one that `data` does not
    /// finish, are copied. `more` says whether bytes follow `data`; if not, its last chunk
    /// is kept for [`SealedWriter::finish`], which seals it as the last.
    pub fn write_in_place(&mut self, data: &mut [u8], more: bool) -> io::Result<()> {
        let mut rest = data;
        if !self.buf.is_empty() {
            let take = (CHUNK_LEN - self.buf.len()).min(rest.len());
            let (head, tail) = rest.split_at_mut(take);
            self.buf.extend_from_slice(head);
            rest = tail;
            if self.buf.len() == CHUNK_LEN && (more || !rest.is_empty()) {
                self.seal_full_chunk()?;
            }
        }
        let mut whole = rest.len() / CHUNK_LEN;
        if !more && whole > 0 && whole * CHUNK_LEN == rest.len() {
            // The file's last chunk: sealed as such by `finish`.
            whole -= 1;
        }
        let (sealed, tail) = rest.split_at_mut(whole * CHUNK_LEN);
        if whole > 0 {
            let mut tags = Vec::with_capacity(whole);
            for (i, chunk) in sealed.chunks_exact_mut(CHUNK_LEN).enumerate() {
                tags.push(
                    self.sealer
                        .seal_in_place(self.index + i as u64, false, chunk)?,
                );
            }
            let mut slices: Vec<IoSlice<'_>> = sealed
                .chunks_exact(CHUNK_LEN)
                .zip(&tags)
                .flat_map(|(chunk, tag)| [IoSlice::new(chunk), IoSlice::new(tag)])
                .collect();
            write_all_vectored(&mut self.inner, &mut slices)?;
            self.index += whole as u64;
        }
        self.buf.extend_from_slice(tail);
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
        let last = index + 1 == self.chunks;
        let start = index * CHUNK_LEN as u64;
        let plain = (self.len - start.min(self.len)).min(CHUNK_LEN as u64) as usize;
        self.inner.seek(SeekFrom::Start(
            HEADER_LEN as u64 + index * SEALED_CHUNK_LEN as u64,
        ))?;
        self.chunk.clear();
        read_sealed(&mut self.inner, plain + TAG_LEN, &mut self.chunk)?;
        // `open` zeroizes what it leaves on failure.
        self.sealer.open(index, last, &mut self.chunk)?;
        self.cached = Some(index);
        Ok(())
    }

    /// Appends to `out` the plaintext from `offset` up to `max` bytes (less at the end of
    /// the file), and leaves the reader's position after it. The whole chunks of the range
    /// are read with one read, straight into `out`, and each is decrypted where it lies (its
    /// plaintext moved down over the tags in the same pass): no copy and no zeroing. Only a
    /// chunk the range covers in part goes through the reader's chunk buffer. On an error
    /// `out` is left as it was.
    pub fn read_at_into(
        &mut self,
        offset: u64,
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), SealedFileError> {
        let start = out.len();
        let read = self.read_range(offset, max, out);
        if read.is_err() {
            out[start..].zeroize();
            out.truncate(start);
        }
        read
    }

    fn read_range(
        &mut self,
        offset: u64,
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), SealedFileError> {
        let chunk_len = CHUNK_LEN as u64;
        let end = offset.saturating_add(max as u64).min(self.len);
        let mut pos = offset;
        // A first chunk read from its middle.
        if pos < end && !pos.is_multiple_of(chunk_len) {
            let index = pos / chunk_len;
            self.load(index)?;
            let within = (pos - index * chunk_len) as usize;
            let n = ((end - pos) as usize).min(self.chunk.len() - within);
            out.extend_from_slice(&self.chunk[within..within + n]);
            pos += n as u64;
        }
        // The chunks wholly inside the range (the file's short last chunk included).
        let first = pos / chunk_len;
        let whole_end = if end == self.len {
            self.chunks
        } else {
            end / chunk_len
        };
        if pos < end && whole_end > first {
            let plain = (whole_end * chunk_len).min(self.len) - pos;
            let count = whole_end - first;
            let sealed = usize::try_from(plain + count * TAG_LEN as u64)
                .map_err(|_| SealedFileError::Io(io::ErrorKind::OutOfMemory.into()))?;
            self.inner.seek(SeekFrom::Start(
                HEADER_LEN as u64 + first * SEALED_CHUNK_LEN as u64,
            ))?;
            let base = out.len();
            out.reserve(sealed);
            read_sealed(&mut self.inner, sealed, out)?;
            for i in 0..count {
                let index = first + i;
                let from = base + (i * SEALED_CHUNK_LEN as u64) as usize;
                let to = base + (i * chunk_len) as usize;
                let chunk_plain = ((index + 1) * chunk_len).min(self.len) - index * chunk_len;
                let sealed_end = from + chunk_plain as usize + TAG_LEN;
                let last = index + 1 == self.chunks;
                self.sealer
                    .open_within(index, last, &mut out[to..sealed_end], from - to)?;
            }
            out.truncate(base + plain as usize);
            pos += plain;
        }
        // A last chunk read in part.
        if pos < end {
            let index = pos / chunk_len;
            self.load(index)?;
            let n = (end - pos) as usize;
            out.extend_from_slice(&self.chunk[..n]);
            pos = end;
        }
        self.pos = pos.max(offset);
        Ok(())
    }
}

/// Appends exactly `n` bytes from `from` to `out`, into its spare capacity (not zeroed
/// first); a file that ends before is damaged.
fn read_sealed(from: &mut impl Read, n: usize, out: &mut Vec<u8>) -> Result<(), SealedFileError> {
    let start = out.len();
    out.reserve(n);
    from.take(n as u64).read_to_end(out)?;
    if out.len() - start != n {
        return Err(SealedFileError::Damaged);
    }
    Ok(())
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

    /// Seals `data` as the format says, with the portable XChaCha20-Poly1305 crate (what
    /// sealed every file before ring did): the reference the sealer must match.
    fn seal_with_portable_crate(data: &[u8], file_id: [u8; FILE_ID_LEN]) -> Vec<u8> {
        use chacha20poly1305::aead::{AeadInOut, KeyInit};
        let reference = Sealer::new(&key(), &file_id);
        let cipher = chacha20poly1305::XChaCha20Poly1305::new((&*reference.key).into());
        let mut out = reference.header.to_vec();
        let chunks: Vec<&[u8]> = if data.is_empty() {
            vec![&[]]
        } else {
            data.chunks(CHUNK_LEN).collect()
        };
        for (i, chunk) in chunks.iter().enumerate() {
            let mut nonce = [0u8; crate::crypto::NONCE_LEN];
            nonce[..8].copy_from_slice(&(i as u64).to_le_bytes());
            nonce[8] = u8::from(i + 1 == chunks.len());
            let mut buf = chunk.to_vec();
            let tag = cipher
                .encrypt_inout_detached(&nonce.into(), &reference.header, buf.as_mut_slice().into())
                .unwrap();
            out.extend_from_slice(&buf);
            out.extend_from_slice(&tag);
        }
        out
    }

    #[test]
    fn files_sealed_with_the_portable_crate_read_and_match_byte_for_byte() {
        for n in [0, 5, CHUNK_LEN, 2 * CHUNK_LEN + 3] {
            let d = data(n);
            let mine = seal(&d);
            let id: [u8; FILE_ID_LEN] = mine[MAGIC.len() + 1..HEADER_LEN].try_into().unwrap();
            let reference = seal_with_portable_crate(&d, id);
            assert_eq!(mine, reference, "size {n}");
            assert_eq!(open_all(reference).unwrap(), d, "size {n}");
        }
    }

    #[test]
    fn a_chunk_sealed_in_place_is_written_with_its_tag_and_kept_on_an_interruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part");
        let d = data(3 * CHUNK_LEN + 100);
        let mut w = SealedWriter::new(&key(), File::create(&path).unwrap()).unwrap();
        let mut first = d[..2 * CHUNK_LEN + 10].to_vec();
        w.write_in_place(&mut first, true).unwrap();
        assert_ne!(first[..CHUNK_LEN], d[..CHUNK_LEN], "sealed where it lay");
        // Both whole chunks are on the disk already; the 10 bytes after them are not.
        let len = std::fs::metadata(&path).unwrap().len();
        assert_eq!(len, (HEADER_LEN + 2 * SEALED_CHUNK_LEN) as u64);
        drop(w);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let mut seen = Vec::new();
        let mut w = resume(&key(), file, d.len() as u64, |c| seen.extend_from_slice(c)).unwrap();
        assert_eq!(seen, d[..2 * CHUNK_LEN]);
        let mut rest = d[2 * CHUNK_LEN..].to_vec();
        w.write_in_place(&mut rest, false).unwrap();
        w.finish().unwrap();
        assert_eq!(open_all(std::fs::read(&path).unwrap()).unwrap(), d);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn writes_in_place_of_any_sizes_seal_the_same_file_as_a_stream(
            len in 0usize..(4 * CHUNK_LEN + 100),
            cuts in prop::collection::vec(0usize..(4 * CHUNK_LEN + 100), 0..6),
            copied in prop::collection::vec(any::<bool>(), 6),
        ) {
            let d = data(len);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(len)).collect();
            cuts.push(0);
            cuts.push(len);
            cuts.sort_unstable();
            let mut w = SealedWriter::new(&key(), Vec::new()).unwrap();
            for (i, pair) in cuts.windows(2).enumerate() {
                let mut piece = d[pair[0]..pair[1]].to_vec();
                if copied.get(i).copied().unwrap_or(false) {
                    // Mixed with the copying writer, as a download resumed by another path.
                    w.write_all(&piece).unwrap();
                } else {
                    w.write_in_place(&mut piece, pair[1] < len).unwrap();
                }
            }
            prop_assert_eq!(w.plain_written(), len as u64);
            let sealed = w.finish().unwrap();
            prop_assert_eq!(sealed.len() as u64, sealed_len(len as u64));
            prop_assert_eq!(open_all(sealed).unwrap(), d);
        }

        #[test]
        fn any_range_read_at_once_equals_the_plaintext(
            len in 0usize..(4 * CHUNK_LEN + 100),
            ranges in prop::collection::vec((0u64..(5 * CHUNK_LEN as u64), 0usize..(3 * CHUNK_LEN)), 1..8),
        ) {
            let d = data(len);
            let mut r = SealedReader::open(&key(), Cursor::new(seal(&d))).unwrap();
            for (at, n) in ranges {
                let mut out = b"kept".to_vec();
                r.read_at_into(at, n, &mut out).unwrap();
                let start = (at as usize).min(len);
                let end = (start + n).min(len);
                prop_assert_eq!(&out[..4], b"kept");
                prop_assert_eq!(&out[4..], &d[start..end]);
                // The position follows the range, as a `Read` of it would leave it.
                let mut next = Vec::new();
                (&mut r).take(10).read_to_end(&mut next).unwrap();
                prop_assert_eq!(&next[..], &d[end..(end + 10).min(len)]);
            }
        }

        #[test]
        fn a_damaged_chunk_in_a_range_read_at_once_is_an_error_and_adds_nothing(
            at_chunk in 0usize..4,
            byte in 0usize..SEALED_CHUNK_LEN,
        ) {
            let d = data(4 * CHUNK_LEN);
            let mut s = seal(&d);
            s[HEADER_LEN + at_chunk * SEALED_CHUNK_LEN + byte] ^= 0x20;
            let mut r = SealedReader::open(&key(), Cursor::new(s)).unwrap();
            let mut out = b"kept".to_vec();
            let err = r.read_at_into(0, d.len(), &mut out).unwrap_err();
            prop_assert!(matches!(err, SealedFileError::Damaged));
            prop_assert_eq!(&out[..], b"kept");
        }

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
