//! Maps shared phone to phone (DESIGN §13): the shares this device sends and receives, their
//! state and progress in bytes, and the transfer itself. A package is received like a blob —
//! into a [`PartialBlob`] of a store of its own (`<data dir>/map-shares/`, sealed at rest
//! under its own file key), resumed after its last complete chunk after a disconnect or a
//! restart, verified against the offered hash — and only then imported (decrypted as it is
//! read, sealed again under the map store's key as it is written) into the [`MapStore`]: no
//! plaintext of the package reaches the disk on either side, the sender reading its package
//! through the store's sealed reader. An accepted share is kept on disk until it
//! ends; a declined, cancelled or failed one leaves no partial file and nothing installed.
//! Reaches peers only through [`SharePeers`]; the session routes the messages.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::blobs::{BlobError, BlobStore, PartialBlob};
use crate::crypto::FileKey;
use crate::ids::{BlobHash, DeviceId};
use crate::maps::{Bounds, MapError, MapFormat, MapId, MapStore};
use crate::sync::map_share::{
    MAX_MAP_NAME_CHARS, MAX_SHARED_MAP_BYTES, MapOffer, MapShareId, MapShareIncoming,
    MapShareMessage,
};
use crate::sync::message::Message;

mod transfer;

use transfer::{WriterCmd, hash_package, write_share};

/// Most offers from peers waiting for an answer at once; more are declined unseen.
pub const MAX_PENDING_MAP_OFFERS: usize = 32;
/// Most shares listed; past it, shares that are over are forgotten to make room.
pub const MAX_LISTED_MAP_SHARES: usize = 200;
/// Chunks received and not yet written for one share before the session waits.
pub const MAP_CHUNKS_IN_FLIGHT: usize = 8;
/// How long a resume waits for the previous writer of a share to let go of its partial file.
pub const RESUME_WAIT: Duration = Duration::from_secs(10);
/// File (in the map-shares folder) listing the accepted shares still being received.
/// The purpose of the data folder's file key that seals packages being received
/// ([`DataFolderKey::derive_file_key`](crate::crypto::DataFolderKey::derive_file_key)).
pub const FILE_KEY_PURPOSE: &str = "map shares";
const ACCEPTED_FILE: &str = "accepted.json";
const ACCEPTED_TMP: &str = "accepted.json.tmp";

/// Why a map-share operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MapShareError {
    /// No share with this id is known here.
    #[error("no such map share")]
    UnknownShare,
    /// The share is not in a state that allows this (answered already, over, or sent by
    /// this device rather than received).
    #[error("the map share cannot do this in its current state")]
    WrongState,
    /// The device is not connected.
    #[error("the device is not connected")]
    NotConnected,
    /// The device shares no project with this one: maps go only to fellow members.
    #[error("the device shares no project with this one")]
    NoSharedProject,
    /// The device runs a version that does not take part in map shares.
    #[error("the device cannot receive maps")]
    PeerCannotReceive,
    /// The package is over [`MAX_SHARED_MAP_BYTES`].
    #[error("the map is too large to share")]
    TooLarge,
    /// The map store failed (an unknown map, a damaged package).
    #[error(transparent)]
    Map(#[from] MapError),
    /// Storing the package being received failed (a full disk).
    #[error("map share storage failed: {0}")]
    Storage(String),
}

impl From<BlobError> for MapShareError {
    fn from(e: BlobError) -> Self {
        MapShareError::Storage(e.to_string())
    }
}

impl From<io::Error> for MapShareError {
    fn from(e: io::Error) -> Self {
        MapShareError::Storage(BlobError::from(e).to_string())
    }
}

/// Which way a share goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MapShareDirection {
    /// This device offers the map.
    Sending,
    /// A peer offers the map to this device.
    Receiving,
}

/// Where a share stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MapShareState {
    /// Offered, not answered yet.
    Offered,
    /// Accepted: the package is travelling (or waits for the two devices to reconnect).
    Transferring,
    /// The package arrived, matched its hash and is installed on the receiver.
    Installed,
    /// The receiver declined it.
    Declined,
    /// The sender cancelled it.
    Cancelled,
    /// The bytes did not match, storing them failed, or the other side no longer knew it.
    Failed,
}

