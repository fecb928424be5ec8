//! Where sealed blocks live: the [`ContentStore`] interface and its two
//! backends.
//!
//! A block (`<pid>-<nanos-hex>`, the writer's pid and the time it was
//! opened) is a file of records written by one writer, sealed (never
//! appended again) at [`crate::versions::BLOCK_MAX`] or at the end of an
//! operation. Writers always build the open block as a local file; the
//! backend takes it once sealed:
//! - [`LocalStore`] (the default, no configuration) keeps blocks as
//!   `.oxen/versions/segments/<name>.seg`, the files writers build in place:
//!   sealing is the fsync.
//! - [`S3Store`] keeps them as objects `PREFIX/blocks/<name>` in an
//!   S3-compatible bucket (through the `object_store` crate); the writer
//!   builds the open block in `.oxen/tmp` (not synced: the store makes it
//!   durable), its upload begins with it ([`ContentStore::begin`]: parts
//!   of [`PART_SIZE`] go up while it fills, the seal sends the last one and
//!   completes the upload), and the local copy is removed once stored: only
//!   metadata stays on disk. Bodies are sent as `UNSIGNED-PAYLOAD`.
//!
//! Locations are recorded only after the block was stored (`put` or
//! [`StreamingPut::finish`] returned), so a failed upload leaves no
//! location naming the block. Errors are `io::Error`s whose
//! message is one line; the versions store names the block in them.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::{Result, StoreError};

/// Blocks on S3 past this size are uploaded in parts of this size.
pub const PART_SIZE: usize = 8 << 20;

/// Parts of one multipart upload in flight at a time (each is in memory).
pub const PARTS_IN_FLIGHT: usize = 4;

/// The file in `.oxen` naming the repository's block storage (absent:
/// local). Written by `oxen-server start --storage` for the repositories
/// it serves.
pub const STORAGE_FILE: &str = "storage";

/// Immutable named blocks: the one interface the versions store uses for
/// sealed blocks, whichever backend keeps them.
pub trait ContentStore: Send + Sync + std::fmt::Debug {
    /// Where block `name` lives, for messages (a path or an `s3://` URL).
    fn describe(&self, name: &str) -> PathBuf;
    /// The directory the blocks are files in, for the local backend:
    /// writers build their open block there in place.
    fn local_dir(&self) -> Option<&Path>;
    /// Make the sealed block staged at `staged` durable as `name`. For a
    /// remote store the local file is left to the caller to remove.
    fn put(&self, name: &str, staged: &Path) -> io::Result<()>;
    /// The block's size, `None` if there is no such block.
    fn size(&self, name: &str) -> io::Result<Option<u64>>;
    /// Bytes `range` of a block (fewer if it ends first).
    fn read_range(&self, name: &str, range: Range<u64>) -> io::Result<Vec<u8>>;
    /// Every block's name and size.
    fn list(&self) -> io::Result<Vec<(String, u64)>>;
    /// Every block's name, size and when the store last wrote it (`None`
    /// where the backend does not say): gc's age check for blocks that
    /// writers on other hosts may have made.
    fn list_times(&self) -> io::Result<Vec<(String, u64, Option<std::time::SystemTime>)>> {
        Ok(self.list()?.into_iter().map(|(n, s)| (n, s, None)).collect())
    }
    /// Remove a block (no error if it is already gone).
    fn delete(&self, name: &str) -> io::Result<()>;
    /// Begin storing block `name` while its writer still appends to the
    /// staged file `staged` (read at offsets the writer reported written):
    /// parts go to the store as they fill instead of all after the seal.
    /// `None`: the store takes sealed blocks whole ([`ContentStore::put`]).
    fn begin(&self, _name: &str, _staged: &Path) -> io::Result<Option<Box<dyn StreamingPut>>> {
        Ok(None)
    }
    /// Record every multipart upload this store begins in `journal` (and
    /// forget it there once completed or aborted), so that gc can abort
    /// the ones a killed writer left behind. A no-op for stores that do
    /// not upload in parts.
    fn journal_uploads(&self, _journal: Arc<dyn UploadJournal>) {}
    /// Abort the multipart upload `upload` of block `name` (one a killed
    /// writer left): its parts are freed and the block never appears.
    /// `Ok(false)`: the store knows no such upload (already completed or
    /// aborted).
    fn abort_upload(&self, _name: &str, _upload: &str) -> io::Result<bool> {
        Ok(false)
    }
}

/// A multipart upload begun and not yet completed or aborted, as an
/// [`UploadJournal`] holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadRecord {
    /// The block being uploaded.
    pub block: String,
    /// The store's id of the upload.
    pub upload: String,
    /// When its writer was last seen at it: when the upload began or its
    /// latest part went up.
    pub last_seen: std::time::SystemTime,
}

/// Where the multipart uploads of a store are recorded while they run
/// (see [`ContentStore::journal_uploads`]). An S3 bucket keeps the parts
/// of an upload nobody completes or aborts (and bills them) for ever, and
/// object_store cannot list uploads: what a killed writer began is known
/// only from here. A record is written before the upload's first part
/// and removed after it completed or was aborted, so an upload without a
/// record is one whose writer died between the two calls of its start.
pub trait UploadJournal: Send + Sync + std::fmt::Debug {
    /// Upload `upload` of block `block` began now, or its writer is still
    /// at it (a part just went up): (re)recorded with the time now, so gc,
    /// which aborts uploads not seen for its grace period, tells a slow
    /// live upload (a block filled by a slow push) from an abandoned one.
    fn record(&self, block: &str, upload: &str) -> io::Result<()>;
    /// The upload of block `block` completed or was aborted.
    fn forget(&self, block: &str) -> io::Result<()>;
    /// Every upload recorded and not forgotten.
    fn list(&self) -> io::Result<Vec<UploadRecord>>;
}

/// An [`UploadJournal`] of files `<dir>/<block>` (`<secs since the epoch>
/// <upload id>`): for repositories whose metadata is LMDB, whose writers
/// and gc are all on one host. Written without the database: a block's
/// upload may begin while its writer holds the LMDB write lock.
#[derive(Debug)]
pub struct DirJournal {
    dir: PathBuf,
    tmp: PathBuf,
}

impl DirJournal {
    /// Records in `dir` (made at the first), written atomically through
    /// `tmp`.
    pub fn new(dir: PathBuf, tmp: PathBuf) -> DirJournal {
        DirJournal { dir, tmp }
    }
}

