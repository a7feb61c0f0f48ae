//! Patrol recording: positions filtered as they come, written to disk at once so an app that
//! is killed or dropped mid-walk resumes with every kept point, a write cut short by a crash
//! dropped, and the patrol saved as a track linking the observations made during it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::io::Write;

use common::{Device, T0, coordinators, copy_missing, observation};
use mapeo_core::project::patrol::{
    MAX_ACCURACY_METRES, MIN_DISTANCE_METRES, MIN_INTERVAL_MS, PATROL_FILE, track_distance_metres,
    track_duration_ms,
};
use mapeo_core::project::{PatrolError, PositionOutcome};
use mapeo_core::schema::{Coords, DocValue, TagValue, Tags, TrackPoint};
use mapeo_core::{Project, Timestamp};

/// About 11 m of latitude.
const STEP_DEG: f64 = 0.0001;

fn fix(lat: f64, lon: f64, t: i64, accuracy: f64) -> TrackPoint {
    TrackPoint {
        timestamp: Timestamp(t),
        mocked: false,
        coords: Coords {
            latitude: lat,
            longitude: lon,
            accuracy: Some(accuracy),
            ..Default::default()
        },
    }
}

/// The `i`-th fix of a walk north: 11 m and 10 s apart, accurate to 5 m.
fn walk(i: u32) -> TrackPoint {
    fix(
        -3.0 + f64::from(i) * STEP_DEG,
        -60.0,
        T0 + i64::from(i) * 10_000,
        5.0,
    )
}

fn recording(p: &Project) -> std::path::PathBuf {
    p.path().parent().unwrap().join(PATROL_FILE)
}

fn track_of(doc: &mapeo_core::Document) -> mapeo_core::schema::Track {
    match doc.value() {
        DocValue::Track(t) => t.clone(),
        other => panic!("not a track: {other:?}"),
    }
}

#[test]
fn positions_are_kept_merged_or_dropped_by_the_named_thresholds() {
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let mut patrol = p.start_patrol().unwrap();
    assert_eq!(
        patrol.add_position(walk(0)).unwrap(),
        PositionOutcome::Recorded
    );

    let mut blurry = walk(1);
    blurry.coords.accuracy = Some(MAX_ACCURACY_METRES + 1.0);
    assert_eq!(
        patrol.add_position(blurry).unwrap(),
        PositionOutcome::DroppedInaccurate
    );

    // Standing still: a minute later, a metre away.
    let mut still = walk(0);
    still.timestamp = Timestamp(T0 + 60_000);
    still.coords.latitude += STEP_DEG * (MIN_DISTANCE_METRES - 4.0) / 11.0;
    assert_eq!(
        patrol.add_position(still.clone()).unwrap(),
        PositionOutcome::Merged
    );

    // Driving: far, but too soon after the last kept point.
    let mut soon = walk(5);
    soon.timestamp = Timestamp(T0 + MIN_INTERVAL_MS - 1);
    assert_eq!(
        patrol.add_position(soon).unwrap(),
        PositionOutcome::DroppedOutOfOrder,
        "read before the latest merged position"
    );

    let mut late = walk(0);
    late.timestamp = Timestamp(T0 - 1);
    assert_eq!(
        patrol.add_position(late).unwrap(),
        PositionOutcome::DroppedOutOfOrder
    );

    // A merged position ends the track if nothing follows it.
    let s = patrol.summary();
    assert_eq!(s.points, 2);
    assert_eq!(s.duration_ms, 60_000);
    assert_eq!(patrol.points().last(), Some(&still));

    let mut next = walk(1);
    next.timestamp = Timestamp(T0 + 70_000);
    assert_eq!(
        patrol.add_position(next).unwrap(),
        PositionOutcome::Recorded
    );
    assert_eq!(
        patrol.points().len(),
        2,
        "the merged position gave way to a kept one"
    );
    patrol.discard().unwrap();
    assert!(!recording(&p).exists());
}

