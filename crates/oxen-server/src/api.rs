//! The handlers: one function per route, blocking (LMDB and files), with
//! the request body as a plain `Read` and no HTTP types. The transport
//! (`http.rs`) runs them on a blocking pool.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use oxen_pack::wire::{ChunkListsMsg, IdsMsg, ItemsMsg, ObjectsMsg, UpdateRefsMsg, UpdatedMsg, WantsMsg};
use oxen_pack::{Item, PackSource};
use oxen_repo::Repo;
use oxen_store::{NoProgress, ObjectKind, ObjectSource};
use serde_json::{json, Value};

use crate::error::Fail;
use crate::repos::RepoStore;
use crate::router::Route;
use crate::users::{Access, Caller};

/// JSON control messages are small; this caps them whatever the pack limit.
pub const MAX_JSON_BYTES: u64 = 64 << 20;
/// After refusing a pack, this much more of the body is read and dropped
/// so that a client still sending gets to read why; past it the
/// connection is closed instead.
const DRAIN_MAX: u64 = 64 << 20;

/// Writes a streamed response body.
pub type Producer = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;

/// A handler's answer.
pub enum Reply {
    /// A JSON document with a status.
    Json(u16, Value),
    /// A body produced while it is sent (a pack), status 200.
    Stream {
        /// Its media type.
        content_type: &'static str,
        /// Writes the body.
        produce: Producer,
    },
}

/// What the handlers work on.
pub struct Api {
    /// The repositories.
    pub repos: Arc<dyn RepoStore>,
}

impl Api {
    fn open(&self, name: &str) -> Result<Arc<Repo>, Fail> {
        Ok(self.repos.open(name)?)
    }

    fn place(&self, name: &str) -> Option<PathBuf> {
        self.repos.location(name)
    }

    /// `{"version": ..., "format": ...}`: this server's version and the
    /// store format it writes.
    pub fn version() -> Value {
        json!({ "version": env!("CARGO_PKG_VERSION"), "format": oxen_store::format::FORMAT })
    }

