//! The daemon: one thread, one poll loop over the inotify descriptor and
//! the listening socket.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::inotify::{self, ReadFlags, WatchFlags};

use crate::{lock_path, pid_path, socket_path, Result, COOKIE_PREFIX};

/// How the daemon runs.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// The work tree's root.
    pub work_tree: PathBuf,
    /// The repository's `.oxen` directory.
    pub oxen_dir: PathBuf,
    /// Exit after this long without a request.
    pub idle_timeout: Duration,
    /// At most this many distinct changed paths are remembered between two
    /// queries; past it the daemon forgets them and answers "full" once, so
    /// its memory stays bounded however much changes.
    pub max_paths: usize,
    /// Test hook: a kernel event queue this short. More than this many
    /// events read between two queries are handled as an `IN_Q_OVERFLOW`
    /// (the kernel's queue length, `fs.inotify.max_queued_events`, is a
    /// system-wide setting a test cannot lower).
    pub overflow_after: Option<usize>,
}

/// The events that change what status reports. Directory events matter
/// only for entries appearing and disappearing (handled per event below).
fn dir_mask() -> WatchFlags {
    WatchFlags::CREATE
        | WatchFlags::DELETE
        | WatchFlags::MODIFY
        | WatchFlags::ATTRIB
        | WatchFlags::CLOSE_WRITE
        | WatchFlags::MOVED_FROM
        | WatchFlags::MOVED_TO
        | WatchFlags::DELETE_SELF
        | WatchFlags::MOVE_SELF
        | WatchFlags::ONLYDIR
        | WatchFlags::DONT_FOLLOW
        | WatchFlags::EXCL_UNLINK
}

struct Event {
    wd: i32,
    flags: ReadFlags,
    name: Option<Vec<u8>>,
}

struct Daemon {
    opts: DaemonOptions,
    fd: OwnedFd,
    /// Watch descriptor to the directory it watches (repository path,
    /// empty for the root).
    dirs: HashMap<i32, Vec<u8>>,
    root_wd: i32,
    oxen_wd: i32,
    instance: String,
    /// The next token's sequence number.
    seq: u64,
    /// Tokens older than this cannot be answered (overflow, forgotten paths).
    valid_from: u64,
    /// Changed path to the sequence number current when it last changed.
    changed: HashMap<Vec<u8>, u64>,
    /// Some directory could not be watched (inotify watch limit): every
    /// answer is "full" until the daemon restarts.
    incomplete: bool,
    overflows: u64,
    next_cookie: u64,
    cookie_seen: u64,
    /// Events read since the last query (for `overflow_after`).
    events_since_query: usize,
    /// The `.oxen` directory was deleted or replaced.
    gone: bool,
    buf: Vec<MaybeUninit<u8>>,
}

/// Run the daemon for one repository until it is stopped, idle for
/// `idle_timeout`, or the repository is deleted. Returns at once when
/// another daemon already serves the repository.
pub fn run(opts: DaemonOptions) -> Result<()> {
    // Leave the caller's session, so a terminal's Ctrl-C or hang-up does not
    // reach the daemon; and let nobody else read the socket or pid file.
    let _ = rustix::process::setsid();
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(lock_path(&opts.oxen_dir))?;
    if rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
        return Ok(());
    }
    let oxen_id = std::fs::metadata(&opts.oxen_dir).map(|m| (m.dev(), m.ino()))?;
    let fd =
        inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK).map_err(std::io::Error::from)?;
    let oxen_wd =
        inotify::add_watch(&fd, &opts.oxen_dir, WatchFlags::CREATE | WatchFlags::DELETE_SELF | WatchFlags::MOVE_SELF)
            .map_err(std::io::Error::from)?;
    let mut d = Daemon {
        fd,
        dirs: HashMap::new(),
        root_wd: -1,
        oxen_wd,
        instance: instance_id(),
        seq: 1,
        valid_from: 1,
        changed: HashMap::new(),
        incomplete: false,
        overflows: 0,
        next_cookie: 0,
        cookie_seen: 0,
        events_since_query: 0,
        gone: false,
        buf: vec![MaybeUninit::uninit(); 64 * 1024],
        opts,
    };
    if on_remote_fs(&d.opts.work_tree) {
        // inotify sees only this machine's changes to a network or FUSE
        // file system: never vouch for a token there (git refuses too).
        d.incomplete = true;
    }
    d.watch_tree(Vec::new());
    d.root_wd = d.dirs.iter().find(|(_, p)| p.is_empty()).map(|(w, _)| *w).unwrap_or(-1);
    let sock = socket_path(&d.opts.oxen_dir);
    // The lock is ours, so a socket file left here is a dead daemon's.
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock)?;
    listener.set_nonblocking(true)?;
    let pid = std::process::id();
    let pidfile = pid_path(&d.opts.oxen_dir);
    let tmp = d.opts.oxen_dir.join(format!("fsmonitor.pid.{pid}"));
    std::fs::write(&tmp, format!("{pid}\n{}\n", sock.display()))?;
    std::fs::rename(&tmp, &pidfile)?;
    let result = d.serve(&listener, oxen_id);
    // Clean up only what is still ours.
    if std::fs::read_to_string(&pidfile).is_ok_and(|s| s.lines().next() == Some(&pid.to_string())) {
        let _ = std::fs::remove_file(&pidfile);
    }
    let _ = std::fs::remove_file(&sock);
    drop(lock);
    result
}