#[test]
fn a_fast_position_too_soon_after_the_last_is_merged() {
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let mut patrol = p.start_patrol().unwrap();
    patrol.add_position(walk(0)).unwrap();
    let mut soon = walk(5);
    soon.timestamp = Timestamp(T0 + MIN_INTERVAL_MS - 1);
    assert_eq!(patrol.add_position(soon).unwrap(), PositionOutcome::Merged);
    let mut later = walk(5);
    later.timestamp = Timestamp(T0 + MIN_INTERVAL_MS);
    assert_eq!(
        patrol.add_position(later).unwrap(),
        PositionOutcome::Recorded
    );
}

#[test]
fn a_walk_is_summarised_with_its_distance_and_duration() {
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let mut patrol = p.start_patrol().unwrap();
    for i in 0..=100 {
        assert_eq!(
            patrol.add_position(walk(i)).unwrap(),
            PositionOutcome::Recorded
        );
    }
    let s = patrol.summary();
    assert_eq!(s.points, 101);
    assert_eq!(s.duration_ms, 1_000_000);
    // 0.01 degrees of latitude is 1112 m.
    assert!(
        (s.distance_metres - 1_111.95).abs() < 1.0,
        "{}",
        s.distance_metres
    );
    assert_eq!(s.distance_metres, track_distance_metres(&patrol.points()));
    assert_eq!(track_duration_ms(&patrol.points()), s.duration_ms);
}

#[test]
fn a_patrol_dropped_mid_walk_resumes_with_every_kept_point_after_a_restart() {
    let mut dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let id = p.id();
    let mut patrol = p.start_patrol().unwrap();
    for i in 0..10 {
        patrol.add_position(walk(i)).unwrap();
    }
    let before = patrol.summary();
    // The app is killed: nothing is saved or closed properly.
    drop(patrol);
    drop(p);
    dev.restart();

    let p = dev.manager.open_project(&id).unwrap();
    let mut patrol = p
        .resume_patrol()
        .unwrap()
        .expect("the patrol is still under way");
    assert_eq!(patrol.summary(), before);
    assert!(matches!(
        p.start_patrol(),
        Err(PatrolError::AlreadyRecording)
    ));
    for i in 10..20 {
        assert_eq!(
            patrol.add_position(walk(i)).unwrap(),
            PositionOutcome::Recorded
        );
    }
    let saved = p.save_patrol(&mut patrol, Tags::new()).unwrap();
    let track = track_of(&saved);
    assert!(matches!(
        patrol.add_position(walk(20)),
        Err(PatrolError::Saved)
    ));
    assert!(matches!(
        p.save_patrol(&mut patrol, Tags::new()),
        Err(PatrolError::Saved)
    ));
    assert_eq!(track.locations, (0..20).map(walk).collect::<Vec<_>>());
    assert!(
        p.resume_patrol().unwrap().is_none(),
        "saving ends the recording"
    );
    assert!(!recording(&p).exists());
}

