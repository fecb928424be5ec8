//! Tree nodes and their canonical encoding.
//!
//! A directory is one node listing its entries sorted by name. A directory
//! with more than [`BUCKET_TARGET`] * 2 entries is instead a node listing
//! buckets; each bucket is an ordinary entries node holding the names whose
//! hash falls in it. Changing one file in a directory of a million files then
//! rewrites one bucket of about a thousand entries plus the small bucket
//! list, not the whole directory.

use bstr::BString;
use oxen_hash::ContentId;

use crate::{malformed, ObjectError, TabularMeta};

/// Average entries per bucket that bucketing aims for.
pub const BUCKET_TARGET: usize = 1024;

const MAGIC: &[u8; 4] = b"OXT1";

/// What an entry points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryKind {
    /// File contents in the versions store.
    File,
    /// Another tree.
    Dir,
}

/// One entry of a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    /// File or directory name (a single path component): any bytes a
    /// Linux name may hold, but see [`validate_name`].
    pub name: BString,
    /// File or directory.
    pub kind: EntryKind,
    /// git-style mode (see [`crate::mode`]).
    pub mode: u32,
    /// Contents id (file) or tree id (directory).
    pub id: ContentId,
    /// Bytes in the file, or in all files below a directory.
    pub size: u64,
    /// Schema and row count for tabular files.
    pub tabular: Option<TabularMeta>,
}

/// A tree node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tree {
    /// A directory (or one bucket of one): entries sorted by name.
    Entries(Vec<TreeEntry>),
    /// A large directory split by name hash: `(bucket index, bucket node id)`,
    /// sorted by index; empty buckets are omitted.
    Buckets {
        /// How many top bits of the name hash pick the bucket.
        bits: u8,
        /// Non-empty buckets: index and node id.
        buckets: Vec<(u32, ContentId)>,
    },
}

/// Check a single path component is safe to create inside a work tree
/// (the rules are [`oxen_path::validate_name`]'s: any bytes but `/` and
/// NUL, not empty, `.`, `..` or `.oxen` in any case).
pub fn validate_name(name: &[u8]) -> Result<(), ObjectError> {
    oxen_path::validate_name(name).map_err(|why| ObjectError::BadName(name.into(), why))
}

/// How many hash bits to split a directory of `n` entries by (0 = not split).
pub fn bucket_bits_for(n: usize) -> u8 {
    if n <= BUCKET_TARGET * 2 {
        return 0;
    }
    let buckets = n.div_ceil(BUCKET_TARGET);
    (usize::BITS - (buckets - 1).leading_zeros()) as u8
}

