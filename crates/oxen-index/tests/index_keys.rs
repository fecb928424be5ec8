//! The index keys paths of any length (LMDB keys stop at 511 bytes): short
//! paths are their own key, as they always were; longer ones get a prefix +
//! hash key with the full path in the value. Either way the loaded index is
//! in path byte order, which status relies on for its merge-join.

use std::collections::BTreeMap;

use oxen_hash::ContentId;
use oxen_index::{FileStat, Index, IndexEntry, Tracking, SHORT_KEY_MAX};
use oxen_path::RepoPath;
use oxen_store::{Db, Layout, Table};

fn entry(n: u8) -> IndexEntry {
    IndexEntry {
        id: ContentId::of(&[n]),
        stat: FileStat { size: n as u64, mode: oxen_object::mode::FILE, ..Default::default() },
        tracking: Tracking::Regular,
        tabular: None,
    }
}

/// A path of `depth` directories of 255-byte names (the Linux name limit)
/// under `top`, ending in `leaf`.
fn deep(top: &str, depth: usize, fill: u8, leaf: &[u8]) -> RepoPath {
    let mut p = RepoPath::new(top.as_bytes()).unwrap();
    for _ in 0..depth {
        p = p.join(&[fill; 255]).unwrap();
    }
    p.join(leaf).unwrap()
}

#[test]
fn long_paths_round_trip_in_byte_order() {
    let d = tempfile::tempdir().unwrap();
    let layout = Layout::create(d.path()).unwrap();
    let db = Db::open(&layout).unwrap();
    let long_a = deep("d", 12, b'a', b"f\xff.txt"); // ~3,000 bytes
    let long_b = deep("d", 12, b'a', b"g.txt");
    let long_c = deep("d", 2, b'b', b"x"); // just past the short-key limit
    assert!(long_a.len() > 3_000 && long_c.len() > SHORT_KEY_MAX && long_c.len() < 600);
    // Short paths that share the long ones' first bytes and sort among them.
    let short_1 = RepoPath::new(&long_a.as_bytes()[..300]).unwrap();
    let short_2 = RepoPath::try_from("d/c").unwrap();
    let short_3 = RepoPath::try_from("caf\u{e9}").unwrap();
    let all = [&long_a, &long_b, &long_c, &short_1, &short_2, &short_3];
    let changes: Vec<_> = all.iter().enumerate().map(|(i, p)| ((*p).clone(), Some(entry(i as u8)))).collect();
    Index::apply(&db, &changes).unwrap();

    let index = Index::load(&db).unwrap();
    let mut want: Vec<RepoPath> = all.iter().map(|p| (*p).clone()).collect();
    want.sort();
    assert_eq!(index.entries.keys().cloned().collect::<Vec<_>>(), want);
    for (i, p) in all.iter().enumerate() {
        assert_eq!(index.entries[*p], entry(i as u8), "{p:?}");
    }
    // Every key fits LMDB, and a short path is stored under its own bytes.
    for (k, _) in db.scan(Table::Index).unwrap() {
        assert!(k.len() <= 511, "key of {} bytes", k.len());
    }
    assert!(db.get(Table::Index, short_2.as_bytes()).unwrap().is_some());

    // Deleting by path finds the long key again; replace writes long keys too.
    Index::apply(&db, &[(long_a.clone(), None)]).unwrap();
    let index = Index::load(&db).unwrap();
    assert!(!index.entries.contains_key(&long_a) && index.entries.contains_key(&long_b));
    let mut m = BTreeMap::new();
    m.insert(long_a.clone(), entry(9));
    Index::replace(&db, &m).unwrap();
    let index = Index::load(&db).unwrap();
    assert_eq!(index.entries.len(), 1);
    assert_eq!(index.entries[&long_a], entry(9));
}

/// The streaming reader hands out the same entries as a full load, in path
/// byte order, across page boundaries (4,096 rows a page) and with long
/// paths whose keys sort out of path order within their prefix group.
#[test]
fn index_iter_streams_in_path_order_across_pages() {
    let d = tempfile::tempdir().unwrap();
    let layout = Layout::create(d.path()).unwrap();
    let db = Db::open(&layout).unwrap();
    let mut changes = Vec::new();
    for i in 0..10_000u32 {
        let p = RepoPath::new(format!("d{:03}/f{i:05}", i % 300).into_bytes()).unwrap();
        changes.push((p, Some(entry(i as u8))));
    }
    // Long paths sharing a 480-byte prefix, with a short one among them: in
    // key order the long keys (prefix, NUL, hash) come first.
    for leaf in [&[b'z'; 43][..], b"a", &[b'm'; 43][..]] {
        let mut p = b"d150/".to_vec();
        p.extend_from_slice(&[b'z'; 255]);
        p.push(b'/');
        p.extend_from_slice(&[b'q'; 230]);
        p.extend_from_slice(leaf);
        changes.push((RepoPath::new(p).unwrap(), Some(entry(7))));
    }
    Index::apply(&db, &changes).unwrap();
    let want: Vec<(RepoPath, IndexEntry)> = Index::load(&db).unwrap().entries.into_iter().collect();
    let got: Vec<(RepoPath, IndexEntry)> = oxen_index::IndexIter::new(&db).map(|r| r.unwrap()).collect();
    assert_eq!(got.len(), 10_003);
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "in path order");
    assert_eq!(got, want);
}
