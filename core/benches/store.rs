//! Store benchmark: prints figures, asserts nothing. Run with `scripts/bench.sh` or
//! `cargo bench -p mapeo-core --bench store` (`MAPEO_BENCH_N=10000` for fewer observations,
//! `MAPEO_BENCH_QUICK=1` for small sizes: see `common::quick`).
//!
//! Measures: single durable creates per second (one transaction each, as the app does);
//! batch import (`create_many`) and peer import (verify-and-append) rates; listing the first
//! page and all observations at 10k and 100k; a bounding-box query at 100k; reindexing;
//! database bytes per observation; and the cold start of the device that received the 10k:
//! a new process opening its data folder and listing the first page, as an app's first
//! screen waits for it (with what a `PRAGMA quick_check` of that project would add).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mapeo_core::schema::{DocType, DocValue, Observation, TagValue};
use mapeo_core::{BoundingBox, Manager, Namespace, Project, Query, RootKey};

const BATCH: usize = 1_000;
const PAGE: u32 = 50;

fn observation(i: usize) -> DocValue {
    // Spread over a 2°×2° area of the Amazon.
    let mut o = Observation {
        lat: Some(-4.0 + (i % 1000) as f64 * 0.002),
        lon: Some(-61.0 + (i / 1000 % 1000) as f64 * 0.002),
        ..Default::default()
    };
    o.tags.insert(
        "notes".into(),
        TagValue::String(format!("Observation {i}: fresh tracks near the river bank")),
    );
    o.tags
        .insert("category".into(), TagValue::String("wildlife".into()));
    o.tags
        .insert("count".into(), TagValue::Number((i % 17) as f64));
    DocValue::Observation(o)
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn fill(p: &Project, from: usize, to: usize) -> Duration {
    let (_, t) = timed(|| {
        let mut i = from;
        while i < to {
            let end = (i + BATCH).min(to);
            p.create_many((i..end).map(observation).collect())
                .expect("batch");
            i = end;
        }
    });
    t
}

fn listing(p: &Project, n: usize) {
    let mut first = Query::all(DocType::Observation);
    first.limit = PAGE;
    let (page, t_page) = timed(|| p.list(&first).expect("page"));
    let (all, t_all) = timed(|| p.list(&Query::all(DocType::Observation)).expect("all"));
    assert_eq!(all.len(), n);
    assert_eq!(page.len(), PAGE as usize);
    println!("  list first page of {PAGE} at {n}: {}", ms(t_page));
    println!("  list all {n}: {}", ms(t_all));
}

/// Seed of the device that receives the observations, and is started cold.
const RECEIVER_SEED: u8 = 2;
/// Cold starts measured (the median is reported).
const COLD_STARTS: usize = 5;

fn nanos_since_epoch() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Child: open the device in DIR, list the first page of observations of its first project;
/// print the times from `MAPEO_COLD_SPAWNED` (when the parent started this process) to
/// entering `main`, to the device open, and to the first page; then what a quick check of
/// the project's database costs.
fn cold_start(dir: &str, spawned: u128) {
    let at = |t: u128| t.saturating_sub(spawned) as f64 / 1e6;
    let entered = nanos_since_epoch();
    let m = Manager::open(dir.as_ref(), &RootKey::from_bytes([RECEIVER_SEED; 16])).expect("open");
    let opened = nanos_since_epoch();
    let projects = m.list_projects().expect("projects");
    let p = m.open_project(&projects[0].project_id).expect("project");
    let mut first = Query::all(DocType::Observation);
    first.limit = PAGE;
    let page = p.list(&first).expect("page");
    let listed = nanos_since_epoch();
    assert_eq!(page.len(), PAGE as usize);
    let db = mapeo_core::db::open_plain_file(p.path()).expect("db");
    let key =
        mapeo_core::at_rest::unlock(dir.as_ref(), &RootKey::from_bytes([RECEIVER_SEED; 16]), &[])
            .expect("folder key")
            .project_database_key(&p.id());
    mapeo_core::db::apply_key(&db, &key).expect("key");
    let (check, t) = timed(|| {
        db.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0))
            .expect("quick check")
    });
    assert_eq!(check, "ok");
    println!(
        "cold {:.3} {:.3} {:.3} {:.3}",
        at(entered),
        at(opened),
        at(listed),
        t.as_secs_f64() * 1000.0
    );
}

