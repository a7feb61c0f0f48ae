//! Repairing a project whose store is damaged: the damaged database is set aside (kept for
//! forensics, never deleted), a fresh store is made for the same project key, and every entry
//! that can still be read from the damaged copy is brought back through the same
//! verification a sync uses. What could not be read comes back with the next sync with any
//! member. Blobs (photos, audio) live beside the database and are kept as they are.
//! Does not decide what is damaged (`db` and `project` do) and never writes to the damaged copy.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::{Manager, PROJECT_DB, lock};
use crate::db::StoreError;
use crate::error::{Error, Result};
use crate::feed::{self, Entry};
use crate::ids::{DeviceId, Namespace, ProjectId, Timestamp};
use crate::project::Project;

/// Start of the name of the folder (inside the project's folder) a damaged store is moved
/// into; the rest is the time of the repair, `damaged-20261206T024512Z`.
pub const DAMAGED_DIR_PREFIX: &str = "damaged-";
/// Entries read from the damaged copy and imported per step: bounds memory whatever the
/// project's size.
pub const SALVAGE_BATCH: u64 = 500;
/// The files of one SQLite database in WAL mode: the database, its log, its shared memory.
const DB_FILE_SUFFIXES: [&str; 3] = ["", "-wal", "-shm"];

/// What [`Manager::repair_project`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// The project.
    pub project_id: ProjectId,
    /// The folder the damaged store was moved into (inside the project's folder); kept for
    /// forensics, safe to delete once the project has synced again.
    pub set_aside: PathBuf,
    /// Entries read back from the damaged store, verified and kept.
    pub recovered: u64,
    /// Of those, entries this device wrote: the ones no peer may have yet.
    pub recovered_own: u64,
    /// This device's entries the damaged store counted but that could not be read back
    /// (`None` when even its count was unreadable). Above zero: sync with a member before
    /// writing to the project, so that a member who has them gives them back first.
    pub own_unrecovered: Option<u64>,
}

impl Manager {
    /// Repairs a project's store: sets the damaged database aside into a
    /// `damaged-<time>` folder within the project's folder, makes a fresh store for the same
    /// project, and brings back every entry still readable from the damaged copy (verified
    /// like entries from a peer; a feed is recovered up to its first unreadable entry). The
    /// rest comes back with the next sync with any member. Blobs are kept. Works on a
    /// healthy store too (it is rebuilt from its own entries).
    ///
    /// Until that sync, write nothing to the project if some of this device's own entries
    /// could not be read back: a new entry would take the position of a lost one that a
    /// peer may hold. Handles to the project opened before the repair stay closed (they
    /// answer as damaged): open it again.
    pub fn repair_project(&self, id: &ProjectId) -> Result<Repaired> {
        let (sealed, status, _) = self
            .project_row(id)?
            .ok_or(Error::NotFound { what: "project" })?;
        let details = self.open_details(id, &sealed)?;
        // Closed and no longer offered to peers while its files move.
        lock(&self.damaged).insert(*id);
        let open = lock(&self.projects).remove(id);
        if let Some(old) = open {
            old.close_store();
        }
        self.refresh_network_projects()?;
        let db_path = self.project_path(id);
        let folder = db_path.parent().unwrap_or(Path::new(".")).to_owned();
        let set_aside = set_aside(&folder, &db_path, (self.clock)())?;
        lock(&self.damaged).remove(id);
        let fresh = self.load(id, &details, status)?;
        let Salvaged {
            recovered,
            recovered_own,
            own_counted,
        } = salvage(
            &set_aside.join(PROJECT_DB),
            &self.folder_key.project_database_key(id),
            &fresh,
            &self.device_id(),
        );
        let own_unrecovered = own_counted.map(|n| n.saturating_sub(recovered_own));
        self.refresh_network_projects()?;
        tracing::info!(
            project = %id.short(),
            recovered,
            recovered_own,
            ?own_unrecovered,
            "project store repaired"
        );
        Ok(Repaired {
            project_id: *id,
            set_aside,
            recovered,
            recovered_own,
            own_unrecovered,
        })
    }
}

/// Moves the database files into a new `damaged-<time>` folder; returns the folder.
fn set_aside(folder: &Path, db_path: &Path, now: Timestamp) -> Result<PathBuf> {
    let stamp = utc_stamp(now);
    let mut target = folder.join(format!("{DAMAGED_DIR_PREFIX}{stamp}"));
    let mut n = 1;
    while target.exists() {
        n += 1;
        target = folder.join(format!("{DAMAGED_DIR_PREFIX}{stamp}-{n}"));
    }
    std::fs::create_dir_all(&target).map_err(StoreError::Io)?;
    for suffix in DB_FILE_SUFFIXES {
        let mut name = PROJECT_DB.to_owned();
        name.push_str(suffix);
        let from = db_path.with_file_name(&name);
        match std::fs::rename(&from, target.join(&name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::Io(e).into()),
        }
    }
    Ok(target)
}