impl UploadJournal for DirJournal {
    fn record(&self, block: &str, upload: &str) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        crate::write_atomic(&self.tmp, &self.dir.join(block), format!("{secs} {upload}\n").as_bytes())
            .map_err(|e| io::Error::other(e.to_string()))
    }

    fn forget(&self, block: &str) -> io::Result<()> {
        remove_if_present(&self.dir.join(block))
    }

    fn list(&self) -> io::Result<Vec<UploadRecord>> {
        let mut out = Vec::new();
        for e in entries(&self.dir)? {
            let Some(block) = e.file_name().to_str().map(str::to_string) else { continue };
            let text = std::fs::read_to_string(e.path())?;
            // Written atomically: anything else is not ours.
            let Some((secs, upload)) = text.trim_end().split_once(' ') else { continue };
            let Ok(secs) = secs.parse::<u64>() else { continue };
            let last_seen = std::time::UNIX_EPOCH + Duration::from_secs(secs);
            out.push(UploadRecord { block, upload: upload.to_string(), last_seen });
        }
        out.sort_by(|a, b| a.block.cmp(&b.block));
        Ok(out)
    }
}

/// The upload of a block begun before it was sealed (see
/// [`ContentStore::begin`]). Nothing is visible under the block's name
/// before [`StreamingPut::finish`] returned `Ok`: an upload in parts is
/// completed only there, and one that fails or is dropped is aborted.
pub trait StreamingPut: Send {
    /// The writer has written the first `len` bytes of the staged file:
    /// full parts among them may be sent now. Does not wait for the store.
    fn written(&mut self, len: u64);
    /// The block was sealed at `len` bytes: send what is left, complete the
    /// upload, and return once the block is durable (or why it is not).
    fn finish(self: Box<Self>, len: u64) -> io::Result<()>;
}

/// Blocks as files `<dir>/<name>.seg` (the segments of storage v1 read
/// the same way).
#[derive(Debug)]
pub struct LocalStore {
    dir: PathBuf,
}

impl LocalStore {
    /// Blocks in `dir` (made when the first block is written).
    pub fn new(dir: PathBuf) -> LocalStore {
        LocalStore { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.seg"))
    }
}

impl ContentStore for LocalStore {
    fn describe(&self, name: &str) -> PathBuf {
        self.path(name)
    }

    fn local_dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }

    fn put(&self, name: &str, staged: &Path) -> io::Result<()> {
        let dest = self.path(name);
        if staged != dest {
            std::fs::create_dir_all(&self.dir)?;
            std::fs::copy(staged, &dest)?;
        }
        File::open(&dest)?.sync_data()?;
        File::open(&self.dir)?.sync_all()
    }

    fn size(&self, name: &str) -> io::Result<Option<u64>> {
        match std::fs::metadata(self.path(name)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn read_range(&self, name: &str, range: Range<u64>) -> io::Result<Vec<u8>> {
        read_file_range(&File::open(self.path(name))?, range)
    }

    fn list(&self) -> io::Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for e in entries(&self.dir)? {
            let file_name = e.file_name();
            if let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".seg")) {
                out.push((name.to_string(), e.metadata()?.len()));
            }
        }
        out.sort();
        Ok(out)
    }

    fn delete(&self, name: &str) -> io::Result<()> {
        remove_if_present(&self.path(name))
    }
}

/// The entries of `dir`; none if it does not exist (yet).
fn entries(dir: &Path) -> io::Result<Vec<std::fs::DirEntry>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Remove a file; no error if it is already gone.
fn remove_if_present(p: &Path) -> io::Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Bytes `range` of a file, fewer if it ends first.
pub(crate) fn read_file_range(f: &File, range: Range<u64>) -> io::Result<Vec<u8>> {
    let want = range.end.saturating_sub(range.start);
    let mut out = vec![0u8; want as usize];
    let mut got = 0usize;
    while got < out.len() {
        match f.read_at(&mut out[got..], range.start + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    out.truncate(got);
    Ok(out)
}

/// A parsed `s3://BUCKET[/PREFIX]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Url {
    /// The bucket.
    pub bucket: String,
    /// Key prefix, without leading or trailing `/` (may be empty).
    pub prefix: String,
}

impl S3Url {
    /// Parse `s3://BUCKET[/PREFIX]`; `None` for anything else.
    pub fn parse(s: &str) -> Option<S3Url> {
        let rest = s.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
        if bucket.len() < 3 || bucket.len() > 63 || !bucket.chars().all(ok) {
            return None;
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == "." || p == "..") || prefix.contains("//") {
            return None;
        }
        Some(S3Url { bucket: bucket.to_string(), prefix: prefix.to_string() })
    }

    /// The same bucket, `part` appended to the prefix.
    pub fn join(&self, part: &str) -> S3Url {
        let prefix = if self.prefix.is_empty() { part.to_string() } else { format!("{}/{part}", self.prefix) };
        S3Url { bucket: self.bucket.clone(), prefix }
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

use object_store::multipart::MultipartStore;
use object_store::ObjectStore;

/// What [`S3Store`] needs of an object store: objects, and multipart
/// uploads by id (object_store's `put_multipart` hides the id, and an
/// upload can be aborted later, by another process, only by its id).
/// `AmazonS3` and the in-memory store are both.
pub trait Bucket: ObjectStore + MultipartStore {}

impl<T: ObjectStore + MultipartStore> Bucket for T {}

/// Blocks as objects `PREFIX/blocks/<name>` in an object store (S3 or,
/// in tests, `object_store::memory::InMemory`).
pub struct S3Store {
    store: Arc<dyn Bucket>,
    url: S3Url,
    /// Where its multipart uploads are recorded (see
    /// [`ContentStore::journal_uploads`]).
    journal: Mutex<Option<Arc<dyn UploadJournal>>>,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store").field("url", &self.url.to_string()).finish()
    }
}

/// The runtime every object-store call runs on: object_store is async,
/// and the versions store is called from plain threads and from inside
/// the server's tokio workers alike, where `block_on` would panic. Calls
/// are spawned here and waited for on a std channel, which works from
/// any thread.
fn runtime() -> io::Result<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("oxen-blocks")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| io::Error::other(format!("cannot start the object storage runtime: {e}")))
}

/// Run `f` on the block runtime and wait for it.
fn run<T: Send + 'static>(f: impl std::future::Future<Output = T> + Send + 'static) -> io::Result<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        let _ = tx.send(f.await);
    });
    rx.recv().map_err(|_| io::Error::other("object storage call was cancelled"))
}

/// One block of one repository in a bucket (see [`S3Store::list_repo_blocks`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoBlock {
    /// The repository's directory under the prefix (its name).
    pub repo: String,
    /// The block's name.
    pub block: String,
    /// Its size.
    pub size: u64,
    /// When the store last wrote it.
    pub written: std::time::SystemTime,
}

/// An object's last-modified time as a `SystemTime`.
fn system_time(m: &object_store::ObjectMeta) -> std::time::SystemTime {
    let t = m.last_modified;
    let secs = u64::try_from(t.timestamp()).unwrap_or(0);
    std::time::UNIX_EPOCH + Duration::new(secs, t.timestamp_subsec_nanos())
}

