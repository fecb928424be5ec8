//! `oxen reflog expire` and gc's reflog expiry: a deleted branch's
//! contents stay while its reflog names them and go once its entries
//! expire; entries their ref still reaches stay with
//! `--expire-unreachable=now`, and `HEAD@{N}` resolves for the ones kept.

use std::path::Path;

use crate::common::{ox, ox_err, run, std_bin, write};
use crate::gc::{count_writes, hash, removed, run_until, stored};

fn rev(dir: &Path, r: &str) -> String {
    run("oxen-rev-parse", dir, &[r]).trim().to_string()
}

/// main with two commits, a branch `gone` with a file only it has
/// (deleted), and main reset back to its first commit: the second commit
/// is now named by main's and HEAD's reflog only. Returns (first, second,
/// gone's file id).
fn history(dir: &Path) -> (String, String, String) {
    ox(dir, &["init"]);
    write(dir, "a.txt", "one\n");
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "one"]);
    let one = rev(dir, "HEAD");
    write(dir, "b.txt", "two, later reset away\n");
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "two"]);
    let two = rev(dir, "HEAD");
    ox(dir, &["checkout", "-b", "gone"]);
    write(dir, "gone.txt", "only on the deleted branch\n");
    ox(dir, &["add", "gone.txt"]);
    ox(dir, &["commit", "-m", "gone"]);
    let gone = hash(dir, "gone.txt");
    ox(dir, &["checkout", "main"]);
    ox(dir, &["branch", "-D", "gone"]);
    ox(dir, &["reset", "--hard", &one]);
    (one, two, gone)
}

fn entries(dir: &Path, log: &str) -> usize {
    ox(dir, &["reflog", log]).lines().count()
}

#[test]
fn expire_unreachable_now_lets_gc_remove_a_deleted_branch() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let (one, two, gone) = history(dir);
    let (head_before, main_before) = (entries(dir, "HEAD"), entries(dir, "main"));

    // Default limits (90 and 30 days) keep everything just written, in the
    // command and in gc, whatever --prune says.
    let out = ox(dir, &["reflog", "expire", "--all"]);
    assert_eq!(out.trim(), "reflog: expired 0 entries from 0 logs");
    let out = ox(dir, &["gc", "--prune=now"]);
    assert!(out.trim_end().ends_with("; 0 reflog entries expired"), "{out}");
    assert!(stored(dir, &gone), "the reflog keeps the deleted branch: {out}");
    assert_eq!((entries(dir, "HEAD"), entries(dir, "main")), (head_before, main_before));
    assert_eq!(entries(dir, "gone"), 3);

    // A dry run says what it would remove and removes nothing.
    let dry = ox(dir, &["reflog", "expire", "--expire-unreachable=now", "--all", "--dry-run"]);
    assert!(dry.contains("would expire 3 of 3 entries of heads/gone"), "{dry}");
    assert_eq!(entries(dir, "gone"), 3);

    let out = ox(dir, &["reflog", "expire", "--expire-unreachable=now", "--all"]);
    assert!(out.starts_with("reflog: expired "), "{out}");
    assert!(ox_err(dir, &["reflog", "gone"]).contains("no reflog for 'gone'"));
    // main's log keeps what main reaches: its first commit; the commit
    // and the reset away from `two` name a commit main no longer reaches.
    let main_log = ox(dir, &["reflog", "main"]);
    assert_eq!(main_log.lines().count(), 1, "{main_log}");
    assert!(main_log.contains("commit (initial): one"), "{main_log}");
    // HEAD's entries are reachable from HEAD or any ref: those naming
    // only `one` stay, and resolve.
    let head_log = ox(dir, &["reflog"]);
    assert!(head_log.lines().count() >= 1 && head_log.lines().count() < head_before, "{head_log}");
    for n in 0..head_log.lines().count() {
        assert_eq!(rev(dir, &format!("HEAD@{{{n}}}")), one, "{head_log}");
    }
    assert_eq!(rev(dir, "main@{0}"), one);

    let out = ox(dir, &["gc", "--prune=now"]);
    assert!(removed(&out) >= 2, "gone.txt and b.txt: {out}");
    assert!(!stored(dir, &gone) && !stored(dir, &two), "{out}");
    assert!(stored(dir, &one));
    ox(dir, &["fsck"]);
    assert_eq!(std::fs::read(dir.join("a.txt")).unwrap(), b"one\n");
}

