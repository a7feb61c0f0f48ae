//! One project: typed create/read/update/delete of its documents, import of entries from
//! peers, reads for sync, reindexing, and leaving. Owns the project's database (one writer
//! connection, one reader); calls `feed` to write and verify and `index` to materialise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::watch;

use crate::crypto::{DeviceKeys, JoinDetails};
use crate::db::{self, StoreError};
use crate::error::{Error, Result};
use crate::feed::{self, Entry, FeedError, FeedKeys};
use crate::ids::{DeviceId, DocId, Namespace, ProjectId, Timestamp, VersionId};
use crate::index::{self, Document, Query};
use crate::schema::{
    self, DeviceInfo, Doc, DocType, DocValue, ProjectSettings, Role, ValidationError,
};
use crate::sync::{self, PeerRole, ProjectTag, SyncError};

/// Where the time of a write comes from. The system clock, or a fixed one in tests.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(Timestamp::now)
}

/// How many coordinators deep a role record's authority is traced before it is ignored.
pub const MAX_ROLE_CHAIN: usize = 16;

/// The document id of a device's info record in a project.
pub fn device_info_doc_id(device: &DeviceId) -> DocId {
    let h = blake3::derive_key("mapeo 2026-11 device info doc id v1", device.as_bytes());
    DocId::from_hex_bytes(&h[..16])
}

/// The document id of the role record about a device.
pub fn role_doc_id(device: &DeviceId) -> DocId {
    DocId::from_hex_bytes(device.as_bytes())
}

/// Attempts of [`Project::checkpoint`] while another connection holds the log.
pub const CHECKPOINT_RETRIES: usize = 100;
/// Pause between those attempts.
pub const CHECKPOINT_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

/// Entries read per step while reindexing, bounding memory whatever the project's size.
pub const REINDEX_CHUNK: usize = 1_000;

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportSummary {
    /// New entries appended to feeds.
    pub appended: usize,
    /// Of those, entries that hold a valid document version and were indexed.
    pub indexed: usize,
}

/// An open project.
pub struct Project {
    keys: FeedKeys,
    creator: DeviceId,
    device: DeviceKeys,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    clock: Clock,
    writable: AtomicBool,
    path: PathBuf,
    checkpointer: db::Checkpointer,
    changes: watch::Sender<u64>,
    data_sync: watch::Sender<bool>,
}

