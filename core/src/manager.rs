//! The device: opens the device database with the root key, holds device info, and owns the
//! projects this device belongs to (create, list, open, join from join details, leave).
//! Project keys are kept sealed under a key derived from the root key.

mod invites;
mod local_server;
mod map_share;
pub(crate) mod network;
mod repair;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::crypto::{DataFolderKey, DeviceKeys, JoinDetails, RootKey, StorageKey};
use crate::db::{self, StoreError};
use crate::discovery::DiscoveryOptions;
use crate::error::{Error, Result};
use crate::ids::{DeviceId, ProjectId, Timestamp};
use crate::project::{Clock, Project, system_clock};
use crate::schema::{DeviceInfo, DeviceType, ProjectSettings};
use crate::sync::{CloseReason, Replica, SyncBoard, SyncPhase};

pub use invites::{InviteFault, InviteOutcome, SentInvite};
pub use map_share::{
    MAP_CHUNKS_IN_FLIGHT, MAX_LISTED_MAP_SHARES, MAX_PENDING_MAP_OFFERS, MapShare,
    MapShareDirection, MapShareError, MapShareState, RESUME_WAIT,
};
pub use network::{
    ACCEPT_RETRY_DELAY, AUTO_STOP_CHECK, DISCONNECT_WAIT, MAX_CONNECTIONS,
    MAX_PENDING_HANDSHAKES_PER_IP, PeerStatus, SessionTiming,
};
pub use repair::{DAMAGED_DIR_PREFIX, Repaired, SALVAGE_BATCH};

/// How long [`Manager::connect_by_code`] spends on each address of a code (the connect and
/// handshake timeouts bound it too).
pub const CODE_ADDRESS_TIMEOUT: Duration = Duration::from_secs(15);

/// The name peers see for a device that has not set one.
pub const DEFAULT_DEVICE_NAME: &str = "Mapeo device";

/// File name of the device database inside the data folder.
const DEVICE_DB: &str = "device.db";
/// Folder inside the data folder that holds the map store.
const MAPS_DIR: &str = "maps";
/// Folder inside the data folder that holds maps being received from peers.
const MAP_SHARES_DIR: &str = "map-shares";
/// Folder inside the data folder that holds one folder per project.
const PROJECTS_DIR: &str = "projects";
/// File name of a project's database inside its folder.
const PROJECT_DB: &str = "project.db";

/// Whether this device is still in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectStatus {
    /// Accepted an invite and holds the project, but the record of its role, or the
    /// project's roles and configuration (its name, presets), have not all arrived yet (they
    /// arrive with the next sync with the inviter or any member who has them).
    Joining,
    /// A member: syncs and writes.
    Joined,
    /// Left: keeps only its own data, writes nothing.
    Left,
}

/// A project as listed on this device.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectSummary {
    /// The project's id.
    pub project_id: ProjectId,
    /// Its settings as this device knows them (empty until synced, for a new member).
    pub settings: ProjectSettings,
    /// Joined or left.
    pub status: ProjectStatus,
    /// When this device joined (or created) it.
    pub joined_at: Timestamp,
    /// Its store is damaged: it reads and writes nothing until repaired
    /// ([`Manager::repair_project`]); its settings are unknown (empty) meanwhile.
    pub damaged: bool,
}

/// A device: its identity, its device database and its projects.
pub struct Manager {
    data_dir: PathBuf,
    device: DeviceKeys,
    storage: StorageKey,
    /// Every at-rest key of the data folder derives from it.
    folder_key: DataFolderKey,
    db: Arc<Mutex<Connection>>,
    projects: Mutex<HashMap<ProjectId, Arc<Project>>>,
    /// Projects whose store failed SQLite's check at open: not opened again this session.
    damaged: Mutex<std::collections::HashSet<ProjectId>>,
    invites: Arc<crate::invites::InviteBox>,
    sent_invites: Mutex<HashMap<crate::invites::InviteId, invites::SentInvite>>,
    invite_fault: Mutex<Option<invites::InviteFault>>,
    /// Projects joined in this run whose role arrived but whose initial sync (roles and
    /// configuration) did not complete before their inviter went away: joining until a
    /// sync completes it.
    incomplete_joins: Mutex<std::collections::HashSet<ProjectId>>,
    clock: Clock,
    /// Declared before `network` so that dropping the manager stops discovery first.
    discovery: Mutex<Option<crate::discovery::Discovery>>,
    network: Arc<network::Network>,
    /// The local map and media server, once started ([`Manager::local_server`]).
    local_server: tokio::sync::Mutex<Option<Arc<crate::server::LocalServer>>>,
    map_shares: Arc<map_share::MapShares>,
    /// Set by [`Manager::wipe`]: every call answers [`Error::Wiped`] from then on.
    wiped: std::sync::atomic::AtomicBool,
}

/// How long [`Wipe::wait`] polls between looks at the deletion.
const WIPE_POLL: Duration = Duration::from_millis(20);

/// The deletion of a wiped data folder's files, running on a thread of its own. The data
/// was unreadable before it started (its keys are gone); dropping this lets it run on.
#[derive(Debug)]
pub struct Wipe {
    done: Arc<std::sync::atomic::AtomicBool>,
}