impl MapShareState {
    /// Whether the share is over (nothing more will happen to it).
    pub fn is_over(self) -> bool {
        !matches!(self, MapShareState::Offered | MapShareState::Transferring)
    }
}

/// A map share as the UI shows it, either way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapShare {
    /// The share.
    pub id: MapShareId,
    /// Sent or received.
    pub direction: MapShareDirection,
    /// The other device.
    pub peer: DeviceId,
    /// The other device's name, as it gave it.
    pub peer_name: String,
    /// The map.
    pub map_id: MapId,
    /// The map's name.
    pub name: String,
    /// The area it covers.
    pub bounds: Bounds,
    /// Lowest zoom level.
    pub min_zoom: u8,
    /// Highest zoom level.
    pub max_zoom: u8,
    /// The package's size in bytes.
    pub size: u64,
    /// The kind of package.
    pub format: MapFormat,
    /// Bytes sent (sender) or held (receiver) so far.
    pub bytes: u64,
    /// Where it stands.
    pub state: MapShareState,
}

/// The network as map shares see it (implemented by the manager's network).
pub(crate) trait SharePeers: Send + Sync {
    /// Where to queue map-share messages for `peer`, if it is connected and takes part.
    fn map_outbox(&self, peer: &DeviceId) -> Option<mpsc::Sender<Message>>;
    /// The name `peer` gave, if known.
    fn peer_name(&self, peer: &DeviceId) -> Option<String>;
}

struct Entry {
    share: MapShare,
    hash: BlobHash,
    /// Sender: the map store holding the package.
    package: Option<Arc<MapStore>>,
    /// Sender: the task streaming chunks.
    stream: Option<JoinHandle<()>>,
    /// Receiver: the writer of the partial file, while connected.
    writer: Option<mpsc::Sender<WriterCmd>>,
}

impl Entry {
    fn offer(&self) -> MapOffer {
        let s = &self.share;
        MapOffer {
            id: s.id,
            map_id: s.map_id.clone(),
            name: s.name.clone(),
            bounds: s.bounds,
            min_zoom: s.min_zoom,
            max_zoom: s.max_zoom,
            size: s.size,
            format: s.format,
            hash: self.hash,
        }
    }
}

/// An accepted share as kept on disk until it ends.
#[derive(Serialize, Deserialize)]
struct Accepted {
    offer: MapOffer,
    peer: DeviceId,
    peer_name: String,
}

/// The map shares of a device.
pub(crate) struct MapShares {
    this: Weak<MapShares>,
    dir: PathBuf,
    maps_dir: PathBuf,
    /// Seals the packages being received.
    key: FileKey,
    /// Seals the map store's files.
    maps_key: FileKey,
    incoming: Mutex<Option<BlobStore>>,
    entries: Mutex<BTreeMap<MapShareId, Entry>>,
    state: watch::Sender<Vec<MapShare>>,
    peers: Mutex<Option<Weak<dyn SharePeers>>>,
    /// One writer of the accepted-shares file at a time.
    saving: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn storage(e: impl std::fmt::Display) -> MapShareError {
    MapShareError::Storage(e.to_string())
}

impl MapShares {
    /// The shares of the device whose map-share folder is `dir` and map store `maps_dir`
    /// (sealed under `maps_key`); packages being received are sealed under `key`. Accepted
    /// shares that a restart interrupted are loaded (they resume when their sender
    /// connects); a folder that cannot be read now is tried again at first use.
    pub(crate) fn open(dir: &Path, maps_dir: &Path, key: FileKey, maps_key: FileKey) -> Arc<Self> {
        let shares = Arc::new_cyclic(|this| MapShares {
            this: this.clone(),
            dir: dir.to_owned(),
            maps_dir: maps_dir.to_owned(),
            key,
            maps_key,
            incoming: Mutex::new(None),
            entries: Mutex::new(BTreeMap::new()),
            state: watch::Sender::new(Vec::new()),
            peers: Mutex::new(None),
            saving: Mutex::new(()),
        });
        if let Err(e) = shares.load_accepted() {
            tracing::warn!("accepted map shares could not be loaded: {e}");
        }
        shares
    }

