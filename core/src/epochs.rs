//! Key epochs: removal that locks out. Owns the epoch records in `auth`, which epoch is
//! current, which epoch secrets this device holds, and starting an epoch or granting its
//! secret; must not decide roles (it reads the [`RoleBook`]) nor store anything but its own
//! records through `feed`.
//!
//! # Design (for DESIGN.md §3, §4, §14)
//!
//! - **Epoch 0** is the project key: entries sealed under the project key's namespace keys,
//!   in the format every entry had before epochs (a random nonce, then the ciphertext).
//!   Stores and fixtures written before epochs stay readable unchanged.
//! - **Starting an epoch.** Blocking a device (`Project::remove_member`, or any assignment of
//!   *blocked*) appends, in the same transaction as the role record, an *epoch record* to the
//!   blocker's `auth` feed. The epoch's id is bound to that record's position
//!   ([`EpochId::started_at`]: project, author, seq), so it cannot be claimed by another
//!   record. Its secret is 32 fresh random bytes; the payload keys of `config`, `data` and
//!   `blob_index` in that epoch derive from it ([`EpochSecret::namespace_key`]). The secret is
//!   sealed to every device whose current role is creator, coordinator or member (the
//!   blocked one is not) and to the writer.
//! - **Device keys for sealing.** A device's x25519 key is the Montgomery form of its ed25519
//!   identity (as libsodium's `crypto_sign_ed25519_pk_to_curve25519`), so every device is
//!   sealable from its `DeviceId` alone: nothing new is published, and offline or re-invited
//!   devices need no extra round trip. A sealed secret is an ECIES box: ephemeral x25519,
//!   blake3-derived key, XChaCha20-Poly1305, bound to project, epoch and recipient.
//! - **Epoch record** (the plaintext of an `auth` entry, sealed like any `auth` entry under
//!   the project key; not a document, so the index never shows it):
//!   `RECORD_MAGIC (16) | kind (1) | …`. Kind 1, *start*: `commitment (32) | parent count (1) |
//!   parent ids (32 each) | boxes`. Kind 2, *grant*: `boxes`. Boxes: `count (u16 BE)` then
//!   per box `epoch id (32) | device (32) | sealed secret`. The commitment
//!   ([`EpochSecret::commitment`]) lets a recipient reject a box that does not hold the
//!   epoch's real secret. Records count for the epoch graph only if their author was creator
//!   or coordinator at their position ([`RoleBook::role_at`]); any box sealed to this device
//!   that matches a known commitment gives it that secret.
//! - **`auth` stays in epoch 0**: it holds role and epoch records, which every device given
//!   the project key must read — a blocked device learns it was blocked, and a re-invited or
//!   new device finds the secrets sealed to it. A removed member that gets later `auth`
//!   entries therefore learns later membership changes, never data, config or media index.
//! - **Entry format.** An entry of a later epoch starts its payload with a frame naming its
//!   epoch: `b"mapeoEp1" | n (1) | n epoch ids, strictly increasing`, then nonce and
//!   ciphertext; the frame is also associated data of the AEAD, and is covered by the entry
//!   signature (which signs the payload hash). See `feed::parse_epoch_header`.
//! - **Merge rule (convergence).** A start record names as parents the heads of the epoch
//!   graph its writer knew. The current epoch is the set of heads (valid started epochs
//!   that are nobody's parent): one head is that epoch; several concurrent heads form a
//!   *merge epoch* whose id is [`EpochId::merged`] (a hash of the sorted head ids) and whose
//!   secret is [`EpochSecret::merged`] (blake3 over all heads' ids and secrets), computed by
//!   each device that holds every head, with no new record. Every device that has the same
//!   records computes the same heads, so the same epoch. A member removed by one coordinator
//!   lacks that coordinator's epoch, so it cannot compute the merge, even if a concurrent
//!   epoch by another coordinator was sealed to it. Writers write in the heads they hold
//!   (all of them, normally); the frame names the heads, so any reader holding them all
//!   can derive the key, even after the graph has moved on.
//! - **Missing keys.** An entry whose epoch secret this device lacks (yet) is verified
//!   (chain, signature) and stored, but not indexed; when a new secret arrives, the index is
//!   rebuilt from the feeds, which now open. Live sync sends `auth` first anyway; a sync file
//!   may deliver data before `auth` and still loses nothing.
//! - **Re-invite and new members.** Giving a device the role coordinator or member writes a
//!   *grant* sealing every epoch secret the granter holds to it, so it reads the project's
//!   history as a member invited before the first epoch would.
//! - **Healing.** An epoch is sealed to the members its writer knew; a member added
//!   concurrently elsewhere is missed. A creator or coordinator that imports `auth` entries
//!   grants every secret it holds to each remaining member no authorised record gave it
//!   ([`heal`]), so the missed member reads the epoch after the next sync with any of them.
//! - **Limits.** An entry writes at most [`feed::MAX_ENTRY_EPOCHS`] heads; records are read
//!   with bounds checks and a malformed record is ignored (it stays in its feed).

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Connection, Transaction};

