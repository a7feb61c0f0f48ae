//! The device's map store: real SMP from npm, generated SMP and MBTiles with real tiles, list,
//! remove and default, and bad packages refused with a typed error and nothing left on disk.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use flate2::Compression;
use flate2::write::GzEncoder;
use mapeo_core::crypto::FileKey;
use mapeo_core::maps::{Bounds, MapError, MapFormat, MapStore, fallback_style};
use mapeo_core::{Manager, RootKey};
use rusqlite::params;
use serde_json::{Value, json};
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

/// A real PNG tile, distinct for each seed.
fn png_tile(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(256, 256, |x, y| {
        image::Rgb([seed.wrapping_mul(40), (x % 256) as u8, (y % 256) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
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

/// A small valid Mapbox Vector Tile, hand-encoded: one layer with one point, gzipped.
fn gzipped_mvt(layer: &str, px: u32, py: u32) -> Vec<u8> {
    let zigzag = |v: u32| u64::from(v) << 1;
    let mut geometry = Vec::new();
    varint((1 << 3) | 1, &mut geometry); // MoveTo, one point
    varint(zigzag(px), &mut geometry);
    varint(zigzag(py), &mut geometry);
    let mut feature = Vec::new();
    varint(3 << 3, &mut feature); // type
    varint(1, &mut feature); // POINT
    field_bytes(4, &geometry, &mut feature);
    let mut l = Vec::new();
    varint(15 << 3, &mut l); // version
    varint(2, &mut l);
    field_bytes(1, layer.as_bytes(), &mut l);
    field_bytes(2, &feature, &mut l);
    varint(5 << 3, &mut l); // extent
    varint(4096, &mut l);
    let mut tile = Vec::new();
    field_bytes(3, &l, &mut tile);
    gzip(&tile)
}

enum Entry<'a> {
    Stored(&'a str, Vec<u8>),
    Deflated(&'a str, Vec<u8>),
}

fn zip_bytes(entries: Vec<Entry>) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for e in entries {
        let (name, bytes, method) = match e {
            Entry::Stored(n, b) => (n, b, zip::CompressionMethod::Stored),
            Entry::Deflated(n, b) => (n, b, zip::CompressionMethod::Deflated),
        };
        let opts = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(false);
        zip.start_file(name, opts).expect("zip entry");
        zip.write_all(&bytes).expect("zip write");
    }
    zip.finish().expect("zip finish").into_inner()
}

fn style_bytes(style: &Value) -> Vec<u8> {
    serde_json::to_vec(style).expect("style json")
}

/// The style of the generated SMP: a raster and a vector source, glyphs and a sprite.
fn generated_style() -> Value {
    json!({
        "version": 8,
        "name": "Territory",
        "sources": {
            "satellite": {
                "type": "raster", "tiles": ["smp://maps.v1/s/0/{z}/{x}/{y}.png"],
                "bounds": [-60.0, -10.0, -50.0, 0.0], "minzoom": 0, "maxzoom": 1
            },
            "roads": {
                "type": "vector", "tiles": ["smp://maps.v1/s/1/{z}/{x}/{y}.mvt.gz"],
                "bounds": [-60.0, -10.0, -50.0, 0.0], "minzoom": 0, "maxzoom": 1
            }
        },
        "glyphs": "smp://maps.v1/fonts/{fontstack}/{range}.pbf.gz",
        "sprite": "smp://maps.v1/sprites/default/sprite",
        "layers": [
            { "id": "satellite", "type": "raster", "source": "satellite" },
            { "id": "roads", "type": "circle", "source": "roads", "source-layer": "roads" }
        ],
        "metadata": { "smp:bounds": [-60.0, -10.0, -50.0, 0.0], "smp:maxzoom": 1 }
    })
}

struct GeneratedSmp {
    bytes: Vec<u8>,
    png: Vec<(u8, u32, u32, Vec<u8>)>,
    mvt: Vec<u8>,
    glyphs: Vec<u8>,
    sprite_json: Vec<u8>,
    sprite_png: Vec<u8>,
}

fn generated_smp() -> GeneratedSmp {
    let png = vec![
        (0, 0, 0, png_tile(0)),
        (1, 0, 1, png_tile(1)),
        (1, 1, 1, png_tile(2)),
    ];
    let mvt = gzipped_mvt("roads", 25, 17);
    let glyphs = gzip(b"glyph protobuf for 0-255");
    let sprite_json = br#"{"pin":{"x":0,"y":0,"width":16,"height":16,"pixelRatio":1}}"#.to_vec();
    let sprite_png = png_tile(9);
    let mut entries = vec![
        Entry::Deflated("VERSION", b"1.0".to_vec()),
        Entry::Deflated("style.json", style_bytes(&generated_style())),
        Entry::Stored("fonts/Open Sans Regular/0-255.pbf.gz", glyphs.clone()),
        Entry::Deflated("sprites/default/sprite.json", sprite_json.clone()),
        Entry::Stored("sprites/default/sprite.png", sprite_png.clone()),
        Entry::Stored("s/1/0/0/0.mvt.gz", mvt.clone()),
    ];
    let names: Vec<String> = png
        .iter()
        .map(|(z, x, y, _)| format!("s/0/{z}/{x}/{y}.png"))
        .collect();
    for ((_, _, _, bytes), name) in png.iter().zip(&names) {
        entries.push(Entry::Stored(name, bytes.clone()));
    }
    GeneratedSmp {
        bytes: zip_bytes(entries),
        png,
        mvt,
        glyphs,
        sprite_json,
        sprite_png,
    }
}

const MBTILES_SCHEMA: &str = "CREATE TABLE metadata (name TEXT, value TEXT);
     CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
     CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);";

/// Writes an MBTiles file; `tiles` are (z, column, TMS row, bytes).
fn mbtiles_file(path: &Path, metadata: &[(&str, &str)], tiles: &[(i64, i64, i64, Vec<u8>)]) {
    let conn = mapeo_core::db::open_plain_file(path).expect("create mbtiles");
    conn.execute_batch(MBTILES_SCHEMA).expect("schema");
    for (k, v) in metadata {
        conn.execute("INSERT INTO metadata VALUES (?1, ?2)", params![k, v])
            .expect("metadata");
    }
    for (z, x, y, data) in tiles {
        conn.execute(
            "INSERT INTO tiles VALUES (?1, ?2, ?3, ?4)",
            params![z, x, y, data],
        )
        .expect("tile");
    }
}

fn folder_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read maps folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The key the tests' stores are sealed under.
fn key() -> FileKey {
    FileKey::from_bytes([11; 32])
}

fn store_in(dir: &Path) -> (Arc<MapStore>, PathBuf) {
    let maps = dir.join("maps");
    (MapStore::open(&maps, key()).expect("open store"), maps)
}

/// Fetches `@comapeo/fallback-smp@1.0.0` with npm into `dir`; `None` (said loudly) only when
/// npm is unavailable outside CI.
fn npm_fallback_smp(dir: &Path) -> Option<PathBuf> {
    let out = Command::new("npm")
        .args(["pack", "@comapeo/fallback-smp@1.0.0", "--silent"])
        .current_dir(dir)
        .output();
    let ok = matches!(&out, Ok(o) if o.status.success());
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("npm pack @comapeo/fallback-smp@1.0.0 failed in CI: {out:?}");
        }
        eprintln!("SKIPPED: npm is not available here to fetch @comapeo/fallback-smp");
        return None;
    }
    let status = Command::new("tar")
        .args(["xzf", "comapeo-fallback-smp-1.0.0.tgz"])
        .current_dir(dir)
        .status()
        .expect("run tar");
    assert!(status.success(), "unpack the npm tarball");
    Some(dir.join("package/dist/comapeo-fallback-map.smp"))
}

#[test]
fn real_fallback_smp_from_npm_imports_with_its_style_bounds_and_zooms() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(smp) = npm_fallback_smp(tmp.path()) else {
        return;
    };
    let (store, _) = store_in(tmp.path());
    let info = store
        .import_file(&smp)
        .expect("import the real fallback SMP");
    assert_eq!(info.name, "Blank");
    assert_eq!(info.format, MapFormat::Smp);
    assert_eq!(info.min_zoom, 0);
    assert_eq!(info.max_zoom, 16);
    assert_eq!(
        info.bounds,
        Bounds {
            west: -180.0,
            south: -90.0,
            east: 180.0,
            north: 85.05
        }
    );
    assert_eq!(info.size, std::fs::metadata(&smp).expect("size").len());

    let style = store.style(&info.id).expect("style");
    let original: Value = {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&smp).expect("open")).expect("zip");
        let entry = zip.by_name("style.json").expect("style entry");
        serde_json::from_reader(entry).expect("parse")
    };
    assert_eq!(
        style, original,
        "the style comes back as the package has it"
    );
    assert_eq!(style["version"], 8);
    let layer_ids: Vec<&str> = style["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter_map(|l| l["id"].as_str())
        .collect();
    assert!(layer_ids.contains(&"ocean") && layer_ids.contains(&"rivers"));
    // GeoJSON only: no tile source, so no tile.
    assert_eq!(store.tile(&info.id, "rivers", 0, 0, 0).expect("read"), None);
}

