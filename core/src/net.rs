//! Encrypted, authenticated connections between devices: TCP (or any byte stream), a
//! `Noise_XX_25519_ChaChaPoly_BLAKE2s` handshake, a signed [`Hello`] that binds the peer's
//! [`DeviceId`] to this very handshake, then length-framed messages of opaque bytes. Owns the
//! wire framing, the handshake, the size limits and the network timeouts. Must not interpret
//! the messages it carries (that is `sync`) or know about projects. An eavesdropper learns
//! only that a Noise handshake took place and how much was sent: static keys, device ids and
//! names travel encrypted. A device that connects itself does learn our id, name and type
//! from the hello (the peer list and invites need them); nothing more is sent before `sync`
//! has matched projects.
//!
//! Wire format, after TCP connects:
//! - every Noise message (handshake or transport) is a 2-byte big-endian length, then that
//!   many bytes; handshake messages are at most [`MAX_HANDSHAKE_FRAME_BYTES`], transport
//!   messages at most [`MAX_NOISE_FRAME_BYTES`];
//! - the handshake is XX with prologue [`NOISE_PROLOGUE`] and empty payloads;
//! - an application message of `n` bytes (`n` ≤ [`MAX_MESSAGE_BYTES`]) is a first transport
//!   message whose plaintext is `n` as 4 bytes big-endian then the start of the message,
//!   followed by as many transport messages as the rest needs, each non-empty;
//! - the first application message each way is a CBOR [`Hello`] of at most
//!   [`MAX_HELLO_BYTES`].

mod frame;
mod hello;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::crypto::{DeviceKeys, NoiseStaticKey, RootKey};
use crate::ids::DeviceId;
use crate::schema::DeviceType;

pub use frame::{SecureReader, SecureWriter};
pub use hello::Hello;

use frame::FrameReader;

/// The Noise protocol every connection runs.
pub const NOISE_PATTERN: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";
/// The Noise prologue: both sides must use the same one, so a change makes old and new
/// versions fail the handshake instead of misreading each other.
pub const NOISE_PROLOGUE: &[u8] = b"mapeo/noise/v1";
/// The context that starts every message a [`Hello`] binding signs.
pub const HELLO_BINDING_CONTEXT: &[u8] = b"mapeo/hello/v1";
/// This implementation's protocol version, sent in the [`Hello`]. A peer with another version
/// is refused ([`NetError::UnsupportedVersion`]); compatible additions go in `features`.
pub const PROTOCOL_VERSION: u16 = 1;
/// Length of the handshake hash (BLAKE2s).
pub const HANDSHAKE_HASH_BYTES: usize = 32;

/// Largest application message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Largest Noise message (the Noise specification's limit, and what a 2-byte length can say).
pub const MAX_NOISE_FRAME_BYTES: usize = 65_535;
/// Largest Noise handshake message we accept. Ours are at most 96 bytes; the margin leaves
/// room for future payloads while a stranger cannot make us read more than this.
pub const MAX_HANDSHAKE_FRAME_BYTES: usize = 1_024;
/// Largest encoded [`Hello`].
pub const MAX_HELLO_BYTES: usize = 4_096;
/// Most features one [`Hello`] may list.
pub const MAX_FEATURES: usize = 32;
/// Longest feature name, in bytes.
pub const MAX_FEATURE_BYTES: usize = 64;
/// Pending TCP connections the operating system queues for a [`Listener`].
pub const LISTEN_BACKLOG: u32 = 64;

/// How long a TCP connection may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the whole handshake, Noise and hello exchange, may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a reader waits for each Noise message of the peer: a peer silent this long is
/// dropped. The sync layer pings well within it.
pub const READ_IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// How long the peer may take to accept each Noise message we send (64 KiB at most): a peer
/// that stops reading is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The step named by [`NetError::Timeout`] when opening a TCP connection.
pub const STEP_CONNECT: &str = "connect";
/// The step named by [`NetError::Timeout`] during the handshake.
pub const STEP_HANDSHAKE: &str = "handshake";
/// The step named by [`NetError::Timeout`] when waiting for the peer's next message.
pub const STEP_READ: &str = "read";
/// The step named by [`NetError::Timeout`] when the peer does not take what we send.
pub const STEP_WRITE: &str = "write";

