//! The work tree as a directory handle: every read and write of a
//! work-tree path goes through [`WorkTree`].
//!
//! A path is never opened by its full name. Each directory on the way is
//! opened relative to its parent's handle with `O_NOFOLLOW|O_DIRECTORY`, and
//! files are created, read, renamed and removed relative to their
//! directory's handle (`openat`, `statat`, `renameat`, `unlinkat`,
//! `mkdirat`, `symlinkat`). So no operation reads or writes a path whose
//! parent chain holds a symlink (git's `has_symlink_leading_path` rule), and
//! a symlink swapped in while an operation runs cannot redirect a write out
//! of the work tree: the kernel refuses to follow it. A symlink inside the
//! work tree is itself only ever read as a link (its target bytes) or
//! replaced, never followed.
//!
//! Opened directories are kept in a small cache (git keeps a cache of
//! checked leading directories for the same reason), so writing 100,000
//! files costs one `openat` per directory, not one per path component per
//! file. Paths of any depth work: no call ever passes the kernel more than
//! one name, so `PATH_MAX` never applies.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use oxen_path::RepoPath;
use oxen_store::faults::write_point;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::entry::FileStat;

/// Open flags of a directory on the way down: never through a symlink.
const DIR_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// Open flags of a new file: never over an existing name, never through a link.
const CREATE_FLAGS: OFlags =
    OFlags::WRONLY.union(OFlags::CREATE).union(OFlags::EXCL).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// How many directory handles the cache keeps before starting over (well
/// under the usual 1,024 open files a process may hold).
const DIR_CACHE_MAX: usize = 256;

/// What stands at a work-tree path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (never followed).
    Symlink,
    /// A device, socket or FIFO: never versioned.
    Other,
}

/// A work-tree path's kind and stat, as `lstat` gives them.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    /// File, directory, symlink or other.
    pub kind: Kind,
    /// The stat fields the index records.
    pub stat: FileStat,
}

impl Meta {
    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }
}

/// What the directories leading to a path hold.
#[derive(Debug)]
pub enum Parent {
    /// Every leading component is a real directory: the parent's handle.
    Dir(Arc<OwnedFd>),
    /// A leading directory does not exist.
    Missing,
    /// A leading component is not a directory (a symlink, never followed,
    /// or a file): its path. Nothing below it is in the work tree.
    Blocked(RepoPath),
}

/// The work tree rooted at a directory, with a cache of opened directories.
pub struct WorkTree {
    root: PathBuf,
    root_fd: Arc<OwnedFd>,
    cache: Mutex<HashMap<Vec<u8>, Arc<OwnedFd>>>,
}

impl std::fmt::Debug for WorkTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkTree").field("root", &self.root).finish()
    }
}

