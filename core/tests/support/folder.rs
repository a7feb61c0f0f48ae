//! What the at-rest tests look at in a data folder: every file under it, whether any holds a
//! given run of bytes, and a copy of it (what a thief would take).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use std::path::{Path, PathBuf};

/// Every file under `dir`, at any depth.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The first file under `dir` whose bytes contain `needle`.
pub fn any_file_contains(dir: &Path, needle: impl AsRef<[u8]>) -> Option<PathBuf> {
    let needle = needle.as_ref();
    files(dir).into_iter().find(|f| {
        std::fs::read(f)
            .map(|b| b.windows(needle.len()).any(|w| w == needle))
            .unwrap_or(false)
    })
}

/// Copies every file under `from` to the same place under `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    for f in files(from) {
        let rel = f.strip_prefix(from).unwrap();
        let target = to.join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        // A file deleted while copying (a wipe running) is simply not copied.
        let _ = std::fs::copy(&f, &target);
    }
}

/// Runs this test binary's test `child` (which opens the folder that env var `env` names as
/// `dir`) in a new process, kills it after `delay`, and waits (at most `wait`) for it to die.
/// Whether it finished before the kill.
pub fn kill_child_after(
    child: &str,
    env: &str,
    dir: &Path,
    delay: std::time::Duration,
    wait: std::time::Duration,
) -> bool {
    let exe = std::env::current_exe().unwrap();
    let mut process = std::process::Command::new(&exe)
        .args(["--exact", child, "--nocapture"])
        .env(env, dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = process.kill();
    let until = std::time::Instant::now() + wait;
    loop {
        if let Some(status) = process.try_wait().unwrap() {
            return status.success();
        }
        assert!(std::time::Instant::now() < until, "child did not die");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
