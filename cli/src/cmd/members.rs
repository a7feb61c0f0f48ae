//! `mapeo members`: the project's members (list), and what a coordinator does about them:
//! invite a connected device (through the running serve, which holds the connection),
//! cancel an invite, remove a member, change a role (here, or through the serve when it
//! holds the data folder).

use std::path::Path;
use std::time::Duration;

use mapeo_core::invites::{INVITE_STEP_TIMEOUT, InviteId, InviteRole};
use mapeo_core::manager::InviteOutcome;
use mapeo_core::project::role_doc_id;
use mapeo_core::schema::DocValue;
use mapeo_core::{DeviceId, Manager, PeerRole, Project, ProjectId};
use serde_json::{Value, json};

use crate::args::{GivenRole, MembersCommand};
use crate::cmd::remote::{self, Ctx, Event, Route};
use crate::control::{self, QUICK_REPLY_TIMEOUT, Request};
use crate::error::{CliError, CliResult, InviteEnd};
use crate::home::{Access, Home};
use crate::out::{Output, iso, table};
use crate::select;

/// How long an invite may take to finish once answered (join details, the invitee holding
/// them, its role recorded), beyond the time given to connect and answer.
pub const INVITE_FINISH_TIMEOUT: Duration =
    Duration::from_secs(2 * INVITE_STEP_TIMEOUT.as_secs() + 10);

/// Runs a members command.
pub fn run(
    dir: &Path,
    selection: Option<&str>,
    cmd: MembersCommand,
    json: bool,
) -> CliResult<Output> {
    let project = selection.map(str::to_owned);
    match cmd {
        MembersCommand::List { all } => {
            let home = Home::open(dir, Access::Read)?;
            let project = select::project(&home.manager, selection)?;
            list(&home.manager, &project, all)
        }
        MembersCommand::Invite {
            device,
            role,
            role_name,
            role_description,
            timeout,
        } => {
            let socket = remote::serving(dir, "invites are sent")?;
            let request = Request::MembersInvite {
                project,
                device,
                role: role.name().to_owned(),
                role_name,
                role_description,
                timeout_secs: timeout,
            };
            let limit = Duration::from_secs(timeout) + INVITE_FINISH_TIMEOUT;
            let out = control::request(&socket, &request, limit, |v| {
                if !json && let Some(text) = v["text"].as_str() {
                    eprintln!("{text}");
                }
            })?;
            let end = match out.json["outcome"].as_str() {
                Some("rejected") => Some(InviteEnd::Rejected),
                Some("canceled") => Some(InviteEnd::Canceled),
                _ => None,
            };
            match end {
                Some(end) => {
                    crate::cmd::print(&out, json);
                    Err(CliError::InviteNotAccepted(end))
                }
                None => Ok(out),
            }
        }
        MembersCommand::Cancel { invite } => {
            let socket = remote::serving(dir, "invites are canceled")?;
            control::request(
                &socket,
                &Request::MembersCancel { invite },
                QUICK_REPLY_TIMEOUT,
                |_| {},
            )
        }
        MembersCommand::Remove { device, reason } => match remote::route(dir)? {
            Route::Here(home) => remove(&home.manager, selection, &device, reason),
            Route::Serve(socket) => control::request(
                &socket,
                &Request::MembersRemove {
                    project,
                    device,
                    reason,
                },
                QUICK_REPLY_TIMEOUT,
                |_| {},
            ),
        },
        MembersCommand::Role {
            device,
            role,
            reason,
        } => match remote::route(dir)? {
            Route::Here(home) => set_role(&home.manager, selection, &device, role.name(), reason),
            Route::Serve(socket) => control::request(
                &socket,
                &Request::MembersRole {
                    project,
                    device,
                    role: role.name().to_owned(),
                    reason,
                },
                QUICK_REPLY_TIMEOUT,
                |_| {},
            ),
        },
    }
}

