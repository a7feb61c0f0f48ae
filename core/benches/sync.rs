//! Sync benchmark: prints figures, asserts nothing. Run with `scripts/bench.sh` or
//! `cargo bench -p mapeo-core --bench sync`. `MAPEO_BENCH_SYNC_NS=1000,10000` picks the sizes;
//! `MAPEO_BENCH_QUICK=1` runs small ones (see `common::quick`).
//!
//! For each N, in rounds (`MAPEO_BENCH_ROUNDS`, 3; 1 in quick mode) whose median is printed
//! beside every run, a serving peer and a fresh receiving peer run as separate processes on
//! 127.0.0.1; the receiver reports the time from connected to synced (indexing included),
//! entries/s, MB/s, and each process its peak RSS and the CPU time it spent syncing (user +
//! system: what a phone's battery pays). The same again with both processes pinned to one
//! core (`taskset -c 0`, the nearest this machine gets to a cheap phone), and once through a
//! relay that counts the bytes on the wire; the receiver's database size per entry after.
//! Beside them, the store's part alone: the same entries given to a fresh member's `import`
//! in one process, without network or peer (`MAPEO_BENCH_IMPORT_ONLY=1` runs only that part,
//! to weigh a change to the store quickly).
//! Then, in one process, the time to reconnect two peers already in sync with 100 feeds.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code: a failed step should panic

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{cpu_seconds, peak_rss_mb};
use mapeo_core::schema::{DocValue, Observation, TagValue};
use mapeo_core::sync::SyncPhase;
use mapeo_core::{JoinDetails, Manager, Namespace, Project, RootKey};

const SERVER_SEED: u8 = 1;
const RECEIVER_SEED: u8 = 2;
const WAIT: Duration = Duration::from_secs(120);

