#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use proptest::prelude::*;
use tokio::io::AsyncWriteExt;

use super::*;
use crate::net::test_support::transport_pair;

const LONG: Duration = Duration::from_secs(30);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn message(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect()
}

/// The wire bytes of `msgs` sent in order, and the receiving side's transport state.
async fn encode(msgs: &[Vec<u8>]) -> (Vec<u8>, Arc<StatelessTransportState>) {
    let (sender, receiver) = transport_pair();
    let mut w = SecureWriter::new(Vec::new(), sender, LONG);
    for m in msgs {
        w.send(m).await.unwrap();
    }
    (w.into_inner(), receiver)
}

/// Every message `bytes` yields, then the error that ended it.
async fn decode_all(
    bytes: &[u8],
    receiver: Arc<StatelessTransportState>,
) -> (Vec<Vec<u8>>, NetError) {
    let mut r = SecureReader::new(FrameReader::new(bytes), receiver, LONG);
    let mut got = Vec::new();
    loop {
        match r.recv().await {
            Ok(m) => got.push(m),
            Err(e) => {
                assert!(matches!(r.recv().await, Err(NetError::Closed)));
                return (got, e);
            }
        }
    }
}

#[test]
fn messages_of_every_boundary_size_round_trip_then_the_end_is_closed() {
    runtime().block_on(async {
        let sizes = [
            0,
            1,
            MAX_FIRST_CHUNK - 1,
            MAX_FIRST_CHUNK,
            MAX_FIRST_CHUNK + 1,
            MAX_FIRST_CHUNK + MAX_CHUNK,
            MAX_FIRST_CHUNK + MAX_CHUNK + 1,
            MAX_MESSAGE_BYTES,
        ];
        let msgs: Vec<_> = sizes.iter().map(|&n| message(n, n as u8)).collect();
        let (bytes, receiver) = encode(&msgs).await;
        let (got, end) = decode_all(&bytes, receiver).await;
        assert_eq!(got.len(), msgs.len());
        for (g, m) in got.iter().zip(&msgs) {
            assert!(g == m, "message of {} bytes came back different", m.len());
        }
        assert!(matches!(end, NetError::Closed), "{end:?}");
    });
}

#[test]
fn a_message_fills_whole_noise_messages() {
    runtime().block_on(async {
        let (one, _) = encode(&[message(MAX_FIRST_CHUNK, 0)]).await;
        assert_eq!(one.len(), LEN_BYTES + MAX_NOISE_FRAME_BYTES);
        let (two, _) = encode(&[message(MAX_FIRST_CHUNK + 1, 0)]).await;
        assert_eq!(
            two.len(),
            2 * LEN_BYTES + MAX_NOISE_FRAME_BYTES + 1 + TAG_BYTES
        );
        let (empty, _) = encode(&[Vec::new()]).await;
        assert_eq!(empty.len(), LEN_BYTES + HEADER_BYTES + TAG_BYTES);
    });
}

#[test]
fn an_oversized_send_is_refused_and_the_writer_stays_usable() {
    runtime().block_on(async {
        let (sender, receiver) = transport_pair();
        let mut w = SecureWriter::new(Vec::new(), sender, LONG);
        let big = vec![0u8; MAX_MESSAGE_BYTES + 1];
        assert!(matches!(
            w.send(&big).await,
            Err(NetError::MessageTooLarge { declared, max })
                if declared == MAX_MESSAGE_BYTES + 1 && max == MAX_MESSAGE_BYTES
        ));
        w.send(b"still here").await.unwrap();
        let (got, _) = decode_all(&w.into_inner(), receiver).await;
        assert_eq!(got, vec![b"still here".to_vec()]);
    });
}

#[test]
fn a_stream_cut_inside_a_message_or_frame_is_an_unexpected_end() {
    runtime().block_on(async {
        let (bytes, receiver) = encode(&[message(100_000, 1)]).await;
        for cut in [1, 40, LEN_BYTES + MAX_NOISE_FRAME_BYTES, bytes.len() - 1] {
            let (got, end) = decode_all(&bytes[..cut], Arc::clone(&receiver)).await;
            assert!(got.is_empty());
            assert!(
                matches!(&end, NetError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof),
                "cut at {cut}: {end:?}"
            );
        }
    });
}

