//! Signed, hash-chained, encrypted append-only feeds: one per author and namespace in a
//! project, the only source of truth. Owns the entry format, its signature and chain rules,
//! local appends and verify-and-append of entries from others, range reads and have-vectors.
//! Knows nothing of documents: payloads are opaque bytes here.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use thiserror::Error;

use crate::crypto::{self, DeviceKeys, EpochId, EpochSecret, NamespaceKey, ProjectKey};
use crate::db::StoreError;
use crate::ids::{DeviceId, EntryHash, Namespace, ProjectId, Timestamp, VersionId};

/// Domain tag that starts every signed entry message.
const ENTRY_DOMAIN: &[u8; 16] = b"mapeo/entry/v1\0\0";
/// Context for entry hashes (the chain links).
const ENTRY_HASH_CONTEXT: &str = "mapeo 2026-11 entry hash v1";
/// Entries of a feed are stored at rowids `feed_id * FEED_ID_STRIDE + seq`.
const FEED_ID_STRIDE: i64 = 1 << 40;
/// The longest a feed may grow (seq must fit below the stride).
pub const MAX_FEED_LENGTH: u64 = 1 << 40;
/// The largest sealed payload accepted in an entry.
pub const MAX_PAYLOAD_BYTES: usize = 2 * 1024 * 1024;
/// The most entries accepted in one verify-and-append call.
pub const MAX_BATCH_ENTRIES: usize = 10_000;
/// Starts a payload sealed under a key epoch (see [`crate::epochs`]): the marker, the count
/// of epoch ids, the ids (sorted), then the sealed bytes. A payload without it is of epoch 0
/// (sealed under the project key's namespace key), as every entry was before epochs.
const EPOCH_FRAME_MARKER: [u8; 8] = *b"mapeoEp1";
/// The most epoch ids one entry may name (the heads of a merge epoch).
pub const MAX_ENTRY_EPOCHS: usize = 64;
/// Length of the signed message of an entry.
const SIGNED_LEN: usize = 16 + 32 + 32 + 1 + 8 + 32 + 32;

/// An entry refused, or a feed operation that failed.
#[derive(Debug, Error)]
pub enum FeedError {
    /// The signature does not verify for the claimed author and position.
    #[error("entry signature is invalid")]
    BadSignature,
    /// The entry's previous hash does not match the entry before it.
    #[error("entry does not continue its feed's hash chain")]
    BrokenChain,
    /// The entry would leave a hole in its feed.
    #[error("entry {found} would leave a gap: the feed has {expected} entries")]
    Gap {
        /// The feed's current length: the next acceptable seq.
        expected: u64,
        /// The entry's seq.
        found: u64,
    },
    /// Entries in one batch are not in order within their feed.
    #[error("entries of one feed are not consecutive in the batch")]
    NotConsecutive,
    /// The payload does not decrypt with this project's key for its namespace and position.
    #[error("entry payload does not decrypt for this project")]
    Undecryptable,
    /// The author signed two different entries at one position: a cloned identity.
    #[error(
        "the author signed two different entries at one position; the second was recorded as evidence and refused"
    )]
    ForkedFeed {
        /// The author whose feed forked.
        author: DeviceId,
        /// The namespace.
        namespace: Namespace,
        /// The position.
        seq: u64,
    },
    /// The author id is not a valid public key.
    #[error("entry author is not a valid device id")]
    BadAuthor,
    /// An entry or batch over a named limit.
    #[error("entry or batch over the size limit")]
    TooLarge,
    /// The payload is sealed under a key epoch whose secret this device does not hold (yet).
    #[error("entry payload is sealed under a key epoch this device does not hold")]
    EpochNotHeld,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for FeedError {
    fn from(e: rusqlite::Error) -> Self {
        FeedError::Store(StoreError::Sqlite(e))
    }
}

/// One signed entry of a feed.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The device that wrote and signed it.
    pub author: DeviceId,
    /// The feed's namespace.
    pub namespace: Namespace,
    /// Position in the feed, from 0.
    pub seq: u64,
    /// Hash of the entry before it ([`EntryHash::GENESIS`] for the first).
    pub prev_hash: EntryHash,
    /// Sealed payload: nonce, ciphertext, tag.
    pub payload: Vec<u8>,
    /// ed25519 signature over the signed message.
    pub signature: [u8; 64],
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Entry({}/{}/{}, {} bytes)",
            self.author.short(),
            self.namespace,
            self.seq,
            self.payload.len()
        )
    }
}

