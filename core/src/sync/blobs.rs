//! Blob transfer with one peer for one shared project (DESIGN §6.5): which blobs each side
//! holds (`BlobHave`), which ones this device asks for (those its policy wants, the peer
//! holds and no other session is already fetching), chunks streamed from an offset so an
//! interrupted transfer resumes, bytes verified against the hash before they become a blob,
//! and a peer whose bytes do not verify asked again only later. Keeps the per-peer blob
//! counts of the progress. The session (`session.rs`) owns the connection and calls in here;
//! storage is reached only through [`Replica`].

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::message::{BLOB_CHUNK_BYTES, BlobAt, MAX_BLOBS_PER_MESSAGE, Message, ProjectTag};
use super::{PeerSyncState, Replica, SyncError};
use crate::blobs::{BlobError, PartialBlob};
use crate::ids::BlobHash;

/// First wait before asking a peer again for a blob it failed to deliver.
pub const BLOB_RETRY_BASE: Duration = Duration::from_secs(10);
/// Longest wait before asking a peer again.
pub const BLOB_RETRY_MAX: Duration = Duration::from_secs(600);
/// Most blob requests from one peer queued at once; beyond it, requests are answered as
/// missing (the peer asks again later).
pub const MAX_QUEUED_BLOB_REQUESTS: usize = 100_000;
/// Chunks received from one peer but not yet written to the disk, across all downloads.
/// The session hands chunks to each download's writer and reads on; it waits only when
/// this many are queued, which bounds the memory a session holds (at most this many chunks
/// of `MAX_BLOB_CHUNK_BYTES`) while the previous blobs are still being written and synced.
pub const CHUNKS_IN_FLIGHT_PER_SESSION: usize = 16;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SyncError> + Send + 'static,
) -> Result<T, SyncError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SyncError::Store(e.to_string()))?
}

/// A download from this peer: claimed (no other session fetches it) and asked for.
struct Fetch {
    /// Tells this download's reports from those of an earlier download of the same blob.
    id: u64,
    writer: Writer,
    size: u64,
    /// Bytes that have arrived (or had arrived before this session).
    offset: u64,
}

/// Who writes a download's bytes.
enum Writer {
    /// No chunk arrived yet: the claim waits here, holding no file and no thread.
    Idle(Box<PartialBlob>),
    /// A worker on the blocking pool writes the queued chunks in order, then verifies, syncs
    /// and renames the blob. Dropping the sender ends it once the queue is written; what it
    /// wrote stays for a later resume.
    Busy(tokio::sync::mpsc::Sender<Chunk>),
}

/// A chunk handed to a download's writer.
struct Chunk {
    offset: u64,
    size: u64,
    data: bytes::Bytes,
    /// The chunk's place in the session's window, given back once it is written.
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// A blob the peer asked for.
#[derive(Debug, Clone, Copy)]
struct Serve {
    hash: BlobHash,
    offset: u64,
    size: u64,
}

/// When to ask this peer again for a blob it failed to deliver.
#[derive(Debug, Clone, Copy)]
struct Failure {
    retry_at: Instant,
    attempts: u32,
}

/// Whether blobs move between us and the peer now, each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlobFlow {
    /// We take blobs from the peer (data flows, and its role lets it send).
    pub inbound: bool,
    /// We give blobs to the peer (data flows, it may read, and our role lets us send).
    pub outbound: bool,
    /// We tell the peer which blobs we hold (it may read the blob index). Like a `Have`,
    /// this does not wait for data sync: the peer must know what we hold before it can
    /// tell whether it is synced.
    pub announce: bool,
}

/// What wakes the session when a download has been verified (it then collects the result).
pub(crate) type Wake = Arc<dyn Fn() + Send + Sync>;

/// A verified (or refused) download, reported by the writer that finished it: the blob,
/// the download's id and how it ended.
type Finished = (BlobHash, u64, Result<(), BlobError>);

