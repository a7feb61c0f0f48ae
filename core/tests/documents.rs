//! Documents through a project: create, read, update, delete, forks, queries, reindex and
//! restart.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{Device, T0, copy_missing, observation};
use mapeo_core::schema::{DocType, DocValue, Geometry, Preset, TagValue};
use mapeo_core::{BoundingBox, DocId, Error, Query};

fn notes(d: &mapeo_core::Document) -> String {
    match d.value() {
        DocValue::Observation(o) => match o.tags.get("notes") {
            Some(TagValue::String(s)) => s.clone(),
            other => panic!("no notes: {other:?}"),
        },
        other => panic!("not an observation: {other:?}"),
    }
}

#[test]
fn create_get_update_delete_an_observation() {
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let created = p.create(observation(1.5, 2.5, "first")).unwrap();
    assert_eq!(created.created_by, dev.manager.device_id());
    assert_eq!(created.doc.links, vec![]);
    let got = p.get(created.doc_id()).unwrap();
    assert_eq!(got, created);

    let updated = p
        .update(&[created.version_id], observation(1.5, 2.5, "second"))
        .unwrap();
    assert_eq!(updated.doc_id(), created.doc_id());
    assert_eq!(updated.doc.links, vec![created.version_id]);
    assert_eq!(updated.doc.created_at, created.doc.created_at);
    assert!(updated.doc.updated_at > created.doc.updated_at);
    assert_eq!(notes(&p.get(created.doc_id()).unwrap()), "second");
    // The old version is still readable by its id.
    assert_eq!(notes(&p.get_version(&created.version_id).unwrap()), "first");

    let deleted = p.delete(created.doc_id()).unwrap();
    assert!(deleted.doc.deleted);
    assert_eq!(deleted.doc.links, vec![updated.version_id]);
    assert!(matches!(
        p.get(created.doc_id()),
        Err(Error::NotFound { .. })
    ));
    assert!(
        p.get_including_deleted(created.doc_id())
            .unwrap()
            .doc
            .deleted
    );
    assert!(
        p.list(&Query::all(DocType::Observation))
            .unwrap()
            .is_empty()
    );
    let mut with_deleted = Query::all(DocType::Observation);
    with_deleted.include_deleted = true;
    assert_eq!(p.list(&with_deleted).unwrap().len(), 1);
}

#[test]
fn concurrent_edits_make_forks_and_the_same_winner_everywhere() {
    let a = Device::new(1);
    let b = Device::new(2);
    let (pa, pb) = common::coordinators(&a, &b);
    let original = pa.create(observation(0.0, 0.0, "original")).unwrap();
    copy_missing(&pa, &pb);
    // Both edit the same head offline, at the same millisecond: the version id breaks the tie.
    a.set_clock(T0 + 10_000, 0);
    b.set_clock(T0 + 10_000, 0);
    let va = pa
        .update(&[original.version_id], observation(0.0, 0.0, "from a"))
        .unwrap();
    let vb = pb
        .update(&[original.version_id], observation(0.0, 0.0, "from b"))
        .unwrap();
    copy_missing(&pa, &pb);
    copy_missing(&pb, &pa);
    let on_a = pa.get(original.doc_id()).unwrap();
    let on_b = pb.get(original.doc_id()).unwrap();
    assert_eq!(on_a, on_b);
    let winner = va.version_id.max(vb.version_id);
    let loser = va.version_id.min(vb.version_id);
    assert_eq!(on_a.version_id, winner);
    assert_eq!(on_a.forks, vec![loser]);
    assert_eq!(on_a.created_by, a.manager.device_id());

    // A later timestamp wins regardless of version id.
    b.set_clock(T0 + 20_000, 1);
    let newer = pb.update(&[loser], observation(0.0, 0.0, "newer")).unwrap();
    copy_missing(&pb, &pa);
    let merged_view = pa.get(original.doc_id()).unwrap();
    assert_eq!(merged_view.version_id, newer.version_id);
    assert_eq!(merged_view.forks, vec![winner]);
    assert_eq!(merged_view.updated_by, b.manager.device_id());

    // Merging: an update linking both heads ends the fork.
    let merged = pa
        .update(&[newer.version_id, winner], observation(0.0, 0.0, "merged"))
        .unwrap();
    assert!(merged.forks.is_empty());
    copy_missing(&pa, &pb);
    assert_eq!(
        pb.get(original.doc_id()).unwrap(),
        pa.get(original.doc_id()).unwrap()
    );
}

