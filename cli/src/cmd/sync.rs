//! `mapeo sync`: connect to the peers named (or discovered), optionally join by an invite
//! from a named device first, sync every shared project until done or a timeout, and print
//! a summary; exit code 3 when it could not finish.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use indicatif::HumanBytes;
use mapeo_core::discovery::{DiscoveryOptions, Interfaces};
use mapeo_core::invites::{InviteId, InviteState};
use mapeo_core::sync::{PeerSyncState, SyncPhase};
use mapeo_core::{DeviceId, Manager, ProjectId, ProjectStatus};
use serde_json::{Value, json};

use crate::args::SyncArgs;
use crate::cmd::invites;
use crate::cmd::net::{
    Target, apply_blob_policy, dial, full, parse_target, policy_name, project_name, runtime,
    turn_sync_on,
};
use crate::error::{CliError, CliResult};
use crate::home::{Access, Home};
use crate::out::{Output, table};
use crate::select::InviterPrefix;

/// How long `sync` waits for a connected peer to show a shared project before deciding it
/// shares none with this device (project matching is the first message of a session).
pub const NO_SHARED_PROJECT_GRACE: Duration = Duration::from_secs(5);
/// How often `sync` looks at the progress board when nothing wakes it.
pub const SYNC_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// Longest `sync` waits, after its summary is made, for discovery to stop and the peers'
/// connections to close.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// What `sync` found for one peer.
struct PeerOutcome {
    device: DeviceId,
    target: Option<String>,
    done: bool,
    note: String,
}

/// Runs `mapeo sync`: prints its summary; fails with exit code 3 if it could not finish.
pub fn run(dir: &Path, args: SyncArgs, json: bool) -> CliResult<Output> {
    if args.connect.is_empty() && !args.discover {
        return Err(CliError::BadInput(
            "name a peer with --connect HOST:PORT or --connect CODE, or use --discover".into(),
        ));
    }
    let targets: Vec<(Target, String)> = args
        .connect
        .iter()
        .map(|t| parse_target(t).map(|p| (p, t.clone())))
        .collect::<CliResult<_>>()?;
    let accept_from = args.accept_invites_from.clone();
    let home = Home::open(dir, Access::Write)?;
    // This process runs the network: invites left pending by an earlier one expired with it.
    home.manager.settle_received_invites()?;
    if !json && !accept_from.is_empty() {
        // The summary comes at the end: say now what this waits for.
        eprintln!(
            "Waiting up to {} s for an invite from {}: it is accepted when it comes, then every shared project syncs.",
            args.timeout,
            accept_from
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        );
    }
    let rt = runtime()?;
    let (output, failure) = rt.block_on(sync_async(&home.manager, &args, &accept_from, targets))?;
    match failure {
        None => Ok(output),
        Some(e) => {
            crate::cmd::print(&output, json);
            Err(e)
        }
    }
}

/// What `sync --accept-invites-from` did with invites.
#[derive(Default)]
struct Joining {
    /// Invites already tried (accepted or failed).
    tried: BTreeSet<InviteId>,
    /// Invites received before this sync began (not counted as "already").
    before: BTreeSet<InviteId>,
    /// What each tried invite gave, as JSON.
    report: Vec<Value>,
    /// Whether one was accepted, or answered "already" (this device is in the project).
    done: bool,
}

impl Joining {
    /// Accepts any pending invite from `from`, bounded by `deadline`; returns the projects
    /// joined just now.
    async fn step(
        &mut self,
        manager: &Manager,
        from: &[InviterPrefix],
        deadline: tokio::time::Instant,
    ) -> Vec<ProjectId> {
        let mut joined = Vec::new();
        for i in manager.received_invites() {
            if !from.iter().any(|p| p.matches(&i.from)) || self.before.contains(&i.offer.id) {
                continue;
            }
            if i.state == InviteState::Already {
                self.done = true;
            }
            if i.state != InviteState::Pending || !self.tried.insert(i.offer.id) {
                continue;
            }
            let mut v = invites::invite_json(&i);
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let result =
                tokio::time::timeout(left, invites::accept(manager, &i.offer.id.to_string()))
                    .await
                    .unwrap_or_else(|_| Err(CliError::NotFinished("timed out".into())));
            if let Value::Object(o) = &mut v {
                match result {
                    Ok(out) => {
                        o.insert("accepted".into(), json!(true));
                        o.insert("role".into(), out.json["role"].clone());
                        self.done = true;
                        joined.push(i.offer.project_id);
                    }
                    Err(e) => {
                        o.insert("accepted".into(), json!(false));
                        o.insert("error".into(), json!(e.to_string()));
                    }
                }
                o.remove("state");
            }
            self.report.push(v);
        }
        joined
    }
}