/// The blob side of one shared project with one peer.
pub(crate) struct BlobLink {
    /// Blobs the peer said it holds.
    peer_has: HashSet<BlobHash>,
    /// The peer finished its first `BlobHave` round.
    peer_known: bool,
    /// Blobs we told the peer we hold.
    announced: HashSet<BlobHash>,
    /// Our first `BlobHave` round went out.
    announced_once: bool,
    /// Blobs held here and their sizes, as of `seen`.
    held: HashMap<BlobHash, u64>,
    /// Blobs our policy wants and we lack, with their sizes, as of `seen`.
    wanted: BTreeMap<BlobHash, u64>,
    /// (store generation, blob-index entries) when `held` and `wanted` were read.
    seen: Option<(u64, u64)>,
    /// Downloads from this peer in progress.
    fetching: HashMap<BlobHash, Fetch>,
    /// Blobs this peer failed to deliver.
    failed: HashMap<BlobHash, Failure>,
    /// The peer's requests not yet fully sent, in order.
    serving: VecDeque<Serve>,
    /// The peer's requests not yet acknowledged (by a `BlobHave` naming them).
    requested: HashMap<BlobHash, u64>,
    /// Blob bytes received in this session.
    bytes_received: u64,
    /// Blob bytes sent in this session.
    bytes_sent: u64,
    /// When the retry timer the session runs for this link fires.
    timer_at: Option<Instant>,
    /// Downloads whose last chunk arrived, being written, verified, synced and renamed on
    /// the blocking pool while the next ones arrive. Each writer reports on `finished` (also
    /// when it fails earlier) and wakes the session.
    finishing: HashSet<BlobHash>,
    /// The id of the next download.
    next_id: u64,
    /// Places for chunks received and not yet written ([`CHUNKS_IN_FLIGHT_PER_SESSION`]).
    in_flight: Arc<tokio::sync::Semaphore>,
    finished_tx: tokio::sync::mpsc::UnboundedSender<Finished>,
    finished_rx: tokio::sync::mpsc::UnboundedReceiver<Finished>,
}

impl Default for BlobLink {
    fn default() -> Self {
        let (finished_tx, finished_rx) = tokio::sync::mpsc::unbounded_channel();
        BlobLink {
            peer_has: HashSet::new(),
            peer_known: false,
            announced: HashSet::new(),
            announced_once: false,
            held: HashMap::new(),
            wanted: BTreeMap::new(),
            seen: None,
            fetching: HashMap::new(),
            failed: HashMap::new(),
            serving: VecDeque::new(),
            requested: HashMap::new(),
            bytes_received: 0,
            bytes_sent: 0,
            timer_at: None,
            finishing: HashSet::new(),
            next_id: 0,
            in_flight: Arc::new(tokio::sync::Semaphore::new(CHUNKS_IN_FLIGHT_PER_SESSION)),
            finished_tx,
            finished_rx,
        }
    }
}

fn chunks_of<T: Clone>(items: &[T]) -> impl Iterator<Item = Vec<T>> + '_ {
    items.chunks(MAX_BLOBS_PER_MESSAGE).map(<[T]>::to_vec)
}

impl BlobLink {
    /// Whether chunks wait to be sent.
    pub(crate) fn has_outgoing(&self) -> bool {
        !self.serving.is_empty()
    }

    /// Adds this link's blob counts to a progress report.
    pub(crate) fn fill_state(&self, s: &mut PeerSyncState, flow: BlobFlow) {
        s.peer_blobs_known = self.peer_known || !flow.inbound;
        s.blob_bytes_received = self.bytes_received;
        s.blob_bytes_sent = self.bytes_sent;
        if flow.inbound {
            for (hash, size) in &self.wanted {
                if self.peer_has.contains(hash) {
                    s.blobs_wanted += 1;
                    let arrived = match self.fetching.get(hash) {
                        Some(f) => f.offset,
                        None if self.finishing.contains(hash) => *size,
                        None => 0,
                    };
                    s.blob_bytes_wanted += size.saturating_sub(arrived);
                }
            }
        }
        if flow.outbound {
            s.blobs_to_send = self.requested.len() as u64;
            s.blob_bytes_to_send = self
                .serving
                .iter()
                .map(|r| r.size.saturating_sub(r.offset))
                .sum();
        }
    }

