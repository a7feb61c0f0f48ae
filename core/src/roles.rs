//! Who may do what in a project, decided the same way on every device: the role records
//! (valid `role` documents in `auth` feeds, accepted or not), the role book computed from
//! them, and the verdict on each document version (does it count?). Pure rules over the
//! project database; writes nothing but its own table of role records.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Connection, Transaction, params};

use crate::db::StoreError;
use crate::ids::{DeviceId, DocId, Namespace, Timestamp, VersionId};
use crate::schema::{self, Doc, DocType, DocValue, FeedPositions};

/// A device's role in a project, as this device knows it: decides what flows (DESIGN §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerRole {
    /// Created the project (provable from the project key).
    Creator,
    /// Manages the project.
    Coordinator,
    /// Records data.
    Member,
    /// Removed: gets only `auth`, so it learns it was blocked; nothing is accepted from it.
    Blocked,
    /// Left the project: exchanges only `auth`.
    Left,
    /// Known but without a role yet: exchanges only `auth`.
    NoRole,
}

impl PeerRole {
    /// Whether a peer with this role may be sent entries of `ns`.
    pub fn may_read(self, ns: Namespace) -> bool {
        match self {
            PeerRole::Creator | PeerRole::Coordinator | PeerRole::Member => true,
            PeerRole::Blocked | PeerRole::Left | PeerRole::NoRole => ns == Namespace::Auth,
        }
    }

    /// Whether entries of `ns` are accepted from a peer with this role.
    pub fn may_send(self, ns: Namespace) -> bool {
        match self {
            PeerRole::Creator | PeerRole::Coordinator | PeerRole::Member => true,
            PeerRole::Left | PeerRole::NoRole => ns == Namespace::Auth,
            PeerRole::Blocked => false,
        }
    }
}

/// Passes of the role computation before it settles on what it has (a cycle of
/// coordinators removing each other could otherwise go on for ever).
pub const MAX_ROLE_PASSES: usize = 16;

const INSERT_RECORD: &str = "INSERT OR IGNORE INTO role_records \
    (entry_id, target, author, seq, updated_at, role_id, from_auth, from_config, from_data, \
     from_blob_index, links) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
const SELECT_RECORDS: &str = "SELECT entry_id, target, author, seq, updated_at, role_id, \
    from_auth, from_config, from_data, from_blob_index, links FROM role_records";
const CLEAR_RECORDS: &str = "DELETE FROM role_records";

/// The document id of a document created by the version `v`: bound to its author and feed
/// position, so who created a document is provable from its id, and no one can make a
/// document that claims to be someone else's.
pub fn created_doc_id(v: &VersionId) -> DocId {
    let mut input = Vec::with_capacity(41);
    input.extend_from_slice(v.author.as_bytes());
    input.push(v.namespace.code());
    input.extend_from_slice(&v.seq.to_be_bytes());
    let h = blake3::derive_key("mapeo 2026-11 created doc id v1", &input);
    DocId::from_hex_bytes(&h[..16])
}

/// The device a role document is about (its id is the device id in hex).
pub fn role_target(doc_id: &DocId) -> Option<DeviceId> {
    let bytes: [u8; 32] = hex::decode(doc_id.as_str()).ok()?.try_into().ok()?;
    DeviceId::from_bytes(bytes).ok()
}

/// One role record: a version of a role document, whether it counts or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRecord {
    /// Where it is stored.
    pub entry_id: i64,
    /// The device it gives a role to.
    pub target: DeviceId,
    /// The device that wrote it.
    pub author: DeviceId,
    /// Its position in the author's auth feed.
    pub seq: u64,
    /// When it was written (the author's clock).
    pub updated_at: Timestamp,
    /// The role given.
    pub role: PeerRole,
    /// From where in the target's feeds it applies.
    pub from: FeedPositions,
    /// The role versions (author, auth seq) it replaces.
    pub links: Vec<(DeviceId, u64)>,
}