#[test]
fn generated_smp_gives_back_tiles_glyphs_and_sprites_byte_for_byte() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (store, _) = store_in(tmp.path());
    let smp = generated_smp();
    let info = store.import(Cursor::new(&smp.bytes)).expect("import");
    assert_eq!(info.name, "Territory");
    assert_eq!((info.min_zoom, info.max_zoom), (0, 1));
    assert_eq!(
        info.bounds,
        Bounds {
            west: -60.0,
            south: -10.0,
            east: -50.0,
            north: 0.0
        }
    );
    assert_eq!(info.size, smp.bytes.len() as u64);

    for (z, x, y, bytes) in &smp.png {
        let tile = store
            .tile(&info.id, "satellite", *z, *x, *y)
            .expect("read")
            .expect("tile present");
        assert_eq!(&tile.bytes, bytes, "tile {z}/{x}/{y} byte-identical");
        assert_eq!(tile.content_type, "image/png");
        assert_eq!(tile.content_encoding, None);
    }
    let vector = store
        .tile(&info.id, "roads", 0, 0, 0)
        .expect("read")
        .expect("vector tile");
    assert_eq!(vector.bytes, smp.mvt);
    assert_eq!(vector.content_type, "application/x-protobuf");
    assert_eq!(vector.content_encoding, Some("gzip"));

    // Missing, out of range, unknown source: no tile, no error.
    assert_eq!(
        store.tile(&info.id, "satellite", 1, 0, 0).expect("read"),
        None
    );
    assert_eq!(
        store.tile(&info.id, "satellite", 1, 2, 0).expect("read"),
        None
    );
    assert_eq!(
        store.tile(&info.id, "satellite", 23, 0, 0).expect("read"),
        None
    );
    assert_eq!(
        store.tile(&info.id, "nowhere", 0, 0, 0).expect("read"),
        None
    );

    let glyphs = store
        .glyphs(&info.id, "Open Sans Regular", "0-255")
        .expect("read")
        .expect("glyphs");
    assert_eq!(glyphs.bytes, smp.glyphs);
    assert_eq!(glyphs.content_encoding, Some("gzip"));
    assert_eq!(
        store
            .glyphs(&info.id, "Open Sans Regular", "256-511")
            .expect("read"),
        None
    );
    assert_eq!(
        store.glyphs(&info.id, "..", "../../style").expect("read"),
        None
    );

    let sprite_json = store
        .sprite(&info.id, "default", ".json")
        .expect("read")
        .expect("sprite json");
    assert_eq!(sprite_json.bytes, smp.sprite_json);
    assert_eq!(sprite_json.content_type, "application/json");
    let sprite_png = store
        .sprite(&info.id, "default", ".png")
        .expect("read")
        .expect("sprite png");
    assert_eq!(sprite_png.bytes, smp.sprite_png);
    assert_eq!(sprite_png.content_type, "image/png");
    assert_eq!(
        store.sprite(&info.id, "default", "@2x.png").expect("read"),
        None
    );

    assert_eq!(store.style(&info.id).expect("style"), generated_style());
}

