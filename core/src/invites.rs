//! Invites between two connected devices: the wire messages (which never carry keys until
//! the invitee accepts, and then only over the encrypted session), the received invites and
//! their states (kept in the device database), and the routing of each step to the call
//! waiting for it. The steps themselves run in `manager::invites`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::db::StoreError;
use crate::ids::{DeviceId, ProjectId, Timestamp};
use crate::roles::PeerRole;
use crate::sync::Replica;

/// How long an inviter waits for the invitee to answer.
pub const INVITE_ANSWER_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long each later step of an accepted invite may take (join details, the invitee's
/// confirmation that it stored them).
pub const INVITE_STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an invitee that stored the join details waits for the record of its role to
/// arrive through sync before it reports the invite as interrupted.
pub const ROLE_ARRIVAL_TIMEOUT: Duration = Duration::from_secs(60);
/// Most invites kept pending from all peers at once; more are answered "reject" unseen.
pub const MAX_PENDING_INVITES: usize = 50;
/// Longest text (project name, description, role name, inviter name) in an invite.
pub const MAX_INVITE_TEXT_CHARS: usize = 1_000;

/// An invite's id: random, chosen by the inviter.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InviteId(#[serde(with = "serde_bytes")] pub [u8; 16]);

impl InviteId {
    /// A new random id.
    pub fn random() -> Self {
        InviteId(crate::crypto::random_bytes())
    }
}

impl std::fmt::Display for InviteId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for InviteId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InviteId({})", hex::encode(&self.0[..4]))
    }
}

impl std::str::FromStr for InviteId {
    type Err = crate::ids::IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| crate::ids::IdError::BadHex {
            kind: "invite id",
            len: 32,
        })?;
        Ok(InviteId(bytes))
    }
}

/// What an invite offers and who sends it. Never a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InviteOffer {
    /// The invite.
    pub id: InviteId,
    /// The project (its public id: a hash of the key, useless without it).
    pub project_id: ProjectId,
    /// The project's name.
    pub project_name: Option<String>,
    /// The project's description.
    pub project_description: Option<String>,
    /// The project's color.
    pub project_color: Option<String>,
    /// The role offered: coordinator or member.
    pub role: InviteRole,
    /// A name for the role, as the inviter put it.
    pub role_name: Option<String>,
    /// What the role means, as the inviter put it.
    pub role_description: Option<String>,
    /// The inviter's device name.
    pub inviter_name: String,
}

impl InviteOffer {
    fn valid(&self) -> bool {
        let ok = |s: &Option<String>| {
            s.as_ref()
                .is_none_or(|s| s.chars().count() <= MAX_INVITE_TEXT_CHARS)
        };
        ok(&self.project_name)
            && ok(&self.project_description)
            && ok(&self.project_color)
            && ok(&self.role_name)
            && ok(&self.role_description)
            && self.inviter_name.chars().count() <= MAX_INVITE_TEXT_CHARS
    }
}

/// A role an invite can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum InviteRole {
    /// Manages the project.
    Coordinator,
    /// Records data.
    Member,
}

impl InviteRole {
    /// The role it gives.
    pub fn role(self) -> PeerRole {
        match self {
            InviteRole::Coordinator => PeerRole::Coordinator,
            InviteRole::Member => PeerRole::Member,
        }
    }
}

/// How the invitee answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum InviteAnswer {
    /// Yes: send the join details.
    Accept,
    /// No.
    Reject,
    /// Already in the project (answered without asking the user).
    Already,
}

/// The invite messages, carried inside the sync session of an authenticated connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum InviteMessage {
    /// Inviter → invitee: an invite.
    Offer(InviteOffer),
    /// Invitee → inviter: the answer.
    Answer {
        /// The invite.
        id: InviteId,
        /// The answer.
        answer: InviteAnswer,
    },
    /// Inviter → invitee: the invite is withdrawn.
    Cancel {
        /// The invite.
        id: InviteId,
    },
    /// Inviter → invitee, after an accept: the project's join details (secret).
    JoinDetails {
        /// The invite.
        id: InviteId,
        /// [`crate::JoinDetails::to_secret_bytes`].
        #[serde(with = "serde_bytes")]
        details: Vec<u8>,
    },
    /// Invitee → inviter: the join details are stored; record my role.
    Joined {
        /// The invite.
        id: InviteId,
    },
}

