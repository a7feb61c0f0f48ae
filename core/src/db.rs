//! SQLite connections: opening with the pragmas every database shares (WAL,
//! `synchronous=NORMAL`, foreign keys, busy timeout) and numbered migrations applied through
//! `PRAGMA user_version`. Owns no schema of its own; callers pass their migration lists.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use thiserror::Error;

use crate::crypto::DatabaseKey;
use crate::ids::ProjectId;

/// SQLCipher settings applied on every keyed connection, right after `PRAGMA key` and before
/// the first page is read (they must match for every connection to the file):
/// - `cipher_memory_security = OFF`: wiping every freed buffer costs a large share of the
///   throughput, and the keys live in this process's memory anyway.
/// - `cipher_hmac_algorithm = HMAC_SHA256`: every page keeps its MAC (so a damaged page is
///   still detected), but SHA-256 is markedly cheaper than the default SHA-512 on phones'
///   ARM cores with SHA extensions, and 256-bit tags are ample against forgery.
/// - `cipher_kdf_algorithm = PBKDF2_HMAC_SHA256`: keys are raw (`x'…'`), so PBKDF2 runs only
///   its 2 fast iterations to derive the page MAC key; SHA-256 matches the MAC.
/// - `cipher_page_size = 4096`: SQLite's default, the page size of the plaintext stores.
const CIPHER_SETTINGS: &str = "PRAGMA cipher_memory_security = OFF; \
     PRAGMA cipher_page_size = 4096; \
     PRAGMA cipher_hmac_algorithm = HMAC_SHA256; \
     PRAGMA cipher_kdf_algorithm = PBKDF2_HMAC_SHA256;";

/// Keys a freshly opened connection: must be the first statement on it.
pub fn apply_key(conn: &Connection, key: &DatabaseKey) -> Result<(), StoreError> {
    activate_sqlcipher();
    let literal = key.raw_key_literal();
    let mut sql = zeroize::Zeroizing::new(String::with_capacity(80));
    sql.push_str("PRAGMA key = \"");
    sql.push_str(&literal);
    sql.push_str("\";");
    conn.execute_batch(&sql)?;
    conn.execute_batch(CIPHER_SETTINGS)?;
    Ok(())
}

/// Initialises SQLCipher (and its crypto provider) once per process, on one thread, before
/// any keyed open: first use from several threads at once is what made `PRAGMA key` fail
/// now and then under load.
fn activate_sqlcipher() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(conn) = Connection::open_in_memory() {
            let _ = conn.execute_batch(
                "PRAGMA key = \"x'0000000000000000000000000000000000000000000000000000000000000000'\"; \
                 PRAGMA cipher_memory_security = OFF; SELECT count(*) FROM sqlite_master;",
            );
        }
    });
}

/// Opens a connection read-write (creating the file if needed), keyed when `key` is given.
fn open_raw(
    path: &Path,
    key: Option<&DatabaseKey>,
    create: bool,
) -> Result<Connection, StoreError> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    if let Some(key) = key {
        apply_key(&conn, key)?;
    }
    Ok(conn)
}

/// How long a connection waits for another connection's lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// WAL pages after which a commit checkpoints into the database, on connections without a
/// [`Checkpointer`]. Larger than SQLite's 1,000 so that pages every commit touches (feed
/// heads, index roots) are copied back less often.
pub const WAL_AUTOCHECKPOINT_PAGES: u32 = 4_000;
/// Commits between two background checkpoints of a database with a [`Checkpointer`].
pub const CHECKPOINT_EVERY_COMMITS: u64 = 2_000;
/// After this long without a checkpoint request, the checkpointer runs one if anything was
/// committed since the last.
pub const CHECKPOINT_IDLE: Duration = Duration::from_secs(2);
/// The WAL file is truncated back to this size after a checkpoint resets it.
pub const WAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;
/// Page cache per connection, in KiB (SQLite's convention for a negative `cache_size`).
pub const CACHE_KIB: i64 = 8 * 1024;

/// A storage failure.
#[derive(Debug, Error)]
pub enum StoreError {
    /// SQLite reported an error (I/O, corruption, full disk, constraint).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database was written by a newer version of Mapeo than this one.
    #[error(
        "the database was written by a newer version of mapeo (schema {found}, this version knows up to {supported})"
    )]
    TooNew {
        /// The schema version found in the file.
        found: u32,
        /// The newest schema version this code knows.
        supported: u32,
    },
    /// A file or folder operation failed.
    #[error("file system error: {0}")]
    Io(#[from] std::io::Error),
    /// Another connection kept the database busy for longer than the operation waits.
    #[error("the database stayed busy")]
    Busy,
    /// Stored bytes that should be well-formed are not: the database was altered or damaged.
    #[error("stored data is corrupt: {0}")]
    Corrupt(&'static str),
    /// SQLite found the database file itself damaged (a quick check at open failed, or a
    /// statement met a malformed page). Nothing more is written to it.
    #[error("{0}")]
    Damaged(Damaged),
    /// The data folder cannot be written, and opening a database needs to write in it.
    #[error(
        "the data folder is read-only: mapeo needs to write in it even to read (make it writable, or copy it somewhere writable)"
    )]
    ReadOnly,
}

