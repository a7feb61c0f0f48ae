//! Commands that act through a running `mapeo serve`: deciding whether a command runs here
//! (nobody holds the data folder) or is sent to the serve that holds it, and, in the serve,
//! answering those requests on the control socket.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mapeo_core::Manager;
use serde_json::Value;

use crate::control::{self, Request};
use crate::error::{CliError, CliResult};
use crate::home::{Access, Home};
use crate::out::Output;

/// Where a command runs.
pub enum Route {
    /// Here: this process holds the data folder.
    Here(Home),
    /// In the serve listening on this control socket.
    Serve(PathBuf),
}

/// Takes the data folder if it is free; else finds the control socket of the serve that
/// holds it.
pub fn route(dir: &Path) -> CliResult<Route> {
    match Home::open(dir, Access::Write) {
        Ok(home) => Ok(Route::Here(home)),
        Err(CliError::DataInUse(_)) => {
            let socket = control::socket_path(dir);
            if socket.exists() {
                Ok(Route::Serve(socket))
            } else {
                Err(CliError::Control(
                    "the data folder is in use by a mapeo process that takes no requests \
                     (a `mapeo sync`?); wait for it to finish"
                        .into(),
                ))
            }
        }
        Err(e) => Err(e),
    }
}

/// The control socket of the running serve, for a command that only a serve can carry out
/// (`what`: "invites are sent").
pub fn serving(dir: &Path, what: &'static str) -> CliResult<PathBuf> {
    match route(dir)? {
        Route::Serve(socket) => Ok(socket),
        Route::Here(_) => Err(CliError::NotServing(what)),
    }
}

/// Something the serve prints.
#[derive(Debug)]
pub struct Event {
    /// The event's name in JSON lines.
    pub kind: &'static str,
    /// Its fields.
    pub json: Value,
    /// The line for people.
    pub text: String,
}

impl Event {
    /// An event.
    pub fn new(kind: &'static str, json: Value, text: String) -> Self {
        Event { kind, json, text }
    }
}

/// What the serve's request handlers share.
pub struct Ctx {
    /// The device.
    pub manager: Arc<Manager>,
    /// Events for the serve to print.
    pub events: tokio::sync::mpsc::UnboundedSender<Event>,
}

impl Ctx {
    /// Hands an event to the serve's output.
    pub fn event(&self, e: Event) {
        let _ = self.events.send(e);
    }
}

/// Carries out one request in the serve.
#[cfg(unix)]
async fn handle(ctx: &Ctx, request: Request, conn: &mut control::Conn) -> CliResult<Output> {
    use super::{invites, map_share, members};
    let manager = &*ctx.manager;
    match request {
        Request::MembersInvite {
            project,
            device,
            role,
            role_name,
            role_description,
            timeout_secs,
        } => {
            members::invite_live(
                ctx,
                conn,
                (project, device, role, role_name, role_description),
                timeout_secs,
            )
            .await
        }
        Request::MembersCancel { invite } => members::cancel(manager, &invite),
        Request::MembersRemove {
            project,
            device,
            reason,
        } => members::remove(manager, project.as_deref(), &device, reason),
        Request::MembersRole {
            project,
            device,
            role,
            reason,
        } => members::set_role(manager, project.as_deref(), &device, &role, reason),
        Request::InvitesList {} => Ok(invites::list(manager, true)),
        Request::InvitesAccept { invite } => {
            let out = invites::accept(manager, &invite).await;
            if let Ok(o) = &out {
                ctx.event(joined_event(o));
            }
            out
        }
        Request::InvitesReject { invite } => invites::reject(manager, &invite),
        Request::MapsShare {
            map,
            device,
            timeout_secs,
        } => map_share::share_live(ctx, conn, &map, &device, timeout_secs).await,
        Request::MapsShares {} => Ok(map_share::list(manager, true)),
        Request::MapsAccept {
            share,
            timeout_secs,
        } => map_share::accept_live(ctx, conn, &share, timeout_secs).await,
        Request::MapsDecline { share } => map_share::decline(manager, &share).await,
    }
}

/// The serve's event for a project joined by an accepted invite.
pub fn joined_event(accepted: &Output) -> Event {
    Event::new("joined", accepted.json.clone(), accepted.text.clone())
}

/// Answers requests on the control socket until dropped (each connection's task with it).
#[cfg(unix)]
pub async fn answer(listener: control::Listener, ctx: Arc<Ctx>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(stream) => {
                    if conns.len() >= control::MAX_CONTROL_CONNECTIONS {
                        // Busy: the client sees the connection close without an answer.
                        drop(stream);
                        continue;
                    }
                    let ctx = ctx.clone();
                    conns.spawn(async move {
                        if let Some((mut conn, request)) = control::Conn::open(stream).await {
                            let result = handle(&ctx, request, &mut conn).await;
                            conn.finish(result).await;
                        }
                    });
                }
                // Out of file descriptors, say: wait a little instead of spinning.
                Err(_) => tokio::time::sleep(control::REQUEST_READ_TIMEOUT / 100).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}
