//! The device on the network: `serve` (listen, advertise, discover and sync until stopped,
//! reporting peers, per-peer progress and invites as they happen; answering the control
//! socket), `connection-code`, and what `sync` shares with them (runtime, peers named on the
//! command line, what "synced" means).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressStyle};
use mapeo_core::connection_code::MAX_CODE_ADDRESSES;
use mapeo_core::discovery::{DiscoveryOptions, Interfaces};
use mapeo_core::manager::PeerStatus;
use mapeo_core::sync::{PeerSyncState, SyncPhase};
use mapeo_core::{BlobPolicy, DeviceId, Manager, ProjectId, ProjectStatus, Timestamp};
use serde_json::{Value, json};

use crate::args::{ConnectionCodeArgs, DEFAULT_PORT, ServeArgs};
use crate::cmd::invites;
use crate::cmd::remote::{self, Ctx, Event};
use crate::error::{CliError, CliResult};
use crate::home::{self, Access, Home, SERVE_FILE};
use crate::out::{Output, iso};
use crate::select::InviterPrefix;

/// How often `serve` redraws progress (and at most how often it prints a progress line).
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);
/// First wait before `serve` redials a `--connect` peer that did not answer.
pub const REDIAL_INITIAL_DELAY: Duration = Duration::from_millis(250);
/// Longest wait between two dials of a `--connect` peer.
pub const REDIAL_MAX_DELAY: Duration = Duration::from_secs(5);
/// How often `serve` looks for projects that became joined (an invite's role record
/// arriving later) to turn their data sync on.
pub const PROJECT_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Worker threads of the network runtime (the machines this runs on are small).
const RUNTIME_THREADS: usize = 2;

pub(crate) fn runtime() -> CliResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(RUNTIME_THREADS)
        .enable_all()
        .build()
        .map_err(|e| CliError::Network(format!("cannot start the network runtime: {e}")))
}

/// A peer named on the command line.
#[derive(Debug, Clone)]
pub enum Target {
    /// `host:port`.
    Addr(SocketAddr),
    /// A connection code.
    Code(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Addr(a) => write!(f, "{a}"),
            Target::Code(c) => write!(f, "{}…", c.chars().take(12).collect::<String>()),
        }
    }
}

/// Reads `host:port` (resolving a host name) or a connection code.
pub fn parse_target(text: &str) -> CliResult<Target> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(Target::Addr(addr));
    }
    if mapeo_core::connection_code::parse(text).is_ok() {
        return Ok(Target::Code(text.to_owned()));
    }
    if let Some((_, port)) = text.rsplit_once(':')
        && port.parse::<u16>().is_ok()
    {
        let resolved = text
            .to_socket_addrs()
            .map_err(|e| CliError::BadInput(format!("cannot resolve {text:?}: {e}")))?
            .next();
        if let Some(addr) = resolved {
            return Ok(Target::Addr(addr));
        }
    }
    let why = match mapeo_core::connection_code::parse(text) {
        Err(mapeo_core::connection_code::ConnectionCodeError::NotACode) => {
            "neither host:port nor a connection code".to_owned()
        }
        Err(e) => e.to_string(),
        Ok(_) => "unreadable".to_owned(),
    };
    Err(CliError::BadInput(format!("peer {text:?}: {why}")))
}

pub(crate) async fn dial(
    manager: &Manager,
    target: &Target,
) -> Result<DeviceId, mapeo_core::Error> {
    match target {
        Target::Addr(a) => manager.connect(*a).await,
        Target::Code(c) => manager.connect_by_code(c).await,
    }
}

/// This machine's addresses peers may reach it at: non-loopback, IPv4 first.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut addrs: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .filter(|ip| match ip {
            IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local(),
            IpAddr::V6(v6) => !v6.is_loopback() && !v6.is_unicast_link_local(),
        })
        .collect();
    addrs.sort_by_key(|a| (a.is_ipv6(), *a));
    addrs.dedup();
    addrs.truncate(MAX_CODE_ADDRESSES);
    addrs
}

fn code_addresses(listen: SocketAddr) -> Vec<IpAddr> {
    if listen.ip().is_unspecified() {
        let found = local_addresses();
        if found.is_empty() {
            vec![IpAddr::from([127, 0, 0, 1])]
        } else {
            found
        }
    } else {
        vec![listen.ip()]
    }
}

