//! Property tests for `receive_pack`, which reads packs sent by peers: into
//! a fresh repository, arbitrary bytes and mutated valid packs never make it
//! panic, and whatever it leaves stored is sound: every object's bytes hash
//! to its id, every commit and tree decodes, and everything they refer to is
//! stored too (the closure rule the ref updates rely on).
//!
//! Frame layout (see `oxen_pack::format`): "OXPK", version u32le, count
//! u64le, then per object kind u8, id [16], len u64le, bytes; an end byte 0;
//! a trailer: the xxh3-128 of everything before it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use oxen_hash::ContentId;
use oxen_object::{Column, Commit, EntryKind, Signature, TabularMeta, Tree};
use oxen_pack::format::{kind_code, kind_from_code};
use oxen_pack::{enumerate, receive_pack, PackSource};
use oxen_repo::{FlatEntry, Repo};
use oxen_store::{NoProgress, ObjectKind, ObjectSource, Table};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

/// `cases` per property, unless PROPTEST_CASES asks for more (a deep run).
fn config(cases: u32) -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = cases;
    }
    c
}

/// One object of a pack: wire kind, the id it is sent under (`None`: the
/// hash of its bytes, as a correct sender does) and its bytes.
#[derive(Clone, Debug)]
struct Frame {
    kind: u8,
    id: Option<[u8; 16]>,
    bytes: Vec<u8>,
}

/// Frames to pack bytes, with a correct header count and trailer.
fn assemble(frames: &[Frame]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(b"OXPK");
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(&(frames.len() as u64).to_le_bytes());
    for f in frames {
        p.push(f.kind);
        p.extend_from_slice(&f.id.unwrap_or(ContentId::of(&f.bytes).0));
        p.extend_from_slice(&(f.bytes.len() as u64).to_le_bytes());
        p.extend_from_slice(&f.bytes);
    }
    p.push(0);
    let sum = ContentId::of(&p);
    p.extend_from_slice(sum.as_bytes());
    p
}

fn commit(repo: &Repo, files: &[(&str, &[u8])], parents: Vec<ContentId>, msg: &str) -> ContentId {
    let mut map = BTreeMap::new();
    for (p, b) in files {
        let id = repo.versions.write_bytes(b).unwrap();
        let tabular = p.ends_with(".csv").then(|| TabularMeta {
            format: oxen_object::TabularFormat::Csv,
            columns: vec![Column { name: "id".into(), dtype: oxen_object::ColumnType::Int }],
            rows: 2,
        });
        map.insert(
            oxen_path::RepoPath::try_from(*p).unwrap(),
            FlatEntry { id, mode: oxen_object::mode::FILE, size: b.len() as u64, tabular },
        );
    }
    let tree = repo.write_tree_from(&map).unwrap();
    let author = Signature { name: "T".into(), email: "t@x".into(), time: 1, tz_minutes: 60 };
    repo.write_commit(&Commit { tree, parents, author, message: msg.into() }).unwrap()
}

/// Valid packs as frames, made once from a small history: a root commit
/// (nested directories, a CSV with a schema), a child, and a merge of that
/// child with a side branch that adds a blob just over the small-blob
/// limit (so the streamed large-blob path is exercised too).
fn valid_packs() -> &'static [Vec<Frame>] {
    static PACKS: OnceLock<Vec<Vec<Frame>>> = OnceLock::new();
    PACKS.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let repo = Repo::init(&d.path().join("src"), &oxen_refs::BranchName::new("main").unwrap()).unwrap();
        let base: Vec<(&str, &[u8])> =
            vec![("a.txt", b"alpha\n"), ("dir/b.bin", &[0, 1, 2, 255]), ("dir/sub/c.csv", b"id\n1\n2\n")];
        let c1 = commit(&repo, &base, vec![], "root\n");
        let mut child = base.clone();
        child[0] = ("a.txt", b"alpha two\n");
        child.push(("dir/d.txt", b"d"));
        let c2 = commit(&repo, &child, vec![c1], "child\n");
        let big = vec![7u8; oxen_store::SMALL_MAX + 1];
        let mut side = base.clone();
        side.push(("big.bin", &big));
        let c3 = commit(&repo, &side, vec![c1], "side\n");
        let mut merged = child.clone();
        merged.push(("big.bin", &big));
        let c4 = commit(&repo, &merged, vec![c2, c3], "merge\n");
        let frames = |tips: &[ContentId]| -> Vec<Frame> {
            enumerate(&repo, tips, &[])
                .unwrap()
                .into_iter()
                .map(|(kind, id)| {
                    let bytes = match kind {
                        ObjectKind::Commit => repo.db.get_object(Table::Commits, &id).unwrap(),
                        ObjectKind::Tree => repo.db.get_object(Table::Trees, &id).unwrap(),
                        ObjectKind::Blob => repo.versions.read_all(&id).unwrap(),
                    };
                    Frame { kind: kind_code(kind), id: None, bytes }
                })
                .collect()
        };
        let packs = vec![frames(&[c2]), frames(&[c4])];
        // The frames are what PackSource sends.
        let mut sent = Vec::new();
        std::io::copy(&mut PackSource::new(&repo, enumerate(&repo, &[c2], &[]).unwrap()), &mut sent).unwrap();
        assert_eq!(sent, assemble(&packs[0]));
        packs
    })
}

