//! The categories file CoMapeo ships — `@mapeo/default-config@6.0.0`'s
//! `dist/mapeo-default-config.comapeocat` — fetched with `npm pack` at test time (its licence,
//! CC-BY-NC, keeps it out of the repository) into a cache in the system's temp folder, once
//! for all test processes. Shared by the core's and the CLI's tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

// Each support module stands alone (test crates include any of them), so each loads npm.rs.
#[allow(clippy::duplicate_mod)]
#[path = "npm.rs"]
mod npm;
use npm::run;

/// The package holding the file.
pub const PACKAGE: &str = "@mapeo/default-config@6.0.0";
/// The file inside the package.
pub const FILE_IN_PACKAGE: &str = "package/dist/mapeo-default-config.comapeocat";

/// The path of the real categories file. Without `npm` the test is skipped with a loud
/// message, except under CI (`CI` set), where a missing `npm` fails it.
pub fn default_config() -> Option<PathBuf> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(fetch).clone()
}

fn fetch() -> Option<PathBuf> {
    let cache = std::env::temp_dir().join("mapeo-tests-default-config-6.0.0");
    let file = cache.join("mapeo-default-config.comapeocat");
    if file.is_file() {
        return Some(file);
    }
    let npm_found = Command::new("npm")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !npm_found {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
        assert!(
            !ci,
            "npm is needed to fetch {PACKAGE} and CI is set: failing"
        );
        eprintln!("SKIPPED: npm not found, so {PACKAGE} cannot be fetched (CI would fail)");
        return None;
    }
    std::fs::create_dir_all(&cache).unwrap();
    // A fresh folder per process, then one rename: processes racing both end with the file.
    let work = tempfile::tempdir_in(&cache).unwrap();
    run(
        Command::new("npm")
            .args(["pack", PACKAGE, "--silent"])
            .current_dir(work.path()),
        "npm pack",
    );
    let tgz = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "tgz"))
        .expect("npm pack wrote no .tgz");
    run(
        Command::new("tar")
            .arg("xzf")
            .arg(&tgz)
            .arg(FILE_IN_PACKAGE)
            .current_dir(work.path()),
        "tar",
    );
    std::fs::rename(work.path().join(FILE_IN_PACKAGE), &file).unwrap();
    Some(file)
}

/// Every file of a zip archive, by name.
pub fn zip_files(path: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for i in 0..zip.len() {
        let mut e = zip.by_index(i).unwrap();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(e.name().unwrap().into_owned(), data);
    }
    out
}
