//! `mapeo invites`: the invites this device received (and sent), and answering one. An
//! answer travels over the inviter's live connection, which the running serve holds, so
//! accept and reject go through it; joining after an accept turns the project's data sync
//! on. Also how invites read in serve's events.

use std::path::Path;
use std::time::Duration;

use mapeo_core::invites::{
    INVITE_STEP_TIMEOUT, InviteRole, InviteState, ROLE_ARRIVAL_TIMEOUT, ReceivedInvite,
};
use mapeo_core::{Manager, ProjectStatus};
use serde_json::{Value, json};

use crate::args::InvitesCommand;
use crate::cmd::remote::{self, Route};
use crate::control::{self, QUICK_REPLY_TIMEOUT, Request};
use crate::error::{CliError, CliResult};
use crate::out::{Output, iso, table};
use crate::select;

/// Longest an accept may take: the join details, the role record arriving, the first
/// exchange of the project's settings and members.
pub const ACCEPT_TIMEOUT: Duration =
    Duration::from_secs(2 * INVITE_STEP_TIMEOUT.as_secs() + ROLE_ARRIVAL_TIMEOUT.as_secs() + 10);

/// Runs an invites command.
pub fn run(dir: &Path, cmd: InvitesCommand) -> CliResult<Output> {
    match cmd {
        InvitesCommand::List => match remote::route(dir)? {
            Route::Here(home) => Ok(list(&home.manager, false)),
            Route::Serve(socket) => control::request(
                &socket,
                &Request::InvitesList {},
                QUICK_REPLY_TIMEOUT,
                |_| {},
            ),
        },
        InvitesCommand::Accept { invite } => {
            let socket = remote::serving(dir, "invites are answered")?;
            control::request(
                &socket,
                &Request::InvitesAccept { invite },
                ACCEPT_TIMEOUT + QUICK_REPLY_TIMEOUT,
                |_| {},
            )
        }
        InvitesCommand::Reject { invite } => {
            let socket = remote::serving(dir, "invites are answered")?;
            control::request(
                &socket,
                &Request::InvitesReject { invite },
                QUICK_REPLY_TIMEOUT,
                |_| {},
            )
        }
    }
}

/// The name of an invite's state as printed; a pending one "received" in events.
pub fn state_name(s: InviteState) -> &'static str {
    match s {
        InviteState::Pending => "pending",
        InviteState::Accepted => "accepted",
        InviteState::Rejected => "rejected",
        InviteState::Canceled => "canceled",
        InviteState::Expired => "expired",
        InviteState::Already => "already",
    }
}

fn role_word(r: InviteRole) -> &'static str {
    match r {
        InviteRole::Coordinator => "coordinator",
        InviteRole::Member => "member",
    }
}

/// A received invite as JSON.
pub fn invite_json(i: &ReceivedInvite) -> Value {
    json!({
        "inviteId": i.offer.id.to_string(),
        "from": i.from.to_string(),
        "fromName": i.offer.inviter_name,
        "projectId": i.offer.project_id.to_string(),
        "projectName": i.offer.project_name,
        "projectDescription": i.offer.project_description,
        "role": role_word(i.offer.role),
        "roleName": i.offer.role_name,
        "roleDescription": i.offer.role_description,
        "receivedAt": iso(i.received_at),
        "state": state_name(i.state),
    })
}

/// A serve event about a received invite whose state is now `i.state` (new if `fresh`).
pub fn received_event(i: &ReceivedInvite, fresh: bool, auto_accept: bool) -> (Value, String) {
    let mut v = invite_json(i);
    let word = if fresh && i.state == InviteState::Pending {
        "received"
    } else {
        state_name(i.state)
    };
    if let Value::Object(o) = &mut v {
        o.insert("direction".into(), json!("received"));
        o.insert("state".into(), json!(word));
    }
    let id = i.offer.id.to_string();
    let project = i.offer.project_name.as_deref().unwrap_or("(unnamed)");
    let from = format!("{} ({})", i.offer.inviter_name, i.from.short());
    let text = match (word, auto_accept) {
        ("received", true) => {
            format!(
                "Invite {id} from {from} to join {project:?}: accepting (--accept-invites-from)."
            )
        }
        ("received", false) => format!(
            "Invite {id} from {from} to join {project:?} as {}.\n  Answer: mapeo invites accept {id}   or   mapeo invites reject {id}",
            role_word(i.offer.role)
        ),
        (w, _) => format!("Invite {id} from {from} to join {project:?}: {w}."),
    };
    (v, text)
}

