//! The sync protocol over in-memory connections: replication both ways, chains and meshes,
//! live push, forks, exact progress, access by role, and data-sync control.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Peer, connect, eventually, observation, state};
use mapeo_core::feed::Entry;
use mapeo_core::schema::DocType;
use mapeo_core::sync::{FeedKey, ProjectTag, Replica, SyncError, SyncPhase};
use mapeo_core::{Namespace, Query};

const WAIT: Duration = Duration::from_secs(20);

fn count(p: &Peer) -> usize {
    p.project
        .list(&Query::all(DocType::Observation))
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_writing_end_identical() {
    let a = Peer::creator(1);
    let b = Peer::member_of(2, &a);
    for i in 0..30 {
        a.project
            .create(observation(1.0, f64::from(i), "from a"))
            .unwrap();
    }
    for i in 0..20 {
        b.project
            .create(observation(2.0, f64::from(i), "from b"))
            .unwrap();
    }
    let conn = connect(&a, &b, None);
    a.board
        .wait_for_sync(&a.project.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
    b.board
        .wait_for_sync(&b.project.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
    assert_eq!(count(&a), 50);
    assert_eq!(state(&a.project), state(&b.project));
    assert_eq!(
        a.project.have_vector().unwrap(),
        b.project.have_vector().unwrap()
    );
    let s = &a.board.project(&a.project.id())[0];
    assert!(s.connected && s.is_synced(SyncPhase::Full));
    assert_eq!(s.received, 20, "each of b's observations, once");
    assert_eq!(
        s.sent, 30,
        "a's observations (b already holds a's settings and its role)"
    );
    conn.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_entries_propagate_through_a_chain() {
    let a = Peer::creator(1);
    let b = Peer::member_of(2, &a);
    let c = Peer::member_of(3, &a);
    let ab = connect(&a, &b, None);
    let bc = connect(&b, &c, None);
    c.board
        .wait_for_sync(&c.project.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
    // After catch-up, a new observation on A reaches C through B.
    let made = a
        .project
        .create(observation(4.0, 5.0, "seen on a"))
        .unwrap();
    eventually("the observation on c", WAIT, || {
        c.project.get(made.doc_id()).is_ok()
    })
    .await;
    assert_eq!(c.project.get(made.doc_id()).unwrap(), made);
    // And back the other way.
    let back = c
        .project
        .create(observation(6.0, 7.0, "seen on c"))
        .unwrap();
    eventually("the observation on a", WAIT, || {
        a.project.get(back.doc_id()).is_ok()
    })
    .await;
    ab.stop().await;
    bc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_peers_all_to_all_converge() {
    let creator = Peer::creator(1);
    let a = &creator;
    let others: Vec<Peer> = (2..=5).map(|s| Peer::member_of(s, a)).collect();
    let all: Vec<&Peer> = std::iter::once(a).chain(others.iter()).collect();
    for (i, p) in all.iter().enumerate() {
        for j in 0..10 {
            p.project
                .create(observation(i as f64, f64::from(j), "mesh"))
                .unwrap();
        }
    }
    let mut conns = Vec::new();
    for i in 0..all.len() {
        for j in i + 1..all.len() {
            conns.push(connect(all[i], all[j], None));
        }
    }
    for p in &all {
        p.board
            .wait_for_sync(&p.project.id(), SyncPhase::Full, WAIT)
            .await
            .unwrap();
    }
    let reference = state(&a.project);
    assert_eq!(reference[0].len(), 50);
    for p in &all {
        assert_eq!(state(&p.project), reference);
    }
    for c in conns {
        c.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_edits_of_one_document_give_the_same_forks_everywhere() {
    let a = Peer::creator(1);
    let b = Peer::member_of(2, &a);
    // Only coordinators edit what others wrote.
    a.project
        .assign_role(&b.id(), mapeo_core::PeerRole::Coordinator, None)
        .unwrap();
    let doc = a.project.create(observation(0.0, 0.0, "original")).unwrap();
    let conn = connect(&a, &b, None);
    eventually("doc on b", WAIT, || b.project.get(doc.doc_id()).is_ok()).await;
    conn.stop().await;
    a.project
        .update(&[doc.version_id], observation(0.0, 0.0, "edit on a"))
        .unwrap();
    b.project
        .update(&[doc.version_id], observation(0.0, 0.0, "edit on b"))
        .unwrap();
    let conn = connect(&a, &b, None);
    a.board
        .wait_for_sync(&a.project.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
    b.board
        .wait_for_sync(&b.project.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
    let on_a = a.project.get(doc.doc_id()).unwrap();
    assert_eq!(on_a.forks.len(), 1);
    assert_eq!(on_a, b.project.get(doc.doc_id()).unwrap());
    conn.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_without_a_role_gets_only_auth() {
    let a = Peer::creator(1);
    let stranger_device = common::Device::new(9);
    let details = a.device.manager.join_details(&a.project.id()).unwrap();
    let project = stranger_device.manager.join_project(&details).unwrap();
    project.set_data_sync(true);
    let s = Peer {
        board: mapeo_core::sync::SyncBoard::new(),
        projects: tokio::sync::watch::Sender::new(vec![
            project.clone() as std::sync::Arc<dyn mapeo_core::sync::Replica>
        ]),
        project,
        device: stranger_device,
    };
    a.project
        .create(observation(1.0, 1.0, "secret location"))
        .unwrap();
    let member = Peer::member_of(2, &a);
    let conn = connect(&a, &s, None);
    s.board
        .wait_for_sync(&s.project.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
    a.board
        .wait_for_sync(&a.project.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
    assert_eq!(count(&s), 0, "no data for a device without a role");
    let feeds = s.project.have_vector().unwrap();
    assert!(
        feeds.keys().all(|(_, ns)| *ns == Namespace::Auth),
        "{feeds:?}"
    );
    assert!(
        feeds.contains_key(&(a.id(), Namespace::Auth)),
        "but it learns the roles"
    );
    // Once given a role, data flows on the live connection.
    a.project
        .assign_role(&s.id(), mapeo_core::PeerRole::Member, None)
        .unwrap();
    eventually("data after the role", WAIT, || count(&s) == 1).await;
    drop(member);
    conn.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_flows_only_while_both_sides_have_sync_on() {
    let a = Peer::creator(1);
    let b = Peer::member_of(2, &a);
    b.project.set_data_sync(false);
    a.project.create(observation(1.0, 1.0, "data")).unwrap();
    a.project
        .set_settings(mapeo_core::schema::ProjectSettings {
            name: Some("River".into()),
            ..Default::default()
        })
        .unwrap();
    let conn = connect(&a, &b, None);
    b.board
        .wait_for_sync(&b.project.id(), SyncPhase::Initial, WAIT)
        .await
        .unwrap();
    // Initial sync flows regardless: b sees the project's settings, not its data.
    eventually("settings on b", WAIT, || {
        b.project.settings().unwrap().name.is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(&b), 0);
    let view = &a.board.project(&a.project.id())[0];
    assert!(!view.peer_data_sync);
    b.project.set_data_sync(true);
    eventually("data on b", WAIT, || count(&b) == 1).await;
    b.project.set_data_sync(false);
    a.project
        .create(observation(2.0, 2.0, "while b is off"))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(&b), 1);
    b.project.set_data_sync(true);
    eventually("second on b", WAIT, || count(&b) == 2).await;
    conn.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_never_complete_while_entries_are_missing() {
    let a = Peer::creator(1);
    let b = Peer::member_of(2, &a);
    let values = (0..2_000)
        .map(|i| observation(0.0, f64::from(i % 90), "bulk"))
        .collect();
    a.project.create_many(values).unwrap();
    let mut rx = b.board.subscribe();
    let conn = connect(&a, &b, None);
    let pid = b.project.id();
    let mut saw_partial = false;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let synced = {
            let m = rx.borrow_and_update();
            m.iter()
                .filter(|((p, _), _)| *p == pid)
                .map(|(_, s)| s.clone())
                .next()
        };
        if let Some(s) = synced {
            if s.is_synced(SyncPhase::Full) {
                // The moment it says done, it is: every entry a has is here.
                let theirs = a.project.have_vector().unwrap();
                let ours = b.project.have_vector().unwrap();
                for (f, len) in &theirs {
                    assert!(
                        ours.get(f).copied().unwrap_or(0) >= *len,
                        "synced but missing {f:?}"
                    );
                }
                break;
            }
            if s.data_wanted > 0 {
                saw_partial = true;
            }
        }
        tokio::time::timeout_at(deadline, rx.changed())
            .await
            .expect("progress")
            .unwrap();
    }
    assert!(saw_partial, "progress was reported along the way");
    assert_eq!(count(&b), 2_000);
    conn.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_sync_stalls_without_a_peer() {
    let a = Peer::creator(1);
    let err = a
        .board
        .wait_for_sync(&a.project.id(), SyncPhase::Full, Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(matches!(err, SyncError::Stalled));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_device_gets_nothing_but_auth_and_is_not_heard() {
    let a = Peer::creator(1);
    let b = Peer::member_of(2, &a);
    a.project
        .assign_role(&b.id(), mapeo_core::PeerRole::Blocked, None)
        .unwrap();
    a.project
        .create(observation(1.0, 1.0, "not for b"))
        .unwrap();
    b.project
        .create(observation(2.0, 2.0, "b's, refused"))
        .unwrap();
    let conn = connect(&a, &b, None);
    b.board
        .wait_for_sync(&b.project.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
    a.board
        .wait_for_sync(&a.project.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
    // b wrote after its block point: that counts nowhere, not even on b once it knows.
    assert_eq!(
        count(&b),
        0,
        "nothing of a's, and its own later write does not count"
    );
    assert_eq!(count(&a), 1, "only its own");
    assert_eq!(
        b.project
            .read_entries(&b.id(), Namespace::Data, 0, 1)
            .unwrap()
            .len(),
        1,
        "b's write stays in its feed"
    );
    // b learns it was blocked: a's auth feed reached it.
    assert_eq!(
        b.project.role(&b.id()).unwrap(),
        mapeo_core::PeerRole::Blocked
    );
    conn.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_listeners_get_the_current_value_then_throttled_changes() {
    let a = Peer::creator(1);
    let b = Peer::member_of(2, &a);
    a.project
        .create_many(
            (0..1_500)
                .map(|i| observation(0.0, f64::from(i % 90), "x"))
                .collect(),
        )
        .unwrap();
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = calls.clone();
    let handle = b.board.listen(Duration::from_millis(100), move |m| {
        seen.lock()
            .unwrap()
            .push((std::time::Instant::now(), m.clone()));
    });
    eventually("the current value first", WAIT, || {
        calls.lock().unwrap().len() == 1
    })
    .await;
    assert!(calls.lock().unwrap()[0].1.is_empty());
    let conn = connect(&a, &b, None);
    b.board
        .wait_for_sync(&b.project.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
    eventually("the synced state delivered", WAIT, || {
        calls
            .lock()
            .unwrap()
            .last()
            .is_some_and(|(_, m)| m.values().any(|s| s.is_synced(SyncPhase::Full)))
    })
    .await;
    let times: Vec<_> = calls.lock().unwrap().iter().map(|(t, _)| *t).collect();
    assert!(
        times
            .windows(2)
            .all(|w| w[1] - w[0] >= Duration::from_millis(95)),
        "never more often than the interval"
    );
    drop(handle);
    let n = calls.lock().unwrap().len();
    a.project
        .create(observation(1.0, 1.0, "after drop"))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        calls.lock().unwrap().len(),
        n,
        "a dropped handle stops the listener"
    );
    conn.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_store_is_replaced_by_an_empty_one_gets_everything_again_on_the_same_session()
{
    let a = Peer::creator(1);
    let b = Peer::member_of(2, &a);
    for i in 0..30 {
        a.project
            .create(observation(1.0, f64::from(i), "from a"))
            .unwrap();
    }
    let conn = connect(&a, &b, None);
    b.board
        .wait_for_sync(&b.project.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
    assert_eq!(count(&b), 30);
    // b's store is replaced by an empty one of the same project (as a repair does), under
    // the live session: a must stop counting on what b held and send it all again.
    let fresh = common::Device::new(2);
    let details = a.device.manager.join_details(&a.project.id()).unwrap();
    let replaced = fresh.manager.join_project(&details).unwrap();
    assert!(replaced.have_vector().unwrap().is_empty());
    replaced.set_data_sync(true);
    b.projects.send_replace(vec![replaced.clone()]);
    eventually("everything again in b's new store", WAIT, || {
        replaced
            .list(&Query::all(DocType::Observation))
            .unwrap()
            .len()
            == 30
    })
    .await;
    assert_eq!(state(&replaced), state(&a.project));
    conn.stop().await;
}

/// A project as a session sees it, recording whether each import was told that more of the
/// sync was on its way.
struct RecordingImports {
    project: std::sync::Arc<mapeo_core::Project>,
    imports: std::sync::Mutex<Vec<(usize, bool)>>,
}

impl Replica for RecordingImports {
    fn project_id(&self) -> mapeo_core::ProjectId {
        self.project.id()
    }
    fn tag(&self, handshake_hash: &[u8; 32]) -> ProjectTag {
        Replica::tag(&*self.project, handshake_hash)
    }
    fn have_vector(&self) -> Result<BTreeMap<FeedKey, u64>, SyncError> {
        Replica::have_vector(&*self.project)
    }
    fn read_entries(&self, feed: FeedKey, start: u64, end: u64) -> Result<Vec<Entry>, SyncError> {
        Replica::read_entries(&*self.project, feed, start, end)
    }
    fn import(&self, entries: &[Entry], more_to_come: bool) -> Result<usize, SyncError> {
        self.imports
            .lock()
            .unwrap()
            .push((entries.len(), more_to_come));
        Replica::import(&*self.project, entries, more_to_come)
    }
    fn awaits_own_entries(&self) -> bool {
        Replica::awaits_own_entries(&*self.project)
    }
    fn note_peer_holdings(&self, feeds: &BTreeMap<FeedKey, u64>) -> Result<(), SyncError> {
        Replica::note_peer_holdings(&*self.project, feeds)
    }
    fn role_of(&self, device: &mapeo_core::DeviceId) -> mapeo_core::PeerRole {
        Replica::role_of(&*self.project, device)
    }
    fn own_role(&self) -> mapeo_core::PeerRole {
        Replica::own_role(&*self.project)
    }
    fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        Replica::changes(&*self.project)
    }
    fn data_sync(&self) -> tokio::sync::watch::Receiver<bool> {
        Replica::data_sync(&*self.project)
    }
    fn sync_asks(&self) -> tokio::sync::watch::Receiver<u64> {
        Replica::sync_asks(&*self.project)
    }
    fn blob_generation(&self) -> u64 {
        Replica::blob_generation(&*self.project)
    }
    fn held_blobs(&self) -> Result<Vec<(mapeo_core::BlobHash, u64)>, SyncError> {
        Replica::held_blobs(&*self.project)
    }
    fn wanted_blobs(&self) -> Result<BTreeMap<mapeo_core::BlobHash, u64>, SyncError> {
        Replica::wanted_blobs(&*self.project)
    }
    fn read_blob(
        &self,
        hash: &mapeo_core::BlobHash,
        offset: u64,
        max: usize,
    ) -> Result<Option<Vec<u8>>, SyncError> {
        Replica::read_blob(&*self.project, hash, offset, max)
    }
    fn receive_blob(
        &self,
        hash: &mapeo_core::BlobHash,
        size: u64,
    ) -> Result<Option<mapeo_core::blobs::PartialBlob>, SyncError> {
        Replica::receive_blob(&*self.project, hash, size)
    }
}

/// While the peer holds more for it, a receiver's imports are told so (the search indexes
/// then take observations in larger groups); the last one is not, and brings every
/// observation into search.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_know_whether_the_peer_holds_more() {
    let a = Peer::creator(1);
    let b = Peer::member_of(2, &a);
    a.project
        .create_many(
            (0..2600)
                .map(|i| observation(f64::from(i % 80), f64::from(i / 80), "from a"))
                .collect(),
        )
        .unwrap();
    let recording = std::sync::Arc::new(RecordingImports {
        project: b.project.clone(),
        imports: std::sync::Mutex::new(Vec::new()),
    });
    b.projects.send_replace(vec![recording.clone()]);
    let _conn = connect(&a, &b, None);
    b.board
        .wait_for_sync(&b.project.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
    assert_eq!(count(&b), 2600);
    let imports = recording.imports.lock().unwrap().clone();
    let (last, earlier) = imports.split_last().expect("imports");
    assert!(
        !earlier.is_empty(),
        "2600 entries come in several batches: {imports:?}"
    );
    assert!(earlier.iter().all(|&(_, more)| more), "{imports:?}");
    assert!(!last.1, "{imports:?}");
    assert_eq!(b.project.search_backlog().unwrap(), 0);
}
