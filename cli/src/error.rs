//! The errors a command can end with: each says clearly what went wrong and maps to an exit
//! code and a stable `kind` for `--json`.

use std::path::PathBuf;

use mapeo_core::db::{Damaged, StoreError};
use thiserror::Error;

/// Exit code of a failed command.
pub const EXIT_ERROR: u8 = 1;
/// Exit code of a usage error (an unknown command or option, a bad or missing value), as
/// clap gives it.
pub const EXIT_USAGE: u8 = 2;
/// Exit code of a sync that could not finish (timeout, peer unreachable).
pub const EXIT_NOT_FINISHED: u8 = 3;

/// Why a command failed.
#[derive(Debug, Error)]
pub enum CliError {
    /// The core refused or failed.
    #[error("{0}")]
    Core(mapeo_core::Error),
    /// A project's store is damaged: it takes nothing until repaired.
    #[error(
        "project {short}'s store is damaged: run `mapeo project repair -p {short}`, then sync with another member to get its data back",
        short = .0.short()
    )]
    Damaged(mapeo_core::ProjectId),
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    File {
        /// What was being done ("cannot read").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The folder a file is to be written in does not exist.
    #[error("the folder {} does not exist: create it first, or write elsewhere", .0.display())]
    NoSuchFolder(PathBuf),
    /// What should be the folder of a file to write is not a folder.
    #[error("{} is not a folder", .0.display())]
    NotAFolder(PathBuf),
    /// A file given with `--photo` or `--audio` cannot be attached; nothing was stored.
    #[error("cannot attach {}: {reason}; nothing was stored", path.display())]
    BadMedia {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file given with `--photo` or `--audio` could not be stored (a full disk, a store
    /// that cannot be written); nothing was stored.
    #[error("cannot store {}: {reason}; nothing was stored", path.display())]
    Storage {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Input given on the command line is wrong.
    #[error("{0}")]
    BadInput(String),
    /// No project matches the selection.
    #[error("no project matches {0:?} (see `mapeo project list`)")]
    UnknownProject(String),
    /// No project matches the selection by id or name, but a damaged project's name cannot be
    /// read (its settings are in its damaged store): it may be the one meant.
    #[error(
        "no project matches {selection:?}; project {damaged}'s store is damaged, so its name cannot be read: if it is that one, run `mapeo project repair -p {damaged}`"
    )]
    UnknownProjectMaybeDamaged {
        /// What was given.
        selection: String,
        /// The short id of the damaged project (the first, if several).
        damaged: String,
    },
    /// More than one project matches the selection.
    #[error("{selection:?} matches several projects: {candidates}; give more of the id")]
    AmbiguousProject {
        /// What was given.
        selection: String,
        /// The ids that match.
        candidates: String,
    },
    /// No document of that kind matches.
    #[error("no {what} matches {selection:?}")]
    UnknownDoc {
        /// "observation", "preset".
        what: &'static str,
        /// What was given.
        selection: String,
    },
    /// No preset (category) matches a `--preset` given by name or id.
    #[error("no preset matches {selection:?}{hint}")]
    UnknownPreset {
        /// What was given.
        selection: String,
        /// What to do about it: list the categories, or import some first.
        hint: &'static str,
    },
    /// More than one document matches.
    #[error("{selection:?} matches several {what}s; give more of the id")]
    AmbiguousDoc {
        /// "observation", "preset".
        what: &'static str,
        /// What was given.
        selection: String,
    },
    /// The data folder has no identity yet, and the command would not create one.
    #[error(
        "the data folder has an identity already (device {0}); restore only into an empty folder"
    )]
    IdentityExists(String),
    /// The data folder's key file is damaged.
    #[error("the root key file {0} is damaged (expected 32 hex characters)")]
    BadKeyFile(PathBuf),
    /// Another process holds the data folder.
    #[error(
        "the data folder {0} is in use by another mapeo process (a running `mapeo serve`?); stop it or use another --data folder"
    )]
    DataInUse(PathBuf),
    /// A GPX file could not be read.
    #[error("cannot read GPX file: {0}")]
    Gpx(String),
    /// A categories file or folder is not valid; nothing was imported.
    #[error("categories not imported, nothing changed: {0}")]
    Categories(String),
    /// Writing an export failed.
    #[error("export failed: {0}")]
    Export(String),
    /// A network step failed.
    #[error("{0}")]
    Network(String),
    /// A sync did not finish.
    #[error("sync did not finish: {0}")]
    NotFinished(String),
    /// The demo failed at a step.
    #[error("demo failed: {0}")]
    Demo(String),
    /// The command needs a running `mapeo serve` on the data folder, and none runs.
    #[error(
        "no `mapeo serve` is running on this data folder: {0} over a live connection. Start `mapeo serve` (in another terminal), then try again"
    )]
    NotServing(&'static str),
    /// The running serve could not be asked.
    #[error("{0}")]
    Control(String),
    /// The running serve refused or failed the request (its kind and message).
    #[error("{message}")]
    Remote {
        /// The serve's word for the failure.
        kind: String,
        /// What it said.
        message: String,
    },
    /// No device of the project or among connected peers matches.
    #[error("no {among} matches the device {selection:?}{hint}")]
    UnknownDevice {
        /// Where it was looked for: "member of this project", "connected peer".
        among: &'static str,
        /// What was given.
        selection: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// More than one device matches a prefix.
    #[error("{0:?} matches several devices; give more of the id")]
    AmbiguousDevice(String),
    /// No invite matches.
    #[error("no invite matches {0:?} (see `mapeo invites list`)")]
    UnknownInvite(String),
    /// More than one invite matches a prefix.
    #[error("{0:?} matches several invites; give more of the id")]
    AmbiguousInvite(String),
    /// The device to invite did not connect in time.
    #[error("the device {device} did not connect within {secs} s; nothing was sent")]
    NotConnected {
        /// The device (short form).
        device: String,
        /// How long it was waited for.
        secs: u64,
    },
    /// An invite this device sent did not end in a member.
    #[error("the invite was {0}")]
    InviteNotAccepted(InviteEnd),
    /// `sync --accept-invites-from` joined nothing.
    #[error("no invite accepted: {0}")]
    NoInvite(String),
}

impl From<mapeo_core::Error> for CliError {
    fn from(e: mapeo_core::Error) -> Self {
        match e {
            // The core says what to do in words for any app; here, the command that does it.
            mapeo_core::Error::Store(StoreError::Damaged(Damaged::Project(id))) => {
                CliError::Damaged(id)
            }
            other => CliError::Core(other),
        }
    }
}

/// How an invite ended without a new member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteEnd {
    /// The invitee said no.
    Rejected,
    /// Withdrawn by the inviter (or not answered in time).
    Canceled,
}

