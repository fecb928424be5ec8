//! The transport: hyper 1.x on tokio.
//!
//! - Connections: at most `max_connections` at once (a semaphore; one over
//!   the limit gets a bare 503 and is closed at once). Request headers must
//!   arrive within `header_timeout`, which also closes idle keep-alive
//!   connections. A response that makes no progress for `body_timeout`
//!   (a client that stopped reading) ends its connection.
//! - Request bodies are read by an async task that waits at most
//!   `body_timeout` for each chunk (408 after that) and stops at
//!   `max_body` (413); the chunks reach the handler, which runs on the
//!   blocking pool, through a bounded channel as a `std::io::Read`. A
//!   handler is only started once the body's first bytes have arrived, so
//!   clients that declare a body and send none hold no thread.
//! - Streamed responses (packs) are written by the handler on the blocking
//!   pool into a bounded channel: memory stays bounded whatever the size.
//! - SIGINT/SIGTERM: stop accepting, close idle connections, let in-flight
//!   requests finish (for at most `shutdown_grace`); a request whose body
//!   stalls once shutdown has begun is answered 503 after a second
//!   instead of waiting out `body_timeout`. Slow or idle sockets are not
//!   waited for.
//! - One log line per request through `tracing` (target
//!   `oxen_server::request`), whose user is the token's public id: never
//!   the token, and not the email (personal data; `list-users` maps ids
//!   to users for whoever runs the server).
//! - `GET /api/health` and `GET /api/version` need no token; every other
//!   route needs one (401), and the access its `router::Need` says (403) before
//!   its body is read.

use std::convert::Infallible;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch, Notify, OwnedSemaphorePermit, Semaphore};

use crate::api::{Api, Reply};
use crate::auth::{authorize, bearer, Authenticator};
use crate::error::Fail;
use crate::router::{self, BodyUse, Route};
use crate::users::Caller;
use crate::{Result, ServerConfig, ServerError};

/// Chunks of a request body buffered between the socket and the handler.
const BODY_CHUNKS: usize = 8;
/// Chunks of a streamed response buffered between the handler and the socket.
const STREAM_CHUNKS: usize = 4;
/// Size of each streamed response chunk.
const STREAM_CHUNK: usize = 64 << 10;
/// Once shutdown has begun, a request body may stall this long, not more.
const SHUTDOWN_STALL: Duration = Duration::from_secs(1);
/// How long `GET /api/health` waits for the stores before answering 503.
const HEALTH_WAIT: Duration = Duration::from_secs(5);
/// The body of the answer to a connection over the limit.
const BUSY: &str = r#"{"error": "too many connections; try again in a while"}"#;

/// The whole answer to a connection over the limit, written without reading.
fn busy_response() -> Vec<u8> {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BUSY}",
        BUSY.len()
    )
    .into_bytes()
}

/// Everything a request needs, shared by all of them.
struct State {
    api: Arc<Api>,
    auth: Arc<dyn Authenticator>,
    cfg: ServerConfig,
    shutdown: watch::Receiver<bool>,
    inflight: Arc<InFlight>,
    health: Health,
}

/// The health check in progress and its last outcome, shared by every
/// probe: a probe arriving while a check runs waits for that one instead
/// of starting another, so stores that hang hold one blocking thread, not
/// one per probe.
#[derive(Default)]
struct Health {
    running: AtomicBool,
    /// When the last check started, and what failed in it.
    last: std::sync::Mutex<Option<(Instant, Vec<String>)>>,
    done: Notify,
}

/// `GET /api/health`: 200 `{"status": "ok"}` if the user database and
/// the repositories' stores answer within [`HEALTH_WAIT`], else 503
/// naming what failed. Only a check that started after the probe arrived
/// answers it: one already running may have begun before the stores
/// failed, so the probe waits for it to end and then starts its own.
async fn health(state: &Arc<State>) -> (u16, serde_json::Value) {
    let asked = Instant::now();
    let h = &state.health;
    let deadline = tokio::time::Instant::now() + HEALTH_WAIT;
    loop {
        // Registered before looking, so a check ending in between is not missed.
        let notified = h.done.notified();
        tokio::pin!(notified);
        let last = h.last.lock().ok().and_then(|l| l.clone());
        if let Some((_, failed)) = last.filter(|(started, _)| *started >= asked) {
            return if failed.is_empty() {
                (200, json!({ "status": "ok" }))
            } else {
                (503, json!({ "status": "unavailable", "failed": failed }))
            };
        }
        if !h.running.swap(true, Ordering::SeqCst) {
            start_health_check(Arc::clone(state));
        }
        if tokio::time::timeout_at(deadline, notified.as_mut()).await.is_err() {
            let why = format!("the stores did not answer within {} s", HEALTH_WAIT.as_secs());
            return (503, json!({ "status": "unavailable", "failed": [why] }));
        }
    }
}