use crate::crypto::{self, DeviceKeys, EpochId, EpochSecret, SEALED_SECRET_LEN};
use crate::db::StoreError;
use crate::feed::{self, EpochRing, FeedError, FeedKeys};
use crate::ids::{DeviceId, Namespace, ProjectId};
use crate::roles::{PeerRole, RoleBook};

/// Starts the plaintext of every epoch record.
const RECORD_MAGIC: &[u8; 16] = b"mapeo/epoch/v1\0\0";
const KIND_START: u8 = 1;
const KIND_GRANT: u8 = 2;
/// Length of one box in a record: epoch id, device, sealed secret.
const BOX_LEN: usize = 32 + 32 + SEALED_SECRET_LEN;

/// One epoch secret sealed to one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedBox {
    /// The epoch whose secret it holds.
    pub epoch: EpochId,
    /// The device that can open it.
    pub device: DeviceId,
    /// The sealed secret ([`crypto::seal_to_device`]).
    pub sealed: Vec<u8>,
}

/// A decoded epoch record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// Starts the epoch whose id is bound to the record's position.
    Start {
        /// Commitment to the new secret.
        commitment: [u8; 32],
        /// The heads its writer knew.
        parents: Vec<EpochId>,
        /// The new secret, sealed to each remaining device.
        boxes: Vec<SealedBox>,
    },
    /// Gives existing epochs' secrets to more devices.
    Grant {
        /// The secrets, sealed.
        boxes: Vec<SealedBox>,
    },
}

