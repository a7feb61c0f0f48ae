//! The sync file's bytes: a small plaintext header (magic, version, a salted marker only the
//! project's members can check), then sealed, numbered frames, the last one a trailer. Owns
//! the framing and its keys only; what goes into a file, and how it is applied, is
//! `sync_file`'s.
//!
//! Every frame is sealed (XChaCha20-Poly1305) under a key derived from the project key,
//! bound to the header and to its own number: a changed byte anywhere, frames swapped,
//! dropped or taken from another file, all fail to open. A file without its trailer is cut.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use super::SyncFileError;
use crate::crypto;
use crate::ids::BlobHash;
use crate::sync::message::{FeedLength, WireEntry};

/// The first bytes of every sync file.
pub const MAGIC: [u8; 8] = *b"MAPEOSYN";
/// The format this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Header: magic, version, salt, marker.
pub const HEADER_LEN: usize = 8 + 2 + SALT_LEN + 32;
/// Random bytes per file, so two files of one project cannot be linked by their headers.
const SALT_LEN: usize = 16;
/// Largest sealed frame read or written: the length prefix of a damaged file can never make
/// a reader allocate more.
pub const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;
/// Most entries in one frame (one live-sync batch).
pub const ENTRIES_PER_FRAME: usize = crate::sync::message::MAX_ENTRIES_PER_BATCH;
/// Entry payload bytes after which a frame is written even if it has fewer entries.
pub const FRAME_PAYLOAD_BYTES: usize = crate::sync::message::BATCH_PAYLOAD_BYTES;
/// Blob bytes per frame.
pub const BLOB_CHUNK_BYTES: usize = crate::sync::message::BLOB_CHUNK_BYTES;
/// Most feed lengths or blob hashes in one `Holds` frame.
pub const HOLDS_PER_FRAME: usize = 10_000;
/// Bytes a frame adds around what it carries (length, nonce, tag, CBOR framing): an upper
/// bound used to keep a file within its size limit.
pub const FRAME_OVERHEAD: u64 = 4 + (crypto::NONCE_LEN + crypto::TAG_LEN) as u64 + 128;

mod context {
    /// Input to the project's tag MAC from which the file keys derive. The tag key MACs
    /// Noise handshake hashes elsewhere; this fixed value is never one.
    pub const FILE_SECRET_INPUT: &str = "mapeo 2026-12 sync file secret input v1";
    pub const MARKER: &str = "mapeo 2026-12 sync file project marker v1";
    pub const FRAME: &str = "mapeo 2026-12 sync file frame key v1";
}

/// One sealed frame's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Record {
    /// What the writer held when it wrote the file (feeds and complete blobs): what a reply
    /// file needs to leave out. Possibly spread over several frames.
    Holds {
        /// Feed lengths.
        feeds: Vec<FeedLength>,
        /// Blobs held complete.
        blobs: Vec<BlobHash>,
    },
    /// Consecutive entries of one feed, sealed as in the feed.
    Entries(Vec<WireEntry>),
    /// A piece of a blob.
    Blob {
        /// The blob.
        hash: BlobHash,
        /// Its full size.
        size: u64,
        /// Where this piece starts.
        offset: u64,
        /// The bytes.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// The last frame: what came before, so a cut file is known.
    End {
        /// Frames before this one.
        frames: u64,
        /// Entries in them.
        entries: u64,
        /// Blob bytes in them.
        blob_bytes: u64,
    },
}

/// The keys of a project's sync files, from its secret (only members can compute it).
pub struct FileKeys {
    marker: zeroize::Zeroizing<[u8; 32]>,
    frame: zeroize::Zeroizing<[u8; 32]>,
}

impl FileKeys {
    /// Derives the file keys from the project's sync tag MAC (see [`secret_input`]).
    pub fn new(secret: &[u8; 32]) -> Self {
        FileKeys {
            marker: zeroize::Zeroizing::new(blake3::derive_key(context::MARKER, secret)),
            frame: zeroize::Zeroizing::new(blake3::derive_key(context::FRAME, secret)),
        }
    }

