//! Pack round trips between two object stores in one process. The stores
//! are plain `oxen-store` tables and versions behind the `ObjectSource` /
//! `ObjectSink` traits: this crate is tested without any repository type.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use oxen_hash::ContentId;
use oxen_object::{mode, Commit, EntryKind, Signature, Tree, TreeEntry};
use oxen_pack::{enumerate, is_ancestor, receive_pack, PackError, PackSource};
use oxen_store::{Blob, Db, Layout, NoProgress, ObjectKind, ObjectSink, ObjectSource, Table, Versions};

/// A minimal object store: the `commits` and `trees` tables and a versions store.
struct Store {
    db: Db,
    versions: Versions,
    layout: Layout,
}

impl Store {
    fn new(dir: &Path) -> Store {
        let layout = Layout::create(dir).unwrap();
        let db = Db::open(&layout).unwrap();
        let versions = layout.versions(&db);
        Store { db, versions, layout }
    }

    fn table(kind: ObjectKind) -> Table {
        if kind == ObjectKind::Commit {
            Table::Commits
        } else {
            Table::Trees
        }
    }
}

impl ObjectSource for Store {
    fn read_node(&self, kind: ObjectKind, id: &ContentId) -> oxen_store::Result<Vec<u8>> {
        self.db.get_object(Store::table(kind), id)
    }
    fn open_blob(&self, id: &ContentId) -> oxen_store::Result<Blob> {
        self.versions.open(id)
    }
    fn has_object(&self, kind: ObjectKind, id: &ContentId) -> oxen_store::Result<bool> {
        match kind {
            ObjectKind::Blob => Ok(self.versions.has(id)),
            k => self.db.has_object(Store::table(k), id),
        }
    }
    fn chunk_list(&self, id: &ContentId) -> oxen_store::Result<Option<oxen_store::ChunkList>> {
        self.versions.chunk_list(id)
    }
    fn missing_contents(&self, ids: &[ContentId]) -> oxen_store::Result<Vec<ContentId>> {
        self.versions.missing(ids)
    }
    fn shallow_boundaries(&self) -> oxen_store::Result<std::collections::BTreeSet<ContentId>> {
        oxen_store::read_shallow(&self.layout)
    }
    fn stored_chunk(&self, id: &ContentId) -> oxen_store::Result<Option<(oxen_store::Codec, u64, Vec<u8>)>> {
        self.versions.read_stored(id)
    }
}

impl ObjectSink for Store {
    fn write_nodes(&self, nodes: &[(ObjectKind, &[u8])]) -> oxen_store::Result<()> {
        let mut txn = self.db.begin_write()?;
        for (k, b) in nodes {
            txn.put_object(Store::table(*k), b)?;
        }
        txn.commit()
    }
    fn write_blob(&self, bytes: &[u8]) -> oxen_store::Result<ContentId> {
        self.versions.write_bytes(bytes)
    }
    fn write_verified_blob(&self, reader: &mut dyn Read, expected: &ContentId) -> oxen_store::Result<u64> {
        self.versions.write_verified(reader, expected, Path::new("pack"))
    }
    fn write_chunk(&self, bytes: &[u8]) -> oxen_store::Result<ContentId> {
        self.versions.write_chunk(bytes)
    }
    fn write_chunk_list(&self, id: &ContentId, list: &oxen_store::ChunkList) -> oxen_store::Result<()> {
        self.versions.write_chunk_list(id, list)
    }
    fn write_chunk_stored(
        &self,
        id: &ContentId,
        codec: oxen_store::Codec,
        stored: &[u8],
        raw: &[u8],
    ) -> oxen_store::Result<()> {
        self.versions.write_chunk_stored(id, codec, stored, raw)
    }
    fn flush(&self) -> oxen_store::Result<()> {
        self.versions.flush()
    }
}

fn file(name: &str, id: ContentId, size: u64) -> TreeEntry {
    TreeEntry { name: name.into(), kind: EntryKind::File, mode: mode::FILE, id, size, tabular: None }
}

