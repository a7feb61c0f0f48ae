//! `mapeo members`: the devices known in a project and their roles. Invites, removing a
//! member and changing roles arrive with the invites work.

use std::collections::BTreeMap;
use std::path::Path;

use mapeo_core::schema::{DocType, DocValue};
use mapeo_core::{DeviceId, Query};
use serde_json::{Value, json};

use crate::args::MembersCommand;
use crate::error::CliResult;
use crate::home::{Access, Home};
use crate::out::{Output, table};
use crate::select;

/// Runs a members command.
pub fn run(dir: &Path, selection: Option<&str>, cmd: MembersCommand) -> CliResult<Output> {
    match cmd {
        MembersCommand::List => {
            let home = Home::open(dir, Access::Read)?;
            let project = select::project(&home.manager, selection)?;
            let mut devices: BTreeMap<DeviceId, (String, String)> = BTreeMap::new();
            for d in project.list(&Query::all(DocType::DeviceInfo))? {
                if let DocValue::DeviceInfo(info) = d.doc.value {
                    devices.insert(d.created_by, (info.name, info.device_type.to_string()));
                }
            }
            devices
                .entry(project.creator())
                .or_insert_with(|| (String::new(), String::new()));
            let me = home.manager.device_id();
            let mut json = Vec::<Value>::new();
            let mut rows = Vec::new();
            for (id, (name, kind)) in &devices {
                let role = select::role_name(project.role(id)?);
                json.push(json!({
                    "deviceId": id.to_string(), "name": name, "deviceType": kind,
                    "role": role, "thisDevice": *id == me,
                }));
                rows.push(vec![
                    id.short(),
                    if *id == me {
                        format!("{name} (this device)")
                    } else {
                        name.clone()
                    },
                    kind.clone(),
                    role.to_owned(),
                ]);
            }
            Ok(Output::new(
                json!({ "members": json }),
                table(&["DEVICE", "NAME", "TYPE", "ROLE"], &rows),
            ))
        }
    }
}