    /// The earliest time a failed blob may be asked for again, if no timer is set for it
    /// yet (the caller sets one).
    pub(crate) fn take_retry_timer(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let next = self
            .failed
            .values()
            .map(|f| f.retry_at)
            .filter(|t| *t > now)
            .min()?;
        if self.timer_at.is_some_and(|t| t > now && t <= next) {
            return None;
        }
        self.timer_at = Some(next);
        Some(next)
    }

    /// Brings the link up to date with the store and the flow: announces newly held blobs,
    /// asks for newly wanted ones, cancels what is no longer wanted. `index_entries` is the
    /// number of blob-index entries held (the wanted set changes with it). Returns the
    /// messages to send.
    pub(crate) async fn refresh(
        &mut self,
        tag: ProjectTag,
        replica: &Arc<dyn Replica>,
        flow: BlobFlow,
        index_entries: u64,
    ) -> Result<Vec<Message>, SyncError> {
        self.reap();
        let key = (replica.blob_generation(), index_entries);
        if self.seen != Some(key) {
            let r = replica.clone();
            let (held, wanted) = blocking(move || Ok((r.held_blobs()?, r.wanted_blobs()?))).await?;
            self.held = held.into_iter().collect();
            self.wanted = wanted;
            self.seen = Some(key);
        }
        let mut out = Vec::new();
        self.announce(tag, flow, &mut out);
        if !flow.outbound {
            self.serving.clear();
            self.requested.clear();
        }
        self.fetch(tag, replica, flow, &mut out).await?;
        Ok(out)
    }

    /// Tells the peer which blobs we hold that it has not heard of. The first round always
    /// goes out, empty if the peer may not know what we hold: it tells the peer there is
    /// nothing to wait for. Blobs the peer holds itself are acknowledged whatever its role
    /// (they reveal nothing it does not know).
    fn announce(&mut self, tag: ProjectTag, flow: BlobFlow, out: &mut Vec<Message>) {
        let mut new: Vec<BlobHash> = self
            .held
            .keys()
            .filter(|h| !self.announced.contains(*h))
            .filter(|h| flow.announce || self.peer_has.contains(*h))
            .copied()
            .collect();
        if new.is_empty() && self.announced_once {
            return;
        }
        new.sort();
        self.announced.extend(new.iter().copied());
        self.announced_once = true;
        let rounds: Vec<Vec<BlobHash>> = chunks_of(&new).collect();
        let n = rounds.len().max(1);
        let mut rounds = rounds.into_iter();
        for i in 0..n {
            out.push(Message::BlobHave {
                project: tag,
                hashes: rounds.next().unwrap_or_default(),
                done: i + 1 == n,
            });
        }
    }

    /// Cancels downloads no longer wanted and asks for every wanted blob the peer holds that
    /// no other session is fetching.
    async fn fetch(
        &mut self,
        tag: ProjectTag,
        replica: &Arc<dyn Replica>,
        flow: BlobFlow,
        out: &mut Vec<Message>,
    ) -> Result<(), SyncError> {
        let now = Instant::now();
        let cancel: Vec<BlobHash> = self
            .fetching
            .keys()
            .filter(|h| !flow.inbound || !self.wanted.contains_key(*h))
            .copied()
            .collect();
        for h in &cancel {
            // Dropping the partial keeps what arrived for later.
            self.fetching.remove(h);
        }
        out.extend(chunks_of(&cancel).map(|hashes| Message::BlobCancel {
            project: tag,
            hashes,
        }));
        if !flow.inbound || !self.peer_known {
            return Ok(());
        }
        let candidates: Vec<(BlobHash, u64)> = self
            .wanted
            .iter()
            .filter(|(h, _)| self.peer_has.contains(*h) && !self.fetching.contains_key(*h))
            .filter(|(h, _)| !self.finishing.contains(*h))
            .filter(|(h, _)| self.failed.get(*h).is_none_or(|f| f.retry_at <= now))
            .map(|(h, s)| (*h, *s))
            .collect();
        if candidates.is_empty() {
            return Ok(());
        }
        let r = replica.clone();
        let claimed = blocking(move || {
            let mut claimed = Vec::new();
            for (hash, size) in candidates {
                if let Some(p) = r.receive_blob(&hash, size)? {
                    claimed.push(p);
                }
            }
            Ok(claimed)
        })
        .await?;
        let mut asks = Vec::with_capacity(claimed.len());
        for p in claimed {
            let (hash, size, offset) = (p.hash(), p.size(), p.offset());
            asks.push(BlobAt { hash, offset });
            self.next_id += 1;
            self.fetching.insert(
                hash,
                Fetch {
                    id: self.next_id,
                    writer: Writer::Idle(Box::new(p)),
                    size,
                    offset,
                },
            );
        }
        out.extend(chunks_of(&asks).map(|blobs| Message::BlobRequest {
            project: tag,
            blobs,
        }));
        Ok(())
    }