#[test]
fn generated_raster_mbtiles_flips_rows_and_reads_bounds_and_zooms() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (store, _) = store_in(tmp.path());
    let file = tmp.path().join("island.mbtiles");
    let top_left = png_tile(3);
    let z0 = png_tile(4);
    // TMS row 3 at zoom 2 is XYZ row 0 (the northernmost).
    mbtiles_file(
        &file,
        &[
            ("name", "Island"),
            ("format", "png"),
            ("bounds", "-61.5,10.0,-60.5,11.0"),
        ],
        &[(0, 0, 0, z0.clone()), (2, 1, 3, top_left.clone())],
    );
    let info = store.import_file(&file).expect("import");
    assert_eq!(info.format, MapFormat::MbTiles);
    assert_eq!(info.name, "Island");
    assert_eq!((info.min_zoom, info.max_zoom), (0, 2));
    assert_eq!(
        info.bounds,
        Bounds {
            west: -61.5,
            south: 10.0,
            east: -60.5,
            north: 11.0
        }
    );
    let tile = store
        .tile(&info.id, "mbtiles", 2, 1, 0)
        .expect("read")
        .expect("tile");
    assert_eq!(tile.bytes, top_left);
    assert_eq!(tile.content_type, "image/png");
    assert_eq!(
        store.tile(&info.id, "mbtiles", 2, 1, 3).expect("read"),
        None,
        "the TMS row is not an XYZ row"
    );
    assert_eq!(
        store
            .tile(&info.id, "mbtiles", 0, 0, 0)
            .expect("read")
            .map(|t| t.bytes),
        Some(z0)
    );
    let style = store.style(&info.id).expect("style");
    assert_eq!(style["version"], 8);
    assert_eq!(style["sources"]["mbtiles"]["type"], "raster");
    assert_eq!(style["sources"]["mbtiles"]["maxzoom"], 2);
    assert!(
        style["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .any(|l| l["type"] == "raster" && l["source"] == "mbtiles")
    );
    // The store opens the copy read-only and immutable: nothing appears beside it.
    let listing = folder_listing(&tmp.path().join("maps"));
    assert_eq!(
        listing,
        vec![format!("{}.mbtiles", info.id), "index.json".to_owned()]
    );
}