impl Entry {
    /// The version id of the document version this entry holds.
    pub fn version_id(&self) -> VersionId {
        VersionId {
            author: self.author,
            namespace: self.namespace,
            seq: self.seq,
        }
    }

    /// The message the author signs: domain tag, project, author, namespace, seq, previous
    /// hash and payload hash. Binding all of them stops replay into another project, feed or
    /// position.
    fn signed_message(&self, project: &ProjectId) -> [u8; SIGNED_LEN] {
        let mut m = [0u8; SIGNED_LEN];
        let mut at = 0;
        for part in [
            &ENTRY_DOMAIN[..],
            project.as_bytes(),
            self.author.as_bytes(),
            &[self.namespace.code()],
            &self.seq.to_be_bytes(),
            self.prev_hash.as_bytes(),
            blake3::hash(&self.payload).as_bytes(),
        ] {
            m[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        m
    }

    /// This entry's hash, which the next entry's `prev_hash` must equal. Covers the signature
    /// too, so one verified signature at the end of a run authenticates the whole run.
    pub fn hash(&self, project: &ProjectId) -> EntryHash {
        let mut h = blake3::Hasher::new_derive_key(ENTRY_HASH_CONTEXT);
        h.update(&self.signed_message(project));
        h.update(&self.signature);
        EntryHash::from_bytes(*h.finalize().as_bytes())
    }

    fn verify_signature(&self, project: &ProjectId) -> bool {
        crypto::verify_signature(&self.author, &self.signed_message(project), &self.signature)
    }
}

/// Associated data binding a payload to its project and position.
fn payload_aad(project: &ProjectId, author: &DeviceId, ns: Namespace, seq: u64) -> [u8; 73] {
    let mut aad = [0u8; 73];
    aad[..32].copy_from_slice(project.as_bytes());
    aad[32..64].copy_from_slice(author.as_bytes());
    aad[64] = ns.code();
    aad[65..].copy_from_slice(&seq.to_be_bytes());
    aad
}

/// The key epochs this device holds and the one it writes in (see [`crate::epochs`]).
#[derive(Default, Clone)]
pub struct EpochRing {
    /// Every epoch whose secret this device holds.
    pub held: BTreeMap<EpochId, EpochSecret>,
    /// The epochs whose merge new entries are sealed under (sorted; empty: epoch 0).
    pub writing: Vec<EpochId>,
}

impl std::fmt::Debug for EpochRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochRing")
            .field("held", &self.held.keys().collect::<Vec<_>>())
            .field("writing", &self.writing)
            .finish()
    }
}

impl EpochRing {
    /// The secret of the merge of `ids` (sorted, no repeats), if every one is held.
    fn secret_of(&self, ids: &[EpochId]) -> Option<EpochSecret> {
        let parts: Option<Vec<(EpochId, &EpochSecret)>> = ids
            .iter()
            .map(|id| self.held.get(id).map(|s| (*id, s)))
            .collect();
        Some(EpochSecret::merged(&parts?))
    }
}

/// A project's identity and payload keys: what reading and writing its feeds needs.
pub struct FeedKeys {
    project_id: ProjectId,
    namespace_keys: [NamespaceKey; 4],
    sync_tag_key: zeroize::Zeroizing<[u8; 32]>,
    epochs: std::sync::RwLock<EpochRing>,
}

impl FeedKeys {
    /// Derives the project id and every namespace key from the project key.
    pub fn new(key: &ProjectKey) -> Self {
        FeedKeys {
            project_id: key.project_id(),
            namespace_keys: Namespace::ALL.map(|ns| key.namespace_key(ns)),
            sync_tag_key: zeroize::Zeroizing::new(key.sync_tag_key()),
            epochs: std::sync::RwLock::new(EpochRing::default()),
        }
    }

    /// The project's tag on a connection with this handshake hash: only holders of the
    /// project key can compute it, and it means nothing on another connection.
    pub fn sync_tag(&self, handshake_hash: &[u8; 32]) -> [u8; 32] {
        *blake3::keyed_hash(&self.sync_tag_key, handshake_hash).as_bytes()
    }

    /// The project these keys belong to.
    pub fn project_id(&self) -> &ProjectId {
        &self.project_id
    }

    fn ns_key(&self, ns: Namespace) -> &NamespaceKey {
        &self.namespace_keys[usize::from(ns.code())]
    }

