//! Roles, enforced where writes are counted: a deliberately misbehaving member writes
//! entries straight into its feeds (no local checks), and every device — whatever order the
//! entries arrive in — ignores the same ones. Plus the rules of who may assign what, the
//! member list, and a device learning its own role changes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{Device, T0, copy_missing, observation};
use mapeo_core::crypto::{DeviceKeys, RootKey};
use mapeo_core::feed::{Entry, FeedKeys};
use mapeo_core::roles::created_doc_id;
use mapeo_core::schema::{
    self, Doc, DocType, DocValue, FeedPositions, Preset, ROLE_COORDINATOR, Role,
};
use mapeo_core::{
    DocId, Document, Error, JoinDetails, Namespace, PeerRole, Project, Query, Timestamp, VersionId,
};

/// A device that writes whatever it likes into its own feeds, signed and sealed properly.
struct Rogue {
    _dir: tempfile::TempDir,
    conn: rusqlite::Connection,
    keys: FeedKeys,
    device: DeviceKeys,
    at: i64,
}

impl Rogue {
    fn new(seed: u8, details: &JoinDetails) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conn = mapeo_core::db::open_writer(
            &dir.path().join("rogue.db"),
            None,
            mapeo_core::db::PROJECT_MIGRATIONS,
        )
        .unwrap();
        Rogue {
            _dir: dir,
            conn,
            keys: FeedKeys::new(&details.project_key()),
            device: RootKey::from_bytes([seed; 16]).device_keys(),
            at: T0 + 1_000_000,
        }
    }

    fn id(&self) -> mapeo_core::DeviceId {
        self.device.device_id()
    }

    /// Appends a version with any content; returns the entry and its version id.
    fn write(&mut self, doc: &Doc) -> (Entry, VersionId) {
        let tx = self.conn.transaction().unwrap();
        let ns = doc.doc_type().namespace();
        let (entry, _) = mapeo_core::feed::append_local(
            &tx,
            &self.keys,
            &self.device,
            ns,
            &doc.encode().unwrap(),
        )
        .unwrap();
        tx.commit().unwrap();
        let v = entry.version_id();
        (entry, v)
    }

    fn next(&self, ns: Namespace) -> VersionId {
        let tx = self.conn.unchecked_transaction().unwrap();
        let seq = mapeo_core::feed::length(&tx, &self.id(), ns).unwrap();
        VersionId {
            author: self.id(),
            namespace: ns,
            seq,
        }
    }

    fn doc(&mut self, doc_id: DocId, value: DocValue) -> Doc {
        self.at += 1_000;
        Doc {
            doc_id,
            original_version_id: None,
            created_at: Timestamp(self.at),
            updated_at: Timestamp(self.at),
            links: Vec::new(),
            deleted: false,
            value,
        }
    }

    /// A proper new observation of its own.
    fn create(&mut self, notes: &str) -> (Entry, VersionId) {
        let id = created_doc_id(&self.next(Namespace::Data));
        let doc = self.doc(id, observation(5.0, 5.0, notes));
        self.write(&doc)
    }

    /// An edit of someone else's document, claiming whatever origin it likes.
    fn edit(&mut self, of: &Document, notes: &str) -> (Entry, VersionId) {
        let mut doc = self.doc(of.doc_id().clone(), observation(5.0, 5.0, notes));
        doc.links = vec![of.version_id];
        doc.original_version_id = Some(of.doc.original_version_id.unwrap_or(of.version_id));
        doc.created_at = of.doc.created_at;
        self.write(&doc)
    }
}

fn notes(p: &Project, doc: &DocId) -> String {
    match p.get(doc).unwrap().value() {
        DocValue::Observation(o) => match o.tags.get("notes") {
            Some(schema::TagValue::String(s)) => s.clone(),
            other => panic!("notes: {other:?}"),
        },
        other => panic!("not an observation: {other:?}"),
    }
}

fn observations(p: &Project) -> Vec<Document> {
    p.list(&Query::all(DocType::Observation)).unwrap()
}

