//! Store benchmark: prints figures, asserts nothing. Run with `scripts/bench.sh` or
//! `cargo bench -p mapeo-core --bench store` (set `MAPEO_BENCH_N=10000` for a quick run).
//!
//! Measures: single durable creates per second (one transaction each, as the app does);
//! batch import (`create_many`) and peer import (verify-and-append) rates; listing the first
//! page and all observations at 10k and 100k; a bounding-box query at 100k; reindexing; and
//! database bytes per observation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use std::time::{Duration, Instant};

use mapeo_core::schema::{DocType, DocValue, Observation, TagValue};
use mapeo_core::{BoundingBox, Manager, Namespace, Project, Query, RootKey};

const SINGLE_CREATES: usize = 5_000;
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

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn db_bytes(p: &Project) -> u64 {
    let path = p.path();
    let wal = path.with_extension("db-wal");
    std::fs::metadata(path).map_or(0, |m| m.len()) + std::fs::metadata(wal).map_or(0, |m| m.len())
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

fn main() {
    let target: usize = std::env::var("MAPEO_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let manager = Manager::open(dir.path(), &RootKey::from_bytes([1; 16])).expect("open");
    let project = manager.create_project(Default::default()).expect("project");
    println!("mapeo-core store benchmark (target {target} observations)");

    let (_, t) = timed(|| {
        for i in 0..SINGLE_CREATES {
            project.create(observation(i)).expect("create");
        }
    });
    println!(
        "  single durable creates: {SINGLE_CREATES} in {} = {:.0}/s",
        ms(t),
        SINGLE_CREATES as f64 / t.as_secs_f64()
    );
    if std::env::var_os("MAPEO_BENCH_SINGLE_ONLY").is_some() {
        return;
    }

    let t = fill(&project, SINGLE_CREATES, 10_000);
    println!(
        "  batch creates ({BATCH}/transaction): {:.0}/s",
        (10_000 - SINGLE_CREATES) as f64 / t.as_secs_f64()
    );
    listing(&project, 10_000);

    // A second device receives all 10k from the first (verify-and-append + index).
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = Manager::open(other_dir.path(), &RootKey::from_bytes([2; 16])).expect("open");
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
        "  peer import of 10k entries (batches of 500): {:.0} entries/s",
        10_000.0 / t.as_secs_f64()
    );
    drop((peer, other, other_dir));

    if target > 10_000 {
        let t = fill(&project, 10_000, target);
        println!(
            "  batch creates up to {target}: {:.0}/s",
            (target - 10_000) as f64 / t.as_secs_f64()
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
        db_bytes(&project) as f64 / target as f64
    );
    let (_, t) = timed(|| project.reindex().expect("reindex"));
    println!(
        "  reindex {target}: {} ({:.0} entries/s)",
        ms(t),
        target as f64 / t.as_secs_f64()
    );
    println!("  peak RSS: {:.1} MB", peak_rss_mb());
}
