//! `mapeo observation` and `mapeo track`: record, list and search, show, edit, delete;
//! tracks from GPX; bad input refused with nothing changed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::Peer;
use serde_json::Value;

fn ids(v: &Value) -> Vec<String> {
    v["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["docId"].as_str().unwrap().to_owned())
        .collect()
}

fn setup() -> (Peer, String) {
    let peer = Peer::new();
    let project = peer.with_project("Ana", "Río Negro");
    let cats = peer.tmp.path().join("cats");
    common::write_categories(&cats);
    peer.json(&["categories", "import", cats.to_str().unwrap()]);
    (peer, project)
}

#[test]
fn observations_are_recorded_searched_edited_and_deleted() {
    let (peer, _) = setup();
    let water = peer.json(&[
        "observation",
        "add",
        "--lat",
        "-3.4653",
        "--lon",
        "-62.2159",
        "--preset",
        "water",
        "--notes",
        "Oil slick near the dock",
        "--tag",
        "count=5",
        "--tag",
        "code=\"007\"",
        "--tag",
        "animals=[\"otter\",\"caiman\"]",
        "--tag",
        "checked=true",
    ]);
    let water_id = water["docId"].as_str().unwrap().to_owned();
    assert_eq!(water["lat"], -3.4653);
    assert_eq!(water["lon"], -62.2159);
    assert_eq!(water["categoryName"], "Water");
    assert_eq!(water["createdByName"], "Ana");
    assert_eq!(water["tags"]["notes"], "Oil slick near the dock");
    assert_eq!(water["tags"]["count"], 5);
    assert_eq!(water["tags"]["code"], "007");
    assert_eq!(
        water["tags"]["animals"],
        serde_json::json!(["otter", "caiman"])
    );
    assert_eq!(water["tags"]["checked"], true);
    assert_eq!(
        water["tags"]["type"], "water",
        "the preset's tags are added"
    );
    assert!(
        water["presetRef"]["versionId"]
            .as_str()
            .unwrap()
            .contains("/config/")
    );

    let mine = peer.json(&[
        "observation",
        "add",
        "--lat",
        "10.5",
        "--lon",
        "20.25",
        "--preset",
        "Mine",
        "--notes",
        "Dredge at night",
    ]);
    assert_eq!(mine["tags"]["review"], true, "addTags win over tags");
    let plain = peer.json(&[
        "observation",
        "add",
        "--lat",
        "-80",
        "--lon",
        "170",
        "--tag",
        "note=plain text, with = sign",
    ]);
    assert_eq!(plain["tags"]["note"], "plain text, with = sign");

    let all = peer.json(&["observation", "list"]);
    assert_eq!(all["count"], 3);
    let listed = ids(&all);
    assert_eq!(listed[0], plain["docId"].as_str().unwrap(), "newest first");
    // Area, category, text, limit and time filters.
    let area = peer.json(&["observation", "list", "--bbox", "-4,-63,-3,-62"]);
    assert_eq!(ids(&area), vec![water_id.clone()]);
    let by_preset = peer.json(&["observation", "list", "--preset", "mine"]);
    assert_eq!(
        ids(&by_preset),
        vec![mine["docId"].as_str().unwrap().to_owned()]
    );
    let text = peer.json(&["observation", "list", "--text", "oil dock"]);
    assert_eq!(ids(&text), vec![water_id.clone()]);
    assert_eq!(
        peer.json(&["observation", "list", "--limit", "2"])["count"],
        2
    );
    assert_eq!(
        peer.json(&["observation", "list", "--limit", "2", "--offset", "2"])["count"],
        1
    );
    assert_eq!(
        peer.json(&["observation", "list", "--until", "2000-01-01"])["count"],
        0
    );
    assert_eq!(
        peer.json(&["observation", "list", "--since", "2000-01-01T00:00:00Z"])["count"],
        3
    );

    // Show by a unique prefix; edit only what is given; delete.
    let shown = peer.json(&["observation", "show", &water_id[..6]]);
    assert_eq!(shown["docId"], water_id.as_str());
    let edited = peer.json(&[
        "observation",
        "edit",
        &water_id,
        "--notes",
        "Cleaned up",
        "--remove-tag",
        "count",
        "--preset",
        "Mine",
    ]);
    assert_eq!(edited["docId"], water_id.as_str());
    assert_eq!(edited["tags"]["notes"], "Cleaned up");
    assert!(edited["tags"].get("count").is_none());
    assert_eq!(edited["tags"]["code"], "007");
    assert_eq!(edited["categoryName"], "Mine");
    assert_eq!(edited["lat"], -3.4653);
    assert_eq!(edited["links"][0], water["versionId"]);
    let deleted = peer.json(&["observation", "delete", &water_id]);
    assert_eq!(deleted["deleted"], true);
    assert_eq!(peer.json(&["observation", "list"])["count"], 2);
    let (exit, err) = peer.fail(&["observation", "show", &water_id]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "not_found");
}

#[test]
fn bad_observations_are_refused_and_nothing_changes() {
    let (peer, _) = setup();
    peer.json(&["observation", "add", "--lat", "1", "--lon", "2"]);
    let before = peer.json(&["observation", "list"]);
    for (args, needle) in [
        (
            vec!["--lat", "91", "--lon", "0"],
            "latitude 91 is out of range",
        ),
        (
            vec!["--lat", "0", "--lon", "-180.5"],
            "longitude -180.5 is out of range",
        ),
        (vec!["--lat", "NaN", "--lon", "0"], "latitude"),
        (vec!["--lat", "1"], "--lat and --lon"),
        (
            vec!["--lat", "1", "--lon", "2", "--tag", "novalue"],
            "KEY=VALUE",
        ),
        (
            vec!["--lat", "1", "--lon", "2", "--preset", "Volcano"],
            "no preset matches",
        ),
    ] {
        let mut cmd = vec!["observation", "add"];
        cmd.extend(args);
        let (exit, err) = peer.fail(&cmd);
        assert_eq!(exit, 1, "{cmd:?}");
        assert!(
            err["message"].as_str().unwrap().contains(needle),
            "{cmd:?}: {err}"
        );
    }
    let (_, err) = peer.fail(&["observation", "list", "--bbox", "1,2,3"]);
    assert!(err["message"].as_str().unwrap().contains("four numbers"));
    let (_, err) = peer.fail(&["observation", "list", "--since", "yesterday"]);
    assert!(err["message"].as_str().unwrap().contains("not a time"));
    let id = ids(&before)[0].clone();
    let (_, err) = peer.fail(&["observation", "edit", &id, "--lat", "100", "--lon", "0"]);
    assert!(err["message"].as_str().unwrap().contains("out of range"));
    let (_, err) = peer.fail(&["observation", "edit", &id]);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("nothing to change")
    );
    let (_, err) = peer.fail(&["observation", "delete", "ffffffff"]);
    assert_eq!(err["kind"], "not_found");
    assert_eq!(
        peer.json(&["observation", "list"]),
        before,
        "nothing changed"
    );
}

