//! The hello: the first message each way on a secure connection, in which a device says who
//! it is and proves it by signing the handshake hash. Owns its CBOR form, its limits and the
//! binding check; must never be sent outside the Noise session (it names the device).

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    HANDSHAKE_HASH_BYTES, HELLO_BINDING_CONTEXT, LocalIdentity, MAX_FEATURE_BYTES, MAX_FEATURES,
    MAX_HELLO_BYTES, NetError, PROTOCOL_VERSION, Role,
};
use crate::crypto::verify_signature;
use crate::ids::DeviceId;
use crate::schema::{DeviceType, MAX_NAME_CHARS};

/// What a device tells its peer right after the Noise handshake. Encoded as a CBOR map with
/// the camelCase field names; unknown fields are ignored, so later versions may add some.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hello {
    /// The sender's protocol version; see [`PROTOCOL_VERSION`].
    pub protocol_version: u16,
    /// Optional features the sender supports.
    pub features: Vec<String>,
    /// The sender's identity.
    pub device_id: DeviceId,
    /// The sender's signature over [`Hello::binding_message`] for this connection.
    #[serde(with = "signature_bytes")]
    pub binding: [u8; 64],
    /// The sender's name.
    pub device_name: String,
    /// The sender's kind of device.
    pub device_type: DeviceType,
}

/// The one field every version keeps, read first so that a peer of another version gets
/// [`NetError::UnsupportedVersion`] rather than [`NetError::Malformed`].
#[derive(Deserialize)]
struct VersionOnly {
    #[serde(rename = "protocolVersion")]
    protocol_version: u16,
}

impl Hello {
    /// This device's hello for the connection whose handshake hash is `handshake_hash`, on
    /// which it plays `role`. The name is cut to [`MAX_NAME_CHARS`] characters; features
    /// that are empty or longer than [`MAX_FEATURE_BYTES`] are left out, and only the first
    /// [`MAX_FEATURES`] are kept.
    pub fn signed(
        me: &LocalIdentity,
        role: Role,
        handshake_hash: &[u8; HANDSHAKE_HASH_BYTES],
    ) -> Hello {
        let features = me
            .features
            .iter()
            .filter(|f| feature_ok(f))
            .take(MAX_FEATURES)
            .cloned()
            .collect();
        Hello {
            protocol_version: PROTOCOL_VERSION,
            features,
            device_id: me.keys.device_id(),
            binding: me.keys.sign(&Hello::binding_message(role, handshake_hash)),
            device_name: me.device_name.chars().take(MAX_NAME_CHARS).collect(),
            device_type: me.device_type,
        }
    }

    /// What the binding signs: [`HELLO_BINDING_CONTEXT`], one byte for the sender's role
    /// (`i` initiator, `r` responder), then the handshake hash. The role byte stops a peer
    /// from sending our own hello back to us as its own.
    pub fn binding_message(sender: Role, handshake_hash: &[u8; HANDSHAKE_HASH_BYTES]) -> Vec<u8> {
        let mut msg = Vec::with_capacity(HELLO_BINDING_CONTEXT.len() + 1 + HANDSHAKE_HASH_BYTES);
        msg.extend_from_slice(HELLO_BINDING_CONTEXT);
        msg.push(match sender {
            Role::Initiator => b'i',
            Role::Responder => b'r',
        });
        msg.extend_from_slice(handshake_hash);
        msg
    }

    /// The CBOR encoding. Fails only for a hello over [`MAX_HELLO_BYTES`] (one that
    /// [`Hello::signed`] never makes).
    pub fn encode(&self) -> Result<Vec<u8>, NetError> {
        let mut out = Vec::new();
        ciborium::into_writer(self, &mut out).map_err(|_| NetError::Malformed)?;
        if out.len() > MAX_HELLO_BYTES {
            return Err(NetError::MessageTooLarge {
                declared: out.len(),
                max: MAX_HELLO_BYTES,
            });
        }
        Ok(out)
    }

    /// Decodes and checks a peer's hello: its version, then its shape and limits. Does not
    /// check the binding; see [`Hello::verify`].
    pub fn decode(bytes: &[u8]) -> Result<Hello, NetError> {
        if bytes.len() > MAX_HELLO_BYTES {
            return Err(NetError::MessageTooLarge {
                declared: bytes.len(),
                max: MAX_HELLO_BYTES,
            });
        }
        let VersionOnly { protocol_version } = from_cbor(bytes)?;
        if protocol_version != PROTOCOL_VERSION {
            return Err(NetError::UnsupportedVersion {
                theirs: protocol_version,
            });
        }
        let hello: Hello = from_cbor(bytes)?;
        let features_ok =
            hello.features.len() <= MAX_FEATURES && hello.features.iter().all(|f| feature_ok(f));
        if !features_ok || hello.device_name.chars().count() > MAX_NAME_CHARS {
            return Err(NetError::Malformed);
        }
        Ok(hello)
    }

    /// Checks that the claimed device signed this hello for the connection with
    /// `handshake_hash`, in the role `sender`.
    pub fn verify(
        &self,
        sender: Role,
        handshake_hash: &[u8; HANDSHAKE_HASH_BYTES],
    ) -> Result<(), NetError> {
        let msg = Hello::binding_message(sender, handshake_hash);
        if verify_signature(&self.device_id, &msg, &self.binding) {
            Ok(())
        } else {
            Err(NetError::BadBinding)
        }
    }
}

