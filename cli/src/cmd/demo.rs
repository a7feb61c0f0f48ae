//! `mapeo demo`: the main job end to end on one machine. Three peers, each its own data
//! folder, run as separate `mapeo` processes: a coordinator creates a project and imports
//! categories and serves, the two others connect to it by connection code and join by
//! invite (`mapeo sync --accept-invites-from` on their side, `mapeo members invite` on
//! hers), receiving the project's settings and categories; every `mapeo serve` listens on
//! 127.0.0.1 only (no mDNS: nothing leaves this machine); each records observations, one
//! with a photo (a real JPEG drawn here), a second round of sync brings every observation
//! to every peer (the phones' data travels through the coordinator) and the photo by each
//! device's blob policy (the original to the coordinator's archive, the preview and
//! thumbnail to the phones), each peer's result is shown, and the peers export GeoJSON and
//! a zip with the media. Every wait is bounded.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use indicatif::HumanBytes;
use serde_json::{Value, json};

use crate::args::DemoArgs;
use crate::error::{CliError, CliResult};
use crate::out::{Output, table};

/// Longest a single non-network step (a `mapeo` command) may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a `mapeo serve` has to stop after its standard input closes.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause between two looks at a peer's data while waiting for sync.
pub const POLL_INTERVAL: Duration = Duration::from_millis(300);

const PROJECT_NAME: &str = "Río Negro monitoring";

const METADATA: &str =
    r#"{"name": "Mapeo demo categories", "version": "1.0", "buildDateValue": 1767225600000}"#;
const DEFAULTS: &str =
    r#"{"point": ["river-pollution", "illegal-mining", "sacred-site"], "line": [], "area": []}"#;
const PRESETS: &str = r##"{
  "river-pollution": {"name": "River pollution", "geometry": ["point"], "tags": {"type": "pollution"},
                      "fields": ["source", "severity"], "icon": "river", "color": "#1f78b4", "terms": ["oil", "waste"]},
  "illegal-mining": {"name": "Illegal mining", "geometry": ["point"], "tags": {"type": "mining"},
                     "fields": ["severity"], "color": "#e31a1c"},
  "sacred-site": {"name": "Sacred site", "geometry": ["point"], "tags": {"type": "sacred"}, "fields": [], "color": "#33a02c"}
}"##;
const FIELDS: &str = r#"{
  "source": {"type": "selectOne", "tagKey": "source", "label": "Source",
             "options": [{"label": "Mine", "value": "mine"}, {"label": "Boat", "value": "boat"}]},
  "severity": {"type": "number", "tagKey": "severity", "label": "Severity (1-5)"}
}"#;
const ICON: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M2 12c4-4 8 4 12 0s6 0 8 0"/></svg>"#;
const TRANSLATIONS_ES: &str = r#"{
  "preset": {"river-pollution": [{"propertyRef": "name", "message": "Contaminación del río"}],
             "illegal-mining": [{"propertyRef": "name", "message": "Minería ilegal"}]},
  "field": {"source": [{"propertyRef": "label", "message": "Origen"}, {"propertyRef": "options.0", "message": "Mina"}]}
}"#;

/// The file name of the demo's photo.
const PHOTO_NAME: &str = "dredge.jpg";
/// Which of the records gets the photo (Beto's dredge).
const PHOTO_RECORD: usize = 2;
/// The demo photo's size: larger than a preview, so that every variant differs.
const PHOTO_SIZE: (u32, u32) = (1600, 1200);
/// Its JPEG quality.
const PHOTO_QUALITY: u8 = 88;