/// A commit of `files` (paths at most one directory deep).
fn commit(s: &Store, files: &[(&str, &[u8])], parents: Vec<ContentId>) -> ContentId {
    let mut dirs: BTreeMap<&str, Vec<TreeEntry>> = BTreeMap::new();
    let mut root = Vec::new();
    for (p, b) in files {
        let id = s.versions.write_bytes(b).unwrap();
        match p.split_once('/') {
            Some((d, n)) => dirs.entry(d).or_default().push(file(n, id, b.len() as u64)),
            None => root.push(file(p, id, b.len() as u64)),
        }
    }
    s.versions.flush().unwrap();
    for (d, es) in dirs {
        let size = es.iter().map(|e| e.size).sum();
        let id = s.db.put_object(Table::Trees, &Tree::Entries(es).encode()).unwrap();
        root.push(TreeEntry { name: d.into(), kind: EntryKind::Dir, mode: mode::DIR, id, size, tabular: None });
    }
    let tree = s.db.put_object(Table::Trees, &Tree::Entries(root).encode()).unwrap();
    let author = Signature { name: "T".into(), email: "t@x".into(), time: 1, tz_minutes: 0 };
    s.db.put_object(Table::Commits, &Commit { tree, parents, author, message: "m\n".into() }.encode()).unwrap()
}

#[test]
fn round_trip_then_incremental() {
    let d = tempfile::tempdir().unwrap();
    let a = Store::new(&d.path().join("a"));
    let b = Store::new(&d.path().join("b"));
    let c1 = commit(&a, &[("x/1.txt", b"one"), ("x/2.txt", b"two"), ("y.txt", b"y")], vec![]);
    let objs = enumerate(&a, &[c1], &[]).unwrap();
    assert_eq!(objs.len(), 3 + 2 + 1);
    let stats = receive_pack(&b, PackSource::new(&a, objs), &NoProgress).unwrap();
    assert_eq!(stats.stored, 6);
    assert_eq!(b.read_node(ObjectKind::Commit, &c1).unwrap(), a.read_node(ObjectKind::Commit, &c1).unwrap());
    // A child changing one file: its blob, the x tree, the root tree, the commit.
    let c2 = commit(&a, &[("x/1.txt", b"one!"), ("x/2.txt", b"two"), ("y.txt", b"y")], vec![c1]);
    let objs = enumerate(&a, &[c2], &[c1]).unwrap();
    assert_eq!(objs.len(), 4);
    receive_pack(&b, PackSource::new(&a, objs), &NoProgress).unwrap();
    for (k, id) in enumerate(&a, &[c2], &[]).unwrap() {
        assert!(b.has_object(k, &id).unwrap(), "{k:?} {id} arrived");
    }
    assert!(is_ancestor(&b, &c1, &c2).unwrap());
    assert!(!is_ancestor(&b, &c2, &c1).unwrap());
}

#[test]
fn refuses_objects_whose_dependencies_are_missing() {
    let d = tempfile::tempdir().unwrap();
    let a = Store::new(&d.path().join("a"));
    let b = Store::new(&d.path().join("b"));
    let c1 = commit(&a, &[("f", b"data")], vec![]);
    // Leave out the blob: the tree must be refused, and so nothing after it.
    let objs: Vec<_> = enumerate(&a, &[c1], &[]).unwrap().into_iter().filter(|(k, _)| *k != ObjectKind::Blob).collect();
    let e = receive_pack(&b, PackSource::new(&a, objs), &NoProgress).unwrap_err();
    assert!(matches!(e, PackError::MissingDependency(..)), "{e}");
    assert!(!b.has_object(ObjectKind::Commit, &c1).unwrap());
}

