//! Content-addressed files of one project — photos, audio, video and their variants — each
//! named by the blake3 hash of its bytes, one copy per content, and sealed at rest
//! ([`crate::sealed_file`], under the data folder's blob [`FileKey`]): a copy of the folder
//! shows no media. Hashes and sizes are those of the plaintext, so peers, blob indexes and
//! URLs do not change. Owns the folder layout, writes through a temporary file that is synced
//! and renamed into place (a crash never leaves a half file under a blob's name), keeps
//! partial downloads (sealed as they are written) for resuming, verifies them before they
//! become visible, seals in place the plaintext files of versions before sealing, and turns a
//! full disk into a typed error. Nothing outside reads its files: readers decrypt what they
//! are asked for ([`BlobStore::open_blob`], [`BlobStore::read_at`]). Knows nothing of
//! documents, policies or peers.
//!
//! Layout under the project's folder:
//! - `blobs/<first two hex digits>/<hash hex>`: complete, verified blobs (read-only files);
//! - `blobs/tmp/`: files being written locally; emptied when the store opens;
//! - `blobs/partial/<hash hex>.part`: downloads in progress, resumed after their last
//!   complete sealed chunk (so a resume repeats at most [`sealed_file::CHUNK_LEN`] bytes).
//!
//! Migration of plaintext files (written before sealing): when the store opens, each file
//! without the sealed-file header is sealed into the temporary folder, synced, and renamed
//! over the plaintext file. A kill at any point leaves each blob either plaintext (sealed at
//! the next open) or sealed, never neither; a partial download keeps its complete chunks.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use thiserror::Error;
use tokio::sync::watch;

use crate::at_rest;
use crate::crypto::FileKey;
use crate::ids::BlobHash;
pub use crate::schema::MAX_BLOB_BYTES;
use crate::sealed_file::{self, SealedFileError, SealedReader, SealedWriter};

/// The store's folder inside a project's folder.
pub const BLOBS_DIR: &str = "blobs";
/// The purpose of the data folder's file key that seals blobs
/// ([`DataFolderKey::derive_file_key`](crate::crypto::DataFolderKey::derive_file_key)).
pub const FILE_KEY_PURPOSE: &str = "blobs";
/// Files being written locally, inside [`BLOBS_DIR`].
const TMP_DIR: &str = "tmp";
/// Downloads in progress, inside [`BLOBS_DIR`].
const PARTIAL_DIR: &str = "partial";
/// The suffix of a download in progress.
const PARTIAL_SUFFIX: &str = ".part";
/// Bytes read or written per system call when copying a file into the store.
pub const COPY_BUFFER_BYTES: usize = 256 * 1024;
/// A download flushes what it wrote to the disk in the background every this many bytes,
/// so that the sync before it becomes visible has little left to wait for.
pub const FLUSH_EVERY_BYTES: u64 = 32 * 1024 * 1024;

/// A blob operation that failed. Carries no paths or content.
#[derive(Debug, Error)]
pub enum BlobError {
    /// The device has no space left; nothing was left half-written.
    #[error("not enough free space on the device")]
    DiskFull,
    /// The blob is larger than the limit.
    #[error("blob of {size} bytes is over the limit of {max}")]
    TooLarge {
        /// Its size in bytes.
        size: u64,
        /// The largest size allowed.
        max: u64,
    },
    /// Received bytes do not hash to the blob's name: they were discarded.
    #[error("received blob does not match its hash")]
    HashMismatch,
    /// Received bytes do not continue the blob where it stands, or go past its size.
    #[error("received blob bytes out of place")]
    OutOfPlace,
    /// A stored blob did not authenticate (altered or damaged on the disk, or sealed under
    /// another key): nothing of it was returned.
    #[error("stored blob is damaged or was altered")]
    Damaged,
    /// Any other file system failure.
    #[error("file system error: {0}")]
    Io(io::Error),
}

impl From<io::Error> for BlobError {
    fn from(e: io::Error) -> Self {
        // A sealed reader's or writer's verdict on the bytes travels inside an `io::Error`.
        if sealed_file::is_damage(&e) {
            return BlobError::Damaged;
        }
        // ENOSPC and EDQUOT: the disk (or this user's share of it) is full.
        if matches!(
            e.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
        ) {
            BlobError::DiskFull
        } else {
            BlobError::Io(e)
        }
    }
}

impl From<SealedFileError> for BlobError {
    fn from(e: SealedFileError) -> Self {
        match e {
            SealedFileError::Io(e) => e.into(),
            // A file under a blob's name that is not sealed after the store opened, or sealed
            // by a newer version, cannot be trusted as the blob either.
            SealedFileError::NotSealed
            | SealedFileError::UnsupportedVersion
            | SealedFileError::Damaged => BlobError::Damaged,
        }
    }
}

impl BlobError {
    /// Whether the error is the peer's fault (bad bytes), not this device's.
    pub fn is_bad_data(&self) -> bool {
        matches!(self, BlobError::HashMismatch | BlobError::OutOfPlace)
    }
}