impl Wipe {
    /// Whether every file has been deleted (or deletion gave up on what it could not).
    pub fn is_done(&self) -> bool {
        self.done.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits at most `limit` for the deletion to finish; returns whether it did.
    pub fn wait(&self, limit: Duration) -> bool {
        let until = std::time::Instant::now() + limit;
        while !self.is_done() {
            if std::time::Instant::now() >= until {
                return false;
            }
            std::thread::sleep(WIPE_POLL);
        }
        true
    }
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Manager({:?})", self.device.device_id())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

const SELECT_DEVICE: &str = "SELECT device_id, name, device_type FROM device WHERE id = 1";
const INSERT_DEVICE: &str = "INSERT INTO device (id, device_id) VALUES (1, ?1)";
const UPDATE_DEVICE_INFO: &str = "UPDATE device SET name = ?1, device_type = ?2 WHERE id = 1";
const SELECT_PROJECT: &str =
    "SELECT sealed_join_details, status, joined_at FROM projects WHERE project_id = ?1";
const SELECT_PROJECTS: &str =
    "SELECT project_id, status, joined_at FROM projects ORDER BY joined_at, project_id";
const UPSERT_PROJECT: &str = "INSERT INTO projects \
     (project_id, sealed_join_details, status, joined_at, left_at) VALUES (?1, ?2, 'joined', ?3, NULL) \
     ON CONFLICT (project_id) DO UPDATE SET status = 'joined', joined_at = excluded.joined_at, \
     left_at = NULL, sealed_join_details = excluded.sealed_join_details";
const UPSERT_JOINING: &str = "INSERT INTO projects \
     (project_id, sealed_join_details, status, joined_at, left_at) VALUES (?1, ?2, 'joining', ?3, NULL) \
     ON CONFLICT (project_id) DO UPDATE SET status = 'joining', joined_at = excluded.joined_at, \
     left_at = NULL, sealed_join_details = excluded.sealed_join_details WHERE status != 'joined'";
const MARK_JOINED: &str =
    "UPDATE projects SET status = 'joined' WHERE project_id = ?1 AND status = 'joining'";
const MARK_LEFT: &str = "UPDATE projects SET status = 'left', left_at = ?2 WHERE project_id = ?1";

/// The data folder's key, after encrypting in place any database a version before
/// encryption wrote (the device's and every project's; crash-safe, finished by the next open
/// if interrupted).
fn unlock_and_migrate(data_dir: &Path, root_key: &RootKey) -> Result<DataFolderKey> {
    if crate::at_rest::was_wiped(data_dir) {
        // A wipe whose deletion was cut short (a kill, a power cut): its keys are gone, so
        // what is left can only be deleted. The folder then starts afresh.
        tracing::warn!("finishing an interrupted wipe of the data folder");
        delete_folder_contents(data_dir);
        if crate::at_rest::was_wiped(data_dir) {
            return Err(StoreError::Io(std::io::Error::other(
                "a wiped data folder could not be emptied",
            ))
            .into());
        }
        std::fs::create_dir_all(data_dir.join(PROJECTS_DIR)).map_err(StoreError::Io)?;
    }
    let device_db = data_dir.join(DEVICE_DB);
    let projects = project_databases(data_dir)?;
    let mut all: Vec<PathBuf> = vec![device_db.clone()];
    all.extend(projects.iter().map(|(_, p)| p.clone()));
    let key =
        crate::at_rest::unlock(data_dir, root_key, &all).map_err(|e| at_rest_error(data_dir, e))?;
    // Every database is brought to the page format: plaintext ones always (a cheap header
    // check), those of the earlier AES format until the salt file records that none is left.
    let may_be_aes = !crate::at_rest::stores_in_page_format(data_dir);
    crate::at_rest::encrypt_in_place(&device_db, &key.device_database_key(), may_be_aes)
        .map_err(|e| at_rest_error(data_dir, e))?;
    for (id, path) in &projects {
        crate::at_rest::encrypt_in_place(path, &key.project_database_key(id), may_be_aes)
            .map_err(|e| at_rest_error(data_dir, e))?;
    }
    if may_be_aes {
        crate::at_rest::mark_stores_in_page_format(data_dir)
            .map_err(|e| at_rest_error(data_dir, e))?;
    }
    Ok(key)
}

/// Every project folder's database in the data folder, with the project's id (folders whose
/// names are not project ids are not ours and are skipped).
fn project_databases(
    data_dir: &Path,
) -> std::result::Result<Vec<(ProjectId, PathBuf)>, StoreError> {
    let mut projects = Vec::new();
    match std::fs::read_dir(data_dir.join(PROJECTS_DIR)) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name();
                let Some(id) = name.to_str().and_then(|n| n.parse::<ProjectId>().ok()) else {
                    continue;
                };
                projects.push((id, entry.path().join(PROJECT_DB)));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::Io(e)),
    }
    Ok(projects)
}

fn at_rest_error(data_dir: &Path, e: crate::at_rest::AtRestError) -> Error {
    use crate::at_rest::AtRestError;
    match e {
        AtRestError::WrongRootKey => Error::WrongRootKey,
        AtRestError::Store(s) => Error::Store(s),
        // A read-only folder is named as such (like a database that cannot be opened).
        AtRestError::Io(io) => Error::Store(db::classify(
            StoreError::Io(io),
            &data_dir.join(DEVICE_DB),
            db::Damaged::Device,
        )),
        other => Error::AtRest(other),
    }
}

