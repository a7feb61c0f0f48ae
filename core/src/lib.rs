//! Mapeo core: offline, peer-to-peer mapping and monitoring. Owns all logic — identity, signed
//! feeds, documents and their index, projects — and knows nothing of FFI or platforms.

pub mod attachments;
pub mod backup_code;
pub mod blobs;
pub mod connection_code;
pub mod crypto;
pub mod db;
pub mod discovery;
pub mod error;
pub mod feed;
pub mod ids;
pub mod index;
pub mod invites;
pub mod manager;
pub mod maps;
pub mod net;
pub mod project;
pub mod roles;
pub mod schema;
pub mod sync;

pub use attachments::BlobPolicy;
pub use backup_code::BackupCode;
pub use connection_code::ConnectionCode;
pub use crypto::{JoinDetails, RootKey};
pub use error::{Error, Result};
pub use ids::{BlobHash, DeviceId, DocId, Namespace, ProjectId, Timestamp, VersionId};
pub use index::{BoundingBox, Document, Query};
pub use manager::{Manager, ProjectStatus, ProjectSummary};
pub use project::{Member, Project};
pub use sync::PeerRole;