impl InviteMessage {
    /// What kind of message it is (for logs; never its content).
    pub fn kind(&self) -> &'static str {
        match self {
            InviteMessage::Offer(_) => "offer",
            InviteMessage::Answer { .. } => "answer",
            InviteMessage::Cancel { .. } if *self == GONE => "peer gone",
            InviteMessage::Cancel { .. } => "cancel",
            InviteMessage::JoinDetails { .. } => "join details",
            InviteMessage::Joined { .. } => "joined",
        }
    }

    /// The invite it is about.
    pub fn id(&self) -> InviteId {
        match self {
            InviteMessage::Offer(o) => o.id,
            InviteMessage::Answer { id, .. }
            | InviteMessage::Cancel { id }
            | InviteMessage::JoinDetails { id, .. }
            | InviteMessage::Joined { id } => *id,
        }
    }
}

/// Where a received invite stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InviteState {
    /// Waiting for this device's answer.
    Pending,
    /// Accepted: joining (or joined).
    Accepted,
    /// Rejected here.
    Rejected,
    /// Withdrawn by the inviter.
    Canceled,
    /// The inviter went away before it completed; it can be sent again.
    Expired,
    /// Answered "already": this device was in the project, or joined it by another invite.
    Already,
}

impl InviteState {
    fn name(self) -> &'static str {
        match self {
            InviteState::Pending => "pending",
            InviteState::Accepted => "accepted",
            InviteState::Rejected => "rejected",
            InviteState::Canceled => "canceled",
            InviteState::Expired => "expired",
            InviteState::Already => "already",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => InviteState::Pending,
            "accepted" => InviteState::Accepted,
            "rejected" => InviteState::Rejected,
            "canceled" => InviteState::Canceled,
            "expired" => InviteState::Expired,
            "already" => InviteState::Already,
            _ => return None,
        })
    }
}

/// An invite this device received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedInvite {
    /// What it offers.
    pub offer: InviteOffer,
    /// The inviting device (proven by the connection).
    pub from: DeviceId,
    /// When it arrived.
    pub received_at: Timestamp,
    /// Where it stands.
    pub state: InviteState,
}

const INSERT_RECEIVED: &str = "INSERT OR REPLACE INTO received_invites \
    (invite_id, from_device, project_id, offer, received_at, state) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const UPDATE_STATE: &str = "UPDATE received_invites SET state = ?2 WHERE invite_id = ?1";
const SELECT_RECEIVED: &str = "SELECT from_device, offer, received_at, state \
    FROM received_invites ORDER BY received_at, invite_id";
const SELECT_STORED_PENDING: &str =
    "SELECT invite_id FROM received_invites WHERE state = 'pending'";
const SELECT_STATE: &str = "SELECT state FROM received_invites WHERE invite_id = ?1";

/// The device's invites on the network side: received ones with their states, and the calls
/// waiting for the next step of an invite.
pub struct InviteBox {
    db: Arc<Mutex<Connection>>,
    clock: crate::ids::Clock,
    received: watch::Sender<BTreeMap<InviteId, ReceivedInvite>>,
    waiting: Mutex<HashMap<InviteId, mpsc::Sender<(DeviceId, InviteMessage)>>>,
    /// Sends a message to a connected peer (false if not connected).
    send: Mutex<Option<SendFn>>,
    projects: Mutex<Option<ProjectList>>,
}

/// The projects this device holds, as the network offers them.
type ProjectList = watch::Receiver<Vec<Arc<dyn Replica>>>;

