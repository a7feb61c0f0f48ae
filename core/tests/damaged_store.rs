//! A project whose database file is damaged (a page of garbage, as a failing flash card
//! leaves): it is detected at open, refuses every write with the file unchanged, leaves the
//! identity and every other project working, and is repaired by setting it aside, salvaging
//! what verifies, and syncing the rest back from a peer over TCP on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{T0, loopback, observation, state};
use mapeo_core::db::{Damaged, StoreError};
use mapeo_core::schema::{DocType, ProjectSettings};
use mapeo_core::sync::SyncPhase;
use mapeo_core::{Error, Manager, Project, ProjectId, Query, RootKey, Timestamp};

const WAIT: Duration = Duration::from_secs(30);
/// SQLite's default page size, which the stores use.
const PAGE: u64 = 4096;

/// A device whose manager can be closed (all files released) and opened again.
struct Phone {
    dir: tempfile::TempDir,
    seed: u8,
    manager: Option<Manager>,
}

impl Phone {
    fn new(seed: u8) -> Self {
        common::init_logs();
        let dir = tempfile::tempdir().unwrap();
        let manager = Some(open(dir.path(), seed));
        Phone { dir, seed, manager }
    }

    fn m(&self) -> &Manager {
        self.manager.as_ref().unwrap()
    }

    fn close(&mut self) {
        self.manager = None;
    }

    fn reopen(&mut self) {
        self.close();
        self.manager = Some(open(self.dir.path(), self.seed));
    }

    /// The key of the project's store (the manager must be closed, or the file unchanged).
    fn db_key(&self, id: &ProjectId) -> mapeo_core::crypto::DatabaseKey {
        mapeo_core::at_rest::unlock(self.dir.path(), &RootKey::from_bytes([self.seed; 16]), &[])
            .unwrap()
            .project_database_key(id)
    }

    fn db(&self, id: &ProjectId) -> PathBuf {
        self.dir
            .path()
            .join("projects")
            .join(id.to_string())
            .join("project.db")
    }
}

fn open(dir: &Path, seed: u8) -> Manager {
    let now = Arc::new(std::sync::atomic::AtomicI64::new(T0));
    let clock = Arc::new(move || Timestamp(now.fetch_add(1, std::sync::atomic::Ordering::SeqCst)));
    Manager::open_with_clock(dir, &RootKey::from_bytes([seed; 16]), clock).unwrap()
}

fn named(name: &str) -> ProjectSettings {
    ProjectSettings {
        name: Some(name.into()),
        ..Default::default()
    }
}

fn observations(p: &Project) -> usize {
    p.list(&Query::all(DocType::Observation)).unwrap().len()
}

/// 4 KiB of deterministic garbage at page `page` of the file.
fn garble_page(path: &Path, page: u64) {
    use std::io::{Seek, SeekFrom, Write};
    let mut garbage = vec![0u8; PAGE as usize];
    blake3::Hasher::new()
        .update(b"damaged store test")
        .finalize_xof()
        .fill(&mut garbage);
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(page * PAGE)).unwrap();
    f.write_all(&garbage).unwrap();
    f.sync_all().unwrap();
}

/// Garbage in a leaf page from the middle of the feed entries (not the root: the entries
/// before and after it stay readable), so that some entries are lost and others salvaged.
fn garble_entries_leaf(path: &Path, key: &mapeo_core::crypto::DatabaseKey) {
    let conn = mapeo_core::db::open_plain_file(path).unwrap();
    mapeo_core::db::apply_key(&conn, key).unwrap();
    let leaves: Vec<i64> = conn
        .prepare("SELECT pageno FROM dbstat WHERE name = 'entries' AND pagetype = 'leaf' ORDER BY pageno")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(conn);
    assert!(
        leaves.len() > 4,
        "the entries should span many pages, have {leaves:?}"
    );
    // Page numbers count from 1.
    garble_page(path, u64::try_from(leaves[leaves.len() / 2] - 1).unwrap());
}

