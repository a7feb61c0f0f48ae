//! Helpers shared by the facade's integration tests: a device in a temp folder, opened the
//! way an app opens it, and the longest wait the tests allow.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use mapeo_ffi::{DeviceInfo, DeviceType, Mapeo};

/// Longest quiet time any wait in these tests allows.
pub const WAIT: Duration = Duration::from_secs(30);

/// A device and the folder it lives in (removed when dropped).
pub struct Device {
    pub dir: tempfile::TempDir,
    pub mapeo: Arc<Mapeo>,
}

/// A fresh device with a new root key, named `name`.
pub fn device(name: &str) -> Device {
    let dir = tempfile::tempdir().unwrap();
    let mapeo = Mapeo::open(
        dir.path().to_str().unwrap().to_owned(),
        mapeo_ffi::generate_root_key(),
    )
    .unwrap();
    mapeo
        .set_device_info(DeviceInfo {
            name: name.into(),
            device_type: DeviceType::Mobile,
        })
        .unwrap();
    Device { dir, mapeo }
}
