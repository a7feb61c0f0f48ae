//! The replication protocol, independent of any transport: project matching without leaking,
//! have-vectors, batched entry streaming (auth and config first), live push, per-peer exact
//! progress, and the access gate by the peer's role. Runs over any byte-message transport
//! ([`Transport`]): Noise over TCP in `net`, an in-memory pair in tests. Knows nothing of
//! storage beyond the [`Replica`] trait that a project implements.

pub mod blobs;
mod group;
pub mod map_share;
pub mod memory;
pub mod message;
pub mod session;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::watch;

use crate::blobs::PartialBlob;
use crate::feed::Entry;
use crate::ids::{BlobHash, DeviceId, Namespace, ProjectId};
use crate::roles::PeerRole;
pub use message::{CloseReason, Message, ProjectTag};
pub use session::{SessionEnd, run_session};

/// How often an idle session pings its peer.
pub const PING_INTERVAL: Duration = Duration::from_secs(10);
/// A peer silent this long (no message, not even a pong) is dropped.
pub const PEER_SILENCE_TIMEOUT: Duration = Duration::from_secs(30);
/// Small control messages (acks, pongs) queued for a peer that is not reading before the
/// session gives up on it.
pub const MAX_QUEUED_CONTROL: usize = 1_024;

/// A sync failure.
#[derive(Debug, Error)]
pub enum SyncError {
    /// The transport failed or closed.
    #[error("connection lost: {0}")]
    Transport(String),
    /// The peer sent something that is not a valid message.
    #[error("peer sent a malformed message")]
    Malformed,
    /// The peer sent entries that failed verification.
    #[error("peer sent entries that failed verification: {0}")]
    InvalidEntries(String),
    /// The peer went silent.
    #[error("peer stopped answering")]
    Silent,
    /// The peer speaks another protocol version.
    #[error("peer speaks sync protocol version {0}")]
    UnsupportedVersion(u16),
    /// Local storage failed.
    #[error("local storage failed: {0}")]
    Store(String),
    /// The peer is not reading what we send.
    #[error("peer is not reading")]
    Backlogged,
    /// Waiting for sync saw no progress for the allowed time.
    #[error("sync made no progress for the allowed time")]
    Stalled,
}

/// A byte-message transport: the sync protocol's only view of the connection.
pub trait Transport: Send + 'static {
    /// The sending half.
    type Writer: TransportWriter;
    /// The receiving half.
    type Reader: TransportReader;
    /// Splits into halves usable from two tasks at once.
    fn split(self) -> (Self::Reader, Self::Writer);
}

/// Sends whole messages.
pub trait TransportWriter: Send + 'static {
    /// Sends one message.
    fn send(&mut self, msg: &[u8]) -> impl Future<Output = Result<(), SyncError>> + Send;

    /// Sends one message made of `parts`, one after the other. A transport that can send
    /// them without joining them first (saving a copy of a blob chunk) overrides this.
    fn send_parts(
        &mut self,
        parts: &[&[u8]],
    ) -> impl Future<Output = Result<(), SyncError>> + Send {
        let whole = parts.concat();
        async move { self.send(&whole).await }
    }
}

/// Receives whole messages.
pub trait TransportReader: Send + 'static {
    /// Receives one message.
    fn recv(&mut self) -> impl Future<Output = Result<Vec<u8>, SyncError>> + Send;
}

/// How often a wait for a peer that is connected but not yet on the sync board looks again
/// (see [`SyncBoard::wait_while_connected`]).
pub const REACHABLE_RECHECK: Duration = Duration::from_millis(50);

/// Whether `ns` flows now: auth and config always (initial sync); data and blob index only
/// while both sides have data sync on.
pub fn flows(ns: Namespace, local_data_on: bool, remote_data_on: bool) -> bool {
    matches!(ns, Namespace::Auth | Namespace::Config) || (local_data_on && remote_data_on)
}

/// A feed: its author and namespace.
pub type FeedKey = (DeviceId, Namespace);

