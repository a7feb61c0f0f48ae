//! Peers as separate processes on 127.0.0.1: `mapeo serve` and `mapeo sync` through the whole
//! flow with two and three devices, connection codes, the data folder lock, and syncs that
//! cannot finish.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{Peer, SYNC_TIMEOUT, eventually};
use serde_json::Value;

fn count(peer: &Peer, project: &str) -> u64 {
    peer.json(&["-p", project, "observation", "list"])["count"]
        .as_u64()
        .unwrap()
}

#[test]
fn two_peers_sync_by_connection_code() {
    let ana = Peer::new();
    let pid = ana.with_project("Ana", "Río Negro");
    let cats = ana.tmp.path().join("cats");
    common::write_categories(&cats);
    ana.json(&["categories", "import", cats.to_str().unwrap()]);
    ana.json(&[
        "observation",
        "add",
        "--lat",
        "-3",
        "--lon",
        "-60",
        "--preset",
        "Water",
        "--notes",
        "from Ana",
    ]);
    let beto = Peer::new();
    beto.json(&["identity", "set-name", "Beto", "--type", "mobile"]);
    let beto_id = beto.device_id();
    // Beto joins by invite: he has the project's name and categories, and Ana's observation.
    ana.bring_in(&pid, &beto);
    let joined = beto.json(&["project", "show"]);
    assert_eq!(joined["name"], "Río Negro");
    assert_eq!(joined["role"], "member");
    assert_eq!(joined["presets"], 2);
    assert_eq!(count(&beto, &pid), 1);
    // Then both record offline.
    beto.json(&[
        "observation",
        "add",
        "--lat",
        "-4",
        "--lon",
        "-61",
        "--notes",
        "from Beto",
    ]);
    ana.json(&[
        "observation",
        "add",
        "--lat",
        "-3.5",
        "--lon",
        "-60.5",
        "--notes",
        "later from Ana",
    ]);

    let mut serve = ana.serve(&[]);
    assert_eq!(serve.info["deviceName"], "Ana");
    assert!(serve.address().starts_with("127.0.0.1:"));
    assert_eq!(serve.info["projects"][0]["projectId"], pid.as_str());
    // While serve runs, reads work beside it and writes are refused with a clear message.
    assert_eq!(count(&ana, &pid), 2);
    let (exit, err) = ana.fail(&["observation", "add", "--lat", "1", "--lon", "1"]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "data_in_use");
    assert!(err["message"].as_str().unwrap().contains("mapeo serve"));

    let summary = beto.json(&["sync", "--connect", &serve.code(), "--timeout", "60"]);
    assert_eq!(summary["finished"], true, "{summary:#}");
    let peer = &summary["peers"][0];
    assert_eq!(peer["deviceId"], ana.device_id().as_str());
    assert_eq!(peer["name"], "Ana");
    assert_eq!(peer["status"], "synced");
    let project = &peer["projects"][0];
    assert_eq!(project["projectId"], pid.as_str());
    assert_eq!(project["synced"], true);
    assert!(project["received"].as_u64().unwrap() > 0);
    assert!(project["sent"].as_u64().unwrap() > 0);

    // Beto has the project's settings, categories and Ana's observation, with names.
    let shown = beto.json(&["project", "show"]);
    assert_eq!(shown["name"], "Río Negro");
    assert_eq!(shown["presets"], 2);
    assert_eq!(shown["role"], "member");
    let list = beto.json(&["observation", "list"]);
    assert_eq!(list["count"], 3);
    let from_ana = list["observations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["tags"]["notes"] == "from Ana")
        .unwrap();
    assert_eq!(from_ana["createdByName"], "Ana");
    assert_eq!(from_ana["categoryName"], "Water");
    // A member cannot replace the project's categories; nothing changes.
    let before = beto.json(&["categories", "list"]);
    let (exit, err) = beto.fail(&["categories", "import", cats.to_str().unwrap()]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "not_allowed");
    assert_eq!(beto.json(&["categories", "list"]), before);
    // And Ana has Beto's, seen while her serve is still running.
    eventually("Beto's observation at Ana", SYNC_TIMEOUT, || {
        count(&ana, &pid) == 3
    });
    let members = ana.json(&["-p", &pid, "members", "list"]);
    let beto_row = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["deviceId"] == beto_id.as_str())
        .unwrap();
    assert_eq!(beto_row["name"], "Beto");
    assert_eq!(beto_row["role"], "member");

    serve.wait_for("Beto as a peer", SYNC_TIMEOUT, |e| {
        e["event"] == "peer" && e["deviceId"] == beto_id.as_str() && e["connected"] == true
    });
    // Beto's sync ends as soon as it is done, so the last word about him may come after he
    // left: everything exchanged, both ways.
    let done = serve.wait_for("complete progress", SYNC_TIMEOUT, |e| {
        e["event"] == "progress" && e["peer"] == beto_id.as_str() && e["complete"] == true
    });
    assert_eq!(done["projectName"], "Río Negro");
    assert_eq!(done["wanted"], 0);
    assert_eq!(done["toSend"], 0);
    assert!(
        done["received"].as_u64().unwrap() > 0 && done["sent"].as_u64().unwrap() > 0,
        "{done}"
    );
    let events = serve.stop();
    let stopped = events.iter().find(|e| e["event"] == "stopped").unwrap();
    assert_eq!(stopped["peers"], 1);
    // The lock is released with the process.
    ana.json(&["observation", "add", "--lat", "1", "--lon", "1"]);
}

