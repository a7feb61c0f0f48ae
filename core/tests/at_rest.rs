//! Encrypted at rest: a copied data folder reveals no observation text, project name or
//! member name; a wrong root key is a typed error; a plaintext folder (as versions before
//! encryption wrote it) is encrypted in place on open, and a kill (SIGKILL) at any point of
//! that migration loses nothing; a folder of the earlier AES page format is brought to the
//! page format on open, as safely; a wipe makes the folder unopenable at once, and the identity
//! restored from its backup code gets its data back from a member at the next sync.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;
#[path = "support/folder.rs"]
mod folder;

use folder::{any_file_contains, copy_dir, kill_child_after, time_to_finish};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{observation, observations_sorted};
use mapeo_core::crypto::DatabaseKey;
use mapeo_core::schema::{DocType, ProjectSettings};
use mapeo_core::{Error, Manager, Query, RootKey};

const SEED: u8 = 41;
const PROJECTS: usize = 3;
const OBSERVATIONS_PER_PROJECT: usize = 1_000;
const KILLS: u64 = 20;
/// How long a killed child may take to die and be reaped.
const CHILD_WAIT: Duration = Duration::from_secs(60);
/// Env var that turns this test binary into the child that opens (and so migrates) a folder.
const CHILD_ENV: &str = "MAPEO_AT_REST_CHILD_DIR";

fn root() -> RootKey {
    RootKey::from_bytes([SEED; 16])
}

fn named(name: &str) -> ProjectSettings {
    ProjectSettings {
        name: Some(name.into()),
        ..Default::default()
    }
}

/// A folder with several projects and thousands of observations; returns the notes written.
fn fill(dir: &Path) -> Vec<String> {
    let m = Manager::open(dir, &root()).unwrap();
    m.set_device_info(mapeo_core::schema::DeviceInfo {
        name: "Quispe family phone".into(),
        device_type: mapeo_core::schema::DeviceType::Mobile,
    })
    .unwrap();
    let mut notes = Vec::new();
    for p in 0..PROJECTS {
        let project = m
            .create_project(named(&format!("Secret watershed {p}")))
            .unwrap();
        let docs: Vec<_> = (0..OBSERVATIONS_PER_PROJECT)
            .map(|i| {
                observation(
                    1.0 + p as f64,
                    f64::from(u32::try_from(i % 90).unwrap()),
                    &format!("mercury tailings p{p} n{i}"),
                )
            })
            .collect();
        project.create_many(docs).unwrap();
        notes.push(format!(
            "mercury tailings p{p} n{}",
            OBSERVATIONS_PER_PROJECT - 1
        ));
        project.checkpoint().unwrap();
    }
    notes
}