/// Whether `dir` is on a file system whose changes may come from
/// elsewhere (NFS, SMB/CIFS, FUSE, 9p, Ceph, AFS...), where inotify misses them.
fn on_remote_fs(dir: &std::path::Path) -> bool {
    const REMOTE: [i64; 9] = [
        0x6969,      // NFS
        0x517b,      // SMB
        0xff53_4d42, // CIFS
        0xfe53_4d42, // SMB2
        0x6573_5546, // FUSE
        0x0102_1997, // 9p
        0x00c3_6400, // Ceph
        0x5346_414f, // AFS
        0x6a65_6a63, // virtiofs
    ];
    // f_type's width differs between architectures.
    #[allow(clippy::unnecessary_cast)]
    rustix::fs::statfs(dir).is_ok_and(|s| REMOTE.contains(&(s.f_type as i64)))
}

/// A fresh instance id: the pid, the time and the standard library's
/// per-process random hash keys, hashed. Distinct daemons get distinct ids.
fn instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    h.write_u128(now.as_nanos());
    format!("{:016x}", h.finish())
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    p.extend_from_slice(dir);
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

impl Daemon {
    fn abs(&self, rel: &[u8]) -> PathBuf {
        if rel.is_empty() {
            self.opts.work_tree.clone()
        } else {
            self.opts.work_tree.join(OsStr::from_bytes(rel))
        }
    }

