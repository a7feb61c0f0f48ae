//! `mapeo identity`: the device id, name and backup code; restoring from a backup code;
//! renaming the device.

use std::path::Path;

use mapeo_core::BackupCode;
use mapeo_core::schema::{DeviceInfo, DeviceType};
use serde_json::json;

use crate::args::{DeviceKind, IdentityCommand};
use crate::error::{CliError, CliResult};
use crate::home::{Access, Home, KEY_FILE};
use crate::out::Output;

/// Runs an identity command (default: show).
pub fn run(dir: &Path, action: Option<IdentityCommand>) -> CliResult<Output> {
    match action.unwrap_or(IdentityCommand::Show) {
        IdentityCommand::Show => {
            let created = !crate::home::has_identity(dir);
            let home = Home::open(dir, Access::Read)?;
            Ok(show(&home, created)?)
        }
        IdentityCommand::Restore { code } => {
            let key = BackupCode::parse(&code).map_err(mapeo_core::Error::from)?;
            let home = Home::restore(dir, key)?;
            let mut out = show(&home, true)?;
            out.text = format!("Identity restored.\n{}", out.text);
            Ok(out)
        }
        IdentityCommand::SetName { name, kind } => {
            let home = Home::open(dir, Access::Write)?;
            let info = DeviceInfo {
                name,
                device_type: device_type(kind),
            };
            home.manager.set_device_info(info).map_err(|e| match e {
                mapeo_core::Error::Invalid(v) => CliError::BadInput(format!("bad name: {v}")),
                other => other.into(),
            })?;
            show(&home, false)
        }
    }
}

fn device_type(kind: DeviceKind) -> DeviceType {
    match kind {
        DeviceKind::Mobile => DeviceType::Mobile,
        DeviceKind::Tablet => DeviceType::Tablet,
        DeviceKind::Desktop => DeviceType::Desktop,
        DeviceKind::Server => DeviceType::Server,
    }
}

fn show(home: &Home, created: bool) -> CliResult<Output> {
    let id = home.manager.device_id();
    let info = home.manager.device_info()?;
    let code = BackupCode::from_root_key(&home.key);
    let (name, kind) = info
        .map(|i| (i.name, i.device_type.to_string()))
        .unwrap_or_default();
    let json = json!({
        "deviceId": id.to_string(),
        "name": name,
        "deviceType": kind,
        "backupCode": code.expose(),
        "dataDir": home.dir.display().to_string(),
        "created": created,
    });
    let text = format!(
        "{}Device id:   {id}\nName:        {name} ({kind})\nData folder: {}\nBackup code: {}\n\
         Keep the backup code secret and safe: it restores this identity (`mapeo identity restore`).\n\
         The key itself is in {} (mode 0600).",
        if created {
            "New identity created.\n"
        } else {
            ""
        },
        home.dir.display(),
        code.expose(),
        home.dir.join(KEY_FILE).display(),
    );
    Ok(Output::new(json, text))
}
