//! The HTTP side: one `oxen-server` repository.

use std::io::{self, Read};
use std::time::Duration;

use oxen_hash::ContentId;
use oxen_pack::wire::{
    ChunkListsMsg, IdsMsg, ItemsMsg, ObjectRefsMsg, ObjectsMsg, RefsMsg, UpdateRefsMsg, UpdatedMsg, WantsMsg,
};
use oxen_pack::{Item, ObjRef, PackSource, ReceiveStats, RefUpdateReq, RefUpdateResult};
use oxen_repo::Repo;
use oxen_store::{ChunkList, Progress};

use crate::{RemoteError, Result};

/// Ids per `missing` request: keeps each JSON body small (about 50 bytes
/// an id) however many objects a push has.
const MISSING_BATCH: usize = 10_000;

/// Frames asked for per `upload-items` request (about 60 bytes each as
/// JSON, over 100 once the server has parsed them): the server's memory
/// for one request is this many, and a request may land on a thread (a
/// malloc arena) of its own that keeps what it used. At 100,000 the
/// server's peak while serving a clone of 300k files was 127 MB.
const ITEMS_BATCH: usize = 20_000;

/// How long to wait for a connection, or for the server to take or send
/// the next bytes, unless `OXEN_HTTP_TIMEOUT` (seconds) says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The network timeout: `OXEN_HTTP_TIMEOUT` seconds, else [`DEFAULT_TIMEOUT`].
pub fn timeout_from_env() -> Result<Duration> {
    match std::env::var("OXEN_HTTP_TIMEOUT") {
        Err(_) => Ok(DEFAULT_TIMEOUT),
        Ok(v) if v.trim().is_empty() => Ok(DEFAULT_TIMEOUT),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
            _ => {
                Err(RemoteError::Other(format!("OXEN_HTTP_TIMEOUT='{v}': give a whole number of seconds, at least 1")))
            }
        },
    }
}

/// A repository on an `oxen-server`.
pub struct HttpRemote {
    /// `http://host:port` (plus any path prefix).
    pub base: String,
    /// Repository name on the server.
    pub name: String,
    token: Option<String>,
    agent: ureq::Agent,
    timeout: Duration,
}

impl HttpRemote {
    /// Parse `http(s)://host:port/<RepoName>`. `token` is sent with every
    /// request to this remote (and nowhere else: redirects are not
    /// followed).
    pub fn new(url: &str, token: Option<String>) -> Result<HttpRemote> {
        let trimmed = url.trim_end_matches('/');
        let after_scheme = trimmed.split_once("://").map(|(_, r)| r).unwrap_or(trimmed);
        let Some((host, _)) = after_scheme.split_once('/') else {
            return Err(RemoteError::Other(format!(
                "remote URL '{url}' has no repository name: use http://host:port/<RepoName>"
            )));
        };
        let (base, name) = trimmed.rsplit_once('/').expect("checked above");
        if host.is_empty() || !oxen_pack::wire::valid_repo_name(name) {
            return Err(RemoteError::Other(format!("remote URL '{url}': repository name must be [A-Za-z0-9._-]")));
        }
        let timeout = timeout_from_env()?;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(timeout)
            .timeout_read(timeout)
            .timeout_write(timeout)
            // A redirect could lead the token elsewhere; the server never sends one.
            .redirects(0)
            .build();
        Ok(HttpRemote { base: base.to_string(), name: name.to_string(), token, agent, timeout })
    }

    /// Say a timeout plainly, with the knob to turn.
    fn timed_out(&self, url: &str) -> RemoteError {
        RemoteError::Other(format!(
            "{url}: no answer within {} s (timed out; set OXEN_HTTP_TIMEOUT to a number of seconds to wait longer)",
            self.timeout.as_secs()
        ))
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/api/repos/{}{}", self.base, self.name, tail)
    }

    fn req(&self, method: &str, url: &str) -> ureq::Request {
        let r = self.agent.request(method, url);
        match &self.token {
            Some(t) => r.set("Authorization", &format!("Bearer {t}")),
            None => r,
        }
    }

