//! A device's own earlier entries, after a restore. A device restored from its backup code
//! (or the same identity on a second phone) joins a project whose other members may hold
//! entries it wrote before; appending before those come back would sign a second, different
//! entry at a position it already used — a forked feed, which every peer refuses. So a
//! project joined with none of this device's entries waits: nothing is appended until a peer
//! (live, or through a sync file) has said how far this device's own feeds go and this store
//! holds that much. Until then local writes are refused with [`Error::AwaitingOwnEntries`],
//! and the device's name is kept to be written once they are known.
//!
//! Owns the `awaiting_own_entries` row; uses the feed's lengths and the project's writes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::Connection;

use super::Project;
use crate::error::{Error, Result};
use crate::feed;
use crate::ids::{DeviceId, Namespace};
use crate::schema::DeviceInfo;

const INSERT: &str = "INSERT OR IGNORE INTO awaiting_own_entries (id) VALUES (1)";
const DELETE: &str = "DELETE FROM awaiting_own_entries";
const EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM awaiting_own_entries)";

/// The state of this device's own entries in one project.
#[derive(Debug, Default)]
pub(crate) struct OwnEntries {
    /// Mirrors the `awaiting_own_entries` row.
    awaiting: AtomicBool,
    /// How far this device's own feeds go elsewhere, the longest heard of each; `None` until
    /// a peer or a sync file has told.
    heard: Mutex<Option<BTreeMap<Namespace, u64>>>,
    /// This device's name, to write once its own feeds are known.
    pending_info: Mutex<Option<DeviceInfo>>,
}

fn guard<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl OwnEntries {
    /// The state as stored (the row survives restarts).
    pub(crate) fn load(conn: &Connection) -> Result<Self> {
        let awaiting: bool = conn.query_row(EXISTS, [], |r| r.get(0))?;
        Ok(OwnEntries {
            awaiting: AtomicBool::new(awaiting),
            ..OwnEntries::default()
        })
    }
}

impl Project {
    /// Called when this device joins the project: if the store holds none of this device's
    /// entries, local writes wait until a peer has said how far its own feeds go.
    pub(crate) fn await_own_entries(&self) -> Result<()> {
        let me = self.device_id();
        let held = self.have_vector()?;
        if held.keys().any(|(author, _)| *author == me) {
            return Ok(());
        }
        self.write(|tx| Ok(tx.execute(INSERT, [])?))?;
        self.own_entries.awaiting.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Whether local writes wait for this device's earlier entries (see the module docs).
    pub fn is_awaiting_own_entries(&self) -> bool {
        self.own_entries.awaiting.load(Ordering::SeqCst)
    }

    /// Refuses a local append while this device's own feeds are not known.
    pub(crate) fn check_own_entries_known(&self) -> Result<()> {
        if self.is_awaiting_own_entries() {
            return Err(Error::AwaitingOwnEntries);
        }
        Ok(())
    }

    /// Keeps this device's name to write once its own feeds are known; `true` if it was kept
    /// (the caller then writes nothing now).
    pub(crate) fn keep_device_info(&self, info: &DeviceInfo) -> bool {
        if !self.is_awaiting_own_entries() {
            return false;
        }
        *guard(&self.own_entries.pending_info) = Some(info.clone());
        true
    }

    /// What a peer (or the writer of a sync file) holds, feed by feed: the lengths of this
    /// device's own feeds there are what must come back before it appends again.
    pub fn note_peer_holdings(&self, feeds: &BTreeMap<(DeviceId, Namespace), u64>) -> Result<()> {
        if !self.is_awaiting_own_entries() {
            return Ok(());
        }
        let me = self.device_id();
        {
            let mut heard = guard(&self.own_entries.heard);
            let heard = heard.get_or_insert_with(BTreeMap::new);
            for ((author, ns), len) in feeds {
                if *author == me {
                    let h = heard.entry(*ns).or_insert(0);
                    *h = (*h).max(*len);
                }
            }
        }
        self.confirm_own_entries()
    }

    /// Ends the wait once a peer has told how far this device's own feeds go and this store
    /// holds that much; then writes the name kept meanwhile.
    pub(crate) fn confirm_own_entries(&self) -> Result<()> {
        if !self.is_awaiting_own_entries() {
            return Ok(());
        }
        let Some(heard) = guard(&self.own_entries.heard).clone() else {
            return Ok(());
        };
        let me = self.device_id();
        let back = self.read(|c| {
            for (ns, len) in &heard {
                if feed::length(c, &me, *ns)? < *len {
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        if !back {
            return Ok(());
        }
        self.write(|tx| Ok(tx.execute(DELETE, [])?))?;
        self.own_entries.awaiting.store(false, Ordering::SeqCst);
        tracing::info!(project = %self.id().short(), "own earlier entries are back: writes resume");
        let pending = guard(&self.own_entries.pending_info).take();
        if let Some(info) = pending {
            match self.set_device_info(info) {
                // Blocked, or left: the name no longer counts here.
                Ok(_)
                | Err(Error::NotAllowed(_) | Error::ProjectLeft | Error::AwaitingOwnEntries) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
