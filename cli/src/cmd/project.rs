//! `mapeo project`: create, list, show, settings, repair, leave. Joining is by invite (`mapeo
//! invites`, `mapeo sync --accept-invites-from`).

use std::path::Path;

use mapeo_core::schema::{DocType, ProjectSettings};
use mapeo_core::{Manager, ProjectStatus, ProjectSummary, Query};
use serde_json::{Value, json};

use crate::args::ProjectCommand;
use crate::error::{CliError, CliResult};
use crate::home::{Access, Home};
use crate::out::{Output, iso, table};
use crate::select;

/// Runs a project command.
pub fn run(dir: &Path, selection: Option<&str>, cmd: ProjectCommand) -> CliResult<Output> {
    match cmd {
        ProjectCommand::Create {
            name,
            description,
            color,
        } => {
            let home = Home::open(dir, Access::Write)?;
            let settings = ProjectSettings {
                name: Some(name),
                project_description: description,
                project_color: color,
                ..ProjectSettings::default()
            };
            let project = home
                .manager
                .create_project(settings)
                .map_err(invalid_settings)?;
            let summary = select::project_summary(&home.manager, Some(&project.id().to_string()))?;
            let mut out = show(&home.manager, &summary)?;
            out.text = format!("Project created.\n{}", out.text);
            Ok(out)
        }
        ProjectCommand::List => {
            let home = Home::open(dir, Access::Read)?;
            let all = home.manager.list_projects()?;
            let json: Vec<Value> = all.iter().map(summary_json).collect();
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|p| {
                    vec![
                        p.project_id.short(),
                        p.settings.name.clone().unwrap_or_default(),
                        if p.damaged {
                            format!("{} (damaged)", status(p.status))
                        } else {
                            status(p.status).to_owned()
                        },
                        iso(p.joined_at),
                    ]
                })
                .collect();
            let mut text = if all.is_empty() {
                "No projects yet: `mapeo project create NAME`.".to_owned()
            } else {
                table(&["ID", "NAME", "STATUS", "JOINED"], &rows)
            };
            for p in all.iter().filter(|p| p.damaged) {
                text.push_str(&format!("\n{}", CliError::Damaged(p.project_id)));
            }
            Ok(Output::new(json!({ "projects": json }), text))
        }
        ProjectCommand::Show => {
            let home = Home::open(dir, Access::Read)?;
            let summary = select::project_summary(&home.manager, selection)?;
            show(&home.manager, &summary)
        }
        ProjectCommand::Settings {
            name,
            description,
            color,
        } => {
            let changing = name.is_some() || description.is_some() || color.is_some();
            let access = if changing {
                Access::Write
            } else {
                Access::Read
            };
            let home = Home::open(dir, access)?;
            let summary = select::project_summary(&home.manager, selection)?;
            if changing {
                let project = home.manager.open_project(&summary.project_id)?;
                let mut settings = project.settings()?;
                if name.is_some() {
                    settings.name = name;
                }
                if description.is_some() {
                    settings.project_description = description;
                }
                if color.is_some() {
                    settings.project_color = color;
                }
                project.set_settings(settings).map_err(invalid_settings)?;
            }
            let summary =
                select::project_summary(&home.manager, Some(&summary.project_id.to_string()))?;
            show(&home.manager, &summary)
        }
        ProjectCommand::Repair => {
            let home = Home::open(dir, Access::Write)?;
            let summary = select::project_summary(&home.manager, selection)?;
            let r = home.manager.repair_project(&summary.project_id)?;
            let json = json!({
                "projectId": r.project_id.to_string(),
                "setAside": r.set_aside.display().to_string(),
                "recovered": r.recovered,
                "recoveredOwn": r.recovered_own,
                "ownUnrecovered": r.own_unrecovered,
            });
            let mut text = format!(
                "Project {} repaired: {} entries recovered from the damaged store ({} written by \
                 this device).\nThe damaged store was kept in {}.\nNow sync with another \
                 member (`mapeo sync --connect HOST:PORT` or `mapeo serve`) to get the rest of \
                 its data back.",
                r.project_id.short(),
                r.recovered,
                r.recovered_own,
                r.set_aside.display(),
            );
            match r.own_unrecovered {
                Some(0) => {}
                Some(n) => text.push_str(&format!(
                    "\n{n} entries this device wrote could not be read back: sync before \
                     recording anything in this project, so that a member who has them gives \
                     them back first."
                )),
                None => text.push_str(
                    "\nThe damaged store no longer says how many entries this device wrote, so \
                     some may be missing: sync before recording anything in this project, so \
                     that a member who has them gives them back first.",
                ),
            }
            Ok(Output::new(json, text))
        }
        ProjectCommand::Leave { yes } => {
            let home = Home::open(dir, Access::Write)?;
            let summary = select::project_summary(&home.manager, selection)?;
            if !yes {
                return Err(CliError::BadInput(
                    "leaving deletes other members' data from this device: add --yes to confirm"
                        .into(),
                ));
            }
            if summary.status == ProjectStatus::Left {
                return Err(CliError::BadInput(
                    "this device has already left that project".into(),
                ));
            }
            home.manager.leave_project(&summary.project_id)?;
            let summary =
                select::project_summary(&home.manager, Some(&summary.project_id.to_string()))?;
            let mut out = show(&home.manager, &summary)?;
            out.text = format!("Left the project.\n{}", out.text);
            Ok(out)
        }
    }
}

fn invalid_settings(e: mapeo_core::Error) -> CliError {
    match e {
        mapeo_core::Error::Invalid(v) => CliError::BadInput(format!("bad project settings: {v}")),
        other => other.into(),
    }
}

fn status(s: ProjectStatus) -> &'static str {
    match s {
        ProjectStatus::Joining => "joining",
        ProjectStatus::Joined => "joined",
        ProjectStatus::Left => "left",
    }
}

/// A project as JSON.
pub fn summary_json(p: &ProjectSummary) -> Value {
    json!({
        "projectId": p.project_id.to_string(),
        "name": p.settings.name,
        "description": p.settings.project_description,
        "color": p.settings.project_color,
        "status": status(p.status),
        "joinedAt": iso(p.joined_at),
        "damaged": p.damaged,
    })
}

fn show(manager: &Manager, p: &ProjectSummary) -> CliResult<Output> {
    let project = manager.open_project(&p.project_id)?;
    let count = |t: DocType| project.list(&Query::all(t)).map(|v| v.len());
    let observations = count(DocType::Observation)?;
    let tracks = count(DocType::Track)?;
    let presets = count(DocType::Preset)?;
    let role = select::role_name(project.role(&manager.device_id())?);
    let mut json = summary_json(p);
    if let Value::Object(o) = &mut json {
        o.insert("creator".into(), json!(project.creator().to_string()));
        o.insert("role".into(), json!(role));
        o.insert("observations".into(), json!(observations));
        o.insert("tracks".into(), json!(tracks));
        o.insert("presets".into(), json!(presets));
        o.insert("dataSync".into(), json!(project.data_sync_enabled()));
    }
    let text = format!(
        "Project:      {}\nId:           {}\nDescription:  {}\nColor:        {}\nStatus:       {} (role: {role})\n\
         Observations: {observations}\nTracks:       {tracks}\nCategories:   {presets}",
        p.settings.name.as_deref().unwrap_or("(not synced yet)"),
        p.project_id,
        p.settings.project_description.as_deref().unwrap_or("-"),
        p.settings.project_color.as_deref().unwrap_or("-"),
        status(p.status),
    );
    Ok(Output::new(json, text))
}