/// Which store is damaged, and so what the way out is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damaged {
    /// A project's store: its data is on the other members' devices.
    Project(ProjectId),
    /// The device's own store (its list of projects and their keys). The identity is not in
    /// it: the root key (and its backup code) is kept apart.
    Device,
}

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damaged::Project(id) => write!(
                f,
                "the store of project {id} is damaged and takes no more writes: repair the \
                 project (its damaged store is set aside and a fresh one made), then sync with \
                 another member to get its data back"
            ),
            Damaged::Device => f.write_str(
                "this device's store is damaged: the identity is safe (keep its backup code); \
                 restore it into a new data folder and rejoin the projects by invite",
            ),
        }
    }
}

impl StoreError {
    /// Whether the failure is SQLite meeting a malformed page or a file that is not a
    /// database: the store is damaged, not merely busy or full.
    pub fn is_damage(&self) -> bool {
        match self {
            StoreError::Sqlite(e) => is_damage(e),
            StoreError::Damaged(_) => true,
            _ => false,
        }
    }
}

/// Whether SQLite reported a damaged database (`SQLITE_CORRUPT`, `SQLITE_NOTADB`).
pub fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

/// Whether any error in `e`'s chain is SQLite reporting a damaged database.
pub fn chain_has_damage(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(s) = e.downcast_ref::<rusqlite::Error>()
            && is_damage(s)
        {
            return true;
        }
        if let Some(StoreError::Damaged(_)) = e.downcast_ref::<StoreError>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// SQLite's quick check of a whole database file (every page and b-tree, without matching
/// indexes to their tables): `true` if it found nothing wrong. Reads the entire file.
pub fn quick_check(conn: &Connection) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare(QUICK_CHECK)?;
    let mut rows = stmt.query([])?;
    match rows.next() {
        Ok(Some(row)) => Ok(row.get::<_, String>(0)? == "ok"),
        Ok(None) => Ok(false),
        Err(e) if is_damage(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

const QUICK_CHECK: &str = "PRAGMA quick_check(1)";

/// One numbered migration: its SQL runs once, in a transaction with the `user_version` bump.
pub struct Migration {
    /// The schema version this migration brings the database to (1, 2, …).
    pub version: u32,
    /// The SQL to run.
    pub sql: &'static str,
}

/// The device database's migrations.
pub const DEVICE_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sql: include_str!("db/device/0001_init.sql"),
}];

/// Each project database's migrations.
pub const PROJECT_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("db/project/0001_init.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("db/project/0002_versions_by_doc_row.sql"),
    },
    Migration {
        version: 3,
        sql: include_str!("db/project/0003_awaiting_own_entries.sql"),
    },
];

/// Opens (creating if needed) a database read-write, with shared pragmas and migrations.
/// `key` is `None` only for plaintext files (tests, and the migration that encrypts them).
pub fn open_writer(
    path: &Path,
    key: Option<&DatabaseKey>,
    migrations: &[Migration],
) -> Result<Connection, StoreError> {
    let conn = open_configured(path, key)?;
    migrate(&conn, migrations)?;
    Ok(conn)
}

/// Opens (creating if needed) a database read-write with the shared pragmas, migrating nothing.
fn open_configured(path: &Path, key: Option<&DatabaseKey>) -> Result<Connection, StoreError> {
    let conn = open_raw(path, key, true)?;
    configure(&conn)?;
    Ok(conn)
}

/// Opens (creating if needed) a store read-write like [`open_writer`], after SQLite's quick
/// check of the whole file: a damaged file is refused as [`StoreError::Damaged`] naming
/// `store`, before anything is written to it (no migration runs on it). A data folder that
/// cannot be written is [`StoreError::ReadOnly`].
pub fn open_checked(
    path: &Path,
    key: &DatabaseKey,
    migrations: &[Migration],
    store: Damaged,
) -> Result<Connection, StoreError> {
    let opened = (|| {
        let conn = open_configured(path, Some(key))?;
        if !quick_check(&conn)? {
            return Err(StoreError::Damaged(store));
        }
        migrate(&conn, migrations)?;
        Ok(conn)
    })();
    opened.map_err(|e| classify(e, path, store))
}

/// Names what an open failed on: a damaged file, or a folder that cannot be written.
pub fn classify(e: StoreError, path: &Path, store: Damaged) -> StoreError {
    if e.is_damage() {
        return StoreError::Damaged(store);
    }
    let cannot_write = match &e {
        StoreError::Sqlite(s) => matches!(
            s.sqlite_error_code(),
            Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
        ),
        StoreError::Io(io) => is_read_only_io(io),
        _ => false,
    };
    if cannot_write && folder_is_read_only(path.parent().unwrap_or(Path::new("."))) {
        return StoreError::ReadOnly;
    }
    e
}

