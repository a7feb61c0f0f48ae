//! One sync session with one peer over one connection: matches projects, exchanges
//! have-vectors, streams what the peer lacks in bounded batches (auth and config first),
//! pushes new entries live, and keeps the exact progress of each shared project on the
//! [`SyncBoard`]. Never blocks reading on writing: a reader task, a writer task and the
//! session loop run apart, with bounded queues between them.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::group::gather;
use super::message::{
    BATCH_PAYLOAD_BYTES, CloseReason, FeedLength, MAX_ENTRIES_PER_BATCH, Message, ProjectTag,
    SYNC_PROTOCOL_VERSION,
};
use super::{
    FeedKey, MAX_QUEUED_CONTROL, PeerRole, PeerSyncState, Replica, SyncBoard, SyncError, Transport,
    TransportReader, TransportWriter, flows,
};
use crate::feed::Entry;
use crate::ids::{DeviceId, Namespace, ProjectId};

/// Where a session hands the map-share messages of its peer.
type MapInbox = Arc<
    dyn Fn(DeviceId, super::map_share::MapShareIncoming) -> super::map_share::Delivery
        + Send
        + Sync,
>;

/// Messages decoded ahead of the session loop. Those waiting when a batch is stored join the
/// next group commit (`group::gather`): 8 makes groups of up to ~4,500 entries, where 4 made
/// ~2,000, and each commit then rewrites fewer index pages per entry (100k observations to a
/// fresh peer in about half the time), for ~3 MB more peak memory.
const INCOMING_DEPTH: usize = 8;

/// How a session ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The peer closed it, saying why.
    ClosedByPeer(CloseReason),
    /// This side was told to stop.
    Shutdown,
}

/// What a session needs besides its transport.
pub struct SessionParams {
    /// The authenticated peer.
    pub peer: DeviceId,
    /// The connection's handshake hash (project tags are MACs of it).
    pub handshake_hash: [u8; 32],
    /// The projects this device holds; a change re-announces them.
    pub projects: watch::Receiver<Vec<Arc<dyn Replica>>>,
    /// Where progress is published.
    pub board: Arc<SyncBoard>,
    /// Set to a reason to close the session with it (`ShuttingDown`, `Duplicate`).
    pub shutdown: watch::Receiver<Option<CloseReason>>,
    /// Keepalive ping interval.
    pub ping_interval: Duration,
    /// Silence after which the peer is dropped.
    pub silence_timeout: Duration,
    /// Messages between the two devices that are not sync (invites), if the device takes
    /// part in them.
    pub device: Option<DeviceLink>,
    /// A count per project, bumped when the project's holdings here must be announced
    /// afresh (see [`HoldingsResets`]).
    pub holdings_resets: watch::Receiver<HoldingsResets>,
}

/// Per project, how many times its holdings here were declared replaced (a store repaired
/// or wiped): each session then tells its peer everything it holds now, as a reset, so the
/// peer stops believing it holds more. A shrink a session sees by itself (leaving purges
/// feeds) needs no bump; this covers a store replaced under a session's feet.
pub type HoldingsResets = BTreeMap<ProjectId, u64>;

/// The session's link to the device for messages that are not sync: what to send to the
/// peer, and where what the peer sends goes.
pub struct DeviceLink {
    /// Messages to send to the peer.
    pub outbox: mpsc::Receiver<crate::invites::InviteMessage>,
    /// Called with each invite message the peer sends.
    pub inbox: Arc<dyn Fn(DeviceId, crate::invites::InviteMessage) + Send + Sync>,
    /// Map shares with the peer, if it takes part in them.
    pub maps: Option<super::map_share::MapShareLink>,
}

/// One shared project on this session.
struct Link {
    replica: Arc<dyn Replica>,
    project_id: ProjectId,
    local: BTreeMap<FeedKey, u64>,
    announced: BTreeMap<FeedKey, u64>,
    peer_have: BTreeMap<FeedKey, u64>,
    sent_upto: BTreeMap<FeedKey, u64>,
    local_data: bool,
    remote_data: bool,
    peer_role: PeerRole,
    my_role: PeerRole,
    peer_known: bool,
    /// Our `SyncEnabled` messages the peer has not answered yet: until it has, its switch
    /// as we know it may be older than ours (it may be turning data sync on just now).
    unanswered: u32,
    /// The last ask for the peer's switch passed on ([`Replica::sync_asks`]).
    asked: u64,
    /// Feeds whose entries we did not take when they came, and our length then.
    refused: BTreeMap<FeedKey, u64>,
    received: u64,
    sent: u64,
    /// Blob transfer with this peer (`sync/blobs.rs`).
    blobs: super::blobs::BlobLink,
    /// The task that wakes this link on the replica's changes.
    watcher: tokio::task::AbortHandle,
    /// The holdings resets of this project already announced.
    resets: u64,
    /// Our next `Have` must be a reset: what we announced before no longer holds.
    reset_due: bool,
}

