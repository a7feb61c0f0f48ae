//! The materialised view of a project's documents, derived from its feeds: every valid
//! version, the links between them, and per document its current version, forks, location and
//! text. Order-independent: the same set of versions, indexed in any order, gives the same
//! rows. Owns the index tables and queries over them; never writes feeds.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::db::StoreError;
use crate::feed::{self, FeedKeys};
use crate::ids::{DeviceId, DocId, Timestamp, VersionId};
use crate::schema::{Doc, DocType, DocValue};

/// Most documents one query returns when it names no limit.
pub const DEFAULT_QUERY_LIMIT: u32 = u32::MAX;

/// A document as the app sees it: its current version and how it got there.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The current version's content and metadata.
    pub doc: Doc,
    /// The current version's id.
    pub version_id: VersionId,
    /// The device that created the document.
    pub created_by: DeviceId,
    /// The device that wrote the current version.
    pub updated_by: DeviceId,
    /// Other heads: concurrent versions that lost to the current one, for the UI to merge.
    pub forks: Vec<VersionId>,
}

impl Document {
    /// The document id.
    pub fn doc_id(&self) -> &DocId {
        &self.doc.doc_id
    }

    /// The document's content.
    pub fn value(&self) -> &DocValue {
        &self.doc.value
    }
}

/// A rectangle of latitude/longitude. `west > east` crosses the antimeridian.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    /// Southern edge, degrees.
    pub south: f64,
    /// Western edge, degrees.
    pub west: f64,
    /// Northern edge, degrees.
    pub north: f64,
    /// Eastern edge, degrees.
    pub east: f64,
}

/// Which documents to list. Filters combine with AND; results are newest first (by
/// `createdAt`, then doc id).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The document type to list.
    pub doc_type: DocType,
    /// Include deleted documents (tombstones).
    pub include_deleted: bool,
    /// Observations inside this box.
    pub bbox: Option<BoundingBox>,
    /// Created at or after this time.
    pub created_after: Option<Timestamp>,
    /// Created before this time.
    pub created_before: Option<Timestamp>,
    /// Observations and tracks of this preset (by preset doc id).
    pub preset: Option<DocId>,
    /// Observations whose notes or tag values contain every word (prefix match).
    pub text: Option<String>,
    /// At most this many.
    pub limit: u32,
    /// Skip this many first.
    pub offset: u32,
}

impl Query {
    /// Every non-deleted document of a type, newest first.
    pub fn all(doc_type: DocType) -> Self {
        Query {
            doc_type,
            include_deleted: false,
            bbox: None,
            created_after: None,
            created_before: None,
            preset: None,
            text: None,
            limit: DEFAULT_QUERY_LIMIT,
            offset: 0,
        }
    }
}

// Versions and links are keyed by the document's row, not its random text id: a new
// document's row comes after every other, so a large sync appends to these tables instead of
// rewriting pages all over them in every batch (see migration 0002).
const INSERT_VERSION: &str =
    "INSERT OR IGNORE INTO versions (doc_row, entry_id, updated_at) VALUES (?2, ?1, ?3)";
const INSERT_LINK: &str = "INSERT OR IGNORE INTO links (doc_row, target) VALUES (?1, ?2)";
// No JOIN here: SQLite re-prepares joined statements on every run when a bound value feeds
// the plan, which cost more than the query itself.
const SELECT_HEADS: &str = "SELECT v.entry_id, v.updated_at FROM versions v \
     WHERE v.doc_row = ?1 AND NOT EXISTS \
     (SELECT 1 FROM links l WHERE l.doc_row = ?1 AND l.target = v.entry_id)";
const SELECT_DOC_ROW: &str = "SELECT rowid FROM docs WHERE doc_id = ?1";
const SELECT_DOC_STATE: &str = "SELECT rowid, version, doc FROM docs WHERE doc_id = ?1";
// A new document and a changed one are written by separate statements rather than one
// upsert: `ON CONFLICT … DO UPDATE … RETURNING` makes SQLite keep a statement journal and a
// temporary table for every row, which cost more than the row itself. The insert does
// nothing for a document that has a row; that one is then read and updated.
const INSERT_DOC: &str = "INSERT INTO docs \
     (doc_id, schema, version, created_at, updated_at, deleted, created_by, preset_doc_id, forks, doc) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (doc_id) DO NOTHING";