/// Garbage in the root page of the materialised documents (the index, not the feeds): every
/// listing reads it.
fn garble_docs_root(path: &Path, key: &mapeo_core::crypto::DatabaseKey) {
    let conn = mapeo_core::db::open_plain_file(path).unwrap();
    mapeo_core::db::apply_key(&conn, key).unwrap();
    let root: i64 = conn
        .query_row(
            "SELECT rootpage FROM sqlite_master WHERE name = 'docs'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // Page numbers count from 1.
    garble_page(path, u64::try_from(root - 1).unwrap());
}

fn file_hash(path: &Path) -> blake3::Hash {
    blake3::hash(&std::fs::read(path).unwrap())
}

fn is_damaged(e: &Error, id: &ProjectId) -> bool {
    matches!(e, Error::Store(StoreError::Damaged(Damaged::Project(d))) if d == id)
}

#[test]
fn damaged_project_refuses_writes_and_leaves_the_device_and_other_projects_working() {
    let mut phone = Phone::new(1);
    let damaged = phone.m().create_project(named("River watch")).unwrap();
    let healthy = phone.m().create_project(named("Forest watch")).unwrap();
    for i in 0..300 {
        damaged
            .create(observation(
                1.0,
                f64::from(i % 90),
                "oil slick on the river",
            ))
            .unwrap();
    }
    healthy
        .create(observation(2.0, 2.0, "logging road"))
        .unwrap();
    let (damaged_id, healthy_id) = (damaged.id(), healthy.id());
    damaged.checkpoint().unwrap();
    drop((damaged, healthy));
    phone.close();
    let path = phone.db(&damaged_id);
    garble_entries_leaf(&path, &phone.db_key(&damaged_id));
    let before = file_hash(&path);

    phone.reopen();
    let m = phone.m();
    // The identity and the device's other data still work.
    assert_eq!(
        m.device_id(),
        RootKey::from_bytes([1; 16]).device_keys().device_id()
    );
    // The list shows the damaged project as such, the other as it was.
    let list = m.list_projects().unwrap();
    assert_eq!(list.len(), 2);
    let d = list.iter().find(|p| p.project_id == damaged_id).unwrap();
    let h = list.iter().find(|p| p.project_id == healthy_id).unwrap();
    assert!(d.damaged);
    assert!(!h.damaged);
    assert_eq!(h.settings.name.as_deref(), Some("Forest watch"));
    // Reading and writing the damaged project fail with a typed error naming it.
    let err = m.open_project(&damaged_id).unwrap_err();
    assert!(is_damaged(&err, &damaged_id), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&damaged_id.to_string()), "{text}");
    assert!(text.contains("repair"), "{text}");
    assert!(!text.contains(phone.dir.path().to_str().unwrap()), "{text}");
    // The other project reads and writes.
    let other = m.open_project(&healthy_id).unwrap();
    other.create(observation(3.0, 3.0, "new clearing")).unwrap();
    assert_eq!(observations(&other), 2);
    // Device-wide writes skip the damaged project instead of failing.
    m.set_device_info(mapeo_core::schema::DeviceInfo {
        name: "Ana's phone".into(),
        device_type: mapeo_core::schema::DeviceType::Mobile,
    })
    .unwrap();
    assert_eq!(m.device_info().unwrap().unwrap().name, "Ana's phone");
    drop(other);
    phone.close();
    // Nothing was written into the damaged file.
    assert_eq!(file_hash(&path), before);
}

#[test]
fn a_damaged_device_store_is_a_typed_error_and_the_file_is_left_as_it_was() {
    let mut phone = Phone::new(3);
    phone.m().create_project(named("River watch")).unwrap();
    phone.close();
    let path = phone.dir.path().join("device.db");
    // Page 2 holds the first table's root: the device row.
    garble_page(&path, 1);
    let before = file_hash(&path);
    let err = Manager::open(phone.dir.path(), &RootKey::from_bytes([3; 16])).unwrap_err();
    assert!(
        matches!(err, Error::Store(StoreError::Damaged(Damaged::Device))),
        "{err:?}"
    );
    assert!(err.to_string().contains("identity is safe"), "{err}");
    assert_eq!(file_hash(&path), before);
}

#[test]
fn damage_found_by_a_statement_is_sticky_and_refuses_later_writes() {
    let mut phone = Phone::new(2);
    let p = phone.m().create_project(named("River watch")).unwrap();
    for i in 0..300 {
        p.create(observation(1.0, f64::from(i % 90), "oil slick"))
            .unwrap();
    }
    let id = p.id();
    p.checkpoint().unwrap();
    drop(p);
    phone.close();
    // Opened past the check (a project opened before the damage happened), then damaged.
    let path = phone.db(&id);
    let details_dir = phone.dir.path().to_owned();
    let root = RootKey::from_bytes([2; 16]);
    let join = open(&details_dir, 2).join_details(&id).unwrap();
    let folder = mapeo_core::at_rest::unlock(&details_dir, &root, &[]).unwrap();
    let key = folder.project_database_key(&id);
    let project = Project::open(
        &path,
        &key,
        folder.derive_file_key(mapeo_core::blobs::FILE_KEY_PURPOSE),
        &join,
        root.device_keys(),
        mapeo_core::project::system_clock(),
    )
    .unwrap();
    garble_docs_root(&path, &key);
    // A listing reaches the garbage and SQLite reports corruption; the project marks
    // itself damaged and refuses everything after, writes included.
    let saw = project.list(&Query::all(DocType::Observation)).unwrap_err();
    assert!(is_damaged(&saw, &id), "{saw:?}");
    assert!(project.is_damaged());
    let refused = project.create(observation(1.0, 1.0, "after")).unwrap_err();
    assert!(is_damaged(&refused, &id), "{refused:?}");
}

/// Two phones share a project and sync; `a` then writes offline, and its store is damaged.
struct Scenario {
    a: Phone,
    b: Phone,
    id: ProjectId,
    b_project: Arc<Project>,
}

