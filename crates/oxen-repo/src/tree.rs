//! Building trees from a flat path list, and reading them back: whole
//! (flatten) or as a diff that skips identical subtrees by id, so that
//! comparing two commits costs O(what changed), not O(repository).

use std::collections::BTreeMap;

use bstr::BString;
use oxen_hash::ContentId;
use oxen_index::{Index, IndexIter};
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
    /// root tree id. Nodes that already exist are not rewritten, so a
    /// commit writes only the nodes of directories that changed.
    pub fn write_tree_from(&self, files: &BTreeMap<RepoPath, FlatEntry>) -> Result<ContentId> {
        let mut b = TreeBuilder::new(self);
        for (path, e) in files {
            b.add(path, e.clone())?;
        }
        b.finish()
    }

    /// Build and store `base` with `edits` applied (a path to its new
    /// entry, or `None` to drop it): the same tree [`Repo::write_tree_from`]
    /// builds from the edited file list, read from `base` in path order
    /// and built bottom-up as it goes (only the open directories held).
    pub(crate) fn write_tree_edited(
        &self,
        base: &ContentId,
        edits: BTreeMap<RepoPath, Option<FlatEntry>>,
    ) -> Result<ContentId> {
        let mut b = TreeBuilder::new(self);
        for row in crate::join::MergeJoin::new(self.tree_files(base), edits.into_iter().map(Ok)) {
            let (path, kept, edit) = row?;
            if let Some(e) = edit.unwrap_or(kept) {
                b.add(&path, e)?;
            }
        }
        b.finish()
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

    /// The paths that differ between two trees (`None` = the empty tree),
    /// one at a time in path byte order: both trees are walked together
    /// directory by directory, a subtree whose id is the same on both sides
    /// is skipped without being read, and memory holds only the open
    /// directory pairs from the root down to the current one. Checkout,
    /// reset, diff and show all compare trees through this one walk.
    pub fn tree_changes(&self, old: Option<&ContentId>, new: Option<&ContentId>) -> TreeChanges<'_> {
        TreeChanges { repo: self, stack: Vec::new(), root: Some((old.copied(), new.copied())), opened: 0 }
    }

    /// [`Repo::tree_changes`] collected: for callers that want them all.
    pub fn diff_trees(&self, old: Option<&ContentId>, new: Option<&ContentId>) -> Result<Vec<TreeChange>> {
        self.tree_changes(old, new).collect()
    }

    /// The root tree id that the current index would commit. The index is
    /// read in order ([`IndexIter`]) and the tree built bottom-up as it
    /// goes: memory holds the open directories from the root down to the
    /// current one, never the whole index. Pages of the index are separate
    /// snapshots, so a writer committing in between is caught (the write
    /// stamp moved) and the tree is built again.
    pub fn write_tree(&self) -> Result<ContentId> {
        let mut tries = 0;
        loop {
            let before = Index::load_header(&self.db)?.written_ns;
            let mut b = TreeBuilder::new(self);
            for row in IndexIter::new(&self.db) {
                let (p, e) = row?;
                b.add(
                    &p,
                    FlatEntry {
                        id: e.id,
                        mode: if e.stat.mode == 0 { mode::FILE } else { e.stat.mode },
                        size: e.stat.size,
                        tabular: e.tabular,
                    },
                )?;
            }
            let tree = b.finish()?;
            let after = Index::load_header(&self.db)?.written_ns;
            tries += 1;
            if before != after && tries < 5 {
                continue;
            }
            Index::set_cached_tree(&self.db, &tree, after)?;
            return Ok(tree);
        }
    }

    /// The files of a tree one at a time, in path byte order (what the
    /// index and the work-tree walk use), holding only the directories from
    /// the root down to the current one.
    pub fn tree_files(&self, tree: &ContentId) -> TreeFiles<'_> {
        self.tree_files_at(tree, RepoPath::root())
    }

    /// [`Repo::tree_files`] of a subtree whose files are named below `base`
    /// (the directory it is at in its commit's tree).
    pub fn tree_files_at(&self, tree: &ContentId, base: RepoPath) -> TreeFiles<'_> {
        TreeFiles { repo: self, stack: Vec::new(), root: Some((*tree, base)), opened: 0 }
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

/// Builds a tree from files handed in path byte order: the directories
/// from the root to the current one are open; a directory is encoded when
/// the walk leaves it (its files all seen, since paths below a directory
/// are contiguous in byte order) and only its id goes up to its parent.
/// Encoded nodes wait in a small buffer and are written in batches, each
/// in its own transaction (nodes are content-addressed: a node written by
/// a build that then fails is an unreferenced object, as after a crash).
struct TreeBuilder<'r> {
    repo: &'r Repo,
    /// Open directories, the root first, each with its entries so far.
    stack: Vec<(RepoPath, Vec<TreeEntry>)>,
    pending: Vec<(ContentId, Vec<u8>)>,
    pending_bytes: usize,
}