    /// Connects the shares to the network.
    pub(crate) fn attach(&self, peers: Weak<dyn SharePeers>) {
        *lock(&self.peers) = Some(peers);
    }

    fn incoming(&self) -> Result<BlobStore, MapShareError> {
        let mut store = lock(&self.incoming);
        if let Some(s) = &*store {
            return Ok(s.clone());
        }
        let s = BlobStore::open(&self.dir, self.key.clone(), watch::Sender::new(0))?;
        *store = Some(s.clone());
        Ok(s)
    }

    fn load_accepted(&self) -> Result<(), MapShareError> {
        if !self.dir.exists() {
            return Ok(());
        }
        let list: Vec<Accepted> = match fs::read(self.dir.join(ACCEPTED_FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(storage)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let incoming = self.incoming()?;
        // Partial files of shares no longer accepted (a crash between ending a share and
        // removing its file) go: the accepted ones are claimed first, so they stay.
        let claims: Vec<PartialBlob> = list
            .iter()
            .filter_map(|a| incoming.receive(&a.offer.hash, a.offer.size).ok().flatten())
            .collect();
        incoming.retain(|_| false)?;
        drop(claims);
        let mut entries = lock(&self.entries);
        for a in list {
            let bytes = incoming.partial_len(&a.offer.hash).min(a.offer.size);
            entries.insert(a.offer.id, received(&a.offer, a.peer, a.peer_name, bytes));
        }
        drop(entries);
        self.publish();
        Ok(())
    }

    fn save_accepted(&self) -> Result<(), MapShareError> {
        let _one = lock(&self.saving);
        let list: Vec<Accepted> = lock(&self.entries)
            .values()
            .filter(|e| {
                e.share.direction == MapShareDirection::Receiving
                    && e.share.state == MapShareState::Transferring
            })
            .map(|e| Accepted {
                offer: e.offer(),
                peer: e.share.peer,
                peer_name: e.share.peer_name.clone(),
            })
            .collect();
        fs::create_dir_all(&self.dir)?;
        let bytes = serde_json::to_vec(&list).map_err(storage)?;
        let tmp = self.dir.join(ACCEPTED_TMP);
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, self.dir.join(ACCEPTED_FILE))?;
        Ok(())
    }

    fn publish(&self) {
        let list: Vec<MapShare> = lock(&self.entries)
            .values()
            .map(|e| e.share.clone())
            .collect();
        self.state.send_if_modified(|old| {
            if *old == list {
                false
            } else {
                *old = list;
                true
            }
        });
    }

    /// Every share, sent and received, in id order.
    pub fn list(&self) -> Vec<MapShare> {
        self.state.borrow().clone()
    }

    /// Changes to the shares (state and bytes).
    pub fn subscribe(&self) -> watch::Receiver<Vec<MapShare>> {
        self.state.subscribe()
    }

    fn outbox(&self, peer: &DeviceId) -> Option<mpsc::Sender<Message>> {
        let peers = lock(&self.peers).as_ref()?.upgrade()?;
        peers.map_outbox(peer)
    }

    /// Queues a step for `peer` without waiting in the caller (a peer that is not reading
    /// must not hold up this device's own work).
    fn send(&self, peer: &DeviceId, step: MapShareMessage) {
        if let Some(tx) = self.outbox(peer) {
            tokio::spawn(async move {
                let _ = tx.send(Message::MapShare(step)).await;
            });
        }
    }

    fn update(&self, id: &MapShareId, f: impl FnOnce(&mut Entry)) {
        if let Some(e) = lock(&self.entries).get_mut(id) {
            f(e);
        }
        self.publish();
    }

    /// Offers `map` of the store `maps` to `peer`, which the caller checked is connected,
    /// takes part in map shares and shares a project with this device.
    pub(crate) async fn offer(
        &self,
        maps: Arc<MapStore>,
        map: &MapId,
        peer: DeviceId,
    ) -> Result<MapShareId, MapShareError> {
        let (package, info) = maps.open_package(map)?;
        if info.size > MAX_SHARED_MAP_BYTES {
            return Err(MapShareError::TooLarge);
        }
        let hash = tokio::task::spawn_blocking(move || hash_package(package))
            .await
            .map_err(storage)??;
        let id = MapShareId::random();
        let offer = MapOffer {
            id,
            map_id: info.id.clone(),
            name: info.name.chars().take(MAX_MAP_NAME_CHARS).collect(),
            bounds: info.bounds,
            min_zoom: info.min_zoom,
            max_zoom: info.max_zoom,
            size: info.size,
            format: info.format,
            hash,
        };
        if !offer.is_valid() {
            // The package changed under its id since it was imported.
            return Err(MapError::Damaged.into());
        }
        let tx = self.outbox(&peer).ok_or(MapShareError::NotConnected)?;
        let peer_name = self.peer_name(&peer);
        let mut entry = received(&offer, peer, peer_name, 0);
        entry.share.direction = MapShareDirection::Sending;
        entry.share.state = MapShareState::Offered;
        entry.package = Some(maps);
        lock(&self.entries).insert(id, entry);
        self.publish();
        tx.send(Message::MapShare(MapShareMessage::Offer { offer }))
            .await
            .map_err(|_| MapShareError::NotConnected)?;
        Ok(id)
    }

    fn peer_name(&self, peer: &DeviceId) -> String {
        lock(&self.peers)
            .as_ref()
            .and_then(Weak::upgrade)
            .and_then(|p| p.peer_name(peer))
            .unwrap_or_default()
    }

    /// Accepts a received offer: the package starts travelling (from what arrived before).
    pub async fn accept(&self, id: &MapShareId) -> Result<(), MapShareError> {
        let peer = {
            let entries = lock(&self.entries);
            let e = entries.get(id).ok_or(MapShareError::UnknownShare)?;
            if e.share.direction != MapShareDirection::Receiving
                || e.share.state != MapShareState::Offered
            {
                return Err(MapShareError::WrongState);
            }
            e.share.peer
        };
        if self.outbox(&peer).is_none() {
            return Err(MapShareError::NotConnected);
        }
        self.incoming()?;
        self.update(id, |e| e.share.state = MapShareState::Transferring);
        if let Err(e) = self.save_accepted() {
            self.update(id, |e| e.share.state = MapShareState::Offered);
            return Err(e);
        }
        self.resume(*id).await;
        Ok(())
    }

    /// Declines a received offer, or stops receiving an accepted one: nothing is installed
    /// and what arrived is thrown away.
    pub async fn decline(&self, id: &MapShareId) -> Result<(), MapShareError> {
        let peer = {
            let entries = lock(&self.entries);
            let e = entries.get(id).ok_or(MapShareError::UnknownShare)?;
            if e.share.direction != MapShareDirection::Receiving || e.share.state.is_over() {
                return Err(MapShareError::WrongState);
            }
            e.share.peer
        };
        self.end_received(id, MapShareState::Declined).await;
        self.send(&peer, MapShareMessage::Decline { id: *id });
        Ok(())
    }

    /// Cancels a share this device sent; the receiver throws away what arrived.
    pub async fn cancel(&self, id: &MapShareId) -> Result<(), MapShareError> {
        let (peer, direction) = {
            let entries = lock(&self.entries);
            let e = entries.get(id).ok_or(MapShareError::UnknownShare)?;
            if e.share.state.is_over() {
                return Err(MapShareError::WrongState);
            }
            (e.share.peer, e.share.direction)
        };
        if direction == MapShareDirection::Receiving {
            return self.decline(id).await;
        }
        self.end_sent(id, MapShareState::Cancelled);
        self.send(&peer, MapShareMessage::Cancel { id: *id });
        Ok(())
    }

    fn end_sent(&self, id: &MapShareId, state: MapShareState) {
        self.update(id, |e| {
            if let Some(t) = e.stream.take() {
                t.abort();
            }
            e.share.state = state;
            if state == MapShareState::Installed {
                e.share.bytes = e.share.size;
            }
        });
    }

    /// Ends a received share that was not installed: its partial file goes.
    async fn end_received(&self, id: &MapShareId, state: MapShareState) {
        let (writer, hash, size) = {
            let mut entries = lock(&self.entries);
            let Some(e) = entries.get_mut(id) else { return };
            e.share.state = state;
            (e.writer.take(), e.hash, e.share.size)
        };
        self.publish();
        if let Err(e) = self.save_accepted() {
            tracing::warn!("accepted map shares could not be saved: {e}");
        }
        match writer {
            // The writer throws the file away once what is queued is written.
            Some(w) => {
                let _ = w.send(WriterCmd::Discard).await;
            }
            None => self.discard_partial(hash, size).await,
        }
        self.update(id, |e| e.share.bytes = 0);
    }

    /// Removes a share's partial file, waiting for a writer still letting go of it.
    async fn discard_partial(&self, hash: BlobHash, size: u64) {
        let Ok(incoming) = self.incoming() else {
            return;
        };
        let deadline = tokio::time::Instant::now() + RESUME_WAIT;
        loop {
            match incoming.receive(&hash, size) {
                Ok(Some(p)) => return p.discard(),
                Ok(None) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                _ => return,
            }
        }
    }

    /// Starts (or restarts) receiving an accepted share from where its partial file ends,
    /// and asks the sender for the rest.
    async fn resume(&self, id: MapShareId) {
        let (peer, hash, size) = {
            let entries = lock(&self.entries);
            let Some(e) = entries.get(&id) else { return };
            if e.share.direction != MapShareDirection::Receiving
                || e.share.state != MapShareState::Transferring
                || e.writer.is_some()
            {
                return;
            }
            (e.share.peer, e.hash, e.share.size)
        };
        let Ok(incoming) = self.incoming() else {
            return;
        };
        let deadline = tokio::time::Instant::now() + RESUME_WAIT;
        let partial = loop {
            match incoming.receive(&hash, size) {
                Ok(Some(p)) => break p,
                // The previous writer is still letting go of the file.
                Ok(None) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!("a map share could not be resumed: {e}");
                    return self.fail_received(id, peer).await;
                }
            }
        };
        let offset = partial.offset();
        let (tx, rx) = mpsc::channel(MAP_CHUNKS_IN_FLIGHT);
        {
            let mut entries = lock(&self.entries);
            let Some(e) = entries.get_mut(&id) else {
                return;
            };
            if e.share.state != MapShareState::Transferring {
                drop(entries);
                return partial.discard();
            }
            e.writer = Some(tx);
            e.share.bytes = offset;
        }
        self.publish();
        let (this, handle) = (self.this.clone(), tokio::runtime::Handle::current());
        drop(tokio::task::spawn_blocking(move || {
            write_share(&this, id, partial, rx, &handle);
        }));
        self.send(&peer, MapShareMessage::Accept { id, offset });
    }