#[test]
fn generated_vector_mbtiles_gets_a_style_from_its_vector_layers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (store, _) = store_in(tmp.path());
    let file = tmp.path().join("rivers.mbtiles");
    let mvt = gzipped_mvt("waterway", 100, 200);
    let layers =
        r#"{"vector_layers":[{"id":"waterway","fields":{}},{"id":"landuse","fields":{}}]}"#;
    mbtiles_file(
        &file,
        &[("name", "Rivers"), ("format", "pbf"), ("json", layers)],
        &[(1, 0, 1, mvt.clone())],
    );
    // Some tools leave their MBTiles in WAL mode; the store still reads it without a WAL file.
    mapeo_core::db::open_plain_file(&file)
        .unwrap()
        .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .unwrap();
    let info = store.import_file(&file).expect("import");
    assert_eq!(
        info.bounds,
        Bounds::WORLD,
        "no bounds in metadata: the world"
    );
    assert_eq!((info.min_zoom, info.max_zoom), (1, 1));
    let tile = store
        .tile(&info.id, "mbtiles", 1, 0, 0)
        .expect("read")
        .expect("tile");
    assert_eq!(tile.bytes, mvt);
    assert_eq!(tile.content_encoding, Some("gzip"));
    assert_eq!(tile.content_type, "application/x-protobuf");
    let style = store.style(&info.id).expect("style");
    assert_eq!(style["sources"]["mbtiles"]["type"], "vector");
    let ids: Vec<&str> = style["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter_map(|l| l["id"].as_str())
        .collect();
    for id in [
        "waterway-fill",
        "waterway-line",
        "waterway-point",
        "landuse-line",
    ] {
        assert!(ids.contains(&id), "layer {id} in {ids:?}");
    }
    assert_eq!(
        folder_listing(&tmp.path().join("maps")),
        vec![format!("{}.mbtiles", info.id), "index.json".to_owned()]
    );
}

