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
use crate::roles::PeerRole;
use crate::roles::{self, RoleBook};
use crate::schema::{
    self, DeviceInfo, Doc, DocType, DocValue, FeedPositions, ProjectSettings, Role, ValidationError,
};
use crate::sync::{self, ProjectTag, SyncError};

pub use crate::ids::{Clock, device_info_doc_id, role_doc_id, system_clock};

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

/// A device in a project's member list.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The device.
    pub device_id: DeviceId,
    /// The name it gave (if its device info has arrived).
    pub name: Option<String>,
    /// The kind of device it said it is.
    pub device_type: Option<schema::DeviceType>,
    /// Its role now.
    pub role: PeerRole,
    /// When it was first given a role (by the giver's clock); `None` for the creator.
    pub joined_at: Option<Timestamp>,
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
    /// Set once SQLite reports the file damaged: from then on every read and write is
    /// refused with [`StoreError::Damaged`] (sticky for the life of this handle).
    damaged: Arc<AtomicBool>,
    path: PathBuf,
    /// `None` once the store is closed for a repair.
    checkpointer: Mutex<Option<db::Checkpointer>>,
    changes: watch::Sender<u64>,
    data_sync: watch::Sender<bool>,
    /// Bumped to have every session ask its peer for its data-sync switch afresh.
    sync_asks: watch::Sender<u64>,
    own_role: watch::Sender<PeerRole>,
    /// The project's blobs (photos, audio, video), next to its database.
    pub(crate) blobs: crate::blobs::BlobStore,
    /// Which variants this device downloads (see `attachments`).
    pub(crate) blob_policy: watch::Sender<crate::attachments::BlobPolicy>,
    /// What the policy wants of the blob index, kept while neither changes (`attachments`).
    pub(crate) wanted_cache: Mutex<Option<crate::attachments::WantedCache>>,
    /// Whether local writes wait for this device's earlier entries (`own_entries`).
    own_entries: own_entries::OwnEntries,
    /// Records a clean close, so the next open need not read the whole file: last, so that
    /// it drops after every connection above has closed.
    _clean_close: db::CleanClose,
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
    /// A damaged database file (SQLite's quick check, run first) is refused with
    /// [`StoreError::Damaged`] before anything is written to it.
    /// `key` is its SQLCipher key
    /// ([`DataFolderKey::project_database_key`](crate::crypto::DataFolderKey::project_database_key));
    /// `blob_key` seals its media ([`crate::blobs::FILE_KEY_PURPOSE`]): plaintext media of a
    /// version before sealing are sealed in place here.
    pub fn open(
        path: &Path,
        key: &crate::crypto::DatabaseKey,
        blob_key: crate::crypto::FileKey,
        join: &JoinDetails,
        device: DeviceKeys,
        clock: Clock,
    ) -> Result<Self> {
        let store = db::Damaged::Project(join.project_key().project_id());
        let (writer, verified) = db::open_checked(path, key, db::PROJECT_MIGRATIONS, store)?;
        let damaged = Arc::new(AtomicBool::new(false));
        tracing::debug!(project = %join.project_key().project_id().short(), ?verified, "project store opened");
        let opened = (|| {
            index::prepare_writer(&writer)?;
            let reader = db::open_reader(path, key)?;
            let checkpointer = db::Checkpointer::start(path, key, &writer, damaged.clone())?;
            let book = roles::load(&reader, join.creator)?;
            let own_role = book.current(&device.device_id());
            let keys = FeedKeys::new(&join.project_key());
            keys.set_epochs(crate::epochs::load(&reader, &keys, &book, &device)?.ring);
            let own_entries = own_entries::OwnEntries::load(&reader)?;
            Ok::<_, Error>((reader, checkpointer, own_role, keys, own_entries))
        })();
        let (reader, checkpointer, own_role, keys, own_entries) = match opened {
            Ok(o) => o,
            Err(e) if db::chain_has_damage(&e) => return Err(StoreError::Damaged(store).into()),
            Err(e) => return Err(e),
        };
        let changes = watch::Sender::new(0);
        let blob_dir = path
            .parent()
            .unwrap_or(Path::new("."))
            .join(crate::blobs::BLOBS_DIR);
        let blobs = crate::blobs::BlobStore::open(&blob_dir, blob_key, changes.clone())?;
        Ok(Project {
            keys,
            creator: join.creator,
            device,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            clock,
            writable: AtomicBool::new(true),
            damaged: damaged.clone(),
            path: path.to_owned(),
            checkpointer: Mutex::new(Some(checkpointer)),
            changes,
            data_sync: watch::Sender::new(false),
            sync_asks: watch::Sender::new(0),
            own_role: watch::Sender::new(own_role),
            blobs,
            blob_policy: watch::Sender::new(crate::attachments::BlobPolicy::default()),
            wanted_cache: Mutex::new(None),
            own_entries,
            _clean_close: db::CleanClose::new(path, damaged),
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
        self.write_then_search(index::SEARCH_FLUSH_THRESHOLD, f)
    }

    /// [`Project::write`], moving queued observations into the spatial and text indexes in
    /// the same transaction if at least `min_backlog` of them wait.
    fn write_then_search<T>(
        &self,
        min_backlog: i64,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.check_intact()?;
        let mut conn = lock(&self.writer);
        let out = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            index::flush_search(&tx, min_backlog)?;
            tx.commit()?;
            Ok(out)
        })();
        let out = self.note_damage(out)?;
        drop(conn);
        if let Some(c) = &*self
            .checkpointer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            c.committed();
        }
        self.changes.send_modify(|n| *n += 1);
        if let Ok(role) = self.role(&self.device_id()) {
            self.own_role
                .send_if_modified(|r| std::mem::replace(r, role) != role);
        }
        Ok(out)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.check_intact()?;
        let conn = lock(&self.reader);
        // One snapshot for every statement of the read: a commit that lands between two of
        // them (a peer's entries from a new feed, say) must not be seen by one and not the
        // other. Dropping the transaction ends it; a read changes nothing to keep.
        let out = conn
            .unchecked_transaction()
            .map_err(Error::from)
            .and_then(|tx| f(&tx));
        self.note_damage(out)
    }

    /// Whether SQLite has reported this project's database damaged (see
    /// [`StoreError::Damaged`]); a damaged project refuses every read and write until it is
    /// repaired ([`Manager::repair_project`](crate::Manager::repair_project)).
    pub fn is_damaged(&self) -> bool {
        self.damaged.load(Ordering::SeqCst)
    }

    /// Closes the database files for a repair: this handle refuses everything from now on
    /// (as damaged), and holds no file open, so the files can be moved aside while the app
    /// or a session still holds it.
    pub(crate) fn close_store(&self) {
        self.damaged.store(true, Ordering::SeqCst);
        let checkpointer = self
            .checkpointer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(checkpointer);
        for conn in [&self.writer, &self.reader] {
            // An in-memory stand-in: the handle keeps a connection, the file is closed.
            if let Ok(blank) = crate::db::open_in_memory() {
                drop(std::mem::replace(&mut *lock(conn), blank));
            }
        }
    }

    fn damaged_error(&self) -> Error {
        StoreError::Damaged(db::Damaged::Project(self.id())).into()
    }

    fn check_intact(&self) -> Result<()> {
        if self.is_damaged() {
            return Err(self.damaged_error());
        }
        Ok(())
    }

    /// Turns SQLite's report of a malformed page (anywhere in `result`'s error chain) into
    /// the sticky damaged state.
    fn note_damage<T>(&self, result: Result<T>) -> Result<T> {
        match result {
            Err(e) if db::chain_has_damage(&e) => {
                if !self.damaged.swap(true, Ordering::SeqCst) {
                    tracing::error!(project = %self.id().short(), "project store is damaged: {e}");
                }
                Err(self.damaged_error())
            }
            other => other,
        }
    }

    fn check_writable(&self) -> Result<()> {
        if self.writable.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(Error::ProjectLeft)
        }
    }

    /// Appends one of our own versions and indexes it, if our role lets it count (otherwise
    /// nothing is written: the transaction rolls back).
    fn append_doc(&self, tx: &Transaction<'_>, doc: &Doc) -> Result<Document> {
        self.check_own_entries_known()?;
        doc.validate()?;
        self.check_answers(tx, doc)?;
        let bytes = doc.encode()?;
        let ns = doc.doc_type().namespace();
        let (entry, entry_id) = feed::append_local(tx, &self.keys, &self.device, ns, &bytes)?;
        let version_id = entry.version_id();
        let before = roles::load(tx, self.creator)?;
        let book = if roles::record(tx, entry_id, version_id, doc)? {
            roles::load(tx, self.creator)?
        } else {
            before.clone()
        };
        if !book.counts(entry_id, &version_id, doc) {
            return Err(Error::NotAllowed(
                "this device's role in the project does not allow that",
            ));
        }
        let heads = if book == before {
            index::index_version(tx, &self.keys, entry_id, version_id, doc, &bytes)?
        } else {
            // Roles changed: what counts may have changed for anything already held.
            self.rebuild_index(tx, &book)?;
            index::head_versions(tx, &doc.doc_id)?
        };
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

    /// The version id our next entry in `ns` will have.
    fn next_version_id(&self, tx: &Transaction<'_>, ns: Namespace) -> Result<VersionId> {
        let author = self.device_id();
        Ok(VersionId {
            author,
            namespace: ns,
            seq: feed::length(tx, &author, ns)?,
        })
    }

    /// A new document with an id bound to its first version (see [`roles::created_doc_id`]).
    fn created_doc(&self, tx: &Transaction<'_>, value: DocValue) -> Result<Doc> {
        let v = self.next_version_id(tx, value.doc_type().namespace())?;
        Ok(self.new_doc(roles::created_doc_id(&v), value))
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

    /// Creates a document (its id is new, and bound to this device as its creator).
    pub fn create(&self, value: DocValue) -> Result<Document> {
        self.check_writable()?;
        value.validate()?;
        self.write(|tx| {
            let doc = self.created_doc(tx, value)?;
            self.append_doc(tx, &doc)
        })
    }

    /// Creates many documents in one transaction (an import): all or none.
    pub fn create_many(&self, values: Vec<DocValue>) -> Result<Vec<Document>> {
        self.check_writable()?;
        for v in &values {
            v.validate()?;
        }
        self.write(|tx| {
            values
                .into_iter()
                .map(|v| {
                    let doc = self.created_doc(tx, v)?;
                    self.append_doc(tx, &doc)
                })
                .collect()
        })
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
            self.write_then_search(1, |_| Ok(()))?;
        }
        self.read(|c| Ok(index::list(c, query)?))
    }

    /// How many new or changed observations wait to enter the area and text indexes. They
    /// enter in groups (larger ones while a sync has more on its way), and an area or text
    /// query brings every one in first: this never hides anything from a search, it says
    /// how much work the next one has before it.
    pub fn search_backlog(&self) -> Result<u64> {
        self.read(|c| Ok(index::search_waiting(c)?))
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

    /// Writes the project's settings (replacing every current version of them). The category
    /// selection and metadata (`defaultPresets`, `configMetadata`) belong to the last
    /// categories import: left `None` here, they keep their current values, so renaming a
    /// project from an app that knows nothing of them does not lose the categories' order.
    pub fn set_settings(&self, mut settings: ProjectSettings) -> Result<Document> {
        if settings.default_presets.is_none() || settings.config_metadata.is_none() {
            let current = self.settings()?;
            settings.default_presets = settings.default_presets.or(current.default_presets);
            settings.config_metadata = settings.config_metadata.or(current.config_metadata);
        }
        let id = self.settings_doc_id();
        self.put_singleton(id, DocValue::ProjectSettings(settings))
    }

    /// Writes this device's name and type into the project.
    /// While this device's earlier entries have not come back (see
    /// [`Project::is_awaiting_own_entries`]) the name is kept, written once they have, and
    /// [`Error::AwaitingOwnEntries`] is returned.
    pub fn set_device_info(&self, info: DeviceInfo) -> Result<Document> {
        if self.keep_device_info(&info) {
            return Err(Error::AwaitingOwnEntries);
        }
        self.put_singleton(
            device_info_doc_id(&self.device_id()),
            DocValue::DeviceInfo(info),
        )
    }

    /// A device's role in this project as this device knows it: the creator is provable from
    /// the project key; any other role comes from the role records that count (see
    /// [`RoleBook`]).
    pub fn role(&self, device: &DeviceId) -> Result<PeerRole> {
        if *device == self.creator {
            return Ok(PeerRole::Creator);
        }
        self.read(|c| Ok(roles::load(c, self.creator)?.current(device)))
    }

    /// This device's role, now and as it changes (including being blocked).
    pub fn subscribe_own_role(&self) -> watch::Receiver<PeerRole> {
        self.own_role.subscribe()
    }

    /// Where each of a device's feeds stands here.
    fn positions_of(&self, c: &Connection, device: &DeviceId) -> Result<FeedPositions> {
        let mut p = FeedPositions::default();
        for ns in Namespace::ALL {
            p.set(ns, feed::length(c, device, ns)?);
        }
        Ok(p)
    }

    /// Gives a device a role: `Coordinator`, `Member` or `Blocked`, applying from where its
    /// feeds stand here now. Only the creator and coordinators may; nobody changes their own
    /// role this way (a device records *left* itself by leaving), and the creator's role
    /// cannot be given.
    pub fn assign_role(
        &self,
        device: &DeviceId,
        role: PeerRole,
        reason: Option<String>,
    ) -> Result<Document> {
        self.check_writable()?;
        let me = self.device_id();
        if !matches!(
            role,
            PeerRole::Coordinator | PeerRole::Member | PeerRole::Blocked
        ) {
            return Err(Error::NotAllowed(
                "only coordinator, member and blocked can be given",
            ));
        }
        if !matches!(self.role(&me)?, PeerRole::Creator | PeerRole::Coordinator) {
            return Err(Error::NotAllowed(
                "only the creator and coordinators assign roles",
            ));
        }
        if *device == me {
            return Err(Error::NotAllowed("a device cannot change its own role"));
        }
        if *device == self.creator {
            return Err(Error::NotAllowed("the creator's role cannot be changed"));
        }
        let written = self.write(|tx| {
            let from = self.positions_of(tx, device)?;
            let doc = self.put_role_in(tx, device, role, from, reason)?;
            // Blocking locks the device out of what is written from now on: a new key epoch.
            // A (re)admitted device gets the epoch secrets we hold.
            let book = roles::load(tx, self.creator)?;
            let wrote = match role {
                PeerRole::Blocked => {
                    crate::epochs::start(tx, &self.keys, &self.device, &book)?;
                    true
                }
                _ => crate::epochs::grant(tx, &self.keys, &self.device, &book, *device)?,
            };
            if wrote {
                self.refresh_epochs(tx, &book)?;
            }
            Ok(doc)
        });
        if written.is_err() {
            // The ring may have been set inside the rolled-back transaction.
            self.reload_epochs();
        }
        written
    }

    /// Recomputes the epochs held and written in from the store; returns whether a secret
    /// was added (the caller then rebuilds the index: stored entries may now open).
    fn refresh_epochs(&self, conn: &Connection, book: &RoleBook) -> Result<bool> {
        let state = crate::epochs::load(conn, &self.keys, book, &self.device)?;
        Ok(self.keys.set_epochs(state.ring))
    }

    /// Recomputes the epochs from committed state after a failed write (best effort: a
    /// failure here leaves the ring as it was, and the next write recomputes it).
    fn reload_epochs(&self) {
        let reloaded = self.read(|c| {
            let book = roles::load(c, self.creator)?;
            Ok(crate::epochs::load(c, &self.keys, &book, &self.device)?)
        });
        if let Ok(state) = reloaded {
            self.keys.set_epochs(state.ring);
        }
    }

    /// The project's current key epoch (`None` before any removal) and whether this device
    /// holds its secret, i.e. can read what is written in it.
    pub fn current_epoch(&self) -> Result<(Option<crate::crypto::EpochId>, bool)> {
        self.read(|c| {
            let book = roles::load(c, self.creator)?;
            let state = crate::epochs::load(c, &self.keys, &book, &self.device)?;
            let holds = state.heads.is_empty() || state.current_secret().is_some();
            Ok((state.current(), holds))
        })
    }

    /// Removes a member: blocks it (its writes from now on are ignored everywhere, and it
    /// is sent nothing but `auth`, so it learns it was removed).
    pub fn remove_member(&self, device: &DeviceId, reason: Option<String>) -> Result<Document> {
        self.assign_role(device, PeerRole::Blocked, reason)
    }

    fn put_role_in(
        &self,
        tx: &Transaction<'_>,
        device: &DeviceId,
        role: PeerRole,
        from: FeedPositions,
        reason: Option<String>,
    ) -> Result<Document> {
        let role_id = roles::role_id(role).ok_or(Error::NotAllowed("that role is not written"))?;
        let doc_id = role_doc_id(device);
        let value = DocValue::Role(Role {
            role_id: role_id.to_owned(),
            from_index: from,
            reason,
        });
        value.validate()?;
        let doc = match index::get(tx, &doc_id)? {
            None => self.new_doc(doc_id.clone(), value),
            Some(current) => {
                let heads = index::head_versions(tx, &doc_id)?;
                self.next_version(&current, heads, false, value)
            }
        };
        self.append_doc(tx, &doc)
    }

    /// The project's members: every device with a role, with the name and type it gave and
    /// when it got its first role. Left and blocked devices only if `include_inactive`.
    pub fn members(&self, include_inactive: bool) -> Result<Vec<Member>> {
        self.read(|c| {
            let book = roles::load(c, self.creator)?;
            let mut devices: Vec<DeviceId> = book.devices().copied().collect();
            if !devices.contains(&self.creator) {
                devices.insert(0, self.creator);
            }
            let mut out = Vec::new();
            for device in devices {
                let role = book.current(&device);
                let active = matches!(
                    role,
                    PeerRole::Creator | PeerRole::Coordinator | PeerRole::Member
                );
                if !active && !include_inactive {
                    continue;
                }
                let info = match index::get(c, &device_info_doc_id(&device))? {
                    Some(Document {
                        doc:
                            Doc {
                                value: DocValue::DeviceInfo(i),
                                deleted: false,
                                ..
                            },
                        ..
                    }) => Some(i),
                    _ => None,
                };
                let joined_at = book
                    .records_about(&device)
                    .iter()
                    .find(|r| matches!(r.role, PeerRole::Coordinator | PeerRole::Member))
                    .map(|r| r.updated_at);
                out.push(Member {
                    device_id: device,
                    name: info.as_ref().map(|i| i.name.clone()),
                    device_type: info.map(|i| i.device_type),
                    role,
                    joined_at,
                });
            }
            Ok(out)
        })
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

    /// Has every session ask its peer for its data-sync switch as it is now (see
    /// [`PeerSyncState::switches_asked`](crate::sync::PeerSyncState)). Returns the number of
    /// this ask: a progress report that has seen it knows each peer's switch as of now.
    pub fn ask_peers_for_sync_switch(&self) -> u64 {
        let mut asked = 0;
        self.sync_asks.send_modify(|n| {
            *n += 1;
            asked = *n;
        });
        asked
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
        self.import_from_stream(entries, false)
    }

    /// [`Project::import`] for one batch of a stream (a sync, a sync file). While
    /// `more_to_come`, new and changed observations wait to enter the spatial and text
    /// indexes in larger groups ([`index::STREAM_SEARCH_FLUSH_THRESHOLD`]), which costs less
    /// per observation; the last batch moves them as a single import would. Area and text
    /// queries bring the indexes up to date first, so they never miss what waits.
    pub fn import_from_stream(
        &self,
        entries: &[Entry],
        more_to_come: bool,
    ) -> Result<ImportSummary> {
        let min_backlog = if more_to_come {
            index::STREAM_SEARCH_FLUSH_THRESHOLD
        } else {
            index::SEARCH_FLUSH_THRESHOLD
        };
        let result = self.write_then_search(min_backlog, |tx| self.import_in(tx, entries));
        if result.is_err() {
            self.reload_epochs();
        } else if let Err(e) = self.confirm_own_entries() {
            // The entries are stored; the next import or peer's holdings try again.
            tracing::warn!(project = %self.id().short(), "could not end the wait for own entries: {e}");
        }
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

    /// The write of [`Project::import`].
    fn import_in(&self, tx: &Transaction<'_>, entries: &[Entry]) -> Result<ImportSummary> {
        let before = roles::load(tx, self.creator)?;
        let mut appender = feed::Appender::new(tx, &self.keys, entries)?;
        let mut summary = ImportSummary::default();
        // Each new entry with its document, decoded once (`None`: sealed under a key epoch we
        // lack, or no valid document).
        let mut append = |e| -> Result<Option<(feed::Appended, Option<Doc>)>> {
            let Some(a) = appender.push(e)? else {
                return Ok(None);
            };
            let doc = a
                .plaintext
                .as_deref()
                .and_then(|p| decode_valid(p, a.version.namespace));
            Ok(Some((a, doc)))
        };
        if !entries.iter().any(|e| e.namespace == Namespace::Auth) {
            // Nothing in the batch can change roles or keys: each new entry is indexed as
            // soon as it is stored, and nothing of it is kept after.
            for e in entries {
                let Some((a, doc)) = append(e)? else {
                    continue;
                };
                summary.appended += 1;
                if let (Some(plaintext), Some(doc)) = (a.plaintext.as_deref(), doc)
                    && before.counts(a.entry_id, &a.version, &doc)
                {
                    summary.indexed += 1;
                    index::index_version(tx, &self.keys, a.entry_id, a.version, &doc, plaintext)?;
                }
            }
            appender.finish()?;
            return Ok(summary);
        }
        let mut appended = Vec::new();
        for e in entries {
            appended.extend(append(e)?);
        }
        appender.finish()?;
        summary.appended = appended.len();
        // Role records live in auth feeds only.
        let mut new_records = false;
        let mut new_auth = false;
        for (a, doc) in &appended {
            if a.version.namespace != Namespace::Auth {
                continue;
            }
            new_auth = true;
            if let Some(doc) = doc {
                new_records |= roles::record(tx, a.entry_id, a.version, doc)?;
            }
        }
        let book = if new_records {
            roles::load(tx, self.creator)?
        } else {
            before.clone()
        };
        // New epoch records or roles may give us secrets: entries stored without their key
        // (from this batch or earlier) then open, so the index is rebuilt.
        let new_secret = new_auth && self.refresh_epochs(tx, &book)?;
        // A member that an epoch was not sealed to (its writer did not know of it yet) gets
        // the secrets from a coordinator that holds them.
        if new_auth
            && !self.is_awaiting_own_entries()
            && crate::epochs::heal(tx, &self.keys, &self.device, &book)?
        {
            self.refresh_epochs(tx, &book)?;
        }
        let same_book = book == before && !new_secret;
        for (a, doc) in appended {
            let (Some(plaintext), Some(doc)) = (a.plaintext, doc) else {
                continue;
            };
            if book.counts(a.entry_id, &a.version, &doc) {
                summary.indexed += 1;
                if same_book {
                    index::index_version(tx, &self.keys, a.entry_id, a.version, &doc, &plaintext)?;
                }
            }
        }
        if !same_book {
            // A role changed: what counts may have changed for entries already held.
            self.rebuild_index(tx, &book)?;
        }
        Ok(summary)
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
    /// A store found damaged is marked so (see [`Project::is_damaged`]).
    pub fn check_integrity(&self) -> Result<bool> {
        let intact = self.read(|c| {
            let verdict: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            Ok(verdict == "ok")
        })?;
        if !intact {
            self.damaged.store(true, Ordering::SeqCst);
        }
        Ok(intact)
    }

    /// Copies the write-ahead log into the database file and truncates it: before copying the
    /// file elsewhere, or to measure the database's size.
    /// Retries while the background checkpointer holds the log, up to
    /// [`CHECKPOINT_RETRIES`] times.
    pub fn checkpoint(&self) -> Result<()> {
        self.check_intact()?;
        let conn = lock(&self.writer);
        let out = (|| {
            for _ in 0..CHECKPOINT_RETRIES {
                let busy: i64 =
                    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
                if busy == 0 {
                    return Ok(());
                }
                std::thread::sleep(CHECKPOINT_RETRY_PAUSE);
            }
            Err(StoreError::Busy.into())
        })();
        self.note_damage(out)
    }

    /// Drops the index and rebuilds it from the feeds.
    pub fn reindex(&self) -> Result<()> {
        self.write(|tx| self.reindex_in(tx))
    }

    fn reindex_in(&self, tx: &Transaction<'_>) -> Result<()> {
        // Role records first: what counts depends on all of them.
        roles::clear(tx)?;
        for id in feed::all_entry_ids(tx)? {
            let Some((entry, plaintext)) = feed::read_held_plaintext(tx, &self.keys, id)? else {
                continue;
            };
            if entry.namespace != Namespace::Auth {
                continue;
            }
            if let Some(doc) = decode_valid(&plaintext, entry.namespace) {
                roles::record(tx, id, entry.version_id(), &doc)?;
            }
        }
        let book = roles::load(tx, self.creator)?;
        self.refresh_epochs(tx, &book)?;
        self.rebuild_index(tx, &book)
    }

    /// Rebuilds the index from the feeds, counting what `book` lets count.
    fn rebuild_index(&self, tx: &Transaction<'_>, book: &RoleBook) -> Result<()> {
        // Locations and text are queued per document and enter their indexes once, at commit.
        index::clear(tx)?;
        let ids = feed::all_entry_ids(tx)?;
        for chunk in ids.chunks(REINDEX_CHUNK) {
            for &id in chunk {
                // Entries sealed under an epoch we do not hold wait, unindexed, for its secret.
                let Some((entry, plaintext)) = feed::read_held_plaintext(tx, &self.keys, id)?
                else {
                    continue;
                };
                let version = entry.version_id();
                if let Some(doc) = decode_valid(&plaintext, entry.namespace)
                    .filter(|d| book.counts(id, &version, d))
                {
                    index::index_version(tx, &self.keys, id, version, &doc, &plaintext)?;
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
        self.write(|tx| {
            let from = self.positions_of(tx, &me)?;
            self.put_role_in(tx, &me, PeerRole::Left, from, None)?;
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

    fn import(&self, entries: &[Entry], more_to_come: bool) -> Result<usize, SyncError> {
        Project::import_from_stream(self, entries, more_to_come)
            .map(|s| s.appended)
            .map_err(sync_err)
    }

    fn awaits_own_entries(&self) -> bool {
        self.is_awaiting_own_entries()
    }

    fn note_peer_holdings(&self, feeds: &BTreeMap<sync::FeedKey, u64>) -> Result<(), SyncError> {
        Project::note_peer_holdings(self, feeds).map_err(sync_err)
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

    fn sync_asks(&self) -> watch::Receiver<u64> {
        self.sync_asks.subscribe()
    }

    // Blobs: see `attachments` and `blobs`.

    fn blob_generation(&self) -> u64 {
        self.blobs.generation()
    }

    fn held_blobs(&self) -> Result<Vec<(crate::ids::BlobHash, u64)>, SyncError> {
        Ok(self.blobs.held())
    }

    fn wanted_blobs(&self) -> Result<BTreeMap<crate::ids::BlobHash, u64>, SyncError> {
        Project::wanted_blobs(self).map_err(sync_err)
    }

    fn read_blob(
        &self,
        hash: &crate::ids::BlobHash,
        offset: u64,
        max: usize,
    ) -> Result<Option<Vec<u8>>, SyncError> {
        match self.blobs.read_at(hash, offset, max) {
            // A damaged copy is not served: the peer looks for the blob elsewhere.
            Err(crate::blobs::BlobError::Damaged) => {
                tracing::warn!(blob = %hash.short(), "a stored blob is damaged; not sent");
                Ok(None)
            }
            other => other.map_err(store_blob_err),
        }
    }

    fn receive_blob(
        &self,
        hash: &crate::ids::BlobHash,
        size: u64,
    ) -> Result<Option<crate::blobs::PartialBlob>, SyncError> {
        self.blobs.receive(hash, size).map_err(store_blob_err)
    }
}

fn store_blob_err(e: crate::blobs::BlobError) -> SyncError {
    SyncError::Store(e.to_string())
}

/// Helpers for attachments (`attachments.rs`), kept apart from the document code above.
impl Project {
    /// Whether the project still takes writes (not left).
    pub(crate) fn is_writable(&self) -> bool {
        self.writable.load(Ordering::SeqCst)
    }

    /// Tells sessions that what this device wants or holds of blobs changed.
    pub(crate) fn notify_blob_change(&self) {
        self.blobs.notify();
    }

    /// Creates the document `doc_id` with `value` unless it exists; returns the current one.
    pub(crate) fn create_if_absent(&self, doc_id: DocId, value: DocValue) -> Result<Document> {
        self.check_writable()?;
        value.validate()?;
        self.write(|tx| match index::get(tx, &doc_id)? {
            Some(current) if !current.doc.deleted => Ok(current),
            Some(current) => {
                let heads = index::head_versions(tx, &doc_id)?;
                let doc = self.next_version(&current, heads, false, value);
                self.append_doc(tx, &doc)
            }
            None => self.append_doc(tx, &self.new_doc(doc_id.clone(), value)),
        })
    }
}

mod answers;
mod batch;
mod map_points;
mod own_entries;
pub mod patrol;
pub use batch::Batch;
pub use map_points::{DEFAULT_POINT_COLOR, MAP_POINTS_LIMIT, MapPoints};
pub use patrol::{Patrol, PatrolError, PatrolSummary, PositionOutcome};
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
