//! Secure connections over real TCP on loopback: two devices authenticate and exchange
//! messages; forged, garbled, oversized and silent peers are refused with typed errors in
//! bounded time. The misbehaving peers are built here by hand on `snow`, independently of the
//! module, so these tests also pin the wire format.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use std::net::SocketAddr;
use std::time::Duration;

use ciborium::Value;
use mapeo_core::RootKey;
use mapeo_core::crypto::DeviceKeys;
use mapeo_core::net::{
    self, Hello, Listener, LocalIdentity, MAX_HANDSHAKE_FRAME_BYTES, MAX_HELLO_BYTES,
    MAX_MESSAGE_BYTES, NetError, NoiseFailure, Role, STEP_HANDSHAKE, STEP_READ, SecureStream,
    Timeouts,
};
use mapeo_core::schema::DeviceType;
use mapeo_core::{DeviceId, crypto};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// Upper bound on any single step of a test: generous, so slow CI never flakes.
const BOUND: Duration = Duration::from_secs(30);
/// Bound for steps that should end by one of the short test timeouts.
const QUICK: Duration = Duration::from_secs(5);

/// Timeouts short enough for tests about silent peers, long enough that honest steps never
/// hit them on a busy machine.
fn short() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        handshake: Duration::from_secs(3),
        read_idle: Duration::from_secs(1),
        write: Duration::from_secs(3),
    }
}

/// [`short`] with a handshake timeout that a silent peer reaches quickly.
fn impatient() -> Timeouts {
    Timeouts {
        handshake: Duration::from_millis(300),
        ..short()
    }
}

fn root(seed: u8) -> RootKey {
    RootKey::from_bytes([seed; 16])
}

fn device(seed: u8, name: &str, device_type: DeviceType) -> LocalIdentity {
    LocalIdentity::new(&root(seed), name, device_type)
}

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_add(salt))
        .collect()
}

/// A listener and a connecting device, authenticated to each other over loopback.
async fn connected_pair(
    server: &LocalIdentity,
    client: &LocalIdentity,
) -> (SecureStream<TcpStream>, SecureStream<TcpStream>) {
    let listener = Listener::bind(localhost()).await.unwrap();
    let addr = listener.local_addr();
    let (accepted, connected) = timeout(BOUND, async {
        tokio::join!(listener.accept(server), net::connect(addr, client))
    })
    .await
    .unwrap();
    (accepted.unwrap(), connected.unwrap())
}

// ---- A peer built by hand on snow, following the wire format in the module docs. ----

const MAX_PLAIN: usize = 65_535 - 16;

async fn write_frame(tcp: &mut TcpStream, body: &[u8]) {
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    tcp.write_all(&out).await.unwrap();
}

async fn read_frame(tcp: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    tcp.read_exact(&mut len).await.unwrap();
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    tcp.read_exact(&mut body).await.unwrap();
    body
}

/// A peer built by hand on snow with its portable resolver (ChaCha20-Poly1305 from the
/// `chacha20poly1305` crate, where `net` takes ring's): it also shows the two interoperate.
struct RawPeer {
    tcp: TcpStream,
    noise: snow::TransportState,
    hash: [u8; 32],
    role: Role,
    keys: DeviceKeys,
}

impl RawPeer {
    async fn handshake(mut tcp: TcpStream, role: Role, seed: u8) -> RawPeer {
        let root = root(seed);
        let key = root.noise_static_key();
        let builder = snow::Builder::new("Noise_XX_25519_ChaChaPoly_BLAKE2s".parse().unwrap())
            .local_private_key(key.expose_bytes())
            .unwrap()
            .prologue(b"mapeo/noise/v1")
            .unwrap();
        let mut hs = match role {
            Role::Initiator => builder.build_initiator().unwrap(),
            Role::Responder => builder.build_responder().unwrap(),
        };
        let mut buf = vec![0u8; 65_535];
        while !hs.is_handshake_finished() {
            if hs.is_my_turn() {
                let n = hs.write_message(&[], &mut buf).unwrap();
                write_frame(&mut tcp, &buf[..n]).await;
            } else {
                let frame = read_frame(&mut tcp).await;
                hs.read_message(&frame, &mut buf).unwrap();
            }
        }
        RawPeer {
            tcp,
            hash: hs.get_handshake_hash().try_into().unwrap(),
            noise: hs.into_transport_mode().unwrap(),
            role,
            keys: root.device_keys(),
        }
    }