/// A project as sync sees it. Implemented by `project::Project`.
pub trait Replica: Send + Sync + 'static {
    /// The project's id (for progress reports; never sent).
    fn project_id(&self) -> ProjectId;
    /// This project's tag on a connection with this handshake hash.
    fn tag(&self, handshake_hash: &[u8; 32]) -> ProjectTag;
    /// Every feed held and its length.
    fn have_vector(&self) -> Result<BTreeMap<FeedKey, u64>, SyncError>;
    /// Entries `start..end` of one feed.
    fn read_entries(&self, feed: FeedKey, start: u64, end: u64) -> Result<Vec<Entry>, SyncError>;
    /// Verifies and stores entries from a peer, all or none. `more_to_come`: the peer holds
    /// more entries for us than this batch brings, so work that gains from larger groups
    /// (the search indexes) may wait for them.
    fn import(&self, entries: &[Entry], more_to_come: bool) -> Result<usize, SyncError>;
    /// Whether this device waits to hear how far its own feeds go before it appends (a
    /// restored device; see `Project::is_awaiting_own_entries`).
    fn awaits_own_entries(&self) -> bool;
    /// What the peer holds, feed by feed (its `Have`), for a device that waits.
    fn note_peer_holdings(&self, feeds: &BTreeMap<FeedKey, u64>) -> Result<(), SyncError>;
    /// The role of a device in this project, as this device knows it.
    fn role_of(&self, device: &DeviceId) -> PeerRole;
    /// This device's own role in the project, as it knows it: a device that knows it is
    /// blocked or has left offers nothing but what its role still allows.
    fn own_role(&self) -> PeerRole;
    /// Bumped after every commit that adds entries (local writes or imports).
    fn changes(&self) -> watch::Receiver<u64>;
    /// Whether data sync is on here.
    fn data_sync(&self) -> watch::Receiver<bool>;
    /// Bumped when sessions must ask their peers for their data-sync switch afresh.
    fn sync_asks(&self) -> watch::Receiver<u64>;

    // Blobs (DESIGN §6.5). Changes to any of these also bump `changes`.

    /// A number that changes whenever the blobs held here, the downloads in progress or the
    /// blob policy change: while it stays the same, so do the answers below.
    fn blob_generation(&self) -> u64;
    /// Every blob held complete here, with its size.
    fn held_blobs(&self) -> Result<Vec<(BlobHash, u64)>, SyncError>;
    /// The blobs this device's policy wants and it does not hold, with their sizes.
    fn wanted_blobs(&self) -> Result<BTreeMap<BlobHash, u64>, SyncError>;
    /// Up to `max` bytes of a held blob from `offset`; `None` if it is not held.
    fn read_blob(
        &self,
        hash: &BlobHash,
        offset: u64,
        max: usize,
    ) -> Result<Option<Vec<u8>>, SyncError>;
    /// Starts or resumes receiving a blob of `size` bytes; `None` if it is held already or
    /// another session is receiving it.
    fn receive_blob(&self, hash: &BlobHash, size: u64) -> Result<Option<PartialBlob>, SyncError>;
}

/// Stops a listener when dropped.
#[derive(Debug)]
pub struct ListenerHandle(tokio::task::JoinHandle<()>);

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Which phase a project's exchange with a peer is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SyncPhase {
    /// Auth and config still moving.
    Initial,
    /// Auth and config done; data moving (or done).
    Full,
}

