//! Records, sealing and the merge rule, including the convergence property.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use super::*;
use crate::crypto::RootKey;
use proptest::prelude::*;

fn device(n: u8) -> DeviceKeys {
    RootKey::from_bytes([n + 1; 16]).device_keys()
}

fn project() -> ProjectId {
    ProjectId::from_bytes([42; 32])
}

#[test]
fn records_round_trip_and_junk_is_not_a_record() {
    let secret = EpochSecret::generate();
    let id = EpochId::started_at(&project(), &device(0).device_id(), 3);
    let record = Record::Start {
        commitment: secret.commitment(),
        parents: vec![EpochId([1; 32]), EpochId([2; 32])],
        boxes: seal_boxes(&project(), id, &secret, [device(1).device_id()]),
    };
    let bytes = record.encode();
    assert_eq!(Record::decode(&bytes), Some(record));
    for cut in [0, 16, 17, 40, bytes.len() - 1] {
        assert_eq!(Record::decode(&bytes[..cut]), None, "cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(Record::decode(&longer), None);
    assert_eq!(Record::decode(b"not a record at all"), None);
}

#[test]
fn only_the_recipient_opens_a_sealed_secret() {
    let secret = EpochSecret::generate();
    let id = EpochId([7; 32]);
    let to = device(1);
    let boxes = seal_boxes(&project(), id, &secret, [to.device_id()]);
    let aad = box_aad(&project(), &id, &to.device_id());
    assert_eq!(to.open_sealed(&aad, &boxes[0].sealed).unwrap(), secret);
    assert!(device(2).open_sealed(&aad, &boxes[0].sealed).is_err());
    let other_epoch = box_aad(&project(), &EpochId([8; 32]), &to.device_id());
    assert!(to.open_sealed(&other_epoch, &boxes[0].sealed).is_err());
}

/// A simulated device: the records it has seen.
#[derive(Clone, Default)]
struct Sim {
    records: Vec<(Placed, DeviceId)>,
    next_seq: u64,
}

impl Sim {
    fn add(&mut self, r: &(Placed, DeviceId)) {
        if !self
            .records
            .iter()
            .any(|(p, _)| p.author == r.0.author && p.seq == r.0.seq)
        {
            self.records.push(r.clone());
        }
    }

    fn blocked(&self) -> BTreeSet<DeviceId> {
        self.records.iter().map(|(_, t)| *t).collect()
    }

    fn state(&self, me: &DeviceKeys) -> EpochState {
        let placed: Vec<Placed> = self.records.iter().map(|(p, _)| p.clone()).collect();
        EpochState::compute(&project(), me, &placed)
    }
}

const DEVICES: u8 = 6;
const COORDINATORS: u8 = 2;

#[derive(Debug, Clone)]
enum Op {
    Remove { by: u8, target: u8 },
    Deliver { from: u8, to: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..COORDINATORS, COORDINATORS..DEVICES).prop_map(|(by, target)| Op::Remove { by, target }),
        (0..DEVICES, 0..DEVICES).prop_map(|(from, to)| Op::Deliver { from, to }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Concurrent removals by two coordinators, delivered in any order: once everyone has
    /// every record, all remaining devices are in the same epoch with the same secret, and
    /// no removed device can compute it, though it holds every record.
    #[test]
    fn concurrent_removals_converge_and_lock_out(ops in proptest::collection::vec(op(), 1..24)) {
        let keys: Vec<DeviceKeys> = (0..DEVICES).map(device).collect();
        let ids: Vec<DeviceId> = keys.iter().map(DeviceKeys::device_id).collect();
        let mut sims = vec![Sim::default(); usize::from(DEVICES)];
        for op in ops {
            match op {
                Op::Remove { by, target } => {
                    let sim = &sims[usize::from(by)];
                    let target = ids[usize::from(target)];
                    if sim.blocked().contains(&target) {
                        continue;
                    }
                    let author = ids[usize::from(by)];
                    let seq = sim.next_seq;
                    let id = EpochId::started_at(&project(), &author, seq);
                    let secret = EpochSecret::generate();
                    let mut blocked = sim.blocked();
                    blocked.insert(target);
                    let remaining = ids.iter().copied().filter(|d| !blocked.contains(d));
                    let record = Record::Start {
                        commitment: secret.commitment(),
                        parents: sim.state(&keys[usize::from(by)]).heads,
                        boxes: seal_boxes(&project(), id, &secret, remaining),
                    };
                    let placed = Placed { author, seq, authorised: true, record };
                    let sim = &mut sims[usize::from(by)];
                    sim.next_seq += 1;
                    sim.add(&(placed, target));
                }
                Op::Deliver { from, to } => {
                    let given = sims[usize::from(from)].records.clone();
                    for r in &given {
                        sims[usize::from(to)].add(r);
                    }
                }
            }
        }
        // Everyone, the removed too, ends up with every record.
        let all: Vec<(Placed, DeviceId)> = sims.iter().flat_map(|s| s.records.clone()).collect();
        for s in &mut sims {
            for r in &all {
                s.add(r);
            }
        }
        let blocked = sims[0].blocked();
        let mut agreed: Option<(Option<EpochId>, Option<[u8; 32]>)> = None;
        for (n, s) in sims.iter().enumerate() {
            let state = s.state(&keys[n]);
            let secret = state.current_secret().map(|k| *k.expose_bytes());
            if blocked.contains(&ids[n]) {
                prop_assert!(secret.is_none(), "a removed device derives the current epoch");
                continue;
            }
            prop_assert_eq!(secret.is_some(), !blocked.is_empty());
            prop_assert_eq!(state.ring.writing.clone(), state.heads.clone());
            match &agreed {
                None => agreed = Some((state.current(), secret)),
                Some(a) => prop_assert_eq!(a, &(state.current(), secret)),
            }
        }
    }
}
