//! Framing of an established Noise session: cuts application messages into Noise transport
//! messages and puts them back together, under the limits and timeouts of [`super`]. Owns the
//! per-direction nonce counters and the reassembly state; must not interpret what a message
//! says, nor allocate more than a peer has actually sent (and never past the limit): a
//! message's buffer grows with what arrives, except that one no larger than a message the
//! peer already sent whole on this connection is allocated at once.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use snow::StatelessTransportState;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{
    MAX_MESSAGE_BYTES, MAX_NOISE_FRAME_BYTES, NetError, NoiseFailure, STEP_READ, STEP_WRITE,
};

/// Bytes of the length before every Noise message.
const LEN_BYTES: usize = 2;
/// Bytes of the length at the start of every application message.
const HEADER_BYTES: usize = 4;
/// Bytes of the Poly1305 tag of every transport message.
const TAG_BYTES: usize = 16;
/// Most plaintext one transport message carries.
const MAX_CHUNK: usize = MAX_NOISE_FRAME_BYTES - TAG_BYTES;
/// Most message bytes the first transport message of a message carries (after the length).
#[cfg(test)]
const MAX_FIRST_CHUNK: usize = MAX_CHUNK - HEADER_BYTES;

/// Reads length-prefixed Noise messages, one at a time, into a fixed buffer.
pub(super) struct FrameReader<R> {
    io: R,
    buf: Vec<u8>,
    filled: usize,
    complete: bool,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub(super) fn new(io: R) -> Self {
        FrameReader {
            io,
            buf: vec![0; LEN_BYTES + MAX_NOISE_FRAME_BYTES],
            filled: 0,
            complete: false,
        }
    }

    /// The next whole frame's body, of `min..=max` bytes. Cancel-safe: bytes read before a
    /// cancellation stay buffered for the next call. A declared length outside the bounds is
    /// an error before its body is read.
    pub(super) async fn next(&mut self, min: usize, max: usize) -> Result<&[u8], NetError> {
        if self.complete {
            self.filled = 0;
            self.complete = false;
        }
        let max = max.min(MAX_NOISE_FRAME_BYTES);
        let end = loop {
            let want = match self.buf.first_chunk::<LEN_BYTES>() {
                Some(len) if self.filled >= LEN_BYTES => {
                    let declared = usize::from(u16::from_be_bytes(*len));
                    if declared > max {
                        return Err(NetError::MessageTooLarge { declared, max });
                    }
                    if declared < min {
                        return Err(NetError::Malformed);
                    }
                    LEN_BYTES + declared
                }
                _ => LEN_BYTES,
            };
            if self.filled >= LEN_BYTES && self.filled == want {
                break want;
            }
            let space = self
                .buf
                .get_mut(self.filled..want)
                .ok_or(NetError::Malformed)?;
            let n = self.io.read(space).await?;
            if n == 0 {
                return Err(if self.filled == 0 {
                    NetError::Closed
                } else {
                    std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into()
                });
            }
            self.filled += n;
        };
        self.complete = true;
        self.buf.get(LEN_BYTES..end).ok_or(NetError::Malformed)
    }

    /// True when no frame is partly read.
    fn at_boundary(&self) -> bool {
        self.filled == 0 || self.complete
    }
}

/// Puts application messages back together from decrypted transport messages.
#[derive(Debug, Default)]
pub(super) struct Assembler {
    partial: Option<Partial>,
    /// The largest message completed so far: one no larger gets its whole buffer at once
    /// (the peer has shown it sends that much), instead of growing it by doubling, which
    /// copies each message about once more and touches fresh memory at every step.
    largest: usize,
}

#[derive(Debug)]
struct Partial {
    expected: usize,
    data: Vec<u8>,
}

impl Assembler {
    /// Takes the plaintext of the next transport message; returns a message once complete.
    /// The first chunk's declared length is checked against `max` before anything is kept.
    pub(super) fn push(&mut self, chunk: &[u8], max: usize) -> Result<Option<Vec<u8>>, NetError> {
        let (mut part, body) = match self.partial.take() {
            None => {
                let (header, body) = chunk
                    .split_first_chunk::<HEADER_BYTES>()
                    .ok_or(NetError::Malformed)?;
                let declared = usize::try_from(u32::from_be_bytes(*header)).unwrap_or(usize::MAX);
                if declared > max {
                    return Err(NetError::MessageTooLarge { declared, max });
                }
                let data = if declared <= self.largest {
                    Vec::with_capacity(declared)
                } else {
                    Vec::new()
                };
                let part = Partial {
                    expected: declared,
                    data,
                };
                (part, body)
            }
            // A continuation that carries nothing would let a peer keep us busy forever.
            Some(_) if chunk.is_empty() => return Err(NetError::Malformed),
            Some(part) => (part, chunk),
        };
        let have = part.data.len();
        if body.len() > part.expected - have {
            return Err(NetError::Malformed);
        }
        if have + body.len() > part.data.capacity() {
            // Grow by doubling, but never past what the peer declared.
            let target = (have + body.len())
                .max(part.data.capacity().saturating_mul(2))
                .min(part.expected);
            part.data.reserve_exact(target - have);
        }
        part.data.extend_from_slice(body);
        if part.data.len() == part.expected {
            self.largest = self.largest.max(part.expected);
            Ok(Some(part.data))
        } else {
            self.partial = Some(part);
            Ok(None)
        }
    }