    fn ring(&self) -> std::sync::RwLockReadGuard<'_, EpochRing> {
        // The ring is replaced whole, never left half-written: a poisoned lock holds a whole one.
        self.epochs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces the epochs held and the one written in; returns whether a secret was added
    /// (entries stored without their key may now be readable).
    pub fn set_epochs(&self, ring: EpochRing) -> bool {
        let mut current = self
            .epochs
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let grew = ring.held.keys().any(|id| !current.held.contains_key(id));
        *current = ring;
        grew
    }

    /// A copy of the epochs held and the one written in.
    pub fn epochs(&self) -> EpochRing {
        self.ring().clone()
    }

    /// Seals a new payload of ours: `auth` and, before any epoch, everything under the
    /// project key (epoch 0); otherwise under the epochs we write in, named in the frame.
    fn seal_payload(&self, ns: Namespace, aad: &[u8; 73], plaintext: &[u8]) -> Vec<u8> {
        let ring = self.ring();
        let epoch_key = (ns != Namespace::Auth && !ring.writing.is_empty())
            .then(|| ring.secret_of(&ring.writing))
            .flatten()
            .and_then(|s| s.namespace_key(ns));
        let Some(key) = epoch_key else {
            return self.ns_key(ns).seal(aad, plaintext);
        };
        let header = epoch_header(&ring.writing);
        let mut framed_aad = aad.to_vec();
        framed_aad.extend_from_slice(&header);
        let mut out = header;
        out.extend_from_slice(&key.seal(&framed_aad, plaintext));
        out
    }

    /// Decrypts an entry's payload. [`FeedError::EpochNotHeld`] if it names a key epoch
    /// whose secret this device lacks.
    pub fn open_payload(&self, entry: &Entry) -> Result<Vec<u8>, FeedError> {
        let aad = payload_aad(&self.project_id, &entry.author, entry.namespace, entry.seq);
        let epoch0 = || {
            self.ns_key(entry.namespace)
                .open(&aad, &entry.payload)
                .map_err(|_| FeedError::Undecryptable)
        };
        // An epoch-0 payload starts with a random nonce, which may (2^-64) look like a frame:
        // a frame that does not open is tried as epoch 0 before it is judged.
        let Some((ids, header_len)) = parse_epoch_header(&entry.payload) else {
            return epoch0();
        };
        if entry.namespace == Namespace::Auth {
            return epoch0();
        }
        let secret = self.ring().secret_of(&ids);
        let Some(key) = secret.and_then(|s| s.namespace_key(entry.namespace)) else {
            return epoch0().map_err(|_| FeedError::EpochNotHeld);
        };
        let (header, sealed) = entry.payload.split_at(header_len);
        let mut framed_aad = aad.to_vec();
        framed_aad.extend_from_slice(header);
        key.open(&framed_aad, sealed)
            .or_else(|_| epoch0().map_err(|_| crypto::CryptoError::Decrypt))
            .map_err(|_| FeedError::Undecryptable)
    }
}

/// The frame that names the epochs a payload is sealed under.
fn epoch_header(ids: &[EpochId]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + 32 * ids.len());
    out.extend_from_slice(&EPOCH_FRAME_MARKER);
    out.push(u8::try_from(ids.len()).unwrap_or(u8::MAX));
    for id in ids {
        out.extend_from_slice(&id.0);
    }
    out
}

/// The epoch ids a payload names and the frame's length, if it has a well-formed frame
/// (marker, 1..=[`MAX_ENTRY_EPOCHS`] ids in strictly increasing order).
pub fn parse_epoch_header(payload: &[u8]) -> Option<(Vec<EpochId>, usize)> {
    let rest = payload.strip_prefix(&EPOCH_FRAME_MARKER[..])?;
    let (&n, rest) = rest.split_first()?;
    let n = usize::from(n);
    if n == 0 || n > MAX_ENTRY_EPOCHS {
        return None;
    }
    let ids: Vec<EpochId> = rest
        .get(..32 * n)?
        .chunks_exact(32)
        .map(|c| c.try_into().map(EpochId))
        .collect::<Result<_, _>>()
        .ok()?;
    if ids.windows(2).any(|w| w[0] >= w[1]) {
        return None;
    }
    Some((ids, EPOCH_FRAME_MARKER.len() + 1 + 32 * n))
}

/// A feed's storage row id and its state.
struct FeedRow {
    feed_id: i64,
    length: u64,
    head: Option<EntryHash>,
}

