//! Helpers shared by the core's integration tests: deterministic devices in temp folders
//! with controllable clocks, and entry transfer between projects (what sync will do).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod media;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use mapeo_core::project::ImportSummary;
use mapeo_core::schema::{DocValue, Observation, TagValue};
use mapeo_core::{Manager, Project, RootKey, Timestamp};

/// Logs to stderr when `MAPEO_TEST_LOG` is set (a `tracing` filter such as `mapeo_core=info`).
pub fn init_logs() {
    if let Ok(filter) = std::env::var("MAPEO_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init();
    }
}

/// 2025-01-01T00:00:00Z in milliseconds.
pub const T0: i64 = 1_735_689_600_000;

/// A device in a temp folder with a clock that advances `step` ms per write.
pub struct Device {
    pub dir: tempfile::TempDir,
    pub manager: Manager,
    pub now: Arc<AtomicI64>,
    pub step: Arc<AtomicI64>,
    pub seed: u8,
}

impl Device {
    pub fn new(seed: u8) -> Self {
        init_logs();
        let dir = tempfile::tempdir().unwrap();
        let now = Arc::new(AtomicI64::new(T0));
        let step = Arc::new(AtomicI64::new(1));
        let manager = open(dir.path(), seed, &now, &step);
        Device {
            dir,
            manager,
            now,
            step,
            seed,
        }
    }

    /// Closes and reopens the manager on the same folder, as after an app restart.
    pub fn restart(&mut self) {
        let fresh = open(self.dir.path(), self.seed, &self.now, &self.step);
        self.manager = fresh;
    }

    /// Sets the clock and how far it moves per write (0: frozen, to make ties).
    pub fn set_clock(&self, ms: i64, step: i64) {
        self.now.store(ms, Ordering::SeqCst);
        self.step.store(step, Ordering::SeqCst);
    }
}

fn open(path: &std::path::Path, seed: u8, now: &Arc<AtomicI64>, step: &Arc<AtomicI64>) -> Manager {
    let (now, step) = (now.clone(), step.clone());
    let clock =
        Arc::new(move || Timestamp(now.fetch_add(step.load(Ordering::SeqCst), Ordering::SeqCst)));
    Manager::open_with_clock(path, &RootKey::from_bytes([seed; 16]), clock).unwrap()
}

/// Copies every entry `to` lacks from `from`, feed by feed, in one import, and tells `to`
/// what `from` holds (as a sync's `Have` does).
pub fn copy_missing(from: &Project, to: &Project) -> ImportSummary {
    let theirs = from.have_vector().unwrap();
    let ours = to.have_vector().unwrap();
    let mut entries = Vec::new();
    for ((author, ns), len) in &theirs {
        let have = ours.get(&(*author, *ns)).copied().unwrap_or(0);
        entries.extend(from.read_entries(author, *ns, have, *len).unwrap());
    }
    let summary = to.import(&entries).unwrap();
    to.note_peer_holdings(&theirs).unwrap();
    summary
}

/// An observation at a point with notes.
pub fn observation(lat: f64, lon: f64, notes: &str) -> DocValue {
    let mut o = Observation {
        lat: Some(lat),
        lon: Some(lon),
        ..Default::default()
    };
    o.tags
        .insert("notes".into(), TagValue::String(notes.into()));
    DocValue::Observation(o)
}

/// A device with one project, a sync board, and in-memory connections to other peers.
pub struct Peer {
    pub device: Device,
    pub project: Arc<mapeo_core::Project>,
    pub board: Arc<mapeo_core::sync::SyncBoard>,
    pub projects: tokio::sync::watch::Sender<Vec<Arc<dyn mapeo_core::sync::Replica>>>,
}

impl Peer {
    /// A device that creates a project, with data sync on.
    pub fn creator(seed: u8) -> Self {
        let device = Device::new(seed);
        let project = device.manager.create_project(Default::default()).unwrap();
        Self::with(device, project)
    }

    /// A device that joins `of`'s project, is given the member role by its creator, and
    /// has received what the creator holds (so it knows its role).
    pub fn member_of(seed: u8, of: &Peer) -> Self {
        let device = Device::new(seed);
        let details = of.device.manager.join_details(&of.project.id()).unwrap();
        let project = device.manager.join_project(&details).unwrap();
        of.project
            .assign_role(
                &device.manager.device_id(),
                mapeo_core::PeerRole::Member,
                None,
            )
            .unwrap();
        copy_missing(&of.project, &project);
        Self::with(device, project)
    }

    fn with(device: Device, project: Arc<mapeo_core::Project>) -> Self {
        project.set_data_sync(true);
        let replica: Arc<dyn mapeo_core::sync::Replica> = project.clone();
        Peer {
            device,
            project,
            board: mapeo_core::sync::SyncBoard::new(),
            projects: tokio::sync::watch::Sender::new(vec![replica]),
        }
    }

