//! Oxen's sync client: talk to an `oxen-server` over HTTP (ureq), or to
//! another repository by its local path (handy for tests and for
//! ssh-mounted or shared-disk setups), and build push, fetch and clone on
//! top of the pack logic in `oxen-pack`.
//!
//! A remote URL is `http(s)://host:port/<RepoName>`; anything else is taken
//! as a path to a repository's work tree.

mod http;
mod ops;

pub use http::{timeout_from_env, HttpRemote, DEFAULT_TIMEOUT};
pub use ops::{
    add_remote, clone, delete_remote_refs, fetch, fetch_objects, plan_one_way, push, resolve_remote, CloneReport,
    FetchOptions, FetchReport, PushOutcome, PushReport, RefChange,
};
pub use ops::{clone_with, fetch_objects_shallow, CloneOptions, TagMode};

use std::collections::BTreeMap;
use std::path::PathBuf;

use oxen_hash::ContentId;
use oxen_pack::wire::RefsMsg;
use oxen_pack::{Item, ObjRef, PackSource, ReceiveStats, RefUpdateReq, RefUpdateResult};
use oxen_refs::{BranchName, RefName, TagName};
use oxen_repo::Repo;
use oxen_store::{ChunkList, NoProgress, ObjectSource, Progress};

/// Errors talking to a remote.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The server answered with an error status.
    #[error("{0}")]
    Http(String),
    /// The connection failed.
    #[error("cannot reach {url}: {msg}")]
    Transport {
        /// The URL that was asked.
        url: String,
        /// The transport's complaint.
        msg: String,
    },
    /// A pack or ref-update problem (local or reported).
    #[error(transparent)]
    Pack(#[from] oxen_pack::PackError),
    /// Local repository failure.
    #[error(transparent)]
    Repo(#[from] oxen_repo::RepoError),
    /// Store failure.
    #[error(transparent)]
    Store(#[from] oxen_store::StoreError),
    /// Ref failure.
    #[error(transparent)]
    Ref(#[from] oxen_refs::RefError),
    /// Anything else worth one line.
    #[error("{0}")]
    Other(String),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, RemoteError>;

/// A remote's refs.
#[derive(Clone, Debug, Default)]
pub struct RemoteRefs {
    /// The ref HEAD names (`heads/main`), when on a branch.
    pub head: Option<RefName>,
    /// Ref -> commit.
    pub refs: BTreeMap<RefName, ContentId>,
}

impl RemoteRefs {
    /// The branch a clone should check out: HEAD's if it exists, else
    /// `main`, else the first branch.
    pub fn default_branch(&self) -> Option<BranchName> {
        if let Some(h) = &self.head {
            if self.refs.contains_key(h) {
                return h.as_branch();
            }
        }
        if let Ok(main) = BranchName::new("main") {
            if self.refs.contains_key(&main.to_ref()) {
                return Some(main);
            }
        }
        self.refs.keys().find_map(RefName::as_branch)
    }

    /// The remote's branches and their tips.
    pub fn branches(&self) -> impl Iterator<Item = (BranchName, ContentId)> + '_ {
        self.refs.iter().filter_map(|(k, v)| Some((k.as_branch()?, *v)))
    }

    /// The remote's tags and their commits.
    pub fn tags(&self) -> impl Iterator<Item = (TagName, ContentId)> + '_ {
        self.refs.iter().filter_map(|(k, v)| Some((k.as_tag()?, *v)))
    }
}

/// Where a remote lives.
pub enum Remote {
    /// An `oxen-server`.
    Http(HttpRemote),
    /// Another repository on this machine, opened in-process.
    Local(Box<Repo>),
}

impl Remote {
    /// Connect to a URL or open a local path. HTTP remotes use the token
    /// [`token_for`] the URL's server.
    pub fn open(url: &str) -> Result<Remote> {
        if url.starts_with("http://") || url.starts_with("https://") {
            Ok(Remote::Http(HttpRemote::new(url, token_for(url))?))
        } else {
            let p = PathBuf::from(url);
            let repo = Repo::open(&p)
                .map_err(|e| RemoteError::Other(format!("'{url}' is not a URL or a repository path: {e}")))?;
            Ok(Remote::Local(Box::new(repo)))
        }
    }

    /// The remote's refs.
    pub fn list_refs(&self) -> Result<RemoteRefs> {
        let msg = match self {
            Remote::Http(h) => h.refs()?,
            Remote::Local(r) => local_refs(r)?,
        };
        let bad = |e: oxen_refs::RefError| RemoteError::Other(format!("the remote sent a bad ref name: {e}"));
        let head = msg.head.as_deref().map(RefName::new).transpose().map_err(bad)?;
        let mut refs = BTreeMap::new();
        for (name, id) in msg.parsed()? {
            refs.insert(RefName::new(name).map_err(bad)?, id);
        }
        Ok(RemoteRefs { head, refs })
    }

    /// Which of `objects` the remote lacks.
    pub fn missing(&self, objects: &[ObjRef]) -> Result<Vec<ObjRef>> {
        match self {
            Remote::Http(h) => h.missing(objects),
            Remote::Local(r) => Ok(oxen_pack::missing(&**r, objects)?),
        }
    }

    /// Stream `objects` from `local` to the remote.
    pub fn send_pack(&self, local: &Repo, objects: Vec<ObjRef>, progress: &dyn Progress) -> Result<ReceiveStats> {
        let src = PackSource::new(local, objects).with_progress(progress);
        match self {
            Remote::Http(h) => h.send_pack(src),
            Remote::Local(r) => Ok(oxen_pack::receive_pack(&**r, src, &NoProgress)?),
        }
    }

    /// Stream exactly `items` (objects, chunks, chunk lists, dependencies
    /// first) from `local` to the remote; chunks stored compressed travel
    /// in their stored encoding when `stored_chunks` (the remote said it
    /// reads them).
    pub fn send_items(
        &self,
        local: &Repo,
        items: Vec<Item>,
        stored_chunks: bool,
        progress: &dyn Progress,
    ) -> Result<ReceiveStats> {
        let src = PackSource::from_items(local, items).with_stored_chunks(stored_chunks).with_progress(progress);
        match self {
            Remote::Http(h) => h.send_pack(src),
            Remote::Local(r) => Ok(oxen_pack::receive_pack(&**r, src, &NoProgress)?),
        }
    }

    /// Which of the chunks `ids` the remote lacks, and whether it reads
    /// chunks in their stored encoding.
    pub fn missing_chunks(&self, ids: &[ContentId]) -> Result<(Vec<ContentId>, bool)> {
        match self {
            Remote::Http(h) => h.missing_chunks(ids),
            Remote::Local(r) => Ok((r.missing_contents(ids)?, true)),
        }
    }

    /// The chunk lists of those of the file contents `ids` the remote
    /// stores chunked.
    pub fn chunk_lists(&self, ids: &[ContentId]) -> Result<Vec<(ContentId, ChunkList)>> {
        match self {
            Remote::Http(h) => h.chunk_lists(ids),
            Remote::Local(r) => {
                let mut out = Vec::new();
                for id in ids {
                    if let Some(l) = r.chunk_list(id)? {
                        out.push((*id, l));
                    }
                }
                Ok(out)
            }
        }
    }

    /// The objects the remote would send for `wants` to a repository that
    /// has `haves`, in dependency order.
    pub fn enumerate(&self, wants: &[ContentId], haves: &[ContentId]) -> Result<Vec<ObjRef>> {
        match self {
            Remote::Http(h) => h.enumerate(wants, haves),
            Remote::Local(r) => Ok(oxen_pack::enumerate(&**r, wants, haves)?),
        }
    }

    /// [`Remote::enumerate`] for a shallow receiver or a shallow fetch
    /// (see [`oxen_pack::enumerate_shallow`]). A server that does not
    /// honour the request is an error when one was made: a client that
    /// asked for a depth must not take the whole history unawares, and one
    /// with boundaries could be sent trees built on commits it lacks.
    pub fn enumerate_shallow(
        &self,
        wants: &[ContentId],
        haves: &[ContentId],
        shallow: &oxen_pack::Shallow,
    ) -> Result<oxen_pack::Enumerated> {
        match self {
            Remote::Http(h) => match h.enumerate_shallow(wants, haves, shallow)? {
                (objects, Some(boundaries)) => Ok(oxen_pack::Enumerated { objects, boundaries }),
                (objects, None) if shallow.depth.is_none() && shallow.receiver.is_empty() => {
                    Ok(oxen_pack::Enumerated { objects, boundaries: Vec::new() })
                }
                (_, None) => Err(RemoteError::Other(
                    "the server does not support shallow fetches (--depth, or fetching into a shallow clone): upgrade oxen-server".into(),
                )),
            },
            Remote::Local(r) => Ok(oxen_pack::enumerate_shallow(&**r, wants, haves, shallow)?),
        }
    }

    /// Receive into `local` a pack of exactly `items` from the remote.
    pub fn fetch_items(&self, local: &Repo, items: Vec<Item>, progress: &dyn Progress) -> Result<ReceiveStats> {
        match self {
            Remote::Http(h) => h.fetch_items(local, &items, progress),
            Remote::Local(r) => {
                let src = PackSource::from_items(&**r, items).with_stored_chunks(true);
                Ok(oxen_pack::receive_pack(local, src, progress)?)
            }
        }
    }

    /// Apply ref updates on the remote (compare-and-swap, fast-forward only unless `force`).
    pub fn update_refs(&self, updates: Vec<RefUpdateReq>, force: bool) -> Result<Vec<RefUpdateResult>> {
        match self {
            Remote::Http(h) => h.update_refs(updates, force),
            Remote::Local(r) => Ok(oxen_pack::apply_ref_updates(&**r, &r.refs(), &updates, force)?),
        }
    }

    /// Receive into `local` everything reachable from `wants` that is not
    /// reachable from `haves`, at chunk level (see [`ops::fetch_objects`]);
    /// also how many chunks came and how many were reused.
    pub fn fetch_pack(
        &self,
        local: &Repo,
        wants: &[ContentId],
        haves: &[ContentId],
        progress: &dyn Progress,
    ) -> Result<(ReceiveStats, oxen_pack::chunks::ChunkCounts)> {
        ops::fetch_objects(local, self, wants, haves, progress)
    }
}

/// A local repository's refs in wire form (what `GET .../refs` returns).
pub fn local_refs(repo: &Repo) -> Result<RefsMsg> {
    let mut out = BTreeMap::new();
    for (name, id) in repo.refs().all()? {
        if name.is_pushable() {
            out.insert(name.to_string(), id.to_hex());
        }
    }
    let head = repo.head()?.branch_ref().map(|r| r.to_string());
    Ok(RefsMsg { head, refs: out })
}

/// The bearer token to send to the server `url` is on: `$OXEN_TOKEN` when
/// set (an explicit override, sent to whatever server the command talks
/// to), else the token listed for exactly that server's origin (scheme,
/// host, port) under `[host."<origin>"]` in `user_config.toml` (as written
/// by `oxen-server add-user --host`), else in `config.toml`, both in
/// `$OXEN_HOME` or `~/.oxen`. A token is never sent to a server it is not
/// listed for, and an old top-level `token = ...` is never sent at all.
pub fn token_for(url: &str) -> Option<String> {
    if let Ok(t) = std::env::var("OXEN_TOKEN") {
        if !t.trim().is_empty() {
            return Some(t.trim().to_string());
        }
    }
    let dir = oxen_store::global_config_dir()?;
    for f in ["user_config.toml", "config.toml"] {
        if let Ok(c) = oxen_store::Config::load(&dir.join(f)) {
            if let Some(t) = c.token_for(url) {
                return Some(t.to_string());
            }
        }
    }
    None
}

/// The global config file holding a top-level `token = ...` (as older
/// `oxen-server add-user` wrote it), if any: such a token is never sent,
/// and a 401 says so.
pub fn unbound_token_file() -> Option<PathBuf> {
    let dir = oxen_store::global_config_dir()?;
    ["user_config.toml", "config.toml"]
        .into_iter()
        .map(|f| dir.join(f))
        .find(|p| oxen_store::Config::load(p).is_ok_and(|c| c.token.is_some()))
}
