//! Chunk-level sync: which frames to send for file contents the receiver
//! lacks, when the sender stores them chunked.
//!
//! After the object negotiation says which blobs the receiver lacks, the
//! side that knows both ends works out the frames: a blob stored whole is
//! sent whole; a chunked one becomes the chunks the receiver lacks (each
//! once per pack, however many files share it) followed by its chunk list.
//! Push asks the server which chunks it lacks; fetch asks the server for
//! the chunk lists and looks the chunks up in the local store.

use std::collections::{HashMap, HashSet};

use oxen_hash::ContentId;
use oxen_store::{ChunkList, ObjectKind};

use crate::format::Item;
use crate::negotiate::ObjRef;

/// How many chunks a pack carries, and how many it could leave out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkCounts {
    /// Chunk frames in the pack.
    pub sent: u64,
    /// Chunks of the files sent that the receiver already had (or that an
    /// earlier file in the same pack carried).
    pub reused: u64,
}

/// The distinct chunk ids of `lists`, in first-seen order.
pub fn chunk_ids<'a>(lists: impl IntoIterator<Item = &'a ChunkList>) -> Vec<ContentId> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for l in lists {
        for c in l.chunks() {
            if seen.insert(c.id) {
                out.push(c.id);
            }
        }
    }
    out
}

/// The frames for `objects` (in dependency order): each blob with an entry
/// in `lists` becomes the chunks in `lacking` it names, not sent earlier
/// in this pack, then its chunk list; everything else is sent as is.
pub fn plan(
    objects: &[ObjRef],
    lists: &HashMap<ContentId, ChunkList>,
    lacking: &HashSet<ContentId>,
) -> (Vec<Item>, ChunkCounts) {
    let mut items = Vec::with_capacity(objects.len());
    let mut sent: HashSet<ContentId> = HashSet::new();
    let mut counts = ChunkCounts::default();
    for (kind, id) in objects {
        let list = if *kind == ObjectKind::Blob { lists.get(id) } else { None };
        let Some(list) = list else {
            items.push(Item::Object(*kind, *id));
            continue;
        };
        for c in list.chunks() {
            if lacking.contains(&c.id) && sent.insert(c.id) {
                items.push(Item::Chunk(c.id));
                counts.sent += 1;
            } else {
                counts.reused += 1;
            }
        }
        items.push(Item::ChunkList(*id));
    }
    (items, counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxen_store::ChunkRef;

    fn id(n: u8) -> ContentId {
        ContentId::of(&[n])
    }

    #[test]
    fn chunked_blobs_become_their_lacking_chunks_then_the_list() {
        let l1 = ChunkList::new(vec![ChunkRef { id: id(1), len: 1 }, ChunkRef { id: id(2), len: 1 }]).unwrap();
        let l2 = ChunkList::new(vec![ChunkRef { id: id(2), len: 1 }, ChunkRef { id: id(3), len: 1 }]).unwrap();
        let lists = HashMap::from([(id(10), l1), (id(11), l2)]);
        let lacking = HashSet::from([id(2), id(3)]);
        let objs = vec![
            (ObjectKind::Blob, id(10)),
            (ObjectKind::Blob, id(11)),
            (ObjectKind::Blob, id(12)),
            (ObjectKind::Tree, id(13)),
        ];
        let (items, counts) = plan(&objs, &lists, &lacking);
        assert_eq!(
            items,
            vec![
                Item::Chunk(id(2)),
                Item::ChunkList(id(10)),
                Item::Chunk(id(3)),
                Item::ChunkList(id(11)),
                Item::Object(ObjectKind::Blob, id(12)),
                Item::Object(ObjectKind::Tree, id(13)),
            ]
        );
        assert_eq!(counts, ChunkCounts { sent: 2, reused: 2 });
        assert_eq!(chunk_ids(lists.get(&id(10)).into_iter().chain(lists.get(&id(11)))), vec![id(1), id(2), id(3)]);
    }
}