/// Deletes what a data folder holds: the databases first (the bulk of what matters), then
/// everything else, then the wipe's mark ([`crate::at_rest::was_wiped`]) — only if all else
/// is gone, so that the next open finishes what this could not. Best effort: what cannot be
/// deleted stays, unreadable.
fn delete_folder_contents(dir: &Path) {
    let projects = dir.join(PROJECTS_DIR);
    if let Ok(entries) = std::fs::read_dir(&projects) {
        for e in entries.flatten() {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(e.path().join(format!("{PROJECT_DB}{suffix}")));
            }
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("{DEVICE_DB}{suffix}")));
    }
    let mark = dir.join(crate::at_rest::SALT_FILE);
    let mut all_gone = true;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path == mark {
                continue;
            }
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            all_gone &= removed.is_ok();
        }
    }
    if all_gone {
        let _ = std::fs::remove_file(&mark);
    }
}

/// Whether a failure is a damaged store (see [`StoreError::Damaged`]).
fn is_damaged(e: &Error) -> bool {
    matches!(e, Error::Store(StoreError::Damaged(_)))
}

fn status_from(s: &str) -> Result<ProjectStatus> {
    match s {
        "joining" => Ok(ProjectStatus::Joining),
        "joined" => Ok(ProjectStatus::Joined),
        "left" => Ok(ProjectStatus::Left),
        _ => Err(StoreError::Corrupt("unknown project status").into()),
    }
}

impl Manager {
    /// Opens the device in `data_dir` (created if missing) with the system clock.
    pub fn open(data_dir: &Path, root_key: &RootKey) -> Result<Self> {
        Self::open_with_clock(data_dir, root_key, system_clock())
    }

    /// Opens the device with a given clock (tests use a fixed one).
    pub fn open_with_clock(data_dir: &Path, root_key: &RootKey, clock: Clock) -> Result<Self> {
        Self::open_with(data_dir, root_key, clock, SessionTiming::default())
    }

    /// Opens the device with a given clock and session timing (tests shorten both).
    pub fn open_with(
        data_dir: &Path,
        root_key: &RootKey,
        clock: Clock,
        timing: SessionTiming,
    ) -> Result<Self> {
        let projects_dir = data_dir.join(PROJECTS_DIR);
        std::fs::create_dir_all(&projects_dir)
            .map_err(|e| db::classify(StoreError::Io(e), &projects_dir, db::Damaged::Device))?;
        let folder_key = unlock_and_migrate(data_dir, root_key)?;
        // The device's store is small: it is checked whole at every open.
        let (conn, _) = db::open_checked(
            &data_dir.join(DEVICE_DB),
            &folder_key.device_database_key(),
            db::DEVICE_MIGRATIONS,
            db::Damaged::Device,
        )?;
        let device = root_key.device_keys();
        let stored: Option<Vec<u8>> = conn.query_row(SELECT_DEVICE, [], |r| r.get(0)).optional()?;
        match stored {
            Some(id) if id.as_slice() != device.device_id().as_bytes() => {
                return Err(Error::WrongRootKey);
            }
            Some(_) => {}
            None => {
                conn.execute(INSERT_DEVICE, [device.device_id().as_bytes()])?;
            }
        }
        let mut identity =
            crate::net::LocalIdentity::new(root_key, DEFAULT_DEVICE_NAME, DeviceType::Mobile);
        identity
            .features
            .push(crate::sync::map_share::MAP_SHARE_FEATURE.into());
        let db = Arc::new(Mutex::new(conn));
        let invites = Arc::new(crate::invites::InviteBox::open(db.clone(), clock.clone())?);
        let network = network::Network::new(identity, timing);
        network.attach_invites(invites.clone());
        let map_shares = map_share::MapShares::open(
            &data_dir.join(MAP_SHARES_DIR),
            &data_dir.join(MAPS_DIR),
            folder_key.derive_file_key(map_share::FILE_KEY_PURPOSE),
            folder_key.derive_file_key(crate::maps::FILE_KEY_PURPOSE),
        );
        network.attach_map_shares(map_shares.clone());
        let manager = Manager {
            data_dir: data_dir.to_owned(),
            storage: root_key.storage_key(),
            folder_key,
            device,
            db,
            projects: Mutex::new(HashMap::new()),
            damaged: Mutex::new(std::collections::HashSet::new()),
            invites,
            sent_invites: Mutex::new(HashMap::new()),
            invite_fault: Mutex::new(None),
            incomplete_joins: Mutex::new(Default::default()),
            clock,
            discovery: Mutex::new(None),
            network,
            local_server: tokio::sync::Mutex::new(None),
            map_shares,
            wiped: std::sync::atomic::AtomicBool::new(false),
        };
        if let Some(info) = manager.device_info()? {
            manager.network.set_name(info.name, info.device_type);
        }
        manager.refresh_network_projects()?;
        // Opening the map store seals in place the map packages of versions before sealing:
        // now, not when the maps are first looked at. A store that cannot open now (a full
        // disk) is tried again at first use; the device opens all the same.
        if let Err(e) = manager.maps() {
            tracing::warn!("the map store could not be opened: {e}");
        }
        Ok(manager)
    }

