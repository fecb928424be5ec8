//! The work tree is never damaged and never escaped: symlinks are versioned
//! as links and never followed (no read or write through a symlinked
//! directory, inside or outside the work tree), the index records only what
//! happened in the work tree, the first status after a checkout trusts what
//! the checkout wrote, an interrupted checkout is completed by its retry,
//! and trees thousands of levels deep are walked without recursion.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::Path;

use crate::common::{ox, ox_err, oxen, run, snapshot, write};

fn init() -> tempfile::TempDir {
    let t = tempfile::tempdir().expect("tempdir");
    ox(t.path(), &["init"]);
    t
}

/// A repository in memory (tmpfs) where there is one: making and removing
/// thousands of nested directories costs ext4 milliseconds each on a busy
/// disk, which would make the deep-tree tests slow for no insight.
fn init_in_memory() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let t = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.expect("tempdir");
    ox(t.path(), &["init"]);
    t
}

/// A work-tree symlink to a directory inside the work tree is versioned as
/// a link: a path through it is refused (git: "beyond a symbolic link"), so
/// no commit holds both `link` and `link/y`, and resetting never deletes the
/// real directory's files.
#[test]
fn a_path_beyond_a_symlink_is_refused_and_reset_keeps_the_real_files() {
    let t = init();
    let r = t.path();
    write(r, "real/x", "x\n");
    symlink("real", r.join("link")).expect("symlink");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "c1"]);
    write(r, "real/y", "y\n");
    let e = ox_err(r, &["add", "link/y"]);
    assert!(e.contains("pathspec 'link/y' is beyond a symbolic link"), "{e}");
    // Nothing was staged: the next commit is refused as empty or holds no link/y.
    let files = run("oxen-ls-files", r, &[]);
    assert!(!files.contains("link/y"), "{files}");
    // What the user meant stays theirs: the link is versioned as a link,
    // real/y is untracked, and moving back in history never touches it.
    write(r, "other.txt", "o\n");
    ox(r, &["add", "other.txt"]);
    ox(r, &["commit", "-m", "c2"]);
    ox(r, &["fsck"]);
    let tree = run("oxen-ls-tree", r, &["-r", "HEAD"]);
    assert!(!tree.contains("link/"), "{tree}");
    ox(r, &["reset", "--hard", "HEAD~1"]);
    assert_eq!(std::fs::read_link(r.join("link")).expect("still a link"), Path::new("real"));
    assert_eq!(std::fs::read_to_string(r.join("real/y")).expect("untracked file kept"), "y\n");
    assert!(!r.join("other.txt").exists());
}