    /// Run the handler of `route` for `caller` (already authorized for
    /// the route by [`crate::auth::authorize`]), reading the request body
    /// from `body`.
    pub fn handle(&self, route: &Route, caller: &Caller, body: &mut dyn Read) -> Result<Reply, Fail> {
        let user = &caller.user;
        match route {
            // The transport answers health itself (with a deadline); this
            // is the same check without one.
            Route::Health => match self.repos.check() {
                Ok(()) => Ok(Reply::Json(200, json!({ "status": "ok" }))),
                Err(e) => Ok(Reply::Json(503, json!({ "status": "unavailable", "failed": [e.to_string()] }))),
            },
            Route::Version => Ok(Reply::Json(200, Api::version())),
            Route::ListRepos => {
                // Only the repositories this token can read.
                let repos: Vec<Value> = self
                    .repos
                    .list()?
                    .into_iter()
                    .filter(|n| caller.scopes.allows(n, Access::Read))
                    .map(|n| json!({ "name": n }))
                    .collect();
                Ok(Reply::Json(200, json!({ "repos": repos })))
            }
            Route::CreateRepo => {
                #[derive(serde::Deserialize)]
                struct Create {
                    name: String,
                }
                let c: Create = read_json(body)?;
                crate::auth::authorize_create(caller, &c.name)?;
                self.repos.create(&c.name)?;
                Ok(Reply::Json(201, json!({ "name": c.name })))
            }
            Route::RepoInfo(name) => {
                let repo = self.open(name)?;
                let branches = repo.refs().branches().map_err(|e| Fail::internal(&e, None))?;
                Ok(Reply::Json(200, json!({"name": name, "head": local_head(&repo), "branches": branches.len()})))
            }
            Route::DeleteRepo(name) => {
                self.repos.delete(name)?;
                Ok(Reply::Json(200, json!({ "deleted": name })))
            }
            Route::GetRefs(name) => {
                let repo = self.open(name)?;
                let mut refs = serde_json::Map::new();
                for (n, id) in repo.refs().all().map_err(|e| Fail::internal(&e, None))? {
                    if n.is_pushable() {
                        refs.insert(n.to_string(), Value::String(id.to_hex()));
                    }
                }
                Ok(Reply::Json(200, json!({"head": local_head(&repo), "refs": refs})))
            }
            Route::Missing(name) => {
                let repo = self.open(name)?;
                let msg: ObjectsMsg = read_json(body)?;
                let place = self.place(name);
                let objs = msg.to_refs().map_err(|e| Fail::pack(e, place.as_deref()))?;
                let missing = oxen_pack::missing(&*repo, &objs).map_err(|e| Fail::pack(e, place.as_deref()))?;
                Ok(Reply::Json(200, to_json(&ObjectsMsg::from_refs(&missing))))
            }
            Route::ReceivePack(name) => {
                let repo = self.open(name)?;
                // Its own operation on the shared repository: a failed block
                // seal that drops what this push wrote fails this push.
                match oxen_pack::receive_pack(&repo.operation(), &mut *body, &NoProgress) {
                    Ok(stats) => Ok(Reply::Json(200, to_json(&stats))),
                    Err(e) => {
                        // Let a client that is still sending finish, so it
                        // can read why it was refused.
                        drain(body);
                        Err(Fail::pack(e, self.place(name).as_deref()))
                    }
                }
            }
            Route::UpdateRefs(name) => {
                let repo = self.open(name)?;
                let msg: UpdateRefsMsg = read_json(body)?;
                // Logged as the user who pushed, not whoever runs the server.
                let refs = repo.refs().acting_as(oxen_refs::Ident::new(&user.name, &user.email));
                let updated = oxen_pack::apply_ref_updates(&*repo, &refs, &msg.updates, msg.force)
                    .map_err(|e| Fail::pack(e, self.place(name).as_deref()))?;
                Ok(Reply::Json(200, to_json(&UpdatedMsg { updated })))
            }
            Route::UploadPack(name) => {
                let repo = self.open(name)?;
                let msg: WantsMsg = read_json(body)?;
                let objects = enumerate_wants(&repo, &msg)?;
                let produce: Producer = Box::new(move |out: &mut dyn Write| {
                    let mut src = PackSource::new(&*repo, objects);
                    io::copy(&mut src, out).map(|_| ())
                });
                Ok(Reply::Stream { content_type: "application/x-oxen-pack", produce })
            }
            Route::Enumerate(name) => {
                let repo = self.open(name)?;
                let msg: WantsMsg = read_json(body)?;
                let found = enumerate_shallow_wants(&repo, &msg)?;
                repo.release_memory();
                // Written id by id (the JSON of an `ObjectsMsg`): a JSON
                // value of a million files' ids would be ten times their
                // size. `shallow` is always present: it tells the client
                // this server honours depth.
                let produce: Producer = Box::new(move |out: &mut dyn Write| {
                    let mut out = io::BufWriter::with_capacity(64 << 10, out);
                    oxen_pack::wire::write_objects_json(&mut out, &found.objects, Some(&found.boundaries))?;
                    out.flush()
                });
                Ok(Reply::Stream { content_type: "application/json", produce })
            }
            Route::ChunksMissing(name) => {
                let repo = self.open(name)?;
                let msg: IdsMsg = read_json(body)?;
                let ids = msg.parsed().map_err(|e| Fail::pack(e, None))?;
                let missing = repo.missing_contents(&ids).map_err(|e| Fail::internal(&e, None))?;
                // This server reads version-3 packs: say so, and the
                // client sends compressed chunks as they are stored.
                let answer = IdsMsg { stored_chunks: true, ..IdsMsg::from_ids(&missing) };
                Ok(Reply::Json(200, to_json(&answer)))
            }
            Route::ChunkLists(name) => {
                let repo = self.open(name)?;
                let msg: IdsMsg = read_json(body)?;
                let ids = msg.parsed().map_err(|e| Fail::pack(e, None))?;
                // Their locations in one query, not one each.
                repo.prefetch(&ids).map_err(|e| Fail::internal(&e, None))?;
                let mut lists = Vec::new();
                for id in ids {
                    match repo.chunk_list(&id) {
                        Ok(Some(l)) => lists.push((id, l)),
                        Ok(None) => {}
                        Err(oxen_store::StoreError::MissingObject(id)) => {
                            return Err(Fail::new(404, format!("contents {id} not found")))
                        }
                        Err(e) => return Err(Fail::internal(&e, None)),
                    }
                }
                Ok(Reply::Json(200, to_json(&ChunkListsMsg::from_lists(&lists))))
            }
            Route::UploadItems(name) => {
                let repo = self.open(name)?;
                let msg: ItemsMsg = read_json(body)?;
                let items = msg.parsed().map_err(|e| Fail::pack(e, None))?;
                let stored_chunks = msg.stored_chunks;
                // Everything asked for must be here before the stream
                // starts: a 404 now is clearer than a pack cut short.
                // Objects and chunks in one batch (a lookup each is a
                // round trip on PostgreSQL).
                let (asked, objects): (Vec<&Item>, Vec<(ObjectKind, oxen_hash::ContentId)>) = items
                    .iter()
                    .filter_map(|i| match i {
                        Item::Object(k, id) => Some((i, (*k, *id))),
                        Item::Chunk(id) => Some((i, (ObjectKind::Blob, *id))),
                        Item::ChunkList(_) => None,
                    })
                    .unzip();
                let found = repo.has_objects(&objects).map_err(|e| Fail::internal(&e, None))?;
                repo.release_memory();
                if let Some((item, _)) = asked.iter().zip(&found).find(|(_, f)| !**f) {
                    return Err(Fail::new(404, format!("{} {} not found", item.kind_name(), item.id())));
                }
                for item in &items {
                    let ok = match item {
                        Item::Object(..) | Item::Chunk(_) => Ok(true),
                        Item::ChunkList(id) => match repo.chunk_list(id) {
                            Ok(l) => Ok(l.is_some()),
                            Err(oxen_store::StoreError::MissingObject(_)) => Ok(false),
                            Err(e) => Err(e),
                        },
                    }
                    .map_err(|e| Fail::internal(&e, None))?;
                    if !ok {
                        return Err(Fail::new(404, format!("{} {} not found", item.kind_name(), item.id())));
                    }
                }
                let produce: Producer = Box::new(move |out: &mut dyn Write| {
                    let mut src = PackSource::from_items(&*repo, items).with_stored_chunks(stored_chunks);
                    io::copy(&mut src, out).map(|_| ())
                });
                Ok(Reply::Stream { content_type: "application/x-oxen-pack", produce })
            }
        }
    }
}