/// The reason kept with a device's current role record, if any.
fn role_reason(project: &Project, device: &DeviceId) -> Option<String> {
    match project.get(&role_doc_id(device)) {
        Ok(d) => match d.doc.value {
            DocValue::Role(r) => r.reason,
            _ => None,
        },
        Err(_) => None,
    }
}

/// One member as JSON.
fn member_json(project: &Project, me: &DeviceId, m: &mapeo_core::Member) -> Value {
    json!({
        "deviceId": m.device_id.to_string(),
        "name": m.name,
        "deviceType": m.device_type.map(|t| t.to_string()),
        "role": select::role_name(m.role),
        "joinedAt": m.joined_at.map(iso),
        "reason": role_reason(project, &m.device_id),
        "thisDevice": m.device_id == *me,
    })
}

/// `members list`: active members, or everyone who had a role with `all`.
pub fn list(manager: &Manager, project: &Project, all: bool) -> CliResult<Output> {
    let me = manager.device_id();
    let members = project.members(all)?;
    let mut rows = Vec::new();
    let mut out = Vec::new();
    for m in &members {
        out.push(member_json(project, &me, m));
        let name = m.name.clone().unwrap_or_default();
        rows.push(vec![
            m.device_id.short(),
            if m.device_id == me {
                format!("{name} (this device)")
            } else {
                name
            },
            m.device_type.map(|t| t.to_string()).unwrap_or_default(),
            select::role_name(m.role).to_owned(),
            m.joined_at.map_or_else(|| "-".to_owned(), iso),
        ]);
    }
    Ok(Output::new(
        json!({ "projectId": project.id().to_string(), "members": out }),
        table(&["DEVICE", "NAME", "TYPE", "ROLE", "JOINED"], &rows),
    ))
}

/// The member's row after a role change.
fn changed(
    manager: &Manager,
    project: &Project,
    device: &DeviceId,
    what: String,
) -> CliResult<Output> {
    let me = manager.device_id();
    let member = project
        .members(true)?
        .into_iter()
        .find(|m| m.device_id == *device)
        .ok_or_else(|| CliError::UnknownDevice {
            among: "member of this project",
            selection: device.to_string(),
            hint: "",
        })?;
    Ok(Output::new(
        json!({
            "projectId": project.id().to_string(),
            "member": member_json(project, &me, &member),
        }),
        format!("{what} The record reaches the others at the next sync."),
    ))
}

/// `members remove`: blocks a member.
pub fn remove(
    manager: &Manager,
    selection: Option<&str>,
    device: &str,
    reason: Option<String>,
) -> CliResult<Output> {
    let project = select::project(manager, selection)?;
    let member = select::member(&project, device)?;
    if member.role == PeerRole::Blocked {
        return Err(CliError::BadInput(format!(
            "{} is already removed from this project",
            member.device_id.short()
        )));
    }
    project.remove_member(&member.device_id, reason)?;
    let name = member.name.unwrap_or_else(|| member.device_id.short());
    changed(
        manager,
        &project,
        &member.device_id,
        format!("{name} is removed from the project."),
    )
}

fn given_role(text: &str) -> CliResult<GivenRole> {
    match text {
        "member" => Ok(GivenRole::Member),
        "coordinator" => Ok(GivenRole::Coordinator),
        other => Err(CliError::BadInput(format!(
            "{other:?} is not a role to give: member or coordinator"
        ))),
    }
}

fn invite_role(role: GivenRole) -> InviteRole {
    match role {
        GivenRole::Member => InviteRole::Member,
        GivenRole::Coordinator => InviteRole::Coordinator,
    }
}

