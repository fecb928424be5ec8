//! Building trees from a flat path list, and reading them back: whole
//! (flatten) or as a diff that skips identical subtrees by id, so that
//! comparing two commits costs O(what changed), not O(repository).

use std::collections::BTreeMap;

use bstr::BString;
use oxen_hash::ContentId;
use oxen_index::Index;
use oxen_object::{bucket_bits_for, bucket_of, mode, EntryKind, TabularMeta, Tree, TreeEntry};
use oxen_path::RepoPath;
use oxen_store::Table;

use crate::{Repo, RepoError, Result};

/// A file as it appears in a flattened tree or in the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlatEntry {
    /// Content id.
    pub id: ContentId,
    /// git-style mode.
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// Tabular schema, if recorded.
    pub tabular: Option<TabularMeta>,
}

/// One path that differs between two trees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeChange {
    /// The path.
    pub path: RepoPath,
    /// Entry in the old tree.
    pub old: Option<FlatEntry>,
    /// Entry in the new tree.
    pub new: Option<FlatEntry>,
}

impl Repo {
    /// Build and store the tree for a flat `path -> entry` map, returning the
    /// root tree id. All nodes are written in one transaction; nodes that
    /// already exist are not rewritten, so a commit writes only the nodes of
    /// directories that changed.
    pub fn write_tree_from(&self, files: &BTreeMap<RepoPath, FlatEntry>) -> Result<ContentId> {
        // dir path (root included) -> entries
        let mut dirs: BTreeMap<RepoPath, Vec<TreeEntry>> = BTreeMap::new();
        dirs.insert(RepoPath::root(), Vec::new());
        for (path, e) in files {
            let Some(dir) = path.parent() else { continue };
            // Make sure every ancestor directory exists as a node (the root always does).
            let mut d = dir.clone();
            while !dirs.contains_key(&d) {
                let up = d.parent().unwrap_or_default();
                dirs.insert(d, Vec::new());
                d = up;
            }
            dirs.get_mut(&dir).expect("inserted above").push(TreeEntry {
                name: path.name().into(),
                kind: EntryKind::File,
                mode: if e.mode == 0 { mode::FILE } else { e.mode },
                id: e.id,
                size: e.size,
                tabular: e.tabular.clone(),
            });
        }
        // Deepest directories first, so children are built before parents.
        let mut order: Vec<RepoPath> = dirs.keys().cloned().collect();
        order.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        let mut txn = self.db.begin_write()?;
        let mut root = None;
        for d in order {
            let mut entries = dirs.remove(&d).unwrap_or_default();
            // A name that is both a file and a directory (`link` and
            // `link/y`) cannot be one tree entry: refuse it here rather than
            // store a tree that fsck and every reader reject.
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            if let Some(w) = entries.windows(2).find(|w| w[0].name == w[1].name) {
                let both = d.join(&w[0].name)?;
                return Err(RepoError::Refused(format!(
                    "'{both}' is both a file and a directory in the index; remove one of them (`oxen rm --cached`)"
                )));
            }
            let size: u64 = entries.iter().map(|e| e.size).sum();
            let id = self.put_dir_node(&mut txn, entries)?;
            match d.parent() {
                None => root = Some(id),
                Some(parent) => dirs.entry(parent).or_default().push(TreeEntry {
                    name: d.name().into(),
                    kind: EntryKind::Dir,
                    mode: mode::DIR,
                    id,
                    size,
                    tabular: None,
                }),
            }
        }
        txn.commit()?;
        Ok(root.expect("root directory is always built"))
    }

    fn put_dir_node(&self, txn: &mut oxen_store::WriteTxn<'_>, entries: Vec<TreeEntry>) -> Result<ContentId> {
        let bits = bucket_bits_for(entries.len());
        if bits == 0 {
            return Ok(txn.put_object(Table::Trees, &Tree::Entries(entries).encode())?);
        }
        let mut buckets: BTreeMap<u32, Vec<TreeEntry>> = BTreeMap::new();
        for e in entries {
            buckets.entry(bucket_of(&e.name, bits)).or_default().push(e);
        }
        let mut list = Vec::with_capacity(buckets.len());
        for (idx, es) in buckets {
            list.push((idx, txn.put_object(Table::Trees, &Tree::Entries(es).encode())?));
        }
        Ok(txn.put_object(Table::Trees, &Tree::Buckets { bits, buckets: list }.encode())?)
    }

    /// The entries of one directory (buckets merged), sorted by name.
    pub fn dir_entries(&self, tree: &ContentId) -> Result<Vec<TreeEntry>> {
        self.read_tree_node(tree)?.into_entries(|id| self.read_tree_node(id))
    }