/// Run one health check on the blocking pool, recording when it started
/// and what failed, then wake the probes waiting for it.
fn start_health_check(st: Arc<State>) {
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        // Ends the check however it ends (a panicking store too), so the
        // next probe can start another.
        struct Finished(Arc<State>);
        impl Drop for Finished {
            fn drop(&mut self) {
                self.0.health.running.store(false, Ordering::SeqCst);
                self.0.health.done.notify_waiters();
            }
        }
        let fin = Finished(st);
        let mut failed = Vec::new();
        if let Err(e) = fin.0.auth.check() {
            failed.push(format!("users: {e}"));
        }
        if let Err(e) = fin.0.api.repos.check() {
            failed.push(e.to_string());
        }
        if let Ok(mut last) = fin.0.health.last.lock() {
            *last = Some((started, failed));
        };
    });
}

/// Requests being served (from headers read to response body sent).
#[derive(Default)]
struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

/// One in-flight request; dropping it ends it.
struct InFlightGuard(Arc<InFlight>);

impl InFlight {
    fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(Arc::clone(self))
    }

    async fn wait_idle(&self) {
        loop {
            // Created before the check, so a wake-up in between is not lost.
            let woken = self.idle.notified();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            woken.await;
        }
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Bind, announce, serve until SIGINT/SIGTERM, then shut down gracefully.
pub(crate) fn run(cfg: ServerConfig, api: Api, auth: Arc<dyn Authenticator>, announce: &mut dyn Write) -> Result<()> {
    // The async side only moves bytes; the work is on the blocking pool.
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 4);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .max_blocking_threads(cfg.threads.max(1))
        .thread_name("oxen-server")
        .build()
        .map_err(|e| ServerError::Other(format!("cannot start the runtime: {e}")))?;
    let addr = format!("{}:{}", cfg.host, cfg.port);
    let std_listener =
        std::net::TcpListener::bind(&addr).map_err(|e| ServerError::Bind(addr.clone(), e.to_string()))?;
    let bound: SocketAddr = std_listener.local_addr().map_err(|e| ServerError::Bind(addr.clone(), e.to_string()))?;
    std_listener.set_nonblocking(true).map_err(|e| ServerError::Bind(addr.clone(), e.to_string()))?;
    let grace = cfg.shutdown_grace;
    let served = rt.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let listener = TcpListener::from_std(std_listener).map_err(|e| ServerError::Bind(addr, e.to_string()))?;
        let mut term = signal(SignalKind::terminate())
            .map_err(|e| ServerError::Other(format!("cannot install a signal handler: {e}")))?;
        let mut int = signal(SignalKind::interrupt())
            .map_err(|e| ServerError::Other(format!("cannot install a signal handler: {e}")))?;
        writeln!(announce, "listening on http://{bound}")
            .and_then(|_| announce.flush())
            .map_err(|e| ServerError::Io("stdout".into(), e))?;
        tracing::info!(addr = %bound, "listening");
        let (stop_tx, stop_rx) = watch::channel(false);
        let inflight = Arc::new(InFlight::default());
        let connections = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
        let state = Arc::new(State {
            api: Arc::new(api),
            auth,
            cfg,
            shutdown: stop_rx,
            inflight: Arc::clone(&inflight),
            health: Health::default(),
        });
        // Refusals are logged at most every 10 s, with a count, so that a
        // flood of connections does not become a flood of log lines.
        let mut refused = 0u64;
        let mut last_warned: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => match Arc::clone(&connections).try_acquire_owned() {
                        Ok(permit) => {
                            tokio::spawn(connection(stream, permit, Arc::clone(&state)));
                        }
                        Err(_) => {
                            // Over the limit: say so if the socket takes it
                            // right away, and close.
                            let _ = stream.try_write(&busy_response());
                            refused += 1;
                            if last_warned.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                                tracing::warn!(
                                    refused,
                                    "connections refused: {} open, the limit (--max-connections)",
                                    state.cfg.max_connections
                                );
                                last_warned = Some(Instant::now());
                                refused = 0;
                            }
                        }
                    },
                    Err(e) => {
                        // Out of file descriptors and the like: wait for
                        // some to be released instead of spinning.
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        drop(listener);
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stop_tx.send(true);
        tokio::select! {
            r = tokio::time::timeout(grace, inflight.wait_idle()) => {
                if r.is_err() {
                    tracing::warn!("requests still in flight after {} s; stopping anyway", grace.as_secs());
                }
            }
            // A second signal: stop now.
            _ = term.recv() => tracing::warn!("second signal: stopping without waiting"),
            _ = int.recv() => tracing::warn!("second signal: stopping without waiting"),
        }
        Ok::<(), ServerError>(())
    });
    // Whatever is left (idle or slow sockets, a handler stuck in I/O) is
    // not waited for; every write is atomic, so stopping is safe.
    rt.shutdown_timeout(Duration::from_secs(1));
    tracing::info!("shut down");
    served
}

