//! The device on the network, as the app drives it: listening, connecting by address or
//! connection code, discovery, the peer list, sync control and progress per project, and
//! pause/resume for background and foreground. Async core calls are async exports (Kotlin
//! `suspend`, Swift `async`, Python coroutines) run on the library's runtime; every method is
//! a core call and a conversion.

use std::sync::Arc;
use std::time::Duration;

use crate::device::Mapeo;
use crate::error::MapeoError;
use crate::listen::{PeerListener, SyncListener, TaskHandle, subscribe, upgrade};
use crate::records::{
    DiscoveryOptions, PeerInfo, PeerSyncState, SyncPhase, device_id as device_id_of, ip_addr,
    project_id, socket_addr,
};
use crate::runtime::{run, run_infallible};

#[uniffi::export]
impl Mapeo {
    /// Starts accepting peers on `address` (`ip:port`; port 0 picks a free one) and returns
    /// the address bound. Listening again moves to the new address.
    pub async fn start_listening(&self, address: String) -> Result<String, MapeoError> {
        let (m, addr) = (self.manager()?.clone(), socket_addr(&address)?);
        Ok(run(async move { m.start_listening(addr).await })
            .await?
            .to_string())
    }

    /// Stops accepting peers; connected peers stay connected.
    pub async fn stop_listening(&self) -> Result<(), MapeoError> {
        let m = self.manager()?.clone();
        run_infallible(async move { m.stop_listening().await }).await
    }

    /// The address being listened on (`ip:port`), if any.
    pub fn listening_on(&self) -> Option<String> {
        self.inner.listening_on().map(|a| a.to_string())
    }

    /// Connects to a peer at `address` (`ip:port`) and syncs every project both hold.
    /// Returns the peer's device id.
    pub async fn connect(&self, address: String) -> Result<String, MapeoError> {
        let (m, addr) = (self.manager()?.clone(), socket_addr(&address)?);
        Ok(run(async move { m.connect(addr).await }).await?.to_string())
    }

    /// A connection code (for a QR code) for the address this device listens on. Needs a
    /// specific listening address; when listening on `0.0.0.0`, use
    /// [`Mapeo::connection_code_for`].
    pub fn connection_code(&self) -> Result<String, MapeoError> {
        Ok(self.manager()?.connection_code()?)
    }

    /// A connection code naming `addresses` (this device's IP addresses, preferred first)
    /// and the port it listens on.
    pub fn connection_code_for(&self, addresses: Vec<String>) -> Result<String, MapeoError> {
        let ips = addresses
            .iter()
            .map(|a| ip_addr(a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.manager()?.connection_code_for(&ips)?)
    }

    /// Connects to the device that showed `code`. Fails with `WrongDevice` if another
    /// device answers. Returns the peer's device id.
    pub async fn connect_by_code(&self, code: String) -> Result<String, MapeoError> {
        let m = self.manager()?.clone();
        Ok(run(async move { m.connect_by_code(&code).await })
            .await?
            .to_string())
    }

    /// Closes every connection.
    pub async fn disconnect_all(&self) -> Result<(), MapeoError> {
        let m = self.manager()?.clone();
        run_infallible(async move { m.disconnect_all().await }).await
    }

    /// Closes the connection with one peer (`device_id`, 64 hex characters); returns
    /// whether one was up. Discovery may connect it again later.
    pub async fn disconnect_peer(&self, device_id: String) -> Result<bool, MapeoError> {
        let (m, peer) = (self.manager()?.clone(), device_id_of(&device_id)?);
        run_infallible(async move { m.disconnect_peer(&peer).await }).await
    }

    /// Starts local discovery (mDNS): advertises this device and connects to every peer
    /// found. Needs [`Mapeo::start_listening`] first (`NotListening`).
    pub async fn start_discovery(&self, options: DiscoveryOptions) -> Result<(), MapeoError> {
        let m = self.manager()?.clone();
        run(async move { m.start_discovery(options.into()).await }).await
    }

    /// Stops local discovery; connected peers stay connected.
    pub async fn stop_discovery(&self) -> Result<(), MapeoError> {
        let m = self.manager()?.clone();
        run_infallible(async move { m.stop_discovery().await }).await
    }

    /// Whether local discovery is running.
    pub fn discovery_running(&self) -> bool {
        self.inner.discovery_running()
    }

    /// Devices seen on the network, connected or not.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.inner.peers().into_iter().map(Into::into).collect()
    }

