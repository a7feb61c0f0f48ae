//! Maps shared through the `mapeo` binary, as separate processes on 127.0.0.1: a coordinator's
//! serve offers the real fallback SMP (from npm) with `maps share`, the other serve prints the
//! offer, `maps shares` lists it, `maps accept` installs it byte for byte (progress in bytes
//! on both sides); a second offer declined; a device that shares no project refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;
#[path = "../../core/tests/support/map_packages.rs"]
mod map_packages;

use std::io::Read;
use std::process::Child;
use std::sync::Arc;

use common::{COMMAND_TIMEOUT, Peer, SYNC_TIMEOUT, wait_output};
use mapeo_core::maps::MapStore;
use mapeo_core::{Manager, RootKey};
use serde_json::Value;

fn named(name: &str) -> Peer {
    let p = Peer::new();
    p.json(&["identity", "set-name", name]);
    p
}

/// Imports a package into a peer's map store with `mapeo maps import`; its map id.
fn import(peer: &Peer, file: &std::path::Path) -> String {
    peer.json(&["maps", "import", file.to_str().unwrap()])["imported"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A peer's map store, opened as its `mapeo` does (the store is sealed under a key derived
/// from the root key in its data folder); only while no `mapeo` of the peer runs.
fn map_store(peer: &Peer) -> (Manager, Arc<MapStore>) {
    let hex = std::fs::read_to_string(peer.dir().join("root.key")).unwrap();
    let bytes: [u8; 16] = hex::decode(hex.trim()).unwrap().try_into().unwrap();
    let manager = Manager::open(&peer.dir(), &RootKey::from_bytes(bytes)).unwrap();
    let store = manager.maps().unwrap();
    (manager, store)
}

/// Waits for a background `mapeo --json …`: exit code, stdout as JSON (Null if none), and
/// the JSON error on stderr (Null if none).
fn finish(child: Child) -> (i32, Value, Value) {
    let out = wait_output(child, COMMAND_TIMEOUT);
    let stdout = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let err = stderr
        .lines()
        .last()
        .and_then(|l| serde_json::from_str::<Value>(l).ok())
        .map_or(Value::Null, |v| v["error"].clone());
    (out.status.code().unwrap_or(-1), stdout, err)
}

/// `ana` serves, `beto` serves connected to her; waits until their shared project (if any)
/// has been matched on Ana's side.
fn two_serves(ana: &Peer, beto: &Peer, shared: bool) -> (common::Serve, common::Serve) {
    let mut hub = ana.serve(&[]);
    let code = hub.code();
    let spoke = beto.serve(&["--connect", &code]);
    let beto_id = beto.device_id();
    hub.wait_for("Beto connected", SYNC_TIMEOUT, |e| {
        e["event"] == "peer" && e["deviceId"] == beto_id.as_str() && e["connected"] == true
    });
    if shared {
        hub.wait_for("the project matched with Beto", SYNC_TIMEOUT, |e| {
            e["peer"] == beto_id.as_str() && (e["event"] == "synced" || e["event"] == "progress")
        });
    }
    (hub, spoke)
}

#[test]
fn a_map_shared_through_the_serves_is_offered_accepted_and_installed_byte_for_byte() {
    let Some(smp) = map_packages::fallback_smp() else {
        return;
    };
    let ana = named("Ana");
    let beto = named("Beto");
    let pid = ana.with_project("Ana", "Río Negro");
    ana.bring_in(&pid, &beto);
    let map = import(&ana, &smp);
    let (mut hub, mut spoke) = two_serves(&ana, &beto, true);
    let beto_id = beto.device_id();

    let share = ana.spawn(&["--json", "maps", "share", "Blank", &beto_id[..8]]);
    let offer = spoke.wait_for("the offer", SYNC_TIMEOUT, |e| {
        e["event"] == "map-share" && e["state"] == "offered"
    });
    assert_eq!(offer["direction"], "received");
    assert_eq!(offer["mapId"], map.as_str());
    assert_eq!(offer["name"], "Blank");
    assert_eq!(offer["deviceName"], "Ana");
    assert_eq!(offer["minZoom"], 0);
    assert_eq!(offer["maxZoom"], 16);
    assert_eq!(offer["size"], std::fs::metadata(&smp).unwrap().len());
    let id = offer["shareId"].as_str().unwrap().to_owned();

    let listed = beto.json(&["maps", "shares"]);
    assert_eq!(listed["serving"], true);
    assert_eq!(listed["shares"][0]["shareId"], id.as_str());
    assert_eq!(listed["shares"][0]["state"], "offered");

    let accepted = beto.json(&["maps", "accept", &id[..6]]);
    assert_eq!(accepted["state"], "installed");
    assert_eq!(accepted["bytes"], accepted["size"]);
    let (code, sent, err) = finish(share);
    assert_eq!(code, 0, "{err}");
    assert_eq!(sent["state"], "installed");
    assert_eq!(sent["direction"], "sent");
    let installed = |e: &Value| {
        e["event"] == "map-share" && e["state"] == "installed" && e["shareId"] == id.as_str()
    };
    hub.wait_for("the sender's serve says installed", SYNC_TIMEOUT, installed);
    spoke.wait_for(
        "the receiver's serve says installed",
        SYNC_TIMEOUT,
        installed,
    );
    // Each serve says how the share ended once, whichever command followed it.
    for (who, events) in [("receiver", spoke.stop()), ("sender", hub.stop())] {
        let said = events.iter().filter(|e| installed(e)).count();
        assert_eq!(said, 1, "the {who}'s serve said installed {said} times");
    }

    let (_device, store) = map_store(&beto);
    let id: mapeo_core::maps::MapId = map.parse().unwrap();
    let (mut package, info) = store.open_package(&id).unwrap();
    assert_eq!(info.name, "Blank");
    let mut installed = Vec::new();
    package.read_to_end(&mut installed).unwrap();
    assert_eq!(installed, std::fs::read(&smp).unwrap());
}

#[test]
fn a_declined_map_is_not_installed_and_the_sender_hears_it() {
    let Some(smp) = map_packages::fallback_smp() else {
        return;
    };
    let ana = named("Ana");
    let beto = named("Beto");
    let pid = ana.with_project("Ana", "Río Negro");
    ana.bring_in(&pid, &beto);
    let map = import(&ana, &smp);
    let (_hub, mut spoke) = two_serves(&ana, &beto, true);
    let beto_id = beto.device_id();

    let share = ana.spawn(&["--json", "maps", "share", &map[..10], &beto_id]);
    let offer = spoke.wait_for("the offer", SYNC_TIMEOUT, |e| {
        e["event"] == "map-share" && e["state"] == "offered"
    });
    let declined = beto.json(&["maps", "decline", offer["shareId"].as_str().unwrap()]);
    assert_eq!(declined["state"], "declined");
    let (code, _, err) = finish(share);
    assert_ne!(code, 0);
    assert_eq!(err["kind"], "map_share_declined", "{err}");
    spoke.stop();
    let (_device, store) = map_store(&beto);
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn a_map_cannot_be_offered_to_a_device_sharing_no_project() {
    let Some(smp) = map_packages::fallback_smp() else {
        return;
    };
    let ana = named("Ana");
    let carla = named("Carla");
    ana.with_project("Ana", "Río Negro");
    carla.with_project("Carla", "Elsewhere");
    import(&ana, &smp);
    let (_hub, _spoke) = two_serves(&ana, &carla, false);
    let (code, err) = ana.fail(&["maps", "share", "Blank", &carla.device_id()]);
    assert_ne!(code, 0);
    assert_eq!(err["kind"], "no_shared_project", "{err}");
    let listed = carla.json(&["maps", "shares"]);
    assert_eq!(
        listed["shares"],
        serde_json::json!([]),
        "nothing is offered"
    );
}

#[test]
fn map_share_commands_need_the_serve_and_list_without_it() {
    let beto = named("Beto");
    let listed = beto.json(&["maps", "shares"]);
    assert_eq!(listed["serving"], false);
    assert_eq!(listed["shares"], serde_json::json!([]));
    let (_, err) = beto.fail(&["maps", "accept", "7c01"]);
    assert_eq!(err["kind"], "not_serving", "{err}");
}
