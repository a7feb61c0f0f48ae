//! Members and invites through the `mapeo` binary, as separate processes on 127.0.0.1: a
//! fresh device joining in one command (`sync --accept-invites-from`), invites answered
//! through a running serve (`invites accept|reject`), canceled and expired invites, a serve
//! that accepts unattended, members listed, removed and given roles offline, and the errors
//! a person or a script gets for bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::process::Child;

use common::{COMMAND_TIMEOUT, Peer, SYNC_TIMEOUT, eventually, wait_output};
use serde_json::Value;

/// A peer with a name.
fn named(name: &str) -> Peer {
    let p = Peer::new();
    p.json(&["identity", "set-name", name]);
    p
}

fn count(peer: &Peer, project: &str) -> u64 {
    peer.json(&["-p", project, "observation", "list"])["count"]
        .as_u64()
        .unwrap()
}

fn add_observation(peer: &Peer, notes: &str) {
    peer.json(&[
        "observation",
        "add",
        "--lat",
        "-3",
        "--lon",
        "-60",
        "--notes",
        notes,
    ]);
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

/// `ana` serves, `beto` serves connected to her; returns both once Beto's dial succeeded.
fn two_serves(ana: &Peer, beto: &Peer, beto_extra: &[&str]) -> (common::Serve, common::Serve) {
    let mut hub = ana.serve(&[]);
    let mut args = vec!["--connect".to_owned(), hub.code()];
    args.extend(beto_extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut spoke = beto.serve(&args);
    spoke.wait_for("dial", SYNC_TIMEOUT, |e| {
        e["event"] == "dial" && e["ok"] == true
    });
    let beto_id = beto.device_id();
    hub.wait_for("Beto connected", SYNC_TIMEOUT, |e| {
        e["event"] == "peer" && e["deviceId"] == beto_id.as_str() && e["connected"] == true
    });
    (hub, spoke)
}

/// The next invite event of a serve in `direction` with `state`.
/// Ana (with a project) and Beto, each serving, connected; Ana has invited Beto, whose
/// serve holds the invite, pending.
struct Invited {
    ana: Peer,
    beto: Peer,
    pid: String,
    hub: common::Serve,
    spoke: common::Serve,
    /// Ana's `members invite`, waiting for the answer.
    invite: std::process::Child,
    id: String,
    beto_id: String,
}

fn invited() -> Invited {
    let ana = Peer::new();
    let pid = ana.with_project("Ana", "Río Negro");
    let beto = named("Beto");
    let beto_id = beto.device_id();
    let (hub, mut spoke) = two_serves(&ana, &beto, &[]);
    let invite = ana.spawn(&["--json", "-p", &pid, "members", "invite", &beto_id]);
    let received = invite_event(&mut spoke, "received", "received");
    let id = received["inviteId"].as_str().unwrap().to_owned();
    Invited {
        ana,
        beto,
        pid,
        hub,
        spoke,
        invite,
        id,
        beto_id,
    }
}

fn invite_event(serve: &mut common::Serve, direction: &str, state: &str) -> Value {
    serve.wait_for(&format!("invite {direction} {state}"), SYNC_TIMEOUT, |e| {
        e["event"] == "invite" && e["direction"] == direction && e["state"] == state
    })
}

#[test]
fn a_fresh_device_joins_and_syncs_in_one_command() {
    let ana = Peer::new();
    let pid = ana.with_project("Ana", "Río Negro");
    add_observation(&ana, "from Ana");
    let beto = named("Beto");
    let (ana_id, beto_id) = (ana.device_id(), beto.device_id());

    let mut serve = ana.serve(&[]);
    let sync = beto.spawn(&[
        "--json",
        "sync",
        "--connect",
        &serve.code(),
        "--accept-invites-from",
        &ana_id[..12],
        "--timeout",
        "60",
    ]);
    // The invite waits for Beto to connect; the outcome comes back as JSON.
    let outcome = ana.json(&[
        "-p",
        &pid,
        "members",
        "invite",
        &beto_id,
        "--role",
        "member",
        "--role-name",
        "Monitor",
    ]);
    assert_eq!(outcome["outcome"], "accepted", "{outcome:#}");
    assert_eq!(outcome["deviceId"], beto_id.as_str());
    assert_eq!(outcome["deviceName"], "Beto");
    assert_eq!(outcome["projectId"], pid.as_str());
    assert_eq!(outcome["projectName"], "Río Negro");
    assert_eq!(outcome["role"], "member");
    assert_eq!(outcome["timedOut"], false);
    let invite_id = outcome["inviteId"].as_str().unwrap().to_owned();
    assert_eq!(invite_id.len(), 32);

    let (code, summary, err) = finish(sync);
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary["finished"], true, "{summary:#}");
    let joined = &summary["invites"][0];
    assert_eq!(joined["inviteId"], invite_id.as_str());
    assert_eq!(joined["accepted"], true);
    assert_eq!(joined["from"], ana_id.as_str());
    assert_eq!(joined["fromName"], "Ana");
    assert_eq!(joined["projectName"], "Río Negro");
    assert_eq!(joined["roleName"], "Monitor");
    assert_eq!(joined["role"], "member");
    assert_eq!(summary["peers"][0]["status"], "synced");

    // Beto holds the project, as a member, with Ana's observation.
    let shown = beto.json(&["project", "show"]);
    assert_eq!(shown["projectId"], pid.as_str());
    assert_eq!(shown["status"], "joined");
    assert_eq!(shown["role"], "member");
    assert_eq!(count(&beto, &pid), 1, "{summary:#}");
    // Ana's serve told the story of the invite.
    let sent = invite_event(&mut serve, "sent", "sent");
    assert_eq!(sent["inviteId"], invite_id.as_str());
    assert_eq!(sent["deviceId"], beto_id.as_str());
    invite_event(&mut serve, "sent", "accepted");
    // And Ana lists Beto as a member, with when he joined.
    let members = ana.json(&["-p", &pid, "members", "list"]);
    let rows = members["members"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let ana_row = rows
        .iter()
        .find(|m| m["deviceId"] == ana_id.as_str())
        .unwrap();
    assert_eq!(ana_row["role"], "creator");
    assert_eq!(ana_row["thisDevice"], true);
    let beto_row = rows
        .iter()
        .find(|m| m["deviceId"] == beto_id.as_str())
        .unwrap();
    assert_eq!(beto_row["role"], "member");
    assert_eq!(beto_row["name"], "Beto");
    assert!(beto_row["joinedAt"].as_str().unwrap().ends_with('Z'));
    serve.stop();
    // Beto writes now, and it reaches Ana at the next sync.
    add_observation(&beto, "from Beto");
    let serve = ana.serve(&[]);
    let summary = beto.json(&["sync", "--connect", &serve.address(), "--timeout", "60"]);
    assert_eq!(summary["finished"], true, "{summary:#}");
    eventually("Beto's observation at Ana", SYNC_TIMEOUT, || {
        count(&ana, &pid) == 2
    });
    serve.stop();
}

#[test]
fn an_invite_accepted_through_a_running_serve_joins_and_syncs_live() {
    let ana = Peer::new();
    let pid = ana.with_project("Ana", "Río Negro");
    add_observation(&ana, "from Ana");
    let beto = named("Beto");
    let (ana_id, beto_id) = (ana.device_id(), beto.device_id());
    let (hub, mut spoke) = two_serves(&ana, &beto, &[]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(beto.dir().join("control.sock"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the control socket is private");
    }

    let invite = ana.spawn(&[
        "--json",
        "-p",
        &pid,
        "members",
        "invite",
        &beto_id[..10],
        "--role",
        "coordinator",
    ]);
    let received = invite_event(&mut spoke, "received", "received");
    assert_eq!(received["from"], ana_id.as_str());
    assert_eq!(received["fromName"], "Ana");
    assert_eq!(received["projectId"], pid.as_str());
    assert_eq!(received["projectName"], "Río Negro");
    assert_eq!(received["role"], "coordinator");
    let id = received["inviteId"].as_str().unwrap().to_owned();

    // Both sides list it, through their serves.
    let listed = beto.json(&["invites", "list"]);
    assert_eq!(listed["serving"], true);
    assert_eq!(listed["received"][0]["inviteId"], id.as_str());
    assert_eq!(listed["received"][0]["state"], "pending");
    let sent = ana.json(&["invites", "list"]);
    assert_eq!(sent["sent"][0]["inviteId"], id.as_str());
    assert_eq!(sent["sent"][0]["to"], beto_id.as_str());
    assert_eq!(sent["sent"][0]["answered"], false);

    // Beto accepts by a prefix of the id; it returns once he has joined.
    let accepted = beto.json(&["invites", "accept", &id[..8]]);
    assert_eq!(accepted["inviteId"], id.as_str());
    assert_eq!(accepted["projectId"], pid.as_str());
    assert_eq!(accepted["projectName"], "Río Negro");
    assert_eq!(accepted["status"], "joined");
    assert_eq!(accepted["role"], "coordinator");
    let (code, outcome, err) = finish(invite);
    assert_eq!(code, 0, "{err}");
    assert_eq!(outcome["outcome"], "accepted");
    assert_eq!(outcome["inviteId"], id.as_str());
    spoke.wait_for("joined", SYNC_TIMEOUT, |e| {
        e["event"] == "joined" && e["projectId"] == pid.as_str()
    });
    invite_event(&mut spoke, "received", "accepted");

    // Beto's serve syncs the new project at once: Ana's observation arrives live.
    eventually("Ana's observation at Beto", SYNC_TIMEOUT, || {
        count(&beto, &pid) == 1
    });
    assert_eq!(
        beto.json(&["invites", "list"])["received"][0]["state"],
        "accepted"
    );
    // Answering twice is refused, clearly.
    let (exit, err) = beto.fail(&["invites", "accept", &id]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "invite_not_pending", "{err}");
    spoke.stop();
    assert!(
        !beto.dir().join("control.sock").exists(),
        "the control socket goes with the serve"
    );
    let events = hub.stop();
    assert!(
        events.iter().any(|e| e["event"] == "invite"
            && e["direction"] == "sent"
            && e["state"] == "accepted")
    );
}

#[test]
fn a_rejected_invite_leaves_the_device_outside() {
    let Invited {
        ana,
        beto,
        pid,
        hub,
        mut spoke,
        invite,
        id,
        beto_id,
    } = invited();

    let rejected = beto.json(&["invites", "reject", &id]);
    assert_eq!(rejected["inviteId"], id.as_str());
    assert_eq!(rejected["state"], "rejected");
    // The inviter's command prints the outcome and fails, so a script can tell.
    let (code, outcome, err) = finish(invite);
    assert_eq!(code, 1);
    assert_eq!(outcome["outcome"], "rejected");
    assert_eq!(err["kind"], "invite_rejected");
    invite_event(&mut spoke, "received", "rejected");

    assert_eq!(
        beto.json(&["project", "list"])["projects"],
        serde_json::json!([])
    );
    let members = ana.json(&["-p", &pid, "members", "list", "--all"]);
    assert!(
        members["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["deviceId"] != beto_id.as_str()),
        "{members:#}"
    );
    spoke.stop();
    hub.stop();
}

#[test]
fn a_canceled_invite_is_withdrawn_and_an_unanswered_one_expires_when_the_inviter_stops() {
    let Invited {
        ana,
        beto,
        pid,
        hub,
        mut spoke,
        invite,
        id,
        beto_id,
    } = invited();

    let sent = ana.json(&["invites", "list"]);
    assert_eq!(sent["sent"][0]["inviteId"], id.as_str());
    let canceled = ana.json(&["members", "cancel", &id[..6]]);
    assert_eq!(canceled["inviteId"], id.as_str());
    assert_eq!(canceled["canceled"], true);
    let (code, outcome, err) = finish(invite);
    assert_eq!(code, 1);
    assert_eq!(outcome["outcome"], "canceled");
    assert_eq!(err["kind"], "invite_canceled");
    invite_event(&mut spoke, "received", "canceled");
    let (exit, err) = beto.fail(&["invites", "accept", &id]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "invite_not_pending");
    // Nothing left to cancel.
    let (_, err) = ana.fail(&["members", "cancel", &id]);
    assert_eq!(err["kind"], "not_found");

    // A second invite, unanswered, expires when Ana's serve stops.
    let again = ana.spawn(&["--json", "-p", &pid, "members", "invite", &beto_id]);
    let second = spoke.wait_for("second invite", SYNC_TIMEOUT, |e| {
        e["event"] == "invite" && e["state"] == "received" && e["inviteId"] != id.as_str()
    });
    hub.stop();
    let (code, _, _) = finish(again);
    assert_ne!(code, 0, "the invite command fails when its serve goes away");
    let expired = invite_event(&mut spoke, "received", "expired");
    assert_eq!(expired["inviteId"], second["inviteId"]);
    // Listed oldest first, each with its state.
    let listed = beto.json(&["invites", "list"]);
    let states: Vec<(&str, &str)> = listed["received"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["inviteId"].as_str().unwrap(),
                i["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            (id.as_str(), "canceled"),
            (second["inviteId"].as_str().unwrap(), "expired")
        ]
    );
    assert_eq!(
        beto.json(&["project", "list"])["projects"],
        serde_json::json!([])
    );
    spoke.stop();
}

/// A received invite's state as stored in the device database (read only, beside a serve).
fn stored_invite_state(peer: &Peer, id: &str) -> String {
    let db = mapeo_core::db::open_connection(
        &peer.dir().join("device.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    // The database is encrypted under a key derived from the root key the CLI keeps.
    let hex_key = std::fs::read_to_string(peer.dir().join("root.key")).unwrap();
    let mut root = [0u8; 16];
    for (i, b) in root.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex_key.trim()[2 * i..2 * i + 2], 16).unwrap();
    }
    let key = mapeo_core::at_rest::unlock(&peer.dir(), &mapeo_core::RootKey::from_bytes(root), &[])
        .unwrap()
        .device_database_key();
    mapeo_core::db::apply_key(&db, &key).unwrap();
    db.query_row(
        "SELECT state FROM received_invites WHERE lower(hex(invite_id)) = ?1",
        [id],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_read_only_command_beside_a_serve_leaves_its_pending_invite_pending() {
    // Ana's folder and project stay alive (her serve runs in it) though unused here.
    let Invited {
        ana: _ana,
        beto,
        pid: _pid,
        hub,
        spoke,
        invite,
        id,
        beto_id,
    } = invited();
    assert_eq!(stored_invite_state(&beto, &id), "pending");

    // Commands that only read open Beto's data folder beside his serve.
    assert_eq!(
        beto.json(&["project", "list"])["projects"],
        serde_json::json!([])
    );
    assert_eq!(beto.json(&["identity"])["deviceId"], beto_id.as_str());
    assert_eq!(
        stored_invite_state(&beto, &id),
        "pending",
        "a read-only command expired the serve's invite"
    );
    let listed = beto.json(&["invites", "list"]);
    assert_eq!(listed["received"][0]["state"], "pending");

    // And it is still answered as usual.
    let accepted = beto.json(&["invites", "accept", &id]);
    assert_eq!(accepted["status"], "joined");
    let (code, outcome, err) = finish(invite);
    assert_eq!(code, 0, "{err}");
    assert_eq!(outcome["outcome"], "accepted");
    assert_eq!(stored_invite_state(&beto, &id), "accepted");
    spoke.stop();
    hub.stop();
}

#[test]
fn serve_accepts_invites_from_a_named_device_unattended() {
    let ana = Peer::new();
    let pid = ana.with_project("Ana", "Río Negro");
    add_observation(&ana, "from Ana");
    let beto = named("Beto");
    let (ana_id, beto_id) = (ana.device_id(), beto.device_id());
    // Named by a prefix, as the short form every list shows.
    let prefix = &ana_id[..8];
    let (hub, mut spoke) = two_serves(&ana, &beto, &["--accept-invites-from", prefix]);
    let accepting = spoke.wait_for("accepting", SYNC_TIMEOUT, |e| e["event"] == "accepting");
    assert_eq!(accepting["from"][0], prefix);

    let outcome = ana.json(&[
        "-p",
        &pid,
        "members",
        "invite",
        &beto_id,
        "--role",
        "coordinator",
    ]);
    assert_eq!(outcome["outcome"], "accepted");
    invite_event(&mut spoke, "received", "received");
    let joined = spoke.wait_for("joined", SYNC_TIMEOUT, |e| e["event"] == "joined");
    assert_eq!(joined["projectId"], pid.as_str());
    assert_eq!(joined["role"], "coordinator");
    eventually("Ana's observation at Beto", SYNC_TIMEOUT, || {
        count(&beto, &pid) == 1
    });
    assert_eq!(beto.json(&["project", "show"])["role"], "coordinator");
    spoke.stop();
    hub.stop();
}

#[test]
fn members_are_removed_and_given_roles_offline_and_it_spreads_at_the_next_sync() {
    let ana = Peer::new();
    let pid = ana.with_project("Ana", "Río Negro");
    let (beto, carla) = (named("Beto"), named("Carla"));
    ana.bring_in(&pid, &beto);
    ana.bring_in(&pid, &carla);
    let (beto_id, carla_id) = (beto.device_id(), carla.device_id());
    let listed = ana.json(&["members", "list"]);
    let roles: Vec<(&str, &str)> = listed["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(roles.len(), 3);
    for expected in [("Ana", "creator"), ("Beto", "member"), ("Carla", "member")] {
        assert!(roles.contains(&expected), "{roles:?}");
    }

    // Offline, on Ana's laptop: Carla becomes coordinator, Beto is removed.
    let promoted = ana.json(&["members", "role", &carla_id[..8], "coordinator"]);
    assert_eq!(promoted["member"]["deviceId"], carla_id.as_str());
    assert_eq!(promoted["member"]["role"], "coordinator");
    let removed = ana.json(&["members", "remove", &beto_id, "--reason", "lost phone"]);
    assert_eq!(removed["member"]["role"], "blocked");
    assert_eq!(removed["member"]["reason"], "lost phone");
    let active = ana.json(&["members", "list"]);
    assert!(
        active["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["deviceId"] != beto_id.as_str())
    );
    let all = ana.json(&["members", "list", "--all"]);
    let beto_row = all["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["deviceId"] == beto_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(beto_row["role"], "blocked");
    assert_eq!(beto_row["reason"], "lost phone");
    // Removing twice is refused.
    let (_, err) = ana.fail(&["members", "remove", &beto_id]);
    assert_eq!(err["kind"], "bad_input");

    // Beto, not knowing yet, records something and syncs: he learns he was removed, and
    // his observation never shows at Ana's.
    add_observation(&beto, "after removal");
    let serve = ana.serve(&[]);
    let out = beto.run(&[
        "--json",
        "sync",
        "--connect",
        &serve.address(),
        "--timeout",
        "20",
    ]);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("Beto learning he was removed", SYNC_TIMEOUT, || {
        beto.json(&["project", "show"])["role"] == "blocked"
    });
    assert_eq!(count(&ana, &pid), 0);
    // Carla syncs and is coordinator on her side too; a role change goes through the
    // running serve (it holds Ana's data folder) and Beto comes back as a member.
    let summary = carla.json(&["sync", "--connect", &serve.address(), "--timeout", "60"]);
    assert_eq!(summary["finished"], true, "{summary:#}");
    assert_eq!(carla.json(&["project", "show"])["role"], "coordinator");
    let back = ana.json(&[
        "members", "role", &beto_id, "member", "--reason", "found it",
    ]);
    assert_eq!(back["member"]["role"], "member");
    assert_eq!(
        ana.json(&["members", "list"])["members"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // Carla leaves; once Ana hears of it, Carla shows as left, with --all only.
    carla.json(&["project", "leave", "--yes"]);
    // A left device's sync ends once the peer holds its record of leaving.
    let synced = carla.json(&["sync", "--connect", &serve.address(), "--timeout", "30"]);
    assert_eq!(synced["finished"], true, "{synced:#}");
    eventually("Ana learning that Carla left", SYNC_TIMEOUT, || {
        ana.json(&["members", "list", "--all"])["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["deviceId"] == carla_id.as_str() && m["role"] == "left")
    });
    assert!(
        ana.json(&["members", "list"])["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["deviceId"] != carla_id.as_str())
    );
    serve.stop();
}

#[test]
fn bad_input_gets_a_clear_error_and_a_non_zero_exit() {
    let ana = Peer::new();
    let pid = ana.with_project("Ana", "Río Negro");
    let stranger = named("Stranger");
    let stranger_id = stranger.device_id();
    let ana_id = ana.device_id();

    // Without a serve: answering and sending invites need one, listing does not.
    for args in [
        vec!["invites", "accept", "3fa9"],
        vec!["invites", "reject", "3fa9"],
        vec!["members", "invite", &stranger_id],
        vec!["members", "cancel", "3fa9"],
    ] {
        let (exit, err) = ana.fail(&args);
        assert_eq!(exit, 1, "{args:?}");
        assert_eq!(err["kind"], "not_serving", "{args:?}: {err}");
        assert!(err["message"].as_str().unwrap().contains("mapeo serve"));
    }
    let listed = ana.json(&["invites", "list"]);
    assert_eq!(listed["serving"], false);
    assert_eq!(listed["received"], serde_json::json!([]));
    // Unknown devices, and roles nobody may change.
    let (exit, err) = ana.fail(&["members", "remove", &stranger_id]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "not_found");
    assert!(err["message"].as_str().unwrap().contains("members list"));
    let (_, err) = ana.fail(&["members", "role", "zz", "member"]);
    assert_eq!(err["kind"], "not_found");
    let (_, err) = ana.fail(&["members", "remove", &ana_id]);
    assert_eq!(err["kind"], "not_allowed");
    let usage = ana.run(&["members", "role", &ana_id, "boss"]);
    assert_eq!(usage.status.code(), Some(2));
    // An inviter named by too short a prefix, or not by hex, is a usage error: too short a
    // prefix would let other devices in unattended.
    for (given, says) in [("ab12", "too short"), ("ana", "not a device id")] {
        let (exit, err) = ana.fail(&[
            "sync",
            "--connect",
            "127.0.0.1:9",
            "--accept-invites-from",
            given,
        ]);
        assert_eq!(exit, 2, "{given}");
        assert_eq!(err["kind"], "usage");
        assert!(err["message"].as_str().unwrap().contains(says), "{err}");
        let (exit, err) = ana.fail(&["serve", "--accept-invites-from", given]);
        assert_eq!(exit, 2, "{given}");
        assert_eq!(err["kind"], "usage");
    }

    // Through a serve: unknown invites and devices, a device that never connects.
    let serve = ana.serve(&[]);
    let (exit, err) = ana.fail(&["invites", "accept", "0123456789abcdef0123456789abcdef"]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "not_found");
    assert!(err["message"].as_str().unwrap().contains("invites list"));
    let (_, err) = ana.fail(&["members", "cancel", "ffff"]);
    assert_eq!(err["kind"], "not_found");
    let (_, err) = ana.fail(&["members", "invite", "5c1f"]);
    assert_eq!(err["kind"], "not_found");
    assert!(err["message"].as_str().unwrap().contains("connected peer"));
    let (_, err) = ana.fail(&["members", "invite", &stranger_id, "--timeout", "1"]);
    assert_eq!(err["kind"], "not_connected", "{err}");
    let (_, err) = ana.fail(&["members", "remove", &stranger_id]);
    assert_eq!(
        err["kind"], "not_found",
        "kinds survive the control channel"
    );
    // A fresh device waiting for an invite that never comes: exit 3, said why.
    let out = stranger.run(&[
        "--json",
        "sync",
        "--connect",
        &serve.code(),
        "--accept-invites-from",
        &ana_id,
        "--timeout",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["finished"], false);
    assert_eq!(summary["invites"], serde_json::json!([]));
    let reason = summary["reason"].as_str().unwrap();
    assert!(reason.contains("no invite"), "{reason}");
    assert!(reason.contains(&ana_id[..8]), "names the inviter: {reason}");
    // The peer's status says what it waited for, not "matching projects".
    let status = summary["peers"][0]["status"].as_str().unwrap();
    assert!(
        status.starts_with("waiting for an invite from") && status.contains(&ana_id[..8]),
        "{status}"
    );
    // In text, the reason is said once (by the error on stderr), not twice.
    let out = stranger.run(&[
        "sync",
        "--connect",
        &serve.code(),
        "--accept-invites-from",
        &ana_id[..8],
        "--timeout",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(all.matches("accepted within").count(), 1, "{all}");
    assert!(all.contains("waiting for an invite from"), "{all}");
    serve.stop();

    // A member may not invite: Beto joins as a member, serves, and tries.
    let beto = named("Beto");
    ana.bring_in(&pid, &beto);
    let beto_serve = beto.serve(&[]);
    let (exit, err) = beto.fail(&["members", "invite", &stranger_id, "--timeout", "5"]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "not_allowed", "{err}");
    let (_, err) = beto.fail(&["members", "remove", &ana_id]);
    assert_eq!(err["kind"], "not_allowed");
    beto_serve.stop();
}
