//! Removal that locks out: key epochs across devices, through `Project::import` (the path
//! both live sync and sync files use).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{Device, copy_missing, observation, observations_sorted};
use mapeo_core::PeerRole;
use mapeo_core::feed::FeedKeys;

#[test]
fn a_removed_member_cannot_read_what_is_written_after_its_removal() {
    let (a, b, x) = (Device::new(1), Device::new(2), Device::new(3));
    let pa = a.manager.create_project(Default::default()).unwrap();
    let details = a.manager.join_details(&pa.id()).unwrap();
    let pb = b.manager.join_project(&details).unwrap();
    let px = x.manager.join_project(&details).unwrap();
    for d in [&b, &x] {
        pa.assign_role(&d.manager.device_id(), PeerRole::Member, None)
            .unwrap();
    }
    pa.create(observation(1.0, 1.0, "before")).unwrap();
    copy_missing(&pa, &pb);
    copy_missing(&pa, &px);
    assert_eq!(pa.current_epoch().unwrap(), (None, true));

    pa.remove_member(&x.manager.device_id(), None).unwrap();
    let (epoch, held) = pa.current_epoch().unwrap();
    assert!(epoch.is_some() && held);
    pa.create(observation(2.0, 2.0, "after")).unwrap();

    // The remaining member gets everything, old and new.
    copy_missing(&pa, &pb);
    assert_eq!(pb.current_epoch().unwrap(), (epoch, true));
    assert_eq!(observations_sorted(&pb), observations_sorted(&pa));
    assert_eq!(observations_sorted(&pb).len(), 2);

    // The removed member takes every raw entry from a remaining member's store and tries the
    // old (project) keys: what was written after the removal does not open.
    let old_keys = FeedKeys::new(&details.project_key());
    let mut opened_after = 0;
    let mut sealed_after = 0;
    for ((author, ns), len) in pb.have_vector().unwrap() {
        for e in pb.read_entries(&author, ns, 0, len).unwrap() {
            if mapeo_core::feed::parse_epoch_header(&e.payload).is_some() {
                sealed_after += 1;
                if old_keys.open_payload(&e).is_ok() {
                    opened_after += 1;
                }
            }
        }
    }
    assert!(sealed_after >= 1);
    assert_eq!(opened_after, 0);
    // Nor does its own project, given the entries: they are kept but never shown.
    copy_missing(&pb, &px);
    assert_eq!(px.current_epoch().unwrap(), (epoch, false));
    assert!(!format!("{:?}", observations_sorted(&px)).contains("after"));
}

#[test]
fn an_offline_member_catches_up_and_a_reinvited_device_reads_new_data() {
    let (a, b, x) = (Device::new(11), Device::new(12), Device::new(13));
    let pa = a.manager.create_project(Default::default()).unwrap();
    let details = a.manager.join_details(&pa.id()).unwrap();
    let pb = b.manager.join_project(&details).unwrap();
    let px = x.manager.join_project(&details).unwrap();
    for d in [&b, &x] {
        pa.assign_role(&d.manager.device_id(), PeerRole::Member, None)
            .unwrap();
    }
    copy_missing(&pa, &pb);
    copy_missing(&pa, &px);
    // b is offline while x is removed and data is written.
    pa.remove_member(&x.manager.device_id(), None).unwrap();
    pa.create(observation(3.0, 3.0, "while b was away"))
        .unwrap();
    // Data first, auth later (as a sync file might deliver it): nothing is lost.
    let mut entries = Vec::new();
    for ((author, ns), len) in pa.have_vector().unwrap() {
        entries.extend(pa.read_entries(&author, ns, 0, len).unwrap());
    }
    entries.sort_by_key(|e| e.namespace == mapeo_core::Namespace::Auth);
    let data: Vec<_> = entries
        .iter()
        .filter(|e| e.namespace != mapeo_core::Namespace::Auth)
        .cloned()
        .collect();
    pb.import(&data).unwrap();
    copy_missing(&pa, &pb);
    assert_eq!(observations_sorted(&pb), observations_sorted(&pa));
    assert!(pb.current_epoch().unwrap().1);

    // x is invited again: it gets the current epoch's secret and reads the new data.
    pa.assign_role(&x.manager.device_id(), PeerRole::Member, None)
        .unwrap();
    copy_missing(&pa, &px);
    assert_eq!(
        px.current_epoch().unwrap(),
        (pa.current_epoch().unwrap().0, true)
    );
    assert_eq!(observations_sorted(&px), observations_sorted(&pa));
}