/// Check what `repo` holds is sound: ids match bytes, commits and trees
/// decode (tree names are valid), and every reference is stored.
fn assert_sound(repo: &Repo) -> Result<(), TestCaseError> {
    for id in repo.versions.list().unwrap() {
        prop_assert_eq!(repo.versions.verify(&id).unwrap(), None, "blob {} does not match its id", id);
    }
    let has_tree = |id: &ContentId| repo.db.has_object(Table::Trees, id).unwrap();
    for (k, v) in repo.db.scan(Table::Commits).unwrap() {
        let id = ContentId::from_slice(&k).unwrap();
        prop_assert_eq!(ContentId::of(&v), id, "commit stored under the wrong id");
        let c = Commit::decode(&v).expect("a stored commit decodes");
        prop_assert!(has_tree(&c.tree), "commit {} stored without its tree", id);
        for p in &c.parents {
            prop_assert!(repo.db.has_object(Table::Commits, p).unwrap(), "commit {} stored without parent {}", id, p);
        }
    }
    for (k, v) in repo.db.scan(Table::Trees).unwrap() {
        let id = ContentId::from_slice(&k).unwrap();
        prop_assert_eq!(ContentId::of(&v), id, "tree stored under the wrong id");
        match Tree::decode(&v).expect("a stored tree decodes") {
            Tree::Entries(es) => {
                for e in es {
                    let ok = match e.kind {
                        EntryKind::Dir => has_tree(&e.id),
                        EntryKind::File => repo.versions.has(&e.id),
                    };
                    prop_assert!(ok, "tree {} stored without its entry {:?}", id, e.name);
                }
            }
            Tree::Buckets { buckets, .. } => {
                for (_, b) in buckets {
                    prop_assert!(has_tree(&b), "bucket list {} stored without bucket {}", id, b);
                }
            }
        }
    }
    Ok(())
}

/// A temp directory for one case's repository. LMDB syncs every commit to
/// disk, which dominates a case's time on a disk (tens of ms); in memory
/// (/dev/shm, where there is one) the syncs are free and results the same.
fn scratch_dir() -> tempfile::TempDir {
    match std::path::Path::new("/dev/shm") {
        shm if shm.is_dir() => tempfile::tempdir_in(shm).or_else(|_| tempfile::tempdir()).unwrap(),
        _ => tempfile::tempdir().unwrap(),
    }
}

/// Receive `pack` into a fresh repository and check the store; on success,
/// every object in `expect` must be stored.
fn receive_checked(pack: &[u8], expect: &[Frame]) -> Result<(), TestCaseError> {
    let d = scratch_dir();
    let repo = Repo::init(&d.path().join("dst"), &oxen_refs::BranchName::new("main").unwrap()).unwrap();
    let res = receive_pack(&repo, pack, &NoProgress);
    assert_sound(&repo)?;
    if res.is_ok() {
        for f in expect {
            let id = ContentId(f.id.unwrap_or(ContentId::of(&f.bytes).0));
            let kind = kind_from_code(f.kind).expect("a pack with a bad kind was accepted");
            prop_assert!(repo.has_object(kind, &id).unwrap(), "accepted pack but {} is missing", id);
        }
    }
    Ok(())
}

/// One edit of a byte string.
#[derive(Clone, Debug)]
enum Edit {
    Flip(Index, u8),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    Truncate(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), 0..8u8).prop_map(|(i, bit)| Edit::Flip(i, bit)),
        (any::<Index>(), vec(any::<u8>(), 1..6)).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<Index>(), 1..16usize).prop_map(|(i, n)| Edit::Remove(i, n)),
        any::<Index>().prop_map(Edit::Truncate),
    ]
}

fn apply(b: &mut Vec<u8>, e: &Edit) {
    let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len) };
    match e {
        Edit::Flip(i, bit) if !b.is_empty() => {
            let p = at(i, b.len());
            b[p] ^= 1 << bit;
        }
        Edit::Insert(i, bytes) => {
            let p = at(i, b.len() + 1);
            b.splice(p..p, bytes.iter().copied());
        }
        Edit::Remove(i, n) if !b.is_empty() => {
            let p = at(i, b.len());
            b.drain(p..(p + n).min(b.len()));
        }
        Edit::Truncate(i) => {
            let p = at(i, b.len() + 1);
            b.truncate(p);
        }
        _ => {}
    }
}

