//! The sync protocol's messages and their wire encoding (CBOR): versioned, typed and
//! size-limited. Owns encoding and decoding only; decoding arbitrary bytes returns an error,
//! never panics, and never allocates by an untrusted length beyond the message size limit.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::feed::Entry;
use crate::ids::{BlobHash, DeviceId, EntryHash, Namespace};

/// Wire version of the sync messages; a peer with another major version is refused.
pub const SYNC_PROTOCOL_VERSION: u16 = 1;
/// Largest encoded message accepted or sent.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Most entries sent in one `Entries` message (one verified, committed batch).
pub const MAX_ENTRIES_PER_BATCH: usize = 500;
/// Entry payload bytes after which a batch is sent even if it has fewer entries.
pub const BATCH_PAYLOAD_BYTES: usize = 1024 * 1024;
/// Most projects one side may announce.
pub const MAX_PROJECT_TAGS: usize = 1_000;
/// Most feed lengths in one `Have` message.
pub const MAX_FEEDS_PER_HAVE: usize = 100_000;
/// Most blob hashes in one `BlobHave`, `BlobRequest`, `BlobCancel` or `BlobMissing`.
pub const MAX_BLOBS_PER_MESSAGE: usize = 10_000;
/// Bytes of a blob sent per `BlobChunk`.
pub const BLOB_CHUNK_BYTES: usize = 1024 * 1024;
/// Most bytes of a blob accepted in one `BlobChunk`.
pub const MAX_BLOB_CHUNK_BYTES: usize = 2 * 1024 * 1024;

/// A project's tag on one connection: a MAC of the handshake hash under the project key.
/// Only a holder of the key can compute it; it is worthless on any other connection.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProjectTag(#[serde(with = "serde_bytes")] pub [u8; 32]);

impl std::fmt::Debug for ProjectTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProjectTag({})", hex::encode(&self.0[..4]))
    }
}

/// One feed's length as announced to a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedLength {
    /// The feed's author.
    pub author: DeviceId,
    /// The feed's namespace.
    pub namespace: Namespace,
    /// How many entries the sender holds.
    pub length: u64,
}

/// An entry as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireEntry {
    #[serde(deserialize_with = "DeviceId::deserialize_unchecked")]
    author: DeviceId,
    namespace: Namespace,
    seq: u64,
    prev_hash: EntryHash,
    #[serde(with = "serde_bytes")]
    payload: Vec<u8>,
    #[serde(with = "serde_bytes")]
    signature: [u8; 64],
}

impl From<Entry> for WireEntry {
    fn from(e: Entry) -> Self {
        WireEntry {
            author: e.author,
            namespace: e.namespace,
            seq: e.seq,
            prev_hash: e.prev_hash,
            payload: e.payload,
            signature: e.signature,
        }
    }
}

impl From<WireEntry> for Entry {
    fn from(e: WireEntry) -> Self {
        Entry {
            author: e.author,
            namespace: e.namespace,
            seq: e.seq,
            prev_hash: e.prev_hash,
            payload: e.payload,
            signature: e.signature,
        }
    }
}

/// Why a side closes a sync session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CloseReason {
    /// The peer sent something that is not a valid message.
    Malformed,
    /// The peer sent entries that failed verification.
    InvalidEntries,
    /// Another connection between the same two devices is kept instead.
    Duplicate,
    /// The device is stopping or pausing.
    ShuttingDown,
    /// The peer speaks another protocol version.
    UnsupportedVersion,
}

