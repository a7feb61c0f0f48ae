//! [`Mapeo`], the device as the app holds it: opening it with the data folder and root key
//! (one open per folder, under the folder's lock) and closing it, its identity and device
//! info, and its projects (create, list, open, join, leave). Networking and sync are in
//! `network.rs`, invites in `invites.rs`, the device-wide blob policy in `attachments.rs`:
//! each adds an exported `impl Mapeo` block. Every method is a core call and a conversion.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use mapeo_core::crypto::ROOT_KEY_LEN;
use mapeo_core::{BackupCode, JoinDetails, Manager, RootKey};
use zeroize::Zeroizing;

use crate::error::MapeoError;
use crate::project::Project;
use crate::records::{DeviceInfo, ProjectSettings, ProjectSummary, project_id};
use crate::runtime::{run, run_infallible};

/// File name of the data folder's lock: the same one the desktop peer (`mapeo`) takes, so
/// an app and a `mapeo serve` never run one folder at once.
pub const FOLDER_LOCK_FILE: &str = "mapeo.lock";

/// One device: its identity, its stores and its projects. Open it once per data folder and
/// keep it for the life of the app; [`Mapeo::close`] stops it and frees the folder.
#[derive(uniffi::Object)]
pub struct Mapeo {
    /// The core device. Calls go through [`Mapeo::manager`], which refuses them once closed.
    pub(crate) inner: Arc<Manager>,
    /// The data folder's lock while open; `None` once closed.
    folder: Mutex<Option<File>>,
}

