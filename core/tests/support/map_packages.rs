//! Map packages for tests and benchmarks of map shares: the real SMP CoMapeo ships —
//! `@comapeo/fallback-smp@1.0.0`'s `dist/comapeo-fallback-map.smp`, fetched with `npm pack`
//! at test time (MIT; never committed) into a cache in the system's temp folder, once for all
//! test processes — and a generated MBTiles of incompressible PNG tiles of a chosen size.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The package holding the map.
pub const PACKAGE: &str = "@comapeo/fallback-smp@1.0.0";
/// The map inside the package.
pub const FILE_IN_PACKAGE: &str = "package/dist/comapeo-fallback-map.smp";
/// The longest `npm pack` or `tar` may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(300);

/// The path of the real fallback SMP. Without `npm` the test is skipped with a loud message,
/// except under CI (`CI` set), where a missing `npm` fails it.
pub fn fallback_smp() -> Option<PathBuf> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(fetch).clone()
}

fn fetch() -> Option<PathBuf> {
    let cache = std::env::temp_dir().join("mapeo-tests-fallback-smp-1.0.0");
    let file = cache.join("comapeo-fallback-map.smp");
    if file.is_file() {
        return Some(file);
    }
    let npm_found = Command::new("npm")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !npm_found {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
        assert!(
            !ci,
            "npm is needed to fetch {PACKAGE} and CI is set: failing"
        );
        eprintln!("SKIPPED: npm not found, so {PACKAGE} cannot be fetched (CI would fail)");
        return None;
    }
    std::fs::create_dir_all(&cache).unwrap();
    // A fresh folder per process, then one rename: processes racing both end with the file.
    let work = tempfile::tempdir_in(&cache).unwrap();
    run(
        Command::new("npm")
            .args(["pack", PACKAGE, "--silent"])
            .current_dir(work.path()),
        "npm pack",
    );
    let tgz = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "tgz"))
        .expect("npm pack wrote no .tgz");
    run(
        Command::new("tar")
            .arg("xzf")
            .arg(&tgz)
            .arg(FILE_IN_PACKAGE)
            .current_dir(work.path()),
        "tar",
    );
    std::fs::rename(work.path().join(FILE_IN_PACKAGE), &file).unwrap();
    Some(file)
}

/// Runs a command to its end within [`FETCH_TIMEOUT`], failing the test otherwise.
fn run(cmd: &mut Command, what: &str) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let deadline = Instant::now() + FETCH_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{what} failed: {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not finish within {FETCH_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A PNG tile of noise (it does not compress, so the package is as big as asked).
fn noise_png(seed: u64, side: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let img = image::RgbImage::from_fn(side, side, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let b = state.to_le_bytes();
        image::Rgb([b[0], b[1], b[2]])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}

/// Writes at `path` a raster MBTiles named `name` of at least `bytes` bytes: noise PNG tiles
/// from zoom 0 down, as many as it takes. Returns the path.
pub fn big_mbtiles(path: &Path, name: &str, bytes: u64, seed: u64) -> PathBuf {
    let conn = rusqlite::Connection::open(path).expect("create mbtiles");
    conn.execute_batch(
        "CREATE TABLE metadata (name TEXT, value TEXT);
         CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
         CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);",
    )
    .expect("schema");
    for (k, v) in [
        ("name", name),
        ("format", "png"),
        ("bounds", "-70.5,-12.5,-69.5,-11.5"),
    ] {
        conn.execute("INSERT INTO metadata VALUES (?1, ?2)", [k, v])
            .expect("metadata");
    }
    let tx = conn.unchecked_transaction().expect("begin");
    let mut written = 0u64;
    let mut n = 0u64;
    'zooms: for z in 0..=10u32 {
        for x in 0..(1u32 << z) {
            for y in 0..(1u32 << z) {
                let tile = noise_png(seed ^ n, 256);
                written += tile.len() as u64;
                n += 1;
                tx.execute(
                    "INSERT INTO tiles VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![z, x, y, tile],
                )
                .expect("tile");
                if written >= bytes {
                    break 'zooms;
                }
            }
        }
    }
    tx.commit().expect("commit");
    drop(conn);
    path.to_owned()
}