/// A sync protocol message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Message {
    /// First message: the protocol version and a tag per project the sender holds. Sent
    /// again when the sender joins a project.
    Projects {
        /// The sender's sync protocol version.
        version: u16,
        /// One tag per project.
        tags: Vec<ProjectTag>,
    },
    /// Feed lengths the sender holds in a shared project (all of them at first, then the
    /// ones that grew). Also acknowledges entries received.
    Have {
        /// The project.
        project: ProjectTag,
        /// Feed lengths.
        feeds: Vec<FeedLength>,
        /// The sender's holdings shrank (it left the project, or its store was repaired or
        /// wiped): `feeds` is all it holds now, and replaces what the receiver believed
        /// rather than adding to it; a feed not listed is held no more. Absent (false) in
        /// messages from older peers, which never shrink what they announced; an older
        /// receiver ignores it, as before.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        reset: bool,
    },
    /// The sender did not take entries it was sent (its view of roles or data sync did not
    /// allow them then) and now asks for them again from these lengths.
    Want {
        /// The project.
        project: ProjectTag,
        /// Feed lengths the sender holds: resend from there.
        feeds: Vec<FeedLength>,
    },
    /// Whether the sender has data sync on for a project (auth and config always flow).
    SyncEnabled {
        /// The project.
        project: ProjectTag,
        /// Data sync on.
        data: bool,
        /// This answers the receiver's own `SyncEnabled` (sent unasked, each is answered
        /// once): the receiver then knows the sender's switch as of after reading its own.
        #[serde(default)]
        answer: bool,
    },
    /// A batch of consecutive entries the receiver lacks.
    Entries {
        /// The project.
        project: ProjectTag,
        /// The entries.
        entries: Vec<WireEntry>,
    },
    /// Keepalive request.
    Ping,
    /// Keepalive answer.
    Pong,
    /// The sender is closing the session.
    Close {
        /// Why.
        reason: CloseReason,
    },
    /// A step of an invite between the two devices (not about any shared project).
    Invite(crate::invites::InviteMessage),
    /// Blobs the sender holds complete in a shared project: all of them once the project is
    /// linked (in as many messages as needed), then each new one.
    BlobHave {
        /// The project.
        project: ProjectTag,
        /// Their hashes.
        hashes: Vec<BlobHash>,
        /// This message ends a round: the receiver now knows every blob the sender holds.
        done: bool,
    },
    /// Asks for blobs, each from an offset (what arrived before is kept).
    BlobRequest {
        /// The project.
        project: ProjectTag,
        /// Which blobs, from where.
        blobs: Vec<BlobAt>,
    },
    /// The sender no longer wants these blobs from the receiver (its policy changed, or they
    /// arrived from elsewhere).
    BlobCancel {
        /// The project.
        project: ProjectTag,
        /// Their hashes.
        hashes: Vec<BlobHash>,
    },
    /// Bytes of a blob.
    BlobChunk {
        /// The project.
        project: ProjectTag,
        /// The blob.
        hash: BlobHash,
        /// Where these bytes start in it.
        offset: u64,
        /// The whole blob's size.
        size: u64,
        /// The bytes (shared, not copied, between the wire buffer and the store).
        data: Bytes,
    },
    /// The sender does not hold these blobs (any more): ask elsewhere.
    BlobMissing {
        /// The project.
        project: ProjectTag,
        /// Their hashes.
        hashes: Vec<BlobHash>,
    },
    /// A step of a map share between the two devices (`sync/map_share.rs`); sent only to
    /// peers that announce [`super::map_share::MAP_SHARE_FEATURE`].
    MapShare(
        #[serde(deserialize_with = "super::map_share::tolerant")] super::map_share::MapShareMessage,
    ),
    /// Bytes of a shared map package, encoded like a `BlobChunk` (see [`MAP_CHUNK_MARKER`]).
    MapChunk {
        /// The share.
        share: super::map_share::MapShareId,
        /// Where these bytes start in the package.
        offset: u64,
        /// The whole package's size.
        size: u64,
        /// The bytes.
        data: Bytes,
    },
}

/// A blob asked for, from an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobAt {
    /// The blob.
    pub hash: BlobHash,
    /// The first byte wanted.
    pub offset: u64,
}