    /// The peer holds these blobs (`done`: and has now said all it holds).
    pub(crate) fn on_have(&mut self, hashes: Vec<BlobHash>, done: bool) {
        for h in &hashes {
            // The peer holds it now: our sending of it is over.
            self.requested.remove(h);
        }
        self.peer_has.extend(hashes);
        self.peer_known |= done;
    }

    /// The peer asks for blobs. Returns the ones to answer as missing.
    pub(crate) fn on_request(
        &mut self,
        tag: ProjectTag,
        blobs: Vec<BlobAt>,
        flow: BlobFlow,
    ) -> Option<Message> {
        let mut missing = Vec::new();
        for BlobAt { hash, offset } in blobs {
            let size = self.held.get(&hash).copied();
            match size {
                Some(size) if flow.outbound && self.serving.len() < MAX_QUEUED_BLOB_REQUESTS => {
                    self.serving.retain(|s| s.hash != hash);
                    self.serving.push_back(Serve {
                        hash,
                        offset: offset.min(size),
                        size,
                    });
                    self.requested.insert(hash, size);
                }
                _ => missing.push(hash),
            }
        }
        (!missing.is_empty()).then_some(Message::BlobMissing {
            project: tag,
            hashes: missing,
        })
    }

    /// The peer no longer wants these blobs from us.
    pub(crate) fn on_cancel(&mut self, hashes: &[BlobHash]) {
        let gone: HashSet<&BlobHash> = hashes.iter().collect();
        self.serving.retain(|s| !gone.contains(&s.hash));
        self.requested.retain(|h, _| !gone.contains(h));
    }

    /// The peer does not hold these blobs after all.
    pub(crate) fn on_missing(&mut self, hashes: &[BlobHash]) {
        for h in hashes {
            self.peer_has.remove(h);
            self.fetching.remove(h);
        }
    }

