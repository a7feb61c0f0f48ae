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