fn io_err(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// The temp name a write to `name` uses before its rename: fixed per name,
/// so whatever an interrupted write left behind is found and replaced by
/// the next write of the same file (and removed when an interrupted
/// checkout is completed).
pub fn tmp_name(name: &[u8]) -> Vec<u8> {
    let hex = oxen_hash::ContentId::of(name).to_hex();
    format!(".oxen-tmp-{}", &hex[..16]).into_bytes()
}

impl WorkTree {
    /// Open the work tree rooted at `root` (the root itself may be reached
    /// through symlinks: that is where the user put it).
    pub fn open(root: &Path) -> io::Result<WorkTree> {
        let fd = rustix::fs::open(root, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(io_err)?;
        Ok(WorkTree { root: root.to_path_buf(), root_fd: Arc::new(fd), cache: Mutex::new(HashMap::new()) })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `path` as an absolute file name, for messages and ignore matching
    /// only: never opened by that name.
    pub fn abs(&self, path: &RepoPath) -> PathBuf {
        path.abs(&self.root)
    }

    fn cached(&self, dir: &[u8]) -> Option<Arc<OwnedFd>> {
        self.cache.lock().ok()?.get(dir).cloned()
    }

    fn remember(&self, dir: &[u8], fd: &Arc<OwnedFd>) {
        if let Ok(mut c) = self.cache.lock() {
            if c.len() >= DIR_CACHE_MAX {
                c.clear();
            }
            c.insert(dir.to_vec(), Arc::clone(fd));
        }
    }

    /// Drop cached handles of `path` and everything below it (after it was
    /// removed or replaced). The whole cache goes: finding the entries below
    /// a path costs a comparison with every cached name, which pruning a
    /// chain thousands of levels deep would repeat at every level, while
    /// removing directories is rare and refilling the cache cheap.
    fn forget(&self, _path: &[u8]) {
        if let Ok(mut c) = self.cache.lock() {
            c.clear();
        }
    }

    /// Open directory `dir` through real directories only.
    pub fn open_dir(&self, dir: &RepoPath) -> io::Result<Parent> {
        if dir.is_root() {
            return Ok(Parent::Dir(Arc::clone(&self.root_fd)));
        }
        let bytes = dir.as_bytes();
        if let Some(fd) = self.cached(bytes) {
            return Ok(Parent::Dir(fd));
        }
        // Start below the deepest ancestor already open.
        let mut fd = Arc::clone(&self.root_fd);
        let mut start = 0;
        for a in dir.ancestors() {
            if let Some(f) = self.cached(a) {
                fd = f;
                start = a.len() + 1;
                break;
            }
        }
        loop {
            let end = bytes[start..].iter().position(|b| *b == b'/').map_or(bytes.len(), |i| start + i);
            match rustix::fs::openat(&*fd, &bytes[start..end], DIR_FLAGS, Mode::empty()) {
                Ok(child) => {
                    fd = Arc::new(child);
                    self.remember(&bytes[..end], &fd);
                }
                Err(Errno::NOENT) => return Ok(Parent::Missing),
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    return Ok(Parent::Blocked(RepoPath::new(&bytes[..end]).map_err(io::Error::other)?));
                }
                Err(e) => return Err(io_err(e)),
            }
            if end == bytes.len() {
                return Ok(Parent::Dir(fd));
            }
            start = end + 1;
        }
    }

    /// The directory holding `path`, opened through real directories only.
    pub fn parent(&self, path: &RepoPath) -> io::Result<Parent> {
        self.open_dir(&path.parent().unwrap_or_default())
    }

    /// What stands at `path`, not following a symlink there; `None` when
    /// nothing does, or when a leading component is not a real directory
    /// (then nothing at that path is in the work tree).
    pub fn lstat(&self, path: &RepoPath) -> io::Result<Option<Meta>> {
        if path.is_root() {
            let st = rustix::fs::fstat(&*self.root_fd).map_err(io_err)?;
            return Ok(Some(meta_of(&st)));
        }
        let Parent::Dir(fd) = self.parent(path)? else { return Ok(None) };
        match rustix::fs::statat(&*fd, path.name(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(meta_of(&st))),
            Err(Errno::NOENT | Errno::NOTDIR) => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }

    /// The first leading component of `path` that is not a real directory
    /// (a symlink or a file), with its kind.
    pub fn blocked_leading(&self, path: &RepoPath) -> io::Result<Option<(RepoPath, Kind)>> {
        match self.parent(path)? {
            Parent::Blocked(b) => {
                let kind = self.lstat(&b)?.map_or(Kind::Other, |m| m.kind);
                Ok(Some((b, kind)))
            }
            _ => Ok(None),
        }
    }

    /// The symlink in `path`'s parent chain, if there is one: a path beyond
    /// a symbolic link is not in the work tree (git's
    /// `has_symlink_leading_path`).
    pub fn symlink_leading(&self, path: &RepoPath) -> io::Result<Option<RepoPath>> {
        Ok(self.blocked_leading(path)?.filter(|(_, k)| *k == Kind::Symlink).map(|(p, _)| p))
    }

    /// Open a file for reading, never following a symlink; `None` when it
    /// is not there.
    pub fn open_file(&self, path: &RepoPath) -> io::Result<Option<File>> {
        let Parent::Dir(fd) = self.parent(path)? else { return Ok(None) };
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(&*fd, path.name(), flags, Mode::empty()) {
            Ok(f) => Ok(Some(File::from(f))),
            Err(Errno::NOENT | Errno::NOTDIR) => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }

    /// The whole contents of a file (or, for a symlink, its target bytes);
    /// `None` when it is not there.
    pub fn read(&self, path: &RepoPath) -> io::Result<Option<Vec<u8>>> {
        match self.lstat(path)? {
            None => Ok(None),
            Some(m) if m.kind == Kind::Symlink => self.read_link(path).map(Some),
            Some(_) => {
                let Some(mut f) = self.open_file(path)? else { return Ok(None) };
                let mut v = Vec::new();
                f.read_to_end(&mut v)?;
                Ok(Some(v))
            }
        }
    }

    /// A symlink's target, as bytes.
    pub fn read_link(&self, path: &RepoPath) -> io::Result<Vec<u8>> {
        let Parent::Dir(fd) = self.parent(path)? else {
            return Err(io::Error::new(io::ErrorKind::NotFound, "not in the work tree"));
        };
        let target = rustix::fs::readlinkat(&*fd, path.name(), Vec::new()).map_err(io_err)?;
        Ok(target.into_bytes())
    }

    /// Make `dir` a real directory, creating what is missing. A symlink or
    /// file standing where a directory must be is removed first (the link
    /// itself, never what it points at): callers make sure beforehand that
    /// nothing of the user's stands there.
    pub fn make_dir(&self, dir: &RepoPath) -> io::Result<Arc<OwnedFd>> {
        if let Parent::Dir(fd) = self.open_dir(dir)? {
            return Ok(fd);
        }
        let bytes = dir.as_bytes();
        let mut fd = Arc::clone(&self.root_fd);
        let mut start = 0;
        loop {
            let end = bytes[start..].iter().position(|b| *b == b'/').map_or(bytes.len(), |i| start + i);
            let name = &bytes[start..end];
            let mut tries = 0;
            let child = loop {
                tries += 1;
                match rustix::fs::openat(&*fd, name, DIR_FLAGS, Mode::empty()) {
                    Ok(c) => break c,
                    Err(e) if tries > 3 => return Err(io_err(e)),
                    Err(Errno::NOENT) => {
                        write_point();
                        match rustix::fs::mkdirat(&*fd, name, Mode::from_raw_mode(0o777)) {
                            Ok(()) | Err(Errno::EXIST) => {}
                            Err(e) => return Err(io_err(e)),
                        }
                    }
                    Err(Errno::LOOP | Errno::NOTDIR) => {
                        write_point();
                        rustix::fs::unlinkat(&*fd, name, AtFlags::empty()).map_err(io_err)?;
                        self.forget(&bytes[..end]);
                    }
                    Err(e) => return Err(io_err(e)),
                }
            };
            fd = Arc::new(child);
            self.remember(&bytes[..end], &fd);
            if end == bytes.len() {
                return Ok(fd);
            }
            start = end + 1;
        }
    }

    /// An empty directory standing at `name` gives way to a file; one that
    /// still holds something is not ours to remove.
    fn clear_dir_for_file(&self, dirfd: &OwnedFd, path: &RepoPath) -> io::Result<()> {
        write_point();
        match rustix::fs::unlinkat(dirfd, path.name(), AtFlags::REMOVEDIR) {
            Ok(()) => {
                self.forget(path.as_bytes());
                Ok(())
            }
            Err(Errno::NOTEMPTY | Errno::EXIST) => Err(io::Error::new(
                io::ErrorKind::DirectoryNotEmpty,
                format!(
                    "cannot replace directory '{path}' with a file: it holds untracked files; move them away and retry"
                ),
            )),
            Err(e) => Err(io_err(e)),
        }
    }

    /// Write `src` as the file `path` (creating its directories). A new
    /// file is written in place (create, write, close: what `cp` costs); an
    /// existing one is replaced by a temp file and a rename, so its old
    /// contents are never half-overwritten. `exec` sets the executable bits
    /// (as the umask allows). Returns the new file's stat.
    pub fn write_file(&self, path: &RepoPath, src: &mut dyn Read, exec: bool) -> io::Result<FileStat> {
        let dirfd = self.make_dir(&path.parent().unwrap_or_default())?;
        let name = path.name();
        let perm = Mode::from_raw_mode(if exec { 0o777 } else { 0o666 });
        for _ in 0..2 {
            write_point();
            match rustix::fs::openat(&*dirfd, name, CREATE_FLAGS, perm) {
                Ok(fd) => {
                    let mut f = File::from(fd);
                    write_point();
                    let m = io::copy(src, &mut f).and_then(|_| f.metadata());
                    return match m {
                        Ok(m) => Ok(FileStat::from_metadata(&m)),
                        Err(e) => {
                            // Nothing was there before; nothing half-written
                            // (or unverified: the store's reads verify as
                            // they stream) stays.
                            drop(f);
                            let _ = rustix::fs::unlinkat(&*dirfd, name, AtFlags::empty());
                            Err(e)
                        }
                    };
                }
                Err(Errno::EXIST) => {}
                Err(e) => return Err(io_err(e)),
            }
            match rustix::fs::statat(&*dirfd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileType::from_raw_mode(st.st_mode as _) == FileType::Directory => {
                    self.clear_dir_for_file(&dirfd, path)?;
                }
                _ => break,
            }
        }
        let tmp = tmp_name(name);
        // Whatever an interrupted write of this file left behind.
        let _ = rustix::fs::unlinkat(&*dirfd, tmp.as_slice(), AtFlags::empty());
        write_point();
        let fd = rustix::fs::openat(&*dirfd, tmp.as_slice(), CREATE_FLAGS, perm).map_err(io_err)?;
        let mut f = File::from(fd);
        let copied = io::copy(src, &mut f).and_then(|_| f.flush());
        drop(f);
        if let Err(e) = copied {
            let _ = rustix::fs::unlinkat(&*dirfd, tmp.as_slice(), AtFlags::empty());
            return Err(e);
        }
        write_point();
        rustix::fs::renameat(&*dirfd, tmp.as_slice(), &*dirfd, name).map_err(io_err)?;
        // Stat after the rename: it changes ctime, which the stat cache compares.
        let st = rustix::fs::statat(&*dirfd, name, AtFlags::SYMLINK_NOFOLLOW).map_err(io_err)?;
        Ok(meta_of(&st).stat)
    }

    /// Make `path` a symlink to `target` (bytes, UTF-8 or not), replacing
    /// what stands there by a rename. Returns the link's stat.
    pub fn write_symlink(&self, path: &RepoPath, target: &[u8]) -> io::Result<FileStat> {
        let dirfd = self.make_dir(&path.parent().unwrap_or_default())?;
        let name = path.name();
        write_point();
        match rustix::fs::symlinkat(target, &*dirfd, name) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                if let Ok(st) = rustix::fs::statat(&*dirfd, name, AtFlags::SYMLINK_NOFOLLOW) {
                    if FileType::from_raw_mode(st.st_mode as _) == FileType::Directory {
                        self.clear_dir_for_file(&dirfd, path)?;
                        return self.write_symlink(path, target);
                    }
                }
                let tmp = tmp_name(name);
                let _ = rustix::fs::unlinkat(&*dirfd, tmp.as_slice(), AtFlags::empty());
                rustix::fs::symlinkat(target, &*dirfd, tmp.as_slice()).map_err(io_err)?;
                write_point();
                rustix::fs::renameat(&*dirfd, tmp.as_slice(), &*dirfd, name).map_err(io_err)?;
            }
            Err(e) => return Err(io_err(e)),
        }
        let st = rustix::fs::statat(&*dirfd, name, AtFlags::SYMLINK_NOFOLLOW).map_err(io_err)?;
        Ok(meta_of(&st).stat)
    }

    /// Remove the file or symlink at `path` (a link itself, never what it
    /// points at). Returns whether something was removed: nothing is when
    /// the path is not there, when a directory stands there, or when a
    /// leading component is not a real directory.
    pub fn remove_file(&self, path: &RepoPath) -> io::Result<bool> {
        let Parent::Dir(fd) = self.parent(path)? else { return Ok(false) };
        write_point();
        match rustix::fs::unlinkat(&*fd, path.name(), AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT | Errno::NOTDIR | Errno::ISDIR) => Ok(false),
            Err(e) => Err(io_err(e)),
        }
    }

    /// Remove the directories above `path` that are left empty, deepest
    /// first, stopping at the first that is not (or at the root). Each step
    /// up goes through `..` of the directory just emptied (a real directory
    /// entry, never a symlink), so pruning a chain thousands of levels deep
    /// costs one `openat` per level rather than a lookup from the root.
    pub fn prune_empty_dirs(&self, path: &RepoPath) {
        let Ok(Parent::Dir(mut fd)) = self.parent(path) else { return };
        let mut cur = path.parent();
        while let Some(dir) = cur {
            if dir.is_root() {
                break;
            }
            let Ok(up) = rustix::fs::openat(&*fd, "..", DIR_FLAGS, Mode::empty()) else { break };
            write_point();
            if rustix::fs::unlinkat(&up, dir.name(), AtFlags::REMOVEDIR).is_err() {
                break;
            }
            self.forget(dir.as_bytes());
            fd = Arc::new(up);
            cur = dir.parent();
        }
    }

    /// Remove an empty directory; `false` when it is not there or not empty.
    pub fn remove_empty_dir(&self, dir: &RepoPath) -> bool {
        let Ok(Parent::Dir(fd)) = self.parent(dir) else { return false };
        write_point();
        let ok = rustix::fs::unlinkat(&*fd, dir.name(), AtFlags::REMOVEDIR).is_ok();
        if ok {
            self.forget(dir.as_bytes());
        }
        ok
    }

    /// Remove what an interrupted write of `path` may have left (its temp
    /// file); nothing there is not an error.
    pub fn remove_leftover_tmp(&self, path: &RepoPath) {
        if let Ok(Parent::Dir(fd)) = self.parent(path) {
            let _ = rustix::fs::unlinkat(&*fd, tmp_name(path.name()).as_slice(), AtFlags::empty());
        }
    }

    /// Rename `from` to `to` (creating `to`'s directories), both through
    /// real directories only.
    pub fn rename(&self, from: &RepoPath, to: &RepoPath) -> io::Result<()> {
        let Parent::Dir(src) = self.parent(from)? else {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("'{from}' is not in the work tree")));
        };
        let dst = self.make_dir(&to.parent().unwrap_or_default())?;
        write_point();
        rustix::fs::renameat(&*src, from.name(), &*dst, to.name()).map_err(io_err)?;
        self.forget(from.as_bytes());
        self.forget(to.as_bytes());
        Ok(())
    }

    /// Write `bytes` as the file `path` (see [`WorkTree::write_file`]).
    pub fn write_bytes(&self, path: &RepoPath, bytes: &[u8]) -> io::Result<FileStat> {
        self.write_file(path, &mut &bytes[..], false)
    }

    /// The handle of an open directory, for the walk's `statat` calls.
    pub(crate) fn stat_in(dir: &impl AsFd, name: &[u8]) -> io::Result<Meta> {
        rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map(|st| meta_of(&st)).map_err(io_err)
    }
}

/// Stat fields from a `struct stat`. The field types differ between
/// architectures (hence the casts, which are no-ops on some).
#[allow(clippy::unnecessary_cast)]
fn meta_of(st: &rustix::fs::Stat) -> Meta {
    let mode = st.st_mode as u32;
    let kind = match FileType::from_raw_mode(st.st_mode as _) {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Dir,
        FileType::Symlink => Kind::Symlink,
        _ => Kind::Other,
    };
    let stat = FileStat {
        size: st.st_size as u64,
        mtime_ns: st.st_mtime as i64 * 1_000_000_000 + st.st_mtime_nsec as i64,
        ctime_ns: st.st_ctime as i64 * 1_000_000_000 + st.st_ctime_nsec as i64,
        inode: st.st_ino as u64,
        mode: oxen_object::mode::from_st_mode(mode),
    };
    Meta { kind, stat }
}
