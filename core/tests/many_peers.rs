//! Many devices ([`PEERS`]) on 127.0.0.1 all dialing each other at once end with exactly one session per
//! pair. Every dial comes from 127.0.0.1, so the per-address handshake limit turns many away
//! at first: dials are retried (bounded) as an app would.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{Device, eventually};

/// Devices in the test. (Dependencies are optimised in debug builds too — see the workspace
/// `profile.dev.package` — so handshakes cost what they cost on a device.)
const PEERS: usize = 30;
/// How long all of it may take.
const WAIT: Duration = Duration::from_secs(90);
/// First pause before retrying a refused dial; it doubles up to [`RETRY_MAX`].
const RETRY: Duration = Duration::from_millis(100);
/// Longest pause between two dials of one pair.
const RETRY_MAX: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_devices_dialing_each_other_at_once_keep_one_session_per_pair() {
    let devices: Vec<Arc<Device>> = (0..PEERS)
        .map(|i| Arc::new(Device::new(u8::try_from(i + 1).unwrap())))
        .collect();
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for d in &devices {
        addrs.push(
            d.manager
                .start_listening("127.0.0.1:0".parse().unwrap())
                .await
                .unwrap(),
        );
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut dials = Vec::new();
    for (i, d) in devices.iter().enumerate() {
        for (j, addr) in addrs.iter().enumerate() {
            if i == j {
                continue;
            }
            let (d, addr) = (d.clone(), *addr);
            // Spread the retries (as discovery does) so they do not come in waves.
            let spread = u32::try_from((i * PEERS + j) % 17).unwrap();
            dials.push(tokio::spawn(async move {
                let mut pause = RETRY;
                loop {
                    match d.manager.connect(addr).await {
                        Ok(peer) => return peer,
                        Err(e) => {
                            assert!(tokio::time::Instant::now() < deadline, "dial failed: {e}");
                            tokio::time::sleep(pause + RETRY * spread / 4).await;
                            pause = (pause * 2).min(RETRY_MAX);
                        }
                    }
                }
            }));
        }
    }
    for dial in dials {
        dial.await.unwrap();
    }
    eventually("one session per pair", WAIT, || {
        devices
            .iter()
            .all(|d| d.manager.connection_count() == PEERS - 1)
    })
    .await;
    // And it stays that way: no duplicate churn.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for d in &devices {
        assert_eq!(d.manager.connection_count(), PEERS - 1);
        assert_eq!(
            d.manager.peers().iter().filter(|p| p.connected).count(),
            PEERS - 1
        );
    }
}