/// Encoded tree nodes buffered before a write transaction.
const PENDING_BYTES: usize = 2 << 20;

impl<'r> TreeBuilder<'r> {
    fn new(repo: &'r Repo) -> TreeBuilder<'r> {
        TreeBuilder { repo, stack: vec![(RepoPath::root(), Vec::new())], pending: Vec::new(), pending_bytes: 0 }
    }

    /// Add a file; paths must come in byte order.
    fn add(&mut self, path: &RepoPath, e: FlatEntry) -> Result<()> {
        let Some(dir) = path.parent() else { return Ok(()) };
        // Leave the directories that do not hold this path.
        while !dir.is_under(&self.stack.last().expect("root stays").0) {
            self.close_top()?;
        }
        // Open the ones down to its directory.
        while self.stack.last().expect("root stays").0 != dir {
            let top = &self.stack.last().expect("root stays").0;
            let depth = top.components().count();
            let next = dir.components().nth(depth).expect("dir is below top");
            let child = top.join(next)?;
            self.stack.push((child, Vec::new()));
        }
        self.stack.last_mut().expect("root stays").1.push(TreeEntry {
            name: path.name().into(),
            kind: EntryKind::File,
            mode: if e.mode == 0 { mode::FILE } else { e.mode },
            id: e.id,
            size: e.size,
            tabular: e.tabular,
        });
        Ok(())
    }

    fn close_top(&mut self) -> Result<()> {
        let (d, entries) = self.stack.pop().expect("not the root");
        let (id, size) = self.node(&d, entries)?;
        self.stack.last_mut().expect("root stays").1.push(TreeEntry {
            name: d.name().into(),
            kind: EntryKind::Dir,
            mode: mode::DIR,
            id,
            size,
            tabular: None,
        });
        Ok(())
    }

    /// Encode directory `d`'s node (buckets for a large one), queue it for
    /// writing, and return its id and total size.
    fn node(&mut self, d: &RepoPath, mut entries: Vec<TreeEntry>) -> Result<(ContentId, u64)> {
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
        let bits = bucket_bits_for(entries.len());
        let id = if bits == 0 {
            self.queue(Tree::Entries(entries).encode())?
        } else {
            let mut buckets: BTreeMap<u32, Vec<TreeEntry>> = BTreeMap::new();
            for e in entries {
                buckets.entry(bucket_of(&e.name, bits)).or_default().push(e);
            }
            let mut list = Vec::with_capacity(buckets.len());
            for (idx, es) in buckets {
                list.push((idx, self.queue(Tree::Entries(es).encode())?));
            }
            self.queue(Tree::Buckets { bits, buckets: list }.encode())?
        };
        Ok((id, size))
    }

    fn queue(&mut self, bytes: Vec<u8>) -> Result<ContentId> {
        let id = ContentId::of(&bytes);
        self.pending_bytes += bytes.len();
        self.pending.push((id, bytes));
        if self.pending_bytes >= PENDING_BYTES {
            self.flush()?;
        }
        Ok(id)
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut txn = self.repo.db.begin_write()?;
        for (id, bytes) in self.pending.drain(..) {
            txn.put_new(Table::Trees, id.as_bytes(), &bytes)?;
        }
        txn.commit()?;
        self.pending_bytes = 0;
        self.repo.db.release_mapped_pages();
        Ok(())
    }

    /// Close every open directory and write what is queued: the root's id.
    fn finish(mut self) -> Result<ContentId> {
        while self.stack.len() > 1 {
            self.close_top()?;
        }
        let (root, entries) = self.stack.pop().expect("root");
        let (id, _) = self.node(&root, entries)?;
        self.flush()?;
        Ok(id)
    }
}

/// The files of a tree in path byte order ([`Repo::tree_files`]).
pub struct TreeFiles<'r> {
    repo: &'r Repo,
    /// Open directories: path and the entries still to hand out, in path
    /// order (a directory sorts as its name plus `/`), reversed for popping.
    stack: Vec<(RepoPath, Vec<TreeEntry>)>,
    /// The tree to open first and the path it is at.
    root: Option<(ContentId, RepoPath)>,
    /// Directories read so far.
    opened: u64,
}