impl std::fmt::Display for InviteEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InviteEnd::Rejected => "rejected",
            InviteEnd::Canceled => "canceled",
        })
    }
}

impl CliError {
    /// A stable word for scripts.
    pub fn kind(&self) -> &str {
        use mapeo_core::Error as E;
        match self {
            CliError::Core(mapeo_core::Error::Invalid(_)) => "invalid",
            CliError::Core(mapeo_core::Error::NotFound { .. }) => "not_found",
            CliError::Core(mapeo_core::Error::BackupCode(_)) => "bad_backup_code",
            CliError::Core(mapeo_core::Error::WrongRootKey) => "wrong_identity",
            CliError::Core(mapeo_core::Error::NotAllowed(_)) => "not_allowed",
            CliError::Core(E::NotConnected) | CliError::NotConnected { .. } => "not_connected",
            CliError::Core(E::InvitePending) => "invite_pending",
            CliError::Core(E::InviteNotPending) => "invite_not_pending",
            CliError::Core(E::InviteCanceled)
            | CliError::InviteNotAccepted(InviteEnd::Canceled) => "invite_canceled",
            CliError::InviteNotAccepted(InviteEnd::Rejected) => "invite_rejected",
            CliError::Core(E::InviteInterrupted) => "invite_interrupted",
            CliError::Core(E::InvalidInvite) => "invalid_invite",
            CliError::Core(E::Id(_)) => "bad_input",
            CliError::Damaged(_)
            | CliError::Core(E::Store(StoreError::Damaged(_)))
            | CliError::UnknownProjectMaybeDamaged { .. } => "damaged",
            CliError::Core(E::Store(StoreError::ReadOnly)) => "read_only",
            CliError::Core(_) => "core",
            CliError::File { .. } | CliError::NoSuchFolder(_) | CliError::NotAFolder(_) => "file",
            CliError::BadMedia { .. } => "bad_media",
            CliError::Storage { .. } => "storage",
            CliError::BadInput(_) => "bad_input",
            CliError::UnknownProject(_)
            | CliError::UnknownDoc { .. }
            | CliError::UnknownPreset { .. } => "not_found",
            CliError::AmbiguousProject { .. } | CliError::AmbiguousDoc { .. } => "ambiguous",
            CliError::IdentityExists(_) => "identity_exists",
            CliError::BadKeyFile(_) => "bad_key_file",
            CliError::DataInUse(_) => "data_in_use",
            CliError::Gpx(_) => "bad_gpx",
            CliError::Categories(_) => "bad_categories",
            CliError::Export(_) => "export",
            CliError::Network(_) => "network",
            CliError::NotFinished(_) => "not_finished",
            CliError::Demo(_) => "demo",
            CliError::NotServing(_) => "not_serving",
            CliError::Control(_) => "control",
            CliError::Remote { kind, .. } => kind,
            CliError::UnknownDevice { .. } | CliError::UnknownInvite(_) => "not_found",
            CliError::AmbiguousDevice(_) | CliError::AmbiguousInvite(_) => "ambiguous",
            CliError::NoInvite(_) => "no_invite",
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::NotFinished(_) | CliError::NoInvite(_) => EXIT_NOT_FINISHED,
            CliError::Remote { kind, .. } if kind == "not_finished" => EXIT_NOT_FINISHED,
            _ => EXIT_ERROR,
        }
    }

    /// A file error.
    pub fn file(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        CliError::File {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

/// The result of a command.
pub type CliResult<T> = Result<T, CliError>;