const UPDATE_DOC: &str = "UPDATE docs SET schema = ?2, version = ?3, created_at = ?4, \
     updated_at = ?5, deleted = ?6, created_by = ?7, preset_doc_id = ?8, forks = ?9, doc = ?10 \
     WHERE rowid = ?1";
const QUEUE_SEARCH: &str = "INSERT OR IGNORE INTO search_pending (rowid) VALUES (?1)";
const SEARCH_BACKLOG: &str = "SELECT (SELECT max_rowid FROM search_mark), \
     (SELECT coalesce(max(rowid), 0) FROM docs), (SELECT count(*) FROM search_pending)";
// Rows of the backlog not staged by this connection (written before it opened, or by
// another one): their text and location are decoded from the stored document.
const SELECT_SEARCH_ROWS: &str = "SELECT rowid, doc FROM docs \
     WHERE (rowid > ?1 OR rowid IN (SELECT rowid FROM search_pending)) \
     AND rowid NOT IN (SELECT rowid FROM temp.search_stage)";
/// The writer's staging table: the text and location of every document row written since
/// the last batch, taken from the document as it is indexed, so that a batch need not read
/// and decode the documents again. A temporary table, so it rolls back with a refused
/// batch and is empty after a restart (the rows then come from `docs`).
const CREATE_STAGE: &str = "CREATE TEMP TABLE IF NOT EXISTS search_stage \
     (rowid INTEGER PRIMARY KEY, text TEXT, lat REAL, lon REAL)";
const INSERT_STAGE: &str =
    "INSERT OR REPLACE INTO temp.search_stage (rowid, text, lat, lon) VALUES (?1, ?2, ?3, ?4)";
const APPLY_STAGE: &str = "\
     DELETE FROM obs_text WHERE rowid IN (SELECT rowid FROM search_pending); \
     DELETE FROM obs_place WHERE id IN (SELECT rowid FROM search_pending); \
     INSERT INTO obs_text (rowid, text) SELECT rowid, text FROM temp.search_stage \
         WHERE text IS NOT NULL; \
     INSERT INTO obs_place (id, lat, lon) \
         SELECT rowid, lat, lon FROM temp.search_stage WHERE lat IS NOT NULL; \
     DELETE FROM search_pending; DELETE FROM temp.search_stage;";
const SET_SEARCH_MARK: &str = "UPDATE search_mark SET max_rowid = ?1 WHERE id = 1";
/// Queued location and text changes that make a write transaction move them into the
/// spatial and full-text indexes.
pub const SEARCH_FLUSH_THRESHOLD: i64 = 512;
/// The same, for a batch of a sync that more batches follow. Each move rewrites leaves of
/// the spatial index all over it (locations come in no order) and adds a full-text segment
/// to merge later, so moving the same documents in fewer, larger groups costs less, the more
/// so the larger the project. The queue's text and locations wait in the writer's memory:
/// a few hundred bytes each, so a few MB at most.
pub const STREAM_SEARCH_FLUSH_THRESHOLD: i64 = 8_192;
const SELECT_DOC_COLUMNS: &str = "SELECT d.doc, d.version, d.created_by, d.forks FROM docs d";
const SELECT_VERSION_EXISTS: &str = "SELECT 1 FROM versions \
     WHERE doc_row = (SELECT rowid FROM docs WHERE doc_id = ?1) AND entry_id = ?2";
const CLEAR_INDEX: &str = "DELETE FROM versions; DELETE FROM links; DELETE FROM docs; \
     DELETE FROM obs_place; DELETE FROM obs_text; DELETE FROM search_pending; \
     DELETE FROM temp.search_stage; UPDATE search_mark SET max_rowid = 0 WHERE id = 1;";

fn bytes_to_device(b: Vec<u8>) -> Result<DeviceId, StoreError> {
    let arr: [u8; 32] = b
        .try_into()
        .map_err(|_| StoreError::Corrupt("device id of wrong length"))?;
    Ok(DeviceId::from_stored(arr))
}

