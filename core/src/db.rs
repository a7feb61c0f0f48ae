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

/// Keys a freshly opened connection: must be the first statement on it. The store is of the
/// page format (`mapeo_page_cipher`), whose keys this registers first. The connection came
/// from this module's openings, which made SQLCipher whole and installed the page cipher.
pub fn apply_key(conn: &Connection, key: &DatabaseKey) -> Result<(), StoreError> {
    register_page_keys(key)?;
    key_with(conn, &key.page_key_literal())
}

/// Makes `key`'s store read and written in the page format in this process (before any
/// connection or attachment is keyed with [`DatabaseKey::page_key_literal`]).
pub fn register_page_keys(key: &DatabaseKey) -> Result<(), StoreError> {
    let keys = key.page_keys();
    mapeo_page_cipher::register(&keys.0, &keys.1).map_err(StoreError::PageCipher)
}

/// Forgets `key`'s page keys in this process (a wipe destroyed the store's keys): a connection
/// still keyed with them reads and writes nothing more.
pub fn forget_page_keys(key: &DatabaseKey) {
    let keys = key.page_keys();
    mapeo_page_cipher::forget(&keys.0, &keys.1);
}

/// Keys a freshly opened connection to a store written before the page format (SQLCipher's
/// AES-256-CBC pages): only to migrate it (`at_rest`).
pub fn apply_legacy_key(conn: &Connection, key: &DatabaseKey) -> Result<(), StoreError> {
    key_with(conn, &key.legacy_key_literal())
}

fn key_with(conn: &Connection, literal: &str) -> Result<(), StoreError> {
    let mut sql = zeroize::Zeroizing::new(String::with_capacity(200));
    sql.push_str("PRAGMA key = \"");
    sql.push_str(literal);
    sql.push_str("\";");
    conn.execute_batch(&sql)?;
    conn.execute_batch(CIPHER_SETTINGS)?;
    Ok(())
}

/// Opens a connection to the SQLite file at `path`. Every connection in this process is opened
/// through here or [`open_in_memory`] (clippy refuses rusqlite's own `open*` elsewhere), so that
/// SQLCipher is whole before any connection exists (see `activate_sqlcipher`).
#[allow(clippy::disallowed_methods)]
pub fn open_connection(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    activate_sqlcipher();
    Connection::open_with_flags(path, flags)
}