/// An object_store error as one line.
fn os_err(e: object_store::Error) -> io::Error {
    let mut kind = match e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        _ => io::ErrorKind::Other,
    };
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        let t = s.to_string();
        if !msg.contains(&t) {
            msg = format!("{msg}: {t}");
        }
        src = s.source();
    }
    let msg = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    if msg.contains("<Code>NoSuchBucket</Code>") {
        kind = io::ErrorKind::NotFound;
    }
    io::Error::new(kind, short_s3_message(&msg).unwrap_or(msg))
}

/// An S3 error response said in a few words: its HTTP status, error code
/// and message (object_store's text carries the request and the raw XML).
fn short_s3_message(msg: &str) -> Option<String> {
    let tag = |t: &str| {
        let open = format!("<{t}>");
        let from = msg.find(&open)? + open.len();
        let to = from + msg[from..].find(&format!("</{t}>"))?;
        Some(msg[from..to].to_string())
    };
    let code = tag("Code")?;
    let status = msg.split("status code: ").nth(1).and_then(|r| r.split(':').next()).unwrap_or("error").trim();
    Some(match tag("Message") {
        Some(m) => format!("{status}: {code}: {m}"),
        None => format!("{status}: {code}"),
    })
}

/// How long failing requests (500/503, timeouts, refused connections) are
/// retried with backoff before the error is reported: `OXEN_S3_RETRY_SECS`
/// (tests shorten it), default 30 s.
fn retry_timeout() -> Duration {
    let secs = std::env::var("OXEN_S3_RETRY_SECS").ok().and_then(|v| v.parse::<u64>().ok()).unwrap_or(30);
    Duration::from_secs(secs)
}

impl S3Store {
    /// A store over any object store (tests use the in-memory one).
    pub fn with_store(store: Arc<dyn Bucket>, url: S3Url) -> S3Store {
        S3Store { store, url, journal: Mutex::new(None) }
    }

    /// The bucket of `url`, configured by the standard AWS variables
    /// (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION`, `AWS_ALLOW_HTTP`). No request is made.
    pub fn from_env(url: &S3Url) -> io::Result<S3Store> {
        // One client per bucket per process: its connection pool is shared
        // by every repository under it.
        static CLIENTS: OnceLock<Mutex<HashMap<String, Arc<dyn Bucket>>>> = OnceLock::new();
        let mut clients = CLIENTS.get_or_init(Default::default).lock().map_err(|_| io::Error::other("poisoned"))?;
        let env = |k: &str| std::env::var(k).unwrap_or_default();
        let client_key = format!("{}\n{}\n{}", url.bucket, env("AWS_ENDPOINT_URL"), env("AWS_ACCESS_KEY_ID"));
        if let Some(c) = clients.get(&client_key) {
            return Ok(S3Store::with_store(c.clone(), url.clone()));
        }
        let retry = object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(5),
                base: 2.0,
            },
            max_retries: 10,
            retry_timeout: retry_timeout(),
        };
        let mut builder = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(&url.bucket)
            .with_retry(retry)
            .with_client_options(
                object_store::ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(120)),
            );
        if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
            builder = builder.with_region("us-east-1");
        }
        if std::env::var_os("AWS_UNSIGNED_PAYLOAD").is_none() {
            // SigV4 would otherwise hash every body with SHA-256 before
            // sending it (CPU the server needs for receiving): the body's
            // integrity is TLS's on https and the content ids' on every
            // read. `AWS_UNSIGNED_PAYLOAD=false` signs bodies again.
            builder = builder.with_unsigned_payload(true);
        }
        if let Ok(v) = std::env::var("AWS_ALLOW_HTTP") {
            builder = builder.with_allow_http(v == "true" || v == "1");
        }
        let s3: Arc<dyn Bucket> = Arc::new(builder.build().map_err(os_err)?);
        clients.insert(client_key, s3.clone());
        Ok(S3Store::with_store(s3, url.clone()))
    }

    fn key(&self, name: &str) -> object_store::path::Path {
        object_store::path::Path::from(self.url.join("blocks").join(name).prefix)
    }

    /// The journal uploads are recorded in, if any.
    fn journal(&self) -> Option<Arc<dyn UploadJournal>> {
        self.journal.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every object under `prefix`.
    fn list_under(&self, prefix: object_store::path::Path) -> io::Result<Vec<object_store::ObjectMeta>> {
        use futures::TryStreamExt;
        let store = self.store.clone();
        run(async move { store.list(Some(&prefix)).try_collect().await })?.map_err(os_err)
    }

    /// The blocks of every repository under this URL's prefix (objects
    /// `PREFIX/<repo>/blocks/<block>`), as (repo, block, size, written);
    /// other objects are not Oxen's and are left out. What a gc of the
    /// whole bucket reads to find blocks of repositories that are gone.
    pub fn list_repo_blocks(&self) -> io::Result<Vec<RepoBlock>> {
        let root = object_store::path::Path::from(self.url.prefix.clone());
        let skip = root.parts().count();
        let mut out = Vec::new();
        for m in self.list_under(root)? {
            let parts: Vec<String> = m.location.parts().skip(skip).map(|p| p.as_ref().to_string()).collect();
            if let [repo, blocks, block] = parts.as_slice() {
                if blocks == "blocks" {
                    let written = system_time(&m);
                    out.push(RepoBlock { repo: repo.clone(), block: block.clone(), size: m.size, written });
                }
            }
        }
        out.sort_by(|a, b| (&a.repo, &a.block).cmp(&(&b.repo, &b.block)));
        Ok(out)
    }

    /// Check that the bucket exists and answers with these credentials (a
    /// listing of the prefix), for a server's startup.
    pub fn check(&self) -> io::Result<()> {
        let store = self.store.clone();
        let prefix = object_store::path::Path::from(self.url.prefix.clone());
        run(async move { store.list_with_delimiter(Some(&prefix)).await.map(|_| ()) })?.map_err(os_err)
    }
}

impl ContentStore for S3Store {
    fn describe(&self, name: &str) -> PathBuf {
        PathBuf::from(self.url.join("blocks").join(name).to_string())
    }

    fn local_dir(&self) -> Option<&Path> {
        None
    }