const GPX: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
  <trk><name>River walk</name>
    <trkseg>
      <trkpt lat="-3.10" lon="-60.00"><ele>30</ele><time>2026-01-02T10:00:00Z</time></trkpt>
      <trkpt lat="-3.11" lon="-60.01"><ele>31</ele><time>2026-01-02T10:05:00Z</time></trkpt>
    </trkseg>
    <trkseg>
      <trkpt lat="-3.12" lon="-60.02"><time>2026-01-02T10:10:00Z</time></trkpt>
    </trkseg>
  </trk>
  <trk><name>Back</name><trkseg>
      <trkpt lat="-3.12" lon="-60.02"><time>2026-01-02T11:00:00Z</time></trkpt>
      <trkpt lat="-3.10" lon="-60.00"><time>2026-01-02T11:30:00Z</time></trkpt>
  </trkseg></trk>
</gpx>"#;

#[test]
fn tracks_are_imported_from_gpx_and_bad_files_change_nothing() {
    let (peer, _) = setup();
    let gpx = peer.tmp.path().join("walk.gpx");
    std::fs::write(&gpx, GPX).unwrap();
    let imported = peer.json(&["track", "import", gpx.to_str().unwrap()]);
    assert_eq!(imported["imported"], 2);
    assert_eq!(imported["points"], 5);
    let list = peer.json(&["track", "list"]);
    assert_eq!(list["count"], 2);
    let walk = list["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tags"]["name"] == "River walk")
        .unwrap();
    let locations = walk["locations"].as_array().unwrap();
    assert_eq!(locations.len(), 3);
    assert_eq!(locations[0]["coords"]["latitude"], -3.1);
    assert_eq!(locations[0]["coords"]["altitude"], 30.0);
    assert_eq!(locations[2]["timestamp"], 1_767_348_600_000_i64);

    let missing = peer.tmp.path().join("nope.gpx");
    let (exit, err) = peer.fail(&["track", "import", missing.to_str().unwrap()]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "file");
    assert!(err["message"].as_str().unwrap().contains("nope.gpx"));
    let no_time = peer.tmp.path().join("notime.gpx");
    std::fs::write(
        &no_time,
        GPX.replace("<time>2026-01-02T11:30:00Z</time>", ""),
    )
    .unwrap();
    let (_, err) = peer.fail(&["track", "import", no_time.to_str().unwrap()]);
    assert_eq!(err["kind"], "bad_gpx");
    assert!(err["message"].as_str().unwrap().contains("without a time"));
    let garbage = peer.tmp.path().join("garbage.gpx");
    std::fs::write(&garbage, "<gpx><trk>").unwrap();
    let (_, err) = peer.fail(&["track", "import", garbage.to_str().unwrap()]);
    assert_eq!(err["kind"], "bad_gpx");
    assert_eq!(
        peer.json(&["track", "list"])["count"],
        2,
        "failed imports added nothing"
    );
}

