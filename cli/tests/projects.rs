//! `mapeo project`: create, list, show, settings, leave; choosing a project by id, id prefix
//! or name; unknown and ambiguous selections.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::Peer;

#[test]
fn create_list_show_change_settings_and_leave() {
    let peer = Peer::new();
    let created = peer.json(&[
        "project",
        "create",
        "Río Negro",
        "--description",
        "Mining watch",
        "--color",
        "#0055ff",
    ]);
    let id = created["projectId"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 64);
    assert_eq!(created["name"], "Río Negro");
    assert_eq!(created["description"], "Mining watch");
    assert_eq!(created["color"], "#0055ff");
    assert_eq!(created["status"], "joined");
    assert_eq!(created["role"], "creator");
    assert_eq!(created["observations"], 0);
    assert_eq!(created["dataSync"], false);

    let second = peer.json(&["project", "create", "Sacred sites"]);
    let list = peer.json(&["project", "list"]);
    let names: Vec<&str> = list["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Río Negro") && names.contains(&"Sacred sites"));

    // By name (any case), by id prefix, by full id.
    assert_eq!(
        peer.json(&["-p", "río negro", "project", "show"])["projectId"],
        id.as_str()
    );
    assert_eq!(
        peer.json(&["-p", &id[..10], "project", "show"])["projectId"],
        id.as_str()
    );
    assert_eq!(
        peer.json(&["-p", &id, "project", "show"])["projectId"],
        id.as_str()
    );

    let changed = peer.json(&[
        "-p",
        &id,
        "project",
        "settings",
        "--name",
        "Río Negro 2026",
        "--color",
        "#00aa00",
    ]);
    assert_eq!(changed["name"], "Río Negro 2026");
    assert_eq!(changed["color"], "#00aa00");
    assert_eq!(
        changed["description"], "Mining watch",
        "unchanged settings stay"
    );
    let shown = peer.json(&["-p", &id, "project", "settings"]);
    assert_eq!(shown["name"], "Río Negro 2026");

    // Leaving needs a confirmation, then marks the project left.
    let (exit, err) = peer.fail(&["-p", &id, "project", "leave"]);
    assert_eq!(exit, 1);
    assert!(err["message"].as_str().unwrap().contains("--yes"));
    assert_eq!(
        peer.json(&["-p", &id, "project", "show"])["status"],
        "joined"
    );
    let left = peer.json(&["-p", &id, "project", "leave", "--yes"]);
    assert_eq!(left["status"], "left");
    let (_, err) = peer.fail(&["-p", &id, "observation", "add", "--lat", "1", "--lon", "2"]);
    assert!(err["message"].as_str().unwrap().contains("left"), "{err}");
    // With one joined project left, it is chosen without -p.
    assert_eq!(
        peer.json(&["project", "show"])["projectId"],
        second["projectId"]
    );
}

#[test]
fn unknown_and_ambiguous_projects_are_clear_errors() {
    let peer = Peer::new();
    let (exit, err) = peer.fail(&["project", "show"]);
    assert_eq!(exit, 1);
    assert!(
        err["message"].as_str().unwrap().contains("no project yet"),
        "{err}"
    );
    peer.json(&["project", "create", "Alpha"]);
    peer.json(&["project", "create", "Beta"]);
    let (exit, err) = peer.fail(&["-p", "gamma", "project", "show"]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "not_found");
    assert!(err["message"].as_str().unwrap().contains("gamma"));
    let (_, err) = peer.fail(&["observation", "list"]);
    assert!(
        err["message"].as_str().unwrap().contains("--project"),
        "{err}"
    );
    let (_, err) = peer.fail(&["-p", "Alpha", "project", "settings", "--color", "blue"]);
    assert_eq!(err["kind"], "bad_input");
    assert!(err["message"].as_str().unwrap().contains("color"), "{err}");
    assert_eq!(
        peer.json(&["-p", "Alpha", "project", "show"])["color"],
        serde_json::Value::Null
    );
}
