//! Public identifiers: device, project, document and version ids, blob and entry hashes, and
//! timestamps. Owns their text forms (hex `Display`/`FromStr`, short forms for logs); holds no
//! secrets and does no I/O.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// A text id that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    /// The text is not valid hex of the expected length.
    #[error("invalid {kind}: expected {len} hex characters")]
    BadHex {
        /// Which kind of id was expected.
        kind: &'static str,
        /// The expected number of hex characters.
        len: usize,
    },
    /// The version id is not of the form `author/namespace/seq`.
    #[error("invalid version id")]
    BadVersionId,
    /// The document id is empty, too long or has characters outside `[0-9A-Za-z_-]`.
    #[error("invalid document id")]
    BadDocId,
    /// The bytes are not a valid ed25519 public key.
    #[error("invalid device id: not a public key")]
    NotAPublicKey,
}

fn parse_hex<const N: usize>(s: &str, kind: &'static str) -> Result<[u8; N], IdError> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| IdError::BadHex { kind, len: N * 2 })?;
    Ok(out)
}

macro_rules! hex_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub(crate) [u8; 32]);

        impl $name {
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// The first 8 hex characters, for logs and compact UI.
            pub fn short(&self) -> String {
                hex::encode(&self.0[..4])
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($kind, "({})"), self.short())
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                parse_hex::<32>(s, $kind).map($name::from_raw_checked)?
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&self.to_string())
                } else {
                    s.serialize_bytes(&self.0)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                use serde::de::Error as _;
                if d.is_human_readable() {
                    let s = String::deserialize(d)?;
                    s.parse().map_err(D::Error::custom)
                } else {
                    let bytes = serde_bytes_32(d)?;
                    $name::from_raw_checked(bytes).map_err(D::Error::custom)
                }
            }
        }
    };
}

fn serde_bytes_32<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = [u8; 32];
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("32 bytes")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<[u8; 32], E> {
            v.try_into().map_err(|_| E::invalid_length(v.len(), &self))
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<[u8; 32], E> {
            self.visit_bytes(&v)
        }
    }
    d.deserialize_bytes(V)
}

hex_id!(
    /// A device's public identity: its ed25519 public key.
    DeviceId,
    "DeviceId"
);
hex_id!(
    /// A project's public id: a keyed hash of the project key. Reveals nothing about the key.
    ProjectId,
    "ProjectId"
);
hex_id!(
    /// The blake3 hash of a feed entry (its signed content and signature).
    EntryHash,
    "EntryHash"
);
hex_id!(
    /// The blake3 hash of a blob's content.
    BlobHash,
    "BlobHash"
);

impl DeviceId {
    fn from_raw_checked(bytes: [u8; 32]) -> Result<Self, IdError> {
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| IdError::NotAPublicKey)?;
        Ok(DeviceId(bytes))
    }

    /// Parses raw bytes, checking they are a valid public key.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, IdError> {
        Self::from_raw_checked(bytes)
    }

    /// Wraps bytes read back from our own store, which were checked before they were stored.
    /// Skips the point decompression that makes [`DeviceId::from_bytes`] cost microseconds.
    pub(crate) fn from_stored(bytes: [u8; 32]) -> Self {
        DeviceId(bytes)
    }

    /// Deserializes the author of an entry from a peer without checking the point: a batch
    /// names one author hundreds of times, and the feed checks each run's author once
    /// before storing anything ([`crate::feed::verify_and_append`]).
    pub(crate) fn deserialize_unchecked<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            Self::deserialize(d)
        } else {
            serde_bytes_32(d).map(DeviceId)
        }
    }

    /// The verifying key of this device.
    pub(crate) fn verifying_key(&self) -> Result<ed25519_dalek::VerifyingKey, IdError> {
        ed25519_dalek::VerifyingKey::from_bytes(&self.0).map_err(|_| IdError::NotAPublicKey)
    }
}

macro_rules! plain_from_raw {
    ($($name:ident),*) => {$(
        impl $name {
            fn from_raw_checked(bytes: [u8; 32]) -> Result<Self, IdError> {
                Ok($name(bytes))
            }
            /// Wraps raw bytes.
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                $name(bytes)
            }
        }
    )*};
}
plain_from_raw!(ProjectId, EntryHash, BlobHash);

impl EntryHash {
    /// The `prev_hash` of the first entry of every feed.
    pub const GENESIS: EntryHash = EntryHash([0u8; 32]);
}

/// Maximum length of a document id in characters.
pub const MAX_DOC_ID_LEN: usize = 64;

/// A document's id, the same for all its versions. Generated ids are 32 lowercase hex
/// characters; ids from other systems may be any `[0-9A-Za-z_-]{1,64}`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DocId(String);

impl DocId {
    /// A new random document id.
    pub fn random() -> Self {
        DocId(hex::encode(crate::crypto::random_bytes::<16>()))
    }

    /// A document id that is the lowercase hex of some bytes (at most 32 of them).
    pub(crate) fn from_hex_bytes(bytes: &[u8]) -> Self {
        DocId(hex::encode(&bytes[..bytes.len().min(MAX_DOC_ID_LEN / 2)]))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DocId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let ok = !s.is_empty()
            && s.len() <= MAX_DOC_ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(DocId(s.to_owned()))
        } else {
            Err(IdError::BadDocId)
        }
    }
}

impl<'de> Deserialize<'de> for DocId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocId({})", self.0)
    }
}