    fn put(&self, name: &str, staged: &Path) -> io::Result<()> {
        let key = self.key(name);
        let store = self.store.clone();
        let mut f = File::open(staged)?;
        let len = f.metadata()?.len();
        if len <= PART_SIZE as u64 {
            let mut b = Vec::with_capacity(len as usize);
            f.read_to_end(&mut b)?;
            return run(async move { store.put(&key, b.into()).await.map(|_| ()) })?.map_err(os_err);
        }
        // In parts, at most four in flight: a 64 MiB block never sits in
        // memory whole. The file is read on the runtime (a local disk read
        // per part is short next to the part's upload).
        let (name, journal) = (name.to_string(), self.journal());
        run(async move {
            let upload = start_upload(store, key, name, journal).await?;
            let mut w = object_store::WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            let mut buf = vec![0u8; PART_SIZE];
            loop {
                let n = match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = w.abort().await;
                        return Err(e);
                    }
                };
                if let Err(e) = w.wait_for_capacity(PARTS_IN_FLIGHT).await {
                    let _ = w.abort().await;
                    return Err(os_err(e));
                }
                w.write(&buf[..n]);
            }
            // A failed finish leaves no object (the upload is not completed).
            w.finish().await.map(|_| ()).map_err(os_err)
        })?
    }

    fn begin(&self, name: &str, staged: &Path) -> io::Result<Option<Box<dyn StreamingPut>>> {
        let (tx, rx) = tokio::sync::watch::channel((0u64, false));
        let (done_tx, done) = std::sync::mpsc::sync_channel(1);
        // A handle of its own (the writer's is append-only).
        let (store, key, file) = (self.store.clone(), self.key(name), File::open(staged)?);
        let (name, journal) = (name.to_string(), self.journal());
        runtime()?.spawn(async move {
            let _ = done_tx.send(stream_block(store, key, file, rx, name, journal).await);
        });
        Ok(Some(Box::new(S3Streaming { tx, done, notified: 0 })))
    }

    fn size(&self, name: &str) -> io::Result<Option<u64>> {
        let key = self.key(name);
        let store = self.store.clone();
        match run(async move { store.head(&key).await })? {
            Ok(m) => Ok(Some(m.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(os_err(e)),
        }
    }

    fn read_range(&self, name: &str, range: Range<u64>) -> io::Result<Vec<u8>> {
        if range.start >= range.end {
            return Ok(Vec::new());
        }
        let key = self.key(name);
        let store = self.store.clone();
        let b = run(async move { store.get_range(&key, range).await })?.map_err(os_err)?;
        Ok(b.to_vec())
    }

    fn list(&self) -> io::Result<Vec<(String, u64)>> {
        Ok(self.list_times()?.into_iter().map(|(n, s, _)| (n, s)).collect())
    }

    fn list_times(&self) -> io::Result<Vec<(String, u64, Option<std::time::SystemTime>)>> {
        let prefix = object_store::path::Path::from(self.url.join("blocks").prefix);
        let mut out: Vec<_> = self
            .list_under(prefix)?
            .into_iter()
            .filter_map(|m| m.location.filename().map(|n| (n.to_string(), m.size, Some(system_time(&m)))))
            .collect();
        out.sort();
        Ok(out)
    }

    fn delete(&self, name: &str) -> io::Result<()> {
        let key = self.key(name);
        let store = self.store.clone();
        match run(async move { store.delete(&key).await })? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(os_err(e)),
        }
    }

    fn journal_uploads(&self, journal: Arc<dyn UploadJournal>) {
        *self.journal.lock().unwrap_or_else(|p| p.into_inner()) = Some(journal);
    }

    fn abort_upload(&self, name: &str, upload: &str) -> io::Result<bool> {
        let key = self.key(name);
        let store = self.store.clone();
        let id = upload.to_string();
        match run(async move { store.abort_multipart(&key, &id).await })? {
            Ok(()) => Ok(true),
            Err(e) if upload_gone(&e) => Ok(false),
            Err(e) => Err(os_err(e)),
        }
    }
}

/// Whether an abort failed because the store knows no such upload (S3's
/// `NoSuchUpload`, a 404; the in-memory store's own error): it was
/// completed or aborted already.
fn upload_gone(e: &object_store::Error) -> bool {
    if matches!(e, object_store::Error::NotFound { .. }) {
        return true;
    }
    let msg = os_err_text(e);
    msg.contains("NoSuchUpload") || msg.contains("Upload not found")
}

/// An object_store error and its sources as one string.
fn os_err_text(e: &object_store::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

/// Begin a multipart upload of `key` (block `name`) and record it in
/// `journal` before any part is sent; a record that cannot be written
/// aborts the upload (no upload runs unrecorded). The upload forgets its
/// record once completed or aborted.
async fn start_upload(
    store: Arc<dyn Bucket>,
    key: object_store::path::Path,
    name: String,
    journal: Option<Arc<dyn UploadJournal>>,
) -> io::Result<Box<dyn object_store::MultipartUpload>> {
    let id = store.create_multipart(&key).await.map_err(os_err)?;
    if let Some(j) = &journal {
        let (j, n, i) = (j.clone(), name.clone(), id.clone());
        if let Err(e) = off_runtime(move || j.record(&n, &i)).await {
            let _ = store.abort_multipart(&key, &id).await;
            return Err(io::Error::new(e.kind(), format!("cannot record the upload of block {name}: {e}")));
        }
    }
    Ok(Box::new(RecordedUpload {
        store,
        key,
        id,
        name,
        journal,
        next: 0,
        parts: Arc::default(),
        forgotten: Arc::default(),
    }))
}

/// Run a journal call off the runtime's workers: the journal may be a
/// database.
async fn off_runtime(call: impl FnOnce() -> io::Result<()> + Send + 'static) -> io::Result<()> {
    tokio::task::spawn_blocking(call)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(format!("journal call failed: {e}"))))
}

/// A multipart upload through [`MultipartStore`] (so its id is known and
/// recorded), driven by object_store's `WriteMultipart` like the one
/// `put_multipart` returns.
#[derive(Debug)]
struct RecordedUpload {
    store: Arc<dyn Bucket>,
    key: object_store::path::Path,
    id: object_store::MultipartId,
    name: String,
    journal: Option<Arc<dyn UploadJournal>>,
    /// The next part's index.
    next: usize,
    /// Parts sent, by index (sent concurrently, they finish in any order).
    parts: Arc<Mutex<Vec<Option<object_store::multipart::PartId>>>>,
    /// Set when the record is forgotten, and held by a part refreshing
    /// it: a refresh still running when the upload is aborted (its part's
    /// task is cancelled, not its blocking call) must not bring the record
    /// back after it was forgotten.
    forgotten: Arc<Mutex<bool>>,
}

impl RecordedUpload {
    /// Drop the upload's record. A record left behind (this failed, or the
    /// process died first) only makes a later gc ask the store to abort an
    /// upload it no longer knows, which is harmless.
    async fn forget(&self) {
        if let Some(j) = self.journal.clone() {
            let (n, forgotten) = (self.name.clone(), self.forgotten.clone());
            let _ = off_runtime(move || {
                let mut f = forgotten.lock().unwrap_or_else(|p| p.into_inner());
                *f = true;
                j.forget(&n)
            })
            .await;
        }
    }
}