async fn connection(stream: TcpStream, permit: OwnedSemaphorePermit, state: Arc<State>) {
    let _permit = permit;
    let _ = stream.set_nodelay(true);
    let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
    stream.set_write_timeout(Some(state.cfg.body_timeout));
    let io = TokioIo::new(Box::pin(stream));
    let st = Arc::clone(&state);
    let svc = hyper::service::service_fn(move |req| {
        let st = Arc::clone(&st);
        async move { Ok::<_, Infallible>(serve_request(st, req).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(state.cfg.header_timeout).keep_alive(true);
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    let mut shutdown = state.shutdown.clone();
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!("connection: {e}");
            }
            return;
        }
        _ = shutdown.wait_for(|stop| *stop) => conn.as_mut().graceful_shutdown(),
    }
    if let Err(e) = conn.await {
        tracing::debug!("connection: {e}");
    }
}

/// Why a request body could not be read to its end.
#[derive(Clone, Copy, Debug)]
enum BodyFault {
    /// Nothing arrived for this long.
    Stalled(Duration),
    /// More than the limit arrived.
    TooLarge(u64),
    /// Shutdown began and the body stalled.
    ShuttingDown,
    /// The connection broke.
    Broken,
}

impl BodyFault {
    fn fail(self) -> Fail {
        match self {
            BodyFault::Stalled(d) => Fail::new(
                408,
                format!("request body stalled: nothing arrived for {} s (send it faster, or try again)", d.as_secs()),
            ),
            BodyFault::TooLarge(max) => Fail::new(413, format!("request body over the {max} byte limit")),
            BodyFault::ShuttingDown => Fail::new(503, "the server is shutting down; try again in a moment"),
            BodyFault::Broken => Fail::new(400, "request body: the connection broke"),
        }
    }

    fn io_error(self) -> io::Error {
        let kind = match self {
            BodyFault::Stalled(_) => io::ErrorKind::TimedOut,
            BodyFault::TooLarge(_) => io::ErrorKind::InvalidData,
            BodyFault::ShuttingDown => io::ErrorKind::Interrupted,
            BodyFault::Broken => io::ErrorKind::ConnectionAborted,
        };
        io::Error::new(kind, self.fail().msg)
    }
}

/// Read the request body into `tx`, chunk by chunk, with the stall and
/// size limits.
async fn pump(
    mut body: Incoming,
    tx: mpsc::Sender<std::result::Result<Bytes, BodyFault>>,
    cfg: ServerConfig,
    mut shutdown: watch::Receiver<bool>,
    counted: Arc<AtomicU64>,
) {
    let mut total = 0u64;
    let mut stopping = *shutdown.borrow();
    loop {
        let stall = if stopping { cfg.body_timeout.min(SHUTDOWN_STALL) } else { cfg.body_timeout };
        let next = tokio::select! {
            r = tokio::time::timeout(stall, body.frame()) => r,
            // Shutdown began (or the server is going away): shorten the wait.
            _ = shutdown.changed(), if !stopping => {
                stopping = true;
                continue;
            }
        };
        let item = match next {
            Err(_) if stopping => Err(BodyFault::ShuttingDown),
            Err(_) => Err(BodyFault::Stalled(cfg.body_timeout)),
            Ok(None) => return,
            Ok(Some(Err(_))) => Err(BodyFault::Broken),
            Ok(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    total += data.len() as u64;
                    counted.store(total, Ordering::Relaxed);
                    if total > cfg.max_body {
                        Err(BodyFault::TooLarge(cfg.max_body))
                    } else {
                        Ok(data)
                    }
                }
                // Trailers carry nothing we use.
                Err(_) => continue,
            },
        };
        let last = item.is_err();
        if tx.send(item).await.is_err() || last {
            return;
        }
    }
}

