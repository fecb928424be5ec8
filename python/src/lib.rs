//! `pyoxen._native`: the Oxen library crates exposed to Python through
//! pyo3, in-process (nothing here spawns `oxen`). The pure-Python package
//! `pyoxen` wraps it (file objects, pyarrow tables, fsspec).
//!
//! Every failure reaches Python as `pyoxen.OxenError` (or a subclass) whose
//! message is the CLI's one-line message: errors go through the CLI's own
//! error edge (`oxen_cli::CommandError::message`), so both say the same.
//! Long operations run with the GIL released (`Python::allow_threads`) and
//! report progress to an optional `progress(done, total)` callable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use pyo3::prelude::*;

mod blob;
mod repo;

pyo3::create_exception!(
    pyoxen,
    OxenError,
    pyo3::exceptions::PyException,
    "Any failure of an Oxen operation; the message is the CLI's `error: ...` line."
);
pyo3::create_exception!(pyoxen, NotARepositoryError, OxenError, "The path is not inside an Oxen repository.");
pyo3::create_exception!(pyoxen, RevisionError, OxenError, "A revision or path does not name what was asked for.");
pyo3::create_exception!(
    pyoxen,
    RefusedError,
    OxenError,
    "The operation was refused (nothing to commit, local changes, an existing branch...)."
);
pyo3::create_exception!(
    pyoxen,
    MergeConflictError,
    OxenError,
    "A merge stopped on conflicts; resolve, add and commit."
);
pyo3::create_exception!(pyoxen, RemoteError, OxenError, "Talking to a remote failed or it refused.");

/// Which Python class a library error becomes.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Oxen,
    NotARepository,
    Revision,
    Refused,
    MergeConflict,
    Remote,
}

/// A library error on its way to Python: the CLI's message and a class.
pub(crate) struct Error {
    kind: Kind,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: Kind, e: impl Into<oxen_cli::CommandError>) -> Error {
        Error { kind, message: e.into().message() }
    }
}

fn repo_kind(e: &oxen_repo::RepoError) -> Kind {
    use oxen_repo::RepoError as R;
    match e {
        R::UnknownRevision(_) | R::Ambiguous(_) | R::WrongKind(..) | R::NoSuchPath(..) => Kind::Revision,
        R::Refused(_) | R::Ref(_) => Kind::Refused,
        R::Store(oxen_store::StoreError::NotARepo(_)) => Kind::NotARepository,
        _ => Kind::Oxen,
    }
}

impl From<oxen_repo::RepoError> for Error {
    fn from(e: oxen_repo::RepoError) -> Error {
        Error::new(repo_kind(&e), e)
    }
}

impl From<oxen_remote::RemoteError> for Error {
    fn from(e: oxen_remote::RemoteError) -> Error {
        let kind = match &e {
            oxen_remote::RemoteError::Repo(r) => repo_kind(r),
            _ => Kind::Remote,
        };
        Error::new(kind, e)
    }
}

macro_rules! plain_errors {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error::new(Kind::Oxen, e)
            }
        }
    )*};
}

plain_errors!(
    std::io::Error,
    oxen_store::StoreError,
    oxen_index::IndexError,
    oxen_path::PathError,
    oxen_refs::RefError,
    oxen_tabular::TabularError,
    oxen_cli::CommandError,
);

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e.kind {
            Kind::Oxen => OxenError::new_err(e.message),
            Kind::NotARepository => NotARepositoryError::new_err(e.message),
            Kind::Revision => RevisionError::new_err(e.message),
            Kind::Refused => RefusedError::new_err(e.message),
            Kind::MergeConflict => MergeConflictError::new_err(e.message),
            Kind::Remote => RemoteError::new_err(e.message),
        }
    }
}

/// A refusal whose message the CLI also gives (built by the same library call).
pub(crate) fn refused(message: String) -> Error {
    Error { kind: Kind::Refused, message }
}

pub(crate) fn merge_conflict(message: String) -> Error {
    Error { kind: Kind::MergeConflict, message }
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

/// Progress forwarded to a Python callable as `(done, total)`. Called from
/// worker threads with the GIL released, so each call takes the GIL; an
/// exception in the callback is kept and raised when the operation ends.
pub(crate) struct PyProgress {
    callback: Option<Py<PyAny>>,
    total: AtomicU64,
    failed: Mutex<Option<PyErr>>,
}

impl PyProgress {
    pub(crate) fn new(callback: Option<Py<PyAny>>) -> PyProgress {
        PyProgress { callback, total: AtomicU64::new(0), failed: Mutex::new(None) }
    }

    /// The callback's first exception, if it raised.
    pub(crate) fn finish(self) -> PyResult<()> {
        match self.failed.into_inner() {
            Ok(Some(e)) => Err(e),
            _ => Ok(()),
        }
    }

    fn call(&self, done: u64) {
        let Some(cb) = &self.callback else { return };
        let total = self.total.load(Ordering::Relaxed);
        Python::with_gil(|py| {
            if let Err(e) = cb.call1(py, (done, total)) {
                if let Ok(mut f) = self.failed.lock() {
                    f.get_or_insert(e);
                }
            }
        });
    }
}

impl oxen_store::Progress for PyProgress {
    fn start(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        self.call(0);
    }

    fn update(&self, done: u64, _bytes: u64) {
        self.call(done);
    }
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("OxenError", py.get_type::<OxenError>())?;
    m.add("NotARepositoryError", py.get_type::<NotARepositoryError>())?;
    m.add("RevisionError", py.get_type::<RevisionError>())?;
    m.add("RefusedError", py.get_type::<RefusedError>())?;
    m.add("MergeConflictError", py.get_type::<MergeConflictError>())?;
    m.add("RemoteError", py.get_type::<RemoteError>())?;
    m.add_class::<repo::Repo>()?;
    m.add_class::<repo::Commit>()?;
    m.add_class::<repo::Status>()?;
    m.add_class::<repo::Entry>()?;
    m.add_class::<blob::BlobReader>()?;
    m.add_function(wrap_pyfunction!(repo::init, m)?)?;
    m.add_function(wrap_pyfunction!(repo::clone, m)?)?;
    Ok(())
}