/// How the box sends to a connected peer.
pub type SendFn = Arc<dyn Fn(DeviceId, InviteMessage) -> bool + Send + Sync>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl InviteBox {
    /// Loads the received invites. One stored as pending was received by another run, or by
    /// another process beside this one (a running `mapeo serve` that a read-only command
    /// opens the same store beside): its answer can only travel over that run's connection,
    /// so here it shows as expired. Nothing is written: whether it really expired is for the
    /// process that runs the network to write down ([`InviteBox::settle_unanswered`]).
    pub fn open(db: Arc<Mutex<Connection>>, clock: crate::ids::Clock) -> Result<Self, StoreError> {
        let mut received = BTreeMap::new();
        {
            let conn = lock(&db);
            let mut stmt = conn.prepare(SELECT_RECEIVED)?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            for row in rows {
                let (from, offer, at, state) = row?;
                let from: [u8; 32] = from
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("invite device"))?;
                let offer: InviteOffer = ciborium::from_reader(offer.as_slice())
                    .map_err(|_| StoreError::Corrupt("invite"))?;
                let state = match InviteState::from_name(&state) {
                    Some(InviteState::Pending) => InviteState::Expired,
                    Some(s) => s,
                    None => return Err(StoreError::Corrupt("invite state")),
                };
                received.insert(
                    offer.id,
                    ReceivedInvite {
                        offer,
                        from: DeviceId::from_stored(from),
                        received_at: Timestamp(at),
                        state,
                    },
                );
            }
        }
        Ok(InviteBox {
            db,
            clock,
            received: watch::Sender::new(received),
            waiting: Mutex::new(HashMap::new()),
            send: Mutex::new(None),
            projects: Mutex::new(None),
        })
    }

    /// Connects the box to the network: how to send, and which projects this device holds.
    pub fn attach(&self, send: SendFn, projects: watch::Receiver<Vec<Arc<dyn Replica>>>) {
        *lock(&self.send) = Some(send);
        *lock(&self.projects) = Some(projects);
    }

    /// Sends an invite message to a connected peer; false if it is not connected.
    pub fn send(&self, to: DeviceId, msg: InviteMessage) -> bool {
        let send = lock(&self.send).clone();
        let kind = msg.kind();
        let sent = send.is_some_and(|f| f(to, msg));
        tracing::debug!(to = %to.short(), kind, sent, "invite message");
        sent
    }

    /// Every received invite, oldest first.
    pub fn received(&self) -> Vec<ReceivedInvite> {
        let mut all: Vec<ReceivedInvite> = self.received.borrow().values().cloned().collect();
        all.sort_by_key(|i| (i.received_at, i.offer.id));
        all
    }

    /// Changes to the received invites.
    pub fn subscribe(&self) -> watch::Receiver<BTreeMap<InviteId, ReceivedInvite>> {
        self.received.subscribe()
    }

    /// Registers a call waiting for the next messages about `id`.
    pub fn wait_for(&self, id: InviteId) -> Waiter<'_> {
        let (tx, rx) = mpsc::channel(8);
        lock(&self.waiting).insert(id, tx);
        Waiter { box_: self, id, rx }
    }

    /// Sets a received invite's state (stored, then published).
    pub fn set_state(&self, id: InviteId, state: InviteState) -> Result<(), StoreError> {
        lock(&self.db).execute(UPDATE_STATE, params![&id.0[..], state.name()])?;
        self.received.send_modify(|m| {
            if let Some(i) = m.get_mut(&id) {
                i.state = state;
            }
        });
        Ok(())
    }

    /// The stored state of a received invite.
    pub fn state(&self, id: InviteId) -> Result<Option<InviteState>, StoreError> {
        let s: Option<String> = lock(&self.db)
            .query_row(SELECT_STATE, [&id.0[..]], |r| r.get(0))
            .optional()?;
        Ok(s.and_then(|s| InviteState::from_name(&s)))
    }

    /// Whether this device is an active member of a project (creator, coordinator, member).
    fn is_member(&self, project: &ProjectId) -> bool {
        let projects = lock(&self.projects).as_ref().map(|p| p.borrow().clone());
        projects.into_iter().flatten().any(|p| {
            p.project_id() == *project
                && matches!(
                    p.own_role(),
                    PeerRole::Creator | PeerRole::Coordinator | PeerRole::Member
                )
        })
    }

    /// Handles an invite message from a connected peer. Never panics on what the peer sent.
    pub fn handle(&self, from: DeviceId, msg: InviteMessage) {
        match msg {
            InviteMessage::Offer(offer) => self.offered(from, offer),
            InviteMessage::Cancel { id } => {
                let pending = self
                    .received
                    .borrow()
                    .get(&id)
                    .is_some_and(|i| i.from == from && i.state == InviteState::Pending);
                if pending && let Err(e) = self.set_state(id, InviteState::Canceled) {
                    tracing::warn!("could not record a canceled invite: {e}");
                }
                self.route(from, InviteMessage::Cancel { id });
            }
            other => self.route(from, other),
        }
    }

    fn offered(&self, from: DeviceId, offer: InviteOffer) {
        let id = offer.id;
        if !offer.valid() || self.received.borrow().contains_key(&id) {
            return;
        }
        let pending = self
            .received
            .borrow()
            .values()
            .filter(|i| i.state == InviteState::Pending)
            .count();
        if pending >= MAX_PENDING_INVITES {
            self.send(
                from,
                InviteMessage::Answer {
                    id,
                    answer: InviteAnswer::Reject,
                },
            );
            return;
        }
        let state = if self.is_member(&offer.project_id) {
            InviteState::Already
        } else {
            InviteState::Pending
        };
        let invite = ReceivedInvite {
            offer,
            from,
            received_at: (self.clock)(),
            state,
        };
        if let Err(e) = self.store(&invite) {
            tracing::warn!("could not store an invite: {e}");
            return;
        }
        self.received.send_modify(|m| {
            m.insert(id, invite);
        });
        if state == InviteState::Already {
            self.send(
                from,
                InviteMessage::Answer {
                    id,
                    answer: InviteAnswer::Already,
                },
            );
        }
    }

    fn store(&self, i: &ReceivedInvite) -> Result<(), StoreError> {
        let mut offer = Vec::new();
        ciborium::into_writer(&i.offer, &mut offer).map_err(|_| StoreError::Corrupt("invite"))?;
        lock(&self.db).execute(
            INSERT_RECEIVED,
            params![
                &i.offer.id.0[..],
                i.from.as_bytes(),
                i.offer.project_id.as_bytes(),
                offer,
                i.received_at.0,
                i.state.name()
            ],
        )?;
        Ok(())
    }

    fn route(&self, from: DeviceId, msg: InviteMessage) {
        let tx = lock(&self.waiting).get(&msg.id()).cloned();
        if let Some(tx) = tx {
            let _ = tx.try_send((from, msg));
        }
    }

    /// The connection to `peer` ended: its pending invites expire, and calls waiting on it
    /// learn (their channel sees the peer gone).
    pub fn peer_gone(&self, peer: DeviceId) {
        let expired: Vec<InviteId> = self
            .received
            .borrow()
            .values()
            .filter(|i| i.from == peer && i.state == InviteState::Pending)
            .map(|i| i.offer.id)
            .collect();
        for id in expired {
            if let Err(e) = self.set_state(id, InviteState::Expired) {
                tracing::warn!("could not expire an invite: {e}");
            }
        }
        let waiting: Vec<mpsc::Sender<(DeviceId, InviteMessage)>> =
            lock(&self.waiting).values().cloned().collect();
        for tx in waiting {
            let _ = tx.try_send((peer, GONE));
        }
    }

    /// Other pending invites to a project this device just joined: answered "already".
    pub fn answer_already(&self, project: &ProjectId, except: InviteId) {
        let others: Vec<(InviteId, DeviceId)> = self
            .received
            .borrow()
            .values()
            .filter(|i| {
                i.offer.project_id == *project
                    && i.offer.id != except
                    && i.state == InviteState::Pending
            })
            .map(|i| (i.offer.id, i.from))
            .collect();
        for (id, from) in others {
            if let Err(e) = self.set_state(id, InviteState::Already) {
                tracing::warn!("could not record an invite answer: {e}");
            }
            self.send(
                from,
                InviteMessage::Answer {
                    id,
                    answer: InviteAnswer::Already,
                },
            );
        }
    }
}

