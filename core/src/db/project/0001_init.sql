-- A project database: the feeds (the source of truth) and the index derived from them.

-- Feeds: one per author and namespace. A feed's length and head are those of its last entry.
-- A row may exist with no entries when a document links to a version whose feed has not
-- arrived yet.
CREATE TABLE feeds (
    feed_id INTEGER PRIMARY KEY,
    author BLOB NOT NULL,
    namespace INTEGER NOT NULL,
    UNIQUE (author, namespace)
);

-- Entries, keyed by entry_id = feed_id * 2^40 + seq: a feed's entries are one rowid range.
CREATE TABLE entries (
    entry_id INTEGER PRIMARY KEY,
    prev_hash BLOB NOT NULL,
    signature BLOB NOT NULL,
    payload BLOB NOT NULL
);

-- Evidence of a cloned root key: a validly signed entry at a position already taken by a
-- different entry. Never merged into a feed.
CREATE TABLE conflicting_entries (
    author BLOB NOT NULL,
    namespace INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    prev_hash BLOB NOT NULL,
    signature BLOB NOT NULL,
    payload BLOB NOT NULL,
    detected_at INTEGER NOT NULL,
    PRIMARY KEY (author, namespace, seq, signature)
);

-- Index: everything below is derived from entries and rebuilt by a reindex.

-- Every valid document version, clustered by document (a document's heads are one range).
CREATE TABLE versions (
    doc_id TEXT NOT NULL,
    entry_id INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (doc_id, entry_id)
) WITHOUT ROWID;

-- "Some version of doc_id replaces version target" (target may not have arrived yet).
CREATE TABLE links (
    doc_id TEXT NOT NULL,
    target INTEGER NOT NULL,
    PRIMARY KEY (doc_id, target)
) WITHOUT ROWID;

-- The materialised current state: one row per document, its winning version decoded.
CREATE TABLE docs (
    rowid INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL UNIQUE,
    schema TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    created_by BLOB NOT NULL,
    preset_doc_id TEXT,
    forks BLOB,
    doc BLOB NOT NULL
);
CREATE INDEX docs_by_type_and_time ON docs (schema, deleted, created_at DESC, doc_id);
CREATE INDEX docs_by_preset ON docs (preset_doc_id) WHERE preset_doc_id IS NOT NULL;

-- Observation locations (rowid = docs.rowid).
CREATE VIRTUAL TABLE obs_location USING rtree (id, min_lat, max_lat, min_lon, max_lon);

-- Observation locations and text enter obs_location and obs_text in batches: an R*Tree
-- insert and an FTS5 segment per document would otherwise dominate the cost of a single
-- durable create. Documents created since the last batch are those with a rowid above
-- search_mark (so creating one writes nothing here); documents changed after they were
-- indexed are listed in search_pending. Area and text queries run a batch first, so they
-- miss nothing.
CREATE TABLE search_pending (
    rowid INTEGER PRIMARY KEY
);
CREATE TABLE search_mark (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    max_rowid INTEGER NOT NULL
);
INSERT INTO search_mark (id, max_rowid) VALUES (1, 0);

-- Observation text: tag values, notes included (rowid = docs.rowid).
CREATE VIRTUAL TABLE obs_text USING fts5 (
    text,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Role records: every valid role document version in an auth feed, counting or not. Which
-- count is decided from all of them together (roles.rs); rebuilt by a reindex.
CREATE TABLE role_records (
    entry_id INTEGER PRIMARY KEY,
    target BLOB NOT NULL,
    author BLOB NOT NULL,
    seq INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    role_id TEXT NOT NULL,
    from_auth INTEGER NOT NULL,
    from_config INTEGER NOT NULL,
    from_data INTEGER NOT NULL,
    from_blob_index INTEGER NOT NULL,
    -- The role versions it replaces, as (author, seq) pairs of 40 bytes: decisions are
    -- ordered by these links first, then by time.
    links BLOB NOT NULL
);