/// Orders decisions: a record after every record it replaces (through its links), then
/// concurrent ones by time, author and position. Clocks of different devices disagree, so
/// time alone would let an old decision on a fast clock win over a newer one.
fn decision_order(records: &mut [RoleRecord]) {
    let index: BTreeMap<(DeviceId, u64), usize> = records
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.author, r.seq), i))
        .collect();
    let mut depth: Vec<Option<usize>> = vec![None; records.len()];
    fn depth_of(
        i: usize,
        records: &[RoleRecord],
        index: &BTreeMap<(DeviceId, u64), usize>,
        depth: &mut Vec<Option<usize>>,
        guard: usize,
    ) -> usize {
        if let Some(d) = depth[i] {
            return d;
        }
        // Links point to earlier feed positions, so there are no cycles among valid
        // records; the guard bounds the walk on forged ones.
        let d = if guard == 0 {
            0
        } else {
            records[i]
                .links
                .iter()
                .filter_map(|l| index.get(l))
                .filter(|&&j| j != i)
                .map(|&j| depth_of(j, records, index, depth, guard - 1) + 1)
                .max()
                .unwrap_or(0)
        };
        depth[i] = Some(d);
        d
    }
    for i in 0..records.len() {
        depth_of(i, records, &index, &mut depth, MAX_LINK_DEPTH);
    }
    let mut keyed: Vec<(usize, RoleRecord)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (depth[i].unwrap_or(0), r.clone()))
        .collect();
    keyed.sort_by_key(|(d, r)| (*d, r.updated_at.0, *r.author.as_bytes(), r.seq));
    for (slot, (_, r)) in records.iter_mut().zip(keyed) {
        *slot = r;
    }
}

/// How many links deep the decision order follows a chain of role records.
pub const MAX_LINK_DEPTH: usize = 10_000;

fn role_from_id(id: &str) -> Option<PeerRole> {
    Some(match id {
        schema::ROLE_COORDINATOR => PeerRole::Coordinator,
        schema::ROLE_MEMBER => PeerRole::Member,
        schema::ROLE_BLOCKED => PeerRole::Blocked,
        schema::ROLE_LEFT => PeerRole::Left,
        _ => return None,
    })
}

/// The role id written in a role document for a role (`None` for creator and no role,
/// which are never written).
pub fn role_id(role: PeerRole) -> Option<&'static str> {
    Some(match role {
        PeerRole::Coordinator => schema::ROLE_COORDINATOR,
        PeerRole::Member => schema::ROLE_MEMBER,
        PeerRole::Blocked => schema::ROLE_BLOCKED,
        PeerRole::Left => schema::ROLE_LEFT,
        PeerRole::Creator | PeerRole::NoRole => return None,
    })
}

/// Remembers a valid role document version (counting or not: that is decided from all of
/// them together). Other documents are ignored.
pub fn record(
    tx: &Transaction<'_>,
    entry_id: i64,
    v: VersionId,
    doc: &Doc,
) -> Result<bool, StoreError> {
    let DocValue::Role(r) = &doc.value else {
        return Ok(false);
    };
    if v.namespace != Namespace::Auth {
        return Ok(false);
    }
    let (Some(target), Some(_)) = (role_target(&doc.doc_id), role_from_id(&r.role_id)) else {
        return Ok(false);
    };
    let f = r.from_index;
    let mut links = Vec::with_capacity(doc.links.len() * 40);
    for l in doc.links.iter().filter(|l| l.namespace == Namespace::Auth) {
        links.extend_from_slice(l.author.as_bytes());
        links.extend_from_slice(&l.seq.to_be_bytes());
    }
    let n = tx.prepare_cached(INSERT_RECORD)?.execute(params![
        entry_id,
        target.as_bytes(),
        v.author.as_bytes(),
        v.seq as i64,
        doc.updated_at.0,
        r.role_id,
        f.auth as i64,
        f.config as i64,
        f.data as i64,
        f.blob_index as i64,
        links,
    ])?;
    Ok(n > 0)
}

/// Forgets every role record (before rebuilding them from the feeds).
pub fn clear(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.execute(CLEAR_RECORDS, [])?;
    Ok(())
}