fn observation(i: usize) -> DocValue {
    let mut tags = std::collections::BTreeMap::new();
    tags.insert(
        "notes".to_owned(),
        TagValue::String(format!("Observation {i}: fresh tracks near the river bank")),
    );
    tags.insert("category".to_owned(), TagValue::String("wildlife".into()));
    DocValue::Observation(Observation {
        lat: Some(-4.0 + (i % 1000) as f64 * 0.002),
        lon: Some(-61.0 + (i / 1000 % 1000) as f64 * 0.002),
        tags,
        ..Default::default()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Child: serve the project in DIR until stdin closes, then print peak RSS and the CPU
/// seconds spent since listening.
fn serve(dir: &str) {
    let rt = runtime();
    rt.block_on(async {
        let m = Manager::open(dir.as_ref(), &RootKey::from_bytes([SERVER_SEED; 16])).expect("open");
        for p in m.list_projects().expect("list") {
            m.start_sync(&p.project_id).expect("sync on");
        }
        let addr = m
            .start_listening("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("listen");
        let cpu = cpu_seconds();
        println!("listening {addr}");
        std::io::stdout().flush().expect("flush");
        let _ = tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            let _ = std::io::stdin().read_line(&mut s);
        })
        .await;
        println!("rss {:.1} {:.3}", peak_rss_mb(), cpu_seconds() - cpu);
    });
}

/// Child: join from the details in MAPEO_JOIN, connect to ADDR, wait until synced, report.
fn receive(addr: &str) {
    let details = std::env::var("MAPEO_JOIN").expect("join details");
    let details =
        JoinDetails::from_secret_bytes(&hex::decode(details).expect("hex")).expect("details");
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    rt.block_on(async {
        let m = Manager::open(dir.path(), &RootKey::from_bytes([RECEIVER_SEED; 16])).expect("open");
        let p = m.join_project(&details).expect("join");
        p.set_data_sync(true);
        let cpu = cpu_seconds();
        let start = Instant::now();
        m.connect(addr.parse().expect("addr"))
            .await
            .expect("connect");
        m.wait_for_sync(&p.id(), SyncPhase::Full, WAIT)
            .await
            .expect("synced");
        let took = start.elapsed();
        let cpu = cpu_seconds() - cpu;
        let have = p.have_vector().expect("have");
        let entries: u64 = have.values().sum();
        let mut bytes = 0usize;
        for ((author, ns), len) in &have {
            let mut at = 0;
            while at < *len {
                let batch = p.read_entries(author, *ns, at, at + 1000).expect("read");
                at += batch.len() as u64;
                bytes += batch
                    .iter()
                    .map(|e| e.payload.len() + 64 + 32 + 48)
                    .sum::<usize>();
            }
        }
        p.checkpoint().expect("checkpoint");
        println!(
            "synced {entries} {bytes} {:.3} {:.1} {cpu:.3} {}",
            took.as_secs_f64(),
            peak_rss_mb(),
            common::db_bytes(p.path())
        );
    });
}

/// What one run of a fresh receiver against a serving process measured.
struct Run {
    entries: f64,
    /// Bytes of the entries received (payload, signature, key, header: an estimate of what
    /// crosses the wire without framing and encryption).
    bytes: f64,
    secs: f64,
    rss: f64,
    server_rss: f64,
    /// CPU seconds of the receiver, and of the server, while syncing.
    cpu: f64,
    server_cpu: f64,
    /// The receiver's database (with its log, after a checkpoint), in bytes.
    disk: f64,
    /// Bytes counted on the wire both ways, when run through a relay.
    wire: Option<u64>,
}

/// Runs a serving process on `source` and a fresh receiving one; `pinned` puts both on core
/// 0, `relay` sends the connection through a byte-counting relay.
fn run_once(source: &std::path::Path, details: &JoinDetails, pinned: bool, relay: bool) -> Run {
    let exe = std::env::current_exe().expect("exe");
    let mut server = common::child(&exe, pinned)
        .env("MAPEO_SYNC_BENCH_ROLE", "serve")
        .env("MAPEO_SYNC_BENCH_ARG", source)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("server");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let addr: std::net::SocketAddr = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| l.strip_prefix("listening ").and_then(|a| a.parse().ok()))
        .expect("server address");
    let relay = relay.then(|| common::Relay::start(addr));
    let out = common::child(&exe, pinned)
        .env("MAPEO_SYNC_BENCH_ROLE", "receive")
        .env(
            "MAPEO_SYNC_BENCH_ARG",
            relay.as_ref().map_or(addr, |r| r.addr).to_string(),
        )
        .env("MAPEO_JOIN", hex::encode(&*details.to_secret_bytes()))
        .output()
        .expect("receiver");
    drop(server.stdin.take());
    let server_line = lines
        .find_map(|l| {
            l.ok()
                .and_then(|l| l.strip_prefix("rss ").map(str::to_owned))
        })
        .unwrap_or_default();
    let status = server.wait().expect("server exit");
    let report = String::from_utf8_lossy(&out.stdout);
    let line = report
        .lines()
        .find_map(|l| l.strip_prefix("synced "))
        .unwrap_or_else(|| panic!("receiver failed: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(status.success(), "server failed");
    let f: Vec<f64> = line
        .split(' ')
        .map(|x| x.parse().expect("figure"))
        .collect();
    let (server_rss, server_cpu) = server_line.split_once(' ').expect("server report");
    Run {
        entries: f[0],
        bytes: f[1],
        secs: f[2],
        rss: f[3],
        cpu: f[4],
        disk: f[5],
        server_rss: server_rss.parse().expect("server rss"),
        server_cpu: server_cpu.parse().expect("server cpu"),
        // Both directions are counted once the receiver has exited (its socket closed).
        wire: relay.map(|r| {
            std::thread::sleep(Duration::from_millis(50));
            r.total()
        }),
    }
}

/// A device with a project of `n` observations in `dir`, the receiver given a role in it.
fn source_of(dir: &std::path::Path, n: usize) -> JoinDetails {
    let m = Manager::open(dir, &RootKey::from_bytes([SERVER_SEED; 16])).expect("open");
    let p = m.create_project(Default::default()).expect("project");
    let mut i = 0;
    while i < n {
        let end = (i + 1000).min(n);
        p.create_many((i..end).map(observation).collect())
            .expect("fill");
        i = end;
    }
    let receiver = RootKey::from_bytes([RECEIVER_SEED; 16])
        .device_keys()
        .device_id();
    p.assign_role(&receiver, mapeo_core::PeerRole::Member, None)
        .expect("role");
    m.join_details(&p.id()).expect("details")
}

fn bench_size(n: usize) {
    let source = tempfile::tempdir().expect("tempdir");
    let details = source_of(source.path(), n);
    let mut pins = vec![false];
    if common::can_pin() {
        pins.push(true);
    }
    if std::env::var_os("MAPEO_BENCH_IMPORT_ONLY").is_some() {
        pins.clear();
    }
    let rounds = common::setting("MAPEO_BENCH_ROUNDS", 1, 3).max(1);
    for pinned in pins {
        let all: Vec<Run> = (0..rounds)
            .map(|_| run_once(source.path(), &details, pinned, false))
            .collect();
        let of = |f: &dyn Fn(&Run) -> f64| all.iter().map(f).collect::<Vec<f64>>();
        let secs = of(&|r| r.secs);
        let per_10k = |cpu: f64| cpu / n as f64 * 10_000.0;
        let (entries, bytes) = (all[0].entries, all[0].bytes);
        let took = common::median(&secs);
        println!(
            "  N={n}{}: fresh peer synced {entries:.0} entries ({:.1} MB) in {} = {:.0} entries/s, {:.1} MB/s",
            if pinned {
                ", both processes pinned to one core"
            } else {
                ""
            },
            bytes / 1e6,
            common::runs(&secs, "s", 3),
            entries / took,
            bytes / 1e6 / took
        );
        println!(
            "    CPU per 10k observations (user + system, both processes): {}; of which receiver {:.2} s, server {:.2} s; peak RSS receiver {:.1} MB, server {:.1} MB (the most of any round)",
            common::runs(&of(&|r| per_10k(r.cpu + r.server_cpu)), "s", 2),
            per_10k(common::median(&of(&|r| r.cpu))),
            per_10k(common::median(&of(&|r| r.server_cpu))),
            of(&|r| r.rss).into_iter().fold(0.0, f64::max),
            of(&|r| r.server_rss).into_iter().fold(0.0, f64::max),
        );
    }
    bench_import(source.path(), &details, rounds);
    let r = run_once(source.path(), &details, false, true);
    let wire = r.wire.unwrap_or(0) as f64;
    println!(
        "    through a counting relay: {:.2} MB on the wire both ways = {:.0} bytes per entry; the receiver's database {:.0} bytes per entry",
        wire / 1e6,
        wire / r.entries,
        r.disk / r.entries
    );
}

/// The store's part of a sync alone: in one process, the source's entries (read beforehand)
/// given to a fresh member's `import` in the groups a session commits (`IMPORT_GROUP`), without
/// a network or a peer. Time and CPU from the first import to the last.
fn bench_import(source: &std::path::Path, details: &JoinDetails, rounds: usize) {
    const IMPORT_GROUP: usize = 4_000;
    let m = Manager::open(source, &RootKey::from_bytes([SERVER_SEED; 16])).expect("open");
    let p = m
        .open_project(&details.project_key().project_id())
        .expect("source");
    let mut entries = Vec::new();
    for ((author, ns), len) in p.have_vector().expect("have") {
        let mut at = 0;
        while at < len {
            let batch = p
                .read_entries(&author, ns, at, len.min(at + 1000))
                .expect("read");
            at += batch.len() as u64;
            entries.extend(batch);
        }
    }
    drop((p, m));
    // Auth entries first, so that the member learns its role before the data arrives.
    entries.sort_by_key(|e| e.namespace != Namespace::Auth);
    let mut secs = Vec::new();
    let mut cpus = Vec::new();
    let mut stored = 0;
    for _ in 0..rounds {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = Manager::open(dir.path(), &RootKey::from_bytes([RECEIVER_SEED; 16])).expect("open");
        let q = r.join_project(details).expect("join");
        let cpu = cpu_seconds();
        let start = Instant::now();
        stored = 0;
        let parts: Vec<&[_]> = entries
            .chunk_by(|a, b| a.namespace == b.namespace && a.author == b.author)
            .flat_map(|group| group.chunks(IMPORT_GROUP))
            .collect();
        for (i, part) in parts.iter().enumerate() {
            // As a session does while the peer holds more for it.
            let more_to_come = i + 1 < parts.len();
            stored += q
                .import_from_stream(part, more_to_come)
                .expect("import")
                .appended;
        }
        secs.push(start.elapsed().as_secs_f64());
        cpus.push(cpu_seconds() - cpu);
    }
    println!(
        "    the store's part alone (import in groups of {IMPORT_GROUP}, one process, no network): {stored} entries in {} = {:.0} entries/s; CPU {}",
        common::runs(&secs, "s", 3),
        stored as f64 / common::median(&secs),
        common::runs(&cpus, "s", 2)
    );
}

/// A device that joins `pa`'s project, is given the member role by its creator and learns it
/// (the creator's records copied over, as a first sync would).
fn member(
    dir: &std::path::Path,
    seed: u8,
    pa: &Project,
    details: &JoinDetails,
) -> (Manager, Arc<Project>) {
    let m = Manager::open(dir, &RootKey::from_bytes([seed; 16])).expect("open");
    let p = m.join_project(details).expect("join");
    pa.assign_role(&m.device_id(), mapeo_core::PeerRole::Member, None)
        .expect("role");
    let ours = p.have_vector().expect("have");
    let mut entries = Vec::new();
    for ((author, ns), len) in pa.have_vector().expect("have") {
        let have = ours.get(&(author, ns)).copied().unwrap_or(0);
        entries.extend(pa.read_entries(&author, ns, have, len).expect("read"));
    }
    p.import(&entries).expect("import");
    // As a sync would: the creator said how far this device's own feeds go (nowhere), so the
    // new member may write.
    p.note_peer_holdings(&pa.have_vector().expect("have"))
        .expect("holdings");
    (m, p)
}

fn bench_reconnect() {
    let feeds = common::setting("MAPEO_BENCH_FEEDS", 20, 100);
    let rounds = common::setting("MAPEO_BENCH_ROUNDS", 2, 5).max(1);
    let rt = runtime();
    rt.block_on(async {
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().expect("tempdir")).collect();
        let a = Manager::open(dirs[0].path(), &RootKey::from_bytes([1; 16])).expect("open");
        let pa = a.create_project(Default::default()).expect("project");
        let details = a.join_details(&pa.id()).expect("details");
        let (b, pb) = member(dirs[1].path(), 2, &pa, &details);
        // `feeds - 1` other devices each write one observation, and a's own.
        for seed in (10..).take(feeds - 1) {
            let dir = tempfile::tempdir().expect("tempdir");
            let (m, p) = member(dir.path(), seed, &pa, &details);
            p.create(observation(usize::from(seed))).expect("create");
            let e = p
                .read_entries(&m.device_id(), Namespace::Data, 0, 1)
                .expect("read");
            pa.import(&e).expect("import");
        }
        let feeds = pa.have_vector().expect("have").len();
        pa.set_data_sync(true);
        pb.set_data_sync(true);
        let addr = a
            .start_listening("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("listen");
        b.connect(addr).await.expect("connect");
        b.wait_for_sync(&pb.id(), SyncPhase::Full, WAIT)
            .await
            .expect("first sync");
        let mut times = Vec::new();
        for _ in 0..rounds {
            b.disconnect_all().await;
            let start = Instant::now();
            b.connect(addr).await.expect("reconnect");
            b.wait_for_sync(&pb.id(), SyncPhase::Full, WAIT)
                .await
                .expect("resync");
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "  reconnect of two peers already in sync, {feeds} feeds: median {:.1} ms (min {:.1}, max {:.1})",
            times[times.len() / 2],
            times[0],
            times[times.len() - 1]
        );
    });
}

fn main() {
    match std::env::var("MAPEO_SYNC_BENCH_ROLE").as_deref() {
        Ok("serve") => return serve(&std::env::var("MAPEO_SYNC_BENCH_ARG").expect("dir")),
        Ok("receive") => return receive(&std::env::var("MAPEO_SYNC_BENCH_ARG").expect("addr")),
        _ => {}
    }
    let sizes: Vec<usize> = std::env::var("MAPEO_BENCH_SYNC_NS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| {
            if common::quick() {
                vec![1_000]
            } else {
                vec![1_000, 10_000, 100_000]
            }
        });
    println!("mapeo-core sync benchmark (loopback TCP, Noise, separate processes)");
    for n in sizes {
        bench_size(n);
    }
    if std::env::var_os("MAPEO_BENCH_IMPORT_ONLY").is_none() {
        bench_reconnect();
    }
}