    /// Hands a chunk from the peer to its download's writer, and waits only if the writers
    /// of this session are [`CHUNKS_IN_FLIGHT_PER_SESSION`] chunks behind. A chunk that is not for a download in
    /// progress (one cancelled, say) is ignored. Bytes that do not fit or, once complete, do
    /// not verify discard the download and mark the peer as failed for that blob; a local
    /// failure (a full disk) keeps what was written and retries later. Failures are
    /// reported by the writer and collected by the next refresh.
    pub(crate) async fn on_chunk(
        &mut self,
        hash: BlobHash,
        offset: u64,
        size: u64,
        data: bytes::Bytes,
        wake: Wake,
    ) -> Result<(), SyncError> {
        if !self.fetching.contains_key(&hash) {
            return Ok(());
        }
        let slot = self
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| SyncError::Store(e.to_string()))?;
        let Some(fetch) = self.fetching.get_mut(&hash) else {
            return Ok(());
        };
        let len = data.len() as u64;
        self.bytes_received += len;
        if let Writer::Idle(_) = fetch.writer {
            let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT_PER_SESSION);
            let Writer::Idle(partial) = std::mem::replace(&mut fetch.writer, Writer::Busy(tx))
            else {
                return Ok(());
            };
            let (id, done) = (fetch.id, self.finished_tx.clone());
            // Runs to its end even if this session ends first: the queue is written, then
            // the claim is released.
            drop(tokio::task::spawn_blocking(move || {
                write_download(*partial, rx, id, &done, &wake);
            }));
        }
        let Writer::Busy(tx) = &fetch.writer else {
            return Ok(());
        };
        let last = size == fetch.size && offset.saturating_add(len) >= size;
        let sent = tx
            .send(Chunk {
                offset,
                size,
                data,
                _slot: Some(slot),
            })
            .await;
        if sent.is_err() {
            // The writer stopped on a failure it has reported.
            self.fetching.remove(&hash);
            return Ok(());
        }
        fetch.offset = fetch.offset.max(offset.saturating_add(len).min(fetch.size));
        if last {
            // Dropping the sender lets the writer finish the blob once the queue is written.
            self.fetching.remove(&hash);
            self.finishing.insert(hash);
        }
        Ok(())
    }

    /// Collects the downloads whose writer ended: a blob that did not verify, or bytes that
    /// did not fit, mark this peer as failed for it.
    fn reap(&mut self) {
        while let Ok((hash, id, result)) = self.finished_rx.try_recv() {
            self.finishing.remove(&hash);
            if self.fetching.get(&hash).is_some_and(|f| f.id == id) {
                self.fetching.remove(&hash);
            }
            match result {
                Ok(()) => {
                    self.failed.remove(&hash);
                }
                Err(e) => self.failed_once(hash, &e),
            }
        }
    }

    /// Asks this peer for `hash` again only after a wait that doubles with each failure.
    fn failed_once(&mut self, hash: BlobHash, e: &BlobError) {
        tracing::warn!(blob = %hash.short(), "blob transfer failed: {e}");
        let attempts = self.failed.get(&hash).map_or(0, |f| f.attempts) + 1;
        let wait = BLOB_RETRY_BASE
            .saturating_mul(1 << attempts.min(8).saturating_sub(1))
            .min(BLOB_RETRY_MAX);
        self.failed.insert(
            hash,
            Failure {
                retry_at: Instant::now() + wait,
                attempts,
            },
        );
    }

    /// The next chunk to send the peer, if any is waiting.
    pub(crate) async fn next_chunk(
        &mut self,
        tag: ProjectTag,
        replica: &Arc<dyn Replica>,
    ) -> Result<Option<Message>, SyncError> {
        let Some(serve) = self.serving.front().copied() else {
            return Ok(None);
        };
        let r = replica.clone();
        let data =
            blocking(move || r.read_blob(&serve.hash, serve.offset, BLOB_CHUNK_BYTES)).await?;
        let data = match data {
            Some(d) if !d.is_empty() || serve.offset == serve.size => d,
            // Gone, or shorter than it was: the peer must look elsewhere.
            _ => {
                self.serving.pop_front();
                self.requested.remove(&serve.hash);
                self.held.remove(&serve.hash);
                return Ok(Some(Message::BlobMissing {
                    project: tag,
                    hashes: vec![serve.hash],
                }));
            }
        };
        let len = data.len() as u64;
        self.bytes_sent += len;
        let next = serve.offset + len;
        if next >= serve.size {
            self.serving.pop_front();
        } else if let Some(front) = self.serving.front_mut() {
            front.offset = next;
        }
        Ok(Some(Message::BlobChunk {
            project: tag,
            hash: serve.hash,
            offset: serve.offset,
            size: serve.size,
            data: data.into(),
        }))
    }
}

