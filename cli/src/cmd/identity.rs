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
            show(&home, Shown::Identity { created })
        }
        IdentityCommand::Restore { code } => {
            let key = BackupCode::parse(&code).map_err(mapeo_core::Error::from)?;
            let home = Home::restore(dir, key)?;
            show(&home, Shown::Restored)
        }
        IdentityCommand::SetName { name, kind } => {
            let created = !crate::home::has_identity(dir);
            let home = Home::open(dir, Access::Write)?;
            let info = DeviceInfo {
                name,
                device_type: device_type(kind),
            };
            home.manager.set_device_info(info).map_err(|e| match e {
                mapeo_core::Error::Invalid(v) => CliError::BadInput(format!("bad name: {v}")),
                other => other.into(),
            })?;
            show(&home, Shown::Renamed { created })
        }
        IdentityCommand::Wipe { yes } => wipe(dir, yes),
    }
}

/// How long `identity wipe` waits for the files to be deleted after the keys are gone.
const WIPE_DELETE_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

fn wipe(dir: &Path, yes: bool) -> CliResult<Output> {
    if !yes {
        return Err(CliError::BadInput(
            "wiping makes this device's data unreadable for good: add --yes to confirm".into(),
        ));
    }
    let home = Home::open(dir, Access::Write)?;
    let rt = super::net::runtime()?;
    let wipe = rt.block_on(home.manager.wipe())?;
    // The keys are gone already; the process must not exit before the files are.
    let deleted = wipe.wait(WIPE_DELETE_WAIT);
    let json = json!({ "wiped": true, "filesDeleted": deleted });
    let text = if deleted {
        "Wiped: keys destroyed and files deleted. Restore with the backup code (`mapeo identity restore`)."
    } else {
        "Wiped: keys destroyed (the data is unreadable); some files are still being deleted."
    };
    Ok(Output::new(json, text.to_owned()))
}

fn device_type(kind: DeviceKind) -> DeviceType {
    match kind {
        DeviceKind::Mobile => DeviceType::Mobile,
        DeviceKind::Tablet => DeviceType::Tablet,
        DeviceKind::Desktop => DeviceType::Desktop,
        DeviceKind::Server => DeviceType::Server,
    }
}

/// Why the identity is shown, which decides what is said: the backup code is a secret, shown
/// only by `mapeo identity` (asked for), not after a rename or a restore (the person just
/// typed it).
enum Shown {
    /// `mapeo identity`: it may have been created just now.
    Identity { created: bool },
    /// After `identity restore`.
    Restored,
    /// After `identity set-name` (which may have made the identity just now).
    Renamed { created: bool },
}

fn show(home: &Home, why: Shown) -> CliResult<Output> {
    let id = home.manager.device_id();
    let info = home.manager.device_info()?;
    let (name, kind) = info
        .map(|i| (i.name, i.device_type.to_string()))
        .unwrap_or_default();
    let created = matches!(
        why,
        Shown::Identity { created: true } | Shown::Renamed { created: true }
    );
    let mut json = json!({
        "deviceId": id.to_string(),
        "name": name,
        "deviceType": kind,
        "dataDir": home.dir.display().to_string(),
        "created": created,
        "restored": matches!(why, Shown::Restored),
    });
    let mut text = match why {
        Shown::Identity { created: true } => "New identity created.\n",
        Shown::Identity { created: false } => "",
        Shown::Restored => "Identity restored.\n",
        Shown::Renamed { created: true } => {
            "New identity created (`mapeo identity` shows its backup code). Name set.\n"
        }
        Shown::Renamed { created: false } => "Name set.\n",
    }
    .to_owned();
    text.push_str(&format!(
        "Device id:   {id}\nName:        {name} ({kind})\nData folder: {}",
        home.dir.display()
    ));
    if let Shown::Identity { .. } = why {
        let code = BackupCode::from_root_key(&home.key);
        if let Some(o) = json.as_object_mut() {
            o.insert("backupCode".into(), json!(code.expose()));
        }
        text.push_str(&format!(
            "\nBackup code: {}\n\
             Keep the backup code secret and safe: it restores this identity (`mapeo identity restore`).\n\
             The key itself is in {} (mode 0600).",
            code.expose(),
            home.dir.join(KEY_FILE).display(),
        ));
    }
    Ok(Output::new(json, text))
}