fn scenario(offline_writes: u32) -> Scenario {
    let a = Phone::new(11);
    let b = Phone::new(12);
    let pa = a.m().create_project(named("River watch")).unwrap();
    let pb = b
        .m()
        .join_project(&a.m().join_details(&pa.id()).unwrap())
        .unwrap();
    pa.assign_role(&b.m().device_id(), mapeo_core::PeerRole::Member, None)
        .unwrap();
    common::copy_missing(&pa, &pb);
    for i in 0..150 {
        pa.create(observation(1.0, f64::from(i % 90), "from a"))
            .unwrap();
    }
    for i in 0..100 {
        pb.create(observation(2.0, f64::from(i % 90), "from b"))
            .unwrap();
    }
    common::copy_missing(&pa, &pb);
    common::copy_missing(&pb, &pa);
    for i in 0..offline_writes {
        pa.create(observation(3.0, f64::from(i), "written offline by a"))
            .unwrap();
    }
    pa.checkpoint().unwrap();
    let id = pa.id();
    Scenario {
        a,
        b,
        id,
        b_project: pb,
    }
}

/// Syncs `a` and `b` over TCP on 127.0.0.1 until both are done.
async fn sync_over_tcp(a: &Manager, b: &Manager, id: &ProjectId) {
    a.start_sync(id).unwrap();
    b.start_sync(id).unwrap();
    let addr = b.start_listening(loopback()).await.unwrap();
    a.connect(addr).await.unwrap();
    a.wait_for_sync(id, SyncPhase::Full, WAIT).await.unwrap();
    b.wait_for_sync(id, SyncPhase::Full, WAIT).await.unwrap();
    a.disconnect_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_then_sync_brings_back_everything_the_peer_had() {
    let Scenario {
        mut a,
        b,
        id,
        b_project,
    } = scenario(0);
    let pa = a.m().open_project(&id).unwrap();
    assert_eq!(state(&pa), state(&b_project));
    let entries: u64 = pa.have_vector().unwrap().values().sum();
    drop(pa);
    a.close();
    garble_entries_leaf(&a.db(&id), &a.db_key(&id));
    a.reopen();
    assert!(a.m().list_projects().unwrap()[0].damaged);

    let repaired = a.m().repair_project(&id).unwrap();
    assert_eq!(repaired.project_id, id);
    // The garbage took some entries with it: what follows it in a feed comes from the peer.
    assert!(repaired.recovered < entries, "{repaired:?} of {entries}");
    // The damaged files are kept aside, inside the project's folder.
    let aside = &repaired.set_aside;
    assert!(aside.join("project.db").exists());
    assert!(
        aside
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(mapeo_core::manager::DAMAGED_DIR_PREFIX)
    );
    assert_eq!(aside.parent().unwrap(), a.db(&id).parent().unwrap());
    assert!(!a.m().list_projects().unwrap()[0].damaged);
    let pa = a.m().open_project(&id).unwrap();
    assert!(pa.check_integrity().unwrap());

    sync_over_tcp(a.m(), b.m(), &id).await;
    // Every document the peer had is back, exactly.
    assert_eq!(state(&pa), state(&b_project));
    assert_eq!(observations(&pa), 250);
    // And the repaired project writes again, and its writes reach the peer.
    pa.create(observation(4.0, 4.0, "after the repair"))
        .unwrap();
    sync_over_tcp(a.m(), b.m(), &id).await;
    assert_eq!(observations(&b_project), 251);
    assert_eq!(b_project.conflict_count().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_salvages_own_entries_no_peer_had_yet() {
    let Scenario {
        mut a,
        b,
        id,
        b_project,
    } = scenario(20);
    let pa = a.m().open_project(&id).unwrap();
    let had = pa.have_vector().unwrap();
    let own: u64 = had
        .iter()
        .filter(|((author, _), _)| *author == a.m().device_id())
        .map(|(_, n)| n)
        .sum();
    let all: u64 = had.values().sum();
    let before = state(&pa);
    drop(pa);
    a.close();
    // Damage where the index lives, so that the feeds themselves stay readable.
    garble_docs_root(&a.db(&id), &a.db_key(&id));
    a.reopen();
    assert!(a.m().list_projects().unwrap()[0].damaged);

    let repaired = a.m().repair_project(&id).unwrap();
    assert_eq!(repaired.recovered, all);
    assert_eq!(repaired.recovered_own, own);
    assert_eq!(repaired.own_unrecovered, Some(0));
    // Before any sync: the offline observations are back, and everything else too.
    let pa = a.m().open_project(&id).unwrap();
    assert_eq!(pa.have_vector().unwrap(), had);
    assert_eq!(state(&pa), before);
    assert_eq!(count_notes(&pa, "written offline by a"), 20);

    // The peer gets them at the next sync.
    sync_over_tcp(a.m(), b.m(), &id).await;
    assert_eq!(count_notes(&b_project, "written offline by a"), 20);
    assert_eq!(state(&pa), state(&b_project));
}

fn count_notes(p: &Project, notes: &str) -> usize {
    p.list(&Query::all(DocType::Observation))
        .unwrap()
        .iter()
        .filter(|d| match &d.doc.value {
            mapeo_core::schema::DocValue::Observation(o) => matches!(
                o.tags.get("notes"),
                Some(mapeo_core::schema::TagValue::String(s)) if s == notes
            ),
            _ => false,
        })
        .count()
}
