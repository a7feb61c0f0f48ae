//! What keeps a data folder unreadable without the root key: its salt file (from which, with
//! the root key, every at-rest key derives), the in-place encryption of databases and the
//! in-place sealing of files (media, map packages) written by versions before encryption, and
//! the destruction of the salt that a wipe starts with. Opens no store for use (`manager`,
//! `blobs` and `maps` do) and knows nothing of projects' contents.
//!
//! Crash safety of the migration: a database is encrypted into a temporary file beside it,
//! which is synced and then renamed over the plaintext file, one database at a time. A kill
//! at any point leaves each database either plaintext (migrated at the next open) or
//! encrypted, never neither. The salt file is written (synced, renamed) before the first
//! database is encrypted and is never replaced by another salt: a folder whose salt file is
//! missing but which holds encrypted databases lost its keys, and is refused rather than
//! given a new salt. A wipe replaces the salt with its mark instead: that folder's leftovers
//! are deleted at the next open and it starts afresh.
//! A plaintext file is sealed the same way ([`seal_in_place`]): into a temporary file that
//! the file's store sweeps when it opens, synced, then renamed over the plaintext file.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::crypto::{
    DATA_FOLDER_SALT_LEN, DataFolderKey, DatabaseKey, FileKey, RootKey, random_bytes,
};
use crate::db::{self, StoreError};
use crate::sealed_file::SealedWriter;

/// File name of the salt file inside the data folder.
pub const SALT_FILE: &str = "at-rest.salt";
/// First bytes of the salt file.
const MAGIC: &[u8; 8] = b"MAPEOSLT";
/// Version of the salt file's layout, which also tells how far the folder's databases were
/// brought: [`FORMAT`] when some may still be plaintext or of the earlier page format (AES),
/// [`FORMAT_PAGE_CIPHER`] once every one is in the page format (`mapeo_page_cipher`), so that
/// later opens need not try each database's format.
const FORMAT: u8 = 1;
/// See [`FORMAT`]: written once every database of the folder is in the page format.
const FORMAT_PAGE_CIPHER: u8 = 2;
/// Salt file: magic, version, salt, check value.
const SALT_FILE_LEN: usize = 8 + 1 + DATA_FOLDER_SALT_LEN + 32;
/// The whole content of the salt file once a wipe has destroyed the keys: the folder was
/// wiped on purpose, and whatever is still in it is to be deleted (a wipe cut short by a kill
/// is finished at the next open, instead of leaving the folder unusable).
const WIPED: &[u8; 8] = b"MAPEOWPD";
/// Suffix of the temporary file a database is encrypted into.
const ENCRYPTING_SUFFIX: &str = ".encrypting";
/// Header of every plaintext SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Why a data folder's keys could not be had.
#[derive(Debug, Error)]
pub enum AtRestError {
    /// The salt file's check value does not match: another root key made this folder.
    #[error("this data folder belongs to another identity: the root key does not match")]
    WrongRootKey,
    /// The salt file is gone but encrypted databases remain: the folder was wiped (or the
    /// file deleted); what it holds can never be read again.
    #[error("this data folder's keys were destroyed (wiped): its data cannot be read")]
    KeysDestroyed,
    /// The salt file is not one this version wrote.
    #[error("the data folder's key file is damaged or unknown")]
    BadSaltFile,
    /// The salt file has a layout newer than this version knows: a newer version of Mapeo
    /// wrote the folder (and may have changed its stores' format), so this one leaves it as
    /// it is.
    #[error(
        "this data folder was written by a newer version of mapeo (key file layout {layout}): update mapeo to open it"
    )]
    NewerVersion {
        /// The layout byte found.
        layout: u8,
    },
    /// A file operation failed.
    #[error("file system error: {0}")]
    Io(#[from] std::io::Error),
    /// Encrypting a database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether the file at `path` is a plaintext SQLite database (by its header).
pub fn is_plaintext_database(path: &Path) -> Result<bool, std::io::Error> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut head = [0u8; 16];
    let mut got = 0;
    while got < head.len() {
        match f.read(&mut head[got..])? {
            0 => return Ok(false),
            n => got += n,
        }
    }
    Ok(&head == SQLITE_HEADER)
}