/// A connection failed or was refused. After any error but
/// [`MessageTooLarge`](NetError::MessageTooLarge) on send, the connection is unusable: drop it.
#[derive(Debug, Error)]
pub enum NetError {
    /// The operating system's network I/O failed, or the stream ended inside a message.
    #[error("network i/o failed: {0}")]
    Io(#[from] std::io::Error),
    /// A network wait took longer than allowed; names the step.
    #[error("timed out during {0}")]
    Timeout(&'static str),
    /// The Noise protocol failed.
    #[error("noise protocol failed: {0}")]
    Noise(NoiseFailure),
    /// The peer's hello is not signed by the device it claims, for this connection.
    #[error("peer's hello is not bound to this connection")]
    BadBinding,
    /// The peer speaks another protocol version.
    #[error("peer speaks unsupported protocol version {theirs}")]
    UnsupportedVersion {
        /// The peer's version.
        theirs: u16,
    },
    /// The peer sent something that is not valid at this point of the protocol.
    #[error("peer sent a malformed message")]
    Malformed,
    /// A message or frame is larger than its limit.
    #[error("message of {declared} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// The size sent or announced.
        declared: usize,
        /// The limit.
        max: usize,
    },
    /// The peer closed the connection, or this half already failed earlier.
    #[error("connection closed")]
    Closed,
}

/// Why the Noise protocol failed, without detail an attacker could use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum NoiseFailure {
    /// A message did not decrypt: altered, reordered, or not from the peer of the handshake.
    #[error("message does not decrypt")]
    Decrypt,
    /// A handshake message has the wrong shape or an unusable key.
    #[error("invalid handshake message")]
    BadMessage,
    /// Noise could not run here (setup, randomness, or nonces exhausted).
    #[error("local noise failure")]
    Local,
}

impl From<snow::Error> for NetError {
    fn from(e: snow::Error) -> Self {
        NetError::Noise(match e {
            snow::Error::Decrypt => NoiseFailure::Decrypt,
            snow::Error::Input | snow::Error::Dh => NoiseFailure::BadMessage,
            _ => NoiseFailure::Local,
        })
    }
}

/// Timeouts of one connection; [`Default`] gives the named constants. Tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// See [`CONNECT_TIMEOUT`].
    pub connect: Duration,
    /// See [`HANDSHAKE_TIMEOUT`].
    pub handshake: Duration,
    /// See [`READ_IDLE_TIMEOUT`].
    pub read_idle: Duration,
    /// See [`WRITE_TIMEOUT`].
    pub write: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: CONNECT_TIMEOUT,
            handshake: HANDSHAKE_TIMEOUT,
            read_idle: READ_IDLE_TIMEOUT,
            write: WRITE_TIMEOUT,
        }
    }
}

/// Who this device is on the network: its keys and what it tells peers about itself.
#[derive(Debug, Clone)]
pub struct LocalIdentity {
    /// The identity key that signs the hello binding.
    pub keys: DeviceKeys,
    /// The Noise static key.
    pub noise: NoiseStaticKey,
    /// The name peers see. Cut to [`MAX_NAME_CHARS`](crate::schema::MAX_NAME_CHARS)
    /// characters when sent.
    pub device_name: String,
    /// The kind of device peers see.
    pub device_type: DeviceType,
    /// Optional protocol features this device supports, announced in the hello. At most
    /// [`MAX_FEATURES`] are sent, and only those of 1 to [`MAX_FEATURE_BYTES`] bytes.
    pub features: Vec<String>,
}

impl LocalIdentity {
    /// The identity of the device with root key `root`, announcing no features.
    pub fn new(root: &RootKey, device_name: impl Into<String>, device_type: DeviceType) -> Self {
        LocalIdentity {
            keys: root.device_keys(),
            noise: root.noise_static_key(),
            device_name: device_name.into(),
            device_type,
            features: Vec::new(),
        }
    }
}

