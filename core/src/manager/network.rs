//! The device on the network: the TCP listener, dialing peers, one sync session per
//! connected device (duplicates resolved deterministically), the peer list, pause and resume,
//! and the auto-stop of data sync after a quiet period. Wires `net` connections to `sync`
//! sessions; holds no protocol logic of its own.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::ids::{DeviceId, ProjectId};
use crate::invites::{InviteBox, InviteMessage};
use crate::net::{self, LocalIdentity, NetError, SecureReader, SecureStream, SecureWriter};
use crate::schema::DeviceType;
use crate::sync::session::{HoldingsResets, SessionParams};
use crate::sync::{
    CloseReason, PEER_SILENCE_TIMEOUT, PING_INTERVAL, Replica, SyncBoard, SyncError, Transport,
    TransportReader, TransportWriter, run_session,
};

/// How often the auto-stop watcher looks at a project's exchanges.
pub const AUTO_STOP_CHECK: Duration = Duration::from_millis(250);
/// Most sessions plus incoming handshakes in progress at once. An incoming connection beyond
/// it is closed before the handshake (outgoing connections are not limited).
pub const MAX_CONNECTIONS: usize = 64;
/// Most incoming handshakes in progress from one IP address. A connection beyond it is closed
/// before the handshake, so one address cannot use up [`MAX_CONNECTIONS`] with silent
/// connections (each holds its slot for at most the handshake timeout).
pub const MAX_PENDING_HANDSHAKES_PER_IP: usize = 8;
/// Pause after the operating system fails to accept a connection.
pub const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);
/// How long [`Network::disconnect_all`] waits for each session to end.
pub const DISCONNECT_WAIT: Duration = Duration::from_secs(2);

/// A device this one knows on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// Its proven identity.
    pub device_id: DeviceId,
    /// The name it gave.
    pub name: String,
    /// The kind of device it said it is.
    pub device_type: DeviceType,
    /// Whether a session with it is up.
    pub connected: bool,
}

struct Conn {
    id: u64,
    initiator: DeviceId,
    shutdown: watch::Sender<Option<CloseReason>>,
    task: JoinHandle<()>,
    outbox: mpsc::Sender<InviteMessage>,
    /// Map-share messages for the peer, if it takes part in map shares.
    maps: Option<mpsc::Sender<crate::sync::Message>>,
}

/// Invite messages queued for one peer before its session stops taking more.
pub const MAX_QUEUED_DEVICE_MESSAGES: usize = 16;

struct ListenerTask {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

/// Session timing (shortened in tests).
#[derive(Debug, Clone, Copy)]
pub struct SessionTiming {
    /// Keepalive ping interval.
    pub ping_interval: Duration,
    /// Silence after which a peer is dropped.
    pub silence_timeout: Duration,
}

impl Default for SessionTiming {
    fn default() -> Self {
        SessionTiming {
            ping_interval: PING_INTERVAL,
            silence_timeout: PEER_SILENCE_TIMEOUT,
        }
    }
}

/// The network side of a device.
pub struct Network {
    me: DeviceId,
    identity: Mutex<LocalIdentity>,
    board: Arc<SyncBoard>,
    projects: watch::Sender<Vec<Arc<dyn Replica>>>,
    holdings_resets: watch::Sender<HoldingsResets>,
    conns: Mutex<HashMap<DeviceId, Conn>>,
    peers: watch::Sender<BTreeMap<DeviceId, PeerStatus>>,
    listener: Mutex<Option<ListenerTask>>,
    last_listen_addr: Mutex<Option<SocketAddr>>,
    /// Addresses dialed by hand or by code, with the device that must answer (by code).
    dialed: Mutex<BTreeMap<SocketAddr, Option<DeviceId>>>,
    /// Incoming handshakes in progress, by remote IP.
    pending: Mutex<HashMap<IpAddr, usize>>,
    paused: AtomicBool,
    next_conn: AtomicU64,
    timing: SessionTiming,
    auto_stop: Mutex<HashMap<ProjectId, JoinHandle<()>>>,
    invites: Mutex<Option<Arc<InviteBox>>>,
    map_shares: Mutex<Option<Arc<super::map_share::MapShares>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for Network {
    fn drop(&mut self) {
        if let Some(l) = lock(&self.listener).take() {
            l.task.abort();
        }
        for (_, c) in lock(&self.conns).drain() {
            let _ = c.shutdown.send(Some(CloseReason::ShuttingDown));
            c.task.abort();
        }
        for (_, t) in lock(&self.auto_stop).drain() {
            t.abort();
        }
    }
}

/// A `net` connection as a `sync` transport.
struct NetTransport(SecureStream<TcpStream>);
struct NetReader(SecureReader<ReadHalf<TcpStream>>);
struct NetWriter(SecureWriter<WriteHalf<TcpStream>>);

fn transport_err(e: NetError) -> SyncError {
    SyncError::Transport(e.to_string())
}

impl Transport for NetTransport {
    type Reader = NetReader;
    type Writer = NetWriter;
    fn split(self) -> (NetReader, NetWriter) {
        let (r, w) = self.0.split();
        (NetReader(r), NetWriter(w))
    }
}

impl TransportReader for NetReader {
    async fn recv(&mut self) -> Result<Vec<u8>, SyncError> {
        self.0.recv().await.map_err(transport_err)
    }
}

impl TransportWriter for NetWriter {
    async fn send(&mut self, msg: &[u8]) -> Result<(), SyncError> {
        self.0.send(msg).await.map_err(transport_err)
    }