/// Draws the demo's photo: a night river with a lit dredge, as a camera's JPEG.
fn demo_photo() -> CliResult<Vec<u8>> {
    let (w, h) = PHOTO_SIZE;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let river = y > h * 11 / 20;
        let dredge = (w * 2 / 5..w * 3 / 5).contains(&x) && (h * 9 / 20..h * 12 / 20).contains(&y);
        let light = dredge && (x / 40 + y / 40) % 3 == 0;
        // Channel values stay within 0..=255 by construction.
        let shade = |v: u32| u8::try_from(v.min(255)).unwrap_or(u8::MAX);
        if light {
            image::Rgb([250, 220, 120])
        } else if dredge {
            image::Rgb([70, 60, 50])
        } else if river {
            let ripple = (x / 7 + y / 3) % 17;
            image::Rgb([
                shade(20 + ripple),
                shade(40 + ripple * 2),
                shade(70 + y * 60 / h),
            ])
        } else {
            image::Rgb([
                shade(10 + y * 30 / h),
                shade(15 + y * 30 / h),
                shade(40 + y * 60 / h),
            ])
        }
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, PHOTO_QUALITY)
        .encode_image(&img)
        .map_err(|e| demo_err(format!("cannot draw the demo photo: {e}")))?;
    Ok(out)
}

/// An observation to record: who, latitude, longitude, category, notes, tags.
type Record<'a> = (&'a Peer, f64, f64, &'a str, &'a str, &'a [&'a str]);

/// One peer of the demo.
struct Peer {
    name: &'static str,
    kind: &'static str,
    dir: PathBuf,
}

/// A running `mapeo serve` and its JSON events.
struct Serve {
    child: Child,
    events: mpsc::Receiver<Value>,
    info: Value,
}

fn demo_err(msg: impl Into<String>) -> CliError {
    CliError::Demo(msg.into())
}

fn exe() -> CliResult<PathBuf> {
    std::env::current_exe().map_err(|e| demo_err(format!("cannot find the mapeo program: {e}")))
}

/// Runs `mapeo --data DIR --json ARGS…` and returns its JSON output; bounded by
/// [`STEP_TIMEOUT`].
fn mapeo(dir: &Path, args: &[&str]) -> CliResult<Value> {
    mapeo_within(dir, args, STEP_TIMEOUT)
}

/// [`mapeo`], bounded by `limit`.
fn mapeo_within(dir: &Path, args: &[&str], limit: Duration) -> CliResult<Value> {
    let mut child = Command::new(exe()?)
        .arg("--data")
        .arg(dir)
        .arg("--json")
        .args(args)
        .env_remove("MAPEO_PROJECT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| demo_err(format!("cannot start mapeo: {e}")))?;
    let out = reader(child.stdout.take());
    let err = reader(child.stderr.take());
    let status = wait(&mut child, limit)?;
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if !status {
        return Err(demo_err(format!(
            "`mapeo {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&stderr).trim()
        )));
    }
    serde_json::from_slice(&stdout)
        .map_err(|e| demo_err(format!("`mapeo {}` printed no JSON: {e}", args.join(" "))))
}

fn reader<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        buf
    })
}

/// Waits for a child up to `limit`, killing it then; `true` if it exited successfully.
fn wait(child: &mut Child, limit: Duration) -> CliResult<bool> {
    let until = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status.success()),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(demo_err(format!(
                    "a step took longer than {} s",
                    limit.as_secs()
                )));
            }
            Err(e) => return Err(demo_err(format!("lost a child process: {e}"))),
        }
    }
}

