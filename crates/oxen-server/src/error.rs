//! What a failed request answers: a status and a one-line message, mapped
//! from the library errors in one place.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};

use oxen_pack::PackError;
use oxen_store::StoreError;

use crate::ServerError;

/// A failed request: HTTP status and message (sent as `{"error": msg}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    /// HTTP status code.
    pub status: u16,
    /// One line for the client.
    pub msg: String,
}

impl Fail {
    /// A failure with a status and message.
    pub fn new(status: u16, msg: impl Into<String>) -> Fail {
        Fail { status, msg: msg.into() }
    }

    /// A server-side failure (500), unless it is a full disk (507) — said
    /// plainly, naming the path, with what to do — or a client error.
    /// `place` names where the request was writing (the repository), for
    /// errors that do not carry a path themselves.
    pub fn internal(e: &(dyn StdError + 'static), place: Option<&Path>) -> Fail {
        if let Some(path) = no_space(e).map(|p| p.or_else(|| place.map(Path::to_path_buf))) {
            let at = path.map(|p| p.display().to_string()).unwrap_or_else(|| "the server's disk".into());
            return Fail::new(
                507,
                format!(
                    "no space left on {at} (objects received so far are kept: push again once the server has space)"
                ),
            );
        }
        Fail::new(500, e.to_string())
    }

    /// Map a pack error: the peer's fault is 4xx, a ref race 409, a full
    /// disk 507, anything else 500.
    pub fn pack(e: PackError, place: Option<&Path>) -> Fail {
        match &e {
            PackError::FetchFirst(_)
            | PackError::NonFastForward(_)
            | PackError::CheckedOutBranch(_)
            | PackError::DeleteCurrent(_) => Fail::new(409, e.to_string()),
            e if e.is_client_error() => Fail::new(400, e.to_string()),
            _ => Fail::internal(&e, place),
        }
    }
}

impl From<ServerError> for Fail {
    fn from(e: ServerError) -> Fail {
        match e {
            ServerError::NotFound(name) => Fail::new(404, format!("repository '{name}' not found")),
            ServerError::Exists(name) => Fail::new(409, format!("repository '{name}' already exists")),
            ServerError::BadName(name) => Fail::new(
                400,
                format!("invalid repository name '{name}': use [A-Za-z0-9._-], not starting with '.', no '..'"),
            ),
            e => Fail::internal(&e, None),
        }
    }
}

/// `ENOSPC`, and `EDQUOT` (a quota is a full disk to the writer).
fn is_no_space(errno: i32) -> bool {
    errno == 28 || errno == 122
}

/// Whether `e` (or anything in its source chain) is a full disk; with the
/// path when the error names one.
pub fn no_space(e: &(dyn StdError + 'static)) -> Option<Option<PathBuf>> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        match store_error(err) {
            Some(StoreError::NoSpace { path, .. }) => return Some(Some(path.clone())),
            Some(StoreError::Io { path, source }) if source.raw_os_error().is_some_and(is_no_space) => {
                return Some(Some(path.clone()));
            }
            Some(StoreError::Db(db)) if db.raw_os_error().is_some_and(is_no_space) => return Some(None),
            _ => {}
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.raw_os_error().is_some_and(is_no_space) {
                return Some(None);
            }
            // A custom io::Error (e.g. a stream error re-wrapped) hides its
            // payload from source().
            if let Some(inner) = io.get_ref() {
                if let Some(found) = no_space(inner) {
                    return Some(found);
                }
            }
        }
        cur = err.source();
    }
    None
}

/// The store error inside `e`, looking through the wrappers that show it
/// transparently (their `source()` skips it, and with it the path).
fn store_error<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a StoreError> {
    use oxen_repo::RepoError;
    if let Some(s) = e.downcast_ref::<StoreError>() {
        return Some(s);
    }
    let repo = |r: &'a RepoError| match r {
        RepoError::Store(s) => Some(s),
        RepoError::Ref(oxen_refs::RefError::Store(s)) => Some(s),
        _ => None,
    };
    match (e.downcast_ref::<PackError>(), e.downcast_ref::<RepoError>(), e.downcast_ref::<ServerError>()) {
        (Some(PackError::Store(s)), _, _) => Some(s),
        (Some(PackError::Ref(oxen_refs::RefError::Store(s))), _, _) => Some(s),
        (_, Some(r), _) => repo(r),
        (_, _, Some(ServerError::Store(s))) => Some(s),
        (_, _, Some(ServerError::Repo(r))) => repo(r),
        (_, _, Some(ServerError::Ref(oxen_refs::RefError::Store(s)))) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_507_naming_the_path() {
        let full = std::io::Error::from_raw_os_error(28);
        let e = StoreError::io("/srv/oxen/R/.oxen/tmp/.tmpAbc", full);
        let f = Fail::internal(&e, None);
        assert_eq!(f.status, 507);
        assert!(f.msg.starts_with("no space left on /srv/oxen/R/.oxen/tmp/.tmpAbc"), "{}", f.msg);
        assert!(f.msg.contains("push again"), "{}", f.msg);
        // Wrapped in a pack error, with the repository as the place.
        let e = PackError::Store(StoreError::io("/x/y", std::io::Error::from_raw_os_error(122)));
        assert_eq!(Fail::pack(e, Some(Path::new("/srv/R"))).status, 507);
        // Behind transparent wrappers, the path is still found.
        let e = ServerError::Repo(oxen_repo::RepoError::Store(StoreError::io(
            "/a/b",
            std::io::Error::from_raw_os_error(28),
        )));
        assert!(Fail::from(e).msg.starts_with("no space left on /a/b "));
        let e = PackError::Io(std::io::Error::from_raw_os_error(28));
        let f = Fail::pack(e, Some(Path::new("/srv/R")));
        assert_eq!((f.status, f.msg.starts_with("no space left on /srv/R ")), (507, true), "{}", f.msg);
        // Other I/O errors stay 500.
        let e = StoreError::io("/x", std::io::Error::from_raw_os_error(5));
        assert_eq!(Fail::internal(&e, None).status, 500);
    }
}