/// Sets which attachment variants this device downloads: every original (the archive) by
/// default, photo previews and thumbnails only with `--previews-only`. The device keeps it,
/// so projects opened later (joined while running) follow it from their first sync.
pub(crate) fn apply_blob_policy(manager: &Manager, previews_only: bool) -> CliResult<BlobPolicy> {
    let policy = if previews_only {
        BlobPolicy::PREVIEWS_ONLY
    } else {
        BlobPolicy::ARCHIVE
    };
    manager.set_blob_policy(policy)?;
    Ok(policy)
}

/// The policy's name in output.
pub(crate) fn policy_name(policy: BlobPolicy) -> &'static str {
    if policy == BlobPolicy::PREVIEWS_ONLY {
        "previews-only"
    } else if policy == BlobPolicy::ARCHIVE {
        "archive"
    } else {
        "custom"
    }
}

pub(crate) fn turn_sync_on(manager: &Manager) -> CliResult<Vec<(ProjectId, String)>> {
    let mut names = Vec::new();
    for p in manager.list_projects()? {
        // A damaged project syncs again once repaired (`mapeo project repair`).
        if p.status == ProjectStatus::Joined && !p.damaged {
            manager.start_sync(&p.project_id)?;
            names.push((p.project_id, p.settings.name.unwrap_or_default()));
        }
    }
    Ok(names)
}

pub(crate) fn project_name(manager: &Manager, id: &ProjectId) -> String {
    manager
        .open_project(id)
        .and_then(|p| p.settings())
        .ok()
        .and_then(|s| s.name)
        .unwrap_or_else(|| id.short())
}

/// Whether everything, data included, was exchanged at the last news: both sides had data
/// sync on (so data was counted) and nothing was left either way.
pub(crate) fn full(s: &PeerSyncState) -> bool {
    s.data_sync && s.peer_data_sync && s.was_synced(SyncPhase::Full)
}

fn progress_json(
    manager: &Manager,
    project: &ProjectId,
    s: &PeerSyncState,
    peers: &BTreeMap<DeviceId, PeerStatus>,
) -> Value {
    json!({
        "projectId": project.to_string(),
        "projectName": project_name(manager, project),
        "peer": s.peer.to_string(),
        "peerName": peers.get(&s.peer).map(|p| p.name.clone()),
        "connected": s.connected,
        "phase": match s.phase() { SyncPhase::Initial => "initial", SyncPhase::Full => "full" },
        "wanted": s.initial_wanted + s.data_wanted,
        "toSend": s.initial_to_send + s.data_to_send,
        "received": s.received,
        "sent": s.sent,
        "peerDataSync": s.peer_data_sync,
        // Attachments: what this device still wants from the peer and has received from it
        // in this session, and what the peer asked of it.
        "blobsWanted": s.blobs_wanted,
        "blobBytesWanted": s.blob_bytes_wanted,
        "blobBytesReceived": s.blob_bytes_received,
        "blobsToSend": s.blobs_to_send,
        "blobBytesToSend": s.blob_bytes_to_send,
        "blobBytesSent": s.blob_bytes_sent,
        // Nothing was left to exchange at the last news from this peer (it may have left).
        "complete": full(s),
        "synced": s.connected && full(s),
    })
}

/// What one exchange's bar has shown, so the next frame can only move forward.
///
/// The core's counts are truthful but not a fixed total: an entry sent counts in `sent` at
/// once and stays in `toSend` until the peer confirms it, and live entries keep arriving. A
/// bar drawn straight from `done + left` would shrink its total and jump. Within one session
/// the total here only grows and the position never goes back; the bar is full exactly when
/// nothing is left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BarFrame {
    /// Entries done in this session (received + sent), as the core last said.
    done: u64,
    /// The bar's length.
    pub(crate) total: u64,
    /// The bar's position.
    pub(crate) position: u64,
}