/// `members role`: gives a member (or a removed one) another role.
pub fn set_role(
    manager: &Manager,
    selection: Option<&str>,
    device: &str,
    role: &str,
    reason: Option<String>,
) -> CliResult<Output> {
    let role = invite_role(given_role(role)?).role();
    let project = select::project(manager, selection)?;
    let member = select::member(&project, device)?;
    if member.role == role {
        return Err(CliError::BadInput(format!(
            "{} is already {} in this project",
            member.device_id.short(),
            select::role_name(role)
        )));
    }
    project.assign_role(&member.device_id, role, reason)?;
    let name = member.name.unwrap_or_else(|| member.device_id.short());
    changed(
        manager,
        &project,
        &member.device_id,
        format!("{name} is now {}.", select::role_name(role)),
    )
}

/// What a sent invite is about, for events and the answer.
struct Sent<'a> {
    manager: &'a Manager,
    project: &'a Project,
    id: Option<InviteId>,
    to: DeviceId,
    role: GivenRole,
}

impl Sent<'_> {
    fn json(&self, state: &str) -> Value {
        json!({
            "direction": "sent",
            "inviteId": self.id.map(|i| i.to_string()),
            "deviceId": self.to.to_string(),
            "deviceName": select::any_device_name(self.manager, Some(self.project), &self.to),
            "projectId": self.project.id().to_string(),
            "projectName": self.project.settings().ok().and_then(|s| s.name),
            "role": self.role.name(),
            "state": state,
        })
    }

    fn who(&self) -> String {
        format!(
            "{} ({})",
            select::any_device_name(self.manager, Some(self.project), &self.to),
            self.to.short()
        )
    }
}

/// Waits until `device` is connected, or the deadline.
async fn connected(manager: &Manager, device: DeviceId, deadline: tokio::time::Instant) -> bool {
    let mut peers = manager.subscribe_peers();
    let wait = peers.wait_for(|m| m.get(&device).is_some_and(|p| p.connected));
    matches!(tokio::time::timeout_at(deadline, wait).await, Ok(Ok(_)))
}

/// `members invite`, in the serve: waits for the device to connect (up to the timeout),
/// sends the invite, reports it, and waits for the outcome. A client that hangs up, or no
/// answer in time, cancels the invite.
pub async fn invite_live(
    ctx: &Ctx,
    conn: &mut control::Conn,
    request: (
        Option<String>,
        String,
        String,
        Option<String>,
        Option<String>,
    ),
    timeout_secs: u64,
) -> CliResult<Output> {
    let (selection, device, role, role_name, role_description) = request;
    let manager = &*ctx.manager;
    let role = given_role(&role)?;
    let project = select::project(manager, selection.as_deref())?;
    let project_id: ProjectId = project.id();
    let to = select::invitee(manager, &device)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout_secs);
    let mut sent = Sent {
        manager,
        project: &project,
        id: None,
        to,
        role,
    };
    let mut told_waiting = false;
    loop {
        let fut = manager.invite(
            &project_id,
            to,
            invite_role(role),
            role_name.clone(),
            role_description.clone(),
        );
        tokio::pin!(fut);
        // One look: errors found before anything is sent come back at once.
        let first = tokio::select! {
            biased;
            r = &mut fut => Some(r),
            () = std::future::ready(()) => None,
        };
        match first {
            Some(Err(mapeo_core::Error::NotConnected)) => {
                if !told_waiting {
                    told_waiting = true;
                    conn.progress(json!({
                        "event": "waiting",
                        "deviceId": to.to_string(),
                        "text": format!("Waiting for {} to connect…", to.short()),
                    }))
                    .await;
                }
                if !connected(manager, to, deadline).await {
                    return Err(CliError::NotConnected {
                        device: to.short(),
                        secs: timeout_secs,
                    });
                }
                continue;
            }
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(outcome)) => return Ok(ended(ctx, &sent, outcome, false)),
            None => {}
        }
        sent.id = manager
            .sent_invites()
            .into_iter()
            .find(|(_, s)| s.to == to && s.project == project_id)
            .map(|(id, _)| id);
        let text = format!(
            "Invite {} sent to {}; waiting for the answer (cancel: mapeo members cancel {}).",
            sent.id.map(|i| i.to_string()).unwrap_or_default(),
            sent.who(),
            sent.id.map(|i| i.to_string()).unwrap_or_default(),
        );
        ctx.event(Event::new("invite", sent.json("sent"), text.clone()));
        let mut progress = sent.json("sent");
        if let Value::Object(o) = &mut progress {
            o.insert("event".into(), json!("invite"));
            o.insert("text".into(), json!(text));
        }
        conn.progress(progress).await;
        let mut timed_out = false;
        let result = tokio::select! {
            r = &mut fut => r,
            () = tokio::time::sleep_until(deadline) => {
                timed_out = true;
                withdraw(manager, sent.id);
                finish(&mut fut).await
            }
            () = conn.closed() => {
                withdraw(manager, sent.id);
                finish(&mut fut).await
            }
        };
        return match result {
            Ok(outcome) => Ok(ended(ctx, &sent, outcome, timed_out)),
            Err(e) => {
                let mut v = sent.json("failed");
                if let Value::Object(o) = &mut v {
                    o.insert("error".into(), json!(e.to_string()));
                }
                ctx.event(Event::new(
                    "invite",
                    v,
                    format!("Invite to {} failed: {e}.", sent.who()),
                ));
                Err(e.into())
            }
        };
    }
}