/// A chain of `levels` directories `d/d/.../d/f` stored in `s` on top of
/// `base` (a stored tree id; `None`: start from a tree holding one file),
/// returning the top tree and the commit naming it.
fn deep_chain(s: &Store, levels: usize, base: Option<ContentId>) -> (ContentId, ContentId) {
    let mut top = match base {
        Some(t) => t,
        None => {
            let blob = s.versions.write_bytes(b"leaf").unwrap();
            s.versions.flush().unwrap();
            s.db.put_object(Table::Trees, &Tree::Entries(vec![file("f", blob, 4)]).encode()).unwrap()
        }
    };
    // One transaction for the whole chain: committing per tree would
    // spend minutes in fsync.
    let mut txn = s.db.begin_write().unwrap();
    for _ in 0..levels {
        let e = TreeEntry { name: "d".into(), kind: EntryKind::Dir, mode: mode::DIR, id: top, size: 4, tabular: None };
        top = txn.put_object(Table::Trees, &Tree::Entries(vec![e]).encode()).unwrap();
    }
    txn.commit().unwrap();
    let author = Signature { name: "T".into(), email: "t@x".into(), time: 1, tz_minutes: 0 };
    let c =
        s.db.put_object(Table::Commits, &Commit { tree: top, parents: vec![], author, message: "m\n".into() }.encode());
    (top, c.unwrap())
}

/// Run `f` on a thread with a small stack, as a server worker has: a
/// recursive walk over thousands of levels overflows it (and aborts the
/// process), an iterative one does not.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(256 << 10).spawn(f).unwrap().join().unwrap()
}

#[test]
fn negotiation_walks_trees_of_any_depth_without_recursing() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().to_path_buf();
    let n = on_small_stack(move || {
        let a = Store::new(&dir.join("a"));
        let (_, c) = deep_chain(&a, 20_000, None);
        enumerate(&a, &[c], &[]).unwrap().len()
    });
    // One blob, the leaf tree, 20,000 directory trees, the commit.
    assert_eq!(n, 1 + 1 + 20_000 + 1);
}

#[test]
fn trees_deeper_than_the_limit_are_refused_on_receive() {
    let d = tempfile::tempdir().unwrap();
    let a = Store::new(&d.path().join("a"));
    let b = Store::new(&d.path().join("b"));
    // A tree of exactly the limit (the file is the last component) is fine.
    let limit = oxen_pack::format::MAX_TREE_DEPTH as usize;
    let (_, ok) = deep_chain(&a, limit - 1, None);
    receive_pack(&b, PackSource::new(&a, enumerate(&a, &[ok], &[]).unwrap()), &NoProgress).unwrap();
    assert!(b.has_object(ObjectKind::Commit, &ok).unwrap());
    // 3,000 levels in one pack: refused, and the commit is not stored.
    let c = Store::new(&d.path().join("c"));
    let (_, deep) = deep_chain(&a, 3000, None);
    let e = receive_pack(&c, PackSource::new(&a, enumerate(&a, &[deep], &[]).unwrap()), &NoProgress).unwrap_err();
    assert!(matches!(e, PackError::TooDeep(_, 2048)), "{e}");
    assert!(e.is_client_error());
    assert!(e.to_string().contains("2048 levels"), "{e}");
    assert!(!c.has_object(ObjectKind::Commit, &deep).unwrap());
}

#[test]
fn depth_counts_the_stored_trees_a_pack_builds_on() {
    // One level on top of a stored tree already at the limit: the pack
    // alone is shallow, but the tree it makes is too deep.
    let d = tempfile::tempdir().unwrap();
    let a = Store::new(&d.path().join("a"));
    let b = Store::new(&d.path().join("b"));
    let limit = oxen_pack::format::MAX_TREE_DEPTH as usize;
    let (top, full) = deep_chain(&a, limit - 1, None);
    receive_pack(&b, PackSource::new(&a, enumerate(&a, &[full], &[]).unwrap()), &NoProgress).unwrap();
    let (_, over) = deep_chain(&a, 1, Some(top));
    let objs = oxen_pack::missing(&b, &enumerate(&a, &[over], &[]).unwrap()).unwrap();
    assert_eq!(objs.len(), 2, "one tree and its commit travel");
    let e = receive_pack(&b, PackSource::new(&a, objs), &NoProgress).unwrap_err();
    assert!(matches!(e, PackError::TooDeep(..)), "{e}");
}

