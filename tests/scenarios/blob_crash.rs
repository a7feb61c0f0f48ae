//! Blobs under crashes and a full disk: a process killed (SIGKILL) while storing attachments
//! never leaves a half or corrupt file under a blob's name and loses no attachment whose add
//! returned; one killed while downloading resumes from what had arrived; a full disk is a
//! clear error with nothing half-written. The full-disk scenario needs root (a private mount
//! namespace with a small tmpfs): with `CI` set it fails loudly when it cannot run.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use mapeo_core::schema::{Attachment, AttachmentKind, Variant};
use mapeo_core::sync::SyncPhase;
use mapeo_core::{Manager, ProjectStatus};
use mapeo_scenarios::{test_root_key, test_video};

const WAIT: Duration = Duration::from_secs(60);

fn blob_dir(data: &Path, project: &mapeo_core::Project) -> PathBuf {
    assert!(project.path().starts_with(data));
    project.path().with_file_name("blobs")
}

/// The key a device's data folder seals its media under (read with its root key, as the
/// device itself would).
fn blob_key(data: &Path, seed: u8) -> mapeo_core::crypto::FileKey {
    mapeo_core::at_rest::unlock(data, &test_root_key(seed), &[])
        .unwrap()
        .derive_file_key(mapeo_core::blobs::FILE_KEY_PURPOSE)
}

/// Every file under a blob store's shards is whole (it decrypts to the end) and hashes to its
/// name. Returns how many there are.
fn verified_blobs(blobs: &Path, key: &mapeo_core::crypto::FileKey) -> usize {
    let mut n = 0;
    for shard in std::fs::read_dir(blobs).unwrap() {
        let shard = shard.unwrap();
        if shard.file_name().len() != 2 {
            continue;
        }
        for f in std::fs::read_dir(shard.path()).unwrap() {
            let f = f.unwrap();
            let file = std::fs::File::open(f.path()).unwrap();
            let mut reader = mapeo_core::sealed_file::SealedReader::open(key, file)
                .expect("a visible blob that is not a sealed file");
            let mut bytes = Vec::new();
            reader
                .read_to_end(&mut bytes)
                .expect("a visible blob that is cut or damaged");
            assert_eq!(
                blake3::hash(&bytes).to_hex().as_str(),
                f.file_name().to_str().unwrap(),
                "a visible blob whose bytes do not match its name"
            );
            n += 1;
        }
    }
    n
}