/// The request body as the handler sees it: a blocking `Read` over the
/// chunks the pump delivers.
struct BodyReader {
    cur: Bytes,
    rx: Option<mpsc::Receiver<std::result::Result<Bytes, BodyFault>>>,
    fault: Option<BodyFault>,
}

impl BodyReader {
    fn empty() -> BodyReader {
        BodyReader { cur: Bytes::new(), rx: None, fault: None }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.cur.is_empty() {
                let n = self.cur.len().min(buf.len());
                buf[..n].copy_from_slice(&self.cur[..n]);
                self.cur.advance(n);
                return Ok(n);
            }
            if let Some(f) = self.fault {
                return Err(f.io_error());
            }
            let Some(rx) = &mut self.rx else { return Ok(0) };
            match rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(f)) => self.fault = Some(f),
                None => self.rx = None,
            }
        }
    }
}

/// Writes a streamed response into the channel the response body reads.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(STREAM_CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= STREAM_CHUNK {
            self.send()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// What the blocking handler hands back to the async side.
enum Head {
    Json(u16, serde_json::Value),
    Stream(&'static str, mpsc::Receiver<io::Result<Bytes>>),
    Fail(Fail),
}

/// The one log line of a request, written when its response is done
/// (sent, or abandoned by the client).
struct RequestLog {
    method: String,
    path: String,
    route: Option<&'static str>,
    repo: Option<String>,
    user: Option<String>,
    status: u16,
    bytes_in: Arc<AtomicU64>,
    bytes_out: u64,
    start: Instant,
    error: Option<String>,
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        let ms = self.start.elapsed().as_millis() as u64;
        let bytes_in = self.bytes_in.load(Ordering::Relaxed);
        let repo = self.repo.as_deref().unwrap_or("-");
        let user = self.user.as_deref().unwrap_or("-");
        match self.route {
            Some(route) => tracing::info!(
                target: "oxen_server::request",
                method = %self.method, route = %route, repo = %repo, status = self.status, bytes_in,
                bytes_out = self.bytes_out, ms, user = %user, error = self.error.as_deref().unwrap_or(""),
            ),
            // No route: the raw path is the peer's, so it is logged escaped.
            None => tracing::info!(
                target: "oxen_server::request",
                method = %self.method, path = ?self.path, repo = %repo, status = self.status, bytes_in,
                bytes_out = self.bytes_out, ms, user = %user, error = self.error.as_deref().unwrap_or(""),
            ),
        }
    }
}

enum Content {
    Full(Option<Bytes>),
    Channel(mpsc::Receiver<io::Result<Bytes>>),
}

