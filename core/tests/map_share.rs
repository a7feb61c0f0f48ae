//! Maps shared phone to phone over real connections (Noise over TCP on 127.0.0.1): a real
//! SMP from npm offered, seen and accepted (installed byte for byte); declined; cancelled
//! midway by the sender; cut midway and resumed, also across a restart of the receiver; a
//! stranger's offer refused; progress in bytes on both sides.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;
#[path = "support/map_packages.rs"]
mod map_packages;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Device, eventually, joined_project, loopback};
use mapeo_core::RootKey;
use mapeo_core::manager::{MapShare, MapShareDirection, MapShareError, MapShareState};
use mapeo_core::maps::MapId;
use mapeo_core::schema::{DeviceInfo, DeviceType};
use mapeo_core::sync::map_share::MapShareId;

/// Generous: in the tests' debug build, sealing and unsealing (the sender reads its package
/// through the sealed reader; the receiver seals what arrives, then checks and seals the
/// installed copy) runs at a few MB/s, and the cases run side by side on two cores.
const WAIT: Duration = Duration::from_secs(120);
/// The generated package of the midway cases: big enough that a cut lands in the middle (at
/// the debug build's speed, the transfer of its 24 chunks takes seconds).
const BIG: u64 = 24 * 1024 * 1024;

fn named(seed: u8, name: &str) -> Device {
    let d = Device::new(seed);
    d.manager
        .set_device_info(DeviceInfo {
            name: name.into(),
            device_type: DeviceType::Mobile,
        })
        .unwrap();
    d
}

/// `a` listens, `b` connects to it; waits until each has matched a project with the other
/// (or, for strangers, until both see the connection).
async fn link(a: &Device, b: &Device, share_a_project: bool) {
    let addr = match a.manager.listening_on() {
        Some(addr) => addr,
        None => a.manager.start_listening(loopback()).await.unwrap(),
    };
    b.manager.connect(addr).await.unwrap();
    let (ia, ib) = (a.manager.device_id(), b.manager.device_id());
    let sees = |d: &Device, other| {
        if share_a_project {
            d.manager
                .sync_board()
                .snapshot()
                .iter()
                .any(|((_, p), s)| *p == other && s.connected)
        } else {
            d.manager
                .peers()
                .iter()
                .any(|p| p.device_id == other && p.connected)
        }
    };
    eventually("both linked", WAIT, || sees(a, ib) && sees(b, ia)).await;
}

fn share_of(d: &Device, id: MapShareId) -> MapShare {
    d.manager
        .map_shares()
        .into_iter()
        .find(|s| s.id == id)
        .expect("the share is listed")
}

async fn wait_state(d: &Device, id: MapShareId, state: MapShareState) {
    let mut rx = d.manager.subscribe_map_shares();
    tokio::time::timeout(
        WAIT,
        rx.wait_for(|l| l.iter().any(|s| s.id == id && s.state == state)),
    )
    .await
    .unwrap_or_else(|_| panic!("share reaches {state:?}: {:?}", d.manager.map_shares()))
    .unwrap();
}

/// The next offer `d` sees.
async fn offered(d: &Device) -> MapShare {
    let mut rx = d.manager.subscribe_map_shares();
    let list = tokio::time::timeout(
        WAIT,
        rx.wait_for(|l| l.iter().any(|s| s.state == MapShareState::Offered)),
    )
    .await
    .expect("an offer arrives")
    .unwrap()
    .clone();
    list.into_iter()
        .find(|s| s.state == MapShareState::Offered)
        .unwrap()
}

/// Records every byte count `d` reports for share `id` (from any share, until dropped).
fn record_progress(d: &Device) -> (Arc<Mutex<BTreeSet<u64>>>, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let mut rx = d.manager.subscribe_map_shares();
    let out = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            for s in rx.borrow_and_update().iter() {
                out.lock().unwrap().insert(s.bytes);
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    });
    (seen, task)
}

/// A map's package as the store gives it back (decrypted as it is read).
fn package_bytes(d: &Device, map: &MapId) -> Vec<u8> {
    let (mut package, _) = d.manager.maps().unwrap().open_package(map).unwrap();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut package, &mut out).unwrap();
    out
}