    fn marker(&self, salt: &[u8; SALT_LEN]) -> [u8; 32] {
        *blake3::keyed_hash(&self.marker, salt).as_bytes()
    }
}

/// The fixed 32 bytes whose MAC under the project's tag key is the file secret.
pub fn secret_input() -> [u8; 32] {
    *blake3::hash(context::FILE_SECRET_INPUT.as_bytes()).as_bytes()
}

fn frame_aad(header: &[u8; HEADER_LEN], index: u64) -> [u8; 40] {
    let mut aad = [0u8; 40];
    aad[..32].copy_from_slice(blake3::hash(header).as_bytes());
    aad[32..].copy_from_slice(&index.to_be_bytes());
    aad
}

/// Writes a sync file's frames.
pub struct FrameWriter<W: Write> {
    out: W,
    keys: FileKeys,
    header: [u8; HEADER_LEN],
    frames: u64,
    entries: u64,
    blob_bytes: u64,
    written: u64,
}

impl<W: Write> FrameWriter<W> {
    /// Writes the header.
    pub fn start(mut out: W, keys: FileKeys) -> io::Result<Self> {
        let salt: [u8; SALT_LEN] = crypto::random_bytes();
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(&MAGIC);
        header[8..10].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
        header[10..10 + SALT_LEN].copy_from_slice(&salt);
        header[10 + SALT_LEN..].copy_from_slice(&keys.marker(&salt));
        out.write_all(&header)?;
        Ok(FrameWriter {
            out,
            keys,
            header,
            frames: 0,
            entries: 0,
            blob_bytes: 0,
            written: HEADER_LEN as u64,
        })
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Seals and writes one record.
    pub fn write(&mut self, record: &Record) -> Result<(), SyncFileError> {
        match record {
            Record::Entries(e) => self.entries += e.len() as u64,
            Record::Blob { bytes, .. } => self.blob_bytes += bytes.len() as u64,
            _ => {}
        }
        self.write_frame(record)
    }

    fn write_frame(&mut self, record: &Record) -> Result<(), SyncFileError> {
        let mut plain = Vec::new();
        ciborium::into_writer(record, &mut plain).map_err(|_| SyncFileError::TooLarge)?;
        let sealed = crypto::seal(
            &self.keys.frame,
            &frame_aad(&self.header, self.frames),
            &plain,
        );
        if sealed.len() > MAX_FRAME_BYTES {
            return Err(SyncFileError::TooLarge);
        }
        let len = u32::try_from(sealed.len()).map_err(|_| SyncFileError::TooLarge)?;
        self.out.write_all(&len.to_be_bytes())?;
        self.out.write_all(&sealed)?;
        self.frames += 1;
        self.written += 4 + sealed.len() as u64;
        Ok(())
    }

    /// Writes the trailer and hands back the output.
    pub fn finish(mut self) -> Result<W, SyncFileError> {
        let end = Record::End {
            frames: self.frames,
            entries: self.entries,
            blob_bytes: self.blob_bytes,
        };
        self.write_frame(&end)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads a sync file's frames, checking each.
pub struct FrameReader<R: Read> {
    input: R,
    keys: FileKeys,
    header: [u8; HEADER_LEN],
    frames: u64,
    entries: u64,
    blob_bytes: u64,
    ended: bool,
    read: u64,
}

impl<R: Read> FrameReader<R> {
    /// Reads and checks the header: a sync file of this format, of this project.
    pub fn open(mut input: R, keys: FileKeys) -> Result<Self, SyncFileError> {
        let mut header = [0u8; HEADER_LEN];
        read_exact_or(&mut input, &mut header, SyncFileError::NotASyncFile)?;
        if header[..8] != MAGIC {
            return Err(SyncFileError::NotASyncFile);
        }
        let version = u16::from_be_bytes([header[8], header[9]]);
        if version != FORMAT_VERSION {
            return Err(SyncFileError::UnsupportedVersion(version));
        }
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&header[10..10 + SALT_LEN]);
        let expected = keys.marker(&salt);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            &expected[..],
            &header[10 + SALT_LEN..],
        )) {
            return Err(SyncFileError::WrongProject);
        }
        Ok(FrameReader {
            input,
            keys,
            header,
            frames: 0,
            entries: 0,
            blob_bytes: 0,
            ended: false,
            read: HEADER_LEN as u64,
        })
    }

