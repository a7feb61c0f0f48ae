//! Sync benchmark: prints figures, asserts nothing. Run with `scripts/bench.sh` or
//! `cargo bench -p mapeo-core --bench sync`. `MAPEO_BENCH_SYNC_NS=1000,10000` picks the sizes.
//!
//! For each N, a serving peer and a fresh receiving peer run as separate processes on
//! 127.0.0.1; the receiver reports the time from connected to synced (indexing included),
//! entries/s, MB/s, and each process reports its peak RSS. Then, in one process, the time to
//! reconnect two peers already in sync with 100 feeds.

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code: a failed step should panic

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mapeo_core::schema::{DocValue, Observation, TagValue};
use mapeo_core::sync::SyncPhase;
use mapeo_core::{JoinDetails, Manager, Namespace, RootKey};

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

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Child: serve the project in DIR until stdin closes, then print peak RSS.
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
        println!("listening {addr}");
        std::io::stdout().flush().expect("flush");
        let _ = tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            let _ = std::io::stdin().read_line(&mut s);
        })
        .await;
        println!("rss {:.1}", peak_rss_mb());
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
        let start = Instant::now();
        m.connect(addr.parse().expect("addr"))
            .await
            .expect("connect");
        m.wait_for_sync(&p.id(), SyncPhase::Full, WAIT)
            .await
            .expect("synced");
        let took = start.elapsed();
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
        println!(
            "synced {entries} {bytes} {:.3} {:.1}",
            took.as_secs_f64(),
            peak_rss_mb()
        );
    });
}

fn bench_size(n: usize) {
    let source = tempfile::tempdir().expect("tempdir");
    let details = {
        let m =
            Manager::open(source.path(), &RootKey::from_bytes([SERVER_SEED; 16])).expect("open");
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
    };
    let exe = std::env::current_exe().expect("exe");
    let mut server = Command::new(&exe)
        .env("MAPEO_SYNC_BENCH_ROLE", "serve")
        .env("MAPEO_SYNC_BENCH_ARG", source.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("server");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let addr = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| l.strip_prefix("listening ").map(str::to_owned))
        .expect("server address");
    let out = Command::new(&exe)
        .env("MAPEO_SYNC_BENCH_ROLE", "receive")
        .env("MAPEO_SYNC_BENCH_ARG", &addr)
        .env("MAPEO_JOIN", hex::encode(&*details.to_secret_bytes()))
        .output()
        .expect("receiver");
    drop(server.stdin.take());
    let server_rss = lines
        .find_map(|l| {
            l.ok()
                .and_then(|l| l.strip_prefix("rss ").map(str::to_owned))
        })
        .unwrap_or_default();
    let _ = server.wait();
    let report = String::from_utf8_lossy(&out.stdout);
    let Some(line) = report.lines().find_map(|l| l.strip_prefix("synced ")) else {
        println!(
            "  N={n}: receiver failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    };
    let f: Vec<f64> = line.split(' ').filter_map(|x| x.parse().ok()).collect();
    let (entries, bytes, secs, rss) = (f[0], f[1], f[2], f[3]);
    println!(
        "  N={n}: fresh peer synced {entries:.0} entries ({:.1} MB) in {:.3} s = {:.0} entries/s, {:.1} MB/s; peak RSS receiver {rss:.1} MB, server {server_rss} MB",
        bytes / 1e6,
        secs,
        entries / secs,
        bytes / 1e6 / secs
    );
}

fn bench_reconnect() {
    let rt = runtime();
    rt.block_on(async {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("tempdir")).collect();
        let a = Manager::open(dirs[0].path(), &RootKey::from_bytes([1; 16])).expect("open");
        let b = Manager::open(dirs[1].path(), &RootKey::from_bytes([2; 16])).expect("open");
        let pa = a.create_project(Default::default()).expect("project");
        let details = a.join_details(&pa.id()).expect("details");
        let pb = b.join_project(&details).expect("join");
        pa.assign_role(&b.device_id(), mapeo_core::PeerRole::Member, None).expect("role");
        // 100 feeds: 99 other devices each write one observation, and a's own.
        for seed in 10..109u8 {
            let dir = tempfile::tempdir().expect("tempdir");
            let m = Manager::open(dir.path(), &RootKey::from_bytes([seed; 16])).expect("open");
            let p = m.join_project(&details).expect("join");
            p.create(observation(usize::from(seed))).expect("create");
            let e = p.read_entries(&m.device_id(), Namespace::Data, 0, 1).expect("read");
            pa.import(&e).expect("import");
        }
        let feeds = pa.have_vector().expect("have").len();
        pa.set_data_sync(true);
        pb.set_data_sync(true);
        let addr = a.start_listening("127.0.0.1:0".parse().expect("addr")).await.expect("listen");
        b.connect(addr).await.expect("connect");
        b.wait_for_sync(&pb.id(), SyncPhase::Full, WAIT).await.expect("first sync");
        let pb2 = Arc::clone(&pb);
        let mut times = Vec::new();
        for _ in 0..5 {
            b.disconnect_all().await;
            let start = Instant::now();
            b.connect(addr).await.expect("reconnect");
            b.wait_for_sync(&pb2.id(), SyncPhase::Full, WAIT).await.expect("resync");
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
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    println!("mapeo-core sync benchmark (loopback TCP, Noise, separate processes)");
    for n in sizes {
        bench_size(n);
    }
    bench_reconnect();
}
