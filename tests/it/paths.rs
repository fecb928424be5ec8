//! File names are bytes: any name Linux allows is versioned, restored byte
//! for byte, and escaped only in output (git's quoting).

use crate::common::*;

/// Ids of commits made before names became bytes must not change: the
/// tree encoding of UTF-8 names is the same as it always was. The ids
/// below were produced by the code before that change.
#[test]
fn tree_and_commit_ids_of_utf8_names_are_unchanged() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    ox(r, &["init"]);
    write(r, "a.txt", "alpha\n");
    write(r, "dir/b.csv", "id,name\n1,x\n2,y\n");
    write(r, "dir/sub/c.bin", [0u8, 1, 2, 255]);
    write(r, "caf\u{e9} \u{1F600}.txt", "unicode\n");
    write(r, "space name/x y.txt", "spaces\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "pinned"]);
    let tree = run("oxen-rev-parse", r, &["HEAD:"]);
    let commit = run("oxen-rev-parse", r, &["HEAD"]);
    assert_eq!(tree, "cf5c7392e7bc7a758eb63788b65a8d78", "root tree id changed");
    assert_eq!(commit, "476b4920e9a8c6a3404acf707cd31137", "commit id changed");
}

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command as Proc;

/// Names Linux allows that Oxen used to refuse or skip: a backslash, a
/// newline, a tab, a quote, bytes that are not UTF-8 (in a file and a
/// directory name), a space, a 255-byte name (the Linux limit), and a path
/// of about 3,000 bytes (deep directories of 255-byte names).
fn odd_paths() -> Vec<Vec<u8>> {
    let mut long = b"deep".to_vec();
    for i in 0..12u8 {
        long.push(b'/');
        long.extend(std::iter::repeat_n(b'a' + i, 255));
    }
    long.extend_from_slice(b"/leaf\xff.txt");
    assert!(long.len() > 3_000, "{}", long.len());
    vec![
        b"back\\slash.txt".to_vec(),
        b"new\nline.txt".to_vec(),
        b"tab\there.txt".to_vec(),
        b"quote\"d.txt".to_vec(),
        b"caf\xe9.txt".to_vec(),
        b"dir\xff/inner.txt".to_vec(),
        b"sp ace.txt".to_vec(),
        vec![b'n'; 255],
        long,
    ]
}

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

