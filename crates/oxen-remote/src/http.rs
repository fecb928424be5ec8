//! The HTTP side: one `oxen-server` repository.

use std::io::Read;

use oxen_hash::ContentId;
use oxen_pack::wire::{ObjectsMsg, RefsMsg, UpdateRefsMsg, UpdatedMsg, WantsMsg};
use oxen_pack::{ObjRef, PackSource, ReceiveStats, RefUpdateReq, RefUpdateResult};
use oxen_repo::Repo;
use oxen_store::Progress;

use crate::{RemoteError, Result};

/// Ids per `missing` request: keeps each JSON body small (about 50 bytes
/// an id) however many objects a push has.
const MISSING_BATCH: usize = 10_000;

/// A repository on an `oxen-server`.
pub struct HttpRemote {
    /// `http://host:port` (plus any path prefix).
    pub base: String,
    /// Repository name on the server.
    pub name: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl HttpRemote {
    /// Parse `http(s)://host:port/<RepoName>`.
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
        let agent = ureq::AgentBuilder::new().timeout_connect(std::time::Duration::from_secs(30)).build();
        Ok(HttpRemote { base: base.to_string(), name: name.to_string(), token, agent })
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
                    401 => " (set a token: copy the user_config.toml made by `oxen-server add-user` to ~/.oxen/, or set OXEN_TOKEN)".to_string(),
                    404 if msg.contains("repository") => format!(
                        " (create it first: curl -H \"Authorization: Bearer $TOKEN\" -X POST -d '{{\"name\": \"{}\"}}' {}/api/repos)",
                        self.name, self.base
                    ),
                    _ => String::new(),
                };
                RemoteError::Http(format!("{} ({code}): {msg}{hint}", self.base))
            }
            ureq::Error::Transport(t) => RemoteError::Transport { url: url.to_string(), msg: t.to_string() },
        }
    }

    fn json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        r: std::result::Result<ureq::Response, ureq::Error>,
    ) -> Result<T> {
        let resp = r.map_err(|e| self.fail(url, e))?;
        resp.into_json().map_err(|e| RemoteError::Other(format!("{url}: bad response: {e}")))
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

    /// `POST .../upload-pack`, receiving the streamed pack into `local`.
    pub fn fetch_pack(
        &self,
        local: &Repo,
        wants: &[ContentId],
        haves: &[ContentId],
        progress: &dyn Progress,
    ) -> Result<ReceiveStats> {
        let url = self.url("/upload-pack");
        let msg = WantsMsg {
            wants: wants.iter().map(|i| i.to_hex()).collect(),
            haves: haves.iter().map(|i| i.to_hex()).collect(),
        };
        let resp = self.req("POST", &url).send_json(msg).map_err(|e| self.fail(&url, e))?;
        let body: Box<dyn Read + Send + Sync> = resp.into_reader();
        Ok(oxen_pack::receive_pack(local, body, progress)?)
    }
}