/// A tracked directory replaced by a symlink to a directory outside the
/// work tree: checking out a commit without its files must not delete the
/// files of the same name outside (they are not ours), and must not write
/// into it either.
#[test]
fn checkout_never_removes_or_writes_through_a_symlinked_directory() {
    let outside = tempfile::tempdir().expect("outside");
    write(outside.path(), "data.txt", "precious\n");
    let t = init();
    let r = t.path();
    write(r, "a.txt", "a\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "c1"]);
    write(r, "ext/data.txt", "precious\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "c2"]);
    std::fs::remove_dir_all(r.join("ext")).expect("rm ext");
    symlink(outside.path(), r.join("ext")).expect("symlink");
    // Through the link: refused, never read.
    let e = ox_err(r, &["add", "ext/data.txt"]);
    assert!(e.contains("beyond a symbolic link"), "{e}");
    // ext/data.txt counts as deleted (it is not in the work tree); going
    // back to c1 removes it from the index only.
    ox(r, &["checkout", "HEAD~1"]);
    assert_eq!(std::fs::read_to_string(outside.path().join("data.txt")).expect("kept"), "precious\n");
    assert!(std::fs::symlink_metadata(r.join("ext")).expect("link kept").file_type().is_symlink());
}

/// An untracked symlink to a directory outside stands where the target
/// branch has a directory: checkout refuses (git: "untracked working tree
/// files would be overwritten") and writes nothing outside.
#[test]
fn checkout_refuses_to_write_through_an_untracked_symlink() {
    let outside = tempfile::tempdir().expect("outside");
    let t = init();
    let r = t.path();
    write(r, "a.txt", "a\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "c1"]);
    ox(r, &["checkout", "-b", "other"]);
    write(r, "ext/new.txt", "new\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "c2"]);
    ox(r, &["checkout", "main"]);
    assert!(!r.join("ext").exists());
    symlink(outside.path(), r.join("ext")).expect("symlink");
    let e = ox_err(r, &["checkout", "other"]);
    assert!(e.contains("untracked working tree file 'ext' would be overwritten by checkout"), "{e}");
    assert!(!outside.path().join("new.txt").exists(), "written through the link");
    // --force replaces the link itself (never what it points at).
    ox(r, &["checkout", "--force", "other"]);
    assert!(!outside.path().join("new.txt").exists(), "written through the link");
    assert!(std::fs::symlink_metadata(r.join("ext")).expect("ext").is_dir());
    assert_eq!(std::fs::read_to_string(r.join("ext/new.txt")).expect("new"), "new\n");
}

/// Restoring a tracked file whose directory was replaced by a symlink to
/// a directory outside: the link gives way to a real directory (as git's
/// checkout does), and nothing is written where it pointed.
#[test]
fn restore_does_not_write_through_a_symlinked_parent() {
    let outside = tempfile::tempdir().expect("outside");
    let t = init();
    let r = t.path();
    write(r, "d/f", "tracked\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "c1"]);
    std::fs::remove_dir_all(r.join("d")).expect("rm d");
    symlink(outside.path(), r.join("d")).expect("symlink");
    let _ = oxen(r).args(["restore", "d/f"]).output().expect("run");
    assert!(!outside.path().join("f").exists(), "restored through the link");
    ox(r, &["checkout", "--force", "main"]);
    assert!(!outside.path().join("f").exists(), "restored through the link");
    assert_eq!(std::fs::read_to_string(r.join("d/f")).expect("restored"), "tracked\n");
}

/// A tracked symlink's diff is its target text, never the contents of what
/// it points at.
#[test]
fn diff_shows_the_link_target_not_the_file_it_points_at() {
    let outside = tempfile::tempdir().expect("outside");
    write(outside.path(), "one", "CONTENTS-OF-ONE\n");
    write(outside.path(), "two", "CONTENTS-OF-TWO\n");
    let t = init();
    let r = t.path();
    symlink(outside.path().join("one"), r.join("link")).expect("symlink");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "c1"]);
    std::fs::remove_file(r.join("link")).expect("rm");
    symlink(outside.path().join("two"), r.join("link")).expect("symlink");
    let d = ox(r, &["diff"]);
    assert!(d.contains(&format!("+{}", outside.path().join("two").display())), "{d}");
    assert!(!d.contains("CONTENTS-OF"), "followed the link: {d}");
}

/// Refusal messages say what is in the way and never suggest a `stash`
/// that does not exist.
#[test]
fn checkout_refusals_name_untracked_files_and_local_changes() {
    let t = init();
    let r = t.path();
    write(r, "a.txt", "a\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "c1"]);
    ox(r, &["checkout", "-b", "other"]);
    write(r, "b.txt", "b\n");
    write(r, "a.txt", "a2\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "c2"]);
    ox(r, &["checkout", "main"]);
    write(r, "b.txt", "mine\n");
    let e = ox_err(r, &["checkout", "other"]);
    assert!(e.contains("untracked working tree file 'b.txt' would be overwritten by checkout"), "{e}");
    std::fs::remove_file(r.join("b.txt")).expect("rm");
    write(r, "a.txt", "local\n");
    let e = ox_err(r, &["checkout", "other"]);
    assert!(e.contains("your local changes to 'a.txt' would be overwritten by checkout"), "{e}");
    assert!(!e.contains("stash"), "{e}");
}

/// `oxen rm` that cannot remove a file leaves it staged: the index records
/// only what happened in the work tree. (Root ignores permissions, so the
/// command runs as `nobody` when the tests run as root.)
#[test]
fn a_failed_rm_does_not_stage_the_deletion() {
    use std::os::unix::fs::PermissionsExt;
    let t = init();
    let r = t.path();
    write(r, "d/f.txt", "f\n");
    write(r, "d/g.txt", "g\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "c1"]);
    let root = rustix::process::geteuid().is_root();
    if root {
        // The whole repository belongs to nobody, who may not write in d/.
        let st = std::process::Command::new("chown").args(["-R", "65534:65534"]).arg(r).status().expect("chown");
        assert!(st.success());
        std::fs::set_permissions(r, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    std::fs::set_permissions(r.join("d"), std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let mut c = oxen(r);
    if root {
        c = assert_cmd::Command::from_std({
            let mut s = std::process::Command::new("setpriv");
            s.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(assert_cmd::cargo::cargo_bin("oxen"))
                .current_dir(r)
                .env("OXEN_HOME", r.join(".oxen-home-for-tests"))
                .env("OXEN_AUTHOR_NAME", "Test Author")
                .env("OXEN_AUTHOR_EMAIL", "test@example.com");
            s
        });
    }
    c.args(["rm", "d/f.txt"]);
    let o = c.output().expect("run");
    std::fs::set_permissions(r.join("d"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert!(!o.status.success(), "rm succeeded: {}", String::from_utf8_lossy(&o.stderr));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("it stays staged"), "{e}");
    assert!(r.join("d/f.txt").exists());
    let files = run("oxen-ls-files", r, &[]);
    assert!(files.contains("d/f.txt"), "deletion staged although the file is still there: {files}");
    let st = ox(r, &["status", "--porcelain"]);
    assert_eq!(st, "", "{st}");
}

/// The first status after a checkout trusts the stat of every file the
/// checkout wrote: the index stamp comes from the file system's clock, so
/// only files written in the same clock tick as the index are racy, not
/// every file of the last 50 ms.
#[test]
fn the_first_status_after_a_checkout_rehashes_almost_nothing() {
    let t = init();
    let r = t.path();
    write(r, "seed.txt", "seed\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "c1"]);
    ox(r, &["checkout", "-b", "other"]);
    for i in 0..200 {
        write(r, &format!("files/{i:03}.txt"), format!("file {i}\n"));
    }
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "c2"]);
    ox(r, &["checkout", "main"]);
    ox(r, &["checkout", "other"]);
    let repo = oxen_repo::Repo::open(r).expect("open");
    let head = repo.flatten_commit(repo.head_commit().expect("head").as_ref()).expect("flatten");
    let flat: BTreeMap<oxen_path::RepoPath, (oxen_hash::ContentId, u32)> =
        head.into_iter().map(|(p, e)| (p, (e.id, e.mode))).collect();
    let index = repo.index().expect("index");
    let st = oxen_index::status(&repo.worktree, &repo.versions, &index, Some(&flat)).expect("status");
    assert!(st.entries.is_empty(), "{:?}", st.entries);
    // At most the files of the index's own clock tick (a few ms of a
    // 200-file checkout); before, all 200 were written within the margin.
    assert!(st.hashed < 100, "re-hashed {} of 200 files just checked out", st.hashed);
}

/// A checkout interrupted half way (simulated: its record written, part of
/// the files switched, a temp file left) is completed by its retry, by
/// `checkout --continue`, or by the next command that reads the work tree.
#[test]
fn an_interrupted_checkout_is_completed_by_the_retry() {
    let t = init();
    let r = t.path();
    write(r, "a.txt", "a1\n");
    write(r, "gone.txt", "gone\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "c1"]);
    let main = snapshot(r);
    ox(r, &["checkout", "-b", "other"]);
    write(r, "a.txt", "a2\n");
    write(r, "b/new.txt", "new\n");
    std::fs::remove_file(r.join("gone.txt")).expect("rm");
    ox(r, &["add", "-A"]);
    ox(r, &["commit", "-m", "c2"]);
    let other = snapshot(r);
    ox(r, &["checkout", "main"]);
    for how in ["retry", "continue", "status"] {
        // Abort at the 4th write point of the checkout: after the record
        // and part of the work tree, before the index and HEAD.
        let mut c = oxen(r);
        c.env("OXEN_TEST_ABORT_AT_WRITE", "4").args(["checkout", "other"]);
        let o = c.output().expect("run");
        assert!(!o.status.success(), "{how}: not interrupted");
        assert!(r.join(".oxen/CHECKOUT").exists(), "{how}: no record");
        ox(r, &["fsck"]);
        match how {
            "retry" => {
                ox(r, &["checkout", "other"]);
            }
            "continue" => {
                ox(r, &["checkout", "--continue"]);
            }
            _ => {
                let st = ox(r, &["status", "--porcelain"]);
                assert_eq!(st, "", "{how}");
            }
        }
        assert!(!r.join(".oxen/CHECKOUT").exists(), "{how}: record left");
        assert_eq!(snapshot(r), other, "{how}");
        assert_eq!(ox(r, &["status", "--porcelain"]), "", "{how}");
        assert_eq!(run("oxen-rev-parse", r, &["--abbrev-ref", "HEAD"]).trim(), "other", "{how}");
        ox(r, &["checkout", "main"]);
        assert_eq!(snapshot(r), main, "{how}");
    }
    let e = ox_err(r, &["checkout", "--continue"]);
    assert!(e.contains("no interrupted checkout"), "{e}");
}

/// Build a commit whose tree is `depth` directories deep through the
/// library (a file system path that long is beyond PATH_MAX), on branch
/// `deep`.
fn deep_commit(r: &Path, depth: usize) -> String {
    let repo = oxen_repo::Repo::open(r).expect("open");
    let id = repo.versions.write_bytes(b"at the bottom\n").expect("write");
    repo.versions.flush().expect("flush");
    let mut path = "d/".repeat(depth);
    path.push_str("f.txt");
    let p = oxen_path::RepoPath::new(path.as_bytes()).expect("path");
    let mut files = BTreeMap::new();
    files.insert(p, oxen_repo::FlatEntry { id, mode: oxen_object::mode::FILE, size: 14, tabular: None });
    let tree = repo.write_tree_from(&files).expect("tree");
    drop(repo);
    let c = run("oxen-commit-tree", r, &[&tree.to_hex(), "-p", "HEAD", "-m", "deep"]);
    run("oxen-update-ref", r, &["refs/heads/deep", &c]);
    c
}

/// A tree 10,000 levels deep: show --stat, fsck, checkout (which writes
/// the chain through directory handles, beyond PATH_MAX), status and the
/// way back all work without overflowing the stack.
#[test]
fn a_tree_ten_thousand_levels_deep_is_walked_without_recursion() {
    let t = init_in_memory();
    let r = t.path();
    write(r, "top.txt", "top\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "c1"]);
    let c = deep_commit(r, 10_000);
    let s = ox(r, &["show", "--stat", &c]);
    assert!(s.contains("f.txt"), "{}", &s[s.len().saturating_sub(300)..]);
    ox(r, &["fsck"]);
    ox(r, &["checkout", "deep"]);
    assert_eq!(ox(r, &["status", "--porcelain"]), "");
    ox(r, &["checkout", "main"]);
    assert!(!r.join("d").exists(), "the deep chain was not removed");
    assert_eq!(ox(r, &["status", "--porcelain"]), "");
}

/// A real directory chain 2,000 levels deep (made with mkdirat, beyond
/// PATH_MAX): add, commit, status and checkout away and back.
#[test]
fn a_real_directory_chain_two_thousand_levels_deep() {
    use rustix::fs::{mkdirat, openat, Mode, OFlags};
    let t = init_in_memory();
    let r = t.path();
    let mut fd = openat(rustix::fs::CWD, r, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).expect("open");
    for _ in 0..2_000 {
        mkdirat(&fd, "d", Mode::from_raw_mode(0o755)).expect("mkdir");
        fd = openat(&fd, "d", OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).expect("open");
    }
    let f = openat(&fd, "f.txt", OFlags::WRONLY | OFlags::CREATE, Mode::from_raw_mode(0o644)).expect("create");
    rustix::io::write(&f, b"bottom\n").expect("write");
    drop(f);
    write(r, "top.txt", "top\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "deep"]);
    assert_eq!(ox(r, &["status", "--porcelain"]), "");
    ox(r, &["checkout", "-b", "flat"]);
    ox(r, &["rm", "-r", "d"]);
    ox(r, &["commit", "-m", "flat"]);
    assert!(!r.join("d").exists());
    ox(r, &["checkout", "main"]);
    assert!(r.join("d/d/d").is_dir());
    assert_eq!(ox(r, &["status", "--porcelain"]), "");
    ox(r, &["fsck"]);
}

/// A checkout that puts a file where a directory of nested directories
/// stands looks up the tracked files it removes there (so that only
/// untracked ones block it): their paths are two or more levels below.
#[test]
fn checkout_of_a_file_over_a_nested_directory_removes_it() {
    let t = init();
    let r = t.path();
    write(r, "keep.txt", "keep\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "base"]);
    ox(r, &["checkout", "-b", "file"]);
    write(r, "a", "a file\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "a is a file"]);
    ox(r, &["checkout", "main"]);
    ox(r, &["checkout", "-b", "nested"]);
    write(r, "a/b/c/deep.txt", "deep\n");
    write(r, "a/top.txt", "top\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "a is a nested directory"]);
    ox(r, &["checkout", "file"]);
    assert_eq!(std::fs::read(r.join("a")).unwrap(), b"a file\n");
    assert_eq!(ox(r, &["status", "--porcelain"]), "");
    // An untracked file in the nested directory still blocks it.
    ox(r, &["checkout", "nested"]);
    write(r, "a/b/c/mine.txt", "mine\n");
    let e = ox_err(r, &["checkout", "file"]);
    assert!(e.contains("'a/b/c/mine.txt' would be removed by checkout"), "{e}");
    assert_eq!(std::fs::read(r.join("a/b/c/deep.txt")).unwrap(), b"deep\n");
}