    /// Calls `listener` with the peer list now, then after each change (throttled). Keep the
    /// handle: the subscription ends when it is cancelled or dropped.
    pub fn subscribe_peers(
        &self,
        listener: Arc<dyn PeerListener>,
    ) -> Result<Arc<TaskHandle>, MapeoError> {
        // Weak: a subscription must not keep a closed device (and its network) alive.
        let m = Arc::downgrade(self.manager()?);
        subscribe(
            self.manager()?.subscribe_peers(),
            move || {
                Ok(upgrade(&m)?
                    .peers()
                    .into_iter()
                    .map(PeerInfo::from)
                    .collect())
            },
            move |peers: Vec<PeerInfo>| listener.on_peers(peers),
        )
    }

    /// Turns data sync (observations, tracks) on for a project. Roles and configuration
    /// always sync.
    pub fn start_sync(&self, project_id: String) -> Result<(), MapeoError> {
        Ok(self
            .manager()?
            .start_sync(&self::project_id(&project_id)?)?)
    }

    /// Turns data sync off for a project.
    pub fn stop_sync(&self, project_id: String) -> Result<(), MapeoError> {
        Ok(self.manager()?.stop_sync(&self::project_id(&project_id)?)?)
    }

    /// The exchange of a project with each peer that has it, now.
    pub fn sync_state(&self, project_id: String) -> Result<Vec<PeerSyncState>, MapeoError> {
        let id = self::project_id(&project_id)?;
        Ok(self
            .manager()?
            .sync_board()
            .project(&id)
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Calls `listener` with a project's sync state now, then after each change (throttled).
    /// Keep the handle: the subscription ends when it is cancelled or dropped.
    pub fn subscribe_sync(
        &self,
        project_id: String,
        listener: Arc<dyn SyncListener>,
    ) -> Result<Arc<TaskHandle>, MapeoError> {
        let id = self::project_id(&project_id)?;
        let board = self.manager()?.sync_board();
        let changes = board.subscribe();
        let board = Arc::downgrade(&board);
        subscribe(
            changes,
            move || {
                let states = upgrade(&board)?.project(&id);
                Ok(states.into_iter().map(Into::into).collect())
            },
            move |peers: Vec<PeerSyncState>| listener.on_sync_state(project_id.clone(), peers),
        )
    }

    /// Waits until every connected peer (at least one) is synced with the project for
    /// `phase`. Fails with `Sync` if nothing moves for `inactivity_ms`.
    pub async fn wait_for_sync(
        &self,
        project_id: String,
        phase: SyncPhase,
        inactivity_ms: u64,
    ) -> Result<(), MapeoError> {
        let (m, id) = (self.manager()?.clone(), self::project_id(&project_id)?);
        let inactivity = Duration::from_millis(inactivity_ms);
        run(async move { m.wait_for_sync(&id, phase.into(), inactivity).await }).await
    }

    /// Stops data sync of a project by itself once it has been synced and quiet for
    /// `quiet_ms`; unset turns that off.
    pub async fn set_auto_stop(
        &self,
        project_id: String,
        quiet_ms: Option<u64>,
    ) -> Result<(), MapeoError> {
        let (m, id) = (self.manager()?.clone(), self::project_id(&project_id)?);
        let quiet = quiet_ms.map(Duration::from_millis);
        run(async move { m.set_auto_stop(&id, quiet).await }).await
    }

    /// Pauses all networking: the app went to the background.
    pub async fn pause(&self) -> Result<(), MapeoError> {
        let m = self.manager()?.clone();
        run_infallible(async move { m.pause().await }).await
    }

    /// Resumes networking after [`Mapeo::pause`]: listens again and reconnects the peers
    /// connected by hand.
    pub async fn resume(&self) -> Result<(), MapeoError> {
        let m = self.manager()?.clone();
        run(async move { m.resume().await }).await
    }
}
