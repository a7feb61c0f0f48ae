//! Helpers for the network module's own tests: identities from seeds and Noise sessions
//! set up in memory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use snow::StatelessTransportState;

use super::{LocalIdentity, MAX_HANDSHAKE_FRAME_BYTES, NOISE_PATTERN, NOISE_PROLOGUE};
use crate::crypto::RootKey;
use crate::schema::DeviceType;

/// A device identity from a one-byte seed.
pub(crate) fn identity(seed: u8, name: &str) -> LocalIdentity {
    LocalIdentity::new(&RootKey::from_bytes([seed; 16]), name, DeviceType::Mobile)
}

type Pair = (Arc<StatelessTransportState>, Arc<StatelessTransportState>);

/// The initiator's and the responder's transport states of an XX handshake run in memory.
/// Made once per test binary: the states keep no nonces, so tests can share them.
pub(crate) fn transport_pair() -> Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    let (i, r) = PAIR.get_or_init(new_transport_pair);
    (Arc::clone(i), Arc::clone(r))
}

fn new_transport_pair() -> Pair {
    let build = |seed: u8| {
        let key = RootKey::from_bytes([seed; 16]).noise_static_key();
        let params = NOISE_PATTERN.parse().unwrap();
        let builder = snow::Builder::new(params)
            .local_private_key(key.expose_bytes())
            .unwrap()
            .prologue(NOISE_PROLOGUE)
            .unwrap();
        if seed == 1 {
            builder.build_initiator().unwrap()
        } else {
            builder.build_responder().unwrap()
        }
    };
    let (mut i, mut r) = (build(1), build(2));
    let mut msg = [0u8; MAX_HANDSHAKE_FRAME_BYTES];
    let mut payload = [0u8; MAX_HANDSHAKE_FRAME_BYTES];
    while !(i.is_handshake_finished() && r.is_handshake_finished()) {
        let (from, to) = if i.is_my_turn() {
            (&mut i, &mut r)
        } else {
            (&mut r, &mut i)
        };
        let n = from.write_message(&[], &mut msg).unwrap();
        to.read_message(&msg[..n], &mut payload).unwrap();
    }
    (
        Arc::new(i.into_stateless_transport_mode().unwrap()),
        Arc::new(r.into_stateless_transport_mode().unwrap()),
    )
}
