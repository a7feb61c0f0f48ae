//! `mapeo serve` discovering a peer by mDNS, restricted to `lo` (`--interface lo`), inside a
//! network namespace this test creates whose only interface is its own loopback: nothing is
//! ever sent on this machine's interfaces. Needs root and `ip`: with `CI` set their absence
//! fails the test; otherwise it prints SKIPPED and passes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Peer, SYNC_TIMEOUT, eventually};

/// Each `ip` command's own limit.
const COMMAND_WAIT: Duration = Duration::from_secs(10);

fn can_run() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let ip = Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if root && ip {
        return true;
    }
    let why = format!("needs root ({root}) and ip ({ip})");
    assert!(
        std::env::var_os("CI").is_none(),
        "serve discovery in a namespace cannot run: {why}"
    );
    println!("SKIPPED serve discovery in a namespace: {why}");
    false
}

fn ip(args: &[&str]) {
    let child = Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = common::wait_output(child, COMMAND_WAIT);
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deletes the namespace, even when the test fails.
struct Namespace(String);

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn serve_finds_a_peer_by_mdns_on_loopback_inside_a_namespace() {
    if !can_run() {
        return;
    }
    let name = format!("mapeo-cli-{}", std::process::id());
    ip(&["netns", "add", &name]);
    let ns = Namespace(name);
    ip(&["-n", &ns.0, "link", "set", "lo", "up"]);

    let ana = Peer::new();
    let pid = ana.with_project("Ana", "Río Negro");
    let beto = Peer::new();
    beto.json(&["identity", "set-name", "Beto"]);
    ana.bring_in(&pid, &beto);
    let carla = Peer::new();
    carla.json(&["identity", "set-name", "Carla"]);
    ana.bring_in(&pid, &carla);
    // Recorded after both joined, so only discovery can bring it to them.
    ana.json(&[
        "observation",
        "add",
        "--lat",
        "1",
        "--lon",
        "2",
        "--notes",
        "found by mDNS",
    ]);

    // Two serves inside the namespace, discovery on its loopback only, no address given.
    let start = |peer: &Peer| {
        common::spawn_serve(
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &ns.0,
                    env!("CARGO_BIN_EXE_mapeo"),
                    "--data",
                ])
                .arg(peer.dir())
                .args([
                    "--json",
                    "serve",
                    "--listen",
                    "127.0.0.1:0",
                    "--interface",
                    "lo",
                    "--stop-on-stdin-close",
                ]),
        )
    };
    let mut a = start(&ana);
    let b = start(&beto);
    let discovery = a.wait_for("discovery", SYNC_TIMEOUT, |e| e["event"] == "discovery");
    assert_eq!(discovery["running"], true, "{discovery}");
    assert_eq!(discovery["interfaces"], serde_json::json!(["lo"]));
    let beto_id = beto.device_id();
    a.wait_for("Beto found", SYNC_TIMEOUT, |e| {
        e["event"] == "peer" && e["deviceId"] == beto_id.as_str() && e["connected"] == true
    });
    let started = Instant::now();
    eventually("Ana's observation at Beto", SYNC_TIMEOUT, || {
        beto.json(&["-p", &pid, "observation", "list"])["count"] == 1
    });
    println!("synced {:?} after discovery", started.elapsed());
    // `mapeo sync --discover` finds the serving peers the same way and finishes.
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            env!("CARGO_BIN_EXE_mapeo"),
            "--data",
        ])
        .arg(carla.dir())
        .args([
            "--json",
            "sync",
            "--discover",
            "--interface",
            "lo",
            "--timeout",
            "30",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = common::wait_output(child, SYNC_TIMEOUT);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["finished"], true, "{summary:#}");
    assert_eq!(carla.json(&["-p", &pid, "observation", "list"])["count"], 1);
    b.stop();
    a.stop();
}