impl Mapeo {
    /// The core device, or `Closed` once [`Mapeo::close`] was called.
    pub(crate) fn manager(&self) -> Result<&Arc<Manager>, MapeoError> {
        match lock(&self.folder).is_some() {
            true => Ok(&self.inner),
            false => Err(MapeoError::closed()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Takes the data folder's exclusive lock, or fails with `FolderInUse` if this process or
/// another holds it. The operating system releases it when the file closes (on close, drop,
/// or when the process dies), so a crash never leaves the folder locked.
fn lock_folder(dir: &Path) -> Result<File, MapeoError> {
    let storage = |e: std::io::Error| MapeoError::from(mapeo_core::Error::Store(e.into()));
    std::fs::create_dir_all(dir).map_err(storage)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(FOLDER_LOCK_FILE))
        .map_err(storage)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(MapeoError::FolderInUse {
            reason: "the data folder is open in another device object or process".into(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(storage(e)),
    }
}

/// A root key from the bytes the app keeps in its keystore.
fn root_key(bytes: Vec<u8>) -> Result<RootKey, MapeoError> {
    let bytes = Zeroizing::new(bytes);
    let array: [u8; ROOT_KEY_LEN] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| MapeoError::invalid("a root key has 16 bytes"))?;
    Ok(RootKey::from_bytes(array))
}

/// A new random root key (16 bytes), for a device's first start. Keep it in the platform's
/// keystore; everything this device is derives from it.
#[uniffi::export]
pub fn generate_root_key() -> Vec<u8> {
    RootKey::generate().expose_bytes().to_vec()
}

/// The backup code of a root key: 32 characters in groups of four, for the user to write
/// down. Secret.
#[uniffi::export]
pub fn backup_code(root_key: Vec<u8>) -> Result<String, MapeoError> {
    Ok(BackupCode::from_root_key(&self::root_key(root_key)?)
        .expose()
        .to_owned())
}

/// The root key a typed backup code stands for. Forgiving of case, `O`/`0`, `I`/`L`/`1`,
/// spaces and dashes; a typo is an error, never another key.
#[uniffi::export]
pub fn root_key_from_backup_code(code: String) -> Result<Vec<u8>, MapeoError> {
    let key = BackupCode::parse(&code).map_err(mapeo_core::Error::from)?;
    Ok(key.expose_bytes().to_vec())
}

#[uniffi::export]
impl Mapeo {
    /// Opens the device in `data_dir` (created if missing) with its root key. A folder
    /// created with another root key is refused (`WrongRootKey`); one already open, in this
    /// process or another, is refused (`FolderInUse`) until that one is closed.
    #[uniffi::constructor]
    pub fn open(data_dir: String, root_key: Vec<u8>) -> Result<Arc<Self>, MapeoError> {
        let key = self::root_key(root_key)?;
        let folder = lock_folder(Path::new(&data_dir))?;
        Ok(Arc::new(Mapeo {
            inner: Arc::new(Manager::open(Path::new(&data_dir), &key)?),
            folder: Mutex::new(Some(folder)),
        }))
    }

    /// Closes the device: stops discovery, listening and every connection (peers are shown
    /// disconnected), then frees the data folder for the next open. Every later call on
    /// this object fails with `Closed`; closing again does nothing. Projects opened from it
    /// keep their own stores until they are dropped: drop them too.
    pub async fn close(&self) -> Result<(), MapeoError> {
        if lock(&self.folder).is_none() {
            return Ok(());
        }
        let m = self.inner.clone();
        run_infallible(async move { m.close().await }).await?;
        // The lock goes last: a new open of the folder finds this one's networking stopped.
        lock(&self.folder).take();
        Ok(())
    }

    /// Emergency wipe: destroys the data folder's keys at once (everything in it becomes
    /// unreadable, whatever its size), closes the device, and deletes its files in the
    /// background. Every later call fails (`Closed`). The root key is the app's: forget it
    /// in the keystore too if the identity must go; its backup code restores it, and the
    /// other members give its data back at the next sync.
    pub async fn wipe(&self) -> Result<(), MapeoError> {
        let m = self.inner.clone();
        run(async move { m.wipe().await }).await?;
        lock(&self.folder).take();
        Ok(())
    }

    /// Whether [`Mapeo::close`] was called.
    pub fn is_closed(&self) -> bool {
        lock(&self.folder).is_none()
    }

    /// This device's public identity (64 hex characters).
    pub fn device_id(&self) -> String {
        self.inner.device_id().to_string()
    }

    /// This device's name and type, if set.
    pub fn device_info(&self) -> Result<Option<DeviceInfo>, MapeoError> {
        Ok(self.manager()?.device_info()?.map(Into::into))
    }

    /// Sets this device's name and type, here and in every joined project.
    pub fn set_device_info(&self, info: DeviceInfo) -> Result<(), MapeoError> {
        Ok(self.manager()?.set_device_info(info.into())?)
    }

    /// Creates a project with this device as its creator.
    pub fn create_project(&self, settings: ProjectSettings) -> Result<Arc<Project>, MapeoError> {
        Ok(Project::wrap(
            self.manager()?.create_project(settings.into())?,
        ))
    }

    /// Every project this device has joined or left.
    pub fn list_projects(&self) -> Result<Vec<ProjectSummary>, MapeoError> {
        Ok(self
            .manager()?
            .list_projects()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Opens a project this device has joined or left.
    pub fn open_project(&self, project_id: String) -> Result<Arc<Project>, MapeoError> {
        Ok(Project::wrap(
            self.manager()?
                .open_project(&self::project_id(&project_id)?)?,
        ))
    }

    /// Leaves a project: records *left*, deletes other devices' data here, keeps this
    /// device's own.
    pub fn leave_project(&self, project_id: String) -> Result<(), MapeoError> {
        Ok(self
            .manager()?
            .leave_project(&self::project_id(&project_id)?)?)
    }

    /// The join details of a project: the secret that lets another device join it. Apps join
    /// through invites ([`Mapeo::invite`], [`Mapeo::accept_invite`]), which send them only
    /// over an encrypted connection after the invitee accepts; this is for a coordinator's own
    /// devices and tests. Secret: never show, log or store them unencrypted.
    pub fn join_details(&self, project_id: String) -> Result<Vec<u8>, MapeoError> {
        let details = self
            .manager()?
            .join_details(&self::project_id(&project_id)?)?;
        Ok(details.to_secret_bytes().to_vec())
    }

    /// Joins a project from its join details. Fails with `AlreadyJoined` for a project this
    /// device is in.
    pub fn join_project(&self, join_details: Vec<u8>) -> Result<Arc<Project>, MapeoError> {
        let bytes = Zeroizing::new(join_details);
        let details = JoinDetails::from_secret_bytes(&bytes)
            .ok_or_else(|| MapeoError::invalid("join details are malformed"))?;
        Ok(Project::wrap(self.manager()?.join_project(&details)?))
    }
}