#[async_trait::async_trait]
impl object_store::MultipartUpload for RecordedUpload {
    fn put_part(&mut self, data: object_store::PutPayload) -> object_store::UploadPart {
        let idx = self.next;
        self.next += 1;
        let (store, key, id, parts) = (self.store.clone(), self.key.clone(), self.id.clone(), self.parts.clone());
        let (journal, name, forgotten) = (self.journal.clone(), self.name.clone(), self.forgotten.clone());
        Box::pin(async move {
            let part = store.put_part(&key, &id, idx, data).await?;
            {
                let mut p = parts.lock().unwrap_or_else(|p| p.into_inner());
                if p.len() <= idx {
                    p.resize(idx + 1, None);
                }
                p[idx] = Some(part);
            }
            // A sign of life for gc (see `UploadJournal::record`), never
            // after the record was forgotten (see `forgotten`). A failure
            // only leaves the older time: gc may then abort this upload
            // after its grace period, and the write fails cleanly.
            if let Some(j) = journal {
                let _ = off_runtime(move || match *forgotten.lock().unwrap_or_else(|p| p.into_inner()) {
                    true => Ok(()),
                    false => j.record(&name, &id),
                })
                .await;
            }
            Ok(())
        })
    }

    async fn complete(&mut self) -> object_store::Result<object_store::PutResult> {
        let parts: Vec<_> = std::mem::take(&mut *self.parts.lock().unwrap_or_else(|p| p.into_inner()));
        let parts: Option<Vec<_>> = parts.into_iter().collect();
        let Some(parts) = parts else {
            return Err(object_store::Error::Generic { store: "S3", source: "a part of the upload is missing".into() });
        };
        let r = self.store.complete_multipart(&self.key, &self.id, parts).await?;
        self.forget().await;
        Ok(r)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.store.abort_multipart(&self.key, &self.id).await?;
        self.forget().await;
        Ok(())
    }
}

/// The block storage a repository's `.oxen/storage` file names, if any:
/// `None` means local blocks. A file that does not parse is an error, not
/// a silent fall back to the local disk.
pub fn configured_storage(dot: &Path) -> Result<Option<S3Url>> {
    let p = dot.join(STORAGE_FILE);
    let s = match std::fs::read_to_string(&p) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(&p, e)),
    };
    match S3Url::parse(s.trim()) {
        Some(u) => Ok(Some(u)),
        None => Err(StoreError::Config { path: p, msg: format!("'{}' is not s3://BUCKET[/PREFIX]", s.trim()) }),
    }
}

/// A block's upload to an object store that runs beside its writer (see
/// [`S3Store::begin`]): the writer reports how far it has written on a
/// watch channel, a task on the block runtime sends each full part.
struct S3Streaming {
    /// (bytes written, sealed).
    tx: tokio::sync::watch::Sender<(u64, bool)>,
    /// The task's outcome.
    done: std::sync::mpsc::Receiver<io::Result<()>>,
    /// The length last reported: the task is woken once a part, not on
    /// every record.
    notified: u64,
}

impl StreamingPut for S3Streaming {
    fn written(&mut self, len: u64) {
        if len >= self.notified + PART_SIZE as u64 {
            self.notified = len;
            // A task that ended (failed) has dropped its receiver: its
            // error is what `finish` returns.
            let _ = self.tx.send((len, false));
        }
    }

    fn finish(self: Box<Self>, len: u64) -> io::Result<()> {
        let _ = self.tx.send((len, true));
        self.done.recv().map_err(|_| io::Error::other("object storage call was cancelled"))?
    }
}

/// Send block `key` from the staged `file` as the writer reports it
/// written on `rx`: in parts of [`PART_SIZE`] (at most [`PARTS_IN_FLIGHT`]
/// in flight) once it outgrew one part, else in one put at the seal. A
/// writer gone without sealing, or any failure, aborts the upload, so
/// nothing is stored under the name.
async fn stream_block(
    store: Arc<dyn Bucket>,
    key: object_store::path::Path,
    file: File,
    mut rx: tokio::sync::watch::Receiver<(u64, bool)>,
    name: String,
    journal: Option<Arc<dyn UploadJournal>>,
) -> io::Result<()> {
    let mut upload: Option<object_store::WriteMultipart> = None;
    let r = async {
        let mut sent = 0u64;
        loop {
            let (written, sealed) = *rx.borrow_and_update();
            if sealed && upload.is_none() && written <= PART_SIZE as u64 {
                let b = read_exact_range(&file, 0..written)?;
                return store.put(&key, b.into()).await.map(|_| ()).map_err(os_err);
            }
            while written - sent >= PART_SIZE as u64 || (sealed && written > sent) {
                let n = (written - sent).min(PART_SIZE as u64);
                // The local disk read of a part is short next to its upload.
                let b = read_exact_range(&file, sent..sent + n)?;
                let w = match upload.as_mut() {
                    Some(w) => w,
                    None => {
                        let u = start_upload(store.clone(), key.clone(), name.clone(), journal.clone()).await?;
                        upload.insert(object_store::WriteMultipart::new_with_chunk_size(u, PART_SIZE))
                    }
                };
                w.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(os_err)?;
                w.write(&b);
                sent += n;
            }
            if sealed {
                return Ok(());
            }
            if rx.changed().await.is_err() {
                return Err(io::Error::other("the block's writer went away before sealing it"));
            }
        }
    }
    .await;
    match (r, upload) {
        (Ok(()), Some(mut w)) => {
            // A part that failed is seen here at the latest: abort (`finish`
            // would return its error without aborting). A failed finish
            // leaves no object either (the upload is not completed).
            if let Err(e) = w.wait_for_capacity(0).await {
                let _ = w.abort().await;
                return Err(os_err(e));
            }
            w.finish().await.map(|_| ()).map_err(os_err)
        }
        (Ok(()), None) => Ok(()),
        (Err(e), Some(w)) => {
            let _ = w.abort().await;
            Err(e)
        }
        (Err(e), None) => Err(e),
    }
}

/// Bytes `range` of a staged block, all of them: the writer said they
/// were written, so a short read means the file changed under us.
fn read_exact_range(f: &File, range: Range<u64>) -> io::Result<Vec<u8>> {
    let b = read_file_range(f, range.clone())?;
    if (b.len() as u64) < range.end - range.start {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("staged block is {} bytes short of what was written", range.end - range.start - b.len() as u64),
        ));
    }
    Ok(b)
}

