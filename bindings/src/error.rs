//! The one error the bindings throw: [`MapeoError`], flat, with a `reason` for logs and
//! support. Owns the mapping from `mapeo_core::Error` — decided here and nowhere else — and
//! keeps personal data out of every reason: core messages are used only where the core
//! promises none (they name fields and limits, never values); text that comes from the OS,
//! SQLite or a peer is replaced by a fixed description.

use mapeo_core::Error as Core;
use mapeo_core::db::StoreError;
use mapeo_core::net::NetError;
use mapeo_core::sync::SyncError;

/// Anything that went wrong, by what the app can do about it. Kotlin sees
/// `MapeoException.NotFound` etc., Swift `MapeoError.NotFound`, Python `MapeoError.NotFound`.
/// The `reason` is lowercase English for logs and support, never shown as is to users, and
/// never holds coordinates, file paths, names or keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum MapeoError {
    /// The input is not valid: a document that breaks a rule, an id, a backup code, a
    /// connection code, an address or a query that cannot be read.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong, naming the field or limit, never the value.
        reason: String,
    },
    /// Nothing with that id here (document, version, project).
    #[error("not found: {reason}")]
    NotFound {
        /// What was looked for.
        reason: String,
    },
    /// This device's role in the project does not allow it.
    #[error("not allowed: {reason}")]
    NotAllowed {
        /// Which rule refused it.
        reason: String,
    },
    /// This device joined the project again (restored from its backup code) and its earlier
    /// entries have not come back yet: sync with a member (or open a sync file) first.
    #[error("awaiting own entries: {reason}")]
    AwaitingOwnEntries {
        /// The core's fixed text.
        reason: String,
    },
    /// This device has left the project: it can read its own data but write nothing.
    #[error("project left: {reason}")]
    ProjectLeft {
        /// Why the write was refused.
        reason: String,
    },
    /// This device is already a member of the project it tried to join.
    #[error("already joined: {reason}")]
    AlreadyJoined {
        /// Why the join was refused.
        reason: String,
    },
    /// The data folder belongs to another root key (another identity).
    #[error("wrong root key: {reason}")]
    WrongRootKey {
        /// Why the folder was refused.
        reason: String,
    },
    /// The device that answered a connection code is not the one that showed it.
    #[error("wrong device: {reason}")]
    WrongDevice {
        /// What was refused.
        reason: String,
    },
    /// The device must listen for peers first (for a connection code or discovery).
    #[error("not listening: {reason}")]
    NotListening {
        /// What needed it.
        reason: String,
    },
    /// A connection failed or timed out, or a peer misbehaved during the handshake.
    #[error("network: {reason}")]
    Network {
        /// What failed, without addresses.
        reason: String,
    },
    /// Sync failed or made no progress for the allowed time.
    #[error("sync: {reason}")]
    Sync {
        /// What failed.
        reason: String,
    },
    /// Local discovery (mDNS) could not start.
    #[error("discovery: {reason}")]
    Discovery {
        /// Which step failed.
        reason: String,
    },
    /// A project's store (or the device's) is damaged: SQLite found malformed pages. The
    /// reason names the project by id; repair it with `Mapeo.repairProject`, then sync.
    #[error("damaged: {reason}")]
    Damaged {
        /// Which store, and what to do (a fixed core text with the project id).
        reason: String,
    },
    /// Local storage failed: full disk, a read-only data folder, a database from a newer
    /// version.
    #[error("storage: {reason}")]
    Storage {
        /// What failed, without paths.
        reason: String,
    },
    /// An invite could not go on: the device is not connected, one is already pending, it is
    /// no longer pending, it was canceled or interrupted, or its join details were wrong.
    #[error("invite: {reason}")]
    Invite {
        /// What happened (a fixed core text).
        reason: String,
    },
    /// A photo, audio or video could not be attached or stored.
    #[error("attachment: {reason}")]
    Attachment {
        /// Why (a fixed core text, no paths).
        reason: String,
    },
    /// This `Mapeo` was closed ([`crate::Mapeo::close`]): open the folder again for a new one.
    #[error("closed: {reason}")]
    Closed {
        /// What was called.
        reason: String,
    },
    /// The data folder is open already, in this process or another (the desktop peer
    /// `mapeo serve`, say): one device per folder at a time.
    #[error("folder in use: {reason}")]
    FolderInUse {
        /// What was refused.
        reason: String,
    },
    /// A patrol recording could not go on: one is under way already, it was saved already, it
    /// is too short to save, a position is not valid, or its file could not be written.
    #[error("patrol: {reason}")]
    Patrol {
        /// What happened (a fixed core text, naming a field but never a value or a path).
        reason: String,
    },
    /// A listener implemented in the app threw. Only listeners see this; the core logs it
    /// and keeps going.
    #[error("listener failed: {reason}")]
    ListenerFailed {
        /// What the foreign side reported.
        reason: String,
    },
    /// Something that should not happen: a bug or an exhausted system resource.
    #[error("internal: {reason}")]
    Internal {
        /// What failed.
        reason: String,
    },
}

