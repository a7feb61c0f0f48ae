//! `mapeo export`: GeoJSON in the reference's shape, CSV, and the zip with its list of
//! attachments missing here.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::io::Read;

use common::Peer;
use mapeo_core::schema::{Attachment, AttachmentKind, DocValue, Observation, TagValue};
use serde_json::Value;

/// A project with categories, two observations and a track.
fn setup() -> (Peer, String) {
    let peer = Peer::new();
    let project = peer.with_project("Ana", "Río Negro");
    let cats = peer.tmp.path().join("cats");
    common::write_categories(&cats);
    peer.json(&["categories", "import", cats.to_str().unwrap()]);
    peer.json(&[
        "observation",
        "add",
        "--lat",
        "-3.5",
        "--lon",
        "-62.25",
        "--preset",
        "Water",
        "--notes",
        "oil",
        "--tag",
        "count=5",
        "--tag",
        "kinds=[\"a\",\"b\"]",
    ]);
    peer.json(&[
        "observation",
        "add",
        "--lat",
        "1",
        "--lon",
        "2",
        "--tag",
        "source=well",
    ]);
    let gpx = peer.tmp.path().join("t.gpx");
    std::fs::write(&gpx, r#"<gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>
        <trkpt lat="1" lon="2"><ele>5</ele><time>2026-01-01T00:00:00Z</time></trkpt>
        <trkpt lat="1.5" lon="2.5"><ele>6</ele><time>2026-01-01T00:01:00Z</time></trkpt></trkseg></trk></gpx>"#).unwrap();
    peer.json(&["track", "import", gpx.to_str().unwrap()]);
    (peer, project)
}

#[test]
fn geojson_has_the_reference_shape_with_names() {
    let (peer, _) = setup();
    let out = peer.tmp.path().join("out.geojson");
    let summary = peer.json(&["export", "geojson", "--out", out.to_str().unwrap()]);
    assert_eq!(summary["observations"], 2);
    assert_eq!(summary["tracks"], 1);
    let fc: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(fc["type"], "FeatureCollection");
    let features = fc["features"].as_array().unwrap();
    assert_eq!(features.len(), 3);
    assert!(features.iter().all(|f| f["type"] == "Feature"));
    let track = &features[0];
    assert_eq!(track["geometry"]["type"], "LineString");
    assert_eq!(
        track["geometry"]["coordinates"],
        serde_json::json!([[2.0, 1.0, 5.0], [2.5, 1.5, 6.0]])
    );
    assert_eq!(track["properties"]["schemaName"], "track");
    let water = features
        .iter()
        .find(|f| f["properties"]["notes"] == "oil")
        .unwrap();
    assert_eq!(
        water["geometry"],
        serde_json::json!({"type": "Point", "coordinates": [-62.25, -3.5]})
    );
    let p = &water["properties"];
    assert_eq!(p["$id"].as_str().unwrap().len(), 32);
    assert!(p["$createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(p["$categoryName"], "Water");
    assert!(p["$categoryId"].is_string());
    assert_eq!(p["$authorName"], "Ana");
    assert_eq!(p["count"], "5", "tag values are text, as in the reference");
    assert_eq!(p["kinds"], "a,b");
    assert_eq!(p["type"], "water");
    assert_eq!(
        water["$comapeo"]["tags"]["count"], 5,
        "the whole observation rides along"
    );
    assert_eq!(water["$comapeo"]["docId"], p["$id"]);
    let no_tracks = peer.json(&[
        "export",
        "geojson",
        "--no-tracks",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(no_tracks["tracks"], 0);
    let fc: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(fc["features"].as_array().unwrap().len(), 2);
    // To standard output.
    let stdout = peer.run(&["export", "geojson", "--out", "-"]);
    assert!(stdout.status.success());
    let fc: Value = serde_json::from_slice(&stdout.stdout).unwrap();
    assert_eq!(fc["features"].as_array().unwrap().len(), 3);
}

#[test]
fn csv_has_a_row_per_observation_and_a_column_per_tag() {
    let (peer, _) = setup();
    let out = peer.tmp.path().join("out.csv");
    peer.json(&["export", "csv", "--out", out.to_str().unwrap()]);
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        &header[..7],
        [
            "type",
            "id",
            "createdAt",
            "updatedAt",
            "lat",
            "lon",
            "points"
        ]
    );
    for col in [
        "category",
        "author",
        "tag:count",
        "tag:notes",
        "tag:source",
        "tag:type",
    ] {
        assert!(header.contains(&col), "{col} missing from {header:?}");
    }
    let rows: Vec<&str> = lines.filter(|r| r.starts_with("observation,")).collect();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .any(|r| r.contains("Water") && r.contains(",oil,") && r.contains("\"a,b\"")),
        "{rows:?}"
    );
    assert!(rows.iter().any(|r| r.contains("well")));
}

#[test]
fn zip_holds_the_geojson_and_lists_attachments_missing_here() {
    let (peer, _) = setup();
    // An observation from a phone whose photos have not arrived: written through the core,
    // as sync would.
    {
        let hex_key = std::fs::read_to_string(peer.dir().join("root.key")).unwrap();
        let mut key = [0u8; 16];
        for (i, b) in key.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex_key.trim()[i * 2..i * 2 + 2], 16).unwrap();
        }
        let manager =
            mapeo_core::Manager::open(&peer.dir(), &mapeo_core::RootKey::from_bytes(key)).unwrap();
        let id = manager.list_projects().unwrap()[0].project_id;
        let project = manager.open_project(&id).unwrap();
        let mut obs = Observation {
            lat: Some(5.0),
            lon: Some(6.0),
            ..Observation::default()
        };
        obs.tags
            .insert("notes".into(), TagValue::String("with photos".into()));
        obs.attachments = vec![
            Attachment {
                name: "photo-1".into(),
                kind: AttachmentKind::Photo,
                hash: "ab".repeat(32),
            },
            Attachment {
                name: "voice".into(),
                kind: AttachmentKind::Audio,
                hash: "cd".repeat(32),
            },
        ];
        project.create(DocValue::Observation(obs)).unwrap();
    }
    let out = peer.tmp.path().join("out.zip");
    let summary = peer.json(&["export", "zip", "--out", out.to_str().unwrap()]);
    assert_eq!(summary["attachmentsIncluded"], 0);
    assert_eq!(summary["attachmentsMissing"], 2);
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    let names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    let geojson_name = names
        .iter()
        .find(|n| n.ends_with(".geojson"))
        .unwrap()
        .clone();
    assert!(
        geojson_name.starts_with("Mapeo_Río_Negro_Obsvns_Tracks_"),
        "{geojson_name}"
    );
    let missing_name = names
        .iter()
        .find(|n| n.ends_with("/missing.ndjson"))
        .unwrap()
        .clone();
    assert!(missing_name.contains("_Media_"), "{missing_name}");
    assert_eq!(names.len(), 2, "{names:?}");
    let mut text = String::new();
    zip.by_name(&geojson_name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let fc: Value = serde_json::from_str(&text).unwrap();
    let with_photos = fc["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["properties"]["notes"] == "with photos")
        .unwrap();
    assert_eq!(
        with_photos["properties"]["attachment_1"],
        Value::Null,
        "not on this device"
    );
    assert_eq!(with_photos["properties"]["attachment_2"], Value::Null);
    let mut missing = String::new();
    zip.by_name(&missing_name)
        .unwrap()
        .read_to_string(&mut missing)
        .unwrap();
    let listed: Vec<Value> = missing
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut listed_names: Vec<&str> = listed.iter().map(|a| a["name"].as_str().unwrap()).collect();
    listed_names.sort();
    assert_eq!(listed_names, ["photo-1", "voice"]);
    assert!(
        listed
            .iter()
            .any(|a| a["type"] == "audio" && a["hash"] == "cd".repeat(32))
    );
    assert!(
        listed
            .iter()
            .all(|a| a["reason"] == "unknown" && a["file"].is_null()),
        "{listed:#?}"
    );

    let (_, err) = peer.fail(&["export", "zip", "--out", "-"]);
    assert_eq!(err["kind"], "bad_input");
    let (exit, err) = peer.fail(&["export", "geojson", "--out", "/nonexistent-dir/x.geojson"]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "file");
}

#[test]
fn csv_has_a_row_for_each_track_it_counts() {
    let (peer, _) = setup();
    let out = peer.tmp.path().join("out.csv");
    let summary = peer.json(&["export", "csv", "--out", out.to_str().unwrap()]);
    assert_eq!(summary["tracks"], 1);
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let tracks: Vec<&csv::StringRecord> =
        rows.iter().filter(|r| &r[col("type")] == "track").collect();
    assert_eq!(tracks.len(), 1, "{rows:?}");
    assert_eq!(&tracks[0][col("points")], "2");
    assert_eq!(tracks[0][col("id")].len(), 32);
    assert_eq!(
        rows.iter()
            .filter(|r| &r[col("type")] == "observation")
            .count(),
        2
    );
    let no_tracks = peer.json(&[
        "export",
        "csv",
        "--no-tracks",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(no_tracks["tracks"], 0);
    let mut reader = csv::Reader::from_path(&out).unwrap();
    assert_eq!(reader.records().count(), 2);
}

#[test]
fn exports_are_ordinary_files_dated_now() {
    let (peer, _) = setup();
    let zip_path = peer.tmp.path().join("out.zip");
    let geojson_path = peer.tmp.path().join("out.geojson");
    peer.json(&["export", "zip", "--out", zip_path.to_str().unwrap()]);
    peer.json(&["export", "geojson", "--out", geojson_path.to_str().unwrap()]);
    #[cfg(unix)]
    for path in [&zip_path, &geojson_path] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        // Readable by others as any new file (the test runs under the usual umask, which
        // never takes away the owner's read and write).
        assert_eq!(mode & 0o600, 0o600, "{}: {mode:o}", path.display());
        assert_ne!(
            mode,
            0o600,
            "{}: private like a temporary file",
            path.display()
        );
        assert_eq!(mode & 0o111, 0, "not executable");
    }
    let this_year = u16::try_from(time::OffsetDateTime::now_utc().year()).unwrap();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    for i in 0..zip.len() {
        let entry = zip.by_index(i).unwrap();
        let year = entry.last_modified().unwrap().year();
        assert!(
            year + 1 >= this_year,
            "{:?} dated {year}, not now",
            entry.name()
        );
    }
}

#[test]
fn a_missing_output_folder_is_named_in_the_error() {
    let (peer, _) = setup();
    let folder = peer.tmp.path().join("no-such-folder");
    for kind in ["geojson", "csv", "zip"] {
        let target = folder.join(format!("out.{kind}"));
        let (exit, err) = peer.fail(&["export", kind, "--out", target.to_str().unwrap()]);
        assert_eq!(exit, 1);
        assert_eq!(err["kind"], "file");
        let message = err["message"].as_str().unwrap();
        assert!(message.contains("no-such-folder"), "{message}");
        assert!(message.contains("does not exist"), "{message}");
        // The folder, not a temporary file in it.
        let inside = format!("{}/", folder.display());
        assert!(!message.contains(&inside), "{message}");
    }
    assert!(!folder.exists());
}