fn feature_ok(f: &str) -> bool {
    !f.is_empty() && f.len() <= MAX_FEATURE_BYTES
}

/// One CBOR item filling all of `bytes`.
fn from_cbor<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, NetError> {
    let mut rest = bytes;
    let value = ciborium::from_reader(&mut rest).map_err(|_| NetError::Malformed)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(NetError::Malformed)
    }
}

/// A 64-byte signature as a CBOR byte string (serde derives arrays only up to 32).
mod signature_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(sig: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(sig)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = [u8; 64];
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<[u8; 64], E> {
                v.try_into().map_err(|_| E::invalid_length(v.len(), &self))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<[u8; 64], E> {
                self.visit_bytes(&v)
            }
        }
        d.deserialize_bytes(V)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use proptest::prelude::*;

    use super::*;
    use crate::crypto::RootKey;

    fn me(seed: u8) -> LocalIdentity {
        LocalIdentity::new(
            &RootKey::from_bytes([seed; 16]),
            "Field phone",
            DeviceType::Mobile,
        )
    }

    #[test]
    fn a_signed_hello_round_trips_and_verifies_only_for_its_connection_and_role() {
        let hash = [7u8; 32];
        let hello = Hello::signed(&me(1), Role::Initiator, &hash);
        let back = Hello::decode(&hello.encode().unwrap()).unwrap();
        assert_eq!(back, hello);
        back.verify(Role::Initiator, &hash).unwrap();
        assert!(matches!(
            back.verify(Role::Responder, &hash),
            Err(NetError::BadBinding)
        ));
        assert!(matches!(
            back.verify(Role::Initiator, &[8u8; 32]),
            Err(NetError::BadBinding)
        ));
        let mut claimed = back.clone();
        claimed.device_id = me(2).keys.device_id();
        assert!(matches!(
            claimed.verify(Role::Initiator, &hash),
            Err(NetError::BadBinding)
        ));
    }

    #[test]
    fn another_protocol_version_is_unsupported_even_if_the_rest_changed_shape() {
        let mut hello = Hello::signed(&me(1), Role::Responder, &[0; 32]);
        hello.protocol_version = 2;
        assert!(matches!(
            Hello::decode(&hello.encode().unwrap()),
            Err(NetError::UnsupportedVersion { theirs: 2 })
        ));
        let mut future = Vec::new();
        let value = ciborium::Value::Map(vec![(
            ciborium::Value::Text("protocolVersion".into()),
            ciborium::Value::Integer(9.into()),
        )]);
        ciborium::into_writer(&value, &mut future).unwrap();
        assert!(matches!(
            Hello::decode(&future),
            Err(NetError::UnsupportedVersion { theirs: 9 })
        ));
    }

    #[test]
    fn hellos_over_the_limits_are_malformed_and_ours_stay_within_them() {
        let mut big = me(1);
        big.device_name = "é".repeat(MAX_NAME_CHARS + 5);
        big.features = (0..MAX_FEATURES + 5).map(|i| format!("f{i}")).collect();
        big.features.push(String::new());
        big.features.insert(0, "x".repeat(MAX_FEATURE_BYTES + 1));
        let ours = Hello::signed(&big, Role::Initiator, &[0; 32]);
        assert_eq!(ours.device_name.chars().count(), MAX_NAME_CHARS);
        assert_eq!(ours.features.len(), MAX_FEATURES);
        assert_eq!(ours.features[0], "f0");
        Hello::decode(&ours.encode().unwrap()).unwrap();

        let mut long_name = ours.clone();
        long_name.device_name.push('x');
        let mut many = ours.clone();
        many.features.push("more".into());
        let mut empty_feature = ours.clone();
        empty_feature.features[0].clear();
        for bad in [long_name, many, empty_feature] {
            assert!(matches!(
                Hello::decode(&bad.encode().unwrap()),
                Err(NetError::Malformed)
            ));
        }
        let mut trailing = ours.encode().unwrap();
        trailing.push(0);
        assert!(matches!(Hello::decode(&trailing), Err(NetError::Malformed)));
        assert!(matches!(
            Hello::decode(&vec![0; MAX_HELLO_BYTES + 1]),
            Err(NetError::MessageTooLarge { .. })
        ));
    }

    #[test]
    fn a_device_id_that_is_not_a_public_key_is_malformed() {
        let hello = Hello::signed(&me(1), Role::Initiator, &[0; 32]);
        let mut bytes = hello.encode().unwrap();
        let id = hello.device_id.as_bytes();
        let at = bytes
            .windows(32)
            .position(|w| w == id)
            .expect("device id is in the encoding");
        // y = 2 is not on the curve.
        bytes[at..at + 32].copy_from_slice(&{
            let mut b = [0u8; 32];
            b[0] = 2;
            b
        });
        assert!(matches!(Hello::decode(&bytes), Err(NetError::Malformed)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn the_hello_decoder_never_panics_on_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let _ = Hello::decode(&bytes);
        }

        #[test]
        fn the_hello_decoder_never_panics_on_mutated_hellos(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            cut in any::<usize>(),
        ) {
            let mut bytes = Hello::signed(&me(3), Role::Responder, &[1; 32]).encode().unwrap();
            for (at, value) in edits {
                let at = at % bytes.len();
                bytes[at] = value;
            }
            let _ = Hello::decode(&bytes);
            bytes.truncate(cut % (bytes.len() + 1));
            let _ = Hello::decode(&bytes);
        }
    }
}
