//! JSON control messages shared by the server and the client.

use std::collections::BTreeMap;

use oxen_hash::ContentId;
use serde::{Deserialize, Serialize};

use crate::negotiate::ObjRef;
use crate::refs::{RefUpdateReq, RefUpdateResult};
use crate::{PackError, Result};
use oxen_store::ObjectKind;

/// `GET .../refs`: the repository's refs and HEAD.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefsMsg {
    /// The ref HEAD names (`heads/main`), if HEAD is on a branch.
    pub head: Option<String>,
    /// Full ref name -> commit id (hex).
    pub refs: BTreeMap<String, String>,
}

impl RefsMsg {
    /// Refs with parsed ids; malformed entries are an error.
    pub fn parsed(&self) -> Result<BTreeMap<String, ContentId>> {
        self.refs
            .iter()
            .map(|(k, v)| Ok((k.clone(), ContentId::from_hex(v).map_err(|e| PackError::BadRequest(e.to_string()))?)))
            .collect()
    }
}

/// `POST .../missing` request and response: objects as `[kind, hex id]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectsMsg {
    /// Objects.
    pub objects: Vec<(String, String)>,
    /// In an `enumerate` answer: the commits sent without their parents
    /// (the client's new shallow boundaries, hex). Present (possibly
    /// empty) from every server that honours `depth` and `shallow` in
    /// the request: the "shallow" capability. Absent from older servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shallow: Option<Vec<String>>,
}

impl ObjectsMsg {
    /// Encode a list of objects.
    pub fn from_refs(objs: &[ObjRef]) -> ObjectsMsg {
        ObjectsMsg { objects: objs.iter().map(|(k, id)| (k.name().to_string(), id.to_hex())).collect(), shallow: None }
    }
    /// Decode, rejecting unknown kinds and malformed ids.
    pub fn to_refs(&self) -> Result<Vec<ObjRef>> {
        self.objects
            .iter()
            .map(|(k, id)| {
                let kind = ObjectKind::from_name(k)
                    .ok_or_else(|| PackError::BadRequest(format!("unknown object kind '{k}'")))?;
                let id = ContentId::from_hex(id).map_err(|e| PackError::BadRequest(e.to_string()))?;
                Ok((kind, id))
            })
            .collect()
    }
}

/// An `enumerate` answer read compactly: the objects straight into
/// [`ObjRef`]s (17 bytes each) as the JSON is parsed, instead of a pair of
/// `String`s each (over 100 bytes) that [`ObjectsMsg`] holds. A clone of a
/// million files receives a million of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ObjectRefsMsg {
    /// The objects, in the order sent.
    #[serde(deserialize_with = "de_refs")]
    pub objects: Vec<ObjRef>,
    /// As [`ObjectsMsg::shallow`].
    #[serde(default)]
    pub shallow: Option<Vec<String>>,
}

fn de_refs<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<ObjRef>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<ObjRef>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of [kind, hex id] pairs")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(WireRef(r)) = seq.next_element()? {
                out.push(r);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(V)
}

/// One `[kind, hex id]` pair parsed as it is read.
struct WireRef(ObjRef);

impl<'de> Deserialize<'de> for WireRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = WireRef;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a [kind, hex id] pair")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<WireRef, A::Error> {
                use serde::de::Error;
                let k: std::borrow::Cow<'de, str> =
                    seq.next_element()?.ok_or_else(|| A::Error::invalid_length(0, &self))?;
                let id: std::borrow::Cow<'de, str> =
                    seq.next_element()?.ok_or_else(|| A::Error::invalid_length(1, &self))?;
                if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(A::Error::invalid_length(3, &self));
                }
                let kind =
                    ObjectKind::from_name(&k).ok_or_else(|| A::Error::custom(format!("unknown object kind '{k}'")))?;
                let id = ContentId::from_hex(&id).map_err(A::Error::custom)?;
                Ok(WireRef((kind, id)))
            }
        }
        d.deserialize_seq(V)
    }
}