/// Cancels an invite being waited on, if it is still unanswered.
fn withdraw(manager: &Manager, id: Option<InviteId>) {
    if let Some(id) = id {
        // Answered already: the invite finishes by itself.
        let _ = manager.cancel_invite(id);
    }
}

/// Lets an invite that was withdrawn (or answered) finish, bounded.
async fn finish(
    fut: &mut std::pin::Pin<
        &mut impl std::future::Future<Output = mapeo_core::Result<InviteOutcome>>,
    >,
) -> mapeo_core::Result<InviteOutcome> {
    match tokio::time::timeout(INVITE_FINISH_TIMEOUT, fut.as_mut()).await {
        Ok(r) => r,
        Err(_) => Err(mapeo_core::Error::InviteInterrupted),
    }
}

/// The answer (and the serve's event) for an invite that ended.
fn ended(ctx: &Ctx, sent: &Sent<'_>, outcome: InviteOutcome, timed_out: bool) -> Output {
    let (word, text) = match outcome {
        InviteOutcome::Accepted => (
            "accepted",
            format!(
                "{} accepted and joined as {}.",
                sent.who(),
                sent.role.name()
            ),
        ),
        InviteOutcome::Rejected => ("rejected", format!("{} rejected the invite.", sent.who())),
        InviteOutcome::Already => (
            "already",
            format!("{} is already in the project.", sent.who()),
        ),
        InviteOutcome::Canceled if timed_out => (
            "canceled",
            format!(
                "No answer from {} in time: the invite was withdrawn.",
                sent.who()
            ),
        ),
        InviteOutcome::Canceled => (
            "canceled",
            format!("The invite to {} was canceled.", sent.who()),
        ),
    };
    let mut v = sent.json(word);
    ctx.event(Event::new("invite", v.clone(), text.clone()));
    if let Value::Object(o) = &mut v {
        o.remove("direction");
        o.remove("state");
        o.insert("outcome".into(), json!(word));
        o.insert("timedOut".into(), json!(timed_out));
    }
    Output::new(v, text)
}

/// `members cancel`, in the serve.
pub fn cancel(manager: &Manager, selection: &str) -> CliResult<Output> {
    let (id, sent) = select::sent_invite(manager, selection)?;
    manager.cancel_invite(id)?;
    Ok(Output::new(
        json!({
            "inviteId": id.to_string(),
            "deviceId": sent.to.to_string(),
            "projectId": sent.project.to_string(),
            "canceled": true,
        }),
        format!("Invite {id} canceled."),
    ))
}
