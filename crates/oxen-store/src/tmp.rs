//! Temp files that their writer's death does not leak.
//!
//! Everything written atomically goes through a temp file in `.oxen/tmp`
//! that is renamed into place. A writer killed in between (SIGINT during
//! `add` ends the process without running destructors) leaves its temp
//! file behind, and nothing would ever remove it. So each temp file is
//! named after its writer's pid (`<pid>-<random>.tmp`) and held under an
//! exclusive `flock` while open, and [`sweep_tmp`] removes the files of
//! writers that are gone.
//!
//! A file is swept only when both say its writer is gone: no process has
//! its pid (a reused pid just delays the sweep), and its lock is free (a
//! writer in another pid namespace, whose pid means nothing here, still
//! holds it).

use std::fs::File;
use std::path::Path;

use rustix::fs::{flock, FlockOperation};
use tempfile::NamedTempFile;

use crate::{Result, StoreError};

const SUFFIX: &str = ".tmp";

/// A new temp file in `dir`, tagged with this process's pid and locked.
/// A missing `dir` (someone removed `.oxen/tmp`) is made again rather
/// than failing with a bare "No such file or directory".
pub fn temp_file(dir: &Path) -> Result<NamedTempFile> {
    let make = || tempfile::Builder::new().prefix(&format!("{}-", std::process::id())).suffix(SUFFIX).tempfile_in(dir);
    let tmp = match make() {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
            make().map_err(|e| StoreError::io(dir, e))?
        }
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    lock_as_writer(tmp.as_file());
    Ok(tmp)
}

/// The writer pid a temp file's name carries, if it is one of ours.
fn writer_pid(name: &str) -> Option<u32> {
    let (pid, rest) = name.strip_suffix(SUFFIX)?.split_once('-')?;
    if rest.is_empty() {
        return None;
    }
    pid.parse().ok()
}

/// Whether the writer of a file named after `pid` (a temp file, a
/// segment), open here as `f`, is gone: not this process, no process has
/// the pid, and the file's lock is free (a writer in another pid
/// namespace holds it). On `true` the caller holds the lock while `f` is
/// open. Serves the temp-file sweep and segment gc alike.
pub(crate) fn writer_gone(pid: u32, f: &File) -> bool {
    if pid == std::process::id() || alive(pid) {
        return false;
    }
    // Locked by us now, or not lockable on this filesystem: the pid has spoken.
    !matches!(flock(f, FlockOperation::NonBlockingLockExclusive), Err(rustix::io::Errno::WOULDBLOCK))
}

/// Hold a new file's writer lock (see [`writer_gone`]) while it is open.
/// Filesystems without flock fall back to the pid alone.
pub(crate) fn lock_as_writer(f: &File) {
    let _ = flock(f, FlockOperation::NonBlockingLockExclusive);
}

/// Whether a process with this pid exists here (remote blocks' gc).
pub(crate) fn pid_alive(pid: u32) -> bool {
    alive(pid)
}

/// Whether a process with this pid exists (EPERM: it does, but is not ours).
fn alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else {
        return false;
    };
    !matches!(rustix::process::test_kill_process(pid), Err(rustix::io::Errno::SRCH))
}

/// What a sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Temp files removed.
    pub files: u64,
    /// Their bytes (a killed push can leave tens of MB).
    pub bytes: u64,
}

/// Remove the temp files in `dir` whose writers are gone.
/// Best effort: an unreadable directory or a file that cannot be removed
/// is left for the next sweep, never an error for the command that swept.
pub fn sweep_tmp(dir: &Path) -> Swept {
    sweep_dead_writers(dir, writer_pid)
}

/// Remove the open-block files (`<pid>-<hex>.seg`) in `dir` whose writers
/// are gone, for a repository whose blocks live in remote storage: there a
/// local block file is only ever the block being written (sealed blocks
/// are uploaded, then removed, before any location names them), so a dead
/// writer's file is garbage. Never call it for local blocks, which are
/// the store itself. Best effort, as [`sweep_tmp`].
pub fn sweep_scratch_blocks(dir: &Path) -> Swept {
    sweep_dead_writers(dir, |name| {
        name.strip_suffix(".seg")
            .and_then(|n| n.split_once('-'))
            .filter(|(_, rest)| !rest.is_empty())
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
    })
}

/// Remove the files in `dir` whose names give a writer's pid (`pid_of`)
/// and whose writer is gone; both sweeps are this walk with their own
/// naming rule.
fn sweep_dead_writers(dir: &Path, pid_of: impl Fn(&str) -> Option<u32>) -> Swept {
    let mut swept = Swept::default();
    let Ok(entries) = std::fs::read_dir(dir) else { return swept };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(&pid_of) else { continue };
        let path = e.path();
        let Ok(f) = File::open(&path) else { continue };
        if !writer_gone(pid, &f) {
            continue;
        }
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if std::fs::remove_file(&path).is_ok() {
            swept.files += 1;
            swept.bytes += len;
        }
    }
    swept
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid no process has: past the kernel's pid_max (at most 2^22).
    const DEAD_PID: u32 = 1 << 23;

    #[test]
    fn names_carry_the_pid() {
        assert_eq!(writer_pid("123-abcDEF.tmp"), Some(123));
        assert_eq!(writer_pid("123-.tmp"), None);
        assert_eq!(writer_pid("x-abc.tmp"), None);
        assert_eq!(writer_pid("123-abc"), None);
        assert_eq!(writer_pid(".tmpXYZ"), None);
        assert!(alive(std::process::id()));
        assert!(!alive(DEAD_PID));
    }

    #[test]
    fn a_sweep_removes_dead_writers_files_only() {
        let d = tempfile::tempdir().unwrap();
        let dead = d.path().join(format!("{DEAD_PID}-abcdef.tmp"));
        std::fs::write(&dead, b"half of a file").unwrap();
        let foreign = d.path().join("notes.txt");
        std::fs::write(&foreign, b"not ours").unwrap();
        // A live writer in another pid namespace: dead pid, held lock.
        let held = d.path().join(format!("{}-held.tmp", DEAD_PID + 1));
        std::fs::write(&held, b"").unwrap();
        let held_file = File::open(&held).unwrap();
        flock(&held_file, FlockOperation::NonBlockingLockExclusive).unwrap();
        // This process's own temp file, open and being written.
        let mine = temp_file(d.path()).unwrap();

        assert_eq!(sweep_tmp(d.path()), Swept { files: 1, bytes: 14 });
        assert!(!dead.exists());
        assert!(foreign.exists() && held.exists() && mine.path().exists());
        drop(held_file);
        assert_eq!(sweep_tmp(d.path()).files, 1, "the lock released, the dead pid's file goes");
    }

    #[test]
    fn a_missing_tmp_dir_is_made_again() {
        let d = tempfile::tempdir().unwrap();
        let tmp = d.path().join("tmp");
        let t = temp_file(&tmp).unwrap();
        assert!(t.path().starts_with(&tmp));
        assert_eq!(sweep_tmp(&d.path().join("nowhere")), Swept::default());
    }
}
