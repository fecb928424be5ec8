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
}

impl ObjectsMsg {
    /// Encode a list of objects.
    pub fn from_refs(objs: &[ObjRef]) -> ObjectsMsg {
        ObjectsMsg { objects: objs.iter().map(|(k, id)| (k.name().to_string(), id.to_hex())).collect() }
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
