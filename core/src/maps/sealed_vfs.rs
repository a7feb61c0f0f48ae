//! A read-only SQLite VFS that serves a database's pages from its sealed file
//! ([`crate::sealed_file`]), decrypting only the chunks a page read covers: MBTiles maps are
//! queried while their plaintext is never on disk, and reading a tile costs the same whatever
//! the package's size. Registered once per process under [`VFS_NAME`] (the `sqlite-plugin`
//! crate holds the FFI); a connection names a one-use token that [`SealedDb::connect`]
//! registered just before with the open file, never a path SQLite could reach by itself. The
//! connections on one [`SealedDb`] share its cache of decrypted chunks. Knows nothing of maps:
//! it serves pages of one sealed file, and refuses every write.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use rusqlite::{Connection, OpenFlags};
use sqlite_plugin::flags::{AccessFlags, LockLevel, OpenKind, OpenOpts};
use sqlite_plugin::vars;
use sqlite_plugin::vfs::{
    DEFAULT_DEVICE_CHARACTERISTICS, RegisterOpts, Vfs, VfsHandle, VfsResult, register_static,
};

use super::{MapError, damaged, lock};
use crate::crypto::{FileKey, random_bytes};
use crate::sealed_file::{LastChunk, SharedSealedReader};

/// The name the VFS is registered under.
pub const VFS_NAME: &str = "mapeo-sealed";

/// `SQLITE_IOCAP_SUBPAGE_READ` (SQLite 3.48), missing from `sqlite-plugin`'s constants: reads
/// of any length at any offset are fine here. With it SQLite reads a large row's overflow
/// pages (a tile's bytes) straight into the row, as it does through its own Unix VFS, instead
/// of through its page cache, where they would push out the b-tree pages every lookup needs
/// (each one read back decrypts a chunk).
const SQLITE_IOCAP_SUBPAGE_READ: i32 = 0x8000;

/// Files a connection is about to open, by token: taken (and so forgotten) by the open.
static PENDING: Mutex<Option<HashMap<String, Arc<SharedSealedReader<File>>>>> = Mutex::new(None);

/// A sealed SQLite database open for reading: its connections read pages through one cache
/// of at most the given number of decrypted chunks.
pub(super) struct SealedDb(Arc<SharedSealedReader<File>>);

impl SealedDb {
    /// Opens the sealed database at `path` under `key`, its length authenticated (a cut file
    /// is refused here), keeping up to `cached_chunks` decrypted chunks for its connections.
    pub(super) fn open(path: &Path, key: &FileKey, cached_chunks: usize) -> Result<Self, MapError> {
        let file =
            SharedSealedReader::open(key, File::open(path)?, cached_chunks).map_err(damaged)?;
        file.verify_len().map_err(damaged)?;
        Ok(SealedDb(Arc::new(file)))
    }

    /// A new read-only connection to the database, its pages decrypted as SQLite reads them.
    /// Temporary tables and sorts stay in memory: the VFS opens nothing but the one database.
    pub(super) fn connect(&self) -> Result<Connection, MapError> {
        register()?;
        let token = format!("sealed-{}", hex::encode(random_bytes::<16>()));
        lock(&PENDING)
            .get_or_insert_with(HashMap::new)
            .insert(token.clone(), self.0.clone());
        // `immutable=1`: no locks, no journal or WAL looked for; the file never changes.
        // SQLCipher is whole: `register` activated it (see `db::open_connection`).
        #[allow(clippy::disallowed_methods)]
        let opened = Connection::open_with_flags_and_vfs(
            format!("file:{token}?immutable=1"),
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            VFS_NAME,
        );
        // An open that failed before reaching the VFS leaves its token behind.
        if let Some(p) = lock(&PENDING).as_mut() {
            p.remove(&token);
        }
        let conn = opened.map_err(|_| MapError::Damaged)?;
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(|_| MapError::Damaged)?;
        Ok(conn)
    }
}

fn register() -> Result<(), MapError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        // SQLite and SQLCipher initialise first, once, on this thread: registering at the
        // same time as another thread's first keyed open made that open fail now and then.
        crate::db::activate_sqlcipher();
        let Ok(name) = CString::new(VFS_NAME) else {
            return false;
        };
        let registered = register_static(
            name,
            SealedVfs,
            RegisterOpts {
                make_default: false,
            },
        )
        .is_ok();
        if !registered {
            tracing::error!("the sealed map VFS could not be registered with SQLite");
        }
        registered
    });
    if ok {
        Ok(())
    } else {
        Err(MapError::Io(std::io::Error::other(
            "sqlite refused the sealed map vfs",
        )))
    }
}

struct SealedVfs;