    /// Watch `rel` and every directory below it (never `.oxen`, never
    /// through a symlink).
    fn watch_tree(&mut self, rel: Vec<u8>) {
        let mut stack = vec![rel];
        while let Some(dir) = stack.pop() {
            let abs = self.abs(&dir);
            match inotify::add_watch(&self.fd, &abs, dir_mask()) {
                Ok(wd) => {
                    self.dirs.insert(wd, dir.clone());
                }
                // Gone already, or replaced by a file or symlink: nothing to watch.
                Err(e) if e == rustix::io::Errno::NOENT || e == rustix::io::Errno::NOTDIR => continue,
                Err(_) => {
                    // Watch limit reached (ENOSPC) or no permission: changes
                    // below here would be missed, so never vouch for a token.
                    self.incomplete = true;
                    continue;
                }
            }
            let Ok(rd) = std::fs::read_dir(&abs) else { continue };
            for e in rd.flatten() {
                let name = e.file_name();
                if name.as_bytes() == b".oxen" {
                    continue;
                }
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(join(&dir, name.as_bytes()));
                }
            }
        }
    }

    /// Stop watching `rel` and everything below it (it moved away).
    fn unwatch_tree(&mut self, rel: &[u8]) {
        let gone: Vec<i32> = self
            .dirs
            .iter()
            .filter(|(_, p)| p.as_slice() == rel || (p.starts_with(rel) && p.get(rel.len()) == Some(&b'/')))
            .map(|(w, _)| *w)
            .collect();
        for wd in gone {
            let _ = inotify::remove_watch(&self.fd, wd);
            self.dirs.remove(&wd);
        }
    }

    fn record(&mut self, path: Vec<u8>) {
        self.changed.insert(path, self.seq);
        if self.changed.len() > self.opts.max_paths {
            self.forget_all();
        }
    }

    /// Events were lost or dropped: no token issued so far can be answered.
    fn forget_all(&mut self) {
        self.overflows += 1;
        self.changed.clear();
        self.valid_from = self.seq;
    }

    /// Read every queued event (non-blocking) and apply them.
    fn drain(&mut self) {
        let mut events = Vec::new();
        {
            let mut r = inotify::Reader::new(&self.fd, &mut self.buf);
            loop {
                match r.next() {
                    Ok(e) => events.push(Event {
                        wd: e.wd(),
                        flags: e.events(),
                        name: e.file_name().map(|n| n.to_bytes().to_vec()),
                    }),
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(_) => break,
                }
            }
        }
        self.events_since_query += events.len();
        if self.opts.overflow_after.is_some_and(|n| self.events_since_query > n) {
            self.events_since_query = 0;
            self.overflow();
            // The cookies in this batch still mark their place.
            for e in &events {
                if e.wd == self.oxen_wd {
                    self.on_oxen_event(e);
                }
            }
            return;
        }
        for e in events {
            self.apply(e);
        }
    }

    fn overflow(&mut self) {
        self.forget_all();
        // Directories created while events were lost are not watched yet.
        self.watch_tree(Vec::new());
    }

    fn on_oxen_event(&mut self, e: &Event) {
        if e.flags.intersects(ReadFlags::DELETE_SELF | ReadFlags::MOVE_SELF) {
            self.gone = true;
        }
        if let Some(n) = e.name.as_deref().and_then(|n| n.strip_prefix(COOKIE_PREFIX.as_bytes())) {
            let mine = format!("{}-", std::process::id());
            if let Some(k) = n.strip_prefix(mine.as_bytes()) {
                if let Some(k) = std::str::from_utf8(k).ok().and_then(|s| s.parse::<u64>().ok()) {
                    self.cookie_seen = self.cookie_seen.max(k);
                }
            }
        }
    }

    fn apply(&mut self, e: Event) {
        // A file system unmounted below the tree: its watches are gone.
        if e.flags.intersects(ReadFlags::QUEUE_OVERFLOW | ReadFlags::UNMOUNT) {
            self.overflow();
            return;
        }
        if e.wd == self.oxen_wd {
            self.on_oxen_event(&e);
            return;
        }
        if e.flags.contains(ReadFlags::IGNORED) {
            self.dirs.remove(&e.wd);
            return;
        }
        if e.wd == self.root_wd && e.flags.intersects(ReadFlags::DELETE_SELF | ReadFlags::MOVE_SELF) {
            self.gone = true;
            return;
        }
        let Some(dir) = self.dirs.get(&e.wd).cloned() else { return };
        // Events about a watched directory itself are reported by its parent.
        let Some(name) = e.name else { return };
        if name == b".oxen" {
            return;
        }
        let path = join(&dir, &name);
        if e.flags.contains(ReadFlags::ISDIR) {
            if e.flags.intersects(ReadFlags::CREATE | ReadFlags::MOVED_TO) {
                // Files made in it before its watch was added are found by
                // the client, which re-walks a reported directory.
                self.unwatch_tree(&path);
                self.watch_tree(path.clone());
                self.record(path);
            } else if e.flags.intersects(ReadFlags::MOVED_FROM | ReadFlags::DELETE) {
                self.unwatch_tree(&path);
                self.record(path);
            } else if e.flags.contains(ReadFlags::ATTRIB) {
                // Its times do not show in status, but a mode that hides
                // its entries from the walk does: re-walk it.
                self.record(path);
            }
            return;
        }
        self.record(path);
    }

    /// Write a cookie in `.oxen/` and read events until it shows: every
    /// change made before now has then been read. False on timeout.
    fn sync(&mut self) -> bool {
        self.next_cookie += 1;
        let n = self.next_cookie;
        let cookie = self.opts.oxen_dir.join(format!("{COOKIE_PREFIX}{}-{n}", std::process::id()));
        if std::fs::write(&cookie, b"").is_err() {
            return false;
        }
        let _ = std::fs::remove_file(&cookie);
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.cookie_seen < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let ts = rustix::event::Timespec { tv_sec: 0, tv_nsec: left.as_nanos().min(100_000_000) as _ };
            let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
            let _ = rustix::event::poll(&mut fds, Some(&ts));
            self.drain();
        }
        true
    }

    fn serve(&mut self, listener: &UnixListener, oxen_id: (u64, u64)) -> Result<()> {
        let mut last_request = Instant::now();
        let mut last_check = Instant::now();
        loop {
            let ts = rustix::event::Timespec { tv_sec: 1, tv_nsec: 0 };
            let (ino, sock) = {
                let mut fds = [PollFd::new(&self.fd, PollFlags::IN), PollFd::new(listener, PollFlags::IN)];
                let _ = rustix::event::poll(&mut fds, Some(&ts));
                (!fds[0].revents().is_empty(), !fds[1].revents().is_empty())
            };
            if ino {
                self.drain();
            }
            if sock {
                while let Ok((stream, _)) = listener.accept() {
                    last_request = Instant::now();
                    if self.handle(stream) == Handled::Stop {
                        return Ok(());
                    }
                }
            }
            if last_check.elapsed() >= Duration::from_secs(1) {
                last_check = Instant::now();
                let same = std::fs::metadata(&self.opts.oxen_dir).is_ok_and(|m| (m.dev(), m.ino()) == oxen_id);
                if !same {
                    self.gone = true;
                }
            }
            if self.gone || last_request.elapsed() >= self.opts.idle_timeout {
                return Ok(());
            }
        }
    }

    fn handle(&mut self, stream: UnixStream) -> Handled {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
        let mut line = Vec::new();
        let mut r = BufReader::new((&stream).take(4096));
        if r.read_until(b'\n', &mut line).is_err() {
            return Handled::Done;
        }
        let line = String::from_utf8_lossy(&line).trim().to_string();
        let mut w = std::io::BufWriter::new(&stream);
        let (verb, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match verb {
            "query" => {
                let synced = self.sync();
                self.events_since_query = 0;
                let issued = self.seq;
                self.seq += 1;
                let _ = writeln!(w, "token {}:{issued}", self.instance);
                match self.since(arg) {
                    Some(since) if synced => {
                        let _ = w.write_all(b"changes\n");
                        for (p, _) in self.changed.iter().filter(|(_, s)| **s > since) {
                            let _ = w.write_all(p);
                            let _ = w.write_all(b"\0");
                        }
                        // Nobody can ask about anything older than this
                        // token any more: forget what only they needed.
                        self.changed.retain(|_, s| *s > since);
                        self.valid_from = since;
                    }
                    _ => {
                        let _ = w.write_all(b"full\n");
                    }
                }
            }
            "status" => {
                let _ = write!(
                    w,
                    "pid {}\ninstance {}\ntoken {}:{}\nwatched {}\nchanged {}\noverflows {}\ncomplete {}\n",
                    std::process::id(),
                    self.instance,
                    self.instance,
                    self.seq.saturating_sub(1),
                    self.dirs.len(),
                    self.changed.len(),
                    self.overflows,
                    !self.incomplete
                );
            }
            "stop" => {
                let _ = w.write_all(b"stopping\n");
                let _ = w.flush();
                return Handled::Stop;
            }
            _ => {
                let _ = w.write_all(b"error unknown request\n");
            }
        }
        let _ = w.flush();
        Handled::Done
    }

    /// The sequence number of a token this daemon can answer for.
    fn since(&self, token: &str) -> Option<u64> {
        let (inst, n) = token.split_once(':')?;
        let n: u64 = n.parse().ok()?;
        (inst == self.instance && n >= self.valid_from && n < self.seq && !self.incomplete).then_some(n)
    }
}

#[derive(PartialEq, Eq)]
enum Handled {
    Done,
    Stop,
}
