//! The index is order-independent: random creates, updates and deletes on several devices
//! (with offline edits making forks, and clock ties), and random role changes (promotions,
//! blocks, which start key epochs), then every entry delivered in random orders and batches
//! to fresh copies of a member's device, give exactly the same materialised state and the
//! same member list everywhere (but on a device blocked at the end).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{Device, T0, copy_missing, observation};
use mapeo_core::feed::Entry;
use mapeo_core::schema::DocType;
use mapeo_core::{BoundingBox, Document, Error, Member, Namespace, PeerRole, Project, Query};
use proptest::prelude::*;

const DEVICES: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Create {
        dev: usize,
        lat: i8,
        word: usize,
    },
    Update {
        dev: usize,
        pick: usize,
        lat: i8,
        word: usize,
    },
    Delete {
        dev: usize,
        pick: usize,
    },
    Sync {
        from: usize,
        to: usize,
    },
    /// Set a device's clock: equal values across devices make `updatedAt` ties.
    Clock {
        dev: usize,
        at: u8,
    },
    /// `dev` gives `target` a role (refused unless `dev` may, as it knows its role).
    Role {
        dev: usize,
        target: usize,
        role: usize,
    },
}

const ROLES: [PeerRole; 3] = [PeerRole::Member, PeerRole::Coordinator, PeerRole::Blocked];

const WORDS: [&str; 4] = ["mining", "logging", "river", "sacred"];

fn op() -> impl Strategy<Value = Op> {
    let dev = 0..DEVICES;
    prop_oneof![
        3 => (dev.clone(), any::<i8>(), 0..WORDS.len()).prop_map(|(dev, lat, word)| Op::Create { dev, lat, word }),
        4 => (dev.clone(), any::<usize>(), any::<i8>(), 0..WORDS.len())
            .prop_map(|(dev, pick, lat, word)| Op::Update { dev, pick, lat, word }),
        1 => (dev.clone(), any::<usize>()).prop_map(|(dev, pick)| Op::Delete { dev, pick }),
        2 => (dev.clone(), 0..DEVICES).prop_map(|(from, to)| Op::Sync { from, to }),
        1 => (dev.clone(), any::<u8>()).prop_map(|(dev, at)| Op::Clock { dev, at }),
        1 => (dev, 0..DEVICES, 0..ROLES.len()).prop_map(|(dev, target, role)| Op::Role { dev, target, role }),
    ]
}

fn value(lat: i8, word: usize) -> mapeo_core::schema::DocValue {
    observation(f64::from(lat) / 2.0, 10.0, WORDS[word])
}

/// Everything a user could observe: every document of every type (with forks and deleted
/// ones), and a few queries.
fn state(p: &Project) -> Vec<Vec<Document>> {
    let mut out = common::state(p);
    let mut q = Query::all(DocType::Observation);
    q.bbox = Some(BoundingBox {
        south: -10.0,
        west: 0.0,
        north: 20.0,
        east: 20.0,
    });
    out.push(p.list(&q).unwrap());
    let mut q = Query::all(DocType::Observation);
    q.text = Some("river".into());
    out.push(p.list(&q).unwrap());
    out
}