/// `n` bytes that chunk into many chunks and do not repeat.
fn varied(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn chunked_blobs_travel_as_the_chunks_the_receiver_lacks() {
    let d = tempfile::tempdir().unwrap();
    let a = Store::new(&d.path().join("a"));
    let b = Store::new(&d.path().join("b"));
    let v1 = varied(3 << 20, 7);
    let c1 = commit(&a, &[("big", &v1)], vec![]);
    let plan_for = |objs: &[oxen_pack::ObjRef]| {
        let mut lists = std::collections::HashMap::new();
        for (k, id) in objs {
            if *k == ObjectKind::Blob {
                if let Some(l) = a.chunk_list(id).unwrap() {
                    lists.insert(*id, l);
                }
            }
        }
        let ids = oxen_pack::chunks::chunk_ids(lists.values());
        let lacking = b.missing_contents(&ids).unwrap().into_iter().collect();
        oxen_pack::chunks::plan(objs, &lists, &lacking)
    };
    let objs = enumerate(&a, &[c1], &[]).unwrap();
    let (items, counts) = plan_for(&objs);
    assert!(counts.sent > 10 && counts.reused == 0, "{counts:?}");
    let first = receive_pack(&b, PackSource::from_items(&a, items), &NoProgress).unwrap();
    assert!(first.bytes > 3 << 20);
    // One byte changed in the middle: a chunk or two travel, the rest is reused.
    let mut v2 = v1.clone();
    v2[3 << 19] ^= 0xff;
    let c2 = commit(&a, &[("big", &v2)], vec![c1]);
    let (items, counts) = plan_for(&enumerate(&a, &[c2], &[c1]).unwrap());
    assert!(counts.sent <= 2 && counts.reused > 10, "{counts:?}");
    let second = receive_pack(&b, PackSource::from_items(&a, items), &NoProgress).unwrap();
    assert!(second.bytes < 600 << 10, "{second:?}");
    let mut got = Vec::new();
    b.open_blob(&ContentId::of(&v2)).unwrap().read_to_end(&mut got).unwrap();
    assert!(got == v2);
}

#[test]
fn a_chunk_list_that_does_not_reassemble_to_its_id_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let a = Store::new(&d.path().join("a"));
    let b = Store::new(&d.path().join("b"));
    let v = varied(2 << 20, 9);
    commit(&a, &[("big", &v)], vec![]);
    let id = ContentId::of(&v);
    let list = a.chunk_list(&id).unwrap().unwrap();
    // Every chunk, but the list under another file's id.
    let mut items: Vec<_> = list.chunks().iter().map(|c| oxen_pack::Item::Chunk(c.id)).collect();
    items.push(oxen_pack::Item::ChunkList(id));
    let mut pack = Vec::new();
    PackSource::from_items(&a, items).read_to_end(&mut pack).unwrap();
    let other = ContentId::of(b"another file");
    let at = pack.len() - 16 - 1 - (list.encode().len() + 8 + 16);
    assert_eq!(pack[at - 1], 5, "the list frame's kind byte");
    pack[at..at + 16].copy_from_slice(other.as_bytes());
    let n = pack.len();
    let sum = ContentId::of(&pack[..n - 16]);
    pack[n - 16..].copy_from_slice(sum.as_bytes());
    let e = receive_pack(&b, &pack[..], &NoProgress).unwrap_err();
    assert!(matches!(e, PackError::Corrupt { expected, .. } if expected == other), "{e}");
    assert!(!b.has_object(ObjectKind::Blob, &other).unwrap());
    // The verified chunks were kept: a retry needs only the list.
    assert!(b.missing_contents(&oxen_pack::chunks::chunk_ids([&list])).unwrap().is_empty());
}