/// Starts the device in `dir` cold in new processes and prints the median figures.
fn bench_cold_start(dir: &std::path::Path, n: usize) {
    let exe = std::env::current_exe().expect("exe");
    let mut runs: Vec<Vec<f64>> = Vec::new();
    for _ in 0..COLD_STARTS {
        let spawned = nanos_since_epoch();
        let out = std::process::Command::new(&exe)
            .env("MAPEO_STORE_BENCH_COLD", dir)
            .env("MAPEO_COLD_SPAWNED", spawned.to_string())
            .output()
            .expect("cold start");
        let report = String::from_utf8_lossy(&out.stdout);
        let line = report
            .lines()
            .find_map(|l| l.strip_prefix("cold "))
            .unwrap_or_else(|| {
                panic!(
                    "cold start failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        runs.push(
            line.split(' ')
                .map(|x| x.parse().expect("figure"))
                .collect(),
        );
    }
    let median = |i: usize| {
        let mut v: Vec<f64> = runs.iter().map(|r| r[i]).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "  cold start of the device holding {n} (a new process; median of {COLD_STARTS}): in main at {:.1} ms, device open at {:.1} ms, first page of {PAGE} at {:.1} ms (from process start)",
        median(0),
        median(1),
        median(2)
    );
    println!(
        "    (the store was recorded whole when it last closed or fell idle, so the open reads no more than it needs; after a crash mid-write, or a file changed by anything else, the open runs SQLite's quick check, which adds {:.1} ms)",
        median(3)
    );
}

fn main() {
    if let Ok(dir) = std::env::var("MAPEO_STORE_BENCH_COLD") {
        let spawned = std::env::var("MAPEO_COLD_SPAWNED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        return cold_start(&dir, spawned);
    }
    let target = common::setting("MAPEO_BENCH_N", 2_000, 100_000);
    let single_creates = common::setting("MAPEO_BENCH_SINGLE", 500, 5_000).min(target);
    // The first figures (listing, a peer's import, the cold start) are taken at 10k.
    let base = target.min(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let manager = Manager::open(dir.path(), &RootKey::from_bytes([1; 16])).expect("open");
    let project = manager.create_project(Default::default()).expect("project");
    println!("mapeo-core store benchmark (target {target} observations)");

    let (_, t) = timed(|| {
        for i in 0..single_creates {
            project.create(observation(i)).expect("create");
        }
    });
    println!(
        "  single durable creates: {single_creates} in {} = {:.0}/s",
        ms(t),
        single_creates as f64 / t.as_secs_f64()
    );
    if std::env::var_os("MAPEO_BENCH_SINGLE_ONLY").is_some() {
        return;
    }

    let t = fill(&project, single_creates, base);
    println!(
        "  batch creates ({BATCH}/transaction): {:.0}/s",
        (base - single_creates) as f64 / t.as_secs_f64()
    );
    listing(&project, base);

    // A second device receives all 10k from the first (verify-and-append + index).
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other =
        Manager::open(other_dir.path(), &RootKey::from_bytes([RECEIVER_SEED; 16])).expect("open");
    let peer = other
        .join_project(&manager.join_details(&project.id()).expect("details"))
        .expect("join");
    let me = manager.device_id();
    let (_, t) = timed(|| {
        for ns in [Namespace::Config, Namespace::Data] {
            let mut at = 0;
            loop {
                let batch = project.read_entries(&me, ns, at, at + 500).expect("read");
                if batch.is_empty() {
                    break;
                }
                at += batch.len() as u64;
                peer.import(&batch).expect("import");
            }
        }
    });
    println!(
        "  peer import of {base} entries (batches of 500): {:.0} entries/s",
        base as f64 / t.as_secs_f64()
    );
    drop((peer, other));
    bench_cold_start(other_dir.path(), base);
    drop(other_dir);

    if target > base {
        let t = fill(&project, base, target);
        println!(
            "  batch creates up to {target}: {:.0}/s",
            (target - base) as f64 / t.as_secs_f64()
        );
        listing(&project, target);
    }
    let mut q = Query::all(DocType::Observation);
    q.bbox = Some(BoundingBox {
        south: -3.9,
        west: -60.9,
        north: -3.7,
        east: -60.7,
    });
    let (hits, t) = timed(|| project.list(&q).expect("bbox"));
    println!(
        "  bounding-box query at {target}: {} hits in {}",
        hits.len(),
        ms(t)
    );
    let mut q = Query::all(DocType::Observation);
    q.text = Some("observation 4242".into());
    let (hits, t) = timed(|| project.list(&q).expect("text"));
    println!("  text query at {target}: {} hits in {}", hits.len(), ms(t));

    project.checkpoint().expect("checkpoint");
    println!(
        "  database bytes per observation: {:.0}",
        common::db_bytes(project.path()) as f64 / target as f64
    );
    let key = mapeo_core::at_rest::unlock(dir.path(), &RootKey::from_bytes([1; 16]), &[])
        .expect("folder key")
        .project_database_key(&project.id());
    let (check, t) = timed(|| {
        let db = mapeo_core::db::open_plain_file(project.path()).expect("db");
        mapeo_core::db::apply_key(&db, &key).expect("key");
        db.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0))
            .expect("quick check")
    });
    assert_eq!(check, "ok");
    println!(
        "  PRAGMA quick_check of the database at {target}: {}",
        ms(t)
    );
    let (_, t) = timed(|| project.reindex().expect("reindex"));
    println!(
        "  reindex {target}: {} ({:.0} entries/s)",
        ms(t),
        target as f64 / t.as_secs_f64()
    );
    println!("  peak RSS: {:.1} MB", common::peak_rss_mb());
}
