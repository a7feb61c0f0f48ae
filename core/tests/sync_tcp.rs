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
