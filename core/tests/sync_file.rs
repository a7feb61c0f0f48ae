//! Sync by file: devices that never connect converge through files alone (random edits on
//! both sides, property-tested, to the state a direct exchange of entries gives); an
//! observation and a photo travel A → file → B → file → C; a tampered byte anywhere, a cut
//! file, another project's file and a removed member's later file change nothing visible; a
//! file written for a have-file holds only what that side lacks; the size limit leaves the
//! largest media out first; a file imported in several groups leaves nothing waiting to
//! enter search.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::media::{jpeg_with_exif, quadrants};
use common::{Device, copy_missing, joined_project, observation, state};
use mapeo_core::schema::{Attachment, DocType, Variant};
use mapeo_core::sync_file::{
    ExportOptions, ExportSummary, Holdings, ImportSummary, MediaChoice, SyncFileError,
};
use mapeo_core::{PeerRole, Project, Query};
use proptest::prelude::*;

fn photo(seed: u32) -> Vec<u8> {
    jpeg_with_exif(&quadrants(640, 480, seed), 1, 85)
}

fn export(p: &Project, path: &Path, options: &ExportOptions) -> ExportSummary {
    p.export_sync_file(path, options, &mut |_| {}).unwrap()
}

fn import(p: &Project, path: &Path) -> Result<ImportSummary, SyncFileError> {
    p.import_sync_file(path, &mut |_| {})
}

fn for_holdings(h: Holdings) -> ExportOptions {
    ExportOptions {
        for_holdings: Some(h),
        ..Default::default()
    }
}

/// Everything a store holds and shows: feeds, documents, complete blobs.
fn snapshot(p: &Project) -> (Holdings, Vec<Vec<mapeo_core::Document>>) {
    (Holdings::of(p).unwrap(), state(p))
}

/// `a` creates a project; `b` joins it and is made a coordinator, learning it from a file.
fn coordinators_by_file(a: &Device, b: &Device, dir: &Path) -> (Arc<Project>, Arc<Project>) {
    let (pa, pb) = joined_project(a, b);
    pa.assign_role(&b.manager.device_id(), PeerRole::Coordinator, None)
        .unwrap();
    let f = dir.join("role.mapeosync");
    export(&pa, &f, &ExportOptions::default());
    import(&pb, &f).unwrap();
    assert_eq!(
        pb.role(&b.manager.device_id()).unwrap(),
        PeerRole::Coordinator
    );
    (pa, pb)
}

fn has(p: &Project, a: &Attachment, v: Variant) -> Option<Vec<u8>> {
    p.attachment_bytes(a, v).unwrap()
}

#[derive(Debug, Clone)]
enum Edit {
    Create(i8),
    Update(usize, i8),
    Delete(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => any::<i8>().prop_map(Edit::Create),
        3 => (any::<usize>(), any::<i8>()).prop_map(|(p, l)| Edit::Update(p, l)),
        1 => any::<usize>().prop_map(Edit::Delete),
    ]
}

fn apply(p: &Project, e: &Edit) {
    let docs = p.list(&Query::all(DocType::Observation)).unwrap();
    match e {
        Edit::Create(lat) => {
            p.create(observation(f64::from(*lat) / 2.0, 1.0, "river"))
                .unwrap();
        }
        Edit::Update(pick, lat) if !docs.is_empty() => {
            let d = &docs[pick % docs.len()];
            p.update(
                &[d.version_id],
                observation(f64::from(*lat) / 2.0, 2.0, "mining"),
            )
            .unwrap();
        }
        Edit::Delete(pick) if !docs.is_empty() => {
            p.delete(&docs[pick % docs.len()].doc.doc_id).unwrap();
        }
        _ => {}
    }
}

