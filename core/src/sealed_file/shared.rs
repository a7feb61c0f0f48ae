//! A sealed file read at random by several threads at once through a bounded cache of its
//! decrypted chunks: what the SQLite connections on one map package share, so that a chunk
//! one of them decrypted serves the page reads of all until it is evicted. Owns the cache and
//! its bound; the format and the decryption stay in [`super`].

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::sync::{Arc, Mutex, MutexGuard};

use zeroize::Zeroizing;

use super::{
    CHUNK_LEN, ReadAt, SEALED_CHUNK_LEN, SealedFileError, Sealer, open_header, read_chunk,
};
use crate::crypto::FileKey;

/// One decrypted chunk, zeroized when the cache and the last reader holding it let go of it.
type Chunk = Arc<Zeroizing<Vec<u8>>>;

/// A complete sealed file open for positioned reads from any thread. A read takes the chunks
/// it covers from the cache, or reads (positioned, no lock) and decrypts them and caches them.
/// At most `capacity` chunks are cached or being read, the least recently used evicted first;
/// a chunk that does not authenticate is never cached, so every read of it fails again.
pub struct SharedSealedReader<R: ReadAt> {
    inner: R,
    sealer: Sealer,
    /// Plaintext length, from the file's length.
    len: u64,
    chunks: u64,
    cache: Mutex<ChunkCache>,
}

/// The chunk one reader of a [`SharedSealedReader`] read last: its next reads within that
/// chunk (SQLite reads a chunk's pages one by one) take it from here, without the cache's
/// lock. Holds one chunk's plaintext at most, zeroized when let go.
#[derive(Default)]
pub struct LastChunk(Option<(u64, Chunk)>);

impl<R: ReadAt> std::fmt::Debug for SharedSealedReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedSealedReader({} bytes)", self.len)
    }
}

impl<R: ReadAt + Read + Seek> SharedSealedReader<R> {
    /// Opens a sealed file: reads its header and its length. Up to `capacity` decrypted chunks
    /// (at least one) are kept for later reads.
    pub fn open(key: &FileKey, mut inner: R, capacity: usize) -> Result<Self, SealedFileError> {
        let (sealer, len, chunks) = open_header(key, &mut inner)?;
        Ok(SharedSealedReader {
            inner,
            sealer,
            len,
            chunks,
            cache: Mutex::new(ChunkCache::new(capacity.max(1))),
        })
    }
}

impl<R: ReadAt> SharedSealedReader<R> {
    /// The plaintext length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the plaintext is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many decrypted chunks the cache holds now.
    pub fn cached_chunks(&self) -> usize {
        lock(&self.cache).entries.len()
    }

    /// Checks the last chunk, which authenticates the length: a file cut at a chunk boundary
    /// fails here rather than at the end of a read.
    pub fn verify_len(&self) -> Result<(), SealedFileError> {
        self.chunk(self.chunks.saturating_sub(1)).map(drop)
    }

    /// Reads plaintext from `offset` into `out`: all of `out` unless the file ends first.
    /// Returns how many bytes were read. `last` is the caller's own, kept from one read to the
    /// next. A chunk that does not authenticate fails the read, never gives other bytes.
    pub fn read_at(
        &self,
        offset: u64,
        out: &mut [u8],
        last: &mut LastChunk,
    ) -> Result<usize, SealedFileError> {
        let mut done = 0;
        while done < out.len() {
            let pos = offset.saturating_add(done as u64);
            if pos >= self.len {
                break;
            }
            let index = pos / CHUNK_LEN as u64;
            let chunk = match &last.0 {
                Some((i, chunk)) if *i == index => chunk,
                _ => {
                    // Let go of the previous chunk first: evicted, it is zeroized now.
                    last.0 = None;
                    &last.0.insert((index, self.chunk(index)?)).1
                }
            };
            let within = (pos - index * CHUNK_LEN as u64) as usize;
            let n = (chunk.len() - within).min(out.len() - done);
            out[done..done + n].copy_from_slice(&chunk[within..within + n]);
            done += n;
        }
        Ok(done)
    }

    fn chunk(&self, index: u64) -> Result<Chunk, SealedFileError> {
        if let Some(chunk) = lock(&self.cache).get(index) {
            return Ok(chunk);
        }
        // Dropped on failure (after the cache's lock), so the ciphertext or partial plaintext
        // is zeroized too.
        let mut buf = lock(&self.cache).spare();
        let opened = read_chunk(self.len, self.chunks, index, &mut buf, |at, b| {
            self.inner.read_exact_at(b, at)
        })
        .and_then(|last| self.sealer.open(index, last, &mut buf));
        let mut cache = lock(&self.cache);
        cache.reading -= 1;
        opened?;
        Ok(cache.insert(index, Arc::new(buf)))
    }
}

