//! The HTTP service: routing, auth, body limits, handlers.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oxen_pack::wire::{valid_repo_name, ObjectsMsg, UpdateRefsMsg, UpdatedMsg, WantsMsg};
use oxen_pack::{PackError, PackSource};
use oxen_repo::Repo;
use oxen_store::NoProgress;
use serde_json::{json, Value};
use tiny_http::{Header, Method, Request, Response, StatusCode};

use crate::users::Users;
use crate::{Result, ServerError};

/// JSON control messages are small; this caps them whatever the pack limit.
const MAX_JSON_BYTES: u64 = 64 << 20;
/// Above this, a body we will not read is abandoned with its connection
/// instead of being drained by tiny_http (which allocates the whole
/// remaining length at once when it drains).
const DRAIN_LIMIT: u64 = 64 << 20;

/// How to run the server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where repositories live.
    pub sync_dir: PathBuf,
    /// Address to bind.
    pub host: String,
    /// Port (0 = any free port).
    pub port: u16,
    /// Worker threads.
    pub threads: usize,
    /// Largest request body accepted, in bytes.
    pub max_body: u64,
}

struct State {
    cfg: ServerConfig,
    users: Users,
    repos: Mutex<HashMap<String, Arc<Repo>>>,
    // Serialises creating and deleting repositories.
    admin: Mutex<()>,
    // Log lines, written by the serving thread to the caller's writer.
    log: Sender<String>,
}

impl State {
    fn note(&self, line: String) {
        // The receiver lives until every worker is done; a failed send can
        // only mean the process is going away.
        let _ = self.log.send(line);
    }
}

/// Bind, print `listening on http://ADDR` to `announce`, and serve until
/// SIGINT or SIGTERM; in-flight requests are finished before returning.
/// One line per request (and any serving trouble) goes to `log`, written
/// from this thread as workers report it.
pub fn serve(cfg: ServerConfig, announce: &mut dyn Write, log: &mut dyn Write) -> Result<()> {
    std::fs::create_dir_all(&cfg.sync_dir).map_err(|e| ServerError::Io(cfg.sync_dir.clone(), e))?;
    let users = Users::open(&cfg.sync_dir)?;
    let addr = format!("{}:{}", cfg.host, cfg.port);
    let server = tiny_http::Server::http(&addr).map_err(|e| ServerError::Bind(addr.clone(), e.to_string()))?;
    let bound = match server.server_addr().to_ip() {
        Some(a) => a,
        None => return Err(ServerError::Other("server is not on an IP socket".into())),
    };
    // signal-hook installs the handlers safely (setting a flag is all they
    // do), so this crate needs no unsafe code of its own.
    let shutdown = Arc::new(AtomicBool::new(false));
    let mut hooks = Vec::new();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let id = signal_hook::flag::register(sig, Arc::clone(&shutdown))
            .map_err(|e| ServerError::Other(format!("cannot install a signal handler: {e}")))?;
        hooks.push(id);
    }
    let shown: SocketAddr = bound;
    writeln!(announce, "listening on http://{shown}")
        .and_then(|_| announce.flush())
        .map_err(|e| ServerError::Io("stdout".into(), e))?;
    let (tx, rx) = channel();
    let state =
        Arc::new(State { cfg: cfg.clone(), users, repos: Mutex::new(HashMap::new()), admin: Mutex::new(()), log: tx });
    let server = Arc::new(server);
    let mut workers = Vec::new();
    for _ in 0..cfg.threads.max(1) {
        let server = Arc::clone(&server);
        let state = Arc::clone(&state);
        let shutdown = Arc::clone(&shutdown);
        workers.push(std::thread::spawn(move || {
            while !shutdown.load(Ordering::SeqCst) {
                match server.recv_timeout(Duration::from_millis(200)) {
                    Ok(Some(rq)) => handle(&state, rq),
                    Ok(None) => {}
                    Err(e) => state.note(format!("oxen-server: accept: {e}")),
                }
            }
        }));
    }
    // The workers hold the only senders now: the log ends when they do.
    drop(state);
    for line in rx {
        // A closed log (stderr gone) must not stop the server.
        let _ = writeln!(log, "{line}");
    }
    for w in workers {
        let _ = w.join();
    }
    for id in hooks {
        signal_hook::low_level::unregister(id);
    }
    let _ = writeln!(log, "oxen-server: shut down");
    Ok(())
}

/// An HTTP error: status and message.
struct Fail(u16, String);