/// `rows` lines of a numeric CSV: compresses to well under half.
fn numeric_csv(rows: usize) -> Vec<u8> {
    let mut out = b"id,score,weight\n".to_vec();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..rows {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(
            format!("{i},{},{}.{:03}\n", x % 1_000_000, (x >> 20) % 1000, (x >> 40) % 1000).as_bytes(),
        );
    }
    out
}

/// The frames that give `b` everything of `objs` it lacks, chunked blobs as chunks.
fn plan_between(a: &Store, b: &Store, objs: &[oxen_pack::ObjRef]) -> Vec<oxen_pack::Item> {
    let mut lists = std::collections::HashMap::new();
    for (k, id) in objs {
        if *k == ObjectKind::Blob {
            if let Some(l) = a.chunk_list(id).unwrap() {
                lists.insert(*id, l);
            }
        }
    }
    let ids = oxen_pack::chunks::chunk_ids(lists.values());
    let lacking = b.missing_contents(&ids).unwrap().into_iter().collect();
    oxen_pack::chunks::plan(objs, &lists, &lacking).0
}

#[test]
fn compressed_chunks_travel_in_their_stored_encoding_and_are_kept_as_is() {
    let d = tempfile::tempdir().unwrap();
    let a = Store::new(&d.path().join("a"));
    let b = Store::new(&d.path().join("b"));
    let c = Store::new(&d.path().join("c"));
    let data = numeric_csv(1_000_000);
    assert!(data.len() > 20 << 20);
    let c1 = commit(&a, &[("t.csv", &data)], vec![]);
    let objs = enumerate(&a, &[c1], &[]).unwrap();
    let items = plan_between(&a, &b, &objs);
    let mut pack = Vec::new();
    PackSource::from_items(&a, items.clone()).with_stored_chunks(true).read_to_end(&mut pack).unwrap();
    assert_eq!(u32::from_le_bytes(pack[4..8].try_into().unwrap()), oxen_pack::format::VERSION_STORED_CHUNKS);
    assert!(pack.len() < data.len() * 6 / 10, "{} bytes of pack for {} of CSV", pack.len(), data.len());
    let stats = receive_pack(&b, &pack[..], &NoProgress).unwrap();
    assert!(stats.chunks > 100, "{stats:?}");
    let mut got = Vec::new();
    b.open_blob(&ContentId::of(&data)).unwrap().read_to_end(&mut got).unwrap();
    assert!(got == data, "received file differs");
    // The receiver kept the encoding it was sent: its chunks are stored compressed.
    let first = b.chunk_list(&ContentId::of(&data)).unwrap().unwrap().chunks()[0].id;
    let (codec, raw_len, _) = b.versions.read_stored(&first).unwrap().expect("stored compressed");
    assert_eq!(codec, oxen_store::Codec::Zstd);
    assert_eq!(raw_len, u64::from(b.chunk_list(&ContentId::of(&data)).unwrap().unwrap().chunks()[0].len));
    // A receiver that did not ask for them gets a version-2 pack of raw chunks.
    let mut raw = Vec::new();
    PackSource::from_items(&a, items).read_to_end(&mut raw).unwrap();
    assert_eq!(u32::from_le_bytes(raw[4..8].try_into().unwrap()), 2);
    assert!(raw.len() > data.len());
    receive_pack(&c, &raw[..], &NoProgress).unwrap();
    assert!(c.versions.read_all(&ContentId::of(&data)).unwrap() == data);
}

/// A version-3 pack of one frame-6 chunk: `id`, codec, claimed raw length, stored bytes.
fn stored_chunk_pack(version: u32, id: ContentId, codec: u8, raw_len: u32, stored: &[u8]) -> Vec<u8> {
    let mut p = b"OXPK".to_vec();
    p.extend_from_slice(&version.to_le_bytes());
    p.extend_from_slice(&1u64.to_le_bytes());
    p.push(6);
    p.extend_from_slice(id.as_bytes());
    p.extend_from_slice(&(5 + stored.len() as u64).to_le_bytes());
    p.push(codec);
    p.extend_from_slice(&raw_len.to_le_bytes());
    p.extend_from_slice(stored);
    p.push(0);
    let sum = ContentId::of(&p);
    p.extend_from_slice(sum.as_bytes());
    p
}

