//! Map packages sealed at rest: after an import the maps folder holds no tile, no style and no
//! map name or bounds (yet tiles come back byte for byte through the store and the local
//! server, for SMP and MBTiles); packages and indexes written by a version before sealing are
//! sealed in place when the device opens, and a kill (SIGKILL) at any point of that migration
//! loses or damages no map; a wipe leaves a thief's earlier copy of the maps unreadable and
//! deletes them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;
#[path = "support/folder.rs"]
mod folder;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/map_packages.rs"]
mod map_packages;

use folder::{any_file_contains, files, kill_child_after, time_to_finish};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_client::get;
use map_packages::{big_mbtiles, generated_smp, raster_mbtiles};
use mapeo_core::maps::{MapId, MapInfo};
use mapeo_core::{Manager, RootKey};

const SEED: u8 = 47;
/// Maps in the migration test, each many sealed chunks long.
const MAPS: usize = 6;
const MAP_BYTES: u64 = 1_200_000;
const KILLS: u64 = 12;
/// How long a killed child may take to die and be reaped.
const CHILD_WAIT: Duration = Duration::from_secs(60);
/// Env var that turns this test binary into the child that opens (and so migrates) a folder.
const CHILD_ENV: &str = "MAPEO_MAP_AT_REST_CHILD_DIR";

fn root() -> RootKey {
    RootKey::from_bytes([SEED; 16])
}