    fn fail(&self, url: &str, e: ureq::Error) -> RemoteError {
        match e {
            ureq::Error::Status(code, resp) => {
                let body = resp.into_string().unwrap_or_default();
                let msg = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("error").and_then(|m| m.as_str()).map(str::to_string))
                    .unwrap_or_else(|| body.trim().to_string());
                let hint = match code {
                    401 => {
                        let origin = oxen_store::server_origin(&self.base).unwrap_or_else(|| self.base.clone());
                        match crate::unbound_token_file() {
                            Some(f) => format!(
                                " ({} has a token not tied to any server, which is never sent: move it under [host.\"{origin}\"] there, or set OXEN_TOKEN)",
                                f.display()
                            ),
                            None => format!(
                                " (tokens are per server: copy the user_config.toml made by `oxen-server add-user --host {origin}` to ~/.oxen/, or set OXEN_TOKEN)"
                            ),
                        }
                    }
                    404 if msg.contains("repository") => format!(
                        " (create it first: curl -H \"Authorization: Bearer $TOKEN\" -X POST -d '{{\"name\": \"{}\"}}' {}/api/repos)",
                        self.name, self.base
                    ),
                    _ => String::new(),
                };
                RemoteError::Http(format!("{} ({code}): {msg}{hint}", self.base))
            }
            ureq::Error::Transport(t) => {
                if is_timeout(&t) {
                    return self.timed_out(url);
                }
                RemoteError::Transport { url: url.to_string(), msg: t.to_string().replace('\n', " ") }
            }
        }
    }

    fn json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        r: std::result::Result<ureq::Response, ureq::Error>,
    ) -> Result<T> {
        let resp = r.map_err(|e| self.fail(url, e))?;
        if (300..400).contains(&resp.status()) {
            return Err(redirected(url, &resp));
        }
        resp.into_json().map_err(|e| {
            if is_io_timeout(&e) {
                self.timed_out(url)
            } else {
                RemoteError::Other(format!("{url}: bad response: {e}"))
            }
        })
    }

    /// `GET .../refs`
    pub fn refs(&self) -> Result<RefsMsg> {
        let url = self.url("/refs");
        self.json(&url, self.req("GET", &url).call())
    }

    /// `POST .../missing`, in batches.
    pub fn missing(&self, objects: &[ObjRef]) -> Result<Vec<ObjRef>> {
        let url = self.url("/missing");
        let mut out = Vec::new();
        for chunk in objects.chunks(MISSING_BATCH) {
            let msg: ObjectsMsg = self.json(&url, self.req("POST", &url).send_json(ObjectsMsg::from_refs(chunk)))?;
            out.extend(msg.to_refs()?);
        }
        Ok(out)
    }

    /// `POST .../receive-pack` with the pack streamed as the body (chunked).
    pub fn send_pack(&self, src: PackSource<'_>) -> Result<ReceiveStats> {
        let url = self.url("/receive-pack");
        self.json(&url, self.req("POST", &url).set("Content-Type", "application/x-oxen-pack").send(src))
    }

    /// `POST .../refs`
    pub fn update_refs(&self, updates: Vec<RefUpdateReq>, force: bool) -> Result<Vec<RefUpdateResult>> {
        let url = self.url("/refs");
        let msg: UpdatedMsg = self.json(&url, self.req("POST", &url).send_json(UpdateRefsMsg { updates, force }))?;
        Ok(msg.updated)
    }

    /// `POST .../enumerate`: the objects the server would send for `wants`
    /// to a client that has `haves`, in dependency order.
    pub fn enumerate(&self, wants: &[ContentId], haves: &[ContentId]) -> Result<Vec<ObjRef>> {
        self.enumerate_filtered(wants, haves, None)
    }

    /// [`HttpRemote::enumerate`] sending only file contents under `filter`.
    pub fn enumerate_filtered(
        &self,
        wants: &[ContentId],
        haves: &[ContentId],
        filter: Option<&oxen_path::PathSet>,
    ) -> Result<Vec<ObjRef>> {
        let url = self.url("/enumerate");
        let msg = WantsMsg {
            wants: wants.iter().map(|i| i.to_hex()).collect(),
            haves: haves.iter().map(|i| i.to_hex()).collect(),
            filter: filter.map(oxen_pack::wire::filter_to_wire).unwrap_or_default(),
            ..WantsMsg::default()
        };
        // Parsed straight into ids: a clone of a million files gets a
        // million of them.
        let objs: ObjectRefsMsg = self.json(&url, self.req("POST", &url).send_json(msg))?;
        Ok(objs.objects)
    }

    /// `POST .../enumerate` with the client's shallow boundaries and the
    /// depth it asks for: the objects, and the boundaries (`None` when the
    /// server does not honour shallow requests: an older server, which
    /// answers as if both were absent).
    pub fn enumerate_shallow(
        &self,
        wants: &[ContentId],
        haves: &[ContentId],
        shallow: &oxen_pack::Shallow,
    ) -> Result<(Vec<ObjRef>, Option<Vec<ContentId>>)> {
        let url = self.url("/enumerate");
        let msg = WantsMsg {
            wants: wants.iter().map(|i| i.to_hex()).collect(),
            haves: haves.iter().map(|i| i.to_hex()).collect(),
            depth: shallow.depth,
            shallow: shallow.receiver.iter().map(|i| i.to_hex()).collect(),
            filter: Vec::new(),
        };
        let objs: ObjectRefsMsg = self.json(&url, self.req("POST", &url).send_json(msg))?;
        let boundaries = objs.shallow.as_deref().map(oxen_pack::wire::parse_ids).transpose()?;
        Ok((objs.objects, boundaries))
    }

    /// `POST .../chunks/missing`, in batches: the ids the server lacks,
    /// and whether it reads chunks in their stored encoding (every answer
    /// said so).
    pub fn missing_chunks(&self, ids: &[ContentId]) -> Result<(Vec<ContentId>, bool)> {
        let url = self.url("/chunks/missing");
        let mut out = Vec::new();
        let mut stored_chunks = true;
        for batch in ids.chunks(MISSING_BATCH) {
            let msg: IdsMsg = self.json(&url, self.req("POST", &url).send_json(IdsMsg::from_ids(batch)))?;
            stored_chunks &= msg.stored_chunks;
            out.extend(msg.parsed()?);
        }
        Ok((out, stored_chunks))
    }

    /// `POST .../chunks/lists`, in batches: the chunk lists of those of
    /// `ids` the server stores chunked.
    pub fn chunk_lists(&self, ids: &[ContentId]) -> Result<Vec<(ContentId, ChunkList)>> {
        let url = self.url("/chunks/lists");
        let mut out = Vec::new();
        for batch in ids.chunks(MISSING_BATCH) {
            let msg: ChunkListsMsg = self.json(&url, self.req("POST", &url).send_json(IdsMsg::from_ids(batch)))?;
            out.extend(msg.parsed()?);
        }
        Ok(out)
    }

    /// `POST .../upload-items`, receiving the pack of exactly `items` into
    /// `local`: one pack per batch of [`ITEMS_BATCH`], in order, so each
    /// request stays far below the server's JSON limit however many
    /// objects a clone needs, and every pack's dependencies are stored
    /// (by the packs before it) when it arrives.
    pub fn fetch_items(&self, local: &Repo, items: &[Item], progress: &dyn Progress) -> Result<ReceiveStats> {
        let url = self.url("/upload-items");
        let mut total = ReceiveStats::default();
        for batch in items.chunks(ITEMS_BATCH) {
            let msg = ItemsMsg { stored_chunks: true, ..ItemsMsg::from_items(batch) };
            let resp = self.req("POST", &url).send_json(msg);
            let s = self.receive(local, &url, resp, progress)?;
            total.objects += s.objects;
            total.stored += s.stored;
            total.bytes += s.bytes;
            total.chunks += s.chunks;
        }
        Ok(total)
    }

    fn receive(
        &self,
        local: &Repo,
        url: &str,
        resp: std::result::Result<ureq::Response, ureq::Error>,
        progress: &dyn Progress,
    ) -> Result<ReceiveStats> {
        let resp = resp.map_err(|e| self.fail(url, e))?;
        if (300..400).contains(&resp.status()) {
            return Err(redirected(url, &resp));
        }
        let body: Box<dyn Read + Send + Sync> = resp.into_reader();
        match oxen_pack::receive_pack(local, body, progress) {
            Err(oxen_pack::PackError::Io(e)) if is_io_timeout(&e) => Err(self.timed_out(url)),
            r => Ok(r?),
        }
    }
}

fn redirected(url: &str, resp: &ureq::Response) -> RemoteError {
    let to = resp.header("location").unwrap_or("elsewhere");
    RemoteError::Other(format!(
        "{url}: the server redirects to {to}; redirects are not followed (a token goes only to the server it is for): use that address"
    ))
}

fn is_io_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
}

fn is_timeout(t: &ureq::Transport) -> bool {
    use std::error::Error;
    let mut cur: Option<&(dyn Error + 'static)> = t.source();
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if is_io_timeout(io) {
                return true;
            }
        }
        cur = e.source();
    }
    t.to_string().contains("timed out")
}