/// Writes a download's chunks in order as they are queued, on the blocking pool. Once every
/// byte is written, verifies, syncs and renames the blob; reports how it ended (unless the
/// queue was closed first: cancelled or disconnected, what was written stays for a resume).
fn write_download(
    mut partial: PartialBlob,
    mut queue: tokio::sync::mpsc::Receiver<Chunk>,
    id: u64,
    done: &tokio::sync::mpsc::UnboundedSender<Finished>,
    wake: &Wake,
) {
    let hash = partial.hash();
    let result = loop {
        let Some(chunk) = queue.blocking_recv() else {
            return;
        };
        let written = if chunk.size != partial.size() {
            Err(BlobError::OutOfPlace)
        } else {
            // The chunk's bytes are sealed where they arrived unless something else still
            // holds them (then they are copied once).
            let mut data = chunk
                .data
                .try_into_mut()
                .unwrap_or_else(|shared| bytes::BytesMut::from(&shared[..]));
            partial.write_in_place(chunk.offset, &mut data)
        };
        match written {
            Ok(()) if partial.is_complete() => break partial.finish(),
            Ok(()) => {}
            Err(e) => {
                if e.is_bad_data() {
                    partial.discard();
                }
                break Err(e);
            }
        }
    };
    // Reported before the queue closes, so a session that finds it closed finds this too.
    let _ = done.send((hash, id, result));
    drop(queue);
    wake();
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;
    use crate::blobs::{BLOBS_DIR, BlobStore};

    fn data() -> Vec<u8> {
        (0..200_000u32).map(|i| (i % 251) as u8).collect()
    }

    fn key() -> crate::crypto::FileKey {
        crate::crypto::FileKey::from_bytes([3; 32])
    }

    fn read(store: &BlobStore, h: &BlobHash) -> Vec<u8> {
        store.open_blob(h).unwrap().unwrap().read_rest().unwrap()
    }

    fn hash_of(b: &[u8]) -> BlobHash {
        BlobHash::from_bytes(*blake3::hash(b).as_bytes())
    }

    /// Queues `data[from..to]` in chunks of `step` bytes, as a session hands them on.
    fn queue(
        data: &[u8],
        from: usize,
        to: usize,
        step: usize,
    ) -> tokio::sync::mpsc::Receiver<Chunk> {
        let n = (to - from).div_ceil(step);
        let (tx, rx) = tokio::sync::mpsc::channel(n.max(1));
        for start in (from..to).step_by(step) {
            let end = (start + step).min(to);
            tx.try_send(Chunk {
                offset: start as u64,
                size: data.len() as u64,
                data: bytes::Bytes::copy_from_slice(&data[start..end]),
                _slot: None,
            })
            .unwrap();
        }
        rx
    }

    fn run(partial: PartialBlob, rx: tokio::sync::mpsc::Receiver<Chunk>) -> (Vec<Finished>, usize) {
        let (done, mut reports) = tokio::sync::mpsc::unbounded_channel();
        let woken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let w = woken.clone();
        let wake: Wake = Arc::new(move || {
            w.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        write_download(partial, rx, 7, &done, &wake);
        let mut out = Vec::new();
        while let Ok(r) = reports.try_recv() {
            out.push(r);
        }
        (out, woken.load(std::sync::atomic::Ordering::SeqCst))
    }

    #[test]
    fn chunks_queued_ahead_are_written_in_order_and_the_blob_appears_once_verified() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&dir.path().join(BLOBS_DIR), key(), watch_sender()).unwrap();
        let data = data();
        let h = hash_of(&data);
        let partial = store.receive(&h, data.len() as u64).unwrap().unwrap();
        let (reports, woken) = run(partial, queue(&data, 0, data.len(), 4096));
        assert_eq!(reports.len(), 1);
        assert_eq!((reports[0].0, reports[0].1), (h, 7));
        assert!(reports[0].2.is_ok());
        assert_eq!(woken, 1, "the session is woken to collect it");
        assert_eq!(read(&store, &h), data);
    }

    #[test]
    fn a_disconnect_with_chunks_queued_resumes_after_the_last_written_byte() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&dir.path().join(BLOBS_DIR), key(), watch_sender()).unwrap();
        let data = data();
        let h = hash_of(&data);
        let partial = store.receive(&h, data.len() as u64).unwrap().unwrap();
        // The session ends with 120 000 bytes queued: the queue closes, the writer drains it.
        let (reports, woken) = run(partial, queue(&data, 0, 120_000, 4096));
        assert!(
            reports.is_empty(),
            "nothing to report: the download was cut"
        );
        assert_eq!(woken, 0);
        assert!(!store.contains(&h), "no partial blob is ever visible");
        // Kept: every complete sealed chunk (the bytes after the last one come again).
        let kept = crate::sealed_file::CHUNK_LEN;
        assert_eq!(store.partial_len(&h), kept as u64);
        let partial = store.receive(&h, data.len() as u64).unwrap().unwrap();
        assert_eq!(
            partial.offset(),
            kept as u64,
            "the claim was released, at its last complete chunk"
        );
        let (reports, _) = run(partial, queue(&data, kept, data.len(), 4096));
        assert!(reports[0].2.is_ok());
        assert_eq!(read(&store, &h), data);
    }

    #[test]
    fn bytes_out_of_place_in_the_queue_discard_the_download_and_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&dir.path().join(BLOBS_DIR), key(), watch_sender()).unwrap();
        let data = data();
        let h = hash_of(&data);
        let partial = store.receive(&h, data.len() as u64).unwrap().unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        for offset in [0u64, 4096, 4096] {
            let start = offset as usize;
            tx.try_send(Chunk {
                offset,
                size: data.len() as u64,
                data: bytes::Bytes::copy_from_slice(&data[start..start + 4096]),
                _slot: None,
            })
            .unwrap();
        }
        drop(tx);
        let (reports, woken) = run(partial, rx);
        assert!(matches!(reports[0].2, Err(BlobError::OutOfPlace)));
        assert_eq!(woken, 1);
        assert!(!store.contains(&h));
        assert_eq!(store.partial_len(&h), 0, "bad bytes are thrown away");
    }

    #[test]
    fn bytes_that_do_not_match_the_hash_never_become_the_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&dir.path().join(BLOBS_DIR), key(), watch_sender()).unwrap();
        let data = data();
        let mut forged = data.clone();
        forged[40_000] ^= 1;
        let h = hash_of(&data);
        let partial = store.receive(&h, data.len() as u64).unwrap().unwrap();
        let (reports, _) = run(partial, queue(&forged, 0, forged.len(), 4096));
        assert!(matches!(reports[0].2, Err(BlobError::HashMismatch)));
        assert!(!store.contains(&h));
        assert_eq!(store.partial_len(&h), 0);
    }

    /// Claims `data` as a download of `link`, as `fetch` does once the peer is asked.
    fn claim(link: &mut BlobLink, store: &BlobStore, data: &[u8]) -> BlobHash {
        let h = hash_of(data);
        let p = store.receive(&h, data.len() as u64).unwrap().unwrap();
        link.next_id += 1;
        link.fetching.insert(
            h,
            Fetch {
                id: link.next_id,
                writer: Writer::Idle(Box::new(p)),
                size: data.len() as u64,
                offset: 0,
            },
        );
        h
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_photos_stream_through_the_session_window_and_all_become_visible() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&dir.path().join(BLOBS_DIR), key(), watch_sender()).unwrap();
        let mut link = BlobLink::default();
        // More chunks than the window holds, over several downloads, one after another as
        // a peer sends them: the session never waits for a previous blob's sync.
        let photos: Vec<Vec<u8>> = (0..6u8)
            .map(|n| (0..40_000u32).map(|i| (i % 241) as u8 ^ n).collect())
            .collect();
        let wake: Wake = Arc::new(|| {});
        let mut hashes = Vec::new();
        for photo in &photos {
            let h = claim(&mut link, &store, photo);
            hashes.push(h);
            for start in (0..photo.len()).step_by(1000) {
                let end = (start + 1000).min(photo.len());
                let chunk = bytes::Bytes::copy_from_slice(&photo[start..end]);
                link.on_chunk(h, start as u64, photo.len() as u64, chunk, wake.clone())
                    .await
                    .unwrap();
            }
        }
        assert!(link.fetching.is_empty(), "every last chunk was handed on");
        assert_eq!(link.bytes_received, 6 * 40_000);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !link.finishing.is_empty() {
            assert!(Instant::now() < deadline, "writers did not finish in time");
            tokio::time::sleep(Duration::from_millis(10)).await;
            link.reap();
        }
        assert!(link.failed.is_empty());
        for (h, photo) in hashes.iter().zip(&photos) {
            assert_eq!(read(&store, h), *photo);
        }
        assert_eq!(
            link.in_flight.available_permits(),
            CHUNKS_IN_FLIGHT_PER_SESSION,
            "every place in the window is given back once written"
        );
    }

    fn watch_sender() -> tokio::sync::watch::Sender<u64> {
        tokio::sync::watch::Sender::new(0)
    }
}