impl Link {
    fn state(&self, peer: DeviceId) -> PeerSyncState {
        let mut s = PeerSyncState {
            peer,
            connected: true,
            peer_known: self.peer_known,
            peer_data_sync: self.remote_data,
            peer_data_sync_known: self.unanswered == 0,
            switches_asked: self.asked,
            initial_wanted: 0,
            initial_to_send: 0,
            data_wanted: 0,
            data_to_send: 0,
            received: self.received,
            sent: self.sent,
            peer_blobs_known: false,
            blobs_wanted: 0,
            blob_bytes_wanted: 0,
            blobs_to_send: 0,
            blob_bytes_to_send: 0,
            blob_bytes_received: 0,
            blob_bytes_sent: 0,
            data_sync: self.local_data,
        };
        let feeds: BTreeSet<&FeedKey> = self.local.keys().chain(self.peer_have.keys()).collect();
        for f in feeds {
            let ns = f.1;
            if !flows(ns, self.local_data, self.remote_data) {
                continue;
            }
            let ours = self.local.get(f).copied().unwrap_or(0);
            let theirs = self.peer_have.get(f).copied().unwrap_or(0);
            let initial = matches!(ns, Namespace::Auth | Namespace::Config);
            if self.takes(ns) && theirs > ours {
                *if initial {
                    &mut s.initial_wanted
                } else {
                    &mut s.data_wanted
                } += theirs - ours;
            }
            if self.offers(ns) && ours > theirs {
                *if initial {
                    &mut s.initial_to_send
                } else {
                    &mut s.data_to_send
                } += ours - theirs;
            }
        }
        self.blobs.fill_state(&mut s, self.blob_flow());
        s
    }

    /// Whether the peer holds entries for us beyond a batch whose feeds end at `tops` (as
    /// [`Link::state`] counts them wanted): more of this sync is on its way.
    fn wants_beyond(&self, tops: &BTreeMap<FeedKey, u64>) -> bool {
        self.peer_have.iter().any(|(f, &theirs)| {
            let ours = self.local.get(f).copied().unwrap_or(0);
            let after = ours.max(tops.get(f).copied().unwrap_or(0));
            flows(f.1, self.local_data, self.remote_data) && self.takes(f.1) && theirs > after
        })
    }

    /// Whether we count entries of `ns` the peer has as ours to receive: its role lets it
    /// send them, and ours lets it give them to us. A device that left or was blocked gets
    /// only `auth`, so it never waits for the rest (the peer stops offering it once it
    /// knows, whatever it announced before). A device without a role yet still counts
    /// everything: its role is on the way.
    fn takes(&self, ns: Namespace) -> bool {
        self.peer_role.may_send(ns)
            && (self.my_role.may_read(ns) || self.my_role == PeerRole::NoRole)
    }

    /// Whether we store entries of `ns` from this peer now: its role lets it send them, our
    /// own role (`own`, as it is now) lets us hold them — a device that left or was blocked
    /// keeps nothing but `auth`, while one without a role yet takes everything, its role
    /// being on the way — and they flow with data sync as it is here (`local_data`).
    fn accepts(&self, ns: Namespace, own: PeerRole, local_data: bool) -> bool {
        self.peer_role.may_send(ns)
            && (own.may_read(ns) || own == PeerRole::NoRole)
            && flows(ns, local_data, self.remote_data)
    }

    /// Whether we send entries of `ns` to this peer: it may read them, and our own role
    /// still lets us offer them.
    fn offers(&self, ns: Namespace) -> bool {
        self.peer_role.may_read(ns) && self.my_role.may_send(ns)
    }

    /// The next range to send: auth and config feeds first.
    fn next_send(&self) -> Option<(FeedKey, u64, u64)> {
        // Until the peer's first `Have` we do not know what it lacks: sending blind would
        // resend what it holds.
        if !self.peer_known {
            return None;
        }
        let mut best: Option<(FeedKey, u64, u64)> = None;
        for (f, &ours) in &self.local {
            let ns = f.1;
            if !(self.offers(ns) && flows(ns, self.local_data, self.remote_data)) {
                continue;
            }
            let from = self
                .peer_have
                .get(f)
                .copied()
                .unwrap_or(0)
                .max(self.sent_upto.get(f).copied().unwrap_or(0));
            if ours > from && best.is_none_or(|(b, _, _)| ns < b.1) {
                let end = ours.min(from + MAX_ENTRIES_PER_BATCH as u64);
                best = Some((*f, from, end));
            }
        }
        best
    }
}

fn store_err(e: impl std::fmt::Display) -> SyncError {
    SyncError::Store(e.to_string())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SyncError> + Send + 'static,
) -> Result<T, SyncError> {
    tokio::task::spawn_blocking(f).await.map_err(store_err)?
}

