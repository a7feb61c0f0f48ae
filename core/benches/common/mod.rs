//! What every benchmark shares: the quick mode, medians of rounds, peak memory and CPU time of a process,
//! pinning child processes to one core, and a byte-counting relay for the wire.

#![allow(dead_code)] // each benchmark uses its own part of this

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Quick mode (`MAPEO_BENCH_QUICK=1`, what `scripts/bench.sh --quick` and CI run): small
/// sizes and one round, so that every step runs end to end in little time. Its figures show
/// that each step works; they are not the benchmark's figures.
pub fn quick() -> bool {
    std::env::var_os("MAPEO_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0")
}

/// A number from the environment, else `quick` in quick mode, else `full`.
pub fn setting(name: &str, quick_value: usize, full: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick() { quick_value } else { full })
}

/// The median of some runs' figures.
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// "median m unit (runs: a / b / c)": the median, then every run.
pub fn runs(v: &[f64], unit: &str, digits: usize) -> String {
    let all: Vec<String> = v.iter().map(|x| format!("{x:.digits$}")).collect();
    format!(
        "median {:.digits$} {unit} (runs: {})",
        median(v),
        all.join(" / ")
    )
}

/// This process's peak resident memory, in MB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU seconds (user + system, every thread, finished ones included) this process has used
/// so far. From `/proc/self/stat`, in clock ticks of 1/100 s (Linux's fixed `USER_HZ`).
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces; the fields after its ')' are plain.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / 100.0
}

/// The `taskset` binary, if this machine has it (util-linux).
pub fn taskset() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("taskset"))
        .find(|p| p.is_file())
}

/// A command running `exe`, pinned to core 0 when `pinned` (through `taskset -c 0`).
pub fn child(exe: &std::path::Path, pinned: bool) -> Command {
    match (pinned, taskset()) {
        (true, Some(taskset)) => {
            let mut c = Command::new(taskset);
            c.arg("-c").arg("0").arg(exe);
            c
        }
        _ => Command::new(exe),
    }
}

/// Whether runs pinned to one core can be made here (prints why not, once asked).
pub fn can_pin() -> bool {
    let ok = taskset().is_some();
    if !ok {
        println!("  (no taskset here: the runs pinned to one core are left out)");
    }
    ok
}

/// A relay on 127.0.0.1 between one client and `target`, counting the bytes that pass each
/// way (the TCP payload: Noise handshake, framing and encryption included).
pub struct Relay {
    /// Where clients connect instead of `target`.
    pub addr: SocketAddr,
    /// Bytes from the client to `target`, and back.
    pub up: Arc<AtomicU64>,
    pub down: Arc<AtomicU64>,
}

impl Relay {
    /// Starts relaying the first connection it accepts.
    pub fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay bind");
        let addr = listener.local_addr().expect("relay addr");
        let (up, down) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (u, d) = (up.clone(), down.clone());
        std::thread::spawn(move || {
            let Ok((client, _)) = listener.accept() else {
                return;
            };
            let Ok(server) = TcpStream::connect(target) else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (c2, s2) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            std::thread::spawn(move || pump(c2, s2, &u));
            pump(server, client, &d);
        });
        Relay { addr, up, down }
    }

    /// Bytes relayed both ways so far.
    pub fn total(&self) -> u64 {
        self.up.load(Ordering::SeqCst) + self.down.load(Ordering::SeqCst)
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, count: &AtomicU64) {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                count.fetch_add(n as u64, Ordering::SeqCst);
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// Size of a SQLite database with its write-ahead log, in bytes.
pub fn db_bytes(path: &std::path::Path) -> u64 {
    let wal = path.with_extension("db-wal");
    std::fs::metadata(path).map_or(0, |m| m.len()) + std::fs::metadata(wal).map_or(0, |m| m.len())
}