impl BarFrame {
    /// The next frame from the core's counts; `settled`: the core says nothing is left
    /// either way (synced). A new session (its counters start again from zero) starts a new
    /// bar: `true` in the second place.
    pub(crate) fn next(self, done: u64, left: u64, settled: bool) -> (BarFrame, bool) {
        let restarted = done < self.done;
        let before = if restarted { BarFrame::default() } else { self };
        // No entry counted as left, yet not synced (the peer's news is not all in, or media
        // still moves): the bar stays one step short of full until it is.
        let left = if left == 0 && !settled { 1 } else { left };
        let total = before
            .total
            .max(done + left)
            .max(before.position + left)
            .max(1);
        let frame = BarFrame {
            done,
            total,
            position: total - left.min(total),
        };
        (frame, restarted)
    }
}

/// Names an exchange in text: "project ⇄ peer".
fn exchange_label(v: &Value, peer: &DeviceId) -> String {
    format!(
        "{} ⇄ {}",
        v["projectName"].as_str().unwrap_or(""),
        v["peerName"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| peer.short())
    )
}

/// Prints events: JSON lines, progress bars on a terminal, or plain lines.
struct Reporter {
    json: bool,
    bars: Option<MultiProgress>,
    by_key: BTreeMap<(ProjectId, DeviceId), (ProgressBar, BarFrame)>,
    /// The last plain line printed for each exchange, so the same news is not printed twice.
    lines: BTreeMap<(ProjectId, DeviceId), String>,
}

impl Reporter {
    fn new(json: bool) -> Self {
        let bars = (!json && std::io::stdout().is_terminal()).then(MultiProgress::new);
        Reporter {
            json,
            bars,
            by_key: BTreeMap::new(),
            lines: BTreeMap::new(),
        }
    }

    fn event(&self, kind: &str, mut fields: Value, text: String) {
        if self.json {
            if let Value::Object(o) = &mut fields {
                o.insert("event".into(), json!(kind));
                o.insert("time".into(), json!(iso(Timestamp::now())));
            }
            println!("{fields}");
        } else {
            match &self.bars {
                Some(m) => {
                    let _ = m.println(text);
                }
                None => println!("{text}"),
            }
        }
    }

    fn progress(&mut self, key: (ProjectId, DeviceId), v: &Value, label: String) {
        if self.json {
            self.event("progress", v.clone(), String::new());
            return;
        }
        let done = v["received"].as_u64().unwrap_or(0) + v["sent"].as_u64().unwrap_or(0);
        let left = v["wanted"].as_u64().unwrap_or(0) + v["toSend"].as_u64().unwrap_or(0);
        let status = format!("{}{}", entries_status(v, left), media_status(v));
        match &self.bars {
            Some(m) => {
                let (bar, frame) = self.by_key.entry(key).or_insert_with(|| {
                    let b = m.add(ProgressBar::new(1));
                    // No {pos}/{len}: the bar's scale only keeps it moving forward; the
                    // message gives the core's own counts.
                    if let Ok(style) = ProgressStyle::with_template("{prefix:30} [{bar:30}] {msg}")
                    {
                        b.set_style(style.progress_chars("=> "));
                    }
                    b.set_prefix(label.clone());
                    (b, BarFrame::default())
                });
                let settled = v["complete"].as_bool().unwrap_or(false);
                let (next, restarted) = frame.next(done, left, settled);
                if restarted {
                    let _ = m.println(format!("{label}: a new exchange started"));
                    bar.reset();
                }
                *frame = next;
                bar.set_length(next.total);
                bar.set_position(next.position);
                bar.set_message(status);
            }
            None => {
                let line = format!("{label}: {status}");
                if self.lines.get(&key) != Some(&line) {
                    println!("{line}");
                    self.lines.insert(key, line);
                }
            }
        }
    }

    /// Says that an exchange is synced: nothing left either way, by the core's count.
    fn synced(&mut self, key: (ProjectId, DeviceId), v: &Value, label: &str) {
        let status = format!("{}{}", entries_status(v, 0), media_status(v));
        let line = format!("{label}: {status}");
        if let Some((bar, frame)) = self.by_key.get_mut(&key) {
            let done = v["received"].as_u64().unwrap_or(0) + v["sent"].as_u64().unwrap_or(0);
            let (next, _) = frame.next(done, 0, true);
            *frame = next;
            bar.set_length(next.total);
            bar.set_position(next.position);
            bar.set_message(status);
        }
        // The bars show it; a line as well, as for any other event.
        self.event("synced", v.clone(), line.clone());
        self.lines.insert(key, line);
    }
}

