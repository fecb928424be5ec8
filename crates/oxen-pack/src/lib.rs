//! Oxen's pack stream and the logic around it, with no networking: both the
//! HTTP server and the client (and the `oxen-*-pack` plumbing over pipes)
//! call these functions.
//!
//! - [`format`]: the stream itself. A header, then one frame per object
//!   (kind, id, length, bytes), an end marker, and a trailer checksum over
//!   everything before it. [`PackSource`] produces a pack lazily as a
//!   `Read`; [`receive_pack`] consumes one, verifying and storing each
//!   object as it arrives. Neither holds a whole pack in memory: a blob is
//!   streamed from its versions file to the socket and from the socket to a
//!   temp file while being hashed.
//! - [`negotiate`]: which objects a peer lacks, found by walking commits
//!   from the tips to send down to what the peer already has, and diffing
//!   each new commit's tree against its parent's so unchanged subtrees are
//!   skipped by id.
//! - [`chunks`]: chunk-level sync, which chunks of a chunked file to send
//!   (only those the receiver lacks) before its chunk list.
//! - [`refs`]: the ref-update step (compare-and-swap, fast-forward check).
//!
//! Objects are read from an [`oxen_store::ObjectSource`] and received into
//! an [`oxen_store::ObjectSink`] (the repository implements both), so this
//! crate does not depend on `oxen-repo`.

pub mod chunks;
pub mod format;
pub mod negotiate;
pub mod refs;
pub mod wire;

pub use format::{receive_pack, Item, PackSource, ReceiveStats};
pub use negotiate::{enumerate, enumerate_shallow, missing, Enumerated, ObjRef, Shallow};
pub use refs::{apply_ref_updates, is_ancestor, RefUpdateReq, RefUpdateResult};

use oxen_hash::ContentId;

/// Errors from packing, unpacking, negotiation and ref updates.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// Reading or writing the stream failed.
    #[error("pack stream: {0}")]
    Io(#[from] std::io::Error),
    /// The stream is not a well-formed pack (bad magic, truncated, bad checksum, ...).
    #[error("bad pack: {0}")]
    BadPack(String),
    /// An object's bytes do not hash to the id it was sent under.
    #[error("object {expected} is corrupt: its bytes hash to {actual}")]
    Corrupt {
        /// The id it was sent under.
        expected: ContentId,
        /// The id its bytes have.
        actual: ContentId,
    },
    /// An object decodes badly (including unsafe names in trees).
    #[error("bad object {0}: {1}")]
    BadObject(ContentId, String),
    /// An object refers to something that is neither stored nor sent before it.
    #[error("object {0} refers to missing {1} {2}")]
    MissingDependency(ContentId, &'static str, ContentId),
    /// A tree is nested deeper than the limit (tree id, limit in path components).
    #[error("tree {0} is nested more than {1} levels deep (the limit: a Linux path has at most 4,095 bytes)")]
    TooDeep(ContentId, u32),
    /// A ref update was refused because the remote has moved: fetch first.
    #[error("rejected {0}: the remote has changes you do not have locally (fetch first, then pull and push again)")]
    FetchFirst(String),
    /// A ref update would lose commits.
    #[error("rejected {0}: non-fast-forward (pull and merge first, or push with --force)")]
    NonFastForward(String),
    /// The ref is the checked-out branch of a repository with a work tree
    /// (not bare): moving it would leave the work tree and index describing
    /// the old commit, so `status` would show the pushed change reversed
    /// and the next commit would undo it. Refused, as git's
    /// `receive.denyCurrentBranch` does.
    #[error("refusing to update checked out branch {0} of a non-bare repository (push to another branch, or check out another branch there first)")]
    CheckedOutBranch(String),
    /// The update deletes the branch HEAD names (the repository's default
    /// branch, bare or not): a clone would find nothing to check out.
    /// Refused, as git's `receive.denyDeleteCurrent` does.
    #[error("refusing to delete the current branch {0}: it is HEAD (the default branch) of the remote repository")]
    DeleteCurrent(String),
    /// A ref name or id in an update request is invalid.
    #[error("invalid ref update: {0}")]
    BadRequest(String),
    /// A commit a ref should point at is not stored.
    #[error("cannot update {0}: commit {1} is not in the repository")]
    MissingTip(String, ContentId),
    /// A stored commit or tree does not decode.
    #[error(transparent)]
    Object(#[from] oxen_object::ObjectError),
    /// Store-level failure.
    #[error(transparent)]
    Store(#[from] oxen_store::StoreError),
    /// Ref-level failure.
    #[error(transparent)]
    Ref(#[from] oxen_refs::RefError),
}

impl PackError {
    /// Whether the error is the peer's fault (bad input) rather than ours;
    /// the server maps these to 4xx.
    pub fn is_client_error(&self) -> bool {
        match self {
            PackError::BadPack(_)
            | PackError::Corrupt { .. }
            | PackError::BadObject(..)
            | PackError::MissingDependency(..)
            | PackError::TooDeep(..)
            | PackError::FetchFirst(_)
            | PackError::NonFastForward(_)
            | PackError::CheckedOutBranch(_)
            | PackError::DeleteCurrent(_)
            | PackError::BadRequest(_)
            | PackError::MissingTip(..) => true,
            PackError::Io(e) => matches!(e.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData),
            PackError::Ref(oxen_refs::RefError::BadName(..)) => true,
            _ => false,
        }
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, PackError>;
