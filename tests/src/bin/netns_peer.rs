//! A device for the discovery scenarios, run inside a network namespace the test created.
//! Environment:
//! - `MAPEO_PEER_DIR`, `MAPEO_PEER_SEED`: data folder and test root key seed;
//! - the project: reopened if the folder has one, else joined from the hex join details in
//!   `MAPEO_PEER_JOIN`, else created with the comma-separated device ids in
//!   `MAPEO_PEER_MEMBER` as members; then `MAPEO_PEER_WRITE` observations are added;
//! - listens on `0.0.0.0:MAPEO_PEER_PORT` (default 0) and runs discovery on the interface
//!   `MAPEO_PEER_IFACE` only (none with `MAPEO_PEER_NO_DISCOVERY=1`; started, stopped and
//!   started again first with `MAPEO_PEER_RESTART=1`).
//!
//! Prints `JOIN <hex>` (creator), `LISTENING <port>`, then `SYNCED <observations> <sessions>`
//! whenever fully synced with at least `MAPEO_PEER_EXPECT` observations and either number
//! changed. Runs until its stdin closes or [`LIFETIME`] passes.

use std::io::{BufRead, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mapeo_core::PeerRole;
use mapeo_core::discovery::{DiscoveryOptions, Interfaces};
use mapeo_core::schema::{DocType, DocValue, Observation, TagValue};
use mapeo_core::sync::SyncPhase;
use mapeo_core::{DeviceId, JoinDetails, Manager, ProjectStatus, Query};
use mapeo_scenarios::test_root_key;

/// Longest the process runs.
const LIFETIME: Duration = Duration::from_secs(120);
/// How long a device that just joined waits to learn its role before writing (generous: over
/// the very lossy link on a loaded 2-core machine the role once took over 60 s).
const ROLE_WAIT: Duration = Duration::from_secs(100);
/// How long one sync wait may see no progress before it is retried.
const SYNC_POLL: Duration = Duration::from_secs(2);
/// Pause between checks.
const TICK: Duration = Duration::from_millis(200);

type Failure = Box<dyn std::error::Error>;

fn env(name: &str) -> Result<String, Failure> {
    std::env::var(name).map_err(|_| format!("missing {name}").into())
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn observation(i: usize) -> DocValue {
    let mut o = Observation {
        lat: Some(1.0 + i as f64 * 0.001),
        lon: Some(2.0),
        ..Default::default()
    };
    o.tags
        .insert("notes".into(), TagValue::String(format!("netns {i}")));
    DocValue::Observation(o)
}

fn main() -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> Result<(), Failure> {
    let dir = PathBuf::from(env("MAPEO_PEER_DIR")?);
    let seed: u8 = env("MAPEO_PEER_SEED")?.parse()?;
    let iface = env("MAPEO_PEER_IFACE")?;
    let expect: usize = env("MAPEO_PEER_EXPECT")?.parse()?;
    let manager = Manager::open(&dir, &test_root_key(seed))?;
    let existing = manager
        .list_projects()?
        .into_iter()
        .find(|p| p.status == ProjectStatus::Joined);
    let writes: usize = std::env::var("MAPEO_PEER_WRITE")
        .ok()
        .map(|w| w.parse())
        .transpose()?
        .unwrap_or(0);
    let project = if let Some(summary) = existing {
        // A restart: the same project, maybe more observations.
        manager.open_project(&summary.project_id)?
    } else if let Ok(join) = std::env::var("MAPEO_PEER_JOIN") {
        let bytes = hex::decode(join.trim())?;
        let details = JoinDetails::from_secret_bytes(&bytes).ok_or("bad join details")?;
        manager.join_project(&details)?
    } else {
        let project = manager.create_project(Default::default())?;
        for member in env("MAPEO_PEER_MEMBER")?.split(',') {
            let member: DeviceId = member.parse()?;
            project.assign_role(&member, PeerRole::Member, None)?;
        }
        let details = manager.join_details(&project.id())?;
        say(&format!(
            "JOIN {}",
            hex::encode(details.to_secret_bytes().as_slice())
        ));
        project
    };
    manager.start_sync(&project.id())?;
    let port: u16 = std::env::var("MAPEO_PEER_PORT")
        .ok()
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(0);
    let addr = manager
        .start_listening(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port))
        .await?;
    let options = DiscoveryOptions {
        interfaces: Interfaces::Named(vec![iface]),
    };
    if std::env::var("MAPEO_PEER_RESTART").as_deref() == Ok("1") {
        manager.start_discovery(options.clone()).await?;
        manager.stop_discovery().await;
        manager.start_discovery(options.clone()).await?;
        manager.stop_discovery().await;
    }
    if std::env::var("MAPEO_PEER_NO_DISCOVERY").as_deref() != Ok("1") {
        manager.start_discovery(options).await?;
    }
    say(&format!("LISTENING {}", addr.port()));
    // A device that just joined writes once it has learnt its role from a peer (writes it
    // may not make are refused).
    let mut role = project.subscribe_own_role();
    tokio::time::timeout(
        ROLE_WAIT,
        role.wait_for(|r| matches!(r, PeerRole::Creator | PeerRole::Member)),
    )
    .await
    .map_err(|_| "no role arrived")??;
    let have = project.list(&Query::all(DocType::Observation))?.len();
    for i in have..have + writes {
        project.create(observation(i))?;
    }

    let stdin_closed = Arc::new(AtomicBool::new(false));
    let flag = stdin_closed.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
        }
        flag.store(true, Ordering::SeqCst);
    });

    let deadline = tokio::time::Instant::now() + LIFETIME;
    let mut reported = None;
    while tokio::time::Instant::now() < deadline && !stdin_closed.load(Ordering::SeqCst) {
        if manager.connection_count() > 0 {
            let synced = manager
                .wait_for_sync(&project.id(), SyncPhase::Full, SYNC_POLL)
                .await
                .is_ok();
            let now = (
                project.list(&Query::all(DocType::Observation))?.len(),
                manager.connection_count(),
            );
            if synced && now.0 >= expect && reported != Some(now) {
                say(&format!("SYNCED {} {}", now.0, now.1));
                reported = Some(now);
            }
        }
        tokio::time::sleep(TICK).await;
    }
    manager.stop_discovery().await;
    manager.disconnect_all().await;
    Ok(())
}
