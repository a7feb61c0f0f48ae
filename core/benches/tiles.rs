//! Map tile benchmark: prints figures, asserts nothing. Run with `scripts/bench.sh` or
//! `cargo bench -p mapeo-core --bench tiles`.
//!
//! Generates an MBTiles package of about 200 MB (PNG tiles of noise, which do not compress)
//! and one of about 20 MB in a temp folder, imports each into a device, and reads random
//! tiles through the device's local server (HTTP on 127.0.0.1) with a few concurrent
//! clients, each over one kept-alive connection: tiles/s, p50 and p99 latency, and the
//! server's peak RSS. The server runs in a child process of its own, so its peak RSS is its
//! own and the two package sizes can be compared: it should stay flat in package size.
//!
//! `MAPEO_BENCH_TILES_MB=50` picks the large size, `MAPEO_BENCH_TILE_READS` the reads per
//! client; `MAPEO_BENCH_QUICK=1` small sizes (see `common::quick`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code: a failed step should panic

mod common;

use std::io::{BufRead, BufReader, Cursor, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{peak_rss_mb, setting};
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use mapeo_core::{Manager, RootKey};
use rusqlite::params;

const SEED: u8 = 7;
/// Set in the child: the data folder whose server it runs.
const CHILD_ENV: &str = "MAPEO_BENCH_TILES_CHILD";
const CLIENTS: usize = 4;
const DISTINCT_TILES: usize = 64;
const TILE_SIDE: u32 = 128;
const WAIT: Duration = Duration::from_secs(60);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A PNG of noise (about 49 KB at 128×128): real tile bytes that do not compress.
fn noise_png(seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; (TILE_SIDE * TILE_SIDE * 3) as usize];
    blake3::Hasher::new()
        .update(&seed.to_le_bytes())
        .finalize_xof()
        .fill(&mut bytes);
    let img = image::RgbImage::from_raw(TILE_SIDE, TILE_SIDE, bytes).unwrap();
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Writes an MBTiles of at least `target` bytes of tiles, filling zoom levels from 0 up;
/// returns its tiles' XYZ coordinates.
fn generate(path: &Path, target: u64, pngs: &[Vec<u8>]) -> Vec<(u8, u32, u32)> {
    let mut conn = mapeo_core::db::open_plain_file(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE metadata (name TEXT, value TEXT);
         CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
         CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);
         INSERT INTO metadata VALUES ('name', 'Bench'), ('format', 'png');",
    )
    .unwrap();
    let tx = conn.transaction().unwrap();
    let mut coords = Vec::new();
    let mut written = 0u64;
    'zooms: for z in 0u8..=14 {
        let n = 1u32 << z;
        for x in 0..n {
            for y in 0..n {
                let png = &pngs[coords.len() % pngs.len()];
                let row = n - 1 - y;
                tx.execute(
                    "INSERT INTO tiles VALUES (?1, ?2, ?3, ?4)",
                    params![z, x, row, png],
                )
                .unwrap();
                coords.push((z, x, y));
                written += png.len() as u64;
                if written >= target {
                    break 'zooms;
                }
            }
        }
    }
    tx.commit().unwrap();
    coords
}

/// Child: serve the device in DIR until stdin closes, print the base URL first and the peak
/// RSS last.
fn child(dir: &Path) {
    let rt = runtime();
    rt.block_on(async {
        let manager = Arc::new(Manager::open(dir, &RootKey::from_bytes([SEED; 16])).unwrap());
        let server = manager.local_server().await.unwrap();
        let maps = manager.maps().unwrap().list().unwrap();
        println!("{}/maps/{}/tiles/mbtiles", server.base_url(), maps[0].id);
        std::io::stdout().flush().unwrap();
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).unwrap_or(0) > 0 {}
        })
        .await
        .unwrap();
        println!("rss {:.1}", peak_rss_mb());
    });
}

/// One client: `reads` random tiles over one kept-alive connection; the latency of each.
async fn client(
    base: String,
    coords: Arc<Vec<(u8, u32, u32)>>,
    reads: usize,
    seed: u64,
) -> Vec<Duration> {
    let authority = base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let path_base = base
        .trim_start_matches("http://")
        .split_once('/')
        .map(|(_, p)| format!("/{p}"))
        .unwrap();
    let stream = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut latencies = Vec::with_capacity(reads);
    for _ in 0..reads {
        // xorshift: reproducible, uniform enough to scatter reads over the package.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let (z, x, y) = coords[(state % coords.len() as u64) as usize];
        let req = Request::get(format!("{path_base}/{z}/{x}/{y}"))
            .header("host", &authority)
            .body(Empty::<Bytes>::new())
            .unwrap();
        let start = Instant::now();
        let response = tokio::time::timeout(WAIT, sender.send_request(req))
            .await
            .expect("tile in time")
            .unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        latencies.push(start.elapsed());
        assert!(!body.is_empty());
    }
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn run_size(label: &str, target_mb: usize, reads: usize, pngs: &[Vec<u8>]) {
    let tmp = tempfile::tempdir().unwrap();
    let package = tmp.path().join("bench.mbtiles");
    let started = Instant::now();
    let coords = Arc::new(generate(&package, target_mb as u64 * 1_000_000, pngs));
    let size = std::fs::metadata(&package).unwrap().len();
    let data = tmp.path().join("device");
    {
        let manager = Manager::open(&data, &RootKey::from_bytes([SEED; 16])).unwrap();
        manager.maps().unwrap().import_file(&package).unwrap();
    }
    std::fs::remove_file(&package).unwrap();
    println!(
        "{label}: {:.1} MB package, {} tiles, made and imported in {:.1} s",
        size as f64 / 1e6,
        coords.len(),
        started.elapsed().as_secs_f64()
    );
    let exe = std::env::current_exe().unwrap();
    let mut server = Command::new(exe)
        .env(CHILD_ENV, &data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(server.stdout.take().unwrap());
    let mut base = String::new();
    out.read_line(&mut base).unwrap();
    let base = base.trim().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "child said {base:?}");

    let rt = runtime();
    let (latencies, elapsed) = rt.block_on(async {
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for c in 0..CLIENTS {
            tasks.spawn(client(base.clone(), coords.clone(), reads, c as u64 + 1));
        }
        let mut all = Vec::new();
        while let Some(r) = tasks.join_next().await {
            all.extend(r.unwrap());
        }
        (all, start.elapsed())
    });
    drop(server.stdin.take());
    let mut rss = String::new();
    out.read_line(&mut rss).unwrap();
    server.wait().unwrap();
    let mut sorted = latencies;
    sorted.sort();
    println!(
        "  {} random tile reads by {CLIENTS} clients: {:.0} tiles/s, p50 {:.2} ms, p99 {:.2} ms; server peak RSS {} MB",
        sorted.len(),
        sorted.len() as f64 / elapsed.as_secs_f64(),
        percentile(&sorted, 0.50).as_secs_f64() * 1e3,
        percentile(&sorted, 0.99).as_secs_f64() * 1e3,
        rss.trim().trim_start_matches("rss ")
    );
}

fn main() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir));
        return;
    }
    let large = setting("MAPEO_BENCH_TILES_MB", 4, 200);
    let small = (large / 10).max(1);
    let reads = setting("MAPEO_BENCH_TILE_READS", 100, 2_500);
    println!("tiles: random reads through the local map server");
    let pngs: Vec<Vec<u8>> = (0..DISTINCT_TILES as u64).map(noise_png).collect();
    run_size("large", large, reads, &pngs);
    run_size("small", small, reads, &pngs);
}