    async fn send_parts(&mut self, parts: &[&[u8]]) -> Result<(), SyncError> {
        self.0.send_parts(parts).await.map_err(transport_err)
    }
}

impl Network {
    /// The network side of a device with this identity.
    pub fn new(identity: LocalIdentity, timing: SessionTiming) -> Arc<Self> {
        Arc::new(Network {
            me: identity.keys.device_id(),
            identity: Mutex::new(identity),
            board: SyncBoard::new(),
            projects: watch::Sender::new(Vec::new()),
            holdings_resets: watch::Sender::new(HoldingsResets::new()),
            conns: Mutex::new(HashMap::new()),
            peers: watch::Sender::new(BTreeMap::new()),
            listener: Mutex::new(None),
            last_listen_addr: Mutex::new(None),
            dialed: Mutex::new(BTreeMap::new()),
            pending: Mutex::new(HashMap::new()),
            paused: AtomicBool::new(false),
            next_conn: AtomicU64::new(1),
            timing,
            auto_stop: Mutex::new(HashMap::new()),
            invites: Mutex::new(None),
            map_shares: Mutex::new(None),
        })
    }

    /// Lets sessions carry map shares with peers that announce the feature.
    pub(crate) fn attach_map_shares(self: &Arc<Self>, shares: Arc<super::map_share::MapShares>) {
        let peers: std::sync::Weak<dyn super::map_share::SharePeers> = Arc::downgrade(self) as _;
        shares.attach(peers);
        *lock(&self.map_shares) = Some(shares);
    }

    /// Whether `peer` is connected and takes part in map shares.
    pub fn takes_map_shares(&self, peer: &DeviceId) -> bool {
        lock(&self.conns)
            .get(peer)
            .is_some_and(|c| c.maps.is_some())
    }

    /// Lets sessions carry invites: what peers send goes to `invites`, which sends through
    /// the sessions.
    pub fn attach_invites(self: &Arc<Self>, invites: Arc<InviteBox>) {
        let this = Arc::downgrade(self);
        invites.attach(
            Arc::new(move |to, msg| this.upgrade().is_some_and(|n| n.send_to(&to, msg))),
            self.projects.subscribe(),
        );
        *lock(&self.invites) = Some(invites);
    }

    /// Queues an invite message to a connected peer; false if it is not connected (or not
    /// reading).
    pub fn send_to(&self, peer: &DeviceId, msg: InviteMessage) -> bool {
        lock(&self.conns)
            .get(peer)
            .is_some_and(|c| c.outbox.try_send(msg).is_ok())
    }