    async fn fail_received(&self, id: MapShareId, peer: DeviceId) {
        self.end_received(&id, MapShareState::Failed).await;
        self.send(&peer, MapShareMessage::Failed { id });
    }

    /// The peer's session is up: receiving shares from it resume.
    pub(crate) fn peer_connected(&self, peer: DeviceId) {
        // A new session replaces any earlier one with the peer, whose stream of chunks ends
        // with it: writers still waiting on it stop (keeping what they wrote), and every
        // share asks again from where its partial file ends.
        let ids: Vec<MapShareId> = lock(&self.entries)
            .values_mut()
            .filter(|e| {
                e.share.peer == peer
                    && e.share.direction == MapShareDirection::Receiving
                    && e.share.state == MapShareState::Transferring
            })
            .map(|e| {
                e.writer = None;
                e.share.id
            })
            .collect();
        let Some(this) = self.this.upgrade() else {
            return;
        };
        if ids.is_empty() {
            return;
        }
        tokio::spawn(async move {
            for id in ids {
                this.resume(id).await;
            }
        });
    }

    /// The peer's session ended: its writers stop (keeping what they wrote) and its
    /// streams stop; both resume when it is back.
    pub(crate) fn peer_gone(&self, peer: DeviceId) {
        let mut entries = lock(&self.entries);
        for e in entries.values_mut().filter(|e| e.share.peer == peer) {
            e.writer = None;
            if let Some(t) = e.stream.take() {
                t.abort();
            }
        }
    }