#[test]
fn delete_replaces_every_head() {
    let a = Device::new(1);
    let b = Device::new(2);
    let (pa, pb) = common::coordinators(&a, &b);
    let doc = pa.create(observation(0.0, 0.0, "x")).unwrap();
    copy_missing(&pa, &pb);
    pa.update(&[doc.version_id], observation(0.0, 0.0, "a"))
        .unwrap();
    pb.update(&[doc.version_id], observation(0.0, 0.0, "b"))
        .unwrap();
    copy_missing(&pb, &pa);
    assert_eq!(pa.get(doc.doc_id()).unwrap().forks.len(), 1);
    let tomb = pa.delete(doc.doc_id()).unwrap();
    assert_eq!(tomb.doc.links.len(), 2);
    assert!(tomb.forks.is_empty());
    assert!(pa.get(doc.doc_id()).is_err());
}

fn seeded_project(dev: &Device) -> (std::sync::Arc<mapeo_core::Project>, DocId) {
    let p = dev.manager.create_project(Default::default()).unwrap();
    let preset = p
        .create(DocValue::Preset(Preset {
            name: "River pollution".into(),
            geometry: vec![Geometry::Point],
            ..Default::default()
        }))
        .unwrap();
    let pref = mapeo_core::schema::DocRef {
        doc_id: preset.doc_id().clone(),
        version_id: preset.version_id,
    };
    let places = [
        (-3.10, -60.02, "Mining camp near the río Negro"),
        (-3.12, -60.05, "Oil on the water, fish dead"),
        (-2.50, -59.00, "Logging road, fresh cuts"),
        (10.00, 170.00, "Across the world"),
        (10.00, -175.00, "Other side of the antimeridian"),
    ];
    for (i, (lat, lon, text)) in places.iter().enumerate() {
        let mut v = observation(*lat, *lon, text);
        if i < 2
            && let DocValue::Observation(o) = &mut v
        {
            o.preset_ref = Some(pref.clone());
        }
        p.create(v).unwrap();
    }
    (p, preset.doc_id().clone())
}

#[test]
fn observation_queries_filter_by_area_time_preset_and_text() {
    let dev = Device::new(1);
    let (p, preset) = seeded_project(&dev);
    let all = p.list(&Query::all(DocType::Observation)).unwrap();
    assert_eq!(all.len(), 5);
    // Newest first.
    assert!(
        all.windows(2)
            .all(|w| w[0].doc.created_at >= w[1].doc.created_at)
    );
    assert_eq!(notes(&all[0]), "Other side of the antimeridian");

    let mut q = Query::all(DocType::Observation);
    q.bbox = Some(BoundingBox {
        south: -3.2,
        west: -60.1,
        north: -3.0,
        east: -60.0,
    });
    let mut found: Vec<String> = p.list(&q).unwrap().iter().map(notes).collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            "Mining camp near the río Negro",
            "Oil on the water, fish dead"
        ]
    );

    let mut q = Query::all(DocType::Observation);
    q.bbox = Some(BoundingBox {
        south: 0.0,
        west: 160.0,
        north: 20.0,
        east: -170.0,
    });
    assert_eq!(
        p.list(&q).unwrap().len(),
        2,
        "a box across the antimeridian"
    );

    let mut q = Query::all(DocType::Observation);
    q.preset = Some(preset);
    assert_eq!(p.list(&q).unwrap().len(), 2);

    let mut q = Query::all(DocType::Observation);
    q.text = Some("rio negro".into());
    let hits = p.list(&q).unwrap();
    assert_eq!(hits.len(), 1, "diacritics and case are ignored");
    q.text = Some("fis".into());
    assert_eq!(
        notes(&p.list(&q).unwrap()[0]),
        "Oil on the water, fish dead"
    );
    q.text = Some("nothing-like-this".into());
    assert!(p.list(&q).unwrap().is_empty());

    let mut q = Query::all(DocType::Observation);
    q.created_after = Some(all[2].doc.created_at);
    q.created_before = Some(all[0].doc.created_at);
    let window: Vec<_> = p.list(&q).unwrap().iter().map(|d| d.version_id).collect();
    assert_eq!(window, vec![all[1].version_id, all[2].version_id]);

    let mut q = Query::all(DocType::Observation);
    q.limit = 2;
    q.offset = 1;
    let page: Vec<_> = p.list(&q).unwrap().iter().map(|d| d.version_id).collect();
    assert_eq!(page, vec![all[1].version_id, all[2].version_id]);
}