// A feed's length and head are read from its last entry rather than kept in `feeds`: one
// page fewer written by every append.
const SELECT_FEED: &str = "SELECT feed_id FROM feeds WHERE author = ?1 AND namespace = ?2";
const SELECT_LAST: &str =
    "SELECT max(entry_id) FROM entries WHERE entry_id >= ?1 AND entry_id < ?2";
const INSERT_FEED: &str = "INSERT INTO feeds (author, namespace) VALUES (?1, ?2)";
const INSERT_ENTRY: &str =
    "INSERT INTO entries (entry_id, prev_hash, signature, payload) VALUES (?1, ?2, ?3, ?4)";
const SELECT_ENTRY: &str = "SELECT prev_hash, signature, payload FROM entries WHERE entry_id = ?1";
const SELECT_RANGE: &str = "SELECT entry_id, prev_hash, signature, payload FROM entries \
     WHERE entry_id >= ?1 AND entry_id < ?2 ORDER BY entry_id";
const INSERT_CONFLICT: &str = "INSERT OR IGNORE INTO conflicting_entries \
     (author, namespace, seq, prev_hash, signature, payload, detected_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const SELECT_HAVE: &str = "SELECT f.author, f.namespace, \
     (SELECT max(e.entry_id) FROM entries e WHERE e.entry_id >= f.feed_id * 1099511627776 \
         AND e.entry_id < (f.feed_id + 1) * 1099511627776) \
     FROM feeds f";
const SELECT_FEED_BY_ID: &str = "SELECT author, namespace FROM feeds WHERE feed_id = ?1";

fn bytes32(v: Vec<u8>) -> Result<[u8; 32], StoreError> {
    v.try_into()
        .map_err(|_| StoreError::Corrupt("hash of wrong length"))
}

fn read_feed(
    conn: &Connection,
    author: &DeviceId,
    ns: Namespace,
) -> Result<Option<FeedRow>, StoreError> {
    let feed_id: Option<i64> = conn
        .prepare_cached(SELECT_FEED)?
        .query_row(params![author.as_bytes(), ns.code()], |r| r.get(0))
        .optional()?;
    let Some(feed_id) = feed_id else {
        return Ok(None);
    };
    Ok(Some(FeedRow {
        feed_id,
        length: feed_length(conn, feed_id)?,
        head: None,
    }))
}

fn feed_length(conn: &Connection, feed_id: i64) -> Result<u64, StoreError> {
    let last: Option<i64> = conn.prepare_cached(SELECT_LAST)?.query_row(
        [feed_id * FEED_ID_STRIDE, (feed_id + 1) * FEED_ID_STRIDE],
        |r| r.get(0),
    )?;
    match last {
        None => Ok(0),
        Some(id) => Ok(split_entry_id(id)?.1 + 1),
    }
}

/// How many entries one feed holds (0 if none): the position of its next entry.
pub fn length(conn: &Connection, author: &DeviceId, ns: Namespace) -> Result<u64, StoreError> {
    Ok(read_feed(conn, author, ns)?.map_or(0, |f| f.length))
}

/// The feed with its head hash (the hash of its last entry), for appending.
fn read_feed_for_append(
    conn: &Connection,
    project: &ProjectId,
    author: &DeviceId,
    ns: Namespace,
) -> Result<Option<FeedRow>, StoreError> {
    let Some(mut feed) = read_feed(conn, author, ns)? else {
        return Ok(None);
    };
    if feed.length > 0 {
        let last = read_entry_at(conn, feed.feed_id, *author, ns, feed.length - 1)?;
        feed.head = Some(last.hash(project));
    }
    Ok(Some(feed))
}

/// The feed id for an author and namespace, creating an empty feed row if needed.
pub fn feed_id(tx: &Transaction<'_>, author: &DeviceId, ns: Namespace) -> Result<i64, StoreError> {
    if let Some(f) = read_feed(tx, author, ns)? {
        return Ok(f.feed_id);
    }
    tx.prepare_cached(INSERT_FEED)?
        .execute(params![author.as_bytes(), ns.code()])?;
    Ok(tx.last_insert_rowid())
}

/// The storage id of a version (entry), creating the feed row if needed.
pub fn entry_id_for(tx: &Transaction<'_>, v: &VersionId) -> Result<i64, StoreError> {
    let feed = feed_id(tx, &v.author, v.namespace)?;
    entry_id(feed, v.seq)
}

fn entry_id(feed_id: i64, seq: u64) -> Result<i64, StoreError> {
    let seq = i64::try_from(seq).map_err(|_| StoreError::Corrupt("seq out of range"))?;
    if seq >= FEED_ID_STRIDE {
        return Err(StoreError::Corrupt("seq out of range"));
    }
    Ok(feed_id * FEED_ID_STRIDE + seq)
}