    /// Offers every project to peers (live sessions re-announce): joined ones and ones being
    /// joined sync what their role allows; left ones only `auth`, so peers learn we left.
    /// A damaged project is not offered: it syncs again once repaired.
    fn refresh_network_projects(&self) -> Result<()> {
        let mut joined: Vec<Arc<dyn Replica>> = Vec::new();
        for summary in self.list_projects()? {
            if summary.damaged {
                continue;
            }
            match self.open_project(&summary.project_id) {
                Ok(p) if !p.is_damaged() => joined.push(p),
                Ok(_) => {}
                Err(e) if is_damaged(&e) => {}
                Err(e) => return Err(e),
            }
        }
        self.network.set_projects(joined);
        Ok(())
    }

    /// Fails with [`Error::Wiped`] once the device was wiped.
    fn live(&self) -> Result<()> {
        if self.wiped.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::Wiped);
        }
        Ok(())
    }

    /// Emergency wipe: makes everything in the data folder unreadable at once, whatever its
    /// size, then deletes it in the background. First the folder's salt file is overwritten,
    /// synced and removed — every database and every file sealed under the folder's keys
    /// (media, map packages and the map index, maps being received) is then undecryptable
    /// even with the root key; then networking stops and the stores close; then a thread
    /// deletes the files (databases first). This handle, and every project handle, answers
    /// [`Error::Wiped`] or as damaged from then on.
    ///
    /// The identity survives in its backup code: a device restored from it into a fresh
    /// folder gets its data back from the other members at the next sync. The root key
    /// itself belongs to the app (keystore): forget it there too if the identity must go.
    pub async fn wipe(&self) -> Result<Wipe> {
        self.wiped.store(true, std::sync::atomic::Ordering::SeqCst);
        crate::at_rest::destroy_keys(&self.data_dir).map_err(StoreError::Io)?;
        self.close().await;
        let open: Vec<Arc<Project>> = lock(&self.projects).drain().map(|(_, p)| p).collect();
        for p in open {
            p.close_store();
        }
        if let Ok(blank) = crate::db::open_in_memory() {
            drop(std::mem::replace(&mut *lock(&self.db), blank));
        }
        // The stores' page keys leave this process's memory too.
        crate::db::forget_page_keys(&self.folder_key.device_database_key());
        for (id, _) in project_databases(&self.data_dir).unwrap_or_default() {
            crate::db::forget_page_keys(&self.folder_key.project_database_key(&id));
        }
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let finished = done.clone();
        let dir = self.data_dir.clone();
        std::thread::Builder::new()
            .name("mapeo-wipe".into())
            .spawn(move || {
                delete_folder_contents(&dir);
                finished.store(true, std::sync::atomic::Ordering::SeqCst);
            })
            .map_err(StoreError::Io)?;
        tracing::warn!("device wiped: keys destroyed, files being deleted");
        Ok(Wipe { done })
    }

    /// This device's public identity.
    pub fn device_id(&self) -> DeviceId {
        self.device.device_id()
    }

    /// This device's name and type, if set.
    pub fn device_info(&self) -> Result<Option<DeviceInfo>> {
        self.live()?;
        let (name, kind): (Option<String>, Option<String>) =
            lock(&self.db).query_row(SELECT_DEVICE, [], |r| Ok((r.get(1)?, r.get(2)?)))?;
        match (name, kind) {
            (Some(name), Some(kind)) => Ok(Some(DeviceInfo {
                name,
                device_type: kind
                    .parse::<DeviceType>()
                    .map_err(|_| StoreError::Corrupt("device type"))?,
            })),
            _ => Ok(None),
        }
    }

    /// Sets this device's name and type, here and in every joined project.
    pub fn set_device_info(&self, info: DeviceInfo) -> Result<()> {
        self.live()?;
        crate::schema::DocValue::DeviceInfo(info.clone()).validate()?;
        lock(&self.db).execute(
            UPDATE_DEVICE_INFO,
            params![info.name, info.device_type.to_string()],
        )?;
        self.network.set_name(info.name.clone(), info.device_type);
        for summary in self.list_projects()? {
            if summary.status == ProjectStatus::Joined && !summary.damaged {
                match self
                    .open_project(&summary.project_id)?
                    .set_device_info(info.clone())
                {
                    // A blocked device's info no longer counts; the rest still get it. A
                    // damaged project takes nothing; it learns the name after its repair.
                    Ok(_) | Err(Error::NotAllowed(_) | Error::AwaitingOwnEntries) => {}
                    Err(e) if is_damaged(&e) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// The device's map store, in `<data dir>/maps/` (maps belong to the device, not a project),
    /// sealed at rest under the data folder's map key.
    /// Fails with [`crate::maps::MapError::Closed`] once the device was wiped.
    pub fn maps(&self) -> std::result::Result<Arc<crate::maps::MapStore>, crate::maps::MapError> {
        // After a wipe the folder is being emptied: opening would bring `maps/` back.
        if self.live().is_err() {
            return Err(crate::maps::MapError::Closed);
        }
        crate::maps::MapStore::open(
            &self.data_dir.join(MAPS_DIR),
            self.folder_key
                .derive_file_key(crate::maps::FILE_KEY_PURPOSE),
        )
    }

    /// Offers a map to a connected device that shares a project with this one; it travels
    /// once the device accepts. Progress shows in [`Manager::map_shares`].
    pub async fn share_map(
        &self,
        map: &crate::maps::MapId,
        device: &DeviceId,
    ) -> std::result::Result<crate::sync::map_share::MapShareId, MapShareError> {
        if !self.network.is_connected(device) {
            return Err(MapShareError::NotConnected);
        }
        if !self.network.takes_map_shares(device) {
            return Err(MapShareError::PeerCannotReceive);
        }
        // A project is shared once the session has matched it with the peer.
        let shared = self
            .network
            .board()
            .snapshot()
            .iter()
            .any(|((_, peer), s)| peer == device && s.connected);
        if !shared {
            return Err(MapShareError::NoSharedProject);
        }
        let maps = self.maps()?;
        self.map_shares.offer(maps, map, *device).await
    }

    /// Cancels a map share this device sent (for one it received: declines it).
    pub async fn cancel_map_share(
        &self,
        id: &crate::sync::map_share::MapShareId,
    ) -> std::result::Result<(), MapShareError> {
        self.map_shares.cancel(id).await
    }

    /// Accepts a map offered by a peer: it travels, is verified, then installed.
    pub async fn accept_map_share(
        &self,
        id: &crate::sync::map_share::MapShareId,
    ) -> std::result::Result<(), MapShareError> {
        self.map_shares.accept(id).await
    }

    /// Declines a map offered by a peer (or stops receiving one accepted).
    pub async fn decline_map_share(
        &self,
        id: &crate::sync::map_share::MapShareId,
    ) -> std::result::Result<(), MapShareError> {
        self.map_shares.decline(id).await
    }

    /// Every map share, sent and received, with its state and bytes.
    pub fn map_shares(&self) -> Vec<MapShare> {
        self.map_shares.list()
    }

    /// Changes to the map shares.
    pub fn subscribe_map_shares(&self) -> tokio::sync::watch::Receiver<Vec<MapShare>> {
        self.map_shares.subscribe()
    }

    fn project_path(&self, id: &ProjectId) -> PathBuf {
        self.data_dir
            .join(PROJECTS_DIR)
            .join(id.to_string())
            .join(PROJECT_DB)
    }

    fn seal_details(&self, id: &ProjectId, details: &JoinDetails) -> Vec<u8> {
        self.storage.seal(id.as_bytes(), &details.to_secret_bytes())
    }

    fn open_details(&self, id: &ProjectId, sealed: &[u8]) -> Result<JoinDetails> {
        let bytes = self
            .storage
            .open(id.as_bytes(), sealed)
            .map_err(|_| StoreError::Corrupt("stored project key does not decrypt"))?;
        let details = JoinDetails::from_secret_bytes(&bytes)
            .ok_or(StoreError::Corrupt("stored project key is malformed"))?;
        details.verify(id)?;
        Ok(details)
    }

    /// Opens the project database and caches the handle.
    fn load(
        &self,
        id: &ProjectId,
        details: &JoinDetails,
        status: ProjectStatus,
    ) -> Result<Arc<Project>> {
        let mut cache = lock(&self.projects);
        if let Some(p) = cache.get(id) {
            p.set_writable(status != ProjectStatus::Left);
            return Ok(p.clone());
        }
        if lock(&self.damaged).contains(id) {
            return Err(StoreError::Damaged(db::Damaged::Project(*id)).into());
        }
        let path = self.project_path(id);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| db::classify(StoreError::Io(e), dir, db::Damaged::Project(*id)))?;
        }
        let key = self.folder_key.project_database_key(id);
        let project = match Project::open(
            &path,
            &key,
            self.folder_key
                .derive_file_key(crate::blobs::FILE_KEY_PURPOSE),
            details,
            self.device.clone(),
            self.clock.clone(),
        ) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                if is_damaged(&e) {
                    lock(&self.damaged).insert(*id);
                }
                return Err(e);
            }
        };
        project.set_writable(status != ProjectStatus::Left);
        project.set_blob_policy(self.blob_policy()?);
        if project.is_awaiting_own_entries()
            && let Some(info) = self.device_info()?
        {
            // Kept, to be written once this device's earlier entries are back.
            let _ = project.set_device_info(info);
        }
        cache.insert(*id, project.clone());
        Ok(project)
    }

    /// Creates a project with this device as its creator.
    pub fn create_project(&self, settings: ProjectSettings) -> Result<Arc<Project>> {
        self.live()?;
        crate::schema::DocValue::ProjectSettings(settings.clone()).validate()?;
        let details = JoinDetails::new_project(self.device_id());
        self.add_project(&details, Some(settings))
    }

    /// Joins a project from its join details (what an invite delivers).
    pub fn join_project(&self, details: &JoinDetails) -> Result<Arc<Project>> {
        self.live()?;
        let id = details.project_key().project_id();
        if let Some((_, ProjectStatus::Joined, _)) = self.project_row(&id)? {
            return Err(Error::AlreadyJoined);
        }
        self.add_project(details, None)
    }

    fn add_project(
        &self,
        details: &JoinDetails,
        settings: Option<ProjectSettings>,
    ) -> Result<Arc<Project>> {
        let id = details.project_key().project_id();
        let project = self.load(&id, details, ProjectStatus::Joined)?;
        match settings {
            Some(s) => {
                project.set_settings(s)?;
            }
            // Joined: the other members may hold entries this identity wrote before (a
            // restored phone); nothing is appended until they come back.
            None => project.await_own_entries()?,
        }
        if let Some(info) = self.device_info()? {
            match project.set_device_info(info) {
                // Kept until this device's earlier entries are back.
                Ok(_) | Err(Error::NotAllowed(_) | Error::AwaitingOwnEntries) => {}
                Err(e) => return Err(e),
            }
        }
        let sealed = self.seal_details(&id, details);
        lock(&self.db).execute(
            UPSERT_PROJECT,
            params![id.as_bytes(), sealed, (self.clock)().0],
        )?;
        self.refresh_network_projects()?;
        Ok(project)
    }

    fn project_row(&self, id: &ProjectId) -> Result<Option<(Vec<u8>, ProjectStatus, Timestamp)>> {
        let row: Option<(Vec<u8>, String, i64)> = lock(&self.db)
            .query_row(SELECT_PROJECT, [id.as_bytes()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        row.map(|(sealed, status, at)| Ok((sealed, status_from(&status)?, Timestamp(at))))
            .transpose()
    }

    /// Opens a project this device has joined or left.
    pub fn open_project(&self, id: &ProjectId) -> Result<Arc<Project>> {
        self.live()?;
        let (sealed, status, _) = self
            .project_row(id)?
            .ok_or(Error::NotFound { what: "project" })?;
        let details = self.open_details(id, &sealed)?;
        self.load(id, &details, status)
    }

    /// The join details of a project (for an invite). Secret: send only over an encrypted
    /// channel to a device being invited.
    pub fn join_details(&self, id: &ProjectId) -> Result<JoinDetails> {
        self.live()?;
        let (sealed, _, _) = self
            .project_row(id)?
            .ok_or(Error::NotFound { what: "project" })?;
        self.open_details(id, &sealed)
    }

    /// Whether a project being joined has received the record of our role (and, for one
    /// whose invite ended before its initial sync, has completed an initial sync since); if
    /// so it is joined from now on.
    fn role_arrived(&self, project: &Project) -> Result<bool> {
        let mut active = matches!(
            *project.subscribe_own_role().borrow(),
            crate::roles::PeerRole::Creator
                | crate::roles::PeerRole::Coordinator
                | crate::roles::PeerRole::Member
        );
        if active {
            let mut incomplete = lock(&self.incomplete_joins);
            if incomplete.contains(&project.id()) {
                if self.network.board().initial_sync_done(&project.id()) {
                    incomplete.remove(&project.id());
                } else {
                    active = false;
                }
            }
        }
        if active {
            lock(&self.db).execute(MARK_JOINED, [project.id().as_bytes()])?;
        }
        Ok(active)
    }

    /// Stores join details received with an accepted invite: the project is held (and
    /// synced) but shown as joining until the record of our role arrives.
    fn hold_invited_project(&self, details: &JoinDetails) -> Result<Arc<Project>> {
        let id = details.project_key().project_id();
        let project = self.load(&id, details, ProjectStatus::Joining)?;
        // The other members may hold entries this identity wrote before (a restored phone):
        // nothing is appended until they come back; the name is written then.
        project.await_own_entries()?;
        self.write_device_info(&project)?;
        let sealed = self.seal_details(&id, details);
        lock(&self.db).execute(
            UPSERT_JOINING,
            params![id.as_bytes(), sealed, (self.clock)().0],
        )?;
        self.refresh_network_projects()?;
        Ok(project)
    }

    /// Writes our device info into a project, unless our role there does not allow it yet
    /// (blocked until a new role arrives).
    fn write_device_info(&self, project: &Project) -> Result<()> {
        if let Some(info) = self.device_info()? {
            match project.set_device_info(info) {
                Ok(_) | Err(Error::NotAllowed(_) | Error::AwaitingOwnEntries) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Every project this device has joined, left, or is joining.
    pub fn list_projects(&self) -> Result<Vec<ProjectSummary>> {
        self.live()?;
        let rows: Vec<(Vec<u8>, String, i64)> = {
            let db = lock(&self.db);
            let mut stmt = db.prepare(SELECT_PROJECTS)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<std::result::Result<_, _>>()?
        };
        let mut out = Vec::with_capacity(rows.len());
        for (id, status, joined_at) in rows {
            let id = ProjectId::from_bytes(
                id.try_into()
                    .map_err(|_| StoreError::Corrupt("project id length"))?,
            );
            let mut status = status_from(&status)?;
            // A damaged project is listed as such; the others and the device go on working.
            let listed = self.open_project(&id).and_then(|project| {
                if status == ProjectStatus::Joining && self.role_arrived(&project)? {
                    status = ProjectStatus::Joined;
                }
                project.settings()
            });
            let (settings, damaged) = match listed {
                Ok(settings) => (settings, false),
                Err(e) if is_damaged(&e) => (ProjectSettings::default(), true),
                Err(e) => return Err(e),
            };
            out.push(ProjectSummary {
                project_id: id,
                settings,
                status,
                joined_at: Timestamp(joined_at),
                damaged,
            });
        }
        Ok(out)
    }

    /// Leaves a project: records *left*, deletes other devices' data here, keeps our own.
    pub fn leave_project(&self, id: &ProjectId) -> Result<()> {
        let project = self.open_project(id)?;
        project.leave()?;
        project.purge_unreferenced_blobs()?;
        lock(&self.db).execute(MARK_LEFT, params![id.as_bytes(), (self.clock)().0])?;
        self.refresh_network_projects()?;
        Ok(())
    }

    /// Starts accepting peers on `addr` (port 0: any free port); returns the bound address.
    pub async fn start_listening(&self, addr: SocketAddr) -> Result<SocketAddr> {
        let addr = self.network.start_listening(addr).await?;
        // This process runs the network now: invites an earlier run left unanswered are dead
        // (their inviter's connection went with that run), and can be stored as such.
        self.settle_received_invites()?;
        Ok(addr)
    }

    /// Stops accepting peers; live sessions stay up.
    pub async fn stop_listening(&self) {
        self.network.stop_listening().await;
    }

    /// The address being listened on, if any.
    pub fn listening_on(&self) -> Option<SocketAddr> {
        self.network.listening_on()
    }

    /// Connects to a peer by address and syncs every project both hold. Returns its id.
    pub async fn connect(&self, addr: SocketAddr) -> Result<DeviceId> {
        Ok(self.network.connect(addr).await?)
    }

    /// Starts local discovery (mDNS): advertises the port this device listens on and
    /// connects to every peer found, redialing lost ones. Restarts it if running (with a new
    /// random name). Fails with [`Error::NotListening`] before [`Manager::start_listening`].
    /// Needs a tokio runtime.
    pub async fn start_discovery(&self, options: DiscoveryOptions) -> Result<()> {
        self.stop_discovery().await;
        let addr = self.listening_on().ok_or(Error::NotListening)?;
        let running =
            crate::discovery::Discovery::start(self.network.clone(), addr.port(), &options)?;
        let previous = lock(&self.discovery).replace(running);
        if let Some(previous) = previous {
            previous.stop().await;
        }
        Ok(())
    }

    /// Stops local discovery (sessions stay up). Does nothing if it is not running.
    pub async fn stop_discovery(&self) {
        let running = lock(&self.discovery).take();
        if let Some(running) = running {
            running.stop().await;
        }
    }

    /// Whether local discovery is running.
    pub fn discovery_running(&self) -> bool {
        lock(&self.discovery).is_some()
    }

    /// A connection code (for a QR code) for the address this device listens on. Fails with
    /// [`Error::NotListening`], or with [`ConnectionCodeError::NoAddress`] when listening on
    /// every interface (`0.0.0.0`): then use [`Manager::connection_code_for`].
    ///
    /// [`ConnectionCodeError::NoAddress`]: crate::connection_code::ConnectionCodeError::NoAddress
    pub fn connection_code(&self) -> Result<String> {
        let addr = self.listening_on().ok_or(Error::NotListening)?;
        self.connection_code_for(&[addr.ip()])
    }

    /// A connection code naming `addrs` (this device's addresses, in order of preference)
    /// and the port this device listens on.
    pub fn connection_code_for(&self, addrs: &[IpAddr]) -> Result<String> {
        let addr = self.listening_on().ok_or(Error::NotListening)?;
        Ok(crate::connection_code::encode(
            addrs,
            addr.port(),
            &self.device_id(),
        )?)
    }

    /// Connects to the device that showed `code`: tries its addresses in order, each for at
    /// most [`CODE_ADDRESS_TIMEOUT`], and syncs with the first one that answers as that
    /// device. A device that answers with another identity is disconnected before any sync;
    /// if no address reaches the right device, fails with [`Error::WrongDevice`] when some
    /// other device answered, else with the last network error.
    pub async fn connect_by_code(&self, code: &str) -> Result<DeviceId> {
        let code = crate::connection_code::parse(code)?;
        let mut last = None;
        for addr in code.socket_addrs() {
            let dialed = tokio::time::timeout(CODE_ADDRESS_TIMEOUT, self.network.dial(addr))
                .await
                .unwrap_or(Err(crate::net::NetError::Timeout(crate::net::STEP_CONNECT)));
            match dialed {
                Ok(stream) => {
                    let peer = stream.peer().device_id;
                    if peer == self.device_id() || !code.matches(&peer) {
                        tracing::info!(%addr, "connection code names another device: closed");
                        drop(stream);
                        last = Some(Error::WrongDevice);
                        continue;
                    }
                    return Ok(self.network.adopt_dialed(addr, stream, Some(peer)));
                }
                Err(e) => {
                    if !matches!(last, Some(Error::WrongDevice)) {
                        last = Some(e.into());
                    }
                }
            }
        }
        Err(last.unwrap_or(Error::ConnectionCode(
            crate::connection_code::ConnectionCodeError::NoAddress,
        )))
    }

    /// Closes every session.
    pub async fn disconnect_all(&self) {
        self.network.disconnect_all(CloseReason::ShuttingDown).await;
    }

    /// Closes the session with one peer; returns whether one was up. The peer may connect
    /// again (discovery redials it).
    pub async fn disconnect_peer(&self, peer: &DeviceId) -> bool {
        self.network
            .disconnect(peer, CloseReason::ShuttingDown)
            .await
    }

    /// Tells every connected peer afresh what this device holds of `project`, replacing
    /// what it said before: call it after replacing a project's store (a repair, a wipe),
    /// so peers stop believing this device holds entries it lost and send them again.
    /// Leaving needs no call: sessions notice a store that shrank by itself.
    pub fn announce_holdings_reset(&self, project: &ProjectId) {
        self.network.announce_holdings_reset(*project);
    }

    /// Devices seen on the network, connected or not.
    pub fn peers(&self) -> Vec<PeerStatus> {
        self.network.peers()
    }

    /// Changes to the peer list.
    pub fn subscribe_peers(
        &self,
    ) -> tokio::sync::watch::Receiver<std::collections::BTreeMap<DeviceId, PeerStatus>> {
        self.network.subscribe_peers()
    }

    /// How many sessions are up.
    pub fn connection_count(&self) -> usize {
        self.network.connection_count()
    }

    /// How many incoming connections are still in their handshake.
    pub fn pending_handshakes(&self) -> usize {
        self.network.pending_handshakes()
    }

    /// Progress of every exchange, by project and peer.
    pub fn sync_board(&self) -> Arc<SyncBoard> {
        self.network.board()
    }

    /// Waits until every connected peer (at least one) is synced with `project` for `phase`;
    /// fails if nothing moves for `inactivity`.
    pub async fn wait_for_sync(
        &self,
        project: &ProjectId,
        phase: SyncPhase,
        inactivity: Duration,
    ) -> Result<()> {
        // Progress computed before the sessions saw our current switch, or on a peer's
        // switch from before this call (the peer may be turning sync on just now), does not
        // count: each session re-reads ours and asks its peer afresh.
        let p = self.open_project(project)?;
        let asked = match phase {
            SyncPhase::Full => p.ask_peers_for_sync_switch(),
            SyncPhase::Initial => 0,
        };
        Ok(self
            .network
            .board()
            .wait_until_synced(project, phase, inactivity, asked)
            .await?)
    }

    /// Turns data sync on for a project (auth and config always flow).
    pub fn start_sync(&self, project: &ProjectId) -> Result<()> {
        self.open_project(project)?.set_data_sync(true);
        Ok(())
    }

    /// Turns data sync off for a project.
    pub fn stop_sync(&self, project: &ProjectId) -> Result<()> {
        self.open_project(project)?.set_data_sync(false);
        Ok(())
    }

    /// Stops data sync of a project by itself once it has been synced and quiet for `quiet`.
    pub async fn set_auto_stop(&self, project: &ProjectId, quiet: Option<Duration>) -> Result<()> {
        self.network
            .set_auto_stop(self.open_project(project)?, quiet);
        Ok(())
    }

    /// Pauses all networking (the app went to the background).
    pub async fn pause(&self) {
        self.network.pause().await;
    }

    /// Stops everything this device runs in the background — discovery, listening, every
    /// session (peers are shown disconnected), auto-stop watchers — before the app lets go
    /// of it. Its stores close when the last handle to it and its projects is dropped.
    pub async fn close(&self) {
        self.stop_discovery().await;
        self.network.close().await;
        self.stop_local_server().await;
    }

    /// Resumes networking after [`Manager::pause`].
    pub async fn resume(&self) -> Result<()> {
        Ok(self.network.resume().await?)
    }
}

const SELECT_BLOB_POLICY: &str = "SELECT policy FROM blob_policy WHERE id = 1";
const UPSERT_BLOB_POLICY: &str = "INSERT INTO blob_policy (id, policy) VALUES (1, ?1) \
     ON CONFLICT (id) DO UPDATE SET policy = excluded.policy";

/// The device's blob policy (see `attachments`).
impl Manager {
    /// Which attachment variants this device downloads from peers, in every project.
    pub fn blob_policy(&self) -> Result<crate::attachments::BlobPolicy> {
        let stored: Option<String> = lock(&self.db)
            .query_row(SELECT_BLOB_POLICY, [], |r| r.get(0))
            .optional()?;
        match stored {
            None => Ok(crate::attachments::BlobPolicy::default()),
            Some(json) => Ok(serde_json::from_str(&json)
                .map_err(|_| StoreError::Corrupt("stored blob policy"))?),
        }
    }

    /// Sets which attachment variants this device downloads, kept across restarts and
    /// applied at once to every open project (live sessions follow).
    pub fn set_blob_policy(&self, policy: crate::attachments::BlobPolicy) -> Result<()> {
        let json =
            serde_json::to_string(&policy).map_err(|_| StoreError::Corrupt("blob policy"))?;
        lock(&self.db).execute(UPSERT_BLOB_POLICY, [json])?;
        let open: Vec<Arc<Project>> = lock(&self.projects).values().cloned().collect();
        for p in open {
            p.set_blob_policy(policy);
        }
        Ok(())
    }
}
