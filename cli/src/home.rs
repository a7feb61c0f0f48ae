//! The data folder: where it is, the root key file in it (mode 0600, created on first use),
//! the lock that keeps two writing processes apart, and opening the device's `Manager`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mapeo_core::schema::{DeviceInfo, DeviceType};
use mapeo_core::{Manager, RootKey};

use crate::error::{CliError, CliResult};

/// File name of the root key inside the data folder: 32 hex characters and a newline.
pub const KEY_FILE: &str = "root.key";
/// File name of the lock held by every command that writes or syncs.
pub const LOCK_FILE: &str = "mapeo.lock";
/// File name where a running `mapeo serve` says where it listens.
pub const SERVE_FILE: &str = "serve.json";
/// The name a new desktop identity starts with.
pub const DEFAULT_DESKTOP_NAME: &str = "Mapeo desktop";
/// Length of the root key in hex characters.
const KEY_HEX_CHARS: usize = 32;

/// The data folder given, or the platform's.
pub fn data_dir(given: Option<&Path>) -> CliResult<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir.to_owned());
    }
    directories::ProjectDirs::from("org", "Mapeo", "mapeo")
        .map(|d| d.data_dir().to_owned())
        .ok_or_else(|| {
            CliError::BadInput("no home folder found: give the data folder with --data".into())
        })
}

/// Whether the folder holds an identity.
pub fn has_identity(dir: &Path) -> bool {
    dir.join(KEY_FILE).exists()
}

fn read_key(dir: &Path) -> CliResult<Option<RootKey>> {
    let path = dir.join(KEY_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CliError::file("cannot read", &path, e)),
    };
    let hex_text = text.trim();
    if hex_text.len() != KEY_HEX_CHARS {
        return Err(CliError::BadKeyFile(path));
    }
    let mut bytes = [0u8; 16];
    hex::decode_to_slice(hex_text, &mut bytes).map_err(|_| CliError::BadKeyFile(path.clone()))?;
    tighten_permissions(&path)?;
    Ok(Some(RootKey::from_bytes(bytes)))
}

#[cfg(unix)]
fn tighten_permissions(path: &Path) -> CliResult<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| CliError::file("cannot read", path, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "warning: {} was readable by others; its mode is now 0600",
            path.display()
        );
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| CliError::file("cannot protect", path, e))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten_permissions(_path: &Path) -> CliResult<()> {
    Ok(())
}

/// Writes a new key file (mode 0600), refusing to replace one.
fn write_key(dir: &Path, key: &RootKey) -> CliResult<()> {
    std::fs::create_dir_all(dir).map_err(|e| CliError::file("cannot create", dir, e))?;
    let path = dir.join(KEY_FILE);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .map_err(|e| CliError::file("cannot create", &path, e))?;
    let text = format!("{}\n", hex::encode(key.expose_bytes()));
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::file("cannot write", &path, e))
}

/// The data folder's exclusive lock, held while a command writes or syncs.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Takes the data folder's lock, or fails at once if another process holds it.
pub fn lock(dir: &Path) -> CliResult<Lock> {
    std::fs::create_dir_all(dir).map_err(|e| CliError::file("cannot create", dir, e))?;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| CliError::file("cannot open", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(Lock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(CliError::DataInUse(dir.to_owned())),
        Err(std::fs::TryLockError::Error(e)) => Err(CliError::file("cannot lock", &path, e)),
    }
}

/// Whether another process holds the data folder's lock now.
pub fn in_use(dir: &Path) -> bool {
    matches!(lock(dir), Err(CliError::DataInUse(_)))
}

/// An open device and the folder it lives in.
pub struct Home {
    /// The data folder.
    pub dir: PathBuf,
    /// The device (shared with the network tasks of `serve`).
    pub manager: Arc<Manager>,
    /// The root key (to show the backup code).
    pub key: RootKey,
    /// Held by writing commands.
    _lock: Option<Lock>,
}

/// Whether a command only reads (runs beside a `serve`) or writes (needs the lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads only.
    Read,
    /// Writes or syncs: takes the lock.
    Write,
}

impl Home {
    /// Opens the device in `dir`, creating its identity on first use (a new random root key
    /// written with mode 0600, and a desktop device name).
    pub fn open(dir: &Path, access: Access) -> CliResult<Home> {
        let lock = match access {
            Access::Write => Some(lock(dir)?),
            Access::Read => None,
        };
        let (key, created) = match read_key(dir)? {
            Some(k) => (k, false),
            None => {
                // A first use writes; without the lock two first uses could race.
                let _first = match &lock {
                    Some(_) => None,
                    None => Some(self::lock(dir)?),
                };
                let key = RootKey::generate();
                write_key(dir, &key)?;
                (key, true)
            }
        };
        Self::with_key(dir, key, created, lock)
    }

    /// Restores an identity into `dir`, which must not have one.
    pub fn restore(dir: &Path, key: RootKey) -> CliResult<Home> {
        let lock = lock(dir)?;
        if let Some(existing) = read_key(dir)? {
            let id = existing.device_keys().device_id();
            return Err(CliError::IdentityExists(id.to_string()));
        }
        if dir.join("device.db").exists() {
            return Err(CliError::IdentityExists(
                "unknown: a store without its key".into(),
            ));
        }
        write_key(dir, &key)?;
        Self::with_key(dir, key, true, Some(lock))
    }

    fn with_key(dir: &Path, key: RootKey, created: bool, lock: Option<Lock>) -> CliResult<Home> {
        let manager = Manager::open(dir, &key)?;
        if created && manager.device_info()?.is_none() {
            manager.set_device_info(DeviceInfo {
                name: DEFAULT_DESKTOP_NAME.into(),
                device_type: DeviceType::Desktop,
            })?;
        }
        Ok(Home {
            dir: dir.to_owned(),
            manager: Arc::new(manager),
            key,
            _lock: lock,
        })
    }
}