fn entries_lacking(have: &Holdings, of: &Holdings) -> u64 {
    of.feeds
        .iter()
        .map(|(k, n)| n.saturating_sub(have.feeds.get(k).copied().unwrap_or(0)))
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    /// Twenty rounds of edits on both sides; each round one file goes A → B and its reply
    /// B → A, each written for what the other side held when it last wrote. Both end with
    /// the state a device that took every entry directly from both has.
    #[test]
    fn two_devices_that_never_meet_converge_through_files_alone(
        rounds in proptest::collection::vec(
            (proptest::collection::vec(edit(), 0..4), proptest::collection::vec(edit(), 0..4)),
            20,
        )
    ) {
        let (a, b, c) = (Device::new(1), Device::new(2), Device::new(3));
        let dir = tempfile::tempdir().unwrap();
        let (pa, pb) = coordinators_by_file(&a, &b, dir.path());
        // What A knows B holds: from B's have-file first, then from each of B's replies.
        let have = dir.path().join("b.have");
        pb.write_have_file(&have).unwrap();
        let mut b_holds = pa.read_sync_file_holdings(&have).unwrap();
        for (i, (on_a, on_b)) in rounds.iter().enumerate() {
            for e in on_a { apply(&pa, e); }
            for e in on_b { apply(&pb, e); }
            let to_b = dir.path().join(format!("a{i}.mapeosync"));
            let holds = b_holds.clone();
            let lacking = entries_lacking(&holds, &Holdings::of(&pa).unwrap());
            let written = export(&pa, &to_b, &for_holdings(holds));
            prop_assert_eq!(written.entries, lacking);
            let got = import(&pb, &to_b).unwrap();
            prop_assert_eq!(got.entries_in_file, lacking);
            let reply = dir.path().join(format!("b{i}.mapeosync"));
            export(&pb, &reply, &for_holdings(got.writer_holds));
            let back = import(&pa, &reply).unwrap();
            b_holds = back.writer_holds;
        }
        prop_assert_eq!(pa.have_vector().unwrap(), pb.have_vector().unwrap());
        let pc = c.manager.join_project(&a.manager.join_details(&pa.id()).unwrap()).unwrap();
        copy_missing(&pa, &pc);
        copy_missing(&pb, &pc);
        prop_assert_eq!(state(&pa), state(&pc));
        prop_assert_eq!(state(&pb), state(&pc));
    }
}

#[test]
fn an_observation_and_its_photo_travel_from_a_to_c_through_b_by_files() {
    let (a, b, c) = (Device::new(1), Device::new(2), Device::new(3));
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = joined_project(&a, &b);
    let pc = c
        .manager
        .join_project(&a.manager.join_details(&pa.id()).unwrap())
        .unwrap();
    pa.assign_role(&b.manager.device_id(), PeerRole::Member, None)
        .unwrap();
    pa.assign_role(&c.manager.device_id(), PeerRole::Member, None)
        .unwrap();
    let shot = pa.add_attachment_from_bytes(&photo(1), "a.jpg").unwrap();
    let obs = pa.create(observation(-3.1, -60.0, "new road")).unwrap();

    let ab = dir.path().join("ab.mapeosync");
    let out = export(&pa, &ab, &ExportOptions::default());
    assert_eq!(out.blobs, 3, "original, preview and thumbnail");
    import(&pb, &ab).unwrap();
    let bc = dir.path().join("bc.mapeosync");
    export(&pb, &bc, &ExportOptions::default());
    let got = import(&pc, &bc).unwrap();
    assert_eq!(got.blobs_added, 3);

    assert_eq!(pc.get(&obs.doc.doc_id).unwrap().doc, obs.doc);
    for v in Variant::ALL {
        assert_eq!(
            has(&pc, &shot, v),
            has(&pa, &shot, v),
            "{v:?} byte for byte"
        );
        assert!(has(&pc, &shot, v).is_some());
    }
}

#[test]
fn importing_the_same_file_twice_changes_nothing_the_second_time() {
    let (a, b) = (Device::new(1), Device::new(2));
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = coordinators_by_file(&a, &b, dir.path());
    pa.add_attachment_from_bytes(&photo(2), "a.jpg").unwrap();
    pa.create(observation(1.0, 2.0, "x")).unwrap();
    let f = dir.path().join("f.mapeosync");
    export(&pa, &f, &ExportOptions::default());
    let first = import(&pb, &f).unwrap();
    assert!(first.entries_added > 0);
    let before = snapshot(&pb);
    let again = import(&pb, &f).unwrap();
    assert_eq!((again.entries_added, again.blobs_added), (0, 0));
    assert_eq!(snapshot(&pb), before);
}

/// A file carrying a role, an observation and a small photo, and a device that lacks them.
struct Carried {
    _dirs: (Device, Device, tempfile::TempDir),
    receiver: Arc<Project>,
    file: PathBuf,
    bytes: Vec<u8>,
}