impl std::fmt::Debug for Project {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Project({:?})", self.keys.project_id())
    }
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock cannot leave a half-written transaction behind (it rolls
    // back on drop), so the connection is safe to keep using.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Project {
    /// Opens (creating if needed) the project database at `path`.
    pub fn open(path: &Path, join: &JoinDetails, device: DeviceKeys, clock: Clock) -> Result<Self> {
        let writer = db::open_writer(path, db::PROJECT_MIGRATIONS)?;
        let reader = db::open_reader(path)?;
        let checkpointer = db::Checkpointer::start(path, &writer)?;
        Ok(Project {
            keys: FeedKeys::new(&join.project_key()),
            creator: join.creator,
            device,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            clock,
            writable: AtomicBool::new(true),
            path: path.to_owned(),
            checkpointer,
            changes: watch::Sender::new(0),
            data_sync: watch::Sender::new(false),
        })
    }

    /// The project's public id.
    pub fn id(&self) -> ProjectId {
        *self.keys.project_id()
    }

    /// The device that created the project.
    pub fn creator(&self) -> DeviceId {
        self.creator
    }

    /// This device's id.
    pub fn device_id(&self) -> DeviceId {
        self.device.device_id()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn set_writable(&self, writable: bool) {
        self.writable.store(writable, Ordering::SeqCst);
    }

    fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// Runs `f` in one immediate (write-locking) transaction, committing if it succeeds.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        index::flush_search(&tx, false)?;
        tx.commit()?;
        self.checkpointer.committed();
        self.changes.send_modify(|n| *n += 1);
        Ok(out)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        f(&lock(&self.reader))
    }

    fn check_writable(&self) -> Result<()> {
        if self.writable.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(Error::ProjectLeft)
        }
    }

    /// Appends one of our own versions and indexes it.
    fn append_doc(&self, tx: &Transaction<'_>, doc: &Doc) -> Result<Document> {
        doc.validate()?;
        let bytes = doc.encode()?;
        let ns = doc.doc_type().namespace();
        let (entry, entry_id) = feed::append_local(tx, &self.keys, &self.device, ns, &bytes)?;
        let version_id = entry.version_id();
        let heads = index::index_version(tx, &self.keys, entry_id, version_id, doc, &bytes)?;
        Ok(Document {
            created_by: doc
                .original_version_id
                .map_or(version_id.author, |v| v.author),
            updated_by: version_id.author,
            version_id,
            forks: heads.into_iter().filter(|f| *f != version_id).collect(),
            doc: doc.clone(),
        })
    }

    fn new_doc(&self, doc_id: DocId, value: DocValue) -> Doc {
        let now = self.now();
        Doc {
            doc_id,
            original_version_id: None,
            created_at: now,
            updated_at: now,
            links: Vec::new(),
            deleted: false,
            value,
        }
    }

    /// Creates a document with a new random id.
    pub fn create(&self, value: DocValue) -> Result<Document> {
        self.check_writable()?;
        let doc = self.new_doc(DocId::random(), value);
        self.write(|tx| self.append_doc(tx, &doc))
    }

    /// Creates many documents in one transaction (an import): all or none.
    pub fn create_many(&self, values: Vec<DocValue>) -> Result<Vec<Document>> {
        self.check_writable()?;
        let docs: Vec<Doc> = values
            .into_iter()
            .map(|v| self.new_doc(DocId::random(), v))
            .collect();
        self.write(|tx| docs.iter().map(|d| self.append_doc(tx, d)).collect())
    }

    /// Writes a new version of the document whose versions `links` names, replacing them.
    /// The links must exist, belong to one document, and that document must be of the same
    /// type as `value`.
    pub fn update(&self, links: &[VersionId], value: DocValue) -> Result<Document> {
        self.check_writable()?;
        value.validate()?;
        self.write(|tx| {
            let current = self.resolve_links(tx, links, value.doc_type())?;
            let doc = self.next_version(&current, links.to_vec(), false, value);
            self.append_doc(tx, &doc)
        })
    }

    /// Deletes a document: a tombstone that replaces every current head.
    pub fn delete(&self, doc_id: &DocId) -> Result<Document> {
        self.check_writable()?;
        self.write(|tx| {
            let current = index::get(tx, doc_id)?.ok_or(Error::NotFound { what: "document" })?;
            let heads = index::head_versions(tx, doc_id)?;
            let doc = self.next_version(&current, heads, true, current.doc.value.clone());
            self.append_doc(tx, &doc)
        })
    }

    fn next_version(
        &self,
        current: &Document,
        links: Vec<VersionId>,
        deleted: bool,
        value: DocValue,
    ) -> Doc {
        let created_at = current.doc.created_at;
        Doc {
            doc_id: current.doc.doc_id.clone(),
            original_version_id: Some(
                current
                    .doc
                    .original_version_id
                    .unwrap_or(current.version_id),
            ),
            created_at,
            updated_at: self.now().max(created_at),
            links,
            deleted,
            value,
        }
    }

    /// Checks update links and returns the document they belong to.
    fn resolve_links(
        &self,
        conn: &Connection,
        links: &[VersionId],
        doc_type: DocType,
    ) -> Result<Document> {
        if links.is_empty() {
            return Err(ValidationError::NoLinks.into());
        }
        let mut doc_id: Option<DocId> = None;
        for link in links {
            let entry = feed::find_entry_id(conn, link)?.ok_or(ValidationError::LinkNotFound)?;
            let of = index::load_indexed_version(conn, &self.keys, entry)?
                .ok_or(ValidationError::LinkNotFound)?
                .doc_id;
            match &doc_id {
                Some(d) if *d != of => return Err(ValidationError::LinkToOtherDoc.into()),
                _ => doc_id = Some(of),
            }
        }
        let doc_id = doc_id.ok_or(ValidationError::NoLinks)?;
        let current = index::get(conn, &doc_id)?.ok_or(ValidationError::LinkNotFound)?;
        if current.doc.doc_type() != doc_type {
            return Err(ValidationError::LinkToOtherType.into());
        }
        Ok(current)
    }

    /// A document's current version and forks. Deleted documents are not found.
    pub fn get(&self, doc_id: &DocId) -> Result<Document> {
        match self.get_including_deleted(doc_id)? {
            d if d.doc.deleted => Err(Error::NotFound { what: "document" }),
            d => Ok(d),
        }
    }

    /// A document's current version and forks, even if that version is a deletion.
    pub fn get_including_deleted(&self, doc_id: &DocId) -> Result<Document> {
        self.read(|c| index::get(c, doc_id)?.ok_or(Error::NotFound { what: "document" }))
    }

    /// One specific version of a document (current or not).
    pub fn get_version(&self, version: &VersionId) -> Result<Document> {
        self.read(|c| {
            let entry =
                feed::find_entry_id(c, version)?.ok_or(Error::NotFound { what: "version" })?;
            let doc = index::load_indexed_version(c, &self.keys, entry)?
                .ok_or(Error::NotFound { what: "version" })?;
            Ok(Document {
                created_by: doc.original_version_id.map_or(version.author, |v| v.author),
                updated_by: version.author,
                version_id: *version,
                forks: Vec::new(),
                doc,
            })
        })
    }

    /// Documents matching a query, newest first.
    pub fn list(&self, query: &Query) -> Result<Vec<Document>> {
        let spatial = query.bbox.is_some() || query.text.is_some();
        if spatial && query.doc_type != DocType::Observation {
            return Err(Error::InvalidQuery(
                "area and text filters apply to observations",
            ));
        }
        if let Some(b) = query.bbox {
            let lat_ok = |x: f64| (-90.0..=90.0).contains(&x);
            let lon_ok = |x: f64| (-180.0..=180.0).contains(&x);
            if !(lat_ok(b.south) && lat_ok(b.north) && lon_ok(b.west) && lon_ok(b.east))
                || b.south > b.north
            {
                return Err(Error::InvalidQuery("bounding box out of range"));
            }
        }
        if (query.text.is_some() || query.bbox.is_some())
            && self.read(|c| Ok(index::search_pending(c)?))?
        {
            self.write(|tx| Ok(index::flush_search(tx, true)?))?;
        }
        self.read(|c| Ok(index::list(c, query)?))
    }

    /// The project's settings (name, description, color); empty if none were written yet.
    pub fn settings(&self) -> Result<ProjectSettings> {
        let id = self.settings_doc_id();
        match self.get(&id) {
            Ok(Document {
                doc:
                    Doc {
                        value: DocValue::ProjectSettings(s),
                        ..
                    },
                ..
            }) => Ok(s),
            Ok(_) | Err(Error::NotFound { .. }) => Ok(ProjectSettings::default()),
            Err(e) => Err(e),
        }
    }

    /// The project settings' document id: the project id, in hex (like the role records'
    /// device ids).
    fn settings_doc_id(&self) -> DocId {
        DocId::from_hex_bytes(self.id().as_bytes())
    }

    /// Writes the project's settings (replacing every current version of them).
    pub fn set_settings(&self, settings: ProjectSettings) -> Result<Document> {
        let id = self.settings_doc_id();
        self.put_singleton(id, DocValue::ProjectSettings(settings))
    }

    /// Writes this device's name and type into the project.
    pub fn set_device_info(&self, info: DeviceInfo) -> Result<Document> {
        self.put_singleton(
            device_info_doc_id(&self.device_id()),
            DocValue::DeviceInfo(info),
        )
    }

    /// A device's role in this project as this device knows it: the creator is provable from
    /// the project key; any other role comes from a role record written by the creator or a
    /// coordinator (or, for *left*, by the device itself).
    pub fn role(&self, device: &DeviceId) -> Result<PeerRole> {
        if *device == self.creator {
            return Ok(PeerRole::Creator);
        }
        self.read(|c| self.role_in(c, device, 0))
    }

    fn role_in(&self, c: &Connection, device: &DeviceId, depth: usize) -> Result<PeerRole> {
        if *device == self.creator {
            return Ok(PeerRole::Creator);
        }
        let Some(d) = index::get(c, &role_doc_id(device))? else {
            return Ok(PeerRole::NoRole);
        };
        let DocValue::Role(r) = &d.doc.value else {
            return Ok(PeerRole::NoRole);
        };
        if d.doc.deleted {
            return Ok(PeerRole::NoRole);
        }
        let author = d.updated_by;
        let authorized = author == self.creator
            || (r.role_id == schema::ROLE_LEFT && author == *device)
            || (depth < MAX_ROLE_CHAIN
                && author != *device
                && matches!(
                    self.role_in(c, &author, depth + 1)?,
                    PeerRole::Creator | PeerRole::Coordinator
                ));
        if !authorized {
            return Ok(PeerRole::NoRole);
        }
        Ok(match r.role_id.as_str() {
            schema::ROLE_COORDINATOR => PeerRole::Coordinator,
            schema::ROLE_MEMBER => PeerRole::Member,
            schema::ROLE_BLOCKED => PeerRole::Blocked,
            schema::ROLE_LEFT => PeerRole::Left,
            _ => PeerRole::NoRole,
        })
    }

    /// Gives a device a role (`coordinator`, `member` or `blocked`). Only the creator and
    /// coordinators may; the creator's own role cannot be changed here.
    pub fn assign_role(&self, device: &DeviceId, role_id: &str) -> Result<Document> {
        if !matches!(
            self.role(&self.device_id())?,
            PeerRole::Creator | PeerRole::Coordinator
        ) {
            return Err(Error::NotAllowed(
                "only the creator and coordinators assign roles",
            ));
        }
        if *device == self.creator {
            return Err(Error::NotAllowed("the creator's role cannot be changed"));
        }
        let value = DocValue::Role(Role {
            role_id: role_id.to_owned(),
            from_index: 0,
            reason: None,
        });
        self.put_singleton(role_doc_id(device), value)
    }

    /// Turns data sync for this project on or off here (auth and config always flow).
    pub fn set_data_sync(&self, on: bool) {
        self.data_sync
            .send_if_modified(|v| std::mem::replace(v, on) != on);
    }

    /// Whether data sync is on here.
    pub fn data_sync_enabled(&self) -> bool {
        *self.data_sync.borrow()
    }

    /// Creates or replaces a document with a well-known id.
    fn put_singleton(&self, doc_id: DocId, value: DocValue) -> Result<Document> {
        self.check_writable()?;
        value.validate()?;
        self.write(|tx| {
            let doc = match index::get(tx, &doc_id)? {
                None => self.new_doc(doc_id.clone(), value),
                Some(current) => {
                    let heads = index::head_versions(tx, &doc_id)?;
                    self.next_version(&current, heads, false, value)
                }
            };
            self.append_doc(tx, &doc)
        })
    }

    /// Verifies entries from another device and appends and indexes the new ones, all in one
    /// transaction: a refused entry refuses the batch and leaves the store unchanged. Entries
    /// that are authentic but hold no valid document are kept in their feed and not shown.
    pub fn import(&self, entries: &[Entry]) -> Result<ImportSummary> {
        let result = self.write(|tx| {
            let appended = feed::verify_and_append(tx, &self.keys, entries)?;
            let mut summary = ImportSummary {
                appended: appended.len(),
                indexed: 0,
            };
            for a in appended {
                if let Some(doc) = decode_valid(&a.plaintext, a.version.namespace) {
                    index::index_version(
                        tx,
                        &self.keys,
                        a.entry_id,
                        a.version,
                        &doc,
                        &a.plaintext,
                    )?;
                    summary.indexed += 1;
                }
            }
            Ok(summary)
        });
        if let Err(Error::Feed(FeedError::ForkedFeed {
            author,
            namespace,
            seq,
        })) = &result
        {
            let evidence = entries
                .iter()
                .find(|e| e.author == *author && e.namespace == *namespace && e.seq == *seq);
            if let Some(e) = evidence {
                let now = self.now();
                self.write(|tx| Ok(feed::record_conflict(tx, e, now)?))?;
            }
        }
        result
    }

    /// Entries `start..end` of one feed, for a peer that lacks them.
    pub fn read_entries(
        &self,
        author: &DeviceId,
        ns: Namespace,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>> {
        self.read(|c| Ok(feed::read_range(c, author, ns, start, end)?))
    }

    /// Every feed this device holds and its length.
    pub fn have_vector(&self) -> Result<std::collections::BTreeMap<(DeviceId, Namespace), u64>> {
        self.read(|c| Ok(feed::have_vector(c)?))
    }

    /// How many forked-feed conflicts (cloned identities) have been detected.
    pub fn conflict_count(&self) -> Result<u64> {
        self.read(|c| Ok(feed::conflict_count(c)?))
    }

    /// Runs SQLite's full integrity check on the project database: `true` if it is intact.
    pub fn check_integrity(&self) -> Result<bool> {
        self.read(|c| {
            let verdict: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            Ok(verdict == "ok")
        })
    }

    /// Copies the write-ahead log into the database file and truncates it: before copying the
    /// file elsewhere, or to measure the database's size.
    /// Retries while the background checkpointer holds the log, up to
    /// [`CHECKPOINT_RETRIES`] times.
    pub fn checkpoint(&self) -> Result<()> {
        let conn = lock(&self.writer);
        for _ in 0..CHECKPOINT_RETRIES {
            let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
            if busy == 0 {
                return Ok(());
            }
            std::thread::sleep(CHECKPOINT_RETRY_PAUSE);
        }
        Err(StoreError::Busy.into())
    }

    /// Drops the index and rebuilds it from the feeds.
    pub fn reindex(&self) -> Result<()> {
        self.write(|tx| self.reindex_in(tx))
    }

    fn reindex_in(&self, tx: &Transaction<'_>) -> Result<()> {
        // Locations and text are queued per document and enter their indexes once, at commit.
        index::clear(tx)?;
        let ids = feed::all_entry_ids(tx)?;
        for chunk in ids.chunks(REINDEX_CHUNK) {
            for &id in chunk {
                let (entry, plaintext) = feed::read_plaintext(tx, &self.keys, id)?;
                if let Some(doc) = decode_valid(&plaintext, entry.namespace) {
                    index::index_version(tx, &self.keys, id, entry.version_id(), &doc, &plaintext)?;
                }
            }
        }
        Ok(())
    }

    /// Leaves the project: records *left* in our own auth feed, deletes every other device's
    /// feeds, and rebuilds the index from what remains. Afterwards the project refuses writes.
    pub(crate) fn leave(&self) -> Result<()> {
        self.check_writable()?;
        let me = self.device_id();
        let doc_id = role_doc_id(&me);
        let left = DocValue::Role(Role {
            role_id: schema::ROLE_LEFT.to_owned(),
            from_index: 0,
            reason: None,
        });
        self.write(|tx| {
            let doc = match index::get(tx, &doc_id)? {
                None => self.new_doc(doc_id.clone(), left),
                Some(current) => {
                    let heads = index::head_versions(tx, &doc_id)?;
                    self.next_version(&current, heads, false, left)
                }
            };
            self.append_doc(tx, &doc)?;
            feed::purge_other_authors(tx, &me)?;
            self.reindex_in(tx)
        })?;
        self.set_writable(false);
        Ok(())
    }
}

