//! Helpers shared by the core's integration tests: deterministic devices in temp folders
//! with controllable clocks, and entry transfer between projects (what sync will do).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use mapeo_core::project::ImportSummary;
use mapeo_core::schema::{DocValue, Observation, TagValue};
use mapeo_core::{Manager, Project, RootKey, Timestamp};

/// 2025-01-01T00:00:00Z in milliseconds.
pub const T0: i64 = 1_735_689_600_000;

/// A device in a temp folder with a clock that advances `step` ms per write.
pub struct Device {
    pub dir: tempfile::TempDir,
    pub manager: Manager,
    pub now: Arc<AtomicI64>,
    pub step: Arc<AtomicI64>,
    pub seed: u8,
}

impl Device {
    pub fn new(seed: u8) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let now = Arc::new(AtomicI64::new(T0));
        let step = Arc::new(AtomicI64::new(1));
        let manager = open(dir.path(), seed, &now, &step);
        Device {
            dir,
            manager,
            now,
            step,
            seed,
        }
    }

    /// Closes and reopens the manager on the same folder, as after an app restart.
    pub fn restart(&mut self) {
        let fresh = open(self.dir.path(), self.seed, &self.now, &self.step);
        self.manager = fresh;
    }

    /// Sets the clock and how far it moves per write (0: frozen, to make ties).
    pub fn set_clock(&self, ms: i64, step: i64) {
        self.now.store(ms, Ordering::SeqCst);
        self.step.store(step, Ordering::SeqCst);
    }
}

fn open(path: &std::path::Path, seed: u8, now: &Arc<AtomicI64>, step: &Arc<AtomicI64>) -> Manager {
    let (now, step) = (now.clone(), step.clone());
    let clock =
        Arc::new(move || Timestamp(now.fetch_add(step.load(Ordering::SeqCst), Ordering::SeqCst)));
    Manager::open_with_clock(path, &RootKey::from_bytes([seed; 16]), clock).unwrap()
}

/// Copies every entry `to` lacks from `from`, feed by feed, in one import.
pub fn copy_missing(from: &Project, to: &Project) -> ImportSummary {
    let theirs = from.have_vector().unwrap();
    let ours = to.have_vector().unwrap();
    let mut entries = Vec::new();
    for ((author, ns), len) in theirs {
        let have = ours.get(&(author, ns)).copied().unwrap_or(0);
        entries.extend(from.read_entries(&author, ns, have, len).unwrap());
    }
    to.import(&entries).unwrap()
}

/// An observation at a point with notes.
pub fn observation(lat: f64, lon: f64, notes: &str) -> DocValue {
    let mut o = Observation {
        lat: Some(lat),
        lon: Some(lon),
        ..Default::default()
    };
    o.tags
        .insert("notes".into(), TagValue::String(notes.into()));
    DocValue::Observation(o)
}