impl Serve {
    fn start(
        dir: &Path,
        connect: Option<&str>,
        extra: &[&str],
        timeout: Duration,
    ) -> CliResult<Serve> {
        let mut cmd = Command::new(exe()?);
        cmd.arg("--data").arg(dir).arg("--json").args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-discovery",
            "--stop-on-stdin-close",
        ]);
        if let Some(code) = connect {
            cmd.args(["--connect", code]);
        }
        cmd.args(extra);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| demo_err(format!("cannot start mapeo serve: {e}")))?;
        let stdout = child.stdout.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
                let Ok(line) = line else { return };
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    return;
                }
            }
        });
        let mut serve = Serve {
            child,
            events: rx,
            info: Value::Null,
        };
        serve.info = serve.wait_event(timeout, |e| e["event"] == "listening")?;
        Ok(serve)
    }

    /// The next event that satisfies `check`, within `timeout`.
    fn wait_event(
        &mut self,
        timeout: Duration,
        mut check: impl FnMut(&Value) -> bool,
    ) -> CliResult<Value> {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) if check(&e) => return Ok(e),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(demo_err(format!(
                        "no answer from a peer within {} s",
                        timeout.as_secs()
                    )));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(demo_err("a mapeo serve process ended early"));
                }
            }
        }
    }

    fn code(&self) -> String {
        self.info["connectionCode"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until this peer reports every one of `peers` synced (data included) for the
    /// project at once.
    fn wait_synced_with(
        &mut self,
        peers: &[String],
        project: &str,
        timeout: Duration,
    ) -> CliResult<()> {
        let mut synced: std::collections::BTreeMap<String, bool> = Default::default();
        self.wait_event(timeout, |e| {
            if e["event"] == "progress" && e["projectId"] == project {
                let peer = e["peer"].as_str().unwrap_or_default().to_owned();
                synced.insert(peer, e["synced"].as_bool().unwrap_or(false));
            }
            peers
                .iter()
                .all(|p| synced.get(p).copied().unwrap_or(false))
        })?;
        Ok(())
    }

    /// Closes standard input (serve stops and releases its data folder), bounded.
    fn stop(mut self) -> CliResult<()> {
        drop(self.child.stdin.take());
        wait(&mut self.child, STOP_TIMEOUT).map(|_| ())
    }
}

/// A `mapeo` command running beside the others (a `sync` waiting for an invite).
struct Background {
    child: Child,
    out: std::thread::JoinHandle<Vec<u8>>,
    err: std::thread::JoinHandle<Vec<u8>>,
    what: String,
}

impl Background {
    fn start(dir: &Path, args: &[&str]) -> CliResult<Background> {
        let mut child = Command::new(exe()?)
            .arg("--data")
            .arg(dir)
            .arg("--json")
            .args(args)
            .env_remove("MAPEO_PROJECT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| demo_err(format!("cannot start mapeo: {e}")))?;
        let out = reader(child.stdout.take());
        let err = reader(child.stderr.take());
        Ok(Background {
            child,
            out,
            err,
            what: args.first().copied().unwrap_or_default().to_owned(),
        })
    }

    /// Waits for it to end (bounded) and returns its JSON output.
    fn finish(mut self, limit: Duration) -> CliResult<Value> {
        let ok = wait(&mut self.child, limit)?;
        let stdout = std::mem::replace(&mut self.out, std::thread::spawn(Vec::new));
        let stderr = std::mem::replace(&mut self.err, std::thread::spawn(Vec::new));
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        if !ok {
            return Err(demo_err(format!(
                "`mapeo {}` failed: {}",
                self.what,
                String::from_utf8_lossy(&stderr).trim()
            )));
        }
        serde_json::from_slice(&stdout)
            .map_err(|e| demo_err(format!("`mapeo {}` printed no JSON: {e}", self.what)))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // A demo that fails half way must not leave peers running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls a peer's data until `check` holds, within `timeout`.
fn eventually(
    dir: &Path,
    args: &[&str],
    timeout: Duration,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> CliResult<Value> {
    let until = Instant::now() + timeout;
    loop {
        let v = mapeo(dir, args)?;
        if check(&v) {
            return Ok(v);
        }
        if Instant::now() >= until {
            return Err(demo_err(format!(
                "{what} did not happen within {} s",
                timeout.as_secs()
            )));
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

fn write_categories(dir: &Path) -> CliResult<()> {
    let files = [
        ("metadata.json", METADATA),
        ("defaults.json", DEFAULTS),
        ("presets.json", PRESETS),
        ("fields.json", FIELDS),
        ("icons/river.svg", ICON),
        ("translations/es.json", TRANSLATIONS_ES),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| CliError::file("cannot create", parent, e))?;
        }
        std::fs::write(&path, text).map_err(|e| CliError::file("cannot write", &path, e))?;
    }
    Ok(())
}

/// Runs the demo.
pub fn run(args: DemoArgs, json: bool) -> CliResult<Output> {
    let say = |text: &str| {
        if !json {
            println!("{text}");
        }
    };
    let timeout = Duration::from_secs(args.timeout);
    let (base, _temp) = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| CliError::file("cannot create", d, e))?;
            (d.clone(), None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("mapeo-demo-")
                .tempdir()
                .map_err(|e| demo_err(format!("cannot make a temporary folder: {e}")))?;
            let path = t.path().to_owned();
            if args.keep {
                (t.keep(), None)
            } else {
                (path, Some(t))
            }
        }
    };
    let peers = [
        Peer {
            name: "Ana (coordinator)",
            kind: "desktop",
            dir: base.join("ana"),
        },
        Peer {
            name: "Beto",
            kind: "mobile",
            dir: base.join("beto"),
        },
        Peer {
            name: "Carla",
            kind: "mobile",
            dir: base.join("carla"),
        },
    ];
    say(&format!("Mapeo demo: three peers in {}", base.display()));
    let mut ids = Vec::new();
    for p in &peers {
        let v = mapeo(&p.dir, &["identity", "set-name", p.name, "--type", p.kind])?;
        let id = v["deviceId"].as_str().unwrap_or_default().to_owned();
        say(&format!(
            "  {} — device {}",
            p.name,
            &id[..id.len().min(12)]
        ));
        ids.push(id);
    }
    let [ana, beto, carla] = &peers;

    say("\n1. Ana creates the project and imports categories.");
    let project = mapeo(
        &ana.dir,
        &[
            "project",
            "create",
            PROJECT_NAME,
            "--description",
            "Watching the river for mining waste",
            "--color",
            "#1f78b4",
        ],
    )?;
    let project_id = project["projectId"].as_str().unwrap_or_default().to_owned();
    let pid = project_id.as_str();
    let cats = base.join("categories");
    write_categories(&cats)?;
    let cats_text = cats.display().to_string();
    let imported = mapeo(&ana.dir, &["-p", pid, "categories", "import", &cats_text])?;
    say(&format!("   categories: {}", imported["presets"]));

    say(
        "2. Ana serves on 127.0.0.1; Beto and Carla connect by connection code and wait for an invite.",
    );
    let a = Serve::start(&ana.dir, None, &[], timeout)?;
    let code = a.code();
    let ana_id = ids[0].as_str();
    let secs = args.timeout.to_string();
    let mut joiners = Vec::new();
    for p in [beto, carla] {
        joiners.push(Background::start(
            &p.dir,
            &[
                "sync",
                "--connect",
                &code,
                "--accept-invites-from",
                ana_id,
                "--timeout",
                &secs,
            ],
        )?);
    }

    say("3. Ana invites them as members; each accepts, joins and receives the project.");
    for (p, id) in [(beto, &ids[1]), (carla, &ids[2])] {
        let outcome = mapeo_within(
            &ana.dir,
            &[
                "-p",
                pid,
                "members",
                "invite",
                id,
                "--role",
                "member",
                "--timeout",
                &secs,
            ],
            timeout + STEP_TIMEOUT,
        )?;
        if outcome["outcome"] != "accepted" {
            return Err(demo_err(format!(
                "{} did not join: the invite was {}",
                p.name, outcome["outcome"]
            )));
        }
        say(&format!("   {} accepted and joined.", p.name));
    }
    for (p, joiner) in [beto, carla].into_iter().zip(joiners) {
        let summary = joiner.finish(timeout + STEP_TIMEOUT)?;
        if summary["finished"] != true {
            return Err(demo_err(format!("{} did not finish syncing", p.name)));
        }
        eventually(
            &p.dir,
            &["-p", pid, "project", "show"],
            timeout,
            "receiving the project settings",
            |v| v["name"] == PROJECT_NAME && v["presets"] == 3 && v["role"] == "member",
        )?;
    }
    say("   synced: both have the name and the 3 categories.");
    a.stop()?;

    say("4. Each records observations (offline).");
    let records: [Record<'_>; 5] = [
        (
            ana,
            -3.1190,
            -60.0217,
            "River pollution",
            "Oil on the water near the dock",
            &["source=\"boat\"", "severity=3"],
        ),
        (
            ana,
            -3.1302,
            -60.0105,
            "Sacred site",
            "Old burial ground, keep clear",
            &[],
        ),
        (
            beto,
            -3.4653,
            -62.2159,
            "Illegal mining",
            "Dredge working at night",
            &["severity=5"],
        ),
        (
            beto,
            -3.4711,
            -62.2301,
            "River pollution",
            "Brown water downstream of the dredge",
            &["source=\"mine\""],
        ),
        (
            carla,
            -2.9876,
            -61.5432,
            "Illegal mining",
            "New clearing with machines",
            &["severity=4"],
        ),
    ];
    // Beto photographs the dredge: the phone's camera is a picture drawn here.
    let photo_path = base.join(PHOTO_NAME);
    let photo = demo_photo()?;
    std::fs::write(&photo_path, &photo)
        .map_err(|e| CliError::file("cannot write", &photo_path, e))?;
    let photo_text = photo_path.display().to_string();
    let mut photo_obs = String::new();
    for (i, (p, lat, lon, preset, notes, tags)) in records.into_iter().enumerate() {
        let (lat, lon) = (lat.to_string(), lon.to_string());
        let mut cmd = vec![
            "-p",
            pid,
            "observation",
            "add",
            "--lat",
            &lat,
            "--lon",
            &lon,
            "--preset",
            preset,
            "--notes",
            notes,
        ];
        for t in tags {
            cmd.extend(["--tag", t]);
        }
        let with_photo = i == PHOTO_RECORD;
        if with_photo {
            cmd.extend(["--photo", &photo_text]);
        }
        let added = mapeo(&p.dir, &cmd)?;
        say(&format!("   {}: {preset} — {notes}", p.name));
        if with_photo {
            photo_obs = added["docId"].as_str().unwrap_or_default().to_owned();
            let variants: Vec<String> = added["media"][0]["variants"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| {
                    format!(
                        "{} {}",
                        v["variant"].as_str().unwrap_or("?"),
                        HumanBytes(v["size"].as_u64().unwrap_or(0))
                    )
                })
                .collect();
            say(&format!(
                "     with a photo, {PHOTO_NAME}: {}",
                variants.join(", ")
            ));
        }
    }

    say("5. They meet again: serve, connect, sync until every peer has every observation.");
    say("   Ana's laptop keeps every original (archive); the phones keep photo previews only.");
    let mut a = Serve::start(&ana.dir, None, &[], timeout)?;
    let code = a.code();
    let b = Serve::start(&beto.dir, Some(&code), &["--previews-only"], timeout)?;
    let c = Serve::start(&carla.dir, Some(&code), &["--previews-only"], timeout)?;
    a.wait_synced_with(&[ids[1].clone(), ids[2].clone()], pid, timeout)?;
    let total = records.len();
    let mut results = Vec::new();
    for p in &peers {
        let v = eventually(
            &p.dir,
            &["-p", pid, "observation", "list"],
            timeout,
            "every observation reaching every peer",
            |v| v["count"] == total,
        )?;
        results.push(v);
    }
    // The photo, by each device's policy: the original to the archive, the preview and
    // thumbnail to the phone that did not take it. The phones reach each other only
    // through Ana, so Carla's copies come once Ana has them.
    let expect = [
        (ana, &["original", "preview", "thumbnail"][..], &[][..]),
        (beto, &["original", "preview", "thumbnail"][..], &[][..]),
        (carla, &["preview", "thumbnail"][..], &["original"][..]),
    ];
    let mut photo_json = Vec::new();
    for (p, here, not_here) in expect {
        let shown = eventually(
            &p.dir,
            &["-p", pid, "observation", "show", &photo_obs],
            timeout,
            "the photo reaching every peer",
            |v| {
                let state = |name: &str| {
                    v["media"][0]["variants"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|x| x["variant"] == name)
                        .map(|x| x["here"] == true)
                };
                here.iter().all(|n| state(n) == Some(true))
            },
        )?;
        let held: Vec<&str> = shown["media"][0]["variants"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|x| x["here"] == true)
            .filter_map(|x| x["variant"].as_str())
            .collect();
        if let Some(extra) = not_here.iter().find(|n| held.contains(n)) {
            return Err(demo_err(format!(
                "{} holds the photo's {extra}, which it does not keep",
                p.name
            )));
        }
        photo_json.push(json!({ "name": p.name, "variants": held }));
    }
    for s in [a, b, c] {
        s.stop()?;
    }

    say("6. The result on each peer:");
    let mut peer_json = Vec::new();
    for (p, v) in peers.iter().zip(&results) {
        let rows: Vec<Vec<String>> = v["observations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| {
                vec![
                    o["createdByName"].as_str().unwrap_or("?").to_owned(),
                    o["categoryName"].as_str().unwrap_or("-").to_owned(),
                    o["tags"]["notes"].as_str().unwrap_or("").to_owned(),
                ]
            })
            .collect();
        say(&format!("\n   {} has {} observations:", p.name, v["count"]));
        say(&table(&["AUTHOR", "CATEGORY", "NOTES"], &rows)
            .lines()
            .map(|l| format!("     {l}"))
            .collect::<Vec<_>>()
            .join("\n"));
        peer_json.push(json!({
            "name": p.name,
            "dataDir": p.dir.display().to_string(),
            "observations": v["count"],
        }));
    }

    say("\n   Beto's photo of the dredge on each peer:");
    for p in &photo_json {
        let held: Vec<&str> = p["variants"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        say(&format!(
            "     {:<18} {}",
            p["name"].as_str().unwrap_or(""),
            held.join(", ")
        ));
    }

    say("\n7. Carla exports GeoJSON; Ana exports a zip with the media.");
    let export_path = base.join("rio-negro.geojson");
    let export_text = export_path.display().to_string();
    let export = mapeo(
        &carla.dir,
        &["-p", pid, "export", "geojson", "--out", &export_text],
    )?;
    let bytes =
        std::fs::read(&export_path).map_err(|e| CliError::file("cannot read", &export_path, e))?;
    let geojson: Value =
        serde_json::from_slice(&bytes).map_err(|e| demo_err(format!("export is not JSON: {e}")))?;
    let features = geojson["features"].as_array().map_or(0, Vec::len);
    say(&format!(
        "   {} features in {}",
        features,
        export_path.display()
    ));
    let zip_path = base.join("rio-negro.zip");
    let zip_text = zip_path.display().to_string();
    let zip = mapeo(&ana.dir, &["-p", pid, "export", "zip", "--out", &zip_text])?;
    say(&format!(
        "   the GeoJSON and {} attachment file(s) ({} missing) in {}",
        zip["attachmentsIncluded"],
        zip["attachmentsMissing"],
        zip_path.display()
    ));
    if args.keep || args.dir.is_some() {
        say(&format!(
            "\nEverything is kept in {}: the peers' data folders (try `mapeo --data {} observation list`), the exports, and the photo {PHOTO_NAME}.",
            base.display(),
            ana.dir.display()
        ));
    } else {
        say(&format!(
            "\nThe demo's folder {} (data folders, exports, {PHOTO_NAME}) is removed now; run `mapeo demo --keep` to keep it.",
            base.display()
        ));
    }
    say("Demo finished: every peer has every observation, and the photo as its device keeps it.");
    Ok(Output::new(
        json!({
            "dir": base.display().to_string(),
            "kept": args.keep || args.dir.is_some(),
            "projectId": project_id,
            "categories": imported["presets"],
            "peers": peer_json,
            "observations": total,
            "export": { "path": export_text, "features": features, "summary": export },
            "photo": {
                "path": photo_text,
                "observationId": photo_obs,
                "bytes": photo.len(),
                "peers": photo_json,
            },
            "zip": { "path": zip_text, "summary": zip },
        }),
        String::new(),
    ))
}
