//! Mapeo core: offline, peer-to-peer mapping and monitoring. Owns all logic — identity, signed
//! feeds, documents and their index, projects — and knows nothing of FFI or platforms.

pub mod crypto;
pub mod ids;
pub mod schema;
