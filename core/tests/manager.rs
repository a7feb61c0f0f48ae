//! The device: identity, device info, and the life of projects on it (create, list, join,
//! leave, restart).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{Device, copy_missing, observation};
use mapeo_core::schema::{DeviceInfo, DeviceType, DocType, ProjectSettings};
use mapeo_core::{BackupCode, Error, Manager, Namespace, ProjectStatus, Query, RootKey};

fn settings(name: &str) -> ProjectSettings {
    ProjectSettings {
        name: Some(name.into()),
        project_description: Some("Monitoring the river".into()),
        project_color: Some("#1F6F3A".into()),
        ..ProjectSettings::default()
    }
}

#[test]
fn a_data_folder_refuses_another_root_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = RootKey::from_bytes([1; 16]);
    let id = Manager::open(dir.path(), &key).unwrap().device_id();
    match Manager::open(dir.path(), &RootKey::from_bytes([2; 16])) {
        Err(Error::WrongRootKey) => {}
        other => panic!("expected WrongRootKey, got {other:?}"),
    }
    assert_eq!(Manager::open(dir.path(), &key).unwrap().device_id(), id);
}

#[test]
fn identity_restored_from_the_backup_code_opens_the_same_folder() {
    let dir = tempfile::tempdir().unwrap();
    let key = RootKey::generate();
    let m = Manager::open(dir.path(), &key).unwrap();
    let p = m.create_project(settings("Río")).unwrap();
    let id = p.id();
    let code = BackupCode::from_root_key(&key).expose().to_lowercase();
    drop((m, p));
    let restored = BackupCode::parse(&code).unwrap();
    let m = Manager::open(dir.path(), &restored).unwrap();
    assert_eq!(
        m.open_project(&id)
            .unwrap()
            .settings()
            .unwrap()
            .name
            .as_deref(),
        Some("Río")
    );
}