async fn sync_async(
    manager: &Manager,
    args: &SyncArgs,
    accept_from: &[InviterPrefix],
    targets: Vec<(Target, String)>,
) -> CliResult<(Output, Option<CliError>)> {
    let policy = apply_blob_policy(manager, args.previews_only)?;
    // Projects whose data this sync exchanges; the others (left, or still joining) only
    // their auth and config.
    let mut data_projects: BTreeSet<ProjectId> = turn_sync_on(manager)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    // Projects this device left: it exchanges auth only (the core's progress counts
    // nothing else for them), and the summary says so.
    let left: BTreeSet<ProjectId> = manager
        .list_projects()?
        .into_iter()
        .filter(|p| p.status == ProjectStatus::Left)
        .map(|p| p.project_id)
        .collect();
    let done_with = |data: &BTreeSet<ProjectId>, project: &ProjectId, s: &PeerSyncState| {
        s.connected
            && if data.contains(project) {
                full(s)
            } else {
                s.is_synced(SyncPhase::Initial)
            }
    };
    let mut joining = Joining {
        before: manager
            .received_invites()
            .iter()
            .map(|i| i.offer.id)
            .collect(),
        done: accept_from.is_empty(),
        ..Joining::default()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    if args.discover {
        manager
            .start_listening(SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0))
            .await
            .map_err(|e| CliError::Network(format!("cannot listen: {e}")))?;
        let interfaces = if args.interfaces.is_empty() {
            Interfaces::All
        } else {
            Interfaces::Named(args.interfaces.clone())
        };
        manager
            .start_discovery(DiscoveryOptions { interfaces })
            .await
            .map_err(|e| CliError::Network(format!("discovery could not start: {e}")))?;
    }
    let mut outcomes: Vec<PeerOutcome> = Vec::new();
    let mut failures: Vec<(String, String)> = Vec::new();
    let mut connected_at = tokio::time::Instant::now();
    for (target, text) in &targets {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, dial(manager, target)).await {
            Ok(Ok(device)) => outcomes.push(PeerOutcome {
                device,
                target: Some(text.clone()),
                done: false,
                note: String::new(),
            }),
            Ok(Err(e)) => failures.push((text.clone(), e.to_string())),
            Err(_) => failures.push((text.clone(), "timed out".into())),
        }
    }
    let board = manager.sync_board();
    let mut board_rx = board.subscribe();
    let mut reason = String::new();
    let waiting_for = accept_from
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" or ");
    loop {
        if args.discover {
            for p in manager.peers() {
                if p.connected && !outcomes.iter().any(|o| o.device == p.device_id) {
                    outcomes.push(PeerOutcome {
                        device: p.device_id,
                        target: None,
                        done: false,
                        note: String::new(),
                    });
                }
            }
        }
        if !accept_from.is_empty() {
            let joined = joining.step(manager, accept_from, deadline).await;
            if !joined.is_empty() {
                // A project just joined: give the peers time to match it.
                connected_at = tokio::time::Instant::now();
                data_projects.extend(joined);
            }
        }
        let snapshot = board_rx.borrow_and_update().clone();
        let peers = manager.peers();
        for o in outcomes.iter_mut() {
            let entries: Vec<(&ProjectId, &PeerSyncState)> = snapshot
                .iter()
                .filter(|((_, peer), _)| *peer == o.device)
                .map(|((project, _), s)| (project, s))
                .collect();
            let connected = peers.iter().any(|p| p.device_id == o.device && p.connected);
            (o.done, o.note) = if !connected {
                (false, "disconnected".into())
            } else if entries.is_empty() && !joining.done {
                // Nothing is shared until the invite is accepted: say what it waits for.
                (false, format!("waiting for an invite from {waiting_for}"))
            } else if entries.is_empty() {
                if connected_at.elapsed() >= NO_SHARED_PROJECT_GRACE {
                    (true, "shares no project with this device".into())
                } else {
                    (false, "matching projects".into())
                }
            } else if entries
                .iter()
                .any(|(p, s)| data_projects.contains(*p) && !s.peer_data_sync)
            {
                (false, "the peer has data sync off".into())
            } else if entries.iter().all(|(p, s)| done_with(&data_projects, p, s)) {
                (true, "synced".into())
            } else {
                (false, "syncing".into())
            };
        }
        let all_done = joining.done && !outcomes.is_empty() && outcomes.iter().all(|o| o.done);
        if all_done {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            reason = if outcomes.is_empty() {
                format!("no peer reached within {} s", args.timeout)
            } else if !joining.done {
                format!(
                    "no invite from {waiting_for} accepted within {} s",
                    args.timeout
                )
            } else {
                format!("not synced within {} s", args.timeout)
            };
            break;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let _ = tokio::time::timeout(left.min(SYNC_CHECK_INTERVAL), board_rx.changed()).await;
    }
    if reason.is_empty() && !failures.is_empty() {
        reason = format!("{} peer(s) could not be reached", failures.len());
    }
    let snapshot = board.snapshot();
    let peers = manager.peers();
    let name_of = |d: &DeviceId| {
        peers
            .iter()
            .find(|p| p.device_id == *d)
            .map(|p| p.name.clone())
    };
    let mut json_peers = Vec::new();
    let mut rows = Vec::new();
    for o in &outcomes {
        let projects: Vec<Value> = snapshot
            .iter()
            .filter(|((_, peer), _)| *peer == o.device)
            .map(|((project, _), s)| {
                json!({
                    "projectId": project.to_string(),
                    "projectName": project_name(manager, project),
                    "received": s.received,
                    "sent": s.sent,
                    "blobBytesReceived": s.blob_bytes_received,
                    "blobBytesSent": s.blob_bytes_sent,
                    "synced": done_with(&data_projects, project, s),
                    "left": left.contains(project),
                })
            })
            .collect();
        for p in &projects {
            rows.push(vec![
                name_of(&o.device).unwrap_or_else(|| o.device.short()),
                p["projectName"].as_str().unwrap_or("").to_owned(),
                p["received"].to_string(),
                p["sent"].to_string(),
                format!(
                    "{} / {}",
                    HumanBytes(p["blobBytesReceived"].as_u64().unwrap_or(0)),
                    HumanBytes(p["blobBytesSent"].as_u64().unwrap_or(0))
                ),
                if p["synced"].as_bool().unwrap_or(false) && p["left"] == true {
                    "left: the peer has this device's leaving".into()
                } else if p["synced"].as_bool().unwrap_or(false) {
                    "synced".into()
                } else {
                    o.note.clone()
                },
            ]);
        }
        if projects.is_empty() {
            rows.push(vec![
                name_of(&o.device).unwrap_or_else(|| o.device.short()),
                "-".into(),
                "0".into(),
                "0".into(),
                "-".into(),
                o.note.clone(),
            ]);
        }
        json_peers.push(json!({
            "deviceId": o.device.to_string(),
            "name": name_of(&o.device),
            "target": o.target,
            "done": o.done,
            "status": o.note,
            "projects": projects,
        }));
    }
    for (text, e) in &failures {
        rows.push(vec![
            text.clone(),
            "-".into(),
            "0".into(),
            "0".into(),
            "-".into(),
            format!("unreachable: {e}"),
        ]);
    }
    // Closing is bounded too: a peer that stopped reading cannot hold the summary back.
    let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, async {
        manager.stop_discovery().await;
        manager.disconnect_all().await;
    })
    .await;
    let finished = reason.is_empty();
    let mut json = json!({
        "finished": finished,
        "blobPolicy": policy_name(policy),
        "reason": if finished { Value::Null } else { json!(reason) },
        "peers": json_peers,
        "unreachable": failures.iter().map(|(t, e)| json!({"peer": t, "error": e})).collect::<Vec<_>>(),
    });
    let mut text = String::new();
    if !accept_from.is_empty() {
        if let Value::Object(o) = &mut json {
            o.insert("invites".into(), json!(joining.report));
        }
        for v in &joining.report {
            text.push_str(&if v["accepted"] == true {
                format!(
                    "Accepted the invite from {} and joined {:?} as {}.\n",
                    v["fromName"].as_str().unwrap_or_default(),
                    v["projectName"].as_str().unwrap_or_default(),
                    v["role"].as_str().unwrap_or_default()
                )
            } else {
                format!(
                    "Could not join by the invite from {}: {}.\n",
                    v["fromName"].as_str().unwrap_or_default(),
                    v["error"].as_str().unwrap_or_default()
                )
            });
        }
    }
    text.push_str(&table(
        &[
            "PEER",
            "PROJECT",
            "RECEIVED",
            "SENT",
            "MEDIA IN / OUT",
            "STATUS",
        ],
        &rows,
    ));
    // When it did not finish, the error that follows on stderr gives the reason: once.
    if finished {
        text.push_str("\nSync finished.");
    }
    let failure = if finished {
        None
    } else if !joining.done {
        Some(CliError::NoInvite(reason))
    } else {
        Some(CliError::NotFinished(reason))
    };
    Ok((Output::new(json, text), failure))
}