/// The bucket a name falls in when its directory is split by `bits` bits.
pub fn bucket_of(name: &[u8], bits: u8) -> u32 {
    if bits == 0 {
        return 0;
    }
    (xxhash_rust::xxh3::xxh3_64(name) >> (64 - bits as u32)) as u32
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ObjectError> {
        if self.b.len() - self.pos < n {
            return Err(malformed("tree", "truncated"));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, ObjectError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, ObjectError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64, ObjectError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn id(&mut self) -> Result<ContentId, ObjectError> {
        Ok(ContentId::from_slice(self.take(16)?).expect("16 bytes"))
    }
}

impl Tree {
    /// Canonical bytes. Entries are sorted here, so callers need not.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        match self {
            Tree::Entries(entries) => {
                let mut sorted: Vec<&TreeEntry> = entries.iter().collect();
                sorted.sort_by(|a, b| a.name.cmp(&b.name));
                out.push(0);
                out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
                for e in sorted {
                    out.push(match e.kind {
                        EntryKind::File => 0,
                        EntryKind::Dir => 1,
                    });
                    out.extend_from_slice(&e.mode.to_le_bytes());
                    out.extend_from_slice(e.id.as_bytes());
                    out.extend_from_slice(&e.size.to_le_bytes());
                    out.extend_from_slice(&(e.name.len() as u32).to_le_bytes());
                    out.extend_from_slice(&e.name[..]);
                    let meta = match &e.tabular {
                        // Struct fields serialise in declaration order, so this is deterministic.
                        Some(m) => serde_json::to_vec(m).unwrap_or_default(),
                        None => Vec::new(),
                    };
                    out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
                    out.extend_from_slice(&meta);
                }
            }
            Tree::Buckets { bits, buckets } => {
                let mut sorted = buckets.clone();
                sorted.sort();
                out.push(1);
                out.push(*bits);
                out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
                for (idx, id) in sorted {
                    out.extend_from_slice(&idx.to_le_bytes());
                    out.extend_from_slice(id.as_bytes());
                }
            }
        }
        out
    }

    /// Parse canonical bytes, validating every name, the sort order and the
    /// absence of trailing bytes: anything received over the wire goes
    /// through here before it is trusted.
    pub fn decode(bytes: &[u8]) -> Result<Tree, ObjectError> {
        let mut r = Reader { b: bytes, pos: 0 };
        if r.take(4)? != MAGIC {
            return Err(malformed("tree", "bad magic"));
        }
        let tree = match r.u8()? {
            0 => {
                let n = r.u32()? as usize;
                let mut entries = Vec::with_capacity(n.min(1 << 16));
                for _ in 0..n {
                    let kind = match r.u8()? {
                        0 => EntryKind::File,
                        1 => EntryKind::Dir,
                        k => return Err(malformed("tree", format!("unknown entry kind {k}"))),
                    };
                    let mode = r.u32()?;
                    let id = r.id()?;
                    let size = r.u64()?;
                    let nlen = r.u32()? as usize;
                    // Names are bytes: UTF-8 or not, as the file system had them.
                    let name = BString::from(r.take(nlen)?);
                    validate_name(&name)?;
                    let mlen = r.u32()? as usize;
                    let tabular = if mlen == 0 {
                        None
                    } else {
                        Some(
                            serde_json::from_slice(r.take(mlen)?)
                                .map_err(|e| malformed("tree", format!("tabular metadata: {e}")))?,
                        )
                    };
                    entries.push(TreeEntry { name, kind, mode, id, size, tabular });
                }
                for w in entries.windows(2) {
                    if w[0].name >= w[1].name {
                        return Err(malformed(
                            "tree",
                            format!(
                                "entries not sorted or duplicated at {}",
                                oxen_path::quote(&w[1].name, oxen_path::Quote::C)
                            ),
                        ));
                    }
                }
                Tree::Entries(entries)
            }
            1 => {
                let bits = r.u8()?;
                if bits > 24 {
                    return Err(malformed("tree", "too many bucket bits"));
                }
                let n = r.u32()? as usize;
                let mut buckets = Vec::with_capacity(n.min(1 << 16));
                for _ in 0..n {
                    let idx = r.u32()?;
                    if idx >= (1u32 << bits) {
                        return Err(malformed("tree", "bucket index out of range"));
                    }
                    buckets.push((idx, r.id()?));
                }
                for w in buckets.windows(2) {
                    if w[0].0 >= w[1].0 {
                        return Err(malformed("tree", "buckets not sorted"));
                    }
                }
                Tree::Buckets { bits, buckets }
            }
            k => return Err(malformed("tree", format!("unknown node kind {k}"))),
        };
        if r.pos != bytes.len() {
            return Err(malformed("tree", "trailing bytes"));
        }
        // The same rule as commits: only the canonical encoding decodes.
        // Tabular metadata is JSON, which says the same thing in many ways
        // (key order, spacing, escapes); accepting them would let one
        // logical tree be stored under several ids.
        if tree.encode() != bytes {
            return Err(malformed("tree", "not in canonical form"));
        }
        Ok(tree)
    }

    /// The id of this node.
    pub fn id(&self) -> ContentId {
        ContentId::of(&self.encode())
    }

    /// The entries of the directory this node is the root of, sorted by
    /// name: its own, or those of all its buckets, loaded with `load`.
    /// Shared by everything that reads directories (the repository, pack
    /// negotiation) so bucket handling exists once.
    pub fn into_entries<E: From<ObjectError>>(
        self,
        mut load: impl FnMut(&ContentId) -> Result<Tree, E>,
    ) -> Result<Vec<TreeEntry>, E> {
        match self {
            Tree::Entries(es) => Ok(es),
            Tree::Buckets { buckets, .. } => {
                let mut all = Vec::new();
                for (_, id) in buckets {
                    match load(&id)? {
                        Tree::Entries(es) => all.extend(es),
                        Tree::Buckets { .. } => return Err(malformed("tree", "nested bucket node").into()),
                    }
                }
                all.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(all)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> TreeEntry {
        TreeEntry {
            name: name.into(),
            kind: EntryKind::File,
            mode: crate::mode::FILE,
            id: ContentId::of(name.as_bytes()),
            size: 1,
            tabular: None,
        }
    }

    #[test]
    fn order_does_not_change_id() {
        let a = Tree::Entries(vec![entry("b"), entry("a")]);
        let b = Tree::Entries(vec![entry("a"), entry("b")]);
        assert_eq!(a.id(), b.id());
        assert_eq!(Tree::decode(&a.encode()).unwrap(), b);
    }

    #[test]
    fn rejects_evil_names() {
        for n in ["..", "a/b", "x\0", ".oxen", ""] {
            let mut e = entry("ok");
            e.name = n.into();
            let t = Tree::Entries(vec![e]).encode();
            assert!(Tree::decode(&t).is_err(), "{n:?}");
        }
    }

    #[test]
    fn accepts_any_linux_name() {
        // Older decoders refused '\\' and non-UTF-8; Linux (and git) allow both.
        for n in [&b"back\\slash"[..], b"caf\xe9.txt", b"new\nline", b"tab\t\"q\"", b"\xff\xfe"] {
            let mut e = entry("ok");
            e.name = n.into();
            let t = Tree::Entries(vec![e.clone()]);
            assert_eq!(Tree::decode(&t.encode()).unwrap(), t);
        }
    }

    #[test]
    fn rejects_reserved_name_in_any_case() {
        for n in [".OXEN", ".Oxen", ".oXeN"] {
            let mut e = entry("ok");
            e.name = n.into();
            assert!(Tree::decode(&Tree::Entries(vec![e]).encode()).is_err(), "{n}");
        }
    }

    /// Tabular metadata spelled differently (other key order, spaces, an
    /// escaped character) is the same logical tree: refused, so that each
    /// tree has one id.
    #[test]
    fn tabular_metadata_must_be_canonical() {
        let mut e = entry("t.csv");
        e.tabular = Some(TabularMeta {
            format: crate::TabularFormat::Csv,
            columns: vec![crate::Column { name: "id".into(), dtype: crate::ColumnType::Int }],
            rows: 2,
        });
        let good = Tree::Entries(vec![e]).encode();
        assert!(Tree::decode(&good).is_ok());
        let canonical = br#"{"format":"csv","columns":[{"name":"id","dtype":"int"}],"rows":2}"#;
        for other in [
            &br#"{"columns":[{"name":"id","dtype":"int"}],"format":"csv","rows":2}"#[..],
            br#"{"format": "csv", "columns": [{"name": "id", "dtype": "int"}], "rows": 2}"#,
            br#"{"format":"\u0063sv","columns":[{"name":"id","dtype":"int"}],"rows":2}"#,
            br#"{"format":"csv","columns":[{"dtype":"int","name":"id"}],"rows":2}"#,
        ] {
            let pos =
                good.windows(canonical.len()).position(|w| w == canonical).expect("canonical JSON in the encoding");
            let mut bad = good[..pos - 4].to_vec();
            bad.extend_from_slice(&(other.len() as u32).to_le_bytes());
            bad.extend_from_slice(other);
            bad.extend_from_slice(&good[pos + canonical.len()..]);
            let e = Tree::decode(&bad).unwrap_err();
            assert!(e.to_string().contains("canonical"), "{}: {e}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn bucket_bits() {
        assert_eq!(bucket_bits_for(10), 0);
        assert_eq!(bucket_bits_for(2048), 0);
        assert_eq!(bucket_bits_for(1_000_000), 10);
    }
}

#[cfg(test)]
mod pinned {
    use super::*;

    /// Bucket placement is part of a tree's id: the same names must land
    /// in the same buckets forever. Values computed before names became bytes.
    #[test]
    fn bucket_placement_is_unchanged() {
        let got: Vec<u32> = ["a", "data-000001.csv", "caf\u{e9}"].iter().map(|n| bucket_of(n.as_bytes(), 10)).collect();
        assert_eq!(got, vec![923, 744, 306]);
    }
}