#[test]
fn concurrent_removals_by_two_coordinators_converge() {
    let devices: Vec<Device> = (21..25).map(Device::new).collect();
    let pa = devices[0]
        .manager
        .create_project(Default::default())
        .unwrap();
    let details = devices[0].manager.join_details(&pa.id()).unwrap();
    let ps: Vec<_> = devices[1..]
        .iter()
        .map(|d| d.manager.join_project(&details).unwrap())
        .collect();
    let (pc, pm1, pm2) = (&ps[0], &ps[1], &ps[2]);
    pa.assign_role(&devices[1].manager.device_id(), PeerRole::Coordinator, None)
        .unwrap();
    for d in &devices[2..] {
        pa.assign_role(&d.manager.device_id(), PeerRole::Member, None)
            .unwrap();
    }
    for p in &ps {
        copy_missing(&pa, p);
    }
    // Each coordinator removes a different member without hearing of the other's removal.
    pa.remove_member(&devices[2].manager.device_id(), None)
        .unwrap();
    pc.remove_member(&devices[3].manager.device_id(), None)
        .unwrap();
    copy_missing(&pa, pc);
    copy_missing(pc, &pa);
    let (epoch, held) = pa.current_epoch().unwrap();
    assert!(held);
    assert_eq!(pc.current_epoch().unwrap(), (epoch, true));
    pa.create(observation(4.0, 4.0, "merged")).unwrap();
    // The removed ones, given everything, cannot compute the merged epoch.
    for p in [pm1, pm2] {
        copy_missing(&pa, p);
        assert_eq!(p.current_epoch().unwrap(), (epoch, false));
        assert!(!format!("{:?}", observations_sorted(p)).contains("merged"));
    }
    copy_missing(&pa, pc);
    assert_eq!(observations_sorted(pc), observations_sorted(&pa));
}

#[test]
fn a_member_added_while_another_coordinator_removes_someone_gets_the_epoch_by_healing() {
    let (a, c, x, m) = (
        Device::new(1),
        Device::new(2),
        Device::new(3),
        Device::new(4),
    );
    let pa = a.manager.create_project(Default::default()).unwrap();
    let details = a.manager.join_details(&pa.id()).unwrap();
    let pc = c.manager.join_project(&details).unwrap();
    let pm = m.manager.join_project(&details).unwrap();
    pa.assign_role(&c.manager.device_id(), PeerRole::Coordinator, None)
        .unwrap();
    pa.assign_role(&x.manager.device_id(), PeerRole::Member, None)
        .unwrap();
    copy_missing(&pa, &pc);
    // Offline from each other: the creator adds m; the coordinator, not knowing of m,
    // removes x and writes in the new epoch, which is therefore not sealed to m.
    pa.assign_role(&m.manager.device_id(), PeerRole::Member, None)
        .unwrap();
    pc.remove_member(&x.manager.device_id(), None).unwrap();
    pc.create(observation(3.0, 3.0, "after removal")).unwrap();
    let (epoch, _) = pc.current_epoch().unwrap();
    assert!(epoch.is_some());

    // m meets only the coordinator, and gets the creator's record of its role with it
    // later: before any healing it cannot read the coordinator's observation.
    copy_missing(&pa, &pm);
    copy_missing(&pc, &pm);
    assert_eq!(pm.current_epoch().unwrap(), (epoch, false));
    assert!(observations_sorted(&pm).is_empty());

    // The coordinator learns of m (a sync with the creator) and heals: m reads it all.
    copy_missing(&pa, &pc);
    copy_missing(&pc, &pm);
    assert_eq!(pm.current_epoch().unwrap(), (epoch, true));
    assert_eq!(observations_sorted(&pm), observations_sorted(&pc));
    assert_eq!(observations_sorted(&pm).len(), 1);
    // Healing stops once every member holds the secret: another exchange writes nothing.
    let before = pc.have_vector().unwrap();
    copy_missing(&pa, &pc);
    copy_missing(&pm, &pc);
    assert_eq!(pc.have_vector().unwrap(), before);
    // Nor does the creator grant again what the coordinator's healing gave.
    copy_missing(&pc, &pa);
    assert_eq!(pa.have_vector().unwrap(), before);
}

