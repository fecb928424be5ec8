//! The one error edge of every binary.
//!
//! Commands return a [`CommandError`] built from any library error (each
//! has a `From` impl here) or from a message ([`user_error`]). The binary's
//! edge ([`crate::run_main`]) turns it into what the user sees, in one
//! place: a single `error: ...` line on stderr and exit status 1, except
//! for a closed pipe (`oxen log | head`), which is not a failure of ours and
//! ends the process quietly with status 0, wherever in the error chain the
//! `EPIPE` hides.

use std::error::Error as StdError;
use std::io;
use std::process::ExitCode;

/// Any failure of a command, with the error that caused it.
#[derive(Debug)]
pub struct CommandError {
    error: Box<dyn StdError + Send + Sync>,
}

/// Result of a command body.
pub type CommandResult<T = ()> = Result<T, CommandError>;

/// How a command that did not fail ended. Most commands only ever succeed;
/// a few report a condition through the exit status alone (`cat-file -e`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Exit status 0.
    Success,
    /// Exit status 1 with nothing printed: a negative answer, not an error.
    Failure,
}

impl From<()> for Exit {
    fn from(_: ()) -> Exit {
        Exit::Success
    }
}

impl CommandError {
    /// Wrap any error.
    pub fn new(error: impl Into<Box<dyn StdError + Send + Sync>>) -> CommandError {
        CommandError { error: error.into() }
    }

    /// Whether the failure is a write to a closed pipe: the reader went
    /// away (`| head`), which ends the command but is nobody's error.
    /// Library errors wrap I/O errors (a store error naming a path, a pack
    /// stream error), so the whole source chain is searched.
    pub fn is_broken_pipe(&self) -> bool {
        let mut cur: Option<&(dyn StdError + 'static)> = Some(&*self.error);
        while let Some(e) = cur {
            if let Some(io) = e.downcast_ref::<io::Error>() {
                if io.kind() == io::ErrorKind::BrokenPipe {
                    return true;
                }
                // io::Error::source() skips a custom payload; look at it too.
                if let Some(inner) = io.get_ref() {
                    if let Some(ioi) = inner.downcast_ref::<io::Error>() {
                        if ioi.kind() == io::ErrorKind::BrokenPipe {
                            return true;
                        }
                    }
                }
            }
            cur = e.source();
        }
        false
    }

    /// The one-line message shown after `error: `.
    pub fn message(&self) -> String {
        self.error.to_string().replace('\n', " ")
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

/// An error whose message is all the user needs.
pub fn user_error(msg: impl Into<String>) -> CommandError {
    CommandError { error: msg.into().into() }
}

macro_rules! from_library_errors {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for CommandError {
            fn from(e: $t) -> CommandError {
                CommandError::new(e)
            }
        }
    )*};
}

from_library_errors!(
    io::Error,
    oxen_hash::IdError,
    oxen_store::StoreError,
    oxen_object::ObjectError,
    oxen_refs::RefError,
    oxen_index::IndexError,
    oxen_path::PathError,
    oxen_tabular::TabularError,
    oxen_repo::RepoError,
    oxen_pack::PackError,
    oxen_remote::RemoteError,
    oxen_server::ServerError,
);

/// Turn a command's result into the process exit status, reporting a
/// failure on `err` as one `error: ...` line. Writing that line may itself
/// hit a closed stderr; that is ignored, never a panic.
pub fn handle_command_result(err: &mut dyn io::Write, result: CommandResult<Exit>) -> ExitCode {
    match result {
        Ok(Exit::Success) => ExitCode::SUCCESS,
        Ok(Exit::Failure) => ExitCode::FAILURE,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(err, "error: {}", e.message());
            let _ = err.flush();
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_pipe_is_found_inside_library_errors() {
        let pipe = || io::Error::new(io::ErrorKind::BrokenPipe, "closed");
        assert!(CommandError::from(pipe()).is_broken_pipe());
        let store = oxen_store::StoreError::io("stdout", pipe());
        let repo: oxen_repo::RepoError = store.into();
        assert!(CommandError::from(repo).is_broken_pipe());
        assert!(CommandError::from(oxen_pack::PackError::Io(pipe())).is_broken_pipe());
        assert!(CommandError::from(io::Error::other(pipe())).is_broken_pipe());
        assert!(!user_error("nope").is_broken_pipe());
    }
}