/// One connection's database: the sealed file it shares with the other connections, and the
/// chunk it read last.
struct Handle {
    file: Arc<SharedSealedReader<File>>,
    last: LastChunk,
}

impl VfsHandle for Handle {
    fn readonly(&self) -> bool {
        true
    }

    fn in_memory(&self) -> bool {
        false
    }
}

impl Vfs for SealedVfs {
    type Handle = Handle;

    fn open(&self, path: Option<&str>, opts: OpenOpts) -> VfsResult<Handle> {
        if opts.kind() != OpenKind::MainDb || !opts.mode().is_readonly() {
            return Err(vars::SQLITE_CANTOPEN);
        }
        let token = path.ok_or(vars::SQLITE_CANTOPEN)?;
        let file = lock(&PENDING)
            .as_mut()
            .and_then(|p| p.remove(token))
            .ok_or(vars::SQLITE_CANTOPEN)?;
        Ok(Handle {
            file,
            last: LastChunk::default(),
        })
    }

    fn delete(&self, _path: &str) -> VfsResult<()> {
        Err(vars::SQLITE_IOERR_DELETE)
    }

    fn access(&self, _path: &str, _flags: AccessFlags) -> VfsResult<bool> {
        // Nothing but the database exists here: no journal, no WAL.
        Ok(false)
    }

    fn file_size(&self, handle: &mut Handle) -> VfsResult<usize> {
        usize::try_from(handle.file.len()).map_err(|_| vars::SQLITE_IOERR_FSTAT)
    }

    fn truncate(&self, _handle: &mut Handle, _size: usize) -> VfsResult<()> {
        Err(vars::SQLITE_READONLY)
    }

    fn write(&self, _handle: &mut Handle, _offset: usize, _data: &[u8]) -> VfsResult<usize> {
        Err(vars::SQLITE_READONLY)
    }

    fn read(&self, handle: &mut Handle, offset: usize, data: &mut [u8]) -> VfsResult<usize> {
        // A chunk that does not authenticate is an error, never other bytes.
        handle
            .file
            .read_at(offset as u64, data, &mut handle.last)
            .map_err(|_| vars::SQLITE_IOERR_READ)
    }

    fn device_characteristics(&self, _handle: &mut Handle) -> VfsResult<i32> {
        Ok(DEFAULT_DEVICE_CHARACTERISTICS | SQLITE_IOCAP_SUBPAGE_READ)
    }

    fn lock(&self, _handle: &mut Handle, _level: LockLevel) -> VfsResult<()> {
        // Read-only and immutable: no other writer to keep out.
        Ok(())
    }

    fn unlock(&self, _handle: &mut Handle, _level: LockLevel) -> VfsResult<()> {
        Ok(())
    }

    fn check_reserved_lock(&self, _handle: &mut Handle) -> VfsResult<bool> {
        Ok(false)
    }

    fn close(&self, _handle: Handle) -> VfsResult<()> {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;
    use crate::sealed_file::{self, HEADER_LEN, SEALED_CHUNK_LEN};
    use std::path::PathBuf;

    fn key() -> FileKey {
        FileKey::from_bytes([5; 32])
    }

    fn blob(i: i64) -> Vec<u8> {
        (0..3000).map(|j| ((i * 7 + j) % 251) as u8).collect()
    }

    /// A SQLite database of `rows` rows of 3000-byte blobs, sealed into `dir/sealed.db`; the
    /// plaintext is removed.
    fn sealed_db(dir: &Path, rows: i64) -> PathBuf {
        let plain = dir.join("plain.db");
        let conn = crate::db::open_plain_file(&plain).unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)")
            .unwrap();
        for i in 0..rows {
            conn.execute(
                "INSERT INTO t VALUES (?1, ?2)",
                rusqlite::params![i, blob(i)],
            )
            .unwrap();
        }
        drop(conn);
        let sealed = dir.join("sealed.db");
        sealed_file::seal_stream(
            &key(),
            File::open(&plain).unwrap(),
            File::create(&sealed).unwrap(),
        )
        .unwrap();
        std::fs::remove_file(&plain).unwrap();
        sealed
    }

    /// Opens the sealed database at `path` and connects to it, with a cache of two chunks.
    fn open(path: &Path, key: &FileKey) -> Result<(SealedDb, Connection), MapError> {
        let db = SealedDb::open(path, key, 2)?;
        let conn = db.connect()?;
        Ok((db, conn))
    }

    fn row(conn: &Connection, id: i64) -> rusqlite::Result<Vec<u8>> {
        conn.query_row("SELECT data FROM t WHERE id = ?1", [id], |r| r.get(0))
    }

