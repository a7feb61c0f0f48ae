//! Media sealed at rest: a copied data folder holds no photo or audio bytes (yet the right root
//! key reads them back); media written by a version before sealing are sealed in place on
//! open, and a kill (SIGKILL) at any point of that migration loses or damages no blob.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;
#[path = "support/folder.rs"]
mod folder;

use folder::{any_file_contains, files, kill_child_after, time_to_finish};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::media::{fake_mp4, fake_wav, jpeg_with_exif, quadrants};
use mapeo_core::ids::BlobHash;
use mapeo_core::schema::Variant;
use mapeo_core::{Manager, RootKey};

const SEED: u8 = 43;
/// Media in the migration test, each several sealed chunks long.
const BLOBS: usize = 48;
const BLOB_BYTES: usize = 700_000;
const KILLS: u64 = 12;
/// How long a killed child may take to die and be reaped.
const CHILD_WAIT: Duration = Duration::from_secs(60);
/// Env var that turns this test binary into the child that opens (and so migrates) a folder.
const CHILD_ENV: &str = "MAPEO_BLOB_AT_REST_CHILD_DIR";

fn root() -> RootKey {
    RootKey::from_bytes([SEED; 16])
}

/// Opens the device and every project in `dir` (opening a project seals its media).
fn open_all(dir: &Path) -> (Manager, Vec<std::sync::Arc<mapeo_core::Project>>) {
    let m = Manager::open(dir, &root()).unwrap();
    let projects = m
        .list_projects()
        .unwrap()
        .into_iter()
        .map(|s| m.open_project(&s.project_id).unwrap())
        .collect();
    (m, projects)
}

#[test]
fn a_copied_data_folder_holds_no_photo_or_audio_bytes() {
    common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let m = Manager::open(dir.path(), &root()).unwrap();
    let p = m.create_project(Default::default()).unwrap();
    let jpeg = jpeg_with_exif(&quadrants(1600, 1200, 7), 1, 92);
    let audio = fake_wav(300_000, 3);
    let photo = p.add_attachment_from_bytes(&jpeg, "river.jpg").unwrap();
    let note = p.add_attachment_from_bytes(&audio, "note.wav").unwrap();
    let thumb = p
        .attachment_bytes(&photo, Variant::Thumbnail)
        .unwrap()
        .unwrap();
    drop(p);
    drop(m);
    let copy = tempfile::tempdir().unwrap();
    for f in files(dir.path()) {
        let target = copy.path().join(f.strip_prefix(dir.path()).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&f, &target).unwrap();
    }
    // Distinctive runs: the JPEG's middle, its start past the header, the audio, the
    // thumbnail the core made.
    for (what, run) in [
        ("photo middle", &jpeg[jpeg.len() / 2..jpeg.len() / 2 + 32]),
        ("photo start", &jpeg[200..232]),
        ("audio", &audio[150_000..150_032]),
        ("thumbnail", &thumb[thumb.len() / 2..thumb.len() / 2 + 32]),
    ] {
        assert_eq!(any_file_contains(copy.path(), run), None, "{what}");
    }
    // The right root key reads the copy's media back, byte for byte.
    let (_m, projects) = open_all(copy.path());
    let p = &projects[0];
    assert_eq!(
        p.attachment_bytes(&photo, Variant::Original)
            .unwrap()
            .unwrap(),
        jpeg
    );
    assert_eq!(
        p.attachment_bytes(&note, Variant::Original)
            .unwrap()
            .unwrap(),
        audio
    );
}

/// A folder with one project holding [`BLOBS`] media; returns the blob folder and every
/// blob's hash and plaintext.
fn fill(dir: &Path) -> (PathBuf, Vec<(BlobHash, Vec<u8>)>) {
    let m = Manager::open(dir, &root()).unwrap();
    let p = m.create_project(Default::default()).unwrap();
    let mut blobs = Vec::new();
    for i in 0..BLOBS {
        let bytes = if i % 2 == 0 {
            fake_mp4(BLOB_BYTES + i, i as u64)
        } else {
            fake_wav(BLOB_BYTES / 3 + i, i as u64)
        };
        let a = p.add_attachment_from_bytes(&bytes, "clip").unwrap();
        blobs.push((a.hash.parse().unwrap(), bytes));
    }
    let folder = p.path().parent().unwrap().join("blobs");
    (folder, blobs)
}