    /// Progress of every exchange.
    pub fn board(&self) -> Arc<SyncBoard> {
        self.board.clone()
    }

    /// Sets what this device tells peers about itself (for new connections).
    pub fn set_name(&self, name: String, device_type: DeviceType) {
        let mut id = lock(&self.identity);
        id.device_name = name;
        id.device_type = device_type;
    }

    /// Replaces the list of projects offered to peers (live sessions re-announce).
    pub fn set_projects(&self, projects: Vec<Arc<dyn Replica>>) {
        self.projects.send_replace(projects);
    }

    /// Makes every session tell its peer afresh, as a reset, what this device holds of
    /// `project` now: for a store replaced under the sessions (repaired, wiped), so peers
    /// stop counting on entries it no longer has and send them again.
    pub fn announce_holdings_reset(&self, project: ProjectId) {
        self.holdings_resets
            .send_modify(|m| *m.entry(project).or_insert(0) += 1);
    }

    /// Known peers.
    pub fn peers(&self) -> Vec<PeerStatus> {
        self.peers.borrow().values().cloned().collect()
    }

    /// Changes to the peer list.
    pub fn subscribe_peers(&self) -> watch::Receiver<BTreeMap<DeviceId, PeerStatus>> {
        self.peers.subscribe()
    }

    /// Starts accepting peers on `addr` (port 0: any free port). Returns the bound address.
    pub async fn start_listening(
        self: &Arc<Self>,
        addr: SocketAddr,
    ) -> Result<SocketAddr, NetError> {
        self.stop_listening().await;
        let listener = net::Listener::bind(addr).await?;
        let bound = listener.local_addr();
        let this = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            loop {
                let incoming = match listener.accept_incoming().await {
                    Ok(i) => i,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                        continue;
                    }
                };
                let Some(net) = this.upgrade() else { return };
                if net.paused.load(Ordering::SeqCst) {
                    continue;
                }
                let Some(slot) = PendingSlot::reserve(&net, incoming.remote_addr().ip()) else {
                    // Dropping `incoming` closes the connection before any handshake.
                    continue;
                };
                let identity = lock(&net.identity).clone();
                tokio::spawn(async move {
                    let result = incoming.handshake(&identity).await;
                    drop(slot);
                    match result {
                        Ok(stream) => {
                            net.adopt(stream);
                        }
                        Err(e) => tracing::info!("incoming connection refused: {e}"),
                    }
                });
            }
        });
        *lock(&self.listener) = Some(ListenerTask { addr: bound, task });
        *lock(&self.last_listen_addr) = Some(bound);
        Ok(bound)
    }

    /// Stops accepting peers (live sessions stay up). Returns once the port is free.
    pub async fn stop_listening(&self) {
        let task = lock(&self.listener).take();
        if let Some(l) = task {
            l.task.abort();
            let _ = l.task.await;
        }
    }

    /// The address being listened on, if any.
    pub fn listening_on(&self) -> Option<SocketAddr> {
        lock(&self.listener).as_ref().map(|l| l.addr)
    }

    /// Connects to a peer at `addr` and starts syncing with it. Returns its device id.
    pub async fn connect(self: &Arc<Self>, addr: SocketAddr) -> Result<DeviceId, NetError> {
        let stream = self.dial(addr).await?;
        Ok(self.adopt_dialed(addr, stream, None))
    }

    /// Opens an authenticated connection to `addr` without starting a session: the caller
    /// checks [`SecureStream::peer`], then hands it to [`Network::adopt_dialed`] or drops it.
    /// Bounded by the connect and handshake timeouts.
    pub async fn dial(&self, addr: SocketAddr) -> Result<SecureStream<TcpStream>, NetError> {
        let identity = lock(&self.identity).clone();
        net::connect(addr, &identity).await
    }

    /// Starts the session of a connection opened by [`Network::dial`], and remembers `addr`
    /// for [`Network::resume`]; with `pinned`, a resume accepts only that device there.
    pub fn adopt_dialed(
        self: &Arc<Self>,
        addr: SocketAddr,
        stream: SecureStream<TcpStream>,
        pinned: Option<DeviceId>,
    ) -> DeviceId {
        lock(&self.dialed).insert(addr, pinned);
        self.adopt(stream)
    }

    /// Dials a peer found by discovery and starts syncing with it. Not redialed by
    /// [`Network::resume`]: discovery keeps its own peers connected.
    pub async fn connect_discovered(
        self: &Arc<Self>,
        addr: SocketAddr,
    ) -> Result<DeviceId, NetError> {
        let stream = self.dial(addr).await?;
        Ok(self.adopt(stream))
    }

    /// This device's id.
    pub fn device_id(&self) -> DeviceId {
        self.me
    }

    /// Whether a session with `device` is up.
    pub fn is_connected(&self, device: &DeviceId) -> bool {
        lock(&self.conns).contains_key(device)
    }

    /// Whether networking is paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Closes every session (with `reason`) and waits for them to end.
    pub async fn disconnect_all(&self, reason: CloseReason) {
        let conns: Vec<(DeviceId, Conn)> = lock(&self.conns).drain().collect();
        for (_, c) in &conns {
            let _ = c.shutdown.send(Some(reason));
        }
        // Out of the table, a session's end no longer finds its entry to mark the peer
        // disconnected: mark them here, or the peer list would show them connected forever.
        self.mark_disconnected(conns.iter().map(|(peer, _)| *peer));
        for (_, c) in conns {
            let _ = tokio::time::timeout(DISCONNECT_WAIT, c.task).await;
        }
    }

    /// Closes the session with one peer (with `reason`) and waits for it to end. Returns
    /// whether one was up.
    pub async fn disconnect(&self, peer: &DeviceId, reason: CloseReason) -> bool {
        let Some(c) = lock(&self.conns).remove(peer) else {
            return false;
        };
        let _ = c.shutdown.send(Some(reason));
        self.mark_disconnected([*peer]);
        let _ = tokio::time::timeout(DISCONNECT_WAIT, c.task).await;
        true
    }

    /// Shows these peers as disconnected, unless a new session with one is up already.
    fn mark_disconnected(&self, peers: impl IntoIterator<Item = DeviceId>) {
        let gone: Vec<DeviceId> = {
            let conns = lock(&self.conns);
            peers
                .into_iter()
                .filter(|p| !conns.contains_key(p))
                .collect()
        };
        if gone.is_empty() {
            return;
        }
        self.peers.send_if_modified(|m| {
            let mut changed = false;
            for peer in &gone {
                if let Some(p) = m.get_mut(peer).filter(|p| p.connected) {
                    p.connected = false;
                    changed = true;
                }
            }
            changed
        });
    }

    /// Stops all networking (the app went to the background): no listening, no sessions.
    pub async fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        self.stop_listening().await;
        self.disconnect_all(CloseReason::ShuttingDown).await;
    }

    /// Stops everything that runs in the background for good: listening, every session,
    /// the auto-stop watchers. Like [`Network::pause`], but nothing is meant to resume.
    pub async fn close(&self) {
        self.pause().await;
        for (_, t) in lock(&self.auto_stop).drain() {
            t.abort();
        }
    }

    /// Undoes [`Network::pause`]: listens again on the same address and redials the peers
    /// that were dialed by hand.
    pub async fn resume(self: &Arc<Self>) -> Result<(), NetError> {
        self.paused.store(false, Ordering::SeqCst);
        let addr = *lock(&self.last_listen_addr);
        if let Some(addr) = addr {
            self.start_listening(addr).await?;
        }
        let dialed: Vec<(SocketAddr, Option<DeviceId>)> =
            lock(&self.dialed).iter().map(|(a, d)| (*a, *d)).collect();
        for (addr, pinned) in dialed {
            match self.dial(addr).await {
                Ok(stream) if pinned.is_some_and(|d| d != stream.peer().device_id) => {
                    tracing::info!(%addr, "another device answers there now: not reconnected");
                }
                Ok(stream) => {
                    self.adopt(stream);
                }
                Err(e) => tracing::info!(%addr, "could not reconnect: {e}"),
            }
        }
        Ok(())
    }

    /// Registers an authenticated connection and runs its sync session. With two connections
    /// to one device, both sides keep the one opened by the device with the smaller id (the
    /// newer one if both were opened by the same device).
    fn adopt(self: &Arc<Self>, stream: SecureStream<TcpStream>) -> DeviceId {
        let info = stream.peer().clone();
        let peer = info.device_id;
        if peer == self.me {
            tracing::info!("connection to ourselves closed");
            return peer;
        }
        let initiator = if stream.initiated_by_us() {
            self.me
        } else {
            peer
        };
        let preferred = self.me.min(peer);
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (shutdown, shutdown_rx) = watch::channel(None);
        let mut conns = lock(&self.conns);
        if let Some(existing) = conns.get(&peer) {
            let keep_new = initiator == existing.initiator || initiator == preferred;
            if !keep_new {
                tracing::info!(peer = %peer.short(), "duplicate connection closed");
                return peer;
            }
            let _ = existing.shutdown.send(Some(CloseReason::Duplicate));
        }
        let (outbox, outbox_rx) = mpsc::channel(MAX_QUEUED_DEVICE_MESSAGES);
        let shares = lock(&self.map_shares).clone().filter(|_| {
            info.features
                .iter()
                .any(|f| f == crate::sync::map_share::MAP_SHARE_FEATURE)
        });
        let (map_outbox, map_link) = match shares.clone() {
            Some(shares) => {
                let (tx, rx) = mpsc::channel(crate::sync::map_share::MAP_OUTBOX_DEPTH);
                let link = crate::sync::map_share::MapShareLink {
                    outbox: rx,
                    inbox: Arc::new(move |from, msg| {
                        let shares = shares.clone();
                        Box::pin(async move { shares.deliver(from, msg).await })
                    }),
                };
                (Some(tx), Some(link))
            }
            None => (None, None),
        };
        let device = lock(&self.invites).clone().map(|invites| {
            let inbox: Arc<dyn Fn(DeviceId, InviteMessage) + Send + Sync> =
                Arc::new(move |from, msg| invites.handle(from, msg));
            crate::sync::session::DeviceLink {
                outbox: outbox_rx,
                inbox,
                maps: map_link,
            }
        });
        let params = SessionParams {
            peer,
            handshake_hash: stream.handshake_hash(),
            projects: self.projects.subscribe(),
            board: self.board.clone(),
            shutdown: shutdown_rx,
            ping_interval: self.timing.ping_interval,
            silence_timeout: self.timing.silence_timeout,
            device,
            holdings_resets: self.holdings_resets.subscribe(),
        };
        let this = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let end = run_session(NetTransport(stream), params).await;
            tracing::info!(peer = %peer.short(), "session ended: {end:?}");
            if let Some(net) = this.upgrade() {
                net.forget(peer, id);
                if !net.is_connected(&peer) {
                    let invites = lock(&net.invites).clone();
                    if let Some(invites) = invites {
                        invites.peer_gone(peer);
                    }
                    let shares = lock(&net.map_shares).clone();
                    if let Some(shares) = shares {
                        shares.peer_gone(peer);
                    }
                }
            }
        });
        conns.insert(
            peer,
            Conn {
                id,
                initiator,
                shutdown,
                task,
                outbox,
                maps: map_outbox,
            },
        );
        drop(conns);
        if let Some(shares) = shares {
            shares.peer_connected(peer);
        }
        self.peers.send_modify(|m| {
            m.insert(
                peer,
                PeerStatus {
                    device_id: peer,
                    name: info.device_name,
                    device_type: info.device_type,
                    connected: true,
                },
            );
        });
        peer
    }

    fn forget(&self, peer: DeviceId, id: u64) {
        let mut conns = lock(&self.conns);
        if conns.get(&peer).is_some_and(|c| c.id == id) {
            conns.remove(&peer);
            drop(conns);
            self.peers.send_modify(|m| {
                if let Some(p) = m.get_mut(&peer) {
                    p.connected = false;
                }
            });
        }
    }

    /// How many sessions are up.
    pub fn connection_count(&self) -> usize {
        lock(&self.conns).len()
    }

    /// How many incoming handshakes are in progress.
    pub fn pending_handshakes(&self) -> usize {
        lock(&self.pending).values().sum()
    }

    /// Turns data sync off for `project` once every exchange has been quiet and synced for
    /// `quiet` (None: never).
    pub fn set_auto_stop(&self, project: Arc<crate::project::Project>, quiet: Option<Duration>) {
        let id = project.id();
        if let Some(t) = lock(&self.auto_stop).remove(&id) {
            t.abort();
        }
        let Some(quiet) = quiet else { return };
        let board = self.board.clone();
        let task = tokio::spawn(async move {
            let mut last_counts = None;
            let mut quiet_since = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(AUTO_STOP_CHECK.min(quiet)).await;
                if !project.data_sync_enabled() {
                    quiet_since = tokio::time::Instant::now();
                    continue;
                }
                let states = board.project(&id);
                let counts: Vec<(u64, u64)> = states.iter().map(|s| (s.received, s.sent)).collect();
                let synced = states
                    .iter()
                    .filter(|s| s.connected)
                    .all(|s| s.is_synced(crate::sync::SyncPhase::Full));
                if Some(&counts) != last_counts.as_ref() || !synced {
                    last_counts = Some(counts);
                    quiet_since = tokio::time::Instant::now();
                } else if quiet_since.elapsed() >= quiet {
                    tracing::info!("data sync stopped after a quiet period");
                    project.set_data_sync(false);
                }
            }
        });
        lock(&self.auto_stop).insert(id, task);
    }
}