/// A creator's project with a rogue member; the creator has one observation.
struct World {
    a: Device,
    pa: std::sync::Arc<Project>,
    rogue: Rogue,
    details: JoinDetails,
    theirs: Document,
}

fn world() -> World {
    let a = Device::new(1);
    let pa = a.manager.create_project(Default::default()).unwrap();
    let details = a.manager.join_details(&pa.id()).unwrap();
    let rogue = Rogue::new(66, &details);
    pa.assign_role(&rogue.id(), PeerRole::Member, None).unwrap();
    let theirs = pa.create(observation(1.0, 1.0, "a's")).unwrap();
    World {
        a,
        pa,
        rogue,
        details,
        theirs,
    }
}

/// A fresh coordinator-less observer that receives `entries` (in that order) after the
/// creator's feeds.
fn observer(w: &World, seed: u8, entries: &[Entry], rogue_first: bool) -> std::sync::Arc<Project> {
    let d = Device::new(seed);
    let p = d.manager.join_project(&w.details).unwrap();
    if rogue_first {
        p.import(entries).unwrap();
        copy_missing(&w.pa, &p);
    } else {
        copy_missing(&w.pa, &p);
        p.import(entries).unwrap();
    }
    std::mem::forget(d); // keep its folder for the project's lifetime in this test
    p
}

#[test]
fn a_members_edit_of_someone_elses_observation_never_shows_anywhere() {
    let mut w = world();
    let (own, own_v) = w.rogue.create("rogue's own");
    let (edit, _) = w.rogue.edit(&w.theirs, "overwritten by the rogue");
    // A root of its own that reuses a's document id, to pass as the creator.
    let mut squat = w
        .rogue
        .doc(w.theirs.doc_id().clone(), observation(0.0, 0.0, "squat"));
    squat.updated_at = Timestamp(T0 + 9_000_000);
    let (squat, squat_v) = w.rogue.write(&squat);
    let mut claim = w
        .rogue
        .doc(w.theirs.doc_id().clone(), observation(0.0, 0.0, "claimed"));
    claim.links = vec![w.theirs.version_id, squat_v];
    claim.original_version_id = Some(squat_v);
    claim.updated_at = Timestamp(T0 + 9_500_000);
    let (claim, _) = w.rogue.write(&claim);
    let entries = vec![own, edit, squat, claim];

    w.pa.import(&entries).unwrap();
    let late = observer(&w, 2, &entries, true);
    let early = observer(&w, 3, &entries, false);
    for p in [&w.pa, &late, &early] {
        assert_eq!(notes(p, w.theirs.doc_id()), "a's");
        assert!(p.get(w.theirs.doc_id()).unwrap().forks.is_empty());
        let own_doc = created_doc_id(&own_v);
        assert_eq!(notes(p, &own_doc), "rogue's own");
        assert_eq!(observations(p).len(), 2);
        // Everything stays in the rogue's feed.
        assert_eq!(
            p.have_vector().unwrap()[&(w.rogue.id(), Namespace::Data)],
            4
        );
    }
    assert_eq!(common::state(&late), common::state(&early));
    assert_eq!(common::state(&late), common::state(&w.pa));
}

