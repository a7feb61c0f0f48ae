//! Sync under faults: connections cut at random points, peers that send forged entries,
//! garbage, unknown messages, or fall silent. Each is handled within a bounded time, without
//! a panic, and leaves every store exact.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::time::Duration;

use common::{Peer, connect, observation, state};
use mapeo_core::sync::memory::{self, MemoryReader, MemoryWriter};
use mapeo_core::sync::message::{
    CloseReason, FeedLength, Message, SYNC_PROTOCOL_VERSION, WireEntry,
};
use mapeo_core::sync::session::SessionParams;
use mapeo_core::sync::{
    Replica, SessionEnd, SyncError, SyncPhase, Transport, TransportReader, TransportWriter,
    run_session,
};
use mapeo_core::{Namespace, Query};

const WAIT: Duration = Duration::from_secs(20);

/// A deterministic sequence of cut points (a small LCG; no randomness crate needed).
fn cut_points(seed: u64, n: usize) -> Vec<usize> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            1 + (x >> 33) as usize % 40
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_cut_at_random_points_resumes_to_exact_equality() {
    let a = Peer::creator(1);
    let b = Peer::member_of(2, &a);
    // Many small batches: force the batch limit down by writing several feeds' worth.
    a.project
        .create_many(
            (0..1_200)
                .map(|i| observation(1.0, f64::from(i % 90), "a"))
                .collect(),
        )
        .unwrap();
    b.project
        .create_many(
            (0..700)
                .map(|i| observation(2.0, f64::from(i % 90), "b"))
                .collect(),
        )
        .unwrap();
    for (round, cut) in cut_points(7, 25).into_iter().enumerate() {
        let conn = connect(&a, &b, Some(cut));
        for end in conn.ends {
            let r = tokio::time::timeout(WAIT, end)
                .await
                .expect("a cut session ends")
                .unwrap();
            assert!(
                r.is_err(),
                "round {round}: a cut connection is an error, got {r:?}"
            );
        }
        assert!(a.project.check_integrity().unwrap() && b.project.check_integrity().unwrap());
        // Between cuts, both sides write more.
        a.project
            .create(observation(3.0, 3.0, &format!("round {round}")))
            .unwrap();
    }
    let conn = connect(&a, &b, None);
    a.board
        .wait_for_sync(&a.project.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
    b.board
        .wait_for_sync(&b.project.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
    assert_eq!(state(&a.project), state(&b.project));
    assert_eq!(
        a.project.have_vector().unwrap(),
        b.project.have_vector().unwrap()
    );
    let n = b
        .project
        .list(&Query::all(mapeo_core::schema::DocType::Observation))
        .unwrap()
        .len();
    assert_eq!(n, 1_200 + 700 + 25, "nothing lost, nothing duplicated");
    b.project.reindex().unwrap();
    assert_eq!(state(&a.project), state(&b.project));
    conn.stop().await;
}

/// A hand-driven peer: the test speaks the protocol itself.
struct RawPeer {
    reader: MemoryReader,
    writer: MemoryWriter,
}

impl RawPeer {
    async fn send(&mut self, m: &Message) {
        self.writer.send(&m.encode().unwrap()).await.unwrap();
    }

    async fn send_bytes(&mut self, b: &[u8]) {
        self.writer.send(b).await.unwrap();
    }

    /// Reads until a `Close` arrives (bounded), returning its reason.
    async fn close_reason(&mut self) -> Option<CloseReason> {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.reader.recv().await {
                    Ok(bytes) => {
                        if let Ok(Message::Close { reason }) = Message::decode(&bytes) {
                            return Some(reason);
                        }
                    }
                    Err(_) => return None,
                }
            }
        })
        .await
        .expect("bounded")
    }
}

type End = tokio::task::JoinHandle<Result<SessionEnd, SyncError>>;

/// Starts `a`'s session against a raw peer posing as device `as_device`.
fn raw_session(
    a: &Peer,
    as_device: mapeo_core::DeviceId,
    silence: Duration,
) -> (End, RawPeer, [u8; 32]) {
    let (ours, theirs) = memory::pair();
    let hash: [u8; 32] = mapeo_core::crypto::random_bytes();
    let (tx, rx) = tokio::sync::watch::channel(None);
    std::mem::forget(tx);
    let params = SessionParams {
        peer: as_device,
        handshake_hash: hash,
        projects: a.projects.subscribe(),
        board: a.board.clone(),
        shutdown: rx,
        ping_interval: Duration::from_millis(100),
        device: None,
        silence_timeout: silence,
        holdings_resets: tokio::sync::watch::channel(Default::default()).1,
    };
    let end = tokio::spawn(run_session(ours, params));
    let (reader, writer) = theirs.split();
    (end, RawPeer { reader, writer }, hash)
}