impl Fail {
    fn new(code: u16, msg: impl Into<String>) -> Fail {
        Fail(code, msg.into())
    }
}

impl From<PackError> for Fail {
    fn from(e: PackError) -> Fail {
        let code = match &e {
            PackError::FetchFirst(_) | PackError::NonFastForward(_) => 409,
            e if e.is_client_error() => 400,
            _ => 500,
        };
        Fail(code, e.to_string())
    }
}

impl From<oxen_repo::RepoError> for Fail {
    fn from(e: oxen_repo::RepoError) -> Fail {
        Fail(500, e.to_string())
    }
}

impl From<ServerError> for Fail {
    fn from(e: ServerError) -> Fail {
        Fail(500, e.to_string())
    }
}

/// The request body, capped; remembers whether the cap was hit so the
/// error can say 413 rather than "bad pack".
struct Body<'a> {
    inner: &'a mut dyn Read,
    limit: u64,
    read: u64,
    over: bool,
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read >= self.limit {
            // Probe one byte: exactly `limit` bytes is fine, more is not.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.over = true;
                    Err(io::Error::other("request body over the size limit"))
                }
            };
        }
        let want = (self.limit - self.read).min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..want])?;
        self.read += n as u64;
        Ok(n)
    }
}

impl Body<'_> {
    /// Read and discard the rest (bounded by the limit), so the client,
    /// still sending, gets to read our error response.
    fn drain(&mut self) {
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(n) = self.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    }
}

fn json_response(code: u16, v: &Value) -> Response<io::Cursor<Vec<u8>>> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    Response::from_data(body).with_status_code(StatusCode(code)).with_header(header("Content-Type", "application/json"))
}

fn header(k: &str, v: &str) -> Header {
    Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("static header is valid")
}

fn send(state: &State, rq: Request, code: u16, v: Value, abandon_body: bool) {
    let resp = json_response(code, &v);
    if abandon_body {
        // tiny_http drains an unread Content-Length body on drop by
        // allocating its full remaining length; for a huge declared length
        // that could abort the process. Take the connection instead of
        // draining it, and let it go without reading further.
        let stream = rq.upgrade("oxen-abandon", resp.with_header(header("Connection", "close")));
        std::mem::forget(stream);
        return;
    }
    if let Err(e) = rq.respond(resp) {
        state.note(format!("oxen-server: respond: {e}"));
    }
}

fn handle(state: &State, mut rq: Request) {
    let method = rq.method().clone();
    let url = rq.url().split('?').next().unwrap_or("").to_string();
    let declared = rq.body_length().map(|n| n as u64);
    if let Some(n) = declared {
        if n > state.cfg.max_body {
            log(state, &method, &url, 413);
            send(
                state,
                rq,
                413,
                json!({"error": format!("request body of {n} bytes is over the {} byte limit", state.cfg.max_body)}),
                n > DRAIN_LIMIT,
            );
            return;
        }
    }
    let authed = rq
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .and_then(|h| h.value.as_str().strip_prefix("Bearer ").map(|t| t.trim().to_string()));
    let user = match authed {
        Some(t) => match state.users.authenticate(&t) {
            Ok(u) => u,
            Err(e) => {
                log(state, &method, &url, 500);
                send(state, rq, 500, json!({"error": e.to_string()}), declared.unwrap_or(0) > DRAIN_LIMIT);
                return;
            }
        },
        None => None,
    };
    if user.is_none() {
        log(state, &method, &url, 401);
        send(
            state,
            rq,
            401,
            json!({"error": "missing or invalid token: send 'Authorization: Bearer <token>' (make one with `oxen-server add-user`)"}),
            declared.unwrap_or(0) > DRAIN_LIMIT,
        );
        return;
    }
    let segs: Vec<String> = url.trim_matches('/').split('/').map(str::to_string).collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let max_body = state.cfg.max_body;
    let mut body = Body { inner: rq.as_reader(), limit: max_body, read: 0, over: false };
    let result = route(state, &method, &segs, &mut body);
    let over = body.over;
    let unread_big = declared.map(|n| n.saturating_sub(body.read) > DRAIN_LIMIT).unwrap_or(false);
    match result {
        Ok(Reply::Json(code, v)) => {
            log(state, &method, &url, code);
            send(state, rq, code, v, unread_big);
        }
        Ok(Reply::Pack(repo, objects)) => {
            log(state, &method, &url, 200);
            let src = CutOnError { src: PackSource::new(&*repo, objects), state, failed: false };
            let resp = Response::new(
                StatusCode(200),
                vec![header("Content-Type", "application/x-oxen-pack")],
                src,
                None,
                None,
            );
            if let Err(e) = rq.respond(resp) {
                state.note(format!("oxen-server: sending pack: {e}"));
            }
        }
        Err(Fail(code, msg)) => {
            let code = if over { 413 } else { code };
            let msg = if over { format!("request body over the {max_body} byte limit") } else { msg };
            log(state, &method, &url, code);
            send(state, rq, code, json!({"error": msg}), unread_big);
        }
    }
}

