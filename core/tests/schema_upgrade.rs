//! A data folder written by an earlier schema opens with this code: the project store is
//! migrated in place and shows what it showed before, with nothing re-indexed by hand.
//!
//! `fixtures/schema1/` was written by the code of schema 1 (the last version before
//! migration 0002 keyed versions and links by document row): device seed 1 coordinates a
//! project with device seed 2; it holds an observation as created, one edited, one forked
//! (both devices edited the same head at the same moment), and one deleted by the other
//! device. It was written before the stores were encrypted, so opening it also encrypts
//! it in place.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::path::Path;

use mapeo_core::schema::{DocType, DocValue, TagValue};
use mapeo_core::{Document, Manager, Query, RootKey};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn notes(d: &Document) -> String {
    match d.value() {
        DocValue::Observation(o) => match o.tags.get("notes") {
            Some(TagValue::String(s)) => s.clone(),
            other => panic!("no notes: {other:?}"),
        },
        other => panic!("not an observation: {other:?}"),
    }
}

fn all(p: &mapeo_core::Project) -> Vec<Document> {
    let mut q = Query::all(DocType::Observation);
    q.include_deleted = true;
    let mut docs = p.list(&q).unwrap();
    docs.sort_by(|a, b| a.doc_id().cmp(b.doc_id()));
    docs
}

#[test]
fn a_schema_1_project_is_migrated_and_shows_the_same_documents() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema1"),
        dir.path(),
    );
    let m = Manager::open(dir.path(), &RootKey::from_bytes([1; 16])).unwrap();
    let projects = m.list_projects().unwrap();
    assert_eq!(projects.len(), 1);
    let p = m.open_project(&projects[0].project_id).unwrap();
    let key = mapeo_core::at_rest::unlock(dir.path(), &RootKey::from_bytes([1; 16]), &[])
        .unwrap()
        .project_database_key(&projects[0].project_id);
    let conn = mapeo_core::db::open_plain_file(p.path()).unwrap();
    mapeo_core::db::apply_key(&conn, &key).unwrap();
    let version: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(
        Some(version),
        mapeo_core::db::PROJECT_MIGRATIONS.last().map(|m| m.version)
    );
    drop(conn);
    // Encrypted in place: the plaintext header is gone.
    assert!(
        !std::fs::read(p.path())
            .unwrap()
            .starts_with(b"SQLite format 3\0")
    );

    let migrated = all(&p);
    let mut live: Vec<String> = migrated
        .iter()
        .filter(|d| !d.doc.deleted)
        .map(notes)
        .collect();
    live.sort();
    assert_eq!(
        live,
        [
            "clearing, seen by a",
            "fresh tracks near the river",
            "smoke over the ridge"
        ]
    );
    assert_eq!(migrated.iter().filter(|d| d.doc.deleted).count(), 1);
    let forked = migrated
        .iter()
        .find(|d| notes(d).starts_with("clearing"))
        .unwrap();
    assert_eq!(forked.forks.len(), 1);

    // The migrated index is the one the feeds give: a rebuild changes nothing.
    p.reindex().unwrap();
    assert_eq!(all(&p), migrated);

    // And it takes new versions: merging the fork ends it.
    let mut heads = vec![forked.version_id];
    heads.extend(forked.forks.iter().copied());
    let merged = p
        .update(&heads, common::observation(-3.7, -60.7, "clearing, merged"))
        .unwrap();
    assert!(merged.forks.is_empty());
    assert_eq!(notes(&p.get(forked.doc_id()).unwrap()), "clearing, merged");
}

#[test]
fn points_in_the_area_index_of_schema_3_are_found_after_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let root = RootKey::from_bytes([1; 16]);
    let inside = ["camp by the river", "felled trees"];
    let (project_id, path) = {
        let m = Manager::open(dir.path(), &root).unwrap();
        let p = m.create_project(Default::default()).unwrap();
        p.create(common::observation(-3.1, -60.1, inside[0]))
            .unwrap();
        p.create(common::observation(-3.15, -60.05, inside[1]))
            .unwrap();
        p.create(common::observation(10.0, 10.0, "far away"))
            .unwrap();
        // An area query moves the points into the area index.
        assert_eq!(p.list(&area()).unwrap().len(), 2);
        (p.id(), p.path().to_owned())
    };
    // Put the store back as schema 3 left it: the points in an R*Tree.
    let key = mapeo_core::at_rest::unlock(dir.path(), &root, &[])
        .unwrap()
        .project_database_key(&project_id);
    let conn = mapeo_core::db::open_plain_file(&path).unwrap();
    mapeo_core::db::apply_key(&conn, &key).unwrap();
    conn.execute_batch(
        "CREATE VIRTUAL TABLE obs_location USING rtree (id, min_lat, max_lat, min_lon, max_lon);
         INSERT INTO obs_location SELECT id, lat, lat, lon, lon FROM obs_place;
         DROP TABLE obs_place;
         PRAGMA user_version = 3;",
    )
    .unwrap();
    drop(conn);

    let m = Manager::open(dir.path(), &root).unwrap();
    let p = m.open_project(&project_id).unwrap();
    let mut found: Vec<String> = p.list(&area()).unwrap().iter().map(notes).collect();
    found.sort();
    assert_eq!(found, inside);
}

fn area() -> Query {
    let mut q = Query::all(DocType::Observation);
    q.bbox = Some(mapeo_core::BoundingBox {
        south: -3.2,
        west: -60.2,
        north: -3.0,
        east: -60.0,
    });
    q
}
