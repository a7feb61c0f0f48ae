//! `mapeo identity`: created once with a private key file, shown as JSON, restored from its
//! backup code, and a mistyped code refused without writing anything.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::Peer;

#[test]
fn identity_is_created_once_with_a_private_key_file() {
    let peer = Peer::new();
    let first = peer.json(&["identity"]);
    assert_eq!(first["created"], true);
    assert_eq!(first["name"], "Mapeo desktop");
    assert_eq!(first["deviceType"], "desktop");
    let id = first["deviceId"].as_str().unwrap();
    assert_eq!(id.len(), 64);
    let code = first["backupCode"].as_str().unwrap();
    assert_eq!(code.replace('-', "").len(), 32);
    let key = peer.dir().join("root.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o}");
    }
    let again = peer.json(&["identity", "show"]);
    assert_eq!(again["created"], false);
    assert_eq!(again["deviceId"], first["deviceId"]);
    let renamed = peer.json(&["identity", "set-name", "Ana's laptop", "--type", "server"]);
    assert_eq!(renamed["name"], "Ana's laptop");
    assert_eq!(renamed["deviceType"], "server");
    assert_eq!(peer.json(&["identity"])["name"], "Ana's laptop");
}

#[test]
fn restoring_from_the_backup_code_gives_back_the_same_device() {
    let original = Peer::new();
    let shown = original.json(&["identity"]);
    let code = shown["backupCode"].as_str().unwrap().to_lowercase();
    let restored = Peer::new();
    let r = restored.json(&["identity", "restore", &code]);
    assert_eq!(r["deviceId"], shown["deviceId"]);
    assert_eq!(restored.json(&["identity"])["deviceId"], shown["deviceId"]);

    // A folder that already has an identity is never overwritten.
    let other = Peer::new();
    let other_id = other.device_id();
    let key_before = std::fs::read(other.dir().join("root.key")).unwrap();
    let (exit, err) = other.fail(&["identity", "restore", &code]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "identity_exists");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("restore only into an empty folder")
    );
    assert_eq!(
        std::fs::read(other.dir().join("root.key")).unwrap(),
        key_before
    );
    assert_eq!(other.device_id(), other_id);
}

#[test]
fn a_mistyped_backup_code_is_refused_and_nothing_is_written() {
    let original = Peer::new();
    let code = original.json(&["identity"])["backupCode"]
        .as_str()
        .unwrap()
        .to_owned();
    // Change one character to another valid one: the checksum catches it.
    let mut chars: Vec<char> = code.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    let typo: String = chars.into_iter().collect();
    let target = Peer::new();
    let (exit, err) = target.fail(&["identity", "restore", &typo]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "bad_backup_code");
    assert!(
        err["message"].as_str().unwrap().contains("typo")
            || err["message"].as_str().unwrap().contains("mistyped"),
        "{err}"
    );
    assert!(
        !target.dir().exists(),
        "nothing may be written for a wrong code"
    );
    let (_, short) = target.fail(&["identity", "restore", "ABCD"]);
    assert_eq!(short["kind"], "bad_backup_code");
    assert!(!target.dir().exists());
}

#[test]
fn every_command_has_help_with_examples() {
    for cmd in [
        vec!["--help"],
        vec!["identity", "--help"],
        vec!["project", "create", "--help"],
        vec!["observation", "add", "--help"],
        vec!["observation", "list", "--help"],
        vec!["track", "import", "--help"],
        vec!["categories", "import", "--help"],
        vec!["export", "geojson", "--help"],
        vec!["members", "list", "--help"],
        vec!["members", "invite", "--help"],
        vec!["members", "cancel", "--help"],
        vec!["members", "remove", "--help"],
        vec!["members", "role", "--help"],
        vec!["invites", "list", "--help"],
        vec!["invites", "accept", "--help"],
        vec!["invites", "reject", "--help"],
        vec!["serve", "--help"],
        vec!["sync", "--help"],
        vec!["connection-code", "--help"],
        vec!["demo", "--help"],
    ] {
        let out = common::mapeo().args(&cmd).output().unwrap();
        assert!(out.status.success(), "{cmd:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Example"), "{cmd:?} has no examples:\n{text}");
    }
    let out = common::mapeo()
        .args(["observation", "frobnicate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error exits with 2");
}

#[test]
fn renaming_the_device_does_not_print_the_backup_code_again() {
    let peer = Peer::new();
    let code = peer.json(&["identity"])["backupCode"]
        .as_str()
        .unwrap()
        .to_owned();
    let renamed = peer.json(&["identity", "set-name", "Ana"]);
    assert_eq!(renamed["name"], "Ana");
    assert!(renamed.get("backupCode").is_none(), "{renamed:#}");
    let text = peer.run(&["identity", "set-name", "Ana's laptop"]);
    assert!(text.status.success());
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(!stdout.contains(&code), "{stdout}");
    assert!(!stdout.contains("Backup code"), "{stdout}");
    // Asked for, it is shown.
    let shown = peer.run(&["identity"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains(&code));
}

#[test]
fn restoring_says_restored_and_not_created() {
    let original = Peer::new();
    let code = original.json(&["identity"])["backupCode"]
        .as_str()
        .unwrap()
        .to_owned();
    let restored = Peer::new();
    let out = restored.run(&["identity", "restore", &code]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Identity restored."), "{stdout}");
    assert!(!stdout.contains("created"), "{stdout}");
    assert!(!stdout.contains(&code), "{stdout}");
}

#[test]
fn usage_errors_are_json_under_json_and_help_is_not_an_error() {
    for args in [
        vec!["--json", "observation", "frobnicate"],
        vec!["observation", "list", "--limit", "many", "--json"],
        vec!["--json", "identity", "restore"],
        vec!["--json", "serve", "--listen", "nowhere"],
    ] {
        let out = common::mapeo().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let err: serde_json::Value = serde_json::from_str(stderr.trim())
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {stderr}"));
        assert_eq!(err["error"]["kind"], "usage", "{args:?}");
        assert!(
            !err["error"]["message"].as_str().unwrap().is_empty(),
            "{args:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // Without --json, clap's text.
    let out = common::mapeo()
        .args(["observation", "frobnicate"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error:"));
    // --help and --version with --json are answers, not errors.
    for args in [vec!["--json", "--help"], vec!["--json", "--version"]] {
        let out = common::mapeo().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn wipe_refuses_without_yes_then_destroys_the_keys_and_the_files() {
    let peer = Peer::new();
    let code = peer.json(&["identity"])["backupCode"]
        .as_str()
        .unwrap()
        .to_owned();
    let project = peer.with_project("Ana", "Sacred site survey");
    let (exit, err) = peer.fail(&["identity", "wipe"]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "bad_input");
    assert!(err["message"].as_str().unwrap().contains("--yes"));
    // Refused: nothing changed.
    assert!(peer.dir().join("at-rest.salt").exists());
    assert_eq!(
        peer.json(&["project", "list"])["projects"][0]["projectId"],
        project.as_str()
    );

    let wiped = peer.json(&["identity", "wipe", "--yes"]);
    assert_eq!(wiped["wiped"], true);
    assert_eq!(wiped["filesDeleted"], true);
    assert_eq!(std::fs::read_dir(peer.dir()).unwrap().count(), 0);
    // The backup code restores the identity, without the data (it comes back by sync).
    let restored = peer.json(&["identity", "restore", &code]);
    assert_eq!(restored["restored"], true);
    assert_eq!(
        peer.json(&["project", "list"])["projects"],
        serde_json::json!([])
    );
}