/// The decrypted chunks of one file, least recently used evicted first. Chunks being read
/// count against the capacity too, so that concurrent misses each evict one chunk (and reuse
/// its buffer) instead of overfilling the cache and evicting later.
struct ChunkCache {
    capacity: usize,
    /// Counts uses; an entry's stamp is the count at its last use.
    clock: u64,
    entries: HashMap<u64, (Chunk, u64)>,
    /// Chunks being read and decrypted into a buffer from [`ChunkCache::spare`].
    reading: usize,
}

impl ChunkCache {
    fn new(capacity: usize) -> Self {
        ChunkCache {
            capacity,
            clock: 0,
            entries: HashMap::with_capacity(capacity),
            reading: 0,
        }
    }

    fn get(&mut self, index: u64) -> Option<Chunk> {
        self.clock += 1;
        let (chunk, used) = self.entries.get_mut(&index)?;
        *used = self.clock;
        Some(chunk.clone())
    }

    /// A buffer for a chunk about to be read: when the cache is full, that of the least
    /// recently used chunk no reader holds, evicted (its plaintext is overwritten by the next
    /// chunk read into it, at once); a new one otherwise. Reusing the buffer spares a chunk's
    /// zeroizing and allocation on every miss, which cost as much as a third of its
    /// decryption. A reader's chunk is evicted last: taking it, when its connection idled
    /// long enough for it to be the oldest, meant a new buffer, and the one held freed later.
    fn spare(&mut self) -> Zeroizing<Vec<u8>> {
        let full = self.entries.len() + self.reading >= self.capacity;
        self.reading += 1;
        if full {
            // Readers take chunks only under this lock, so one that none holds stays so.
            let free = self
                .entries
                .iter()
                .filter(|(_, (chunk, _))| Arc::strong_count(chunk) == 1)
                .min_by_key(|(_, (_, used))| *used)
                .map(|(i, _)| *i);
            if let Some((chunk, _)) = free.and_then(|i| self.entries.remove(&i))
                && let Ok(buf) = Arc::try_unwrap(chunk)
            {
                return buf;
            }
            // Every chunk held (more readers than chunks): the bound still holds.
            self.evict();
        }
        Zeroizing::new(Vec::with_capacity(SEALED_CHUNK_LEN))
    }

    /// Caches a chunk just read; returns the cached copy (another read's, when two read the
    /// same chunk at once).
    fn insert(&mut self, index: u64, chunk: Chunk) -> Chunk {
        self.clock += 1;
        if let Some((cached, used)) = self.entries.get_mut(&index) {
            *used = self.clock;
            return cached.clone();
        }
        if self.entries.len() >= self.capacity {
            self.evict();
        }
        self.entries.insert(index, (chunk.clone(), self.clock));
        chunk
    }