/// The storage id of a version if its feed is known, without creating anything.
pub fn find_entry_id(conn: &Connection, v: &VersionId) -> Result<Option<i64>, StoreError> {
    match read_feed(conn, &v.author, v.namespace)? {
        Some(f) if v.seq < f.length => Ok(Some(entry_id(f.feed_id, v.seq)?)),
        _ => Ok(None),
    }
}

/// Splits an entry id into its feed id and seq.
pub fn split_entry_id(entry_id: i64) -> Result<(i64, u64), StoreError> {
    let seq = u64::try_from(entry_id % FEED_ID_STRIDE).map_err(|_| StoreError::Corrupt("seq"))?;
    Ok((entry_id / FEED_ID_STRIDE, seq))
}

/// Every feed's id with its author and namespace (a project has few feeds).
pub fn feed_names(
    conn: &Connection,
) -> Result<std::collections::HashMap<i64, (DeviceId, Namespace)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT feed_id, author, namespace FROM feeds")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, u8>(2)?,
        ))
    })?;
    let mut out = std::collections::HashMap::new();
    for row in rows {
        let (id, author, ns) = row?;
        let ns = Namespace::from_code(ns).ok_or(StoreError::Corrupt("unknown namespace"))?;
        out.insert(id, (DeviceId::from_stored(bytes32(author)?), ns));
    }
    Ok(out)
}