/// First byte of a `BlobChunk` on the wire. A CBOR message never starts with it (it would be
/// the integer 0), so chunks skip CBOR: their bytes are copied once each way instead of
/// through the CBOR reader's small scratch buffer.
pub const BLOB_CHUNK_MARKER: u8 = 0x00;
/// Length of a `BlobChunk`'s fixed header: marker, project tag, hash, offset, size.
const CHUNK_HEADER_BYTES: usize = 1 + 32 + 32 + 8 + 8;
/// First byte of a `MapChunk` on the wire (a CBOR message never starts with it either: it
/// would be the integer 1). Then the share id, offset and size, and the bytes.
pub const MAP_CHUNK_MARKER: u8 = 0x01;
/// Length of a `MapChunk`'s fixed header: marker, share id, offset, size.
const MAP_CHUNK_HEADER_BYTES: usize = 1 + 16 + 8 + 8;

/// A `MapChunk`'s header; its bytes follow.
fn map_chunk_header(
    share: &super::map_share::MapShareId,
    offset: u64,
    size: u64,
    data: &[u8],
) -> Result<Vec<u8>, MessageError> {
    if data.len() > MAX_BLOB_CHUNK_BYTES {
        return Err(MessageError::TooLarge);
    }
    let mut out = Vec::with_capacity(MAP_CHUNK_HEADER_BYTES);
    out.push(MAP_CHUNK_MARKER);
    out.extend_from_slice(&share.0);
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&size.to_be_bytes());
    Ok(out)
}

/// Reads a `MapChunk` from `bytes`; its data is a view of `bytes`, not a copy.
fn decode_map_chunk(bytes: Bytes) -> Result<Message, MessageError> {
    let header = bytes
        .get(..MAP_CHUNK_HEADER_BYTES)
        .ok_or(MessageError::Malformed)?;
    if bytes.len() - MAP_CHUNK_HEADER_BYTES > MAX_BLOB_CHUNK_BYTES {
        return Err(MessageError::TooLarge);
    }
    let take8 = |at: usize| -> Result<u64, MessageError> {
        header
            .get(at..at + 8)
            .and_then(|s| s.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or(MessageError::Malformed)
    };
    let share = header
        .get(1..17)
        .and_then(|s| s.try_into().ok())
        .ok_or(MessageError::Malformed)?;
    Ok(Message::MapChunk {
        share: super::map_share::MapShareId(share),
        offset: take8(17)?,
        size: take8(25)?,
        data: bytes.slice(MAP_CHUNK_HEADER_BYTES..),
    })
}

/// A `BlobChunk`'s header: marker, tag, hash, offset and size (big-endian); its bytes follow.
fn chunk_header(
    project: &ProjectTag,
    hash: &BlobHash,
    offset: u64,
    size: u64,
    data: &[u8],
) -> Result<Vec<u8>, MessageError> {
    if data.len() > MAX_BLOB_CHUNK_BYTES {
        return Err(MessageError::TooLarge);
    }
    let mut out = Vec::with_capacity(CHUNK_HEADER_BYTES);
    out.push(BLOB_CHUNK_MARKER);
    out.extend_from_slice(&project.0);
    out.extend_from_slice(hash.as_bytes());
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&size.to_be_bytes());
    Ok(out)
}

