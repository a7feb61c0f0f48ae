//! The first connections a fresh process opens, from several threads at once, all work.
//!
//! SQLite marks itself initialised before SQLCipher has finished its own start-up; a
//! connection opened in that window refused its key ("An error occurred with PRAGMA key"), and
//! a device or project then failed to open now and then. Only a fresh process has that window,
//! so each round runs in a child process of this test binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

#[path = "support/folder.rs"]
mod folder;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use mapeo_core::crypto::{DATA_FOLDER_SALT_LEN, DataFolderKey, DatabaseKey, ROOT_KEY_LEN, RootKey};
use mapeo_core::db;

/// Names the child's folder; the child test does nothing without it.
const CHILD_ENV: &str = "MAPEO_FIRST_OPEN_DIR";
/// Fresh processes started: the window is short, and on an idle machine about one process in
/// thirty opened inside it (6 of 200 before the fix), so a hundred nearly always show it.
const ROUNDS: usize = 100;
/// Threads opening at once in each process.
const THREADS: usize = 12;
/// Longest a child may take.
const WAIT: Duration = Duration::from_secs(60);

#[test]
fn connections_a_fresh_process_opens_at_once_all_work() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    for _ in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        // Asserts the child succeeded.
        folder::time_to_finish(
            "first_opens_in_a_fresh_process",
            CHILD_ENV,
            dir.path(),
            WAIT,
        );
        // Every thread's store holds its row.
        let key = key();
        for i in 0..THREADS {
            let conn = match i % 3 {
                0 => db::open_plain_file(store(dir.path(), i)).unwrap(),
                1 => db::open_writer(&store(dir.path(), i), Some(&key), &[]).unwrap(),
                _ => continue,
            };
            let n: i64 = conn
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 1, "store {i}");
        }
    }
}

/// The child: a third of the threads open plain files, a third keyed stores and a third keyed
/// in-memory databases, all released at once as the process's first use of SQLite.
#[test]
fn first_opens_in_a_fresh_process() {
    let Some(dir) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return;
    };
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let start = start.clone();
            let path = store(&dir, i);
            std::thread::spawn(move || {
                let key = key();
                start.wait();
                let conn = match i % 3 {
                    0 => db::open_plain_file(&path).map_err(|e| e.to_string()),
                    1 => db::open_writer(&path, Some(&key), &[]).map_err(|e| e.to_string()),
                    // The quickest keyed opening: reaches its key soonest.
                    _ => db::open_in_memory()
                        .map_err(|e| e.to_string())
                        .and_then(|c| {
                            db::apply_key(&c, &key)
                                .map(|()| c)
                                .map_err(|e| e.to_string())
                        }),
                }?;
                conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let opened = t.join().unwrap();
        assert!(opened.is_ok(), "thread {i}: {opened:?}");
    }
}

fn store(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("{i}.db"))
}

fn key() -> DatabaseKey {
    let root = RootKey::from_bytes([3; ROOT_KEY_LEN]);
    DataFolderKey::derive(&root, &[5; DATA_FOLDER_SALT_LEN]).device_database_key()
}
