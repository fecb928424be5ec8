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