/// The entries part of a progress line.
fn entries_status(v: &Value, left: u64) -> String {
    if !v["connected"].as_bool().unwrap_or(false) {
        if v["complete"].as_bool().unwrap_or(false) {
            format!(
                "disconnected, everything exchanged (received {}, sent {})",
                v["received"], v["sent"]
            )
        } else {
            format!("disconnected with {left} entries left")
        }
    } else if v["synced"].as_bool().unwrap_or(false) {
        format!("synced (received {}, sent {})", v["received"], v["sent"])
    } else if !v["peerDataSync"].as_bool().unwrap_or(false) {
        "peer has data sync off".to_owned()
    } else if left > 0 {
        format!(
            "received {}, sent {}, {left} entries to go",
            v["received"], v["sent"]
        )
    } else if v["blobsWanted"].as_u64().unwrap_or(0) + v["blobsToSend"].as_u64().unwrap_or(0) > 0 {
        format!(
            "received {}, sent {}, every entry exchanged, media to go",
            v["received"], v["sent"]
        )
    } else {
        format!(
            "received {}, sent {}, waiting for the peer to confirm",
            v["received"], v["sent"]
        )
    }
}

/// The attachments part of a progress line: bytes received of those wanted, and sent of
/// those asked for; empty while no attachment moves.
fn media_status(v: &Value) -> String {
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    let mut parts = Vec::new();
    let (got, want) = (n("blobBytesReceived"), n("blobBytesWanted"));
    if got + want > 0 {
        parts.push(format!(
            "media in {} of {}",
            HumanBytes(got),
            HumanBytes(got + want)
        ));
    }
    let (sent, to_send) = (n("blobBytesSent"), n("blobBytesToSend"));
    if sent + to_send > 0 {
        parts.push(format!(
            "media out {} of {}",
            HumanBytes(sent),
            HumanBytes(sent + to_send)
        ));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("; {}", parts.join(", "))
    }
}

/// Runs `mapeo serve` until Ctrl-C (or SIGTERM, or standard input closing with
/// `--stop-on-stdin-close`).
pub fn serve(dir: &Path, args: ServeArgs, json: bool) -> CliResult<()> {
    let accept_from = args.accept_invites_from.clone();
    for text in &args.connect {
        parse_target(text)?;
    }
    let home = Home::open(dir, Access::Write)?;
    // This process runs the network: invites left pending by an earlier one expired with it.
    home.manager.settle_received_invites()?;
    let rt = runtime()?;
    let result = rt.block_on(serve_async(&home, &args, &accept_from, json));
    let _ = std::fs::remove_file(dir.join(SERVE_FILE));
    result
}

/// Binds the control socket, or says why there is none (the serve runs on without it).
#[cfg(unix)]
fn control_socket(
    home: &Home,
    ctx: &Arc<Ctx>,
    tasks: &mut tokio::task::JoinSet<()>,
) -> Result<std::path::PathBuf, String> {
    let listener = crate::control::Listener::bind(&home.dir).map_err(|e| e.to_string())?;
    tasks.spawn(remote::answer(listener, ctx.clone()));
    Ok(crate::control::socket_path(&home.dir))
}

#[cfg(not(unix))]
fn control_socket(
    _home: &Home,
    _ctx: &Arc<Ctx>,
    _tasks: &mut tokio::task::JoinSet<()>,
) -> Result<std::path::PathBuf, String> {
    Err("no Unix sockets on this system".into())
}