fn device(bytes: Vec<u8>) -> Result<DeviceId, StoreError> {
    let b: [u8; 32] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("role record device id"))?;
    Ok(DeviceId::from_stored(b))
}

/// Loads every role record and decides which count.
pub fn load(conn: &Connection, creator: DeviceId) -> Result<RoleBook, StoreError> {
    let mut stmt = conn.prepare_cached(SELECT_RECORDS)?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, Vec<u8>>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, String>(5)?,
            [
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, i64>(8)?,
                r.get::<_, i64>(9)?,
            ],
            r.get::<_, Vec<u8>>(10)?,
        ))
    })?;
    let mut records = Vec::new();
    for row in rows {
        let (entry_id, target, author, seq, updated_at, role_id, f, link_bytes) = row?;
        let mut links = Vec::new();
        for l in link_bytes.chunks_exact(40) {
            let (a, s) = l.split_at(32);
            let a: [u8; 32] = a.try_into().map_err(|_| StoreError::Corrupt("role link"))?;
            let s: [u8; 8] = s.try_into().map_err(|_| StoreError::Corrupt("role link"))?;
            links.push((DeviceId::from_stored(a), u64::from_be_bytes(s)));
        }
        let Some(role) = role_from_id(&role_id) else {
            continue;
        };
        records.push(RoleRecord {
            entry_id,
            target: device(target)?,
            author: device(author)?,
            seq: seq as u64,
            updated_at: Timestamp(updated_at),
            role,
            from: FeedPositions {
                auth: f[0] as u64,
                config: f[1] as u64,
                data: f[2] as u64,
                blob_index: f[3] as u64,
            },
            links,
        });
    }
    Ok(RoleBook::compute(creator, records))
}

/// The roles in a project: which role records count, and so every device's role at every
/// point of its feeds. A function of the set of records only, never of their arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleBook {
    creator: DeviceId,
    /// Accepted records per target, in decision order.
    accepted: BTreeMap<DeviceId, Vec<RoleRecord>>,
    accepted_ids: BTreeSet<i64>,
}

impl RoleBook {
    /// Decides which records count. A record counts if its author could write it at its
    /// position: the creator and coordinators give any role but *left*, only to others, and
    /// only the creator gives one to the creator; a device alone records its own *left*.
    /// Authority depends on records too, so this is repeated until it settles.
    pub fn compute(creator: DeviceId, mut records: Vec<RoleRecord>) -> Self {
        decision_order(&mut records);
        let mut book = RoleBook::with(creator, &records, &BTreeSet::new());
        for _ in 0..MAX_ROLE_PASSES {
            let next: BTreeSet<i64> = records
                .iter()
                .filter(|r| book.permits(r))
                .map(|r| r.entry_id)
                .collect();
            if next == book.accepted_ids {
                break;
            }
            book = RoleBook::with(creator, &records, &next);
        }
        book
    }

    fn with(creator: DeviceId, sorted: &[RoleRecord], ids: &BTreeSet<i64>) -> Self {
        let mut accepted: BTreeMap<DeviceId, Vec<RoleRecord>> = BTreeMap::new();
        for r in sorted.iter().filter(|r| ids.contains(&r.entry_id)) {
            accepted.entry(r.target).or_default().push(r.clone());
        }
        RoleBook {
            creator,
            accepted,
            accepted_ids: ids.clone(),
        }
    }

    fn permits(&self, r: &RoleRecord) -> bool {
        if r.role == PeerRole::Left {
            return r.author == r.target;
        }
        if r.author == r.target {
            // Nobody blocks, promotes or demotes themselves (the creator is creator anyway).
            return false;
        }
        if r.target == self.creator {
            return r.author == self.creator;
        }
        matches!(
            self.role_at(&r.author, Namespace::Auth, r.seq),
            PeerRole::Creator | PeerRole::Coordinator
        )
    }

    /// The project's creator.
    pub fn creator(&self) -> DeviceId {
        self.creator
    }