#[test]
fn maps_are_listed_chosen_as_default_and_removed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (store, maps_dir) = store_in(tmp.path());
    assert!(store.list().expect("list").is_empty());
    assert_eq!(store.default_style().expect("style"), fallback_style());

    let smp = store
        .import(Cursor::new(generated_smp().bytes))
        .expect("import smp");
    assert_eq!(
        store.default_map().expect("default"),
        Some(smp.id.clone()),
        "with no default, the first map imported becomes it"
    );
    let file = tmp.path().join("a.mbtiles");
    mbtiles_file(&file, &[("format", "png")], &[(0, 0, 0, png_tile(7))]);
    let mbt = store.import_file(&file).expect("import mbtiles");
    assert_eq!(
        store.default_map().expect("default"),
        Some(smp.id.clone()),
        "a later import leaves the chosen default alone"
    );
    store.set_default(None).expect("no default");
    store.set_default(Some(&mbt.id)).expect("default");
    let again = store
        .import(Cursor::new(generated_smp().bytes))
        .expect("import the same smp again");
    assert_eq!(again, smp, "the same package is the same map");
    assert_eq!(store.list().expect("list"), vec![smp.clone(), mbt.clone()]);

    store.set_default(Some(&smp.id)).expect("default");
    assert_eq!(store.default_map().expect("default"), Some(smp.id.clone()));
    assert_eq!(store.default_style().expect("style"), generated_style());

    // Reopened, the store still knows its maps and default.
    drop(store);
    let store = MapStore::open(&maps_dir, key()).expect("reopen");
    assert_eq!(store.list().expect("list").len(), 2);
    assert_eq!(store.default_map().expect("default"), Some(smp.id.clone()));

    store.remove(&smp.id).expect("remove the default");
    assert_eq!(store.default_map().expect("default"), None);
    assert_eq!(store.default_style().expect("style"), fallback_style());
    assert_eq!(store.list().expect("list"), vec![mbt.clone()]);
    assert!(matches!(store.style(&smp.id), Err(MapError::UnknownMap)));
    assert!(matches!(store.remove(&smp.id), Err(MapError::UnknownMap)));
    assert!(matches!(
        store.set_default(Some(&smp.id)),
        Err(MapError::UnknownMap)
    ));
    assert_eq!(
        folder_listing(&maps_dir),
        vec![format!("{}.mbtiles", mbt.id), "index.json".to_owned()]
    );
}

#[test]
fn fallback_style_has_a_background_and_an_observations_source() {
    let style = fallback_style();
    assert_eq!(style["version"], 8);
    assert_eq!(style["sources"]["observations"]["type"], "geojson");
    let layers = style["layers"].as_array().expect("layers");
    assert_eq!(layers[0]["type"], "background");
    assert!(layers.iter().any(|l| l["source"] == "observations"));
}

#[test]
fn manager_keeps_maps_in_the_device_folder() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let manager = Manager::open(tmp.path(), &RootKey::from_bytes([5; 16])).expect("manager");
    let info = manager
        .maps()
        .expect("maps")
        .import(Cursor::new(generated_smp().bytes))
        .expect("import");
    let listed = manager.maps().expect("maps again").list().expect("list");
    assert_eq!(listed, vec![info.clone()]);
    assert!(
        tmp.path()
            .join("maps")
            .join(format!("{}.smp", info.id))
            .exists()
    );
}

/// Imports `bytes` into a store that already holds one map, and checks the typed error and
/// that the folder is exactly as before.
fn assert_refused(bytes: Vec<u8>, is_expected: impl Fn(&MapError) -> bool) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (store, maps_dir) = store_in(tmp.path());
    let kept = store
        .import(Cursor::new(generated_smp().bytes))
        .expect("a good map first");
    let before = folder_listing(&maps_dir);
    let err = store
        .import(Cursor::new(&bytes))
        .expect_err("the bad package is refused");
    assert!(is_expected(&err), "unexpected error: {err:?}");
    assert_eq!(folder_listing(&maps_dir), before, "nothing left behind");
    assert_eq!(store.list().expect("list"), vec![kept]);

    // And in an empty store, not even an index appears.
    let empty = tempfile::tempdir().expect("tempdir");
    let (store, maps_dir) = store_in(empty.path());
    let err = store
        .import(Cursor::new(&bytes))
        .expect_err("refused in an empty store too");
    assert!(is_expected(&err), "unexpected error: {err:?}");
    assert!(store.list().expect("list").is_empty());
    assert!(folder_listing(&maps_dir).is_empty());
}

