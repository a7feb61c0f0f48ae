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

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SyncError> + Send + 'static,
) -> Result<T, SyncError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SyncError::Store(e.to_string()))?
}

/// A download from this peer: claimed (no other session fetches it) and asked for.
struct Fetch {
    /// `None` while a write runs on the blocking pool.
    partial: Option<PartialBlob>,
    size: u64,
    /// Bytes that have arrived (or had arrived before this session).
    offset: u64,
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

/// A verified (or refused) download, reported by the blocking task that finished it.
type Finished = (BlobHash, Result<(), BlobError>);

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
    /// Downloads complete and being verified, synced and renamed on the blocking pool,
    /// while the next ones arrive. Each reports on `finished` and wakes the session.
    finishing: HashSet<BlobHash>,
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
            self.fetching.insert(
                hash,
                Fetch {
                    partial: Some(p),
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

    /// Writes a chunk from the peer. A chunk that is not for a download in progress (one
    /// cancelled, say) is ignored. Bytes that do not fit or, once complete, do not verify
    /// discard the download and mark the peer as failed for that blob; a local failure (a
    /// full disk) keeps what arrived and retries later.
    pub(crate) async fn on_chunk(
        &mut self,
        hash: BlobHash,
        offset: u64,
        size: u64,
        data: bytes::Bytes,
        wake: Wake,
    ) -> Result<(), SyncError> {
        let Some(fetch) = self.fetching.get_mut(&hash) else {
            return Ok(());
        };
        let Some(mut partial) = fetch.partial.take() else {
            return Ok(());
        };
        let expected = fetch.size;
        self.bytes_received += data.len() as u64;
        let written = blocking(move || {
            let r = if size != expected {
                Err(BlobError::OutOfPlace)
            } else {
                partial.write(offset, &data)
            };
            Ok(match r {
                Ok(()) => Ok(partial),
                Err(e) => Err((e, partial)),
            })
        })
        .await?;
        match written {
            Ok(partial) if partial.is_complete() => {
                // Verify, sync and rename apart, so the next blob's bytes keep coming; the
                // task runs to its end even if this session ends first.
                self.fetching.remove(&hash);
                self.finishing.insert(hash);
                let tx = self.finished_tx.clone();
                drop(tokio::task::spawn_blocking(move || {
                    let _ = tx.send((hash, partial.finish()));
                    wake();
                }));
            }
            Ok(partial) => {
                if let Some(f) = self.fetching.get_mut(&hash) {
                    f.offset = partial.offset();
                    f.partial = Some(partial);
                }
            }
            Err((e, partial)) => {
                if e.is_bad_data() {
                    partial.discard();
                }
                self.fetching.remove(&hash);
                self.failed_once(hash, &e);
            }
        }
        Ok(())
    }

    /// Collects the downloads whose verification ended: a blob that did not verify marks
    /// this peer as failed for it.
    fn reap(&mut self) {
        while let Ok((hash, result)) = self.finished_rx.try_recv() {
            self.finishing.remove(&hash);
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
