//! Devices syncing over real TCP on 127.0.0.1 (port 0) with Noise: the manager's
//! networking end to end — listen, connect, deduplicate, pause and resume, auto-stop.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::time::Duration;

use common::{Device, eventually, observation, state};
use mapeo_core::schema::{DeviceInfo, DeviceType, DocType};
use mapeo_core::sync::SyncPhase;
use mapeo_core::{Manager, Project, Query};

const WAIT: Duration = Duration::from_secs(20);

use common::loopback;

fn count(p: &Project) -> usize {
    p.list(&Query::all(DocType::Observation)).unwrap().len()
}

/// A creates a project, B joins it and is made a member; both turn data sync on.
fn pair() -> (
    Device,
    Device,
    std::sync::Arc<Project>,
    std::sync::Arc<Project>,
) {
    let a = Device::new(1);
    let b = Device::new(2);
    a.manager
        .set_device_info(DeviceInfo {
            name: "Coordinator laptop".into(),
            device_type: DeviceType::Desktop,
        })
        .unwrap();
    b.manager
        .set_device_info(DeviceInfo {
            name: "Field phone".into(),
            device_type: DeviceType::Mobile,
        })
        .unwrap();
    let (pa, pb) = common::shared_project(&a, &b);
    (a, b, pa, pb)
}

