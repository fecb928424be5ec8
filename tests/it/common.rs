//! Helpers shared by the integration tests: run the real binaries in temp
//! directories with an isolated global config.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A command for one of our binaries, run in `dir`, isolated from the
/// user's global config, with a fixed author and date.
pub fn bin(name: &str, dir: &Path) -> Command {
    Command::from_std(std_bin(name, dir))
}

/// [`bin`] as a plain `std::process::Command`, for tests that spawn the
/// child themselves (to measure or kill it).
pub fn std_bin(name: &str, dir: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin(name));
    c.current_dir(dir)
        .env("OXEN_HOME", dir.join(".oxen-home-for-tests"))
        .env("OXEN_AUTHOR_NAME", "Test Author")
        .env("OXEN_AUTHOR_EMAIL", "test@example.com")
        .env("OXEN_AUTHOR_DATE", "1700000000 +0000")
        .env_remove("OXEN_NO_PROGRESS");
    c
}

/// `oxen <args>` in `dir`.
pub fn oxen(dir: &Path) -> Command {
    bin("oxen", dir)
}

/// Run and return trimmed stdout, asserting success.
pub fn out(mut c: Command) -> String {
    let o = c.output().expect("run");
    assert!(
        o.status.success(),
        "command failed: {:?}\nstdout: {}\nstderr: {}",
        c,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf8").trim_end().to_string()
}

/// Run and return stderr, asserting failure with a one-line error.
pub fn err(mut c: Command) -> String {
    let o = c.output().expect("run");
    assert!(
        !o.status.success(),
        "command unexpectedly succeeded: {:?}\nstdout: {}",
        c,
        String::from_utf8_lossy(&o.stdout)
    );
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(e.trim_end().lines().count(), 1, "error should be one line, got: {e}");
    assert!(e.starts_with("error: "), "error should start with 'error: ', got: {e}");
    e
}

/// An mtime long before any index write (2020-09-13), in seconds since the
/// epoch. The index trusts an entry's stat only if the file's mtime is older
/// than the index's write stamp (a newer one is "racily clean" and
/// re-hashed, as in git); files dated this far back are trusted as soon as
/// they are staged, so tests set it instead of sleeping out that window.
pub const LONG_AGO: u64 = 1_600_000_000;

/// Set a file's mtime to `secs` since the epoch.
pub fn set_mtime(path: &Path, secs: u64) {
    let f = std::fs::File::open(path).expect("open");
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)).expect("set mtime");
}

/// Write a file, creating parent directories.
pub fn write(root: &Path, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(&p, bytes).expect("write");
    p
}

/// Every file under `root` (skipping `.oxen` and test homes) with its bytes.
pub fn snapshot(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).expect("read_dir") {
            let e = e.expect("entry");
            let name = e.file_name().to_string_lossy().to_string();
            if name == ".oxen" || name == ".oxen-home-for-tests" || name == ".git" {
                continue;
            }
            let p = e.path();
            let ft = e.file_type().expect("ft");
            if ft.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).expect("prefix").to_string_lossy().to_string();
                out.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    walk(root, root, &mut out);
    out
}

/// `oxen <args...>` in `dir`, asserting success; returns stdout.
pub fn ox(dir: &Path, args: &[&str]) -> String {
    run("oxen", dir, args)
}

/// `oxen <args...>` in `dir`, asserting a one-line failure; returns stderr.
pub fn ox_err(dir: &Path, args: &[&str]) -> String {
    run_err("oxen", dir, args)
}

/// `<binary> <args...>` in `dir` (any of ours, e.g. `oxen-rev-parse`),
/// asserting success; returns stdout.
pub fn run(name: &str, dir: &Path, args: &[&str]) -> String {
    let mut c = bin(name, dir);
    c.args(args);
    out(c)
}

/// [`run`] with `input` on stdin.
pub fn run_stdin(name: &str, dir: &Path, args: &[&str], input: impl Into<Vec<u8>>) -> String {
    let mut c = bin(name, dir);
    c.args(args).write_stdin(input);
    out(c)
}

/// `<binary> <args...>` in `dir`, asserting a one-line failure; returns stderr.
pub fn run_err(name: &str, dir: &Path, args: &[&str]) -> String {
    let mut c = bin(name, dir);
    c.args(args);
    err(c)
}

/// A small deterministic generator (xorshift64), so a randomized test
/// needs no extra crate and a failing run is reproduced from its seed.
pub struct Rng(pub u64);

impl Rng {
    /// The next value of the sequence.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Deterministic incompressible bytes that do not repeat (so chunking cuts
/// them as it would real data): a xorshift stream from `seed`.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    (0..len).map(|_| (rng.next() >> 24) as u8).collect()
}
