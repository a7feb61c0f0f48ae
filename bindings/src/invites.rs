//! Members and invites as the app sees them: the invite records and enums and their
//! conversions, the device's invite calls (send, cancel, list, accept, reject, subscribe) and a
//! project's member list and removal. Every method is a core call and a conversion; who may
//! invite, what an invite carries and when an invitee becomes a member are decided in the core
//! (`mapeo_core::manager::invites`).

use std::sync::Arc;

use mapeo_core::invites::{
    InviteId, InviteRole as CoreInviteRole, InviteState as CoreInviteState,
    ReceivedInvite as CoreReceivedInvite,
};
use mapeo_core::manager::{InviteOutcome as CoreInviteOutcome, SentInvite as CoreSent};

use crate::device::Mapeo;
use crate::error::MapeoError;
use crate::listen::{InviteListener, TaskHandle, subscribe, upgrade};
use crate::project::Project;
use crate::records::{DeviceType, ProjectStatus, Role, device_id, project_id};
use crate::runtime::run;

/// The role an invite offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum InviteRole {
    /// Manages the project: writes everything, assigns roles, invites.
    Coordinator,
    /// Records data.
    Member,
}

/// Where a received invite stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum InviteState {
    /// Waiting for this device's answer.
    Pending,
    /// Accepted here: joining, or joined.
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

/// How an invite this device sent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum InviteOutcome {
    /// Accepted: the invitee has the project and its role is recorded.
    Accepted,
    /// Rejected by the invitee.
    Rejected,
    /// The invitee was already in the project (or joined it by another invite).
    Already,
    /// Withdrawn here ([`Mapeo::cancel_invite`]) before an answer.
    Canceled,
}

/// An invite this device received. Everything in it but the two ids is what the inviter
/// wrote: show it as the inviter's words.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct ReceivedInvite {
    /// The invite's id (32 hex characters), to accept or reject it.
    pub invite_id: String,
    /// The project (64 hex characters).
    pub project_id: String,
    /// The project's name.
    pub project_name: Option<String>,
    /// The project's description.
    pub project_description: Option<String>,
    /// The project's color.
    pub project_color: Option<String>,
    /// The role offered.
    pub role: InviteRole,
    /// A name for the role, as the inviter put it.
    pub role_name: Option<String>,
    /// What the role means, as the inviter put it.
    pub role_description: Option<String>,
    /// The inviter's device name.
    pub inviter_name: String,
    /// The inviting device (64 hex characters; proven by the connection).
    pub inviter_device_id: String,
    /// When it arrived, ms since the epoch.
    pub received_at: i64,
    /// Where it stands.
    pub state: InviteState,
}

/// An invite this device sent that is still under way.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct SentInvite {
    /// The invite's id (32 hex characters), to cancel it.
    pub invite_id: String,
    /// The project (64 hex characters).
    pub project_id: String,
    /// The invited device (64 hex characters).
    pub device_id: String,
    /// Whether it was answered (then it can no longer be canceled).
    pub answered: bool,
}

/// A device in a project's member list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct Member {
    /// The device (64 hex characters).
    pub device_id: String,
    /// The name it gave, once its device info has arrived.
    pub name: Option<String>,
    /// The kind of device it said it is, once its device info has arrived.
    pub device_type: Option<DeviceType>,
    /// Its role now, as this device knows it.
    pub role: Role,
    /// When it was first given a role (by the giver's clock), ms since the epoch; unset for
    /// the creator.
    pub joined_at: Option<i64>,
}

impl From<InviteRole> for CoreInviteRole {
    fn from(r: InviteRole) -> Self {
        match r {
            InviteRole::Coordinator => CoreInviteRole::Coordinator,
            InviteRole::Member => CoreInviteRole::Member,
        }
    }
}

impl From<CoreInviteRole> for InviteRole {
    fn from(r: CoreInviteRole) -> Self {
        match r {
            CoreInviteRole::Coordinator => InviteRole::Coordinator,
            CoreInviteRole::Member => InviteRole::Member,
        }
    }
}

impl From<CoreInviteState> for InviteState {
    fn from(s: CoreInviteState) -> Self {
        match s {
            CoreInviteState::Pending => InviteState::Pending,
            CoreInviteState::Accepted => InviteState::Accepted,
            CoreInviteState::Rejected => InviteState::Rejected,
            CoreInviteState::Canceled => InviteState::Canceled,
            CoreInviteState::Expired => InviteState::Expired,
            CoreInviteState::Already => InviteState::Already,
        }
    }
}

impl From<CoreInviteOutcome> for InviteOutcome {
    fn from(o: CoreInviteOutcome) -> Self {
        match o {
            CoreInviteOutcome::Accepted => InviteOutcome::Accepted,
            CoreInviteOutcome::Rejected => InviteOutcome::Rejected,
            CoreInviteOutcome::Already => InviteOutcome::Already,
            CoreInviteOutcome::Canceled => InviteOutcome::Canceled,
        }
    }
}

impl From<CoreReceivedInvite> for ReceivedInvite {
    fn from(i: CoreReceivedInvite) -> Self {
        let o = i.offer;
        ReceivedInvite {
            invite_id: o.id.to_string(),
            project_id: o.project_id.to_string(),
            project_name: o.project_name,
            project_description: o.project_description,
            project_color: o.project_color,
            role: o.role.into(),
            role_name: o.role_name,
            role_description: o.role_description,
            inviter_name: o.inviter_name,
            inviter_device_id: i.from.to_string(),
            received_at: i.received_at.0,
            state: i.state.into(),
        }
    }
}

impl SentInvite {
    fn new(id: InviteId, s: CoreSent) -> Self {
        SentInvite {
            invite_id: id.to_string(),
            project_id: s.project.to_string(),
            device_id: s.to.to_string(),
            answered: s.answered,
        }
    }
}