/// Who the peer proved to be, and what it said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's identity, proven by the hello binding.
    pub device_id: DeviceId,
    /// The name it gave itself (claimed, not proven).
    pub device_name: String,
    /// The kind of device it says it is (claimed, not proven).
    pub device_type: DeviceType,
    /// Its protocol version (equal to [`PROTOCOL_VERSION`]).
    pub protocol_version: u16,
    /// The optional features it supports.
    pub features: Vec<String>,
}

/// Which side of the handshake this device plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The side that opened the connection; speaks first.
    Initiator,
    /// The side that accepted the connection.
    Responder,
}

impl Role {
    /// The other side's role.
    pub fn other(self) -> Role {
        match self {
            Role::Initiator => Role::Responder,
            Role::Responder => Role::Initiator,
        }
    }
}

/// An established, authenticated connection. [`split`](SecureStream::split) it to read and
/// write from two tasks at once.
pub struct SecureStream<S> {
    reader: SecureReader<ReadHalf<S>>,
    writer: SecureWriter<WriteHalf<S>>,
    peer: PeerInfo,
    handshake_hash: [u8; HANDSHAKE_HASH_BYTES],
    role: Role,
}

impl<S> std::fmt::Debug for SecureStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureStream")
            .field("peer", &self.peer.device_id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Send + Unpin> SecureStream<S> {
    /// The authenticated peer.
    pub fn peer(&self) -> &PeerInfo {
        &self.peer
    }

    /// The Noise handshake hash: the same on both ends, different for every connection. The
    /// sync layer keys its per-project tags on it so they cannot be replayed elsewhere.
    pub fn handshake_hash(&self) -> [u8; HANDSHAKE_HASH_BYTES] {
        self.handshake_hash
    }

    /// Whether this device opened the connection.
    pub fn initiated_by_us(&self) -> bool {
        self.role == Role::Initiator
    }

    /// This device's side of the handshake.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Sends one message (see [`SecureWriter::send`]).
    pub async fn send(&mut self, msg: &[u8]) -> Result<(), NetError> {
        self.writer.send(msg).await
    }

    /// Receives one message (see [`SecureReader::recv`]).
    pub async fn recv(&mut self) -> Result<Vec<u8>, NetError> {
        self.reader.recv().await
    }

    /// The two halves, usable concurrently from separate tasks. The connection closes when
    /// both are dropped.
    pub fn split(self) -> (SecureReader<ReadHalf<S>>, SecureWriter<WriteHalf<S>>) {
        (self.reader, self.writer)
    }
}

/// Runs the whole handshake (Noise XX, then the hello exchange) over `stream`, with the
/// default [`Timeouts`].
pub async fn handshake<S>(
    stream: S,
    role: Role,
    me: &LocalIdentity,
) -> Result<SecureStream<S>, NetError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    handshake_with(stream, role, me, &Timeouts::default()).await
}

/// Runs the whole handshake over `stream` within `timeouts.handshake`; the returned stream
/// uses `timeouts` for reads and writes.
pub async fn handshake_with<S>(
    stream: S,
    role: Role,
    me: &LocalIdentity,
    timeouts: &Timeouts,
) -> Result<SecureStream<S>, NetError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    handshake_logged(stream, role, me, timeouts, None).await
}

async fn handshake_logged<S>(
    stream: S,
    role: Role,
    me: &LocalIdentity,
    timeouts: &Timeouts,
    remote: Option<SocketAddr>,
) -> Result<SecureStream<S>, NetError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let result = tokio::time::timeout(
        timeouts.handshake,
        run_handshake(stream, role, me, timeouts),
    )
    .await
    .unwrap_or(Err(NetError::Timeout(STEP_HANDSHAKE)));
    let remote = remote.map_or_else(|| "-".to_owned(), |a| a.to_string());
    match &result {
        Ok(s) => tracing::info!(
            %remote,
            ?role,
            peer = %s.peer.device_id.short(),
            "secure connection established"
        ),
        Err(e) => tracing::info!(%remote, ?role, reason = %e, "connection refused in handshake"),
    }
    result
}