#[test]
fn frames_too_short_for_a_tag_are_malformed() {
    runtime().block_on(async {
        let (_, receiver) = transport_pair();
        let bytes = [0u8, 15, 1, 2, 3];
        let (_, end) = decode_all(&bytes, receiver).await;
        assert!(matches!(end, NetError::Malformed), "{end:?}");
    });
}

#[test]
fn recv_can_be_cancelled_mid_frame_without_losing_bytes() {
    runtime().block_on(async {
        let (bytes, receiver) = encode(&[message(70_000, 9)]).await;
        let (mut near, far) = tokio::io::duplex(1 << 20);
        let mut r = SecureReader::new(FrameReader::new(far), receiver, LONG);
        for part in [&bytes[..1], &bytes[1..40_000], &bytes[40_000..70_000]] {
            near.write_all(part).await.unwrap();
            let cancelled = tokio::time::timeout(Duration::from_millis(20), r.recv()).await;
            assert!(cancelled.is_err(), "no whole message yet");
            assert!(!r.at_message_boundary());
        }
        near.write_all(&bytes[70_000..]).await.unwrap();
        let got = tokio::time::timeout(LONG, r.recv()).await.unwrap().unwrap();
        assert_eq!(got, message(70_000, 9));
        assert!(r.at_message_boundary());
    });
}

#[test]
fn a_silent_peer_times_out_and_the_reader_then_stays_closed() {
    runtime().block_on(async {
        let (_, receiver) = transport_pair();
        let (_near, far) = tokio::io::duplex(64);
        let mut r = SecureReader::new(FrameReader::new(far), receiver, Duration::from_millis(50));
        assert!(matches!(r.recv().await, Err(NetError::Timeout(STEP_READ))));
        assert!(matches!(r.recv().await, Err(NetError::Closed)));
    });
}

#[test]
fn a_peer_that_does_not_read_makes_send_time_out() {
    runtime().block_on(async {
        let (sender, _) = transport_pair();
        let (_near, far) = tokio::io::duplex(1024);
        let mut w = SecureWriter::new(far, sender, Duration::from_millis(50));
        let sent = w.send(&message(10_000, 0)).await;
        assert!(
            matches!(sent, Err(NetError::Timeout(STEP_WRITE))),
            "{sent:?}"
        );
        assert!(matches!(w.send(b"x").await, Err(NetError::Closed)));
    });
}

/// The plaintext chunks a well-behaved sender makes of a message of `len` bytes, cut at
/// `cuts` (relative positions) instead of at the frame size.
fn chunked(msg: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut framed = (msg.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(msg);
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| HEADER_BYTES + c % (msg.len() + 1))
        .collect();
    points.push(framed.len());
    points.sort_unstable();
    points.dedup();
    let mut chunks = Vec::new();
    let mut start = 0;
    for p in points {
        chunks.push(framed[start..p].to_vec());
        start = p;
    }
    chunks
}

#[test]
fn the_assembler_refuses_bad_lengths_before_keeping_anything() {
    let mut a = Assembler::default();
    let mut chunk = 5_000_000u32.to_be_bytes().to_vec();
    chunk.extend_from_slice(&[1; 10]);
    assert!(matches!(
        a.push(&chunk, MAX_MESSAGE_BYTES),
        Err(NetError::MessageTooLarge {
            declared: 5_000_000,
            max: MAX_MESSAGE_BYTES
        })
    ));
    assert!(a.is_idle());
    let mut a = Assembler::default();
    assert!(matches!(a.push(&[0, 0, 0], 10), Err(NetError::Malformed)));
    let mut a = Assembler::default();
    assert!(matches!(
        a.push(&[0, 0, 0, 1, 7, 7], 10),
        Err(NetError::Malformed)
    ));
    let mut a = Assembler::default();
    assert!(a.push(&[0, 0, 0, 3, 7], 10).unwrap().is_none());
    assert!(matches!(a.push(&[], 10), Err(NetError::Malformed)));
    let mut a = Assembler::default();
    assert!(a.push(&[0, 0, 0, 3, 7], 10).unwrap().is_none());
    assert!(matches!(a.push(&[1, 2, 3], 10), Err(NetError::Malformed)));
}