/// A coordinator, a member and a member about to be removed, all holding the same project
/// and its first observation.
fn three_members(
    seeds: [u8; 3],
) -> (
    [Device; 3],
    [std::sync::Arc<mapeo_core::Project>; 3],
    mapeo_core::JoinDetails,
) {
    let devices = seeds.map(Device::new);
    let pa = devices[0]
        .manager
        .create_project(Default::default())
        .unwrap();
    let details = devices[0].manager.join_details(&pa.id()).unwrap();
    let pb = devices[1].manager.join_project(&details).unwrap();
    let px = devices[2].manager.join_project(&details).unwrap();
    for d in &devices[1..] {
        pa.assign_role(&d.manager.device_id(), PeerRole::Member, None)
            .unwrap();
    }
    pa.create(observation(1.0, 1.0, "before")).unwrap();
    copy_missing(&pa, &pb);
    copy_missing(&pa, &px);
    (devices, [pa, pb, px], details)
}

#[test]
fn a_removal_reaches_an_offline_member_by_sync_file_and_the_removed_one_reads_nothing_new() {
    let (_devices, [pa, pb, px], _) = three_members([21, 22, 23]);
    pa.remove_member(&px.device_id(), None).unwrap();
    pa.create(observation(2.0, 2.0, "after")).unwrap();
    let (epoch, _) = pa.current_epoch().unwrap();
    assert!(epoch.is_some());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("from-the-coordinator.mapeosync");
    pa.export_sync_file(&file, &Default::default(), &mut |_| {})
        .unwrap();
    // The member who was away takes the file in: the new epoch, and what was written in it.
    pb.import_sync_file(&file, &mut |_| {}).unwrap();
    assert_eq!(pb.current_epoch().unwrap(), (epoch, true));
    assert_eq!(observations_sorted(&pb), observations_sorted(&pa));
    assert!(format!("{:?}", observations_sorted(&pb)).contains("after"));
    // The removed member gets the same file: it takes the entries in but cannot open the new
    // one, and holds no secret of the new epoch.
    px.import_sync_file(&file, &mut |_| {}).unwrap();
    assert_eq!(px.current_epoch().unwrap(), (epoch, false));
    let seen = format!("{:?}", observations_sorted(&px));
    assert!(seen.contains("before") && !seen.contains("after"), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_reaches_a_member_over_a_live_sync_on_loopback() {
    let wait = std::time::Duration::from_secs(20);
    let ([a, b, _x], [pa, pb, px], _) = three_members([31, 32, 33]);
    pa.remove_member(&px.device_id(), None).unwrap();
    pa.create(observation(2.0, 2.0, "after")).unwrap();
    let (epoch, _) = pa.current_epoch().unwrap();
    a.manager.start_sync(&pa.id()).unwrap();
    b.manager.start_sync(&pb.id()).unwrap();
    let addr = a.manager.start_listening(common::loopback()).await.unwrap();
    b.manager.connect(addr).await.unwrap();
    b.manager
        .wait_for_sync(&pb.id(), mapeo_core::sync::SyncPhase::Full, wait)
        .await
        .unwrap();
    assert_eq!(pb.current_epoch().unwrap(), (epoch, true));
    assert_eq!(observations_sorted(&pb), observations_sorted(&pa));
    // Written by the member in the new epoch, read back by the coordinator.
    let reply = pb
        .create(observation(3.0, 3.0, "reply in the new epoch"))
        .unwrap();
    common::eventually("the reply", wait, || pa.get(reply.doc_id()).is_ok()).await;
    assert_eq!(observations_sorted(&pb), observations_sorted(&pa));
}
