//! Shared helpers for scenarios that cross crates or processes. Owns no product logic.

use mapeo_core::RootKey;

/// A deterministic root key for test device `seed`.
pub fn test_root_key(seed: u8) -> RootKey {
    RootKey::from_bytes([seed; 16])
}

/// `len` deterministic pseudo-random bytes for `seed` behind an MP4 `ftyp` box: a stand-in
/// for a video file, the same in every process.
pub fn test_video(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0, 0, 0, 0x18];
    out.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2");
    // xorshift64*: fast, and enough to make every byte depend on the seed.
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len.max(24));
    out
}
