//! The stores' page format (crate `mapeo-page-cipher`), checked from the file's bytes with
//! independent code: every page of a store is XChaCha12 under the store's cipher key with
//! `IV ‖ 0⁸`, and its MAC is the XChaCha20-Poly1305 tag (under the MAC key, nonce
//! `IV ‖ page number ‖ 0⁴`) of nothing with `ciphertext ‖ IV` as associated data; a page
//! altered on disk is refused, never read as garbage; and the earlier format's key does not
//! read the store.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use mapeo_core::crypto::{DataFolderKey, DatabaseKey, RootKey};
use mapeo_core::db;

const PAGE: usize = 4096;
/// SQLCipher's reserved tail with `HMAC_SHA256`: a 16-byte IV, then a 32-byte MAC.
const IV: usize = 16;
const MAC: usize = 32;
const USABLE: usize = PAGE - IV - MAC;
const SECRET: &str = "cyanide pond behind the processing plant";

fn key() -> DatabaseKey {
    DataFolderKey::derive(&RootKey::from_bytes([7; 16]), &[8; 32]).device_database_key()
}

/// A store of a few pages holding [`SECRET`], its log folded into the file.
fn store(path: &Path, key: &DatabaseKey) {
    let conn = db::open_writer(path, Some(key), &[]).unwrap();
    conn.execute_batch("CREATE TABLE notes (t TEXT); CREATE INDEX notes_t ON notes (t);")
        .unwrap();
    for i in 0..200 {
        conn.execute("INSERT INTO notes VALUES (?1)", [format!("{SECRET} {i}")])
            .unwrap();
    }
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
}

#[test]
fn every_page_is_xchacha12_with_a_poly1305_mac() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let key = key();
    store(&path, &key);
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() >= 4 * PAGE && bytes.len().is_multiple_of(PAGE));
    assert!(!bytes.windows(12).any(|w| w == &SECRET.as_bytes()[..12]));
    let (cipher_key, mac_key) = *key.page_keys();
    let mut plain_pages = Vec::new();
    for (i, page) in bytes.chunks(PAGE).enumerate() {
        let pgno = u32::try_from(i + 1).unwrap();
        // Page 1 starts with the file's salt, in the clear; the rest is the page format.
        let start = if pgno == 1 { 16 } else { 0 };
        let (body, tail) = page.split_at(USABLE);
        let iv: [u8; IV] = tail[..IV].try_into().unwrap();
        let mut nonce = [0u8; 24];
        nonce[..IV].copy_from_slice(&iv);
        nonce[IV..IV + 4].copy_from_slice(&pgno.to_le_bytes());
        let tag = XChaCha20Poly1305::new((&mac_key).into())
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: &[],
                    aad: &page[start..USABLE + IV],
                },
            )
            .unwrap();
        assert_eq!(tail[IV..IV + 16], tag[..], "MAC of page {pgno}");
        assert_eq!(tail[IV + 16..IV + MAC], [0u8; 16]);
        let mut nonce = [0u8; 24];
        nonce[..IV].copy_from_slice(&iv);
        let mut plain = body[start..].to_vec();
        chacha20::XChaCha12::new((&cipher_key).into(), &nonce.into()).apply_keystream(&mut plain);
        plain_pages.push(plain);
    }
    // Deciphered, page 1 is SQLite's header page (its 100-byte header, less the salt's 16),
    // and every other page is a B-tree page of SQLite's four kinds, holding the text.
    let page1 = &plain_pages[0];
    assert_eq!(u16::from_be_bytes([page1[0], page1[1]]), 4096, "page size");
    for (i, p) in plain_pages.iter().enumerate().skip(1) {
        assert!(
            matches!(p[0], 0x02 | 0x05 | 0x0a | 0x0d | 0x00),
            "page {} begins with {:#x}",
            i + 1,
            p[0]
        );
    }
    assert!(
        plain_pages
            .iter()
            .any(|p| p.windows(SECRET.len()).any(|w| w == SECRET.as_bytes())),
        "the deciphered pages hold the text"
    );
    // The salt at the head of the file is the one the key literal gives SQLCipher.
    let literal = key.page_key_literal();
    assert_eq!(
        hex::encode(&bytes[..16]),
        literal[2 + 128..2 + 128 + 32],
        "salt"
    );
}

#[test]
fn a_page_altered_on_disk_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let key = key();
    store(&path, &key);
    let len = std::fs::metadata(&path).unwrap().len();
    // One bit of the last page's ciphertext.
    let at = len - PAGE as u64 + 100;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut byte = [0u8; 1];
    f.seek(SeekFrom::Start(at)).unwrap();
    std::io::Read::read_exact(&mut f, &mut byte).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&[byte[0] ^ 1]).unwrap();
    f.sync_all().unwrap();
    drop(f);
    let conn = db::open_writer(&path, Some(&key), &[]).unwrap();
    let read: Result<Vec<String>, _> = conn
        .prepare("SELECT t FROM notes")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect();
    let err = read.unwrap_err();
    assert!(
        matches!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
        ),
        "{err:?}"
    );
}

#[test]
fn the_earlier_formats_key_does_not_read_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let key = key();
    store(&path, &key);
    let conn = db::open_plain_file(&path).unwrap();
    db::apply_legacy_key(&conn, &key).unwrap();
    assert!(
        conn.query_row("SELECT count(*) FROM notes", [], |r| r.get::<_, i64>(0))
            .is_err()
    );
    drop(conn);
    let conn = db::open_writer(&path, Some(&key), &[]).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM notes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 200);
}