#[test]
fn a_members_presets_and_role_records_are_ignored() {
    let mut w = world();
    let helper = Device::new(7);
    let preset_id = created_doc_id(&w.rogue.next(Namespace::Config));
    let preset = w.rogue.doc(
        preset_id.clone(),
        DocValue::Preset(Preset {
            name: "Fake".into(),
            geometry: vec![schema::Geometry::Point],
            ..Default::default()
        }),
    );
    let (preset, _) = w.rogue.write(&preset);
    let promote = |r: &mut Rogue, target: mapeo_core::DeviceId| {
        let doc = r.doc(
            mapeo_core::project::role_doc_id(&target),
            DocValue::Role(Role {
                role_id: ROLE_COORDINATOR.into(),
                from_index: FeedPositions::default(),
                reason: None,
            }),
        );
        r.write(&doc).0
    };
    let me = w.rogue.id();
    let self_promotion = promote(&mut w.rogue, me);
    let friend = promote(&mut w.rogue, helper.manager.device_id());
    let (edit, _) = w.rogue.edit(&w.theirs, "after promoting itself");
    let entries = vec![preset, self_promotion, friend, edit];
    w.pa.import(&entries).unwrap();
    let other = observer(&w, 4, &entries, true);
    for p in [&w.pa, &other] {
        assert!(p.list(&Query::all(DocType::Preset)).unwrap().is_empty());
        assert_eq!(p.role(&me).unwrap(), PeerRole::Member);
        assert_eq!(
            p.role(&helper.manager.device_id()).unwrap(),
            PeerRole::NoRole
        );
        assert_eq!(notes(p, w.theirs.doc_id()), "a's");
    }
}

#[test]
fn a_blocked_devices_later_writes_are_ignored_everywhere_in_any_order() {
    let mut w = world();
    let (before, before_v) = w.rogue.create("before the block");
    w.pa.import(std::slice::from_ref(&before)).unwrap();
    w.pa.remove_member(&w.rogue.id(), Some("misuse".into()))
        .unwrap();
    // It keeps writing, not knowing (or not caring).
    let (after, after_v) = w.rogue.create("after the block");
    let entries = vec![before, after];
    w.pa.import(&entries[1..]).unwrap();
    let late = observer(&w, 5, &entries, true);
    let early = observer(&w, 6, &entries, false);
    for p in [&w.pa, &late, &early] {
        assert!(p.get(&created_doc_id(&before_v)).is_ok());
        assert!(matches!(
            p.get(&created_doc_id(&after_v)),
            Err(Error::NotFound { .. })
        ));
        assert_eq!(p.role(&w.rogue.id()).unwrap(), PeerRole::Blocked);
    }
    assert_eq!(common::state(&late), common::state(&early));
    // Re-invited (given a role again), its writes from then on count.
    w.pa.assign_role(&w.rogue.id(), PeerRole::Member, None)
        .unwrap();
    let (again, again_v) = w.rogue.create("back again");
    w.pa.import(&[again]).unwrap();
    assert!(w.pa.get(&created_doc_id(&again_v)).is_ok());
    drop(w.a);
}

#[test]
fn who_may_assign_which_role() {
    let a = Device::new(1);
    let b = Device::new(2);
    let c = Device::new(3);
    let pa = a.manager.create_project(Default::default()).unwrap();
    let details = a.manager.join_details(&pa.id()).unwrap();
    let pb = b.manager.join_project(&details).unwrap();
    let pc = c.manager.join_project(&details).unwrap();
    let (ia, ib, ic) = (
        a.manager.device_id(),
        b.manager.device_id(),
        c.manager.device_id(),
    );
    pa.assign_role(&ib, PeerRole::Member, None).unwrap();
    pa.assign_role(&ic, PeerRole::Member, None).unwrap();
    copy_missing(&pa, &pb);
    copy_missing(&pa, &pc);
    let not_allowed = |r: Result<Document, Error>| matches!(r, Err(Error::NotAllowed(_)));
    // A member cannot invite/assign, write presets, or edit what others wrote.
    assert!(not_allowed(pb.assign_role(
        &ic,
        PeerRole::Coordinator,
        None
    )));
    assert!(not_allowed(pb.create(DocValue::Preset(Preset {
        name: "x".into(),
        geometry: vec![schema::Geometry::Point],
        ..Default::default()
    }))));
    let a_obs = pa.create(observation(1.0, 1.0, "a's")).unwrap();
    copy_missing(&pa, &pb);
    assert!(not_allowed(
        pb.update(&[a_obs.version_id], observation(1.0, 1.0, "b's edit"))
    ));
    assert!(not_allowed(pb.delete(a_obs.doc_id())));
    // Nobody blocks themselves; nobody changes the creator's role; left is not given.
    assert!(not_allowed(pa.assign_role(&ia, PeerRole::Blocked, None)));
    assert!(not_allowed(pa.assign_role(&ib, PeerRole::Left, None)));
    // A coordinator promotes a member; neither can touch the creator.
    pa.assign_role(&ib, PeerRole::Coordinator, None).unwrap();
    copy_missing(&pa, &pb);
    pb.assign_role(&ic, PeerRole::Coordinator, None).unwrap();
    assert!(not_allowed(pb.assign_role(&ia, PeerRole::Blocked, None)));
    assert!(not_allowed(pb.assign_role(&ib, PeerRole::Member, None)));
    copy_missing(&pb, &pa);
    assert_eq!(pa.role(&ic).unwrap(), PeerRole::Coordinator);
    // A coordinator edits anyone's observation.
    pb.update(&[a_obs.version_id], observation(1.0, 1.0, "b's edit"))
        .unwrap();
}

