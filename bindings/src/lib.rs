//! mapeo-ffi: the UniFFI facade over `mapeo-core`, built as the native library the apps load
//! (`cdylib` for Android and the JVM, `staticlib` for iOS). Owns the shapes the app sees —
//! objects ([`Mapeo`], [`Project`], [`TaskHandle`]), records, the one [`MapeoError`], the
//! listener traits — and the async runtime; holds no Mapeo logic: each method is a core call
//! and a conversion.
//!
//! Kotlin, Swift and Python bindings are generated from the built library by this workspace's
//! `uniffi-bindgen` (`scripts/bindings.sh`).
//!
//! Each feature area adds exported `impl Mapeo` / `impl Project` blocks in a file of its own:
//! `device.rs`, `network.rs`, `invites.rs` (members too), `attachments.rs` (and the blob
//! policy), `documents.rs`, `maps.rs` (offline maps and the local server's URLs),
//! `map_points.rs` (the map's points), `tracks.rs` (patrols), `sync_file.rs` (sync by file).

uniffi::setup_scaffolding!();

#[cfg(target_os = "android")]
mod android;
mod attachments;
mod categories;
mod device;
mod documents;
mod error;
mod invites;
mod listen;
mod map_points;
mod map_share;
mod maps;
mod network;
mod project;
mod records;
mod repair;
mod runtime;
mod sync_file;
mod tracks;

pub use attachments::{
    AttachmentFile, AttachmentVariant, BlobPolicy, archive_blob_policy, previews_only_blob_policy,
};
pub use categories::{Category, CategoryField, ImportedCategories};
pub use device::{Mapeo, backup_code, generate_root_key, root_key_from_backup_code};
pub use documents::{
    Attachment, AttachmentKind, BoundingBox, Coords, DocMeta, DocRef, Field, FieldDoc, FieldOption,
    FieldType, Geometry, Observation, ObservationDoc, ObservationMetadata, Position,
    PositionProvider, Preset, PresetDoc, Query, TagPrimitive, TagValue, Track, TrackDoc,
    TrackPoint,
};
pub use error::MapeoError;
pub use invites::{InviteOutcome, InviteRole, InviteState, Member, ReceivedInvite, SentInvite};
pub use listen::{
    InviteListener, LISTENER_MIN_INTERVAL, PeerListener, RoleListener, SyncListener, TaskHandle,
};
pub use map_points::{MapPoints, ProjectChangeListener, map_points_limit};
pub use map_share::{MapShare, MapShareDirection, MapShareListener, MapShareState};
pub use maps::{IconSize, MapBounds, MapFormat, MapInfo};
pub use project::Project;
pub use records::{
    AssignableRole, DeviceInfo, DeviceType, DiscoveryOptions, PeerInfo, PeerSyncState,
    ProjectSettings, ProjectStatus, ProjectSummary, Role, SyncPhase,
};
pub use repair::RepairReport;
pub use runtime::{RunningTasks, running_tasks};
pub use sync_file::{
    LeftOutMedia, SyncFileExport, SyncFileImport, SyncFileListener, SyncFileMedia, SyncFileOptions,
    SyncFileStage,
};
pub use tracks::{
    PatrolFilter, PatrolRecording, PatrolSummary, PositionOutcome, patrol_filter,
    track_distance_metres, track_duration_ms,
};