    pub fn id(&self) -> mapeo_core::DeviceId {
        self.device.manager.device_id()
    }

    pub fn params(
        &self,
        peer: mapeo_core::DeviceId,
        hash: [u8; 32],
        shutdown: tokio::sync::watch::Receiver<Option<mapeo_core::sync::CloseReason>>,
    ) -> mapeo_core::sync::session::SessionParams {
        mapeo_core::sync::session::SessionParams {
            peer,
            handshake_hash: hash,
            projects: self.projects.subscribe(),
            board: self.board.clone(),
            shutdown,
            ping_interval: std::time::Duration::from_millis(200),
            silence_timeout: std::time::Duration::from_secs(5),
            device: None,
            holdings_resets: tokio::sync::watch::channel(Default::default()).1,
        }
    }
}

/// A running in-memory connection between two peers.
pub struct Connection {
    pub shutdown: tokio::sync::watch::Sender<Option<mapeo_core::sync::CloseReason>>,
    pub ends: [tokio::task::JoinHandle<
        Result<mapeo_core::sync::SessionEnd, mapeo_core::sync::SyncError>,
    >; 2],
}

impl Connection {
    /// Stops both ends and waits for them.
    pub async fn stop(self) {
        let _ = self
            .shutdown
            .send(Some(mapeo_core::sync::CloseReason::ShuttingDown));
        for end in self.ends {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), end).await;
        }
    }
}

/// Connects two peers in memory (optionally cut after `cut_after` messages).
pub fn connect(a: &Peer, b: &Peer, cut_after: Option<usize>) -> Connection {
    use mapeo_core::sync::{memory, run_session};
    let (ta, tb) = match cut_after {
        Some(n) => memory::pair_cut_after(n),
        None => memory::pair(),
    };
    let hash: [u8; 32] = mapeo_core::crypto::random_bytes();
    let (shutdown, rx) = tokio::sync::watch::channel(None);
    let pa = a.params(b.id(), hash, rx.clone());
    let pb = b.params(a.id(), hash, rx);
    Connection {
        shutdown,
        ends: [
            tokio::spawn(run_session(ta, pa)),
            tokio::spawn(run_session(tb, pb)),
        ],
    }
}

/// Every observation of `p` (deleted ones aside), as its value prints, sorted: what two
/// devices must agree on, whatever the order entries came in.
pub fn observations_sorted(p: &Project) -> Vec<String> {
    let mut out: Vec<String> = p
        .list(&mapeo_core::Query::all(
            mapeo_core::schema::DocType::Observation,
        ))
        .unwrap()
        .into_iter()
        .map(|d| format!("{:?}", d.doc.value))
        .collect();
    out.sort();
    out
}

/// Everything a user could observe in a project: all documents of all types, with forks.
pub fn state(p: &mapeo_core::Project) -> Vec<Vec<mapeo_core::Document>> {
    mapeo_core::schema::DocType::ALL
        .iter()
        .map(|t| {
            let mut q = mapeo_core::Query::all(*t);
            q.include_deleted = true;
            p.list(&q).unwrap()
        })
        .collect()
}

/// Waits (bounded) until `check` holds, polling.
pub async fn eventually(what: &str, within: std::time::Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// `a` creates a project and `b` joins it from the join details (no role yet).
pub fn joined_project(
    a: &Device,
    b: &Device,
) -> (Arc<mapeo_core::Project>, Arc<mapeo_core::Project>) {
    let pa = a.manager.create_project(Default::default()).unwrap();
    let pb = b
        .manager
        .join_project(&a.manager.join_details(&pa.id()).unwrap())
        .unwrap();
    (pa, pb)
}

/// `a` creates a project, `b` joins it and is made a coordinator (so either may edit
/// anything), and learns it.
pub fn coordinators(
    a: &Device,
    b: &Device,
) -> (Arc<mapeo_core::Project>, Arc<mapeo_core::Project>) {
    let (pa, pb) = joined_project(a, b);
    pa.assign_role(
        &b.manager.device_id(),
        mapeo_core::PeerRole::Coordinator,
        None,
    )
    .unwrap();
    copy_missing(&pa, &pb);
    (pa, pb)
}

/// `a` creates a project, `b` joins it from the join details and is made a member (and has
/// received a's records, so it knows), and both turn data sync on.
pub fn shared_project(
    a: &Device,
    b: &Device,
) -> (Arc<mapeo_core::Project>, Arc<mapeo_core::Project>) {
    let (pa, pb) = joined_project(a, b);
    pa.assign_role(&b.manager.device_id(), mapeo_core::PeerRole::Member, None)
        .unwrap();
    copy_missing(&pa, &pb);
    a.manager.start_sync(&pa.id()).unwrap();
    b.manager.start_sync(&pb.id()).unwrap();
    (pa, pb)
}

/// Listen on any free port of 127.0.0.1.
pub fn loopback() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}
