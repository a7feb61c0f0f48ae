//! Running `npm` and `tar` for the test fixtures fetched from the npm registry, bounded in
//! time. Shared by the support modules that fetch packages (`default_config`, `map_packages`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest `npm pack`, `npm install` or `tar` may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs a command to its end within [`FETCH_TIMEOUT`], failing the test otherwise.
pub fn run(cmd: &mut Command, what: &str) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let deadline = Instant::now() + FETCH_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{what} failed: {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not finish within {FETCH_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
