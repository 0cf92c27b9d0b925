//! Exit statuses: one per class of failure, so that a script can tell a
//! typo from a refusal from a network that stayed down.
//!
//! An error carries its class as a [`Failure`] anywhere in its `anyhow`
//! chain (usually as the outermost context); an error without one is a
//! plain failure (status 1).

use std::fmt;
use std::process::ExitCode;

/// Why a command failed, and so its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The command line is wrong: a bad flag value, URL or room id, a text
    /// too long to send. Nothing was tried.
    Usage,
    /// The server's host name does not resolve (and never did).
    Unresolvable,
    /// The server refused: nickname taken or not allowed, room refused.
    Refused,
    /// Transient failures went on past `--max-retries`, or a one-shot
    /// command (`say`, `who`) ran out of time.
    GaveUp,
}

impl Failure {
    /// The exit status of this class.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::Usage => 2,
            Self::Unresolvable => 3,
            Self::Refused => 4,
            Self::GaveUp => 5,
        }
    }

    /// The class of `error`: the first [`Failure`] in its chain, if any.
    #[must_use]
    pub fn of(error: &anyhow::Error) -> Option<Self> {
        // anyhow looks through every layer of context for it.
        error.downcast_ref::<Self>().copied()
    }

    /// Every class.
    pub const ALL: [Self; 4] = [Self::Usage, Self::Unresolvable, Self::Refused, Self::GaveUp];

    /// The exit status for `error`: its class's, or 1 if it has none.
    #[must_use]
    pub fn exit_code(error: &anyhow::Error) -> ExitCode {
        ExitCode::from(Self::of(error).map_or(FAILED, Self::code))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Usage => "usage",
            Self::Unresolvable => "host name not resolvable",
            Self::Refused => "refused by the server",
            Self::GaveUp => "gave up",
        })
    }
}

impl std::error::Error for Failure {}

/// The status of a failure of no listed class (an I/O error, a `decode`
/// that met bad frames).
pub const FAILED: u8 = 1;

/// The table printed under `--help` and in the README.
pub const TABLE: &str = "\
Exit status:
  0    success (also watch/demo/serve stopped by Ctrl-C or SIGTERM)
  1    failed: decode met bad frames, or an error of no class below (I/O)
  2    usage: a bad flag, URL, room id or file kind; nothing was tried
  3    the server's host name does not resolve
  4    refused by the server: nickname taken or not allowed, room refused
  5    gave up: --max-retries failures in a row, or say/who timed out
  130  a second Ctrl-C (143: SIGTERM), or shutdown past its grace time";

/// Attaches a [`Failure`] class to an error, as `anyhow`'s `context` does
/// with a message.
pub trait Classify<T> {
    /// Marks the error (if any) as of class `failure`.
    fn classify(self, failure: Failure) -> anyhow::Result<T>;
}

impl<T, E> Classify<T> for Result<T, E>
where
    E: Into<anyhow::Error>,
{
    fn classify(self, failure: Failure) -> anyhow::Result<T> {
        self.map_err(|e| e.into().context(failure))
    }
}

/// An error of class [`Failure::Usage`] with `message`.
pub fn usage(message: impl fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{message}").context(Failure::Usage)
}
