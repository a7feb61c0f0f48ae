//! The steps of an invite on both sides. Inviter: offer → (accept) → join details →
//! (joined) → record the role. Invitee: accept → store the details (project *joining*) →
//! joined → wait for the role record to arrive by sync → *joined*. The inviter's role record
//! is the single point where the invitee becomes a member: before it, neither side counts it
//! a member and the invite can be sent again; after it, the invitee's project turns joined
//! as soon as the record reaches it (from the inviter or any member), so no step can leave a
//! member on one side only for longer than the next sync.

use std::collections::BTreeMap;

use tokio::sync::watch;

use super::{Manager, ProjectStatus, lock};
use crate::error::{Error, Result};
use crate::ids::{DeviceId, ProjectId};
use crate::invites::{
    INVITE_ANSWER_TIMEOUT, INVITE_STEP_TIMEOUT, InviteAnswer, InviteId, InviteMessage, InviteOffer,
    InviteRole, InviteState, ROLE_ARRIVAL_TIMEOUT, ReceivedInvite, Step, Waiter,
};
use crate::roles::PeerRole;
use crate::sync::SyncPhase;

/// How an invite this device sent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteOutcome {
    /// Accepted: the invitee has the project and its role is recorded.
    Accepted,
    /// Rejected by the invitee.
    Rejected,
    /// The invitee was already in the project (or joined it by another invite).
    Already,
    /// Withdrawn here before an answer.
    Canceled,
}

/// An invite this device sent that is still under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentInvite {
    /// The invited device.
    pub to: DeviceId,
    /// The project.
    pub project: ProjectId,
    /// Whether it was answered (then it can no longer be canceled).
    pub answered: bool,
}

/// Removes a sent invite from the list when its call ends, however it ends.
struct SentGuard<'a> {
    manager: &'a Manager,
    id: InviteId,
}

impl Drop for SentGuard<'_> {
    fn drop(&mut self) {
        lock(&self.manager.sent_invites).remove(&self.id);
    }
}

impl Manager {
    /// Invites a connected device into a project with a role, and waits for the end of it
    /// (the answer, and on accept the join). Only the creator and coordinators invite; one
    /// invite per device and project at a time. The offer carries the project's name,
    /// description and color, the role and this device's name — never a key; the join
    /// details go only to a device that accepted, over the encrypted session.
    pub async fn invite(
        &self,
        project: &ProjectId,
        to: DeviceId,
        role: InviteRole,
        role_name: Option<String>,
        role_description: Option<String>,
    ) -> Result<InviteOutcome> {
        let p = self.open_project(project)?;
        if !matches!(
            p.role(&self.device_id())?,
            PeerRole::Creator | PeerRole::Coordinator
        ) {
            return Err(Error::NotAllowed(
                "only the creator and coordinators invite",
            ));
        }
        // The creator can be invited back (its identity restored from the backup code on a
        // wiped or new phone): it gets the join details; its role needs no record.
        if to == self.device_id() {
            return Err(Error::NotAllowed("that device cannot be invited"));
        }
        if !self.network.is_connected(&to) {
            return Err(Error::NotConnected);
        }
        let id = InviteId::random();
        {
            let mut sent = lock(&self.sent_invites);
            if sent.values().any(|s| s.to == to && s.project == *project) {
                return Err(Error::InvitePending);
            }
            sent.insert(
                id,
                SentInvite {
                    to,
                    project: *project,
                    answered: false,
                },
            );
        }
        let _guard = SentGuard { manager: self, id };
        let settings = p.settings()?;
        let offer = InviteOffer {
            id,
            project_id: *project,
            project_name: settings.name,
            project_description: settings.project_description,
            project_color: settings.project_color,
            role,
            role_name,
            role_description,
            inviter_name: self
                .device_info()?
                .map_or_else(|| super::DEFAULT_DEVICE_NAME.to_owned(), |i| i.name),
        };
        let mut waiter = self.invites.wait_for(id);
        if !self.invites.send(to, InviteMessage::Offer(offer)) {
            return Err(Error::NotConnected);
        }
        let answer = loop {
            match waiter.next(to, INVITE_ANSWER_TIMEOUT).await {
                Step::Message(InviteMessage::Answer { answer, .. }) => break answer,
                Step::Message(InviteMessage::Cancel { .. }) => return Ok(InviteOutcome::Canceled),
                Step::Message(_) => {}
                Step::PeerGone => return Err(Error::InviteInterrupted),
                Step::TimedOut => {
                    self.invites.send(to, InviteMessage::Cancel { id });
                    return Err(Error::InviteInterrupted);
                }
            }
        };
        {
            let mut sent = lock(&self.sent_invites);
            if let Some(s) = sent.get_mut(&id) {
                s.answered = true;
            }
        }
        match answer {
            InviteAnswer::Reject => return Ok(InviteOutcome::Rejected),
            InviteAnswer::Already => return Ok(InviteOutcome::Already),
            InviteAnswer::Accept => {}
        }
        if self.fault(InviteFault::AfterAccept).await {
            return Err(Error::InviteInterrupted);
        }
        self.finish_invite(&p, &mut waiter, id, to, role).await?;
        Ok(InviteOutcome::Accepted)
    }

