//! `mapeo sync-file`: an observation travels from one device to another by file alone, the
//! answer goes back written for what the first device holds, a have-file limits a file to
//! what its writer lacks, and a damaged file is refused with nothing changed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::Peer;

fn observation_notes(peer: &Peer, pid: &str) -> Vec<String> {
    let list = peer.json(&["-p", pid, "observation", "list"]);
    let mut notes: Vec<String> = list["observations"]
        .as_array()
        .unwrap_or_else(|| panic!("no observations in {list:#}"))
        .iter()
        .map(|o| o["tags"]["notes"].as_str().unwrap_or_default().to_owned())
        .collect();
    notes.sort();
    notes
}

#[test]
fn observations_travel_both_ways_by_files_and_a_damaged_file_changes_nothing() {
    let (ana, beto) = (Peer::new(), Peer::new());
    let pid = ana.with_project("Ana", "Río Negro");
    beto.json(&["identity", "set-name", "Beto"]);
    ana.bring_in(&pid, &beto);
    let tmp = tempfile::tempdir().unwrap();
    let file = |name: &str| tmp.path().join(name).to_str().unwrap().to_owned();

    ana.json(&[
        "-p",
        &pid,
        "observation",
        "add",
        "--lat",
        "-3.1",
        "--lon",
        "-60",
        "--notes",
        "new road",
    ]);
    let written = ana.json(&[
        "-p",
        &pid,
        "sync-file",
        "export",
        "--out",
        &file("a.mapeosync"),
    ]);
    assert!(written["entries"].as_u64().unwrap() > 0, "{written:#}");
    let imported = beto.json(&["-p", &pid, "sync-file", "import", &file("a.mapeosync")]);
    assert!(
        imported["entriesAdded"].as_u64().unwrap() > 0,
        "{imported:#}"
    );
    assert_eq!(observation_notes(&beto, &pid), ["new road"]);

    // Beto answers with only what Ana lacks: his observation (and his device info).
    beto.json(&[
        "-p",
        &pid,
        "observation",
        "add",
        "--lat",
        "-3",
        "--lon",
        "-60",
        "--notes",
        "logging",
    ]);
    let reply = beto.json(&[
        "-p",
        &pid,
        "sync-file",
        "export",
        "--out",
        &file("b.mapeosync"),
        "--for",
        &file("a.mapeosync"),
        "--media",
        "none",
    ]);
    let back = ana.json(&["-p", &pid, "sync-file", "import", &file("b.mapeosync")]);
    assert_eq!(back["entriesInFile"], reply["entries"]);
    assert_eq!(back["entriesAdded"], reply["entries"]);
    assert_eq!(observation_notes(&ana, &pid), ["logging", "new road"]);

    // A have-file from Beto: Ana, with nothing new, writes a file with no entries.
    beto.json(&["-p", &pid, "sync-file", "have", "--out", &file("beto.have")]);
    let nothing = ana.json(&[
        "-p",
        &pid,
        "sync-file",
        "export",
        "--out",
        &file("none.mapeosync"),
        "--for",
        &file("beto.have"),
    ]);
    assert_eq!(nothing["entries"], 0);

    // One changed byte: refused, nothing changed.
    ana.json(&[
        "-p",
        &pid,
        "observation",
        "add",
        "--lat",
        "1",
        "--lon",
        "1",
        "--notes",
        "sacred",
    ]);
    ana.json(&[
        "-p",
        &pid,
        "sync-file",
        "export",
        "--out",
        &file("c.mapeosync"),
    ]);
    let mut bytes = std::fs::read(file("c.mapeosync")).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(file("c.mapeosync"), bytes).unwrap();
    let (code, err) = beto.fail(&["-p", &pid, "sync-file", "import", &file("c.mapeosync")]);
    assert_eq!(code, 1);
    assert_eq!(err["kind"], "bad_input", "{err:#}");
    assert!(
        err["message"].as_str().unwrap().contains("damaged"),
        "{err:#}"
    );
    assert_eq!(observation_notes(&beto, &pid), ["logging", "new road"]);
}

#[test]
fn a_size_that_is_not_a_size_is_refused_before_anything_is_written() {
    let ana = Peer::new();
    let pid = ana.with_project("Ana", "Río Negro");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.mapeosync");
    let (code, err) = ana.fail(&[
        "-p",
        &pid,
        "sync-file",
        "export",
        "--out",
        out.to_str().unwrap(),
        "--max-size",
        "lots",
    ]);
    assert_eq!((code, err["kind"].as_str()), (1, Some("bad_input")));
    assert!(!out.exists());
}