#[test]
fn stored_chunk_frames_that_lie_are_refused_and_nothing_is_kept() {
    let d = tempfile::tempdir().unwrap();
    let b = Store::new(&d.path().join("b"));
    let raw = numeric_csv(2000);
    let id = ContentId::of(&raw);
    let packed = zstd_of(&raw);
    assert!(packed.len() < raw.len() / 2);
    let n = raw.len() as u32;
    // The right frame is taken.
    let good = stored_chunk_pack(3, id, 1, n, &packed);
    assert_eq!(receive_pack(&b, &good[..], &NoProgress).unwrap().chunks, 1);
    assert!(b.versions.read_all(&id).unwrap() == raw);

    let other = numeric_csv(2001);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // Decodes fine, but to bytes of another id.
        ("wrong id", stored_chunk_pack(3, ContentId::of(&other), 1, n, &packed)),
        // A raw length past the largest chunk: refused before any allocation.
        ("huge raw length", stored_chunk_pack(3, ContentId::of(b"x"), 1, u32::MAX, &packed)),
        ("zero raw length", stored_chunk_pack(3, ContentId::of(b"y"), 1, 0, &packed)),
        // Inflates past the length it claims.
        ("short raw length", stored_chunk_pack(3, ContentId::of(&raw[..100]), 1, 100, &packed)),
        ("long raw length", stored_chunk_pack(3, ContentId::of(b"z"), 1, n + 1, &packed)),
        ("not zstd", stored_chunk_pack(3, ContentId::of(b"w"), 1, 10, b"not a zstd frame")),
        ("unknown codec", stored_chunk_pack(3, ContentId::of(b"v"), 9, n, &packed)),
        ("frame 6 in a version-2 pack", stored_chunk_pack(2, ContentId::of(b"u"), 1, n, &packed)),
        ("empty body", stored_chunk_pack(3, ContentId::of(b"t"), 1, n, &[]).into_iter().collect()),
    ];
    for (what, pack) in cases {
        let e = receive_pack(&b, &pack[..], &NoProgress).expect_err(what);
        assert!(
            matches!(e, PackError::Corrupt { .. } | PackError::BadPack(_) | PackError::BadObject(..)),
            "{what}: {e}"
        );
    }
    assert!(!b.has_object(ObjectKind::Blob, &ContentId::of(&other)).unwrap());
    assert!(!b.has_object(ObjectKind::Blob, &ContentId::of(&raw[..100])).unwrap());
    // A version-4 pack is not read.
    let e = receive_pack(&b, &stored_chunk_pack(4, id, 1, n, &packed)[..], &NoProgress).unwrap_err();
    assert!(matches!(e, PackError::BadPack(_)), "{e}");
}

fn zstd_of(raw: &[u8]) -> Vec<u8> {
    let e = oxen_chunk::Encoder::new().unwrap().encode(raw).unwrap();
    assert_eq!(e.codec, oxen_store::Codec::Zstd);
    e.bytes.into_owned()
}

/// Blocks in a directory of their own, as a remote store keeps them, whose
/// puts fail while told to.
#[derive(Debug)]
struct FlakyStore {
    inner: oxen_store::LocalStore,
    fail: std::sync::atomic::AtomicBool,
}

impl oxen_store::ContentStore for FlakyStore {
    fn describe(&self, name: &str) -> std::path::PathBuf {
        self.inner.describe(name)
    }
    fn local_dir(&self) -> Option<&Path> {
        None
    }
    fn put(&self, name: &str, staged: &Path) -> std::io::Result<()> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::other("503 Service Unavailable"));
        }
        self.inner.put(name, staged)
    }
    fn size(&self, name: &str) -> std::io::Result<Option<u64>> {
        self.inner.size(name)
    }
    fn read_range(&self, name: &str, range: std::ops::Range<u64>) -> std::io::Result<Vec<u8>> {
        self.inner.read_range(name, range)
    }
    fn list(&self) -> std::io::Result<Vec<(String, u64)>> {
        self.inner.list()
    }
    fn delete(&self, name: &str) -> std::io::Result<()> {
        self.inner.delete(name)
    }
}

