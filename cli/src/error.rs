//! The errors a command can end with: each says clearly what went wrong and maps to an exit
//! code and a stable `kind` for `--json`.

use std::path::PathBuf;

use thiserror::Error;

/// Exit code of a failed command.
pub const EXIT_ERROR: u8 = 1;
/// Exit code of a sync that could not finish (timeout, peer unreachable).
pub const EXIT_NOT_FINISHED: u8 = 3;

/// Why a command failed.
#[derive(Debug, Error)]
pub enum CliError {
    /// The core refused or failed.
    #[error("{0}")]
    Core(#[from] mapeo_core::Error),
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
    /// Input given on the command line is wrong.
    #[error("{0}")]
    BadInput(String),
    /// No project matches the selection.
    #[error("no project matches {0:?} (see `mapeo project list`)")]
    UnknownProject(String),
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
}

impl CliError {
    /// A stable word for scripts.
    pub fn kind(&self) -> &'static str {
        match self {
            CliError::Core(mapeo_core::Error::Invalid(_)) => "invalid",
            CliError::Core(mapeo_core::Error::NotFound { .. }) => "not_found",
            CliError::Core(mapeo_core::Error::BackupCode(_)) => "bad_backup_code",
            CliError::Core(mapeo_core::Error::WrongRootKey) => "wrong_identity",
            CliError::Core(mapeo_core::Error::NotAllowed(_)) => "not_allowed",
            CliError::Core(_) => "core",
            CliError::File { .. } => "file",
            CliError::BadInput(_) => "bad_input",
            CliError::UnknownProject(_) | CliError::UnknownDoc { .. } => "not_found",
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
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::NotFinished(_) => EXIT_NOT_FINISHED,
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
