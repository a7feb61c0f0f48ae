//! Feed tampering and misbehaving authors: every forged or broken entry is refused and leaves
//! the store unchanged; authentic entries are accepted exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{Device, copy_missing, observation};
use mapeo_core::feed::{self, Entry, FeedError, FeedKeys};
use mapeo_core::schema::DocType;
use mapeo_core::{Error, Namespace, Project, Query};

struct Setup {
    a: Device,
    _b: Device,
    pa: std::sync::Arc<Project>,
    pb: std::sync::Arc<Project>,
}

/// A writes five observations; B has joined and has A's config but none of its data.
fn setup() -> Setup {
    let a = Device::new(1);
    let b = Device::new(2);
    let (pa, pb) = common::coordinators(&a, &b);
    copy_missing(&pa, &pb);
    for i in 0..5 {
        pa.create(observation(1.0, 1.0, &format!("obs {i}")))
            .unwrap();
    }
    Setup { a, _b: b, pa, pb }
}

fn data_entries(s: &Setup) -> Vec<Entry> {
    s.pa.read_entries(&s.a.manager.device_id(), Namespace::Data, 0, 100)
        .unwrap()
}

type State = (
    std::collections::BTreeMap<(mapeo_core::DeviceId, Namespace), u64>,
    usize,
);

fn state(p: &Project) -> State {
    let mut q = Query::all(DocType::Observation);
    q.include_deleted = true;
    (p.have_vector().unwrap(), p.list(&q).unwrap().len())
}

fn refused(p: &Project, entries: &[Entry]) -> FeedError {
    let before = state(p);
    let err = match p.import(entries) {
        Err(Error::Feed(e)) => e,
        other => panic!("expected a refused entry, got {other:?}"),
    };
    assert_eq!(
        state(p),
        before,
        "a refused batch leaves the store unchanged"
    );
    err
}

#[test]
fn authentic_entries_are_accepted_once() {
    let s = setup();
    let entries = data_entries(&s);
    assert_eq!(entries.len(), 5);
    let first = s.pb.import(&entries).unwrap();
    assert_eq!((first.appended, first.indexed), (5, 5));
    let again = s.pb.import(&entries).unwrap();
    assert_eq!((again.appended, again.indexed), (0, 0));
    assert_eq!(
        s.pb.list(&Query::all(DocType::Observation)).unwrap().len(),
        5
    );
}

#[test]
fn a_flipped_payload_byte_is_refused() {
    let s = setup();
    for at in [0, 2, 4] {
        let mut entries = data_entries(&s);
        let n = entries[at].payload.len();
        entries[at].payload[n / 2] ^= 0x01;
        assert!(matches!(
            refused(&s.pb, &entries),
            FeedError::Undecryptable | FeedError::BadSignature | FeedError::BrokenChain
        ));
    }
}

#[test]
fn a_flipped_signature_byte_is_refused() {
    let s = setup();
    let mut entries = data_entries(&s);
    entries[4].signature[10] ^= 0x80;
    assert!(matches!(refused(&s.pb, &entries), FeedError::BadSignature));
    // In the middle of a run the chain catches it: the next entry commits to the signature.
    let mut entries = data_entries(&s);
    entries[1].signature[0] ^= 0x01;
    assert!(matches!(refused(&s.pb, &entries), FeedError::BrokenChain));
    // Alone, it is the signature check that catches it.
    assert!(matches!(
        refused(&s.pb, &entries[..2]),
        FeedError::BadSignature
    ));
}

#[test]
fn a_flipped_previous_hash_is_refused() {
    let s = setup();
    for at in [0, 3] {
        let mut entries = data_entries(&s);
        let mut prev = *entries[at].prev_hash.as_bytes();
        prev[5] ^= 0x10;
        entries[at].prev_hash = mapeo_core::ids::EntryHash::from_bytes(prev);
        assert!(matches!(refused(&s.pb, &entries), FeedError::BrokenChain));
    }
}

#[test]
fn reordered_entries_and_gaps_are_refused() {
    let s = setup();
    let mut entries = data_entries(&s);
    entries.swap(1, 2);
    assert!(matches!(
        refused(&s.pb, &entries),
        FeedError::NotConsecutive
    ));
    let entries = data_entries(&s);
    assert!(matches!(
        refused(&s.pb, &entries[1..]),
        FeedError::Gap {
            expected: 0,
            found: 1
        }
    ));
}