    /// Bytes read so far.
    pub fn read_bytes(&self) -> u64 {
        self.read
    }

    /// The next record before the trailer; `None` once the trailer was read and checked and
    /// nothing follows it.
    pub fn next_record(&mut self) -> Result<Option<Record>, SyncFileError> {
        if self.ended {
            return Ok(None);
        }
        let mut len = [0u8; 4];
        read_exact_or(&mut self.input, &mut len, SyncFileError::Truncated)?;
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_FRAME_BYTES {
            return Err(SyncFileError::Damaged);
        }
        let mut sealed = vec![0u8; len];
        read_exact_or(&mut self.input, &mut sealed, SyncFileError::Truncated)?;
        self.read += 4 + len as u64;
        let plain = crypto::open(
            &self.keys.frame,
            &frame_aad(&self.header, self.frames),
            &sealed,
        )
        .map_err(|_| SyncFileError::Damaged)?;
        let record: Record =
            ciborium::from_reader(&plain[..]).map_err(|_| SyncFileError::Damaged)?;
        match record {
            Record::End {
                frames,
                entries,
                blob_bytes,
            } => {
                if (frames, entries, blob_bytes) != (self.frames, self.entries, self.blob_bytes) {
                    return Err(SyncFileError::Damaged);
                }
                let mut extra = [0u8; 1];
                if read_some(&mut self.input, &mut extra)? != 0 {
                    return Err(SyncFileError::Damaged);
                }
                self.ended = true;
                Ok(None)
            }
            other => {
                self.frames += 1;
                match &other {
                    Record::Entries(e) => self.entries += e.len() as u64,
                    Record::Blob { bytes, .. } => self.blob_bytes += bytes.len() as u64,
                    _ => {}
                }
                Ok(Some(other))
            }
        }
    }
}

fn read_exact_or(
    input: &mut impl Read,
    buf: &mut [u8],
    short: SyncFileError,
) -> Result<(), SyncFileError> {
    match input.read_exact(buf) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(short),
        Err(e) => Err(e.into()),
    }
}

fn read_some(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;

    fn keys(b: u8) -> FileKeys {
        FileKeys::new(&[b; 32])
    }

    fn file(records: &[Record]) -> Vec<u8> {
        let mut w = FrameWriter::start(Vec::new(), keys(1)).unwrap();
        for r in records {
            w.write(r).unwrap();
        }
        w.finish().unwrap()
    }

    fn read_all(bytes: &[u8], k: FileKeys) -> Result<Vec<Record>, SyncFileError> {
        let mut r = FrameReader::open(bytes, k)?;
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            out.push(rec);
        }
        Ok(out)
    }

    fn sample() -> Vec<Record> {
        vec![
            Record::Holds {
                feeds: vec![],
                blobs: vec![BlobHash::from_bytes([3; 32])],
            },
            Record::Blob {
                hash: BlobHash::from_bytes([4; 32]),
                size: 5,
                offset: 0,
                bytes: vec![1, 2, 3, 4, 5],
            },
        ]
    }

    #[test]
    fn records_come_back_as_written() {
        let bytes = file(&sample());
        assert_eq!(read_all(&bytes, keys(1)).unwrap(), sample());
    }

    #[test]
    fn every_changed_byte_and_every_cut_is_refused() {
        let bytes = file(&sample());
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(read_all(&bad, keys(1)).is_err(), "byte {i} changed");
            assert!(read_all(&bytes[..i], keys(1)).is_err(), "cut at {i}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            read_all(&longer, keys(1)),
            Err(SyncFileError::Damaged)
        ));
    }

    #[test]
    fn another_projects_keys_do_not_open_the_file() {
        let bytes = file(&sample());
        assert!(matches!(
            read_all(&bytes, keys(2)),
            Err(SyncFileError::WrongProject)
        ));
    }
}