    /// A device's role for its entry at `seq` of its `ns` feed: the last decision (in
    /// decision order) that applies from at or before that point.
    pub fn role_at(&self, device: &DeviceId, ns: Namespace, seq: u64) -> PeerRole {
        let mut role = if *device == self.creator {
            PeerRole::Creator
        } else {
            PeerRole::NoRole
        };
        for r in self.accepted.get(device).into_iter().flatten() {
            if seq >= r.from.get(ns) {
                role = r.role;
            }
        }
        role
    }

    /// A device's role now (for what it writes next and what it is sent).
    pub fn current(&self, device: &DeviceId) -> PeerRole {
        self.role_at(device, Namespace::Auth, u64::MAX)
    }

    /// Whether a role record counts.
    pub fn is_accepted(&self, entry_id: i64) -> bool {
        self.accepted_ids.contains(&entry_id)
    }

    /// The accepted records about a device, in decision order.
    pub fn records_about(&self, device: &DeviceId) -> &[RoleRecord] {
        self.accepted.get(device).map_or(&[], Vec::as_slice)
    }

    /// Every device some accepted record is about.
    pub fn devices(&self) -> impl Iterator<Item = &DeviceId> {
        self.accepted.keys()
    }

    /// Whether the document version `v` counts: its author's role at that point allows it.
    /// Creator and coordinators write anything; members write data they created (proven by
    /// the document id) and their own device info; devices without a role only their device
    /// info; blocked and left devices nothing from their block point on. Role records count
    /// as the book decided.
    pub fn counts(&self, entry_id: i64, v: &VersionId, doc: &Doc) -> bool {
        let role = self.role_at(&v.author, v.namespace, v.seq);
        let manager = matches!(role, PeerRole::Creator | PeerRole::Coordinator);
        match doc.doc_type() {
            DocType::Role => self.is_accepted(entry_id),
            DocType::DeviceInfo => {
                doc.doc_id == crate::ids::device_info_doc_id(&v.author)
                    && !matches!(role, PeerRole::Blocked | PeerRole::Left)
            }
            DocType::Preset
            | DocType::Field
            | DocType::ProjectSettings
            | DocType::Icon
            | DocType::Translation => manager,
            // Content-addressed (its id is the original's hash, checked on validation): any
            // member may describe an attachment it holds.
            DocType::BlobIndex => manager || role == PeerRole::Member,
            DocType::Observation | DocType::Track => may_write_data(
                role,
                created_by(
                    &v.author,
                    &doc.original_version_id.unwrap_or(*v),
                    &doc.doc_id,
                ),
            ),
        }
    }
}

/// Whether a device with `role` may write a version of an observation or track; `own`:
/// the device created that document.
pub(crate) fn may_write_data(role: PeerRole, own: bool) -> bool {
    matches!(role, PeerRole::Creator | PeerRole::Coordinator) || (role == PeerRole::Member && own)
}