/// Decodes a payload into a document version, or `None` if it is not a valid one for its
/// namespace (such entries stay in their feed and are never shown).
fn decode_valid(plaintext: &[u8], ns: Namespace) -> Option<Doc> {
    let doc = Doc::decode(plaintext).ok()?;
    (doc.validate().is_ok() && doc.doc_type().namespace() == ns).then_some(doc)
}

fn sync_err(e: Error) -> SyncError {
    match e {
        Error::Feed(f) => SyncError::InvalidEntries(f.to_string()),
        other => SyncError::Store(other.to_string()),
    }
}

impl sync::Replica for Project {
    fn project_id(&self) -> ProjectId {
        self.id()
    }

    fn tag(&self, handshake_hash: &[u8; 32]) -> ProjectTag {
        ProjectTag(self.keys.sync_tag(handshake_hash))
    }

    fn have_vector(&self) -> Result<BTreeMap<sync::FeedKey, u64>, SyncError> {
        Project::have_vector(self).map_err(sync_err)
    }

    fn read_entries(
        &self,
        feed: sync::FeedKey,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, SyncError> {
        Project::read_entries(self, &feed.0, feed.1, start, end).map_err(sync_err)
    }

    fn import(&self, entries: &[Entry]) -> Result<usize, SyncError> {
        Project::import(self, entries)
            .map(|s| s.appended)
            .map_err(sync_err)
    }

    fn role_of(&self, device: &DeviceId) -> PeerRole {
        self.role(device).unwrap_or(PeerRole::NoRole)
    }

    fn own_role(&self) -> PeerRole {
        self.role(&self.device_id()).unwrap_or(PeerRole::NoRole)
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn data_sync(&self) -> watch::Receiver<bool> {
        self.data_sync.subscribe()
    }
}

/// Typed writes for callers that name the document type they mean (the bindings' per-type
/// methods): a document of another type is refused with the store unchanged.
impl Project {
    /// Deletes a document of type `doc_type`, like [`Project::delete`]. Fails with
    /// [`Error::NotFound`] if there is no such document of that type.
    pub fn delete_of_type(&self, doc_id: &DocId, doc_type: DocType) -> Result<Document> {
        self.check_writable()?;
        self.write(|tx| {
            let current = index::get(tx, doc_id)?
                .filter(|d| d.doc.doc_type() == doc_type)
                .ok_or(Error::NotFound { what: "document" })?;
            let heads = index::head_versions(tx, doc_id)?;
            let doc = self.next_version(&current, heads, true, current.doc.value.clone());
            self.append_doc(tx, &doc)
        })
    }
}