#[test]
fn device_info_persists_and_reaches_every_project() {
    let mut dev = Device::new(1);
    assert_eq!(dev.manager.device_info().unwrap(), None);
    let p = dev.manager.create_project(settings("A")).unwrap();
    let info = DeviceInfo {
        name: "Ana's phone".into(),
        device_type: DeviceType::Mobile,
    };
    dev.manager.set_device_info(info.clone()).unwrap();
    let doc_id = mapeo_core::project::device_info_doc_id(&dev.manager.device_id());
    assert_eq!(
        p.get(&doc_id).unwrap().value(),
        &mapeo_core::schema::DocValue::DeviceInfo(info.clone())
    );
    // A project created later gets it too.
    let q = dev.manager.create_project(settings("B")).unwrap();
    assert!(q.get(&doc_id).is_ok());
    dev.restart();
    assert_eq!(dev.manager.device_info().unwrap(), Some(info));
    let bad = DeviceInfo {
        name: " ".into(),
        device_type: DeviceType::Tablet,
    };
    assert!(matches!(
        dev.manager.set_device_info(bad),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn projects_are_created_listed_and_survive_a_restart() {
    let mut dev = Device::new(1);
    let a = dev
        .manager
        .create_project(settings("Forest watch"))
        .unwrap();
    let b = dev.manager.create_project(settings("River watch")).unwrap();
    assert_eq!(a.creator(), dev.manager.device_id());
    assert_ne!(a.id(), b.id());
    a.create(observation(1.0, 2.0, "kept")).unwrap();
    let (ida, idb) = (a.id(), b.id());
    drop((a, b));
    dev.restart();
    let list = dev.manager.list_projects().unwrap();
    let names: Vec<_> = list
        .iter()
        .map(|p| p.settings.name.clone().unwrap())
        .collect();
    assert_eq!(names, vec!["Forest watch", "River watch"]);
    assert!(list.iter().all(|p| p.status == ProjectStatus::Joined));
    assert_eq!(list[0].project_id, ida);
    assert_eq!(list[1].project_id, idb);
    let a = dev.manager.open_project(&ida).unwrap();
    assert_eq!(a.list(&Query::all(DocType::Observation)).unwrap().len(), 1);
    assert_eq!(a.settings().unwrap(), settings("Forest watch"));
    a.set_settings(settings("Forest watch 2026")).unwrap();
    assert_eq!(
        a.settings().unwrap().name.as_deref(),
        Some("Forest watch 2026")
    );
    assert!(matches!(
        dev.manager
            .open_project(&mapeo_core::ProjectId::from_bytes([9; 32])),
        Err(Error::NotFound { what: "project" })
    ));
}

#[test]
fn project_keys_are_stored_encrypted() {
    let dev = Device::new(1);
    let p = dev
        .manager
        .create_project(settings("Secret place"))
        .unwrap();
    let details = dev.manager.join_details(&p.id()).unwrap();
    let key = details.project_key();
    let raw = std::fs::read(dev.dir.path().join("device.db")).unwrap();
    let wal = std::fs::read(dev.dir.path().join("device.db-wal")).unwrap_or_default();
    for bytes in [&raw, &wal] {
        for secret in [&key.expose_bytes()[..], &details.to_secret_bytes()[32..]] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "a secret in plain text"
            );
        }
    }
}

#[test]
fn joining_from_join_details_proves_the_creator_and_receives_data() {
    let a = Device::new(1);
    let b = Device::new(2);
    let pa = a.manager.create_project(settings("Shared")).unwrap();
    pa.create(observation(3.0, 4.0, "from the creator"))
        .unwrap();
    let details = a.manager.join_details(&pa.id()).unwrap();
    let pb = b.manager.join_project(&details).unwrap();
    assert_eq!(pb.id(), pa.id());
    assert_eq!(pb.creator(), a.manager.device_id());
    assert!(matches!(
        b.manager.join_project(&details),
        Err(Error::AlreadyJoined)
    ));
    copy_missing(&pa, &pb);
    assert_eq!(pb.settings().unwrap().name.as_deref(), Some("Shared"));
    assert_eq!(pb.list(&Query::all(DocType::Observation)).unwrap().len(), 1);
    // Details naming another creator derive another project: the creator cannot be faked.
    let forged = mapeo_core::JoinDetails {
        creator: b.manager.device_id(),
        ..details
    };
    assert!(forged.verify(&pa.id()).is_err());
}

#[test]
fn leaving_purges_others_data_keeps_our_own_and_allows_rejoining() {
    let a = Device::new(1);
    let mut b = Device::new(2);
    let pa = a.manager.create_project(settings("Shared")).unwrap();
    pa.create(observation(1.0, 1.0, "a's")).unwrap();
    let pb = b
        .manager
        .join_project(&a.manager.join_details(&pa.id()).unwrap())
        .unwrap();
    pa.assign_role(&b.manager.device_id(), mapeo_core::PeerRole::Member, None)
        .unwrap();
    copy_missing(&pa, &pb);
    let mine = pb.create(observation(2.0, 2.0, "b's")).unwrap();
    let id = pb.id();
    b.manager.leave_project(&id).unwrap();
    // Only our own feeds are left, and the role records (auth) under which we wrote: what
    // we wrote as a member still shows here.
    let kept = pb.have_vector().unwrap();
    assert!(
        kept.keys()
            .all(|(author, ns)| *author == b.manager.device_id() || *ns == Namespace::Auth)
    );
    assert_eq!(
        kept.get(&(b.manager.device_id(), Namespace::Data)),
        Some(&1)
    );
    let after = pb.list(&Query::all(DocType::Observation)).unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].doc_id(), mine.doc_id());
    assert!(matches!(
        pb.create(observation(0.0, 0.0, "no")),
        Err(Error::ProjectLeft)
    ));
    // Our own "left" record is in our auth feed.
    let role_id = mapeo_core::project::role_doc_id(&b.manager.device_id());
    match pb.get(&role_id).unwrap().value() {
        mapeo_core::schema::DocValue::Role(r) => {
            assert_eq!(r.role_id, mapeo_core::schema::ROLE_LEFT)
        }
        other => panic!("expected a role, got {other:?}"),
    }
    drop(pb);
    b.restart();
    let listed = b.manager.list_projects().unwrap();
    assert_eq!(listed[0].status, ProjectStatus::Left);
    assert!(matches!(
        b.manager
            .open_project(&id)
            .unwrap()
            .create(observation(0.0, 0.0, "no")),
        Err(Error::ProjectLeft)
    ));
    // Rejoin: writable again, and data flows back in.
    let pb = b
        .manager
        .join_project(&a.manager.join_details(&pa.id()).unwrap())
        .unwrap();
    assert_eq!(
        b.manager.list_projects().unwrap()[0].status,
        ProjectStatus::Joined
    );
    copy_missing(&pa, &pb);
    let all = pb.list(&Query::all(DocType::Observation)).unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().any(|d| d.doc_id() == mine.doc_id()));
    // Holding the key is not a role: b left, so it writes again once it is given one.
    assert!(matches!(
        pb.create(observation(0.0, 0.0, "back")),
        Err(Error::NotAllowed(_))
    ));
    pa.assign_role(&b.manager.device_id(), mapeo_core::PeerRole::Member, None)
        .unwrap();
    copy_missing(&pa, &pb);
    pb.create(observation(0.0, 0.0, "back")).unwrap();
}
