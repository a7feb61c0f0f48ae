//! A process that writes observations until it is killed, for the crash-recovery scenario.
//! Usage: `crash-writer DATA_DIR single|batch`. Prints `committed <doc id>…` after each
//! commit returns, so the parent knows what must survive a kill.

use std::io::Write;
use std::path::PathBuf;

use mapeo_core::schema::{DocValue, Observation, TagValue};
use mapeo_core::{Manager, ProjectStatus};
use mapeo_scenarios::test_root_key;

/// Observations per transaction in `batch` mode.
const BATCH: usize = 50;

fn observation(i: usize) -> DocValue {
    let mut o = Observation {
        lat: Some(-3.0 + (i % 100) as f64 * 0.01),
        lon: Some(-60.0),
        ..Default::default()
    };
    o.tags
        .insert("notes".into(), TagValue::String(format!("crash test {i}")));
    DocValue::Observation(o)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("missing DATA_DIR")?);
    let batch = args.next().as_deref() == Some("batch");
    let manager = Manager::open(&dir, &test_root_key(1))?;
    let joined = manager
        .list_projects()?
        .into_iter()
        .find(|p| p.status == ProjectStatus::Joined);
    let project = match joined {
        Some(p) => manager.open_project(&p.project_id)?,
        None => manager.create_project(Default::default())?,
    };
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let ids: Vec<String> = if batch {
            let values = (0..BATCH).map(|j| observation(i * BATCH + j)).collect();
            project
                .create_many(values)?
                .iter()
                .map(|d| d.doc_id().to_string())
                .collect()
        } else {
            vec![project.create(observation(i))?.doc_id().to_string()]
        };
        writeln!(out, "committed {}", ids.join(" "))?;
        out.flush()?;
    }
    Ok(())
}
