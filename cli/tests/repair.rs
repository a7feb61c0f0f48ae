//! A damaged project store from the command line: a page of garbage in the middle of a
//! project's database is reported (non-zero exit, kind `damaged`, the command to run),
//! refuses writes with the file unchanged, leaves the identity and the other projects
//! working; `mapeo project repair` then a sync with a peer brings its data back. And a data
//! folder on a read-only mount says so.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{COMMAND_TIMEOUT, Peer};
use serde_json::Value;

/// SQLite's default page size, which the stores use.
const PAGE: u64 = 4096;

fn db(peer: &Peer, project: &str) -> PathBuf {
    peer.dir().join("projects").join(project).join("project.db")
}

fn observation_ids(peer: &Peer, project: &str) -> BTreeSet<String> {
    peer.json(&["-p", project, "observation", "list"])["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["docId"].as_str().unwrap().to_owned())
        .collect()
}

/// 4 KiB of garbage over the page in the middle of the file (no process has it open).
fn garble_middle(path: &Path) {
    use std::io::{Seek, SeekFrom, Write};
    let pages = std::fs::metadata(path).unwrap().len() / PAGE;
    assert!(pages > 8, "the store should span many pages, has {pages}");
    let mut garbage = vec![0u8; PAGE as usize];
    blake3::Hasher::new()
        .update(b"damaged store test")
        .finalize_xof()
        .fill(&mut garbage);
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(pages / 2 * PAGE)).unwrap();
    f.write_all(&garbage).unwrap();
    f.sync_all().unwrap();
}

#[test]
fn damaged_project_is_reported_repaired_and_synced_back_from_a_peer() {
    let ana = Peer::new();
    let beto = Peer::new();
    let river = ana.with_project("Ana", "River watch");
    let forest = ana.json(&["project", "create", "Forest watch"])["projectId"]
        .as_str()
        .unwrap()
        .to_owned();
    ana.bring_in(&river, &beto);
    let long_notes = "oil slick along the bank, dead fish, dredge upstream; ".repeat(4);
    for i in 0..40 {
        ana.json(&[
            "-p",
            &river,
            "observation",
            "add",
            "--lat",
            "-3.1",
            "--lon",
            &format!("-60.{i}"),
            "--notes",
            &long_notes,
        ]);
    }
    let serve = ana.serve(&[]);
    let summary = beto.json(&["sync", "--connect", &serve.code(), "--timeout", "60"]);
    assert_eq!(summary["finished"], true, "{summary:#}");
    serve.stop();
    let at_beto = observation_ids(&beto, &river);
    assert_eq!(at_beto.len(), 40);
    assert_eq!(observation_ids(&ana, &river), at_beto);

    let path = db(&ana, &river);
    garble_middle(&path);
    let hash = blake3::hash(&std::fs::read(&path).unwrap());

    // Reading the damaged project fails, naming it and the way out.
    let (exit, err) = ana.fail(&["-p", &river, "observation", "list"]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "damaged");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("mapeo project repair -p {}", &river[..8])),
        "{message}"
    );
    assert!(!message.contains(ana.dir().to_str().unwrap()), "{message}");
    // Chosen by its name, which lives in the damaged store: still pointed at the repair.
    let (exit, err) = ana.fail(&["-p", "River watch", "observation", "list"]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "damaged");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("mapeo project repair -p {}", &river[..8])),
        "{message}"
    );
    // Writing is refused and the file is untouched.
    let (_, err) = ana.fail(&[
        "-p",
        &river,
        "observation",
        "add",
        "--lat",
        "1",
        "--lon",
        "1",
    ]);
    assert_eq!(err["kind"], "damaged");
    assert_eq!(blake3::hash(&std::fs::read(&path).unwrap()), hash);
    // The identity, the project list and the other project work.
    let identity = ana.json(&["identity"]);
    assert!(identity["backupCode"].as_str().is_some(), "{identity:#}");
    let list = ana.json(&["project", "list"]);
    let projects = list["projects"].as_array().unwrap();
    let damaged: Vec<&Value> = projects.iter().filter(|p| p["damaged"] == true).collect();
    assert_eq!(damaged.len(), 1);
    assert_eq!(damaged[0]["projectId"], river.as_str());
    let text = String::from_utf8(ana.run(&["project", "list"]).stdout).unwrap();
    assert!(text.contains("(damaged)"), "{text}");
    ana.json(&[
        "-p",
        &forest,
        "observation",
        "add",
        "--lat",
        "2",
        "--lon",
        "2",
    ]);
    assert_eq!(observation_ids(&ana, &forest).len(), 1);

    // Repair: the damaged store is kept aside, a fresh one made.
    let repaired = ana.json(&["-p", &river, "project", "repair"]);
    assert_eq!(repaired["projectId"], river.as_str());
    let aside = PathBuf::from(repaired["setAside"].as_str().unwrap());
    assert!(aside.join("project.db").exists());
    assert_eq!(
        blake3::hash(&std::fs::read(aside.join("project.db")).unwrap()),
        hash
    );
    assert!(repaired["recovered"].as_u64().is_some());
    let list = ana.json(&["project", "list"]);
    assert!(
        list["projects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["damaged"] == false),
        "{list:#}"
    );

    // A sync with a member brings back everything it had.
    let serve = beto.serve(&[]);
    let summary = ana.json(&["sync", "--connect", &serve.code(), "--timeout", "60"]);
    assert_eq!(summary["finished"], true, "{summary:#}");
    serve.stop();
    assert_eq!(observation_ids(&ana, &river), at_beto);
    ana.json(&[
        "-p",
        &river,
        "observation",
        "add",
        "--lat",
        "3",
        "--lon",
        "3",
    ]);
    assert_eq!(observation_ids(&ana, &river).len(), 41);
}

/// Whether this test can make a read-only mount: root, `unshare` and `mount`. With `CI`
/// set their absence fails the test; otherwise it prints SKIPPED and passes.
fn can_mount() -> bool {
    let ok = Command::new("unshare")
        .args(["-m", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "a read-only mount cannot be made here (needs root and unshare)"
        );
        println!("SKIPPED read-only data folder: needs root and unshare");
    }
    ok
}

#[test]
fn a_read_only_data_folder_is_named_as_such() {
    if !can_mount() {
        return;
    }
    let peer = Peer::new();
    let project = peer.with_project("Ana", "River watch");
    let dir = peer.dir();
    let dir = dir.to_str().unwrap();
    // In a private mount namespace, the data folder bind-mounted read-only over itself: a
    // read-only file system even for root, as on a write-protected card.
    let child = Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount --bind \"$1\" \"$1\" && mount -o remount,ro,bind \"$1\" \"$1\" && shift && exec \"$@\"",
            "sh",
            dir,
            env!("CARGO_BIN_EXE_mapeo"),
            "--json",
            "--data",
            dir,
            "-p",
            &project,
            "observation",
            "list",
        ])
        .env_remove("MAPEO_DATA")
        .env_remove("MAPEO_PROJECT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = common::wait_output(child, COMMAND_TIMEOUT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let err: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(err["error"]["kind"], "read_only", "{stderr}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("read-only"),
        "{stderr}"
    );
    // Outside the namespace the folder was never read-only: the same command works.
    assert_eq!(
        peer.json(&["-p", &project, "observation", "list"])["observations"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}
