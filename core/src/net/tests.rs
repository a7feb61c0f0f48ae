#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::timeout;

use super::test_support::identity;
use super::*;

const BOUND: Duration = Duration::from_secs(20);

fn short() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        handshake: Duration::from_millis(300),
        read_idle: Duration::from_millis(300),
        write: Duration::from_millis(300),
    }
}

#[tokio::test]
async fn two_devices_authenticate_over_an_in_memory_pipe() {
    let mut alice = identity(1, "Alice's phone");
    alice.features = vec!["blobs".into()];
    let bob = identity(2, "Bob's tablet");
    let (a, b) = tokio::io::duplex(256);
    let (ours, theirs) = timeout(BOUND, async {
        tokio::join!(
            handshake(a, Role::Initiator, &alice),
            handshake(b, Role::Responder, &bob)
        )
    })
    .await
    .unwrap();
    let (mut ours, mut theirs) = (ours.unwrap(), theirs.unwrap());
    assert_eq!(ours.peer().device_id, bob.keys.device_id());
    assert_eq!(ours.peer().device_name, "Bob's tablet");
    assert_eq!(theirs.peer().device_id, alice.keys.device_id());
    assert_eq!(theirs.peer().features, vec!["blobs".to_string()]);
    assert_eq!(theirs.peer().protocol_version, PROTOCOL_VERSION);
    assert_eq!(ours.handshake_hash(), theirs.handshake_hash());
    assert!(ours.initiated_by_us() && !theirs.initiated_by_us());

    let (sent, got) = timeout(BOUND, async {
        tokio::join!(ours.send(&[5; 100_000]), theirs.recv())
    })
    .await
    .unwrap();
    sent.unwrap();
    assert_eq!(got.unwrap(), vec![5; 100_000]);
}

#[tokio::test]
async fn a_peer_that_says_nothing_times_out_the_handshake() {
    let me = identity(1, "me");
    let (a, _silent) = tokio::io::duplex(256);
    let result = timeout(BOUND, handshake_with(a, Role::Responder, &me, &short()))
        .await
        .unwrap();
    assert!(matches!(result, Err(NetError::Timeout(STEP_HANDSHAKE))));
}

#[tokio::test]
async fn a_peer_that_hangs_up_during_the_handshake_is_closed() {
    let me = identity(1, "me");
    let (a, mut other) = tokio::io::duplex(256);
    other.write_all(&[0, 32]).await.unwrap();
    drop(other);
    let result = timeout(BOUND, handshake_with(a, Role::Responder, &me, &short()))
        .await
        .unwrap();
    assert!(
        matches!(&result, Err(NetError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof),
        "{result:?}"
    );
}

#[tokio::test]
async fn both_ends_of_a_tcp_connection_get_nodelay_and_keepalive() {
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (client, incoming) = timeout(BOUND, async {
        tokio::join!(
            open_tcp(listener.local_addr(), CONNECT_TIMEOUT),
            listener.accept_incoming()
        )
    })
    .await
    .unwrap();
    let incoming = incoming.unwrap();
    assert_eq!(
        incoming.remote_addr(),
        client.as_ref().unwrap().local_addr().unwrap()
    );
    for stream in [client.unwrap(), incoming.stream] {
        assert!(stream.nodelay().unwrap());
        let socket = TcpSocket::from_std_stream(stream.into_std().unwrap());
        assert!(socket.keepalive().unwrap(), "SO_KEEPALIVE is set");
    }
}

#[tokio::test]
async fn connecting_to_a_closed_port_is_an_io_error() {
    let port = {
        let l = Listener::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        l.local_addr()
    };
    let result = timeout(BOUND, connect_with(port, &identity(1, "me"), &short()))
        .await
        .unwrap();
    assert!(matches!(result, Err(NetError::Io(_))), "{result:?}");
}

#[test]
fn errors_say_what_failed_without_secrets() {
    let shown = [
        NetError::Timeout(STEP_READ).to_string(),
        NetError::Noise(NoiseFailure::Decrypt).to_string(),
        NetError::UnsupportedVersion { theirs: 3 }.to_string(),
        NetError::MessageTooLarge {
            declared: 10,
            max: 5,
        }
        .to_string(),
    ];
    assert_eq!(shown[0], "timed out during read");
    assert_eq!(shown[1], "noise protocol failed: message does not decrypt");
    assert_eq!(shown[2], "peer speaks unsupported protocol version 3");
    assert_eq!(shown[3], "message of 10 bytes exceeds the limit of 5");
    assert_eq!(Timeouts::default().read_idle, READ_IDLE_TIMEOUT);
    let id = identity(1, "me");
    let debug = format!("{id:?}");
    assert!(debug.contains("NoiseStaticKey(..)"));
}
