//! `mapeo maps` and `mapeo serve --http`: import (SMP and MBTiles), list, choose the default
//! and remove maps with `--json`, a bad package refused with nothing left, and a serve whose
//! printed URLs answer over HTTP on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;
#[path = "../../core/tests/support/http_client.rs"]
mod http_client;
#[path = "../../core/tests/support/map_packages.rs"]
mod map_packages;

use common::Peer;
use serde_json::Value;

fn maps_folder(peer: &Peer) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(peer.dir().join("maps"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn maps_are_imported_listed_chosen_and_removed_with_json() {
    let peer = Peer::new();
    let tmp = tempfile::tempdir().unwrap();
    let smp = tmp.path().join("territory.smp");
    std::fs::write(&smp, map_packages::generated_smp().bytes).unwrap();
    let raster = tmp.path().join("raster.mbtiles");
    map_packages::raster_mbtiles(&raster);

    let imported = peer.json(&["maps", "import", smp.to_str().unwrap()]);
    let smp_map = imported["imported"].clone();
    assert_eq!(smp_map["name"], "Territory");
    assert_eq!(smp_map["format"], "smp");
    assert_eq!(smp_map["minZoom"], 0);
    assert_eq!(smp_map["maxZoom"], 1);
    assert_eq!(
        smp_map["bounds"],
        serde_json::json!([-60.0, -10.0, -50.0, 0.0])
    );
    assert_eq!(smp_map["size"], std::fs::metadata(&smp).unwrap().len());
    assert_eq!(
        smp_map["default"], true,
        "the first map becomes the default"
    );
    let raster_map = peer.json(&["maps", "import", raster.to_str().unwrap()])["imported"].clone();
    assert_eq!(raster_map["format"], "mbtiles");
    assert_eq!(raster_map["name"], "Raster");

    let list = peer.json(&["maps", "list"]);
    assert_eq!(list["count"], 2);
    assert_eq!(list["default"], smp_map["id"]);
    let cleared = peer.json(&["maps", "default", "--clear"]);
    assert_eq!(cleared["default"], Value::Null);
    let text = String::from_utf8(peer.run(&["maps", "list"]).stdout).unwrap();
    assert!(
        text.contains("Territory") && text.contains("Raster"),
        "{text}"
    );

    // By a prefix of its name, any case.
    let chosen = peer.json(&["maps", "default", "terr"]);
    assert_eq!(chosen["default"]["id"], smp_map["id"]);
    assert_eq!(
        peer.json(&["maps", "default"])["default"]["id"],
        smp_map["id"]
    );
    assert_eq!(peer.json(&["maps", "list"])["default"], smp_map["id"]);
    let cleared = peer.json(&["maps", "default", "--clear"]);
    assert_eq!(cleared["default"], Value::Null);

    let (code, err) = peer.fail(&["maps", "default", "nothing-like-it"]);
    assert_eq!((code, err["kind"].as_str()), (1, Some("not_found")));

    // By a prefix of its id.
    let id = raster_map["id"].as_str().unwrap();
    let removed = peer.json(&["maps", "remove", &id[..10]]);
    assert_eq!(removed["removed"]["id"], raster_map["id"]);
    let list = peer.json(&["maps", "list"]);
    assert_eq!(list["count"], 1);
    assert_eq!(list["maps"][0]["id"], smp_map["id"]);
}

#[test]
fn a_bad_package_is_refused_and_leaves_nothing() {
    let peer = Peer::new();
    let tmp = tempfile::tempdir().unwrap();
    let smp = tmp.path().join("territory.smp");
    std::fs::write(&smp, map_packages::generated_smp().bytes).unwrap();
    peer.json(&["maps", "import", smp.to_str().unwrap()]);
    let before = maps_folder(&peer);

    let bad = tmp.path().join("notes.smp");
    std::fs::write(&bad, b"these are not map tiles").unwrap();
    let (code, err) = peer.fail(&["maps", "import", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(err["kind"], "bad_input");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("not a map package"),
        "{err}"
    );
    let mut truncated = map_packages::generated_smp().bytes;
    truncated.truncate(truncated.len() / 2);
    std::fs::write(&bad, truncated).unwrap();
    let (_, err) = peer.fail(&["maps", "import", bad.to_str().unwrap()]);
    assert_eq!(err["kind"], "bad_input");
    assert_eq!(maps_folder(&peer), before, "nothing left behind");
    assert_eq!(peer.json(&["maps", "list"])["count"], 1);
}

#[test]
fn serve_http_prints_urls_that_answer() {
    let peer = Peer::new();
    let project = peer.with_project("Ana", "Río Negro");
    let tmp = tempfile::tempdir().unwrap();
    let generated = map_packages::generated_smp();
    let smp = tmp.path().join("territory.smp");
    std::fs::write(&smp, &generated.bytes).unwrap();
    let id = peer.json(&["maps", "import", smp.to_str().unwrap()])["imported"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    peer.json(&["maps", "default", &id]);

    let mut serve = peer.serve(&["--http", "127.0.0.1:0"]);
    let http = serve.wait_for("http", common::SYNC_TIMEOUT, |e| e["event"] == "http");
    let address = http["address"].as_str().unwrap();
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    let base = http["base"].as_str().unwrap().to_owned();
    assert_eq!(http["maps"][0]["id"], id.as_str());
    assert_eq!(http["media"][0]["projectId"], project.as_str());
    let default_style = http["defaultStyle"].as_str().unwrap().to_owned();
    let map_style = http["maps"][0]["style"].as_str().unwrap().to_owned();
    let fallback = http["fallbackStyle"].as_str().unwrap().to_owned();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let style = http_client::get(&default_style).await;
        assert_eq!(style.status, 200);
        let style: Value = serde_json::from_slice(&style.body).unwrap();
        assert_eq!(style["name"], "Territory");
        let same = http_client::get(&map_style).await;
        assert_eq!(serde_json::from_slice::<Value>(&same.body).unwrap(), style);
        let tiles = style["sources"]["satellite"]["tiles"][0].as_str().unwrap();
        assert!(tiles.starts_with(&base), "{tiles}");
        let tile = http_client::get(
            &tiles
                .replace("{z}", "0")
                .replace("{x}", "0")
                .replace("{y}", "0"),
        )
        .await;
        assert_eq!((tile.status, &tile.body), (200, &generated.png[0].3));
        let fallback = http_client::get(&fallback).await;
        assert_eq!(fallback.status, 200);
        // Another secret: nothing.
        let wrong = format!(
            "http://{address}/{}/maps/default/style.json",
            "0".repeat(64)
        );
        assert_eq!(http_client::get(&wrong).await.status, 404);
    });
    let text = serve.stop();
    assert!(text.iter().any(|e| e["event"] == "http"));
}
