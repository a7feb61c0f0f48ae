//! `mapeo maps share|shares|accept|decline`: maps shared with a connected device. A share
//! travels over a live connection, which the running serve holds, so these go through it
//! (listing also works without one); the serve prints offers as they arrive. Also how map
//! shares read in serve's events.

use std::path::Path;
use std::time::Duration;

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use mapeo_core::Manager;
use mapeo_core::manager::{MapShare, MapShareDirection, MapShareError, MapShareState};
use mapeo_core::maps::{MapError, MapId};
use mapeo_core::sync::map_share::MapShareId;
use serde_json::{Value, json};

use crate::args::MapShareCommand;
use crate::cmd::remote::{self, Ctx, Route};
use crate::control::{self, QUICK_REPLY_TIMEOUT, Request};
use crate::error::{CliError, CliResult};
use crate::out::{Output, table};
use crate::select;

/// How often a share's progress goes to the client at most.
pub const SHARE_PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// Runs a map-share command.
pub fn run(dir: &Path, cmd: MapShareCommand, json: bool) -> CliResult<Output> {
    match cmd {
        MapShareCommand::Share {
            map,
            device,
            timeout,
        } => {
            let socket = remote::serving(dir, "maps are shared")?;
            let request = Request::MapsShare {
                map,
                device,
                timeout_secs: timeout,
            };
            follow(&socket, &request, timeout, json)
        }
        MapShareCommand::Shares => match remote::route(dir)? {
            Route::Here(home) => Ok(list(&home.manager, false)),
            Route::Serve(socket) => control::request(
                &socket,
                &Request::MapsShares {},
                QUICK_REPLY_TIMEOUT,
                |_| {},
            ),
        },
        MapShareCommand::Accept { share, timeout } => {
            let socket = remote::serving(dir, "map shares are answered")?;
            let request = Request::MapsAccept {
                share,
                timeout_secs: timeout,
            };
            follow(&socket, &request, timeout, json)
        }
        MapShareCommand::Decline { share } => {
            let socket = remote::serving(dir, "map shares are answered")?;
            control::request(
                &socket,
                &Request::MapsDecline { share },
                QUICK_REPLY_TIMEOUT,
                |_| {},
            )
        }
    }
}