#[test]
fn three_peers_data_travels_through_the_hub() {
    let ana = Peer::new();
    let pid = ana.with_project("Ana", "Río Negro");
    let (beto, carla) = (Peer::new(), Peer::new());
    for (p, name) in [(&beto, "Beto"), (&carla, "Carla")] {
        p.json(&["identity", "set-name", name]);
        ana.bring_in(&pid, p);
        p.json(&[
            "observation",
            "add",
            "--lat",
            "2",
            "--lon",
            "3",
            "--notes",
            name,
        ]);
    }
    ana.json(&[
        "observation",
        "add",
        "--lat",
        "1",
        "--lon",
        "2",
        "--notes",
        "Ana",
    ]);

    let hub = ana.serve(&[]);
    let mut beto_serve = beto.serve(&["--connect", &hub.code()]);
    beto_serve.wait_for("dial", SYNC_TIMEOUT, |e| {
        e["event"] == "dial" && e["ok"] == true
    });
    // Beto's observation reaches the hub first: Carla's one sync can only bring what the hub
    // holds when it runs (waiting for the dial alone raced with Beto's sync under load).
    eventually("Beto's observation at Ana", SYNC_TIMEOUT, || {
        count(&ana, &pid) == 2
    });
    // Carla syncs once with the hub, by address; her observation then reaches Beto live,
    // through Ana, and Beto's reaches Carla.
    let summary = carla.json(&["sync", "--connect", &hub.address(), "--timeout", "60"]);
    assert_eq!(summary["finished"], true, "{summary:#}");
    eventually("Carla's observation at Beto", SYNC_TIMEOUT, || {
        count(&beto, &pid) == 3
    });
    assert_eq!(count(&carla, &pid), 3);
    eventually("everything at Ana", SYNC_TIMEOUT, || count(&ana, &pid) == 3);
    let notes: Vec<String> = beto.json(&["-p", &pid, "observation", "list"])["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["createdByName"].as_str().unwrap().to_owned())
        .collect();
    for name in ["Ana", "Beto", "Carla"] {
        assert!(
            notes.iter().any(|n| n == name),
            "{name} missing at Beto: {notes:?}"
        );
    }
    beto_serve.stop();
    hub.stop();
}

#[test]
fn a_sync_that_cannot_finish_exits_with_3() {
    let peer = Peer::new();
    peer.with_project("Ana", "P");
    // A port nothing listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let out = peer.run(&["--json", "sync", "--connect", &closed, "--timeout", "3"]);
    assert_eq!(out.status.code(), Some(3));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["finished"], false);
    assert_eq!(summary["unreachable"][0]["peer"], closed.as_str());
    let err: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stderr).lines().last().unwrap()).unwrap();
    assert_eq!(err["error"]["kind"], "not_finished");

    let (exit, err) = peer.fail(&["sync"]);
    assert_eq!(exit, 1);
    assert!(err["message"].as_str().unwrap().contains("--connect"));
    let (_, err) = peer.fail(&["sync", "--connect", "not-a-peer"]);
    assert_eq!(err["kind"], "bad_input");
    let (_, err) = peer.fail(&["sync", "--connect", "MP1ZZZZZZZZZZZZZZZZZZZZ"]);
    assert!(
        err["message"].as_str().unwrap().contains("checksum"),
        "{err}"
    );
}