/// What [`salvage`] brought back.
#[derive(Default)]
struct Salvaged {
    recovered: u64,
    recovered_own: u64,
    /// How many entries of ours the damaged copy's feeds counted, if that was readable.
    own_counted: Option<u64>,
}

/// Reads every feed of the damaged copy from its start and imports what verifies into
/// `fresh`, feed by feed, `auth` first (roles decide what counts). Nothing here fails the
/// repair: what cannot be read is left to sync.
fn salvage(
    damaged: &Path,
    key: &crate::crypto::DatabaseKey,
    fresh: &Project,
    me: &DeviceId,
) -> Salvaged {
    let opened = crate::db::open_connection(
        damaged,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(StoreError::from)
    .and_then(|c| crate::db::apply_key(&c, key).map(|()| c));
    let conn = match opened {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("damaged store cannot be opened for salvage: {e}");
            return Salvaged::default();
        }
    };
    let mut feeds: Vec<(DeviceId, Namespace)> = match feed::feed_names(&conn) {
        Ok(names) => names.into_values().collect(),
        Err(e) => {
            tracing::warn!("damaged store's feed list is unreadable: {e}");
            return Salvaged::default();
        }
    };
    let own_counted = feed::have_vector(&conn).ok().map(|have| {
        have.iter()
            .filter(|((author, _), _)| author == me)
            .map(|(_, n)| n)
            .sum()
    });
    feeds.sort_by_key(|(author, ns)| (ns.code(), *author));
    let mut out = Salvaged {
        own_counted,
        ..Salvaged::default()
    };
    for (author, ns) in feeds {
        let n = salvage_feed(&conn, fresh, &author, ns);
        out.recovered += n;
        if author == *me {
            out.recovered_own += n;
        }
    }
    out
}

/// Imports one feed from its start up to its first entry that cannot be read or verified.
fn salvage_feed(conn: &Connection, fresh: &Project, author: &DeviceId, ns: Namespace) -> u64 {
    let mut seq = 0;
    loop {
        let batch = match feed::read_range(conn, author, ns, seq, seq + SALVAGE_BATCH) {
            Ok(b) => b,
            // A damaged page within the range: go entry by entry up to it.
            Err(_) => read_one_by_one(conn, author, ns, seq),
        };
        if batch.is_empty() {
            return seq;
        }
        let full = u64::try_from(batch.len()).unwrap_or(0) == SALVAGE_BATCH;
        let imported = import_prefix(fresh, &batch);
        seq += imported;
        if imported < u64::try_from(batch.len()).unwrap_or(0) || !full {
            return seq;
        }
    }
}

fn read_one_by_one(conn: &Connection, author: &DeviceId, ns: Namespace, from: u64) -> Vec<Entry> {
    let mut out = Vec::new();
    for seq in from..from + SALVAGE_BATCH {
        match feed::read_range(conn, author, ns, seq, seq + 1) {
            Ok(mut one) if one.len() == 1 => out.append(&mut one),
            _ => break,
        }
    }
    out
}

/// Imports `batch` (consecutive entries of one feed); if it is refused as a whole, as much
/// of its start as verifies. Returns how many of its entries are now held.
fn import_prefix(fresh: &Project, batch: &[Entry]) -> u64 {
    if fresh.import(batch).is_ok() {
        return u64::try_from(batch.len()).unwrap_or(0);
    }
    let mut held = 0;
    for e in batch {
        if fresh.import(std::slice::from_ref(e)).is_err() {
            break;
        }
        held += 1;
    }
    held
}

/// `20261206T024512Z` for a time in ms since the epoch (UTC), for folder names.
fn utc_stamp(t: Timestamp) -> String {
    let secs = t.0.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_stamps_are_utc_dates() {
        assert_eq!(utc_stamp(Timestamp(0)), "19700101T000000Z");
        // 2025-01-01T00:00:00Z
        assert_eq!(utc_stamp(Timestamp(1_735_689_600_000)), "20250101T000000Z");
        // 2024-02-29T23:59:59.999Z (a leap day)
        assert_eq!(utc_stamp(Timestamp(1_709_251_199_999)), "20240229T235959Z");
    }
}