/// `invites list`: received invites (every state, oldest first) and sent ones under way.
pub fn list(manager: &Manager, serving: bool) -> Output {
    let mut received = manager.received_invites();
    received.sort_by_key(|i| (i.received_at, i.offer.id));
    let sent = manager.sent_invites();
    let mut rows: Vec<Vec<String>> = received
        .iter()
        .map(|i| {
            vec![
                i.offer.id.to_string(),
                "received".into(),
                format!("{} ({})", i.offer.inviter_name, i.from.short()),
                i.offer.project_name.clone().unwrap_or_default(),
                role_word(i.offer.role).into(),
                state_name(i.state).into(),
            ]
        })
        .collect();
    let sent_json: Vec<Value> = sent
        .iter()
        .map(|(id, s)| {
            let project = manager.open_project(&s.project).ok();
            let project_name = project
                .as_ref()
                .and_then(|p| p.settings().ok())
                .and_then(|s| s.name);
            rows.push(vec![
                id.to_string(),
                "sent".into(),
                format!(
                    "to {} ({})",
                    select::any_device_name(manager, project.as_deref(), &s.to),
                    s.to.short()
                ),
                project_name.clone().unwrap_or_default(),
                "-".into(),
                if s.answered { "answered" } else { "waiting" }.into(),
            ]);
            json!({
                "inviteId": id.to_string(),
                "to": s.to.to_string(),
                "projectId": s.project.to_string(),
                "projectName": project_name,
                "answered": s.answered,
            })
        })
        .collect();
    let mut text = if rows.is_empty() {
        "No invites.".to_owned()
    } else {
        table(
            &["INVITE", "DIRECTION", "WHO", "PROJECT", "ROLE", "STATE"],
            &rows,
        )
    };
    if !serving {
        text.push_str(
            "\n(no `mapeo serve` is running on this data folder: invites arrive while it runs)",
        );
    }
    Output::new(
        json!({
            "serving": serving,
            "received": received.iter().map(invite_json).collect::<Vec<_>>(),
            "sent": sent_json,
        }),
        text,
    )
}

/// Accepts a received invite (selected by id or prefix), joins, and turns the project's data
/// sync on. Bounded by [`ACCEPT_TIMEOUT`].
pub async fn accept(manager: &Manager, selection: &str) -> CliResult<Output> {
    let invite = select::received_invite(manager, selection)?;
    let id = invite.offer.id;
    let joined = tokio::time::timeout(ACCEPT_TIMEOUT, manager.accept_invite(id))
        .await
        .map_err(|_| {
            CliError::Network(format!(
                "joining did not finish within {} s; it completes at the next sync with a member",
                ACCEPT_TIMEOUT.as_secs()
            ))
        })??;
    manager.start_sync(&joined)?;
    let project = manager.open_project(&joined)?;
    let name = project
        .settings()?
        .name
        .or(invite.offer.project_name.clone());
    let status = manager.project_status(&joined)?;
    let role = select::role_name(project.role(&manager.device_id())?);
    Ok(Output::new(
        json!({
            "inviteId": id.to_string(),
            "projectId": joined.to_string(),
            "projectName": name,
            "role": role,
            "status": match status {
                Some(ProjectStatus::Joined) => "joined",
                Some(ProjectStatus::Joining) => "joining",
                Some(ProjectStatus::Left) => "left",
                None => "unknown",
            },
        }),
        format!(
            "Joined {:?} as {role}.",
            name.unwrap_or_else(|| joined.short())
        ),
    ))
}

/// Rejects a received invite (selected by id or prefix).
pub fn reject(manager: &Manager, selection: &str) -> CliResult<Output> {
    let invite = select::received_invite(manager, selection)?;
    manager.reject_invite(invite.offer.id)?;
    let mut v = invite_json(&invite);
    if let Value::Object(o) = &mut v {
        o.insert("state".into(), json!("rejected"));
    }
    Ok(Output::new(
        v,
        format!(
            "Rejected the invite from {} to join {:?}.",
            invite.offer.inviter_name,
            invite.offer.project_name.unwrap_or_default()
        ),
    ))
}