/// The exchange of one project with one peer, exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSyncState {
    /// The peer.
    pub peer: DeviceId,
    /// Whether the session is up. Once it is not, the counts stay as they stood when it
    /// ended (writes made since are not counted) and nothing counts as synced.
    pub connected: bool,
    /// Whether the peer has told us what it holds; nothing is synced before that.
    pub peer_known: bool,
    /// Whether the peer has data sync on.
    pub peer_data_sync: bool,
    /// Whether the peer has answered our latest data-sync switch, so `peer_data_sync` is not
    /// older than our own switch: a peer turning sync on just as we do is not counted as
    /// "off" (and so as synced) in between.
    pub peer_data_sync_known: bool,
    /// The last ask for the peer's switch ([`crate::Project::ask_peers_for_sync_switch`])
    /// this session has passed on: with `peer_data_sync_known`, `peer_data_sync` is at least
    /// as recent as that ask.
    pub switches_asked: u64,
    /// Auth and config entries the peer has and we still lack (and accept).
    pub initial_wanted: u64,
    /// Auth and config entries we have and the peer has not confirmed.
    pub initial_to_send: u64,
    /// Data and blob-index entries the peer has and we still lack (while both sides sync data).
    pub data_wanted: u64,
    /// Data and blob-index entries we have and the peer has not confirmed.
    pub data_to_send: u64,
    /// Entries received from this peer in this session.
    pub received: u64,
    /// Entries sent to this peer in this session.
    pub sent: u64,
    /// Whether the peer has told us which blobs it holds (always true while blobs do not
    /// flow); nothing is synced before that.
    pub peer_blobs_known: bool,
    /// Blobs the peer holds that our policy wants and we lack (while both sides sync data).
    pub blobs_wanted: u64,
    /// Their bytes still to come (for a blob being fetched from this peer, less what has
    /// arrived of it, in this session or kept from an interrupted one).
    pub blob_bytes_wanted: u64,
    /// Blobs the peer asked us for that we have not finished sending.
    pub blobs_to_send: u64,
    /// Their bytes still to send.
    pub blob_bytes_to_send: u64,
    /// Blob bytes received from this peer in this session.
    pub blob_bytes_received: u64,
    /// Blob bytes sent to this peer in this session.
    pub blob_bytes_sent: u64,
    /// Whether this device had data sync on for the project when this was computed: data
    /// entries are counted only while both sides have it on, so a "synced" read before the
    /// session saw data sync turned on here says nothing about data.
    pub data_sync: bool,
}

impl PeerSyncState {
    /// Whether this state covers the whole project: data sync is on on both sides, so
    /// observations, tracks and blobs are counted. Otherwise only roles and configuration
    /// are, and [`is_synced`](Self::is_synced) for `Full` says nothing about data.
    pub fn covers_data(&self) -> bool {
        self.data_sync && self.peer_data_sync
    }

    /// Whether the whole project, data included, is exchanged with this connected peer:
    /// both sides sync data and nothing is left either way (what a UI shows as 100%).
    pub fn is_fully_synced(&self) -> bool {
        self.covers_data() && self.is_synced(SyncPhase::Full)
    }

    /// The phase the exchange is in.
    pub fn phase(&self) -> SyncPhase {
        if self.initial_wanted + self.initial_to_send > 0 {
            SyncPhase::Initial
        } else {
            SyncPhase::Full
        }
    }

    /// Whether nothing is left to exchange for this phase: `Initial` checks auth and config;
    /// `Full` checks everything that flows, the blobs our policy wants included. Never true
    /// for a disconnected peer: what it holds and what was written here since are unknown,
    /// and unknown is not synced.
    pub fn is_synced(&self, phase: SyncPhase) -> bool {
        self.connected && self.was_synced(phase)
    }

    /// [`is_synced`](Self::is_synced) as the counts stood at their last update, whether or
    /// not the peer is still connected: for a report about a peer that has gone ("all was
    /// exchanged before it left"), never to decide that it is synced now.
    pub fn was_synced(&self, phase: SyncPhase) -> bool {
        if !self.peer_known {
            return false;
        }
        let initial = self.initial_wanted + self.initial_to_send == 0;
        match phase {
            SyncPhase::Initial => initial,
            SyncPhase::Full => {
                initial
                    && self.peer_data_sync_known
                    && self.data_wanted + self.data_to_send == 0
                    && self.peer_blobs_known
                    && self.blobs_wanted + self.blobs_to_send == 0
            }
        }
    }
}