/// A pack as a response body that ends early, instead of failing, when the
/// pack cannot go on (a corrupt blob here, which the versions store refuses
/// to hand out). tiny_http answers a body read error by leaving the
/// keep-alive connection open mid-body, so the client would wait forever;
/// a body that ends early is a truncated pack, which the client rejects at
/// once. The reason goes to the server's log.
struct CutOnError<'a> {
    src: PackSource<'a>,
    state: &'a State,
    failed: bool,
}

impl Read for CutOnError<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Ok(0);
        }
        match self.src.read(buf) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => {
                self.state.note(format!("oxen-server: pack cut short: {e}"));
                self.failed = true;
                Ok(0)
            }
            r => r,
        }
    }
}

fn log(state: &State, method: &Method, url: &str, code: u16) {
    state.note(format!("{method} {url} {code}"));
}

enum Reply {
    Json(u16, Value),
    Pack(Arc<Repo>, Vec<oxen_pack::ObjRef>),
}

fn read_json<T: serde::de::DeserializeOwned>(body: &mut Body<'_>) -> std::result::Result<T, Fail> {
    let mut buf = Vec::new();
    let cap = body.limit.min(MAX_JSON_BYTES);
    let mut limited = Read::take(&mut *body, cap + 1);
    limited.read_to_end(&mut buf).map_err(|e| Fail::new(400, format!("reading request body: {e}")))?;
    if buf.len() as u64 > cap {
        return Err(Fail::new(413, format!("JSON body over the {cap} byte limit")));
    }
    serde_json::from_slice(&buf).map_err(|e| Fail::new(400, format!("invalid JSON body: {e}")))
}

fn route(state: &State, method: &Method, segs: &[&str], body: &mut Body<'_>) -> std::result::Result<Reply, Fail> {
    match (method, segs) {
        (Method::Get, ["api", "repos"]) => list_repos(state),
        (Method::Post, ["api", "repos"]) => {
            #[derive(serde::Deserialize)]
            struct Create {
                name: String,
            }
            let c: Create = read_json(body)?;
            create_repo(state, &c.name)
        }
        (Method::Get, ["api", "repos", name]) => {
            let repo = open_repo(state, name)?;
            let refs = repo.refs().branches().map_err(|e| Fail::new(500, e.to_string()))?;
            let head = local_head(&repo);
            Ok(Reply::Json(200, json!({"name": name, "head": head, "branches": refs.len()})))
        }
        (Method::Delete, ["api", "repos", name]) => delete_repo(state, name),
        (Method::Get, ["api", "repos", name, "refs"]) => {
            let repo = open_repo(state, name)?;
            let mut refs = serde_json::Map::new();
            for (n, id) in repo.refs().all().map_err(|e| Fail::new(500, e.to_string()))? {
                if n.is_pushable() {
                    refs.insert(n.to_string(), Value::String(id.to_hex()));
                }
            }
            Ok(Reply::Json(200, json!({"head": local_head(&repo), "refs": refs})))
        }
        (Method::Post, ["api", "repos", name, "missing"]) => {
            let repo = open_repo(state, name)?;
            let msg: ObjectsMsg = read_json(body)?;
            let objs = msg.to_refs()?;
            let missing = oxen_pack::missing(&*repo, &objs)?;
            Ok(Reply::Json(200, serde_json::to_value(ObjectsMsg::from_refs(&missing)).unwrap_or(Value::Null)))
        }
        (Method::Post, ["api", "repos", name, "receive-pack"]) => {
            let repo = open_repo(state, name)?;
            match oxen_pack::receive_pack(&*repo, &mut *body, &NoProgress) {
                Ok(stats) => Ok(Reply::Json(200, serde_json::to_value(stats).unwrap_or(Value::Null))),
                Err(e) => {
                    // Let a client that is still sending finish, so it can
                    // read why it was refused.
                    body.drain();
                    Err(e.into())
                }
            }
        }
        (Method::Post, ["api", "repos", name, "refs"]) => {
            let repo = open_repo(state, name)?;
            let msg: UpdateRefsMsg = read_json(body)?;
            let updated = oxen_pack::apply_ref_updates(&*repo, &repo.refs(), &msg.updates, msg.force)?;
            Ok(Reply::Json(200, serde_json::to_value(UpdatedMsg { updated }).unwrap_or(Value::Null)))
        }
        (Method::Post, ["api", "repos", name, "upload-pack"]) => {
            let repo = open_repo(state, name)?;
            let msg: WantsMsg = read_json(body)?;
            let wants = oxen_pack::wire::parse_ids(&msg.wants)?;
            let haves = oxen_pack::wire::parse_ids(&msg.haves)?;
            for w in &wants {
                if !repo.db.has_object(oxen_store::Table::Commits, w).map_err(|e| Fail::new(500, e.to_string()))? {
                    return Err(Fail::new(404, format!("commit {w} not found")));
                }
            }
            let objects = oxen_pack::enumerate(&*repo, &wants, &haves)?;
            Ok(Reply::Pack(repo, objects))
        }
        (_, ["api", "repos", ..]) => Err(Fail::new(405, format!("{method} not supported here"))),
        _ => Err(Fail::new(404, "no such endpoint")),
    }
}

