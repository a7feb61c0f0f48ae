//! The crate's public error: one enum over the per-area errors, plus the failures that belong
//! to no single area. Messages are lowercase, carry no personal data, keys or paths.

use thiserror::Error;

use crate::backup_code::BackupCodeError;
use crate::connection_code::ConnectionCodeError;
use crate::crypto::CryptoError;
use crate::db::StoreError;
use crate::discovery::DiscoveryError;
use crate::feed::FeedError;
use crate::ids::IdError;
use crate::net::NetError;
use crate::schema::ValidationError;
use crate::sync::SyncError;

/// Any failure of a core operation.
#[derive(Debug, Error)]
pub enum Error {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A feed entry was refused.
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// A document is not valid.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A backup code could not be read.
    #[error(transparent)]
    BackupCode(#[from] BackupCodeError),
    /// A connection code could not be made or read.
    #[error(transparent)]
    ConnectionCode(#[from] ConnectionCodeError),
    /// The device that answered is not the one the connection code names; the connection
    /// was closed before any sync.
    #[error("the device that answered is not the one in the connection code")]
    WrongDevice,
    /// The device is not listening, so there is no port to give peers.
    #[error("not listening for peers")]
    NotListening,
    /// Local discovery could not start.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// A cryptographic check failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A network connection failed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// Sync failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// An id could not be parsed.
    #[error(transparent)]
    Id(#[from] IdError),
    /// Nothing with that id here.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for: "document", "version", "project".
        what: &'static str,
    },
    /// The data folder's keys were destroyed or its key file is unreadable.
    #[error(transparent)]
    AtRest(crate::at_rest::AtRestError),
    /// This device was wiped ([`Manager::wipe`](crate::Manager::wipe)): the handle does
    /// nothing more.
    #[error("this device was wiped")]
    Wiped,
    /// The data folder was created with another root key.
    #[error("this data folder belongs to another identity: the root key does not match")]
    WrongRootKey,
    /// The device has left this project: it can read its own data but write nothing.
    #[error("this device has left the project")]
    ProjectLeft,
    /// The device is already a member of the project it tried to join.
    #[error("this device is already a member of the project")]
    AlreadyJoined,
    /// This device's role does not allow the operation.
    #[error("not allowed: {0}")]
    NotAllowed(&'static str),
    /// This device joined the project again (restored from its backup code) and its earlier
    /// entries have not come back from a member yet: writing now would fork its feeds.
    #[error(
        "this device's earlier entries in the project have not come back yet: sync with a member first"
    )]
    AwaitingOwnEntries,
    /// A query that cannot be answered.
    #[error("invalid query: {0}")]
    InvalidQuery(&'static str),
    /// The device to talk to is not connected.
    #[error("that device is not connected")]
    NotConnected,
    /// An invite to that device for that project is already waiting for an answer.
    #[error("an invite to that device for this project is already pending")]
    InvitePending,
    /// The invite is not waiting for an answer (answered, canceled or expired).
    #[error("the invite is no longer pending")]
    InviteNotPending,
    /// The inviter withdrew the invite.
    #[error("the invite was canceled")]
    InviteCanceled,
    /// The other device went away (or stopped answering) before the invite completed. If
    /// the inviter recorded the role, joining completes at the next sync; otherwise the
    /// invite can be sent again.
    #[error("the invite was interrupted before it completed")]
    InviteInterrupted,
    /// The inviter sent join details that do not open the project it invited to.
    #[error("the invite's join details do not match its project")]
    InvalidInvite,
    /// A photo, audio or video could not be attached.
    #[error(transparent)]
    Attachment(#[from] crate::attachments::AttachmentError),
    /// A blob could not be stored or read.
    #[error(transparent)]
    Blob(#[from] crate::blobs::BlobError),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(StoreError::Sqlite(e))
    }
}

/// The result of a core operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
