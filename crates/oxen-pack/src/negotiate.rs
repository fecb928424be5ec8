//! Working out what to send.
//!
//! The sender knows some commits the receiver has (`haves`: the receiver's
//! ref tips that the sender also holds). Commits reachable from the tips to
//! send but not from the haves are new. Each new commit's tree is compared
//! with its first parent's tree path by path, descending only where ids
//! differ, so a subtree that did not change is skipped without being read:
//! pushing a branch that changes 1% of the files enumerates about 1% of the
//! objects. The result may still hold objects the receiver has by other
//! routes; the push client asks the server which are actually missing.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::rc::Rc;

use bstr::BString;
use oxen_hash::ContentId;
use oxen_object::graph::ancestors;
use oxen_object::{Commit, EntryKind, Tree};
use oxen_path::PathSet;
use oxen_store::{ObjectKind, ObjectSource};

use crate::Result;

/// An object to send: its kind and id.
pub type ObjRef = (ObjectKind, ContentId);

/// Read and decode a commit.
pub(crate) fn read_commit(src: &dyn ObjectSource, id: &ContentId) -> Result<Commit> {
    Ok(Commit::decode(&src.read_node(ObjectKind::Commit, id)?)?)
}

/// Read and decode a tree node.
fn read_tree(src: &dyn ObjectSource, id: &ContentId) -> Result<Tree> {
    Ok(Tree::decode(&src.read_node(ObjectKind::Tree, id)?)?)
}

/// A commit's parents, as the ancestor walk reads them.
pub(crate) fn parents(src: &dyn ObjectSource, id: &ContentId) -> Result<Vec<ContentId>> {
    Ok(read_commit(src, id)?.parents)
}

/// What a receiver told about its shallow history, and how deep it asks
/// for more (the "shallow" capability of the negotiation).
#[derive(Clone, Debug, Default)]
pub struct Shallow {
    /// The receiver's boundary commits: it has them, and their trees, but
    /// not their parents, so the walk of what it has stops there.
    pub receiver: BTreeSet<ContentId>,
    /// Send at most this many commits from each tip (`clone --depth`);
    /// `None`: all of the history the receiver lacks.
    pub depth: Option<u32>,
}

/// The answer to a (possibly shallow) negotiation.
#[derive(Clone, Debug, Default)]
pub struct Enumerated {
    /// The objects to send, in dependency order.
    pub objects: Vec<ObjRef>,
    /// Commits sent without their parents: the receiver's new shallow
    /// boundaries, which it records before receiving the pack.
    pub boundaries: Vec<ContentId>,
}

/// The objects needed to give a peer that has the commits `haves` (ids the
/// sender does not hold are ignored) everything reachable from `tips`, in
/// dependency order (what an object refers to comes before it).
pub fn enumerate(src: &dyn ObjectSource, tips: &[ContentId], haves: &[ContentId]) -> Result<Vec<ObjRef>> {
    Ok(enumerate_shallow(src, tips, haves, &Shallow::default())?.objects)
}

/// [`enumerate`] for a receiver that may be shallow or ask for a shallow
/// history: its boundaries end the walk of what it has, and with a depth
/// the commits `depth - 1` steps from a tip (by the shortest path) that
/// have parents the receiver lacks are sent as boundaries, parentless,
/// with their whole trees. A sender that is itself shallow passes its own
/// boundaries on. With no boundaries and no depth this is the plain walk.
pub fn enumerate_shallow(
    src: &dyn ObjectSource,
    tips: &[ContentId],
    haves: &[ContentId],
    shallow: &Shallow,
) -> Result<Enumerated> {
    enumerate_with(src, tips, haves, shallow, None)
}

/// [`enumerate`] for a partial clone: every commit and tree, but only the
/// file contents whose path is in `filter` (`None`: all of them). The
/// server walks the trees (rather than the client naming the contents it
/// wants) so that the client never has to list, nor receive a list of, the
/// contents it does not want: for a directory holding 1% of the files the
/// negotiation stays about 1% of a full one's, plus the trees.
pub fn enumerate_filtered(
    src: &dyn ObjectSource,
    tips: &[ContentId],
    haves: &[ContentId],
    filter: Option<&PathSet>,
) -> Result<Vec<ObjRef>> {
    Ok(enumerate_with(src, tips, haves, &Shallow::default(), filter)?.objects)
}