fn put(root: &Path, rel: &[u8], bytes: &[u8]) {
    let p = root.join(os(rel));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// Contents that differ per path (and are not the same as another file's).
fn body(rel: &[u8]) -> Vec<u8> {
    let mut b = b"contents of ".to_vec();
    b.extend_from_slice(rel);
    b.push(b'\n');
    b
}

/// Every file under `root` by raw path bytes (skipping `.oxen`, `.git` and
/// the test home), with its bytes: a byte-exact picture of a work tree.
fn raw_snapshot(root: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<Vec<u8>, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name();
            if [".oxen", ".git", ".oxen-home-for-tests"].iter().any(|n| name == *n) {
                continue;
            }
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().as_os_str().as_bytes().to_vec();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Run one of our binaries with OS-string arguments; assert success and
/// return (stdout, stderr) as raw bytes.
fn ok_raw(name: &str, dir: &Path, args: &[&OsStr]) -> (Vec<u8>, Vec<u8>) {
    let o = bin(name, dir).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{name} {args:?} failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.stdout, o.stderr)
}

fn oxen_raw(dir: &Path, args: &[&OsStr]) -> Vec<u8> {
    ok_raw("oxen", dir, args).0
}

/// The index, listed raw (`oxen-ls-files -z`).
fn ls_files(dir: &Path) -> Vec<Vec<u8>> {
    let out = ok_raw("oxen-ls-files", dir, &[os(b"-z")]).0;
    out.split(|b| *b == 0).filter(|p| !p.is_empty()).map(<[u8]>::to_vec).collect()
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

#[test]
fn odd_names_are_versioned_all_and_restored_byte_exact() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    ox(r, &["init"]);
    write(r, "base.txt", "base\n");
    ox(r, &["add", "base.txt"]);
    ox(r, &["commit", "-m", "base"]);
    ox(r, &["branch", "base"]);
    for p in odd_paths() {
        put(r, &p, &body(&p));
    }
    // One add versions every name, with nothing skipped or warned about.
    let (_, stderr) = ok_raw("oxen", r, &[os(b"add"), os(b".")]);
    assert!(stderr.is_empty(), "add warned: {}", String::from_utf8_lossy(&stderr));
    let mut want = odd_paths();
    want.push(b"base.txt".to_vec());
    assert_eq!(ls_files(r), sorted(want.clone()));
    ox(r, &["commit", "-m", "odd names"]);
    assert!(ox(r, &["status"]).contains("nothing to commit"), "clean after commit");
    // The debugging dump decodes the long path's row (prefix + hash key).
    let dump = ox(r, &["kvdb-inspect", ".oxen/db", "--db", "index"]);
    assert!(dump.contains("/leaf\\377.txt\" id="), "{dump}");
    let committed = raw_snapshot(r);
    assert_eq!(committed.len(), want.len());

    // Checkout away removes them, checkout back restores them byte for byte.
    ox(r, &["checkout", "base"]);
    assert_eq!(raw_snapshot(r).into_keys().collect::<Vec<_>>(), vec![b"base.txt".to_vec()]);
    ox(r, &["checkout", "main"]);
    assert_eq!(raw_snapshot(r), committed);
    assert!(ox(r, &["status", "--porcelain"]).is_empty());

    // A clone (local path remote) has the same bytes under the same names.
    let c = tempfile::tempdir().unwrap();
    let dest = c.path().join("copy");
    ok_raw("oxen", c.path(), &[os(b"clone"), r.as_os_str(), dest.as_os_str()]);
    assert_eq!(raw_snapshot(&dest), committed);
    assert_eq!(ls_files(&dest), sorted(want));
}

#[test]
fn diff_rm_and_mv_take_and_show_any_name() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    ox(r, &["init"]);
    for p in odd_paths() {
        put(r, &p, &body(&p));
    }
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "odd names"]);
    let long = odd_paths().pop().unwrap();

    // diff: headers quoted as git quotes them; a non-UTF-8 pathspec works.
    put(r, b"back\\slash.txt", b"changed\n");
    put(r, b"caf\xe9.txt", b"changed too\n");
    let all = String::from_utf8(oxen_raw(r, &[os(b"diff")])).unwrap();
    assert!(all.contains("diff --oxen \"a/back\\\\slash.txt\" \"b/back\\\\slash.txt\"\n"), "{all}");
    assert!(all.contains("--- \"a/back\\\\slash.txt\"\n+++ \"b/back\\\\slash.txt\"\n"), "{all}");
    // Its old contents hold the non-UTF-8 name, so they are binary.
    assert!(all.contains("diff --oxen \"a/caf\\351.txt\" \"b/caf\\351.txt\"\nBinary files differ"), "{all}");
    let one = String::from_utf8(oxen_raw(r, &[os(b"diff"), os(b"--"), os(b"caf\xe9.txt")])).unwrap();
    assert!(one.contains("caf\\351") && !one.contains("back"), "{one}");
    ox(r, &["add", "."]);
    let staged = String::from_utf8(oxen_raw(r, &[os(b"diff"), os(b"--staged"), os(b"--stat")])).unwrap();
    assert!(staged.contains("2 files changed"), "{staged}");
    ox(r, &["commit", "-m", "edits"]);

    // rm: non-UTF-8 and ~3,000-byte paths given as arguments.
    oxen_raw(r, &[os(b"rm"), os(b"caf\xe9.txt"), os(&long)]);
    assert!(!r.join(os(b"caf\xe9.txt")).exists() && !r.join(os(&long)).exists());
    let listed = ls_files(r);
    assert!(!listed.contains(&b"caf\xe9.txt".to_vec()) && !listed.contains(&long));

    // mv: a name with a newline to one with invalid UTF-8, and a directory
    // with a non-UTF-8 name.
    oxen_raw(r, &[os(b"mv"), os(b"new\nline.txt"), os(b"moved\x80.txt")]);
    oxen_raw(r, &[os(b"mv"), os(b"dir\xff"), os(b"dir\xfe")]);
    assert_eq!(std::fs::read(r.join(os(b"moved\x80.txt"))).unwrap(), body(b"new\nline.txt"));
    let listed = ls_files(r);
    for (gone, there) in [(&b"new\nline.txt"[..], &b"moved\x80.txt"[..]), (b"dir\xff/inner.txt", b"dir\xfe/inner.txt")]
    {
        assert!(!listed.contains(&gone.to_vec()) && listed.contains(&there.to_vec()), "{listed:?}");
    }
    let st = ox(r, &["status", "--porcelain"]);
    let q = |b: &[u8]| oxen_path::quote(b, oxen_path::Quote::CSpace).into_owned();
    let want = [
        "D  \"caf\\351.txt\"".to_string(),
        format!("D  {}", q(&long)),
        "R  \"dir\\377/inner.txt\" -> \"dir\\376/inner.txt\"".to_string(),
        "R  \"new\\nline.txt\" -> \"moved\\200.txt\"".to_string(),
    ];
    assert_eq!(st.lines().collect::<Vec<_>>(), want);
    assert!(want[1].ends_with("/leaf\\377.txt\""), "{}", want[1]);
}