async fn synced(m: &Manager, p: &Project) {
    m.wait_for_sync(&p.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_sync_over_noise_on_loopback() {
    let (a, b, pa, pb) = pair();
    for i in 0..100 {
        pa.create(observation(1.0, f64::from(i % 90), "from the laptop"))
            .unwrap();
    }
    pb.create(observation(2.0, 2.0, "from the phone")).unwrap();
    let addr = a.manager.start_listening(loopback()).await.unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    let peer = b.manager.connect(addr).await.unwrap();
    assert_eq!(peer, a.manager.device_id());
    synced(&a.manager, &pa).await;
    synced(&b.manager, &pb).await;
    assert_eq!(count(&pb), 101);
    assert_eq!(state(&pa), state(&pb));
    // Each side sees the other by name and type.
    let seen_by_b = b.manager.peers();
    assert_eq!(seen_by_b.len(), 1);
    assert_eq!(seen_by_b[0].name, "Coordinator laptop");
    assert_eq!(seen_by_b[0].device_type, DeviceType::Desktop);
    eventually("a sees b", WAIT, || {
        a.manager
            .peers()
            .iter()
            .any(|p| p.name == "Field phone" && p.connected)
    })
    .await;
    // Live: a new observation arrives without reconnecting.
    let live = pa.create(observation(3.0, 3.0, "live")).unwrap();
    eventually("live observation", WAIT, || pb.get(live.doc_id()).is_ok()).await;
}

/// Observations wait to enter the area and text indexes while the peer holds more for
/// us; the sync's last batch brings in every one that waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_leaves_no_observation_waiting_for_search() {
    let (a, b, pa, pb) = pair();
    pa.create_many(
        (0..1300)
            .map(|i| observation(f64::from(i % 80), f64::from(i / 80), "from the laptop"))
            .collect(),
    )
    .unwrap();
    let addr = a.manager.start_listening(loopback()).await.unwrap();
    b.manager.connect(addr).await.unwrap();
    synced(&b.manager, &pb).await;
    assert_eq!(count(&pb), 1300);
    assert_eq!(pb.search_backlog().unwrap(), 0);
    let mut q = Query::all(DocType::Observation);
    q.text = Some("laptop".into());
    assert_eq!(pb.list(&q).unwrap().len(), 1300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_connections_leave_exactly_one() {
    let (a, b, pa, pb) = pair();
    pa.create(observation(1.0, 1.0, "x")).unwrap();
    let addr_a = a.manager.start_listening(loopback()).await.unwrap();
    let addr_b = b.manager.start_listening(loopback()).await.unwrap();
    let (r1, r2) = tokio::join!(b.manager.connect(addr_a), a.manager.connect(addr_b));
    r1.unwrap();
    r2.unwrap();
    eventually("one connection each", WAIT, || {
        a.manager.connection_count() == 1 && b.manager.connection_count() == 1
    })
    .await;
    synced(&b.manager, &pb).await;
    assert_eq!(count(&pb), 1);
    // It stays that way.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        (a.manager.connection_count(), b.manager.connection_count()),
        (1, 1)
    );
    let s = b.manager.sync_board().project(&pb.id());
    assert_eq!(s.iter().filter(|s| s.connected).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_disconnects_and_resume_catches_up() {
    let (a, b, pa, pb) = pair();
    let addr = a.manager.start_listening(loopback()).await.unwrap();
    b.manager.connect(addr).await.unwrap();
    synced(&b.manager, &pb).await;
    b.manager.pause().await;
    eventually("disconnected", WAIT, || a.manager.connection_count() == 0).await;
    assert_eq!(b.manager.connection_count(), 0);
    let made = pa.create(observation(5.0, 5.0, "while paused")).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(pb.get(made.doc_id()).is_err());
    b.manager.resume().await.unwrap();
    eventually("caught up after resume", WAIT, || {
        pb.get(made.doc_id()).is_ok()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_sync_stops_by_itself_after_a_quiet_period() {
    let (a, b, pa, pb) = pair();
    pa.create(observation(1.0, 1.0, "x")).unwrap();
    b.manager
        .set_auto_stop(&pb.id(), Some(Duration::from_millis(400)))
        .await
        .unwrap();
    let addr = a.manager.start_listening(loopback()).await.unwrap();
    b.manager.connect(addr).await.unwrap();
    synced(&b.manager, &pb).await;
    eventually("auto-stop", WAIT, || !pb.data_sync_enabled()).await;
    // Now a's new data does not flow, but config still does.
    let after = pa.create(observation(2.0, 2.0, "after the stop")).unwrap();
    pa.set_settings(mapeo_core::schema::ProjectSettings {
        name: Some("Renamed".into()),
        ..Default::default()
    })
    .unwrap();
    eventually("config still flows", WAIT, || {
        pb.settings().unwrap().name.as_deref() == Some("Renamed")
    })
    .await;
    assert!(pb.get(after.doc_id()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_restarts_on_the_same_port() {
    let a = Device::new(1);
    let addr = a.manager.start_listening(loopback()).await.unwrap();
    a.manager.stop_listening().await;
    let again = a.manager.start_listening(addr).await.unwrap();
    assert_eq!(again, addr);
}

/// Both devices connected with data sync off; then both turn it on and one waits for sync at
/// once. The wait must not end on progress computed before either switch was seen (it would
/// report "synced" with the other's observations missing): it ends only with them here.
/// Both orders of turning on, several rounds each, since the race is in the timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_right_after_turning_sync_on_waits_for_the_data() {
    let (a, b, pa, pb) = pair();
    a.manager.stop_sync(&pa.id()).unwrap();
    b.manager.stop_sync(&pb.id()).unwrap();
    let addr = a.manager.start_listening(loopback()).await.unwrap();
    b.manager.connect(addr).await.unwrap();
    b.manager
        .wait_for_sync(&pb.id(), SyncPhase::Initial, WAIT)
        .await
        .unwrap();
    for round in 0..12 {
        let made = pa
            .create(observation(
                1.0,
                f64::from(round),
                "written while sync was off",
            ))
            .unwrap();
        if round % 2 == 0 {
            a.manager.start_sync(&pa.id()).unwrap();
            b.manager.start_sync(&pb.id()).unwrap();
        } else {
            b.manager.start_sync(&pb.id()).unwrap();
            a.manager.start_sync(&pa.id()).unwrap();
        }
        synced(&b.manager, &pb).await;
        assert!(
            pb.get(made.doc_id()).is_ok(),
            "round {round}: synced, but a's new observation is missing"
        );
        a.manager.stop_sync(&pa.id()).unwrap();
        b.manager.stop_sync(&pb.id()).unwrap();
        // Both sessions have seen both switches off before the next round.
        eventually("sync off on both sides", WAIT, || {
            let off = |m: &Manager, p: &Project| {
                m.sync_board()
                    .project(&p.id())
                    .iter()
                    .all(|s| !s.data_sync && !s.peer_data_sync)
            };
            off(&a.manager, &pa) && off(&b.manager, &pb)
        })
        .await;
    }
    assert_eq!(count(&pb), 12);
}

/// Dropping a manager ends its sessions and frees its port at once: its tasks hold the
/// network, and must not keep syncing (or listening) for a device that is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_manager_stops_syncing_and_frees_its_port() {
    let (a, b, pa, pb) = pair();
    let addr = a.manager.start_listening(loopback()).await.unwrap();
    b.manager.connect(addr).await.unwrap();
    synced(&b.manager, &pb).await;
    drop(pa);
    drop(a);
    eventually("b sees a gone", WAIT, || b.manager.connection_count() == 0).await;
    eventually("a's port is free again", WAIT, || {
        std::net::TcpListener::bind(addr).is_ok()
    })
    .await;
    let made = pb.create(observation(1.0, 1.0, "after a left")).unwrap();
    assert!(pb.get(made.doc_id()).is_ok());
}

/// A device that left a project still exchanges `auth` for it. Its initial sync must end even
/// when the peer announces configuration before it learns of the leaving (it then stops
/// offering it): a left device never counts what only members receive. Fresh devices each
/// round, since the peer learns of the leaving only once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_left_finishes_its_initial_sync_every_time() {
    for round in 0..10 {
        let (a, b, pa, pb) = pair();
        b.manager.leave_project(&pb.id()).unwrap();
        // Configuration the left device lacks, which a announces before it hears of the leaving.
        pa.set_settings(mapeo_core::schema::ProjectSettings {
            name: Some(format!("Renamed {round}")),
            ..Default::default()
        })
        .unwrap();
        let addr = a.manager.start_listening(loopback()).await.unwrap();
        b.manager.connect(addr).await.unwrap();
        b.manager
            .wait_for_sync(&pb.id(), SyncPhase::Initial, Duration::from_secs(3))
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        eventually("a learns b left", WAIT, || {
            pa.members(true).unwrap().iter().any(|m| {
                m.device_id == b.manager.device_id() && m.role == mapeo_core::PeerRole::Left
            })
        })
        .await;
    }
}

/// Whether `m` shows `peer` connected in its peer list.
fn shows_connected(m: &Manager, peer: &mapeo_core::DeviceId) -> bool {
    m.peers()
        .iter()
        .any(|p| p.device_id == *peer && p.connected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_own_peer_list_shows_peers_gone_after_disconnect_all_and_pause() {
    let (a, b, _pa, pb) = pair();
    let (ia, ib) = (a.manager.device_id(), b.manager.device_id());
    let addr = a.manager.start_listening(loopback()).await.unwrap();
    b.manager.connect(addr).await.unwrap();
    synced(&b.manager, &pb).await;
    eventually("a sees b", WAIT, || shows_connected(&a.manager, &ib)).await;
    let mut peers_seen = b.manager.subscribe_peers();
    peers_seen.borrow_and_update();
    b.manager.disconnect_all().await;
    // Once the call returns, the caller's own list already says so, and listeners heard it.
    assert!(!shows_connected(&b.manager, &ia), "{:?}", b.manager.peers());
    assert!(peers_seen.has_changed().unwrap());
    assert!(
        peers_seen
            .borrow_and_update()
            .values()
            .all(|p| !p.connected)
    );
    eventually("a sees b gone", WAIT, || !shows_connected(&a.manager, &ib)).await;
    // The same after a pause (the app went to the background), from the listening side.
    b.manager.connect(addr).await.unwrap();
    eventually("a sees b again", WAIT, || shows_connected(&a.manager, &ib)).await;
    a.manager.pause().await;
    assert!(!shows_connected(&a.manager, &ib), "{:?}", a.manager.peers());
    eventually("b sees a gone", WAIT, || !shows_connected(&b.manager, &ia)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnecting_one_peer_leaves_the_others_connected() {
    let (a, b, pa, pb) = pair();
    let c = Device::new(3);
    let pc = c
        .manager
        .join_project(&a.manager.join_details(&pa.id()).unwrap())
        .unwrap();
    pa.assign_role(&c.manager.device_id(), mapeo_core::PeerRole::Member, None)
        .unwrap();
    let addr = a.manager.start_listening(loopback()).await.unwrap();
    b.manager.connect(addr).await.unwrap();
    c.manager.connect(addr).await.unwrap();
    let (ib, ic) = (b.manager.device_id(), c.manager.device_id());
    eventually("a sees both", WAIT, || {
        shows_connected(&a.manager, &ib) && shows_connected(&a.manager, &ic)
    })
    .await;
    assert!(a.manager.disconnect_peer(&ib).await);
    assert!(!shows_connected(&a.manager, &ib));
    assert!(shows_connected(&a.manager, &ic));
    assert!(
        !a.manager.disconnect_peer(&ib).await,
        "no session is left to close"
    );
    // The other peer still syncs live.
    c.manager.start_sync(&pc.id()).unwrap();
    let made = pa.create(observation(4.0, 4.0, "after b left")).unwrap();
    eventually("c gets it", WAIT, || pc.get(made.doc_id()).is_ok()).await;
    eventually("b sees a gone", WAIT, || {
        !shows_connected(&b.manager, &a.manager.device_id())
    })
    .await;
    assert!(pb.get(made.doc_id()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_went_away_is_never_counted_fully_synced() {
    let (a, b, pa, pb) = pair();
    let addr = a.manager.start_listening(loopback()).await.unwrap();
    b.manager.connect(addr).await.unwrap();
    synced(&a.manager, &pa).await;
    let ib = b.manager.device_id();
    let of_b = || {
        a.manager
            .sync_board()
            .project(&pa.id())
            .into_iter()
            .find(|s| s.peer == ib)
            .unwrap()
    };
    assert!(of_b().is_fully_synced());
    b.manager.disconnect_all().await;
    eventually("a sees b gone", WAIT, || !of_b().connected).await;
    for i in 0..20 {
        pa.create(observation(1.0, f64::from(i), "while b is away"))
            .unwrap();
    }
    let s = of_b();
    assert!(
        !s.is_synced(SyncPhase::Full) && !s.is_synced(SyncPhase::Initial),
        "{s:?}"
    );
    assert!(!s.is_fully_synced(), "{s:?}");
    drop(pb);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_says_whether_it_covers_data() {
    let (a, b, pa, pb) = pair();
    b.manager.stop_sync(&pb.id()).unwrap();
    pa.create(observation(1.0, 1.0, "data b does not take"))
        .unwrap();
    let addr = a.manager.start_listening(loopback()).await.unwrap();
    b.manager.connect(addr).await.unwrap();
    b.manager
        .wait_for_sync(&pb.id(), SyncPhase::Initial, WAIT)
        .await
        .unwrap();
    eventually("b's state settles", WAIT, || {
        b.manager
            .sync_board()
            .project(&pb.id())
            .first()
            .is_some_and(|s| s.peer_data_sync_known && s.is_synced(SyncPhase::Full))
    })
    .await;
    // Synced for what flows (roles and configuration), but data was not counted.
    let s = b.manager.sync_board().project(&pb.id())[0].clone();
    assert!(
        !s.data_sync && s.peer_data_sync && !s.covers_data(),
        "{s:?}"
    );
    assert!(!s.is_fully_synced());
    assert_eq!(count(&pb), 0);
    b.manager.start_sync(&pb.id()).unwrap();
    synced(&b.manager, &pb).await;
    let s = b.manager.sync_board().project(&pb.id())[0].clone();
    assert!(s.covers_data() && s.is_fully_synced(), "{s:?}");
    assert_eq!(count(&pb), 1);
}
