//! The facade driven from Rust as an app would drive it through the bindings: two devices in
//! one process, a project created on one and joined by the other, sync over 127.0.0.1, Rust
//! implementations of the listener traits, and the typed errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mapeo_ffi::{
    AssignableRole, Mapeo, MapeoError, Observation, PeerInfo, PeerListener, PeerSyncState, Project,
    ProjectSettings, Query, Role, RoleListener, SyncListener, SyncPhase, TagValue,
};

mod common;

use common::{Device, WAIT, device};

/// `a` creates a project, `b` joins it from its join details and is made a member; both sync
/// data; `b` connects to `a` over loopback.
async fn joined_pair() -> (Device, Device, Arc<Project>, Arc<Project>) {
    let (a, b) = (device("Ana"), device("Bo"));
    let pa = a
        .mapeo
        .create_project(ProjectSettings {
            name: Some("River watch".into()),
            ..Default::default()
        })
        .unwrap();
    let details = a.mapeo.join_details(pa.project_id()).unwrap();
    let pb = b.mapeo.join_project(details).unwrap();
    pa.assign_role(b.mapeo.device_id(), AssignableRole::Member)
        .unwrap();
    for d in [&a, &b] {
        d.mapeo.start_sync(pa.project_id()).unwrap();
    }
    let addr = a.mapeo.start_listening("127.0.0.1:0".into()).await.unwrap();
    let peer = b.mapeo.connect(addr).await.unwrap();
    assert_eq!(peer, a.mapeo.device_id());
    (a, b, pa, pb)
}

fn notes(text: &str) -> Observation {
    Observation {
        lat: Some(-3.4653),
        lon: Some(-62.2159),
        tags: [(
            "notes".to_owned(),
            TagValue::Text {
                value: text.to_owned(),
            },
        )]
        .into(),
        ..Default::default()
    }
}

/// Every call a listener received, in order.
struct Recorder<T>(Mutex<Vec<T>>);

impl<T> Default for Recorder<T> {
    fn default() -> Self {
        Recorder(Mutex::new(Vec::new()))
    }
}

impl<T: Clone> Recorder<T> {
    fn calls(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }
}

impl SyncListener for Recorder<Vec<PeerSyncState>> {
    fn on_sync_state(&self, _: String, peers: Vec<PeerSyncState>) -> Result<(), MapeoError> {
        self.0.lock().unwrap().push(peers);
        Ok(())
    }
}

impl PeerListener for Recorder<Vec<PeerInfo>> {
    fn on_peers(&self, peers: Vec<PeerInfo>) -> Result<(), MapeoError> {
        self.0.lock().unwrap().push(peers);
        Ok(())
    }
}

impl RoleListener for Recorder<Role> {
    fn on_role(&self, role: Role) -> Result<(), MapeoError> {
        self.0.lock().unwrap().push(role);
        Ok(())
    }
}

/// A listener that fails every call, as a foreign listener that throws does.
struct Throwing;

impl SyncListener for Throwing {
    fn on_sync_state(&self, _: String, _: Vec<PeerSyncState>) -> Result<(), MapeoError> {
        Err(MapeoError::ListenerFailed {
            reason: "thrown by the app".into(),
        })
    }
}

/// Polls `check` until it holds, failing after [`WAIT`].
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn observation_created_on_one_device_appears_on_the_other() {
    let (a, _b, pa, pb) = joined_pair().await;
    let created = pa.create_observation(notes("oil on the water")).unwrap();
    // The writer waits: only it knows of the new entry until the peer confirms it.
    a.mapeo
        .wait_for_sync(pa.project_id(), SyncPhase::Full, 10_000)
        .await
        .unwrap();
    let got = pb.get_observation(created.meta.doc_id.clone()).unwrap();
    assert_eq!(got, created);
    assert_eq!(got.meta.created_by, a.mapeo.device_id());
    let listed = pb.list_observations(Query::default()).unwrap();
    assert_eq!(listed, vec![created]);
    assert_eq!(pb.settings().unwrap().name.as_deref(), Some("River watch"));
    assert_eq!(pb.own_role().unwrap(), Role::Member);
}

