//! Blob benchmark: prints figures, asserts nothing. Run with `scripts/bench.sh` or
//! `cargo bench -p mapeo-core --bench blobs`.
//!
//! In one run, each between two processes on 127.0.0.1:
//! - the raw throughput of the Noise transport alone (`net`, 4 MiB and 1 MiB messages): the
//!   physical limit of blob sync here; then with the receiver hashing and storing what arrives
//!   (the ceiling of any blob receiver), and hashing, sealing (`sealed_file`) and storing it
//!   (the ceiling of one that seals at rest, as blobs are);
//! - blob sync of 20 photos of about 3 MB (every variant, to an archive peer), and of one
//!   200 MB video, in MB/s and as a share of the raw Noise figure;
//! - 1,000 observations with 20 photos to a phone (previews and thumbnails only), the
//!   reference's published case;
//! - then, in this process, making the preview and thumbnail of a 12-megapixel JPEG.
//!
//! Each blob sync also reports the CPU time both processes spent (user + system: what a
//! phone's battery pays) per 100 MB of media moved, and runs once more with both processes
//! pinned to one core (`taskset -c 0`, the nearest this machine gets to a cheap phone).
//!
//! `MAPEO_BENCH_VIDEO_MB=50` picks a smaller video; `MAPEO_BENCH_QUICK=1` small sizes and one
//! round (see `common::quick`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code: a failed step should panic

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{cpu_seconds, peak_rss_mb};
use mapeo_core::net::{self, LocalIdentity};
use mapeo_core::schema::{DeviceType, DocValue, Observation, TagValue};
use mapeo_core::sealed_file::SealedWriter;
use mapeo_core::sync::SyncPhase;
use mapeo_core::{BlobPolicy, JoinDetails, Manager, RootKey};

const SERVER_SEED: u8 = 1;
const RECEIVER_SEED: u8 = 2;
const WAIT: Duration = Duration::from_secs(300);
const MB: f64 = 1e6;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// `len` pseudo-random bytes (incompressible, like a video's).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(&seed.to_le_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

