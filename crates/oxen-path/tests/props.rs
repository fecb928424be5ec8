//! Properties of repository paths: any valid names join into a path that
//! splits back into them, paths order as their bytes, and quoting is
//! printable ASCII that unquotes to the original bytes.

use oxen_path::{quote, validate_name, Quote, RepoPath};
use proptest::collection::vec;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => vec(any::<u8>(), 1..12),
        1 => prop::sample::select(vec![&b"back\\slash"[..], b"new\nline", b"tab\t", b"q\"", b"caf\xe9", b".oxen2"])
            .prop_map(<[u8]>::to_vec),
    ]
    .prop_filter("valid name", |n| validate_name(n).is_ok())
}

/// Undo git's C-style quoting (the inverse of `quote`).
fn unquote(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    if b.first() != Some(&b'"') {
        return b.to_vec();
    }
    let inner = &b[1..b.len() - 1];
    let mut out = Vec::new();
    let mut i = 0;
    while i < inner.len() {
        if inner[i] != b'\\' {
            out.push(inner[i]);
            i += 1;
            continue;
        }
        let c = inner[i + 1];
        i += 2;
        out.push(match c {
            b'a' => 7,
            b'b' => 8,
            b't' => b'\t',
            b'n' => b'\n',
            b'v' => 11,
            b'f' => 12,
            b'r' => b'\r',
            b'"' | b'\\' => c,
            d => {
                let o = [d, inner[i], inner[i + 1]];
                i += 2;
                u8::from_str_radix(std::str::from_utf8(&o).unwrap(), 8).unwrap()
            }
        });
    }
    out
}

proptest! {
    #[test]
    fn names_join_and_split(names in vec(name(), 1..6)) {
        let joined = names.join(&b'/');
        let p = RepoPath::new(joined.clone()).unwrap();
        prop_assert_eq!(p.components().map(<[u8]>::to_vec).collect::<Vec<_>>(), names.clone());
        prop_assert_eq!(p.name(), names.last().unwrap().as_slice());
        let mut rebuilt = RepoPath::root();
        for n in &names {
            rebuilt = rebuilt.join(n).unwrap();
        }
        prop_assert_eq!(&rebuilt, &p);
        prop_assert_eq!(p.parent().unwrap().join(p.name()).unwrap(), p.clone());
        prop_assert!(p.is_under(&RepoPath::new(names[0].clone()).unwrap()));
    }

    #[test]
    fn order_is_byte_order(a in vec(name(), 1..4), b in vec(name(), 1..4)) {
        let (a, b) = (a.join(&b'/'), b.join(&b'/'));
        let (pa, pb) = (RepoPath::new(a.clone()).unwrap(), RepoPath::new(b.clone()).unwrap());
        prop_assert_eq!(pa.cmp(&pb), a.cmp(&b));
    }

    #[test]
    fn quoting_is_printable_and_reversible(b in vec(any::<u8>(), 0..40), space in any::<bool>()) {
        let q = quote(&b, if space { Quote::CSpace } else { Quote::C });
        prop_assert!(q.bytes().all(|c| (0x20..0x7f).contains(&c)), "{:?}", q);
        prop_assert_eq!(unquote(&q), b);
    }
}