/// A blob written to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredBlob {
    /// Its hash.
    pub hash: BlobHash,
    /// Its size in bytes.
    pub size: u64,
    /// Whether this write added it (false: the store held it already).
    pub added: bool,
}

struct Inner {
    root: PathBuf,
    /// Seals every file of the store.
    key: FileKey,
    /// Complete blobs and their sizes: what the folder holds, read once at open.
    held: Mutex<HashMap<BlobHash, u64>>,
    /// Blobs being received: at most one download of each at a time.
    receiving: Mutex<HashSet<BlobHash>>,
    /// Bumped whenever `held` or `receiving` changes.
    generation: AtomicU64,
    /// Told whenever `held` or `receiving` changes.
    changed: watch::Sender<u64>,
}

/// The blobs of one project.
#[derive(Clone)]
pub struct BlobStore(Arc<Inner>);

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobStore({} blobs)", lock(&self.0.held).len())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps stay consistent whatever panicked while holding them: each change is one call.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Syncs a folder, so that a rename or removal in it survives a power cut.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parse_hash(name: &str) -> Option<BlobHash> {
    name.parse().ok()
}

impl BlobStore {
    /// Opens (creating if needed) the store in `dir`, whose files are sealed under `key`,
    /// removing files a crash left in its temporary folder and sealing in place the plaintext
    /// files of versions before sealing (crash-safe: see the module's note). `changed` is
    /// bumped whenever the held blobs change.
    pub fn open(dir: &Path, key: FileKey, changed: watch::Sender<u64>) -> Result<Self, BlobError> {
        fs::create_dir_all(dir.join(TMP_DIR))?;
        fs::create_dir_all(dir.join(PARTIAL_DIR))?;
        for e in fs::read_dir(dir.join(TMP_DIR))? {
            let e = e?;
            if e.file_type()?.is_file() {
                fs::remove_file(e.path())?;
            }
        }
        let store = BlobStore(Arc::new(Inner {
            root: dir.to_owned(),
            key,
            held: Mutex::new(HashMap::new()),
            receiving: Mutex::new(HashSet::new()),
            generation: AtomicU64::new(0),
            changed,
        }));
        let mut held = HashMap::new();
        for shard in fs::read_dir(dir)? {
            let shard = shard?;
            let name = shard.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.len() != 2 || !shard.file_type()?.is_dir() {
                continue;
            }
            for f in fs::read_dir(shard.path())? {
                let f = f?;
                let file_name = f.file_name();
                let hash = file_name.to_str().and_then(parse_hash);
                match hash {
                    Some(hash) if f.file_type()?.is_file() => {
                        if let Some(size) = store.stored_size(&f.path())? {
                            held.insert(hash, size);
                        }
                    }
                    _ => {}
                }
            }
        }
        *lock(&store.0.held) = held;
        for e in fs::read_dir(dir.join(PARTIAL_DIR))? {
            let e = e?;
            if e.file_type()?.is_file() {
                store.seal_partial_if_plain(&e.path())?;
            }
        }
        Ok(store)
    }