#[test]
fn an_entry_from_another_project_is_refused() {
    let s = setup();
    let other = s.a.manager.create_project(Default::default()).unwrap();
    other
        .create(observation(0.0, 0.0, "other project"))
        .unwrap();
    let foreign = other
        .read_entries(&s.a.manager.device_id(), Namespace::Data, 0, 10)
        .unwrap();
    assert!(matches!(
        refused(&s.pb, &foreign),
        FeedError::Undecryptable | FeedError::BadSignature
    ));
    // Even spliced into a valid run of the right feed.
    let mut entries = data_entries(&s);
    entries[0] = foreign[0].clone();
    refused(&s.pb, &entries);
}

#[test]
fn two_entries_at_one_position_are_detected_and_not_merged() {
    let s = setup();
    s.pb.import(&data_entries(&s)).unwrap();
    // A clone of A's identity (same root key) writes a different entry at seq 5.
    let clone = Device::new(1);
    let pc = clone
        .manager
        .join_project(&s.a.manager.join_details(&s.pa.id()).unwrap())
        .unwrap();
    copy_missing(&s.pa, &pc);
    pc.create(observation(9.0, 9.0, "from the clone")).unwrap();
    s.pa.create(observation(8.0, 8.0, "from the original"))
        .unwrap();
    let original =
        s.pa.read_entries(&s.a.manager.device_id(), Namespace::Data, 5, 6)
            .unwrap();
    let cloned = pc
        .read_entries(&s.a.manager.device_id(), Namespace::Data, 5, 6)
        .unwrap();
    assert_ne!(original, cloned);
    s.pb.import(&original).unwrap();
    assert!(matches!(
        refused(&s.pb, &cloned),
        FeedError::ForkedFeed {
            seq: 5,
            namespace: Namespace::Data,
            ..
        }
    ));
    assert_eq!(
        s.pb.conflict_count().unwrap(),
        1,
        "the evidence is recorded"
    );
}

#[test]
fn an_authentic_entry_that_holds_no_valid_document_is_kept_but_never_shown() {
    let s = setup();
    // A misbehaving member signs garbage into its own data feed.
    let dir = tempfile::tempdir().unwrap();
    let conn_path = dir.path().join("rogue.db");
    let mut conn =
        mapeo_core::db::open_writer(&conn_path, None, mapeo_core::db::PROJECT_MIGRATIONS).unwrap();
    let details = s.a.manager.join_details(&s.pa.id()).unwrap();
    let keys = FeedKeys::new(&details.project_key());
    let rogue = mapeo_core::RootKey::from_bytes([7; 16]).device_keys();
    let tx = conn.transaction().unwrap();
    let (garbage, _) =
        feed::append_local(&tx, &keys, &rogue, Namespace::Data, b"not a document").unwrap();
    // A valid preset written into the data namespace: the wrong feed for its type.
    let misplaced = mapeo_core::schema::Doc {
        doc_id: mapeo_core::DocId::random(),
        original_version_id: None,
        created_at: mapeo_core::Timestamp(1),
        updated_at: mapeo_core::Timestamp(1),
        links: vec![],
        deleted: false,
        value: mapeo_core::schema::DocValue::Preset(mapeo_core::schema::Preset {
            name: "x".into(),
            geometry: vec![mapeo_core::schema::Geometry::Point],
            ..Default::default()
        }),
    };
    let (wrong_ns, _) = feed::append_local(
        &tx,
        &keys,
        &rogue,
        Namespace::Data,
        &misplaced.encode().unwrap(),
    )
    .unwrap();
    tx.commit().unwrap();
    let summary = s.pb.import(&[garbage, wrong_ns]).unwrap();
    assert_eq!((summary.appended, summary.indexed), (2, 0));
    assert!(
        s.pb.list(&Query::all(DocType::Observation))
            .unwrap()
            .is_empty()
    );
    assert!(s.pb.list(&Query::all(DocType::Preset)).unwrap().is_empty());
    assert_eq!(
        s.pb.have_vector().unwrap()[&(rogue.device_id(), Namespace::Data)],
        2
    );
}

