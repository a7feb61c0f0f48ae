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

/// A mono 8 kHz 16-bit PCM WAV recording of `samples` samples, its sound varied by `seed`
/// so each one is a different file.
fn wav(samples: u32, seed: u32) -> Vec<u8> {
    let data_len = samples * 2;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        let v = (i.wrapping_mul(seed + 7) % 4000) as i16 - 2000;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Every file under a `blobs` folder of the peer's data folder, relative to it, with its size.
fn blob_files(peer: &Peer) -> std::collections::BTreeSet<(std::path::PathBuf, u64)> {
    fn walk(
        root: &std::path::Path,
        dir: &std::path::Path,
        in_blobs: bool,
        out: &mut std::collections::BTreeSet<(std::path::PathBuf, u64)>,
    ) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let e = e.unwrap();
            let blobs = in_blobs || e.file_name() == "blobs";
            if e.file_type().unwrap().is_dir() {
                walk(root, &e.path(), blobs, out);
            } else if blobs {
                let rel = e.path().strip_prefix(root).unwrap().to_owned();
                out.insert((rel, e.metadata().unwrap().len()));
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(&peer.dir(), &peer.dir(), false, &mut out);
    out
}

/// Each observation's id and notes, sorted: what a person sees in the list.
fn observation_ids_and_notes(peer: &Peer, pid: &str) -> Vec<(String, String)> {
    let list = peer.json(&["-p", pid, "observation", "list"]);
    let mut seen: Vec<(String, String)> = list["observations"]
        .as_array()
        .unwrap_or_else(|| panic!("no observations in {list:#}"))
        .iter()
        .map(|o| {
            (
                o["docId"].as_str().unwrap().to_owned(),
                o["tags"]["notes"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    seen.sort();
    seen
}

#[test]
fn an_import_killed_at_any_moment_leaves_a_working_store_and_a_second_import_completes_it() {
    let (ana, beto, carla) = (Peer::new(), Peer::new(), Peer::new());
    let pid = ana.with_project("Ana", "Río Negro");
    beto.json(&["identity", "set-name", "Beto"]);
    carla.json(&["identity", "set-name", "Carla"]);
    ana.bring_in(&pid, &beto);
    ana.bring_in(&pid, &carla);
    let tmp = tempfile::tempdir().unwrap();

    // Enough entries and media (about 12 MB of recordings) that an import takes a moment.
    for i in 0..48u32 {
        let notes = format!("patrol {i}");
        let lat = format!("-3.{i:02}");
        let mut args = vec![
            "-p",
            &pid,
            "observation",
            "add",
            "--lat",
            &lat,
            "--lon",
            "-60",
            "--notes",
            &notes,
        ];
        let audio = tmp.path().join(format!("note-{i}.wav"));
        let audio_arg = audio.to_str().unwrap().to_owned();
        if i % 4 == 0 {
            std::fs::write(&audio, wav(500_000, i)).unwrap();
            args.extend(["--audio", &audio_arg]);
        }
        ana.json(&args);
    }
    let file = tmp.path().join("big.mapeosync");
    let file = file.to_str().unwrap();
    let written = ana.json(&["-p", &pid, "sync-file", "export", "--out", file]);
    assert_eq!(written["mediaFiles"], 12, "{written:#}");
    let ana_list = observation_ids_and_notes(&ana, &pid);
    assert_eq!(ana_list.len(), 48);

    // Carla imports it in one go: the reference, and how long one import takes here.
    let started = std::time::Instant::now();
    let direct = carla.json(&["-p", &pid, "sync-file", "import", file]);
    let full = started.elapsed();
    assert_eq!(observation_ids_and_notes(&carla, &pid), ana_list);

    // Beto's imports are killed (SIGKILL) at points spread over that time, then each time
    // his store must open, list, and hold only whole observations of Ana's.
    let mut before = 0;
    let mut killed = 0;
    for tenths in [1u32, 3, 5, 7, 9, 2] {
        let mut child = beto.spawn(&["--json", "-p", &pid, "sync-file", "import", file]);
        std::thread::sleep(full * tenths / 10);
        // Killing a process that already ended is not an error here: it then simply finished.
        let _ = child.kill();
        let status = common::wait_output(child, common::COMMAND_TIMEOUT).status;
        if !status.success() {
            killed += 1;
        }
        let now = observation_ids_and_notes(&beto, &pid);
        assert!(
            now.iter().all(|o| ana_list.contains(o)),
            "after a kill at {tenths}/10 ({status}): {now:?}"
        );
        assert!(now.len() >= before, "observations were lost by a kill");
        eprintln!(
            "killed at {tenths}/10 ({status}): {} observations",
            now.len()
        );
        before = now.len();
    }
    assert!(killed > 0, "no import was stopped midway");

    // A last import, left to finish, completes it: the same as Carla's direct import.
    let last = beto.json(&["-p", &pid, "sync-file", "import", file]);
    assert_eq!(last["entriesInFile"], direct["entriesInFile"]);
    assert_eq!(observation_ids_and_notes(&beto, &pid), ana_list);
    assert_eq!(blob_files(&beto), blob_files(&carla));
    let again = beto.json(&["-p", &pid, "sync-file", "import", file]);
    assert_eq!(
        (again["entriesAdded"].as_u64(), again["mediaAdded"].as_u64()),
        (Some(0), Some(0)),
        "{again:#}"
    );
}