#[tokio::test]
async fn listeners_get_the_current_value_first_then_changes() {
    let (a, b) = (device("Ana"), device("Bo"));
    let peers = Arc::new(Recorder::<Vec<PeerInfo>>::default());
    let handle = b.mapeo.subscribe_peers(peers.clone()).unwrap();
    eventually("the current (empty) peer list", || {
        !peers.calls().is_empty()
    })
    .await;
    assert_eq!(peers.calls()[0], Vec::new());

    let addr = a.mapeo.start_listening("127.0.0.1:0".into()).await.unwrap();
    b.mapeo.connect(addr).await.unwrap();
    eventually("the connected peer", || {
        peers
            .calls()
            .last()
            .is_some_and(|l| l.len() == 1 && l[0].connected && l[0].name == "Ana")
    })
    .await;
    let calls = peers.calls();
    assert!(
        calls.windows(2).all(|w| w[0] != w[1]),
        "the same list twice in a row: {calls:?}"
    );

    handle.cancel();
    let seen = peers.calls().len();
    b.mapeo.disconnect_all().await.unwrap();
    tokio::time::sleep(mapeo_ffi::LISTENER_MIN_INTERVAL * 5).await;
    assert_eq!(peers.calls().len(), seen, "called after cancel");
}

#[tokio::test]
async fn sync_listener_reports_progress_and_a_throwing_listener_changes_nothing() {
    let (a, b) = (device("Ana"), device("Bo"));
    let pa = a.mapeo.create_project(ProjectSettings::default()).unwrap();
    for i in 0..20 {
        pa.create_observation(notes(&format!("tree {i}"))).unwrap();
    }
    let pb = b
        .mapeo
        .join_project(a.mapeo.join_details(pa.project_id()).unwrap())
        .unwrap();
    pa.assign_role(b.mapeo.device_id(), AssignableRole::Member)
        .unwrap();
    let _throwing = b
        .mapeo
        .subscribe_sync(pa.project_id(), Arc::new(Throwing))
        .unwrap();
    let states = Arc::new(Recorder::<Vec<PeerSyncState>>::default());
    let _handle = b
        .mapeo
        .subscribe_sync(pa.project_id(), states.clone())
        .unwrap();
    eventually("the current (empty) state", || !states.calls().is_empty()).await;
    assert_eq!(states.calls()[0], Vec::new());

    for d in [&a, &b] {
        d.mapeo.start_sync(pa.project_id()).unwrap();
    }
    let addr = a.mapeo.start_listening("127.0.0.1:0".into()).await.unwrap();
    b.mapeo.connect(addr).await.unwrap();
    eventually("fully synced", || {
        states
            .calls()
            .last()
            .is_some_and(|s| s.len() == 1 && s[0].fully_synced)
    })
    .await;
    assert_eq!(pb.list_observations(Query::default()).unwrap().len(), 20);
    let last = states.calls().last().cloned().unwrap();
    assert_eq!(last[0].peer, a.mapeo.device_id());
    // A's role record for B, its settings and device info, and the 20 observations.
    assert_eq!(last[0].received, 1 + 2 + 20);
}

#[tokio::test]
async fn own_role_listener_sees_the_role_arrive() {
    let (a, b, pa, pb) = joined_pair().await;
    let roles = Arc::new(Recorder::<Role>::default());
    let _handle = pb.subscribe_own_role(roles.clone()).unwrap();
    b.mapeo
        .wait_for_sync(pa.project_id(), SyncPhase::Initial, 10_000)
        .await
        .unwrap();
    eventually("member", || roles.calls().last() == Some(&Role::Member)).await;
    pa.assign_role(b.mapeo.device_id(), AssignableRole::Coordinator)
        .unwrap();
    eventually("coordinator", || {
        roles.calls().last() == Some(&Role::Coordinator)
    })
    .await;
    drop(a);
}