fn carried() -> Carried {
    let (a, b) = (Device::new(1), Device::new(2));
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = joined_project(&a, &b);
    pa.assign_role(&b.manager.device_id(), PeerRole::Member, None)
        .unwrap();
    pa.add_attachment_from_bytes(&jpeg_with_exif(&quadrants(60, 40, 1), 1, 80), "a.jpg")
        .unwrap();
    pa.create(observation(1.0, 2.0, "sacred site")).unwrap();
    let file = dir.path().join("f.mapeosync");
    export(&pa, &file, &ExportOptions::default());
    let bytes = std::fs::read(&file).unwrap();
    Carried {
        _dirs: (a, b, dir),
        receiver: pb,
        file,
        bytes,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_tampered_byte_anywhere_is_refused_and_changes_nothing(
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let c = carried();
        let before = snapshot(&c.receiver);
        let mut bad = c.bytes.clone();
        let i = at.index(bad.len());
        bad[i] ^= flip;
        std::fs::write(&c.file, &bad).unwrap();
        prop_assert!(import(&c.receiver, &c.file).is_err(), "byte {} changed", i);
        prop_assert_eq!(snapshot(&c.receiver), before);
    }

    #[test]
    fn a_cut_file_is_refused_and_changes_nothing(at in any::<prop::sample::Index>()) {
        let c = carried();
        let before = snapshot(&c.receiver);
        let cut = at.index(c.bytes.len());
        std::fs::write(&c.file, &c.bytes[..cut]).unwrap();
        let refused = import(&c.receiver, &c.file);
        prop_assert!(
            matches!(refused, Err(SyncFileError::Truncated | SyncFileError::NotASyncFile)),
            "cut at {}: {:?}", cut, refused
        );
        prop_assert_eq!(snapshot(&c.receiver), before);
    }
}

#[test]
fn a_file_of_another_project_is_refused_and_changes_nothing() {
    let c = carried();
    let other = Device::new(7);
    let elsewhere = other.manager.create_project(Default::default()).unwrap();
    elsewhere.create(observation(1.0, 1.0, "x")).unwrap();
    let before = snapshot(&elsewhere);
    assert!(matches!(
        import(&elsewhere, &c.file),
        Err(SyncFileError::WrongProject)
    ));
    assert_eq!(snapshot(&elsewhere), before);
    assert!(matches!(
        elsewhere.read_sync_file_holdings(&c.file),
        Err(SyncFileError::WrongProject)
    ));
}

#[test]
fn what_a_removed_member_writes_after_its_removal_never_shows() {
    let (a, m) = (Device::new(1), Device::new(2));
    let dir = tempfile::tempdir().unwrap();
    let (pa, pm) = joined_project(&a, &m);
    pa.assign_role(&m.manager.device_id(), PeerRole::Member, None)
        .unwrap();
    let f = dir.path().join("role.mapeosync");
    export(&pa, &f, &ExportOptions::default());
    import(&pm, &f).unwrap();
    let kept = pm.create(observation(1.0, 1.0, "before")).unwrap();
    let early = dir.path().join("early.mapeosync");
    export(&pm, &early, &ExportOptions::default());
    import(&pa, &early).unwrap();
    assert!(pa.get(&kept.doc.doc_id).is_ok());

    pa.remove_member(&m.manager.device_id(), None).unwrap();
    let before: Vec<_> = state(&pa);
    // The member has not heard yet and writes on.
    let late = pm.create(observation(2.0, 2.0, "after")).unwrap();
    let file = dir.path().join("late.mapeosync");
    export(&pm, &file, &ExportOptions::default());
    import(&pa, &file).unwrap();
    assert!(
        pa.get(&late.doc.doc_id).is_err(),
        "a removed member's write shows"
    );
    assert_eq!(state(&pa), before);
}

#[test]
fn a_file_for_a_have_file_holds_only_what_that_side_lacks() {
    let (a, b) = (Device::new(1), Device::new(2));
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = coordinators_by_file(&a, &b, dir.path());
    for i in 0..30 {
        pa.create(observation(f64::from(i), 0.0, "a")).unwrap();
    }
    let first = dir.path().join("first.mapeosync");
    export(&pa, &first, &ExportOptions::default());
    import(&pb, &first).unwrap();
    for i in 0..7 {
        pa.create(observation(f64::from(i), 1.0, "more")).unwrap();
    }
    pb.create(observation(5.0, 5.0, "b's own")).unwrap();

    let have = dir.path().join("b.have");
    pb.write_have_file(&have).unwrap();
    let holds = pa.read_sync_file_holdings(&have).unwrap();
    assert_eq!(holds, Holdings::of(&pb).unwrap());
    let file = dir.path().join("for-b.mapeosync");
    let out = export(&pa, &file, &for_holdings(holds));
    assert_eq!(out.entries, 7, "only the seven new observations");
    let got = import(&pb, &file).unwrap();
    assert_eq!((got.entries_in_file, got.entries_added), (7, 7));
    assert_eq!(
        pb.list(&Query::all(DocType::Observation)).unwrap().len(),
        30 + 7 + 1
    );
}

#[test]
fn a_size_limit_leaves_the_largest_media_out_first_and_says_which() {
    let (a, b) = (Device::new(1), Device::new(2));
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = coordinators_by_file(&a, &b, dir.path());
    let shot = pa.add_attachment_from_bytes(&photo(3), "a.jpg").unwrap();
    let sizes = pa.attachment_variants(&shot).unwrap().unwrap();
    let original = sizes.variant(Variant::Original).unwrap().size;
    let small = dir.path().join("small.mapeosync");
    let no_media = export(
        &pa,
        &small,
        &ExportOptions {
            media: MediaChoice::None,
            ..Default::default()
        },
    );
    // Room for everything but the original.
    let limit = no_media.file_bytes + 2 * 1024 + sizes.variants.iter().map(|v| v.size).sum::<u64>()
        - original;
    let f = dir.path().join("limited.mapeosync");
    let out = export(
        &pa,
        &f,
        &ExportOptions {
            max_bytes: Some(limit),
            ..Default::default()
        },
    );
    assert!(out.file_bytes <= limit);
    assert_eq!(out.left_out.len(), 1);
    assert_eq!(out.left_out[0].variant, Variant::Original);
    import(&pb, &f).unwrap();
    assert!(has(&pb, &shot, Variant::Original).is_none());
    assert_eq!(
        has(&pb, &shot, Variant::Preview),
        has(&pa, &shot, Variant::Preview)
    );

    let tiny = ExportOptions {
        max_bytes: Some(10),
        ..Default::default()
    };
    assert!(matches!(
        pa.export_sync_file(&dir.path().join("tiny"), &tiny, &mut |_| {}),
        Err(SyncFileError::LimitTooSmall)
    ));
    assert!(!dir.path().join("tiny").exists());
    assert!(!dir.path().join("tiny.part").exists());
}

#[test]
fn previews_only_carries_no_originals() {
    let (a, b) = (Device::new(1), Device::new(2));
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = coordinators_by_file(&a, &b, dir.path());
    let shot = pa.add_attachment_from_bytes(&photo(4), "a.jpg").unwrap();
    let f = dir.path().join("p.mapeosync");
    let out = export(
        &pa,
        &f,
        &ExportOptions {
            media: MediaChoice::Previews,
            ..Default::default()
        },
    );
    assert_eq!(out.blobs, 2);
    import(&pb, &f).unwrap();
    assert!(has(&pb, &shot, Variant::Original).is_none());
    assert!(has(&pb, &shot, Variant::Thumbnail).is_some());
}

/// A stop at any point of an import (here: a panic from the progress listener, which
/// unwinds out of the import as a kill would end it) leaves a store that is consistent and
/// that importing the file again completes, to the same state as one clean import.
#[test]
fn an_import_stopped_at_any_point_is_completed_by_importing_again() {
    let (a, b) = (Device::new(1), Device::new(2));
    let dir = tempfile::tempdir().unwrap();
    let (pa, _) = coordinators_by_file(&a, &b, dir.path());
    let video = pa
        .add_attachment_from_bytes(&common::media::fake_mp4(3_500_000, 9), "v.mp4")
        .unwrap();
    for i in 0..40 {
        pa.create(observation(f64::from(i), 3.0, "patrol")).unwrap();
    }
    let f = dir.path().join("f.mapeosync");
    export(&pa, &f, &ExportOptions::default());
    let mut reports = 0;
    let clean = Device::new(3);
    let pclean = clean
        .manager
        .join_project(&a.manager.join_details(&pa.id()).unwrap())
        .unwrap();
    pclean.import_sync_file(&f, &mut |_| reports += 1).unwrap();
    let expected = snapshot(&pclean);
    assert!(has(&pclean, &video, Variant::Original).is_some());

    for stop_at in [1, reports / 2, reports - 3, reports - 2, reports - 1] {
        let c = Device::new(4);
        let pc = c
            .manager
            .join_project(&a.manager.join_details(&pa.id()).unwrap())
            .unwrap();
        let mut seen = 0;
        let stopped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pc.import_sync_file(&f, &mut |_| {
                seen += 1;
                if seen == stop_at {
                    panic!("stopped");
                }
            })
        }));
        assert!(stopped.is_err(), "stopped at report {stop_at}");
        assert!(pc.check_integrity().unwrap());
        import(&pc, &f).unwrap();
        assert_eq!(snapshot(&pc), expected, "after a stop at report {stop_at}");
        assert_eq!(
            has(&pc, &video, Variant::Original),
            has(&pa, &video, Variant::Original)
        );
    }
}

/// A file imported in several groups (more entries than one transaction takes): its
/// observations wait to enter area and text search between groups, and the last group
/// brings every one in.
#[test]
fn every_observation_of_a_large_file_is_in_search_after_its_import() {
    let (a, b) = (Device::new(1), Device::new(2));
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = coordinators_by_file(&a, &b, dir.path());
    pa.create_many(
        (0..6000)
            .map(|i| observation(f64::from(i % 80), f64::from(i / 80), "patrol"))
            .collect(),
    )
    .unwrap();
    let f = dir.path().join("f.mapeosync");
    export(&pa, &f, &ExportOptions::default());
    assert_eq!(import(&pb, &f).unwrap().entries_added, 6000);
    assert_eq!(pb.search_backlog().unwrap(), 0);
    let mut q = Query::all(DocType::Observation);
    q.text = Some("patrol".into());
    assert_eq!(pb.list(&q).unwrap().len(), 6000);
}
