//! Discovery through real mDNS between processes in network namespaces the test creates:
//! two namespaces joined by a veth pair (never in this machine's own namespace), one
//! `netns-peer` in each, running discovery on its veth only. They must find each other, connect
//! and sync a project. Needs root and `ip` (and python3 with /dev/net/tun for the lossy
//! link, `lossy_link.py`): with `CI` set, their absence fails the test; otherwise it prints
//! SKIPPED and passes.
//!
//! Safety: mDNS runs only inside the namespaces (whose only interfaces are `lo` and the veth);
//! addresses are 10.201.x.x inside them; namespaces are deleted by a guard, even on failure.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mapeo_scenarios::test_root_key;

/// How long each peer may take to print a line it owes.
const LINE_WAIT: Duration = Duration::from_secs(110);
/// Observations the creator writes.
const WRITES: usize = 50;
/// How long the control test watches for a sync that must not happen.
const CONTROL_WAIT: Duration = Duration::from_secs(3);
/// Each namespace command's own limit.
const COMMAND_WAIT: Duration = Duration::from_secs(10);

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Whether this machine can run the scenario; otherwise prints why and, under CI, panics.
fn can_run(need_link: bool) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let ip = Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    let link = !need_link
        || (Command::new("python3")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
            && Path::new("/dev/net/tun").exists());
    if root && ip && link {
        return true;
    }
    let why = format!(
        "needs root ({root}), ip ({ip}) and, for a lossy link, python3 and /dev/net/tun ({link})"
    );
    assert!(
        std::env::var_os("CI").is_none(),
        "netns discovery cannot run: {why}"
    );
    println!("SKIPPED netns discovery: {why}");
    false
}

/// Runs a command, bounded, and panics if it fails.
fn run(args: &[&str]) {
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + COMMAND_WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            assert!(status.success(), "{args:?} failed: {err}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} timed out");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Network namespaces, deleted (with their veths) when dropped.
struct Namespaces {
    names: Vec<String>,
}

impl Namespaces {
    fn new(count: usize) -> Self {
        let tag = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let mut ns = Namespaces { names: Vec::new() };
        for i in 0..count {
            let name = format!("mapeo-t-{tag}-{i}");
            run(&["ip", "netns", "add", &name]);
            ns.names.push(name.clone());
            run(&[
                "ip", "netns", "exec", &name, "ip", "link", "set", "lo", "up",
            ]);
        }
        ns
    }

    fn exec(&self, i: usize, args: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", &self.names[i]];
        full.extend_from_slice(args);
        run(&full);
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// Joins namespaces 0 and 1 with a veth pair created inside namespace 0 (so it never exists
/// in this machine's namespace): `veth0` at 10.201.<subnet>.1 and `veth1` at .2.
fn veth_pair(ns: &Namespaces, subnet: u8) {
    ns.exec(
        0,
        &[
            "ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
        ],
    );
    ns.exec(0, &["ip", "link", "set", "veth1", "netns", &ns.names[1]]);
    for (i, dev) in ["veth0", "veth1"].iter().enumerate() {
        let addr = format!("10.201.{subnet}.{}/24", i + 1);
        ns.exec(i, &["ip", "addr", "add", &addr, "dev", dev]);
        ns.exec(i, &["ip", "link", "set", dev, "up"]);
    }
}

/// A `netns-peer` process, killed when dropped, with its output lines on a channel.
struct Peer {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Peer {
    fn start(ns: &str, iface: &str, dir: &Path, seed: u8, vars: &[(&str, String)]) -> Self {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_netns-peer")])
            .env("MAPEO_PEER_DIR", dir)
            .env("MAPEO_PEER_SEED", seed.to_string())
            .env("MAPEO_PEER_IFACE", iface)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Peer { child, lines }
    }

    /// Waits for the exact line `want`, within [`LINE_WAIT`].
    fn expect_line(&self, want: &str) {
        let deadline = Instant::now() + LINE_WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == want => return,
                Ok(line) => seen.push(line),
                Err(e) => panic!("no line {want:?} from the peer ({e}); saw {seen:?}"),
            }
        }
    }

    /// Panics if a line starting with `prefix` comes within `wait`.
    fn expect_no(&self, prefix: &str, wait: Duration) {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => assert!(!line.starts_with(prefix), "unexpected {line:?}"),
                Err(_) => return,
            }
        }
    }

    /// Ends the process at once, as when a phone leaves the network or dies.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The rest of the first line starting with `prefix`, within [`LINE_WAIT`].
    fn expect(&self, prefix: &str) -> String {
        let deadline = Instant::now() + LINE_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.trim().to_owned();
                    }
                }
                Err(e) => panic!("no {prefix} line from the peer: {e}"),
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + COMMAND_WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A link between namespaces 0 and 1 that loses and delays frames (`lossy_link.py`: what
/// `tc netem` does, in user space, since this machine's kernel has no sch_netem). Its two TAP
/// devices exist only inside the namespaces: `tap0` at 10.201.<subnet>.1, `tap1` at .2.
struct LossyLink {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl LossyLink {
    fn new(ns: &Namespaces, subnet: u8, loss: f64, delay_ms: u32) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/lossy_link.py");
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.names[0],
                "python3",
                script,
                "tap0",
                "tap1",
            ])
            .arg(&ns.names[1])
            .arg(loss.to_string())
            .arg(delay_ms.to_string())
            .arg(subnet.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let ready = rx.recv_timeout(COMMAND_WAIT).unwrap_or_default();
        let link = LossyLink { child, lines: rx };
        assert_eq!(ready.trim(), "READY", "the lossy link did not start");
        for (i, dev) in ["tap0", "tap1"].iter().enumerate() {
            let addr = format!("10.201.{subnet}.{}/24", i + 1);
            ns.exec(i, &["ip", "addr", "add", &addr, "dev", dev]);
            ns.exec(i, &["ip", "link", "set", dev, "up"]);
        }
        link
    }
}

