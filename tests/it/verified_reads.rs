//! Every read of stored contents is verified against its id while it
//! streams: with one byte of a stored file flipped, restore, checkout,
//! clone, cat-file and upload-pack fail with one line naming the path and
//! the id, and the work tree is left as it was (a new file is not left
//! half-written, an existing one keeps its contents).

use std::path::{Path, PathBuf};

use crate::common::*;

/// 3 MiB: a loose file, read in many chunks.
fn big_bytes(seed: u8) -> Vec<u8> {
    (0..3u32 << 20).map(|i| (i % 251) as u8 ^ seed).collect()
}

/// Flip one byte of the stored contents `rev` names; returns the id and
/// the file holding them.
fn corrupt(r: &Path, rev: &str) -> (String, PathBuf) {
    let repo = oxen_repo::Repo::open(r).unwrap();
    let id = repo.resolve(rev).unwrap().id;
    let (file, offset) = repo.versions.locate(&id).unwrap().expect("stored");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[offset as usize + 3] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    (id.to_hex(), file)
}

/// main: big.bin (A), small.txt. other: big.bin (B), only-other.bin.
fn two_branches(r: &Path) {
    ox(r, &["init"]);
    write(r, "big.bin", big_bytes(0));
    write(r, "small.txt", "small\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "one"]);
    ox(r, &["switch", "-c", "other"]);
    write(r, "big.bin", big_bytes(1));
    write(r, "only-other.bin", big_bytes(2));
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "two"]);
    ox(r, &["switch", "main"]);
}

fn assert_names(e: &str, path: &str, id: &str) {
    assert!(e.contains(path), "error should name {path}: {e}");
    assert!(e.contains(id), "error should name {id}: {e}");
    assert!(e.contains("corrupt"), "error should say corrupt: {e}");
}

#[test]
fn restore_does_not_write_corrupt_contents() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    two_branches(r);
    let (id, _) = corrupt(r, "HEAD:big.bin");
    // A deleted file is not brought back half-made or wrong.
    std::fs::remove_file(r.join("big.bin")).unwrap();
    let e = ox_err(r, &["restore", "big.bin"]);
    assert_names(&e, "big.bin", &id);
    assert!(!r.join("big.bin").exists(), "a corrupt file was left in the work tree");
    // An existing file keeps its contents.
    write(r, "big.bin", "local edits\n");
    let e = ox_err(r, &["restore", "big.bin"]);
    assert_names(&e, "big.bin", &id);
    assert_eq!(std::fs::read(r.join("big.bin")).unwrap(), b"local edits\n");
    // Small contents (in a segment) too.
    let (id, _) = corrupt(r, "HEAD:small.txt");
    write(r, "small.txt", "mine\n");
    let e = ox_err(r, &["restore", "small.txt"]);
    assert_names(&e, "small.txt", &id);
    assert_eq!(std::fs::read(r.join("small.txt")).unwrap(), b"mine\n");
    // fsck agrees.
    let e = ox_err(r, &["fsck"]);
    assert!(e.contains("problem"), "{e}");
}

#[test]
fn checkout_does_not_write_corrupt_contents() {
    // An existing file the checkout would replace.
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    two_branches(r);
    let (id, _) = corrupt(r, "other:big.bin");
    let e = ox_err(r, &["checkout", "other"]);
    assert_names(&e, "big.bin", &id);
    assert_eq!(std::fs::read(r.join("big.bin")).unwrap(), big_bytes(0), "big.bin was overwritten");
    assert_eq!(run("oxen-rev-parse", r, &["--abbrev-ref", "HEAD"]), "main");

    // A new file the checkout would create.
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    two_branches(r);
    let (id, _) = corrupt(r, "other:only-other.bin");
    let e = ox_err(r, &["switch", "other"]);
    assert_names(&e, "only-other.bin", &id);
    assert!(!r.join("only-other.bin").exists(), "a corrupt new file was left in the work tree");
    assert_eq!(run("oxen-rev-parse", r, &["--abbrev-ref", "HEAD"]), "main");
}

#[test]
fn clone_and_cat_file_do_not_hand_out_corrupt_contents() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path().join("src");
    std::fs::create_dir_all(&r).unwrap();
    two_branches(&r);
    let (id, file) = corrupt(&r, "HEAD:big.bin");

    let e = ox_err(d.path(), &["clone", r.to_str().unwrap(), "copy"]);
    assert_names(&e, &file.display().to_string(), &id);
    assert!(!d.path().join("copy").exists(), "a half-made clone was left behind");

    let mut c = bin("oxen-cat-file", &r);
    c.args(["-p", "HEAD:big.bin"]);
    let o = c.output().unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert_names(&e, "HEAD:big.bin", &id);
    assert!(o.stdout.len() < 3 << 20, "cat-file wrote all {} corrupt bytes", o.stdout.len());

    // Small contents are one read: nothing at all comes out.
    let (id, _) = corrupt(&r, "HEAD:small.txt");
    let mut c = bin("oxen-cat-file", &r);
    c.args(["-p", "HEAD:small.txt"]);
    let o = c.output().unwrap();
    assert!(!o.status.success());
    assert_names(&String::from_utf8_lossy(&o.stderr), "HEAD:small.txt", &id);
    assert!(o.stdout.is_empty(), "{:?}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn upload_pack_aborts_on_a_corrupt_blob() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path().join("src");
    std::fs::create_dir_all(&r).unwrap();
    two_branches(&r);
    let (id, file) = corrupt(&r, "HEAD:big.bin");
    let mut c = bin("oxen-upload-pack", d.path());
    c.args(["--want", "HEAD", r.to_str().unwrap()]);
    let o = c.output().unwrap();
    assert!(!o.status.success(), "upload-pack sent a corrupt blob and exited 0");
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert_names(&e, &file.display().to_string(), &id);
    // What it did send does not make a repository.
    let dest = d.path().join("dest");
    ox(d.path(), &["init", "dest"]);
    let mut c = bin("oxen-receive-pack", &dest);
    c.arg(".").write_stdin(o.stdout);
    err(c);
}

#[test]
fn a_server_aborts_a_pack_with_a_corrupt_blob() {
    let d = tempfile::tempdir().unwrap();
    let srv = crate::sync_support::Server::start(d.path(), &[]);
    srv.create("data");
    let work = d.path().join("w");
    std::fs::create_dir_all(&work).unwrap();
    crate::sync_support::init_with(&srv, &work, &[("big.bin", &big_bytes(0)), ("small.txt", b"s\n")]);
    srv.oxen(&work, &["push", &srv.url("data"), "main"]);
    corrupt(&srv.sync_dir.join("data"), "HEAD:big.bin");
    let e = srv.oxen_err(d.path(), &["clone", &srv.url("data"), "copy"]);
    assert!(!d.path().join("copy").exists(), "{e}");
    srv.assert_alive();
}