/// A package's bytes as the store gives them back (what a share sends).
fn package_bytes(m: &Manager, id: &MapId) -> Vec<u8> {
    let (mut package, info) = m.maps().unwrap().open_package(id).unwrap();
    let mut out = Vec::new();
    package.read_to_end(&mut out).unwrap();
    assert_eq!(out.len() as u64, info.size);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_maps_leave_no_tile_style_or_bounds_in_the_folder_and_serve_byte_for_byte() {
    common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(Manager::open(dir.path(), &root()).unwrap());
    let smp = generated_smp();
    let smp_id = m.maps().unwrap().import(&smp.bytes[..]).unwrap().id;
    let tmp = tempfile::tempdir().unwrap();
    let raster = tmp.path().join("raster.mbtiles");
    let raster_tiles = raster_mbtiles(&raster);
    let raster_plain = std::fs::read(&raster).unwrap();
    let raster_id = m.maps().unwrap().import_file(&raster).unwrap().id;
    let maps_dir = dir.path().join("maps");

    // Distinctive runs: tiles of both packages, the style's text as the SMP holds it
    // (deflated, so its JSON is checked by what the store reads back), the MBTiles's header
    // and metadata, and what the index lists (names, bounds).
    let style_text = serde_json::to_vec(&m.maps().unwrap().style(&smp_id).unwrap()).unwrap();
    assert!(
        style_text
            .windows(11)
            .any(|w| w == br#""version":8"#.as_slice()),
        "the style is MapLibre v8"
    );
    let mut needles: Vec<(String, Vec<u8>)> = vec![
        ("smp tile".into(), smp.png[1].3[100..164].to_vec()),
        ("smp vector tile".into(), smp.mvt[10..42].to_vec()),
        ("sprite".into(), smp.sprites[0].1.clone()),
        ("style version".into(), br#""version":8"#.to_vec()),
        ("style version, spaced".into(), br#""version": 8"#.to_vec()),
        ("style name".into(), b"Territory".to_vec()),
        ("mbtiles header".into(), b"SQLite format 3".to_vec()),
        ("mbtiles name".into(), b"Raster".to_vec()),
        ("bounds".into(), b"-60.0".to_vec()),
        ("smp header".into(), b"PK\x03\x04".to_vec()),
    ];
    for (z, x, y, png) in &raster_tiles {
        needles.push((format!("mbtiles tile {z}/{x}/{y}"), png[200..264].to_vec()));
    }
    needles.push((
        "mbtiles middle".into(),
        raster_plain[raster_plain.len() / 2..raster_plain.len() / 2 + 64].to_vec(),
    ));
    needles.push((
        "smp middle".into(),
        smp.bytes[smp.bytes.len() / 2..smp.bytes.len() / 2 + 64].to_vec(),
    ));
    for (what, needle) in &needles {
        assert_eq!(any_file_contains(&maps_dir, needle), None, "{what}");
    }
    for f in files(&maps_dir) {
        let raw = std::fs::read(&f).unwrap();
        assert!(
            mapeo_core::sealed_file::looks_sealed(&raw),
            "{f:?} is sealed"
        );
    }

    // Read back: the packages byte for byte, the tiles through the store and the server.
    assert_eq!(package_bytes(&m, &smp_id), smp.bytes);
    assert_eq!(package_bytes(&m, &raster_id), raster_plain);
    let server = m.local_server().await.unwrap();
    let base = server.base_url();
    for (z, x, y, png) in &smp.png {
        let tile = m
            .maps()
            .unwrap()
            .tile(&smp_id, "satellite", *z, *x, *y)
            .unwrap()
            .unwrap();
        assert_eq!(&tile.bytes, png);
        let r = get(&format!("{base}/maps/{smp_id}/tiles/satellite/{z}/{x}/{y}")).await;
        assert_eq!(r.status, 200);
        assert_eq!(&r.body, png, "smp tile {z}/{x}/{y} served");
    }
    for (z, x, row, png) in &raster_tiles {
        let y = (1 << z) - 1 - row;
        let tile = m
            .maps()
            .unwrap()
            .tile(&raster_id, "mbtiles", *z as u8, *x as u32, y as u32)
            .unwrap()
            .unwrap();
        assert_eq!(&tile.bytes, png);
        let r = get(&format!(
            "{base}/maps/{raster_id}/tiles/mbtiles/{z}/{x}/{y}"
        ))
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(&r.body, png, "mbtiles tile {z}/{x}/{y} served");
    }
    let r = get(&format!("{base}/maps/{smp_id}/style.json")).await;
    assert_eq!(r.status, 200);
    let served: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(served["version"], 8);
    assert_eq!(served["name"], "Territory");
}

/// A folder whose device holds [`MAPS`] MBTiles maps; returns each map's id and plaintext.
fn fill(dir: &Path) -> Vec<(MapInfo, Vec<u8>)> {
    let m = Manager::open(dir, &root()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut maps = Vec::new();
    for i in 0..MAPS {
        let path = tmp.path().join(format!("{i}.mbtiles"));
        big_mbtiles(&path, &format!("Map {i}"), MAP_BYTES, i as u64);
        let info = m.maps().unwrap().import_file(&path).unwrap();
        maps.push((info, std::fs::read(&path).unwrap()));
    }
    maps
}

/// Turns the maps folder back into what versions before sealing wrote: plaintext packages
/// under their ids and a plaintext `index.json` (same shape: the default and the list).
fn unseal(maps_dir: &Path, maps: &[(MapInfo, Vec<u8>)]) {
    for (info, bytes) in maps {
        std::fs::write(maps_dir.join(format!("{}.mbtiles", info.id)), bytes).unwrap();
    }
    let list: Vec<&MapInfo> = maps.iter().map(|(i, _)| i).collect();
    let index = serde_json::json!({ "default": maps[0].0.id, "maps": list });
    std::fs::write(
        maps_dir.join("index.json"),
        serde_json::to_vec_pretty(&index).unwrap(),
    )
    .unwrap();
}

/// Every map is listed and reads back whole (its package and a tile), and every file of the
/// folder is sealed.
fn check(dir: &Path, maps: &[(MapInfo, Vec<u8>)], what: &str) {
    let m = Manager::open(dir, &root()).unwrap();
    let store = m.maps().unwrap();
    let listed = store.list().unwrap();
    assert_eq!(
        listed.len(),
        maps.len(),
        "{what}: the index lists every map"
    );
    assert_eq!(store.default_map().unwrap(), Some(maps[0].0.id.clone()));
    for (info, bytes) in maps {
        assert!(listed.contains(info), "{what}: a map lost its listing");
        assert!(
            package_bytes(&m, &info.id) == *bytes,
            "{what}: a map reads back different"
        );
        assert!(
            store.tile(&info.id, "mbtiles", 0, 0, 0).unwrap().is_some(),
            "{what}: a map's tile does not read"
        );
    }
    for f in files(&dir.join("maps")) {
        let head = std::fs::read(&f).unwrap();
        assert!(
            mapeo_core::sealed_file::looks_sealed(&head),
            "{what}: a plaintext file is left: {f:?}"
        );
    }
}

/// How many of the maps' packages are sealed on disk now.
fn sealed_count(maps_dir: &Path, maps: &[(MapInfo, Vec<u8>)]) -> usize {
    maps.iter()
        .filter(|(info, _)| {
            let head = std::fs::read(maps_dir.join(format!("{}.mbtiles", info.id))).unwrap();
            mapeo_core::sealed_file::looks_sealed(&head)
        })
        .count()
}

/// The child: opens the device (which migrates its maps) and exits. Runs only when
/// re-executed by [`a_kill_at_any_point_of_the_map_migration_loses_nothing`]; otherwise
/// checks that plaintext maps are sealed in place by a plain open, once.
#[test]
fn child_opens_the_device() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        let _ = Manager::open(Path::new(&dir), &root());
        std::process::exit(0);
    }
    common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let maps = fill(dir.path());
    let maps_dir = dir.path().join("maps");
    unseal(&maps_dir, &maps);
    let middle = &maps[1].1[maps[1].1.len() / 2..maps[1].1.len() / 2 + 64];
    assert!(any_file_contains(&maps_dir, middle).is_some());
    assert!(any_file_contains(&maps_dir, b"Map 1").is_some());
    check(dir.path(), &maps, "plain open");
    assert_eq!(any_file_contains(&maps_dir, middle), None);
    assert_eq!(any_file_contains(&maps_dir, b"Map 1"), None);
    // Idempotent: a second open changes nothing.
    let before: Vec<_> = files(&maps_dir)
        .into_iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    check(dir.path(), &maps, "second open");
    let after: Vec<_> = files(&maps_dir)
        .into_iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn a_kill_at_any_point_of_the_map_migration_loses_nothing() {
    common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let maps = fill(dir.path());
    let maps_dir = dir.path().join("maps");
    let mut finished = 0;
    // How many packages each child had sealed when it was killed.
    let mut reached = Vec::new();
    // The kills are spread over the time a child takes to open the folder and seal every map,
    // measured first, so that they land inside the migration however fast this machine seals.
    unseal(&maps_dir, &maps);
    let whole = time_to_finish("child_opens_the_device", CHILD_ENV, dir.path(), CHILD_WAIT);
    for kill in 0..KILLS {
        unseal(&maps_dir, &maps);
        let delay = whole.mul_f64((kill + 1) as f64 / (KILLS + 1) as f64);
        if kill_child_after(
            "child_opens_the_device",
            CHILD_ENV,
            dir.path(),
            delay,
            CHILD_WAIT,
        ) {
            finished += 1;
        }
        reached.push(sealed_count(&maps_dir, &maps));
        // Whatever point it reached, the next open finishes the job and loses nothing.
        check(dir.path(), &maps, &format!("after kill {kill}"));
    }
    assert!(
        reached.iter().any(|&n| n > 0 && n < MAPS),
        "no kill landed in the middle of the migration: {reached:?}"
    );
    println!(
        "{KILLS} kills, {finished} children finished before their kill; maps sealed of \
         {MAPS} when killed: {reached:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wipe_deletes_the_maps_and_leaves_an_earlier_copy_unreadable() {
    common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let m = Manager::open(dir.path(), &root()).unwrap();
    let smp = generated_smp();
    m.maps().unwrap().import(&smp.bytes[..]).unwrap();
    // What a thief copied before the wipe: the maps folder.
    let early = tempfile::tempdir().unwrap();
    for f in files(&dir.path().join("maps")) {
        std::fs::copy(&f, early.path().join(f.file_name().unwrap())).unwrap();
    }
    let wipe = m.wipe().await.unwrap();
    assert!(wipe.wait(CHILD_WAIT));
    assert!(!dir.path().join("maps").exists(), "the maps are deleted");
    // The wiped device offers no map store: asking for one (a map screen refreshing) is an
    // error and brings back no folder to import into.
    assert!(matches!(m.maps(), Err(mapeo_core::maps::MapError::Closed)));
    assert!(
        !dir.path().join("maps").exists(),
        "the maps folder stays gone"
    );
    // The same person, same root key, in a fresh folder with the copy put back: the map key
    // died with the old folder's salt, so the copy opens as nothing but damage.
    let fresh = tempfile::tempdir().unwrap();
    let m = Manager::open(fresh.path(), &root()).unwrap();
    drop(m.maps().unwrap());
    for f in files(early.path()) {
        std::fs::copy(&f, fresh.path().join("maps").join(f.file_name().unwrap())).unwrap();
    }
    drop(m);
    let m = Manager::open(fresh.path(), &root()).unwrap();
    assert!(matches!(
        m.maps().map(|s| s.list()),
        Err(mapeo_core::maps::MapError::DamagedIndex)
    ));
    assert_eq!(
        any_file_contains(fresh.path(), &smp.png[0].3[100..164]),
        None
    );
}