/// A pack stream that runs `at_end` when it is read to its end.
struct HookAtEnd<R, F: FnMut()> {
    inner: R,
    at_end: Option<F>,
}

impl<R: Read, F: FnMut()> Read for HookAtEnd<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            if let Some(mut f) = self.at_end.take() {
                f();
            }
        }
        Ok(n)
    }
}

#[test]
fn a_receive_whose_blob_a_failed_seal_dropped_writes_no_tree_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let a = Store::new(&d.path().join("a"));
    let c = commit(&a, &[("f.txt", b"pushed twice at once")], vec![]);
    let pack = {
        let mut v = Vec::new();
        PackSource::new(&a, enumerate(&a, &[c], &[]).unwrap()).read_to_end(&mut v).unwrap();
        v
    };
    // The server's repository; its blocks go to a store that can fail.
    let layout = Layout::create(&d.path().join("b")).unwrap();
    let db = Db::open(&layout).unwrap();
    let flaky = std::sync::Arc::new(FlakyStore {
        inner: oxen_store::LocalStore::new(d.path().join("bucket")),
        fail: Default::default(),
    });
    let b = Store { versions: layout.versions_in(&db, flaky.clone()), db, layout };
    // Another push, in flight in the same process, has written the same
    // blob: this receive finds it pending and does not store it again.
    let other = b.versions.operation();
    let blob = other.write_bytes(b"pushed twice at once").unwrap();
    let (other2, flaky2) = (other.clone(), flaky.clone());
    // When this pack has been read (tree and commit checked, not written),
    // the other push's seal fails, dropping the blob.
    let input = HookAtEnd {
        inner: &pack[..],
        at_end: Some(move || {
            flaky2.fail.store(true, std::sync::atomic::Ordering::SeqCst);
            assert!(other2.flush().is_err());
            flaky2.fail.store(false, std::sync::atomic::Ordering::SeqCst);
        }),
    };
    let e = receive_pack(&b, input, &NoProgress).unwrap_err();
    assert!(e.to_string().contains("lost with a block"), "{e}");
    assert!(!b.has_object(ObjectKind::Blob, &blob).unwrap());
    assert!(!b.has_object(ObjectKind::Commit, &c).unwrap(), "a commit names contents that are not recorded");
    for (k, id) in enumerate(&a, &[c], &[]).unwrap() {
        if k == ObjectKind::Tree {
            assert!(!b.has_object(k, &id).unwrap(), "a tree names contents that are not recorded");
        }
    }
    // The push's retry stores everything.
    receive_pack(&b, &pack[..], &NoProgress).unwrap();
    assert!(b.has_object(ObjectKind::Commit, &c).unwrap());
    assert_eq!(b.versions.read_all(&blob).unwrap(), b"pushed twice at once");
}

/// A chain c1 <- ... <- c5, each commit changing `f` and adding a file.
fn chain(a: &Store, n: usize) -> Vec<ContentId> {
    let mut ids: Vec<ContentId> = Vec::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 1..=n {
        files.retain(|(p, _)| p != "f");
        files.push(("f".into(), format!("v{i}").into_bytes()));
        files.push((format!("d/{i}"), format!("file {i}").into_bytes()));
        let fs: Vec<(&str, &[u8])> = files.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
        ids.push(commit(a, &fs, ids.last().copied().into_iter().collect()));
    }
    ids
}

