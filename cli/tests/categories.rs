//! `mapeo categories`: import from a `.comapeocat` file and from a folder of JSON (both
//! layouts), list; a failed import changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::Peer;
use serde_json::Value;

fn names(list: &Value) -> Vec<String> {
    let mut n: Vec<String> = list["presets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    n.sort();
    n
}

#[test]
fn a_comapeocat_file_brings_presets_fields_icons_and_translations() {
    let peer = Peer::new();
    peer.with_project("Ana", "Río Negro");
    let folder = peer.tmp.path().join("cats");
    common::write_categories(&folder);
    let file = peer.tmp.path().join("test.comapeocat");
    common::write_comapeocat(&folder, &file, "1.0");
    let imported = peer.json(&["categories", "import", file.to_str().unwrap()]);
    assert_eq!(imported["name"], "Test categories");
    assert_eq!(imported["version"], "2.0.1");
    assert_eq!(
        imported["presets"],
        serde_json::json!(["Water", "Mine"]),
        "in the defaults' order"
    );
    assert_eq!(imported["fields"], 2);
    assert_eq!(imported["icons"], 1);
    assert_eq!(imported["translations"], 2);
    assert_eq!(
        imported["skippedTranslations"], 2,
        "unknown preset and option index"
    );

    let list = peer.json(&["categories", "list"]);
    assert_eq!(list["count"], 2);
    let water = list["presets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Water")
        .unwrap();
    assert_eq!(water["color"], "#0000ff", "#rgb widened to #rrggbb");
    assert_eq!(water["fieldLabels"], serde_json::json!(["Source"]));
    assert_eq!(water["iconName"], "drop");
    assert_eq!(water["translatedTo"], serde_json::json!(["es"]));
    assert_eq!(water["geometry"], serde_json::json!(["point"]));
    let mine = list["presets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Mine")
        .unwrap();
    assert_eq!(mine["fieldLabels"], serde_json::json!(["Source", "Depth"]));
    assert_eq!(mine["addTags"]["review"], true);

    let obs = peer.json(&[
        "observation",
        "add",
        "--lat",
        "1",
        "--lon",
        "2",
        "--preset",
        "Water",
    ]);
    // Importing again replaces, it does not add.
    let again = peer.json(&["categories", "import", file.to_str().unwrap()]);
    assert_eq!(
        again["replaced"], 7,
        "2 presets, 2 fields, 1 icon and 2 translations replaced"
    );
    let list = peer.json(&["categories", "list"]);
    assert_eq!(list["count"], 2);
    // The observation still names its category, though that preset was replaced.
    let old_preset = obs["presetRef"]["docId"].clone();
    assert!(
        list["presets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["docId"] != old_preset)
    );
    let shown = peer.json(&["observation", "show", obs["docId"].as_str().unwrap()]);
    assert_eq!(shown["categoryName"], "Water");
}

#[test]
fn a_folder_with_one_file_per_preset_imports_too() {
    let peer = Peer::new();
    peer.with_project("Ana", "Río Negro");
    let folder = peer.tmp.path().join("cats");
    std::fs::create_dir_all(folder.join("presets")).unwrap();
    std::fs::create_dir_all(folder.join("fields")).unwrap();
    std::fs::write(folder.join("presets/camp.json"), r#"{"name": "Camp", "geometry": ["point", "area"], "tags": {"type": "camp"}, "fields": ["people"]}"#).unwrap();
    std::fs::write(
        folder.join("fields/people.json"),
        r#"{"type": "number", "key": "people", "label": "People"}"#,
    )
    .unwrap();
    let imported = peer.json(&["categories", "import", folder.to_str().unwrap()]);
    assert_eq!(imported["presets"], serde_json::json!(["Camp"]));
    let list = peer.json(&["categories", "list"]);
    assert_eq!(
        list["presets"][0]["fieldLabels"],
        serde_json::json!(["People"])
    );
}

/// Spoils a good categories folder.
type Breakage = Box<dyn Fn(&std::path::Path)>;

#[test]
fn a_failed_import_leaves_the_categories_unchanged() {
    let peer = Peer::new();
    peer.with_project("Ana", "Río Negro");
    let good = peer.tmp.path().join("good");
    common::write_categories(&good);
    peer.json(&["categories", "import", good.to_str().unwrap()]);
    let before = peer.json(&["categories", "list"]);
    assert_eq!(names(&before), vec!["Mine", "Water"]);

    let broken: Vec<(&str, Breakage, &str)> = vec![
        (
            "missing field",
            Box::new(|d| {
                std::fs::write(d.join("presets.json"),
            r#"{"a": {"name": "A", "geometry": ["point"], "tags": {}, "fields": ["nope"]}}"#).unwrap()
            }),
            "field \"nope\"",
        ),
        (
            "missing icon",
            Box::new(|d| {
                std::fs::write(d.join("presets.json"),
            r#"{"a": {"name": "A", "geometry": ["point"], "tags": {}, "fields": [], "icon": "ghost"}}"#).unwrap()
            }),
            "icon \"ghost\"",
        ),
        (
            "bad json",
            Box::new(|d| std::fs::write(d.join("fields.json"), "{not json").unwrap()),
            "fields.json",
        ),
        (
            "empty name",
            Box::new(|d| {
                std::fs::write(
                    d.join("presets.json"),
                    r#"{"a": {"name": " ", "geometry": ["point"], "tags": {}, "fields": []}}"#,
                )
                .unwrap()
            }),
            "name is empty",
        ),
        (
            "bad geometry",
            Box::new(|d| {
                std::fs::write(
                    d.join("presets.json"),
                    r#"{"a": {"name": "A", "geometry": ["cube"], "tags": {}, "fields": []}}"#,
                )
                .unwrap()
            }),
            "unknown geometry",
        ),
        (
            "bad color",
            Box::new(|d| {
                std::fs::write(d.join("presets.json"),
            r#"{"a": {"name": "A", "geometry": ["point"], "tags": {}, "fields": [], "color": "red"}}"#).unwrap()
            }),
            "color",
        ),
        (
            "select without options",
            Box::new(|d| {
                std::fs::write(d.join("fields.json"),
            r#"{"source": {"type": "selectOne", "tagKey": "s", "label": "S", "options": []}, "depth": {"type": "number", "tagKey": "d", "label": "D"}}"#).unwrap()
            }),
            "no options",
        ),
        (
            "not svg",
            Box::new(|d| std::fs::write(d.join("icons/drop.svg"), "hello").unwrap()),
            "not SVG",
        ),
        (
            "no presets",
            Box::new(|d| std::fs::remove_file(d.join("presets.json")).unwrap()),
            "no presets",
        ),
    ];
    for (what, breakage, needle) in broken {
        let dir = peer.tmp.path().join(what.replace(' ', "_"));
        common::write_categories(&dir);
        breakage(&dir);
        let (exit, err) = peer.fail(&["categories", "import", dir.to_str().unwrap()]);
        assert_eq!(exit, 1, "{what}");
        assert_eq!(err["kind"], "bad_categories", "{what}: {err}");
        let message = err["message"].as_str().unwrap();
        assert!(
            message.contains("nothing changed") && message.contains(needle),
            "{what}: {message}"
        );
        assert_eq!(
            peer.json(&["categories", "list"]),
            before,
            "{what} changed the categories"
        );
    }
    // A file of a newer format, a file that is not a zip, a file that does not exist.
    let newer = peer.tmp.path().join("newer.comapeocat");
    common::write_comapeocat(&good, &newer, "2.0");
    let (_, err) = peer.fail(&["categories", "import", newer.to_str().unwrap()]);
    assert!(err["message"].as_str().unwrap().contains("newer"), "{err}");
    let not_zip = peer.tmp.path().join("plain.comapeocat");
    std::fs::write(&not_zip, "just text").unwrap();
    let (_, err) = peer.fail(&["categories", "import", not_zip.to_str().unwrap()]);
    assert!(err["message"].as_str().unwrap().contains("zip"), "{err}");
    let (_, err) = peer.fail(&["categories", "import", "/nonexistent/x.comapeocat"]);
    assert_eq!(err["kind"], "file");
    assert_eq!(peer.json(&["categories", "list"]), before);
}
