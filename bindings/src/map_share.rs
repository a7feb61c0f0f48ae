//! Maps shared phone to phone, as the app sees them: the share record and its enums, the
//! device's calls (share, cancel, list, accept, decline, subscribe) and the
//! [`MapShareListener`]. Every method is a core call and a conversion; who may offer, how the
//! package travels and when it is installed are decided in the core
//! (`mapeo_core::manager::MapShares`).

use std::sync::Arc;

use mapeo_core::manager::{
    MapShare as CoreShare, MapShareDirection as CoreDirection, MapShareError,
    MapShareState as CoreState,
};
use mapeo_core::maps::{MapError, MapId};
use mapeo_core::sync::map_share::MapShareId;

use crate::device::Mapeo;
use crate::error::MapeoError;
use crate::listen::{TaskHandle, subscribe, upgrade};
use crate::records::device_id;
use crate::runtime::run;

/// Which way a map share goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum MapShareDirection {
    /// This device offers the map.
    Sending,
    /// A peer offers the map to this device.
    Receiving,
}

/// Where a map share stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum MapShareState {
    /// Offered, not answered yet.
    Offered,
    /// Accepted: the package is travelling (or waits for the devices to reconnect).
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

/// A map share, sent or received. The map's name is what the sender's package says: show it
/// as the sender's words.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct MapShare {
    /// The share's id (32 hex characters), to accept, decline or cancel it.
    pub share_id: String,
    /// Sent or received.
    pub direction: MapShareDirection,
    /// The other device (64 hex characters).
    pub device_id: String,
    /// The other device's name, as it gave it.
    pub device_name: String,
    /// The map's id (32 hex characters).
    pub map_id: String,
    /// The map's name.
    pub name: String,
    /// Western longitude of the area it covers.
    pub west: f64,
    /// Southern latitude.
    pub south: f64,
    /// Eastern longitude.
    pub east: f64,
    /// Northern latitude.
    pub north: f64,
    /// Lowest zoom level.
    pub min_zoom: u8,
    /// Highest zoom level.
    pub max_zoom: u8,
    /// The package's size in bytes.
    pub size: u64,
    /// Bytes sent (sender) or held (receiver) so far.
    pub bytes: u64,
    /// Where it stands.
    pub state: MapShareState,
}

/// The map shares, as the app implements it (to show an offer and progress).
#[uniffi::export(with_foreign)]
pub trait MapShareListener: Send + Sync {
    /// Every map share, sent and received, with its state and bytes. Called with the current
    /// list first, then after changes, throttled. Return quickly; throwing is logged and
    /// ignored.
    fn on_map_shares(&self, shares: Vec<MapShare>) -> Result<(), MapeoError>;
}

impl From<CoreShare> for MapShare {
    fn from(s: CoreShare) -> Self {
        MapShare {
            share_id: s.id.to_string(),
            direction: match s.direction {
                CoreDirection::Sending => MapShareDirection::Sending,
                CoreDirection::Receiving => MapShareDirection::Receiving,
            },
            device_id: s.peer.to_string(),
            device_name: s.peer_name,
            map_id: s.map_id.to_string(),
            name: s.name,
            west: s.bounds.west,
            south: s.bounds.south,
            east: s.bounds.east,
            north: s.bounds.north,
            min_zoom: s.min_zoom,
            max_zoom: s.max_zoom,
            size: s.size,
            bytes: s.bytes,
            state: match s.state {
                CoreState::Offered => MapShareState::Offered,
                CoreState::Transferring => MapShareState::Transferring,
                CoreState::Installed => MapShareState::Installed,
                CoreState::Declined => MapShareState::Declined,
                CoreState::Cancelled => MapShareState::Cancelled,
                CoreState::Failed => MapShareState::Failed,
            },
        }
    }
}

