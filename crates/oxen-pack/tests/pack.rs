//! Pack round trips between two repositories in one process.

use std::collections::BTreeMap;

use oxen_hash::ContentId;
use oxen_object::{Commit, Signature};
use oxen_pack::{enumerate, receive_pack, PackError, PackSource};
use oxen_repo::{FlatEntry, Repo};
use oxen_store::NoProgress;

fn commit(repo: &Repo, files: &[(&str, &[u8])], parents: Vec<ContentId>) -> ContentId {
    let mut map = BTreeMap::new();
    for (p, b) in files {
        let id = repo.versions.write_bytes(b).unwrap();
        map.insert(p.to_string(), FlatEntry { id, mode: oxen_object::mode::FILE, size: b.len() as u64, tabular: None });
    }
    let tree = repo.write_tree_from(&map).unwrap();
    let author = Signature { name: "T".into(), email: "t@x".into(), time: 1, tz_minutes: 0 };
    repo.write_commit(&Commit { tree, parents, author, message: "m\n".into() }).unwrap()
}

#[test]
fn round_trip_then_incremental() {
    let d = tempfile::tempdir().unwrap();
    let a = Repo::init(&d.path().join("a"), "main").unwrap();
    let b = Repo::init(&d.path().join("b"), "main").unwrap();
    let c1 = commit(&a, &[("x/1.txt", b"one"), ("x/2.txt", b"two"), ("y.txt", b"y")], vec![]);
    let objs = enumerate(&a, &[c1], &[]).unwrap();
    assert_eq!(objs.len(), 3 + 2 + 1);
    let stats = receive_pack(&b, PackSource::new(&a, objs), &NoProgress).unwrap();
    assert_eq!(stats.stored, 6);
    assert_eq!(b.read_commit(&c1).unwrap(), a.read_commit(&c1).unwrap());
    // A child changing one file: its blob, the x tree, the root tree, the commit.
    let c2 = commit(&a, &[("x/1.txt", b"one!"), ("x/2.txt", b"two"), ("y.txt", b"y")], vec![c1]);
    let objs = enumerate(&a, &[c2], &[c1]).unwrap();
    assert_eq!(objs.len(), 4);
    receive_pack(&b, PackSource::new(&a, objs), &NoProgress).unwrap();
    assert_eq!(b.flatten_commit(Some(&c2)).unwrap(), a.flatten_commit(Some(&c2)).unwrap());
    assert_eq!(a.ahead_behind(&c2, &c1).unwrap(), (1, 0));
    assert_eq!(a.ahead_behind(&c1, &c2).unwrap(), (0, 1));
}

#[test]
fn refuses_objects_whose_dependencies_are_missing() {
    let d = tempfile::tempdir().unwrap();
    let a = Repo::init(&d.path().join("a"), "main").unwrap();
    let b = Repo::init(&d.path().join("b"), "main").unwrap();
    let c1 = commit(&a, &[("f", b"data")], vec![]);
    // Leave out the blob: the tree must be refused, and so nothing after it.
    let objs: Vec<_> =
        enumerate(&a, &[c1], &[]).unwrap().into_iter().filter(|(k, _)| *k != oxen_pack::ObjKind::Blob).collect();
    let e = receive_pack(&b, PackSource::new(&a, objs), &NoProgress).unwrap_err();
    assert!(matches!(e, PackError::MissingDependency(..)), "{e}");
    assert!(!b.db.has_object(oxen_store::Table::Commits, &c1).unwrap());
}