/// Whether the file exists and is not empty.
fn has_content(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

/// The data folder's key for `root`: read from the salt file, or, in a folder that has none
/// and holds no encrypted database (new, or written before encryption), made with a fresh
/// salt. `databases` lists the folder's database files.
pub fn unlock(
    dir: &Path,
    root: &RootKey,
    databases: &[PathBuf],
) -> Result<DataFolderKey, AtRestError> {
    let path = dir.join(SALT_FILE);
    match std::fs::read(&path) {
        Ok(bytes) if bytes == WIPED => Err(AtRestError::KeysDestroyed),
        Ok(bytes) => {
            let (salt, check) = parse(&bytes)?;
            let key = DataFolderKey::derive(root, &salt);
            if !bool::from(subtle::ConstantTimeEq::ct_eq(
                &key.check_value()[..],
                &check[..],
            )) {
                return Err(AtRestError::WrongRootKey);
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            for db in databases {
                if has_content(db) && !is_plaintext_database(db)? {
                    return Err(AtRestError::KeysDestroyed);
                }
            }
            let salt: [u8; DATA_FOLDER_SALT_LEN] = random_bytes();
            let key = DataFolderKey::derive(root, &salt);
            let mut bytes = Vec::with_capacity(SALT_FILE_LEN);
            bytes.extend_from_slice(MAGIC);
            bytes.push(FORMAT);
            bytes.extend_from_slice(&salt);
            bytes.extend_from_slice(&key.check_value());
            write_atomically(&path, &bytes)?;
            Ok(key)
        }
        Err(e) => Err(e.into()),
    }
}

fn parse(bytes: &[u8]) -> Result<([u8; DATA_FOLDER_SALT_LEN], [u8; 32]), AtRestError> {
    if let Some(&layout) = bytes.get(8)
        && bytes.starts_with(MAGIC)
        && layout > FORMAT_PAGE_CIPHER
    {
        return Err(AtRestError::NewerVersion { layout });
    }
    if bytes.len() != SALT_FILE_LEN
        || &bytes[..8] != MAGIC
        || !matches!(bytes[8], FORMAT | FORMAT_PAGE_CIPHER)
    {
        return Err(AtRestError::BadSaltFile);
    }
    let salt = bytes[9..9 + DATA_FOLDER_SALT_LEN]
        .try_into()
        .map_err(|_| AtRestError::BadSaltFile)?;
    let check = bytes[9 + DATA_FOLDER_SALT_LEN..]
        .try_into()
        .map_err(|_| AtRestError::BadSaltFile)?;
    Ok((salt, check))
}

/// Writes `bytes` to a temporary file, syncs it, renames it to `path` and syncs the folder.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), std::io::Error> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> Result<(), std::io::Error> {
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Whether every database of the folder is known to be in the page format (the salt file
/// says so; see [`FORMAT`]).
pub fn stores_in_page_format(dir: &Path) -> bool {
    std::fs::read(dir.join(SALT_FILE))
        .is_ok_and(|b| b.len() == SALT_FILE_LEN && b[8] == FORMAT_PAGE_CIPHER)
}

/// Records in the salt file that every database of the folder is in the page format: the
/// same salt and check value, rewritten atomically. Call it only once [`encrypt_in_place`]
/// succeeded for every database of the folder.
pub fn mark_stores_in_page_format(dir: &Path) -> Result<(), AtRestError> {
    let path = dir.join(SALT_FILE);
    let mut bytes = std::fs::read(&path)?;
    let (_, _) = parse(&bytes)?;
    if bytes[8] != FORMAT_PAGE_CIPHER {
        bytes[8] = FORMAT_PAGE_CIPHER;
        write_atomically(&path, &bytes)?;
    }
    Ok(())
}

/// What a database file holds, as far as its migration is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// No database, or one in the page format already (or one no key opens: the store's own
    /// opening reports it, as damaged or as another folder's).
    Nothing,
    /// A plaintext database (versions before encryption).
    Plaintext,
    /// A database of the earlier page format: SQLCipher's AES-256-CBC pages.
    Aes,
}

/// Which format the database at `path` is in. `may_be_aes`: the folder may hold databases
/// of the earlier page format (trying to read one costs an open).
fn found(path: &Path, key: &DatabaseKey, may_be_aes: bool) -> Result<Found, AtRestError> {
    if !has_content(path) {
        return Ok(Found::Nothing);
    }
    if is_plaintext_database(path)? {
        return Ok(Found::Plaintext);
    }
    if !may_be_aes {
        return Ok(Found::Nothing);
    }
    let reads = |legacy: bool| -> Result<bool, StoreError> {
        let conn = db::open_connection(
            path,
            // Read-write: a read-only connection may fail to open a log it cannot recover.
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        if legacy {
            db::apply_legacy_key(&conn, key)?;
        } else {
            db::apply_key(&conn, key)?;
        }
        Ok(conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })
            .is_ok())
    };
    if reads(false)? {
        return Ok(Found::Nothing);
    }
    Ok(if reads(true)? {
        Found::Aes
    } else {
        Found::Nothing
    })
}

/// Brings the database at `path` to the page format under `key`, in place: a plaintext one
/// (versions before encryption) and, if `may_be_aes`, one of the earlier page format
/// (SQLCipher's AES pages). Nothing to do if it is missing or in the page format already.
/// Crash-safe: see the module's note.
pub fn encrypt_in_place(
    path: &Path,
    key: &DatabaseKey,
    may_be_aes: bool,
) -> Result<(), AtRestError> {
    let tmp = with_suffix(path, ENCRYPTING_SUFFIX);
    let found = found(path, key, may_be_aes)?;
    // A temporary file left by a kill is stale whatever is found.
    remove_if_present(&tmp)?;
    if found == Found::Nothing {
        return Ok(());
    }
    {
        let conn = db::open_connection(
            path,
            // CREATE: an attached database opens with the main one's flags.
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                | rusqlite::OpenFlags::SQLITE_OPEN_CREATE
                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(StoreError::from)?;
        if found == Found::Aes {
            db::apply_legacy_key(&conn, key)?;
        }
        conn.busy_timeout(db::BUSY_TIMEOUT)
            .map_err(StoreError::from)?;
        // Leaving WAL folds the log into the file and deletes it (SQLite's own crash-safe
        // step): an old log must never meet the new file.
        let _: String = conn
            .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
            .map_err(StoreError::from)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(StoreError::from)?;
        let target = tmp
            .to_str()
            .ok_or(StoreError::Corrupt("data folder path is not unicode"))?;
        db::register_page_keys(key)?;
        let literal = key.page_key_literal();
        conn.execute(
            "ATTACH DATABASE ?1 AS encrypted KEY ?2",
            [target, literal.as_str()],
        )
        .map_err(StoreError::from)?;
        // Settings before the attached file's first page is written; they match
        // `db::apply_key`'s.
        conn.execute_batch(
            "PRAGMA encrypted.cipher_page_size = 4096; \
             PRAGMA encrypted.cipher_hmac_algorithm = HMAC_SHA256; \
             PRAGMA encrypted.cipher_kdf_algorithm = PBKDF2_HMAC_SHA256;",
        )
        .map_err(StoreError::from)?;
        conn.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))
            .map_err(StoreError::from)?;
        conn.execute_batch(&format!("PRAGMA encrypted.user_version = {version};"))
            .map_err(StoreError::from)?;
        conn.execute_batch("DETACH DATABASE encrypted;")
            .map_err(StoreError::from)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(&tmp)?
        .sync_all()?;
    for stale in ["-wal", "-journal"] {
        if with_suffix(path, stale).exists() {
            // A log still beside the old file: leave it as it is, retry next open.
            remove_if_present(&tmp)?;
            return Err(StoreError::Corrupt("a database being migrated kept its log").into());
        }
    }
    remove_if_present(&with_suffix(path, "-shm"))?;
    std::fs::rename(&tmp, path)?;
    sync_dir(path)?;
    Ok(())
}

/// How [`seal_in_place`] leaves the sealed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealed {
    /// A complete file, its last chunk sealed as the last; `read_only` sets its permissions.
    Whole {
        /// Make the sealed file read-only.
        read_only: bool,
    },
    /// An unfinished download cut at a chunk boundary: its last chunk is sealed as not the
    /// last, so that the download resumes after it.
    Unfinished,
}

