//! Errors that decide the exit code, and the exit codes themselves (DESIGN.md).
//!
//! Every error that decides an exit code or carries a fix travels as one typed
//! [`Failure`]: `UsageError`, `Hinted`, `Interrupted` and the manifest's errors turn into
//! it (and only it) on their way into an `anyhow::Error`, so the report finds the exit
//! code and the help line with one lookup and one `match`, never a chain of guesses.

use crate::manifest::{LoadError, ManifestErrors};

pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const UNHEALTHY: u8 = 3;
    pub const INTERRUPTED: u8 = 130;
}

// UsageError and Hinted have no Display on purpose: they are only ever seen inside a
// `Failure`, so `downcast_ref::<UsageError>()` (which would silently find nothing) does
// not compile.

/// Bad input from the command line or the environment: exit code 2, with the fix.
#[derive(Debug)]
pub struct UsageError {
    pub message: String,
    pub hint: Option<String>,
}

impl UsageError {
    pub fn new(message: impl Into<String>) -> Self {
        UsageError { message: message.into(), hint: None }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// A failure with a fix to suggest, for errors that are not the user's input
/// (a failed install, a port taken by another program): exit code 1.
#[derive(Debug)]
pub struct Hinted {
    pub message: String,
    pub hint: String,
}

impl Hinted {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Hinted { message: message.into(), hint: hint.into() }
    }
}

/// The user pressed Ctrl-C: exit code 130.
#[derive(Debug)]
pub struct Interrupted;

/// An error that decides how a command ends: its exit code and its help line.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad input: exit 2.
    #[error("{}", .0.message)]
    Usage(UsageError),
    /// A failure that is not the user's input, with a fix: exit 1.
    #[error("{}", .0.message)]
    Hinted(Hinted),
    /// Ctrl-C: exit 130.
    #[error("interrupted")]
    Interrupted,
    /// The manifest has problems, each pointing at its lines: exit 2.
    #[error("{0}")]
    Manifest(ManifestErrors),
    /// The manifest could not be found or read: exit 2 (1 when the disk failed).
    #[error("{0}")]
    Load(LoadError),
}

impl Failure {
    /// The failure inside `err`, if `err` (or a context around it) is one.
    pub fn of(err: &anyhow::Error) -> Option<&Failure> {
        err.downcast_ref::<Failure>()
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) | Failure::Manifest(_) => exit::USAGE,
            Failure::Load(LoadError::Read { .. }) => exit::FAILED,
            Failure::Load(_) => exit::USAGE,
            Failure::Hinted(_) => exit::FAILED,
            Failure::Interrupted => exit::INTERRUPTED,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            Failure::Usage(e) => e.hint.clone(),
            Failure::Hinted(e) => Some(e.hint.clone()),
            Failure::Load(e) => e.hint(),
            Failure::Manifest(_) | Failure::Interrupted => None,
        }
    }

    /// The manifest's problems, to be rendered against its lines.
    pub fn manifest_errors(&self) -> Option<&ManifestErrors> {
        match self {
            Failure::Manifest(e) | Failure::Load(LoadError::Invalid(e)) => Some(e),
            _ => None,
        }
    }

    pub fn as_usage(&self) -> Option<&UsageError> {
        match self {
            Failure::Usage(e) => Some(e),
            _ => None,
        }
    }

    pub fn as_hinted(&self) -> Option<&Hinted> {
        match self {
            Failure::Hinted(e) => Some(e),
            _ => None,
        }
    }
}

macro_rules! into_failure {
    ($($ty:ty => $make:expr),* $(,)?) => {$(
        impl From<$ty> for Failure {
            fn from(e: $ty) -> Failure {
                $make(e)
            }
        }
        impl From<$ty> for anyhow::Error {
            fn from(e: $ty) -> anyhow::Error {
                anyhow::Error::new(Failure::from(e))
            }
        }
    )*};
}

into_failure! {
    UsageError => Failure::Usage,
    Hinted => Failure::Hinted,
    Interrupted => |_| Failure::Interrupted,
    ManifestErrors => Failure::Manifest,
    LoadError => Failure::Load,
}