#[test]
fn an_observation_on_the_edge_of_an_area_is_inside_it() {
    // Coordinates that no 32-bit float holds exactly: a spatial index that rounds them
    // (as SQLite's R*Tree does, outwards) puts the point outside a box whose edge it is on.
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    p.create(observation(-3.1, -60.3, "On the edge")).unwrap();
    p.create(observation(-3.1000001, -60.3, "Just south of it"))
        .unwrap();
    let found = |south, west, north, east| {
        let mut q = Query::all(DocType::Observation);
        q.bbox = Some(BoundingBox {
            south,
            west,
            north,
            east,
        });
        let mut found: Vec<String> = p.list(&q).unwrap().iter().map(notes).collect();
        found.sort();
        found
    };
    // On the southern and eastern edges, on the northern and western ones, and a box that
    // is the point itself.
    assert_eq!(found(-3.1, -60.4, -3.0, -60.3), ["On the edge"]);
    assert_eq!(
        found(-3.2, -60.3, -3.1, -60.2),
        ["Just south of it", "On the edge"]
    );
    assert_eq!(found(-3.1, -60.3, -3.1, -60.3), ["On the edge"]);
}

#[test]
fn an_edited_or_deleted_observation_leaves_the_area_and_text_indexes() {
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let d = p.create(observation(5.0, 5.0, "sacred tree")).unwrap();
    p.update(&[d.version_id], observation(-5.0, -5.0, "moved stone"))
        .unwrap();
    let mut q = Query::all(DocType::Observation);
    q.bbox = Some(BoundingBox {
        south: 4.0,
        west: 4.0,
        north: 6.0,
        east: 6.0,
    });
    assert!(p.list(&q).unwrap().is_empty());
    let mut t = Query::all(DocType::Observation);
    t.text = Some("tree".into());
    assert!(p.list(&t).unwrap().is_empty());
    t.text = Some("stone".into());
    assert_eq!(p.list(&t).unwrap().len(), 1);
    p.delete(d.doc_id()).unwrap();
    assert!(p.list(&t).unwrap().is_empty());
}

#[test]
fn queries_that_make_no_sense_are_errors() {
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let mut q = Query::all(DocType::Preset);
    q.text = Some("x".into());
    assert!(matches!(p.list(&q), Err(Error::InvalidQuery(_))));
    let mut q = Query::all(DocType::Observation);
    q.bbox = Some(BoundingBox {
        south: 10.0,
        west: 0.0,
        north: -10.0,
        east: 1.0,
    });
    assert!(matches!(p.list(&q), Err(Error::InvalidQuery(_))));
    q.bbox = Some(BoundingBox {
        south: -100.0,
        west: 0.0,
        north: 10.0,
        east: 1.0,
    });
    assert!(matches!(p.list(&q), Err(Error::InvalidQuery(_))));
}

#[test]
fn reindex_rebuilds_an_identical_index() {
    let a = Device::new(1);
    let b = Device::new(2);
    let (pa, _) = seeded_project(&a);
    let pb = b
        .manager
        .join_project(&a.manager.join_details(&pa.id()).unwrap())
        .unwrap();
    pa.assign_role(
        &b.manager.device_id(),
        mapeo_core::PeerRole::Coordinator,
        None,
    )
    .unwrap();
    copy_missing(&pa, &pb);
    let first = pa.list(&Query::all(DocType::Observation)).unwrap()[0].clone();
    pb.update(&[first.version_id], observation(1.0, 1.0, "edited on b"))
        .unwrap();
    pa.update(&[first.version_id], observation(1.0, 1.0, "edited on a"))
        .unwrap();
    pa.delete(pa.list(&Query::all(DocType::Observation)).unwrap()[3].doc_id())
        .unwrap();
    copy_missing(&pb, &pa);
    let before = common::state(&pa);
    assert!(before[0].iter().any(|d| !d.forks.is_empty()));
    pa.reindex().unwrap();
    assert_eq!(common::state(&pa), before);
}