async fn ended(end: End) -> Result<SessionEnd, SyncError> {
    tokio::time::timeout(WAIT, end)
        .await
        .expect("the session ends in bounded time")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_entries_close_the_connection_and_change_nothing() {
    let a = Peer::creator(1);
    let m = Peer::member_of(2, &a);
    let b = Peer::member_of(3, &a);
    for i in 0..3 {
        m.project
            .create(observation(0.0, f64::from(i), "from m"))
            .unwrap();
    }
    let mut entries = m
        .project
        .read_entries(&m.id(), Namespace::Data, 0, 3)
        .unwrap();
    type Forge = Box<dyn Fn(&mut Vec<mapeo_core::feed::Entry>)>;
    let forgeries: Vec<(&str, Forge)> = vec![
        ("bad signature", Box::new(|e| e[2].signature[0] ^= 1)),
        ("broken chain", Box::new(|e| e[1].payload[30] ^= 1)),
        (
            "from another project",
            Box::new(|e| {
                let other = common::Device::new(2);
                let p = other.manager.create_project(Default::default()).unwrap();
                p.create(observation(0.0, 0.0, "elsewhere")).unwrap();
                *e = p
                    .read_entries(&other.manager.device_id(), Namespace::Data, 0, 1)
                    .unwrap();
            }),
        ),
    ];
    let before = state(&a.project);
    let have_before = a.project.have_vector().unwrap();
    for (what, forge) in forgeries {
        let mut forged = entries.clone();
        forge(&mut forged);
        let (end, mut raw, hash) = raw_session(&a, m.id(), WAIT);
        let tag = m.project.tag(&hash);
        raw.send(&Message::Projects {
            version: SYNC_PROTOCOL_VERSION,
            tags: vec![tag],
        })
        .await;
        raw.send(&Message::SyncEnabled {
            project: tag,
            data: true,
            answer: false,
        })
        .await;
        raw.send(&Message::Entries {
            project: tag,
            entries: forged.into_iter().map(WireEntry::from).collect(),
        })
        .await;
        assert_eq!(
            raw.close_reason().await,
            Some(CloseReason::InvalidEntries),
            "{what}"
        );
        assert!(
            matches!(ended(end).await, Err(SyncError::InvalidEntries(_))),
            "{what}"
        );
        assert_eq!(state(&a.project), before, "{what}: store unchanged");
        assert_eq!(a.project.have_vector().unwrap(), have_before, "{what}");
    }
    // Other peers are unaffected: b still syncs with a.
    b.project.create(observation(5.0, 5.0, "from b")).unwrap();
    let conn = connect(&a, &b, None);
    b.board
        .wait_for_sync(&b.project.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
    assert_eq!(state(&a.project), state(&b.project));
    conn.stop().await;
    entries.clear();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_unknown_messages_close_with_malformed() {
    let a = Peer::creator(1);
    let stranger = mapeo_core::RootKey::from_bytes([42; 16])
        .device_keys()
        .device_id();
    let mut unknown = Vec::new();
    ciborium::into_writer(
        &std::collections::BTreeMap::from([("launch", 1)]),
        &mut unknown,
    )
    .unwrap();
    let oversized = vec![0u8; mapeo_core::sync::message::MAX_MESSAGE_BYTES + 1];
    for (what, bytes) in [
        ("garbage", vec![0xff, 0x00, 0x13, 0x37]),
        ("empty", vec![]),
        ("unknown message type", unknown),
        ("oversized", oversized),
    ] {
        let (end, mut raw, _) = raw_session(&a, stranger, WAIT);
        raw.send_bytes(&bytes).await;
        assert_eq!(
            raw.close_reason().await,
            Some(CloseReason::Malformed),
            "{what}"
        );
        assert!(
            matches!(ended(end).await, Err(SyncError::Malformed)),
            "{what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_goes_silent_is_dropped() {
    let a = Peer::creator(1);
    let stranger = mapeo_core::RootKey::from_bytes([42; 16])
        .device_keys()
        .device_id();
    let (end, mut raw, _) = raw_session(&a, stranger, Duration::from_millis(500));
    raw.send(&Message::Projects {
        version: SYNC_PROTOCOL_VERSION,
        tags: vec![],
    })
    .await;
    // Then nothing, not even pongs.
    let started = std::time::Instant::now();
    assert!(matches!(ended(end).await, Err(SyncError::Silent)));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_without_the_key_matches_nothing() {
    let a = Peer::creator(1);
    a.project.create(observation(1.0, 1.0, "private")).unwrap();
    let stranger = mapeo_core::RootKey::from_bytes([42; 16])
        .device_keys()
        .device_id();
    let (end, mut raw, hash) = raw_session(&a, stranger, WAIT);
    // The stranger replays a's real tag from another connection, and a made-up one.
    let other_hash: [u8; 32] = mapeo_core::crypto::random_bytes();
    let replayed = a.project.tag(&other_hash);
    assert_ne!(replayed, a.project.tag(&hash));
    raw.send(&Message::Projects {
        version: SYNC_PROTOCOL_VERSION,
        tags: vec![replayed, mapeo_core::sync::ProjectTag([7; 32])],
    })
    .await;
    // All the stranger hears: a's own tags (meaningless to it) and pings; no project data.
    let mut seen = Vec::new();
    while let Ok(Ok(b)) = tokio::time::timeout(Duration::from_millis(600), raw.reader.recv()).await
    {
        seen.push(Message::decode(&b).unwrap());
    }
    assert!(seen.iter().any(|m| matches!(m, Message::Projects { .. })));
    assert!(
        seen.iter()
            .all(|m| matches!(m, Message::Ping | Message::Projects { .. })),
        "{seen:?}"
    );
    assert!(
        a.board.project(&a.project.id()).is_empty(),
        "no project was matched"
    );
    end.abort();
}

/// Reads (bounded) until `found` matches a message, returning it.
async fn until(raw: &mut RawPeer, mut found: impl FnMut(&Message) -> bool) -> Message {
    tokio::time::timeout(WAIT, async {
        loop {
            let bytes = raw.reader.recv().await.expect("the session stays up");
            if let Ok(m) = Message::decode(&bytes)
                && found(&m)
            {
                return m;
            }
        }
    })
    .await
    .expect("the awaited message arrives")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_holdings_were_reset_is_sent_everything_again() {
    let a = Peer::creator(1);
    let b = Peer::member_of(2, &a);
    for i in 0..3 {
        a.project
            .create(observation(1.0, f64::from(i), "from a"))
            .unwrap();
    }
    let (resets, resets_rx) = tokio::sync::watch::channel(Default::default());
    let (ours, theirs) = memory::pair();
    let hash: [u8; 32] = mapeo_core::crypto::random_bytes();
    let (_shutdown, shutdown_rx) = tokio::sync::watch::channel(None);
    let params = SessionParams {
        peer: b.id(),
        handshake_hash: hash,
        projects: a.projects.subscribe(),
        board: a.board.clone(),
        shutdown: shutdown_rx,
        ping_interval: Duration::from_millis(100),
        device: None,
        silence_timeout: WAIT,
        holdings_resets: resets_rx,
    };
    let end = tokio::spawn(run_session(ours, params));
    let (reader, writer) = theirs.split();
    let mut raw = RawPeer { reader, writer };
    let tag = Replica::tag(&*a.project, &hash);
    raw.send(&Message::Projects {
        version: SYNC_PROTOCOL_VERSION,
        tags: vec![tag],
    })
    .await;
    // The peer says it holds everything a holds, and syncs data.
    let all: Vec<FeedLength> = a
        .project
        .have_vector()
        .unwrap()
        .into_iter()
        .map(|((author, namespace), length)| FeedLength {
            author,
            namespace,
            length,
        })
        .collect();
    raw.send(&Message::Have {
        project: tag,
        feeds: all,
        reset: false,
    })
    .await;
    raw.send(&Message::SyncEnabled {
        project: tag,
        data: true,
        answer: false,
    })
    .await;
    // Then that it lost everything (its store was replaced): a sends it all again, from 0.
    raw.send(&Message::Have {
        project: tag,
        feeds: Vec::new(),
        reset: true,
    })
    .await;
    let me = a.device.manager.device_id();
    until(&mut raw, |m| {
        matches!(m, Message::Entries { entries, .. } if entries.iter().any(|e| {
            let e = mapeo_core::feed::Entry::from(e.clone());
            e.author == me && e.namespace == Namespace::Data && e.seq == 0
        }))
    })
    .await;
    // And a tells its own holdings afresh, as a reset, when they are declared replaced.
    resets.send_modify(|m: &mut std::collections::BTreeMap<_, u64>| {
        *m.entry(a.project.id()).or_insert(0) += 1;
    });
    let reset = until(&mut raw, |m| matches!(m, Message::Have { reset: true, .. })).await;
    let Message::Have { feeds, .. } = reset else {
        unreachable!()
    };
    assert_eq!(feeds.len(), a.project.have_vector().unwrap().len());
    end.abort();
}
