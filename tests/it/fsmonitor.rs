//! The file-system monitor (`core.fsmonitor`): status answered from the
//! daemon's changed paths must equal a full scan at every step, and every
//! case the daemon cannot vouch for must fall back to the full scan.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

/// `oxen status --porcelain [extra]` with the monitor's trace: (stdout, how).
fn status(dir: &Path, extra: &[&str]) -> (String, String) {
    let o = oxen(dir).args(["status", "--porcelain"]).args(extra).env("OXEN_FSMONITOR_TRACE", "1").output().unwrap();
    assert!(o.status.success(), "status failed: {}", String::from_utf8_lossy(&o.stderr));
    let how =
        String::from_utf8_lossy(&o.stderr).lines().find(|l| l.starts_with("fsmonitor:")).unwrap_or("").to_string();
    (String::from_utf8(o.stdout).unwrap(), how)
}

fn monitor_status(dir: &Path) -> String {
    ox(dir, &["fsmonitor", "status"])
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn daemon_pid(dir: &Path) -> i32 {
    let s = std::fs::read_to_string(dir.join(".oxen/fsmonitor.pid")).unwrap();
    s.lines().next().unwrap().parse().unwrap()
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ")
}

fn signal(pid: i32, sig: rustix::process::Signal) {
    let _ = rustix::process::kill_process(rustix::process::Pid::from_raw(pid).unwrap(), sig);
}

/// A committed repository with the monitor on, its daemon running and the
/// next status answered from the monitor.
fn monitored_repo() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ox(p, &["init"]);
    std::fs::create_dir_all(p.join(".oxen-home-for-tests")).unwrap();
    write(p, ".oxenignore", ".oxen-home-for-tests/\n*.tmp\n");
    for i in 0..5 {
        write(p, &format!("a/f{i}"), format!("{i}\n"));
        write(p, &format!("b/c/g{i}"), format!("{i}\n"));
    }
    ox(p, &["add", "."]);
    ox(p, &["commit", "-m", "one"]);
    ox(p, &["config", "core.fsmonitor", "true"]);
    warm(p);
    d
}

/// Run status until it is answered by the monitor.
fn warm(p: &Path) {
    status(p, &[]);
    wait_for("the daemon", || monitor_status(p).contains("running: yes"));
    wait_for("a fast status", || status(p, &[]).1.contains("fast"));
}