/// git, isolated from the user's config, with `core.quotePath` as its
/// default (on); returns stdout raw.
fn git(dir: &Path, args: &[&OsStr]) -> Vec<u8> {
    let o = Proc::new("git")
        .args(["-c", "core.quotePath=true", "-c", "user.name=T", "-c", "user.email=t@e", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir.join(".oxen-home-for-tests"))
        .output()
        .expect("git runs");
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

#[test]
fn status_porcelain_quotes_odd_names_as_git_does() {
    if Proc::new("git").arg("--version").output().is_err() {
        let _ = std::io::Write::write_all(&mut std::io::stderr(), b"git not installed; skipping\n");
        return;
    }
    let (od, gd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (o, g) = (od.path(), gd.path());
    ox(o, &["init"]);
    git(g, &[os(b"init"), os(b"-q"), os(b"-b"), os(b"main")]);
    std::fs::create_dir_all(g.join(".git/info")).unwrap();
    std::fs::write(g.join(".git/info/exclude"), ".oxen-home-for-tests/\n").unwrap();
    std::fs::create_dir_all(o.join(".oxen-home-for-tests")).unwrap();
    for root in [o, g] {
        std::fs::write(root.join(".oxenignore"), ".oxen-home-for-tests/\n").unwrap();
        for p in odd_paths() {
            put(root, &p, &body(&p));
        }
        // More names in a tracked directory, so untracked ones are listed
        // one by one rather than as their directory.
        put(root, b"mixed/kept.txt", b"kept\n");
    }
    let same = |step: &str| {
        let ours = oxen_raw(o, &[os(b"status"), os(b"--porcelain")]);
        let theirs = git(g, &[os(b"status"), os(b"--porcelain")]);
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "{step}: oxen vs git status differ"
        );
        assert_eq!(ours, theirs, "{step}");
    };
    same("all untracked");
    // Stage some, in both.
    let some: Vec<&[u8]> =
        vec![b"back\\slash.txt", b"new\nline.txt", b"caf\xe9.txt", b"mixed/kept.txt", b".oxenignore"];
    for p in &some {
        oxen_raw(o, &[os(b"add"), os(p)]);
        git(g, &[os(b"add"), os(b"--"), os(p)]);
    }
    for root in [o, g] {
        put(root, b"mixed/tab\tnew.txt", b"x\n");
        put(root, b"mixed/\xc3\xa9t\xc3\xa9 \"q\".txt", b"y\n");
    }
    same("some staged, untracked in a tracked directory");
    // Everything committed, then modified, deleted and renamed.
    ox(o, &["add", "-A"]);
    git(g, &[os(b"add"), os(b"-A")]);
    ox(o, &["commit", "-m", "all"]);
    git(g, &[os(b"commit"), os(b"-q"), os(b"-m"), os(b"all")]);
    same("committed");
    let long = odd_paths().pop().unwrap();
    for root in [o, g] {
        put(root, b"tab\there.txt", b"modified\n");
        put(root, &long, b"modified long\n");
        std::fs::remove_file(root.join(os(b"quote\"d.txt"))).unwrap();
        std::fs::rename(root.join(os(b"sp ace.txt")), root.join(os(b"re\\named \x81.txt"))).unwrap();
    }
    same("modified, deleted, renamed in the work tree");
    ox(o, &["add", "-A"]);
    git(g, &[os(b"add"), os(b"-A")]);
    same("all staged");
}

/// `.oxen` in another letter case is a name no tree may hold (it is the
/// repository on a case-insensitive file system): adding it is a clear
/// error that stages nothing, never a silent skip; status warns.
#[test]
fn a_reserved_name_fails_the_add_instead_of_being_skipped() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    ox(r, &["init"]);
    write(r, "good.txt", "good\n");
    write(r, "sub/.OXEN/config", "not ours\n");
    let e = ox_err(r, &["add", "."]);
    assert!(e.contains("sub/.OXEN") && e.contains("reserved"), "{e}");
    assert!(ls_files(r).is_empty(), "nothing staged");
    let o = bin("oxen", r).args(["status", "--porcelain"]).output().unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("sub/.OXEN"), "status warns");
    // Refreshing tracked files has nothing to refuse: -u and commit -a work.
    ox(r, &["add", "good.txt"]);
    ox(r, &["commit", "-m", "good"]);
    write(r, "good.txt", "better\n");
    ox(r, &["add", "-u"]);
    write(r, "good.txt", "best\n");
    ox(r, &["commit", "-a", "-m", "best"]);
    assert_eq!(ls_files(r), vec![b"good.txt".to_vec()]);
    // Ignoring it is the way to version the rest.
    write(r, ".oxenignore", ".OXEN/\n");
    ox(r, &["add", "."]);
    assert_eq!(ls_files(r), vec![b".oxenignore".to_vec(), b"good.txt".to_vec()]);
}

