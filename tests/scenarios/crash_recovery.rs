//! A process killed (SIGKILL) while writing loses nothing whose write had returned, never
//! leaves half a transaction, and never corrupts the databases.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use mapeo_core::schema::DocType;
use mapeo_core::{DocId, Manager, ProjectStatus, Query};
use mapeo_scenarios::test_root_key;

/// Commits to wait for before killing the writer, per round.
const COMMITS_BEFORE_KILL: usize = 150;

/// Runs the writer until it has reported `commits` commits, kills it, and returns every doc id
/// it reported as committed.
fn write_then_kill(dir: &Path, mode: &str, commits: usize) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash-writer"))
        .arg(dir)
        .arg(mode)
        .stdout(Stdio::piped())
        .spawn()
        .expect("crash-writer starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut ids = Vec::new();
    let mut lines = BufReader::new(stdout).lines();
    for _ in 0..commits {
        let line = lines
            .next()
            .expect("writer reports a commit before exiting")
            .expect("readable line");
        let rest = line.strip_prefix("committed ").expect("commit line");
        ids.extend(rest.split(' ').map(str::to_owned));
    }
    // SIGKILL: no destructors, no flush, mid-write.
    child.kill().expect("kill writer");
    child.wait().expect("reap writer");
    ids
}

#[test]
fn killed_writer_loses_no_returned_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut committed = Vec::new();
    for _round in 0..3 {
        committed.extend(write_then_kill(dir.path(), "single", COMMITS_BEFORE_KILL));
        let manager = Manager::open(dir.path(), &test_root_key(1)).unwrap();
        let projects = manager.list_projects().unwrap();
        assert_eq!(projects.len(), 1);
        assert_eq!(projects[0].status, ProjectStatus::Joined);
        let project = manager.open_project(&projects[0].project_id).unwrap();
        assert!(
            project.check_integrity().unwrap(),
            "database intact after the kill"
        );
        for id in &committed {
            let id: DocId = id.parse().unwrap();
            project
                .get(&id)
                .expect("a write that returned survives the kill");
        }
        let listed = project.list(&Query::all(DocType::Observation)).unwrap();
        assert!(listed.len() >= committed.len());
        // The index agrees with the feeds after the crash.
        let before: Vec<_> = listed.iter().map(|d| d.version_id).collect();
        project.reindex().unwrap();
        let after: Vec<_> = project
            .list(&Query::all(DocType::Observation))
            .unwrap()
            .iter()
            .map(|d| d.version_id)
            .collect();
        assert_eq!(before, after);
    }
}

#[test]
fn killed_batch_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let committed = write_then_kill(dir.path(), "batch", 20);
    let manager = Manager::open(dir.path(), &test_root_key(1)).unwrap();
    let id = manager.list_projects().unwrap()[0].project_id;
    let project = manager.open_project(&id).unwrap();
    assert!(
        project.check_integrity().unwrap(),
        "database intact after the kill"
    );
    let n = project
        .list(&Query::all(DocType::Observation))
        .unwrap()
        .len();
    assert!(n >= committed.len());
    assert_eq!(n % 50, 0, "a batch is never half visible");
}
