//! Group commit of received entries: batches of one feed's run that wait behind the one
//! being stored join it, so they are verified and committed in one transaction. Owns only the
//! rule for which waiting batches may join; storing them is the session's and the feed's.

use std::collections::BTreeMap;

use tokio::sync::mpsc;

use super::message::{BATCH_PAYLOAD_BYTES, Message, ProjectTag};
use super::{FeedKey, SyncError};
use crate::feed::Entry;

/// Most entries stored in one transaction when several batches of one feed's run wait
/// (see [`gather`]).
const MAX_GROUP_ENTRIES: usize = crate::feed::MAX_BATCH_ENTRIES;
/// Most payload bytes stored in one transaction when several batches wait.
const MAX_GROUP_BYTES: usize = 8 * BATCH_PAYLOAD_BYTES;

/// Adds to `group` (the entries of one received batch) the batches already waiting that
/// continue it: same project and namespace, each feed's entries following on from the
/// group's. They are then verified and committed in one transaction: every batch is still
/// all-or-nothing, and a commit per batch (with the index pages it rewrites) is saved.
/// Returns the waiting message that ended the group, if one was taken.
pub(crate) fn gather(
    in_rx: &mut mpsc::Receiver<Result<Message, SyncError>>,
    project: ProjectTag,
    group: &mut Vec<Entry>,
) -> Option<Result<Message, SyncError>> {
    let ns = group.first()?.namespace;
    if group.iter().any(|e| e.namespace != ns) {
        return None;
    }
    let mut tops: BTreeMap<FeedKey, u64> = BTreeMap::new();
    for e in group.iter() {
        tops.insert((e.author, e.namespace), e.seq + 1);
    }
    let mut bytes: usize = group.iter().map(|e| e.payload.len()).sum();
    loop {
        let (p, batch) = match in_rx.try_recv().ok()? {
            Ok(Message::Entries {
                project: p,
                entries,
            }) => (p, entries.into_iter().map(Entry::from).collect::<Vec<_>>()),
            other => return Some(other),
        };
        let added: usize = batch.iter().map(|e| e.payload.len()).sum();
        let mut next = tops.clone();
        let continues = p == project
            && group.len() + batch.len() <= MAX_GROUP_ENTRIES
            && bytes + added <= MAX_GROUP_BYTES
            && batch.iter().all(|e| {
                let top = next.entry((e.author, e.namespace)).or_insert(e.seq);
                let ok = e.namespace == ns && *top == e.seq;
                *top = e.seq + 1;
                ok
            });
        if !continues {
            return Some(Ok(Message::Entries {
                project: p,
                entries: batch.into_iter().map(Into::into).collect(),
            }));
        }
        tops = next;
        bytes += added;
        group.extend(batch);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;
    use crate::crypto::RootKey;
    use crate::ids::{DeviceId, EntryHash, Namespace};

    const TAG: ProjectTag = ProjectTag([7; 32]);

    fn device(seed: u8) -> DeviceId {
        RootKey::from_bytes([seed; 16]).device_keys().device_id()
    }

    fn batch(
        tag: ProjectTag,
        author: DeviceId,
        namespace: Namespace,
        seqs: std::ops::Range<u64>,
    ) -> Result<Message, SyncError> {
        let entries = seqs
            .map(|seq| {
                Entry {
                    author,
                    namespace,
                    seq,
                    prev_hash: EntryHash::GENESIS,
                    payload: vec![1; 100],
                    signature: [0; 64],
                }
                .into()
            })
            .collect();
        Ok(Message::Entries {
            project: tag,
            entries,
        })
    }

    fn entries(m: Result<Message, SyncError>) -> Vec<Entry> {
        match m {
            Ok(Message::Entries { entries, .. }) => entries.into_iter().map(Entry::from).collect(),
            _ => panic!("not entries"),
        }
    }

    fn seqs(group: &[Entry]) -> Vec<u64> {
        group.iter().map(|e| e.seq).collect()
    }

    #[tokio::test]
    async fn waiting_batches_that_continue_a_feed_join_the_group() {
        let a = device(1);
        let (tx, mut rx) = mpsc::channel(8);
        tx.send(batch(TAG, a, Namespace::Data, 3..6)).await.unwrap();
        tx.send(batch(TAG, a, Namespace::Data, 6..8)).await.unwrap();
        let mut group = entries(batch(TAG, a, Namespace::Data, 0..3));
        assert!(gather(&mut rx, TAG, &mut group).is_none());
        assert_eq!(seqs(&group), (0..8).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_batch_that_does_not_continue_the_group_is_handed_back_whole() {
        let (a, b) = (device(1), device(2));
        // A resend from an earlier point, another namespace, another project, or an error:
        // each ends the group and comes back untouched, and nothing after it is taken.
        let enders = [
            batch(TAG, a, Namespace::Data, 1..4),
            batch(TAG, a, Namespace::Config, 0..2),
            batch(ProjectTag([8; 32]), a, Namespace::Data, 3..5),
            Err(SyncError::Malformed),
        ];
        for ender in enders {
            let (tx, mut rx) = mpsc::channel(8);
            tx.send(batch(TAG, b, Namespace::Data, 0..2)).await.unwrap();
            let expected = ender.as_ref().ok().cloned();
            tx.send(ender).await.unwrap();
            tx.send(batch(TAG, a, Namespace::Data, 3..5)).await.unwrap();
            let mut group = entries(batch(TAG, a, Namespace::Data, 0..3));
            let back = gather(&mut rx, TAG, &mut group);
            assert_eq!(group.len(), 5, "the other feed's batch joined");
            match (back, expected) {
                (Some(Ok(m)), Some(e)) => assert_eq!(m, e),
                (Some(Err(SyncError::Malformed)), None) => {}
                other => panic!("unexpected {other:?}"),
            }
            assert!(rx.try_recv().is_ok(), "the batch after it still waits");
        }
    }

    #[tokio::test]
    async fn a_group_stops_at_its_size_limit() {
        let a = device(1);
        let (tx, mut rx) = mpsc::channel(64);
        let per = crate::sync::message::MAX_ENTRIES_PER_BATCH as u64;
        let batches = (MAX_GROUP_ENTRIES as u64 / per) + 2;
        for i in 1..batches {
            tx.send(batch(TAG, a, Namespace::Data, i * per..(i + 1) * per))
                .await
                .unwrap();
        }
        let mut group = entries(batch(TAG, a, Namespace::Data, 0..per));
        let back = gather(&mut rx, TAG, &mut group);
        assert!(group.len() <= MAX_GROUP_ENTRIES);
        let next = entries(back.unwrap());
        assert_eq!(
            next[0].seq,
            group.len() as u64,
            "the group ends where the next begins"
        );
    }
}