/// Sends a request that follows a share to its end, drawing its progress in bytes (on a
/// terminal, without `--json`).
fn follow(socket: &Path, request: &Request, timeout: u64, json: bool) -> CliResult<Output> {
    let limit = Duration::from_secs(timeout) + QUICK_REPLY_TIMEOUT;
    let mut bar: Option<ProgressBar> = None;
    let out = control::request(socket, request, limit, |v| {
        if json {
            return;
        }
        let (Some(bytes), Some(size)) = (v["bytes"].as_u64(), v["size"].as_u64()) else {
            if let Some(text) = v["text"].as_str() {
                eprintln!("{text}");
            }
            return;
        };
        let b = bar.get_or_insert_with(|| {
            let b = ProgressBar::new(size);
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_message(v["name"].as_str().unwrap_or("map").to_owned());
            b
        });
        b.set_position(bytes);
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    out
}

/// A core map-share error as the command line reports it (the kinds scripts match on).
pub fn share_error(e: MapShareError) -> CliError {
    let kind = match &e {
        MapShareError::UnknownShare | MapShareError::Map(MapError::UnknownMap) => "not_found",
        MapShareError::WrongState => "wrong_state",
        MapShareError::NotConnected => "not_connected",
        MapShareError::NoSharedProject => "no_shared_project",
        MapShareError::PeerCannotReceive => "not_supported",
        MapShareError::TooLarge => "too_large",
        MapShareError::Map(_) => "map",
        MapShareError::Storage(_) => "storage",
    };
    CliError::Remote {
        kind: kind.to_owned(),
        message: e.to_string(),
    }
}

fn state_name(s: MapShareState) -> &'static str {
    match s {
        MapShareState::Offered => "offered",
        MapShareState::Transferring => "transferring",
        MapShareState::Installed => "installed",
        MapShareState::Declined => "declined",
        MapShareState::Cancelled => "cancelled",
        MapShareState::Failed => "failed",
    }
}

/// A share as JSON.
pub fn share_json(s: &MapShare) -> Value {
    json!({
        "shareId": s.id.to_string(),
        "direction": match s.direction {
            MapShareDirection::Sending => "sent",
            MapShareDirection::Receiving => "received",
        },
        "deviceId": s.peer.to_string(),
        "deviceName": s.peer_name,
        "mapId": s.map_id.to_string(),
        "name": s.name,
        "bounds": [s.bounds.west, s.bounds.south, s.bounds.east, s.bounds.north],
        "minZoom": s.min_zoom,
        "maxZoom": s.max_zoom,
        "size": s.size,
        "bytes": s.bytes,
        "state": state_name(s.state),
    })
}

fn who(s: &MapShare) -> String {
    format!("{} ({})", s.peer_name, s.peer.short())
}

/// A serve event about a share whose state is now `s.state`.
pub fn share_event(s: &MapShare) -> (Value, String) {
    let id = s.id;
    let text = match (s.direction, s.state) {
        (MapShareDirection::Receiving, MapShareState::Offered) => format!(
            "Map {:?} ({}, zoom {}-{}) offered by {}.\n  Answer: mapeo maps accept {id}   or   mapeo maps decline {id}",
            s.name,
            HumanBytes(s.size),
            s.min_zoom,
            s.max_zoom,
            who(s)
        ),
        (MapShareDirection::Receiving, state) => {
            format!("Map {:?} from {}: {}.", s.name, who(s), state_name(state))
        }
        (MapShareDirection::Sending, state) => {
            format!("Map {:?} to {}: {}.", s.name, who(s), state_name(state))
        }
    };
    (share_json(s), text)
}

/// `maps shares`: every share, sent and received.
pub fn list(manager: &Manager, serving: bool) -> Output {
    let shares = manager.map_shares();
    let rows: Vec<Vec<String>> = shares
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                match s.direction {
                    MapShareDirection::Sending => "sent".into(),
                    MapShareDirection::Receiving => "received".into(),
                },
                who(s),
                s.name.clone(),
                format!("{}/{}", HumanBytes(s.bytes), HumanBytes(s.size)),
                state_name(s.state).into(),
            ]
        })
        .collect();
    let mut text = if rows.is_empty() {
        "No map shares.".to_owned()
    } else {
        table(
            &["SHARE", "DIRECTION", "WHO", "MAP", "BYTES", "STATE"],
            &rows,
        )
    };
    if !serving {
        text.push_str(
            "\n(no `mapeo serve` is running on this data folder: offers arrive while it runs)",
        );
    }
    Output::new(
        json!({
            "serving": serving,
            "shares": shares.iter().map(share_json).collect::<Vec<_>>(),
        }),
        text,
    )
}

/// A map of the store by id, unique id prefix or exact name.
fn select_map(manager: &Manager, selection: &str) -> CliResult<MapId> {
    let maps = manager
        .maps()
        .and_then(|m| m.list())
        .map_err(|e| share_error(e.into()))?;
    let sel = selection.trim();
    let by_name: Vec<&MapId> = maps
        .iter()
        .filter(|m| m.name == sel)
        .map(|m| &m.id)
        .collect();
    let by_id: Vec<&MapId> = maps
        .iter()
        .filter(|m| !sel.is_empty() && m.id.to_string().starts_with(&sel.to_lowercase()))
        .map(|m| &m.id)
        .collect();
    match (by_id.as_slice(), by_name.as_slice()) {
        ([one], _) | ([], [one]) => Ok((*one).clone()),
        ([], []) => Err(CliError::Remote {
            kind: "not_found".into(),
            message: format!("no map matches {sel:?} (see `mapeo maps list`)"),
        }),
        _ => Err(CliError::Remote {
            kind: "ambiguous".into(),
            message: format!("more than one map matches {sel:?}: give more of its id"),
        }),
    }
}