    /// The plaintext size of the complete blob file at `path`, sealing it first if it is
    /// plaintext. `None` if it is sealed but cannot be whole (its length fits no sealed
    /// file): it is then not held, so it is fetched again, and the new copy replaces it.
    fn stored_size(&self, path: &Path) -> Result<Option<u64>, BlobError> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut head = Vec::with_capacity(sealed_file::HEADER_LEN);
        (&mut file)
            .take(sealed_file::HEADER_LEN as u64)
            .read_to_end(&mut head)?;
        if sealed_file::looks_sealed(&head) {
            let size = sealed_file::plain_len(len).ok();
            if size.is_none() {
                tracing::warn!("a stored blob is cut short; it will be fetched again");
            }
            return Ok(size);
        }
        file.seek(SeekFrom::Start(0))?;
        self.seal_in_place(file, path, false)?;
        Ok(Some(len))
    }

    /// Seals the plaintext partial download at `path` in place, keeping its complete
    /// chunks (the bytes after the last one are fetched again).
    fn seal_partial_if_plain(&self, path: &Path) -> Result<(), BlobError> {
        let mut file = File::open(path)?;
        let mut head = Vec::with_capacity(sealed_file::HEADER_LEN);
        (&mut file)
            .take(sealed_file::HEADER_LEN as u64)
            .read_to_end(&mut head)?;
        if head.is_empty() || sealed_file::looks_sealed(&head) {
            return Ok(());
        }
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(0))?;
        let keep = len / sealed_file::CHUNK_LEN as u64 * sealed_file::CHUNK_LEN as u64;
        self.seal_in_place(file.take(keep), path, true)
    }

    /// Seals `plain` into a temporary file, syncs it and renames it over `path` (see
    /// [`at_rest::seal_in_place`]). With `unfinished` (a partial download, cut at a chunk
    /// boundary) the last chunk is sealed as not the last, so that the download resumes
    /// after it.
    fn seal_in_place(
        &self,
        plain: impl Read,
        path: &Path,
        unfinished: bool,
    ) -> Result<(), BlobError> {
        let (file, tmp) = self.temp_file()?;
        let how = if unfinished {
            at_rest::Sealed::Unfinished
        } else {
            at_rest::Sealed::Whole { read_only: true }
        };
        Ok(at_rest::seal_in_place(
            &self.0.key,
            plain,
            file,
            &tmp,
            path,
            how,
        )?)
    }

    /// Tells watchers that what the store holds, or what is wanted of it, changed.
    pub(crate) fn notify(&self) {
        self.0.generation.fetch_add(1, Ordering::SeqCst);
        self.0.changed.send_modify(|n| *n += 1);
    }

    /// A number that changes whenever the held blobs or the downloads in progress change.
    pub fn generation(&self) -> u64 {
        self.0.generation.load(Ordering::SeqCst)
    }

    /// Where the blob `hash` lives (or would live) in the store.
    fn final_path(&self, hash: &BlobHash) -> PathBuf {
        let name = hash.to_string();
        self.0.root.join(&name[..2]).join(name)
    }

    fn partial_path(&self, hash: &BlobHash) -> PathBuf {
        self.0
            .root
            .join(PARTIAL_DIR)
            .join(format!("{hash}{PARTIAL_SUFFIX}"))
    }

    /// Whether the store holds the complete blob.
    pub fn contains(&self, hash: &BlobHash) -> bool {
        lock(&self.0.held).contains_key(hash)
    }

    /// The size of a held blob.
    pub fn size(&self, hash: &BlobHash) -> Option<u64> {
        lock(&self.0.held).get(hash).copied()
    }

    /// Every held blob and its size.
    pub fn held(&self) -> Vec<(BlobHash, u64)> {
        lock(&self.0.held).iter().map(|(h, s)| (*h, *s)).collect()
    }

    /// A new, empty file in the temporary folder.
    fn temp_file(&self) -> Result<(File, PathBuf), BlobError> {
        let name = format!("{}.tmp", hex::encode(crate::crypto::random_bytes::<12>()));
        let path = self.0.root.join(TMP_DIR).join(name);
        let file = OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&path)?;
        Ok((file, path))
    }

    /// Moves a synced file into place as blob `hash` and makes it read-only.
    fn publish(&self, from: &Path, hash: &BlobHash, size: u64) -> Result<(), BlobError> {
        let to = self.final_path(hash);
        let shard = to.parent().unwrap_or(&self.0.root).to_owned();
        fs::create_dir_all(&shard)?;
        let mut perms = fs::metadata(from)?.permissions();
        perms.set_readonly(true);
        fs::set_permissions(from, perms)?;
        fs::rename(from, &to)?;
        // The new name is what must survive a power cut; the old one vanishing with it is
        // the same journal transaction on the file systems phones and laptops use.
        sync_dir(&shard)?;
        lock(&self.0.held).insert(*hash, size);
        self.notify();
        Ok(())
    }

    /// Writes `bytes` as a blob (if not held already). On any failure nothing is left.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<StoredBlob, BlobError> {
        let size = bytes.len() as u64;
        if size > MAX_BLOB_BYTES {
            return Err(BlobError::TooLarge {
                size,
                max: MAX_BLOB_BYTES,
            });
        }
        let hash = BlobHash::from_bytes(*blake3::hash(bytes).as_bytes());
        if self.contains(&hash) {
            return Ok(StoredBlob {
                hash,
                size,
                added: false,
            });
        }
        let (file, tmp) = self.temp_file()?;
        let written = (|| {
            let mut w = SealedWriter::new(&self.0.key, file)?;
            w.write_all(bytes)?;
            let file = w.finish()?;
            file.sync_all()?;
            drop(file);
            self.publish(&tmp, &hash, size)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(StoredBlob {
            hash,
            size,
            added: true,
        })
    }

    /// Copies the file at `source` into the store, hashing it on the way. On any failure
    /// nothing is left.
    pub fn put_file(&self, source: &Path) -> Result<StoredBlob, BlobError> {
        let mut input = File::open(source)?;
        let size = input.metadata()?.len();
        if size > MAX_BLOB_BYTES {
            return Err(BlobError::TooLarge {
                size,
                max: MAX_BLOB_BYTES,
            });
        }
        let (file, tmp) = self.temp_file()?;
        let copied = (|| {
            let mut file = SealedWriter::new(&self.0.key, file)?;
            let mut hasher = blake3::Hasher::new();
            let mut buf = vec![0u8; COPY_BUFFER_BYTES];
            let mut total = 0u64;
            loop {
                let n = input.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                if total > MAX_BLOB_BYTES {
                    return Err(BlobError::TooLarge {
                        size: total,
                        max: MAX_BLOB_BYTES,
                    });
                }
                hasher.update(&buf[..n]);
                file.write_all(&buf[..n])?;
            }
            let hash = BlobHash::from_bytes(*hasher.finalize().as_bytes());
            if self.contains(&hash) {
                return Ok(StoredBlob {
                    hash,
                    size: total,
                    added: false,
                });
            }
            let file = file.finish()?;
            file.sync_all()?;
            drop(file);
            self.publish(&tmp, &hash, total)?;
            Ok(StoredBlob {
                hash,
                size: total,
                added: true,
            })
        })();
        match copied {
            Ok(s) if s.added => Ok(s),
            other => {
                let _ = fs::remove_file(&tmp);
                other
            }
        }
    }

    /// Removes a blob this call added, after a later step of the same operation failed.
    pub(crate) fn remove_added(&self, hash: &BlobHash) {
        let path = self.final_path(hash);
        if lock(&self.0.held).remove(hash).is_some() {
            let _ = fs::remove_file(&path);
            self.notify();
        }
    }

    /// Keeps only the blobs `keep` accepts, deleting the others and every partial download
    /// (a project being left).
    pub fn retain(&self, keep: impl Fn(&BlobHash) -> bool) -> Result<(), BlobError> {
        let gone: Vec<BlobHash> = lock(&self.0.held)
            .keys()
            .filter(|h| !keep(h))
            .copied()
            .collect();
        for hash in &gone {
            match fs::remove_file(self.final_path(hash)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            lock(&self.0.held).remove(hash);
        }
        let receiving = lock(&self.0.receiving).clone();
        for e in fs::read_dir(self.0.root.join(PARTIAL_DIR))? {
            let e = e?;
            let hash = e
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(PARTIAL_SUFFIX))
                .and_then(parse_hash);
            if hash.is_none_or(|h| !receiving.contains(&h)) {
                fs::remove_file(e.path())?;
            }
        }
        self.notify();
        Ok(())
    }

    /// Opens the sealed file of a held blob. `None` if the blob is not held or its file
    /// vanished (it is then forgotten).
    fn sealed_reader(&self, hash: &BlobHash) -> Result<Option<SealedReader<File>>, BlobError> {
        let Some(size) = self.size(hash) else {
            return Ok(None);
        };
        let file = match File::open(self.final_path(hash)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                lock(&self.0.held).remove(hash);
                self.notify();
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let reader = SealedReader::open(&self.0.key, file)?;
        // A file cut (or grown) since the store opened is not the blob.
        if reader.len() != size {
            return Err(BlobError::Damaged);
        }
        Ok(Some(reader))
    }

    /// Opens a held blob for reading: its plaintext, decrypted chunk by chunk as it is read
    /// (a seek costs nothing). `None` if the store does not hold it. Its length is checked
    /// here (the last chunk authenticates it); damage found later comes as an I/O error that
    /// [`BlobError::from`] names [`BlobError::Damaged`].
    pub fn open_blob(&self, hash: &BlobHash) -> Result<Option<BlobReader>, BlobError> {
        let Some(mut reader) = self.sealed_reader(hash)? else {
            return Ok(None);
        };
        reader.verify_len()?;
        reader.seek(SeekFrom::Start(0))?;
        Ok(Some(BlobReader(reader)))
    }

    /// Reads up to `max` bytes of a held blob from `offset`, decrypting only the chunks they
    /// lie in. `None` if the blob is not held (or its file vanished); an empty result at or
    /// past its end; [`BlobError::Damaged`] if the stored bytes do not authenticate (never
    /// other bytes).
    pub fn read_at(
        &self,
        hash: &BlobHash,
        offset: u64,
        max: usize,
    ) -> Result<Option<Vec<u8>>, BlobError> {
        let Some(mut reader) = self.sealed_reader(hash)? else {
            return Ok(None);
        };
        let mut buf = Vec::new();
        reader.read_at_into(offset, max, &mut buf)?;
        Ok(Some(buf))
    }

    /// Starts or resumes receiving blob `hash` of `size` bytes. `None` if the store holds it
    /// already or another download of it is in progress. What arrived before (a `.part`
    /// file) is kept and rehashed, so the download resumes at its end.
    pub fn receive(&self, hash: &BlobHash, size: u64) -> Result<Option<PartialBlob>, BlobError> {
        if size > MAX_BLOB_BYTES {
            return Err(BlobError::TooLarge {
                size,
                max: MAX_BLOB_BYTES,
            });
        }
        if self.contains(hash) || !lock(&self.0.receiving).insert(*hash) {
            return Ok(None);
        }
        // From here on, the claim is released by PartialBlob's drop. The file is opened (and
        // what it holds rehashed) at the first write, so that many claims hold no files.
        let path = self.partial_path(hash);
        let on_disk = fs::metadata(&path).map_or(0, |m| m.len());
        Ok(Some(PartialBlob {
            store: self.clone(),
            hash: *hash,
            size,
            path,
            writer: None,
            hasher: blake3::Hasher::new(),
            offset: resume_point(on_disk, size),
            unflushed: 0,
        }))
    }

    /// How many bytes of blob `hash` a previous download left, if any: those of its
    /// complete sealed chunks, where it resumes.
    pub fn partial_len(&self, hash: &BlobHash) -> u64 {
        fs::metadata(self.partial_path(hash)).map_or(0, |m| sealed_file::resumable_len(m.len()))
    }
}

/// Where a download of `size` bytes whose sealed partial file is `on_disk` bytes long resumes,
/// if every chunk in it authenticates: after its complete chunks, short of the chunk that
/// ends the blob (that one is sealed as the last only once all of it is here).
fn resume_point(on_disk: u64, size: u64) -> u64 {
    let chunk = sealed_file::CHUNK_LEN as u64;
    let before_last = size.saturating_sub(1) / chunk * chunk;
    sealed_file::resumable_len(on_disk).min(before_last)
}

/// A held blob opened for reading ([`BlobStore::open_blob`]): `Read + Seek` over its
/// plaintext, decrypting only the chunks a read covers. A chunk that does not authenticate
/// fails the read with an I/O error that [`BlobError::from`] names [`BlobError::Damaged`];
/// wrong bytes are never returned.
pub struct BlobReader(SealedReader<File>);

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobReader({} bytes)", self.0.len())
    }
}