/// A variant constructor: `reason(MapeoError::InvalidInput, "…")`.
fn reason(variant: fn(String) -> MapeoError, text: impl ToString) -> MapeoError {
    variant(text.to_string())
}

impl MapeoError {
    /// A call on a closed device.
    pub(crate) fn closed() -> Self {
        MapeoError::Closed {
            reason: "the device was closed".into(),
        }
    }

    /// Input the facade itself could not read (before any core call).
    pub(crate) fn invalid(text: &str) -> Self {
        MapeoError::InvalidInput {
            reason: text.to_owned(),
        }
    }

    /// A failure of the facade's own machinery (the async runtime, a task).
    pub(crate) fn internal(text: &str) -> Self {
        MapeoError::Internal {
            reason: text.to_owned(),
        }
    }
}

macro_rules! variant {
    ($v:ident) => {
        |reason| MapeoError::$v { reason }
    };
}

/// Storage failures without the text SQLite or the OS attached (which may name a path).
fn storage_reason(e: &StoreError) -> String {
    match e {
        StoreError::Sqlite(rusqlite_error) => match rusqlite_error.sqlite_error_code() {
            Some(code) => format!("database error ({code:?})"),
            None => "database error".to_owned(),
        },
        StoreError::Io(io) => format!("file system error ({})", io.kind()),
        // Fixed texts with numbers at most.
        StoreError::TooNew { .. }
        | StoreError::Busy
        | StoreError::Corrupt(_)
        | StoreError::Damaged(_)
        | StoreError::PageCipher(_)
        | StoreError::ReadOnly => e.to_string(),
    }
}

/// Network failures without the OS's text (which may name an address).
fn net_reason(e: &NetError) -> String {
    match e {
        NetError::Io(io) => format!("network i/o failed ({})", io.kind()),
        other => other.to_string(),
    }
}

/// Sync failures without the peer's or the store's free text.
fn sync_reason(e: &SyncError) -> String {
    match e {
        SyncError::Transport(_) => "connection lost".to_owned(),
        SyncError::InvalidEntries(_) => "peer sent entries that failed verification".to_owned(),
        SyncError::Store(_) => "local storage failed during sync".to_owned(),
        other => other.to_string(),
    }
}

impl From<Core> for MapeoError {
    fn from(e: Core) -> Self {
        match &e {
            Core::Invalid(_)
            | Core::BackupCode(_)
            | Core::ConnectionCode(_)
            | Core::Id(_)
            | Core::InvalidQuery(_) => reason(variant!(InvalidInput), &e),
            Core::NotFound { .. } => reason(variant!(NotFound), &e),
            Core::NotAllowed(_) => reason(variant!(NotAllowed), &e),
            Core::AwaitingOwnEntries => reason(variant!(AwaitingOwnEntries), &e),
            Core::ProjectLeft => reason(variant!(ProjectLeft), &e),
            Core::AlreadyJoined => reason(variant!(AlreadyJoined), &e),
            Core::WrongRootKey => reason(variant!(WrongRootKey), &e),
            // Fixed texts: keys destroyed, or an unreadable key file.
            Core::AtRest(_) => reason(variant!(Storage), &e),
            Core::Wiped => reason(variant!(Closed), &e),
            Core::WrongDevice => reason(variant!(WrongDevice), &e),
            Core::NotListening => reason(variant!(NotListening), &e),
            Core::Discovery(_) => reason(variant!(Discovery), &e),
            Core::Net(n) => reason(variant!(Network), net_reason(n)),
            Core::Sync(s) => reason(variant!(Sync), sync_reason(s)),
            // A public project id and a fixed text.
            Core::Store(StoreError::Damaged(_)) => reason(variant!(Damaged), &e),
            Core::Store(s) => reason(variant!(Storage), storage_reason(s)),
            Core::Feed(mapeo_core::feed::FeedError::Store(s)) => {
                reason(variant!(Storage), storage_reason(s))
            }
            // Our own feeds refusing our own entries, or a key that does not open: the store
            // was altered. Fixed core texts without data.
            Core::Feed(_) | Core::Crypto(_) => reason(variant!(Storage), &e),
            Core::NotConnected
            | Core::InvitePending
            | Core::InviteNotPending
            | Core::InviteCanceled
            | Core::InviteInterrupted
            | Core::InvalidInvite => reason(variant!(Invite), &e),
            // Attachment and blob errors are fixed texts: a kind of media, a size limit, a
            // hash mismatch, never a path.
            Core::Attachment(_) | Core::Blob(_) => reason(variant!(Attachment), &e),
            // No catch-all: a new core variant (invites, attachments) must be mapped here, on
            // purpose, before the bindings compile.
        }
    }
}

