//! Connection codes: a short text (for a QR code, or to read out) that says where a device
//! listens and which device it is. Owns the code's format, its checksum and the device
//! fingerprint; does no I/O (the manager dials the addresses and checks the fingerprint).
//!
//! Format: [`CODE_PREFIX`], then Crockford base32 (upper case, no padding) of
//! - the fingerprint: the first [`FINGERPRINT_BYTES`] of a BLAKE3 key derivation over the
//!   device id (context [`FINGERPRINT_CONTEXT`]),
//! - the port, 2 bytes big-endian,
//! - 1 to [`MAX_CODE_ADDRESSES`] addresses, each a kind byte ([`KIND_IPV4`] or
//!   [`KIND_IPV6`]) then its 4 or 16 bytes,
//! - a checksum: the first [`CHECKSUM_BYTES`] of BLAKE3 (context [`CHECKSUM_CONTEXT`]) over
//!   everything before it.
//!
//! Parsing ignores case, spaces and `-`, so a code may be shown in groups. A typo fails the
//! checksum (or the alphabet) and is an error, never a different address. The fingerprint
//! is not secret and identifies nothing by itself; it only lets the dialing device refuse a
//! device other than the one that showed the code.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thiserror::Error;

use crate::ids::DeviceId;

/// What every connection code of this version starts with ("Mapeo Peer", version 1).
pub const CODE_PREFIX: &str = "MP1";
/// What every connection code starts with, whatever its version.
pub const CODE_FAMILY: &str = "MP";
/// Bytes of the device fingerprint in a code.
pub const FINGERPRINT_BYTES: usize = 8;
/// Bytes of the checksum at the end of a code.
pub const CHECKSUM_BYTES: usize = 4;
/// Most addresses one code holds.
pub const MAX_CODE_ADDRESSES: usize = 4;
/// Longest text `parse` looks at, in characters (separators included).
pub const MAX_CODE_CHARS: usize = 256;
/// The kind byte of an IPv4 address.
pub const KIND_IPV4: u8 = 4;
/// The kind byte of an IPv6 address.
pub const KIND_IPV6: u8 = 6;
/// BLAKE3 key-derivation context of the fingerprint.
pub const FINGERPRINT_CONTEXT: &str = "mapeo 2025 connection code device fingerprint v1";
/// BLAKE3 key-derivation context of the checksum.
pub const CHECKSUM_CONTEXT: &str = "mapeo 2025 connection code checksum v1";

const ALPHABET: base32::Alphabet = base32::Alphabet::Crockford;

/// A connection code that could not be made or read. Messages never repeat the code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConnectionCodeError {
    /// The text does not start like a connection code.
    #[error("not a mapeo connection code")]
    NotACode,
    /// A connection code of another version.
    #[error("connection code of an unsupported version")]
    UnsupportedVersion,
    /// The text is longer than any code.
    #[error("connection code is too long")]
    TooLong,
    /// A character outside the code's alphabet.
    #[error("connection code has an invalid character")]
    BadCharacter,
    /// The checksum does not match: most likely a typo.
    #[error("connection code checksum does not match; check it for typos")]
    BadChecksum,
    /// The checksum matches but the content is not a valid code.
    #[error("connection code is malformed")]
    Malformed,
    /// No address to put in the code (none given, or only unspecified ones).
    #[error("no address to put in the connection code")]
    NoAddress,
    /// More addresses than a code holds.
    #[error("a connection code holds at most {max} addresses")]
    TooManyAddresses {
        /// The limit, [`MAX_CODE_ADDRESSES`].
        max: usize,
    },
    /// Port 0 cannot be dialed.
    #[error("a connection code needs a port other than 0")]
    NoPort,
}

/// A parsed connection code: where to dial, and which device should answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionCode {
    addrs: Vec<IpAddr>,
    port: u16,
    fingerprint: [u8; FINGERPRINT_BYTES],
}

/// The fingerprint of `device` that codes carry.
pub fn fingerprint(device: &DeviceId) -> [u8; FINGERPRINT_BYTES] {
    let hash = blake3::derive_key(FINGERPRINT_CONTEXT, device.as_bytes());
    let mut out = [0u8; FINGERPRINT_BYTES];
    out.copy_from_slice(
        hash.get(..FINGERPRINT_BYTES)
            .unwrap_or(&[0; FINGERPRINT_BYTES]),
    );
    out
}

fn checksum(body: &[u8]) -> [u8; CHECKSUM_BYTES] {
    let hash = blake3::derive_key(CHECKSUM_CONTEXT, body);
    let mut out = [0u8; CHECKSUM_BYTES];
    out.copy_from_slice(hash.get(..CHECKSUM_BYTES).unwrap_or(&[0; CHECKSUM_BYTES]));
    out
}