impl BlobReader {
    /// The blob's size in bytes.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether the blob is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads the rest of the blob from where the reader stands.
    pub fn read_rest(&mut self) -> Result<Vec<u8>, BlobError> {
        let mut out = Vec::with_capacity(usize::try_from(self.len()).unwrap_or(0));
        self.0.read_to_end(&mut out)?;
        Ok(out)
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Seek for BlobReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.0.seek(to)
    }
}

/// A download in progress: at most one per blob at a time. Bytes are appended in order,
/// hashed as they come, sealed chunk by chunk as each fills, and become the blob only if they
/// hash to its name. Dropping it keeps what arrived (its complete chunks) for a later resume.
pub struct PartialBlob {
    store: BlobStore,
    hash: BlobHash,
    size: u64,
    path: PathBuf,
    writer: Option<SealedWriter<File>>,
    hasher: blake3::Hasher,
    offset: u64,
    /// Bytes written since the last background flush.
    unflushed: u64,
}

impl std::fmt::Debug for PartialBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PartialBlob({:?}, {}/{})",
            self.hash, self.offset, self.size
        )
    }
}

impl PartialBlob {
    /// The blob being received.
    pub fn hash(&self) -> BlobHash {
        self.hash
    }

    /// Its full size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How many bytes have arrived: the next write starts here.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Opens the partial file on first use: authenticates and rehashes its complete chunks up
    /// to `offset` (fewer if one does not authenticate) and cuts anything after (see
    /// [`sealed_file::resume`]); the download continues there. Never past `offset`: the
    /// peer was asked from there, and a writer of an earlier session may still be adding
    /// to the file.
    fn open_file(&mut self) -> Result<(), BlobError> {
        if self.writer.is_some() {
            return Ok(());
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)?;
        let mut hasher = blake3::Hasher::new();
        // `resume` keeps the chunks that end before `before`: those within `offset`.
        let before = self.offset.saturating_add(1).min(self.size);
        let writer = sealed_file::resume(&self.store.0.key, file, before, |chunk| {
            hasher.update(chunk);
        })?;
        self.offset = writer.plain_written();
        self.hasher = hasher;
        self.writer = Some(writer);
        Ok(())
    }