/// A file under `d`'s data folder holding `needle`, if any.
fn file_holding(d: &Device, needle: &[u8]) -> Option<PathBuf> {
    fn walk(dir: &Path, needle: &[u8]) -> Option<PathBuf> {
        for e in std::fs::read_dir(dir).ok()?.flatten() {
            let p = e.path();
            let found = if p.is_dir() {
                walk(&p, needle)
            } else {
                std::fs::read(&p)
                    .ok()
                    .filter(|b| b.windows(needle.len()).any(|w| w == needle))
                    .map(|_| p)
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }
    walk(d.dir.path(), needle)
}

/// Files left in the receiver's share folder (partial downloads and received packages).
fn share_leftovers(d: &Device) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.file_name().is_some_and(|n| n != "accepted.json") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&d.dir.path().join("map-shares"), &mut out);
    out
}

fn big_map(d: &Device, seed: u64) -> MapId {
    let tmp = tempfile::tempdir().unwrap();
    let path = map_packages::big_mbtiles(&tmp.path().join("big.mbtiles"), "Big", BIG, seed);
    d.manager.maps().unwrap().import_file(&path).unwrap().id
}

/// Two fellow members, linked: `a` ("Coordinator") holds `map` as made by `make`.
async fn pair(seed: u8) -> (Device, Device) {
    let a = named(seed, "Coordinator");
    let b = named(seed + 1, "Field phone");
    joined_project(&a, &b);
    link(&a, &b, true).await;
    (a, b)
}

/// `b` accepts the next offer; returns the share id.
async fn accept_next(b: &Device) -> MapShareId {
    let offer = offered(b).await;
    b.manager.accept_map_share(&offer.id).await.unwrap();
    offer.id
}