/// [`enumerate_shallow`] with a partial clone's path set (see
/// [`enumerate_filtered`]): both at once.
pub fn enumerate_with(
    src: &dyn ObjectSource,
    tips: &[ContentId],
    haves: &[ContentId],
    shallow: &Shallow,
    filter: Option<&PathSet>,
) -> Result<Enumerated> {
    let own = src.shallow_boundaries()?;
    let parentless = |c: &ContentId| own.contains(c) || shallow.receiver.contains(c);
    let mut known = Vec::new();
    for h in haves {
        if src.has_object(ObjectKind::Commit, h)? {
            known.push(*h);
        }
    }
    let have_set: HashSet<ContentId> =
        ancestors(known, |c| if parentless(c) { Ok(Vec::new()) } else { parents(src, c) }).collect::<Result<_>>()?;

    // The commits to send, breadth first so each is reached first by its
    // shortest path from a tip (which is what depth counts).
    let mut commits: HashMap<ContentId, Commit> = HashMap::new();
    let mut boundaries: Vec<ContentId> = Vec::new();
    let mut is_boundary: HashSet<ContentId> = HashSet::new();
    let mut dist: HashMap<ContentId, u32> = HashMap::new();
    let mut queue: VecDeque<ContentId> = VecDeque::new();
    for t in tips {
        if !have_set.contains(t) && !dist.contains_key(t) {
            dist.insert(*t, 0);
            queue.push_back(*t);
        }
    }
    while let Some(c) = queue.pop_front() {
        let commit = read_commit(src, &c)?;
        let d = dist[&c];
        let lacking: Vec<ContentId> = commit.parents.iter().filter(|p| !have_set.contains(p)).copied().collect();
        if own.contains(&c) || (!lacking.is_empty() && shallow.depth.is_some_and(|n| d + 1 >= n)) {
            boundaries.push(c);
            is_boundary.insert(c);
        } else {
            for p in lacking {
                if let std::collections::hash_map::Entry::Vacant(v) = dist.entry(p) {
                    v.insert(d + 1);
                    queue.push_back(p);
                }
            }
        }
        commits.insert(c, commit);
    }

    // Parents first, by an iterative post-order walk.
    let mut order: Vec<ContentId> = Vec::new();
    let mut done: HashSet<ContentId> = HashSet::new();
    for tip in tips {
        let mut stack: Vec<(ContentId, bool)> = vec![(*tip, false)];
        while let Some((c, expanded)) = stack.pop() {
            if !commits.contains_key(&c) || done.contains(&c) {
                continue;
            }
            if expanded {
                done.insert(c);
                order.push(c);
                continue;
            }
            stack.push((c, true));
            if !is_boundary.contains(&c) {
                for p in commits[&c].parents.iter().rev() {
                    if commits.contains_key(p) && !done.contains(p) {
                        stack.push((*p, false));
                    }
                }
            }
        }
    }

    let mut walker = Walker { src, seen: HashSet::new(), full: HashSet::new(), filter, out: Vec::new(), read: 0 };
    for c in &order {
        let commit = &commits[c];
        // A boundary goes with its whole tree: the receiver has no parent
        // tree to build on.
        let base = match commit.parents.first() {
            Some(_) if is_boundary.contains(c) => None,
            Some(p) => Some(match commits.get(p) {
                Some(pc) => pc.tree,
                None => read_commit(src, p)?.tree,
            }),
            None => None,
        };
        walker.walk(commit.tree, Old::Node(base), BString::default())?;
        walker.out.push((ObjectKind::Commit, *c));
    }
    Ok(Enumerated { objects: walker.out, boundaries })
}

/// The subset of `objects` that `src` does not hold, in order.
pub fn missing(src: &dyn ObjectSource, objects: &[ObjRef]) -> Result<Vec<ObjRef>> {
    let has = src.has_objects(objects)?;
    Ok(objects.iter().zip(has).filter(|(_, has)| !has).map(|(o, _)| *o).collect())
}

/// What the same directory looked like in the base tree.
#[derive(Clone)]
enum Old {
    /// A node id (or nothing).
    Node(Option<ContentId>),
    /// The merged entries of a bucketed directory, by name (shared by all
    /// its buckets).
    Map(Rc<HashMap<bstr::BString, (EntryKind, ContentId)>>),
}

/// One step of the tree walk. The walk keeps its own stack instead of
/// recursing, so a tree of any depth (a peer may have sent one thousands of
/// levels deep) cannot overflow the thread's stack.
enum Step {
    /// Compare tree `new` at a path with what was there before.
    Enter(ContentId, Old, BString),
    /// Emit a blob at a path (if not emitted yet, and its path is wanted).
    Blob(ContentId, BString),
    /// Everything below `new` is emitted: emit the tree itself (and
    /// whether it was walked wholly inside the filter).
    Exit(ContentId, bool),
}

struct Walker<'r> {
    src: &'r dyn ObjectSource,
    /// Objects emitted.
    seen: HashSet<ContentId>,
    /// Trees walked with every content below them wanted. With a filter a
    /// tree walked outside it (contents skipped) may come again inside
    /// (the same directory at two paths): that one is walked again.
    full: HashSet<ContentId>,
    filter: Option<&'r PathSet>,
    out: Vec<ObjRef>,
    /// Trees read since the store last let go of its mapped pages.
    read: usize,
}

/// Trees read between two [`ObjectSource::release_memory`] calls: the walk
/// of a million files' trees would otherwise keep every database page it
/// touched resident.
const RELEASE_EVERY_TREES: usize = 2048;

