//! The map-share protocol between two connected devices: the messages (an offer, its answer,
//! a cancel, the end of a transfer), their named limits and their checks. A package travels
//! in [`Message::MapChunk`]s, encoded like blob chunks (a fixed header, then the bytes); the
//! session only routes these messages and refuses offers from a peer that shares no project.
//! Owns no state: the device side (`manager/map_share.rs`) keeps the shares.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::message::Message;
use crate::ids::{BlobHash, DeviceId};
use crate::maps::{Bounds, MAX_ZOOM, MapFormat, MapId};

/// The feature a device announces in its hello when it takes part in map shares; map-share
/// messages go only to peers that announce it (an older peer would close on them).
pub const MAP_SHARE_FEATURE: &str = "map-share";
/// Longest map name in an offer, in characters.
pub const MAX_MAP_NAME_CHARS: usize = 500;
/// Largest package that may be shared: a share is received like a blob, within the blob
/// size limit.
pub const MAX_SHARED_MAP_BYTES: u64 = crate::blobs::MAX_BLOB_BYTES;
/// Map-share messages (answers and chunks) queued for one peer before the sender waits.
pub const MAP_OUTBOX_DEPTH: usize = 4;

/// A map share's id: random, chosen by the sender.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MapShareId(#[serde(with = "serde_bytes")] pub [u8; 16]);

impl MapShareId {
    /// A new random id.
    pub fn random() -> Self {
        MapShareId(crate::crypto::random_bytes())
    }
}

impl std::fmt::Display for MapShareId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for MapShareId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MapShareId({})", hex::encode(&self.0[..4]))
    }
}

impl std::str::FromStr for MapShareId {
    type Err = crate::ids::IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| crate::ids::IdError::BadHex {
            kind: "map share id",
            len: 32,
        })?;
        Ok(MapShareId(bytes))
    }
}

/// What a sender offers: the map as the receiver will list it, and the package's hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MapOffer {
    /// The share.
    pub id: MapShareId,
    /// The map's id (the start of the package's hash).
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
    /// The blake3 hash of the whole package: the received bytes must match it.
    pub hash: BlobHash,
}

impl MapOffer {
    /// Whether the offer is within the limits and consistent (its map id is the start of
    /// its hash): anything else from a peer is dropped.
    pub fn is_valid(&self) -> bool {
        let lon = -180.0..=180.0;
        let lat = -90.0..=90.0;
        let b = &self.bounds;
        self.name.chars().count() <= MAX_MAP_NAME_CHARS
            && self.size > 0
            && self.size <= MAX_SHARED_MAP_BYTES
            && self.min_zoom <= self.max_zoom
            && self.max_zoom <= MAX_ZOOM
            && lon.contains(&b.west)
            && lon.contains(&b.east)
            && lat.contains(&b.south)
            && lat.contains(&b.north)
            && self.map_id.to_string() == hex::encode(&self.hash.as_bytes()[..16])
    }
}

/// A step of a map share. Read through [`tolerant`]: a kind this device does not know (from
/// a newer peer) reads as [`MapShareMessage::Unknown`] and is ignored rather than closing the
/// session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MapShareMessage {
    /// Sender → receiver: a map is offered.
    Offer {
        /// What is offered.
        offer: MapOffer,
    },
    /// Receiver → sender: send the package from `offset` (an accept, or a resume: what
    /// arrived before is kept).
    Accept {
        /// The share.
        id: MapShareId,
        /// The first byte wanted.
        offset: u64,
    },
    /// Receiver → sender: not wanted (declined, or refused unseen).
    Decline {
        /// The share.
        id: MapShareId,
    },
    /// Sender → receiver: the offer is withdrawn; what arrived is thrown away.
    Cancel {
        /// The share.
        id: MapShareId,
    },
    /// Receiver → sender: the package arrived, matched its hash and is installed.
    Installed {
        /// The share.
        id: MapShareId,
    },
    /// Either way: the share failed (the bytes did not match, or the other side no longer
    /// knows it) and is over.
    Failed {
        /// The share.
        id: MapShareId,
    },
    /// A kind this device does not know (never sent).
    #[serde(skip)]
    Unknown,
}

/// Reads a map-share step, taking one this device cannot read for
/// [`MapShareMessage::Unknown`]. The value is bounded by the message size limit.
pub(crate) fn tolerant<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<MapShareMessage, D::Error> {
    let value = ciborium::Value::deserialize(d)?;
    Ok(value
        .deserialized::<MapShareMessage>()
        .unwrap_or(MapShareMessage::Unknown))
}

