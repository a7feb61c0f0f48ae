//! Map packages for the tests and benchmarks of the local server: SMP and MBTiles with real
//! raster (PNG) and gzipped vector tiles generated here, the real `@comapeo/fallback-smp@1.0.0`
//! and the MapLibre style validator (`@maplibre/maplibre-gl-style-spec`) fetched with npm at
//! test time into a cache in the system's temp folder (never committed), and a small HTTP
//! client over hyper; and, for map shares, an MBTiles of incompressible tiles of a chosen size.
//! Shared by the core's and the CLI's tests and benchmarks.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

// Each support module stands alone (test crates include any of them), so each loads npm.rs.
#[allow(clippy::duplicate_mod)]
#[path = "npm.rs"]
mod npm;
use npm::run;

use flate2::Compression;
use flate2::write::GzEncoder;
use rusqlite::params;
use serde_json::{Value, json};
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

/// The real SMP package.
pub const FALLBACK_SMP: &str = "@comapeo/fallback-smp@1.0.0";
/// The style validator, pinned.
pub const STYLE_SPEC: &str = "@maplibre/maplibre-gl-style-spec@26.11.0";

/// A real PNG tile, distinct for each seed.
pub fn png_tile(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(256, 256, |x, y| {
        image::Rgb([seed.wrapping_mul(40), (x % 256) as u8, (y % 256) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Gzips bytes.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_bytes(field: u64, bytes: &[u8], out: &mut Vec<u8>) {
    varint((field << 3) | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// A small valid Mapbox Vector Tile, hand-encoded: one layer with `points` points, gzipped.
pub fn gzipped_mvt(layer: &str, points: u32) -> Vec<u8> {
    let zigzag = |v: u32| u64::from(v) << 1;
    let mut l = Vec::new();
    varint(15 << 3, &mut l); // version
    varint(2, &mut l);
    field_bytes(1, layer.as_bytes(), &mut l);
    for i in 0..points {
        let mut geometry = Vec::new();
        varint((1 << 3) | 1, &mut geometry); // MoveTo, one point
        varint(zigzag(i % 4096), &mut geometry);
        varint(zigzag((i * 7) % 4096), &mut geometry);
        let mut feature = Vec::new();
        varint(3 << 3, &mut feature); // type
        varint(1, &mut feature); // POINT
        field_bytes(4, &geometry, &mut feature);
        field_bytes(2, &feature, &mut l);
    }
    varint(5 << 3, &mut l); // extent
    varint(4096, &mut l);
    let mut tile = Vec::new();
    field_bytes(3, &l, &mut tile);
    gzip(&tile)
}

/// A generated SMP and the bytes of what it holds.
pub struct GeneratedSmp {
    /// The package.
    pub bytes: Vec<u8>,
    /// Raster tiles of source `satellite`: (z, x, y, PNG).
    pub png: Vec<(u8, u32, u32, Vec<u8>)>,
    /// The one vector tile of source `roads`, at 0/0/0, gzipped.
    pub mvt: Vec<u8>,
    /// Glyphs of `Open Sans Regular`, range 0-255 (gzipped).
    pub glyphs: Vec<u8>,
    /// Sprite files by suffix (`.json`, `.png`, `@2x.json`, `@2x.png`).
    pub sprites: Vec<(&'static str, Vec<u8>)>,
}

/// An SMP with a raster and a vector source, glyphs and a sprite (1x and 2x).
pub fn generated_smp() -> GeneratedSmp {
    let style = json!({
        "version": 8,
        "name": "Territory",
        "sources": {
            "satellite": {
                "type": "raster", "tiles": ["smp://maps.v1/s/0/{z}/{x}/{y}.png"],
                "bounds": [-60.0, -10.0, -50.0, 0.0], "minzoom": 0, "maxzoom": 1,
                "tileSize": 256
            },
            "roads": {
                "type": "vector", "tiles": ["smp://maps.v1/s/1/{z}/{x}/{y}.mvt.gz"],
                "bounds": [-60.0, -10.0, -50.0, 0.0], "minzoom": 0, "maxzoom": 0
            }
        },
        "glyphs": "smp://maps.v1/fonts/{fontstack}/{range}.pbf.gz",
        "sprite": "smp://maps.v1/sprites/default/sprite",
        "layers": [
            { "id": "satellite", "type": "raster", "source": "satellite" },
            { "id": "roads", "type": "circle", "source": "roads", "source-layer": "roads" },
            { "id": "labels", "type": "symbol", "source": "roads", "source-layer": "roads",
              "layout": { "text-field": "x", "text-font": ["Open Sans Regular"],
                          "icon-image": "pin" } }
        ],
        "metadata": { "smp:bounds": [-60.0, -10.0, -50.0, 0.0], "smp:maxzoom": 1 }
    });
    let png = vec![
        (0, 0, 0, png_tile(0)),
        (1, 0, 1, png_tile(1)),
        (1, 1, 1, png_tile(2)),
    ];
    let mvt = gzipped_mvt("roads", 3);
    let glyphs = gzip(b"glyph protobuf for 0-255");
    let sprite_json = br#"{"pin":{"x":0,"y":0,"width":16,"height":16,"pixelRatio":1}}"#.to_vec();
    let sprite_json_2x = br#"{"pin":{"x":0,"y":0,"width":32,"height":32,"pixelRatio":2}}"#.to_vec();
    let sprites = vec![
        (".json", sprite_json),
        (".png", png_tile(9)),
        ("@2x.json", sprite_json_2x),
        ("@2x.png", png_tile(10)),
    ];
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let mut put = |name: &str, bytes: &[u8], deflate: bool| {
        let method = if deflate {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        let opts = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(false);
        zip.start_file(name, opts).unwrap();
        zip.write_all(bytes).unwrap();
    };
    put("VERSION", b"1.0", true);
    put("style.json", &serde_json::to_vec(&style).unwrap(), true);
    put("fonts/Open Sans Regular/0-255.pbf.gz", &glyphs, false);
    for (suffix, bytes) in &sprites {
        put(
            &format!("sprites/default/sprite{suffix}"),
            bytes,
            suffix.ends_with("json"),
        );
    }
    put("s/1/0/0/0.mvt.gz", &mvt, false);
    for (z, x, y, bytes) in &png {
        put(&format!("s/0/{z}/{x}/{y}.png"), bytes, false);
    }
    GeneratedSmp {
        bytes: zip.finish().unwrap().into_inner(),
        png,
        mvt,
        glyphs,
        sprites,
    }
}

const MBTILES_SCHEMA: &str = "CREATE TABLE metadata (name TEXT, value TEXT);
     CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
     CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);";

/// Writes an MBTiles file; `tiles` are (z, column, TMS row, bytes).
pub fn mbtiles_file(path: &Path, metadata: &[(&str, &str)], tiles: &[(i64, i64, i64, Vec<u8>)]) {
    let mut conn = mapeo_core::db::open_plain_file(path).unwrap();
    conn.execute_batch(MBTILES_SCHEMA).unwrap();
    let tx = conn.transaction().unwrap();
    for (k, v) in metadata {
        tx.execute("INSERT INTO metadata VALUES (?1, ?2)", params![k, v])
            .unwrap();
    }
    for (z, x, y, data) in tiles {
        tx.execute(
            "INSERT INTO tiles VALUES (?1, ?2, ?3, ?4)",
            params![z, x, y, data],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// A raster MBTiles of PNG tiles at zooms 0 and 1 (every tile), returned as (z, x, TMS row).
pub fn raster_mbtiles(path: &Path) -> Vec<(i64, i64, i64, Vec<u8>)> {
    let mut tiles = vec![(0, 0, 0, png_tile(20))];
    for x in 0..2 {
        for y in 0..2 {
            tiles.push((1, x, y, png_tile(21 + (x * 2 + y) as u8)));
        }
    }
    mbtiles_file(
        path,
        &[
            ("name", "Raster"),
            ("format", "png"),
            ("bounds", "-180,-85,180,85"),
        ],
        &tiles,
    );
    tiles
}

/// A vector MBTiles with one gzipped tile at 0/0/0 and a `places` layer.
pub fn vector_mbtiles(path: &Path) -> Vec<u8> {
    let tile = gzipped_mvt("places", 5);
    let json = r#"{"vector_layers":[{"id":"places","fields":{}}]}"#;
    mbtiles_file(
        path,
        &[
            ("name", "Vector"),
            ("format", "pbf"),
            ("bounds", "-10,-10,10,10"),
            ("json", json),
        ],
        &[(0, 0, 0, tile.clone())],
    );
    tile
}

fn npm_found() -> bool {
    let found = Command::new("npm")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
        assert!(
            !ci,
            "npm is needed to fetch test packages and CI is set: failing"
        );
        eprintln!("SKIPPED: npm not found, so real packages cannot be fetched (CI would fail)");
    }
    found
}

/// The real `@comapeo/fallback-smp@1.0.0` package file, fetched once per machine. `None`
/// (said loudly) only when npm is missing outside CI.
pub fn fallback_smp() -> Option<PathBuf> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| {
        let cache = std::env::temp_dir().join("mapeo-tests-fallback-smp-1.0.0");
        let file = cache.join("comapeo-fallback-map.smp");
        if file.is_file() {
            return Some(file);
        }
        if !npm_found() {
            return None;
        }
        std::fs::create_dir_all(&cache).unwrap();
        let work = tempfile::tempdir_in(&cache).unwrap();
        run(
            Command::new("npm")
                .args(["pack", FALLBACK_SMP, "--silent"])
                .current_dir(work.path()),
            "npm pack",
        );
        run(
            Command::new("tar")
                .args(["xzf", "comapeo-fallback-smp-1.0.0.tgz"])
                .current_dir(work.path()),
            "tar",
        );
        std::fs::rename(
            work.path().join("package/dist/comapeo-fallback-map.smp"),
            &file,
        )
        .unwrap();
        Some(file)
    })
    .clone()
}

/// A folder with the MapLibre style spec installed, fetched once per machine.
fn style_spec() -> Option<PathBuf> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join("mapeo-tests-maplibre-style-spec-26.11.0");
        let marker = dir.join("ready");
        if marker.is_file() {
            return Some(dir);
        }
        if !npm_found() {
            return None;
        }
        std::fs::create_dir_all(&dir).unwrap();
        let work = tempfile::tempdir_in(&dir).unwrap();
        std::fs::write(work.path().join("package.json"), "{\"private\":true}").unwrap();
        run(
            Command::new("npm")
                .args(["install", "--silent", "--no-audit", "--no-fund", STYLE_SPEC])
                .current_dir(work.path()),
            "npm install",
        );
        let installed = dir.join("node_modules");
        let _ = std::fs::remove_dir_all(&installed);
        std::fs::rename(work.path().join("node_modules"), &installed).unwrap();
        std::fs::write(&marker, b"").unwrap();
        Some(dir)
    })
    .clone()
}

const VALIDATE_JS: &str = "
const spec = require('@maplibre/maplibre-gl-style-spec');
let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const style = JSON.parse(input);
  // The package's whole-style validator (`validate` is its per-value step, for a spec).
  const errors = spec.validateStyleMin(style);
  process.stdout.write(JSON.stringify(errors.map((e) => e.message)));
});
";

/// The MapLibre validator's messages for a style (`validateStyleMin`, the whole style against
/// the latest spec): empty
/// when valid. `None` (said loudly) only when npm is missing outside CI.
pub fn maplibre_errors(style: &Value) -> Option<Vec<String>> {
    let dir = style_spec()?;
    let mut child = Command::new("node")
        .args(["-e", VALIDATE_JS])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run node");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(style).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "node validator failed");
    Some(serde_json::from_slice(&out.stdout).unwrap())
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
    let conn = mapeo_core::db::open_plain_file(path).expect("create mbtiles");
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