#[test]
fn a_preset_on_a_fresh_project_says_to_import_categories_first() {
    let peer = Peer::new();
    peer.with_project("Ana", "Río Negro");
    let (exit, err) = peer.fail(&[
        "observation",
        "add",
        "--lat",
        "-3.1",
        "--lon",
        "-60.0",
        "--preset",
        "River pollution",
        "--notes",
        "oil",
    ]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "not_found");
    let message = err["message"].as_str().unwrap();
    // The name in quotes, the advice outside them.
    assert!(
        message.starts_with("no preset matches \"River pollution\";"),
        "{message}"
    );
    assert!(message.contains("mapeo categories import"), "{message}");
    // With categories, an unknown name points at the list.
    let cats = peer.tmp.path().join("cats");
    common::write_categories(&cats);
    peer.json(&["categories", "import", cats.to_str().unwrap()]);
    let (_, err) = peer.fail(&[
        "observation",
        "add",
        "--lat",
        "1",
        "--lon",
        "2",
        "--preset",
        "Volcano",
    ]);
    assert_eq!(
        err["message"],
        "no preset matches \"Volcano\" (see `mapeo categories list`)"
    );
    // The first example of `mapeo --help` works on a fresh project.
    let help = common::mapeo().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let first = help
        .lines()
        .find(|l| l.contains("mapeo observation add"))
        .unwrap();
    assert!(!first.contains("--preset"), "{first}");
    let fresh = Peer::new();
    fresh.with_project("Ana", "Río Negro");
    fresh.json(&[
        "observation",
        "add",
        "--lat",
        "-3.1",
        "--lon",
        "-60.0",
        "--notes",
        "oil on the water",
    ]);
}

#[test]
fn multi_line_notes_keep_the_list_one_row_each() {
    let (peer, _) = setup();
    peer.json(&[
        "observation",
        "add",
        "--lat",
        "1",
        "--lon",
        "2",
        "--notes",
        "first line\nsecond line\r\nthird",
    ]);
    let long = "word ".repeat(40);
    peer.json(&[
        "observation",
        "add",
        "--lat",
        "1",
        "--lon",
        "2",
        "--notes",
        &long,
    ]);
    let out = peer.run(&["observation", "list"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    // Header, two rows, the count.
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("first line ⏎ second line ⏎ third")),
        "{text}"
    );
    assert!(lines.iter().any(|l| l.ends_with('…')), "{text}");
    // JSON keeps the notes whole.
    let v = peer.json(&["observation", "list"]);
    let notes: Vec<&str> = v["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["tags"]["notes"].as_str().unwrap())
        .collect();
    assert!(notes.contains(&"first line\nsecond line\r\nthird"));
}