/// Every session's progress, by project and peer; subscribe to see changes.
#[derive(Debug)]
pub struct SyncBoard {
    state: watch::Sender<BTreeMap<(ProjectId, DeviceId), PeerSyncState>>,
    /// Which session last published each entry: an older session with the same peer that
    /// ends late must not mark the newer one disconnected.
    owners: std::sync::Mutex<BTreeMap<(ProjectId, DeviceId), u64>>,
    next_session: std::sync::atomic::AtomicU64,
    /// Projects whose auth and config some session has seen fully exchanged.
    initial_done: std::sync::Mutex<std::collections::BTreeSet<ProjectId>>,
}

impl Default for SyncBoard {
    fn default() -> Self {
        SyncBoard {
            state: watch::Sender::new(BTreeMap::new()),
            owners: std::sync::Mutex::new(BTreeMap::new()),
            next_session: std::sync::atomic::AtomicU64::new(1),
            initial_done: std::sync::Mutex::new(Default::default()),
        }
    }
}

impl SyncBoard {
    /// A new, empty board.
    pub fn new() -> Arc<Self> {
        Arc::new(SyncBoard::default())
    }

    /// Every known exchange.
    pub fn snapshot(&self) -> BTreeMap<(ProjectId, DeviceId), PeerSyncState> {
        self.state.borrow().clone()
    }

    /// The exchanges of one project.
    pub fn project(&self, project: &ProjectId) -> Vec<PeerSyncState> {
        self.state
            .borrow()
            .iter()
            .filter(|((p, _), _)| p == project)
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// Changes to the board.
    pub fn subscribe(&self) -> watch::Receiver<BTreeMap<(ProjectId, DeviceId), PeerSyncState>> {
        self.state.subscribe()
    }

    pub(crate) fn new_session(&self) -> u64 {
        self.next_session
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn update(&self, session: u64, project: ProjectId, state: PeerSyncState) {
        if let Ok(mut owners) = self.owners.lock() {
            owners.insert((project, state.peer), session);
        }
        if state.is_synced(SyncPhase::Initial)
            && let Ok(mut done) = self.initial_done.lock()
        {
            done.insert(project);
        }
        self.state.send_if_modified(|m| {
            let key = (project, state.peer);
            if m.get(&key) == Some(&state) {
                false
            } else {
                m.insert(key, state);
                true
            }
        });
    }

    pub(crate) fn disconnected(&self, session: u64, peer: &DeviceId) {
        let owned: Vec<(ProjectId, DeviceId)> = match self.owners.lock() {
            Ok(owners) => owners
                .iter()
                .filter(|((_, p), s)| p == peer && **s == session)
                .map(|(k, _)| *k)
                .collect(),
            Err(_) => Vec::new(),
        };
        self.state.send_if_modified(|m| {
            let mut changed = false;
            for (key, s) in m.iter_mut() {
                if owned.contains(key) && s.connected {
                    s.connected = false;
                    changed = true;
                }
            }
            changed
        });
    }

    /// Calls `listener` with the current progress of every exchange at once, then after
    /// changes, at most once per `min_interval` (the UI needs no more). Stops when the
    /// returned handle is dropped. Must be called within a tokio runtime.
    pub fn listen(
        self: &Arc<Self>,
        min_interval: Duration,
        listener: impl Fn(&BTreeMap<(ProjectId, DeviceId), PeerSyncState>) + Send + 'static,
    ) -> ListenerHandle {
        let mut rx = self.subscribe();
        let task = tokio::spawn(async move {
            loop {
                let snapshot = rx.borrow_and_update().clone();
                // A listener that panics on the foreign side must not take the core down.
                let delivered =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| listener(&snapshot)));
                if delivered.is_err() {
                    tracing::warn!("a sync listener panicked; it was skipped");
                }
                tokio::time::sleep(min_interval).await;
                if rx.changed().await.is_err() {
                    return;
                }
            }
        });
        ListenerHandle(task)
    }

    /// Forgets that `project`'s initial sync was done: what counted then (before this
    /// device's role in it arrived, say) no longer does.
    pub fn forget_initial_sync(&self, project: &ProjectId) {
        if let Ok(mut done) = self.initial_done.lock() {
            done.remove(project);
        }
    }