struct Session {
    id: u64,
    peer: DeviceId,
    handshake_hash: [u8; 32],
    board: Arc<SyncBoard>,
    links: BTreeMap<ProjectTag, Link>,
    peer_tags: HashSet<ProjectTag>,
    current_projects: Vec<Arc<dyn Replica>>,
    control: mpsc::Sender<Message>,
    dirty: Arc<Mutex<HashSet<ProjectTag>>>,
    notify: Arc<Notify>,
    tasks: JoinSet<()>,
    inbox: Option<Arc<dyn Fn(DeviceId, crate::invites::InviteMessage) + Send + Sync>>,
    /// Where map-share messages from the peer go.
    map_inbox: Option<MapInbox>,
    /// The holdings resets as last seen (new links start from them).
    resets_seen: HoldingsResets,
}

/// Whether two handles are the same project object (not merely the same project).
fn same_replica(a: &Arc<dyn Replica>, b: &Arc<dyn Replica>) -> bool {
    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}

/// Runs a sync session until the peer closes it, `shutdown` is set, or it fails.
pub async fn run_session<T: Transport>(
    transport: T,
    mut params: SessionParams,
) -> Result<SessionEnd, SyncError> {
    let (mut reader, mut writer) = transport.split();
    let (control_tx, mut control_rx) = mpsc::channel::<Message>(MAX_QUEUED_CONTROL);
    let (data_tx, mut data_rx) = mpsc::channel::<Message>(1);
    let (in_tx, mut in_rx) = mpsc::channel::<Result<Message, SyncError>>(INCOMING_DEPTH);
    let mut tasks = JoinSet::new();
    let mut map_inbox = None;
    let inbox = match params.device.take() {
        Some(DeviceLink {
            mut outbox,
            inbox,
            maps,
        }) => {
            if let Some(maps) = maps {
                // Map-share messages share the data lane: a package streams beside entries
                // and blobs, one message at a time, and never delays acks or pings.
                let (mut map_outbox, data) = (maps.outbox, data_tx.clone());
                tasks.spawn(async move {
                    while let Some(m) = map_outbox.recv().await {
                        if data.send(m).await.is_err() {
                            return;
                        }
                    }
                });
                map_inbox = Some(maps.inbox);
            }
            let control = control_tx.clone();
            tasks.spawn(async move {
                while let Some(m) = outbox.recv().await {
                    if control.send(Message::Invite(m)).await.is_err() {
                        return;
                    }
                }
            });
            Some(inbox)
        }
        None => None,
    };
    tasks.spawn(async move {
        loop {
            let msg = tokio::select! {
                biased;
                m = control_rx.recv() => m,
                m = data_rx.recv() => m,
            };
            let Some(msg) = msg else { return };
            let Ok(wire) = msg.to_wire() else { return };
            if writer.send_parts(&wire.parts()).await.is_err() {
                return;
            }
        }
    });
    tasks.spawn(async move {
        loop {
            let item = match reader.recv().await {
                Ok(bytes) => Message::decode_owned(bytes).map_err(|_| SyncError::Malformed),
                Err(e) => Err(e),
            };
            let stop = item.is_err();
            if in_tx.send(item).await.is_err() || stop {
                return;
            }
        }
    });
    let mut s = Session {
        id: params.board.new_session(),
        peer: params.peer,
        handshake_hash: params.handshake_hash,
        board: params.board.clone(),
        links: BTreeMap::new(),
        peer_tags: HashSet::new(),
        current_projects: Vec::new(),
        control: control_tx,
        dirty: Arc::new(Mutex::new(HashSet::new())),
        notify: Arc::new(Notify::new()),
        tasks,
        inbox,
        map_inbox,
        resets_seen: params.holdings_resets.borrow_and_update().clone(),
    };
    let result = s.run(&mut params, &mut in_rx, &data_tx).await;
    if let Err(e) = &result {
        let reason = match e {
            SyncError::Malformed => Some(CloseReason::Malformed),
            SyncError::InvalidEntries(_) => Some(CloseReason::InvalidEntries),
            SyncError::UnsupportedVersion(_) => Some(CloseReason::UnsupportedVersion),
            _ => None,
        };
        if let Some(reason) = reason {
            tracing::warn!(peer = %s.peer.short(), "closing sync session: {e}");
            s.close(reason).await;
        } else {
            tracing::info!(peer = %s.peer.short(), "sync session ended: {e}");
        }
    }
    s.board.disconnected(s.id, &s.peer);
    s.tasks.abort_all();
    result
}

impl Session {
    fn project_tags(&self, projects: &[Arc<dyn Replica>]) -> Vec<ProjectTag> {
        projects
            .iter()
            .map(|p| p.tag(&self.handshake_hash))
            .collect()
    }

