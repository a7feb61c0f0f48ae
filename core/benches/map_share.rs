//! Map-share benchmark: prints figures, asserts nothing. Run with `scripts/bench.sh` or
//! `cargo bench -p mapeo-core --bench map_share`.
//!
//! Between two processes on 127.0.0.1, in each round:
//! - the raw throughput of the Noise transport alone in 1 MiB messages, and the same with
//!   the receiver hashing and storing what arrives (the ceiling of any transfer here: the
//!   "stored" figure the blob benchmark prints);
//! - a map share of a ~200 MB MBTiles package, from the accept to the last byte held and
//!   to the package verified and installed (which also checks the MBTiles and copies it
//!   into the map store), in MB/s and as a share of the two figures above.
//!
//! `MAPEO_BENCH_MAP_MB=50` picks a smaller package; `MAPEO_BENCH_QUICK=1` a small one and one
//! round (see `common::quick`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code: a failed step should panic

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{cpu_seconds, peak_rss_mb};
use mapeo_core::manager::MapShareState;
use mapeo_core::net::{self, LocalIdentity};
use mapeo_core::schema::DeviceType;
use mapeo_core::{JoinDetails, Manager, RootKey};

const SENDER_SEED: u8 = 1;
const RECEIVER_SEED: u8 = 2;
const WAIT: Duration = Duration::from_secs(600);
const MB: f64 = 1e6;
/// Bytes of each tile of the generated package.
const TILE_BYTES: usize = 256 * 1024;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// `len` pseudo-random bytes (incompressible, like a satellite image's tiles).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(&seed.to_le_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

/// Writes a raster MBTiles of about `mb` MB of incompressible tiles (each starts like a PNG;
/// the import reads the format from the metadata, the tiles are served as they are).
fn package(path: &std::path::Path, mb: usize) {
    let conn = mapeo_core::db::open_plain_file(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE metadata (name TEXT, value TEXT);
         CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
         CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);
         INSERT INTO metadata VALUES ('name', 'Benchmark'), ('format', 'png');",
    )
    .unwrap();
    let tiles = (mb * 1_000_000).div_ceil(TILE_BYTES);
    let tx = conn.unchecked_transaction().unwrap();
    let (mut z, mut x, mut y) = (0u32, 0u32, 0u32);
    for n in 0..tiles {
        let mut tile = b"\x89PNG\r\n\x1a\n".to_vec();
        tile.extend(noise(TILE_BYTES, n as u64));
        tx.execute(
            "INSERT INTO tiles VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![z, x, y, tile],
        )
        .unwrap();
        y += 1;
        if y == 1 << z {
            y = 0;
            x += 1;
            if x == 1 << z {
                (z, x) = (z + 1, 0);
            }
        }
    }
    tx.commit().unwrap();
}

// ---- raw Noise ------------------------------------------------------------------------

/// Child: accept one connection, read `total` bytes of messages, answer one byte. With
/// `store`, also hash every byte and write it to a file on another thread, and sync it.
fn noise_receive(total: u64, store: bool) {
    let dir = tempfile::tempdir().unwrap();
    let storer = store.then(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let path = dir.path().join("received");
        let thread = std::thread::spawn(move || {
            let mut file = std::fs::File::create(path).unwrap();
            let mut hasher = blake3::Hasher::new();
            for m in rx {
                hasher.update(&m);
                file.write_all(&m).unwrap();
            }
            file.sync_all().unwrap();
            hasher.finalize()
        });
        (tx, thread)
    });
    runtime().block_on(async {
        let me = LocalIdentity::new(
            &RootKey::from_bytes([SENDER_SEED; 16]),
            "sink",
            DeviceType::Desktop,
        );
        let l = net::Listener::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        println!("listening {}", l.local_addr());
        std::io::stdout().flush().unwrap();
        let mut s = l.accept(&me).await.unwrap();
        let mut got = 0u64;
        while got < total {
            let m = s.recv().await.unwrap();
            got += m.len() as u64;
            if let Some((tx, _)) = &storer {
                tx.send(m).unwrap();
            }
        }
        if let Some((tx, thread)) = storer {
            drop(tx);
            tokio::task::spawn_blocking(move || thread.join().unwrap())
                .await
                .unwrap();
        }
        s.send(b"k").await.unwrap();
        let _ = s.recv().await;
    });
}

/// Child: connect, send `total` bytes in 1 MiB messages, wait for the answer.
fn noise_send(addr: &str, total: u64) {
    runtime().block_on(async {
        let me = LocalIdentity::new(
            &RootKey::from_bytes([RECEIVER_SEED; 16]),
            "source",
            DeviceType::Desktop,
        );
        let mut s = net::connect(addr.parse().unwrap(), &me).await.unwrap();
        let data = noise(1024 * 1024, 1);
        let start = Instant::now();
        let mut sent = 0u64;
        while sent < total {
            s.send(&data).await.unwrap();
            sent += data.len() as u64;
        }
        s.recv().await.unwrap();
        println!("sent {sent} {:.4}", start.elapsed().as_secs_f64());
    });
}