    #[test]
    fn the_bundled_sqlite_reads_a_sealed_database_through_the_vfs() {
        // The VFS registers with the SQLite that rusqlite links (SQLCipher here): registered
        // with another copy of SQLite, it would not be found by name and nothing would open.
        let dir = tempfile::tempdir().unwrap();
        let path = sealed_db(dir.path(), 200);
        let (db, conn) = open(&path, &key()).unwrap();
        for i in [0, 57, 199] {
            assert_eq!(row(&conn, i).unwrap(), blob(i));
        }
        let verdict: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(verdict, "ok");
        assert!(
            conn.execute("INSERT INTO t VALUES (1000, x'00')", [])
                .is_err(),
            "read-only"
        );
        // A sort that spills needs temporary storage: in memory, no file opened.
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM (SELECT data FROM t ORDER BY data DESC)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 200);
        assert!(
            lock(&PENDING)
                .as_ref()
                .is_none_or(|p| p.values().all(|f| !Arc::ptr_eq(f, &db.0))),
            "the connection left no file behind"
        );
    }

    #[test]
    fn large_rows_are_read_past_the_page_cache_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.db");
        let conn = crate::db::open_plain_file(&plain).unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)")
            .unwrap();
        // Rows of 50 to 250 KB: chains of overflow pages across chunks, ending mid-page.
        let big = |i: i64| -> Vec<u8> {
            (0..50_000 + i * 40_007)
                .map(|j| ((i * 13 + j * 7) % 251) as u8)
                .collect()
        };
        for i in 0..6 {
            conn.execute(
                "INSERT INTO t VALUES (?1, ?2)",
                rusqlite::params![i, big(i)],
            )
            .unwrap();
        }
        drop(conn);
        let path = dir.path().join("sealed.db");
        sealed_file::seal_stream(
            &key(),
            File::open(&plain).unwrap(),
            File::create(&path).unwrap(),
        )
        .unwrap();
        let (db, conn) = open(&path, &key()).unwrap();
        let mut handle = Handle {
            file: db.0.clone(),
            last: LastChunk::default(),
        };
        let caps = SealedVfs.device_characteristics(&mut handle).unwrap();
        assert_ne!(
            caps & SQLITE_IOCAP_SUBPAGE_READ,
            0,
            "overflow pages read directly"
        );
        // A page cache far smaller than a row: every read of it goes to the VFS.
        conn.pragma_update(None, "cache_size", 8).unwrap();
        for i in [3, 0, 5, 3, 1, 4, 2, 5] {
            assert_eq!(row(&conn, i).unwrap(), big(i), "row {i}");
        }
    }

    #[test]
    fn connections_sharing_a_small_cache_read_every_row_as_written() {
        let dir = tempfile::tempdir().unwrap();
        // About 1.3 MB: twenty chunks, ten times what the cache holds.
        let rows = 400;
        let path = sealed_db(dir.path(), rows);
        let db = SealedDb::open(&path, &key(), 2).unwrap();
        let threads: Vec<_> = (0..3i64)
            .map(|t| {
                let conn = db.connect().unwrap();
                std::thread::spawn(move || {
                    let mut state = t as u64 * 0x9E37_79B9 + 1;
                    for _ in 0..300 {
                        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                        let id = ((state >> 33) % rows as u64) as i64;
                        assert_eq!(row(&conn, id).unwrap(), blob(id), "row {id}");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(
            db.0.cached_chunks() <= 2,
            "the cache stays within its bound"
        );
    }

    #[test]
    fn a_damaged_page_is_an_error_every_time_and_a_wrong_key_opens_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = sealed_db(dir.path(), 200);
        assert!(open(&path, &FileKey::from_bytes([6; 32])).is_err());
        let mut raw = std::fs::read(&path).unwrap();
        // In the third chunk: pages of rows, not of the schema.
        raw[HEADER_LEN + 2 * SEALED_CHUNK_LEN + 100] ^= 1;
        std::fs::write(&path, &raw).unwrap();
        let (db, conn) = open(&path, &key()).unwrap();
        let mut stmt = conn.prepare("SELECT data FROM t ORDER BY id").unwrap();
        let all: rusqlite::Result<Vec<Vec<u8>>> =
            stmt.query_map([], |r| r.get(0)).unwrap().collect();
        assert!(all.is_err(), "an error, never other bytes");
        // Rows on the damaged chunk's pages fail however often they are asked for, through
        // any connection; the others read as written.
        let failing = |conn: &Connection| -> Vec<i64> {
            (0..200)
                .filter(|&i| match row(conn, i) {
                    Ok(got) => {
                        assert_eq!(got, blob(i));
                        false
                    }
                    Err(_) => true,
                })
                .collect()
        };
        let first = failing(&conn);
        assert!(!first.is_empty() && first.len() < 50, "{first:?}");
        assert_eq!(failing(&conn), first);
        assert_eq!(failing(&db.connect().unwrap()), first);
    }
}