/// The version id stored at an entry id.
pub fn version_of(conn: &Connection, entry_id: i64) -> Result<VersionId, StoreError> {
    let (feed_id, seq) = split_entry_id(entry_id)?;
    let (author, ns): (Vec<u8>, u8) = conn
        .prepare_cached(SELECT_FEED_BY_ID)?
        .query_row([feed_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let author = DeviceId::from_stored(bytes32(author)?);
    let namespace = Namespace::from_code(ns).ok_or(StoreError::Corrupt("unknown namespace"))?;
    Ok(VersionId {
        author,
        namespace,
        seq,
    })
}

fn store_entry(tx: &Transaction<'_>, feed: &FeedRow, entry: &Entry) -> Result<i64, StoreError> {
    let id = entry_id(feed.feed_id, entry.seq)?;
    tx.prepare_cached(INSERT_ENTRY)?.execute(params![
        id,
        entry.prev_hash.as_bytes(),
        &entry.signature[..],
        &entry.payload
    ])?;
    Ok(id)
}

/// Signs, encrypts and appends a payload to this device's own feed.
pub fn append_local(
    tx: &Transaction<'_>,
    keys: &FeedKeys,
    device: &DeviceKeys,
    ns: Namespace,
    plaintext: &[u8],
) -> Result<(Entry, i64), FeedError> {
    let author = device.device_id();
    let feed = match read_feed_for_append(tx, &keys.project_id, &author, ns)? {
        Some(feed) => feed,
        None => FeedRow {
            feed_id: feed_id(tx, &author, ns)?,
            length: 0,
            head: None,
        },
    };
    if feed.length >= MAX_FEED_LENGTH {
        return Err(FeedError::TooLarge);
    }
    let seq = feed.length;
    let aad = payload_aad(&keys.project_id, &author, ns, seq);
    let mut entry = Entry {
        author,
        namespace: ns,
        seq,
        prev_hash: feed.head.unwrap_or(EntryHash::GENESIS),
        payload: keys.seal_payload(ns, &aad, plaintext),
        signature: [0; 64],
    };
    if entry.payload.len() > MAX_PAYLOAD_BYTES {
        return Err(FeedError::TooLarge);
    }
    entry.signature = device.sign(&entry.signed_message(&keys.project_id));
    let rowid = store_entry(tx, &feed, &entry)?;
    Ok((entry, rowid))
}

/// An entry accepted by [`verify_and_append`] or [`Appender::push`], with its decrypted
/// payload.
pub struct Appended {
    /// The entry's storage id.
    pub entry_id: i64,
    /// Its version id.
    pub version: VersionId,
    /// The decrypted payload; `None` if it is sealed under a key epoch this device does not
    /// hold yet (the entry is kept, and read once the epoch's secret arrives).
    pub plaintext: Option<Vec<u8>>,
}

/// Verifies entries written by others and appends the new ones. Entries may mix feeds; within
/// a feed they must be consecutive. Entries already held (same hash) are skipped. The chain
/// is checked for every entry and the signature of the last entry of each feed's run (which
/// through the chain authenticates the run). Any failure refuses the whole batch: the caller
/// rolls back the transaction.
pub fn verify_and_append(
    tx: &Transaction<'_>,
    keys: &FeedKeys,
    entries: &[Entry],
) -> Result<Vec<Appended>, FeedError> {
    let mut appender = Appender::new(tx, keys, entries)?;
    let mut out = Vec::new();
    for e in entries {
        if let Some(a) = appender.push(e)? {
            out.push(a);
        }
    }
    appender.finish()?;
    Ok(out)
}

/// [`verify_and_append`] one entry at a time, for a caller that works on each new entry as
/// it is stored. [`Appender::new`] checks
/// the batch as a whole; [`Appender::push`] takes its entries in order; [`Appender::finish`]
/// checks the signatures. Until `finish` returns `Ok`, nothing appended is authenticated: on
/// any error the caller rolls the transaction back.
pub struct Appender<'t, 'c, 'e> {
    tx: &'t Transaction<'c>,
    keys: &'t FeedKeys,
    /// Each feed of the batch: its row as the appends leave it, and its last new entry.
    feeds: BTreeMap<(DeviceId, Namespace), (FeedRow, Option<&'e Entry>)>,
}

impl<'t, 'c, 'e> Appender<'t, 'c, 'e> {
    /// Checks the batch's size, its authors and that each feed's entries in it are
    /// consecutive, and reads where each of its feeds stands.
    pub fn new(
        tx: &'t Transaction<'c>,
        keys: &'t FeedKeys,
        entries: &'e [Entry],
    ) -> Result<Self, FeedError> {
        if entries.len() > MAX_BATCH_ENTRIES {
            return Err(FeedError::TooLarge);
        }
        let mut next: BTreeMap<(DeviceId, Namespace), u64> = BTreeMap::new();
        for e in entries {
            if e.payload.len() > MAX_PAYLOAD_BYTES || e.seq >= MAX_FEED_LENGTH {
                return Err(FeedError::TooLarge);
            }
            if let Some(n) = next.insert((e.author, e.namespace), e.seq + 1)
                && n != e.seq
            {
                return Err(FeedError::NotConsecutive);
            }
        }
        let project = &keys.project_id;
        let mut feeds = BTreeMap::new();
        for &(author, ns) in next.keys() {
            author.verifying_key().map_err(|_| FeedError::BadAuthor)?;
            feed_id(tx, &author, ns)?;
            let feed = read_feed_for_append(tx, project, &author, ns)?
                .ok_or(StoreError::Corrupt("feed vanished"))?;
            feeds.insert((author, ns), (feed, None));
        }
        Ok(Appender { tx, keys, feeds })
    }

    /// Appends `e` (the batch's next entry) if it is new, with its payload opened: `None` if
    /// it is already held.
    pub fn push(&mut self, e: &'e Entry) -> Result<Option<Appended>, FeedError> {
        let (feed, last_new) = self
            .feeds
            .get_mut(&(e.author, e.namespace))
            .ok_or(StoreError::Corrupt("an entry outside its batch"))?;
        if e.seq < feed.length {
            check_duplicate(self.tx, self.keys, feed, e)?;
            return Ok(None);
        }
        if e.seq > feed.length {
            return Err(FeedError::Gap {
                expected: feed.length,
                found: e.seq,
            });
        }
        if e.prev_hash != feed.head.unwrap_or(EntryHash::GENESIS) {
            return Err(FeedError::BrokenChain);
        }
        let plaintext = match self.keys.open_payload(e) {
            Ok(p) => Some(p),
            Err(FeedError::EpochNotHeld) => None,
            Err(other) => return Err(other),
        };
        let entry_id = store_entry(self.tx, feed, e)?;
        feed.length = e.seq + 1;
        feed.head = Some(e.hash(&self.keys.project_id));
        *last_new = Some(e);
        Ok(Some(Appended {
            entry_id,
            version: e.version_id(),
            plaintext,
        }))
    }

    /// Checks the signature of each feed's last new entry, which through the chain
    /// authenticates every entry appended before it.
    pub fn finish(self) -> Result<(), FeedError> {
        let project = &self.keys.project_id;
        for (_, last) in self.feeds.values() {
            if let Some(last) = last
                && !last.verify_signature(project)
            {
                return Err(FeedError::BadSignature);
            }
        }
        Ok(())
    }
}

/// An entry at a position we already hold: identical is a no-op; a different, validly signed
/// one is a forked feed: refused (the caller records it with [`record_conflict`] outside the
/// refused batch's transaction).
fn check_duplicate(
    tx: &Transaction<'_>,
    keys: &FeedKeys,
    feed: &FeedRow,
    e: &Entry,
) -> Result<(), FeedError> {
    let held = read_entry_at(tx, feed.feed_id, e.author, e.namespace, e.seq)?;
    if held.hash(&keys.project_id) == e.hash(&keys.project_id) {
        return Ok(());
    }
    if !e.verify_signature(&keys.project_id) {
        return Err(FeedError::BadSignature);
    }
    Err(FeedError::ForkedFeed {
        author: e.author,
        namespace: e.namespace,
        seq: e.seq,
    })
}

/// Records evidence of a forked feed. Call outside the refused batch's transaction.
pub fn record_conflict(tx: &Transaction<'_>, e: &Entry, now: Timestamp) -> Result<(), StoreError> {
    tx.prepare_cached(INSERT_CONFLICT)?.execute(params![
        e.author.as_bytes(),
        e.namespace.code(),
        i64::try_from(e.seq).map_err(|_| StoreError::Corrupt("seq"))?,
        e.prev_hash.as_bytes(),
        &e.signature[..],
        &e.payload,
        now.0
    ])?;
    Ok(())
}

/// How many forked-feed conflicts have been recorded.
pub fn conflict_count(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row("SELECT count(*) FROM conflicting_entries", [], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn read_entry_at(
    conn: &Connection,
    feed_id: i64,
    author: DeviceId,
    namespace: Namespace,
    seq: u64,
) -> Result<Entry, StoreError> {
    let (prev, sig, payload): (Vec<u8>, Vec<u8>, Vec<u8>) = conn
        .prepare_cached(SELECT_ENTRY)?
        .query_row([entry_id(feed_id, seq)?], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok(Entry {
        author,
        namespace,
        seq,
        prev_hash: EntryHash::from_bytes(bytes32(prev)?),
        payload,
        signature: sig
            .try_into()
            .map_err(|_| StoreError::Corrupt("signature length"))?,
    })
}

/// Reads the entry stored at an entry id.
pub fn read_entry(conn: &Connection, entry_id: i64) -> Result<Entry, StoreError> {
    let v = version_of(conn, entry_id)?;
    read_entry_at(
        conn,
        entry_id / FEED_ID_STRIDE,
        v.author,
        v.namespace,
        v.seq,
    )
}

/// Reads one of our stored entries and decrypts its payload. A stored entry that no longer
/// decrypts means the database was altered.
pub fn read_plaintext(
    conn: &Connection,
    keys: &FeedKeys,
    entry_id: i64,
) -> Result<(Entry, Vec<u8>), StoreError> {
    let entry = read_entry(conn, entry_id)?;
    let plaintext = keys
        .open_payload(&entry)
        .map_err(|_| StoreError::Corrupt("stored entry does not decrypt"))?;
    Ok((entry, plaintext))
}

/// Like [`read_plaintext`], but `None` for an entry sealed under a key epoch this device
/// does not hold (yet).
pub fn read_held_plaintext(
    conn: &Connection,
    keys: &FeedKeys,
    entry_id: i64,
) -> Result<Option<(Entry, Vec<u8>)>, StoreError> {
    let entry = read_entry(conn, entry_id)?;
    match keys.open_payload(&entry) {
        Ok(p) => Ok(Some((entry, p))),
        Err(FeedError::EpochNotHeld) => Ok(None),
        Err(_) => Err(StoreError::Corrupt("stored entry does not decrypt")),
    }
}

/// Reads entries `start..end` of one feed (fewer if the feed is shorter).
pub fn read_range(
    conn: &Connection,
    author: &DeviceId,
    ns: Namespace,
    start: u64,
    end: u64,
) -> Result<Vec<Entry>, StoreError> {
    let Some(feed) = read_feed(conn, author, ns)? else {
        return Ok(Vec::new());
    };
    let end = end.min(feed.length);
    if start >= end {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached(SELECT_RANGE)?;
    let rows = stmt.query_map(
        [entry_id(feed.feed_id, start)?, entry_id(feed.feed_id, end)?],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        },
    )?;
    let mut out = Vec::with_capacity(usize::try_from(end - start).unwrap_or(0));
    for row in rows {
        let (id, prev, sig, payload) = row?;
        out.push(Entry {
            author: *author,
            namespace: ns,
            seq: u64::try_from(id % FEED_ID_STRIDE).map_err(|_| StoreError::Corrupt("seq"))?,
            prev_hash: EntryHash::from_bytes(bytes32(prev)?),
            payload,
            signature: sig
                .try_into()
                .map_err(|_| StoreError::Corrupt("signature length"))?,
        });
    }
    Ok(out)
}

/// Every non-empty feed and its length.
pub fn have_vector(conn: &Connection) -> Result<BTreeMap<(DeviceId, Namespace), u64>, StoreError> {
    let mut stmt = conn.prepare_cached(SELECT_HAVE)?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, u8>(1)?,
            r.get::<_, Option<i64>>(2)?,
        ))
    })?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (author, ns, last) = row?;
        let Some(last) = last else { continue };
        let len = split_entry_id(last)?.1 + 1;
        let author = DeviceId::from_stored(bytes32(author)?);
        let ns = Namespace::from_code(ns).ok_or(StoreError::Corrupt("unknown namespace"))?;
        out.insert((author, ns), len);
    }
    Ok(out)
}