/// Spawns a child in `role` with `arg`, its stdout piped.
fn child(role: &str, arg: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.env("MAPEO_MAP_BENCH_ROLE", role)
        .env("MAPEO_MAP_BENCH_ARG", arg);
    c
}

/// The first line of `lines` after `prefix`.
fn line_after(lines: &mut impl Iterator<Item = std::io::Result<String>>, prefix: &str) -> String {
    lines
        .find_map(|l| {
            l.ok()
                .and_then(|l| l.strip_prefix(prefix).map(str::to_owned))
        })
        .unwrap_or_else(|| panic!("no {prefix:?} line"))
}

fn bench_noise(total: u64, store: bool) -> f64 {
    let role = if store {
        "noise-store"
    } else {
        "noise-receive"
    };
    let mut sink = child(role, &total.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(sink.stdout.take().unwrap()).lines();
    let addr = line_after(&mut lines, "listening ");
    let out = child("noise-send", &format!("{addr} {total}"))
        .output()
        .unwrap();
    let _ = sink.kill();
    let _ = sink.wait();
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    let f: Vec<f64> = report
        .trim()
        .strip_prefix("sent ")
        .expect("sender report")
        .split(' ')
        .map(|x| x.parse().unwrap())
        .collect();
    f[0] / MB / f[1]
}

// ---- map share between two processes ---------------------------------------------------

/// Child: the sender in DIR. Listens, waits for the receiver's project to be matched, offers
/// its one map, waits until installed there; reports its CPU time and peak memory.
fn send(dir: &str) {
    runtime().block_on(async {
        let m = Manager::open(dir.as_ref(), &RootKey::from_bytes([SENDER_SEED; 16])).unwrap();
        let receiver = RootKey::from_bytes([RECEIVER_SEED; 16])
            .device_keys()
            .device_id();
        let addr = m
            .start_listening("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        println!("listening {addr}");
        std::io::stdout().flush().unwrap();
        let board = m.sync_board();
        let mut rx = board.subscribe();
        tokio::time::timeout(
            WAIT,
            rx.wait_for(|b| b.keys().any(|(_, peer)| *peer == receiver)),
        )
        .await
        .expect("the receiver connects")
        .unwrap();
        let map = m.maps().unwrap().list().unwrap()[0].id.clone();
        let cpu = cpu_seconds();
        let id = m.share_map(&map, &receiver).await.unwrap();
        let mut shares = m.subscribe_map_shares();
        tokio::time::timeout(
            WAIT,
            shares.wait_for(|l| {
                l.iter()
                    .any(|s| s.id == id && s.state == MapShareState::Installed)
            }),
        )
        .await
        .expect("the share ends")
        .unwrap();
        println!("sent {:.1} {:.3}", peak_rss_mb(), cpu_seconds() - cpu);
    });
}

/// Child: the receiver. Joins, connects to ADDR, accepts the offer, reports the seconds from
/// the accept to the last byte held and to installed, the size, its peak memory and CPU.
fn receive(addr: &str) {
    let details =
        JoinDetails::from_secret_bytes(&hex::decode(std::env::var("MAPEO_JOIN").unwrap()).unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let m = Manager::open(dir.path(), &RootKey::from_bytes([RECEIVER_SEED; 16])).unwrap();
        m.join_project(&details).unwrap();
        m.connect(addr.parse().unwrap()).await.unwrap();
        let mut shares = m.subscribe_map_shares();
        let offered = tokio::time::timeout(
            WAIT,
            shares.wait_for(|l| l.iter().any(|s| s.state == MapShareState::Offered)),
        )
        .await
        .expect("an offer arrives")
        .unwrap()[0]
            .clone();
        let cpu = cpu_seconds();
        let start = Instant::now();
        m.accept_map_share(&offered.id).await.unwrap();
        tokio::time::timeout(
            WAIT,
            shares.wait_for(|l| l.iter().any(|s| s.bytes == offered.size)),
        )
        .await
        .expect("every byte arrives")
        .unwrap();
        let held = start.elapsed().as_secs_f64();
        tokio::time::timeout(
            WAIT,
            shares.wait_for(|l| l.iter().any(|s| s.state == MapShareState::Installed)),
        )
        .await
        .expect("installed")
        .unwrap();
        let installed = start.elapsed().as_secs_f64();
        println!(
            "received {held:.4} {installed:.4} {} {:.1} {:.3}",
            offered.size,
            peak_rss_mb(),
            cpu_seconds() - cpu
        );
        // Let the sender hear that it is installed before the connection closes.
        tokio::time::sleep(Duration::from_millis(200)).await;
    });
}

struct Shared {
    held_rate: f64,
    installed_rate: f64,
    mb: f64,
    rss: String,
    cpu_per_100mb: f64,
}

fn bench_share(source: &std::path::Path, details: &JoinDetails) -> Shared {
    let mut sender = child("send", &source.to_string_lossy())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(sender.stdout.take().unwrap()).lines();
    let addr = line_after(&mut lines, "listening ");
    let out = child("receive", &addr)
        .env("MAPEO_JOIN", hex::encode(&*details.to_secret_bytes()))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let line = report
        .lines()
        .find_map(|l| l.strip_prefix("received "))
        .unwrap_or_else(|| panic!("receiver failed: {}", String::from_utf8_lossy(&out.stderr)));
    let f: Vec<f64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
    let sent = line_after(&mut lines, "sent ");
    assert!(sender.wait().unwrap().success(), "sender failed");
    let (sender_rss, sender_cpu) = sent.split_once(' ').expect("sender report");
    let mb = f[2] / MB;
    Shared {
        held_rate: mb / f[0],
        installed_rate: mb / f[1],
        mb,
        rss: format!("peak RSS receiver {:.1} MB, sender {sender_rss} MB", f[3]),
        cpu_per_100mb: (f[4] + sender_cpu.parse::<f64>().unwrap()) / mb * 100.0,
    }
}

fn main() {
    if let Ok(role) = std::env::var("MAPEO_MAP_BENCH_ROLE") {
        let arg = std::env::var("MAPEO_MAP_BENCH_ARG").unwrap();
        let args: Vec<&str> = arg.split(' ').collect();
        match role.as_str() {
            "noise-receive" => noise_receive(args[0].parse().unwrap(), false),
            "noise-store" => noise_receive(args[0].parse().unwrap(), true),
            "noise-send" => noise_send(args[0], args[1].parse().unwrap()),
            "send" => send(&arg),
            "receive" => receive(args[0]),
            _ => panic!("unknown role"),
        }
        return;
    }
    let map_mb = common::setting("MAPEO_BENCH_MAP_MB", 8, 200);
    let rounds = common::setting("MAPEO_BENCH_ROUNDS", 1, 3).max(1);
    println!(
        "mapeo-core map-share benchmark (loopback TCP, Noise, separate processes; {rounds} rounds)"
    );
    let source = tempfile::tempdir().unwrap();
    let details = {
        let m = Manager::open(source.path(), &RootKey::from_bytes([SENDER_SEED; 16])).unwrap();
        let p = m.create_project(Default::default()).unwrap();
        let receiver = RootKey::from_bytes([RECEIVER_SEED; 16])
            .device_keys()
            .device_id();
        p.assign_role(&receiver, mapeo_core::PeerRole::Member, None)
            .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("benchmark.mbtiles");
        package(&file, map_mb);
        m.maps().unwrap().import_file(&file).unwrap();
        m.join_details(&p.id()).unwrap()
    };
    let total = (map_mb * 1_000_000) as u64;
    let (mut raw, mut stored, mut held, mut installed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut of_raw, mut of_stored, mut cpu) = (Vec::new(), Vec::new(), Vec::new());
    let (mut mb, mut rss) = (0.0, Vec::new());
    for _ in 0..rounds {
        let r = bench_noise(total, false);
        let st = bench_noise(total, true);
        let s = bench_share(source.path(), &details);
        raw.push(r);
        stored.push(st);
        held.push(s.held_rate);
        installed.push(s.installed_rate);
        of_raw.push(100.0 * s.held_rate / r);
        of_stored.push(100.0 * s.held_rate / st);
        cpu.push(s.cpu_per_100mb);
        mb = s.mb;
        rss.push(s.rss);
    }
    println!(
        "  raw Noise (1 MiB messages): {}",
        common::runs(&raw, "MB/s", 1)
    );
    println!(
        "  raw Noise stored (hashed and written, synced): {}",
        common::runs(&stored, "MB/s", 1)
    );
    println!(
        "  map share of a {mb:.0} MB package, from the accept to every byte held: {}",
        common::runs(&held, "MB/s", 1)
    );
    println!(
        "    = {} of raw Noise and {} of raw Noise stored, in the same round",
        common::runs(&of_raw, "%", 0),
        common::runs(&of_stored, "%", 0)
    );
    println!(
        "  ... to verified by hash and installed (the MBTiles checked, copied into the map store): {}",
        common::runs(&installed, "MB/s", 1)
    );
    println!(
        "  CPU (user + system, both processes): {} per 100 MB moved; {}",
        common::runs(&cpu, "s", 2),
        rss.last().cloned().unwrap_or_default()
    );
}