impl LossyLink {
    /// Stops forwarding and returns how many frames it forwarded and dropped.
    fn finish(mut self) -> (u64, u64) {
        drop(self.child.stdin.take());
        let stats = self.lines.recv_timeout(COMMAND_WAIT).unwrap_or_default();
        let n: Vec<u64> = stats
            .strip_prefix("STATS ")
            .unwrap_or_else(|| panic!("no stats from the lossy link: {stats:?}"))
            .split(' ')
            .map(|x| x.parse().unwrap())
            .collect();
        (n[0], n[1])
    }
}

impl Drop for LossyLink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two peers in two namespaces find each other by mDNS and sync, over a veth pair or, with
/// `lossy` = (loss, delay in ms), over a link that loses and delays frames.
fn discover_and_sync(subnet: u8, lossy: Option<(f64, u32)>) {
    let ns = Namespaces::new(2);
    let (link, ifaces) = match lossy {
        None => {
            veth_pair(&ns, subnet);
            (None, ["veth0", "veth1"])
        }
        Some((loss, delay)) => (
            Some(LossyLink::new(&ns, subnet, loss, delay)),
            ["tap0", "tap1"],
        ),
    };
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let member = test_root_key(2).device_keys().device_id();
    let creator = Peer::start(
        &ns.names[0],
        ifaces[0],
        dirs[0].path(),
        1,
        &[
            ("MAPEO_PEER_MEMBER", member.to_string()),
            ("MAPEO_PEER_WRITE", WRITES.to_string()),
            ("MAPEO_PEER_EXPECT", WRITES.to_string()),
        ],
    );
    let join = creator.expect("JOIN ");
    let joiner = Peer::start(
        &ns.names[1],
        ifaces[1],
        dirs[1].path(),
        2,
        &[
            ("MAPEO_PEER_JOIN", join),
            ("MAPEO_PEER_EXPECT", WRITES.to_string()),
            ("MAPEO_PEER_RESTART", "1".to_owned()),
        ],
    );
    creator.expect("LISTENING ");
    joiner.expect("LISTENING ");
    // Observations, sessions: everything arrived over exactly one session.
    joiner.expect_line(&format!("SYNCED {WRITES} 1"));
    creator.expect_line(&format!("SYNCED {WRITES} 1"));
    if let (Some(link), Some((loss, _))) = (link, lossy) {
        let (forwarded, dropped) = link.finish();
        println!("lossy link: {forwarded} frames forwarded, {dropped} dropped");
        if loss > 0.0 {
            assert!(dropped > 0, "the link dropped nothing");
        }
    }
}

#[test]
fn two_namespaces_discover_each_other_and_sync() {
    if !can_run(false) {
        return;
    }
    discover_and_sync(1, None);
}

#[test]
fn discovery_works_over_a_lossy_slow_link() {
    if !can_run(true) {
        return;
    }
    discover_and_sync(2, Some((0.05, 100)));
}

#[test]
fn discovery_works_over_a_very_lossy_link() {
    if !can_run(true) {
        return;
    }
    discover_and_sync(4, Some((0.30, 0)));
}