/// Entries of two feeds interleaved in one batch (as a group commit of a peer's batches may
/// hold them) are each stored and indexed once; a later batch that repeats some entries of
/// both feeds and extends them stores only the new ones.
#[test]
fn interleaved_feeds_in_one_batch_are_each_stored_and_indexed_once() {
    let s = setup();
    for i in 0..3 {
        s.pb.create(observation(2.0, 2.0, &format!("b {i}")))
            .unwrap();
    }
    let a_data = data_entries(&s);
    let b_data =
        s.pb.read_entries(&s._b.manager.device_id(), Namespace::Data, 0, 100)
            .unwrap();
    assert_eq!((a_data.len(), b_data.len()), (5, 3));
    // A third device learns the roles (A's auth and config feeds), and none of the data.
    let c = common::Device::new(3);
    let pc = c
        .manager
        .join_project(&s.a.manager.join_details(&s.pa.id()).unwrap())
        .unwrap();
    for ((author, ns), len) in s.pa.have_vector().unwrap() {
        if ns != Namespace::Data {
            pc.import(&s.pa.read_entries(&author, ns, 0, len).unwrap())
                .unwrap();
        }
    }
    assert_eq!(state(&pc).1, 0);
    let interleave = |a: &[Entry], b: &[Entry]| -> Vec<Entry> {
        let mut out = Vec::new();
        for i in 0..a.len().max(b.len()) {
            out.extend(a.get(i).cloned());
            out.extend(b.get(i).cloned());
        }
        out
    };
    let first = pc.import(&interleave(&a_data[..2], &b_data[..1])).unwrap();
    assert_eq!((first.appended, first.indexed), (3, 3));
    let rest = pc.import(&interleave(&a_data, &b_data)).unwrap();
    assert_eq!((rest.appended, rest.indexed), (5, 5));
    // A's five and B's three (B holds none of A's data).
    let mut both = common::observations_sorted(&s.pa);
    both.extend(common::observations_sorted(&s.pb));
    both.sort();
    assert_eq!(both.len(), 8);
    assert_eq!(common::observations_sorted(&pc), both);
    let again = pc.import(&interleave(&a_data, &b_data)).unwrap();
    assert_eq!((again.appended, again.indexed), (0, 0));
}

/// A sync's batches: observations wait to enter the area and text indexes while more
/// batches are on their way, a query between batches still finds every one stored, and
/// the last batch brings them all in.
#[test]
fn observations_of_a_stream_enter_search_with_its_last_batch() {
    let a = Device::new(1);
    let b = Device::new(2);
    let (pa, pb) = common::coordinators(&a, &b);
    copy_missing(&pa, &pb);
    pa.create_many(
        (0..1200)
            .map(|i| observation(f64::from(i % 80), f64::from(i / 80), "tracks by the river"))
            .collect(),
    )
    .unwrap();
    let entries = pa
        .read_entries(&a.manager.device_id(), Namespace::Data, 0, 2000)
        .unwrap();
    assert_eq!(entries.len(), 1200);
    let everywhere = |text: Option<&str>| {
        let mut q = Query::all(DocType::Observation);
        q.bbox = Some(mapeo_core::BoundingBox {
            south: -1.0,
            west: -1.0,
            north: 90.0,
            east: 90.0,
        });
        q.text = text.map(str::to_owned);
        q
    };

    // (The joined project's own few documents wait too.)
    let before = pb.search_backlog().unwrap();
    pb.import_from_stream(&entries[..600], true).unwrap();
    assert_eq!(
        pb.search_backlog().unwrap(),
        before + 600,
        "more is on its way: they wait"
    );
    assert_eq!(pb.list(&everywhere(None)).unwrap().len(), 600);
    assert_eq!(
        pb.search_backlog().unwrap(),
        0,
        "an area query brings them in first"
    );

    pb.import_from_stream(&entries[600..1100], true).unwrap();
    pb.import_from_stream(&entries[1100..], false).unwrap();
    assert_eq!(
        pb.search_backlog().unwrap(),
        0,
        "the last batch brings in the 600 that waited"
    );
    assert_eq!(pb.list(&everywhere(Some("river"))).unwrap().len(), 1200);
    assert_eq!(pb.list(&everywhere(None)).unwrap().len(), 1200);

    // A single import keeps the usual rule: a few changes wait for the next group.
    pa.create(observation(5.0, 5.0, "one more")).unwrap();
    let last = pa
        .read_entries(&a.manager.device_id(), Namespace::Data, 1200, 1201)
        .unwrap();
    pb.import(&last).unwrap();
    assert_eq!(pb.search_backlog().unwrap(), 1);
    assert_eq!(pb.list(&everywhere(Some("more"))).unwrap().len(), 1);
}