impl From<mapeo_core::categories::CategoriesError> for MapeoError {
    fn from(e: mapeo_core::categories::CategoriesError) -> Self {
        use mapeo_core::categories::CategoriesError as E;
        match e {
            E::Project(core) => core.into(),
            // The file the app gave: what went wrong in it, naming the file inside the
            // archive and the category or field id, never a path.
            other => reason(variant!(InvalidInput), other),
        }
    }
}

impl From<mapeo_core::project::PatrolError> for MapeoError {
    fn from(e: mapeo_core::project::PatrolError) -> Self {
        use mapeo_core::project::PatrolError as E;
        match e {
            E::Project(core) => core.into(),
            E::InvalidPosition(_) => reason(variant!(InvalidInput), e),
            // Fixed texts: the OS error behind `Io` is only its source, never in the text.
            other => reason(variant!(Patrol), other),
        }
    }
}

impl From<mapeo_core::sync_file::SyncFileError> for MapeoError {
    fn from(e: mapeo_core::sync_file::SyncFileError) -> Self {
        use mapeo_core::sync_file::SyncFileError as E;
        match e {
            // The OS's text may name a path: its kind only.
            E::Io(io) => MapeoError::Storage {
                reason: format!("sync file i/o failed ({})", io.kind()),
            },
            E::Store(core) => (*core).into(),
            // A file the app gave: what is wrong with it, in fixed words (as for a map
            // package). A verification failure would name a feed position: left out.
            E::Refused(_) => MapeoError::InvalidInput {
                reason: "the sync file holds entries that failed verification".into(),
            },
            other => MapeoError::InvalidInput {
                reason: other.to_string(),
            },
        }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for MapeoError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        MapeoError::ListenerFailed { reason: e.reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_errors_never_carry_the_os_text() {
        let io = std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "/data/user/0/app/files/mapeo/secret-name",
        );
        let e = MapeoError::from(Core::Store(StoreError::Io(io)));
        let MapeoError::Storage { reason } = &e else {
            panic!("{e:?}")
        };
        assert!(!reason.contains("/data"), "{reason}");
        assert!(reason.contains("permission denied"), "{reason}");
    }

    #[test]
    fn sqlite_errors_keep_only_their_code() {
        let sqlite = rusqlite_failure();
        let e = MapeoError::from(Core::Store(StoreError::Sqlite(sqlite)));
        let MapeoError::Storage { reason } = &e else {
            panic!("{e:?}")
        };
        assert!(!reason.contains("/home"), "{reason}");
        assert!(reason.contains("DiskFull"), "{reason}");
    }

    fn rusqlite_failure() -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("disk full while writing /home/someone/observations.db".into()),
        )
    }

    #[test]
    fn network_errors_never_carry_the_os_text() {
        let io = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "10.0.0.7:5000 said no",
        );
        let e = MapeoError::from(Core::Net(NetError::Io(io)));
        assert_eq!(
            e,
            MapeoError::Network {
                reason: "network i/o failed (connection refused)".into()
            }
        );
    }

    #[test]
    fn sync_errors_drop_peer_text() {
        let e = MapeoError::from(Core::Sync(SyncError::Transport("10.0.0.7 reset".into())));
        assert_eq!(
            e,
            MapeoError::Sync {
                reason: "connection lost".into()
            }
        );
    }

    #[test]
    fn invalid_documents_name_the_rule_not_the_value() {
        let e = MapeoError::from(Core::Invalid(
            mapeo_core::schema::ValidationError::LatitudeOutOfRange,
        ));
        assert_eq!(
            e,
            MapeoError::InvalidInput {
                reason: "latitude out of range".into()
            }
        );
    }

    #[test]
    fn every_user_facing_kind_has_its_own_variant() {
        assert!(matches!(
            MapeoError::from(Core::NotFound { what: "document" }),
            MapeoError::NotFound { .. }
        ));
        assert!(matches!(
            MapeoError::from(Core::WrongRootKey),
            MapeoError::WrongRootKey { .. }
        ));
        assert!(matches!(
            MapeoError::from(Core::ProjectLeft),
            MapeoError::ProjectLeft { .. }
        ));
        assert!(matches!(
            MapeoError::from(Core::NotListening),
            MapeoError::NotListening { .. }
        ));
        assert!(matches!(
            MapeoError::from(Core::NotAllowed("x")),
            MapeoError::NotAllowed { .. }
        ));
        assert!(matches!(
            MapeoError::from(Core::AwaitingOwnEntries),
            MapeoError::AwaitingOwnEntries { .. }
        ));
    }
}
