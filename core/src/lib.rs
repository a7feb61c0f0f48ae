//! Mapeo core: offline, peer-to-peer mapping and monitoring. Owns all logic — identity, signed
//! feeds, documents and their index, projects — and knows nothing of FFI or platforms.
//!
//! Layers, each using only the ones below it (bottom first):
//!
//! ```text
//! sync_file                     sync by file: a project's entries and media carried in a file
//! manager                       the device: opens stores, owns projects, network, invites, map
//!                               shares, repair
//! server                        the local map and media server (HTTP on loopback, per-start
//!                               secret); given the map store and the projects it may serve
//! project  attachments          a project's documents, members, media; categories files above it
//! categories  invites
//! sync   net   discovery        replication over any message stream; TCP + Noise; mDNS
//! epochs                        key epochs: removal that locks out (records in auth)
//! index  roles                  views derived from feeds; who may write what
//! feed   blobs   maps           signed encrypted logs (the truth); content-addressed files,
//!                               sealed at rest; the device's offline map packages, sealed at
//!                               rest too (the server reads them; MBTiles through a read-only
//!                               SQLite VFS over the sealed file)
//! db  at_rest  schema            SQLite open (SQLCipher keys), migrations, damage; the data
//!                               folder's salt, in-place encryption of databases and sealing
//!                               of files; document types, checks
//! ids  crypto  backup_code  connection_code  sealed_file (files sealed at rest, by chunk)
//! ```
//!
//! Edges that still go the wrong way, to cut when a change passes through them: invite
//! messages ride `sync`'s session while `invites` uses `sync`'s replica trait; `project` and
//! `attachments` call each other; `error` wraps the
//! errors of `sync`, `attachments` and `discovery`, which return it in places. New errors live
//! in their own module (`CategoriesError`, `MapError`, `MapShareError`, `ServerError`,
//! `PatrolError`, `SyncFileError`, `StoreError::Damaged`).

pub mod at_rest;
pub mod attachments;
pub mod backup_code;
pub mod blobs;
pub mod categories;
pub mod connection_code;
pub mod crypto;
pub mod db;
pub mod discovery;
pub mod epochs;
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
pub mod sealed_file;
pub mod server;
pub mod sync;
pub mod sync_file;

pub use attachments::BlobPolicy;
pub use backup_code::BackupCode;
pub use connection_code::ConnectionCode;
pub use crypto::{JoinDetails, RootKey};
pub use error::{Error, Result};
pub use ids::{BlobHash, DeviceId, DocId, Namespace, ProjectId, Timestamp, VersionId};
pub use index::{BoundingBox, Document, Query};
pub use manager::{Manager, ProjectStatus, ProjectSummary, Repaired, Wipe};
pub use project::{Member, Project};
pub use roles::PeerRole;