/// A photo-like JPEG: smooth gradients with grain, so it compresses like a camera's.
fn photo(w: u32, h: u32, seed: u32, quality: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let grain =
            (x.wrapping_mul(7919) ^ y.wrapping_mul(104_729) ^ seed.wrapping_mul(2_654_435_761))
                .wrapping_mul(2_246_822_519)
                >> 27;
        let g = |v: u32| u8::try_from((v + grain) % 256).unwrap_or(0);
        image::Rgb([
            g(x * 255 / w + seed),
            g(y * 255 / h),
            g((x + y) * 128 / (w + h) + 64),
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&img)
        .unwrap();
    out
}

// ---- raw Noise ------------------------------------------------------------------------

/// What the raw Noise receiver does with what arrives.
#[derive(Clone, Copy, PartialEq)]
enum Sink {
    /// Nothing: the transport alone.
    Drop,
    /// Hash it and write it to a file.
    Store,
    /// Hash it, seal it (`sealed_file`, as blobs are at rest) and write it to a file.
    SealAndStore,
}

/// Child: accept one connection, read `total` bytes of messages, answer one byte. Unless
/// `sink` is [`Sink::Drop`], also do what any receiver of blobs must do, at best: hash every
/// byte (and seal it, for [`Sink::SealAndStore`]) and write it to a file, on another thread
/// (so it overlaps the decryption), flushing it as it grows, and sync the file before
/// answering.
fn noise_receive(total: u64, sink: Sink) {
    let dir = tempfile::tempdir().unwrap();
    let storer = (sink != Sink::Drop).then(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let path = dir.path().join("received");
        let thread = std::thread::spawn(move || {
            let file = std::fs::File::create(path).unwrap();
            let mut hasher = blake3::Hasher::new();
            let mut unflushed = 0u64;
            let mut received = 0u64;
            let key = mapeo_core::crypto::FileKey::from_bytes([5; 32]);
            enum Out {
                Plain(std::fs::File),
                Sealed(SealedWriter<std::fs::File>),
            }
            let mut out = match sink {
                Sink::SealAndStore => Out::Sealed(SealedWriter::new(&key, file).unwrap()),
                _ => Out::Plain(file),
            };
            for mut m in rx {
                hasher.update(&m);
                received += m.len() as u64;
                let file = match &mut out {
                    Out::Plain(file) => {
                        file.write_all(&m).unwrap();
                        &*file
                    }
                    Out::Sealed(w) => {
                        // Sealed where it lies, as blob downloads are.
                        w.write_in_place(&mut m, received < total).unwrap();
                        w.get_ref()
                    }
                };
                // Flushed in the background as it goes, as blob downloads are.
                unflushed += m.len() as u64;
                if unflushed >= mapeo_core::blobs::FLUSH_EVERY_BYTES {
                    unflushed = 0;
                    let dup = file.try_clone().unwrap();
                    std::thread::spawn(move || dup.sync_data());
                }
            }
            let file = match out {
                Out::Plain(file) => file,
                Out::Sealed(w) => w.finish().unwrap(),
            };
            file.sync_all().unwrap();
            hasher.finalize()
        });
        (tx, thread)
    });
    runtime().block_on(async {
        let me = LocalIdentity::new(
            &RootKey::from_bytes([SERVER_SEED; 16]),
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

/// Child: connect, send `total` bytes in messages of `msg` bytes, wait for the answer.
fn noise_send(addr: &str, total: u64, msg: usize) {
    runtime().block_on(async {
        let me = LocalIdentity::new(
            &RootKey::from_bytes([RECEIVER_SEED; 16]),
            "source",
            DeviceType::Desktop,
        );
        let mut s = net::connect(addr.parse().unwrap(), &me).await.unwrap();
        let data = noise(msg, 1);
        let start = Instant::now();
        let mut sent = 0u64;
        while sent < total {
            s.send(&data).await.unwrap();
            sent += msg as u64;
        }
        s.recv().await.unwrap();
        println!("sent {sent} {:.4}", start.elapsed().as_secs_f64());
    });
}

fn bench_noise(total: u64, msg: usize, sink: Sink) -> f64 {
    let exe = std::env::current_exe().unwrap();
    let mut sink = Command::new(&exe)
        .env(
            "MAPEO_BLOB_BENCH_ROLE",
            match sink {
                Sink::Drop => "noise-receive",
                Sink::Store => "noise-store",
                Sink::SealAndStore => "noise-seal-store",
            },
        )
        .env("MAPEO_BLOB_BENCH_ARG", total.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(sink.stdout.take().unwrap()).lines();
    let addr = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| l.strip_prefix("listening ").map(str::to_owned))
        .expect("sink address");
    let out = Command::new(&exe)
        .env("MAPEO_BLOB_BENCH_ROLE", "noise-send")
        .env("MAPEO_BLOB_BENCH_ARG", format!("{addr} {total} {msg}"))
        .output()
        .unwrap();
    let _ = sink.kill();
    let _ = sink.wait();
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    let f: Vec<f64> = line
        .trim()
        .strip_prefix("sent ")
        .expect("sender report")
        .split(' ')
        .map(|x| x.parse().unwrap())
        .collect();
    f[0] / MB / f[1]
}

// ---- blob sync between two processes --------------------------------------------------

/// Child: serve the project in DIR until stdin closes.
fn serve(dir: &str) {
    runtime().block_on(async {
        let m = Manager::open(dir.as_ref(), &RootKey::from_bytes([SERVER_SEED; 16])).unwrap();
        for p in m.list_projects().unwrap() {
            m.start_sync(&p.project_id).unwrap();
        }
        let addr = m
            .start_listening("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let cpu = cpu_seconds();
        println!("listening {addr}");
        std::io::stdout().flush().unwrap();
        let _ = tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            let _ = std::io::stdin().read_line(&mut s);
        })
        .await;
        println!("rss {:.1} {:.3}", peak_rss_mb(), cpu_seconds() - cpu);
    });
}

/// Child: join, set the policy, connect to ADDR, wait until synced (blobs included), report.
fn receive(addr: &str, policy: &str) {
    let details =
        JoinDetails::from_secret_bytes(&hex::decode(std::env::var("MAPEO_JOIN").unwrap()).unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let m = Manager::open(dir.path(), &RootKey::from_bytes([RECEIVER_SEED; 16])).unwrap();
        m.set_blob_policy(if policy == "phone" {
            BlobPolicy::PREVIEWS_ONLY
        } else {
            BlobPolicy::ARCHIVE
        })
        .unwrap();
        let p = m.join_project(&details).unwrap();
        p.set_data_sync(true);
        let cpu = cpu_seconds();
        let start = Instant::now();
        // When the first blob bytes arrive (looked at every millisecond): what comes before
        // is connecting, the handshake and the documents that name the blobs.
        let board = m.sync_board();
        let first_bytes = tokio::spawn(async move {
            loop {
                if board.snapshot().values().any(|s| s.blob_bytes_received > 0) {
                    return start.elapsed().as_secs_f64();
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        m.connect(addr.parse().unwrap()).await.unwrap();
        m.wait_for_sync(&p.id(), SyncPhase::Full, WAIT)
            .await
            .unwrap();
        let took = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu;
        let first = tokio::time::timeout(Duration::from_secs(1), first_bytes)
            .await
            .map_or(took, Result::unwrap);
        let s = m.sync_board().snapshot().into_values().next().unwrap();
        println!(
            "synced {took:.4} {} {} {:.1} {first:.4} {cpu:.3}",
            s.blob_bytes_received,
            s.received,
            peak_rss_mb()
        );
    });
}

/// One blob-sync case's figures over the rounds.
#[derive(Default)]
struct Case {
    /// MB of blobs sent (the same every round).
    mb: f64,
    /// MB/s, and shares (%) of the same round's raw Noise (1 MiB) and stored figures.
    rate: Vec<f64>,
    of_raw: Vec<f64>,
    of_stored: Vec<f64>,
    /// Share (%) of the same round's raw Noise sealed and stored figure.
    of_sealed: Vec<f64>,
    /// Milliseconds from connecting to the first blob bytes.
    first: Vec<f64>,
    /// CPU seconds of both processes per 100 MB of blobs moved.
    cpu: Vec<f64>,
    rss: Vec<String>,
}

impl Case {
    fn record(&mut self, s: &Synced, raw: f64, stored: f64, sealed: f64) {
        let rate = s.blob_bytes / MB / s.secs;
        self.mb = s.blob_bytes / MB;
        self.rate.push(rate);
        self.of_raw.push(100.0 * rate / raw);
        self.of_stored.push(100.0 * rate / stored);
        self.of_sealed.push(100.0 * rate / sealed);
        self.first.push(s.first_blob * 1000.0);
        self.cpu.push(s.cpu_per_100mb());
        self.rss.push(s.rss.clone());
    }

    fn print(&self, what: &str) {
        println!(
            "  {what} to an archive, from connecting to verified and synced: {}",
            common::runs(&self.rate, "MB/s", 1)
        );
        println!(
            "    = {} of raw Noise (1 MiB) and {} of raw Noise stored, in the same round; the first blob bytes arrive {} after connecting",
            common::runs(&self.of_raw, "%", 0),
            common::runs(&self.of_stored, "%", 0),
            common::runs(&self.first, "ms", 0)
        );
        println!(
            "    = {} of raw Noise sealed and stored, in the same round",
            common::runs(&self.of_sealed, "%", 0)
        );
        println!(
            "    CPU (user + system, both processes): {} per 100 MB moved",
            common::runs(&self.cpu, "s", 2)
        );
    }

    fn print_pinned(&self, what: &str) {
        println!(
            "  {what}, both processes pinned to one core: {}; CPU {} per 100 MB moved",
            common::runs(&self.rate, "MB/s", 1),
            common::runs(&self.cpu, "s", 2)
        );
    }
}

struct Synced {
    /// Seconds from connecting to the first blob bytes.
    first_blob: f64,
    rss: String,
    secs: f64,
    blob_bytes: f64,
    entries: f64,
    /// CPU seconds of the receiver and of the server while syncing.
    cpu: f64,
    server_cpu: f64,
}

impl Synced {
    fn cpu_per_100mb(&self) -> f64 {
        (self.cpu + self.server_cpu) / (self.blob_bytes / MB) * 100.0
    }
}

/// Fills a serving device with `fill`, runs it and a fresh receiver as two processes (both on
/// core 0 when `pinned`).
fn bench_sync(policy: &str, pinned: bool, fill: impl FnOnce(&mapeo_core::Project)) -> Synced {
    let source = tempfile::tempdir().unwrap();
    let details = {
        let m = Manager::open(source.path(), &RootKey::from_bytes([SERVER_SEED; 16])).unwrap();
        let p = m.create_project(Default::default()).unwrap();
        fill(&p);
        let receiver = RootKey::from_bytes([RECEIVER_SEED; 16])
            .device_keys()
            .device_id();
        p.assign_role(&receiver, mapeo_core::PeerRole::Member, None)
            .unwrap();
        m.join_details(&p.id()).unwrap()
    };
    let exe = std::env::current_exe().unwrap();
    let mut server = common::child(&exe, pinned)
        .env("MAPEO_BLOB_BENCH_ROLE", "serve")
        .env("MAPEO_BLOB_BENCH_ARG", source.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let addr = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| l.strip_prefix("listening ").map(str::to_owned))
        .expect("server address");
    let out = common::child(&exe, pinned)
        .env("MAPEO_BLOB_BENCH_ROLE", "receive")
        .env("MAPEO_BLOB_BENCH_ARG", format!("{addr} {policy}"))
        .env("MAPEO_JOIN", hex::encode(&*details.to_secret_bytes()))
        .output()
        .unwrap();
    drop(server.stdin.take());
    let server_line = lines
        .find_map(|l| {
            l.ok()
                .and_then(|l| l.strip_prefix("rss ").map(str::to_owned))
        })
        .unwrap_or_default();
    assert!(server.wait().unwrap().success(), "server failed");
    let report = String::from_utf8_lossy(&out.stdout);
    let line = report
        .lines()
        .find_map(|l| l.strip_prefix("synced "))
        .unwrap_or_else(|| panic!("receiver failed: {}", String::from_utf8_lossy(&out.stderr)));
    let f: Vec<f64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
    let (server_rss, server_cpu) = server_line.split_once(' ').expect("server report");
    Synced {
        cpu: f[5],
        server_cpu: server_cpu.parse().unwrap(),
        first_blob: f[4],
        rss: format!("peak RSS receiver {:.1} MB, server {server_rss} MB", f[3]),
        secs: f[0],
        blob_bytes: f[1],
        entries: f[2],
    }
}

// ---- variants -------------------------------------------------------------------------

fn bench_variants() {
    // 12 megapixels; 1.9 in quick mode.
    let (w, h) = if common::quick() {
        (1600, 1200)
    } else {
        (4000, 3000)
    };
    let jpeg = photo(w, h, 3, 90);
    println!(
        "  preview + thumbnail of a {:.1}-megapixel JPEG ({w}x{h}, {:.1} MB):",
        f64::from(w * h) / 1e6,
        jpeg.len() as f64 / MB
    );
    let mut decode = Vec::new();
    let mut total = Vec::new();
    for _ in 0..common::setting("MAPEO_BENCH_ROUNDS", 1, 5).max(1) {
        let t = Instant::now();
        let img = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg).unwrap();
        decode.push(t.elapsed().as_secs_f64() * 1000.0);
        drop(img);
        let t = Instant::now();
        let v = mapeo_core::attachments::photo_variants(&jpeg, "image/jpeg").unwrap();
        total.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(v.preview.len() > v.thumbnail.len());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (d, t) = (median(&mut decode), median(&mut total));
    println!(
        "    median {t:.0} ms (of which decoding the JPEG alone takes {d:.0} ms; scaling and encoding the rest)"
    );
}

fn main() {
    if let Ok(role) = std::env::var("MAPEO_BLOB_BENCH_ROLE") {
        let arg = std::env::var("MAPEO_BLOB_BENCH_ARG").unwrap();
        let args: Vec<&str> = arg.split(' ').collect();
        match role.as_str() {
            "noise-receive" => noise_receive(args[0].parse().unwrap(), Sink::Drop),
            "noise-store" => noise_receive(args[0].parse().unwrap(), Sink::Store),
            "noise-seal-store" => noise_receive(args[0].parse().unwrap(), Sink::SealAndStore),
            "noise-send" => noise_send(args[0], args[1].parse().unwrap(), args[2].parse().unwrap()),
            "serve" => serve(&arg),
            "receive" => receive(args[0], args[1]),
            _ => panic!("unknown role"),
        }
        return;
    }
    let video_mb = common::setting("MAPEO_BENCH_VIDEO_MB", 10, 200);
    // Photos, observations with them to a phone, and MiB through raw Noise per measure.
    let photo_count = common::setting("MAPEO_BENCH_PHOTOS", 4, 20);
    let phone_observations = common::setting("MAPEO_BENCH_PHONE_N", 100, 1_000);
    let noise_mib = common::setting("MAPEO_BENCH_NOISE_MB", 40, 400) as u64;
    // Width of the photos (3:2): a phone camera's 6 megapixels; small in quick mode, where
    // unoptimized code makes their variants slow.
    let photo_w = common::setting("MAPEO_BENCH_PHOTO_WIDTH", 1200, 3000) as u32;
    // MAPEO_BENCH_ONLY=video (or photos, phone, variants) runs the raw Noise figures and
    // that part alone, for profiling.
    let only = std::env::var("MAPEO_BENCH_ONLY").ok();
    let run = |part: &str| only.as_deref().is_none_or(|o| o == part);
    let rounds = common::setting("MAPEO_BENCH_ROUNDS", 1, 3).max(1);
    println!(
        "mapeo-core blob benchmark (loopback TCP, Noise, separate processes; {rounds} rounds, each measuring everything once, so a slow moment of the machine hits one round)"
    );
    let photos: Vec<Vec<u8>> = if run("photos") || run("phone") {
        (0..photo_count as u32)
            .map(|i| photo(photo_w, photo_w * 2 / 3, i, 85))
            .collect()
    } else {
        Vec::new()
    };
    let photo_mb = photos.iter().map(Vec::len).sum::<usize>() as f64 / MB / photo_count as f64;
    let video_dir = tempfile::tempdir().unwrap();
    let video_path = video_dir.path().join("VID_0001.mp4");
    if run("video") {
        let mut video = vec![0, 0, 0, 0x18];
        video.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2");
        video.extend(noise(video_mb * 1024 * 1024, 9));
        std::fs::write(&video_path, &video).unwrap();
    }
    let (mut raw, mut raw_1m, mut stored) = (Vec::new(), Vec::new(), Vec::new());
    let mut sealed = Vec::new();
    let (mut photo, mut video) = (Case::default(), Case::default());
    for _ in 0..rounds {
        raw.push(bench_noise(
            noise_mib * 1024 * 1024,
            4 * 1024 * 1024,
            Sink::Drop,
        ));
        let r1 = bench_noise(noise_mib * 1024 * 1024, 1024 * 1024, Sink::Drop);
        // The best any blob receiver could do here: it must also hash and store what arrives.
        let st = bench_noise(noise_mib * 1024 * 1024, 1024 * 1024, Sink::Store);
        // And, blobs being sealed at rest, seal it too.
        let se = bench_noise(noise_mib * 1024 * 1024, 1024 * 1024, Sink::SealAndStore);
        raw_1m.push(r1);
        stored.push(st);
        sealed.push(se);
        if run("photos") {
            let s = bench_sync("archive", false, |p| {
                for (i, b) in photos.iter().enumerate() {
                    p.add_attachment_from_bytes(b, &format!("IMG_{i}.jpg"))
                        .unwrap();
                }
            });
            photo.record(&s, r1, st, se);
        }
        if run("video") {
            let s = bench_sync("archive", false, |p| {
                p.add_attachment_from_path(&video_path).unwrap();
            });
            video.record(&s, r1, st, se);
        }
    }
    // One more of each, both processes on one core (shares against the unpinned raw Noise).
    let (mut photo_pinned, mut video_pinned) = (Case::default(), Case::default());
    if common::can_pin() {
        let (r1, st, se) = (
            common::median(&raw_1m),
            common::median(&stored),
            common::median(&sealed),
        );
        if run("photos") {
            let s = bench_sync("archive", true, |p| {
                for (i, b) in photos.iter().enumerate() {
                    p.add_attachment_from_bytes(b, &format!("IMG_{i}.jpg"))
                        .unwrap();
                }
            });
            photo_pinned.record(&s, r1, st, se);
        }
        if run("video") {
            let s = bench_sync("archive", true, |p| {
                p.add_attachment_from_path(&video_path).unwrap();
            });
            video_pinned.record(&s, r1, st, se);
        }
    }
    println!(
        "  raw Noise ({noise_mib} MiB each), 4 MiB messages: {}",
        common::runs(&raw, "MB/s", 1)
    );
    println!(
        "  raw Noise, 1 MiB messages: {}",
        common::runs(&raw_1m, "MB/s", 1)
    );
    println!(
        "  raw Noise, 1 MiB messages, each received byte also hashed and written to a file flushed as it grows (what any blob receiver must do at least): {}",
        common::runs(&stored, "MB/s", 1)
    );
    println!(
        "  raw Noise, 1 MiB messages, each received byte also hashed, sealed as blobs are at rest (sealed_file) and written to a file flushed as it grows (what a blob receiver must do now): {}",
        common::runs(&sealed, "MB/s", 1)
    );
    if run("photos") {
        photo.print(&format!(
            "{photo_count} photos of {photo_mb:.1} MB, every variant ({:.1} MB)",
            photo.mb
        ));
    }
    if run("video") {
        video.print(&format!("one {video_mb} MiB video ({:.1} MB)", video.mb));
    }
    if !photo_pinned.rate.is_empty() {
        photo_pinned.print_pinned(&format!("{photo_count} photos"));
    }
    if !video_pinned.rate.is_empty() {
        video_pinned.print_pinned(&format!("one {video_mb} MiB video"));
    }
    for r in photo.rss.iter().chain(&video.rss) {
        println!("    ({r})");
    }

    if run("phone") {
        let s = bench_sync("phone", false, |p| {
            let values = (0..phone_observations as u32)
                .map(|i| {
                    let mut tags = std::collections::BTreeMap::new();
                    tags.insert(
                        "notes".to_owned(),
                        TagValue::String(format!("Observation {i}")),
                    );
                    DocValue::Observation(Observation {
                        lat: Some(-4.0 + f64::from(i) * 0.001),
                        lon: Some(-61.0),
                        tags,
                        ..Default::default()
                    })
                })
                .collect();
            p.create_many(values).unwrap();
            for (i, b) in photos.iter().enumerate() {
                p.add_attachment_from_bytes(b, &format!("IMG_{i}.jpg"))
                    .unwrap();
            }
        });
        println!(
            "  {phone_observations} observations and {photo_count} photos to a phone (previews and thumbnails: {:.1} MB): {:.0} entries, synced in {:.3} s (the reference, for 1,000 and 20: 1.2–1.6 s; {}); CPU {:.2} s both processes",
            s.blob_bytes / MB,
            s.entries,
            s.secs,
            s.rss,
            s.cpu + s.server_cpu
        );
    }
    if run("variants") {
        bench_variants();
    }
}