    async fn send_chunk(&mut self, plain: &[u8]) {
        let mut out = vec![0u8; plain.len() + 16];
        let n = self.noise.write_message(plain, &mut out).unwrap();
        write_frame(&mut self.tcp, &out[..n]).await;
    }

    async fn send_message(&mut self, msg: &[u8]) {
        let mut framed = (msg.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(msg);
        for chunk in framed.chunks(MAX_PLAIN) {
            self.send_chunk(chunk).await;
        }
    }

    async fn recv_chunk(&mut self) -> Vec<u8> {
        let frame = read_frame(&mut self.tcp).await;
        let mut plain = vec![0u8; frame.len()];
        let n = self.noise.read_message(&frame, &mut plain).unwrap();
        plain.truncate(n);
        plain
    }

    async fn recv_message(&mut self) -> Vec<u8> {
        let first = self.recv_chunk().await;
        let len = u32::from_be_bytes(first[..4].try_into().unwrap()) as usize;
        let mut msg = first[4..].to_vec();
        while msg.len() < len {
            msg.extend(self.recv_chunk().await);
        }
        msg
    }

    /// A hello built field by field: `signer` signs the binding of `role_byte` over `hash`,
    /// while the hello claims to come from `claimed`.
    fn hand_built_hello(
        &self,
        version: u16,
        claimed: DeviceId,
        signer: &DeviceKeys,
        role_byte: u8,
        hash: &[u8; 32],
    ) -> Vec<u8> {
        let mut signed = b"mapeo/hello/v1".to_vec();
        signed.push(role_byte);
        signed.extend_from_slice(hash);
        let text = |s: &str| Value::Text(s.to_owned());
        let hello = Value::Map(vec![
            (text("protocolVersion"), Value::Integer(version.into())),
            (text("features"), Value::Array(vec![text("raw")])),
            (text("deviceId"), Value::Bytes(claimed.as_bytes().to_vec())),
            (text("binding"), Value::Bytes(signer.sign(&signed).to_vec())),
            (text("deviceName"), text("Raw peer")),
            (text("deviceType"), text("desktop")),
            (text("someFutureField"), Value::Bool(true)),
        ]);
        let mut out = Vec::new();
        ciborium::into_writer(&hello, &mut out).unwrap();
        out
    }

    fn role_byte(&self) -> u8 {
        match self.role {
            Role::Initiator => b'i',
            Role::Responder => b'r',
        }
    }

    fn honest_hello(&self) -> Vec<u8> {
        let hash = self.hash;
        self.hand_built_hello(
            1,
            self.keys.device_id(),
            &self.keys,
            self.role_byte(),
            &hash,
        )
    }
}

/// A raw peer that connects to `addr` and completes the Noise handshake as initiator.
async fn raw_initiator(addr: SocketAddr, seed: u8) -> RawPeer {
    let tcp = TcpStream::connect(addr).await.unwrap();
    RawPeer::handshake(tcp, Role::Initiator, seed).await
}

/// Runs `accept` on a short-timeout listener while `peer` plays against it.
async fn accept_against<F, T>(
    me: &LocalIdentity,
    peer: impl FnOnce(SocketAddr) -> F,
) -> (Result<SecureStream<TcpStream>, NetError>, T)
where
    F: Future<Output = T>,
{
    accept_with(short(), me, peer).await
}

/// [`accept_against`] with other timeouts.
async fn accept_with<F, T>(
    timeouts: Timeouts,
    me: &LocalIdentity,
    peer: impl FnOnce(SocketAddr) -> F,
) -> (Result<SecureStream<TcpStream>, NetError>, T)
where
    F: Future<Output = T>,
{
    let listener = Listener::bind(localhost())
        .await
        .unwrap()
        .with_timeouts(timeouts);
    let addr = listener.local_addr();
    timeout(BOUND, async {
        tokio::join!(listener.accept(me), peer(addr))
    })
    .await
    .unwrap()
}

/// Named so that `cargo test net` selects these tests too.
mod net_over_loopback {
    use super::*;

