//! The plain records and enums the app sees for the device, projects, peers, sync and roles,
//! and their conversions from and to the core's types. Conversions only: what a value means is
//! decided in the core. Ids cross the boundary as their text forms (hex, `author/ns/seq`),
//! times as milliseconds since the Unix epoch.

use std::net::{IpAddr, SocketAddr};

use mapeo_core::PeerRole;
use mapeo_core::discovery::{DiscoveryOptions as CoreDiscoveryOptions, Interfaces};
use mapeo_core::manager::PeerStatus;
use mapeo_core::schema;
use mapeo_core::sync::{PeerSyncState as CorePeerSyncState, SyncPhase as CorePhase};
use mapeo_core::{DeviceId, ProjectId};

use crate::error::MapeoError;

/// What kind of device this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DeviceType {
    /// A phone.
    Mobile,
    /// A tablet.
    Tablet,
    /// A desktop or laptop computer.
    Desktop,
    /// An always-on peer with no user.
    Server,
}

/// A device's name and kind, as its owner set them.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct DeviceInfo {
    /// The name other members see.
    pub name: String,
    /// What kind of device it is.
    pub device_type: DeviceType,
}

/// A project's name, description and color. Every field may be unset.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct ProjectSettings {
    /// The project name.
    #[uniffi(default = None)]
    pub name: Option<String>,
    /// A description.
    #[uniffi(default = None)]
    pub project_description: Option<String>,
    /// Color as `#RRGGBB` or `#RRGGBBAA`.
    #[uniffi(default = None)]
    pub project_color: Option<String>,
}

/// Whether this device is still in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ProjectStatus {
    /// Accepted an invite; the record of its role has not arrived yet (next sync).
    Joining,
    /// A member: syncs and writes.
    Joined,
    /// Left: keeps only its own data, writes nothing.
    Left,
}

/// A project as listed on this device.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct ProjectSummary {
    /// The project's id (64 hex characters).
    pub project_id: String,
    /// Its settings as this device knows them (empty until synced, for a new member).
    pub settings: ProjectSettings,
    /// Joined or left.
    pub status: ProjectStatus,
    /// When this device joined or created it, ms since the epoch.
    pub joined_at: i64,
    /// Its store is damaged: it reads and writes nothing until repaired
    /// (`Mapeo.repairProject`), and its settings are unknown (empty) meanwhile.
    #[uniffi(default = false)]
    pub damaged: bool,
}

/// A device's role in a project, as this device knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Role {
    /// Created the project (provable from the project key).
    Creator,
    /// Manages the project: writes everything, assigns roles.
    Coordinator,
    /// Records data.
    Member,
    /// Removed: gets nothing but the news that it was blocked.
    Blocked,
    /// Left the project.
    Left,
    /// Known but without a role yet.
    NoRole,
}

/// A role that can be given to another device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AssignableRole {
    /// Manages the project.
    Coordinator,
    /// Records data.
    Member,
    /// Removed from the project.
    Blocked,
}

/// A device seen on the network.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct PeerInfo {
    /// Its proven identity (64 hex characters).
    pub device_id: String,
    /// The name it gave.
    pub name: String,
    /// The kind of device it said it is.
    pub device_type: DeviceType,
    /// Whether a session with it is up.
    pub connected: bool,
}

/// Which part of a project is being exchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncPhase {
    /// Roles and configuration (presets, fields, settings) still moving.
    Initial,
    /// Roles and configuration done; observations and tracks moving or done.
    Full,
}