/// Every stored entry id, in storage order (for reindexing).
pub fn all_entry_ids(conn: &Connection) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare("SELECT entry_id FROM entries ORDER BY entry_id")?;
    let ids = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Deletes every feed not written by `keep` (used when leaving a project).
pub fn purge_other_authors(tx: &Transaction<'_>, keep: &DeviceId) -> Result<(), StoreError> {
    // `auth` feeds stay: they hold the role records under which our own writes were made
    // (without them our own data would stop counting, and its attachments be collected).
    tx.execute(
        "DELETE FROM entries WHERE entry_id / 1099511627776 IN \
         (SELECT feed_id FROM feeds WHERE author != ?1 AND namespace != ?2)",
        params![keep.as_bytes(), Namespace::Auth.code()],
    )?;
    tx.execute(
        "DELETE FROM feeds WHERE author != ?1 AND namespace != ?2",
        params![keep.as_bytes(), Namespace::Auth.code()],
    )?;
    tx.execute("DELETE FROM conflicting_entries", [])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{JoinDetails, RootKey};

    fn sample() -> (Entry, ProjectId) {
        let author = RootKey::from_bytes([1; 16]).device_keys().device_id();
        let project = JoinDetails::new_project(author).project_key().project_id();
        let entry = Entry {
            author,
            namespace: Namespace::Data,
            seq: 7,
            prev_hash: EntryHash::from_bytes([3; 32]),
            payload: vec![1, 2, 3],
            signature: [5; 64],
        };
        (entry, project)
    }

    #[test]
    fn the_signed_message_binds_every_field() {
        let (e, project) = sample();
        let base = e.signed_message(&project);
        let other_project = ProjectId::from_bytes([9; 32]);
        assert_ne!(base, e.signed_message(&other_project));
        let variants: Vec<Entry> = vec![
            Entry {
                author: RootKey::from_bytes([2; 16]).device_keys().device_id(),
                ..e.clone()
            },
            Entry {
                namespace: Namespace::Config,
                ..e.clone()
            },
            Entry {
                seq: 8,
                ..e.clone()
            },
            Entry {
                prev_hash: EntryHash::from_bytes([4; 32]),
                ..e.clone()
            },
            Entry {
                payload: vec![1, 2, 4],
                ..e.clone()
            },
        ];
        for v in variants {
            assert_ne!(base, v.signed_message(&project), "{v:?}");
        }
        // The signature is not signed, but it is hashed: the chain covers it.
        let resigned = Entry {
            signature: [6; 64],
            ..e.clone()
        };
        assert_eq!(base, resigned.signed_message(&project));
        assert_ne!(e.hash(&project), resigned.hash(&project));
    }

    #[test]
    fn entry_ids_split_back_into_feed_and_seq() {
        for (feed, seq) in [(1i64, 0u64), (7, 41), (123_456, MAX_FEED_LENGTH - 1)] {
            let id = entry_id(feed, seq).unwrap();
            assert_eq!(split_entry_id(id).unwrap(), (feed, seq));
        }
        assert!(entry_id(1, MAX_FEED_LENGTH).is_err());
    }

    #[test]
    fn payload_aad_differs_by_position() {
        let (e, project) = sample();
        let a = payload_aad(&project, &e.author, e.namespace, e.seq);
        assert_ne!(a, payload_aad(&project, &e.author, e.namespace, e.seq + 1));
        assert_ne!(a, payload_aad(&project, &e.author, Namespace::Auth, e.seq));
    }
}