    // ---- Honest devices ----

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_devices_exchange_messages_of_every_size_both_ways_at_once() {
        let phone = device(1, "Phone by the river", DeviceType::Mobile);
        let laptop = device(2, "Office laptop", DeviceType::Desktop);
        let (server, client) = connected_pair(&laptop, &phone).await;

        assert_eq!(client.peer().device_id, laptop.keys.device_id());
        assert_eq!(client.peer().device_name, "Office laptop");
        assert_eq!(client.peer().device_type, DeviceType::Desktop);
        assert_eq!(server.peer().device_id, phone.keys.device_id());
        assert_eq!(server.peer().device_name, "Phone by the river");
        assert_eq!(server.peer().device_type, DeviceType::Mobile);
        assert_eq!(server.peer().protocol_version, net::PROTOCOL_VERSION);
        assert_eq!(server.handshake_hash(), client.handshake_hash());
        assert!(client.initiated_by_us());
        assert!(!server.initiated_by_us());

        let sizes = [0, 1, 65_000, 200_000, MAX_MESSAGE_BYTES];
        let mut tasks = Vec::new();
        for (stream, salt) in [(server, 1u8), (client, 2u8)] {
            let (mut reader, mut writer) = stream.split();
            tasks.push(tokio::spawn(async move {
                for n in sizes {
                    writer.send(&pattern(n, salt)).await.unwrap();
                }
            }));
            tasks.push(tokio::spawn(async move {
                for n in sizes {
                    let got = reader.recv().await.unwrap();
                    assert!(got == pattern(n, 3 - salt), "message of {n} bytes differs");
                }
            }));
        }
        for task in tasks {
            timeout(BOUND, task).await.unwrap().unwrap();
        }
    }

    #[tokio::test]
    async fn each_connection_between_the_same_pair_has_its_own_handshake_hash() {
        let a = device(1, "A", DeviceType::Mobile);
        let b = device(2, "B", DeviceType::Tablet);
        let (first, _) = connected_pair(&a, &b).await;
        let (second, _) = connected_pair(&a, &b).await;
        let (reversed, _) = connected_pair(&b, &a).await;
        assert_ne!(first.handshake_hash(), second.handshake_hash());
        assert_ne!(first.handshake_hash(), reversed.handshake_hash());
        assert_eq!(first.peer(), second.peer());
    }

    #[tokio::test]
    async fn closing_a_writer_ends_the_peers_reader_after_what_was_sent() {
        let (server, client) = connected_pair(
            &device(1, "A", DeviceType::Mobile),
            &device(2, "B", DeviceType::Mobile),
        )
        .await;
        let (_client_reader, mut client_writer) = client.split();
        let (mut server_reader, _server_writer) = server.split();
        client_writer.send(b"last words").await.unwrap();
        client_writer.close().await.unwrap();
        let got = timeout(BOUND, server_reader.recv()).await.unwrap().unwrap();
        assert_eq!(got, b"last words");
        let end = timeout(BOUND, server_reader.recv()).await.unwrap();
        assert!(matches!(end, Err(NetError::Closed)), "{end:?}");
    }