impl TreeFiles<'_> {
    fn open(&mut self, tree: &ContentId, path: RepoPath) -> Result<()> {
        self.opened += 1;
        if self.opened.is_multiple_of(256) {
            // The tree pages read so far need not stay resident.
            self.repo.db.release_mapped_pages();
        }
        let mut entries = self.repo.dir_entries(tree)?;
        let key = |e: &TreeEntry| {
            let mut k = e.name.to_vec();
            if e.kind == EntryKind::Dir {
                k.push(b'/');
            }
            k
        };
        entries.sort_by_cached_key(|e| std::cmp::Reverse(key(e)));
        self.stack.push((path, entries));
        Ok(())
    }

    fn next_file(&mut self) -> Result<Option<(RepoPath, FlatEntry)>> {
        if let Some((root, base)) = self.root.take() {
            self.open(&root, base)?;
        }
        loop {
            let Some((dir, entries)) = self.stack.last_mut() else { return Ok(None) };
            let Some(e) = entries.pop() else {
                self.stack.pop();
                continue;
            };
            let path = dir.join(&e.name)?;
            match e.kind {
                EntryKind::Dir => self.open(&e.id, path)?,
                EntryKind::File => {
                    return Ok(Some((path, FlatEntry { id: e.id, mode: e.mode, size: e.size, tabular: e.tabular })))
                }
            }
        }
    }
}

impl Iterator for TreeFiles<'_> {
    type Item = Result<(RepoPath, FlatEntry)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_file().transpose()
    }
}

/// One entry of an open directory pair, keyed for path order (a directory
/// sorts as its name plus `/`, as in the index and the work-tree walk).
enum Item {
    Dir { name: BString, old: Option<ContentId>, new: Option<ContentId> },
    File { name: BString, old: Option<FlatEntry>, new: Option<FlatEntry> },
}

/// The paths that differ between two trees, one at a time in path byte
/// order ([`Repo::tree_changes`]).
pub struct TreeChanges<'r> {
    repo: &'r Repo,
    /// Open directory pairs: path and the differing entries still to hand
    /// out, reversed for popping.
    stack: Vec<(RepoPath, Vec<Item>)>,
    root: Option<(Option<ContentId>, Option<ContentId>)>,
    opened: u64,
}

fn as_flat(e: &TreeEntry) -> Option<FlatEntry> {
    (e.kind == EntryKind::File).then(|| FlatEntry { id: e.id, mode: e.mode, size: e.size, tabular: e.tabular.clone() })
}

fn as_dir(e: Option<&TreeEntry>) -> Option<ContentId> {
    e.filter(|e| e.kind == EntryKind::Dir).map(|e| e.id)
}

impl TreeChanges<'_> {
    fn open(&mut self, old: Option<ContentId>, new: Option<ContentId>, path: RepoPath) -> Result<()> {
        if old == new {
            return Ok(());
        }
        self.opened += 1;
        if self.opened.is_multiple_of(16) {
            self.repo.db.release_mapped_pages();
        }
        let load = |t: Option<ContentId>| -> Result<Vec<TreeEntry>> {
            Ok(match t {
                Some(t) => self.repo.dir_entries(&t)?,
                None => Vec::new(),
            })
        };
        // Both sorted by name: merged in one pass.
        let (a, b) = (load(old)?, load(new)?);
        let mut keyed: Vec<(Vec<u8>, Item)> = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let (ea, eb) = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x.name == y.name => {
                    i += 1;
                    j += 1;
                    (Some(x), Some(y))
                }
                (Some(x), Some(y)) if x.name < y.name => {
                    i += 1;
                    (Some(x), None)
                }
                (Some(x), None) => {
                    i += 1;
                    (Some(x), None)
                }
                (_, Some(y)) => {
                    j += 1;
                    (None, Some(y))
                }
                (None, None) => break,
            };
            let name = ea.or(eb).map(|e| e.name.clone()).unwrap_or_default();
            let (da, db) = (as_dir(ea), as_dir(eb));
            if da != db {
                let mut k = name.to_vec();
                k.push(b'/');
                keyed.push((k, Item::Dir { name: name.clone(), old: da, new: db }));
            }
            let (fa, fb) = (ea.and_then(as_flat), eb.and_then(as_flat));
            let differs = match (&fa, &fb) {
                (None, None) => false,
                (Some(x), Some(y)) => x.id != y.id || x.mode != y.mode,
                _ => true,
            };
            if differs {
                keyed.push((name.to_vec(), Item::File { name, old: fa, new: fb }));
            }
        }
        keyed.sort_by(|x, y| y.0.cmp(&x.0));
        self.stack.push((path, keyed.into_iter().map(|(_, it)| it).collect()));
        Ok(())
    }

    fn next_change(&mut self) -> Result<Option<TreeChange>> {
        if let Some((old, new)) = self.root.take() {
            self.open(old, new, RepoPath::root())?;
        }
        loop {
            let Some((dir, items)) = self.stack.last_mut() else { return Ok(None) };
            let Some(item) = items.pop() else {
                self.stack.pop();
                continue;
            };
            match item {
                Item::Dir { name, old, new } => {
                    let path = dir.join(&name)?;
                    self.open(old, new, path)?;
                }
                Item::File { name, old, new } => {
                    let path = dir.join(&name)?;
                    return Ok(Some(TreeChange { path, old, new }));
                }
            }
        }
    }
}

impl Iterator for TreeChanges<'_> {
    type Item = Result<TreeChange>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_change().transpose()
    }
}