/// Turns the blob folder back into what versions before sealing wrote: plaintext files under
/// their hashes.
fn unseal(folder: &Path, blobs: &[(BlobHash, Vec<u8>)]) {
    for (hash, bytes) in blobs {
        let name = hash.to_string();
        let path = folder.join(&name[..2]).join(&name);
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, bytes).unwrap();
    }
}

/// Every blob reads back whole and no file of the folder is plaintext.
fn check(dir: &Path, folder: &Path, blobs: &[(BlobHash, Vec<u8>)], what: &str) {
    let (_m, projects) = open_all(dir);
    let p = &projects[0];
    for (hash, bytes) in blobs {
        let got = p
            .open_blob(hash)
            .unwrap()
            .unwrap_or_else(|| panic!("{what}: a blob was lost"))
            .read_rest()
            .unwrap_or_else(|e| panic!("{what}: a blob was damaged: {e}"));
        assert!(got == *bytes, "{what}: a blob reads back different");
    }
    for f in files(folder) {
        let head = std::fs::read(&f).unwrap();
        assert!(
            mapeo_core::sealed_file::looks_sealed(&head),
            "{what}: a plaintext file is left: {f:?}"
        );
    }
}

/// The child: opens the folder and its projects (migrating their media) and exits. Runs only
/// when re-executed by [`a_kill_at_any_point_of_the_media_migration_loses_nothing`];
/// otherwise checks that plaintext media are sealed in place by a plain open.
#[test]
fn child_opens_the_folder() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        let _ = open_all(Path::new(&dir));
        std::process::exit(0);
    }
    let dir = tempfile::tempdir().unwrap();
    let m = Manager::open(dir.path(), &root()).unwrap();
    let p = m.create_project(Default::default()).unwrap();
    let video = fake_mp4(3 * 65_536 + 17, 1);
    let a = p.add_attachment_from_bytes(&video, "v").unwrap();
    let folder = p.path().parent().unwrap().join("blobs");
    drop(p);
    drop(m);
    let blobs = vec![(a.hash.parse().unwrap(), video)];
    unseal(&folder, &blobs);
    assert!(any_file_contains(&folder, &blobs[0].1[1000..1032]).is_some());
    check(dir.path(), &folder, &blobs, "plain open");
    assert_eq!(any_file_contains(&folder, &blobs[0].1[1000..1032]), None);
    // Idempotent: a second open changes nothing.
    let before: Vec<_> = files(&folder)
        .into_iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    check(dir.path(), &folder, &blobs, "second open");
    let after: Vec<_> = files(&folder)
        .into_iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn a_kill_at_any_point_of_the_media_migration_loses_nothing() {
    common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let (folder, blobs) = fill(dir.path());
    let mut finished = 0;
    // How many blobs each child had sealed when it was killed.
    let mut reached = Vec::new();
    // The kills are spread over the time a child takes to open the folder and seal every
    // blob, measured first, so that they land inside the migration however fast this
    // machine seals (fixed delays fell after it once sealing got faster).
    unseal(&folder, &blobs);
    let whole = time_to_finish("child_opens_the_folder", CHILD_ENV, dir.path(), CHILD_WAIT);
    for kill in 0..KILLS {
        unseal(&folder, &blobs);
        let delay = whole.mul_f64((kill + 1) as f64 / (KILLS + 1) as f64);
        if kill_child_after(
            "child_opens_the_folder",
            CHILD_ENV,
            dir.path(),
            delay,
            CHILD_WAIT,
        ) {
            finished += 1;
        }
        let sealed = blobs
            .iter()
            .filter(|(hash, _)| {
                let name = hash.to_string();
                let head = std::fs::read(folder.join(&name[..2]).join(&name)).unwrap();
                mapeo_core::sealed_file::looks_sealed(&head)
            })
            .count();
        reached.push(sealed);
        // Whatever point it reached, the next open finishes the job and loses nothing.
        check(dir.path(), &folder, &blobs, &format!("after kill {kill}"));
    }
    assert!(
        reached.iter().any(|&n| n > 0 && n < BLOBS),
        "no kill landed in the middle of the migration: {reached:?}"
    );
    println!(
        "{KILLS} kills, {finished} children finished before their kill; blobs sealed of \
         {BLOBS} when killed: {reached:?}"
    );
}