    /// Every file below a tree, by path. Iterative (an explicit stack of
    /// directories), so a tree of any depth is read without deep recursion.
    pub fn flatten_tree(&self, tree: &ContentId) -> Result<BTreeMap<RepoPath, FlatEntry>> {
        let mut out = Vec::new();
        let mut stack = vec![(*tree, RepoPath::root())];
        while let Some((t, prefix)) = stack.pop() {
            for e in self.dir_entries(&t)? {
                let path = prefix.join(&e.name)?;
                match e.kind {
                    EntryKind::Dir => stack.push((e.id, path)),
                    EntryKind::File => {
                        out.push((path, FlatEntry { id: e.id, mode: e.mode, size: e.size, tabular: e.tabular }));
                    }
                }
            }
        }
        // Sorting a Vec and bulk-building beats inserting one by one.
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(out.into_iter().collect())
    }

    /// Every file of a commit's tree (empty for `None`, an unborn branch).
    pub fn flatten_commit(&self, commit: Option<&ContentId>) -> Result<BTreeMap<RepoPath, FlatEntry>> {
        match commit {
            None => Ok(BTreeMap::new()),
            Some(c) => {
                let t = self.read_commit(c)?.tree;
                self.flatten_tree(&t)
            }
        }
    }

    /// Paths that differ between two trees (`None` = empty tree), sorted.
    /// Subtrees with equal ids are skipped without being read. Iterative
    /// (an explicit stack of directory pairs), so depth costs no stack.
    pub fn diff_trees(&self, old: Option<&ContentId>, new: Option<&ContentId>) -> Result<Vec<TreeChange>> {
        let mut out = Vec::new();
        let mut stack = vec![(old.copied(), new.copied(), RepoPath::root())];
        let load = |t: Option<ContentId>| -> Result<BTreeMap<BString, TreeEntry>> {
            Ok(match t {
                Some(t) => self.dir_entries(&t)?.into_iter().map(|e| (e.name.clone(), e)).collect(),
                None => BTreeMap::new(),
            })
        };
        while let Some((old, new, prefix)) = stack.pop() {
            if old == new {
                continue;
            }
            let (a, b) = (load(old)?, load(new)?);
            let mut names: Vec<&BString> = a.keys().chain(b.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                let path = prefix.join(name)?;
                let (ea, eb) = (a.get(name), b.get(name));
                let as_dir = |e: Option<&TreeEntry>| e.filter(|e| e.kind == EntryKind::Dir).map(|e| e.id);
                let as_file = |e: Option<&TreeEntry>| {
                    e.filter(|e| e.kind == EntryKind::File).map(|e| FlatEntry {
                        id: e.id,
                        mode: e.mode,
                        size: e.size,
                        tabular: e.tabular.clone(),
                    })
                };
                let (da, db) = (as_dir(ea), as_dir(eb));
                if da.is_some() || db.is_some() {
                    stack.push((da, db, path.clone()));
                }
                let (fa, fb) = (as_file(ea), as_file(eb));
                let differs = match (&fa, &fb) {
                    (None, None) => false,
                    (Some(x), Some(y)) => x.id != y.id || x.mode != y.mode,
                    _ => true,
                };
                if differs {
                    out.push(TreeChange { path, old: fa, new: fb });
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The root tree id that the current index would commit.
    pub fn write_tree(&self) -> Result<ContentId> {
        let index = self.index()?;
        let files: BTreeMap<RepoPath, FlatEntry> = index
            .entries
            .iter()
            .map(|(p, e)| {
                (
                    p.clone(),
                    FlatEntry {
                        id: e.id,
                        mode: if e.stat.mode == 0 { mode::FILE } else { e.stat.mode },
                        size: e.stat.size,
                        tabular: e.tabular.clone(),
                    },
                )
            })
            .collect();
        let tree = self.write_tree_from(&files)?;
        Index::set_cached_tree(&self.db, &tree, index.written_ns)?;
        Ok(tree)
    }

    /// Find the entry at `path` inside a tree.
    pub fn tree_entry_at(&self, tree: &ContentId, path: &RepoPath) -> Result<Option<TreeEntry>> {
        let mut cur = *tree;
        let comps: Vec<&[u8]> = path.components().collect();
        for (i, comp) in comps.iter().enumerate() {
            let entries = self.dir_entries(&cur)?;
            let Some(e) = entries.into_iter().find(|e| e.name.as_slice() == *comp) else { return Ok(None) };
            if i + 1 == comps.len() {
                return Ok(Some(e));
            }
            if e.kind != EntryKind::Dir {
                return Ok(None);
            }
            cur = e.id;
        }
        Ok(None)
    }
}