/// Noise's primitives: ChaCha20-Poly1305 from ring (assembly on x86_64 and ARMv8, about twice
/// as fast as the portable crate on a laptop, more on a phone), everything else from snow's
/// portable resolver. The same cipher either way: a peer with the portable one talks with
/// this one (the hand-built peer of `tests/net.rs` is one).
struct Resolver;

impl snow::resolvers::CryptoResolver for Resolver {
    fn resolve_rng(&self) -> Option<Box<dyn snow::types::Random>> {
        snow::resolvers::DefaultResolver.resolve_rng()
    }

    fn resolve_dh(&self, choice: &snow::params::DHChoice) -> Option<Box<dyn snow::types::Dh>> {
        snow::resolvers::DefaultResolver.resolve_dh(choice)
    }

    fn resolve_hash(
        &self,
        choice: &snow::params::HashChoice,
    ) -> Option<Box<dyn snow::types::Hash>> {
        snow::resolvers::DefaultResolver.resolve_hash(choice)
    }

    fn resolve_cipher(
        &self,
        choice: &snow::params::CipherChoice,
    ) -> Option<Box<dyn snow::types::Cipher>> {
        snow::resolvers::RingResolver
            .resolve_cipher(choice)
            .or_else(|| snow::resolvers::DefaultResolver.resolve_cipher(choice))
    }
}

async fn run_handshake<S>(
    stream: S,
    role: Role,
    me: &LocalIdentity,
    timeouts: &Timeouts,
) -> Result<SecureStream<S>, NetError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let (read_half, mut write_half) = tokio::io::split(stream);
    let mut frames = FrameReader::new(read_half);

    let params: snow::params::NoiseParams = NOISE_PATTERN
        .parse()
        .map_err(|_| NetError::Noise(NoiseFailure::Local))?;
    let builder = snow::Builder::with_resolver(params, Box::new(Resolver))
        .local_private_key(me.noise.expose_bytes())?
        .prologue(NOISE_PROLOGUE)?;
    let mut noise = match role {
        Role::Initiator => builder.build_initiator()?,
        Role::Responder => builder.build_responder()?,
    };
    let mut out = [0u8; MAX_HANDSHAKE_FRAME_BYTES];
    let mut payload = [0u8; MAX_HANDSHAKE_FRAME_BYTES];
    while !noise.is_handshake_finished() {
        if noise.is_my_turn() {
            let n = noise.write_message(&[], &mut out)?;
            write_handshake_frame(&mut write_half, out.get(..n).unwrap_or_default()).await?;
        } else {
            // Handshake payloads are unused in this version; a peer's is read and ignored.
            let body = frames.next(1, MAX_HANDSHAKE_FRAME_BYTES).await?;
            noise.read_message(body, &mut payload)?;
        }
    }
    let hash: [u8; HANDSHAKE_HASH_BYTES] = noise
        .get_handshake_hash()
        .try_into()
        .map_err(|_| NetError::Noise(NoiseFailure::Local))?;
    let transport = Arc::new(noise.into_stateless_transport_mode()?);
    let mut reader = SecureReader::new(frames, Arc::clone(&transport), timeouts.read_idle);
    let mut writer = SecureWriter::new(write_half, transport, timeouts.write);

    let ours = Hello::signed(me, role, &hash).encode()?;
    let ((), received) = tokio::try_join!(
        writer.send_unlogged(&ours),
        reader.recv_unlogged(MAX_HELLO_BYTES)
    )?;
    let theirs = Hello::decode(&received)?;
    theirs.verify(role.other(), &hash)?;

    let peer = PeerInfo {
        device_id: theirs.device_id,
        device_name: theirs.device_name,
        device_type: theirs.device_type,
        protocol_version: theirs.protocol_version,
        features: theirs.features,
    };
    reader.set_peer_label(peer.device_id.short());
    writer.set_peer_label(peer.device_id.short());
    Ok(SecureStream {
        reader,
        writer,
        peer,
        handshake_hash: hash,
        role,
    })
}