/// Reads a `BlobChunk` from `bytes`; its data is a view of `bytes`, not a copy.
fn decode_chunk(bytes: Bytes) -> Result<Message, MessageError> {
    let header = bytes
        .get(..CHUNK_HEADER_BYTES)
        .ok_or(MessageError::Malformed)?;
    if bytes.len() - CHUNK_HEADER_BYTES > MAX_BLOB_CHUNK_BYTES {
        return Err(MessageError::TooLarge);
    }
    let take32 = |at: usize| -> Result<[u8; 32], MessageError> {
        header
            .get(at..at + 32)
            .and_then(|s| s.try_into().ok())
            .ok_or(MessageError::Malformed)
    };
    let take8 = |at: usize| -> Result<u64, MessageError> {
        header
            .get(at..at + 8)
            .and_then(|s| s.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or(MessageError::Malformed)
    };
    Ok(Message::BlobChunk {
        project: ProjectTag(take32(1)?),
        hash: BlobHash::from_bytes(take32(33)?),
        offset: take8(65)?,
        size: take8(73)?,
        data: bytes.slice(CHUNK_HEADER_BYTES..),
    })
}

/// An encoded message as the parts that follow each other on the wire: a blob chunk's
/// bytes go out from where they were read, without being copied behind their header.
#[derive(Debug)]
pub struct Wire {
    head: Vec<u8>,
    body: Bytes,
}

impl Wire {
    /// The message's bytes, in order.
    pub fn parts(&self) -> [&[u8]; 2] {
        [&self.head, &self.body]
    }

    /// Whole bytes (one copy), where one buffer is needed.
    pub fn to_vec(&self) -> Vec<u8> {
        [self.head.as_slice(), &self.body].concat()
    }
}

/// A message that could not be encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MessageError {
    /// Over [`MAX_MESSAGE_BYTES`] or another named limit.
    #[error("message over the size limit")]
    TooLarge,
    /// Not a valid message.
    #[error("malformed message")]
    Malformed,
}

impl Message {
    /// Encodes for the wire, as one buffer.
    pub fn encode(&self) -> Result<Vec<u8>, MessageError> {
        self.to_wire().map(|w| w.to_vec())
    }

    /// Encodes for the wire, as parts to send one after the other (see [`Wire`]).
    pub fn to_wire(&self) -> Result<Wire, MessageError> {
        if let Message::BlobChunk {
            project,
            hash,
            offset,
            size,
            data,
        } = self
        {
            return Ok(Wire {
                head: chunk_header(project, hash, *offset, *size, data)?,
                body: data.clone(),
            });
        }
        if let Message::MapChunk {
            share,
            offset,
            size,
            data,
        } = self
        {
            return Ok(Wire {
                head: map_chunk_header(share, *offset, *size, data)?,
                body: data.clone(),
            });
        }
        let mut out = Vec::new();
        ciborium::into_writer(self, &mut out).map_err(|_| MessageError::Malformed)?;
        if out.len() > MAX_MESSAGE_BYTES {
            return Err(MessageError::TooLarge);
        }
        Ok(Wire {
            head: out,
            body: Bytes::new(),
        })
    }