#[tokio::test]
async fn errors_arrive_typed_without_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_owned();
    let key = mapeo_ffi::generate_root_key();
    let mapeo = Mapeo::open(path.clone(), key.clone()).unwrap();
    // A folder in use says so before anything else; a free one with another key is refused.
    assert!(matches!(
        Mapeo::open(path.clone(), mapeo_ffi::generate_root_key()),
        Err(MapeoError::FolderInUse { .. })
    ));
    let other = tempfile::tempdir().unwrap();
    let other_path = other.path().to_str().unwrap().to_owned();
    Mapeo::open(other_path.clone(), key.clone())
        .unwrap()
        .close()
        .await
        .unwrap();
    assert!(matches!(
        Mapeo::open(other_path, mapeo_ffi::generate_root_key()),
        Err(MapeoError::WrongRootKey { .. })
    ));
    assert!(matches!(
        Mapeo::open(path.clone(), vec![1, 2, 3]),
        Err(MapeoError::InvalidInput { .. })
    ));
    let project = mapeo.create_project(ProjectSettings::default()).unwrap();

    let err = project
        .create_observation(Observation {
            lat: Some(123.456),
            lon: Some(7.89),
            ..Default::default()
        })
        .unwrap_err();
    let MapeoError::InvalidInput { reason } = &err else {
        panic!("{err:?}")
    };
    assert!(!reason.contains("123.456"), "{reason}");
    assert!(!err.to_string().contains(&path));

    assert!(matches!(
        project.get_observation("0123456789abcdef".into()),
        Err(MapeoError::NotFound { .. })
    ));
    assert!(matches!(
        mapeo.open_project("not hex".into()),
        Err(MapeoError::InvalidInput { .. })
    ));
    assert!(matches!(
        mapeo.connection_code(),
        Err(MapeoError::NotListening { .. })
    ));

    // A per-type method given another type's id changes nothing.
    let obs = project.create_observation(notes("kept")).unwrap();
    assert!(matches!(
        project.delete_preset(obs.meta.doc_id.clone()),
        Err(MapeoError::NotFound { .. })
    ));
    assert!(matches!(
        project.get_preset(obs.meta.doc_id.clone()),
        Err(MapeoError::NotFound { .. })
    ));
    assert_eq!(
        project.get_observation(obs.meta.doc_id.clone()).unwrap(),
        obs
    );

    let code = mapeo_ffi::backup_code(key.clone()).unwrap();
    assert_eq!(
        mapeo_ffi::root_key_from_backup_code(code.to_lowercase()).unwrap(),
        key
    );
    assert!(matches!(
        mapeo_ffi::root_key_from_backup_code("AAAA".into()),
        Err(MapeoError::InvalidInput { .. })
    ));
    // A port that was free a moment ago: nothing listens there now.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let peer_err = mapeo
        .connect(closed.to_string())
        .await
        .expect_err("nothing listens there");
    assert!(
        matches!(peer_err, MapeoError::Network { .. }),
        "{peer_err:?}"
    );
    assert!(!peer_err.to_string().contains("127.0.0.1"), "{peer_err}");
}

