//! Shared helpers for scenarios that cross crates or processes. Owns no product logic.

use mapeo_core::RootKey;

/// A deterministic root key for test device `seed`.
pub fn test_root_key(seed: u8) -> RootKey {
    RootKey::from_bytes([seed; 16])
}