#[test]
fn member_list_shows_names_roles_and_the_inactive_on_request() {
    let a = Device::new(1);
    let b = Device::new(2);
    let c = Device::new(3);
    for (d, name) in [(&a, "Laptop"), (&b, "Ana"), (&c, "Bo")] {
        d.manager
            .set_device_info(schema::DeviceInfo {
                name: name.into(),
                device_type: schema::DeviceType::Mobile,
            })
            .unwrap();
    }
    let pa = a.manager.create_project(Default::default()).unwrap();
    let details = a.manager.join_details(&pa.id()).unwrap();
    let pb = b.manager.join_project(&details).unwrap();
    let pc = c.manager.join_project(&details).unwrap();
    pa.assign_role(&b.manager.device_id(), PeerRole::Member, None)
        .unwrap();
    pa.assign_role(&c.manager.device_id(), PeerRole::Coordinator, None)
        .unwrap();
    // A joined device writes its name once it has heard from a member (its first sync).
    assert!(pb.is_awaiting_own_entries());
    copy_missing(&pa, &pb);
    copy_missing(&pa, &pc);
    assert!(!pb.is_awaiting_own_entries());
    copy_missing(&pb, &pa);
    copy_missing(&pc, &pa);
    let active = pa.members(false).unwrap();
    let by_name = |n: &str| {
        active
            .iter()
            .find(|m| m.name.as_deref() == Some(n))
            .cloned()
    };
    assert_eq!(active.len(), 3);
    assert_eq!(by_name("Laptop").unwrap().role, PeerRole::Creator);
    assert_eq!(by_name("Ana").unwrap().role, PeerRole::Member);
    assert!(by_name("Ana").unwrap().joined_at.is_some());
    assert_eq!(by_name("Bo").unwrap().role, PeerRole::Coordinator);
    pa.remove_member(&b.manager.device_id(), None).unwrap();
    assert_eq!(pa.members(false).unwrap().len(), 2);
    let all = pa.members(true).unwrap();
    assert_eq!(all.len(), 3);
    assert!(
        all.iter()
            .any(|m| m.name.as_deref() == Some("Ana") && m.role == PeerRole::Blocked)
    );
}

#[test]
fn a_device_learns_its_own_role_changes_including_being_blocked() {
    let a = Device::new(1);
    let b = Device::new(2);
    let (pa, pb) = common::joined_project(&a, &b);
    let mut role = pb.subscribe_own_role();
    assert_eq!(*role.borrow_and_update(), PeerRole::NoRole);
    pa.assign_role(&b.manager.device_id(), PeerRole::Member, None)
        .unwrap();
    copy_missing(&pa, &pb);
    assert!(role.has_changed().unwrap());
    assert_eq!(*role.borrow_and_update(), PeerRole::Member);
    pa.remove_member(&b.manager.device_id(), Some("lost phone".into()))
        .unwrap();
    copy_missing(&pa, &pb);
    assert_eq!(*role.borrow_and_update(), PeerRole::Blocked);
    assert!(matches!(
        pb.create(observation(0.0, 0.0, "after")),
        Err(Error::NotAllowed(_))
    ));
}