    /// Takes in what a peer sent.
    pub(crate) async fn deliver(&self, from: DeviceId, incoming: MapShareIncoming) {
        match incoming {
            MapShareIncoming::Chunk {
                id,
                offset,
                size,
                data,
            } => {
                let writer = lock(&self.entries)
                    .get(&id)
                    .filter(|e| e.share.peer == from)
                    .and_then(|e| e.writer.clone());
                if let Some(w) = writer {
                    let _ = w.send(WriterCmd::Chunk { offset, size, data }).await;
                }
            }
            MapShareIncoming::Step(step) => self.on_step(from, step).await,
        }
    }

    async fn on_step(&self, from: DeviceId, step: MapShareMessage) {
        let Some(id) = step.id() else { return };
        let known = lock(&self.entries)
            .get(&id)
            .map(|e| (e.share.peer, e.share.direction, e.share.state));
        let direction = match known {
            Some((peer, _, _)) if peer != from => return,
            Some((_, direction, _)) => Some(direction),
            None => None,
        };
        let state = known.map(|k| k.2);
        use MapShareDirection::{Receiving, Sending};
        match (step, direction) {
            (MapShareMessage::Offer { offer }, None) => self.on_offer(from, offer),
            (MapShareMessage::Accept { offset, .. }, Some(Sending))
                if matches!(
                    state,
                    Some(MapShareState::Offered | MapShareState::Transferring)
                ) =>
            {
                self.start_stream(id, from, offset);
            }
            // A share this device no longer knows (it restarted): the receiver stops.
            (MapShareMessage::Accept { .. }, None) => {
                self.send(&from, MapShareMessage::Failed { id });
            }
            (MapShareMessage::Decline { .. }, Some(Sending))
                if state.is_some_and(|s| !s.is_over()) =>
            {
                self.end_sent(&id, MapShareState::Declined);
            }
            (MapShareMessage::Installed { .. }, Some(Sending)) => {
                self.end_sent(&id, MapShareState::Installed);
            }
            (MapShareMessage::Failed { .. }, Some(Sending))
                if state.is_some_and(|s| !s.is_over()) =>
            {
                self.end_sent(&id, MapShareState::Failed);
            }
            (MapShareMessage::Cancel { .. }, Some(Receiving))
                if state.is_some_and(|s| !s.is_over()) =>
            {
                self.end_received(&id, MapShareState::Cancelled).await;
            }
            (MapShareMessage::Failed { .. }, Some(Receiving))
                if state.is_some_and(|s| !s.is_over()) =>
            {
                self.end_received(&id, MapShareState::Failed).await;
            }
            _ => {}
        }
    }