async fn write_handshake_frame<W: AsyncWrite + Unpin>(
    io: &mut W,
    body: &[u8],
) -> Result<(), NetError> {
    let len = u16::try_from(body.len()).map_err(|_| NetError::Noise(NoiseFailure::Local))?;
    let mut frame = Vec::with_capacity(2 + body.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(body);
    io.write_all(&frame).await?;
    io.flush().await?;
    Ok(())
}

/// Opens a TCP connection to `addr` and runs the handshake as initiator, with the default
/// [`Timeouts`].
pub async fn connect(
    addr: SocketAddr,
    me: &LocalIdentity,
) -> Result<SecureStream<TcpStream>, NetError> {
    connect_with(addr, me, &Timeouts::default()).await
}

/// Opens a TCP connection to `addr` (with `TCP_NODELAY` and `SO_KEEPALIVE`) within
/// `timeouts.connect`, then runs the handshake as initiator.
pub async fn connect_with(
    addr: SocketAddr,
    me: &LocalIdentity,
    timeouts: &Timeouts,
) -> Result<SecureStream<TcpStream>, NetError> {
    let stream = match open_tcp(addr, timeouts.connect).await {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(remote = %addr, reason = %e, "connection failed");
            return Err(e);
        }
    };
    handshake_logged(stream, Role::Initiator, me, timeouts, Some(addr)).await
}

async fn open_tcp(addr: SocketAddr, limit: Duration) -> Result<TcpStream, NetError> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_keepalive(true)?;
    socket.set_nodelay(true)?;
    tokio::time::timeout(limit, socket.connect(addr))
        .await
        .map_err(|_| NetError::Timeout(STEP_CONNECT))?
        .map_err(NetError::from)
}

/// A TCP listener that accepts peers and authenticates them as responder.
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    local_addr: SocketAddr,
    timeouts: Timeouts,
}

impl Listener {
    /// Listens on `addr` (port 0 picks a free port) with the default [`Timeouts`]. Accepted
    /// connections have `TCP_NODELAY` and `SO_KEEPALIVE` set.
    pub async fn bind(addr: SocketAddr) -> Result<Self, NetError> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        // Lets a restarted app take its port back at once. Not on Windows, where the same
        // option would let another program bind the port too.
        #[cfg(unix)]
        socket.set_reuseaddr(true)?;
        // Accepted sockets inherit SO_KEEPALIVE from the listening socket (Linux, BSDs,
        // Android, iOS); tokio offers no way to set it on an accepted stream.
        socket.set_keepalive(true)?;
        socket.bind(addr)?;
        let tcp = socket.listen(LISTEN_BACKLOG)?;
        let local_addr = tcp.local_addr()?;
        Ok(Listener {
            tcp,
            local_addr,
            timeouts: Timeouts::default(),
        })
    }

    /// The same listener, giving accepted connections `timeouts`.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The address it listens on (with the chosen port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Accepts the next TCP connection and runs the handshake as responder. An error concerns
    /// that one connection (or the operating system's accept): the listener stays usable.
    ///
    /// The handshake runs before the next accept, so one slow peer delays others by up to
    /// the handshake timeout; a server should use [`Listener::accept_incoming`] and run each
    /// [`Incoming::handshake`] in its own task.
    pub async fn accept(&self, me: &LocalIdentity) -> Result<SecureStream<TcpStream>, NetError> {
        self.accept_incoming().await?.handshake(me).await
    }

    /// Accepts the next TCP connection without authenticating it yet.
    pub async fn accept_incoming(&self) -> Result<Incoming, NetError> {
        let (stream, remote) = self.tcp.accept().await?;
        stream.set_nodelay(true)?;
        Ok(Incoming {
            stream,
            remote,
            timeouts: self.timeouts,
        })
    }
}

/// A TCP connection accepted but not yet authenticated.
#[derive(Debug)]
pub struct Incoming {
    stream: TcpStream,
    remote: SocketAddr,
    timeouts: Timeouts,
}

impl Incoming {
    /// The address the connection came from (unauthenticated).
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote
    }

    /// Runs the handshake as responder.
    pub async fn handshake(self, me: &LocalIdentity) -> Result<SecureStream<TcpStream>, NetError> {
        handshake_logged(
            self.stream,
            Role::Responder,
            me,
            &self.timeouts,
            Some(self.remote),
        )
        .await
    }
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests;