/// A response body: whole, or streamed from a handler. It carries the
/// request's log line and in-flight mark, so both end when it does.
struct ReplyBody {
    content: Content,
    log: RequestLog,
    _inflight: InFlightGuard,
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        let this = self.get_mut();
        let next = match &mut this.content {
            Content::Full(b) => Poll::Ready(b.take().map(Ok)),
            Content::Channel(rx) => rx.poll_recv(cx),
        };
        match next {
            Poll::Ready(Some(Ok(b))) => {
                this.log.bytes_out += b.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Poll::Ready(Some(Err(e))) => {
                this.log.error = Some(e.to_string());
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.content, Content::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.content {
            Content::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Content::Full(None) => SizeHint::with_exact(0),
            Content::Channel(_) => SizeHint::default(),
        }
    }
}

fn json_response(
    mut log: RequestLog,
    inflight: InFlightGuard,
    status: u16,
    v: &serde_json::Value,
) -> Response<ReplyBody> {
    log.status = status;
    let bytes = Bytes::from(serde_json::to_vec(v).unwrap_or_default());
    let mut resp = Response::new(ReplyBody { content: Content::Full(Some(bytes)), log, _inflight: inflight });
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if status >= 400 {
        // The request body may be unread: do not try to reuse the connection.
        resp.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

fn fail_response(mut log: RequestLog, inflight: InFlightGuard, f: Fail) -> Response<ReplyBody> {
    log.error = Some(f.msg.clone());
    json_response(log, inflight, f.status, &json!({ "error": f.msg }))
}

async fn serve_request(state: Arc<State>, req: Request<Incoming>) -> Response<ReplyBody> {
    let inflight = state.inflight.enter();
    let mut log = RequestLog {
        method: req.method().as_str().to_string(),
        path: req.uri().path().chars().take(200).collect(),
        route: None,
        repo: None,
        user: None,
        status: 0,
        bytes_in: Arc::new(AtomicU64::new(0)),
        bytes_out: 0,
        start: Instant::now(),
        error: None,
    };
    let max = state.cfg.max_body;
    let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > max) {
        return fail_response(
            log,
            inflight,
            Fail::new(413, format!("request body of {n} bytes is over the {max} byte limit")),
        );
    }
    let routed = router::route(req.method().as_str(), req.uri().path());
    // The routes whose need is `Public`: no token asked for.
    match &routed {
        Ok(r @ Route::Health) => {
            log.route = Some(r.template());
            let (status, v) = health(&state).await;
            return json_response(log, inflight, status, &v);
        }
        Ok(r @ Route::Version) => {
            log.route = Some(r.template());
            return json_response(log, inflight, 200, &Api::version());
        }
        _ => {}
    }
    // Authenticated before a 404/405, so that without a token nothing
    // about the API is told.
    let token = bearer(req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes));
    let caller = match token.map(|t| state.auth.authenticate(t)) {
        Some(Ok(c)) => c,
        Some(Err(e)) => return fail_response(log, inflight, Fail::internal(&e, None)),
        None => None,
    };
    let Some(caller) = caller else {
        let f = Fail::new(
            401,
            "missing, invalid or revoked token: send 'Authorization: Bearer <token>' (make one with `oxen-server add-user`)",
        );
        return fail_response(log, inflight, f);
    };
    log.user = Some(caller.token_id.clone());
    let route = match routed {
        Ok(r) => r,
        Err(f) => return fail_response(log, inflight, f),
    };
    log.route = Some(route.template());
    log.repo = route.repo().map(str::to_string);
    // Before the body is read: a refused push uploads nothing more.
    if let Err(f) = authorize(&route, &caller) {
        return fail_response(log, inflight, f);
    }
    let body = req.into_body();
    let reader = if route.body_use() == BodyUse::None || body.is_end_stream() {
        BodyReader::empty()
    } else {
        let (tx, mut rx) = mpsc::channel(BODY_CHUNKS);
        let (cfg, stop, counted) = (state.cfg.clone(), state.shutdown.clone(), Arc::clone(&log.bytes_in));
        tokio::spawn(pump(body, tx, cfg, stop, counted));
        // No thread is taken until the body starts arriving.
        match rx.recv().await {
            None => BodyReader::empty(),
            Some(Err(fault)) => return fail_response(log, inflight, fault.fail()),
            Some(Ok(first)) => BodyReader { cur: first, rx: Some(rx), fault: None },
        }
    };
    match run_handler(Arc::clone(&state.api), route, caller, reader).await {
        Head::Json(status, v) => json_response(log, inflight, status, &v),
        Head::Fail(f) => fail_response(log, inflight, f),
        Head::Stream(content_type, rx) => {
            log.status = 200;
            let mut resp = Response::new(ReplyBody { content: Content::Channel(rx), log, _inflight: inflight });
            resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            resp
        }
    }
}

/// Run the route's handler on the blocking pool; a streamed reply keeps
/// that thread producing its body after the head is returned.
async fn run_handler(api: Arc<Api>, route: Route, caller: Caller, mut body: BodyReader) -> Head {
    let (head_tx, head_rx) = oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let result = api.handle(&route, &caller, &mut body);
        // A body that could not be read is the answer, whatever the
        // handler made of the read error.
        let result = match (result, body.fault) {
            (Err(_), Some(fault)) => Err(fault.fail()),
            (r, _) => r,
        };
        match result {
            Ok(Reply::Json(status, v)) => {
                let _ = head_tx.send(Head::Json(status, v));
            }
            Err(f) => {
                let _ = head_tx.send(Head::Fail(f));
            }
            Ok(Reply::Stream { content_type, produce }) => {
                let (tx, rx) = mpsc::channel(STREAM_CHUNKS);
                if head_tx.send(Head::Stream(content_type, rx)).is_err() {
                    return;
                }
                let mut out = ChannelWriter { tx, buf: Vec::with_capacity(STREAM_CHUNK) };
                if let Err(e) = produce(&mut out).and_then(|_| out.flush()) {
                    // The client sees the stream cut off (and its pack
                    // fails its checks); the log line says why.
                    let _ = out.tx.blocking_send(Err(e));
                }
            }
        }
    });
    head_rx.await.unwrap_or_else(|_| Head::Fail(Fail::new(500, "internal error: the request handler failed")))
}