    async fn send_control(&self, m: Message) -> Result<(), SyncError> {
        self.control.try_send(m).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SyncError::Backlogged,
            mpsc::error::TrySendError::Closed(_) => SyncError::Transport("writer stopped".into()),
        })
    }

    /// Sends `Close` and gives the writer a moment to put it on the wire.
    async fn close(&mut self, reason: CloseReason) {
        let _ = self.control.try_send(Message::Close { reason });
        let _ = tokio::time::timeout(Duration::from_millis(200), async {
            while self.control.capacity() < self.control.max_capacity() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    }

    async fn run(
        &mut self,
        params: &mut SessionParams,
        in_rx: &mut mpsc::Receiver<Result<Message, SyncError>>,
        data_tx: &mpsc::Sender<Message>,
    ) -> Result<SessionEnd, SyncError> {
        self.current_projects = params.projects.borrow_and_update().clone();
        self.send_control(Message::Projects {
            version: SYNC_PROTOCOL_VERSION,
            tags: self.project_tags(&self.current_projects),
        })
        .await?;
        let mut ping = tokio::time::interval(params.ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        let mut resets_open = true;
        loop {
            let pending = self
                .links
                .values()
                .any(|l| l.next_send().is_some() || l.blobs.has_outgoing());
            tokio::select! {
                biased;
                r = params.shutdown.changed() => {
                    let reason = if r.is_err() {
                        Some(CloseReason::ShuttingDown)
                    } else {
                        *params.shutdown.borrow()
                    };
                    if let Some(reason) = reason {
                        self.close(reason).await;
                        return Ok(SessionEnd::Shutdown);
                    }
                }
                msg = in_rx.recv() => {
                    let msg = msg.ok_or_else(|| SyncError::Transport("reader stopped".into()))??;
                    last_heard = Instant::now();
                    let after = match msg {
                        Message::Entries { project, entries } => {
                            let mut group: Vec<Entry> =
                                entries.into_iter().map(Entry::from).collect();
                            let after = gather(in_rx, project, &mut group);
                            self.receive(project, group).await?;
                            after
                        }
                        other => {
                            if let Some(end) = self.handle(other).await? {
                                return Ok(end);
                            }
                            None
                        }
                    };
                    // The message that ended a group is handled on its own, so that a steady
                    // stream never keeps the loop from its other work.
                    if let Some(msg) = after
                        && let Some(end) = self.handle(msg?).await?
                    {
                        return Ok(end);
                    }
                }
                () = self.notify.notified() => {
                    let tags: Vec<ProjectTag> = self.dirty.lock().map(|mut d| d.drain().collect()).unwrap_or_default();
                    for tag in tags {
                        self.refresh(&tag).await?;
                    }
                }
                r = params.holdings_resets.changed(), if resets_open => {
                    if r.is_ok() {
                        let resets = params.holdings_resets.borrow_and_update().clone();
                        self.reset_holdings(&resets).await?;
                    } else {
                        // Nobody will declare resets any more: stop watching.
                        resets_open = false;
                    }
                }
                r = params.projects.changed() => {
                    if r.is_ok() {
                        self.current_projects = params.projects.borrow_and_update().clone();
                        let projects = self.current_projects.clone();
                        self.send_control(Message::Projects {
                            version: SYNC_PROTOCOL_VERSION,
                            tags: self.project_tags(&projects),
                        }).await?;
                        self.link_shared(&projects).await?;
                    }
                }
                permit = data_tx.reserve(), if pending => {
                    let permit = permit.map_err(|_| SyncError::Transport("writer stopped".into()))?;
                    if let Some(msg) = self.next_batch().await? {
                        permit.send(msg);
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > params.silence_timeout {
                        return Err(SyncError::Silent);
                    }
                    self.send_control(Message::Ping).await?;
                }
            }
        }
    }

    async fn handle(&mut self, msg: Message) -> Result<Option<SessionEnd>, SyncError> {
        match msg {
            Message::Projects { version, tags } => {
                tracing::debug!(peer = %self.peer.short(), n = tags.len(), "projects");
                if version != SYNC_PROTOCOL_VERSION {
                    return Err(SyncError::UnsupportedVersion(version));
                }
                self.peer_tags = tags.into_iter().collect();
                let projects = self.current_projects.clone();
                self.link_shared(&projects).await?;
            }
            Message::Have {
                project,
                feeds,
                reset,
            } => {
                tracing::debug!(peer = %self.peer.short(), feeds = feeds.len(), reset, linked = self.links.contains_key(&project), "have");
                if let Some(link) = self.links.get_mut(&project) {
                    link.peer_known = true;
                    if reset {
                        // The peer holds less than it said (left, repaired, wiped): what it
                        // lists now is all it has, and what we sent before may be gone.
                        link.peer_have.clear();
                        link.sent_upto.clear();
                    }
                    for FeedLength {
                        author,
                        namespace,
                        length,
                    } in feeds
                    {
                        let have = link.peer_have.entry((author, namespace)).or_insert(0);
                        *have = (*have).max(length);
                    }
                    if link.replica.awaits_own_entries() {
                        let replica = link.replica.clone();
                        let heard = link.peer_have.clone();
                        blocking(move || replica.note_peer_holdings(&heard)).await?;
                    }
                    self.publish(&project);
                }
            }
            Message::SyncEnabled {
                project,
                data,
                answer,
            } => {
                if let Some(link) = self.links.get_mut(&project) {
                    link.remote_data = data;
                    if answer {
                        link.unanswered = link.unanswered.saturating_sub(1);
                        self.rewant(&project).await?;
                        self.refresh_blobs(&project).await?;
                        self.publish(&project);
                    } else {
                        // Answer with what holds now: catch up with local changes this
                        // session has not acted on yet (our switch, new entries: a `Have`
                        // goes out first), so the peer never counts itself synced on a
                        // switch we are turning on or on entries we just wrote.
                        self.refresh(&project).await?;
                        let now = self.links.get(&project).is_some_and(|l| l.local_data);
                        self.send_control(Message::SyncEnabled {
                            project,
                            data: now,
                            answer: true,
                        })
                        .await?;
                    }
                }
            }
            Message::Want { project, feeds } => {
                if let Some(link) = self.links.get_mut(&project) {
                    for FeedLength {
                        author,
                        namespace,
                        length,
                    } in feeds
                    {
                        // A want is the peer's exact position (it may have lost entries,
                        // e.g. after leaving a project): resend from there.
                        link.sent_upto.insert((author, namespace), length);
                        link.peer_have.insert((author, namespace), length);
                    }
                    self.publish(&project);
                }
            }
            Message::Entries { project, entries } => {
                self.receive(project, entries.into_iter().map(Entry::from).collect())
                    .await?;
            }
            Message::Ping => self.send_control(Message::Pong).await?,
            Message::Pong => {}
            Message::Close { reason } => return Ok(Some(SessionEnd::ClosedByPeer(reason))),
            Message::Invite(m) => {
                if let Some(inbox) = &self.inbox {
                    inbox(self.peer, m);
                }
            }
            m @ (Message::BlobHave { .. }
            | Message::BlobRequest { .. }
            | Message::BlobCancel { .. }
            | Message::BlobChunk { .. }
            | Message::BlobMissing { .. }) => self.on_blob_message(m).await?,
            Message::MapShare(step) => self.on_map_step(step).await?,
            Message::MapChunk {
                share,
                offset,
                size,
                data,
            } => {
                if let Some(inbox) = &self.map_inbox {
                    let chunk = super::map_share::MapShareIncoming::Chunk {
                        id: share,
                        offset,
                        size,
                        data,
                    };
                    inbox(self.peer, chunk).await;
                }
            }
        }
        Ok(None)
    }

    /// Hands a map-share step to the device. An offer from a peer that shares no project
    /// with this device (or only ones it was blocked from or left) is declined unseen:
    /// strangers cannot push maps.
    async fn on_map_step(
        &mut self,
        step: super::map_share::MapShareMessage,
    ) -> Result<(), SyncError> {
        use super::map_share::{MapShareIncoming, MapShareMessage};
        let Some(inbox) = &self.map_inbox else {
            return Ok(());
        };
        if let MapShareMessage::Offer { offer } = &step {
            let member = self
                .links
                .values()
                .any(|l| !matches!(l.peer_role, PeerRole::Blocked | PeerRole::Left));
            if !member {
                tracing::info!(peer = %self.peer.short(), "map offer from a device sharing no project refused");
                return self
                    .send_control(Message::MapShare(MapShareMessage::Decline { id: offer.id }))
                    .await;
            }
        }
        inbox(self.peer, MapShareIncoming::Step(step)).await;
        Ok(())
    }
}

impl Session {
    /// Starts exchanging every project both sides hold that is not linked yet.
    async fn link_shared(&mut self, projects: &[Arc<dyn Replica>]) -> Result<(), SyncError> {
        for p in projects {
            let tag = p.tag(&self.handshake_hash);
            if !self.peer_tags.contains(&tag) {
                continue;
            }
            if let Some(link) = self.links.get(&tag) {
                // The same project behind a new handle (its store reopened or replaced): watch
                // the new one, and re-read what it holds (a shrink is announced as a reset).
                if !same_replica(&link.replica, p) {
                    let watcher = self.watch_replica(tag, p);
                    if let Some(link) = self.links.get_mut(&tag) {
                        link.watcher.abort();
                        link.watcher = watcher;
                        link.replica = p.clone();
                    }
                    self.refresh(&tag).await?;
                }
                continue;
            }
            // Watch for changes before reading the state: a write that lands between the two
            // (say, the role record of an invitee who just joined) still wakes the link.
            let watcher = self.watch_replica(tag, p);
            let asked = *p.sync_asks().borrow();
            let replica = p.clone();
            let local = blocking(move || replica.have_vector()).await?;
            let local_data = *p.data_sync().borrow();
            let project_id = p.project_id();
            self.links.insert(
                tag,
                Link {
                    replica: p.clone(),
                    project_id,
                    local,
                    announced: BTreeMap::new(),
                    peer_have: BTreeMap::new(),
                    sent_upto: BTreeMap::new(),
                    local_data,
                    remote_data: false,
                    peer_role: p.role_of(&self.peer),
                    my_role: p.own_role(),
                    peer_known: false,
                    unanswered: 1,
                    asked,
                    refused: BTreeMap::new(),
                    received: 0,
                    sent: 0,
                    blobs: Default::default(),
                    watcher,
                    resets: self.resets_seen.get(&project_id).copied().unwrap_or(0),
                    reset_due: false,
                },
            );
            self.send_control(Message::SyncEnabled {
                project: tag,
                data: local_data,
                answer: false,
            })
            .await?;
            self.refresh_blobs(&tag).await?;
            self.announce(&tag, false).await?;
            self.publish(&tag);
        }
        Ok(())
    }

    /// Wakes the link `tag` whenever the replica's entries, data-sync switch or asks for
    /// the peer's switch change. Subscribes before returning, so a change made after this
    /// call is never missed.
    fn watch_replica(&mut self, tag: ProjectTag, p: &Arc<dyn Replica>) -> tokio::task::AbortHandle {
        let (mut changes, mut data, mut asks) = (p.changes(), p.data_sync(), p.sync_asks());
        changes.borrow_and_update();
        data.borrow_and_update();
        asks.borrow_and_update();
        let (dirty, notify) = (self.dirty.clone(), self.notify.clone());
        self.tasks.spawn(async move {
            loop {
                let alive = tokio::select! {
                    r = changes.changed() => r.is_ok(),
                    r = data.changed() => r.is_ok(),
                    r = asks.changed() => r.is_ok(),
                };
                if !alive {
                    return;
                }
                if let Ok(mut d) = dirty.lock() {
                    d.insert(tag);
                }
                notify.notify_one();
            }
        })
    }

    /// Announces afresh, as a reset, the holdings of every linked project whose count in
    /// `resets` moved since this session last did.
    async fn reset_holdings(&mut self, resets: &HoldingsResets) -> Result<(), SyncError> {
        self.resets_seen = resets.clone();
        let due: Vec<ProjectTag> = self
            .links
            .iter_mut()
            .filter_map(|(tag, link)| {
                let now = resets.get(&link.project_id).copied().unwrap_or(0);
                (now != link.resets).then(|| {
                    link.resets = now;
                    *tag
                })
            })
            .collect();
        for tag in due {
            if let Some(link) = self.links.get_mut(&tag) {
                link.reset_due = true;
            }
            self.refresh(&tag).await?;
        }
        Ok(())
    }

    /// Tells the peer which of the feeds it may read grew since we last said.
    /// With `reset`, tells it everything it may read that we hold, replacing what we said
    /// before (our holdings shrank).
    async fn announce(&mut self, tag: &ProjectTag, reset: bool) -> Result<(), SyncError> {
        let Some(link) = self.links.get_mut(tag) else {
            return Ok(());
        };
        if reset {
            link.announced.clear();
        }
        // The first `Have` goes out even when empty: it tells the peer we hold nothing more.
        let first = link.announced.is_empty();
        let mut feeds = Vec::new();
        for (&(author, namespace), &length) in &link.local {
            // What we hold, not what we offer: a `Have` also acknowledges what the peer sent.
            if link.peer_role.may_read(namespace)
                && link.announced.get(&(author, namespace)) != Some(&length)
            {
                feeds.push(FeedLength {
                    author,
                    namespace,
                    length,
                });
                link.announced.insert((author, namespace), length);
            }
        }
        if feeds.is_empty() && !first {
            return Ok(());
        }
        self.send_control(Message::Have {
            project: *tag,
            feeds,
            reset,
        })
        .await
    }

    /// Re-reads a project's feeds, role and data-sync switch after a local change.
    async fn refresh(&mut self, tag: &ProjectTag) -> Result<(), SyncError> {
        let Some(link) = self.links.get(tag) else {
            return Ok(());
        };
        let replica = link.replica.clone();
        let local = blocking(move || replica.have_vector()).await?;
        let role = link.replica.role_of(&self.peer);
        let my_role = link.replica.own_role();
        let local_data = *link.replica.data_sync().borrow();
        let asked = *link.replica.sync_asks().borrow();
        // Our switch changed, or a wait for sync here needs the peer's as of now: tell the
        // peer ours, and count its switch unknown until it answers.
        let ask = local_data != link.local_data || asked != link.asked;
        // A feed shorter than we held (or gone): our holdings shrank (we left the project,
        // or its store was replaced), and the peer must stop counting on what we announced.
        let shrunk = link
            .local
            .iter()
            .any(|(f, &n)| local.get(f).copied().unwrap_or(0) < n);
        let mut reset = false;
        if let Some(link) = self.links.get_mut(tag) {
            reset = std::mem::take(&mut link.reset_due) || shrunk;
            link.local = local;
            link.peer_role = role;
            link.my_role = my_role;
            link.local_data = local_data;
            if ask {
                link.unanswered = link.unanswered.saturating_add(1);
                link.asked = asked;
            }
        }
        if ask {
            self.send_control(Message::SyncEnabled {
                project: *tag,
                data: local_data,
                answer: false,
            })
            .await?;
        }
        self.rewant(tag).await?;
        // Blob requests go out before the `Have` that acknowledges the entries naming them,
        // so the peer never sees us synced while we still want its blobs.
        self.refresh_blobs(tag).await?;
        self.announce(tag, reset).await?;
        self.publish(tag);
        Ok(())
    }

    /// Asks again for refused entries that we would now take.
    async fn rewant(&mut self, tag: &ProjectTag) -> Result<(), SyncError> {
        let Some(link) = self.links.get_mut(tag) else {
            return Ok(());
        };
        let (own, local_data) = (link.my_role, link.local_data);
        let now_ok: Vec<FeedKey> = link
            .refused
            .keys()
            .filter(|(_, ns)| link.accepts(*ns, own, local_data))
            .copied()
            .collect();
        if now_ok.is_empty() {
            return Ok(());
        }
        let feeds = now_ok
            .iter()
            .map(|f| {
                link.refused.remove(f);
                FeedLength {
                    author: f.0,
                    namespace: f.1,
                    length: link.local.get(f).copied().unwrap_or(0),
                }
            })
            .collect();
        self.send_control(Message::Want {
            project: *tag,
            feeds,
        })
        .await
    }

    fn publish(&self, tag: &ProjectTag) {
        if let Some(link) = self.links.get(tag) {
            self.board
                .update(self.id, link.project_id, link.state(self.peer));
        }
    }

    /// Verifies and stores a batch from the peer, then acknowledges it with a `Have`.
    async fn receive(&mut self, tag: ProjectTag, entries: Vec<Entry>) -> Result<(), SyncError> {
        let Some(link) = self.links.get(&tag) else {
            return Ok(());
        };
        tracing::debug!(peer = %self.peer.short(), n = entries.len(), "entries in");
        // Data sync as it is now, not as this session last saw it: entries that arrive just
        // after the user turned it off are refused (and asked for again when it is back on).
        let local_data = *link.replica.data_sync().borrow();
        // Our own role as it is now, too: entries that arrive just after we left are not
        // kept, and ones that arrive before the record of a new role are asked for again.
        let own = link.replica.own_role();
        let allowed = entries
            .iter()
            .all(|e| link.accepts(e.namespace, own, local_data));
        if !allowed || entries.is_empty() {
            // Not ours to take from this peer now. Remember it, and ask again once our view
            // of its role or of data sync allows it.
            if let Some(link) = self.links.get_mut(&tag) {
                for e in &entries {
                    let f = (e.author, e.namespace);
                    let ours = link.local.get(&f).copied().unwrap_or(0);
                    link.refused.insert(f, ours);
                }
            }
            return Ok(());
        }
        // A batch that starts past what we hold: the peer believes we have entries we no
        // longer have (we purged them). Tell it where we stand instead of failing.
        let mut gaps = self.gaps(&tag, &entries);
        if !gaps.is_empty() {
            // Our view may be behind (another session just stored entries): look again.
            self.refresh(&tag).await?;
            gaps = self.gaps(&tag, &entries);
        }
        let Some(link) = self.links.get(&tag) else {
            return Ok(());
        };
        if !gaps.is_empty() {
            return self
                .send_control(Message::Want {
                    project: tag,
                    feeds: gaps,
                })
                .await;
        }
        let replica = link.replica.clone();
        let tops: BTreeMap<FeedKey, u64> = entries
            .iter()
            .map(|e| ((e.author, e.namespace), e.seq + 1))
            .collect();
        // Work that gains from larger groups (the search indexes) waits while the peer
        // holds more for us.
        let more_to_come = link.wants_beyond(&tops);
        let appended = blocking(move || replica.import(&entries, more_to_come)).await?;
        if let Some(link) = self.links.get_mut(&tag) {
            link.received += appended as u64;
            for (f, top) in tops {
                let have = link.peer_have.entry(f).or_insert(0);
                *have = (*have).max(top);
            }
        }
        self.refresh(&tag).await
    }

    /// The feeds a batch starts past what we hold in, each with our length: the batch
    /// cannot be stored, and the peer should resend from there.
    fn gaps(&self, tag: &ProjectTag, entries: &[Entry]) -> Vec<FeedLength> {
        let Some(link) = self.links.get(tag) else {
            return Vec::new();
        };
        let mut starts: BTreeMap<FeedKey, u64> = BTreeMap::new();
        for e in entries {
            let start = starts.entry((e.author, e.namespace)).or_insert(e.seq);
            *start = (*start).min(e.seq);
        }
        starts
            .into_iter()
            .filter_map(|((author, namespace), start)| {
                let ours = link.local.get(&(author, namespace)).copied().unwrap_or(0);
                (start > ours).then_some(FeedLength {
                    author,
                    namespace,
                    length: ours,
                })
            })
            .collect()
    }

    /// Reads the next batch the peer lacks, if any.
    async fn next_batch(&mut self) -> Result<Option<Message>, SyncError> {
        let Some((tag, (feed, from, to))) = self
            .links
            .iter()
            .find_map(|(tag, l)| l.next_send().map(|r| (*tag, r)))
        else {
            // No entries wait: blobs follow them.
            return self.next_blob_chunk().await;
        };
        let Some(link) = self.links.get(&tag) else {
            return Ok(None);
        };
        let replica = link.replica.clone();
        let mut entries = blocking(move || replica.read_entries(feed, from, to)).await?;
        let mut bytes = 0;
        let keep = entries
            .iter()
            .take_while(|e| {
                bytes += e.payload.len();
                bytes <= BATCH_PAYLOAD_BYTES
            })
            .count()
            .max(1);
        entries.truncate(keep);
        let n = entries.len() as u64;
        if n == 0 {
            // The feed is shorter than we believed: re-read our state.
            self.refresh(&tag).await?;
            return Ok(None);
        }
        tracing::debug!(peer = %self.peer.short(), ns = ?feed.1, from, n, "entries out");
        if let Some(link) = self.links.get_mut(&tag) {
            link.sent_upto.insert(feed, from + n);
            link.sent += n;
        }
        self.publish(&tag);
        Ok(Some(Message::Entries {
            project: tag,
            entries: entries.into_iter().map(Into::into).collect(),
        }))
    }
}

/// Blob transfer (DESIGN §6.5): the glue between the session and `sync/blobs.rs`.
impl Link {
    /// Which way blobs move with this peer now: they follow the blob-index namespace.
    fn blob_flow(&self) -> super::blobs::BlobFlow {
        let ns = Namespace::BlobIndex;
        let on = flows(ns, self.local_data, self.remote_data);
        super::blobs::BlobFlow {
            inbound: on && self.peer_role.may_send(ns),
            outbound: on && self.offers(ns),
            announce: self.peer_role.may_read(ns),
        }
    }

    /// How many blob-index entries we hold: the wanted blobs change with it.
    fn blob_index_entries(&self) -> u64 {
        self.local
            .iter()
            .filter(|((_, ns), _)| *ns == Namespace::BlobIndex)
            .map(|(_, n)| *n)
            .sum()
    }
}

impl Session {
    /// Brings a project's blob transfer up to date and sends what that takes.
    async fn refresh_blobs(&mut self, tag: &ProjectTag) -> Result<(), SyncError> {
        let Some(link) = self.links.get_mut(tag) else {
            return Ok(());
        };
        let (flow, entries, replica) = (
            link.blob_flow(),
            link.blob_index_entries(),
            link.replica.clone(),
        );
        let msgs = link.blobs.refresh(*tag, &replica, flow, entries).await?;
        let retry = link.blobs.take_retry_timer();
        for m in msgs {
            self.send_control(m).await?;
        }
        if let Some(at) = retry {
            // Look again once a failed blob may be asked for again.
            let (dirty, notify, tag) = (self.dirty.clone(), self.notify.clone(), *tag);
            self.tasks.spawn(async move {
                tokio::time::sleep_until(at).await;
                if let Ok(mut d) = dirty.lock() {
                    d.insert(tag);
                }
                notify.notify_one();
            });
        }
        Ok(())
    }

    async fn on_blob_message(&mut self, msg: Message) -> Result<(), SyncError> {
        let tag = match &msg {
            Message::BlobHave { project, .. }
            | Message::BlobRequest { project, .. }
            | Message::BlobCancel { project, .. }
            | Message::BlobChunk { project, .. }
            | Message::BlobMissing { project, .. } => *project,
            _ => return Ok(()),
        };
        let Some(link) = self.links.get_mut(&tag) else {
            return Ok(());
        };
        let flow = link.blob_flow();
        match msg {
            Message::BlobHave { hashes, done, .. } => {
                link.blobs.on_have(hashes, done);
                self.refresh_blobs(&tag).await?;
            }
            Message::BlobRequest { blobs, .. } => {
                if let Some(missing) = link.blobs.on_request(tag, blobs, flow) {
                    self.send_control(missing).await?;
                }
            }
            Message::BlobCancel { hashes, .. } => link.blobs.on_cancel(&hashes),
            Message::BlobChunk {
                hash,
                offset,
                size,
                data,
                ..
            } => {
                // A finished download wakes this session, which then collects it.
                let (dirty, notify) = (self.dirty.clone(), self.notify.clone());
                let wake: super::blobs::Wake = Arc::new(move || {
                    if let Ok(mut d) = dirty.lock() {
                        d.insert(tag);
                    }
                    notify.notify_one();
                });
                link.blobs.on_chunk(hash, offset, size, data, wake).await?;
            }
            Message::BlobMissing { hashes, .. } => {
                link.blobs.on_missing(&hashes);
                self.refresh_blobs(&tag).await?;
            }
            _ => {}
        }
        self.publish(&tag);
        Ok(())
    }

    /// The next blob chunk any project has to send, if any.
    async fn next_blob_chunk(&mut self) -> Result<Option<Message>, SyncError> {
        let Some((tag, link)) = self.links.iter_mut().find(|(_, l)| l.blobs.has_outgoing()) else {
            return Ok(None);
        };
        let (tag, replica) = (*tag, link.replica.clone());
        let msg = link.blobs.next_chunk(tag, &replica).await?;
        self.publish(&tag);
        Ok(msg)
    }
}