#[tokio::test]
async fn documents_round_trip_through_the_records() {
    let d = device("Ana");
    let p = d.mapeo.create_project(ProjectSettings::default()).unwrap();
    let field = p
        .create_field(mapeo_ffi::Field {
            tag_key: "species".into(),
            field_type: mapeo_ffi::FieldType::SelectOne,
            label: "Species".into(),
            options: vec![mapeo_ffi::FieldOption {
                label: "Jaguar".into(),
                value: mapeo_ffi::TagPrimitive::Text {
                    value: "jaguar".into(),
                },
            }],
            placeholder: None,
            helper_text: Some("pick one".into()),
            universal: false,
        })
        .unwrap();
    let preset = p
        .create_preset(mapeo_ffi::Preset {
            name: "Animal".into(),
            geometry: vec![mapeo_ffi::Geometry::Point],
            field_refs: vec![mapeo_ffi::DocRef {
                doc_id: field.meta.doc_id.clone(),
                version_id: field.meta.version_id.clone(),
            }],
            terms: vec!["fauna".into()],
            ..Default::default()
        })
        .unwrap();
    let mut value = notes("tracks by the river");
    value.preset_ref = Some(mapeo_ffi::DocRef {
        doc_id: preset.meta.doc_id.clone(),
        version_id: preset.meta.version_id.clone(),
    });
    value.tags.insert(
        "count".into(),
        TagValue::ListOf {
            items: vec![mapeo_ffi::TagPrimitive::Number { value: 2.5 }],
        },
    );
    let obs = p.create_observation(value.clone()).unwrap();
    assert_eq!(obs.value, value);
    let edited = p
        .update_observation(vec![obs.meta.version_id.clone()], notes("two jaguars"))
        .unwrap();
    assert_eq!(edited.meta.links, vec![obs.meta.version_id.clone()]);
    assert_eq!(
        edited.meta.original_version_id.as_ref(),
        Some(&obs.meta.version_id)
    );
    let by_preset = p
        .list_observations(Query {
            preset: Some(preset.meta.doc_id.clone()),
            ..Default::default()
        })
        .unwrap();
    assert!(by_preset.is_empty(), "the edit dropped the preset");
    let found = p
        .list_observations(Query {
            text: Some("jaguar".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(found, vec![edited.clone()]);
    let track = p
        .create_track(mapeo_ffi::Track {
            locations: (0..2)
                .map(|i| mapeo_ffi::TrackPoint {
                    timestamp: 1_735_689_600_000 + i,
                    mocked: false,
                    coords: mapeo_ffi::Coords {
                        latitude: 1.0,
                        longitude: 2.0 + i as f64,
                        ..Default::default()
                    },
                })
                .collect(),
            observation_refs: vec![mapeo_ffi::DocRef {
                doc_id: edited.meta.doc_id.clone(),
                version_id: edited.meta.version_id.clone(),
            }],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p.get_track(track.meta.doc_id.clone()).unwrap(), track);
    let deleted = p.delete_observation(edited.meta.doc_id.clone()).unwrap();
    assert!(deleted.meta.deleted);
    assert!(p.list_observations(Query::default()).unwrap().is_empty());
    assert_eq!(
        p.list_observations(Query {
            include_deleted: true,
            ..Default::default()
        })
        .unwrap()
        .len(),
        1
    );
    assert_eq!(p.list_presets(Query::default()).unwrap(), vec![preset]);
    assert_eq!(p.list_fields(Query::default()).unwrap(), vec![field]);
    assert_eq!(p.list_tracks(Query::default()).unwrap(), vec![track]);
}

#[tokio::test]
async fn a_state_says_what_it_covers_and_is_never_full_while_data_sync_is_off() {
    let (a, b, pa, _pb) = joined_pair().await;
    let id = pa.project_id();
    let of_b = || a.mapeo.sync_state(id.clone()).unwrap().into_iter().next();
    eventually("fully synced with both switches on", || {
        of_b().is_some_and(|s| s.fully_synced && s.data_sync_local && s.peer_data_sync)
    })
    .await;
    // The peer turns data sync off: roles and configuration still count, data does not.
    b.mapeo.stop_sync(id.clone()).unwrap();
    eventually("a sees b's switch off", || {
        of_b().is_some_and(|s| !s.peer_data_sync && s.initial_synced)
    })
    .await;
    let s = of_b().unwrap();
    assert!(!s.fully_synced && s.data_sync_local, "{s:?}");
    b.mapeo.start_sync(id.clone()).unwrap();
    eventually("fully synced again", || {
        of_b().is_some_and(|s| s.fully_synced)
    })
    .await;
}