fn minimal_style() -> Vec<u8> {
    style_bytes(&json!({
        "version": 8,
        "sources": {
            "t": { "type": "raster", "tiles": ["smp://maps.v1/s/0/{z}/{x}/{y}.png"],
                   "minzoom": 0, "maxzoom": 2 }
        },
        "layers": [{ "id": "t", "type": "raster", "source": "t" }]
    }))
}

#[test]
fn zip_bomb_is_refused() {
    let bomb = zip_bytes(vec![
        Entry::Deflated("style.json", minimal_style()),
        Entry::Deflated("s/0/0/0/0.png", vec![0u8; 8 * 1024 * 1024]),
    ]);
    assert_refused(bomb, |e| matches!(e, MapError::CompressionRatio));
}

#[test]
fn entry_escaping_the_package_is_refused() {
    let escape = zip_bytes(vec![
        Entry::Deflated("style.json", minimal_style()),
        Entry::Stored("../evil.png", png_tile(1)),
    ]);
    assert_refused(escape, |e| matches!(e, MapError::UnsafePath));
    let absolute = zip_bytes(vec![
        Entry::Deflated("style.json", minimal_style()),
        Entry::Stored("/etc/evil.png", png_tile(1)),
    ]);
    assert_refused(absolute, |e| matches!(e, MapError::UnsafePath));
}

#[test]
fn style_url_escaping_the_package_is_refused() {
    let style = style_bytes(&json!({
        "version": 8,
        "sources": { "t": { "type": "raster",
                            "tiles": ["smp://maps.v1/s/%2E%2E/%2E%2E/{z}/{x}/{y}.png"] } },
        "layers": []
    }));
    assert_refused(zip_bytes(vec![Entry::Deflated("style.json", style)]), |e| {
        matches!(e, MapError::UnsafePath)
    });
}

#[test]
fn style_of_version_7_is_refused() {
    let style = style_bytes(&json!({ "version": 7, "sources": {}, "layers": [] }));
    assert_refused(zip_bytes(vec![Entry::Deflated("style.json", style)]), |e| {
        matches!(e, MapError::StyleVersion)
    });
}

#[test]
fn package_without_a_style_is_refused() {
    assert_refused(
        zip_bytes(vec![Entry::Stored("s/0/0/0/0.png", png_tile(1))]),
        |e| matches!(e, MapError::MissingStyle),
    );
}

#[test]
fn smp_tile_out_of_range_is_refused() {
    let smp = zip_bytes(vec![
        Entry::Deflated("style.json", minimal_style()),
        Entry::Stored("s/0/1/0/7.png", png_tile(1)),
    ]);
    assert_refused(smp, |e| matches!(e, MapError::TileOutOfRange));
}

#[test]
fn mbtiles_row_out_of_range_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("bad.mbtiles");
    mbtiles_file(
        &file,
        &[("format", "png")],
        &[(0, 0, 0, png_tile(1)), (1, 0, 5, png_tile(2))],
    );
    assert_refused(std::fs::read(&file).expect("read"), |e| {
        matches!(e, MapError::TileOutOfRange)
    });
}

#[test]
fn truncated_packages_are_refused() {
    let smp = generated_smp().bytes;
    assert_refused(smp[..smp.len() / 2].to_vec(), |e| {
        matches!(e, MapError::Damaged)
    });
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("big.mbtiles");
    let tiles: Vec<_> = (0..4)
        .flat_map(|x| (0..4).map(move |y| (2, x, y, png_tile((x * 4 + y) as u8))))
        .collect();
    mbtiles_file(&file, &[("format", "png")], &tiles);
    let bytes = std::fs::read(&file).expect("read");
    assert_refused(bytes[..bytes.len() / 2].to_vec(), |e| {
        matches!(e, MapError::Damaged)
    });
}

