//! Android only: sends the core's logs to logcat. `JNI_OnLoad` runs when the app loads this
//! library with `System.loadLibrary("mapeo_ffi")`; JNA's own loading (what the generated
//! Kotlin does) does not call it, so the app calls `System.loadLibrary` once at start, before
//! the first binding call. The core logs with `tracing`; with no tracing subscriber installed,
//! tracing's `log` feature forwards every event to the `log` facade, which `android_logger`
//! writes to logcat under the tag [`LOG_TAG`].

use std::ffi::c_void;

use jni::JavaVM;
use jni::sys::{JNI_VERSION_1_6, jint};

/// The logcat tag of every message from the core (`adb logcat -s mapeo`).
pub const LOG_TAG: &str = "mapeo";

/// The most detailed level sent to logcat.
const MAX_LEVEL: log::LevelFilter = log::LevelFilter::Info;

/// Called by the JVM when the library is loaded; returns the JNI version the library needs.
/// Registers the VM with the `jni` crate (for later calls into Java) and starts the logger.
#[allow(unsafe_code)] // the JVM finds this symbol by name, and hands us its raw VM pointer
#[unsafe(no_mangle)]
pub extern "system" fn JNI_OnLoad(vm: *mut jni::sys::JavaVM, _reserved: *mut c_void) -> jint {
    if !vm.is_null() {
        // SAFETY: the JVM passes JNI_OnLoad a valid pointer to itself, alive for the process.
        let _vm = unsafe { JavaVM::from_raw(vm) };
    }
    android_logger::init_once(
        android_logger::Config::default()
            .with_tag(LOG_TAG)
            .with_max_level(MAX_LEVEL),
    );
    tracing::info!("mapeo-ffi loaded");
    JNI_VERSION_1_6
}
