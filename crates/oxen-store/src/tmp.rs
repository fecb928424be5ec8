//! Temp files in `.oxen/tmp`, and the sweep of those whose writer died.
//!
//! A write goes to a temp file that is renamed into place when complete;
//! a writer killed before the rename leaves the temp file behind (a big
//! file's worth). To tell such orphans from files still being written,
//! every writer holds an exclusive `flock` on its temp file for as long as
//! it has it open, and the kernel drops that lock when the writer dies,
//! however it dies. The sweep removes only temp files it can lock.
//!
//! The one race, a sweep locking a file its writer has created but not yet
//! locked, is closed on the writer's side: after taking its lock it checks
//! the path still names its file, and starts over with a new one if the
//! sweep removed it.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};

/// A new temp file in `dir`, locked for as long as it is open.
pub fn locked_temp_in(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    loop {
        let tmp = tempfile::NamedTempFile::new_in(dir)?;
        flock(tmp.as_file(), FlockOperation::LockExclusive)?;
        let mine = tmp.as_file().metadata()?;
        match std::fs::symlink_metadata(tmp.path()) {
            Ok(m) if m.dev() == mine.dev() && m.ino() == mine.ino() => return Ok(tmp),
            // A sweep took it between create and lock: try another name.
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
}

/// What a sweep removed.
#[derive(Debug, Default)]
pub struct Swept {
    /// Temp files removed.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files that could not be looked at or removed, and why.
    pub errors: Vec<(PathBuf, io::Error)>,
}

/// Remove the temp files in `dir` whose writers are gone (nobody holds
/// their lock). A missing `dir` has nothing to sweep.
pub fn sweep_tmp(dir: &Path) -> Swept {
    let mut swept = Swept::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return swept,
        Err(e) => {
            swept.errors.push((dir.to_path_buf(), e));
            return swept;
        }
    };
    for entry in entries {
        let path = match entry {
            Ok(e) => e.path(),
            Err(e) => {
                swept.errors.push((dir.to_path_buf(), e));
                continue;
            }
        };
        match sweep_one(&path) {
            Ok(Some(bytes)) => {
                swept.files += 1;
                swept.bytes += bytes;
            }
            Ok(None) => {}
            Err(e) => swept.errors.push((path, e)),
        }
    }
    swept
}

/// Remove one orphaned temp file; `None` if it is not one (in use, or not
/// a regular file).
fn sweep_one(path: &Path) -> io::Result<Option<u64>> {
    if !std::fs::symlink_metadata(path)?.is_file() {
        return Ok(None);
    }
    let f = match File::open(path) {
        Ok(f) => f,
        // Renamed into place (or swept) since the listing.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match flock(&f, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = f.metadata()?.len();
    // Removed while we hold the lock, so a writer that locks after us sees
    // its path gone and starts over.
    match std::fs::remove_file(path) {
        Ok(()) => Ok(Some(len)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_sweep_removes_orphans_and_spares_live_writers() {
        let d = tempfile::tempdir().unwrap();
        // An orphan: a temp file nobody holds (its writer died).
        let orphan = d.path().join(".tmpDEAD");
        std::fs::write(&orphan, vec![7u8; 1000]).unwrap();
        // A live writer's file, locked.
        let mut live = locked_temp_in(d.path()).unwrap();
        live.write_all(b"still writing").unwrap();
        let s = sweep_tmp(d.path());
        assert_eq!((s.files, s.bytes), (1, 1000));
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        assert!(!orphan.exists());
        assert!(live.path().exists(), "a live writer's temp file was swept");
        // Once the writer is done (its file closed and gone), nothing is left.
        let p = live.path().to_path_buf();
        drop(live);
        assert!(!p.exists());
        assert_eq!(sweep_tmp(d.path()).files, 0);
        assert_eq!(sweep_tmp(&d.path().join("missing")).files, 0);
    }
}
