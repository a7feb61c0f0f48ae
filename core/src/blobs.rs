//! Content-addressed files of one project — photos, audio, video and their variants — each
//! named by the blake3 hash of its bytes, one copy per content. Owns the folder layout, writes
//! through a temporary file that is synced and renamed into place (a crash never leaves a half
//! file under a blob's name), keeps partial downloads for resuming at an offset, verifies them
//! before they become visible, and turns a full disk into a typed error. Knows nothing of
//! documents, policies or peers.
//!
//! Layout under the project's folder:
//! - `blobs/<first two hex digits>/<hash hex>`: complete, verified blobs (read-only files);
//! - `blobs/tmp/`: files being written locally; emptied when the store opens;
//! - `blobs/partial/<hash hex>.part`: downloads in progress, resumed at their length.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use thiserror::Error;
use tokio::sync::watch;

use crate::ids::BlobHash;
pub use crate::schema::MAX_BLOB_BYTES;

/// The store's folder inside a project's folder.
pub const BLOBS_DIR: &str = "blobs";
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
    /// Any other file system failure.
    #[error("file system error: {0}")]
    Io(io::Error),
}

impl From<io::Error> for BlobError {
    fn from(e: io::Error) -> Self {
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
    /// Opens (creating if needed) the store in `dir`, removing files a crash left in its
    /// temporary folder. `changed` is bumped whenever the held blobs change.
    pub fn open(dir: &Path, changed: watch::Sender<u64>) -> Result<Self, BlobError> {
        fs::create_dir_all(dir.join(TMP_DIR))?;
        fs::create_dir_all(dir.join(PARTIAL_DIR))?;
        for e in fs::read_dir(dir.join(TMP_DIR))? {
            let e = e?;
            if e.file_type()?.is_file() {
                fs::remove_file(e.path())?;
            }
        }
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
                        held.insert(hash, f.metadata()?.len());
                    }
                    _ => {}
                }
            }
        }
        Ok(BlobStore(Arc::new(Inner {
            root: dir.to_owned(),
            held: Mutex::new(held),
            receiving: Mutex::new(HashSet::new()),
            generation: AtomicU64::new(0),
            changed,
        })))
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

    /// The path of a complete blob, for reading; `None` if the store does not hold it.
    pub fn path(&self, hash: &BlobHash) -> Option<PathBuf> {
        self.contains(hash).then(|| self.final_path(hash))
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
        let (mut file, tmp) = self.temp_file()?;
        let written = (|| {
            file.write_all(bytes)?;
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
        let (mut file, tmp) = self.temp_file()?;
        let copied = (|| {
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
            file.sync_all()?;
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

    /// Reads up to `max` bytes of a held blob from `offset`. `None` if the blob is not held
    /// (or its file vanished); an empty result at or past its end.
    pub fn read_at(
        &self,
        hash: &BlobHash,
        offset: u64,
        max: usize,
    ) -> Result<Option<Vec<u8>>, BlobError> {
        let Some(size) = self.size(hash) else {
            return Ok(None);
        };
        let mut file = match File::open(self.final_path(hash)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                lock(&self.0.held).remove(hash);
                self.notify();
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let want = size.saturating_sub(offset).min(max as u64);
        let mut buf = Vec::with_capacity(usize::try_from(want).unwrap_or(max));
        file.seek(SeekFrom::Start(offset))?;
        // Into spare capacity: no zeroing first. Stops short if the file is shorter now.
        file.take(want).read_to_end(&mut buf)?;
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
        let offset = fs::metadata(&path).map_or(0, |m| m.len());
        Ok(Some(PartialBlob {
            store: self.clone(),
            hash: *hash,
            size,
            path,
            file: None,
            hasher: blake3::Hasher::new(),
            offset: if offset > size { 0 } else { offset },
            unflushed: 0,
        }))
    }

    /// How many bytes of blob `hash` a previous download left, if any.
    pub fn partial_len(&self, hash: &BlobHash) -> u64 {
        fs::metadata(self.partial_path(hash)).map_or(0, |m| m.len())
    }
}

/// A download in progress: at most one per blob at a time. Bytes are appended in order,
/// hashed as they come, and become the blob only if they hash to its name. Dropping it
/// keeps what arrived for a later resume.
pub struct PartialBlob {
    store: BlobStore,
    hash: BlobHash,
    size: u64,
    path: PathBuf,
    file: Option<File>,
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

    /// Opens the partial file on first use: rehashes what it holds up to `offset` (less if
    /// it is shorter now) and cuts anything after.
    fn open_file(&mut self) -> Result<&mut File, BlobError> {
        if self.file.is_none() {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&self.path)?;
            let mut buf = vec![0u8; COPY_BUFFER_BYTES];
            let mut hasher = blake3::Hasher::new();
            let mut read = 0u64;
            while read < self.offset {
                let want = (self.offset - read).min(buf.len() as u64) as usize;
                let n = file.read(&mut buf[..want])?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                read += n as u64;
            }
            file.set_len(read)?;
            file.seek(SeekFrom::Start(read))?;
            self.hasher = hasher;
            self.offset = read;
            self.file = Some(file);
        }
        self.file.as_mut().ok_or(BlobError::OutOfPlace)
    }

    /// Appends bytes that start at `offset`. Bytes out of place are refused
    /// ([`BlobError::OutOfPlace`]) and change nothing.
    pub fn write(&mut self, offset: u64, bytes: &[u8]) -> Result<(), BlobError> {
        self.open_file()?;
        let end = offset.saturating_add(bytes.len() as u64);
        if offset != self.offset || end > self.size {
            return Err(BlobError::OutOfPlace);
        }
        let file = self.file.as_mut().ok_or(BlobError::OutOfPlace)?;
        if let Err(e) = file.write_all(bytes) {
            // Leave the file exactly as long as what was hashed.
            let _ = file.set_len(self.offset);
            let _ = file.seek(SeekFrom::Start(self.offset));
            return Err(e.into());
        }
        self.hasher.update(bytes);
        self.offset = end;
        self.unflushed += bytes.len() as u64;
        if self.unflushed >= FLUSH_EVERY_BYTES {
            self.unflushed = 0;
            // Best effort: if no thread can be had, the final sync does it all.
            if let Ok(dup) = file.try_clone() {
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

    /// Checks the received bytes against the hash and, if they match, makes them the blob.
    /// If they do not, discards them ([`BlobError::HashMismatch`]): nothing corrupt is ever
    /// visible.
    pub fn finish(mut self) -> Result<(), BlobError> {
        self.open_file()?;
        if !self.is_complete() {
            return Err(BlobError::OutOfPlace);
        }
        let file = self.file.take().ok_or(BlobError::OutOfPlace)?;
        if self.hasher.finalize().as_bytes() != self.hash.as_bytes() {
            drop(file);
            fs::remove_file(&self.path)?;
            return Err(BlobError::HashMismatch);
        }
        file.sync_all()?;
        drop(file);
        self.store.publish(&self.path, &self.hash, self.size)
    }

    /// Throws away what arrived.
    pub fn discard(mut self) {
        self.file = None;
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

    fn store(dir: &Path) -> BlobStore {
        BlobStore::open(&dir.join(BLOBS_DIR), watch::Sender::new(0)).unwrap()
    }

    fn hash_of(b: &[u8]) -> BlobHash {
        BlobHash::from_bytes(*blake3::hash(b).as_bytes())
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
        assert_eq!(fs::read(s.path(&a.hash).unwrap()).unwrap(), b"hello");
        drop(s);
        let s = store(dir.path());
        assert_eq!(s.held(), vec![(a.hash, 5)]);
        assert_eq!(s.read_at(&a.hash, 1, 3).unwrap().unwrap(), b"ell");
        assert_eq!(s.read_at(&a.hash, 5, 3).unwrap().unwrap(), b"");
        assert!(s.read_at(&hash_of(b"x"), 0, 3).unwrap().is_none());
    }

    #[test]
    fn a_download_resumes_and_only_verified_bytes_become_visible() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let h = hash_of(&data);
        let mut p = s.receive(&h, data.len() as u64).unwrap().unwrap();
        assert!(
            s.receive(&h, data.len() as u64).unwrap().is_none(),
            "one download at a time"
        );
        p.write(0, &data[..4000]).unwrap();
        assert!(matches!(
            p.write(0, &data[..10]),
            Err(BlobError::OutOfPlace)
        ));
        drop(p);
        assert!(s.path(&h).is_none());
        let mut p = s.receive(&h, data.len() as u64).unwrap().unwrap();
        assert_eq!(p.offset(), 4000, "resumes where it stopped");
        p.write(4000, &data[4000..]).unwrap();
        p.finish().unwrap();
        assert_eq!(fs::read(s.path(&h).unwrap()).unwrap(), data);
        assert!(s.receive(&h, data.len() as u64).unwrap().is_none());

        let bad = vec![7u8; 100];
        let h2 = hash_of(
            b"something else of 100 bytes, padded...........................................",
        );
        let mut p = s.receive(&h2, 100).unwrap().unwrap();
        p.write(0, &bad).unwrap();
        assert!(matches!(p.finish(), Err(BlobError::HashMismatch)));
        assert!(s.path(&h2).is_none());
        assert_eq!(s.partial_len(&h2), 0, "bad bytes are discarded");
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