#[test]
fn named_logs_only_and_expire_now_empties_them() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let (one, _, _) = history(dir);
    let head_before = entries(dir, "HEAD");
    // Only the log named: HEAD's and the deleted branch's stay.
    ox(dir, &["reflog", "expire", "--expire=now", "main"]);
    assert_eq!(entries(dir, "main"), 0);
    assert_eq!((entries(dir, "HEAD"), entries(dir, "gone")), (head_before, 3));
    // A new move logs again after the expiry.
    write(dir, "c.txt", "three\n");
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "three"]);
    assert_eq!(entries(dir, "main"), 1);
    assert_eq!(rev(dir, "main@{0}"), rev(dir, "HEAD"));
    assert_eq!(entries(dir, "HEAD"), head_before + 1, "HEAD's log was not touched");
    assert_eq!(rev(dir, "HEAD@{1}"), one);
    // Reachable entries survive --expire-unreachable=now on HEAD.
    ox(dir, &["reflog", "expire", "--expire-unreachable=now", "HEAD"]);
    assert!(entries(dir, "HEAD") >= 2);
    assert!(ox_err(dir, &["reflog", "expire", "--expire=now"]).contains("--all"));
    assert!(ox_err(dir, &["reflog", "expire", "nosuch"]).contains("no reflog for 'nosuch'"));
    let o = std_bin("oxen", dir).args(["reflog", "expire", "--expire=3y", "--all"]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("'3y' has no known unit"));
}

#[test]
fn gc_takes_the_reflog_limits_from_config() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let (one, two, gone) = history(dir);
    assert!(ox_err(dir, &["config", "gc.reflogExpireUnreachable", "soon"]).contains("soon"));
    ox(dir, &["config", "gc.reflogExpireUnreachable", "now"]);
    assert_eq!(ox(dir, &["config", "gc.reflogExpireUnreachable"]).trim(), "now");
    let dry = ox(dir, &["gc", "--prune=now", "--dry-run"]);
    assert!(!dry.contains("; 0 reflog entries would expire"), "{dry}");
    assert!(removed(&dry) >= 2, "a dry run marks from the entries expiry keeps: {dry}");
    assert!(stored(dir, &gone) && entries(dir, "gone") == 3, "a dry run changed something");
    let out = ox(dir, &["gc", "--prune=now"]);
    assert_eq!(removed(&out), removed(&dry), "{out}");
    assert!(!stored(dir, &gone) && !stored(dir, &two));
    assert_eq!(rev(dir, "HEAD@{0}"), one);
    ox(dir, &["fsck"]);
    // A value written by hand that does not parse stops gc, naming it.
    std::fs::write(dir.join(".oxen/config.toml"), "[gc]\nreflogExpire = \"soon\"\n").unwrap();
    let e = ox_err(dir, &["gc"]);
    assert!(e.contains("gc.reflogExpire") && e.contains("soon"), "{e}");
}

#[test]
fn reflog_expire_killed_at_its_write_leaves_every_log_whole() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    history(dir);
    let args = ["reflog", "expire", "--expire-unreachable=now", "--all"];
    let before: Vec<String> = ["HEAD", "main", "gone"].iter().map(|l| ox(dir, &["reflog", l])).collect();
    // One transaction: one write point, its commit.
    let t = tempfile::tempdir().unwrap();
    let st = std::process::Command::new("cp").arg("-a").arg(format!("{}/.", dir.display())).arg(t.path()).status();
    assert!(st.unwrap().success());
    assert_eq!(count_writes(t.path(), &args), 1);
    let (stopped, err) = run_until(dir, &args, "1");
    assert!(stopped, "{err}");
    let after: Vec<String> = ["HEAD", "main", "gone"].iter().map(|l| ox(dir, &["reflog", l])).collect();
    assert_eq!(after, before);
    ox(dir, &["fsck"]);
    ox(dir, &args);
    assert!(ox_err(dir, &["reflog", "gone"]).contains("no reflog"));
}
