//! Sync fuzz: random peers, random writes, random sync on/off, random connects and
//! disconnects (some cut mid-flight); once everyone finally meets, every peer holds the same
//! state.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Connection, Peer, connect, observation, state};
use mapeo_core::sync::SyncPhase;
use proptest::prelude::*;

const PEERS: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Write { peer: usize, n: u8 },
    Edit { peer: usize, pick: usize },
    Connect { a: usize, b: usize, cut: Option<u8> },
    Disconnect { a: usize, b: usize },
    Sync { peer: usize, on: bool },
    Settle,
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0..PEERS;
    prop_oneof![
        3 => (p.clone(), 1u8..20).prop_map(|(peer, n)| Op::Write { peer, n }),
        2 => (p.clone(), any::<usize>()).prop_map(|(peer, pick)| Op::Edit { peer, pick }),
        3 => (p.clone(), p.clone(), prop::option::of(1u8..30)).prop_map(|(a, b, cut)| Op::Connect { a, b, cut }),
        2 => (p.clone(), p.clone()).prop_map(|(a, b)| Op::Disconnect { a, b }),
        1 => (p, any::<bool>()).prop_map(|(peer, on)| Op::Sync { peer, on }),
        1 => Just(Op::Settle),
    ]
}

async fn run(ops: Vec<Op>) {
    let first = Peer::creator(1);
    let mut peers = vec![first];
    for i in 1..PEERS {
        let p = Peer::member_of(u8::try_from(i + 1).unwrap(), &peers[0]);
        peers.push(p);
    }
    let mut conns: BTreeMap<(usize, usize), Connection> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Write { peer, n } => {
                let values = (0..n)
                    .map(|i| observation(f64::from(i), 0.0, "fuzz"))
                    .collect();
                peers[peer].project.create_many(values).unwrap();
            }
            Op::Edit { peer, pick } => {
                let docs = peers[peer]
                    .project
                    .list(&mapeo_core::Query::all(
                        mapeo_core::schema::DocType::Observation,
                    ))
                    .unwrap();
                if !docs.is_empty() {
                    let d = &docs[pick % docs.len()];
                    // Members may edit only what they wrote: others' documents are refused.
                    match peers[peer]
                        .project
                        .update(&[d.version_id], observation(9.0, 9.0, "edited"))
                    {
                        Ok(_) | Err(mapeo_core::Error::NotAllowed(_)) => {}
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
            }
            Op::Connect { a, b, cut } => {
                let key = (a.min(b), a.max(b));
                if a != b && !conns.contains_key(&key) {
                    let c = connect(&peers[key.0], &peers[key.1], cut.map(usize::from));
                    conns.insert(key, c);
                }
            }
            Op::Disconnect { a, b } => {
                if let Some(c) = conns.remove(&(a.min(b), a.max(b))) {
                    c.stop().await;
                }
            }
            Op::Sync { peer, on } => peers[peer].project.set_data_sync(on),
            Op::Settle => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    for (_, c) in std::mem::take(&mut conns) {
        c.stop().await;
    }
    // Everyone meets, sync on: a mesh.
    for p in &peers {
        p.project.set_data_sync(true);
    }
    for i in 0..PEERS {
        for j in i + 1..PEERS {
            conns.insert((i, j), connect(&peers[i], &peers[j], None));
        }
    }
    common::eventually(
        "every pair connected and synced",
        Duration::from_secs(30),
        || {
            peers.iter().all(|p| {
                let states = p.board.project(&p.project.id());
                states
                    .iter()
                    .filter(|s| s.connected && s.is_synced(SyncPhase::Full))
                    .count()
                    == PEERS - 1
            })
        },
    )
    .await;
    let reference = state(&peers[0].project);
    for p in &peers[1..] {
        assert_eq!(state(&p.project), reference);
        assert_eq!(
            p.project.have_vector().unwrap(),
            peers[0].project.have_vector().unwrap()
        );
    }
    for (_, c) in conns {
        c.stop().await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn random_meetings_end_in_identical_state(ops in prop::collection::vec(op(), 1..30)) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(run(ops));
    }
}