/// Opens (creating if needed) a plain, unkeyed SQLite file read-write: map packages, fixtures.
pub fn open_plain_file(path: impl AsRef<Path>) -> rusqlite::Result<Connection> {
    open_connection(
        path.as_ref(),
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

/// An in-memory connection (a stand-in for a closed store), opened like [`open_connection`].
#[allow(clippy::disallowed_methods)]
pub fn open_in_memory() -> rusqlite::Result<Connection> {
    activate_sqlcipher();
    Connection::open_in_memory()
}

/// How long the first opening waits for SQLCipher to finish initialising when something other
/// than this module started it.
const SQLCIPHER_START_WAIT: Duration = Duration::from_secs(10);

/// Makes SQLCipher whole once per process, before any connection is opened, then installs
/// the page cipher (`mapeo_page_cipher`) as its provider: every keyed connection is opened
/// after it, so every store's codec uses it. If installing fails, keying a store fails
/// ([`register_page_keys`]), rather than writing pages another provider would misread.
///
/// SQLite marks itself initialised and only then, outside its lock, runs SQLCipher's own
/// initialisation (crypto provider, private heap). A thread opening a connection in that window
/// gets a connection on which `PRAGMA key` fails ("An error occurred with PRAGMA key"), and a
/// thread freeing SQLCipher memory then can crash. So the first opening in the process happens
/// here, on one thread, and every other opening waits for it; if the process started SQLite
/// elsewhere first, this waits (bounded) until a key is accepted.
#[allow(clippy::disallowed_methods)]
pub(crate) fn activate_sqlcipher() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let started = std::time::Instant::now();
        loop {
            let keyed = Connection::open_in_memory().and_then(|conn| {
                conn.execute_batch(
                    "PRAGMA key = \"x'0000000000000000000000000000000000000000000000000000000000000000'\"; \
                     PRAGMA cipher_memory_security = OFF; SELECT count(*) FROM sqlite_master;",
                )
            });
            if keyed.is_ok() || started.elapsed() > SQLCIPHER_START_WAIT {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Err(e) = mapeo_page_cipher::install() {
            tracing::error!("the page cipher could not be installed: {e}");
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
    let conn = open_connection(path, flags)?;
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
/// After this long without a checkpoint request, the checkpointer empties the log into the
/// file if anything was committed since it last did, and records the store whole ([`Intact`]).
pub const CHECKPOINT_IDLE: Duration = Duration::from_secs(2);
/// How long the idle checkpoint that empties the log waits for readers to finish.
const IDLE_CHECKPOINT_WAIT: Duration = Duration::from_millis(200);
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
    /// The page cipher of the encrypted stores could not be installed in this process, so no
    /// store can be opened.
    #[error("the stores' page cipher is unavailable: {0}")]
    PageCipher(mapeo_page_cipher::Error),
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
    Migration {
        version: 4,
        sql: include_str!("db/project/0004_places_by_latitude.sql"),
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

/// How [`open_checked`] knew the file was whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// SQLite's quick check read the whole file and found nothing wrong.
    QuickCheck,
    /// The file is exactly as this code left it when it last recorded it whole ([`Intact`]):
    /// its write-ahead log is empty or gone, and its size, modification time and inode are
    /// those recorded then. Damage that comes later still shows on the page it hits
    /// (SQLCipher authenticates every page it reads), and marks the store damaged then.
    Recorded,
}

/// Opens (creating if needed) a store read-write like [`open_writer`], after making sure the
/// file is whole: SQLite's quick check of the whole file, unless this code recorded it whole
/// ([`Intact`]) and nothing has touched it since (see [`Verified`]). A damaged file is
/// refused as [`StoreError::Damaged`] naming `store`, before anything is written to it (no
/// migration runs on it). A data folder that cannot be written is [`StoreError::ReadOnly`].
pub fn open_checked(
    path: &Path,
    key: &DatabaseKey,
    migrations: &[Migration],
    store: Damaged,
) -> Result<(Connection, Verified), StoreError> {
    // The record speaks only for the run that wrote it: taken away before anything opens
    // the file, so that only this run's own records can vouch for it next time.
    let recorded = Intact::take(path);
    let opened = (|| {
        let conn = open_configured(path, Some(key))?;
        let verified = if recorded {
            Verified::Recorded
        } else if quick_check(&conn)? {
            Verified::QuickCheck
        } else {
            return Err(StoreError::Damaged(store));
        };
        migrate(&conn, migrations)?;
        Ok((conn, verified))
    })();
    opened.map_err(|e| classify(e, path, store))
}

/// The record (`<file>-intact`) that a store's file is whole as this code left it: its size,
/// modification time and inode at a moment its write-ahead log was empty or gone, written
/// only by a run that verified the file at open and has not found it damaged since. The next
/// [`open_checked`] trusts the file without reading it whole only if all three still match
/// and the log is still empty: any later write (to the log, or checkpointed into the file)
/// or a change by anything else breaks the match, and that open checks. Written when the
/// store falls idle (the [`Checkpointer`] empties the log) and at a clean close
/// ([`CleanClose`]): a process killed later (as phones kill apps) still leaves a record
/// that holds. A kill cannot damage the file (the system keeps what was written); a power
/// cut after the record is harmless too, as the log was checkpointed and synced before.
pub struct Intact;

/// Ends the name of a store's record ([`Intact`]).
const INTACT_SUFFIX: &str = "-intact";

impl Intact {
    fn record_path(path: &Path) -> std::path::PathBuf {
        suffixed(path, INTACT_SUFFIX)
    }

    /// What the record says of the file now: size, modification time (ns) and inode; `None`
    /// if the file cannot be read or its write-ahead log holds anything.
    fn fingerprint(path: &Path) -> Option<String> {
        match std::fs::metadata(suffixed(path, "-wal")) {
            Ok(wal) if wal.len() > 0 => return None,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return None,
        }
        let meta = std::fs::metadata(path).ok()?;
        let modified = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos();
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0u64;
        Some(format!("v1 {} {modified} {inode}\n", meta.len()))
    }

    /// Records the store at `path` whole, if its log is empty (else nothing is recorded).
    /// Not synced: a record lost to a power cut only means one more full check.
    fn record(path: &Path) {
        if let Some(fingerprint) = Self::fingerprint(path)
            && let Err(e) = std::fs::write(Self::record_path(path), fingerprint)
        {
            tracing::debug!("store not recorded whole: {e}");
        }
    }

    /// Whether the store at `path` is as recorded; removes the record either way.
    fn take(path: &Path) -> bool {
        let record = Self::record_path(path);
        let Ok(said) = std::fs::read_to_string(&record) else {
            return false;
        };
        let now = Self::fingerprint(path);
        if std::fs::remove_file(&record).is_err() {
            // A record that cannot be removed could vouch for a later, changed file.
            return false;
        }
        now.is_some_and(|now| now == said)
    }
}

/// Records a store whole ([`Intact`]) when dropped after every connection to it is closed
/// (SQLite's last close checkpoints the log and removes it), unless it was found damaged.
/// Keep it after the connections among a struct's fields (fields drop in order).
#[derive(Debug)]
pub struct CleanClose {
    path: std::path::PathBuf,
    damaged: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl CleanClose {
    /// The clean close of the store at `path`, recorded at drop unless `damaged` is set.
    pub fn new(path: &Path, damaged: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Self {
        CleanClose {
            path: path.to_owned(),
            damaged,
        }
    }
}

impl Drop for CleanClose {
    fn drop(&mut self) {
        if !self.damaged.load(std::sync::atomic::Ordering::SeqCst) {
            Intact::record(&self.path);
        }
    }
}

/// `path` with `suffix` appended to its file name (`p.db` → `p.db-wal`).
fn suffixed(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    std::path::PathBuf::from(name)
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
    let conn = open_connection(
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
    /// When the store falls idle it empties the log into the file and records the store whole
    /// ([`Intact`]) unless `damaged` is set.
    pub fn start(
        path: &Path,
        key: &DatabaseKey,
        writer: &Connection,
        damaged: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Self, StoreError> {
        let conn = open_raw(path, Some(key), false)?;
        // Only the idle checkpoint that empties the log waits for readers (and holds writers
        // back meanwhile): briefly.
        conn.busy_timeout(IDLE_CHECKPOINT_WAIT)?;
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let commits = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = commits.clone();
        let path = path.to_owned();
        let thread = std::thread::Builder::new()
            .name("mapeo-checkpoint".into())
            .spawn(move || checkpoint_loop(&conn, &rx, &seen, &path, &damaged))?;
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
    path: &Path,
    damaged: &std::sync::atomic::AtomicBool,
) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut checkpointed_at = 0;
    let mut recorded_at = None;
    let passive = |now, checkpointed_at: &mut u64| {
        if now == *checkpointed_at {
            return;
        }
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) => *checkpointed_at = now,
            Err(e) => tracing::warn!("background checkpoint failed: {e}"),
        }
    };
    loop {
        let idle = match requests.recv_timeout(CHECKPOINT_IDLE) {
            Ok(()) => false,
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => {
                passive(
                    commits.load(std::sync::atomic::Ordering::Relaxed),
                    &mut checkpointed_at,
                );
                return;
            }
        };
        let now = commits.load(std::sync::atomic::Ordering::Relaxed);
        if !idle || recorded_at == Some(now) {
            passive(now, &mut checkpointed_at);
            continue;
        }
        // Idle: empty the log into the file (waiting briefly for readers to move on), and
        // record the store whole while nothing changes it.
        let emptied = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        });
        match emptied {
            Ok((0, 0)) => {
                checkpointed_at = now;
                recorded_at = Some(now);
                if !damaged.load(std::sync::atomic::Ordering::SeqCst) {
                    Intact::record(path);
                }
            }
            Ok(_) => passive(now, &mut checkpointed_at),
            Err(e) => tracing::debug!("idle checkpoint did not empty the log: {e}"),
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

    fn test_key() -> DatabaseKey {
        let root = crate::crypto::RootKey::from_bytes([7; crate::crypto::ROOT_KEY_LEN]);
        crate::crypto::DataFolderKey::derive(&root, &[9; crate::crypto::DATA_FOLDER_SALT_LEN])
            .device_database_key()
    }

    /// Opens `path` as a store, writes a row, and closes it the way a project does: the
    /// clean-close record drops after the connection.
    fn open_write_close(path: &Path, key: &DatabaseKey) -> Verified {
        let damaged = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (conn, verified) =
            open_checked(path, key, PROJECT_MIGRATIONS, Damaged::Device).unwrap();
        let record = CleanClose::new(path, damaged);
        conn.execute_batch("CREATE TABLE IF NOT EXISTS t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        drop(conn);
        drop(record);
        verified
    }

    #[test]
    fn a_store_closed_cleanly_opens_without_reading_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let key = test_key();
        assert_eq!(open_write_close(&path, &key), Verified::QuickCheck);
        assert!(Intact::record_path(&path).exists());
        assert_eq!(open_write_close(&path, &key), Verified::Recorded);
        assert_eq!(open_write_close(&path, &key), Verified::Recorded);
    }

    #[test]
    fn a_store_recorded_while_idle_opens_without_reading_it_whole_after_a_kill() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let key = test_key();
        let damaged = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let run = |write: &str| {
            let (conn, verified) =
                open_checked(&path, &key, PROJECT_MIGRATIONS, Damaged::Device).unwrap();
            let checkpointer = Checkpointer::start(&path, &key, &conn, damaged.clone()).unwrap();
            conn.execute_batch(write).unwrap();
            checkpointer.committed();
            // Idle long enough for the checkpointer to empty the log and record the store.
            let deadline = std::time::Instant::now() + CHECKPOINT_IDLE * 5;
            while !Intact::record_path(&path).exists() {
                assert!(std::time::Instant::now() < deadline, "never recorded");
                std::thread::sleep(Duration::from_millis(20));
            }
            // Killed: nothing closes, the checkpointer never stops.
            std::mem::forget(checkpointer);
            std::mem::forget(conn);
            verified
        };
        assert_eq!(
            run("CREATE TABLE t (x); INSERT INTO t VALUES (1);"),
            Verified::QuickCheck
        );
        assert_eq!(run("INSERT INTO t VALUES (2);"), Verified::Recorded);
        // A write after the record, then a kill: the log holds it, and the open checks.
        let (conn, verified) =
            open_checked(&path, &key, PROJECT_MIGRATIONS, Damaged::Device).unwrap();
        assert_eq!(verified, Verified::Recorded);
        Intact::record(&path);
        conn.execute_batch("INSERT INTO t VALUES (3);").unwrap();
        std::mem::forget(conn);
        let (conn, verified) =
            open_checked(&path, &key, PROJECT_MIGRATIONS, Damaged::Device).unwrap();
        assert_eq!(verified, Verified::QuickCheck);
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 3);
    }

    #[test]
    fn a_store_not_closed_cleanly_is_checked_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let key = test_key();
        open_write_close(&path, &key);
        // A run that ends without a clean close (a kill): its connection never closes, its
        // log stays, and no record is written.
        let (conn, verified) =
            open_checked(&path, &key, PROJECT_MIGRATIONS, Damaged::Device).unwrap();
        assert_eq!(verified, Verified::Recorded);
        conn.execute_batch("INSERT INTO t VALUES (2);").unwrap();
        std::mem::forget(conn);
        assert!(!Intact::record_path(&path).exists());
        let (_conn, verified) =
            open_checked(&path, &key, PROJECT_MIGRATIONS, Damaged::Device).unwrap();
        assert_eq!(verified, Verified::QuickCheck);
    }

    #[test]
    fn a_store_changed_after_its_clean_close_is_checked_and_refused_if_damaged() {
        use std::io::{Seek, SeekFrom, Write};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let key = test_key();
        open_write_close(&path, &key);
        {
            let conn = open_writer(&path, Some(&key), PROJECT_MIGRATIONS).unwrap();
            let tx = conn.unchecked_transaction().unwrap();
            for i in 0..2000 {
                tx.execute(
                    "INSERT INTO t VALUES (?1)",
                    [format!("row {i} {}", "x".repeat(200))],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        // Recorded by a clean close, then garbled by something else (the record is left as it
        // was: only the file's fingerprint has moved on).
        open_write_close(&path, &key);
        assert!(Intact::record_path(&path).exists());
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(4096 * 20 + 100)).unwrap();
        f.write_all(&[0x5a; 64]).unwrap();
        f.sync_all().unwrap();
        drop(f);
        match open_checked(&path, &key, PROJECT_MIGRATIONS, Damaged::Device) {
            Err(StoreError::Damaged(Damaged::Device)) => {}
            other => panic!("a garbled store opened: {:?}", other.map(|(_, v)| v)),
        }
    }

    #[test]
    fn a_store_found_damaged_gets_no_clean_close_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let key = test_key();
        let damaged = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (conn, _) = open_checked(&path, &key, PROJECT_MIGRATIONS, Damaged::Device).unwrap();
        let record = CleanClose::new(&path, damaged.clone());
        damaged.store(true, std::sync::atomic::Ordering::SeqCst);
        drop(conn);
        drop(record);
        assert!(!Intact::record_path(&path).exists());
        let (_conn, verified) =
            open_checked(&path, &key, PROJECT_MIGRATIONS, Damaged::Device).unwrap();
        assert_eq!(verified, Verified::QuickCheck);
    }

    #[test]
    fn a_database_newer_than_the_code_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        drop(open_writer(&path, None, PROJECT_MIGRATIONS).unwrap());
        let conn = open_plain_file(&path).unwrap();
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
        let conn = open_plain_file(&path).unwrap();
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