    fn on_offer(&self, from: DeviceId, offer: MapOffer) {
        let pending = lock(&self.entries)
            .values()
            .filter(|e| {
                e.share.direction == MapShareDirection::Receiving
                    && e.share.state == MapShareState::Offered
            })
            .count();
        if !offer.is_valid() || pending >= MAX_PENDING_MAP_OFFERS {
            tracing::info!("a map offer was declined unseen (invalid or too many pending)");
            return self.send(&from, MapShareMessage::Decline { id: offer.id });
        }
        let name = self.peer_name(&from);
        let mut entry = received(&offer, from, name, 0);
        entry.share.state = MapShareState::Offered;
        let mut entries = lock(&self.entries);
        let over = (entries.len() + 1).saturating_sub(MAX_LISTED_MAP_SHARES);
        let gone: Vec<MapShareId> = entries
            .iter()
            .filter(|(_, e)| e.share.state.is_over())
            .map(|(id, _)| *id)
            .take(over)
            .collect();
        for id in gone {
            entries.remove(&id);
        }
        entries.insert(offer.id, entry);
        drop(entries);
        self.publish();
    }
}

/// A received offer as an entry.
fn received(offer: &MapOffer, peer: DeviceId, peer_name: String, bytes: u64) -> Entry {
    Entry {
        share: MapShare {
            id: offer.id,
            direction: MapShareDirection::Receiving,
            peer,
            peer_name,
            map_id: offer.map_id.clone(),
            name: offer.name.clone(),
            bounds: offer.bounds,
            min_zoom: offer.min_zoom,
            max_zoom: offer.max_zoom,
            size: offer.size,
            format: offer.format,
            bytes,
            state: MapShareState::Transferring,
        },
        hash: offer.hash,
        package: None,
        stream: None,
        writer: None,
    }
}