/// The exchange of one project with one peer, exactly: counts are entries, or blobs and bytes
/// where named so.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct PeerSyncState {
    /// The peer (64 hex characters).
    pub peer: String,
    /// Whether the session is up.
    pub connected: bool,
    /// Whether the peer has told what it holds; nothing counts as synced before.
    pub peer_known: bool,
    /// Whether the peer has data sync on (this device's switch is `data_sync_local`).
    pub peer_data_sync: bool,
    /// Roles and configuration the peer has and this device still lacks.
    pub initial_wanted: u64,
    /// Roles and configuration this device has and the peer has not confirmed.
    pub initial_to_send: u64,
    /// Observations and tracks the peer has and this device still lacks (while both sync data).
    pub data_wanted: u64,
    /// Observations and tracks this device has and the peer has not confirmed.
    pub data_to_send: u64,
    /// Entries received from the peer in this session.
    pub received: u64,
    /// Entries sent to the peer in this session.
    pub sent: u64,
    /// Whether the peer has told which attachment files (blobs) it holds; no blob counts as
    /// synced before.
    pub peer_blobs_known: bool,
    /// Blobs the peer holds that this device's blob policy wants and it lacks.
    pub blobs_wanted: u64,
    /// Their bytes still to come (less what earlier, interrupted transfers left here).
    pub blob_bytes_wanted: u64,
    /// Blobs the peer asked for that this device has not finished sending.
    pub blobs_to_send: u64,
    /// Their bytes still to send.
    pub blob_bytes_to_send: u64,
    /// Blob bytes received from the peer in this session.
    pub blob_bytes_received: u64,
    /// Blob bytes sent to the peer in this session.
    pub blob_bytes_sent: u64,
    /// The phase the exchange is in.
    pub phase: SyncPhase,
    /// Connected, and nothing left to exchange of roles and configuration (the initial
    /// phase), whatever the data-sync switches.
    pub initial_synced: bool,
    /// Connected, data sync on on both sides, and nothing left to exchange at all, data and
    /// attachment files included (what is shown as 100%). False while either side has data
    /// sync off: the state then covers only roles and configuration (`initial_synced`).
    /// False for a disconnected peer: what it holds, and what was written since, is unknown.
    pub fully_synced: bool,
    /// Whether this device had data sync on for the project when this was computed (the
    /// peer's switch is `peer_data_sync`): data counts are kept only while both are on.
    #[uniffi(default = false)]
    pub data_sync_local: bool,
}

/// How to run local discovery.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct DiscoveryOptions {
    /// Only these network interfaces (by name); unset: every interface, as devices use.
    #[uniffi(default = None)]
    pub interfaces: Option<Vec<String>>,
}

impl From<schema::DeviceType> for DeviceType {
    fn from(t: schema::DeviceType) -> Self {
        match t {
            schema::DeviceType::Mobile => DeviceType::Mobile,
            schema::DeviceType::Tablet => DeviceType::Tablet,
            schema::DeviceType::Desktop => DeviceType::Desktop,
            schema::DeviceType::Server => DeviceType::Server,
        }
    }
}

impl From<DeviceType> for schema::DeviceType {
    fn from(t: DeviceType) -> Self {
        match t {
            DeviceType::Mobile => schema::DeviceType::Mobile,
            DeviceType::Tablet => schema::DeviceType::Tablet,
            DeviceType::Desktop => schema::DeviceType::Desktop,
            DeviceType::Server => schema::DeviceType::Server,
        }
    }
}

impl From<schema::DeviceInfo> for DeviceInfo {
    fn from(i: schema::DeviceInfo) -> Self {
        DeviceInfo {
            name: i.name,
            device_type: i.device_type.into(),
        }
    }
}

impl From<DeviceInfo> for schema::DeviceInfo {
    fn from(i: DeviceInfo) -> Self {
        schema::DeviceInfo {
            name: i.name,
            device_type: i.device_type.into(),
        }
    }
}

impl From<schema::ProjectSettings> for ProjectSettings {
    fn from(s: schema::ProjectSettings) -> Self {
        ProjectSettings {
            name: s.name,
            project_description: s.project_description,
            project_color: s.project_color,
        }
    }
}

impl From<ProjectSettings> for schema::ProjectSettings {
    fn from(s: ProjectSettings) -> Self {
        // The category selection and metadata are the core's to keep (see
        // `Project::set_settings`): an app setting the name leaves them as they are.
        schema::ProjectSettings {
            name: s.name,
            project_description: s.project_description,
            project_color: s.project_color,
            ..schema::ProjectSettings::default()
        }
    }
}

impl From<mapeo_core::ProjectStatus> for ProjectStatus {
    fn from(s: mapeo_core::ProjectStatus) -> Self {
        match s {
            mapeo_core::ProjectStatus::Joining => ProjectStatus::Joining,
            mapeo_core::ProjectStatus::Joined => ProjectStatus::Joined,
            mapeo_core::ProjectStatus::Left => ProjectStatus::Left,
        }
    }
}