#[test]
fn a_lost_peer_is_redialed_when_it_comes_back() {
    if !can_run(false) {
        return;
    }
    let ns = Namespaces::new(2);
    veth_pair(&ns, 3);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let member = test_root_key(2).device_keys().device_id();
    let creator = Peer::start(
        &ns.names[0],
        "veth0",
        dirs[0].path(),
        1,
        &[
            ("MAPEO_PEER_MEMBER", member.to_string()),
            ("MAPEO_PEER_WRITE", WRITES.to_string()),
            ("MAPEO_PEER_EXPECT", WRITES.to_string()),
        ],
    );
    let join = creator.expect("JOIN ");
    let port = creator.expect("LISTENING ");
    let joiner = Peer::start(
        &ns.names[1],
        "veth1",
        dirs[1].path(),
        2,
        &[
            ("MAPEO_PEER_JOIN", join),
            ("MAPEO_PEER_EXPECT", WRITES.to_string()),
        ],
    );
    joiner.expect_line(&format!("SYNCED {WRITES} 1"));
    // The creator dies without a goodbye, then comes back on the same port with new data
    // and no discovery of its own: only the joiner's redial can bring them together again.
    creator.kill();
    let more = 20;
    let creator = Peer::start(
        &ns.names[0],
        "veth0",
        dirs[0].path(),
        1,
        &[
            ("MAPEO_PEER_PORT", port.clone()),
            ("MAPEO_PEER_WRITE", more.to_string()),
            ("MAPEO_PEER_EXPECT", (WRITES + more).to_string()),
            ("MAPEO_PEER_NO_DISCOVERY", "1".to_owned()),
        ],
    );
    assert_eq!(creator.expect("LISTENING "), port);
    joiner.expect_line(&format!("SYNCED {} 1", WRITES + more));
    creator.expect_line(&format!("SYNCED {} 1", WRITES + more));
}

#[test]
fn three_devices_on_a_hotspot_bridge_all_sync_with_one_session_per_pair() {
    if !can_run(false) {
        return;
    }
    // Namespace 0 is the hotspot: a bridge with one veth to each of namespaces 1 to 3.
    let ns = Namespaces::new(4);
    ns.exec(0, &["ip", "link", "add", "br0", "type", "bridge"]);
    ns.exec(0, &["ip", "link", "set", "br0", "up"]);
    for i in 1..=3 {
        let hub_end = format!("hub{i}");
        ns.exec(
            0,
            &[
                "ip", "link", "add", &hub_end, "type", "veth", "peer", "name", "wlan0",
            ],
        );
        ns.exec(0, &["ip", "link", "set", "wlan0", "netns", &ns.names[i]]);
        ns.exec(0, &["ip", "link", "set", &hub_end, "master", "br0"]);
        ns.exec(0, &["ip", "link", "set", &hub_end, "up"]);
        let addr = format!("10.201.4.{}/24", i + 1);
        ns.exec(i, &["ip", "addr", "add", &addr, "dev", "wlan0"]);
        ns.exec(i, &["ip", "link", "set", "wlan0", "up"]);
    }
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let members = [2u8, 3]
        .map(|s| test_root_key(s).device_keys().device_id().to_string())
        .join(",");
    let each = 10;
    let total = WRITES + 2 * each;
    let creator = Peer::start(
        &ns.names[1],
        "wlan0",
        dirs[0].path(),
        1,
        &[
            ("MAPEO_PEER_MEMBER", members),
            ("MAPEO_PEER_WRITE", WRITES.to_string()),
            ("MAPEO_PEER_EXPECT", total.to_string()),
        ],
    );
    let join = creator.expect("JOIN ");
    let joiners: Vec<Peer> = (2..=3u8)
        .map(|seed| {
            Peer::start(
                &ns.names[usize::from(seed)],
                "wlan0",
                dirs[usize::from(seed) - 1].path(),
                seed,
                &[
                    ("MAPEO_PEER_JOIN", join.clone()),
                    ("MAPEO_PEER_WRITE", each.to_string()),
                    ("MAPEO_PEER_EXPECT", total.to_string()),
                ],
            )
        })
        .collect();
    let want = format!("SYNCED {total} 2");
    creator.expect_line(&want);
    for j in &joiners {
        j.expect_line(&want);
    }
}

#[test]
fn without_discovery_the_peers_do_not_meet() {
    // The control for the tests above: the same two peers, no mDNS, no sync.
    if !can_run(false) {
        return;
    }
    let ns = Namespaces::new(2);
    veth_pair(&ns, 5);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let member = test_root_key(2).device_keys().device_id();
    let off = ("MAPEO_PEER_NO_DISCOVERY", "1".to_owned());
    let creator = Peer::start(
        &ns.names[0],
        "veth0",
        dirs[0].path(),
        1,
        &[
            ("MAPEO_PEER_MEMBER", member.to_string()),
            ("MAPEO_PEER_WRITE", WRITES.to_string()),
            ("MAPEO_PEER_EXPECT", "0".to_owned()),
            off.clone(),
        ],
    );
    let join = creator.expect("JOIN ");
    let joiner = Peer::start(
        &ns.names[1],
        "veth1",
        dirs[1].path(),
        2,
        &[
            ("MAPEO_PEER_JOIN", join),
            ("MAPEO_PEER_EXPECT", "0".to_owned()),
            off,
        ],
    );
    joiner.expect("LISTENING ");
    joiner.expect_no("SYNCED", CONTROL_WAIT);
    creator.expect_no("SYNCED", Duration::ZERO);
}
