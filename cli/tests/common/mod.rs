//! Running the built `mapeo` binary as separate processes: one data folder per peer, JSON
//! output parsed, `mapeo serve` children with their JSON-line events. Every wait bounded.

#![allow(dead_code)] // Each test file uses a part of these helpers.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest any single command may take in a test.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a test waits for peers to sync.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// The binary under test.
pub fn mapeo() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mapeo"));
    c.env_remove("MAPEO_DATA").env_remove("MAPEO_PROJECT");
    c
}

/// One device: its own data folder.
pub struct Peer {
    pub tmp: tempfile::TempDir,
}

impl Peer {
    pub fn new() -> Self {
        Peer {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    /// Runs `mapeo --data DIR ARGS`, bounded.
    pub fn run(&self, args: &[&str]) -> Output {
        let child = mapeo()
            .arg("--data")
            .arg(self.dir())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_output(child, COMMAND_TIMEOUT)
    }

    /// Runs with `--json`, expects success, returns the parsed output.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "mapeo {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "mapeo {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Runs with `--json`, expects failure; returns the exit code and the error object.
    pub fn fail(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(!out.status.success(), "mapeo {args:?} should have failed");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr.lines().last().unwrap_or_default();
        let err: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("no JSON error ({e}) in {stderr}"));
        (out.status.code().unwrap_or(-1), err["error"].clone())
    }

    /// Creates the identity (with a name) and a project; returns the project id.
    pub fn with_project(&self, device_name: &str, project: &str) -> String {
        self.json(&["identity", "set-name", device_name]);
        let p = self.json(&["project", "create", project]);
        p["projectId"].as_str().unwrap().to_owned()
    }

    pub fn device_id(&self) -> String {
        self.json(&["identity"])["deviceId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Starts `mapeo --data DIR ARGS` without waiting (output piped); finish it with
    /// [`wait_output`].
    pub fn spawn(&self, args: &[&str]) -> Child {
        mapeo()
            .arg("--data")
            .arg(self.dir())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Brings `joiner` into `project` as a member, as people do: this peer serves, the
    /// joiner runs `sync --accept-invites-from` against it, this peer invites it.
    pub fn bring_in(&self, project: &str, joiner: &Peer) {
        self.invite_in(project, joiner, "member");
    }

    /// [`Peer::bring_in`] with a role; returns the joiner's sync summary.
    pub fn invite_in(&self, project: &str, joiner: &Peer, role: &str) -> Value {
        let me = self.device_id();
        let joiner_id = joiner.device_id();
        let serve = self.serve(&[]);
        let sync = joiner.spawn(&[
            "--json",
            "sync",
            "--connect",
            &serve.code(),
            "--accept-invites-from",
            &me,
            "--timeout",
            "60",
        ]);
        let outcome = self.json(&[
            "-p",
            project,
            "members",
            "invite",
            &joiner_id,
            "--role",
            role,
            "--timeout",
            "60",
        ]);
        assert_eq!(outcome["outcome"], "accepted", "{outcome:#}");
        let out = wait_output(sync, COMMAND_TIMEOUT);
        assert!(
            out.status.success(),
            "joiner's sync failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serve.stop();
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Starts `mapeo serve` on 127.0.0.1 (no discovery), waits for it to listen.
    pub fn serve(&self, extra: &[&str]) -> Serve {
        let mut cmd = mapeo();
        cmd.arg("--data")
            .arg(self.dir())
            .args([
                "--json",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--no-discovery",
                "--stop-on-stdin-close",
            ])
            .args(extra);
        spawn_serve(&mut cmd)
    }
}

/// Starts a prepared `mapeo serve` command (JSON output, stopping when stdin closes) and
/// waits for it to listen.
pub fn spawn_serve(cmd: &mut Command) -> Serve {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("serve printed a line that is not JSON ({e}): {line}"));
            if tx.send(v).is_err() {
                return;
            }
        }
    });
    let mut s = Serve {
        child,
        events: rx,
        seen: Vec::new(),
        info: Value::Null,
    };
    s.info = s.wait_for("listening", SYNC_TIMEOUT, |e| e["event"] == "listening");
    s
}

/// Waits for a child, killing it past `limit`.
pub fn wait_output(mut child: Child, limit: Duration) -> Output {
    let until = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > until {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "command took longer than {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A running `mapeo serve`.
pub struct Serve {
    pub child: Child,
    events: mpsc::Receiver<Value>,
    /// Every event received so far.
    pub seen: Vec<Value>,
    /// The `listening` event.
    pub info: Value,
}

impl Serve {
    pub fn code(&self) -> String {
        self.info["connectionCode"].as_str().unwrap().to_owned()
    }

    pub fn address(&self) -> String {
        self.info["address"].as_str().unwrap().to_owned()
    }

    /// The first event (already seen or coming) that satisfies `check`.
    pub fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        mut check: impl FnMut(&Value) -> bool,
    ) -> Value {
        if let Some(e) = self.seen.iter().find(|e| check(e)) {
            return e.clone();
        }
        let until = Instant::now() + limit;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) => {
                    self.seen.push(e.clone());
                    if check(&e) {
                        return e;
                    }
                }
                Err(_) => panic!(
                    "serve: no {what} within {limit:?}; events: {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// Closes standard input, expects a clean stop (exit 0) with a `stopped` event.
    pub fn stop(mut self) -> Vec<Value> {
        drop(self.child.stdin.take());
        self.wait_for("stopped", SYNC_TIMEOUT, |e| e["event"] == "stopped");
        let until = Instant::now() + SYNC_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "serve exited with {status}");
                break;
            }
            assert!(Instant::now() < until, "serve did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls until `check` holds, bounded.
pub fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < until, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A folder of categories in the `.comapeocat` layout: two presets, two fields, an icon,
/// Spanish translations.
pub fn write_categories(dir: &Path) {
    let files: [(&str, &str); 6] = [
        (
            "metadata.json",
            r#"{"name": "Test categories", "version": "2.0.1", "buildDateValue": 1767225600000}"#,
        ),
        (
            "defaults.json",
            r#"{"point": ["water", "mine"], "line": [], "area": []}"#,
        ),
        (
            "presets.json",
            r##"{
            "water": {"name": "Water", "geometry": ["point"], "tags": {"type": "water"}, "fields": ["source"], "icon": "drop", "color": "#00f"},
            "mine": {"name": "Mine", "geometry": ["point"], "tags": {"type": "mine"}, "addTags": {"type": "mine", "review": true}, "fields": ["source", "depth"]}
        }"##,
        ),
        (
            "fields.json",
            r#"{
            "source": {"type": "selectOne", "tagKey": "source", "label": "Source", "options": [{"label": "River", "value": "river"}, {"label": "Well", "value": "well"}]},
            "depth": {"type": "number", "tagKey": "depth", "label": "Depth"}
        }"#,
        ),
        (
            "icons/drop.svg",
            r#"<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>"#,
        ),
        (
            "translations/es.json",
            r#"{"preset": {"water": [{"propertyRef": "name", "message": "Agua"}], "ghost": [{"propertyRef": "name", "message": "?"}]},
             "field": {"source": [{"propertyRef": "options.1", "message": "Pozo"}, {"propertyRef": "options.9", "message": "?"}]}}"#,
        ),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// The same categories as a `.comapeocat` (zip) file, with a VERSION file.
pub fn write_comapeocat(folder: &Path, file: &Path, version: &str) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(file).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("VERSION", options).unwrap();
    zip.write_all(version.as_bytes()).unwrap();
    let mut stack = vec![(folder.to_owned(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                stack.push((entry.path(), format!("{name}/")));
            } else {
                zip.start_file(name, options).unwrap();
                zip.write_all(&std::fs::read(entry.path()).unwrap())
                    .unwrap();
            }
        }
    }
    zip.finish().unwrap();
}
