//! `mapeo categories`: import the real file CoMapeo ships (format 1.0) and list it in
//! Spanish; import the earlier layout from a `.comapeocat` file and from folders; a failed
//! import changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;
#[path = "../../core/tests/support/default_config.rs"]
mod default_config;

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
fn the_default_config_imports_and_lists_in_spanish() {
    let Some(file) = default_config::default_config() else {
        return;
    };
    let peer = Peer::new();
    peer.with_project("Ana", "Río Negro");
    let imported = peer.json(&["categories", "import", file.to_str().unwrap()]);
    assert_eq!(imported["name"], "CoMapeo Default Config");
    assert_eq!(imported["version"], "6.0.0");
    assert_eq!(imported["presets"].as_array().unwrap().len(), 27);
    assert_eq!(
        imported["presets"][0], "New point",
        "in the file's selection order"
    );
    assert_eq!(imported["fields"], 11);
    assert_eq!(imported["icons"], 26);
    assert_eq!(imported["translations"], 795);
    assert!(
        imported["languages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "pt")
    );

    let es = peer.json(&["categories", "list", "--lang", "es"]);
    assert_eq!(es["count"], 27);
    assert_eq!(es["language"], "es");
    assert_eq!(es["source"]["name"], "CoMapeo Default Config");
    assert_eq!(es["presets"][1]["name"], "Pista de aterrizaje");
    assert_eq!(es["presets"][1]["iconName"], "airstrip");
    let building = es["presets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Construcción")
        .unwrap();
    assert_eq!(building["fields"][0]["label"], "Tipo de edificio");
    assert_eq!(building["fields"][0]["options"][3]["label"], "Iglesia");
    assert_eq!(building["fields"][0]["options"][3]["value"], "Church");

    let text = peer.run(&["categories", "list", "--lang", "es"]);
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("Pista de aterrizaje"), "{text}");
    assert!(text.contains("Tipo de edificio"), "{text}");
    assert!(text.contains("CoMapeo Default Config 6.0.0"), "{text}");
    let english = peer.json(&["categories", "list"]);
    assert_eq!(english["presets"][1]["name"], "Airstrip");

    // An observation in a category, with an answer that is not one of its options: refused.
    let (_, err) = peer.fail(&[
        "observation",
        "add",
        "--lat",
        "1",
        "--lon",
        "2",
        "--preset",
        "Building",
        "--tag",
        "building-type=Castle",
    ]);
    assert!(
        err["message"].as_str().unwrap().contains("building-type"),
        "{err}"
    );
    peer.json(&[
        "observation",
        "add",
        "--lat",
        "1",
        "--lon",
        "2",
        "--preset",
        "Building",
        "--tag",
        "building-type=Church",
    ]);
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

    let list = peer.json(&["categories", "list", "--lang", "es"]);
    assert_eq!(list["count"], 2);
    assert_eq!(list["languages"], serde_json::json!(["es"]));
    let list = peer.json(&["categories", "list"]);
    let water = list["presets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Water")
        .unwrap();
    assert_eq!(water["color"], "#0000ff", "#rgb widened to #rrggbb");
    assert_eq!(water["fieldLabels"], serde_json::json!(["Source"]));
    assert_eq!(water["iconName"], "drop");
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
        folder.join("metadata.json"),
        r#"{"name": "Camps", "buildDateValue": 1767225600000}"#,
    )
    .unwrap();
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
            "applies to nothing",
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
            "no categories",
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