    /// After an accept: send the join details, wait for the invitee to hold them, record
    /// its role. Fails (and records nothing) if the invitee goes away first.
    async fn finish_invite(
        &self,
        p: &crate::Project,
        waiter: &mut Waiter<'_>,
        id: InviteId,
        to: DeviceId,
        role: InviteRole,
    ) -> Result<()> {
        let details = self.join_details(&p.id())?.to_secret_bytes().to_vec();
        if !self
            .invites
            .send(to, InviteMessage::JoinDetails { id, details })
        {
            return Err(Error::InviteInterrupted);
        }
        loop {
            match waiter.next(to, INVITE_STEP_TIMEOUT).await {
                Step::Message(InviteMessage::Joined { .. }) => break,
                Step::Message(_) => {}
                Step::PeerGone | Step::TimedOut => return Err(Error::InviteInterrupted),
            }
        }
        if self.fault(InviteFault::BeforeRoleRecorded).await {
            return Err(Error::InviteInterrupted);
        }
        // With this fault the connection drops just before the role is recorded, so the
        // record cannot reach the invitee in this session.
        self.fault(InviteFault::RoleRecordedOffline).await;
        if to != p.creator() {
            p.assign_role(&to, role.role(), None)?;
        }
        Ok(())
    }

    /// Withdraws an invite this device sent that has not been answered yet.
    pub fn cancel_invite(&self, id: InviteId) -> Result<()> {
        let to = {
            let sent = lock(&self.sent_invites);
            let s = sent.get(&id).ok_or(Error::NotFound { what: "invite" })?;
            if s.answered {
                return Err(Error::InviteNotPending);
            }
            s.to
        };
        self.invites.send(to, InviteMessage::Cancel { id });
        Waiter::inject(&self.invites, id, to, InviteMessage::Cancel { id });
        Ok(())
    }

    /// Invites this device sent that are still under way.
    pub fn sent_invites(&self) -> BTreeMap<InviteId, SentInvite> {
        lock(&self.sent_invites)
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect()
    }

    /// Every invite this device received, with its state, oldest first.
    pub fn received_invites(&self) -> Vec<ReceivedInvite> {
        self.invites.received()
    }

    /// Received invites waiting for an answer.
    pub fn pending_invites(&self) -> Vec<ReceivedInvite> {
        self.invites
            .received()
            .into_iter()
            .filter(|i| i.state == InviteState::Pending)
            .collect()
    }

    /// Received invites as they change (the current value first).
    pub fn subscribe_invites(&self) -> watch::Receiver<BTreeMap<InviteId, ReceivedInvite>> {
        self.invites.subscribe()
    }

    fn pending(&self, id: InviteId) -> Result<ReceivedInvite> {
        let invite = self
            .invites
            .received()
            .into_iter()
            .find(|i| i.offer.id == id)
            .ok_or(Error::NotFound { what: "invite" })?;
        if invite.state != InviteState::Pending {
            return Err(Error::InviteNotPending);
        }
        Ok(invite)
    }

    /// Rejects a pending invite.
    pub fn reject_invite(&self, id: InviteId) -> Result<()> {
        let invite = self.pending(id)?;
        self.invites.set_state(id, InviteState::Rejected)?;
        self.invites.send(
            invite.from,
            InviteMessage::Answer {
                id,
                answer: InviteAnswer::Reject,
            },
        );
        Ok(())
    }

