//! Differential test: a seeded random sequence of file creates, edits,
//! deletes, renames, partial adds and commits, applied to an Oxen work tree
//! and a git work tree alike; `oxen status --porcelain` must equal
//! `git status --porcelain` after every step.

use std::io::Write;

use std::path::Path;
use std::process::Command as Proc;

use crate::common::*;

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Proc::new("git")
        .args(["-c", "core.quotePath=true", "-c", "user.name=T", "-c", "user.email=t@e", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir.join(".oxen-home-for-tests"))
        .output()
        .expect("git runs");
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim_end().to_string()
}

fn files_in(root: &Path) -> Vec<String> {
    snapshot(root).into_keys().filter(|p| !p.starts_with(".git")).collect()
}

#[test]
fn status_porcelain_matches_git_over_200_random_steps() {
    if Proc::new("git").arg("--version").output().is_err() {
        let _ = writeln!(std::io::stderr(), "git not installed; skipping");
        return;
    }
    let ox_dir = tempfile::tempdir().unwrap();
    let git_dir = tempfile::tempdir().unwrap();
    let (o, g) = (ox_dir.path(), git_dir.path());
    ox(o, &["init"]);
    git(g, &["init", "-q", "-b", "main"]);
    // Keep git from listing our test home and oxen from listing git's.
    std::fs::create_dir_all(g.join(".git/info")).unwrap();
    std::fs::write(g.join(".git/info/exclude"), ".oxen-home-for-tests/\n").unwrap();
    std::fs::create_dir_all(o.join(".oxen-home-for-tests")).unwrap();
    std::fs::write(o.join(".oxenignore"), ".oxen-home-for-tests/\n").unwrap();
    std::fs::write(g.join(".oxenignore"), ".oxen-home-for-tests/\n").unwrap();

    let mut rng = Rng(0x5eed_0f0e_7a11);
    let dirs = ["", "a/", "a/b/", "c/", "c/d e/"];
    let mut counter = 0u64;
    for step in 0..200 {
        let files = files_in(o);
        let op = rng.below(10);
        // Unique, dissimilar contents so git's similarity-based rename
        // detection only ever pairs exact renames.
        fn content(rng: &mut Rng, counter: &mut u64) -> String {
            *counter += 1;
            let mut s = format!("{counter}\n");
            for _ in 0..(4 + rng.below(6)) {
                s.push_str(&format!("{:x}\n", rng.next()));
            }
            s
        }
        let desc;
        match op {
            0..=2 => {
                let name = format!("{}f{}.txt", dirs[rng.below(dirs.len())], rng.below(12));
                let c = content(&mut rng, &mut counter);
                write(o, &name, &c);
                write(g, &name, &c);
                desc = format!("write {name}");
            }
            3 if !files.is_empty() => {
                let f = &files[rng.below(files.len())];
                std::fs::remove_file(o.join(f)).unwrap();
                std::fs::remove_file(g.join(f)).unwrap();
                desc = format!("delete {f}");
            }
            4 if !files.is_empty() => {
                let f = files[rng.below(files.len())].clone();
                let to = format!("{}r{}.txt", dirs[rng.below(dirs.len())], rng.below(12));
                if files.contains(&to) || f == ".oxenignore" {
                    continue;
                }
                for root in [o, g] {
                    std::fs::create_dir_all(root.join(&to).parent().unwrap()).unwrap();
                    std::fs::rename(root.join(&f), root.join(&to)).unwrap();
                }
                desc = format!("rename {f} -> {to}");
            }
            5 | 6 if !files.is_empty() => {
                let f = files[rng.below(files.len())].clone();
                ox(o, &["add", &f]);
                git(g, &["add", "--", &f]);
                desc = format!("add {f}");
            }
            7 => {
                ox(o, &["add", "-A"]);
                git(g, &["add", "-A"]);
                desc = "add -A".into();
            }
            8 => {
                ox(o, &["add", "-A"]);
                git(g, &["add", "-A"]);
                let st = git(g, &["status", "--porcelain"]);
                if !st.is_empty() {
                    ox(o, &["commit", "-m", &format!("step {step}")]);
                    git(g, &["commit", "-q", "-m", &format!("step {step}")]);
                }
                desc = "commit".into();
            }
            _ => {
                if let Some(f) = files.iter().find(|f| f.ends_with(".txt")) {
                    let c = content(&mut rng, &mut counter);
                    write(o, f, &c);
                    write(g, f, &c);
                    desc = format!("edit {f}");
                } else {
                    continue;
                }
            }
        }
        let ours = ox(o, &["status", "--porcelain"]);
        let theirs = git(g, &["status", "--porcelain"]);
        if std::env::var_os("OXEN_TEST_VERBOSE").is_some() {
            let _ = writeln!(std::io::stderr(), "{ours}");
        }
        assert_eq!(ours, theirs, "step {step} ({desc}): oxen vs git status differ");
    }
}