async fn serve_async(
    home: &Home,
    args: &ServeArgs,
    accept_from: &[InviterPrefix],
    json: bool,
) -> CliResult<()> {
    let manager = &home.manager;
    let mut out = Reporter::new(json);
    let policy = apply_blob_policy(manager, args.previews_only)?;
    let projects = turn_sync_on(manager)?;
    let addr = manager
        .start_listening(args.listen)
        .await
        .map_err(|e| CliError::Network(format!("cannot listen on {}: {e}", args.listen)))?;
    let code = manager
        .connection_code_for(&code_addresses(addr))
        .map_err(CliError::Core)?;
    let name = manager.device_info()?.map(|i| i.name).unwrap_or_default();
    let info = json!({
        "pid": std::process::id(),
        "address": addr.to_string(),
        "port": addr.port(),
        "deviceId": manager.device_id().to_string(),
        "deviceName": name,
        "connectionCode": code,
        "blobPolicy": policy_name(policy),
        "projects": projects.iter().map(|(id, n)| json!({"projectId": id.to_string(), "name": n})).collect::<Vec<_>>(),
    });
    let serve_file = home.dir.join(SERVE_FILE);
    std::fs::write(&serve_file, info.to_string())
        .map_err(|e| CliError::file("cannot write", &serve_file, e))?;
    // The control socket exists before "listening" is printed, so a script that waits for
    // that line can send requests at once. Its tasks end with this function.
    // Before "listening": from then on a Ctrl-C stops the serve cleanly.
    let stop = stop_signal(args.stop_on_stdin_close);
    tokio::pin!(stop);
    let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let ctx = Arc::new(Ctx {
        manager: manager.clone(),
        events: events_tx,
    });
    let mut background = tokio::task::JoinSet::new();
    let control = control_socket(home, &ctx, &mut background);
    out.event(
        "listening",
        info.clone(),
        format!(
            "{name} (device {}) listening on {addr}, syncing {} project(s), keeping {}.\nConnection code: {code}\nStop with Ctrl-C.",
            manager.device_id(),
            projects.len(),
            if policy == BlobPolicy::PREVIEWS_ONLY {
                "photo previews only"
            } else {
                "every photo and recording"
            }
        ),
    );
    match &control {
        Ok(path) => out.event(
            "control",
            json!({"running": true, "socket": path.display().to_string()}),
            "Members and invites commands on this data folder go through this serve.".into(),
        ),
        Err(e) => out.event(
            "control",
            json!({"running": false, "error": e}),
            format!(
                "No control socket ({e}): members and invites commands cannot reach this serve."
            ),
        ),
    }
    // Lives as long as the serve: dropping it stops the map and media server.
    let _http = match args.http {
        Some(addr) => {
            let (server, info, text) = super::maps::serve_http(manager, addr).await?;
            out.event("http", info, text);
            Some(server)
        }
        None => None,
    };
    if !accept_from.is_empty() {
        out.event(
            "accepting",
            json!({"from": accept_from.iter().map(InviterPrefix::as_str).collect::<Vec<_>>()}),
            format!(
                "Accepting invites from {} without asking.",
                accept_from
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }

    let discover = !args.no_discovery && (!addr.ip().is_loopback() || !args.interfaces.is_empty());
    if discover {
        let interfaces = if args.interfaces.is_empty() {
            Interfaces::All
        } else {
            Interfaces::Named(args.interfaces.clone())
        };
        let shown = match &interfaces {
            Interfaces::All => json!("all"),
            Interfaces::Named(n) => json!(n),
        };
        match manager
            .start_discovery(DiscoveryOptions { interfaces })
            .await
        {
            Ok(()) => out.event(
                "discovery",
                json!({"running": true, "interfaces": shown}),
                format!(
                    "Discovering peers (mDNS) on {} interface(s).",
                    if args.interfaces.is_empty() {
                        "all".to_owned()
                    } else {
                        args.interfaces.join(", ")
                    }
                ),
            ),
            Err(e) => out.event(
                "discovery",
                json!({"running": false, "error": e.to_string()}),
                format!(
                    "Discovery could not start ({e}); peers can still connect by address or code."
                ),
            ),
        }
    } else {
        let why = if args.no_discovery {
            "--no-discovery"
        } else {
            "listening on loopback"
        };
        out.event(
            "discovery",
            json!({"running": false, "reason": why}),
            format!("Discovery off ({why})."),
        );
    }

    let (dial_tx, mut dial_rx) =
        tokio::sync::mpsc::unbounded_channel::<(String, Result<DeviceId, String>)>();
    // Aborted when dropped, at the end of this function.
    let mut dialers = tokio::task::JoinSet::new();
    for text in &args.connect {
        let target = parse_target(text)?;
        dialers.spawn(dial_loop(
            manager.clone(),
            target,
            text.clone(),
            dial_tx.clone(),
        ));
    }

    let mut peers_rx = manager.subscribe_peers();
    let board = manager.sync_board();
    let mut board_rx = board.subscribe();
    let mut known_peers: BTreeMap<DeviceId, PeerStatus> = BTreeMap::new();
    let mut last: BTreeMap<(ProjectId, DeviceId), Value> = BTreeMap::new();
    // Whether "synced" was said for the exchange's current state (cleared when entries are
    // left again, so the next time it is synced is said too).
    let mut synced_said: BTreeMap<(ProjectId, DeviceId), bool> = BTreeMap::new();
    let mut tick = tokio::time::interval(PROGRESS_INTERVAL);
    let mut board_dirty = true;
    let mut invites_rx = manager.subscribe_invites();
    let mut invite_states: BTreeMap<_, _> = invites_rx
        .borrow_and_update()
        .iter()
        .map(|(id, i)| (*id, i.state))
        .collect();
    let mut map_shares_rx = manager.subscribe_map_shares();
    let mut map_share_states: BTreeMap<_, _> = map_shares_rx
        .borrow_and_update()
        .iter()
        .map(|s| (s.id, s.state))
        .collect();
    let mut syncing: std::collections::BTreeSet<ProjectId> =
        projects.iter().map(|(id, _)| *id).collect();
    let mut project_tick = tokio::time::interval(PROJECT_CHECK_INTERVAL);
    loop {
        tokio::select! {
            () = &mut stop => break,
            Some(e) = events_rx.recv() => out.event(e.kind, e.json, e.text),
            r = invites_rx.changed() => {
                if r.is_err() { break; }
                let now = invites_rx.borrow_and_update().clone();
                for (id, i) in &now {
                    let before = invite_states.insert(*id, i.state);
                    if before == Some(i.state) { continue; }
                    let auto = i.state == mapeo_core::invites::InviteState::Pending
                        && accept_from.iter().any(|p| p.matches(&i.from));
                    let (v, text) = invites::received_event(i, before.is_none(), auto);
                    out.event("invite", v, text);
                    if auto {
                        let ctx = ctx.clone();
                        let id = id.to_string();
                        background.spawn(async move {
                            let event = match invites::accept(&ctx.manager, &id).await {
                                Ok(o) => remote::joined_event(&o),
                                Err(e) => Event::new(
                                    "joined",
                                    json!({"inviteId": id, "ok": false, "error": e.to_string()}),
                                    format!("Could not join by invite {id}: {e}."),
                                ),
                            };
                            ctx.event(event);
                        });
                    }
                }
            }
            r = map_shares_rx.changed() => {
                if r.is_err() { break; }
                // Offers as they arrive, and how each share ends (progress shows in the
                // command that follows it).
                let now = map_shares_rx.borrow_and_update().clone();
                for s in &now {
                    if map_share_states.insert(s.id, s.state) != Some(s.state) {
                        let (v, text) = super::map_share::share_event(s);
                        out.event("map-share", v, text);
                    }
                }
            }
            _ = project_tick.tick() => {
                for p in manager.list_projects()? {
                    if p.status == ProjectStatus::Joined && !p.damaged && syncing.insert(p.project_id) {
                        manager.start_sync(&p.project_id)?;
                        let name = p.settings.name.unwrap_or_default();
                        out.event("project", json!({"projectId": p.project_id.to_string(), "name": name, "syncing": true}),
                            format!("Now syncing {name:?} ({}).", p.project_id.short()));
                    }
                }
            }
            Some((text, result)) = dial_rx.recv() => match result {
                Ok(device) => out.event("dial", json!({"peer": text, "ok": true, "deviceId": device.to_string()}),
                    format!("Dialed {text}: device {}.", device.short())),
                Err(e) => out.event("dial", json!({"peer": text, "ok": false, "error": e}),
                    format!("Could not reach {text}: {e}; retrying.")),
            },
            r = peers_rx.changed() => {
                if r.is_err() { break; }
                let now = peers_rx.borrow_and_update().clone();
                for (id, p) in &now {
                    if known_peers.get(id) != Some(p) {
                        out.event("peer", json!({
                            "deviceId": id.to_string(), "name": p.name,
                            "deviceType": p.device_type.to_string(), "connected": p.connected,
                        }), format!("Peer {} ({}, {}) {}.", p.name, id.short(), p.device_type,
                            if p.connected { "connected" } else { "disconnected" }));
                    }
                }
                known_peers = now;
            }
            r = board_rx.changed() => {
                if r.is_err() { break; }
                board_dirty = true;
                // Reaching "synced" is news: said at once, not at the next tick, by when a
                // quick exchange may be over and its peer gone.
                let snapshot = board_rx.borrow().clone();
                for (key, s) in &snapshot {
                    let now_full = full(s);
                    if now_full && synced_said.get(key) != Some(&true) {
                        let v = progress_json(manager, &key.0, s, &known_peers);
                        let label = exchange_label(&v, &key.1);
                        out.synced(*key, &v, &label);
                    }
                    synced_said.insert(*key, now_full);
                }
            }
            _ = tick.tick() => {
                if !board_dirty { continue; }
                board_dirty = false;
                let snapshot = board_rx.borrow_and_update().clone();
                for ((project, peer), s) in &snapshot {
                    let v = progress_json(manager, project, s, &known_peers);
                    if last.get(&(*project, *peer)) == Some(&v) { continue; }
                    let label = exchange_label(&v, peer);
                    out.progress((*project, *peer), &v, label);
                    last.insert((*project, *peer), v);
                }
            }
        }
    }
    // The summary counts from the core's state as it is now, before the connections close,
    // not from the last line printed (which may be older than the last news).
    let at_stop = board.snapshot();
    dialers.shutdown().await;
    background.shutdown().await;
    manager.stop_discovery().await;
    manager.disconnect_all().await;
    manager.stop_listening().await;
    for (bar, _) in out.by_key.values() {
        bar.abandon();
    }
    // The bars stay on screen as they were; the last line is printed plainly, since the
    // bars' drawing may not be flushed before the process ends.
    out.by_key.clear();
    out.bars = None;
    let exchanges = at_stop.len();
    let synced = at_stop.values().filter(|s| full(s)).count();
    out.event(
        "stopped",
        json!({"peers": known_peers.len(), "exchanges": exchanges, "synced": synced}),
        format!(
            "Stopped. {} peer(s) seen, {synced} of {exchanges} exchange(s) synced (nothing left either way) when stopped.",
            known_peers.len(),
        ),
    );
    Ok(())
}

/// Keeps one `--connect` target connected: dials until it answers, then redials after it
/// goes away, with bounded backoff. Reports each success and the first failure of a run.
async fn dial_loop(
    manager: Arc<Manager>,
    target: Target,
    text: String,
    report: tokio::sync::mpsc::UnboundedSender<(String, Result<DeviceId, String>)>,
) {
    let mut delay = REDIAL_INITIAL_DELAY;
    let mut connected_to: Option<DeviceId> = None;
    let mut reported_failure = false;
    loop {
        if let Some(d) = connected_to
            && manager
                .peers()
                .iter()
                .any(|p| p.device_id == d && p.connected)
        {
            tokio::time::sleep(REDIAL_INITIAL_DELAY).await;
            continue;
        }
        match dial(&manager, &target).await {
            Ok(d) => {
                connected_to = Some(d);
                delay = REDIAL_INITIAL_DELAY;
                reported_failure = false;
                let _ = report.send((text.clone(), Ok(d)));
            }
            Err(e) => {
                if !reported_failure {
                    let _ = report.send((text.clone(), Err(e.to_string())));
                    reported_failure = true;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(REDIAL_MAX_DELAY);
            }
        }
    }
}

/// Resolves when the process is asked to stop. The signal handlers are installed at once,
/// when this is called (not when the future is first polled): a Ctrl-C that comes right
/// after "listening" is printed stops the serve cleanly instead of killing it. Call it
/// inside the runtime.
fn stop_signal(on_stdin_close: bool) -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        let stdin_closed = async {
            if on_stdin_close {
                let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                std::thread::spawn(move || {
                    let mut sink = Vec::new();
                    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
                    let _ = tx.send(());
                });
                let _ = rx.await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        #[cfg(unix)]
        let (interrupted, terminated) = {
            async fn next(s: Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            (next(interrupt), next(terminate))
        };
        #[cfg(not(unix))]
        let (interrupted, terminated) = (
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
            std::future::pending::<()>(),
        );
        tokio::select! {
            () = interrupted => {}
            () = stdin_closed => {}
            () = terminated => {}
        }
    }
}

/// Runs `mapeo connection-code`.
pub fn connection_code(dir: &Path, args: ConnectionCodeArgs) -> CliResult<Output> {
    let home = Home::open(dir, Access::Read)?;
    let serving: Option<Value> = if home::in_use(dir) {
        std::fs::read(dir.join(SERVE_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    } else {
        None
    };
    let serve_addr: Option<SocketAddr> = serving
        .as_ref()
        .and_then(|s| s["address"].as_str())
        .and_then(|a| a.parse().ok());
    let port = match (serve_addr, args.port) {
        (Some(a), _) => a.port(),
        (None, Some(p)) => p,
        (None, None) => DEFAULT_PORT,
    };
    let addresses = if !args.addresses.is_empty() {
        args.addresses.clone()
    } else {
        code_addresses(serve_addr.unwrap_or(SocketAddr::new(IpAddr::from([0, 0, 0, 0]), port)))
    };
    let code = mapeo_core::connection_code::encode(&addresses, port, &home.manager.device_id())
        .map_err(|e| CliError::BadInput(format!("cannot make a connection code: {e}")))?;
    let qr = if args.no_qr {
        String::new()
    } else {
        qrcode::QrCode::new(code.as_bytes())
            .map(|q| {
                q.render::<qrcode::render::unicode::Dense1x2>()
                    .quiet_zone(true)
                    .build()
            })
            .map_err(|e| CliError::BadInput(format!("cannot draw the QR code: {e}")))?
    };
    let json = json!({
        "code": code,
        "deviceId": home.manager.device_id().to_string(),
        "addresses": addresses.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "port": port,
        "serving": serving.is_some(),
        "qr": if args.no_qr { Value::Null } else { json!(qr) },
    });
    let mut text = String::new();
    if !qr.is_empty() {
        text.push_str(&qr);
        text.push('\n');
    }
    text.push_str(&format!(
        "Connection code: {code}\nAddresses: {} port {port}{}",
        addresses
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        if serving.is_some() {
            ""
        } else {
            "\n(no `mapeo serve` is running on this data folder: start one so peers can connect)"
        }
    ));
    Ok(Output::new(json, text))
}

#[cfg(test)]
mod tests {
    use super::BarFrame;

    /// Frames from a run of (done, left) counts as the core reports them.
    fn frames(counts: &[(u64, u64)]) -> Vec<(u64, u64, bool)> {
        let mut frame = BarFrame::default();
        counts
            .iter()
            .map(|&(done, left)| {
                let (next, restarted) = frame.next(done, left, left == 0);
                frame = next;
                (next.position, next.total, restarted)
            })
            .collect()
    }

    #[test]
    fn the_bar_total_never_shrinks_and_is_full_only_when_nothing_is_left() {
        // Sent entries count in `sent` at once and leave `toSend` only when confirmed, so
        // done + left first grows, then shrinks back; live entries add to both.
        let counts = [
            (0, 100),
            (40, 100),
            (80, 60),
            (100, 10),
            (100, 0),
            (100, 5),
            (105, 0),
        ];
        let shown = frames(&counts);
        let mut last = (0, 0);
        for (&(pos, total, restarted), &(_, left)) in shown.iter().zip(&counts) {
            assert!(!restarted);
            assert!(total >= last.1, "the total shrank: {shown:?}");
            assert!(pos >= last.0, "the position went back: {shown:?}");
            assert_eq!(pos == total, left == 0, "full iff nothing left: {shown:?}");
            assert_eq!(total - pos, left, "what is missing is what is left");
            last = (pos, total);
        }
    }

    #[test]
    fn the_bar_is_not_full_before_the_core_says_synced() {
        let (frame, _) = BarFrame::default().next(0, 0, false);
        assert!(frame.position < frame.total, "{frame:?}");
        let (frame, _) = frame.next(10, 0, false);
        assert!(frame.position < frame.total, "{frame:?}");
        let (frame, _) = frame.next(10, 0, true);
        assert_eq!(frame.position, frame.total, "{frame:?}");
    }

    #[test]
    fn a_new_session_starts_a_new_bar() {
        let shown = frames(&[(50, 0), (0, 20), (10, 10)]);
        assert_eq!(shown[1], (0, 20, true));
        assert_eq!(shown[2], (10, 20, false));
    }
}
