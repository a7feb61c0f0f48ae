//! `mapeo demo`: the README's main job, three `mapeo serve` processes on 127.0.0.1, end to
//! end.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

#[test]
fn the_demo_brings_every_observation_and_the_photo_to_every_peer_and_exports_geojson_and_a_zip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let child = common::mapeo()
        .args([
            "--json",
            "demo",
            "--timeout",
            "60",
            "--dir",
            dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = common::wait_output(child, std::time::Duration::from_secs(300));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["observations"], 5);
    assert_eq!(
        v["categories"],
        serde_json::json!(["River pollution", "Illegal mining", "Sacred site"])
    );
    let peers = v["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 3);
    for p in peers {
        assert_eq!(p["observations"], 5, "{p}");
        // Each peer's own store agrees, read by a separate process.
        let list = common::mapeo()
            .args([
                "--json",
                "--data",
                p["dataDir"].as_str().unwrap(),
                "observation",
                "list",
            ])
            .output()
            .unwrap();
        let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
        assert_eq!(list["count"], 5);
    }
    let geojson: serde_json::Value =
        serde_json::from_slice(&std::fs::read(v["export"]["path"].as_str().unwrap()).unwrap())
            .unwrap();
    let features = geojson["features"].as_array().unwrap();
    assert_eq!(features.len(), 5);
    let authors: std::collections::BTreeSet<&str> = features
        .iter()
        .map(|f| f["properties"]["$authorName"].as_str().unwrap())
        .collect();
    assert_eq!(authors.len(), 3, "{authors:?}");
    assert!(
        features
            .iter()
            .all(|f| f["properties"]["$categoryName"].is_string())
    );

    // The photo, by each device's policy: the original at the archive, previews at the
    // phone that did not take it.
    let photo = std::fs::read(v["photo"]["path"].as_str().unwrap()).unwrap();
    assert_eq!(v["photo"]["bytes"], photo.len());
    let held: Vec<Vec<&str>> = v["photo"]["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["variants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        held,
        [
            vec!["original", "preview", "thumbnail"],
            vec!["original", "preview", "thumbnail"],
            vec!["preview", "thumbnail"],
        ]
    );
    let with_photo = features
        .iter()
        .find(|f| f["properties"]["$id"] == v["photo"]["observationId"])
        .unwrap();
    // Carla keeps previews only: her GeoJSON names the preview.
    assert_eq!(
        with_photo["properties"]["attachment_1"],
        "dredge_preview.jpg"
    );
    // Ana's zip holds the original, byte for byte, under the name its GeoJSON gives.
    let mut zip =
        zip::ZipArchive::new(std::fs::File::open(v["zip"]["path"].as_str().unwrap()).unwrap())
            .unwrap();
    let names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    let original = names
        .iter()
        .find(|n| n.ends_with("/dredge_original.jpg"))
        .unwrap_or_else(|| panic!("{names:?}"))
        .clone();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_name(&original).unwrap(), &mut bytes).unwrap();
    assert_eq!(bytes, photo);
    assert_eq!(v["zip"]["summary"]["attachmentsIncluded"], 1);
    assert_eq!(v["zip"]["summary"]["attachmentsMissing"], 0);
}

#[test]
fn the_demo_says_its_folder_is_removed_and_how_to_keep_it() {
    // The demo's temporary folder goes where TMPDIR says: here, to see it removed.
    let tmp = tempfile::tempdir().unwrap();
    let child = common::mapeo()
        .args(["demo", "--timeout", "60"])
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = common::wait_output(child, std::time::Duration::from_secs(300));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let said = text
        .lines()
        .find(|l| l.contains("is removed now"))
        .unwrap_or_else(|| panic!("the demo does not say its folder is removed:\n{text}"));
    assert!(said.contains("mapeo demo --keep"), "{said}");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "the folder is removed as said"
    );
}