/// Whether `author` created document `doc_id`, whose first version is `origin` (its id was
/// made from the author's first version of it).
pub(crate) fn created_by(author: &DeviceId, origin: &VersionId, doc_id: &DocId) -> bool {
    origin.author == *author && *doc_id == created_doc_id(origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(n: u8) -> DeviceId {
        crate::crypto::RootKey::from_bytes([n; crate::crypto::ROOT_KEY_LEN])
            .device_keys()
            .device_id()
    }

    fn rec(
        id: i64,
        target: DeviceId,
        author: DeviceId,
        seq: u64,
        at: i64,
        role: PeerRole,
    ) -> RoleRecord {
        RoleRecord {
            entry_id: id,
            target,
            author,
            seq,
            updated_at: Timestamp(at),
            role,
            from: FeedPositions::default(),
            links: Vec::new(),
        }
    }

    #[test]
    fn coordinator_authority_flows_from_the_creator_in_any_order() {
        let (c, a, b, m) = (dev(1), dev(2), dev(3), dev(4));
        let records = vec![
            rec(1, a, c, 0, 10, PeerRole::Coordinator),
            rec(2, b, a, 0, 20, PeerRole::Coordinator),
            rec(3, m, b, 0, 30, PeerRole::Member),
            // A member cannot give roles.
            rec(4, dev(5), m, 0, 40, PeerRole::Coordinator),
        ];
        let mut reversed = records.clone();
        reversed.reverse();
        let book = RoleBook::compute(c, records);
        assert_eq!(book, RoleBook::compute(c, reversed));
        assert_eq!(book.current(&b), PeerRole::Coordinator);
        assert_eq!(book.current(&m), PeerRole::Member);
        assert_eq!(book.current(&dev(5)), PeerRole::NoRole);
        assert!(!book.is_accepted(4));
    }

    #[test]
    fn a_block_applies_from_its_point_and_removes_later_authority() {
        let (c, a, m) = (dev(1), dev(2), dev(3));
        let mut block = rec(3, a, c, 1, 30, PeerRole::Blocked);
        block.from.auth = 1;
        block.from.data = 5;
        let records = vec![
            rec(1, a, c, 0, 10, PeerRole::Coordinator),
            // Written by a at its auth seq 0 (before its block point): counts.
            rec(2, m, a, 0, 20, PeerRole::Member),
            block,
            // Written by a at auth seq 1 (after the block point): does not count.
            rec(4, dev(9), a, 1, 40, PeerRole::Member),
        ];
        let book = RoleBook::compute(c, records);
        assert_eq!(book.role_at(&a, Namespace::Data, 4), PeerRole::Coordinator);
        assert_eq!(book.role_at(&a, Namespace::Data, 5), PeerRole::Blocked);
        assert_eq!(book.current(&m), PeerRole::Member);
        assert_eq!(book.current(&dev(9)), PeerRole::NoRole);
    }

    #[test]
    fn only_the_device_records_its_own_leaving_and_nobody_blocks_themselves() {
        let (c, a, m) = (dev(1), dev(2), dev(3));
        let records = vec![
            rec(1, a, c, 0, 10, PeerRole::Coordinator),
            rec(2, m, c, 1, 11, PeerRole::Member),
            rec(3, m, a, 0, 12, PeerRole::Left),
            rec(4, a, a, 1, 13, PeerRole::Blocked),
            rec(5, c, a, 2, 14, PeerRole::Blocked),
        ];
        let book = RoleBook::compute(c, records);
        assert_eq!(book.current(&m), PeerRole::Member);
        assert_eq!(book.current(&a), PeerRole::Coordinator);
        assert_eq!(book.current(&c), PeerRole::Creator);
        let left = RoleBook::compute(
            c,
            vec![
                rec(1, a, c, 0, 10, PeerRole::Coordinator),
                rec(6, a, a, 1, 20, PeerRole::Left),
            ],
        );
        assert_eq!(left.current(&a), PeerRole::Left);
    }

    #[test]
    fn a_later_decision_wins_even_from_a_device_with_a_slow_clock() {
        let (c, m) = (dev(1), dev(2));
        let member = rec(1, m, c, 0, 5_000, PeerRole::Member);
        // m's clock is behind, but its record replaces (links to) the creator's.
        let mut left = rec(2, m, m, 0, 10, PeerRole::Left);
        left.links = vec![(c, 0)];
        let book = RoleBook::compute(c, vec![member.clone(), left.clone()]);
        assert_eq!(book.current(&m), PeerRole::Left);
        assert_eq!(book, RoleBook::compute(c, vec![left, member]));
    }

    #[test]
    fn created_doc_ids_differ_by_author_and_position() {
        let v = |a: u8, seq| VersionId {
            author: dev(a),
            namespace: Namespace::Data,
            seq,
        };
        assert_ne!(created_doc_id(&v(1, 0)), created_doc_id(&v(2, 0)));
        assert_ne!(created_doc_id(&v(1, 0)), created_doc_id(&v(1, 1)));
        assert_eq!(created_doc_id(&v(1, 7)), created_doc_id(&v(1, 7)));
        assert_eq!(created_doc_id(&v(1, 7)).as_str().len(), 32);
    }
}