    /// Appends bytes that start at `offset`. Bytes out of place are refused
    /// ([`BlobError::OutOfPlace`]) and change nothing.
    pub fn write(&mut self, offset: u64, bytes: &[u8]) -> Result<(), BlobError> {
        self.append(
            offset,
            bytes.len(),
            |writer, more| {
                writer.write_all(bytes)?;
                if more {
                    writer.seal_full()?;
                }
                Ok(())
            },
            Some(bytes),
        )
    }

    /// [`write`](Self::write) without a copy: the bytes are hashed, then sealed where they
    /// lie, so `bytes` holds ciphertext afterwards (unless refused as out of place).
    pub fn write_in_place(&mut self, offset: u64, bytes: &mut [u8]) -> Result<(), BlobError> {
        let len = bytes.len();
        self.check_place(offset, len)?;
        // Hashed before sealing turns them into ciphertext. Should the write fail, the
        // writer is dropped and the next write rehashes what the file kept.
        self.hasher.update(bytes);
        self.append(
            offset,
            len,
            |writer, more| writer.write_in_place(bytes, more),
            None,
        )
    }

    /// Opens the file if need be and checks that `len` bytes at `offset` continue the blob.
    fn check_place(&mut self, offset: u64, len: usize) -> Result<(), BlobError> {
        self.open_file()?;
        let end = offset.saturating_add(len as u64);
        if offset != self.offset || end > self.size || self.writer.is_none() {
            return Err(BlobError::OutOfPlace);
        }
        Ok(())
    }