/// Every observation of every project, as (project name, count).
fn census(dir: &Path) -> Vec<(String, usize)> {
    let m = Manager::open(dir, &root()).unwrap();
    let mut out: Vec<_> = m
        .list_projects()
        .unwrap()
        .into_iter()
        .map(|s| {
            let p = m.open_project(&s.project_id).unwrap();
            (
                s.settings.name.unwrap_or_default(),
                p.list(&Query::all(DocType::Observation)).unwrap().len(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Turns an encrypted folder back into what versions before encryption wrote: plaintext
/// databases and no salt file.
fn decrypt_folder(dir: &Path) {
    rewrite_databases(dir, |_| String::new(), "");
    for (path, _) in databases(dir) {
        assert!(mapeo_core::at_rest::is_plaintext_database(&path).unwrap());
    }
    std::fs::remove_file(dir.join(mapeo_core::at_rest::SALT_FILE)).unwrap();
}

/// Turns a folder into what versions of the earlier page format wrote: every database in
/// SQLCipher's AES-256-CBC pages under the key as it is, and a salt file of layout 1 (which
/// does not say that every database is in the page format).
fn to_aes_folder(dir: &Path) {
    rewrite_databases(
        dir,
        |key| key.legacy_key_literal().to_string(),
        "PRAGMA target.cipher_page_size = 4096; \
         PRAGMA target.cipher_hmac_algorithm = HMAC_SHA256; \
         PRAGMA target.cipher_kdf_algorithm = PBKDF2_HMAC_SHA256;",
    );
    assert_eq!(page_format_databases(dir), 0);
    // The salt file's layout byte (after its 8-byte magic): 1, as those versions wrote it.
    let salt = dir.join(mapeo_core::at_rest::SALT_FILE);
    let mut bytes = std::fs::read(&salt).unwrap();
    bytes[8] = 1;
    std::fs::write(&salt, bytes).unwrap();
    assert!(!mapeo_core::at_rest::stores_in_page_format(dir));
}

/// Rewrites every database of the folder in place as `sqlcipher_export` writes it into a copy
/// attached as `target` with the key `copy_key` gives (`""`: plaintext) and `settings`, with
/// its schema version; the copy replaces the database and its log.
fn rewrite_databases(dir: &Path, copy_key: impl Fn(&DatabaseKey) -> String, settings: &str) {
    for (path, key) in keyed_databases(dir) {
        let copy = path.with_extension("copy");
        let conn = mapeo_core::db::open_plain_file(&path).unwrap();
        mapeo_core::db::apply_key(&conn, &key).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        conn.execute(
            "ATTACH DATABASE ?1 AS target KEY ?2",
            [copy.to_str().unwrap(), copy_key(&key).as_str()],
        )
        .unwrap();
        conn.execute_batch(settings).unwrap();
        conn.query_row("SELECT sqlcipher_export('target')", [], |_| Ok(()))
            .unwrap();
        conn.execute_batch(&format!("PRAGMA target.user_version = {v}; DETACH target;"))
            .unwrap();
        drop(conn);
        for s in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{s}", path.display()));
        }
        std::fs::rename(&copy, &path).unwrap();
    }
}

/// The folder's databases ([`databases`]), each with its key.
fn keyed_databases(dir: &Path) -> Vec<(PathBuf, DatabaseKey)> {
    let folder = mapeo_core::at_rest::unlock(dir, &root(), &[]).unwrap();
    databases(dir)
        .into_iter()
        .map(|(path, project)| {
            let key = match project {
                None => folder.device_database_key(),
                Some(id) => folder.project_database_key(&id),
            };
            (path, key)
        })
        .collect()
}

/// Whether the database at `path` reads in the page format under `key`.
fn in_page_format(path: &Path, key: &DatabaseKey) -> bool {
    let conn = mapeo_core::db::open_plain_file(path).unwrap();
    mapeo_core::db::apply_key(&conn, key).unwrap();
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .is_ok()
}

/// How many of the folder's databases read in the page format.
fn page_format_databases(dir: &Path) -> usize {
    keyed_databases(dir)
        .iter()
        .filter(|(path, key)| in_page_format(path, key))
        .count()
}

#[test]
fn a_folder_of_the_earlier_aes_format_is_brought_to_the_page_format_on_open() {
    common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    let before = census(dir.path());
    assert!(mapeo_core::at_rest::stores_in_page_format(dir.path()));
    to_aes_folder(dir.path());
    assert_eq!(page_format_databases(dir.path()), 0);
    assert_eq!(census(dir.path()), before);
    assert_eq!(page_format_databases(dir.path()), PROJECTS + 1);
    assert!(mapeo_core::at_rest::stores_in_page_format(dir.path()));
    assert_eq!(any_file_contains(dir.path(), "Secret watershed"), None);
    assert_eq!(any_file_contains(dir.path(), "mercury tailings"), None);
    // No leftovers of the migration.
    for (path, _) in databases(dir.path()) {
        assert!(!PathBuf::from(format!("{}.encrypting", path.display())).exists());
    }
}

#[test]
fn a_copied_data_folder_reveals_no_text_and_a_wrong_root_key_is_a_typed_error() {
    common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let notes = fill(dir.path());
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    for needle in [
        notes[0].as_str(),
        "mercury tailings",
        "Secret watershed",
        "Quispe family",
    ] {
        assert_eq!(any_file_contains(copy.path(), needle), None, "{needle}");
    }
    let err = Manager::open(copy.path(), &RootKey::from_bytes([SEED + 1; 16])).unwrap_err();
    assert!(matches!(err, Error::WrongRootKey), "{err:?}");
    // The right key opens the copy with everything in it.
    let counts = census(copy.path());
    assert_eq!(counts.len(), PROJECTS);
    assert!(counts.iter().all(|(_, n)| *n == OBSERVATIONS_PER_PROJECT));
}

#[test]
fn a_plaintext_folder_is_encrypted_in_place_on_open() {
    common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    let before = census(dir.path());
    decrypt_folder(dir.path());
    assert!(any_file_contains(dir.path(), "Secret watershed").is_some());
    assert_eq!(census(dir.path()), before);
    assert_eq!(any_file_contains(dir.path(), "Secret watershed"), None);
    assert_eq!(any_file_contains(dir.path(), "mercury tailings"), None);
}

/// The child: opens the folder (migrating it) and exits. Runs only when re-executed by
/// [`a_kill_at_any_point_of_the_migration_loses_nothing`]; otherwise it checks that a plain
/// open of an empty folder makes the salt file the migration relies on.
#[test]
fn child_opens_the_folder() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        let _ = Manager::open(Path::new(&dir), &root()).unwrap();
        std::process::exit(0);
    }
    let dir = tempfile::tempdir().unwrap();
    drop(Manager::open(dir.path(), &root()).unwrap());
    assert!(dir.path().join(mapeo_core::at_rest::SALT_FILE).exists());
}

#[test]
fn a_kill_at_any_point_of_the_migration_loses_nothing() {
    kills_during_migration(decrypt_folder, encrypted_databases, KILLS);
}

#[test]
fn a_kill_at_any_point_of_the_migration_from_the_aes_format_loses_nothing() {
    kills_during_migration(to_aes_folder, page_format_databases, KILLS / 2);
}

/// Kills children that open (and so migrate) a folder that `start` turned into what an older
/// version wrote, at points spread over a whole migration; after each, the next open loses
/// nothing. `migrated` counts the databases a child had migrated when it was killed.
fn kills_during_migration(start: fn(&Path), migrated: fn(&Path) -> usize, kills: u64) {
    common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    let before = census(dir.path());
    let mut finished = 0;
    let mut reached = Vec::new();
    // The kills are spread over the time a child takes to open the folder and migrate every
    // database, measured first, so that they land inside the migration however fast this
    // machine encrypts.
    start(dir.path());
    let whole = time_to_finish("child_opens_the_folder", CHILD_ENV, dir.path(), CHILD_WAIT);
    for kill in 0..kills {
        start(dir.path());
        let delay = whole.mul_f64((kill + 1) as f64 / (kills + 1) as f64);
        if kill_child_after(
            "child_opens_the_folder",
            CHILD_ENV,
            dir.path(),
            delay,
            CHILD_WAIT,
        ) {
            finished += 1;
        }
        reached.push(migrated(dir.path()));
        // Whatever point it reached, the next open finishes the job and loses nothing.
        assert_eq!(census(dir.path()), before, "after kill {kill}");
        assert_eq!(any_file_contains(dir.path(), "Secret watershed"), None);
        assert_eq!(migrated(dir.path()), PROJECTS + 1);
    }
    assert!(
        reached.iter().any(|&n| n > 0 && n < PROJECTS + 1),
        "no kill landed in the middle of the migration: {reached:?}"
    );
    println!(
        "{kills} kills, {finished} children finished before their kill; databases migrated \
         of {} when killed: {reached:?}",
        PROJECTS + 1
    );
}

/// The folder's databases: the device's (no project), then each project's.
fn databases(dir: &Path) -> Vec<(PathBuf, Option<mapeo_core::ProjectId>)> {
    let mut dbs = vec![(dir.join("device.db"), None)];
    for e in std::fs::read_dir(dir.join("projects")).unwrap().flatten() {
        let id = e.file_name().to_str().unwrap().parse().unwrap();
        dbs.push((e.path().join("project.db"), Some(id)));
    }
    dbs
}

/// How many of the folder's databases are encrypted (not plaintext by their header).
fn encrypted_databases(dir: &Path) -> usize {
    databases(dir)
        .iter()
        .filter(|(db, _)| !mapeo_core::at_rest::is_plaintext_database(db).unwrap())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_folder_does_not_open_even_from_a_copy() {
    common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    // What a thief copied before the wipe, less the salt the wipe destroys first.
    let early = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), early.path());
    std::fs::remove_file(early.path().join(mapeo_core::at_rest::SALT_FILE)).unwrap();
    let m = Manager::open(dir.path(), &root()).unwrap();
    let started = std::time::Instant::now();
    let wipe = m.wipe().await.unwrap();
    let returned = started.elapsed();
    // What a thief copies while the deletion runs.
    let late = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), late.path());
    assert!(wipe.wait(CHILD_WAIT));
    println!(
        "wipe returned in {:.1} ms, files deleted after {:.1} ms",
        returned.as_secs_f64() * 1e3,
        started.elapsed().as_secs_f64() * 1e3
    );
    assert!(matches!(m.list_projects(), Err(Error::Wiped)));
    let err = Manager::open(early.path(), &root()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::AtRest(mapeo_core::at_rest::AtRestError::KeysDestroyed)
        ),
        "{err:?}"
    );
    // The late copy holds at most encrypted leftovers: nothing of the data comes back.
    match Manager::open(late.path(), &root()) {
        Err(Error::AtRest(mapeo_core::at_rest::AtRestError::KeysDestroyed)) => {}
        Ok(m) => assert!(m.list_projects().unwrap().is_empty()),
        Err(e) => panic!("{e:?}"),
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wipe_cut_short_after_its_keys_went_is_finished_at_the_next_open() {
    common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    // The state a kill leaves right after the wipe destroyed the keys, before any file was
    // deleted: every database still there, unreadable.
    mapeo_core::at_rest::destroy_keys(dir.path()).unwrap();
    let before: Vec<_> = std::fs::read_dir(dir.path().join("projects"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(!before.is_empty());
    assert!(mapeo_core::at_rest::was_wiped(dir.path()));
    let m = Manager::open(dir.path(), &root()).unwrap();
    assert!(m.list_projects().unwrap().is_empty());
    assert!(!mapeo_core::at_rest::was_wiped(dir.path()));
    for name in before {
        assert!(
            !dir.path().join("projects").join(&name).exists(),
            "{name:?} was left behind"
        );
    }
    // A fresh folder: a new project works and survives a reopen.
    let id = m.create_project(named("after the wipe")).unwrap().id();
    drop(m);
    let m = Manager::open(dir.path(), &root()).unwrap();
    assert_eq!(m.list_projects().unwrap().len(), 1);
    assert_eq!(m.list_projects().unwrap()[0].project_id, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_device_restored_from_its_backup_code_gets_its_data_back_from_a_member() {
    common::init_logs();
    let key = RootKey::generate();
    let code = mapeo_core::BackupCode::from_root_key(&key)
        .expose()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let phone = Manager::open(dir.path(), &key).unwrap();
    let project = phone.create_project(named("Río Verde")).unwrap();
    let office = common::Device::new(7);
    let details = phone.join_details(&project.id()).unwrap();
    let at_office = office.manager.join_project(&details).unwrap();
    project
        .assign_role(
            &office.manager.device_id(),
            mapeo_core::PeerRole::Member,
            None,
        )
        .unwrap();
    for i in 0..5 {
        project
            .create(observation(1.0 + f64::from(i), 2.0, &format!("camp {i}")))
            .unwrap();
    }
    common::copy_missing(&project, &at_office);
    let before = observations_sorted(&project);
    assert_eq!(observations_sorted(&at_office), before);

    // The phone is wiped; later the same person restores the identity from the backup code
    // on a phone with an empty data folder, and is given the project again.
    drop(project);
    assert!(phone.wipe().await.unwrap().wait(CHILD_WAIT));
    let restored_key = mapeo_core::BackupCode::parse(&code).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let restored = Manager::open(fresh.path(), &restored_key).unwrap();
    assert_eq!(restored.device_id(), phone.device_id());
    assert!(restored.list_projects().unwrap().is_empty());
    // The app names the phone at first run, before it is given the project again.
    restored
        .set_device_info(mapeo_core::schema::DeviceInfo {
            name: "Ana's phone".into(),
            device_type: mapeo_core::schema::DeviceType::Mobile,
        })
        .unwrap();
    let again = restored
        .join_project(&office.manager.join_details(&at_office.id()).unwrap())
        .unwrap();
    assert!(observations_sorted(&again).is_empty());
    // Before its earlier entries are back it appends nothing (that would fork its feeds):
    // a write is refused with a clear error and the store keeps none of its entries.
    assert!(again.is_awaiting_own_entries());
    match again.create(observation(5.0, 5.0, "too early")) {
        Err(Error::AwaitingOwnEntries) => {}
        other => panic!("expected AwaitingOwnEntries, got {other:?}"),
    }
    let me = restored.device_id();
    assert!(!again.have_vector().unwrap().keys().any(|(a, _)| *a == me));

    // The next sync with the member brings all of it back, and it is its own again: the
    // device is the creator, and what it writes next continues its feeds (no fork).
    common::copy_missing(&at_office, &again);
    assert!(!again.is_awaiting_own_entries());
    assert_eq!(observations_sorted(&again), before);
    assert_eq!(again.settings().unwrap().name.as_deref(), Some("Río Verde"));
    assert_eq!(
        again.role(&restored.device_id()).unwrap(),
        mapeo_core::PeerRole::Creator
    );
    again
        .create(observation(9.0, 9.0, "after the restore"))
        .unwrap();
    common::copy_missing(&again, &at_office);
    assert_eq!(at_office.conflict_count().unwrap(), 0);
    assert_eq!(observations_sorted(&at_office).len(), before.len() + 1);
    // The name given before the sync was kept and written after it.
    let names: Vec<Option<String>> = at_office
        .members(false)
        .unwrap()
        .into_iter()
        .filter(|m| m.device_id == me)
        .map(|m| m.name)
        .collect();
    assert_eq!(names, vec![Some("Ana's phone".to_string())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_device_that_syncs_only_by_file_gets_its_entries_back_and_writes_again() {
    common::init_logs();
    let key = RootKey::generate();
    let dir = tempfile::tempdir().unwrap();
    let phone = Manager::open(dir.path(), &key).unwrap();
    let project = phone.create_project(named("Río Verde")).unwrap();
    let office = common::Device::new(8);
    let at_office = office
        .manager
        .join_project(&phone.join_details(&project.id()).unwrap())
        .unwrap();
    project
        .create(observation(1.0, 1.0, "before the wipe"))
        .unwrap();
    common::copy_missing(&project, &at_office);
    drop(project);
    assert!(phone.wipe().await.unwrap().wait(CHILD_WAIT));

    let fresh = tempfile::tempdir().unwrap();
    let restored = Manager::open(fresh.path(), &key).unwrap();
    let again = restored
        .join_project(&office.manager.join_details(&at_office.id()).unwrap())
        .unwrap();
    assert!(again.is_awaiting_own_entries());
    let card = fresh.path().join("card.mapeosync");
    at_office
        .export_sync_file(
            &card,
            &mapeo_core::sync_file::ExportOptions::default(),
            &mut |_| {},
        )
        .unwrap();
    again.import_sync_file(&card, &mut |_| {}).unwrap();
    assert!(!again.is_awaiting_own_entries());
    assert_eq!(observations_sorted(&again), observations_sorted(&at_office));
    again.create(observation(2.0, 2.0, "after")).unwrap();
    common::copy_missing(&again, &at_office);
    assert_eq!(at_office.conflict_count().unwrap(), 0);
    assert_eq!(observations_sorted(&at_office).len(), 2);
}