fn encode_forks(forks: &[VersionId]) -> Result<Option<Vec<u8>>, StoreError> {
    if forks.is_empty() {
        return Ok(None);
    }
    let mut buf = Vec::new();
    ciborium::into_writer(forks, &mut buf).map_err(|_| StoreError::Corrupt("forks encoding"))?;
    Ok(Some(buf))
}

fn decode_forks(b: Option<Vec<u8>>) -> Result<Vec<VersionId>, StoreError> {
    match b {
        None => Ok(Vec::new()),
        Some(b) => ciborium::from_reader(b.as_slice()).map_err(|_| StoreError::Corrupt("forks")),
    }
}

/// Adds one valid version to the index and recomputes its document. `plaintext` is the
/// encoded `doc` (the entry's decrypted payload). Returns the document's heads afterwards
/// (empty if this version was already indexed).
pub fn index_version(
    tx: &Transaction<'_>,
    keys: &FeedKeys,
    entry_id: i64,
    version: VersionId,
    doc: &Doc,
    plaintext: &[u8],
) -> Result<Vec<VersionId>, StoreError> {
    let incoming = Head {
        entry_id,
        version,
        updated_at: doc.updated_at.0,
    };
    // Most versions a sync brings are of documents not indexed yet: the row is tried first,
    // and the document's state read only when it already has one (one lookup fewer).
    if let Some(rowid) = insert_doc(tx, &incoming, doc, plaintext)? {
        // The only head: its version and links are keyed by the new row.
        add_version(tx, rowid, entry_id, doc)?;
        return Ok(vec![version]);
    }
    let (rowid, current_version, current_bytes): (i64, i64, Vec<u8>) = tx
        .prepare_cached(SELECT_DOC_STATE)?
        .query_row([doc.doc_id.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    if !add_version(tx, rowid, entry_id, doc)? {
        return Ok(Vec::new());
    }
    let mut heads = heads(tx, rowid)?;
    heads.sort_by_key(|h| (h.updated_at, h.version));
    let Some(winner) = heads.pop() else {
        return Err(StoreError::Corrupt("a document with no heads"));
    };
    let mut forks: Vec<VersionId> = heads.into_iter().map(|h| h.version).collect();
    forks.sort();
    let loaded: (Doc, Vec<u8>);
    let (winning_doc, bytes): (&Doc, &[u8]) = if winner.entry_id == entry_id {
        (doc, plaintext)
    } else if winner.entry_id == current_version {
        let d = Doc::decode(&current_bytes).map_err(|_| StoreError::Corrupt("indexed document"))?;
        loaded = (d, current_bytes);
        (&loaded.0, &loaded.1)
    } else {
        loaded = load_version(tx, keys, winner.entry_id)?;
        (&loaded.0, &loaded.1)
    };
    update_doc(tx, rowid, &winner, winning_doc, bytes, &forks)?;
    forks.push(winner.version);
    forks.sort();
    Ok(forks)
}

/// Records that `entry_id` is a version of the document at `rowid`, with the versions it
/// replaces. `false` if it was already indexed.
fn add_version(
    tx: &Transaction<'_>,
    rowid: i64,
    entry_id: i64,
    doc: &Doc,
) -> Result<bool, StoreError> {
    let inserted =
        tx.prepare_cached(INSERT_VERSION)?
            .execute(params![entry_id, rowid, doc.updated_at.0])?;
    if inserted == 0 {
        return Ok(false);
    }
    for link in &doc.links {
        let target = feed::entry_id_for(tx, link)?;
        tx.prepare_cached(INSERT_LINK)?
            .execute(params![rowid, target])?;
    }
    Ok(true)
}

struct Head {
    entry_id: i64,
    version: VersionId,
    updated_at: i64,
}

fn heads(conn: &Connection, rowid: i64) -> Result<Vec<Head>, StoreError> {
    let mut stmt = conn.prepare_cached(SELECT_HEADS)?;
    let rows = stmt.query_map([rowid], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (entry_id, updated_at) = row?;
        out.push(Head {
            entry_id,
            updated_at,
            version: feed::version_of(conn, entry_id)?,
        });
    }
    Ok(out)
}

/// Loads and decodes the version stored at `entry_id`.
pub fn load_version(
    conn: &Connection,
    keys: &FeedKeys,
    entry_id: i64,
) -> Result<(Doc, Vec<u8>), StoreError> {
    let (_, plaintext) = feed::read_plaintext(conn, keys, entry_id)?;
    let doc = Doc::decode(&plaintext).map_err(|_| StoreError::Corrupt("indexed version"))?;
    Ok((doc, plaintext))
}

/// Writes the row of a document not indexed yet, with `winner` its only head: `None` if the
/// document has a row already (nothing is written then).
fn insert_doc(
    tx: &Transaction<'_>,
    winner: &Head,
    doc: &Doc,
    bytes: &[u8],
) -> Result<Option<i64>, StoreError> {
    let inserted = write_row(
        tx,
        INSERT_DOC,
        &doc.doc_id.as_str(),
        winner,
        doc,
        None,
        bytes,
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    let rowid = tx.last_insert_rowid();
    // A new row is above the search mark and will be picked up by the next batch.
    stage_search(tx, rowid, doc)?;
    Ok(Some(rowid))
}

/// Rewrites a document's row from its winning head (the head with the latest `updatedAt`,
/// ties broken by the greater version id; the other heads are `forks`).
fn update_doc(
    tx: &Transaction<'_>,
    rowid: i64,
    winner: &Head,
    doc: &Doc,
    bytes: &[u8],
    forks: &[VersionId],
) -> Result<(), StoreError> {
    let forks = encode_forks(forks)?;
    write_row(tx, UPDATE_DOC, &rowid, winner, doc, forks, bytes)?;
    // A changed one is listed.
    tx.prepare_cached(QUEUE_SEARCH)?.execute([rowid])?;
    stage_search(tx, rowid, doc)?;
    Ok(())
}

/// Runs [`INSERT_DOC`] or [`UPDATE_DOC`], which take the same columns after `key` (the
/// document id, or the row): the rows written for `doc` with `winner` its winning head.
fn write_row(
    tx: &Transaction<'_>,
    sql: &str,
    key: &dyn rusqlite::ToSql,
    winner: &Head,
    doc: &Doc,
    forks: Option<Vec<u8>>,
    bytes: &[u8],
) -> Result<usize, StoreError> {
    // Who created a document: the author of its first version.
    let created_by = doc
        .original_version_id
        .map_or(winner.version.author, |v| v.author);
    Ok(tx.prepare_cached(sql)?.execute(params![
        key,
        doc.doc_type().schema_name(),
        winner.entry_id,
        doc.created_at.0,
        doc.updated_at.0,
        doc.deleted,
        created_by.as_bytes(),
        doc.preset_doc_id().map(DocId::as_str),
        forks,
        bytes
    ])?)
}

/// Creates the writer connection's staging table (see [`CREATE_STAGE`]); index writes on
/// that connection need it.
pub fn prepare_writer(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(CREATE_STAGE)?;
    Ok(())
}

/// Stages the text and location a document row holds for the next batch (nothing for a
/// deleted document or one that is not an observation: the row is staged empty).
fn stage_search(tx: &Transaction<'_>, rowid: i64, doc: &Doc) -> Result<(), StoreError> {
    let (text, location) = match (&doc.value, doc.deleted) {
        (DocValue::Observation(obs), false) => (
            Some(obs.search_text()).filter(|t| !t.is_empty()),
            doc.value.location(),
        ),
        _ => (None, None),
    };
    tx.prepare_cached(INSERT_STAGE)?.execute(params![
        rowid,
        text,
        location.map(|l| l.0),
        location.map(|l| l.1)
    ])?;
    Ok(())
}

/// The search mark, the highest document row, and how many observations wait to enter the
/// spatial and text indexes (rows above the mark and changed rows listed as pending).
fn search_backlog(conn: &Connection) -> Result<(i64, i64, i64), StoreError> {
    let (mark, top, pending): (i64, i64, i64) = conn
        .prepare_cached(SEARCH_BACKLOG)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok((mark, top, (top - mark).max(0) + pending))
}

/// Moves new and changed observations into the spatial and full-text indexes if at least
/// `min_backlog` of them wait (1: any at all). Area and text queries call it with 1 first, so
/// they never miss a change.
pub fn flush_search(tx: &Transaction<'_>, min_backlog: i64) -> Result<(), StoreError> {
    let (mark, top, backlog) = search_backlog(tx)?;
    if backlog == 0 || backlog < min_backlog {
        return Ok(());
    }
    {
        let mut rows = tx.prepare_cached(SELECT_SEARCH_ROWS)?;
        let mut it = rows.query([mark])?;
        while let Some(row) = it.next()? {
            let rowid: i64 = row.get(0)?;
            let bytes: Vec<u8> = row.get(1)?;
            let doc = Doc::decode(&bytes).map_err(|_| StoreError::Corrupt("indexed document"))?;
            stage_search(tx, rowid, &doc)?;
        }
    }
    tx.execute_batch(APPLY_STAGE)?;
    tx.prepare_cached(SET_SEARCH_MARK)?.execute([top])?;
    Ok(())
}

/// Whether new or changed observations are waiting to enter the spatial and text indexes.
pub fn search_pending(conn: &Connection) -> Result<bool, StoreError> {
    Ok(search_waiting(conn)? > 0)
}

/// How many new or changed observations wait to enter the spatial and text indexes.
pub fn search_waiting(conn: &Connection) -> Result<u64, StoreError> {
    let (_, _, waiting) = search_backlog(conn)?;
    Ok(u64::try_from(waiting).unwrap_or(0))
}

/// Empties the index (feeds untouched), ready for [`index_version`] to rebuild it.
pub fn clear(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.execute_batch(CLEAR_INDEX)?;
    Ok(())
}

/// A `docs` row as selected by [`SELECT_DOC_COLUMNS`], before decoding.
struct DocRow {
    doc: Vec<u8>,
    version: i64,
    created_by: Vec<u8>,
    forks: Option<Vec<u8>>,
}

fn row_to_document(r: &rusqlite::Row<'_>) -> rusqlite::Result<DocRow> {
    Ok(DocRow {
        doc: r.get(0)?,
        version: r.get(1)?,
        created_by: r.get(2)?,
        forks: r.get(3)?,
    })
}

fn build_document(row: DocRow, version_id: VersionId) -> Result<Document, StoreError> {
    Ok(Document {
        doc: Doc::decode(&row.doc).map_err(|_| StoreError::Corrupt("indexed document"))?,
        version_id,
        created_by: bytes_to_device(row.created_by)?,
        updated_by: version_id.author,
        forks: decode_forks(row.forks)?,
    })
}

/// The current state of one document, deleted or not.
pub fn get(conn: &Connection, doc_id: &DocId) -> Result<Option<Document>, StoreError> {
    const SQL: &str = "SELECT doc, version, created_by, forks FROM docs WHERE doc_id = ?1";
    let row = conn
        .prepare_cached(SQL)?
        .query_row([doc_id.as_str()], row_to_document)
        .optional()?;
    row.map(|row| {
        let version = feed::version_of(conn, row.version)?;
        build_document(row, version)
    })
    .transpose()
}

/// An indexed version (one that holds a valid document), loaded from its feed.
pub fn load_indexed_version(
    conn: &Connection,
    keys: &FeedKeys,
    entry_id: i64,
) -> Result<Option<Doc>, StoreError> {
    let Some((_, plaintext)) = feed::read_held_plaintext(conn, keys, entry_id)? else {
        return Ok(None);
    };
    let Ok(doc) = Doc::decode(&plaintext) else {
        return Ok(None);
    };
    let indexed = conn
        .prepare_cached(SELECT_VERSION_EXISTS)?
        .query_row(params![doc.doc_id.as_str(), entry_id], |_| Ok(()))
        .optional()?;
    Ok(indexed.map(|()| doc))
}

/// The current heads of a document (its winner and forks), as version ids.
pub fn head_versions(conn: &Connection, doc_id: &DocId) -> Result<Vec<VersionId>, StoreError> {
    let Some(rowid) = conn
        .prepare_cached(SELECT_DOC_ROW)?
        .query_row([doc_id.as_str()], |r| r.get::<_, i64>(0))
        .optional()?
    else {
        return Ok(Vec::new());
    };
    let mut v: Vec<VersionId> = heads(conn, rowid)?.into_iter().map(|h| h.version).collect();
    v.sort();
    Ok(v)
}

/// Turns free text into an FTS5 query: every word must appear, as a word prefix.
fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// Lists documents matching a query.
pub fn list(conn: &Connection, q: &Query) -> Result<Vec<Document>, StoreError> {
    let mut sql = String::from(SELECT_DOC_COLUMNS);
    let mut args: Vec<(&'static str, Value)> = Vec::new();
    sql.push_str(" WHERE d.schema = :schema");
    args.push((":schema", Value::Text(q.doc_type.schema_name().to_owned())));
    if !q.include_deleted {
        sql.push_str(" AND d.deleted = 0");
    }
    if let Some(b) = q.bbox {
        sql.push_str(
            " AND d.rowid IN (SELECT id FROM obs_place WHERE lat >= :south \
             AND lat <= :north AND ",
        );
        sql.push_str(if b.west <= b.east {
            "lon >= :west AND lon <= :east)"
        } else {
            "(lon >= :west OR lon <= :east))"
        });
        args.extend([
            (":south", Value::Real(b.south)),
            (":north", Value::Real(b.north)),
            (":west", Value::Real(b.west)),
            (":east", Value::Real(b.east)),
        ]);
    }
    if let Some(t) = q.created_after {
        sql.push_str(" AND d.created_at >= :after");
        args.push((":after", Value::Integer(t.0)));
    }
    if let Some(t) = q.created_before {
        sql.push_str(" AND d.created_at < :before");
        args.push((":before", Value::Integer(t.0)));
    }
    if let Some(p) = &q.preset {
        sql.push_str(" AND d.preset_doc_id = :preset");
        args.push((":preset", Value::Text(p.as_str().to_owned())));
    }
    if let Some(text) = q.text.as_deref() {
        match fts_query(text) {
            Some(m) => {
                sql.push_str(
                    " AND d.rowid IN (SELECT rowid FROM obs_text WHERE obs_text MATCH :text)",
                );
                args.push((":text", Value::Text(m)));
            }
            // Text with no words matches nothing rather than everything.
            None => return Ok(Vec::new()),
        }
    }
    sql.push_str(" ORDER BY d.created_at DESC, d.doc_id LIMIT :limit OFFSET :offset");
    args.push((":limit", Value::Integer(i64::from(q.limit))));
    args.push((":offset", Value::Integer(i64::from(q.offset))));
    let mut stmt = conn.prepare_cached(&sql)?;
    let params: Vec<(&str, &dyn rusqlite::ToSql)> = args
        .iter()
        .map(|(k, v)| (*k, v as &dyn rusqlite::ToSql))
        .collect();
    let rows = stmt.query_map(params.as_slice(), row_to_document)?;
    let feeds = feed::feed_names(conn)?;
    let mut out = Vec::new();
    for row in rows {
        let row = row?;
        let (feed_id, seq) = feed::split_entry_id(row.version)?;
        let &(author, namespace) = feeds
            .get(&feed_id)
            .ok_or(StoreError::Corrupt("document version in an unknown feed"))?;
        out.push(build_document(
            row,
            VersionId {
                author,
                namespace,
                seq,
            },
        )?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_becomes_a_safe_prefix_query() {
        assert_eq!(
            fts_query("río Negro"),
            Some("\"río\"* \"Negro\"*".to_owned())
        );
        assert_eq!(
            fts_query("a\"b OR c*"),
            Some("\"a\"* \"b\"* \"OR\"* \"c\"*".to_owned())
        );
        assert_eq!(fts_query("  -- "), None);
    }
}