impl MapShareMessage {
    /// The share it is about (`None` for an unknown kind).
    pub fn id(&self) -> Option<MapShareId> {
        match self {
            MapShareMessage::Offer { offer } => Some(offer.id),
            MapShareMessage::Accept { id, .. }
            | MapShareMessage::Decline { id }
            | MapShareMessage::Cancel { id }
            | MapShareMessage::Installed { id }
            | MapShareMessage::Failed { id } => Some(*id),
            MapShareMessage::Unknown => None,
        }
    }
}

/// What the session hands to the device: a map-share step or a chunk, from a peer. An offer
/// is handed over only from a peer that shares a project with this device.
#[derive(Debug)]
pub enum MapShareIncoming {
    /// A step of a share.
    Step(MapShareMessage),
    /// Bytes of a package.
    Chunk {
        /// The share.
        id: MapShareId,
        /// Where the bytes start in the package.
        offset: u64,
        /// The package's size.
        size: u64,
        /// The bytes.
        data: bytes::Bytes,
    },
}

/// A future the session awaits while the device takes in what the peer sent (a chunk waits
/// for the disk, which slows the peer instead of filling memory).
pub type Delivery = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The session's link to the device for map shares.
pub struct MapShareLink {
    /// Map-share messages to send to the peer (steps and chunks), in order.
    pub outbox: mpsc::Receiver<Message>,
    /// Called with each map-share message the peer sends.
    pub inbox: Arc<dyn Fn(DeviceId, MapShareIncoming) -> Delivery + Send + Sync>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;

    fn offer() -> MapOffer {
        let hash = BlobHash::from_bytes([0xab; 32]);
        MapOffer {
            id: MapShareId([1; 16]),
            map_id: hex::encode([0xab; 16]).parse().unwrap(),
            name: "Territory".into(),
            bounds: Bounds::WORLD,
            min_zoom: 0,
            max_zoom: 14,
            size: 1234,
            format: MapFormat::Smp,
            hash,
        }
    }

    #[test]
    fn every_step_round_trips_and_unknown_kinds_are_ignored() {
        let id = MapShareId([2; 16]);
        for m in [
            MapShareMessage::Offer { offer: offer() },
            MapShareMessage::Accept { id, offset: 77 },
            MapShareMessage::Decline { id },
            MapShareMessage::Cancel { id },
            MapShareMessage::Installed { id },
            MapShareMessage::Failed { id },
        ] {
            let wire = Message::MapShare(m.clone()).encode().unwrap();
            assert_eq!(Message::decode(&wire).unwrap(), Message::MapShare(m));
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        enum Newer {
            Pause { id: MapShareId },
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        enum Wrapper {
            MapShare(Newer),
        }
        let mut wire = Vec::new();
        ciborium::into_writer(&Wrapper::MapShare(Newer::Pause { id }), &mut wire).unwrap();
        assert_eq!(
            Message::decode(&wire).unwrap(),
            Message::MapShare(MapShareMessage::Unknown)
        );
    }

    #[test]
    fn offers_out_of_limits_or_inconsistent_are_invalid() {
        assert!(offer().is_valid());
        let mut o = offer();
        o.name = "x".repeat(MAX_MAP_NAME_CHARS + 1);
        assert!(!o.is_valid());
        let mut o = offer();
        o.size = MAX_SHARED_MAP_BYTES + 1;
        assert!(!o.is_valid());
        let mut o = offer();
        o.hash = BlobHash::from_bytes([0xcd; 32]);
        assert!(!o.is_valid(), "the map id must be the start of the hash");
        let mut o = offer();
        o.max_zoom = MAX_ZOOM + 1;
        assert!(!o.is_valid());
        let mut o = offer();
        o.bounds.north = 91.0;
        assert!(!o.is_valid());
    }

    proptest::proptest! {
        #[test]
        fn mutated_map_share_messages_never_panic(
            flips in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>()), 1..8)
        ) {
            let mut bytes = Message::MapShare(MapShareMessage::Offer { offer: offer() })
                .encode()
                .unwrap();
            for (i, b) in flips {
                let at = i.index(bytes.len());
                bytes[at] = b;
            }
            if let Ok(Message::MapShare(MapShareMessage::Offer { offer })) = Message::decode(&bytes) {
                let _ = offer.is_valid();
            }
        }
    }
}