    /// Accepts a pending invite and joins the project: receives the join details, waits for
    /// the record of its role to arrive by sync, then for the initial sync (roles and
    /// configuration) while a connected peer can give it. Returns the project once joined,
    /// or, when no connected peer is left to complete the initial sync, at once with the
    /// project still joining (the next sync completes it). Other pending invites to the same
    /// project are answered "already".
    pub async fn accept_invite(&self, id: InviteId) -> Result<ProjectId> {
        let invite = self.pending(id)?;
        let from = invite.from;
        let project_id = invite.offer.project_id;
        let mut waiter = self.invites.wait_for(id);
        self.invites.set_state(id, InviteState::Accepted)?;
        let sent = self.invites.send(
            from,
            InviteMessage::Answer {
                id,
                answer: InviteAnswer::Accept,
            },
        );
        if !sent {
            self.invites.set_state(id, InviteState::Expired)?;
            return Err(Error::InviteInterrupted);
        }
        let details = loop {
            match waiter.next(from, INVITE_STEP_TIMEOUT).await {
                Step::Message(InviteMessage::JoinDetails { details, .. }) => break details,
                Step::Message(InviteMessage::Cancel { .. }) => {
                    self.invites.set_state(id, InviteState::Canceled)?;
                    return Err(Error::InviteCanceled);
                }
                Step::Message(_) => {}
                Step::PeerGone | Step::TimedOut => {
                    self.invites.set_state(id, InviteState::Expired)?;
                    return Err(Error::InviteInterrupted);
                }
            }
        };
        let details = crate::JoinDetails::from_secret_bytes(&details)
            .filter(|d| d.verify(&project_id).is_ok())
            .ok_or(Error::InvalidInvite);
        let details = match details {
            Ok(d) => d,
            Err(e) => {
                self.invites.set_state(id, InviteState::Expired)?;
                return Err(e);
            }
        };
        let project = self.hold_invited_project(&details)?;
        if self.fault(InviteFault::BeforeJoinedSent).await {
            return Err(Error::InviteInterrupted);
        }
        if !self.invites.send(from, InviteMessage::Joined { id }) {
            return Err(Error::InviteInterrupted);
        }
        let mut role = project.subscribe_own_role();
        // The creator (invited back after a restore) holds its role from the project key.
        let active = |r: &PeerRole| {
            matches!(
                r,
                PeerRole::Creator | PeerRole::Coordinator | PeerRole::Member
            )
        };
        tokio::select! {
            r = tokio::time::timeout(ROLE_ARRIVAL_TIMEOUT, role.wait_for(active)) => {
                if !matches!(r, Ok(Ok(_))) {
                    return Err(Error::InviteInterrupted);
                }
            }
            step = waiter.next(from, ROLE_ARRIVAL_TIMEOUT) => {
                // The inviter went away first; the role may still have arrived just now.
                if !active(&project.subscribe_own_role().borrow()) {
                    tracing::info!("invite interrupted before the role arrived: {step:?}");
                    return Err(Error::InviteInterrupted);
                }
            }
        }
        // Joining until the initial sync completes (see `role_arrived`).
        lock(&self.incomplete_joins).insert(project_id);
        // Only a sync that knew of our role counts (before it, only `auth` was ours to see).
        self.network.board().forget_initial_sync(&project_id);
        self.fault(InviteFault::AfterRoleArrived).await;
        self.write_device_info(&project)?;
        self.invites.answer_already(&project_id, id);
        // Initial sync (auth and config: the project's name, members, presets) before
        // returning, so the app can show the project at once; but only while a connected
        // peer can give it: without one the project stays joining, and the next sync
        // completes it.
        match self
            .network
            .board()
            .wait_while_connected(&project_id, SyncPhase::Initial, INVITE_STEP_TIMEOUT, || {
                // The inviter has the project: while it is connected, its session's state for
                // the project is on its way to the board.
                self.network.is_connected(&from)
            })
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::info!("joined; no peer left to complete the initial sync"),
            Err(e) => tracing::info!("joined; initial sync not complete yet: {e}"),
        }
        self.role_arrived(&project)?;
        Ok(project_id)
    }

    /// The status of a project here (for callers that only hold its id).
    pub fn project_status(&self, id: &ProjectId) -> Result<Option<ProjectStatus>> {
        Ok(self
            .list_projects()?
            .into_iter()
            .find(|p| p.project_id == *id)
            .map(|p| p.status))
    }
}

/// Points where a test makes an invite lose its connection, as a crash or a dropped Wi-Fi
/// would. Not for apps.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteFault {
    /// Inviter: the invitee accepted; the connection drops before the join details go.
    AfterAccept,
    /// Invitee: the join details are stored; the connection drops before it says so.
    BeforeJoinedSent,
    /// Inviter: the invitee holds the details; the connection drops before its role is
    /// recorded (nothing is recorded).
    BeforeRoleRecorded,
    /// Inviter: the connection drops, then the role is recorded (the invitee gets it at the
    /// next sync).
    RoleRecordedOffline,
    /// Invitee: its role arrived; the connection drops before the initial sync can complete
    /// (the project stays joining until the next sync).
    AfterRoleArrived,
}

impl Manager {
    /// Makes the next invite step at `fault` drop every connection (tests only).
    #[doc(hidden)]
    pub fn inject_invite_fault(&self, fault: Option<InviteFault>) {
        *lock(&self.invite_fault) = fault;
    }

    /// Whether the fault `at` was set; if so, clears it and drops every connection.
    async fn fault(&self, at: InviteFault) -> bool {
        let hit = {
            let mut f = lock(&self.invite_fault);
            let hit = *f == Some(at);
            if hit {
                *f = None;
            }
            hit
        };
        if hit {
            self.network
                .disconnect_all(crate::sync::CloseReason::ShuttingDown)
                .await;
        }
        hit
    }
}

/// Invites left pending by another run.
impl Manager {
    /// Stores as expired the received invites left pending by an earlier run (their
    /// inviter's connection went with it). Opening the device never writes that down, so
    /// that a process opened beside a running one (a read-only command beside `mapeo
    /// serve`) leaves the running one's invites pending; the process that runs the network
    /// calls this when it starts. Invites pending in this process stay pending.
    pub fn settle_received_invites(&self) -> Result<()> {
        Ok(self.invites.settle_unanswered()?)
    }
}
