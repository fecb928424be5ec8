//! Property tests for the tree and commit decoders, which read bytes sent by
//! peers: every valid value round-trips (encode, decode: the same value and
//! the same id), and no input, arbitrary bytes or a mutated valid encoding,
//! makes a decoder panic.

use std::collections::BTreeMap;

use bstr::BString;
use oxen_hash::ContentId;
use oxen_object::{validate_name, Column, Commit, EntryKind, Signature, TabularMeta, Tree, TreeEntry};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

fn content_id() -> impl Strategy<Value = ContentId> {
    any::<[u8; 16]>().prop_map(ContentId)
}

/// Any name `validate_name` accepts: arbitrary Unicode, arbitrary bytes
/// (names are bytes, UTF-8 or not), and a few near-misses of the reserved
/// names.
fn name() -> impl Strategy<Value = BString> {
    prop_oneof![
        3 => vec(any::<char>(), 1..=10).prop_map(|cs| BString::from(String::from_iter(cs))),
        2 => vec(any::<u8>(), 1..=10).prop_map(BString::from),
        1 => prop::sample::select(vec!["...", ".oxen2", "oxen", ". ", "a.", "-", "back\\slash", "\n"])
            .prop_map(BString::from),
    ]
    .prop_filter("valid name", |n| validate_name(n).is_ok())
}

/// Arbitrary Unicode text (chars are drawn directly, not through a regex:
/// cheaper, and regex-syntax is compiled unoptimised).
fn text(max: usize) -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..=max).prop_map(String::from_iter)
}

fn tabular() -> impl Strategy<Value = TabularMeta> {
    use oxen_object::{ColumnType, TabularFormat};
    let dtype = prop::sample::select(vec![
        ColumnType::Int,
        ColumnType::Float,
        ColumnType::Bool,
        ColumnType::Str,
        ColumnType::Null,
    ]);
    let format = prop::sample::select(vec![
        TabularFormat::Csv,
        TabularFormat::Tsv,
        TabularFormat::Jsonl,
        TabularFormat::Parquet,
    ]);
    let column = (text(12), dtype).prop_map(|(name, dtype)| Column { name, dtype });
    (format, vec(column, 0..4), any::<u64>()).prop_map(|(format, columns, rows)| TabularMeta { format, columns, rows })
}

fn entries() -> impl Strategy<Value = Tree> {
    let fields = (any::<bool>(), any::<u32>(), content_id(), any::<u64>(), prop::option::of(tabular()));
    // Keyed by name: unique and in byte order, as decode returns them.
    vec((name(), fields), 0..8).prop_map(|v| {
        let by_name: BTreeMap<_, _> = v.into_iter().collect();
        Tree::Entries(
            by_name
                .into_iter()
                .map(|(name, (dir, mode, id, size, tabular))| TreeEntry {
                    name,
                    kind: if dir { EntryKind::Dir } else { EntryKind::File },
                    mode,
                    id,
                    size,
                    tabular,
                })
                .collect(),
        )
    })
}

fn buckets() -> impl Strategy<Value = Tree> {
    (0u8..=24).prop_flat_map(|bits| {
        vec((0..1u32 << bits, content_id()), 0..8).prop_map(move |v| {
            let by_index: BTreeMap<_, _> = v.into_iter().collect();
            Tree::Buckets { bits, buckets: by_index.into_iter().collect() }
        })
    })
}

fn tree() -> impl Strategy<Value = Tree> {
    prop_oneof![3 => entries(), 1 => buckets()]
}

/// Text without the characters a signature may not hold.
fn sig_text() -> impl Strategy<Value = String> {
    text(16).prop_map(|s| s.replace(['<', '>', '\n'], ""))
}