/// Waits until `d` holds at least `bytes` of share `id`.
async fn wait_bytes(d: &Device, id: MapShareId, bytes: u64) {
    let mut rx = d.manager.subscribe_map_shares();
    tokio::time::timeout(
        WAIT,
        rx.wait_for(|l| l.iter().any(|s| s.id == id && s.bytes >= bytes)),
    )
    .await
    .expect("bytes arrive")
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_map_offered_to_a_fellow_member_is_seen_accepted_and_installed_byte_for_byte() {
    let Some(smp) = map_packages::fallback_smp() else {
        return;
    };
    let (a, b) = pair(10).await;
    let info = a.manager.maps().unwrap().import_file(&smp).unwrap();
    let (sent_progress, _t1) = record_progress(&a);
    let (received_progress, _t2) = record_progress(&b);

    let id = a
        .manager
        .share_map(&info.id, &b.manager.device_id())
        .await
        .unwrap();
    let offer = offered(&b).await;
    assert_eq!(offer.id, id);
    assert_eq!(offer.direction, MapShareDirection::Receiving);
    assert_eq!(offer.peer, a.manager.device_id());
    assert_eq!(offer.peer_name, "Coordinator");
    assert_eq!(
        (
            &offer.map_id,
            &offer.name,
            offer.bounds,
            offer.min_zoom,
            offer.max_zoom,
            offer.size
        ),
        (
            &info.id,
            &info.name,
            info.bounds,
            info.min_zoom,
            info.max_zoom,
            info.size
        )
    );
    assert!(
        b.manager.maps().unwrap().list().unwrap().is_empty(),
        "nothing installed before the accept"
    );
    assert_eq!(share_of(&a, id).state, MapShareState::Offered);

    b.manager.accept_map_share(&id).await.unwrap();
    wait_state(&b, id, MapShareState::Installed).await;
    wait_state(&a, id, MapShareState::Installed).await;

    let installed = b.manager.maps().unwrap().get(&info.id).unwrap();
    assert_eq!(installed.name, info.name);
    let plain = std::fs::read(&smp).unwrap();
    assert_eq!(package_bytes(&b, &info.id), plain);
    // Neither side holds the package's plaintext on disk: sealed in both map stores, and
    // the received copy sealed too until it was dropped.
    for at in [plain.len() / 4, plain.len() / 2, plain.len() - 100] {
        let run = &plain[at..at + 64];
        assert_eq!(file_holding(&a, run), None, "sender, bytes at {at}");
        assert_eq!(file_holding(&b, run), None, "receiver, bytes at {at}");
    }
    assert_eq!(
        b.manager.maps().unwrap().style(&info.id).unwrap(),
        a.manager.maps().unwrap().style(&info.id).unwrap()
    );
    for (side, seen) in [("sender", &sent_progress), ("receiver", &received_progress)] {
        assert!(
            seen.lock().unwrap().contains(&info.size),
            "{side} reported every byte"
        );
    }
    assert_eq!(share_of(&b, id).bytes, info.size);
    assert!(share_leftovers(&b).is_empty(), "{:?}", share_leftovers(&b));
    assert!(matches!(
        b.manager.accept_map_share(&id).await,
        Err(MapShareError::WrongState)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_offer_installs_nothing_and_leaves_no_file() {
    let (a, b) = pair(20).await;
    let map = big_map(&a, 1);
    let id = a
        .manager
        .share_map(&map, &b.manager.device_id())
        .await
        .unwrap();
    let offer = offered(&b).await;
    b.manager.decline_map_share(&offer.id).await.unwrap();
    wait_state(&a, id, MapShareState::Declined).await;
    assert_eq!(share_of(&b, id).state, MapShareState::Declined);
    assert!(b.manager.maps().unwrap().list().unwrap().is_empty());
    assert!(share_leftovers(&b).is_empty(), "{:?}", share_leftovers(&b));
    assert!(matches!(
        b.manager.accept_map_share(&id).await,
        Err(MapShareError::WrongState)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_cancelled_midway_by_the_sender_installs_nothing_and_leaves_no_partial() {
    let (a, b) = pair(30).await;
    let map = big_map(&a, 2);
    let id = a
        .manager
        .share_map(&map, &b.manager.device_id())
        .await
        .unwrap();
    accept_next(&b).await;
    wait_bytes(&b, id, 1).await;
    a.manager.cancel_map_share(&id).await.unwrap();
    assert_eq!(share_of(&a, id).state, MapShareState::Cancelled);
    wait_state(&b, id, MapShareState::Cancelled).await;
    let size = share_of(&b, id).size;
    assert!(
        share_of(&a, id).bytes < size,
        "cancelled before the last byte was sent"
    );
    eventually("the partial file is gone", WAIT, || {
        share_leftovers(&b).is_empty()
    })
    .await;
    assert!(b.manager.maps().unwrap().list().unwrap().is_empty());
    // Nothing more arrives, and the cancelled share stays cancelled.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(share_of(&b, id).state, MapShareState::Cancelled);
    assert!(share_leftovers(&b).is_empty());
    assert!(b.manager.maps().unwrap().list().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_cut_midway_resumes_where_it_stopped_and_installs_byte_for_byte() {
    let (a, b) = pair(40).await;
    let map = big_map(&a, 3);
    let (sent_progress, _t1) = record_progress(&a);
    let (received_progress, _t2) = record_progress(&b);
    let id = a
        .manager
        .share_map(&map, &b.manager.device_id())
        .await
        .unwrap();
    accept_next(&b).await;
    wait_bytes(&b, id, 1).await;
    b.manager.disconnect_all().await;
    let size = share_of(&b, id).size;
    eventually("both see the cut", WAIT, || {
        a.manager.connection_count() == 0
    })
    .await;
    let kept = share_of(&b, id).bytes;
    assert!(kept > 0 && kept < size, "cut midway: {kept} of {size}");
    assert_eq!(share_of(&b, id).state, MapShareState::Transferring);
    assert!(b.manager.maps().unwrap().list().unwrap().is_empty());

    link(&a, &b, true).await;
    wait_state(&b, id, MapShareState::Installed).await;
    wait_state(&a, id, MapShareState::Installed).await;
    assert_eq!(package_bytes(&b, &map), package_bytes(&a, &map));
    for (side, seen) in [("sender", &sent_progress), ("receiver", &received_progress)] {
        let seen = seen.lock().unwrap();
        assert!(
            seen.iter().any(|b| *b > 0 && *b < size) && seen.contains(&size),
            "{side} reported progress in bytes: {seen:?}"
        );
    }
    assert!(share_leftovers(&b).is_empty(), "{:?}", share_leftovers(&b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_cut_by_a_receiver_restart_resumes_from_the_kept_partial() {
    let (a, mut b) = pair(50).await;
    let map = big_map(&a, 4);
    let id = a
        .manager
        .share_map(&map, &b.manager.device_id())
        .await
        .unwrap();
    accept_next(&b).await;
    wait_bytes(&b, id, 1).await;
    b.manager.close().await;
    b.restart();
    let kept = share_of(&b, id);
    assert_eq!(
        kept.state,
        MapShareState::Transferring,
        "the accept is kept"
    );
    assert_eq!(kept.peer, a.manager.device_id());
    assert!(
        kept.bytes > 0 && kept.bytes < kept.size,
        "the partial is kept: {} of {}",
        kept.bytes,
        kept.size
    );
    assert!(b.manager.maps().unwrap().list().unwrap().is_empty());

    eventually("the sender sees the restart", WAIT, || {
        a.manager.connection_count() == 0
    })
    .await;
    link(&b, &a, true).await;
    wait_state(&b, id, MapShareState::Installed).await;
    wait_state(&a, id, MapShareState::Installed).await;
    assert_eq!(package_bytes(&b, &map), package_bytes(&a, &map));
    assert!(share_leftovers(&b).is_empty(), "{:?}", share_leftovers(&b));
    // Installed is the end: a restart does not bring the share back.
    b.manager.close().await;
    b.restart();
    assert!(b.manager.map_shares().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_offer_a_map() {
    let a = named(60, "Stranger");
    let b = named(61, "Field phone");
    // Each holds a project, but not the same one.
    a.manager.create_project(Default::default()).unwrap();
    b.manager.create_project(Default::default()).unwrap();
    link(&a, &b, false).await;
    let map = big_map(&a, 5);
    assert!(matches!(
        a.manager.share_map(&map, &b.manager.device_id()).await,
        Err(MapShareError::NoSharedProject)
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(b.manager.map_shares().is_empty(), "nothing is shown");
    assert!(b.manager.maps().unwrap().list().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_maps_shares_and_absent_devices_are_clear_errors() {
    let (a, b) = pair(70).await;
    let unknown: MapId = "0123456789abcdef0123456789abcdef".parse().unwrap();
    assert!(matches!(
        a.manager.share_map(&unknown, &b.manager.device_id()).await,
        Err(MapShareError::Map(_))
    ));
    let nobody = named(72, "Away").manager.device_id();
    let map = big_map(&a, 6);
    assert!(matches!(
        a.manager.share_map(&map, &nobody).await,
        Err(MapShareError::NotConnected)
    ));
    let stray = MapShareId([9; 16]);
    assert!(matches!(
        b.manager.accept_map_share(&stray).await,
        Err(MapShareError::UnknownShare)
    ));
    let id = a
        .manager
        .share_map(&map, &b.manager.device_id())
        .await
        .unwrap();
    assert!(
        matches!(
            a.manager.accept_map_share(&id).await,
            Err(MapShareError::WrongState)
        ),
        "a sender cannot accept its own offer"
    );
}

/// An offer that reaches a session anyway (from a peer that skips its own check) is declined
/// there unseen unless the peer shares a project; with a shared project it is handed over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_from_a_device_sharing_no_project_is_declined_by_the_session_unseen() {
    use mapeo_core::sync::map_share::{MapOffer, MapShareIncoming, MapShareLink, MapShareMessage};
    use mapeo_core::sync::message::{Message, SYNC_PROTOCOL_VERSION};
    use mapeo_core::sync::session::{DeviceLink, SessionParams};
    use mapeo_core::sync::{Replica, Transport, TransportReader, TransportWriter, memory};
    use std::sync::atomic::{AtomicUsize, Ordering};

    let a = common::Peer::creator(80);
    let stranger = Device::new(81).manager.device_id();
    let handed = Arc::new(AtomicUsize::new(0));
    let count = handed.clone();
    let (_map_tx, map_rx) = tokio::sync::mpsc::channel(4);
    let (_invite_tx, invite_rx) = tokio::sync::mpsc::channel(4);
    let (ours, theirs) = memory::pair();
    let hash: [u8; 32] = mapeo_core::crypto::random_bytes();
    let (_shutdown, shutdown_rx) = tokio::sync::watch::channel(None);
    let params = SessionParams {
        peer: stranger,
        handshake_hash: hash,
        projects: a.projects.subscribe(),
        board: a.board.clone(),
        shutdown: shutdown_rx,
        ping_interval: Duration::from_millis(200),
        silence_timeout: Duration::from_secs(5),
        device: Some(DeviceLink {
            outbox: invite_rx,
            inbox: Arc::new(|_, _| {}),
            maps: Some(MapShareLink {
                outbox: map_rx,
                inbox: Arc::new(move |_, m: MapShareIncoming| {
                    if matches!(m, MapShareIncoming::Step(MapShareMessage::Offer { .. })) {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    Box::pin(async {})
                }),
            }),
        }),
        holdings_resets: tokio::sync::watch::channel(Default::default()).1,
    };
    let _session = tokio::spawn(mapeo_core::sync::run_session(ours, params));
    let (mut reader, mut writer) = theirs.split();
    let hash_of_map = mapeo_core::BlobHash::from_bytes([0xab; 32]);
    let offer = |n: u8| MapOffer {
        id: MapShareId([n; 16]),
        map_id: hex::encode([0xab; 16]).parse().unwrap(),
        name: "Pushed".into(),
        bounds: mapeo_core::maps::Bounds::WORLD,
        min_zoom: 0,
        max_zoom: 3,
        size: 10,
        format: mapeo_core::maps::MapFormat::Smp,
        hash: hash_of_map,
    };
    let send = |m: Message| m.encode().unwrap();

    writer
        .send(&send(Message::Projects {
            version: SYNC_PROTOCOL_VERSION,
            tags: vec![],
        }))
        .await
        .unwrap();
    writer
        .send(&send(Message::MapShare(MapShareMessage::Offer {
            offer: offer(1),
        })))
        .await
        .unwrap();
    tokio::time::timeout(WAIT, async {
        loop {
            let m = Message::decode(&reader.recv().await.unwrap()).unwrap();
            if m == Message::MapShare(MapShareMessage::Decline {
                id: MapShareId([1; 16]),
            }) {
                return;
            }
        }
    })
    .await
    .expect("the offer is declined");
    assert_eq!(handed.load(Ordering::SeqCst), 0, "never shown");

    // The same peer announcing the project: its offer is handed to the device.
    writer
        .send(&send(Message::Projects {
            version: SYNC_PROTOCOL_VERSION,
            tags: vec![a.project.tag(&hash)],
        }))
        .await
        .unwrap();
    writer
        .send(&send(Message::MapShare(MapShareMessage::Offer {
            offer: offer(2),
        })))
        .await
        .unwrap();
    let drain = tokio::spawn(async move { while reader.recv().await.is_ok() {} });
    eventually("the offer is handed over", WAIT, || {
        handed.load(Ordering::SeqCst) == 1
    })
    .await;
    drain.abort();
}

/// The bytes that arrive must hash to what was offered: a package changed on the sender's
/// disk after the offer fails on both sides, with nothing installed and no partial file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_do_not_match_the_offered_hash_fail_and_install_nothing() {
    let (a, b) = pair(90).await;
    let map = big_map(&a, 7);
    let id = a
        .manager
        .share_map(&map, &b.manager.device_id())
        .await
        .unwrap();
    // Other bytes of the same size, sealed under the sender's own map key (so that they
    // read back as the package, and only the receiver's hash check can tell).
    let mut bytes = package_bytes(&a, &map);
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    let key = mapeo_core::at_rest::unlock(a.dir.path(), &RootKey::from_bytes([a.seed; 16]), &[])
        .unwrap()
        .derive_file_key(mapeo_core::maps::FILE_KEY_PURPOSE);
    let path = a.dir.path().join("maps").join(format!("{map}.mbtiles"));
    let sealed = mapeo_core::sealed_file::seal_stream(&key, &bytes[..], Vec::new())
        .unwrap()
        .1;
    std::fs::write(&path, &sealed).unwrap();
    assert_eq!(
        package_bytes(&a, &map),
        bytes,
        "the sender now reads other bytes"
    );
    accept_next(&b).await;
    wait_state(&b, id, MapShareState::Failed).await;
    wait_state(&a, id, MapShareState::Failed).await;
    assert!(b.manager.maps().unwrap().list().unwrap().is_empty());
    eventually("no partial file is left", WAIT, || {
        share_leftovers(&b).is_empty()
    })
    .await;
}

/// A second connection between the two devices midway replaces the first (the device with
/// the smaller id dials, so the new one is kept): the share goes on over the new session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_replaced_midway_carries_the_share_on() {
    let (a, b) = pair(100).await;
    let map = big_map(&a, 8);
    let id = a
        .manager
        .share_map(&map, &b.manager.device_id())
        .await
        .unwrap();
    accept_next(&b).await;
    wait_bytes(&b, id, 1).await;
    let (dialer, other) = if a.manager.device_id() < b.manager.device_id() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let addr = match other.manager.listening_on() {
        Some(addr) => addr,
        None => other.manager.start_listening(loopback()).await.unwrap(),
    };
    dialer.manager.connect(addr).await.unwrap();
    wait_state(&b, id, MapShareState::Installed).await;
    wait_state(&a, id, MapShareState::Installed).await;
    assert_eq!(package_bytes(&b, &map), package_bytes(&a, &map));
    assert!(share_leftovers(&b).is_empty(), "{:?}", share_leftovers(&b));
}
