-- Versions and links keyed by the document's row (docs.rowid) instead of its text id.
--
-- A document id is random, so a table keyed by it takes each new document at a random place:
-- during a large sync every committed batch rewrote pages all over it, more of them the more
-- documents there were (100k observations synced at a third less per second than 10k). A new
-- document's row number comes after every other, so its versions are now appended at the end.
-- Every version and link has its document's row (a row is written with the first version of
-- a document), so the rows move over as they are, without a reindex.

CREATE TABLE versions_by_row (
    doc_row INTEGER NOT NULL,
    entry_id INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (doc_row, entry_id)
) WITHOUT ROWID;
INSERT INTO versions_by_row (doc_row, entry_id, updated_at)
    SELECT d.rowid, v.entry_id, v.updated_at FROM versions v JOIN docs d ON d.doc_id = v.doc_id;
DROP TABLE versions;
ALTER TABLE versions_by_row RENAME TO versions;

CREATE TABLE links_by_row (
    doc_row INTEGER NOT NULL,
    target INTEGER NOT NULL,
    PRIMARY KEY (doc_row, target)
) WITHOUT ROWID;
INSERT INTO links_by_row (doc_row, target)
    SELECT d.rowid, l.target FROM links l JOIN docs d ON d.doc_id = l.doc_id;
DROP TABLE links;
ALTER TABLE links_by_row RENAME TO links;