/// Seals the plaintext `plain` under `key` into `tmp` (a new, empty file at `tmp_path` that
/// the caller's store sweeps when it opens), syncs it, renames it over `path` and syncs the
/// folder: the one step of a file's migration a kill can interrupt, and it leaves either file
/// whole. On failure the temporary file is removed and `path` is unchanged.
pub fn seal_in_place(
    key: &FileKey,
    mut plain: impl Read,
    tmp: File,
    tmp_path: &Path,
    path: &Path,
    how: Sealed,
) -> Result<(), std::io::Error> {
    let sealed = (|| {
        let mut w = SealedWriter::new(key, tmp)?;
        std::io::copy(&mut plain, &mut w)?;
        let file = match how {
            Sealed::Unfinished => {
                w.seal_full()?;
                w.get_ref().try_clone()?
            }
            Sealed::Whole { .. } => w.finish()?,
        };
        file.sync_all()?;
        if how == (Sealed::Whole { read_only: true }) {
            let mut perms = file.metadata()?.permissions();
            perms.set_readonly(true);
            file.set_permissions(perms)?;
        }
        drop(file);
        std::fs::rename(tmp_path, path)?;
        sync_dir(path)
    })();
    if sealed.is_err() {
        let _ = std::fs::remove_file(tmp_path);
    }
    sealed
}