/// A write the device's role (as it knows it) does not allow is refused with `NotAllowed`
/// and changes nothing; anything else is a failure.
fn allowed<T>(r: Result<T, Error>) {
    match r {
        Ok(_) | Err(Error::NotAllowed(_)) => {}
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn members(p: &Project) -> Vec<Member> {
    p.members(true).unwrap()
}

fn run_ops(devices: &[Device], projects: &[std::sync::Arc<Project>], ops: &[Op]) {
    for op in ops {
        match *op {
            Op::Create { dev, lat, word } => {
                allowed(projects[dev].create(value(lat, word)));
            }
            Op::Update {
                dev,
                pick,
                lat,
                word,
            } => {
                let mut q = Query::all(DocType::Observation);
                q.include_deleted = true;
                let docs = projects[dev].list(&q).unwrap();
                if docs.is_empty() {
                    continue;
                }
                let d = &docs[pick % docs.len()];
                // Sometimes edit a fork instead of the winner.
                let mut heads = vec![d.version_id];
                heads.extend(d.forks.iter().copied());
                let link = heads[pick / 7 % heads.len()];
                allowed(projects[dev].update(&[link], value(lat, word)));
            }
            Op::Delete { dev, pick } => {
                let docs = projects[dev]
                    .list(&Query::all(DocType::Observation))
                    .unwrap();
                if !docs.is_empty() {
                    allowed(projects[dev].delete(docs[pick % docs.len()].doc_id()));
                }
            }
            Op::Sync { from, to } => {
                if from != to {
                    copy_missing(&projects[from], &projects[to]);
                }
            }
            Op::Clock { dev, at } => devices[dev].set_clock(T0 + i64::from(at) * 10, 1),
            Op::Role { dev, target, role } => {
                let target = devices[target].manager.device_id();
                allowed(projects[dev].assign_role(&target, ROLES[role], None));
            }
        }
    }
}

/// Delivers every feed's entries interleaved in the order `choices` dictates, in batches of
/// one to three entries.
fn deliver(feeds: &[Vec<Entry>], choices: &[u16], to: &Project) {
    let mut next = vec![0usize; feeds.len()];
    let mut c = choices.iter().copied().cycle();
    loop {
        let open: Vec<usize> = (0..feeds.len())
            .filter(|&f| next[f] < feeds[f].len())
            .collect();
        if open.is_empty() {
            break;
        }
        let pick = c.next().unwrap_or(0);
        let f = open[usize::from(pick) % open.len()];
        let take = 1 + usize::from(pick / 16 % 3);
        let end = (next[f] + take).min(feeds[f].len());
        to.import(&feeds[f][next[f]..end]).unwrap();
        next[f] = end;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_delivery_order_gives_the_same_state(
        ops in prop::collection::vec(op(), 1..40),
        orders in prop::collection::vec(prop::collection::vec(any::<u16>(), 1..64), 2..4),
    ) {
        let devices: Vec<Device> = (0..DEVICES).map(|i| Device::new(u8::try_from(i + 1).unwrap())).collect();
        let first = devices[0].manager.create_project(Default::default()).unwrap();
        let details = devices[0].manager.join_details(&first.id()).unwrap();
        let mut projects = vec![first];
        for d in &devices[1..] {
            projects.push(d.manager.join_project(&details).unwrap());
        }
        // One coordinator and one member to start with; the ops change roles further.
        for (i, role) in [(1, PeerRole::Coordinator), (2, PeerRole::Member)] {
            projects[0].assign_role(&devices[i].manager.device_id(), role, None).unwrap();
            copy_missing(&projects[0], &projects[i]);
        }
        // The observer that receives everything in random orders is a member from the start
        // (never a target of the ops): a block starts a key epoch that only members can read.
        let observer = Device::new(50).manager.device_id();
        projects[0].assign_role(&observer, PeerRole::Member, None).unwrap();
        run_ops(&devices, &projects, &ops);
        // Everything exchanged, twice: a coordinator that learns of a member an epoch was
        // not sealed to grants it the secret, and the grant has to travel too.
        for _ in 0..2 {
            for i in 0..DEVICES {
                for j in 0..DEVICES {
                    if i != j {
                        copy_missing(&projects[i], &projects[j]);
                    }
                }
            }
        }

        // Every device's own feeds, complete.
        let mut feeds = Vec::new();
        for (d, p) in devices.iter().zip(&projects) {
            for ns in Namespace::ALL {
                let entries = p.read_entries(&d.manager.device_id(), ns, 0, u64::MAX).unwrap();
                if !entries.is_empty() {
                    feeds.push(entries);
                }
            }
        }
        let mut reference: Option<(Vec<Vec<Document>>, Vec<Member>)> = None;
        for choices in &orders {
            let fresh = Device::new(50);
            let p = fresh.manager.join_project(&details).unwrap();
            deliver(&feeds, choices, &p);
            let s = (state(&p), members(&p));
            match &reference {
                None => reference = Some(s),
                Some(r) => prop_assert_eq!(r, &s),
            }
            // The same entries, reindexed from the feeds, give the same state again.
            p.reindex().unwrap();
            prop_assert_eq!(reference.as_ref().unwrap(), &(state(&p), members(&p)));
        }
        // And the devices themselves agree with it, except one blocked at the end: it is
        // locked out of what was written after.
        for (d, p) in devices.iter().zip(&projects) {
            let me = d.manager.device_id();
            let blocked = members(p).iter().any(|m| m.device_id == me && m.role == PeerRole::Blocked);
            if !blocked {
                prop_assert_eq!(reference.as_ref().unwrap(), &(state(p), members(p)));
            }
        }
    }
}
