//! Oxen's object model: trees (one merkle node per directory, bucketed when
//! huge) and commits, with a deterministic canonical encoding. An object's
//! id is the xxh3-128 of its canonical bytes, so the same inputs give the
//! same id on every machine.

mod commit;
pub mod graph;
mod tabular;
mod tree;

pub use commit::{format_tz, parse_tz, Commit, Signature, MAX_PARENTS};
pub use tabular::{Column, ColumnType, TabularFormat, TabularMeta};
pub use tree::{bucket_bits_for, bucket_of, validate_name, EntryKind, Tree, TreeEntry, BUCKET_TARGET};

/// Errors decoding or validating objects.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ObjectError {
    /// Bytes that are not a canonical object: decoding refuses rather than guesses, since ids depend on exact bytes.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// `tree` or `commit`.
        what: &'static str,
        /// Which rule the bytes break.
        why: String,
    },
    /// A tree entry name that could escape or corrupt a work tree (`..`, `/`, `.oxen`, ...).
    #[error("invalid name {} in tree: {}", oxen_path::quote(.0, oxen_path::Quote::C), .1)]
    BadName(bstr::BString, &'static str),
}

pub(crate) fn malformed(what: &'static str, why: impl Into<String>) -> ObjectError {
    ObjectError::Malformed { what, why: why.into() }
}

/// File modes, as in git.
pub mod mode {
    /// A regular file.
    pub const FILE: u32 = 0o100644;
    /// An executable file.
    pub const EXEC: u32 = 0o100755;
    /// A symbolic link (contents are the link target).
    pub const SYMLINK: u32 = 0o120000;
    /// A directory.
    pub const DIR: u32 = 0o040000;

    /// Normalise a raw st_mode to one of the modes above.
    pub fn from_st_mode(st: u32) -> u32 {
        match st & 0o170000 {
            0o120000 => SYMLINK,
            0o040000 => DIR,
            _ if st & 0o111 != 0 => EXEC,
            _ => FILE,
        }
    }
}