/// The code for `device` listening on `port` at `addrs` (in order of preference).
/// Unspecified addresses (`0.0.0.0`, `::`) are left out; at least one must remain.
pub fn encode(
    addrs: &[IpAddr],
    port: u16,
    device: &DeviceId,
) -> Result<String, ConnectionCodeError> {
    let addrs: Vec<IpAddr> = addrs
        .iter()
        .map(|a| a.to_canonical())
        .filter(|a| !a.is_unspecified())
        .collect();
    if addrs.is_empty() {
        return Err(ConnectionCodeError::NoAddress);
    }
    if addrs.len() > MAX_CODE_ADDRESSES {
        return Err(ConnectionCodeError::TooManyAddresses {
            max: MAX_CODE_ADDRESSES,
        });
    }
    if port == 0 {
        return Err(ConnectionCodeError::NoPort);
    }
    let mut body = Vec::with_capacity(FINGERPRINT_BYTES + 2 + 17 * addrs.len() + CHECKSUM_BYTES);
    body.extend_from_slice(&fingerprint(device));
    body.extend_from_slice(&port.to_be_bytes());
    for a in &addrs {
        match a {
            IpAddr::V4(v4) => {
                body.push(KIND_IPV4);
                body.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                body.push(KIND_IPV6);
                body.extend_from_slice(&v6.octets());
            }
        }
    }
    let sum = checksum(&body);
    body.extend_from_slice(&sum);
    Ok(format!("{CODE_PREFIX}{}", base32::encode(ALPHABET, &body)))
}

/// Reads a connection code (case, spaces and `-` ignored).
pub fn parse(text: &str) -> Result<ConnectionCode, ConnectionCodeError> {
    if text.chars().count() > MAX_CODE_CHARS {
        return Err(ConnectionCodeError::TooLong);
    }
    let clean: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let Some(rest) = clean.strip_prefix(CODE_FAMILY) else {
        return Err(ConnectionCodeError::NotACode);
    };
    let Some(data) = clean.strip_prefix(CODE_PREFIX) else {
        return Err(if rest.starts_with(|c: char| c.is_ascii_digit()) {
            ConnectionCodeError::UnsupportedVersion
        } else {
            ConnectionCodeError::NotACode
        });
    };
    if !data.is_ascii() {
        return Err(ConnectionCodeError::BadCharacter);
    }
    let bytes = base32::decode(ALPHABET, data).ok_or(ConnectionCodeError::BadCharacter)?;
    // Only the canonical spelling is accepted: a typo in the unused bits of the last
    // character, or a look-alike letter, must not pass as the same code.
    if base32::encode(ALPHABET, &bytes) != data {
        return Err(ConnectionCodeError::BadChecksum);
    }
    let split = bytes
        .len()
        .checked_sub(CHECKSUM_BYTES)
        .ok_or(ConnectionCodeError::BadChecksum)?;
    let (body, sum) = bytes.split_at(split);
    if checksum(body) != sum {
        return Err(ConnectionCodeError::BadChecksum);
    }
    decode_body(body)
}

fn take<'a>(cursor: &mut &'a [u8], n: usize) -> Result<&'a [u8], ConnectionCodeError> {
    if cursor.len() < n {
        return Err(ConnectionCodeError::Malformed);
    }
    let (head, tail) = cursor.split_at(n);
    *cursor = tail;
    Ok(head)
}

fn decode_body(body: &[u8]) -> Result<ConnectionCode, ConnectionCodeError> {
    let mut cursor = body;
    let mut fp = [0u8; FINGERPRINT_BYTES];
    fp.copy_from_slice(take(&mut cursor, FINGERPRINT_BYTES)?);
    let mut port = [0u8; 2];
    port.copy_from_slice(take(&mut cursor, 2)?);
    let port = u16::from_be_bytes(port);
    if port == 0 {
        return Err(ConnectionCodeError::Malformed);
    }
    let mut addrs = Vec::new();
    while !cursor.is_empty() {
        if addrs.len() == MAX_CODE_ADDRESSES {
            return Err(ConnectionCodeError::Malformed);
        }
        let kind = take(&mut cursor, 1)?;
        let addr = match kind {
            [KIND_IPV4] => {
                let mut o = [0u8; 4];
                o.copy_from_slice(take(&mut cursor, 4)?);
                IpAddr::V4(Ipv4Addr::from(o))
            }
            [KIND_IPV6] => {
                let mut o = [0u8; 16];
                o.copy_from_slice(take(&mut cursor, 16)?);
                IpAddr::V6(Ipv6Addr::from(o))
            }
            _ => return Err(ConnectionCodeError::Malformed),
        };
        if addr.is_unspecified() {
            return Err(ConnectionCodeError::Malformed);
        }
        addrs.push(addr);
    }
    if addrs.is_empty() {
        return Err(ConnectionCodeError::Malformed);
    }
    Ok(ConnectionCode {
        addrs,
        port,
        fingerprint: fp,
    })
}

impl ConnectionCode {
    /// The addresses, in the order to try them.
    pub fn addrs(&self) -> &[IpAddr] {
        &self.addrs
    }

    /// The port the device listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The addresses with the port, in the order to try them.
    pub fn socket_addrs(&self) -> Vec<SocketAddr> {
        self.addrs
            .iter()
            .map(|a| SocketAddr::new(*a, self.port))
            .collect()
    }

    /// The fingerprint of the device that showed the code.
    pub fn fingerprint(&self) -> [u8; FINGERPRINT_BYTES] {
        self.fingerprint
    }

    /// Whether `device` is the device that showed the code.
    pub fn matches(&self, device: &DeviceId) -> bool {
        fingerprint(device) == self.fingerprint
    }
}

impl std::str::FromStr for ConnectionCode {
    type Err = ConnectionCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}