/// Runs `blob-writer attach` until it reported `adds` attachments plus a little more time,
/// kills it, and returns the (seed, hash) it reported.
fn attach_then_kill(dir: &Path, first_seed: u64, adds: usize, extra_ms: u64) -> Vec<(u64, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_blob-writer"))
        .arg(dir)
        .arg("attach")
        .env("BLOB_WRITER_SEED", first_seed.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("blob-writer starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stored = Vec::new();
    for _ in 0..adds {
        let line = lines.next().expect("an add before exiting").unwrap();
        let mut parts = line
            .strip_prefix("stored ")
            .expect("stored line")
            .split(' ');
        let seed = parts.next().unwrap().parse().unwrap();
        stored.push((seed, parts.next().unwrap().to_owned()));
    }
    // Somewhere inside the next add: writing, syncing or renaming.
    std::thread::sleep(Duration::from_millis(extra_ms));
    child.kill().expect("kill");
    child.wait().expect("reap");
    stored
}

#[test]
fn killed_while_storing_attachments_leaves_no_half_blob_and_loses_no_returned_add() {
    let data = tempfile::tempdir().unwrap();
    let mut stored = Vec::new();
    for (round, extra_ms) in [3u64, 11, 23, 37, 52].into_iter().enumerate() {
        stored.extend(attach_then_kill(
            data.path(),
            100 * round as u64,
            2,
            extra_ms,
        ));
        // Before anyone reopens the store: whatever the kill interrupted is not under a
        // blob's name.
        let project_dir = std::fs::read_dir(data.path().join("projects"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let blobs = project_dir.join("blobs");
        assert!(verified_blobs(&blobs, &blob_key(data.path(), 1)) >= stored.len());
        let m = Manager::open(data.path(), &test_root_key(1)).unwrap();
        let projects = m.list_projects().unwrap();
        assert_eq!(projects[0].status, ProjectStatus::Joined);
        let p = m.open_project(&projects[0].project_id).unwrap();
        assert!(p.check_integrity().unwrap());
        assert_eq!(
            std::fs::read_dir(blobs.join("tmp")).unwrap().count(),
            0,
            "opening the store clears what a crash left in its temporary folder"
        );
        for (seed, hash) in &stored {
            let a = Attachment {
                name: format!("VID_{seed}.mp4"),
                kind: AttachmentKind::Video,
                hash: hash.clone(),
            };
            let bytes = p
                .attachment_bytes(&a, Variant::Original)
                .unwrap()
                .expect("an add that returned survives the kill");
            assert_eq!(bytes, test_video(*seed, 6 * 1024 * 1024));
        }
    }
    assert_eq!(stored.len(), 10);
}

#[test]
fn killed_while_downloading_resumes_from_what_arrived() {
    const VIDEO: usize = 48 * 1024 * 1024;
    let serve_dir = tempfile::tempdir().unwrap();
    let recv_dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let server = Manager::open(serve_dir.path(), &test_root_key(1)).unwrap();
        let p = server.create_project(Default::default()).unwrap();
        let receiver = test_root_key(2).device_keys().device_id();
        p.assign_role(&receiver, mapeo_core::PeerRole::Member, None)
            .unwrap();
        p.set_data_sync(true);
        let video = p
            .add_attachment_from_bytes(&test_video(7, VIDEO), "big.mp4")
            .unwrap();
        let addr = server
            .start_listening("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let details = server.join_details(&p.id()).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_blob-writer"))
            .arg(recv_dir.path())
            .arg("receive")
            .arg(addr.to_string())
            .env("MAPEO_JOIN", hex::encode(&*details.to_secret_bytes()))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "connected");
        // Kill it once a good part, not all, of the video has arrived.
        let partial = recv_dir
            .path()
            .join("projects")
            .join(p.id().to_string())
            .join("blobs/partial")
            .join(format!("{}.part", video.hash));
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let len = std::fs::metadata(&partial).map_or(0, |m| m.len());
            if len > 8 * 1024 * 1024 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no bytes arrived");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let kept = std::fs::metadata(&partial).unwrap().len();
        assert!(kept < VIDEO as u64, "killed mid-transfer: {kept}");

        // The same device starts again and finishes the download.
        let m = Manager::open(recv_dir.path(), &test_root_key(2)).unwrap();
        let q = m.open_project(&p.id()).unwrap();
        assert!(
            q.attachment_bytes(&video, Variant::Original)
                .unwrap()
                .is_none()
        );
        let key = blob_key(recv_dir.path(), 2);
        verified_blobs(&blob_dir(recv_dir.path(), &q), &key);
        q.set_data_sync(true);
        m.connect(addr).await.unwrap();
        m.wait_for_sync(&q.id(), SyncPhase::Full, WAIT)
            .await
            .unwrap();
        let bytes = q
            .attachment_bytes(&video, Variant::Original)
            .unwrap()
            .unwrap();
        assert!(bytes == test_video(7, VIDEO), "identical after the resume");
        let s = m.sync_board().snapshot().into_values().next().unwrap();
        assert!(
            s.blob_bytes_received <= VIDEO as u64 - kept + 4 * 1024 * 1024,
            "resumed near {kept}, not from zero: {} bytes received",
            s.blob_bytes_received
        );
        verified_blobs(&blob_dir(recv_dir.path(), &q), &key);
    });
}

/// Whether this machine can make a private mount namespace with a tmpfs; otherwise says why
/// and, under CI, panics.
fn can_mount() -> bool {
    let ok = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "needs root and unshare to make a small disk"
        );
        eprintln!("SKIPPED: needs root and unshare to make a small disk");
    }
    ok
}

#[test]
fn a_full_disk_is_a_clear_error_with_nothing_half_written() {
    if !can_mount() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // A 3 MiB disk for the device's folder, seen only by the child.
    let script = format!(
        "mount -t tmpfs -o size=3m tmpfs '{}' && exec '{}' '{}' disk-full",
        data.display(),
        env!("CARGO_BIN_EXE_blob-writer"),
        data.display()
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("ok: not enough free space"),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