/// Where a directory lies with respect to the filter.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Relation {
    /// Every file below it is wanted.
    Inside,
    /// Some files below it are wanted.
    Above,
    /// None is.
    Outside,
}

fn join(dir: &BString, name: &[u8]) -> BString {
    if dir.is_empty() {
        return BString::from(name);
    }
    let mut p = dir.clone();
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

impl Walker<'_> {
    fn entries_of(&self, id: Option<ContentId>) -> Result<HashMap<bstr::BString, (EntryKind, ContentId)>> {
        Ok(match id {
            None => HashMap::new(),
            Some(t) => read_tree(self.src, &t)?
                .into_entries(|id| read_tree(self.src, id))?
                .into_iter()
                .map(|e| (e.name, (e.kind, e.id)))
                .collect(),
        })
    }

    /// Emit every object below `root` that differs from `old`, children
    /// before parents (the order a receiver needs). Steps are pushed in
    /// reverse so that they pop in entry order: the output is what a
    /// depth-first recursion would give.
    fn walk(&mut self, root: ContentId, old: Old, path: BString) -> Result<()> {
        let mut stack = vec![Step::Enter(root, old, path)];
        while let Some(step) = stack.pop() {
            match step {
                Step::Blob(id, path) => {
                    let wanted = self.filter.is_none_or(|f| f.contains_bytes(&path));
                    if wanted && self.seen.insert(id) {
                        self.out.push((ObjectKind::Blob, id));
                    }
                }
                Step::Exit(id, inside) => {
                    if inside {
                        self.full.insert(id);
                    }
                    if self.seen.insert(id) {
                        self.out.push((ObjectKind::Tree, id));
                    }
                }
                Step::Enter(new, old, path) => {
                    if let Old::Node(Some(o)) = old {
                        if o == new {
                            continue;
                        }
                    }
                    let rel = self.relation(&path);
                    let done = match rel {
                        Relation::Inside => self.full.contains(&new),
                        Relation::Outside => self.seen.contains(&new),
                        Relation::Above => false,
                    };
                    if done {
                        continue;
                    }
                    let children = self.children(new, old, &path)?;
                    self.read += 1;
                    if self.read >= RELEASE_EVERY_TREES {
                        self.src.release_memory();
                        self.read = 0;
                    }
                    stack.push(Step::Exit(new, rel == Relation::Inside));
                    stack.extend(children.into_iter().rev());
                }
            }
        }
        Ok(())
    }

    fn relation(&self, dir: &BString) -> Relation {
        let Some(f) = self.filter else { return Relation::Inside };
        if f.contains_bytes(dir) {
            return Relation::Inside;
        }
        let above = f.paths().iter().any(|p| {
            let p = p.as_bytes();
            dir.is_empty() || (p.len() > dir.len() && p.starts_with(dir) && p[dir.len()] == b'/')
        });
        if above {
            Relation::Above
        } else {
            Relation::Outside
        }
    }

    /// The steps below tree `new`, in entry order.
    fn children(&self, new: ContentId, old: Old, path: &BString) -> Result<Vec<Step>> {
        let mut steps = Vec::new();
        match read_tree(self.src, &new)? {
            Tree::Entries(es) => {
                let old_map = match old {
                    Old::Map(m) => m,
                    Old::Node(o) => Rc::new(self.entries_of(o)?),
                };
                for e in es {
                    let before = old_map.get(&e.name);
                    if before == Some(&(e.kind, e.id)) {
                        continue;
                    }
                    match e.kind {
                        EntryKind::Dir => {
                            let base = before.filter(|(k, _)| *k == EntryKind::Dir).map(|(_, id)| *id);
                            steps.push(Step::Enter(e.id, Old::Node(base), join(path, &e.name)));
                        }
                        EntryKind::File => steps.push(Step::Blob(e.id, join(path, &e.name))),
                    }
                }
            }
            Tree::Buckets { bits, buckets } => {
                let old_node = match old {
                    Old::Node(Some(o)) => Some(read_tree(self.src, &o)?),
                    _ => None,
                };
                match (old, old_node) {
                    (_, Some(Tree::Buckets { bits: ob, buckets: obs })) if ob == bits => {
                        // Same split: compare bucket with bucket.
                        let by_idx: HashMap<u32, ContentId> = obs.into_iter().collect();
                        for (idx, b) in buckets {
                            steps.push(Step::Enter(b, Old::Node(by_idx.get(&idx).copied()), path.clone()));
                        }
                    }
                    (Old::Map(m), _) => {
                        for (_, b) in buckets {
                            steps.push(Step::Enter(b, Old::Map(Rc::clone(&m)), path.clone()));
                        }
                    }
                    (Old::Node(o), _) => {
                        // The split changed (or there was no base): compare
                        // every bucket with the whole old directory, loaded once.
                        let m = Rc::new(self.entries_of(o)?);
                        for (_, b) in buckets {
                            steps.push(Step::Enter(b, Old::Map(Rc::clone(&m)), path.clone()));
                        }
                    }
                }
            }
        }
        Ok(steps)
    }
}