fn commit() -> impl Strategy<Value = Commit> {
    // The text form has two digits for hours: offsets up to 99:59.
    let author = (sig_text(), sig_text(), any::<i64>(), -5999..=5999i32)
        .prop_map(|(name, email, time, tz_minutes)| Signature { name, email, time, tz_minutes });
    // Distinct parents: the decoder refuses a parent named twice.
    (content_id(), prop::collection::btree_set(content_id(), 0..4), author, text(40)).prop_map(
        |(tree, parents, author, message)| Commit { tree, parents: parents.into_iter().collect(), author, message },
    )
}

/// One edit of an encoding.
#[derive(Clone, Debug)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, Vec<u8>),
    /// Valid UTF-8 spliced in (at a byte offset that may split a character).
    InsertText(Index, String),
    Remove(Index, usize),
    Truncate(Index),
}

/// Characters that matter to the commit format, and multi-byte ones.
const TRICKY: [char; 12] = ['<', '>', ' ', '\n', '+', '-', '0', '9', 'a', 'é', '€', '😀'];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0..8u8).prop_map(|(i, bit)| Mutation::Flip(i, bit)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<Index>(), vec(any::<u8>(), 1..6)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<Index>(), vec(prop::sample::select(TRICKY.to_vec()), 1..=4))
            .prop_map(|(i, cs)| Mutation::InsertText(i, String::from_iter(cs))),
        (any::<Index>(), 1..8usize).prop_map(|(i, n)| Mutation::Remove(i, n)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn apply(b: &mut Vec<u8>, m: &Mutation) {
    let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len) };
    match m {
        Mutation::Flip(i, bit) if !b.is_empty() => {
            let p = at(i, b.len());
            b[p] ^= 1 << bit;
        }
        Mutation::Set(i, v) if !b.is_empty() => {
            let p = at(i, b.len());
            b[p] = *v;
        }
        Mutation::Insert(i, bytes) => {
            let p = at(i, b.len() + 1);
            b.splice(p..p, bytes.iter().copied());
        }
        Mutation::InsertText(i, s) => {
            let p = at(i, b.len() + 1);
            b.splice(p..p, s.bytes());
        }
        Mutation::Remove(i, n) if !b.is_empty() => {
            let p = at(i, b.len());
            b.drain(p..(p + n).min(b.len()));
        }
        Mutation::Truncate(i) => {
            let p = at(i, b.len() + 1);
            b.truncate(p);
        }
        _ => {}
    }
}

/// `cases` per property, unless PROPTEST_CASES asks for more (a deep run).
fn config(cases: u32) -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = cases;
    }
    c
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn tree_round_trips(t in tree()) {
        let bytes = t.encode();
        let back = Tree::decode(&bytes).expect("a valid tree decodes");
        prop_assert_eq!(back.id(), t.id());
        prop_assert_eq!(back.encode(), bytes);
        prop_assert_eq!(back, t);
    }

    #[test]
    fn commit_round_trips(c in commit()) {
        prop_assert!(c.author.validate().is_ok());
        let bytes = c.encode();
        let back = Commit::decode(&bytes).expect("a valid commit decodes");
        prop_assert_eq!(back.id(), c.id());
        prop_assert_eq!(back, c);
    }

    #[test]
    fn mutated_trees_never_panic(t in tree(), edits in vec(mutation(), 1..4)) {
        let mut b = t.encode();
        for m in &edits {
            apply(&mut b, m);
        }
        // Whatever decodes is canonical: it encodes back to exactly the
        // bytes it came from (so a tree has one id), and survives another
        // round trip.
        if let Ok(d) = Tree::decode(&b) {
            prop_assert_eq!(d.encode(), b);
            prop_assert_eq!(Tree::decode(&d.encode()).expect("re-decodes"), d);
        }
    }

    #[test]
    fn mutated_commits_never_panic(c in commit(), edits in vec(mutation(), 1..4)) {
        let mut b = c.encode();
        for m in &edits {
            apply(&mut b, m);
        }
        // The commit decoder insists on canonical form: what decodes
        // re-encodes to exactly the bytes it came from.
        if let Ok(d) = Commit::decode(&b) {
            prop_assert_eq!(d.encode(), b);
        }
    }
}