impl From<mapeo_core::Member> for Member {
    fn from(m: mapeo_core::Member) -> Self {
        Member {
            device_id: m.device_id.to_string(),
            name: m.name,
            device_type: m.device_type.map(Into::into),
            role: m.role.into(),
            joined_at: m.joined_at.map(|t| t.0),
        }
    }
}

/// An invite id from the app, parsed with the core's parser.
fn invite_id(text: &str) -> Result<InviteId, MapeoError> {
    text.parse::<InviteId>()
        .map_err(|e| mapeo_core::Error::Id(e).into())
}

fn convert_received(invites: Vec<CoreReceivedInvite>) -> Vec<ReceivedInvite> {
    invites.into_iter().map(Into::into).collect()
}

#[uniffi::export]
impl Mapeo {
    /// Invites a connected device into a project with a role and waits for the end of it:
    /// the answer and, on accept, the join (up to the core's answer timeout, ten minutes).
    /// Only the creator and coordinators invite (`NotAllowed`); the device must be connected
    /// and not already invited to this project (`Invite`). The offer carries the project's
    /// name, description and color, the role and this device's name, never a key.
    /// Cancelling the call (the coroutine or task) stops waiting here; use
    /// [`Mapeo::cancel_invite`] to withdraw the invite itself.
    pub async fn invite(
        &self,
        project_id: String,
        device_id: String,
        role: InviteRole,
        role_name: Option<String>,
        role_description: Option<String>,
    ) -> Result<InviteOutcome, MapeoError> {
        let m = self.manager()?.clone();
        let (project, to) = (self::project_id(&project_id)?, self::device_id(&device_id)?);
        let outcome = run(async move {
            m.invite(&project, to, role.into(), role_name, role_description)
                .await
        })
        .await?;
        Ok(outcome.into())
    }

    /// Withdraws an invite this device sent that has not been answered yet (its
    /// [`Mapeo::invite`] call then ends with `Canceled`). `NotFound` if it is not under way,
    /// `Invite` if it was answered already.
    pub fn cancel_invite(&self, invite_id: String) -> Result<(), MapeoError> {
        Ok(self
            .manager()?
            .cancel_invite(self::invite_id(&invite_id)?)?)
    }

    /// Invites this device sent that are still under way, by invite id.
    pub fn sent_invites(&self) -> Vec<SentInvite> {
        self.inner
            .sent_invites()
            .into_iter()
            .map(|(id, s)| SentInvite::new(id, s))
            .collect()
    }

    /// Received invites waiting for an answer.
    pub fn pending_invites(&self) -> Vec<ReceivedInvite> {
        convert_received(self.inner.pending_invites())
    }

    /// Every invite this device received, with its state, oldest first.
    pub fn received_invites(&self) -> Vec<ReceivedInvite> {
        convert_received(self.inner.received_invites())
    }

    /// Accepts a pending invite and joins its project: receives the join details over the
    /// encrypted session, then waits for the record of its role to arrive by sync (and for
    /// the project's settings and members). Returns the joined project. `NotFound` for an
    /// unknown invite, `Invite` for one no longer pending, or when the inviter went away or
    /// canceled meanwhile.
    pub async fn accept_invite(&self, invite_id: String) -> Result<Arc<Project>, MapeoError> {
        let (m, id) = (self.manager()?.clone(), self::invite_id(&invite_id)?);
        let joined = run(async move {
            let project = m.accept_invite(id).await?;
            m.open_project(&project)
        })
        .await?;
        Ok(Project::wrap(joined))
    }

    /// Rejects a pending invite. `NotFound` for an unknown invite, `Invite` for one no longer
    /// pending.
    pub fn reject_invite(&self, invite_id: String) -> Result<(), MapeoError> {
        Ok(self
            .manager()?
            .reject_invite(self::invite_id(&invite_id)?)?)
    }

    /// Calls `listener` with every received invite and its state now, then after each change
    /// (an invite arrives, is answered, canceled, expires), throttled. Keep the handle: the
    /// subscription ends when it is cancelled or dropped.
    pub fn subscribe_invites(
        &self,
        listener: Arc<dyn InviteListener>,
    ) -> Result<Arc<TaskHandle>, MapeoError> {
        // Weak: a subscription must not keep a closed device alive.
        let m = Arc::downgrade(self.manager()?);
        subscribe(
            self.manager()?.subscribe_invites(),
            move || Ok(convert_received(upgrade(&m)?.received_invites())),
            move |invites: Vec<ReceivedInvite>| listener.on_invites(invites),
        )
    }

    /// The status of a project on this device (joining after an accept, joined, left), or
    /// none if this device does not hold it.
    pub fn project_status(&self, project_id: String) -> Result<Option<ProjectStatus>, MapeoError> {
        Ok(self
            .manager()?
            .project_status(&self::project_id(&project_id)?)?
            .map(Into::into))
    }
}

#[uniffi::export]
impl Project {
    /// The project's members: every device with a role, with the name and type it gave.
    /// Left and blocked devices only if `include_inactive`.
    pub fn members(&self, include_inactive: bool) -> Result<Vec<Member>, MapeoError> {
        Ok(self
            .inner
            .members(include_inactive)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Removes a member: blocks it, with an optional reason kept in the role record. Its
    /// writes from then on count nowhere, and it is sent nothing but the news. Only the
    /// creator and coordinators may (`NotAllowed`).
    pub fn remove_member(
        &self,
        device_id: String,
        reason: Option<String>,
    ) -> Result<(), MapeoError> {
        self.inner
            .remove_member(&self::device_id(&device_id)?, reason)?;
        Ok(())
    }
}
