//! Checks this device's own writes of observations and tracks against the category (preset)
//! they name: the preset must apply to the document's type and the answers must fit its
//! fields (see [`schema::check_answers`]). Only local writes are checked: entries from peers
//! are indexed by rules that cannot depend on which presets arrived first.

use rusqlite::Connection;

use super::Project;
use crate::error::Result;
use crate::feed;
use crate::index;
use crate::schema::{self, Doc, DocRef, DocValue, Field, Preset};

impl Project {
    /// Checks a version about to be written. A preset or field this device does not hold is
    /// not checked against: an edit must not fail for want of a configuration that has not
    /// arrived (or whose author's writes no longer count).
    pub(super) fn check_answers(&self, conn: &Connection, doc: &Doc) -> Result<()> {
        if doc.deleted {
            return Ok(());
        }
        let (preset_ref, tags) = match &doc.value {
            DocValue::Observation(o) => (o.preset_ref.as_ref(), &o.tags),
            DocValue::Track(t) => (t.preset_ref.as_ref(), &t.tags),
            _ => return Ok(()),
        };
        let Some(preset_ref) = preset_ref else {
            return Ok(());
        };
        let Some(DocValue::Preset(preset)) = self.referenced(conn, preset_ref)? else {
            return Ok(());
        };
        let fields = self.fields_of(conn, &preset)?;
        schema::check_answers(doc.doc_type(), &preset, &fields, tags)?;
        Ok(())
    }

    fn fields_of(&self, conn: &Connection, preset: &Preset) -> Result<Vec<Field>> {
        let mut fields = Vec::with_capacity(preset.field_refs.len());
        for r in &preset.field_refs {
            if let Some(DocValue::Field(f)) = self.referenced(conn, r)? {
                fields.push(f);
            }
        }
        Ok(fields)
    }

    /// The version a reference names, or else the document's current version.
    fn referenced(&self, conn: &Connection, r: &DocRef) -> Result<Option<DocValue>> {
        if let Some(entry) = feed::find_entry_id(conn, &r.version_id)?
            && let Some(doc) = index::load_indexed_version(conn, &self.keys, entry)?
            && doc.doc_id == r.doc_id
        {
            return Ok(Some(doc.value));
        }
        Ok(index::get(conn, &r.doc_id)?
            .filter(|d| !d.doc.deleted)
            .map(|d| d.doc.value))
    }
}