/// The block store `.oxen/storage` names (`None`: local blocks); one that
/// cannot be opened is a [`BrokenStore`] carrying the reason.
pub fn open_configured(dot: &Path) -> Option<Arc<dyn ContentStore>> {
    let url = match configured_storage(dot) {
        Ok(None) => return None,
        Ok(Some(u)) => u,
        Err(e) => return Some(Arc::new(BrokenStore { what: dot.join(STORAGE_FILE), msg: e.to_string() })),
    };
    match S3Store::from_env(&url) {
        Ok(s) => Some(Arc::new(s)),
        Err(e) => Some(Arc::new(BrokenStore { what: PathBuf::from(url.to_string()), msg: e.to_string() })),
    }
}

/// A configured block store that could not be opened: every call fails
/// with why.
#[derive(Debug)]
pub struct BrokenStore {
    what: PathBuf,
    msg: String,
}

impl BrokenStore {
    fn err(&self) -> io::Error {
        io::Error::other(format!("block storage unusable: {}", self.msg))
    }
}

impl ContentStore for BrokenStore {
    fn describe(&self, name: &str) -> PathBuf {
        self.what.join(name)
    }
    fn local_dir(&self) -> Option<&Path> {
        None
    }
    fn put(&self, _: &str, _: &Path) -> io::Result<()> {
        Err(self.err())
    }
    fn size(&self, _: &str) -> io::Result<Option<u64>> {
        Err(self.err())
    }
    fn read_range(&self, _: &str, _: Range<u64>) -> io::Result<Vec<u8>> {
        Err(self.err())
    }
    fn list(&self) -> io::Result<Vec<(String, u64)>> {
        Err(self.err())
    }
    fn delete(&self, _: &str) -> io::Result<()> {
        Err(self.err())
    }
}