fn local_head(repo: &Repo) -> Option<String> {
    match repo.head() {
        Ok(h) => h.branch_ref().map(|r| r.to_string()),
        _ => None,
    }
}

fn repo_dir(state: &State, name: &str) -> std::result::Result<PathBuf, Fail> {
    if !valid_repo_name(name) {
        return Err(Fail::new(
            400,
            format!("invalid repository name '{name}': use [A-Za-z0-9._-], not starting with '.', no '..'"),
        ));
    }
    Ok(state.cfg.sync_dir.join(name))
}

fn open_repo(state: &State, name: &str) -> std::result::Result<Arc<Repo>, Fail> {
    let dir = repo_dir(state, name)?;
    let mut cache = state.repos.lock().map_err(|_| Fail::new(500, "lock poisoned"))?;
    if let Some(r) = cache.get(name) {
        if dir.join(".oxen").join("HEAD").is_file() {
            return Ok(Arc::clone(r));
        }
        cache.remove(name);
    }
    if !dir.join(".oxen").join("HEAD").is_file() {
        return Err(Fail::new(404, format!("repository '{name}' not found")));
    }
    // LMDB allows one open environment per process, so each repository is
    // opened once and shared by every request.
    let repo = Arc::new(Repo::open(&dir)?);
    cache.insert(name.to_string(), Arc::clone(&repo));
    Ok(repo)
}

fn list_repos(state: &State) -> std::result::Result<Reply, Fail> {
    let mut names = Vec::new();
    let rd = std::fs::read_dir(&state.cfg.sync_dir).map_err(|e| Fail::new(500, e.to_string()))?;
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if valid_repo_name(&n) && e.path().join(".oxen").join("HEAD").is_file() {
            names.push(n);
        }
    }
    names.sort();
    let repos: Vec<Value> = names.into_iter().map(|n| json!({"name": n})).collect();
    Ok(Reply::Json(200, json!({"repos": repos})))
}

fn create_repo(state: &State, name: &str) -> std::result::Result<Reply, Fail> {
    let dir = repo_dir(state, name)?;
    let _g = state.admin.lock().map_err(|_| Fail::new(500, "lock poisoned"))?;
    if dir.exists() {
        return Err(Fail::new(409, format!("repository '{name}' already exists")));
    }
    let main = oxen_refs::BranchName::new("main").map_err(|e| Fail::new(500, e.to_string()))?;
    oxen_refs::init(&dir, &main).map_err(|e| Fail::new(500, e.to_string()))?;
    Ok(Reply::Json(201, json!({"name": name})))
}

fn delete_repo(state: &State, name: &str) -> std::result::Result<Reply, Fail> {
    let dir = repo_dir(state, name)?;
    let _g = state.admin.lock().map_err(|_| Fail::new(500, "lock poisoned"))?;
    if !dir.join(".oxen").join("HEAD").is_file() {
        return Err(Fail::new(404, format!("repository '{name}' not found")));
    }
    if let Ok(mut cache) = state.repos.lock() {
        cache.remove(name);
    }
    std::fs::remove_dir_all(&dir).map_err(|e| Fail::new(500, format!("deleting {name}: {e}")))?;
    Ok(Reply::Json(200, json!({"deleted": name})))
}