#[test]
fn connection_codes_name_the_running_serve_or_given_addresses() {
    let peer = Peer::new();
    peer.with_project("Ana", "P");
    let idle = peer.json(&["connection-code", "--address", "10.0.2.2", "--port", "5000"]);
    assert!(idle["code"].as_str().unwrap().starts_with("MP1"));
    assert_eq!(idle["addresses"], serde_json::json!(["10.0.2.2"]));
    assert_eq!(idle["port"], 5000);
    assert_eq!(idle["serving"], false);
    assert!(
        idle["qr"].as_str().unwrap().contains('█'),
        "a QR code is drawn"
    );
    assert_eq!(peer.json(&["connection-code", "--no-qr"])["port"], 47380);

    let serve = peer.serve(&[]);
    let live = peer.json(&["connection-code"]);
    assert_eq!(live["serving"], true);
    assert_eq!(live["code"], serve.info["connectionCode"]);
    assert_eq!(live["addresses"], serde_json::json!(["127.0.0.1"]));
    // Another device dials that code and reaches this one.
    let other = Peer::new();
    other.json(&["identity"]);
    let summary = other.json(&[
        "sync",
        "--connect",
        live["code"].as_str().unwrap(),
        "--timeout",
        "20",
    ]);
    assert_eq!(summary["peers"][0]["deviceId"], peer.device_id().as_str());
    assert_eq!(
        summary["peers"][0]["status"],
        "shares no project with this device"
    );
    serve.stop();
}

#[cfg(unix)]
#[test]
fn serve_stops_cleanly_on_ctrl_c() {
    let peer = Peer::new();
    peer.with_project("Ana", "P");
    let mut serve = peer.serve(&[]);
    let pid = serve.info["pid"].to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    serve.wait_for("stopped", SYNC_TIMEOUT, |e| e["event"] == "stopped");
    common::eventually("serve to exit", SYNC_TIMEOUT, || {
        serve.child.try_wait().unwrap().is_some()
    });
    assert!(serve.child.try_wait().unwrap().unwrap().success());
    assert!(
        !peer.dir().join("serve.json").exists(),
        "serve.json removed on exit"
    );
}

/// Runs `mapeo sync` against `code`, bounded by its own `--timeout` (and the test's command
/// limit); returns the exit code and the summary.
fn sync_once(peer: &Peer, code: &str, timeout: &str) -> (Option<i32>, Value) {
    let out = peer.run(&["--json", "sync", "--connect", code, "--timeout", timeout]);
    let summary = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "sync printed no summary ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), summary)
}