#[test]
fn the_assembler_never_holds_more_than_declared() {
    let mut a = Assembler::default();
    let declared = 3 * MAX_CHUNK + 10;
    let mut first = (declared as u32).to_be_bytes().to_vec();
    first.extend_from_slice(&vec![0; MAX_FIRST_CHUNK]);
    assert!(a.push(&first, MAX_MESSAGE_BYTES).unwrap().is_none());
    let mut left = declared - MAX_FIRST_CHUNK;
    while left > 0 {
        let n = left.min(MAX_CHUNK);
        let done = a.push(&vec![1; n], MAX_MESSAGE_BYTES).unwrap();
        left -= n;
        let cap = a
            .partial
            .as_ref()
            .map_or_else(|| done.as_ref().unwrap().capacity(), |p| p.data.capacity());
        assert!(cap <= declared, "capacity {cap} over {declared}");
    }
}

#[test]
fn a_message_no_larger_than_one_already_received_is_allocated_once() {
    let mut a = Assembler::default();
    let declared = 3 * MAX_CHUNK + 10;
    // Pushes a message of `declared` bytes of `fill`; returns it and the capacities seen.
    let mut push_all = |fill: u8| {
        let mut first = (declared as u32).to_be_bytes().to_vec();
        first.extend_from_slice(&vec![fill; MAX_FIRST_CHUNK]);
        assert!(a.push(&first, MAX_MESSAGE_BYTES).unwrap().is_none());
        let mut caps = vec![a.partial.as_ref().unwrap().data.capacity()];
        let mut left = declared - MAX_FIRST_CHUNK;
        loop {
            let n = left.min(MAX_CHUNK);
            left -= n;
            match a.push(&vec![fill; n], MAX_MESSAGE_BYTES).unwrap() {
                Some(done) => {
                    caps.push(done.capacity());
                    return (done, caps);
                }
                None => caps.push(a.partial.as_ref().unwrap().data.capacity()),
            }
        }
    };
    let (first, caps) = push_all(1);
    assert_eq!(first, vec![1; declared]);
    assert!(caps[0] < declared, "the first grows with what arrives");
    let (second, caps) = push_all(2);
    assert_eq!(second, vec![2; declared]);
    assert!(
        caps.iter().all(|&c| c == declared),
        "the second is allocated whole: {caps:?}"
    );
    // A larger one grows again with what arrives.
    let mut bigger = ((declared + 1) as u32).to_be_bytes().to_vec();
    bigger.extend_from_slice(&[3; 10]);
    assert!(a.push(&bigger, MAX_MESSAGE_BYTES).unwrap().is_none());
    assert!(a.partial.as_ref().unwrap().data.capacity() < declared);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn the_reader_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..2_000),
    ) {
        runtime().block_on(async {
            let (_, receiver) = transport_pair();
            let (got, _) = decode_all(&bytes, receiver).await;
            prop_assert!(got.is_empty(), "random bytes never authenticate");
            Ok(())
        })?;
    }

    #[test]
    fn a_mutated_stream_yields_only_the_original_messages_then_an_error(
        sizes in proptest::collection::vec(prop_oneof![0usize..300, Just(MAX_FIRST_CHUNK + 100)], 1..4),
        flips in proptest::collection::vec((any::<usize>(), 1u8..=255), 0..3),
        insert in proptest::option::of((any::<usize>(), any::<u8>())),
        cut in proptest::option::of(any::<usize>()),
    ) {
        runtime().block_on(async {
            let msgs: Vec<_> = sizes.iter().enumerate().map(|(i, &n)| message(n, i as u8)).collect();
            let (mut bytes, receiver) = encode(&msgs).await;
            let mut flipped = std::collections::BTreeSet::new();
            for (at, x) in &flips {
                let at = at % bytes.len();
                if flipped.insert(at) {
                    bytes[at] ^= x;
                }
            }
            if let Some((at, b)) = insert {
                bytes.insert(at % (bytes.len() + 1), b);
            }
            if let Some(c) = cut {
                bytes.truncate(c % (bytes.len() + 1));
            }
            let (got, _end) = decode_all(&bytes, receiver).await;
            prop_assert!(got.len() <= msgs.len());
            for (g, m) in got.iter().zip(&msgs) {
                prop_assert!(g == m, "a delivered message differs from what was sent");
            }
            if !flips.is_empty() {
                prop_assert!(got.len() < msgs.len(), "an altered stream delivered everything");
            }
            Ok(())
        })?;
    }

    #[test]
    fn the_assembler_never_panics_on_arbitrary_chunks(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..20),
        max in 0usize..64,
    ) {
        let mut a = Assembler::default();
        for c in &chunks {
            match a.push(c, max) {
                Ok(Some(m)) => prop_assert!(m.len() <= max),
                Ok(None) => {}
                Err(_) => {
                    a = Assembler::default();
                }
            }
        }
    }

    #[test]
    fn any_cutting_of_a_message_reassembles_it(
        msg in proptest::collection::vec(any::<u8>(), 0..500),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut a = Assembler::default();
        let chunks = chunked(&msg, &cuts);
        let (last, init) = chunks.split_last().unwrap();
        for c in init {
            prop_assert!(a.push(c, 500).unwrap().is_none());
        }
        prop_assert_eq!(a.push(last, 500).unwrap(), Some(msg));
    }
}