/// One change to a pack's list of frames; the pack is then reassembled
/// with a correct count and trailer, so the receiver gets past framing and
/// has to judge the objects themselves.
#[derive(Clone, Debug)]
enum FrameOp {
    Drop(Index),
    Duplicate(Index),
    Swap(Index, Index),
    Kind(Index, u8),
    /// Edit an object's bytes and send it under its new hash.
    Body(Index, Edit),
    /// Send an object under an id that is not its hash.
    WrongId(Index, [u8; 16]),
    /// Rename a tree's first entry to something unsafe (re-encoded, re-hashed).
    EvilName(Index, &'static str),
}

fn frame_op() -> impl Strategy<Value = FrameOp> {
    prop_oneof![
        1 => any::<Index>().prop_map(FrameOp::Drop),
        1 => any::<Index>().prop_map(FrameOp::Duplicate),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| FrameOp::Swap(a, b)),
        1 => (any::<Index>(), 0..5u8).prop_map(|(i, k)| FrameOp::Kind(i, k)),
        3 => (any::<Index>(), edit()).prop_map(|(i, e)| FrameOp::Body(i, e)),
        1 => (any::<Index>(), any::<[u8; 16]>()).prop_map(|(i, id)| FrameOp::WrongId(i, id)),
        1 => (any::<Index>(), prop::sample::select(vec!["..", ".", "a/b", "nul\0", ".OXEN", ""]))
            .prop_map(|(i, n)| FrameOp::EvilName(i, n)),
    ]
}

fn apply_op(frames: &mut Vec<Frame>, op: &FrameOp) {
    if frames.is_empty() {
        return;
    }
    let n = frames.len();
    match op {
        FrameOp::Drop(i) => {
            frames.remove(i.index(n));
        }
        FrameOp::Duplicate(i) => {
            let f = frames[i.index(n)].clone();
            frames.insert(i.index(n), f);
        }
        FrameOp::Swap(a, b) => frames.swap(a.index(n), b.index(n)),
        FrameOp::Kind(i, k) => frames[i.index(n)].kind = *k,
        FrameOp::Body(i, e) => apply(&mut frames[i.index(n)].bytes, e),
        FrameOp::WrongId(i, id) => frames[i.index(n)].id = Some(*id),
        FrameOp::EvilName(i, name) => {
            let f = &mut frames[i.index(n)];
            if let Ok(Tree::Entries(mut es)) = Tree::decode(&f.bytes) {
                if let Some(e) = es.first_mut() {
                    e.name = name.as_bytes().into();
                    f.bytes = Tree::Entries(es).encode();
                }
            }
        }
    }
}

#[test]
fn valid_packs_are_received_whole() {
    for frames in valid_packs() {
        let d = tempfile::tempdir().unwrap();
        let repo = Repo::init(&d.path().join("dst"), &oxen_refs::BranchName::new("main").unwrap()).unwrap();
        let stats = receive_pack(&repo, &assemble(frames)[..], &NoProgress).unwrap();
        assert_eq!(stats.stored, frames.len() as u64);
        receive_checked(&assemble(frames), frames).unwrap();
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn mutated_frames_never_panic_or_store_bad_objects(
        pack in 0..2usize,
        ops in vec(frame_op(), 1..4),
    ) {
        let mut frames = valid_packs()[pack].clone();
        for op in &ops {
            apply_op(&mut frames, op);
        }
        receive_checked(&assemble(&frames), &frames)?;
    }

}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn mutated_pack_bytes_never_panic_or_store_bad_objects(
        pack in 0..2usize,
        edits in vec(edit(), 1..4),
    ) {
        let frames = &valid_packs()[pack];
        let mut bytes = assemble(frames);
        for e in &edits {
            apply(&mut bytes, e);
        }
        receive_checked(&bytes, frames)?;
    }

}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_bytes_never_panic_or_store_anything_bad(
        header in any::<bool>(),
        count in 0..4u64,
        body in vec(any::<u8>(), 0..300),
    ) {
        // With a valid header, the frame parser sees the arbitrary bytes.
        let mut bytes = Vec::new();
        if header {
            bytes.extend_from_slice(b"OXPK");
            bytes.extend_from_slice(&1u32.to_le_bytes());
            bytes.extend_from_slice(&count.to_le_bytes());
        }
        bytes.extend_from_slice(&body);
        receive_checked(&bytes, &[])?;
    }
}