fn remove_if_present(path: &Path) -> Result<(), std::io::Error> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Destroys the data folder's keys: overwrites the salt file with random bytes and syncs it,
/// then puts the wipe's mark in its place (renamed over it, folder synced). From then on
/// nothing encrypted in the folder can be read, even with the root key, and the folder says
/// it was wiped ([`was_wiped`]) until everything else in it is deleted.
pub fn destroy_keys(dir: &Path) -> Result<(), std::io::Error> {
    let path = dir.join(SALT_FILE);
    match std::fs::OpenOptions::new().write(true).open(&path) {
        Ok(mut f) => {
            let noise: [u8; SALT_FILE_LEN] = random_bytes();
            f.write_all(&noise)?;
            f.sync_all()?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    write_atomically(&path, WIPED)
}

/// Whether the folder's keys were destroyed by a wipe whose deletion of the files may not
/// have finished (the mark [`destroy_keys`] leaves is still there): what remains can be
/// deleted, and the folder made new.
pub fn was_wiped(dir: &Path) -> bool {
    std::fs::read(dir.join(SALT_FILE)).is_ok_and(|bytes| bytes == WIPED)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_wrong_root_key_and_a_destroyed_salt_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootKey::from_bytes([1; 16]);
        let key = unlock(dir.path(), &root, &[]).unwrap();
        let again = unlock(dir.path(), &root, &[]).unwrap();
        assert_eq!(key.check_value(), again.check_value());
        assert!(matches!(
            unlock(dir.path(), &RootKey::from_bytes([2; 16]), &[]),
            Err(AtRestError::WrongRootKey)
        ));
        let db_path = dir.path().join("d.db");
        let conn = db::open_writer(
            &db_path,
            Some(&key.device_database_key()),
            db::DEVICE_MIGRATIONS,
        )
        .unwrap();
        drop(conn);
        destroy_keys(dir.path()).unwrap();
        assert!(was_wiped(dir.path()));
        assert!(matches!(
            unlock(dir.path(), &root, &[db_path]),
            Err(AtRestError::KeysDestroyed)
        ));
    }

    #[test]
    fn a_folder_of_a_newer_layout_is_named_as_such_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootKey::from_bytes([4; 16]);
        unlock(dir.path(), &root, &[]).unwrap();
        mark_stores_in_page_format(dir.path()).unwrap();
        assert!(stores_in_page_format(dir.path()));
        let path = dir.path().join(SALT_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[8] = FORMAT_PAGE_CIPHER + 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = unlock(dir.path(), &root, &[]).unwrap_err();
        assert!(
            matches!(err, AtRestError::NewerVersion { layout } if layout == FORMAT_PAGE_CIPHER + 1),
            "{err:?}"
        );
        assert!(err.to_string().contains("newer version"));
        assert!(mark_stores_in_page_format(dir.path()).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "left as it was");
        // Garbage after the magic is still damage, not a newer version.
        std::fs::write(&path, b"MAPEOSL").unwrap();
        assert!(matches!(
            unlock(dir.path(), &root, &[]),
            Err(AtRestError::BadSaltFile)
        ));
    }

    #[test]
    fn a_plaintext_database_is_encrypted_in_place_with_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let conn = db::open_writer(&path, None, db::PROJECT_MIGRATIONS).unwrap();
        conn.execute_batch("CREATE TABLE secret_notes (t TEXT); INSERT INTO secret_notes VALUES ('oil slick near the river');")
            .unwrap();
        drop(conn);
        let key = unlock(dir.path(), &RootKey::from_bytes([3; 16]), &[]).unwrap();
        let dbk = key.device_database_key();
        encrypt_in_place(&path, &dbk, true).unwrap();
        assert!(!is_plaintext_database(&path).unwrap());
        let raw = std::fs::read(&path).unwrap();
        assert!(!raw.windows(9).any(|w| w == b"oil slick"));
        let conn = db::open_writer(&path, Some(&dbk), db::PROJECT_MIGRATIONS).unwrap();
        let t: String = conn
            .query_row("SELECT t FROM secret_notes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(t, "oil slick near the river");
        let v: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(Some(v), db::PROJECT_MIGRATIONS.last().map(|m| m.version));
        drop(conn);
        // Idempotent.
        encrypt_in_place(&path, &dbk, true).unwrap();
    }
}