    /// Appends `len` bytes at `offset` with `write` (given whether more bytes follow),
    /// hashing `plain` if given (else the caller hashed them). A chunk that fills before
    /// the end is sealed at once: a disconnect or a kill then keeps it.
    fn append(
        &mut self,
        offset: u64,
        len: usize,
        write: impl FnOnce(&mut SealedWriter<File>, bool) -> io::Result<()>,
        plain: Option<&[u8]>,
    ) -> Result<(), BlobError> {
        self.check_place(offset, len)?;
        let end = offset + len as u64;
        let writer = self.writer.as_mut().ok_or(BlobError::OutOfPlace)?;
        if let Err(e) = write(writer, end < self.size) {
            // What the writer holds is unknown now: the next write reopens the file, keeping
            // only the chunks that authenticate (and rehashing them).
            self.writer = None;
            let on_disk = fs::metadata(&self.path).map_or(0, |m| m.len());
            self.offset = resume_point(on_disk, self.size);
            return Err(e.into());
        }
        if let Some(plain) = plain {
            self.hasher.update(plain);
        }
        self.offset = end;
        self.unflushed += len as u64;
        if self.unflushed >= FLUSH_EVERY_BYTES {
            self.unflushed = 0;
            // Best effort: if no thread can be had, the final sync does it all.
            if let Ok(dup) = writer.get_ref().try_clone() {
                let _ = std::thread::Builder::new()
                    .name("mapeo-blob-flush".into())
                    .spawn(move || dup.sync_data());
            }
        }
        Ok(())
    }

    /// Whether every byte has arrived.
    pub fn is_complete(&self) -> bool {
        self.offset == self.size
    }

    /// Checks the received bytes against the hash and, if they match, seals the last chunk
    /// and makes them the blob. If they do not, discards them ([`BlobError::HashMismatch`]):
    /// nothing corrupt is ever visible.
    pub fn finish(mut self) -> Result<(), BlobError> {
        self.open_file()?;
        if !self.is_complete() {
            return Err(BlobError::OutOfPlace);
        }
        let writer = self.writer.take().ok_or(BlobError::OutOfPlace)?;
        if self.hasher.finalize().as_bytes() != self.hash.as_bytes() {
            drop(writer);
            fs::remove_file(&self.path)?;
            return Err(BlobError::HashMismatch);
        }
        let file = writer.finish()?;
        file.sync_all()?;
        drop(file);
        self.store.publish(&self.path, &self.hash, self.size)
    }

    /// Throws away what arrived.
    pub fn discard(mut self) {
        self.writer = None;
        let _ = fs::remove_file(&self.path);
    }
}

