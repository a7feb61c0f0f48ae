//! Work the app started ends when the app is done with it: a cancelled call stops in the core,
//! and closing a device ends its subscriptions even while their handles are still held. Its
//! own test binary (one test) because it reads the process-wide task counters.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use mapeo_ffi::{
    InviteListener, Mapeo, MapeoError, PeerInfo, PeerListener, PeerSyncState, ProjectSettings,
    ReceivedInvite, Role, RoleListener, SyncListener, SyncPhase, running_tasks,
};

/// A listener that ignores every call.
struct Ignore;

impl PeerListener for Ignore {
    fn on_peers(&self, _: Vec<PeerInfo>) -> Result<(), MapeoError> {
        Ok(())
    }
}

impl SyncListener for Ignore {
    fn on_sync_state(&self, _: String, _: Vec<PeerSyncState>) -> Result<(), MapeoError> {
        Ok(())
    }
}

impl InviteListener for Ignore {
    fn on_invites(&self, _: Vec<ReceivedInvite>) -> Result<(), MapeoError> {
        Ok(())
    }
}

impl RoleListener for Ignore {
    fn on_role(&self, _: Role) -> Result<(), MapeoError> {
        Ok(())
    }
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn nothing_keeps_running_after_its_caller_or_its_device_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mapeo = Mapeo::open(
        dir.path().to_str().unwrap().to_owned(),
        mapeo_ffi::generate_root_key(),
    )
    .unwrap();
    let project = mapeo.create_project(ProjectSettings::default()).unwrap();
    let id = project.project_id();
    assert_eq!(running_tasks().calls, 0);

    // No peer is connected: this wait would last a minute. The caller gives up after 300 ms
    // and drops the call, as a cancelled coroutine does.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        mapeo.wait_for_sync(id.clone(), SyncPhase::Full, 60_000),
    )
    .await;
    assert!(gave_up.is_err(), "the wait ended by itself: {gave_up:?}");
    eventually("the cancelled call ended", || running_tasks().calls == 0).await;

    let handles = [
        mapeo.subscribe_peers(Arc::new(Ignore)).unwrap(),
        mapeo.subscribe_sync(id, Arc::new(Ignore)).unwrap(),
        project.subscribe_own_role(Arc::new(Ignore)).unwrap(),
        mapeo.subscribe_invites(Arc::new(Ignore)).unwrap(),
    ];
    eventually("four listeners", || running_tasks().listeners == 4).await;
    drop(project);
    drop(mapeo);
    eventually("the closed device's listeners ended", || {
        running_tasks().listeners == 0
    })
    .await;
    drop(handles);
}