/// The full scan's answers (default and `-uall`): the same repository
/// with the monitor off, from a copy (so that scan's own index refresh does
/// not disturb the next monitored status).
fn full_scan(p: &Path) -> [String; 2] {
    let copy = tempfile::tempdir().unwrap();
    let ok =
        std::process::Command::new("cp").arg("-a").arg(format!("{}/.", p.display())).arg(copy.path()).status().unwrap();
    assert!(ok.success());
    for f in ["fsmonitor.sock", "fsmonitor.pid", "fsmonitor-status"] {
        let _ = std::fs::remove_file(copy.path().join(".oxen").join(f));
    }
    let cfg = copy.path().join(".oxen/config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("fsmonitor = true", "fsmonitor = false");
    std::fs::write(&cfg, text).unwrap();
    [&[][..], &["-uall"][..]].map(|extra| {
        let (s, how) = status(copy.path(), extra);
        assert!(how.contains("off"), "{how}");
        s
    })
}

fn stop(p: &Path) {
    ox(p, &["fsmonitor", "stop"]);
}

#[test]
fn fsmonitor_status_equals_full_scan_over_random_steps() {
    // OXEN_TEST_SEED runs other sequences (by hand, to shake out more).
    let seed = std::env::var("OXEN_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x0f5e_ed00_1234);
    let mut rng = Rng(seed);
    let d = monitored_repo();
    let p = d.path();
    ox(p, &["branch", "other"]);
    let dirs = ["", "a/", "b/c/", "n/", "n/m k/"];
    let mut fast = 0;
    let mut counter = 0;
    for step in 0..60 {
        let files: Vec<String> = snapshot(p).into_keys().filter(|f| !f.starts_with(".oxen")).collect();
        let pick = |rng: &mut Rng| files[rng.below(files.len())].clone();
        counter += 1;
        let desc = match rng.below(16) {
            0..=2 => {
                let name = format!("{}f{}", dirs[rng.below(dirs.len())], rng.below(8));
                write(p, &name, format!("{counter} {}\n", rng.next()));
                format!("write {name}")
            }
            3 if !files.is_empty() => {
                let f = pick(&mut rng);
                std::fs::remove_file(p.join(&f)).unwrap();
                format!("delete {f}")
            }
            4 if !files.is_empty() => {
                let f = pick(&mut rng);
                let to = format!("{}r{}", dirs[rng.below(dirs.len())], rng.below(8));
                if p.join(&to).exists() {
                    continue;
                }
                std::fs::create_dir_all(p.join(&to).parent().unwrap()).unwrap();
                std::fs::rename(p.join(&f), p.join(&to)).unwrap();
                format!("rename {f} -> {to}")
            }
            5 if !files.is_empty() => {
                let f = pick(&mut rng);
                ox(p, &["add", &f]);
                format!("add {f}")
            }
            6 => {
                // Every form of add: the whole tree, a directory, tracked only.
                let args = [&["-A"][..], &["."], &["-u"], &["a"], &["n"], &["-u", "b"]][rng.below(6)];
                if args.last().is_some_and(|a| !a.starts_with(['-', '.']) && !p.join(a).exists()) {
                    continue;
                }
                ox(p, &[&["add"][..], args].concat());
                format!("add {}", args.join(" "))
            }
            7 => {
                ox(p, &["add", "-A"]);
                let _ = oxen(p).args(["commit", "-m", &format!("step {step}")]).output().unwrap();
                "commit".into()
            }
            8 if !files.is_empty() => {
                let f = pick(&mut rng);
                write(p, &f, format!("edit {counter}\n"));
                format!("edit {f}")
            }
            9 => {
                let dir = format!("{}new{}", dirs[rng.below(dirs.len())], rng.below(3));
                for i in 0..3 {
                    write(p, &format!("{dir}/x/y{i}"), format!("{counter} {i}\n"));
                }
                format!("make dir {dir}")
            }
            10 => {
                let from = ["a", "b/c", "n", "n/m k", "new0"][rng.below(5)];
                let to = format!("moved{}", rng.below(3));
                if !p.join(from).is_dir() || p.join(&to).exists() {
                    continue;
                }
                std::fs::rename(p.join(from), p.join(&to)).unwrap();
                format!("rename dir {from} -> {to}")
            }
            11 => {
                let dir = ["a", "b", "n/m k", "moved0", "moved1"][rng.below(5)];
                if !p.join(dir).is_dir() {
                    continue;
                }
                std::fs::remove_dir_all(p.join(dir)).unwrap();
                format!("remove dir {dir}")
            }
            12 => {
                ox(p, &["add", "-A"]);
                let _ = oxen(p).args(["commit", "-m", &format!("step {step}")]).output().unwrap();
                let head = std::fs::read_to_string(p.join(".oxen/HEAD")).unwrap();
                let to = if head.contains("other") { "main" } else { "other" };
                ox(p, &["switch", "-f", to]);
                format!("switch {to}")
            }
            13 if !files.is_empty() => {
                // Same contents, new mtime: refreshed, not modified.
                let f = pick(&mut rng);
                let bytes = std::fs::read(p.join(&f)).unwrap();
                std::fs::write(p.join(&f), bytes).unwrap();
                format!("touch {f}")
            }
            14 => {
                write(p, &format!("junk{}.tmp", rng.below(3)), "ignored\n");
                "write an ignored file".into()
            }
            15 if !files.is_empty() => {
                let f = pick(&mut rng);
                use std::os::unix::fs::PermissionsExt;
                let m = std::fs::metadata(p.join(&f)).unwrap().permissions().mode();
                std::fs::set_permissions(p.join(&f), std::fs::Permissions::from_mode(m ^ 0o111)).unwrap();
                format!("chmod {f}")
            }
            _ => continue,
        };
        let ours = [&[][..], &["-uall"][..]].map(|extra| status(p, extra));
        let full = full_scan(p);
        for (i, ((ours, how), full)) in ours.iter().zip(&full).enumerate() {
            fast += usize::from(how.contains("fast"));
            assert_eq!(ours, full, "step {step} ({desc}, status {i}, {how}): monitored status differs");
        }
        if std::env::var_os("OXEN_TEST_VERBOSE").is_some() {
            let _ = writeln!(std::io::stderr(), "step {step}: {desc} ({fast} fast so far)");
        }
    }
    // The monitor answered most of them (index changes force a full scan).
    assert!(fast > 40, "only {fast} of 120 statuses were answered by the monitor");
    stop(p);
}

fn status_env(dir: &Path, env: (&str, &str)) -> (String, String) {
    let o =
        oxen(dir).args(["status", "--porcelain"]).env("OXEN_FSMONITOR_TRACE", "1").env(env.0, env.1).output().unwrap();
    assert!(o.status.success(), "status failed: {}", String::from_utf8_lossy(&o.stderr));
    let how =
        String::from_utf8_lossy(&o.stderr).lines().find(|l| l.starts_with("fsmonitor:")).unwrap_or("").to_string();
    (String::from_utf8(o.stdout).unwrap(), how)
}

#[test]
fn fsmonitor_kill_9_falls_back_and_a_new_daemon_takes_over() {
    let d = monitored_repo();
    let p = d.path();
    let pid = daemon_pid(p);
    write(p, "a/f0", "changed\n");
    signal(pid, rustix::process::Signal::KILL);
    wait_for("the daemon to die", || !alive(pid));
    // Made while nothing watches.
    write(p, "a/f1", "changed too\n");
    let (s, how) = status(p, &[]);
    assert!(how.contains("full scan"), "{how}");
    assert_eq!(s, full_scan(p)[0]);
    assert!(s.contains(" M a/f0") && s.contains(" M a/f1"), "{s}");
    // That status started a new daemon (a new instance: the old token is
    // worth nothing to it), and the monitor answers again.
    wait_for("a new daemon", || monitor_status(p).contains("running: yes"));
    assert_ne!(daemon_pid(p), pid);
    warm(p);
    write(p, "b/c/g0", "changed\n");
    let (s, how) = status(p, &[]);
    assert!(how.contains("fast"), "{how}");
    assert_eq!(s, full_scan(p)[0]);
    assert!(s.contains(" M b/c/g0"), "{s}");
    stop(p);
}

#[test]
fn fsmonitor_token_of_another_instance_falls_back() {
    let d = monitored_repo();
    let p = d.path();
    let saved = p.join(".oxen/fsmonitor-status");
    let text = std::fs::read(&saved).unwrap();
    let line = text.split(|c| *c == b'\n').nth(1).unwrap().to_vec();
    let colon = line.iter().position(|c| *c == b':').unwrap();
    let mut forged = b"0123456789abcdef".to_vec();
    forged.extend_from_slice(&line[colon..]);
    let mut new = text.clone();
    let at = text.windows(line.len()).position(|w| w == line).unwrap();
    new.splice(at..at + line.len(), forged);
    std::fs::write(&saved, new).unwrap();
    write(p, "a/f3", "changed\n");
    let (s, how) = status(p, &[]);
    assert!(how.contains("cannot vouch"), "{how}");
    assert!(s.contains(" M a/f3"), "{s}");
    assert_eq!(s, full_scan(p)[0]);
    // A restarted daemon does not know the old token either.
    warm(p);
    stop(p);
    write(p, "a/f4", "changed\n");
    let (s, how) = status(p, &[]);
    assert!(how.contains("full scan"), "{how}");
    assert!(s.contains(" M a/f4"), "{s}");
    stop(p);
}

#[test]
fn fsmonitor_queue_overflow_falls_back() {
    let d = monitored_repo();
    let p = d.path();
    stop(p);
    // A daemon whose (simulated) kernel queue holds 20 events.
    let tiny = ("OXEN_FSMONITOR_TEST_QUEUE", "20");
    status_env(p, tiny);
    wait_for("the daemon", || monitor_status(p).contains("running: yes"));
    wait_for("a fast status", || status_env(p, tiny).1.contains("fast"));
    // In a watched directory, so every one of them is an event (files in a
    // new directory may all be made before its watch is added).
    for i in 0..40 {
        write(p, &format!("a/m{i}"), "x\n");
    }
    write(p, "a/f2", "changed\n");
    let (s, how) = status_env(p, tiny);
    assert!(how.contains("cannot vouch"), "{how}");
    let ms = monitor_status(p);
    let overflows: u64 = ms.lines().find_map(|l| l.strip_prefix("overflows: ")).unwrap().parse().unwrap();
    assert!(overflows >= 1, "{ms}");
    assert_eq!(s, full_scan(p)[0]);
    assert!(s.contains(" M a/f2") && s.contains("?? a/m39"), "{s}");
    // Then it answers again.
    write(p, "a/f1", "changed\n");
    let (s, how) = status_env(p, tiny);
    assert!(how.contains("fast"), "{how}");
    assert_eq!(s, full_scan(p)[0]);
    stop(p);
}

#[test]
fn fsmonitor_daemon_that_does_not_answer_times_out() {
    let d = monitored_repo();
    let p = d.path();
    let pid = daemon_pid(p);
    signal(pid, rustix::process::Signal::STOP);
    write(p, "a/f0", "changed\n");
    let t = Instant::now();
    let (s, how) = status(p, &[]);
    let took = t.elapsed();
    signal(pid, rustix::process::Signal::CONT);
    assert!(how.contains("no daemon answered"), "{how}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(s.contains(" M a/f0"), "{s}");
    assert_eq!(s, full_scan(p)[0]);
    warm(p);
    write(p, "a/f1", "changed\n");
    let (s, how) = status(p, &[]);
    assert!(how.contains("fast"), "{how}");
    assert!(s.contains(" M a/f0") && s.contains(" M a/f1"), "{s}");
    stop(p);
}

#[test]
fn fsmonitor_index_head_or_ignore_changes_fall_back() {
    let d = monitored_repo();
    let p = d.path();
    write(p, "a/f0", "changed\n");
    // An index change that does not carry the saved status over (add,
    // commit and the path-wise commands do: `rm --cached` here).
    ox(p, &["rm", "--cached", "a/f1"]);
    ox(p, &["reset"]);
    let (s, how) = status(p, &[]);
    assert!(how.contains("the index changed"), "{how}");
    assert_eq!(s, full_scan(p)[0]);
    ox(p, &["add", "-A"]);
    ox(p, &["commit", "-m", "two"]);
    warm(p);
    // HEAD moves, the index stays: what was committed is staged again.
    ox(p, &["reset", "--soft", "HEAD~1"]);
    let (s, how) = status(p, &[]);
    assert!(how.contains("HEAD moved"), "{how}");
    assert!(s.contains("M  a/f0"), "{s}");
    assert_eq!(s, full_scan(p)[0]);
    warm(p);
    // New ignore rules change what is untracked everywhere below.
    write(p, "n/x", "new\n");
    write(p, "n/y.log", "new\n");
    let (s, how) = status(p, &["-uall"]);
    assert!(how.contains("fast"), "{how}");
    assert!(s.contains("?? n/y.log"), "{s}");
    write(p, ".oxenignore", ".oxen-home-for-tests/\n*.tmp\n*.log\n");
    let (s, how) = status(p, &["-uall"]);
    assert!(how.contains("full scan"), "{how}");
    assert!(!s.contains("n/y.log") && s.contains("?? n/x"), "{s}");
    assert_eq!(s, full_scan(p)[1]);
    stop(p);
}

#[test]
fn fsmonitor_daemon_exits_when_idle_stopped_or_repository_deleted() {
    let d = monitored_repo();
    let p = d.path();
    let pid = daemon_pid(p);
    let sock = p.join(".oxen/fsmonitor.sock");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(monitor_status(p).contains(&format!("pid: {pid}")));
    // stop: gone, with its files.
    assert_eq!(ox(p, &["fsmonitor", "stop"]), "stopped");
    wait_for("the daemon to exit", || !alive(pid));
    assert!(!sock.exists() && !p.join(".oxen/fsmonitor.pid").exists());
    assert!(monitor_status(p).contains("running: no"));
    assert_eq!(ox(p, &["fsmonitor", "stop"]), "not running");
    // Idle timeout.
    ox(p, &["config", "core.fsmonitorIdleTimeout", "1"]);
    status(p, &[]);
    wait_for("the daemon", || monitor_status(p).contains("running: yes"));
    let pid = daemon_pid(p);
    wait_for("the idle daemon to exit", || !alive(pid));
    assert!(!sock.exists() && !p.join(".oxen/fsmonitor.pid").exists());
    // Repository deleted.
    ox(p, &["config", "core.fsmonitorIdleTimeout", "600"]);
    status(p, &[]);
    wait_for("the daemon", || monitor_status(p).contains("running: yes"));
    let pid = daemon_pid(p);
    drop(d);
    wait_for("the daemon of a deleted repository to exit", || !alive(pid));
}

#[test]
fn fsmonitor_long_repository_path_uses_a_short_socket() {
    let top = tempfile::tempdir().unwrap();
    let p = top.path().join("d".repeat(120));
    std::fs::create_dir_all(&p).unwrap();
    ox(&p, &["init"]);
    std::fs::create_dir_all(p.join(".oxen-home-for-tests")).unwrap();
    write(&p, ".oxenignore", ".oxen-home-for-tests/\n");
    write(&p, "f", "1\n");
    ox(&p, &["add", "."]);
    ox(&p, &["commit", "-m", "one"]);
    ox(&p, &["config", "core.fsmonitor", "true"]);
    warm(&p);
    let st = monitor_status(&p);
    let sock = st.lines().find_map(|l| l.strip_prefix("socket: ")).unwrap().to_string();
    assert!(sock.len() <= 100 && !sock.contains(&"d".repeat(120)), "{sock}");
    write(&p, "f", "2\n");
    let (s, how) = status(&p, &[]);
    assert!(how.contains("fast"), "{how}");
    assert_eq!(s.trim_end(), " M f");
    stop(&p);
    assert!(!Path::new(&sock).exists());
}

#[test]
fn fsmonitor_config_values_are_checked() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ox(p, &["init"]);
    let mut c = oxen(p);
    c.args(["config", "core.fsmonitor", "yes"]);
    let e = err(c);
    assert!(e.contains("true or false"), "{e}");
    let mut c = oxen(p);
    c.args(["config", "core.fsmonitorIdleTimeout", "0"]);
    let e = err(c);
    assert!(e.contains("seconds"), "{e}");
    ox(p, &["config", "core.fsmonitor", "true"]);
    assert_eq!(ox(p, &["config", "core.fsmonitor"]), "true");
}

#[test]
fn fsmonitor_daemon_memory_is_bounded_by_forgetting() {
    let d = monitored_repo();
    let p = d.path();
    stop(p);
    // A daemon that remembers at most 5 changed paths between queries.
    let few = ("OXEN_FSMONITOR_MAX_PATHS", "5");
    status_env(p, few);
    wait_for("the daemon", || monitor_status(p).contains("running: yes"));
    wait_for("a fast status", || status_env(p, few).1.contains("fast"));
    for i in 0..3 {
        write(p, &format!("a/f{i}"), "changed\n");
    }
    let (s, how) = status_env(p, few);
    assert!(how.contains("fast"), "{how}");
    assert_eq!(s, full_scan(p)[0]);
    // In a watched directory: each is a path of its own.
    for i in 0..8 {
        write(p, &format!("b/new{i}"), "new\n");
    }
    let (s, how) = status_env(p, few);
    assert!(how.contains("cannot vouch"), "{how}");
    assert!(s.contains("?? b/new7") && s.contains(" M a/f2"), "{s}");
    assert_eq!(s, full_scan(p)[0]);
    stop(p);
}

/// `oxen add` with its trace: (stdout, how add found what changed).
fn add(dir: &Path, args: &[&str]) -> String {
    let o = oxen(dir).arg("add").args(args).env("OXEN_FSMONITOR_TRACE", "1").output().unwrap();
    assert!(o.status.success(), "add failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr).lines().find(|l| l.starts_with("fsmonitor:")).unwrap_or("").to_string()
}

#[test]
fn fsmonitor_add_and_the_status_after_add_or_commit_do_not_scan() {
    let d = monitored_repo();
    let p = d.path();
    // A directory pathspec: only the changed paths are staged, no walk.
    write(p, "a/f0", "changed\n");
    write(p, "n/x", "new\n");
    write(p, "n/junk.tmp", "ignored\n");
    std::fs::remove_file(p.join("b/c/g1")).unwrap();
    let how = add(p, &["."]);
    assert!(how.contains("add: fast (") && !how.contains("(0 changed"), "{how}");
    let (s, how) = status(p, &[]);
    assert!(how.contains("fast"), "{how}");
    assert_eq!(s, full_scan(p)[0]);
    assert!(s.contains("M  a/f0") && s.contains("A  n/x") && s.contains("D  b/c/g1"), "{s}");
    assert!(!s.contains("junk"), "{s}");
    // The first status after a commit is answered from the last one.
    ox(p, &["commit", "-m", "two"]);
    let (s, how) = status(p, &[]);
    assert!(how.contains("fast"), "{how}");
    assert_eq!(s, "");
    assert_eq!(s, full_scan(p)[0]);
    // A rename staged by `add -A`, and a file pathspec carried over too.
    std::fs::rename(p.join("a/f2"), p.join("b/moved")).unwrap();
    write(p, "a/f3", "edited\n");
    write(p, "a/f4", "edited too\n");
    let how = add(p, &["-A"]);
    assert!(how.contains("add: fast"), "{how}");
    write(p, "a/f4", "edited again\n");
    let how = add(p, &["a/f4"]);
    assert!(how.contains("add: fast"), "{how}");
    for extra in [&[][..], &["-uall"][..]] {
        let (s, how) = status(p, extra);
        assert!(how.contains("fast"), "{how}");
        assert_eq!(s, full_scan(p)[usize::from(!extra.is_empty())]);
    }
    let (s, _) = status(p, &[]);
    assert!(s.contains("R  a/f2 -> b/moved"), "{s}");
    // `commit -a` stages through the same path and carries over too.
    write(p, "a/f3", "edited once more\n");
    write(p, "u", "untracked\n");
    ox(p, &["commit", "-a", "-m", "three"]);
    let (s, how) = status(p, &[]);
    assert!(how.contains("fast"), "{how}");
    assert_eq!(s, "?? u\n");
    assert_eq!(s, full_scan(p)[0]);
    stop(p);
}

/// Restore, `checkout -- <path>`, `reset -- <path>`, rm and mv know which
/// paths they changed: the status after each is answered from the last one
/// (no scan), and equals a monitor-less status.
#[test]
fn fsmonitor_status_after_checkout_restore_reset_rm_and_mv_does_not_scan() {
    let d = monitored_repo();
    let p = d.path();
    write(p, "a/f0", "second\n");
    write(p, "b/c/new", "new\n");
    ox(p, &["add", "."]);
    ox(p, &["commit", "-m", "two"]);
    warm(p);
    type Step<'a> = (&'a [&'a str], fn(&Path));
    let steps: &[Step] = &[
        (&["checkout", "HEAD~1", "--", "a", "b/c"], |_| {}),
        (&["checkout", "--", "a/f1"], |p| {
            write(p, "a/f1", "edited\n");
        }),
        (&["restore", "--staged", "a"], |_| {}),
        (&["restore", "b"], |p| std::fs::remove_file(p.join("b/c/g2")).unwrap()),
        (&["restore", "--source", "HEAD~1", "--staged", "--worktree", "b/c"], |_| {}),
        (&["reset", "--", "b"], |_| {}),
        (&["rm", "a/f3"], |_| {}),
        (&["rm", "-r", "--cached", "b"], |p| {
            write(p, "b/c/untracked", "u\n");
        }),
        (&["mv", "a", "moved"], |p| {
            write(p, "a/f4", "unstaged edit\n");
        }),
    ];
    for (cmd, before) in steps {
        before(p);
        // The edit is seen (and saved) first, so the command starts from a
        // current saved status.
        let (_, how) = status(p, &[]);
        assert!(how.contains("fast"), "before {cmd:?}: {how}");
        ox(p, cmd);
        for extra in [&[][..], &["-uall"][..]] {
            let (s, how) = status(p, extra);
            assert!(how.contains("fast"), "after {cmd:?}: {how}");
            assert_eq!(s, full_scan(p)[usize::from(!extra.is_empty())], "after {cmd:?}");
        }
    }
    let (s, _) = status(p, &[]);
    assert!(s.contains("RM a/f0 -> moved/f0") && s.contains("D  a/f3") && s.contains("?? b/"), "{s}");
    stop(p);
}