#[test]
fn a_line_cut_short_by_a_crash_is_dropped_and_recording_goes_on() {
    let mut dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let id = p.id();
    let mut patrol = p.start_patrol().unwrap();
    for i in 0..5 {
        patrol.add_position(walk(i)).unwrap();
    }
    drop(patrol);
    // The process died in the middle of writing the sixth point.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(recording(&p))
        .unwrap();
    f.write_all(br#"{"point":{"timestamp":17356896"#).unwrap();
    drop(f);
    drop(p);
    dev.restart();

    let p = dev.manager.open_project(&id).unwrap();
    let mut patrol = p.resume_patrol().unwrap().unwrap();
    assert_eq!(patrol.points(), (0..5).map(walk).collect::<Vec<_>>());
    patrol.add_position(walk(5)).unwrap();
    drop(patrol);
    let patrol = p.resume_patrol().unwrap().unwrap();
    assert_eq!(
        patrol.points(),
        (0..6).map(walk).collect::<Vec<_>>(),
        "the cut line was cleared, not left between two good ones"
    );
}

#[test]
fn a_crash_before_the_recording_began_leaves_no_patrol() {
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    std::fs::write(recording(&p), b"{\"started\":{\"vers").unwrap();
    assert!(p.resume_patrol().unwrap().is_none());
    assert!(!recording(&p).exists());
    p.start_patrol().unwrap();
}

#[test]
fn a_recording_from_a_newer_version_is_refused_and_left_alone() {
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let newer = b"{\"started\":{\"version\":99,\"startedAt\":1}}\n";
    std::fs::write(recording(&p), newer).unwrap();
    assert!(matches!(p.resume_patrol(), Err(PatrolError::NewerFormat)));
    assert_eq!(std::fs::read(recording(&p)).unwrap(), newer);
    assert!(matches!(
        p.start_patrol(),
        Err(PatrolError::AlreadyRecording)
    ));
}

#[test]
fn a_recording_file_that_is_whole_but_foreign_is_refused_and_left_alone() {
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let foreign = b"not a patrol\n";
    std::fs::write(recording(&p), foreign).unwrap();
    assert!(matches!(p.resume_patrol(), Err(PatrolError::Unreadable)));
    assert_eq!(std::fs::read(recording(&p)).unwrap(), foreign);
}

#[test]
fn an_invalid_position_is_refused_and_leaves_the_recording_unchanged() {
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let mut patrol = p.start_patrol().unwrap();
    patrol.add_position(walk(0)).unwrap();
    let on_disk = std::fs::read(recording(&p)).unwrap();
    for bad in [
        fix(91.0, 0.0, T0 + 10_000, 5.0),
        fix(0.0, -180.5, T0 + 10_000, 5.0),
        fix(f64::NAN, 0.0, T0 + 10_000, 5.0),
        fix(0.0, 0.0, T0 + 10_000, -1.0),
    ] {
        assert!(matches!(
            patrol.add_position(bad),
            Err(PatrolError::InvalidPosition(_))
        ));
    }
    assert_eq!(std::fs::read(recording(&p)).unwrap(), on_disk);
    assert_eq!(patrol.summary().points, 1);
}

#[test]
fn a_patrol_of_one_point_is_not_saved_and_can_go_on() {
    let dev = Device::new(1);
    let p = dev.manager.create_project(Default::default()).unwrap();
    let mut patrol = p.start_patrol().unwrap();
    patrol.add_position(walk(0)).unwrap();
    assert!(matches!(
        p.save_patrol(&mut patrol, Tags::new()),
        Err(PatrolError::TooShort)
    ));
    patrol.add_position(walk(1)).unwrap();
    assert_eq!(
        track_of(&p.save_patrol(&mut patrol, Tags::new()).unwrap())
            .locations
            .len(),
        2
    );
}

#[test]
fn the_saved_track_links_only_the_observations_this_device_made_during_the_patrol() {
    let (a, b) = (Device::new(1), Device::new(2));
    let (pa, pb) = coordinators(&a, &b);
    let before = pa.create(observation(-3.0, -60.0, "before")).unwrap();
    let mut patrol = pa.start_patrol().unwrap();
    patrol.add_position(walk(0)).unwrap();
    let during = pa.create(observation(-3.0, -60.0, "during")).unwrap();
    let theirs = pb.create(observation(-3.0, -60.0, "from b")).unwrap();
    copy_missing(&pb, &pa);
    patrol.add_position(walk(1)).unwrap();
    let mut tags = Tags::new();
    tags.insert("notes".into(), TagValue::String("river patrol".into()));
    let saved = pa.save_patrol(&mut patrol, tags.clone()).unwrap();

    let track = track_of(&saved);
    let linked: Vec<_> = track.observation_refs.iter().map(|r| &r.doc_id).collect();
    assert_eq!(linked, vec![during.doc_id()]);
    assert_eq!(track.observation_refs[0].version_id, during.version_id);
    assert!(!linked.contains(&before.doc_id()) && !linked.contains(&theirs.doc_id()));
    assert_eq!(track.tags, tags);
    assert_eq!(track_duration_ms(&track.locations), 10_000);

    // The track syncs like any document.
    copy_missing(&pa, &pb);
    assert_eq!(track_of(&pb.get(saved.doc_id()).unwrap()), track);
}