    /// Decodes from the wire, checking every named limit.
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(MessageError::TooLarge);
        }
        if bytes.first() == Some(&BLOB_CHUNK_MARKER) {
            return decode_chunk(Bytes::copy_from_slice(bytes));
        }
        if bytes.first() == Some(&MAP_CHUNK_MARKER) {
            return decode_map_chunk(Bytes::copy_from_slice(bytes));
        }
        Self::decode_cbor(bytes)
    }

    /// [`decode`](Self::decode) from a buffer it may keep: a blob chunk's data stays in it.
    pub fn decode_owned(bytes: Vec<u8>) -> Result<Self, MessageError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(MessageError::TooLarge);
        }
        if bytes.first() == Some(&BLOB_CHUNK_MARKER) {
            return decode_chunk(Bytes::from(bytes));
        }
        if bytes.first() == Some(&MAP_CHUNK_MARKER) {
            return decode_map_chunk(Bytes::from(bytes));
        }
        Self::decode_cbor(&bytes)
    }

    fn decode_cbor(bytes: &[u8]) -> Result<Self, MessageError> {
        // ciborium pre-allocates at most a small, bounded capacity for declared lengths and
        // the input is already bounded, so a hostile length cannot allocate beyond it.
        let mut reader = bytes;
        let msg: Message =
            ciborium::from_reader(&mut reader).map_err(|_| MessageError::Malformed)?;
        if !reader.is_empty() {
            return Err(MessageError::Malformed);
        }
        let within = match &msg {
            Message::Projects { tags, .. } => tags.len() <= MAX_PROJECT_TAGS,
            Message::Have { feeds, .. } | Message::Want { feeds, .. } => {
                feeds.len() <= MAX_FEEDS_PER_HAVE
            }
            Message::Entries { entries, .. } => entries.len() <= MAX_ENTRIES_PER_BATCH,
            Message::BlobHave { hashes, .. }
            | Message::BlobCancel { hashes, .. }
            | Message::BlobMissing { hashes, .. } => hashes.len() <= MAX_BLOBS_PER_MESSAGE,
            Message::BlobRequest { blobs, .. } => blobs.len() <= MAX_BLOBS_PER_MESSAGE,
            Message::BlobChunk { data, .. } | Message::MapChunk { data, .. } => {
                data.len() <= MAX_BLOB_CHUNK_BYTES
            }
            _ => true,
        };
        if within {
            Ok(msg)
        } else {
            Err(MessageError::TooLarge)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::RootKey;
    use proptest::prelude::*;

    fn samples() -> Vec<Message> {
        let author = RootKey::from_bytes([1; 16]).device_keys().device_id();
        let tag = ProjectTag([7; 32]);
        vec![
            Message::Projects {
                version: SYNC_PROTOCOL_VERSION,
                tags: vec![tag, ProjectTag([8; 32])],
            },
            Message::Have {
                project: tag,
                feeds: vec![FeedLength {
                    author,
                    namespace: Namespace::Data,
                    length: 42,
                }],
                reset: false,
            },
            Message::Have {
                project: tag,
                feeds: Vec::new(),
                reset: true,
            },
            Message::SyncEnabled {
                project: tag,
                data: true,
                answer: false,
            },
            Message::SyncEnabled {
                project: tag,
                data: false,
                answer: true,
            },
            Message::Want {
                project: tag,
                feeds: vec![FeedLength {
                    author,
                    namespace: Namespace::Auth,
                    length: 0,
                }],
            },
            Message::Entries {
                project: tag,
                entries: vec![WireEntry {
                    author,
                    namespace: Namespace::Config,
                    seq: 3,
                    prev_hash: EntryHash::GENESIS,
                    payload: vec![1, 2, 3, 250],
                    signature: [200; 64],
                }],
            },
            Message::Ping,
            Message::Pong,
            Message::Close {
                reason: CloseReason::Duplicate,
            },
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for m in samples() {
            let bytes = m.encode().unwrap();
            assert_eq!(Message::decode(&bytes).unwrap(), m);
        }
    }

    /// `Have` as protocol version 1 peers without holdings resets know it.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    enum OldMessage {
        Have {
            project: ProjectTag,
            feeds: Vec<FeedLength>,
        },
    }

    #[test]
    fn a_holdings_reset_stays_readable_by_older_peers_and_plain_haves_are_unchanged() {
        let author = RootKey::from_bytes([1; 16]).device_keys().device_id();
        let (project, feeds) = (
            ProjectTag([7; 32]),
            vec![FeedLength {
                author,
                namespace: Namespace::Config,
                length: 3,
            }],
        );
        let old = OldMessage::Have {
            project,
            feeds: feeds.clone(),
        };
        let mut old_bytes = Vec::new();
        ciborium::into_writer(&old, &mut old_bytes).unwrap();
        // A plain `Have` is byte for byte what older peers send, and theirs reads as plain.
        let plain = Message::Have {
            project,
            feeds: feeds.clone(),
            reset: false,
        };
        assert_eq!(plain.encode().unwrap(), old_bytes);
        assert_eq!(Message::decode(&old_bytes).unwrap(), plain);
        // An older peer reads a reset as a plain `Have` (it max-merges, as it always did).
        let reset = Message::Have {
            project,
            feeds: feeds.clone(),
            reset: true,
        };
        let seen: OldMessage = ciborium::from_reader(&reset.encode().unwrap()[..]).unwrap();
        assert_eq!(seen, old);
    }

    #[test]
    fn bytes_are_carried_compactly() {
        let m = &samples()[4];
        // Byte strings, not arrays of integers: each signature byte >= 24 would cost two bytes
        // as an array element, adding 63 to the 258 this takes.
        let len = m.encode().unwrap().len();
        assert!(len <= 260, "{len}");
    }

    #[test]
    fn trailing_bytes_and_unknown_types_are_malformed() {
        let mut bytes = Message::Ping.encode().unwrap();
        bytes.push(0);
        assert_eq!(Message::decode(&bytes), Err(MessageError::Malformed));
        let mut unknown = Vec::new();
        ciborium::into_writer(&"launchMissiles", &mut unknown).unwrap();
        assert_eq!(Message::decode(&unknown), Err(MessageError::Malformed));
    }

    #[test]
    fn over_limit_batches_are_refused() {
        let author = RootKey::from_bytes([1; 16]).device_keys().device_id();
        let e = WireEntry {
            author,
            namespace: Namespace::Data,
            seq: 0,
            prev_hash: EntryHash::GENESIS,
            payload: vec![],
            signature: [0; 64],
        };
        let m = Message::Entries {
            project: ProjectTag([0; 32]),
            entries: vec![e; MAX_ENTRIES_PER_BATCH + 1],
        };
        assert_eq!(
            Message::decode(&m.encode().unwrap()),
            Err(MessageError::TooLarge)
        );
        assert_eq!(
            Message::decode(&vec![0u8; MAX_MESSAGE_BYTES + 1]),
            Err(MessageError::TooLarge)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            let _ = Message::decode(&bytes);
        }

        #[test]
        fn mutated_messages_never_panic(which in 0usize..8, flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
            let mut bytes = samples()[which].encode().unwrap();
            for (i, b) in flips {
                let at = i.index(bytes.len());
                bytes[at] = b;
            }
            let _ = Message::decode(&bytes);
        }

        #[test]
        fn huge_declared_lengths_are_errors(prefix in prop::sample::select(vec![0x9bu8, 0x5b, 0x7b, 0xbb]), len in any::<u64>()) {
            // An array / byte string / text / map claiming up to 2^64 items.
            let mut bytes = vec![0xa1, 0x67];
            bytes.extend_from_slice(b"entries");
            bytes.push(prefix);
            bytes.extend_from_slice(&len.to_be_bytes());
            prop_assert!(Message::decode(&bytes).is_err());
        }
    }

    fn blob_samples() -> Vec<Message> {
        let tag = ProjectTag([9; 32]);
        let hash = BlobHash::from_bytes([5; 32]);
        vec![
            Message::BlobHave {
                project: tag,
                hashes: vec![hash, BlobHash::from_bytes([6; 32])],
                done: true,
            },
            Message::BlobRequest {
                project: tag,
                blobs: vec![BlobAt { hash, offset: 4096 }],
            },
            Message::BlobCancel {
                project: tag,
                hashes: vec![hash],
            },
            Message::BlobChunk {
                project: tag,
                hash,
                offset: 7,
                size: 10,
                data: Bytes::from_static(&[1, 2, 3]),
            },
            Message::BlobMissing {
                project: tag,
                hashes: vec![hash],
            },
            Message::MapChunk {
                share: super::super::map_share::MapShareId([3; 16]),
                offset: 11,
                size: 20,
                data: Bytes::from_static(&[9, 8, 7]),
            },
        ]
    }

    #[test]
    fn blob_messages_round_trip_compactly_and_within_limits() {
        for m in blob_samples() {
            let bytes = m.encode().unwrap();
            assert_eq!(Message::decode(&bytes).unwrap(), m);
        }
        let chunk = Message::BlobChunk {
            project: ProjectTag([0; 32]),
            hash: BlobHash::from_bytes([1; 32]),
            offset: 0,
            size: BLOB_CHUNK_BYTES as u64,
            data: vec![0xff; BLOB_CHUNK_BYTES].into(),
        };
        let len = chunk.encode().unwrap().len();
        assert_eq!(
            len,
            BLOB_CHUNK_BYTES + CHUNK_HEADER_BYTES,
            "bytes travel as they are"
        );
        for short in 0..CHUNK_HEADER_BYTES {
            let mut b = vec![7u8; short];
            if let Some(first) = b.first_mut() {
                *first = BLOB_CHUNK_MARKER;
            }
            assert!(Message::decode(&b).is_err(), "{short} bytes");
        }
        let over = Message::BlobChunk {
            project: ProjectTag([0; 32]),
            hash: BlobHash::from_bytes([1; 32]),
            offset: 0,
            size: 0,
            data: vec![0; MAX_BLOB_CHUNK_BYTES + 1].into(),
        };
        assert_eq!(over.encode(), Err(MessageError::TooLarge));
        let mut wire = vec![BLOB_CHUNK_MARKER; CHUNK_HEADER_BYTES];
        wire.extend(vec![0; MAX_BLOB_CHUNK_BYTES + 1]);
        assert_eq!(Message::decode(&wire), Err(MessageError::TooLarge));
        let many = Message::BlobHave {
            project: ProjectTag([0; 32]),
            hashes: vec![BlobHash::from_bytes([1; 32]); MAX_BLOBS_PER_MESSAGE + 1],
            done: true,
        };
        assert_eq!(
            Message::decode(&many.encode().unwrap()),
            Err(MessageError::TooLarge)
        );
    }

    #[test]
    fn map_chunks_short_or_over_the_limit_are_refused() {
        for short in 0..MAP_CHUNK_HEADER_BYTES {
            let mut b = vec![7u8; short];
            if let Some(first) = b.first_mut() {
                *first = MAP_CHUNK_MARKER;
            }
            assert!(Message::decode(&b).is_err(), "{short} bytes");
        }
        let mut wire = vec![MAP_CHUNK_MARKER; MAP_CHUNK_HEADER_BYTES];
        wire.extend(vec![0; MAX_BLOB_CHUNK_BYTES + 1]);
        assert_eq!(Message::decode(&wire), Err(MessageError::TooLarge));
    }

    #[test]
    fn a_chunk_is_sent_and_received_without_copying_its_bytes() {
        let data = Bytes::from(vec![0xab; 4096]);
        let chunk = Message::BlobChunk {
            project: ProjectTag([3; 32]),
            hash: BlobHash::from_bytes([4; 32]),
            offset: 8192,
            size: 1 << 20,
            data: data.clone(),
        };
        let wire = chunk.to_wire().unwrap();
        let [head, body] = wire.parts();
        assert_eq!(head.len(), CHUNK_HEADER_BYTES);
        assert_eq!(
            body.as_ptr(),
            data.as_ptr(),
            "the data goes out from where it was read"
        );
        let received = wire.to_vec();
        let at = received.as_ptr();
        let Message::BlobChunk { data: got, .. } = Message::decode_owned(received).unwrap() else {
            panic!("not a chunk");
        };
        assert_eq!(got, data);
        assert_eq!(
            got.as_ptr(),
            at.wrapping_add(CHUNK_HEADER_BYTES),
            "the data stays in the receive buffer"
        );
        for m in samples().into_iter().chain(blob_samples()) {
            let wire = m.to_wire().unwrap();
            assert_eq!(wire.to_vec(), m.encode().unwrap());
            assert_eq!(Message::decode_owned(wire.to_vec()).unwrap(), m);
        }
    }

    proptest! {
        #[test]
        fn mutated_blob_messages_never_panic(which in 0usize..6, flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
            let mut bytes = blob_samples()[which].encode().unwrap();
            for (i, b) in flips {
                let at = i.index(bytes.len());
                bytes[at] = b;
            }
            let _ = Message::decode(&bytes);
        }
    }
}