    /// Removes the least recently used chunk. A linear scan: the cache is small, and a miss
    /// costs a whole chunk's decryption.
    fn evict(&mut self) -> Option<Chunk> {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, (_, used))| *used)
            .map(|(i, _)| *i)?;
        self.entries.remove(&oldest).map(|(chunk, _)| chunk)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere cannot leave the cache half-changed.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;
    use crate::sealed_file::{HEADER_LEN, seal_stream};
    use proptest::prelude::*;
    use std::io::{Cursor, SeekFrom};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key() -> FileKey {
        FileKey::from_bytes([9; 32])
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn seal(d: &[u8]) -> Vec<u8> {
        seal_stream(&key(), d, Vec::new()).unwrap().1
    }

    /// A sealed file in memory that counts its positioned reads: one per chunk read.
    struct Mem {
        bytes: Cursor<Vec<u8>>,
        reads: Arc<AtomicUsize>,
    }

    impl Mem {
        fn new(bytes: Vec<u8>) -> Self {
            Mem {
                bytes: Cursor::new(bytes),
                reads: Arc::default(),
            }
        }
    }

    impl Read for Mem {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.bytes.read(buf)
        }
    }

    impl Seek for Mem {
        fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
            self.bytes.seek(to)
        }
    }

    impl ReadAt for Mem {
        fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            let from = usize::try_from(offset).unwrap();
            let got = self
                .bytes
                .get_ref()
                .get(from..from + buf.len())
                .ok_or(std::io::ErrorKind::UnexpectedEof)?;
            buf.copy_from_slice(got);
            Ok(())
        }
    }

    /// Opens `sealed` with a cache of `capacity`; also returns its count of chunk reads.
    fn counted(sealed: Vec<u8>, capacity: usize) -> (SharedSealedReader<Mem>, impl Fn() -> usize) {
        let mem = Mem::new(sealed);
        let reads = mem.reads.clone();
        let r = SharedSealedReader::open(&key(), mem, capacity).unwrap();
        (r, move || reads.load(Ordering::Relaxed))
    }

    /// A page of chunk `chunk`, read as a new reader would (through the cache).
    fn page(r: &SharedSealedReader<Mem>, chunk: usize) -> Result<Vec<u8>, SealedFileError> {
        let mut out = vec![0u8; 4096];
        let n = r.read_at(
            (chunk * CHUNK_LEN + 100) as u64,
            &mut out,
            &mut LastChunk::default(),
        )?;
        out.truncate(n);
        Ok(out)
    }

    #[test]
    fn a_cached_chunk_is_not_read_again_and_the_least_recently_used_goes_first() {
        let d = data(6 * CHUNK_LEN);
        let (r, reads) = counted(seal(&d), 2);
        page(&r, 0).unwrap();
        page(&r, 0).unwrap();
        assert_eq!(reads(), 1, "the second read of chunk 0 came from the cache");
        page(&r, 1).unwrap();
        page(&r, 0).unwrap();
        page(&r, 2).unwrap(); // evicts chunk 1, used less recently than chunk 0
        assert_eq!(reads(), 3);
        assert_eq!(page(&r, 0).unwrap(), d[100..100 + 4096]);
        assert_eq!(reads(), 3, "chunk 0 stayed");
        page(&r, 1).unwrap();
        assert_eq!(reads(), 4, "chunk 1 was evicted");
        assert_eq!(r.cached_chunks(), 2);
    }

    #[test]
    fn a_chunk_a_reader_holds_is_evicted_last() {
        let d = data(6 * CHUNK_LEN);
        let (r, reads) = counted(seal(&d), 2);
        // An idle connection's last chunk: the oldest in the cache.
        let mut idle = LastChunk::default();
        r.read_at(100, &mut [0u8; 10], &mut idle).unwrap();
        page(&r, 1).unwrap();
        page(&r, 2).unwrap(); // evicts chunk 1, which no reader holds, not chunk 0
        assert_eq!(reads(), 3);
        assert_eq!(page(&r, 0).unwrap(), d[100..100 + 4096]);
        assert_eq!(reads(), 3, "chunk 0 stayed");
        page(&r, 1).unwrap();
        assert_eq!(reads(), 4, "chunk 1 was evicted");
        assert!(r.cached_chunks() <= 2);
        drop(idle);
    }

    #[test]
    fn a_damaged_chunk_fails_every_read_and_is_never_cached() {
        let d = data(4 * CHUNK_LEN);
        let mut s = seal(&d);
        s[HEADER_LEN + 2 * SEALED_CHUNK_LEN + 7] ^= 1;
        let (r, reads) = counted(s, 8);
        page(&r, 1).unwrap();
        for attempt in 1..=3 {
            assert!(
                matches!(page(&r, 2), Err(SealedFileError::Damaged)),
                "attempt {attempt}"
            );
            assert_eq!(reads(), 1 + attempt, "read from the file each time");
            assert_eq!(r.cached_chunks(), 1, "only chunk 1 is cached");
        }
        // A read that spans a good chunk and the damaged one fails whole.
        let mut out = vec![0u8; 8192];
        let across = (2 * CHUNK_LEN - 4096) as u64;
        let mut last = LastChunk::default();
        assert!(r.read_at(across, &mut out, &mut last).is_err());
        assert!(r.read_at(across, &mut out, &mut last).is_err(), "and again");
        assert_eq!(
            page(&r, 3).unwrap(),
            d[3 * CHUNK_LEN + 100..3 * CHUNK_LEN + 100 + 4096]
        );
    }

    #[test]
    fn threads_sharing_a_small_cache_read_the_plaintext() {
        let d = Arc::new(data(9 * CHUNK_LEN + 1234));
        let r = Arc::new(SharedSealedReader::open(&key(), Mem::new(seal(&d)), 3).unwrap());
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let (r, d) = (r.clone(), d.clone());
                std::thread::spawn(move || {
                    let mut last = LastChunk::default();
                    let mut state = t * 0x9E37_79B9 + 1;
                    for _ in 0..300 {
                        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                        let page = (state >> 33) % (d.len() as u64 / 4096 + 1);
                        let mut out = vec![0u8; 4096];
                        let n = r.read_at(page * 4096, &mut out, &mut last).unwrap();
                        let at = (page * 4096) as usize;
                        assert_eq!(out[..n], d[at..(at + 4096).min(d.len())]);
                        assert!(r.cached_chunks() <= 3);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn any_reads_through_the_cache_equal_the_plaintext_and_stay_within_its_bound(
            len in 0usize..(6 * CHUNK_LEN + 100),
            capacity in 1usize..4,
            reads in prop::collection::vec((0u64..(7 * CHUNK_LEN as u64), 0usize..(2 * CHUNK_LEN)), 1..24),
        ) {
            let d = data(len);
            let r = SharedSealedReader::open(&key(), Mem::new(seal(&d)), capacity).unwrap();
            prop_assert_eq!(r.len(), len as u64);
            let mut last = LastChunk::default();
            for (at, n) in reads {
                let mut out = vec![0u8; n];
                let got = r.read_at(at, &mut out, &mut last).unwrap();
                let start = (at as usize).min(len);
                let end = (start + n).min(len);
                prop_assert_eq!(&out[..got], &d[start..end]);
                prop_assert!(r.cached_chunks() <= capacity);
            }
        }
    }
}
