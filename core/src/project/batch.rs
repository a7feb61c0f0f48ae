//! Several writes to one project in one transaction: an import of categories that replaces
//! presets, fields, icons and translations either happens whole or not at all. Later writes
//! in a batch can refer to the versions of earlier ones.

use rusqlite::Transaction;

use super::Project;
use crate::error::{Error, Result};
use crate::ids::{DocId, VersionId};
use crate::index::{self, Document};
use crate::schema::{DocValue, ProjectSettings, ValidationError};

/// Writes inside [`Project::batch`]; each returns the document as written, so a later write
/// can refer to its version.
pub struct Batch<'a> {
    project: &'a Project,
    tx: &'a Transaction<'a>,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").finish_non_exhaustive()
    }
}

impl Batch<'_> {
    /// Creates a document (its id is new, and bound to this device as its creator).
    pub fn create(&self, value: DocValue) -> Result<Document> {
        value.validate()?;
        let doc = self.project.created_doc(self.tx, value)?;
        self.project.append_doc(self.tx, &doc)
    }

    /// Writes a new version of a document replacing every current head of it (as `update`
    /// with all heads as links).
    pub fn replace(&self, doc_id: &DocId, value: DocValue) -> Result<Document> {
        value.validate()?;
        let current = index::get(self.tx, doc_id)?.ok_or(Error::NotFound { what: "document" })?;
        if current.doc.doc_type() != value.doc_type() {
            return Err(ValidationError::LinkToOtherType.into());
        }
        let heads: Vec<VersionId> = index::head_versions(self.tx, doc_id)?;
        let doc = self.project.next_version(&current, heads, false, value);
        self.project.append_doc(self.tx, &doc)
    }

    /// Writes the project's settings whole (no field is kept from the current ones),
    /// replacing every current version of them.
    pub fn set_settings(&self, settings: ProjectSettings) -> Result<Document> {
        let value = DocValue::ProjectSettings(settings);
        value.validate()?;
        let doc_id = self.project.settings_doc_id();
        let doc = match index::get(self.tx, &doc_id)? {
            None => self.project.new_doc(doc_id, value),
            Some(current) => {
                let heads = index::head_versions(self.tx, &doc_id)?;
                self.project.next_version(&current, heads, false, value)
            }
        };
        self.project.append_doc(self.tx, &doc)
    }

    /// Deletes a document: a tombstone replacing every current head.
    pub fn delete(&self, doc_id: &DocId) -> Result<Document> {
        let current = index::get(self.tx, doc_id)?.ok_or(Error::NotFound { what: "document" })?;
        let heads = index::head_versions(self.tx, doc_id)?;
        let doc = self
            .project
            .next_version(&current, heads, true, current.doc.value.clone());
        self.project.append_doc(self.tx, &doc)
    }
}

impl Project {
    /// Runs `f` with a [`Batch`] in one transaction: every write it made is committed if it
    /// returns `Ok`, none if it returns an error (or any write fails).
    pub fn batch<T>(&self, f: impl FnOnce(&Batch<'_>) -> Result<T>) -> Result<T> {
        self.check_writable()?;
        self.write(|tx| f(&Batch { project: self, tx }))
    }
}
