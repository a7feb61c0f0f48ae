//! Sync-file benchmark: prints figures, asserts nothing. Run with `scripts/bench.sh` or
//! `cargo bench -p mapeo-core --bench sync_file`.
//!
//! A project of 10,000 observations and 200 photos (every variant) is written to a sync file
//! by one process and imported by another (a device that joined the project and holds
//! nothing else), each a new process so that its peak resident memory is that of the step
//! alone. Prints MB/s of file for each step and both peaks.
//!
//! `MAPEO_BENCH_SYNC_FILE_N` and `MAPEO_BENCH_SYNC_FILE_PHOTOS` pick other sizes;
//! `MAPEO_BENCH_QUICK=1` small ones (see `common::quick`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code: a failed step should panic

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::peak_rss_mb;
use mapeo_core::schema::{DocValue, Observation, TagValue};
use mapeo_core::sync_file::ExportOptions;
use mapeo_core::{Manager, RootKey};

const WRITER_SEED: u8 = 1;
const READER_SEED: u8 = 2;
const MB: f64 = 1e6;
/// Observations created per transaction while setting up.
const SETUP_BATCH: usize = 1_000;

/// A photo-like JPEG: smooth gradients with grain, so it compresses like a camera's.
fn photo(w: u32, h: u32, seed: u32) -> Vec<u8> {
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
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .unwrap();
    out
}

fn observation(i: usize) -> DocValue {
    let mut o = Observation {
        lat: Some(-3.0 + (i % 1000) as f64 / 1000.0),
        lon: Some(-60.0 + (i / 1000) as f64 / 100.0),
        ..Default::default()
    };
    o.tags.insert(
        "notes".into(),
        TagValue::String(format!(
            "observation {i}: a new road cut through the forest"
        )),
    );
    DocValue::Observation(o)
}

/// Child process: one step on the device in `dir`, printing `MB/s peak-RSS-MB`.
fn step(which: &str, dir: &Path, file: &Path) {
    let seed = if which == "export" {
        WRITER_SEED
    } else {
        READER_SEED
    };
    let m = Manager::open(dir, &RootKey::from_bytes([seed; 16])).expect("open");
    let id = m.list_projects().expect("projects")[0].project_id;
    let p = m.open_project(&id).expect("project");
    let t = Instant::now();
    if which == "export" {
        p.export_sync_file(file, &ExportOptions::default(), &mut |_| {})
            .expect("export");
    } else {
        let s = p.import_sync_file(file, &mut |_| {}).expect("import");
        assert!(s.entries_added > 0 && s.blobs_added > 0);
    }
    let secs = t.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(file).expect("file").len() as f64;
    println!("{} {:.1}", bytes / MB / secs, peak_rss_mb());
}

fn run_step(which: &str, dir: &Path, file: &Path) -> (f64, f64) {
    let out = Command::new(std::env::current_exe().expect("exe"))
        .env("MAPEO_SYNC_FILE_BENCH_STEP", which)
        .env("MAPEO_SYNC_FILE_BENCH_DIR", dir)
        .env("MAPEO_SYNC_FILE_BENCH_FILE", file)
        .output()
        .expect("child");
    assert!(
        out.status.success(),
        "{which} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    let mut f = line.split(' ').map(|v| v.parse::<f64>().unwrap_or(0.0));
    (f.next().unwrap_or(0.0), f.next().unwrap_or(0.0))
}

fn main() {
    if let (Ok(which), Ok(dir), Ok(file)) = (
        std::env::var("MAPEO_SYNC_FILE_BENCH_STEP"),
        std::env::var("MAPEO_SYNC_FILE_BENCH_DIR"),
        std::env::var("MAPEO_SYNC_FILE_BENCH_FILE"),
    ) {
        return step(&which, dir.as_ref(), file.as_ref());
    }
    let n = common::setting("MAPEO_BENCH_SYNC_FILE_N", 500, 10_000);
    let photos = common::setting("MAPEO_BENCH_SYNC_FILE_PHOTOS", 5, 200);
    let tmp = tempfile::tempdir().expect("tmp");
    let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    let file = tmp.path().join("project.mapeosync");
    println!("sync file: {n} observations, {photos} photos (every variant)");
    {
        let a = Manager::open(&a_dir, &RootKey::from_bytes([WRITER_SEED; 16])).expect("a");
        let b = Manager::open(&b_dir, &RootKey::from_bytes([READER_SEED; 16])).expect("b");
        let pa = a.create_project(Default::default()).expect("project");
        b.join_project(&a.join_details(&pa.id()).expect("details"))
            .expect("join");
        let mut i = 0;
        while i < n {
            let end = (i + SETUP_BATCH).min(n);
            pa.create_many((i..end).map(observation).collect())
                .expect("observations");
            i = end;
        }
        for k in 0..photos {
            let (w, h) = if common::quick() {
                (800, 600)
            } else {
                (2000, 1500)
            };
            pa.add_attachment_from_bytes(&photo(w, h, k as u32), "photo.jpg")
                .expect("photo");
        }
    }
    let (export_mbs, export_rss) = run_step("export", &a_dir, &file);
    let size = std::fs::metadata(&file).expect("file").len() as f64 / MB;
    let (import_mbs, import_rss) = run_step("import", &b_dir, &file);
    println!("  file: {size:.1} MB");
    println!("  export: {export_mbs:.1} MB/s, peak RSS {export_rss:.1} MB");
    println!(
        "  import: {import_mbs:.1} MB/s, peak RSS {import_rss:.1} MB (checked whole, then applied)"
    );
}