#[test]
fn files_that_are_not_maps_are_refused() {
    let jpeg = {
        let img = image::RgbImage::from_pixel(8, 8, image::Rgb([10, 20, 30]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg)
            .expect("encode jpeg");
        out.into_inner()
    };
    assert_refused(jpeg.clone(), |e| matches!(e, MapError::NotAMap));
    assert_refused(Vec::new(), |e| matches!(e, MapError::NotAMap));
    // A photo renamed `.smp` is still a photo.
    let tmp = tempfile::tempdir().expect("tempdir");
    let (store, maps_dir) = store_in(tmp.path());
    let renamed = tmp.path().join("photo.smp");
    std::fs::write(&renamed, &jpeg).expect("write");
    assert!(matches!(
        store.import_file(&renamed),
        Err(MapError::NotAMap)
    ));
    assert!(folder_listing(&maps_dir).is_empty());
    // A SQLite database that is not an MBTiles.
    let db = tmp.path().join("other.db");
    mapeo_core::db::open_plain_file(&db)
        .expect("db")
        .execute_batch("CREATE TABLE notes (body TEXT)")
        .expect("table");
    assert_refused(std::fs::read(&db).expect("read"), |e| {
        matches!(e, MapError::NotAMap)
    });
}

#[test]
fn zip_declaring_a_billion_entries_is_refused_before_its_directory_is_read() {
    // A local header, then a zip64 end record claiming 10^9 entries, its locator, and the
    // classic end record pointing to zip64.
    let mut bytes = b"PK\x03\x04".to_vec();
    bytes.extend_from_slice(&[0u8; 26]);
    let zip64_at = bytes.len() as u64;
    bytes.extend_from_slice(b"PK\x06\x06");
    bytes.extend_from_slice(&44u64.to_le_bytes()); // size of the rest of the record
    bytes.extend_from_slice(&[45, 0, 45, 0]); // made by, needed
    bytes.extend_from_slice(&[0u8; 8]); // disk numbers
    bytes.extend_from_slice(&1_000_000_000u64.to_le_bytes()); // entries on this disk
    bytes.extend_from_slice(&1_000_000_000u64.to_le_bytes()); // entries in all
    bytes.extend_from_slice(&[0u8; 16]); // directory size and offset
    bytes.extend_from_slice(b"PK\x06\x07");
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&zip64_at.to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(b"PK\x05\x06");
    bytes.extend_from_slice(&[0u8; 4]);
    bytes.extend_from_slice(&[0xff; 4]); // entries: see zip64
    bytes.extend_from_slice(&[0xff; 8]); // directory size and offset: see zip64
    bytes.extend_from_slice(&[0u8; 2]); // no comment
    assert_refused(bytes, |e| matches!(e, MapError::TooManyEntries));
}

#[test]
fn openers_of_one_folder_share_the_store_and_an_interrupted_import_is_swept() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let maps_dir = tmp.path().join("maps");
    std::fs::create_dir_all(&maps_dir).expect("folder");
    // What a crash mid-import leaves behind.
    std::fs::write(
        maps_dir.join(".import-0123456789abcdef.part"),
        b"PK\x03\x04half",
    )
    .expect("w");
    let first = MapStore::open(&maps_dir, key()).expect("open");
    assert!(
        folder_listing(&maps_dir).is_empty(),
        "the leftover is swept"
    );

    let second = MapStore::open(&maps_dir, key()).expect("open again");
    assert!(Arc::ptr_eq(&first, &second), "one store per folder");
    let file = tmp.path().join("a.mbtiles");
    mbtiles_file(&file, &[("format", "png")], &[(0, 0, 0, png_tile(7))]);
    let smp = generated_smp().bytes;
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| first.import(Cursor::new(&smp)).expect("import smp"));
        let b = s.spawn(|| second.import_file(&file).expect("import mbtiles"));
        (a.join().expect("thread"), b.join().expect("thread"))
    });
    let listed = first.list().expect("list");
    assert_eq!(listed.len(), 2, "neither import lost the other's entry");
    assert!(listed.contains(&a) && listed.contains(&b));
    assert_eq!(second.list().expect("list"), listed);
}