/// Write `objects` (and `shallow`) as the JSON of an [`ObjectsMsg`], one
/// object at a time: a server answering `enumerate` for a million files
/// holds the ids, not a document of them.
pub fn write_objects_json(
    out: &mut dyn std::io::Write,
    objects: &[ObjRef],
    shallow: Option<&[ContentId]>,
) -> std::io::Result<()> {
    out.write_all(b"{\"objects\":[")?;
    for (i, (kind, id)) in objects.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        write!(out, "[\"{}\",\"{}\"]", kind.name(), id.to_hex())?;
    }
    out.write_all(b"]")?;
    if let Some(s) = shallow {
        out.write_all(b",\"shallow\":[")?;
        for (i, id) in s.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            write!(out, "\"{}\"", id.to_hex())?;
        }
        out.write_all(b"]")?;
    }
    out.write_all(b"}")
}

/// `POST .../refs`: ref updates to apply after a pack.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateRefsMsg {
    /// The updates, applied atomically.
    pub updates: Vec<RefUpdateReq>,
    /// Skip the fast-forward and old-value checks.
    #[serde(default)]
    pub force: bool,
}

/// Response to [`UpdateRefsMsg`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatedMsg {
    /// What changed.
    pub updated: Vec<RefUpdateResult>,
}

/// `POST .../upload-pack`: what the client wants and what it already has.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WantsMsg {
    /// Commit ids to send, with their closures.
    pub wants: Vec<String>,
    /// Commit ids the client has (their closures are not sent).
    #[serde(default)]
    pub haves: Vec<String>,
    /// `enumerate` only: at most this many commits from each want
    /// (`clone --depth`, `fetch --depth`/`--deepen`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    /// `enumerate` only: the client's shallow boundary commits (hex): it
    /// has them but not their parents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shallow: Vec<String>,
    /// A partial clone's paths (hex of their bytes: a path may hold any
    /// byte): only file contents under them are sent. Empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filter: Vec<String>,
}

/// A path set in wire form (hex of each path's bytes).
pub fn filter_to_wire(set: &oxen_path::PathSet) -> Vec<String> {
    set.paths().iter().map(|p| p.as_bytes().iter().map(|b| format!("{b:02x}")).collect()).collect()
}

/// A path set from wire form; `None` for an empty list (no filter).
pub fn filter_from_wire(hex: &[String]) -> Result<Option<oxen_path::PathSet>> {
    if hex.is_empty() {
        return Ok(None);
    }
    let mut paths = Vec::new();
    for h in hex {
        let bad = || PackError::BadRequest(format!("bad filter path '{h}'"));
        if !h.len().is_multiple_of(2) {
            return Err(bad());
        }
        let bytes: Vec<u8> = (0..h.len())
            .step_by(2)
            .map(|i| h.get(i..i + 2).and_then(|x| u8::from_str_radix(x, 16).ok()))
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        paths.push(oxen_path::RepoPath::new(bytes).map_err(|e| PackError::BadRequest(e.to_string()))?);
    }
    Ok(Some(oxen_path::PathSet::new(paths)))
}

/// Parse a list of hex ids.
pub fn parse_ids(ids: &[String]) -> Result<Vec<ContentId>> {
    ids.iter().map(|s| ContentId::from_hex(s).map_err(|e| PackError::BadRequest(e.to_string()))).collect()
}

/// Repository names a server accepts: `[A-Za-z0-9._-]`, not starting with
/// `.` (the server keeps its own state in dot-directories), no `..`, at
/// most 100 characters.
pub fn valid_repo_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && !name.contains("..")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// Most ids one chunk-level request may carry (the client batches): keeps
/// one request's work and response bounded whatever the JSON limit.
pub const MAX_IDS_PER_REQUEST: usize = 100_000;

/// `POST .../chunks/missing` request and response (chunk ids as hex), and
/// `POST .../chunks/lists` request (file ids).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdsMsg {
    /// Ids.
    pub ids: Vec<String>,
    /// In a `chunks/missing` answer: the server reads packs of version 3,
    /// so chunks may be sent in their stored encoding (frame 6). Absent
    /// (false) from older servers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stored_chunks: bool,
}

impl IdsMsg {
    /// Encode ids.
    pub fn from_ids(ids: &[ContentId]) -> IdsMsg {
        IdsMsg { ids: ids.iter().map(|i| i.to_hex()).collect(), stored_chunks: false }
    }

    /// Decode, refusing malformed ids and more than [`MAX_IDS_PER_REQUEST`].
    pub fn parsed(&self) -> Result<Vec<ContentId>> {
        if self.ids.len() > MAX_IDS_PER_REQUEST {
            return Err(PackError::BadRequest(format!(
                "{} ids in one request, over the limit of {MAX_IDS_PER_REQUEST}",
                self.ids.len()
            )));
        }
        parse_ids(&self.ids)
    }
}