/// [`enumerate_wants`] honouring the client's shallow boundaries and the
/// depth it asks for (`enumerate` only: the one-shot `upload-pack` has no
/// way to tell the client its boundaries before the pack).
fn enumerate_shallow_wants(repo: &Repo, msg: &WantsMsg) -> Result<oxen_pack::Enumerated, Fail> {
    let bad = |e| Fail::pack(e, None);
    if msg.depth == Some(0) {
        return Err(Fail::new(400, "depth must be at least 1".to_string()));
    }
    let wants = oxen_pack::wire::parse_ids(&msg.wants).map_err(bad)?;
    let haves = oxen_pack::wire::parse_ids(&msg.haves).map_err(bad)?;
    let receiver = oxen_pack::wire::parse_ids(&msg.shallow).map_err(bad)?.into_iter().collect();
    for w in &wants {
        let has = repo.db.has_object(oxen_store::Table::Commits, w).map_err(|e| Fail::internal(&e, None))?;
        if !has {
            return Err(Fail::new(404, format!("commit {w} not found")));
        }
    }
    let shallow = oxen_pack::Shallow { receiver, depth: msg.depth };
    // A partial clone's paths: contents only under them.
    let filter = oxen_pack::wire::filter_from_wire(&msg.filter).map_err(bad)?;
    oxen_pack::enumerate_with(repo, &wants, &haves, &shallow, filter.as_ref()).map_err(bad)
}

/// The objects a fetch of `msg.wants` needs given `msg.haves` (404 for a
/// want that is not here).
fn enumerate_wants(repo: &Repo, msg: &WantsMsg) -> Result<Vec<oxen_pack::ObjRef>, Fail> {
    let bad = |e| Fail::pack(e, None);
    let wants = oxen_pack::wire::parse_ids(&msg.wants).map_err(bad)?;
    let haves = oxen_pack::wire::parse_ids(&msg.haves).map_err(bad)?;
    for w in &wants {
        let has = repo.db.has_object(oxen_store::Table::Commits, w).map_err(|e| Fail::internal(&e, None))?;
        if !has {
            return Err(Fail::new(404, format!("commit {w} not found")));
        }
    }
    let filter = oxen_pack::wire::filter_from_wire(&msg.filter).map_err(bad)?;
    oxen_pack::enumerate_filtered(repo, &wants, &haves, filter.as_ref()).map_err(bad)
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn read_json<T: serde::de::DeserializeOwned>(body: &mut dyn Read) -> Result<T, Fail> {
    let mut buf = Vec::new();
    body.take(MAX_JSON_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Fail::new(400, format!("reading request body: {e}")))?;
    if buf.len() as u64 > MAX_JSON_BYTES {
        return Err(Fail::new(413, format!("JSON body over the {MAX_JSON_BYTES} byte limit")));
    }
    serde_json::from_slice(&buf).map_err(|e| Fail::new(400, format!("invalid JSON body: {e}")))
}

/// Read and drop up to [`DRAIN_MAX`] more bytes of the body.
fn drain(body: &mut dyn Read) {
    let _ = io::copy(&mut body.take(DRAIN_MAX), &mut io::sink());
}

fn local_head(repo: &Repo) -> Option<String> {
    match repo.head() {
        Ok(h) => h.branch_ref().map(|r| r.to_string()),
        _ => None,
    }
}