/// Record in `.oxen/storage` that the repository's blocks live at `url`.
pub fn set_storage(dot: &Path, tmp_dir: &Path, url: &S3Url) -> Result<()> {
    crate::write_atomic(tmp_dir, &dot.join(STORAGE_FILE), format!("{url}\n").as_bytes())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::fs::OpenOptions;

    /// Run `f` on the block runtime and wait for it (tests drive the
    /// in-memory store's async API with it).
    pub(crate) fn block_on<T: Send + 'static>(f: impl std::future::Future<Output = T> + Send + 'static) -> T {
        run(f).unwrap()
    }

    fn mem() -> S3Store {
        S3Store::with_store(mem_bucket(), S3Url::parse("s3://bucket/some/prefix").unwrap())
    }

    /// An in-memory bucket for the tests (see [`Watched`]).
    pub(crate) fn mem_bucket() -> Arc<Watched> {
        watched(None).1
    }

    #[test]
    fn s3_error_responses_are_said_in_one_short_line() {
        let raw = "Generic S3 error: Error performing GET http://h/b?x in 1ms - Server returned non-2xx status \
                   code: 403 Forbidden: <?xml version=\"1.0\"?> <Error><Code>SignatureDoesNotMatch</Code>\
                   <Message>The signature does not match.</Message><RequestId>1</RequestId></Error>";
        assert_eq!(
            short_s3_message(raw).unwrap(),
            "403 Forbidden: SignatureDoesNotMatch: The signature does not match."
        );
        assert_eq!(short_s3_message("connection refused"), None);
    }

    #[test]
    fn urls_parse_and_join() {
        let u = S3Url::parse("s3://my-bucket/a/b/").unwrap();
        assert_eq!((u.bucket.as_str(), u.prefix.as_str()), ("my-bucket", "a/b"));
        assert_eq!(u.join("repo").to_string(), "s3://my-bucket/a/b/repo");
        assert_eq!(S3Url::parse("s3://bkt").unwrap().join("r").to_string(), "s3://bkt/r");
        for bad in ["s3://", "http://b/x", "s3://B/x", "s3://ab", "s3://bkt/../x", "s3://bkt/a//b"] {
            assert_eq!(S3Url::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_s3_backend_puts_reads_lists_and_deletes_blocks() {
        let s = mem();
        let d = tempfile::tempdir().unwrap();
        let small = d.path().join("small");
        std::fs::write(&small, b"0123456789").unwrap();
        s.put("1-a", &small).unwrap();
        // Past a part: a multipart upload.
        let big: Vec<u8> = (0..PART_SIZE * 2 + 1000).map(|i| (i % 253) as u8).collect();
        let bigp = d.path().join("big");
        std::fs::write(&bigp, &big).unwrap();
        s.put("2-b", &bigp).unwrap();
        assert_eq!(s.size("1-a").unwrap(), Some(10));
        assert_eq!(s.size("2-b").unwrap(), Some(big.len() as u64));
        assert_eq!(s.size("3-c").unwrap(), None);
        assert_eq!(s.read_range("1-a", 2..5).unwrap(), b"234");
        let r = PART_SIZE as u64 - 10..PART_SIZE as u64 + 10;
        assert_eq!(s.read_range("2-b", r.clone()).unwrap(), &big[r.start as usize..r.end as usize]);
        assert_eq!(s.list().unwrap(), vec![("1-a".to_string(), 10), ("2-b".to_string(), big.len() as u64)]);
        let e = s.read_range("3-c", 0..4).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        s.delete("1-a").unwrap();
        s.delete("1-a").unwrap();
        assert_eq!(s.size("1-a").unwrap(), None);
        assert_eq!(s.describe("2-b"), PathBuf::from("s3://bucket/some/prefix/blocks/2-b"));
        s.check().unwrap();
    }

    /// An in-memory object store that counts the parts of multipart
    /// uploads and their aborts, and refuses part `fail_part` (1-based).
    /// It keeps uploads itself: object_store 0.12.5's `InMemory::put_part`
    /// takes parts in order only (a part whose index is past the parts
    /// received so far panics, one before them truncates the list), and
    /// the backend sends up to `PARTS_IN_FLIGHT` at once, as S3 allows.
    #[derive(Debug)]
    pub(crate) struct Watched {
        inner: object_store::memory::InMemory,
        /// Uploads begun: id -> parts by index.
        uploads: Mutex<HashMap<String, std::collections::BTreeMap<usize, bytes::Bytes>>>,
        next_upload: std::sync::atomic::AtomicUsize,
        parts: Arc<std::sync::atomic::AtomicUsize>,
        aborts: Arc<std::sync::atomic::AtomicUsize>,
        fail_part: Option<usize>,
    }

    impl Watched {
        /// Whether upload `id` is still open (neither completed nor aborted).
        pub(crate) fn upload_open(&self, id: &str) -> bool {
            self.uploads.lock().unwrap().contains_key(id)
        }
    }

    impl std::fmt::Display for Watched {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Watched")
        }
    }

    use object_store::multipart::PartId;
    use object_store::{
        GetOptions, GetResult, ListResult, MultipartId, MultipartUpload, ObjectMeta, PutMultipartOptions, PutOptions,
        PutPayload, PutResult,
    };
    use std::sync::atomic::Ordering::SeqCst;

    fn no_upload(id: &str) -> object_store::Error {
        object_store::Error::Generic { store: "test", source: format!("Upload not found: {id}").into() }
    }

    #[async_trait::async_trait]
    impl MultipartStore for Watched {
        async fn create_multipart(&self, _path: &object_store::path::Path) -> object_store::Result<MultipartId> {
            let id = self.next_upload.fetch_add(1, SeqCst).to_string();
            self.uploads.lock().unwrap().insert(id.clone(), Default::default());
            Ok(id)
        }
        async fn put_part(
            &self,
            _path: &object_store::path::Path,
            id: &MultipartId,
            part_idx: usize,
            data: PutPayload,
        ) -> object_store::Result<PartId> {
            let n = self.parts.fetch_add(1, SeqCst) + 1;
            if self.fail_part == Some(n) {
                return Err(object_store::Error::Generic { store: "test", source: "part refused".into() });
            }
            let mut up = self.uploads.lock().unwrap();
            up.get_mut(id).ok_or_else(|| no_upload(id))?.insert(part_idx, data.into());
            Ok(PartId { content_id: part_idx.to_string() })
        }
        async fn complete_multipart(
            &self,
            path: &object_store::path::Path,
            id: &MultipartId,
            parts: Vec<PartId>,
        ) -> object_store::Result<PutResult> {
            let got = self.uploads.lock().unwrap().remove(id).ok_or_else(|| no_upload(id))?;
            let mut all = Vec::new();
            for (i, p) in parts.iter().enumerate() {
                assert_eq!(p.content_id, i.to_string(), "parts completed out of order");
                all.extend_from_slice(got.get(&i).ok_or_else(|| no_upload(id))?);
            }
            self.inner.put(path, all.into()).await
        }
        async fn abort_multipart(
            &self,
            _path: &object_store::path::Path,
            id: &MultipartId,
        ) -> object_store::Result<()> {
            self.aborts.fetch_add(1, SeqCst);
            self.uploads.lock().unwrap().remove(id).map(|_| ()).ok_or_else(|| no_upload(id))
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for Watched {
        async fn put_opts(
            &self,
            location: &object_store::path::Path,
            payload: PutPayload,
            opts: PutOptions,
        ) -> object_store::Result<PutResult> {
            self.inner.put_opts(location, payload, opts).await
        }
        async fn put_multipart_opts(
            &self,
            location: &object_store::path::Path,
            opts: PutMultipartOptions,
        ) -> object_store::Result<Box<dyn MultipartUpload>> {
            // The backend uploads through `MultipartStore` (above).
            self.inner.put_multipart_opts(location, opts).await
        }
        async fn get_opts(
            &self,
            location: &object_store::path::Path,
            options: GetOptions,
        ) -> object_store::Result<GetResult> {
            self.inner.get_opts(location, options).await
        }
        async fn delete(&self, location: &object_store::path::Path) -> object_store::Result<()> {
            self.inner.delete(location).await
        }
        fn list(
            &self,
            prefix: Option<&object_store::path::Path>,
        ) -> futures::stream::BoxStream<'static, object_store::Result<ObjectMeta>> {
            self.inner.list(prefix)
        }
        async fn list_with_delimiter(
            &self,
            prefix: Option<&object_store::path::Path>,
        ) -> object_store::Result<ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }
        async fn copy(
            &self,
            from: &object_store::path::Path,
            to: &object_store::path::Path,
        ) -> object_store::Result<()> {
            self.inner.copy(from, to).await
        }
        async fn copy_if_not_exists(
            &self,
            from: &object_store::path::Path,
            to: &object_store::path::Path,
        ) -> object_store::Result<()> {
            self.inner.copy_if_not_exists(from, to).await
        }
    }

    fn watched(fail_part: Option<usize>) -> (S3Store, Arc<Watched>) {
        let w = Arc::new(Watched {
            inner: object_store::memory::InMemory::new(),
            uploads: Default::default(),
            next_upload: Default::default(),
            parts: Default::default(),
            aborts: Default::default(),
            fail_part,
        });
        (S3Store::with_store(w.clone(), S3Url::parse("s3://bucket/p").unwrap()), w)
    }

    /// Stage `data` as block `name` in `dir` with its upload streamed
    /// beside it, a MiB at a time, not sealed: (the upload, its length).
    fn stream(s: &S3Store, dir: &Path, name: &str, data: &[u8]) -> (Box<dyn StreamingPut>, u64) {
        let p = dir.join(name);
        let mut f = OpenOptions::new().create_new(true).append(true).open(&p).unwrap();
        let mut up = s.begin(name, &p).unwrap().expect("S3 streams");
        let mut len = 0;
        for piece in data.chunks(1 << 20) {
            feed(&mut f, &mut up, &mut len, piece);
        }
        (up, len)
    }

    /// Wait up to 20 s for `cond` (work on the block runtime), else fail
    /// saying `what` did not happen.
    fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let t = std::time::Instant::now();
        while !cond() {
            assert!(t.elapsed() < Duration::from_secs(20), "{what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Append `bytes` to the staged file and report it written.
    fn feed(f: &mut File, up: &mut Box<dyn StreamingPut>, len: &mut u64, bytes: &[u8]) {
        use std::io::Write;
        f.write_all(bytes).unwrap();
        *len += bytes.len() as u64;
        up.written(*len);
    }

    #[test]
    fn a_block_streams_its_parts_while_written_and_appears_only_when_finished() {
        let (s, w) = watched(None);
        let d = tempfile::tempdir().unwrap();
        let data = crate::testutil::noise(3, PART_SIZE * 5 / 2);
        let (up, len) = stream(&s, d.path(), "1-s", &data);
        // Two full parts went up before the seal (the writer never waited
        // for them), and nothing is visible yet.
        wait_for("parts were not sent before the seal", || w.parts.load(SeqCst) >= 2);
        assert_eq!(s.size("1-s").unwrap(), None);
        up.finish(len).unwrap();
        assert_eq!(w.parts.load(SeqCst), 3);
        assert_eq!(s.read_range("1-s", 0..len).unwrap(), data);
        // A block that stays within one part is one put at the seal.
        let q = d.path().join("small");
        let mut f = OpenOptions::new().create_new(true).append(true).open(&q).unwrap();
        let mut up = s.begin("2-s", &q).unwrap().expect("S3 streams");
        let mut len = 0;
        feed(&mut f, &mut up, &mut len, b"hello");
        up.finish(len).unwrap();
        assert_eq!(w.parts.load(SeqCst), 3);
        assert_eq!(s.read_range("2-s", 0..5).unwrap(), b"hello");
        assert_eq!(w.aborts.load(SeqCst), 0);
    }

    #[test]
    fn a_refused_part_or_a_writer_gone_leaves_nothing_under_the_name() {
        let d = tempfile::tempdir().unwrap();
        let data = crate::testutil::noise(5, PART_SIZE * 3);
        // The second part is refused: the seal reports it, the upload is
        // aborted, no object appears.
        let (s, w) = watched(Some(2));
        let (up, len) = stream(&s, d.path(), "1-f", &data);
        let e = up.finish(len).unwrap_err();
        assert!(e.to_string().contains("part refused"), "{e}");
        assert_eq!(w.aborts.load(SeqCst), 1);
        assert_eq!(s.size("1-f").unwrap(), None);
        // A writer dropped before sealing (its operation failed): aborted.
        let (s, w) = watched(None);
        let (up, _) = stream(&s, d.path(), "2-f", &data);
        drop(up);
        wait_for("the upload was not aborted", || w.aborts.load(SeqCst) > 0);
        assert_eq!(s.size("2-f").unwrap(), None);
        // A staged file shorter than what the writer reported is an error,
        // not a block with a hole.
        let (s, _) = watched(None);
        let r = d.path().join("short");
        let _staged = OpenOptions::new().create_new(true).append(true).open(&r).unwrap();
        let up = s.begin("3-f", &r).unwrap().expect("S3 streams");
        assert!(up.finish(100).is_err());
        assert_eq!(s.size("3-f").unwrap(), None);
    }

    #[test]
    fn every_multipart_upload_is_journaled_until_completed_or_aborted() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("tmp")).unwrap();
        let journal = Arc::new(DirJournal::new(d.path().join("uploads"), d.path().join("tmp")));
        let (s, w) = watched(None);
        s.journal_uploads(journal.clone());
        let data = crate::testutil::noise(9, PART_SIZE * 5 / 2);
        // A streamed block: recorded while its parts go up, forgotten once
        // it is complete.
        let (up, len) = stream(&s, d.path(), "1-j", &data);
        wait_for("the upload was not recorded", || !journal.list().unwrap().is_empty());
        let recs = journal.list().unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].block, "1-j");
        assert!(recs[0].last_seen.elapsed().unwrap() < Duration::from_secs(60));
        up.finish(len).unwrap();
        assert_eq!(journal.list().unwrap(), vec![]);
        assert_eq!(s.read_range("1-j", 0..len).unwrap(), data);
        // A block put whole past a part (compaction's copies): the same.
        let q = d.path().join("c");
        std::fs::write(&q, &data).unwrap();
        s.put("2-j", &q).unwrap();
        assert_eq!(journal.list().unwrap(), vec![]);
        // A writer dropped before its seal: aborted and forgotten.
        let (up, _) = stream(&s, d.path(), "3-j", &data);
        wait_for("the upload was not recorded", || !journal.list().unwrap().is_empty());
        drop(up);
        wait_for("the aborted upload stayed recorded", || journal.list().unwrap().is_empty());
        assert_eq!(w.aborts.load(SeqCst), 1);
        // What a killed writer leaves (a recorded upload with parts) is
        // aborted by its id; a second abort finds nothing.
        let key = s.key("4-j");
        let inner = w.clone();
        let id = run(async move {
            let id = inner.create_multipart(&key).await.unwrap();
            inner.put_part(&key, &id, 0, PutPayload::from(vec![1u8; 100])).await.unwrap();
            id
        })
        .unwrap();
        assert!(s.abort_upload("4-j", &id).unwrap());
        assert!(!s.abort_upload("4-j", &id).unwrap(), "already gone");
        assert_eq!(s.size("4-j").unwrap(), None);
    }

    #[test]
    fn a_streamed_upload_is_seen_alive_with_each_part_it_sends() {
        // A block filled by a slow push keeps its upload open for as long
        // as the push takes; gc must not take it for one a killed writer
        // left once it is older than the grace period.
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("tmp")).unwrap();
        let journal = Arc::new(DirJournal::new(d.path().join("uploads"), d.path().join("tmp")));
        let (s, _w) = watched(None);
        s.journal_uploads(journal.clone());
        let data = crate::testutil::noise(11, PART_SIZE * 3);
        let p = d.path().join("1-l");
        let mut f = OpenOptions::new().create_new(true).append(true).open(&p).unwrap();
        let mut up = s.begin("1-l", &p).unwrap().expect("S3 streams");
        let mut len = 0;
        feed(&mut f, &mut up, &mut len, &data[..PART_SIZE]);
        wait_for("the upload was not recorded", || !journal.list().unwrap().is_empty());
        // As if the upload had begun two hours ago.
        let id = journal.list().unwrap()[0].upload.clone();
        let old = std::time::SystemTime::now() - Duration::from_secs(7200);
        let secs = old.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        std::fs::write(d.path().join("uploads").join("1-l"), format!("{secs} {id}\n")).unwrap();
        // The next part goes up: its writer is seen alive now.
        feed(&mut f, &mut up, &mut len, &data[PART_SIZE..PART_SIZE * 2]);
        wait_for("the upload's record was not refreshed by its part", || {
            journal
                .list()
                .unwrap()
                .first()
                .is_some_and(|r| r.last_seen.elapsed().is_ok_and(|a| a < Duration::from_secs(60)))
        });
        feed(&mut f, &mut up, &mut len, &data[PART_SIZE * 2..]);
        up.finish(len).unwrap();
        assert_eq!(journal.list().unwrap(), vec![], "a completed upload stays recorded");
        assert_eq!(s.read_range("1-l", 0..len).unwrap(), data);
    }

    #[test]
    fn the_backend_is_callable_from_inside_another_runtime() {
        let s = Arc::new(mem());
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("b");
        std::fs::write(&p, b"abc").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let s2 = s.clone();
        // A plain call on a runtime thread (no spawn_blocking) must not panic.
        rt.block_on(async move {
            s2.put("1-x", &p).unwrap();
            assert_eq!(s2.read_range("1-x", 0..3).unwrap(), b"abc");
        });
    }

    #[test]
    fn the_local_backend_reads_short_at_the_end() {
        let d = tempfile::tempdir().unwrap();
        let s = LocalStore::new(d.path().join("segments"));
        assert_eq!(s.list().unwrap(), vec![]);
        std::fs::create_dir_all(d.path().join("segments")).unwrap();
        let p = d.path().join("segments").join("1-a.seg");
        std::fs::write(&p, b"hello").unwrap();
        s.put("1-a", &p).unwrap();
        assert_eq!(s.read_range("1-a", 3..10).unwrap(), b"lo");
        assert_eq!(s.list().unwrap(), vec![("1-a".to_string(), 5)]);
        s.delete("1-a").unwrap();
        assert_eq!(s.size("1-a").unwrap(), None);
    }
}