impl super::map_share::SharePeers for Network {
    fn map_outbox(&self, peer: &DeviceId) -> Option<mpsc::Sender<crate::sync::Message>> {
        lock(&self.conns).get(peer).and_then(|c| c.maps.clone())
    }

    fn peer_name(&self, peer: &DeviceId) -> Option<String> {
        self.peers.borrow().get(peer).map(|p| p.name.clone())
    }
}

/// One incoming handshake in progress, counted against [`MAX_CONNECTIONS`] and
/// [`MAX_PENDING_HANDSHAKES_PER_IP`] until dropped.
struct PendingSlot {
    net: Arc<Network>,
    ip: IpAddr,
}

impl PendingSlot {
    /// A slot for a connection from `ip`, or None if it is over a limit.
    fn reserve(net: &Arc<Network>, ip: IpAddr) -> Option<PendingSlot> {
        let ip = ip.to_canonical();
        let mut pending = lock(&net.pending);
        let total: usize = pending.values().sum();
        let sessions = lock(&net.conns).len();
        if sessions + total >= MAX_CONNECTIONS {
            tracing::info!("incoming connection dropped: connection limit reached");
            return None;
        }
        let from_ip = pending.entry(ip).or_insert(0);
        if *from_ip >= MAX_PENDING_HANDSHAKES_PER_IP {
            tracing::info!("incoming connection dropped: too many handshakes from one address");
            return None;
        }
        *from_ip += 1;
        Some(PendingSlot {
            net: net.clone(),
            ip,
        })
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut pending = lock(&self.net.pending);
        if let Some(n) = pending.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                pending.remove(&self.ip);
            }
        }
    }
}

/// Discovery dials through the network without knowing it (it sits below the manager).
impl crate::discovery::Dialer for Network {
    fn device_id(&self) -> DeviceId {
        Network::device_id(self)
    }

    fn is_paused(&self) -> bool {
        Network::is_paused(self)
    }

    fn is_connected(&self, device: &DeviceId) -> bool {
        Network::is_connected(self, device)
    }

    fn connect_discovered(
        self: &Arc<Self>,
        addr: SocketAddr,
    ) -> impl Future<Output = Result<DeviceId, NetError>> + Send {
        Network::connect_discovered(self, addr)
    }
}