impl From<MapShareError> for MapeoError {
    fn from(e: MapShareError) -> Self {
        let reason = e.to_string();
        match e {
            MapShareError::UnknownShare | MapShareError::Map(MapError::UnknownMap) => {
                MapeoError::NotFound { reason }
            }
            MapShareError::WrongState | MapShareError::TooLarge => {
                MapeoError::InvalidInput { reason }
            }
            MapShareError::NotConnected | MapShareError::PeerCannotReceive => {
                MapeoError::Network { reason }
            }
            MapShareError::NoSharedProject => MapeoError::NotAllowed { reason },
            // Fixed core texts: a kind of failure, never a path.
            MapShareError::Map(_) | MapShareError::Storage(_) => MapeoError::Storage { reason },
        }
    }
}

fn share_id(text: &str) -> Result<MapShareId, MapeoError> {
    text.parse::<MapShareId>()
        .map_err(|e| mapeo_core::Error::Id(e).into())
}

fn map_id(text: &str) -> Result<MapId, MapeoError> {
    text.parse::<MapId>()
        .map_err(|_| MapeoError::invalid("a map id is 32 lowercase hex characters"))
}

fn convert(shares: Vec<CoreShare>) -> Vec<MapShare> {
    shares.into_iter().map(Into::into).collect()
}

#[uniffi::export]
impl Mapeo {
    /// Offers a map of this device to a connected device that shares a project with it
    /// (`NotAllowed` otherwise: strangers cannot be sent maps; `Network` if it is not
    /// connected). Returns the share's id once the offer is sent; follow it with
    /// [`Mapeo::map_shares`] or [`Mapeo::subscribe_map_shares`].
    pub async fn share_map(&self, map_id: String, device_id: String) -> Result<String, MapeoError> {
        let m = self.manager()?.clone();
        let (map, to) = (self::map_id(&map_id)?, self::device_id(&device_id)?);
        let id = run(async move { m.share_map(&map, &to).await }).await?;
        Ok(id.to_string())
    }

    /// Cancels a map share this device sent (one it received: declines it). The receiver
    /// keeps nothing of it.
    pub async fn cancel_map_share(&self, share_id: String) -> Result<(), MapeoError> {
        let (m, id) = (self.manager()?.clone(), self::share_id(&share_id)?);
        run(async move { m.cancel_map_share(&id).await }).await
    }

    /// Accepts a map offered by a peer: the package travels (resuming after a disconnect or
    /// a restart), is verified against its hash, then installed. Returns once accepted.
    pub async fn accept_map_share(&self, share_id: String) -> Result<(), MapeoError> {
        let (m, id) = (self.manager()?.clone(), self::share_id(&share_id)?);
        run(async move { m.accept_map_share(&id).await }).await
    }

    /// Declines a map offered by a peer (or stops receiving one accepted): nothing is kept.
    pub async fn decline_map_share(&self, share_id: String) -> Result<(), MapeoError> {
        let (m, id) = (self.manager()?.clone(), self::share_id(&share_id)?);
        run(async move { m.decline_map_share(&id).await }).await
    }

    /// Every map share, sent and received, with its state and bytes.
    pub fn map_shares(&self) -> Result<Vec<MapShare>, MapeoError> {
        Ok(convert(self.manager()?.map_shares()))
    }

    /// Calls `listener` with every map share now, then after each change (an offer arrives,
    /// bytes move, a share ends), throttled. Keep the handle: the subscription ends when it
    /// is cancelled or dropped.
    pub fn subscribe_map_shares(
        &self,
        listener: Arc<dyn MapShareListener>,
    ) -> Result<Arc<TaskHandle>, MapeoError> {
        // Weak: a subscription must not keep a closed device alive.
        let m = Arc::downgrade(self.manager()?);
        subscribe(
            self.manager()?.subscribe_map_shares(),
            move || Ok(convert(upgrade(&m)?.map_shares())),
            move |shares: Vec<MapShare>| listener.on_map_shares(shares),
        )
    }
}