#[test]
fn a_device_that_left_a_project_finishes_its_sync_every_time() {
    const ATTEMPTS: usize = 5;
    let ana = Peer::new();
    let left = ana.with_project("Ana", "Río Negro");
    let beto = Peer::new();
    beto.json(&["identity", "set-name", "Beto"]);
    let beto_id = beto.device_id();
    ana.bring_in(&left, &beto);
    beto.json(&[
        "-p",
        &left,
        "observation",
        "add",
        "--lat",
        "1",
        "--lon",
        "2",
    ]);
    beto.json(&["-p", &left, "project", "leave", "--yes"]);
    let serve = ana.serve(&[]);
    let code = serve.code();

    // The only project they share is one Beto left: each sync ends, synced, and Ana
    // learns that he left.
    for attempt in 0..ATTEMPTS {
        let (exit, summary) = sync_once(&beto, &code, "30");
        assert_eq!(exit, Some(0), "attempt {attempt}: {summary:#}");
        assert_eq!(summary["finished"], true, "attempt {attempt}: {summary:#}");
        assert_eq!(summary["peers"][0]["done"], true, "{summary:#}");
    }
    assert!(
        ana.json(&["-p", &left, "members", "list", "--all"])["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["deviceId"] == beto_id.as_str() && m["role"] == "left"),
        "Ana knows Beto left"
    );
    serve.stop();

    // A second project both are in: it syncs in full beside the left one.
    let kept = ana.json(&["project", "create", "Alto Beni"])["projectId"]
        .as_str()
        .unwrap()
        .to_owned();
    ana.bring_in(&kept, &beto);
    for attempt in 0..ATTEMPTS {
        let note = format!("from Ana {attempt}");
        ana.json(&[
            "-p",
            &kept,
            "observation",
            "add",
            "--lat",
            "3",
            "--lon",
            "4",
            "--notes",
            &note,
        ]);
        let serve = ana.serve(&[]);
        let (exit, summary) = sync_once(&beto, &serve.code(), "30");
        assert_eq!(exit, Some(0), "attempt {attempt}: {summary:#}");
        assert_eq!(summary["finished"], true, "attempt {attempt}: {summary:#}");
        assert_eq!(count(&beto, &kept), attempt as u64 + 1);
        serve.stop();
    }
}

/// A `mapeo serve` with its text output piped, as a person runs it into a log:
/// `(child, lines)`, once it listens; returns the address it listens on.
fn text_serve(
    peer: &Peer,
) -> (
    std::process::Child,
    std::sync::mpsc::Receiver<String>,
    String,
) {
    use std::io::BufRead;
    let mut child = common::mapeo()
        .arg("--data")
        .arg(peer.dir())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-discovery",
            "--stop-on-stdin-close",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let first = rx.recv_timeout(SYNC_TIMEOUT).unwrap();
    let addr = first
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();
    (child, rx, addr)
}

#[test]
fn a_piped_serve_says_synced_and_counts_it_when_stopped() {
    let ana = Peer::new();
    let pid = ana.with_project("Ana", "Río Negro");
    let beto = Peer::new();
    beto.json(&["identity", "set-name", "Beto"]);
    ana.bring_in(&pid, &beto);
    beto.json(&["-p", &pid, "observation", "add", "--lat", "1", "--lon", "2"]);

    let (mut serve, lines, addr) = text_serve(&ana);
    let (exit, summary) = sync_once(&beto, &addr, "60");
    assert_eq!(exit, Some(0), "{summary:#}");
    // Beto's observation is here: Ana's serve must have said so.
    eventually("Beto's observation at Ana", SYNC_TIMEOUT, || {
        count(&ana, &pid) == 1
    });
    drop(serve.stdin.take());
    let status = common::wait_output(serve, SYNC_TIMEOUT).status;
    assert!(status.success());
    // Every line, up to the end of the output (the reader ends with it).
    let mut text = Vec::new();
    while let Ok(line) = lines.recv_timeout(SYNC_TIMEOUT) {
        text.push(line);
    }
    let text = text.join("\n");
    assert!(
        text.lines()
            .any(|l| l.starts_with("Río Negro ⇄ Beto: synced (received ")),
        "{text}"
    );
    assert!(
        text.contains("1 of 1 exchange(s) synced"),
        "the summary counts the synced exchange:\n{text}"
    );
}