impl From<mapeo_core::ProjectSummary> for ProjectSummary {
    fn from(s: mapeo_core::ProjectSummary) -> Self {
        ProjectSummary {
            project_id: s.project_id.to_string(),
            settings: s.settings.into(),
            status: s.status.into(),
            joined_at: s.joined_at.0,
            damaged: s.damaged,
        }
    }
}

impl From<PeerRole> for Role {
    fn from(r: PeerRole) -> Self {
        match r {
            PeerRole::Creator => Role::Creator,
            PeerRole::Coordinator => Role::Coordinator,
            PeerRole::Member => Role::Member,
            PeerRole::Blocked => Role::Blocked,
            PeerRole::Left => Role::Left,
            PeerRole::NoRole => Role::NoRole,
        }
    }
}

impl AssignableRole {
    /// The core's role.
    pub(crate) fn role(self) -> PeerRole {
        match self {
            AssignableRole::Coordinator => PeerRole::Coordinator,
            AssignableRole::Member => PeerRole::Member,
            AssignableRole::Blocked => PeerRole::Blocked,
        }
    }
}

impl From<PeerStatus> for PeerInfo {
    fn from(p: PeerStatus) -> Self {
        PeerInfo {
            device_id: p.device_id.to_string(),
            name: p.name,
            device_type: p.device_type.into(),
            connected: p.connected,
        }
    }
}

impl From<CorePhase> for SyncPhase {
    fn from(p: CorePhase) -> Self {
        match p {
            CorePhase::Initial => SyncPhase::Initial,
            CorePhase::Full => SyncPhase::Full,
        }
    }
}

impl From<SyncPhase> for CorePhase {
    fn from(p: SyncPhase) -> Self {
        match p {
            SyncPhase::Initial => CorePhase::Initial,
            SyncPhase::Full => CorePhase::Full,
        }
    }
}

impl From<CorePeerSyncState> for PeerSyncState {
    fn from(s: CorePeerSyncState) -> Self {
        PeerSyncState {
            peer: s.peer.to_string(),
            connected: s.connected,
            peer_known: s.peer_known,
            peer_data_sync: s.peer_data_sync,
            initial_wanted: s.initial_wanted,
            initial_to_send: s.initial_to_send,
            data_wanted: s.data_wanted,
            data_to_send: s.data_to_send,
            received: s.received,
            sent: s.sent,
            peer_blobs_known: s.peer_blobs_known,
            blobs_wanted: s.blobs_wanted,
            blob_bytes_wanted: s.blob_bytes_wanted,
            blobs_to_send: s.blobs_to_send,
            blob_bytes_to_send: s.blob_bytes_to_send,
            blob_bytes_received: s.blob_bytes_received,
            blob_bytes_sent: s.blob_bytes_sent,
            phase: s.phase().into(),
            initial_synced: s.is_synced(CorePhase::Initial),
            fully_synced: s.is_fully_synced(),
            data_sync_local: s.data_sync,
        }
    }
}

impl From<DiscoveryOptions> for CoreDiscoveryOptions {
    fn from(o: DiscoveryOptions) -> Self {
        CoreDiscoveryOptions {
            interfaces: match o.interfaces {
                None => Interfaces::All,
                Some(names) => Interfaces::Named(names),
            },
        }
    }
}

/// Text ids and addresses from the app, parsed with the core's own parsers (so their errors
/// map like every other core error).
pub(crate) fn project_id(text: &str) -> Result<ProjectId, MapeoError> {
    text.parse::<ProjectId>()
        .map_err(|e| mapeo_core::Error::Id(e).into())
}

pub(crate) fn device_id(text: &str) -> Result<DeviceId, MapeoError> {
    text.parse::<DeviceId>()
        .map_err(|e| mapeo_core::Error::Id(e).into())
}

pub(crate) fn socket_addr(text: &str) -> Result<SocketAddr, MapeoError> {
    text.parse()
        .map_err(|_| MapeoError::invalid("not an address of the form ip:port"))
}

pub(crate) fn ip_addr(text: &str) -> Result<IpAddr, MapeoError> {
    text.parse()
        .map_err(|_| MapeoError::invalid("not an ip address"))
}