impl Drop for PartialBlob {
    fn drop(&mut self) {
        lock(&self.store.0.receiving).remove(&self.hash);
        self.store.notify();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;
    use crate::sealed_file::CHUNK_LEN;

    fn key() -> FileKey {
        FileKey::from_bytes([9; 32])
    }

    fn store(dir: &Path) -> BlobStore {
        BlobStore::open(&dir.join(BLOBS_DIR), key(), watch::Sender::new(0)).unwrap()
    }

    fn hash_of(b: &[u8]) -> BlobHash {
        BlobHash::from_bytes(*blake3::hash(b).as_bytes())
    }

    fn read(s: &BlobStore, h: &BlobHash) -> Vec<u8> {
        s.open_blob(h).unwrap().unwrap().read_rest().unwrap()
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// Every file under `dir`, recursively.
    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    out.push(e.path());
                }
            }
        }
        out
    }

    #[test]
    fn blobs_are_stored_once_by_content_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let a = s.put_bytes(b"hello").unwrap();
        assert!(a.added);
        assert_eq!(a.hash, hash_of(b"hello"));
        assert!(!s.put_bytes(b"hello").unwrap().added);
        let src = dir.path().join("src");
        fs::write(&src, b"hello").unwrap();
        assert!(!s.put_file(&src).unwrap().added, "same content, same blob");
        assert_eq!(read(&s, &a.hash), b"hello");
        drop(s);
        let s = store(dir.path());
        assert_eq!(s.held(), vec![(a.hash, 5)]);
        assert_eq!(s.read_at(&a.hash, 1, 3).unwrap().unwrap(), b"ell");
        assert_eq!(s.read_at(&a.hash, 5, 3).unwrap().unwrap(), b"");
        assert!(s.read_at(&hash_of(b"x"), 0, 3).unwrap().is_none());
        assert!(s.open_blob(&hash_of(b"x")).unwrap().is_none());
    }

    #[test]
    fn stored_blobs_hold_no_plaintext_and_ranges_read_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let marker = b"DISTINCTIVE-PHOTO-BYTES-4711";
        let mut d = data(3 * CHUNK_LEN + 1234);
        d[2 * CHUNK_LEN - 10..2 * CHUNK_LEN - 10 + marker.len()].copy_from_slice(marker);
        let src = dir.path().join("video.mp4");
        fs::write(&src, &d).unwrap();
        let by_file = s.put_file(&src).unwrap();
        let by_bytes = s.put_bytes(&d[..CHUNK_LEN + 5]).unwrap();
        fs::remove_file(&src).unwrap();
        for f in files(dir.path()) {
            let raw = fs::read(&f).unwrap();
            assert!(!raw.windows(marker.len()).any(|w| w == marker), "{f:?}");
        }
        assert_eq!(
            s.size(&by_file.hash),
            Some(d.len() as u64),
            "plaintext size"
        );
        assert_eq!(read(&s, &by_file.hash), d);
        assert_eq!(read(&s, &by_bytes.hash), d[..CHUNK_LEN + 5]);
        // A range across a chunk boundary, one inside a chunk, one running past the end.
        for (at, n) in [
            (CHUNK_LEN - 3, 10),
            (2 * CHUNK_LEN + 7, 100),
            (3 * CHUNK_LEN, 5000),
        ] {
            let got = s.read_at(&by_file.hash, at as u64, n).unwrap().unwrap();
            assert_eq!(got, d[at..(at + n).min(d.len())], "{at}+{n}");
            let mut r = s.open_blob(&by_file.hash).unwrap().unwrap();
            assert_eq!(r.len(), d.len() as u64);
            r.seek(SeekFrom::Start(at as u64)).unwrap();
            let mut out = Vec::new();
            (&mut r).take(n as u64).read_to_end(&mut out).unwrap();
            assert_eq!(out, got);
        }
    }

    #[test]
    fn a_flipped_byte_in_a_stored_blob_is_a_typed_error_never_wrong_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let d = data(2 * CHUNK_LEN + 99);
        let b = s.put_bytes(&d).unwrap();
        let path = s.final_path(&b.hash);
        let mut raw = fs::read(&path).unwrap();
        // In the second chunk.
        raw[sealed_file::HEADER_LEN + sealed_file::SEALED_CHUNK_LEN + 500] ^= 0x10;
        let mut perms = fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)] // a test altering a stored file
        perms.set_readonly(false);
        fs::set_permissions(&path, perms).unwrap();
        fs::write(&path, &raw).unwrap();
        // The first chunk is intact and still reads; the second does not.
        assert_eq!(
            s.read_at(&b.hash, 0, 100).unwrap().unwrap(),
            d[..100].to_vec()
        );
        assert!(matches!(
            s.read_at(&b.hash, CHUNK_LEN as u64 + 10, 100),
            Err(BlobError::Damaged)
        ));
        let mut r = s.open_blob(&b.hash).unwrap().unwrap();
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert!(matches!(BlobError::from(err), BlobError::Damaged));
        assert!(out.len() <= CHUNK_LEN, "only the good chunk came out");
        assert_eq!(out, d[..out.len()]);
        // Cut at a chunk boundary: refused when opened, whatever is read.
        let cut = &raw[..sealed_file::HEADER_LEN + sealed_file::SEALED_CHUNK_LEN];
        fs::write(&path, cut).unwrap();
        assert!(matches!(s.open_blob(&b.hash), Err(BlobError::Damaged)));
        assert!(matches!(s.read_at(&b.hash, 0, 10), Err(BlobError::Damaged)));
    }

    #[test]
    fn a_download_resumes_from_its_sealed_chunks_and_only_verified_bytes_become_visible() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let data = data(3 * CHUNK_LEN + 10_000);
        let h = hash_of(&data);
        let mut p = s.receive(&h, data.len() as u64).unwrap().unwrap();
        assert!(
            s.receive(&h, data.len() as u64).unwrap().is_none(),
            "one download at a time"
        );
        let cut = 2 * CHUNK_LEN + 4000;
        p.write(0, &data[..1000]).unwrap();
        p.write(1000, &data[1000..cut]).unwrap();
        assert!(matches!(
            p.write(0, &data[..10]),
            Err(BlobError::OutOfPlace)
        ));
        drop(p);
        assert!(!s.contains(&h));
        let raw = fs::read(s.partial_path(&h)).unwrap();
        assert!(
            sealed_file::looks_sealed(&raw),
            "partial bytes are sealed too"
        );
        assert!(
            !raw.windows(64)
                .any(|w| w == &data[CHUNK_LEN..CHUNK_LEN + 64])
        );
        assert_eq!(s.partial_len(&h), 2 * CHUNK_LEN as u64);
        let mut p = s.receive(&h, data.len() as u64).unwrap().unwrap();
        assert_eq!(
            p.offset(),
            2 * CHUNK_LEN as u64,
            "resumes after the last complete chunk"
        );
        p.write(p.offset(), &data[2 * CHUNK_LEN..]).unwrap();
        p.finish().unwrap();
        assert_eq!(read(&s, &h), data);
        assert!(s.receive(&h, data.len() as u64).unwrap().is_none());
        assert_eq!(s.partial_len(&h), 0);

        let bad = vec![7u8; 100];
        let h2 = hash_of(
            b"something else of 100 bytes, padded...........................................",
        );
        let mut p = s.receive(&h2, 100).unwrap().unwrap();
        p.write(0, &bad).unwrap();
        assert!(matches!(p.finish(), Err(BlobError::HashMismatch)));
        assert!(!s.contains(&h2));
        assert_eq!(s.partial_len(&h2), 0, "bad bytes are discarded");
    }

    #[test]
    fn a_download_sealed_in_place_resumes_and_verifies_like_one_copied() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let data = data(5 * CHUNK_LEN + 300);
        let h = hash_of(&data);
        let mut p = s.receive(&h, data.len() as u64).unwrap().unwrap();
        // Pieces larger than a chunk, not aligned to chunks, as a peer may send them.
        let piece = 2 * CHUNK_LEN + 7;
        let mut first = data[..piece].to_vec();
        p.write_in_place(0, &mut first).unwrap();
        assert_ne!(first, data[..piece], "sealed where it lay");
        let mut wrong = data[..10].to_vec();
        assert!(matches!(
            p.write_in_place(0, &mut wrong),
            Err(BlobError::OutOfPlace)
        ));
        assert_eq!(wrong, data[..10], "bytes refused are left alone");
        let mut second = data[piece..2 * piece].to_vec();
        p.write_in_place(piece as u64, &mut second).unwrap();
        drop(p);
        assert!(!s.contains(&h));
        assert_eq!(s.partial_len(&h), 4 * CHUNK_LEN as u64);
        let mut p = s.receive(&h, data.len() as u64).unwrap().unwrap();
        let at = p.offset() as usize;
        assert_eq!(at, 4 * CHUNK_LEN);
        let mut rest = data[at..].to_vec();
        p.write_in_place(at as u64, &mut rest).unwrap();
        p.finish().unwrap();
        assert_eq!(read(&s, &h), data);

        // The same bytes with one changed, under the first one's name: never visible.
        let mut forged = data.clone();
        forged[3 * CHUNK_LEN + 1] ^= 1;
        let other = data.iter().map(|b| b ^ 0x55).collect::<Vec<u8>>();
        let h2 = hash_of(&other);
        let mut p = s.receive(&h2, other.len() as u64).unwrap().unwrap();
        p.write_in_place(0, &mut forged).unwrap();
        assert!(matches!(p.finish(), Err(BlobError::HashMismatch)));
        assert!(!s.contains(&h2));
        assert_eq!(s.partial_len(&h2), 0);
    }

    #[test]
    fn a_partial_file_altered_on_disk_resumes_before_the_damage() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let data = data(4 * CHUNK_LEN);
        let h = hash_of(&data);
        let mut p = s.receive(&h, data.len() as u64).unwrap().unwrap();
        p.write(0, &data[..3 * CHUNK_LEN + 1]).unwrap();
        drop(p);
        let path = s.partial_path(&h);
        let mut raw = fs::read(&path).unwrap();
        raw[sealed_file::HEADER_LEN + sealed_file::SEALED_CHUNK_LEN + 3] ^= 1;
        fs::write(&path, &raw).unwrap();
        let mut p = s.receive(&h, data.len() as u64).unwrap().unwrap();
        // Opened at the first write: only the chunk before the damage is kept.
        assert!(matches!(
            p.write(p.offset(), &data[3 * CHUNK_LEN..]),
            Err(BlobError::OutOfPlace)
        ));
        assert_eq!(p.offset(), CHUNK_LEN as u64);
        p.write(CHUNK_LEN as u64, &data[CHUNK_LEN..]).unwrap();
        p.finish().unwrap();
        assert_eq!(read(&s, &h), data);
    }

    #[test]
    fn plaintext_blobs_and_partials_from_before_are_sealed_in_place_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(BLOBS_DIR);
        let big = data(2 * CHUNK_LEN + 77);
        let small = b"a small plaintext photo".to_vec();
        let mut plain = Vec::new();
        for d in [&big, &small] {
            let h = hash_of(d);
            let name = h.to_string();
            fs::create_dir_all(root.join(&name[..2])).unwrap();
            fs::write(root.join(&name[..2]).join(&name), d).unwrap();
            plain.push((h, d.clone()));
        }
        let partial = data(3 * CHUNK_LEN + 500);
        let ph = hash_of(&partial);
        fs::create_dir_all(root.join(PARTIAL_DIR)).unwrap();
        fs::write(
            root.join(PARTIAL_DIR).join(format!("{ph}{PARTIAL_SUFFIX}")),
            &partial[..2 * CHUNK_LEN + 100],
        )
        .unwrap();
        for round in 0..2 {
            let s = store(dir.path());
            for (h, d) in &plain {
                assert_eq!(s.size(h), Some(d.len() as u64), "round {round}");
                assert_eq!(&read(&s, h), d, "round {round}");
            }
            for f in files(&root) {
                let raw = fs::read(&f).unwrap();
                assert!(sealed_file::looks_sealed(&raw), "{f:?} round {round}");
                assert!(!raw.windows(64).any(|w| w == &big[1000..1064]));
            }
            assert_eq!(s.partial_len(&ph), 2 * CHUNK_LEN as u64);
        }
        let s = store(dir.path());
        let mut p = s.receive(&ph, partial.len() as u64).unwrap().unwrap();
        assert_eq!(p.offset(), 2 * CHUNK_LEN as u64);
        p.write(p.offset(), &partial[2 * CHUNK_LEN..]).unwrap();
        p.finish().unwrap();
        assert_eq!(read(&s, &ph), partial);
    }

    #[test]
    fn a_crash_leaves_no_temporary_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let (_f, path) = s.temp_file().unwrap();
        assert!(path.exists());
        drop(s);
        let _s = store(dir.path());
        assert!(!path.exists());
    }
}