/// The wire bytes of one message sent as `parts`.
async fn encode_parts(parts: &[&[u8]]) -> Vec<u8> {
    let (sender, _) = transport_pair();
    let mut w = SecureWriter::new(Vec::new(), sender, LONG);
    w.send_parts(parts).await.unwrap();
    w.into_inner()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Sending a message in parts puts exactly the bytes of the joined message on the wire:
    /// the same Noise messages, so the peer cannot tell (encryption is deterministic for a
    /// key and nonce, and both writers start at nonce 0 under the same key).
    #[test]
    fn a_message_sent_in_parts_is_the_message_on_the_wire(
        len in prop_oneof![0usize..300, (MAX_CHUNK - 100)..(3 * MAX_CHUNK + 100)],
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
        salt in any::<u8>(),
    ) {
        let msg = message(len, salt);
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (len + 1)).collect();
        points.push(len);
        points.sort_unstable();
        let mut parts: Vec<&[u8]> = Vec::new();
        let mut start = 0;
        for p in points {
            parts.push(&msg[start..p]);
            start = p;
        }
        let (whole, split) = runtime().block_on(async {
            (encode(std::slice::from_ref(&msg)).await.0, encode_parts(&parts).await)
        });
        prop_assert!(whole == split, "{} bytes in {} parts", len, parts.len());
    }
}

#[test]
fn a_message_in_parts_over_the_limit_is_refused_and_the_writer_stays_usable() {
    runtime().block_on(async {
        let (sender, receiver) = transport_pair();
        let mut w = SecureWriter::new(Vec::new(), sender, LONG);
        let half = vec![1u8; MAX_MESSAGE_BYTES / 2 + 1];
        assert!(matches!(
            w.send_parts(&[&half, &half]).await,
            Err(NetError::MessageTooLarge { .. })
        ));
        w.send_parts(&[b"chunk header ", b"", b"and its bytes"])
            .await
            .unwrap();
        let (got, _) = decode_all(&w.into_inner(), receiver).await;
        assert_eq!(got, vec![b"chunk header and its bytes".to_vec()]);
    });
}
