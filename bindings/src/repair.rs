//! Repairing a project whose store is damaged, as the app asks for it: an exported
//! `impl Mapeo` block and the record of what the repair did. A call and a conversion.

use crate::device::Mapeo;
use crate::error::MapeoError;
use crate::records::project_id;

/// What a repair did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RepairReport {
    /// The project (64 hex characters).
    pub project_id: String,
    /// The folder the damaged store was moved into, kept for support; it can be deleted
    /// once the project has synced again.
    pub set_aside: String,
    /// Entries read back from the damaged store, verified and kept.
    pub recovered: u64,
    /// Of those, entries this device wrote (the ones no other member may have yet).
    pub recovered_own: u64,
    /// This device's entries the damaged store counted but that could not be read back
    /// (null when even that count was unreadable). Above zero: sync with another member
    /// before writing to the project.
    pub own_unrecovered: Option<u64>,
}

#[uniffi::export]
impl Mapeo {
    /// Repairs a project whose store is damaged (`damaged` in its summary, or a `Damaged`
    /// error): sets the damaged store aside, makes a fresh one, and brings back every entry
    /// still readable from it; the rest returns with the next sync with any member. Photos
    /// and audio are kept. Until that sync, better to write nothing to the project.
    pub fn repair_project(&self, project_id: String) -> Result<RepairReport, MapeoError> {
        let r = self
            .manager()?
            .repair_project(&self::project_id(&project_id)?)?;
        Ok(RepairReport {
            project_id: r.project_id.to_string(),
            set_aside: r.set_aside.display().to_string(),
            recovered: r.recovered,
            recovered_own: r.recovered_own,
            own_unrecovered: r.own_unrecovered,
        })
    }
}