#[test]
fn depth_sends_n_commits_with_whole_boundary_trees_and_receive_needs_the_boundary_recorded() {
    use oxen_pack::{enumerate_shallow, Shallow};
    let d = tempfile::tempdir().unwrap();
    let a = Store::new(&d.path().join("a"));
    let b = Store::new(&d.path().join("b"));
    let c = chain(&a, 5);
    let two = Shallow { depth: Some(2), ..Shallow::default() };
    let found = enumerate_shallow(&a, &[c[4]], &[], &two).unwrap();
    assert_eq!(found.boundaries, vec![c[3]]);
    let commits: Vec<ContentId> =
        found.objects.iter().filter(|(k, _)| *k == ObjectKind::Commit).map(|(_, id)| *id).collect();
    assert_eq!(commits, vec![c[3], c[4]]);
    // Without the boundary recorded, the receiver refuses a commit whose
    // parent is absent: the closure rule still holds for everything else.
    let e = receive_pack(&b, PackSource::new(&a, found.objects.clone()), &NoProgress).unwrap_err();
    assert!(matches!(e, PackError::MissingDependency(id, "commit", p) if id == c[3] && p == c[2]), "{e}");
    oxen_store::write_shallow(&b.layout, &[c[3]].into()).unwrap();
    receive_pack(&b, PackSource::new(&a, found.objects), &NoProgress).unwrap();
    // The boundary came with its whole tree (every file of commit 4).
    let whole = Shallow { depth: Some(1), ..Shallow::default() };
    for (k, id) in enumerate_shallow(&a, &[c[3]], &[], &whole).unwrap().objects {
        if k != ObjectKind::Commit {
            assert!(b.has_object(k, &id).unwrap(), "{k:?} {id}");
        }
    }
    // Deepening: the boundary's parent, one commit deep.
    let found = enumerate_shallow(&b, &[c[4]], &[], &Shallow::default()).unwrap();
    assert!(found.boundaries.contains(&c[3]), "a shallow sender passes its boundary on");
    let deeper = Shallow { receiver: [c[3]].into(), depth: Some(1) };
    let found = enumerate_shallow(&a, &[c[2]], &[c[4]], &deeper).unwrap();
    assert_eq!(found.boundaries, vec![c[2]]);
    oxen_store::write_shallow(&b.layout, &[c[2], c[3]].into()).unwrap();
    receive_pack(&b, PackSource::new(&a, found.objects), &NoProgress).unwrap();
    assert!(b.has_object(ObjectKind::Commit, &c[2]).unwrap());
}

#[test]
fn a_shallow_receivers_boundaries_end_the_walk_of_what_it_has() {
    use oxen_pack::{enumerate_shallow, Shallow};
    let d = tempfile::tempdir().unwrap();
    let a = Store::new(&d.path().join("a"));
    let b = Store::new(&d.path().join("b"));
    let c = chain(&a, 4);
    // b holds c4 only, as a boundary.
    let found = enumerate_shallow(&a, &[c[3]], &[], &Shallow { depth: Some(1), ..Shallow::default() }).unwrap();
    oxen_store::write_shallow(&b.layout, &found.boundaries.iter().copied().collect()).unwrap();
    receive_pack(&b, PackSource::new(&a, found.objects), &NoProgress).unwrap();
    // A branch forked from c2 (below b's boundary).
    let side = commit(&a, &[("f", b"side"), ("d/1", b"file 1"), ("d/2", b"file 2")], vec![c[1]]);
    // Told nothing of the boundary, the sender believes b has c1..c3 and
    // sends only the side commit: b must refuse it.
    let naive = enumerate(&a, &[side], &[c[3]]).unwrap();
    let missing = oxen_pack::missing(&b, &naive).unwrap();
    let e = receive_pack(&b, PackSource::new(&a, missing), &NoProgress).unwrap_err();
    assert!(matches!(e, PackError::MissingDependency(..)), "{e}");
    // Told it, the sender sends the history below the fork too.
    let told = Shallow { receiver: [c[3]].into(), depth: None };
    let found = enumerate_shallow(&a, &[side], &[c[3]], &told).unwrap();
    assert!(found.boundaries.is_empty());
    let missing = oxen_pack::missing(&b, &found.objects).unwrap();
    receive_pack(&b, PackSource::new(&a, missing), &NoProgress).unwrap();
    assert!(is_ancestor(&b, &c[0], &side).unwrap());
}