    #[tokio::test]
    async fn a_hand_built_peer_following_the_wire_format_is_accepted() {
        let me = device(1, "Listener", DeviceType::Server);
        let (accepted, raw) = accept_against(&me, |addr| async move {
            let mut raw = raw_initiator(addr, 9).await;
            let hello = raw.honest_hello();
            raw.send_message(&hello).await;
            let theirs = raw.recv_message().await;
            (raw, theirs)
        })
        .await;
        let mut stream = accepted.unwrap();
        let (mut raw, their_hello) = raw;
        assert_eq!(stream.peer().device_id, root(9).device_keys().device_id());
        assert_eq!(stream.peer().device_name, "Raw peer");
        assert_eq!(stream.peer().features, vec!["raw".to_string()]);
        assert_eq!(stream.handshake_hash(), raw.hash);

        // The listener's hello, checked by hand: signed by its device key over its role and hash.
        let hello: Value = ciborium::from_reader(their_hello.as_slice()).unwrap();
        let field = |name: &str| {
            hello
                .as_map()
                .unwrap()
                .iter()
                .find(|(k, _)| k.as_text() == Some(name))
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let id: [u8; 32] = field("deviceId")
            .as_bytes()
            .unwrap()
            .as_slice()
            .try_into()
            .unwrap();
        let sig: [u8; 64] = field("binding")
            .as_bytes()
            .unwrap()
            .as_slice()
            .try_into()
            .unwrap();
        let mut signed = b"mapeo/hello/v1r".to_vec();
        signed.extend_from_slice(&raw.hash);
        let id = DeviceId::from_bytes(id).unwrap();
        assert_eq!(id, me.keys.device_id());
        assert!(crypto::verify_signature(&id, &signed, &sig));
        assert_eq!(field("deviceType").as_text(), Some("server"));

        raw.send_message(&pattern(150_000, 4)).await;
        let got = timeout(BOUND, stream.recv()).await.unwrap().unwrap();
        assert_eq!(got, pattern(150_000, 4));
        stream.send(b"hello back").await.unwrap();
        assert_eq!(raw.recv_message().await, b"hello back");
    }

    // ---- Forged hellos ----

    /// Connects to a raw responder that answers the initiator's hello with `forge(raw, theirs)`.
    async fn connect_to_forger(
        forge: impl FnOnce(&RawPeer, Vec<u8>) -> Vec<u8> + Send + 'static,
    ) -> Result<SecureStream<TcpStream>, NetError> {
        let tcp = TcpListener::bind(localhost()).await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let forger = tokio::spawn(async move {
            let (stream, _) = tcp.accept().await.unwrap();
            let mut raw = RawPeer::handshake(stream, Role::Responder, 7).await;
            let theirs = raw.recv_message().await;
            let reply = forge(&raw, theirs);
            raw.send_message(&reply).await;
            raw
        });
        let me = device(1, "Honest", DeviceType::Mobile);
        let result = timeout(BOUND, net::connect_with(addr, &me, &short()))
            .await
            .unwrap();
        drop(timeout(BOUND, forger).await.unwrap().unwrap());
        result
    }

    #[tokio::test]
    async fn a_responder_claiming_another_device_is_refused_with_bad_binding() {
        let victim = root(3).device_keys().device_id();
        let result = connect_to_forger(move |raw, _| {
            raw.hand_built_hello(1, victim, &raw.keys, b'r', &raw.hash)
        })
        .await;
        assert!(matches!(result, Err(NetError::BadBinding)), "{result:?}");
    }

    #[tokio::test]
    async fn a_responder_replaying_a_binding_from_another_connection_is_refused() {
        let result = connect_to_forger(|raw, _| {
            let other_connection = [0x55; 32];
            raw.hand_built_hello(1, raw.keys.device_id(), &raw.keys, b'r', &other_connection)
        })
        .await;
        assert!(matches!(result, Err(NetError::BadBinding)), "{result:?}");
    }

    #[tokio::test]
    async fn a_responder_reflecting_our_own_hello_back_is_refused() {
        let result = connect_to_forger(|_, theirs| theirs).await;
        assert!(matches!(result, Err(NetError::BadBinding)), "{result:?}");
    }

    #[tokio::test]
    async fn a_responder_signing_as_initiator_is_refused() {
        let result = connect_to_forger(|raw, _| {
            raw.hand_built_hello(1, raw.keys.device_id(), &raw.keys, b'i', &raw.hash)
        })
        .await;
        assert!(matches!(result, Err(NetError::BadBinding)), "{result:?}");
    }

    #[tokio::test]
    async fn an_initiator_claiming_another_device_is_refused_and_the_listener_carries_on() {
        let me = device(1, "Listener", DeviceType::Desktop);
        let listener = Listener::bind(localhost())
            .await
            .unwrap()
            .with_timeouts(short());
        let addr = listener.local_addr();
        let victim = root(3).device_keys().device_id();
        let (refused, _) = timeout(BOUND, async {
            tokio::join!(listener.accept(&me), async {
                let mut raw = raw_initiator(addr, 7).await;
                let forged = raw.hand_built_hello(1, victim, &raw.keys, b'i', &raw.hash);
                raw.send_message(&forged).await;
                raw
            })
        })
        .await
        .unwrap();
        assert!(matches!(refused, Err(NetError::BadBinding)), "{refused:?}");

        let honest = device(2, "Honest", DeviceType::Mobile);
        let (accepted, connected) = timeout(BOUND, async {
            tokio::join!(listener.accept(&me), net::connect(addr, &honest))
        })
        .await
        .unwrap();
        assert_eq!(accepted.unwrap().peer().device_id, honest.keys.device_id());
        assert_eq!(connected.unwrap().peer().device_id, me.keys.device_id());
    }

    #[tokio::test]
    async fn a_peer_of_another_protocol_version_is_refused() {
        let me = device(1, "Listener", DeviceType::Desktop);
        let (result, _raw) = accept_against(&me, |addr| async move {
            let mut raw = raw_initiator(addr, 7).await;
            let hello = raw.hand_built_hello(2, raw.keys.device_id(), &raw.keys, b'i', &raw.hash);
            raw.send_message(&hello).await;
            raw
        })
        .await;
        assert!(
            matches!(result, Err(NetError::UnsupportedVersion { theirs: 2 })),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_hello_that_is_not_a_hello_is_malformed() {
        let me = device(1, "Listener", DeviceType::Desktop);
        for junk in [b"not cbor at all".to_vec(), vec![0xa0], Vec::new()] {
            let (result, _raw) = accept_against(&me, |addr| async move {
                let mut raw = raw_initiator(addr, 7).await;
                raw.send_message(&junk).await;
                raw
            })
            .await;
            assert!(matches!(result, Err(NetError::Malformed)), "{result:?}");
        }
    }

    // ---- Garbage, oversized and silent peers ----

    /// Accepts while a plain TCP client sends `bytes` and then keeps the connection open.
    async fn accept_after_sending(
        bytes: &'static [u8],
    ) -> Result<SecureStream<TcpStream>, NetError> {
        let me = device(1, "Listener", DeviceType::Desktop);
        let (result, _client) = timeout(
            QUICK,
            accept_with(impatient(), &me, |addr| async move {
                let mut tcp = TcpStream::connect(addr).await.unwrap();
                tcp.write_all(bytes).await.unwrap();
                tcp
            }),
        )
        .await
        .unwrap();
        result
    }

    #[tokio::test]
    async fn garbage_instead_of_a_handshake_is_refused() {
        let http = accept_after_sending(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(
            matches!(
                http,
                Err(NetError::MessageTooLarge {
                    declared: 0x4745,
                    max: MAX_HANDSHAKE_FRAME_BYTES
                })
            ),
            "{http:?}"
        );
        let too_short = accept_after_sending(&[0, 3, 1, 2, 3]).await;
        assert!(
            matches!(too_short, Err(NetError::Noise(NoiseFailure::BadMessage))),
            "{too_short:?}"
        );
    }

    #[tokio::test]
    async fn an_oversized_handshake_frame_is_refused_before_it_is_read() {
        let result = accept_after_sending(&[0xff, 0xff]).await;
        assert!(
            matches!(
                result,
                Err(NetError::MessageTooLarge {
                    declared: 65_535,
                    max: MAX_HANDSHAKE_FRAME_BYTES
                })
            ),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_garbled_third_handshake_message_does_not_decrypt() {
        let me = device(1, "Listener", DeviceType::Desktop);
        let (result, _tcp) = accept_against(&me, |addr| async move {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            write_frame(&mut tcp, &[9; 32]).await;
            let _their_reply = read_frame(&mut tcp).await;
            write_frame(&mut tcp, &[9; 64]).await;
            tcp
        })
        .await;
        assert!(
            matches!(result, Err(NetError::Noise(NoiseFailure::Decrypt))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_server_answering_with_garbage_is_refused_by_the_initiator() {
        let tcp = TcpListener::bind(localhost()).await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = tcp.accept().await.unwrap();
            let _hello = read_frame(&mut stream).await;
            write_frame(&mut stream, &[0x42; 96]).await;
            stream
        });
        let me = device(1, "Client", DeviceType::Mobile);
        let result = timeout(QUICK, net::connect_with(addr, &me, &short()))
            .await
            .unwrap();
        assert!(matches!(result, Err(NetError::Noise(_))), "{result:?}");
        drop(server.await.unwrap());
    }

    /// A listener's stream whose peer is a raw initiator that already sent an honest hello.
    async fn accepted_from_raw(me: &LocalIdentity) -> (SecureStream<TcpStream>, RawPeer) {
        let (accepted, raw) = accept_against(me, |addr| async move {
            let mut raw = raw_initiator(addr, 8).await;
            let hello = raw.honest_hello();
            raw.send_message(&hello).await;
            let _theirs = raw.recv_message().await;
            raw
        })
        .await;
        (accepted.unwrap(), raw)
    }

    #[tokio::test]
    async fn a_corrupted_ciphertext_after_the_handshake_is_refused() {
        let me = device(1, "Listener", DeviceType::Desktop);
        let (stream, mut raw) = accepted_from_raw(&me).await;
        let (mut reader, _writer) = stream.split();
        let mut sealed = vec![0u8; 64];
        let n = raw
            .noise
            .write_message(b"\0\0\0\x05hello", &mut sealed)
            .unwrap();
        sealed[n / 2] ^= 0x01;
        write_frame(&mut raw.tcp, &sealed[..n]).await;
        let result = timeout(QUICK, reader.recv()).await.unwrap();
        assert!(
            matches!(result, Err(NetError::Noise(NoiseFailure::Decrypt))),
            "{result:?}"
        );
        assert!(matches!(reader.recv().await, Err(NetError::Closed)));
    }

    #[tokio::test]
    async fn an_oversized_message_length_is_refused_before_it_is_read() {
        let me = device(1, "Listener", DeviceType::Desktop);
        let (mut stream, mut raw) = accepted_from_raw(&me).await;
        let declared = MAX_MESSAGE_BYTES + 1;
        raw.send_chunk(&(declared as u32).to_be_bytes()).await;
        let result = timeout(QUICK, stream.recv()).await.unwrap();
        assert!(
            matches!(result, Err(NetError::MessageTooLarge { declared: d, max: MAX_MESSAGE_BYTES }) if d == declared),
            "{result:?}"
        );

        let (during_hello, _raw) = accept_against(&me, |addr| async move {
            let mut raw = raw_initiator(addr, 8).await;
            raw.send_chunk(&u32::MAX.to_be_bytes()).await;
            raw
        })
        .await;
        assert!(
            matches!(during_hello, Err(NetError::MessageTooLarge { declared, max: MAX_HELLO_BYTES }) if declared == u32::MAX as usize),
            "{during_hello:?}"
        );
    }

    #[tokio::test]
    async fn a_peer_that_connects_and_says_nothing_times_out_the_accept() {
        let result = accept_after_sending(b"").await;
        assert!(
            matches!(result, Err(NetError::Timeout(STEP_HANDSHAKE))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_peer_that_goes_silent_after_the_handshake_times_out_the_reader() {
        let me = device(1, "Listener", DeviceType::Desktop);
        let (mut stream, _raw) = accepted_from_raw(&me).await;
        let result = timeout(QUICK, stream.recv()).await.unwrap();
        assert!(
            matches!(result, Err(NetError::Timeout(STEP_READ))),
            "{result:?}"
        );
    }

    #[test]
    fn our_hello_is_what_the_hand_built_peer_expects() {
        // The module's own encoder and the hand-built one agree on field names and shape.
        let me = device(1, "Same", DeviceType::Tablet);
        let hello = Hello::signed(&me, Role::Initiator, &[1; 32]);
        let value: Value = ciborium::from_reader(hello.encode().unwrap().as_slice()).unwrap();
        let keys: Vec<_> = value
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_text().unwrap().to_owned())
            .collect();
        assert_eq!(
            keys,
            [
                "protocolVersion",
                "features",
                "deviceId",
                "binding",
                "deviceName",
                "deviceType"
            ]
        );
        let mut signed = b"mapeo/hello/v1i".to_vec();
        signed.extend_from_slice(&[1; 32]);
        assert_eq!(Hello::binding_message(Role::Initiator, &[1; 32]), signed);
    }
}