/// `POST .../chunks/lists` response: for each asked-for file stored
/// chunked, its id and its chunk list (the canonical encoding, as hex).
/// Files stored whole are left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkListsMsg {
    /// `(file id, encoded chunk list)`, both hex.
    pub lists: Vec<(String, String)>,
}

impl ChunkListsMsg {
    /// Encode.
    pub fn from_lists(lists: &[(ContentId, oxen_store::ChunkList)]) -> ChunkListsMsg {
        ChunkListsMsg { lists: lists.iter().map(|(id, l)| (id.to_hex(), to_hex(&l.encode()))).collect() }
    }

    /// Decode, refusing malformed ids and lists.
    pub fn parsed(&self) -> Result<Vec<(ContentId, oxen_store::ChunkList)>> {
        self.lists
            .iter()
            .map(|(id, l)| {
                let id = ContentId::from_hex(id).map_err(|e| PackError::BadRequest(e.to_string()))?;
                let bytes =
                    from_hex(l).ok_or_else(|| PackError::BadRequest(format!("chunk list of {id} is not hex")))?;
                let list = oxen_store::ChunkList::decode(&bytes)
                    .map_err(|e| PackError::BadObject(id, format!("chunk list: {e}")))?;
                Ok((id, list))
            })
            .collect()
    }
}

/// `POST .../upload-items`: exactly these frames, in this order (objects,
/// chunks, chunk lists), as `[kind, hex id]` with kinds as in
/// [`crate::Item::kind_name`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemsMsg {
    /// The frames.
    pub items: Vec<(String, String)>,
    /// The client reads packs of version 3: send chunks stored compressed
    /// in their stored encoding (frame 6). Absent (false) from older clients.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stored_chunks: bool,
}

impl ItemsMsg {
    /// Encode.
    pub fn from_items(items: &[crate::Item]) -> ItemsMsg {
        ItemsMsg {
            items: items.iter().map(|i| (i.kind_name().to_string(), i.id().to_hex())).collect(),
            stored_chunks: false,
        }
    }

    /// Decode, rejecting unknown kinds and malformed ids.
    pub fn parsed(&self) -> Result<Vec<crate::Item>> {
        self.items
            .iter()
            .map(|(k, id)| {
                let id = ContentId::from_hex(id).map_err(|e| PackError::BadRequest(e.to_string()))?;
                crate::Item::from_name(k, id).ok_or_else(|| PackError::BadRequest(format!("unknown item kind '{k}'")))
            })
            .collect()
    }
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_objects_json_is_an_objects_msg_and_reads_back_compactly() {
        let objs: Vec<ObjRef> = vec![
            (ObjectKind::Blob, ContentId::of(b"a")),
            (ObjectKind::Tree, ContentId::of(b"b")),
            (ObjectKind::Commit, ContentId::of(b"c")),
        ];
        for shallow in [None, Some(vec![ContentId::of(b"c")])] {
            let mut out = Vec::new();
            write_objects_json(&mut out, &objs, shallow.as_deref()).unwrap();
            let mut expected = ObjectsMsg::from_refs(&objs);
            expected.shallow = shallow.as_ref().map(|s| s.iter().map(|i| i.to_hex()).collect());
            let as_msg: ObjectsMsg = serde_json::from_slice(&out).unwrap();
            assert_eq!(as_msg, expected);
            let compact: ObjectRefsMsg = serde_json::from_reader(&out[..]).unwrap();
            assert_eq!(compact.objects, objs);
            assert_eq!(compact.shallow, expected.shallow);
        }
        let mut empty = Vec::new();
        write_objects_json(&mut empty, &[], None).unwrap();
        assert_eq!(serde_json::from_slice::<ObjectRefsMsg>(&empty).unwrap(), ObjectRefsMsg::default());
    }

    #[test]
    fn compact_objects_refuse_bad_kinds_ids_and_shapes() {
        for bad in [
            r#"{"objects":[["bolb","00000000000000000000000000000000"]]}"#,
            r#"{"objects":[["blob","zz"]]}"#,
            r#"{"objects":[["blob"]]}"#,
            r#"{"objects":[["blob","00000000000000000000000000000000","x"]]}"#,
            r#"{"objects":{}}"#,
        ] {
            assert!(serde_json::from_str::<ObjectRefsMsg>(bad).is_err(), "{bad}");
        }
    }
}
