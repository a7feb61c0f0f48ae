//! Incoming connection limits over 127.0.0.1: silent TCP connections that never handshake
//! are closed beyond [`MAX_PENDING_HANDSHAKES_PER_IP`] per address and [`MAX_CONNECTIONS`] in
//! all, and a real peer still connects and syncs, meanwhile or once they are gone.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use common::{Device, observation};
use mapeo_core::manager::{MAX_CONNECTIONS, MAX_PENDING_HANDSHAKES_PER_IP};
use mapeo_core::schema::DocType;
use mapeo_core::sync::SyncPhase;
use mapeo_core::{Project, Query};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};

const WAIT: Duration = Duration::from_secs(20);
/// How long a probe waits to see whether the device closed a silent connection.
const PROBE: Duration = Duration::from_millis(1_500);

use common::loopback;

/// A creates a project, B joins it as a member, both sync; A has one observation.
fn pair() -> (Device, Device, Arc<Project>, Arc<Project>) {
    let a = Device::new(1);
    let b = Device::new(2);
    let (pa, pb) = common::shared_project(&a, &b);
    pa.create(observation(1.0, 1.0, "x")).unwrap();
    (a, b, pa, pb)
}

/// `n` TCP connections to `target` from `source`, that never send a byte.
async fn silent(target: SocketAddr, source: &str, n: usize) -> Vec<TcpStream> {
    let source: IpAddr = source.parse().unwrap();
    let mut out = Vec::new();
    for _ in 0..n {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        let s = tokio::time::timeout(WAIT, socket.connect(target))
            .await
            .unwrap()
            .unwrap();
        out.push(s);
    }
    out
}

/// Splits connections into those the device has closed and those it keeps.
async fn probe(streams: Vec<TcpStream>) -> (usize, Vec<TcpStream>) {
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                let mut buf = [0u8; 1];
                match tokio::time::timeout(PROBE, s.read(&mut buf)).await {
                    Ok(Ok(0) | Err(_)) => None,
                    Ok(Ok(_)) => panic!("the device spoke first"),
                    Err(_) => Some(s),
                }
            })
        })
        .collect();
    let mut closed = 0;
    let mut open = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Some(s) => open.push(s),
            None => closed += 1,
        }
    }
    (closed, open)
}

async fn synced(b: &Device, pb: &Project) {
    b.manager
        .wait_for_sync(&pb.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
    assert_eq!(pb.list(&Query::all(DocType::Observation)).unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_from_another_address_do_not_block_a_real_peer() {
    let (a, b, _pa, pb) = pair();
    let addr = a.manager.start_listening(loopback()).await.unwrap();
    let flood = silent(addr, "127.0.0.2", 40).await;
    let (closed, open) = probe(flood).await;
    assert_eq!(open.len(), MAX_PENDING_HANDSHAKES_PER_IP);
    assert_eq!(closed, 40 - MAX_PENDING_HANDSHAKES_PER_IP);
    // Meanwhile (the silent ones are still open), a real peer connects and syncs.
    let peer = tokio::time::timeout(WAIT, b.manager.connect(addr))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(peer, a.manager.device_id());
    synced(&b, &pb).await;
    assert_eq!(a.manager.connection_count(), 1);
    drop(open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_from_the_same_address_only_delay_a_real_peer() {
    let (a, b, _pa, pb) = pair();
    let addr = a.manager.start_listening(loopback()).await.unwrap();
    let flood = silent(addr, "127.0.0.1", 30).await;
    let (closed, open) = probe(flood).await;
    assert_eq!(open.len(), MAX_PENDING_HANDSHAKES_PER_IP);
    assert_eq!(closed, 30 - MAX_PENDING_HANDSHAKES_PER_IP);
    // Its address is full: the peer is turned away before the handshake.
    assert!(b.manager.connect(addr).await.is_err());
    assert_eq!(b.manager.connection_count(), 0);
    // Once the silent connections go, their slots free up.
    drop(open);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match b.manager.connect(addr).await {
            Ok(peer) => {
                assert_eq!(peer, a.manager.device_id());
                break;
            }
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "never accepted: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    synced(&b, &pb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_total_is_capped_across_addresses() {
    let (a, b, _pa, pb) = pair();
    let addr = a.manager.start_listening(loopback()).await.unwrap();
    let sources = MAX_CONNECTIONS / MAX_PENDING_HANDSHAKES_PER_IP + 2;
    let mut flood = Vec::new();
    for i in 0..sources {
        flood.extend(
            silent(
                addr,
                &format!("127.0.1.{}", i + 1),
                MAX_PENDING_HANDSHAKES_PER_IP,
            )
            .await,
        );
    }
    let total = flood.len();
    let (closed, open) = probe(flood).await;
    assert_eq!(open.len(), MAX_CONNECTIONS);
    assert_eq!(closed, total - MAX_CONNECTIONS);
    assert!(b.manager.connect(addr).await.is_err());
    drop(open);
    let deadline = tokio::time::Instant::now() + WAIT;
    while b.manager.connect(addr).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "never accepted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    synced(&b, &pb).await;
}