    fn is_idle(&self) -> bool {
        self.partial.is_none()
    }
}

/// The receiving half of a secure connection.
pub struct SecureReader<R> {
    frames: FrameReader<R>,
    transport: Arc<StatelessTransportState>,
    nonce: u64,
    plain: Vec<u8>,
    assembler: Assembler,
    idle_timeout: Duration,
    failed: bool,
    peer: String,
}

impl<R> fmt::Debug for SecureReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecureReader")
            .field("peer", &self.peer)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<R: AsyncRead + Unpin + Send> SecureReader<R> {
    pub(super) fn new(
        frames: FrameReader<R>,
        transport: Arc<StatelessTransportState>,
        idle_timeout: Duration,
    ) -> Self {
        SecureReader {
            frames,
            transport,
            nonce: 0,
            plain: vec![0; MAX_NOISE_FRAME_BYTES],
            assembler: Assembler::default(),
            idle_timeout,
            failed: false,
            peer: "-".to_owned(),
        }
    }

    pub(super) fn set_peer_label(&mut self, label: String) {
        self.peer = label;
    }

    /// Receives the next whole message, of at most [`MAX_MESSAGE_BYTES`]. Each Noise message
    /// of it must arrive within the read idle timeout, or the result is
    /// [`NetError::Timeout`]; the peer closing between messages is [`NetError::Closed`].
    ///
    /// Cancel-safe: dropping the future before it completes loses nothing, and the next call
    /// carries on (so it can sit in a `select!`). After an error every call returns
    /// [`NetError::Closed`].
    pub async fn recv(&mut self) -> Result<Vec<u8>, NetError> {
        let was_failed = self.failed;
        let result = self.recv_unlogged(MAX_MESSAGE_BYTES).await;
        if let Err(e) = &result
            && !was_failed
        {
            tracing::info!(peer = %self.peer, reason = %e, "connection closed while reading");
        }
        result
    }

    /// [`recv`](Self::recv) with a smaller limit and no log line.
    pub(super) async fn recv_unlogged(&mut self, max: usize) -> Result<Vec<u8>, NetError> {
        if self.failed {
            return Err(NetError::Closed);
        }
        let result = self.recv_inner(max).await;
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    async fn recv_inner(&mut self, max: usize) -> Result<Vec<u8>, NetError> {
        loop {
            let read = self.frames.next(TAG_BYTES, MAX_NOISE_FRAME_BYTES);
            let frame = match tokio::time::timeout(self.idle_timeout, read).await {
                Err(_) => return Err(NetError::Timeout(STEP_READ)),
                Ok(Err(NetError::Closed)) if !self.assembler.is_idle() => {
                    return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
                }
                Ok(frame) => frame?,
            };
            let n = self
                .transport
                .read_message(self.nonce, frame, &mut self.plain)?;
            self.nonce = self
                .nonce
                .checked_add(1)
                .ok_or(NetError::Noise(NoiseFailure::Local))?;
            let chunk = self.plain.get(..n).ok_or(NetError::Malformed)?;
            if let Some(msg) = self.assembler.push(chunk, max)? {
                return Ok(msg);
            }
        }
    }

    /// True when no message is partly received.
    pub fn at_message_boundary(&self) -> bool {
        self.assembler.is_idle() && self.frames.at_boundary()
    }
}

/// Encrypts and writes transport messages.
struct FrameWriter<W> {
    io: W,
    transport: Arc<StatelessTransportState>,
    nonce: u64,
    frame: Vec<u8>,
    timeout: Duration,
}

impl<W: AsyncWrite + Unpin + Send> FrameWriter<W> {
    async fn write(&mut self, plaintext: &[u8]) -> Result<(), NetError> {
        let body = self
            .frame
            .get_mut(LEN_BYTES..)
            .ok_or(NetError::Noise(NoiseFailure::Local))?;
        let n = self.transport.write_message(self.nonce, plaintext, body)?;
        self.nonce = self
            .nonce
            .checked_add(1)
            .ok_or(NetError::Noise(NoiseFailure::Local))?;
        let len = u16::try_from(n).map_err(|_| NetError::Noise(NoiseFailure::Local))?;
        let out = self
            .frame
            .get_mut(..LEN_BYTES + n)
            .ok_or(NetError::Noise(NoiseFailure::Local))?;
        out[..LEN_BYTES].copy_from_slice(&len.to_be_bytes());
        tokio::time::timeout(self.timeout, self.io.write_all(out))
            .await
            .map_err(|_| NetError::Timeout(STEP_WRITE))??;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), NetError> {
        tokio::time::timeout(self.timeout, self.io.flush())
            .await
            .map_err(|_| NetError::Timeout(STEP_WRITE))??;
        Ok(())
    }
}

/// Moves bytes from `current`, then from the following parts, into `stage` until it holds
/// one Noise message's worth or the parts run out.
fn gather<'a>(stage: &mut Vec<u8>, current: &mut &'a [u8], rest: &mut &'a [&'a [u8]]) {
    while stage.len() < MAX_CHUNK {
        if current.is_empty() {
            match rest.split_first() {
                Some((p, more)) => (*current, *rest) = (p, more),
                None => return,
            }
        }
        let n = (MAX_CHUNK - stage.len()).min(current.len());
        let (now, later) = current.split_at(n);
        stage.extend_from_slice(now);
        *current = later;
    }
}