/// The marker a waiter receives when the connection to a peer ended (an id no invite has).
const GONE: InviteMessage = InviteMessage::Cancel {
    id: InviteId([0xff; 16]),
};

/// What a waiting call receives next.
#[derive(Debug)]
pub enum Step {
    /// A message about its invite from that peer.
    Message(InviteMessage),
    /// The connection to the peer ended.
    PeerGone,
    /// Nothing arrived in time.
    TimedOut,
}

/// A call waiting for the next steps of one invite; unregisters when dropped.
pub struct Waiter<'a> {
    box_: &'a InviteBox,
    id: InviteId,
    rx: mpsc::Receiver<(DeviceId, InviteMessage)>,
}

impl Waiter<'_> {
    /// The next message about this invite from `peer`, the peer going away, or a timeout.
    pub async fn next(&mut self, peer: DeviceId, timeout: Duration) -> Step {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_) => {
                    tracing::debug!(peer = %peer.short(), "invite step timed out");
                    return Step::TimedOut;
                }
                Ok(None) => return Step::PeerGone,
                Ok(Some((from, msg))) if from == peer => {
                    tracing::debug!(peer = %peer.short(), kind = msg.kind(), "invite step");
                    if msg == GONE {
                        return Step::PeerGone;
                    }
                    return Step::Message(msg);
                }
                Ok(Some(_)) => {}
            }
        }
    }

    /// Delivers a message to this waiter as if it came from `peer` (a local cancel).
    pub fn inject(box_: &InviteBox, id: InviteId, peer: DeviceId, msg: InviteMessage) {
        let tx = lock(&box_.waiting).get(&id).cloned();
        if let Some(tx) = tx {
            let _ = tx.try_send((peer, msg));
        }
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        lock(&self.box_.waiting).remove(&self.id);
    }
}

