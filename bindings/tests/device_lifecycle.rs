//! The device object's life as an app drives it: one open per data folder, a deterministic
//! close that stops networking and frees the folder, typed errors after it, and closing the
//! connection with a single peer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use mapeo_ffi::{Mapeo, MapeoError, ProjectSettings};

mod common;

use common::{WAIT, device};

/// Polls `check` until it holds, failing after [`WAIT`].
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn shows_connected(m: &Mapeo, peer: &str) -> bool {
    m.peers().iter().any(|p| p.device_id == peer && p.connected)
}

#[tokio::test]
async fn a_folder_opens_once_until_closed_and_a_closed_device_says_so() {
    let a = device("Ana");
    let folder = a.dir.path().to_str().unwrap().to_owned();
    // Open already (here the same process; another process gets the same answer).
    let twice = Mapeo::open(folder, mapeo_ffi::generate_root_key()).err();
    assert!(
        matches!(twice, Some(MapeoError::FolderInUse { .. })),
        "{twice:?}"
    );
    let project = a
        .mapeo
        .create_project(ProjectSettings {
            name: Some("River watch".into()),
            ..Default::default()
        })
        .unwrap();
    let id = project.project_id();
    drop(project);
    let addr = a.mapeo.start_listening("127.0.0.1:0".into()).await.unwrap();
    a.mapeo.close().await.unwrap();
    assert!(a.mapeo.is_closed());
    assert_eq!(a.mapeo.listening_on(), None);
    // Every later call is refused with a typed error; closing again is harmless.
    assert!(matches!(
        a.mapeo.list_projects(),
        Err(MapeoError::Closed { .. })
    ));
    assert!(matches!(
        a.mapeo.start_listening("127.0.0.1:0".into()).await,
        Err(MapeoError::Closed { .. })
    ));
    assert!(matches!(
        a.mapeo.sync_state(id),
        Err(MapeoError::Closed { .. })
    ));
    a.mapeo.close().await.unwrap();
    // Nothing listens on the old port any more.
    let b = device("Bo");
    assert!(matches!(
        b.mapeo.connect(addr).await,
        Err(MapeoError::Network { .. })
    ));
}

#[tokio::test]
async fn a_closed_folder_reopens_with_its_projects() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_str().unwrap().to_owned();
    let key = mapeo_ffi::generate_root_key();
    let first = Mapeo::open(folder.clone(), key.clone()).unwrap();
    let id = first
        .create_project(ProjectSettings {
            name: Some("River watch".into()),
            ..Default::default()
        })
        .unwrap()
        .project_id();
    first.close().await.unwrap();
    let second = Mapeo::open(folder, key).unwrap();
    let listed = second.list_projects().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].project_id, id);
    assert_eq!(listed[0].settings.name.as_deref(), Some("River watch"));
}

#[tokio::test]
async fn closing_stops_every_connection_and_the_peer_list_says_so() {
    let (a, b) = (device("Ana"), device("Bo"));
    let addr = a.mapeo.start_listening("127.0.0.1:0".into()).await.unwrap();
    b.mapeo.connect(addr).await.unwrap();
    let (ia, ib) = (a.mapeo.device_id(), b.mapeo.device_id());
    eventually("a sees b", || shows_connected(&a.mapeo, &ib)).await;
    b.mapeo.close().await.unwrap();
    assert!(b.mapeo.peers().iter().all(|p| !p.connected));
    eventually("a sees b gone", || !shows_connected(&a.mapeo, &ib)).await;
    assert!(!shows_connected(&b.mapeo, &ia));
}

#[tokio::test]
async fn one_peer_is_disconnected_and_the_callers_list_shows_it_at_once() {
    let (a, b, c) = (device("Ana"), device("Bo"), device("Cy"));
    let addr = a.mapeo.start_listening("127.0.0.1:0".into()).await.unwrap();
    b.mapeo.connect(addr.clone()).await.unwrap();
    c.mapeo.connect(addr).await.unwrap();
    let (ib, ic) = (b.mapeo.device_id(), c.mapeo.device_id());
    eventually("a sees both", || {
        shows_connected(&a.mapeo, &ib) && shows_connected(&a.mapeo, &ic)
    })
    .await;
    assert!(a.mapeo.disconnect_peer(ib.clone()).await.unwrap());
    assert!(!shows_connected(&a.mapeo, &ib));
    assert!(shows_connected(&a.mapeo, &ic));
    assert!(!a.mapeo.disconnect_peer(ib.clone()).await.unwrap());
    assert!(matches!(
        a.mapeo.disconnect_peer("not a device".into()).await,
        Err(MapeoError::InvalidInput { .. })
    ));
    // The caller's own list after disconnecting everyone, too.
    a.mapeo.disconnect_all().await.unwrap();
    assert!(a.mapeo.peers().iter().all(|p| !p.connected));
}