impl Record {
    /// The record's bytes (an `auth` entry's plaintext).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = RECORD_MAGIC.to_vec();
        let boxes = match self {
            Record::Start {
                commitment,
                parents,
                boxes,
            } => {
                out.push(KIND_START);
                out.extend_from_slice(commitment);
                out.push(u8::try_from(parents.len()).unwrap_or(u8::MAX));
                for p in parents.iter().take(usize::from(u8::MAX)) {
                    out.extend_from_slice(&p.0);
                }
                boxes
            }
            Record::Grant { boxes } => {
                out.push(KIND_GRANT);
                boxes
            }
        };
        let n = u16::try_from(boxes.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&n.to_be_bytes());
        for b in boxes.iter().take(usize::from(n)) {
            out.extend_from_slice(&b.epoch.0);
            out.extend_from_slice(b.device.as_bytes());
            out.extend_from_slice(&b.sealed);
        }
        out
    }

    /// Parses a record; `None` if the bytes are not a well-formed one (a document, or junk).
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        let mut r = Reader(bytes.strip_prefix(&RECORD_MAGIC[..])?);
        let kind = r.take(1)?[0];
        let start = match kind {
            KIND_START => {
                let commitment: [u8; 32] = r.take(32)?.try_into().ok()?;
                let n = usize::from(r.take(1)?[0]);
                let mut parents = Vec::with_capacity(n);
                for _ in 0..n {
                    parents.push(EpochId(r.take(32)?.try_into().ok()?));
                }
                Some((commitment, parents))
            }
            KIND_GRANT => None,
            _ => return None,
        };
        let n = u16::from_be_bytes(r.take(2)?.try_into().ok()?);
        let mut boxes = Vec::new();
        for _ in 0..n {
            let b = r.take(BOX_LEN)?;
            boxes.push(SealedBox {
                epoch: EpochId(b[..32].try_into().ok()?),
                device: DeviceId::from_bytes(b[32..64].try_into().ok()?).ok()?,
                sealed: b[64..].to_vec(),
            });
        }
        if !r.0.is_empty() {
            return None;
        }
        Some(match start {
            Some((commitment, parents)) => Record::Start {
                commitment,
                parents,
                boxes,
            },
            None => Record::Grant { boxes },
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
}

/// Associated data of a sealed box: project, epoch and recipient.
fn box_aad(project: &ProjectId, epoch: &EpochId, device: &DeviceId) -> [u8; 96] {
    let mut aad = [0u8; 96];
    aad[..32].copy_from_slice(project.as_bytes());
    aad[32..64].copy_from_slice(&epoch.0);
    aad[64..].copy_from_slice(device.as_bytes());
    aad
}

/// Seals `secret` of `epoch` to each of `devices` (those whose id is not a usable key are
/// skipped: they could never have joined).
pub fn seal_boxes(
    project: &ProjectId,
    epoch: EpochId,
    secret: &EpochSecret,
    devices: impl IntoIterator<Item = DeviceId>,
) -> Vec<SealedBox> {
    devices
        .into_iter()
        .filter_map(|device| {
            let sealed =
                crypto::seal_to_device(&device, &box_aad(project, &epoch, &device), secret)?;
            Some(SealedBox {
                epoch,
                device,
                sealed,
            })
        })
        .collect()
}

/// A record at its place: author and `auth` seq.
#[derive(Clone, Debug)]
pub struct Placed {
    /// Who wrote it.
    pub author: DeviceId,
    /// Its position in the author's `auth` feed.
    pub seq: u64,
    /// Whether its author could start epochs there (creator or coordinator).
    pub authorised: bool,
    /// The record.
    pub record: Record,
}

/// The epoch graph as one device sees it: a function of the set of records only.
#[derive(Clone, Debug, Default)]
pub struct EpochState {
    /// The current heads (sorted): empty for epoch 0, one for a started epoch, several for a
    /// merge epoch.
    pub heads: Vec<EpochId>,
    /// The devices each known epoch's secret was sealed to (as far as this device knows).
    pub holders: BTreeMap<EpochId, BTreeSet<DeviceId>>,
    /// What this device holds and writes in.
    pub ring: EpochRing,
}

impl EpochState {
    /// The current epoch's id, `None` for epoch 0.
    pub fn current(&self) -> Option<EpochId> {
        (!self.heads.is_empty()).then(|| EpochId::merged(&self.heads))
    }

    /// The current epoch's secret, if this device holds every head.
    pub fn current_secret(&self) -> Option<EpochSecret> {
        let parts: Option<Vec<(EpochId, &EpochSecret)>> = self
            .heads
            .iter()
            .map(|h| self.ring.held.get(h).map(|s| (*h, s)))
            .collect();
        parts
            .filter(|p| !p.is_empty())
            .map(|p| EpochSecret::merged(&p))
    }

    /// Computes the graph from records, opening the boxes sealed to `me`.
    pub fn compute(project: &ProjectId, me: &DeviceKeys, records: &[Placed]) -> Self {
        let mut commitments: BTreeMap<EpochId, [u8; 32]> = BTreeMap::new();
        let mut valid: BTreeMap<EpochId, &[EpochId]> = BTreeMap::new();
        for p in records {
            if let Record::Start {
                commitment,
                parents,
                ..
            } = &p.record
            {
                let id = EpochId::started_at(project, &p.author, p.seq);
                commitments.insert(id, *commitment);
                if p.authorised {
                    valid.insert(id, parents);
                }
            }
        }
        let parents: BTreeSet<EpochId> = valid.values().flat_map(|ps| ps.iter().copied()).collect();
        let heads: Vec<EpochId> = valid
            .keys()
            .filter(|id| !parents.contains(id))
            .copied()
            .collect();
        let mut state = EpochState {
            heads,
            ..EpochState::default()
        };
        let my_id = me.device_id();
        for p in records {
            let (Record::Start { boxes, .. } | Record::Grant { boxes }) = &p.record;
            let own_epoch = EpochId::started_at(project, &p.author, p.seq);
            for b in boxes {
                // A start record's boxes hold its own epoch; a grant's, any started one.
                let is_start = matches!(p.record, Record::Start { .. });
                if is_start && b.epoch != own_epoch {
                    continue;
                }
                let Some(commitment) = commitments.get(&b.epoch) else {
                    continue;
                };
                if p.authorised {
                    state.holders.entry(b.epoch).or_default().insert(b.device);
                }
                if b.device != my_id || state.ring.held.contains_key(&b.epoch) {
                    continue;
                }
                let aad = box_aad(project, &b.epoch, &b.device);
                if let Ok(secret) = me.open_sealed(&aad, &b.sealed)
                    && secret.commitment() == *commitment
                {
                    state.ring.held.insert(b.epoch, secret);
                }
            }
        }
        state.ring.writing = state
            .heads
            .iter()
            .filter(|h| state.ring.held.contains_key(h))
            .take(feed::MAX_ENTRY_EPOCHS)
            .copied()
            .collect();
        state
    }
}

/// Every epoch record in the project's `auth` feeds.
pub fn load_records(
    conn: &Connection,
    keys: &FeedKeys,
    book: &RoleBook,
) -> Result<Vec<Placed>, StoreError> {
    let mut out = Vec::new();
    for ((author, ns), len) in feed::have_vector(conn)? {
        if ns != Namespace::Auth {
            continue;
        }
        for entry in feed::read_range(conn, &author, ns, 0, len)? {
            let Ok(plain) = keys.open_payload(&entry) else {
                continue;
            };
            let Some(record) = Record::decode(&plain) else {
                continue;
            };
            let authorised = matches!(
                book.role_at(&author, Namespace::Auth, entry.seq),
                PeerRole::Creator | PeerRole::Coordinator
            );
            out.push(Placed {
                author,
                seq: entry.seq,
                authorised,
                record,
            });
        }
    }
    Ok(out)
}

/// The epoch state from the store.
pub fn load(
    conn: &Connection,
    keys: &FeedKeys,
    book: &RoleBook,
    me: &DeviceKeys,
) -> Result<EpochState, StoreError> {
    let records = load_records(conn, keys, book)?;
    Ok(EpochState::compute(keys.project_id(), me, &records))
}

/// Devices that remain in the project by `book`: creator, coordinators and members.
fn remaining(book: &RoleBook) -> BTreeSet<DeviceId> {
    let mut out: BTreeSet<DeviceId> = book
        .devices()
        .filter(|d| {
            matches!(
                book.current(d),
                PeerRole::Coordinator | PeerRole::Member | PeerRole::Creator
            )
        })
        .copied()
        .collect();
    out.insert(book.creator());
    out
}

/// Starts a new epoch (after a block recorded in `book`): appends its record to our `auth`
/// feed. The caller refreshes the keys' ring afterwards.
pub fn start(
    tx: &Transaction<'_>,
    keys: &FeedKeys,
    me: &DeviceKeys,
    book: &RoleBook,
) -> Result<EpochId, FeedError> {
    let state = load(tx, keys, book, me)?;
    let my_id = me.device_id();
    let seq = feed::length(tx, &my_id, Namespace::Auth)?;
    let id = EpochId::started_at(keys.project_id(), &my_id, seq);
    let secret = EpochSecret::generate();
    let mut devices = remaining(book);
    devices.insert(my_id);
    let record = Record::Start {
        commitment: secret.commitment(),
        parents: state.heads,
        boxes: seal_boxes(keys.project_id(), id, &secret, devices),
    };
    feed::append_local(tx, keys, me, Namespace::Auth, &record.encode())?;
    Ok(id)
}

/// Seals every started epoch secret we hold to `device` (a new or re-invited member), if
/// there is any. Returns whether a grant was written.
pub fn grant(
    tx: &Transaction<'_>,
    keys: &FeedKeys,
    me: &DeviceKeys,
    book: &RoleBook,
    device: DeviceId,
) -> Result<bool, FeedError> {
    let state = load(tx, keys, book, me)?;
    let boxes: Vec<SealedBox> = state
        .ring
        .held
        .iter()
        .filter(|(id, _)| !state.holders.get(id).is_some_and(|h| h.contains(&device)))
        .flat_map(|(id, secret)| seal_boxes(keys.project_id(), *id, secret, [device]))
        .collect();
    if boxes.is_empty() {
        return Ok(false);
    }
    feed::append_local(
        tx,
        keys,
        me,
        Namespace::Auth,
        &Record::Grant { boxes }.encode(),
    )?;
    Ok(true)
}

/// Heals the epochs: seals every epoch secret we hold to each remaining member (creator,
/// coordinator, member) that no authorised record gave it yet, e.g. a member added by one
/// coordinator while another, not knowing of it, started an epoch. Written only by a
/// creator or coordinator, whose grants count, so that healing stops once every member
/// holds every secret. Returns whether a grant was written.
pub fn heal(
    tx: &Transaction<'_>,
    keys: &FeedKeys,
    me: &DeviceKeys,
    book: &RoleBook,
) -> Result<bool, FeedError> {
    let my_id = me.device_id();
    if !matches!(
        book.current(&my_id),
        PeerRole::Creator | PeerRole::Coordinator
    ) {
        return Ok(false);
    }
    let state = load(tx, keys, book, me)?;
    let members = remaining(book);
    let mut boxes = Vec::new();
    for (id, secret) in &state.ring.held {
        let holders = state.holders.get(id);
        let missing = members
            .iter()
            .filter(|d| **d != my_id && !holders.is_some_and(|h| h.contains(*d)))
            .copied();
        boxes.extend(seal_boxes(keys.project_id(), *id, secret, missing));
    }
    if boxes.is_empty() {
        return Ok(false);
    }
    feed::append_local(
        tx,
        keys,
        me,
        Namespace::Auth,
        &Record::Grant { boxes }.encode(),
    )?;
    Ok(true)
}

#[cfg(test)]
mod tests;