/// Whether an I/O error says the file system or folder refuses writes.
pub fn is_read_only_io(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
    )
}

/// File created (and removed at once) to learn whether a folder can be written: permission
/// bits alone do not tell (root ignores them; a read-only mount overrides them).
const WRITE_PROBE: &str = ".mapeo-write-probe";

/// Whether creating a file in `dir` fails because the folder or its file system is
/// read-only.
pub fn folder_is_read_only(dir: &Path) -> bool {
    let probe = dir.join(WRITE_PROBE);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(&probe);
            false
        }
        Err(e) => is_read_only_io(&e),
    }
}

/// Opens a reader connection to a database a writer has already opened and migrated.
pub fn open_reader(path: &Path, key: &DatabaseKey) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    apply_key(&conn, key)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL with synchronous=NORMAL, Android's own default: a committed write survives the
    // process being killed; power loss can roll back the last moments but never corrupts.
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt("database refused write-ahead logging"));
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)?;
    Ok(())
}

/// Copies a database's write-ahead log back into the database on a thread of its own, so
/// that a commit never waits for a checkpoint. The writer connection turns its own
/// auto-checkpoint off and calls [`Checkpointer::committed`] after each commit. Dropping it
/// runs a last checkpoint and joins the thread.
pub struct Checkpointer {
    requests: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    commits: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Checkpointer {
    /// Starts the checkpointer of the database at `path` and turns `writer`'s auto-checkpoint
    /// off.
    pub fn start(path: &Path, key: &DatabaseKey, writer: &Connection) -> Result<Self, StoreError> {
        let conn = open_raw(path, Some(key), false)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let commits = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = commits.clone();
        let thread = std::thread::Builder::new()
            .name("mapeo-checkpoint".into())
            .spawn(move || checkpoint_loop(&conn, &rx, &seen))?;
        Ok(Checkpointer {
            requests: Some(tx),
            thread: Some(thread),
            commits,
        })
    }

    /// Counts a commit; every [`CHECKPOINT_EVERY_COMMITS`] it asks for a checkpoint.
    pub fn committed(&self) {
        let n = self
            .commits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        if n.is_multiple_of(CHECKPOINT_EVERY_COMMITS)
            && let Some(tx) = &self.requests
        {
            // Full means one is already pending: nothing to add.
            let _ = tx.try_send(());
        }
    }
}

fn checkpoint_loop(
    conn: &Connection,
    requests: &std::sync::mpsc::Receiver<()>,
    commits: &std::sync::atomic::AtomicU64,
) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut checkpointed_at = 0;
    let mut run = || {
        let now = commits.load(std::sync::atomic::Ordering::Relaxed);
        if now == checkpointed_at {
            return;
        }
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) => checkpointed_at = now,
            Err(e) => tracing::warn!("background checkpoint failed: {e}"),
        }
    };
    loop {
        match requests.recv_timeout(CHECKPOINT_IDLE) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => run(),
            Err(RecvTimeoutError::Disconnected) => {
                run();
                return;
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.requests = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Applies every migration newer than the database's `user_version`, each in one transaction.
pub fn migrate(conn: &Connection, migrations: &[Migration]) -> Result<(), StoreError> {
    let supported = migrations.last().map_or(0, |m| m.version);
    let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > supported {
        return Err(StoreError::TooNew { found, supported });
    }
    for m in migrations.iter().filter(|m| m.version > found) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(m.sql)?;
        tx.pragma_update(None, "user_version", m.version)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_newer_than_the_code_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        drop(open_writer(&path, None, PROJECT_MIGRATIONS).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let newest = PROJECT_MIGRATIONS.last().map(|m| m.version);
        match open_writer(&path, None, PROJECT_MIGRATIONS) {
            Err(StoreError::TooNew {
                found: 99,
                supported,
            }) if Some(supported) == newest => {}
            other => panic!("expected TooNew, got {other:?}"),
        }
    }

    #[test]
    fn migrations_run_once_and_databases_use_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        drop(open_writer(&path, None, DEVICE_MIGRATIONS).unwrap());
        let conn = open_writer(&path, None, DEVICE_MIGRATIONS).unwrap();
        let v: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, 1);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_failed_migration_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let good = Migration {
            version: 1,
            sql: "CREATE TABLE a (x INTEGER);",
        };
        let bad = Migration {
            version: 2,
            sql: "CREATE TABLE b (x INTEGER); NOT SQL;",
        };
        drop(open_writer(&path, None, &[good]).unwrap());
        let good = Migration {
            version: 1,
            sql: "CREATE TABLE a (x INTEGER);",
        };
        assert!(open_writer(&path, None, &[good, bad]).is_err());
        let conn = Connection::open(&path).unwrap();
        let v: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, 1);
        let b: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'b'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(b, 0);
    }
}
