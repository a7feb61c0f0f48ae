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

/// Starts this test binary's test `child` in a new process, on the folder `dir` that env var
/// `env` names to it.
fn spawn_child(child: &str, env: &str, dir: &Path) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", child, "--nocapture"])
        .env(env, dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits for `process` to end, failing with `what` after `until`; whether it succeeded.
fn wait_for(process: &mut std::process::Child, until: std::time::Instant, what: &str) -> bool {
    loop {
        if let Some(status) = process.try_wait().unwrap() {
            return status.success();
        }
        assert!(std::time::Instant::now() < until, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(2));
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
    let mut process = spawn_child(child, env, dir);
    std::thread::sleep(delay);
    let _ = process.kill();
    wait_for(
        &mut process,
        std::time::Instant::now() + wait,
        "child did not die",
    )
}

/// Runs the same child to its end (at most `wait`) and returns how long it took.
pub fn time_to_finish(
    child: &str,
    env: &str,
    dir: &Path,
    wait: std::time::Duration,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    let mut process = spawn_child(child, env, dir);
    assert!(
        wait_for(&mut process, started + wait, "the child did not finish"),
        "the child failed"
    );
    started.elapsed()
}