/// A share by id or unique id prefix.
fn select_share(manager: &Manager, selection: &str) -> CliResult<MapShareId> {
    let sel = selection.trim().to_lowercase();
    let found: Vec<MapShareId> = manager
        .map_shares()
        .iter()
        .filter(|s| !sel.is_empty() && s.id.to_string().starts_with(&sel))
        .map(|s| s.id)
        .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(CliError::Remote {
            kind: "not_found".into(),
            message: format!("no map share matches {sel:?} (see `mapeo maps shares`)"),
        }),
        _ => Err(CliError::Remote {
            kind: "ambiguous".into(),
            message: format!("more than one map share matches {sel:?}"),
        }),
    }
}

fn current(manager: &Manager, id: MapShareId) -> Option<MapShare> {
    manager.map_shares().into_iter().find(|s| s.id == id)
}

/// In the serve: offers a map to a connected device and follows the share to its end,
/// sending progress lines. The client hanging up or the time running out cancels it.
pub async fn share_live(
    ctx: &Ctx,
    conn: &mut control::Conn,
    map: &str,
    device: &str,
    timeout_secs: u64,
) -> CliResult<Output> {
    let manager = &*ctx.manager;
    let map = select_map(manager, map)?;
    let to = select::invitee(manager, device)?;
    let id = manager.share_map(&map, &to).await.map_err(share_error)?;
    // The serve's own log reports the new share (and how it ends) as it watches every share;
    // the command that follows it only tells its caller.
    if let Some(s) = current(manager, id) {
        let (_, text) = share_event(&s);
        conn.progress(
            json!({"event": "map-share", "text": format!("{text} Waiting for the answer…")}),
        )
        .await;
    }
    follow_live(ctx, conn, id, timeout_secs).await
}

/// In the serve: accepts a received offer and follows it until the map is installed.
pub async fn accept_live(
    ctx: &Ctx,
    conn: &mut control::Conn,
    share: &str,
    timeout_secs: u64,
) -> CliResult<Output> {
    let manager = &*ctx.manager;
    let id = select_share(manager, share)?;
    manager.accept_map_share(&id).await.map_err(share_error)?;
    follow_live(ctx, conn, id, timeout_secs).await
}

/// Sends a share's progress until it is over; installed is success, anything else an error
/// naming how it ended.
async fn follow_live(
    ctx: &Ctx,
    conn: &mut control::Conn,
    id: MapShareId,
    timeout_secs: u64,
) -> CliResult<Output> {
    let manager = &*ctx.manager;
    let mut rx = manager.subscribe_map_shares();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout_secs);
    let mut last_bytes = None;
    loop {
        let Some(s) = rx.borrow_and_update().iter().find(|s| s.id == id).cloned() else {
            return Err(share_error(MapShareError::UnknownShare));
        };
        if s.state.is_over() {
            let (v, text) = share_event(&s);
            return if s.state == MapShareState::Installed {
                Ok(Output::new(v, text))
            } else {
                Err(CliError::Remote {
                    kind: format!("map_share_{}", state_name(s.state)),
                    message: text,
                })
            };
        }
        if last_bytes != Some(s.bytes) && s.state == MapShareState::Transferring {
            last_bytes = Some(s.bytes);
            conn.progress(json!({
                "event": "map-share-progress",
                "shareId": id.to_string(),
                "name": s.name,
                "bytes": s.bytes,
                "size": s.size,
            }))
            .await;
        }
        tokio::select! {
            r = rx.changed() => if r.is_err() {
                return Err(share_error(MapShareError::UnknownShare));
            },
            () = tokio::time::sleep_until(deadline) => {
                let _ = manager.cancel_map_share(&id).await;
                return Err(CliError::NotFinished(format!(
                    "the map share did not finish within {timeout_secs} s and was stopped"
                )));
            }
            () = conn.closed() => {
                let _ = manager.cancel_map_share(&id).await;
                return Err(CliError::Control("the command was stopped".into()));
            }
        }
        tokio::time::sleep(SHARE_PROGRESS_INTERVAL).await;
    }
}

/// Declines a received offer (or stops receiving an accepted one).
pub async fn decline(manager: &Manager, share: &str) -> CliResult<Output> {
    let id = select_share(manager, share)?;
    manager.decline_map_share(&id).await.map_err(share_error)?;
    let s = current(manager, id).ok_or_else(|| share_error(MapShareError::UnknownShare))?;
    let (v, text) = share_event(&s);
    Ok(Output::new(v, text))
}