/// Whether no bytes are left in `parts`.
fn all_empty(parts: &[&[u8]]) -> bool {
    parts.iter().all(|p| p.is_empty())
}

/// The sending half of a secure connection.
pub struct SecureWriter<W> {
    out: FrameWriter<W>,
    first: Vec<u8>,
    failed: bool,
    peer: String,
}

impl<W> fmt::Debug for SecureWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecureWriter")
            .field("peer", &self.peer)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<W: AsyncWrite + Unpin + Send> SecureWriter<W> {
    pub(super) fn new(io: W, transport: Arc<StatelessTransportState>, timeout: Duration) -> Self {
        SecureWriter {
            out: FrameWriter {
                io,
                transport,
                nonce: 0,
                frame: vec![0; LEN_BYTES + MAX_NOISE_FRAME_BYTES],
                timeout,
            },
            first: Vec::with_capacity(MAX_CHUNK),
            failed: false,
            peer: "-".to_owned(),
        }
    }

    pub(super) fn set_peer_label(&mut self, label: String) {
        self.peer = label;
    }

    /// Sends one message of at most [`MAX_MESSAGE_BYTES`] and flushes it. The peer must take
    /// each Noise message of it within the write timeout, or the result is
    /// [`NetError::Timeout`].
    ///
    /// A message over the limit is refused ([`NetError::MessageTooLarge`]) with nothing sent,
    /// and the writer stays usable. Any other error, or dropping the future before it
    /// completes, leaves part of a message on the wire: every later call then returns
    /// [`NetError::Closed`].
    pub async fn send(&mut self, msg: &[u8]) -> Result<(), NetError> {
        self.send_parts(&[msg]).await
    }

    /// [`send`](Self::send) for a message made of `parts`, one after the other: each Noise
    /// message is encrypted straight from the part it lies in (only one that straddles two
    /// parts is gathered first). The wire bytes are those of sending the joined message.
    pub async fn send_parts(&mut self, parts: &[&[u8]]) -> Result<(), NetError> {
        let was_failed = self.failed;
        let result = self.send_unlogged_parts(parts).await;
        if let Err(e) = &result
            && !was_failed
            && self.failed
        {
            tracing::info!(peer = %self.peer, reason = %e, "connection closed while writing");
        }
        result
    }

    /// [`send`](Self::send) with no log line.
    pub(super) async fn send_unlogged(&mut self, msg: &[u8]) -> Result<(), NetError> {
        self.send_unlogged_parts(&[msg]).await
    }

    async fn send_unlogged_parts(&mut self, parts: &[&[u8]]) -> Result<(), NetError> {
        let len = parts
            .iter()
            .map(|p| p.len())
            .fold(0usize, usize::saturating_add);
        if len > MAX_MESSAGE_BYTES {
            return Err(NetError::MessageTooLarge {
                declared: len,
                max: MAX_MESSAGE_BYTES,
            });
        }
        if self.failed {
            return Err(NetError::Closed);
        }
        // Stays set if this call fails or is dropped half-way.
        self.failed = true;
        let declared = u32::try_from(len).map_err(|_| NetError::MessageTooLarge {
            declared: len,
            max: MAX_MESSAGE_BYTES,
        })?;
        let mut rest = parts;
        let mut current: &[u8] = &[];
        // The first Noise message carries the length, then as many bytes as fit.
        self.first.clear();
        self.first.extend_from_slice(&declared.to_be_bytes());
        gather(&mut self.first, &mut current, &mut rest);
        self.out.write(&self.first).await?;
        loop {
            if current.is_empty() {
                match rest.split_first() {
                    Some((p, more)) => (current, rest) = (p, more),
                    None => break,
                }
                continue;
            }
            if current.len() >= MAX_CHUNK || all_empty(rest) {
                let (now, later) = current.split_at(current.len().min(MAX_CHUNK));
                self.out.write(now).await?;
                current = later;
            } else {
                self.first.clear();
                gather(&mut self.first, &mut current, &mut rest);
                self.out.write(&self.first).await?;
            }
        }
        self.out.flush().await?;
        self.failed = false;
        Ok(())
    }

    /// Flushes and closes the sending direction, so the peer's reader sees
    /// [`NetError::Closed`] once it has read everything sent before.
    pub async fn close(&mut self) -> Result<(), NetError> {
        self.failed = true;
        tokio::time::timeout(self.out.timeout, self.out.io.shutdown())
            .await
            .map_err(|_| NetError::Timeout(STEP_WRITE))??;
        Ok(())
    }

    #[cfg(test)]
    pub(super) fn into_inner(self) -> W {
        self.out.io
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