/// Paths with newlines reach the index through the plumbing too:
/// `oxen-update-index -z --stdin` reads NUL-terminated paths.
#[test]
fn update_index_reads_nul_terminated_paths() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    ox(r, &["init"]);
    let names: [&[u8]; 3] = [b"new\nline.txt", b"caf\xe9.txt", b"back\\slash.txt"];
    let mut input = Vec::new();
    for n in names {
        put(r, n, &body(n));
        input.extend_from_slice(n);
        input.push(0);
    }
    let o = bin("oxen-update-index", r).args(["--add", "-z", "--stdin"]).write_stdin(input).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(ls_files(r), sorted(names.iter().map(|n| n.to_vec()).collect()));
    let text = run("oxen-ls-files", r, &[]);
    assert_eq!(text, "\"back\\\\slash.txt\"\n\"caf\\351.txt\"\n\"new\\nline.txt\"");
}

/// Over HTTP too: the server verifies trees holding odd names (its decoder
/// used to refuse non-UTF-8 and backslashes) and a clone restores them.
#[test]
fn odd_names_push_and_clone_over_http() {
    use crate::sync_support::Server;
    let d = tempfile::tempdir().unwrap();
    let srv = Server::start(d.path(), &[]);
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    srv.oxen(&a, &["init"]);
    for p in odd_paths() {
        put(&a, &p, &body(&p));
    }
    srv.oxen(&a, &["add", "."]);
    srv.oxen(&a, &["commit", "-m", "odd names"]);
    srv.create("Odd");
    srv.oxen(&a, &["push", &srv.url("Odd"), "main"]);
    let b = d.path().join("b");
    srv.oxen(d.path(), &["clone", &srv.url("Odd"), b.to_str().unwrap()]);
    assert_eq!(raw_snapshot(&b), raw_snapshot(&a));
}