/// The four kinds of feed a device writes per project.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Namespace {
    /// Roles and the device's own "left" record.
    Auth,
    /// Project settings, presets, fields, icons, translations, device info.
    Config,
    /// Observations and tracks.
    Data,
    /// Which blob variants exist for which attachment.
    BlobIndex,
}

impl Namespace {
    /// Every namespace, in replication order.
    pub const ALL: [Namespace; 4] = [
        Namespace::Auth,
        Namespace::Config,
        Namespace::Data,
        Namespace::BlobIndex,
    ];

    /// The stable numeric code used in signatures and storage.
    pub fn code(self) -> u8 {
        match self {
            Namespace::Auth => 0,
            Namespace::Config => 1,
            Namespace::Data => 2,
            Namespace::BlobIndex => 3,
        }
    }

    /// The namespace for a numeric code.
    pub fn from_code(code: u8) -> Option<Self> {
        Namespace::ALL.get(usize::from(code)).copied()
    }

    /// The name used in version ids and logs.
    pub fn name(self) -> &'static str {
        match self {
            Namespace::Auth => "auth",
            Namespace::Config => "config",
            Namespace::Data => "data",
            Namespace::BlobIndex => "blobIndex",
        }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Namespace {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Namespace::ALL
            .into_iter()
            .find(|n| n.name() == s)
            .ok_or(IdError::BadVersionId)
    }
}

/// A document version's id: its position in its author's feed. Text form
/// `<author hex>/<namespace>/<seq>`. Ordered by author, namespace, then seq (the tie-break
/// between concurrent versions with the same `updatedAt`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionId {
    /// The device that wrote this version.
    pub author: DeviceId,
    /// The feed it is in.
    pub namespace: Namespace,
    /// Its position in that feed, from 0.
    pub seq: u64,
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.author, self.namespace, self.seq)
    }
}

impl fmt::Debug for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VersionId({}/{}/{})",
            self.author.short(),
            self.namespace,
            self.seq
        )
    }
}

impl FromStr for VersionId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let mut parts = s.split('/');
        let (Some(a), Some(n), Some(q), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(IdError::BadVersionId);
        };
        let author = a.parse().map_err(|_| IdError::BadVersionId)?;
        let namespace = n.parse()?;
        if q.is_empty() || (q.len() > 1 && q.starts_with('0')) {
            return Err(IdError::BadVersionId);
        }
        let seq = q.parse().map_err(|_| IdError::BadVersionId)?;
        Ok(VersionId {
            author,
            namespace,
            seq,
        })
    }
}

impl Serialize for VersionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_string())
        } else {
            (&self.author, self.namespace.code(), self.seq).serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for VersionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        if d.is_human_readable() {
            String::deserialize(d)?.parse().map_err(D::Error::custom)
        } else {
            let (author, ns, seq) = <(DeviceId, u8, u64)>::deserialize(d)?;
            let namespace =
                Namespace::from_code(ns).ok_or_else(|| D::Error::custom("unknown namespace"))?;
            Ok(VersionId {
                author,
                namespace,
                seq,
            })
        }
    }
}

/// Milliseconds since the Unix epoch, UTC.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time from the system clock.
    pub fn now() -> Self {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(ms)
    }
}

/// Where the time of a write comes from. The system clock, or a fixed one in tests.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(Timestamp::now)
}

/// The document id of a device's info record in a project.
pub fn device_info_doc_id(device: &DeviceId) -> DocId {
    let h = blake3::derive_key("mapeo 2026-11 device info doc id v1", device.as_bytes());
    DocId::from_hex_bytes(&h[..16])
}

/// The document id of the role record about a device.
pub fn role_doc_id(device: &DeviceId) -> DocId {
    DocId::from_hex_bytes(device.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(n: u8) -> DeviceId {
        crate::crypto::RootKey::from_bytes([n; 16])
            .device_keys()
            .device_id()
    }

    #[test]
    fn ids_round_trip_through_text() {
        let d = device(1);
        assert_eq!(d.to_string().parse::<DeviceId>(), Ok(d));
        let v = VersionId {
            author: d,
            namespace: Namespace::BlobIndex,
            seq: 42,
        };
        assert_eq!(v.to_string().parse::<VersionId>(), Ok(v));
        assert!(v.to_string().ends_with("/blobIndex/42"));
        let doc = DocId::random();
        assert_eq!(doc.as_str().len(), 32);
        assert_eq!(doc.as_str().parse::<DocId>(), Ok(doc));
    }

    #[test]
    fn malformed_ids_are_errors() {
        let d = device(2);
        for bad in [
            "".to_string(),
            format!("{d}/data"),
            format!("{d}/data/01"),
            format!("{d}/nope/1"),
            format!("{d}/data/1/2"),
            format!("{d}/data/-1"),
            "zz/data/1".to_string(),
        ] {
            assert!(bad.parse::<VersionId>().is_err(), "{bad}");
        }
        assert!("".parse::<DocId>().is_err());
        assert!("a b".parse::<DocId>().is_err());
        assert!("x".repeat(65).parse::<DocId>().is_err());
        assert!("00".parse::<DeviceId>().is_err());
    }

    #[test]
    fn version_ids_survive_cbor() {
        let v = VersionId {
            author: device(3),
            namespace: Namespace::Config,
            seq: 7,
        };
        let mut buf = Vec::new();
        ciborium::into_writer(&v, &mut buf).unwrap();
        let back: VersionId = ciborium::from_reader(buf.as_slice()).unwrap();
        assert_eq!(back, v);
    }
}