#[test]
fn a_thousand_observations_survive_a_restart() {
    let mut dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let id = p.id();
    let values = (0..1000)
        .map(|i| observation(f64::from(i) / 100.0, 0.0, &format!("obs {i}")))
        .collect();
    p.create_many(values).unwrap();
    let before = p.list(&Query::all(DocType::Observation)).unwrap();
    let have = p.have_vector().unwrap();
    drop(p);
    dev.restart();
    let p = dev.manager.open_project(&id).unwrap();
    assert_eq!(p.list(&Query::all(DocType::Observation)).unwrap(), before);
    assert_eq!(p.have_vector().unwrap(), have);
    assert_eq!(before.len(), 1000);
    assert!(p.check_integrity().unwrap());
}

#[test]
fn observations_not_yet_in_the_area_and_text_indexes_at_a_restart_are_found_after_it() {
    // Fewer changes than a batch: they wait, staged in memory by the process that wrote
    // them, for the next query. After a restart that staging is gone and they come from
    // the stored documents instead.
    let mut dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let id = p.id();
    let moved = p.create(observation(5.0, 5.0, "sacred tree")).unwrap();
    p.create(observation(1.0, 1.0, "river bend")).unwrap();
    p.update(&[moved.version_id], observation(-5.0, -5.0, "moved stone"))
        .unwrap();
    drop(p);
    dev.restart();
    let p = dev.manager.open_project(&id).unwrap();
    let area = |south: f64, north: f64| {
        let mut q = Query::all(DocType::Observation);
        q.bbox = Some(BoundingBox {
            south,
            west: south,
            north,
            east: north,
        });
        p.list(&q).unwrap().iter().map(notes).collect::<Vec<_>>()
    };
    assert_eq!(area(-6.0, -4.0), vec!["moved stone".to_owned()]);
    assert!(area(4.0, 6.0).is_empty());
    assert_eq!(area(0.0, 2.0), vec!["river bend".to_owned()]);
    let mut t = Query::all(DocType::Observation);
    t.text = Some("tree".into());
    assert!(p.list(&t).unwrap().is_empty());
    t.text = Some("river".into());
    assert_eq!(p.list(&t).unwrap().len(), 1);
}

#[test]
fn a_typed_delete_refuses_a_document_of_another_type_and_changes_nothing() {
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let obs = p.create(observation(1.5, 2.5, "keep me")).unwrap();
    let before = p.have_vector().unwrap();
    assert!(matches!(
        p.delete_of_type(obs.doc_id(), DocType::Preset),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(p.have_vector().unwrap(), before, "nothing was written");
    assert_eq!(p.get(obs.doc_id()).unwrap(), obs);
    let deleted = p
        .delete_of_type(obs.doc_id(), DocType::Observation)
        .unwrap();
    assert!(deleted.doc.deleted);
    assert!(matches!(p.get(obs.doc_id()), Err(Error::NotFound { .. })));
}

/// Listing while entries from new feeds are being imported (a sync in progress): every list
/// sees one consistent state. Reading the documents and the feeds they name in two
/// snapshots once met a document from a feed that "did not exist".
#[test]
fn listing_during_imports_from_new_feeds_sees_one_consistent_state() {
    let a = Device::new(1);
    let pa = a.manager.create_project(Default::default()).unwrap();
    let details = a.manager.join_details(&pa.id()).unwrap();
    let writers: Vec<(Device, std::sync::Arc<mapeo_core::Project>)> = (0..12)
        .map(|i| {
            let d = Device::new(10 + i);
            let p = d.manager.join_project(&details).unwrap();
            pa.assign_role(&d.manager.device_id(), mapeo_core::PeerRole::Member, None)
                .unwrap();
            copy_missing(&pa, &p);
            for j in 0..10 {
                p.create(observation(f64::from(i), f64::from(j), "from a new feed"))
                    .unwrap();
            }
            (d, p)
        })
        .collect();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let lister = s.spawn(|| {
            let mut lists = 0u32;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                pa.list(&Query::all(DocType::Observation))
                    .unwrap_or_else(|e| panic!("list {lists} failed: {e}"));
                lists += 1;
            }
            lists
        });
        for (_, p) in &writers {
            copy_missing(p, &pa);
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(lister.join().unwrap() > 0);
    });
    assert_eq!(
        pa.list(&Query::all(DocType::Observation)).unwrap().len(),
        120
    );
}