/// Writing down invites that expired with the run that received them.
impl InviteBox {
    /// Stores as expired every invite stored as pending that is not pending in this box: one
    /// received by an earlier run, whose inviter's connection went with it. For the process
    /// that runs the network (and so would receive the answers), when it starts; any other
    /// process opening the store leaves the stored states alone.
    pub fn settle_unanswered(&self) -> Result<(), StoreError> {
        let live: Vec<InviteId> = self
            .received
            .borrow()
            .values()
            .filter(|i| i.state == InviteState::Pending)
            .map(|i| i.offer.id)
            .collect();
        let conn = lock(&self.db);
        let stored: Vec<Vec<u8>> = conn
            .prepare(SELECT_STORED_PENDING)?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for id in stored {
            if !live.iter().any(|l| l.0[..] == id[..]) {
                conn.execute(UPDATE_STATE, params![id, InviteState::Expired.name()])?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn open() -> (tempfile::TempDir, InviteBox) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::open_writer(
            &dir.path().join("device.db"),
            None,
            crate::db::DEVICE_MIGRATIONS,
        )
        .unwrap();
        let b = InviteBox::open(Arc::new(Mutex::new(conn)), Arc::new(|| Timestamp(1_000))).unwrap();
        (dir, b)
    }

    #[test]
    fn invites_are_listed_oldest_first_whatever_their_ids() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::open_writer(
            &dir.path().join("device.db"),
            None,
            crate::db::DEVICE_MIGRATIONS,
        )
        .unwrap();
        let now = Arc::new(std::sync::atomic::AtomicI64::new(1_000));
        let clock = now.clone();
        let b = InviteBox::open(
            Arc::new(Mutex::new(conn)),
            Arc::new(move || Timestamp(clock.fetch_add(10, std::sync::atomic::Ordering::SeqCst))),
        )
        .unwrap();
        for n in [9, 5, 7, 1] {
            b.handle(peer(n), InviteMessage::Offer(offer(n)));
        }
        let ids: Vec<u8> = b.received().iter().map(|i| i.offer.id.0[0]).collect();
        assert_eq!(ids, vec![9, 5, 7, 1]);
    }

    fn offer(n: u8) -> InviteOffer {
        InviteOffer {
            id: InviteId([n; 16]),
            project_id: ProjectId::from_bytes([n; 32]),
            project_name: Some("Río".into()),
            project_description: None,
            project_color: None,
            role: InviteRole::Member,
            role_name: None,
            role_description: None,
            inviter_name: "A".into(),
        }
    }

    fn peer(n: u8) -> DeviceId {
        crate::crypto::RootKey::from_bytes([n; 16])
            .device_keys()
            .device_id()
    }

    #[test]
    fn what_a_peer_sends_never_breaks_the_list_of_invites() {
        let (_dir, b) = open();
        let from = peer(1);
        // Oversized text: ignored.
        let mut big = offer(1);
        big.inviter_name = "x".repeat(MAX_INVITE_TEXT_CHARS + 1);
        b.handle(from, InviteMessage::Offer(big));
        assert!(b.received().is_empty());
        // A valid offer, then the same id again from someone else: the first stays.
        b.handle(from, InviteMessage::Offer(offer(2)));
        let mut again = offer(2);
        again.inviter_name = "impostor".into();
        b.handle(peer(3), InviteMessage::Offer(again));
        assert_eq!(b.received().len(), 1);
        assert_eq!(b.received()[0].offer.inviter_name, "A");
        // Answers, details and cancels nobody waits for, or from another device: no effect.
        b.handle(
            from,
            InviteMessage::Answer {
                id: InviteId([9; 16]),
                answer: InviteAnswer::Accept,
            },
        );
        b.handle(
            from,
            InviteMessage::JoinDetails {
                id: InviteId([2; 16]),
                details: vec![0; 3],
            },
        );
        b.handle(
            peer(3),
            InviteMessage::Cancel {
                id: InviteId([2; 16]),
            },
        );
        assert_eq!(b.received()[0].state, InviteState::Pending);
        // Its inviter cancels it: canceled, and stored so.
        b.handle(
            from,
            InviteMessage::Cancel {
                id: InviteId([2; 16]),
            },
        );
        assert_eq!(b.received()[0].state, InviteState::Canceled);
        assert_eq!(
            b.state(InviteId([2; 16])).unwrap(),
            Some(InviteState::Canceled)
        );
    }

    #[test]
    fn a_pending_invite_is_expired_in_the_store_only_by_the_run_that_settles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let open_box = || {
            let conn = crate::db::open_writer(&path, None, crate::db::DEVICE_MIGRATIONS).unwrap();
            InviteBox::open(Arc::new(Mutex::new(conn)), Arc::new(|| Timestamp(1_000))).unwrap()
        };
        let serving = open_box();
        serving.handle(peer(1), InviteMessage::Offer(offer(1)));
        // Another process opens the store beside it: it cannot answer, so it shows the
        // invite expired, and writes nothing.
        let beside = open_box();
        assert_eq!(beside.received()[0].state, InviteState::Expired);
        assert_eq!(
            beside.state(InviteId([1; 16])).unwrap(),
            Some(InviteState::Pending)
        );
        // The serving run settling keeps what it holds live.
        serving.settle_unanswered().unwrap();
        assert_eq!(serving.received()[0].state, InviteState::Pending);
        assert_eq!(
            serving.state(InviteId([1; 16])).unwrap(),
            Some(InviteState::Pending)
        );
        // A later run that runs the network writes the expiry down.
        drop(serving);
        let next = open_box();
        next.settle_unanswered().unwrap();
        assert_eq!(
            next.state(InviteId([1; 16])).unwrap(),
            Some(InviteState::Expired)
        );
    }

    #[test]
    fn a_flood_of_invites_stops_at_the_pending_limit() {
        let (_dir, b) = open();
        for n in 0..(MAX_PENDING_INVITES + 10) {
            let mut o = offer(0);
            o.id = InviteId([u8::try_from(n).unwrap(); 16]);
            b.handle(peer(1), InviteMessage::Offer(o));
        }
        assert_eq!(b.received().len(), MAX_PENDING_INVITES);
    }
}