    /// Whether some session, since this board was made (or the last
    /// [`forget_initial_sync`](Self::forget_initial_sync)), has exchanged every auth and config
    /// entry of `project` with a peer (roles, settings, presets: what an app needs to show
    /// a project just joined).
    pub fn initial_sync_done(&self, project: &ProjectId) -> bool {
        self.initial_done
            .lock()
            .is_ok_and(|done| done.contains(project))
    }

    /// Waits until every connected peer of `project` (at least one) is synced for `phase`
    /// (for [`SyncPhase::Initial`], by a state computed since the last
    /// [`forget_initial_sync`](Self::forget_initial_sync)), and returns true; returns false
    /// once no connected peer has the project and
    /// `reachable()` says none is about to (no one can give what is missing). `reachable` covers
    /// the moment between a peer connecting, or a project being added to a live session, and
    /// its first state on the board: while it says true the wait goes on, rechecking every
    /// [`REACHABLE_RECHECK`]. Fails with [`SyncError::Stalled`] if the board shows no change
    /// for `inactivity`.
    pub async fn wait_while_connected(
        &self,
        project: &ProjectId,
        phase: SyncPhase,
        inactivity: Duration,
        reachable: impl Fn() -> bool,
    ) -> Result<bool, SyncError> {
        let mut rx = self.subscribe();
        let mut quiet_since = tokio::time::Instant::now();
        loop {
            let (any, all) = {
                let m = rx.borrow_and_update();
                let mut peers = m
                    .iter()
                    .filter(|((p, _), s)| p == project && s.connected)
                    .peekable();
                let any = peers.peek().is_some();
                (any, peers.all(|(_, s)| s.is_synced(phase)))
            };
            // For the initial phase only a state computed since the last
            // `forget_initial_sync` counts: an older one was reached with less to exchange
            // (before a role record widened what flows).
            let fresh = phase != SyncPhase::Initial || self.initial_sync_done(project);
            if any && all && fresh {
                return Ok(true);
            }
            let step = if any {
                inactivity
            } else if reachable() {
                REACHABLE_RECHECK
            } else {
                return Ok(false);
            };
            let left = inactivity.saturating_sub(quiet_since.elapsed());
            if left.is_zero() {
                return Err(SyncError::Stalled);
            }
            match tokio::time::timeout(step.min(left), rx.changed()).await {
                Ok(Ok(())) => quiet_since = tokio::time::Instant::now(),
                Ok(Err(_)) => return Err(SyncError::Stalled),
                // Only a recheck of `reachable` was due.
                Err(_) => {}
            }
        }
    }

    /// Waits until at least one peer is connected for `project` and every connected peer is
    /// synced for `phase`. Fails with [`SyncError::Stalled`] if the board shows no change for
    /// `inactivity`.
    pub async fn wait_for_sync(
        &self,
        project: &ProjectId,
        phase: SyncPhase,
        inactivity: Duration,
    ) -> Result<(), SyncError> {
        self.wait_until_synced(project, phase, inactivity, 0).await
    }

    /// [`wait_for_sync`](Self::wait_for_sync), counting only progress computed after each
    /// session passed on ask number `asked` for the peer's switch (and so with this
    /// device's switch as it was then, or newer): a report made before the sessions saw the
    /// user turn sync on, or on a peer's switch from before the wait, says nothing about data.
    pub async fn wait_until_synced(
        &self,
        project: &ProjectId,
        phase: SyncPhase,
        inactivity: Duration,
        asked: u64,
    ) -> Result<(), SyncError> {
        let mut rx = self.subscribe();
        loop {
            let done = {
                let m = rx.borrow_and_update();
                let peers: Vec<_> = m
                    .iter()
                    .filter(|((p, _), s)| p == project && s.connected)
                    .collect();
                !peers.is_empty()
                    && peers
                        .iter()
                        .all(|(_, s)| s.is_synced(phase) && s.switches_asked >= asked)
            };
            if done {
                return Ok(());
            }
            match tokio::time::timeout(inactivity, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return Err(SyncError::Stalled),
            }
        }
    }
}