proptest! {
    #![proptest_config(config(4096))]

    #[test]
    fn arbitrary_bytes_never_panic(b in vec(any::<u8>(), 0..200)) {
        let _ = Tree::decode(&b);
        let _ = Commit::decode(&b);
    }

    #[test]
    fn arbitrary_tree_bodies_never_panic(kind in 0..3u8, body in vec(any::<u8>(), 0..200)) {
        // Past the magic, so the entry and bucket parsers see the bytes.
        let mut b = b"OXT1".to_vec();
        b.push(kind);
        b.extend_from_slice(&body);
        let _ = Tree::decode(&b);
    }

    #[test]
    fn arbitrary_commit_headers_never_panic(author in text(24), extra in text(24), message in text(8)) {
        // A well-formed tree line, then an arbitrary author line and more.
        let text = format!("tree {}\nauthor {author}\n{extra}\n\n{message}", ContentId::of(b"t"));
        let _ = Commit::decode(text.as_bytes());
    }
}

/// Tabular metadata re-spelled as other valid JSON (keys reordered, spaces
/// added): the logical tree is the same, so only one spelling, the
/// canonical one, may decode.
fn respelled(meta: &TabularMeta, how: u8) -> Vec<u8> {
    let v = serde_json::to_value(meta).expect("serialises");
    let obj = v.as_object().expect("an object");
    match how % 3 {
        // Keys in reverse order.
        0 => {
            let mut s = String::from("{");
            for (i, (k, val)) in obj.iter().rev().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(&format!("{}:{}", serde_json::to_string(k).unwrap(), val));
            }
            s.push('}');
            s.into_bytes()
        }
        // Pretty-printed.
        1 => serde_json::to_vec_pretty(&v).expect("serialises"),
        // A space after the opening brace.
        _ => {
            let mut b = serde_json::to_vec(&v).expect("serialises");
            b.insert(1, b' ');
            b
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// The canonical check of `Tree::decode`: an entry whose tabular JSON
    /// is spelled in any other way is refused, and the canonical spelling
    /// decodes and encodes back to its own bytes.
    #[test]
    fn non_canonical_tabular_json_is_refused(name in name(), meta in tabular(), how in any::<u8>()) {
        let tree = Tree::Entries(vec![TreeEntry {
            name,
            kind: EntryKind::File,
            mode: 0o100644,
            id: ContentId::of(b"x"),
            size: 1,
            tabular: Some(meta.clone()),
        }]);
        let good = tree.encode();
        prop_assert_eq!(Tree::decode(&good).expect("canonical decodes").encode(), good.clone());
        let canonical = serde_json::to_vec(&meta).unwrap();
        let other = respelled(&meta, how);
        // A single key has one order; reversing it changes nothing.
        prop_assume!(other != canonical);
        // Splice the other spelling in place of the canonical one (it ends the encoding).
        let mut bad = good[..good.len() - canonical.len() - 4].to_vec();
        bad.extend_from_slice(&(other.len() as u32).to_le_bytes());
        bad.extend_from_slice(&other);
        let e = Tree::decode(&bad).expect_err("a non-canonical spelling decoded");
        prop_assert!(e.to_string().contains("canonical"), "{}", e);
    }
}

/// Author lines that made `Commit::decode` panic (it sliced inside a
/// multi-byte character: before the '<', and in the offset), the first
/// found by `arbitrary_commit_headers_never_panic`. Kept as regression cases.
#[test]
fn multibyte_author_lines_are_errors_not_panics() {
    for author in ["𝌀<>", "é<a> 1 +0000", "a <b> 1 é+000", "a <b> 1 +0é0", "a <b> 1 +00é"] {
        let text = format!("tree {}\nauthor {author}\n\nmessage", ContentId::of(b"t"));
        assert!(Commit::decode(text.as_bytes()).is_err(), "{author:?}");
    }
}
