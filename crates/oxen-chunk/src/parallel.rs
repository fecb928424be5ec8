//! Chunking one stream on several cores, with the same result as one core.
//!
//! FastCDC's cut after a position depends only on the bytes that follow it
//! (at most `max` of them), never on how the chunker got there. So the
//! stream is read, in order, into slices of [`SLICE`] bytes, each extended
//! by the first `overlap` bytes of the next (copied, so every slice is one
//! contiguous buffer), and worker threads cut each slice as if a chunk
//! started at its first byte, computing the chunk ids as they go. The
//! calling thread then walks the true cut sequence: it follows slice `i`'s
//! cuts (true from where it joined them) into the overlap and, at their end,
//! joins slice `i + 1`'s cuts at the same position. Both sequences agree
//! from the first position where they share a cut, which in practice comes
//! within a chunk or two, well inside the overlap. When they do not meet
//! (data built to avoid it), the calling thread cuts the rest of slice
//! `i + 1` itself from the true position: slower, never different.
//!
//! For a file, [`chunk_at_parallel`] goes further: the workers read their
//! own slices with positional reads ([`ReadAt`]), cutting each megabyte as
//! it arrives, so the copy out of the page cache (a quarter of the CPU time
//! of chunking a page-cached file) runs on both cores and the cut and chunk
//! ids read bytes that the same core just wrote. The calling thread only
//! follows the cuts across slices, hashes the chunks into the file's id and
//! calls the sink. Buffers go round a pool of `threads + 2` slices.
//!
//! For a stream, the calling thread computes the whole stream's id (xxh3-128 is
//! sequential) as it reads, a piece of [`HASH_STEP`] bytes at a time right
//! after each read, while the bytes are still in cache; it then hands
//! chunks to the sink, in order. At most `threads + 2` slices are held, and
//! their buffers are reused, so memory is bounded by the slice size (~40
//! MiB with two threads), not the stream's, and no slice costs fresh pages.
//!
//! Why not a hasher thread (as before): on a machine whose cores are busy
//! with other work the threads of one process share what the scheduler
//! gives it, so every extra pass over memory is paid in wall time. A
//! separate hasher read each 8 MiB slice back from memory (the slices in
//! flight exceed the caches) and kept slices alive past the pipeline, so
//! their buffers were often freed and allocated again (page faults and
//! zeroing per slice); the two-thread path then cost ~50% more CPU than
//! one core for the same bytes and was slower than one core under load.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use oxen_hash::{ContentId, Hasher};

/// Bytes read (and then hashed into the stream's id) at a time: small
/// enough to still be in the core's cache when hashed.
const HASH_STEP: usize = 256 << 10;

use crate::{Chunk, ChunkError, ChunkList, ChunkParams, ChunkRef, Chunked};

/// The bytes each worker cuts at a time (plus the overlap). A multiple of
/// the default maximum chunk, so runs cut at the maximum (zeros) line up
/// across slices.
pub(crate) const SLICE: usize = 8 << 20;

/// How a stream is split between threads (tests use small slices to cross
/// many slice boundaries on little data).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// Worker threads cutting slices.
    pub threads: usize,
    /// Bytes per slice.
    pub slice: usize,
    /// Bytes of the next slice appended to each slice (at least `max`).
    pub overlap: usize,
}

impl Plan {
    pub(crate) fn new(threads: usize, params: ChunkParams) -> Plan {
        Plan { threads, slice: SLICE, overlap: 2 * params.max as usize }
    }
}

/// One chunk cut by a worker: where it ends in its slice, and its id.
#[derive(Clone, Copy)]
struct Cut {
    end: usize,
    id: ContentId,
}

/// Cuts `buf` from `from` on, as [`crate::chunk_stream_with`] would: only
/// where at least `max` bytes follow the chunk start, unless `eof`.
fn cut_slice(buf: &[u8], from: usize, eof: bool, params: ChunkParams) -> Vec<Cut> {
    let max = params.max as usize;
    let cdc = fastcdc::v2020::FastCDC::new(buf, params.min, params.avg, params.max);
    let mut cuts = Vec::with_capacity(buf.len() / params.avg as usize + 1);
    let mut start = from;
    while start < buf.len() && (eof || buf.len() - start >= max) {
        let (_, end) = cdc.cut(start, buf.len() - start);
        cuts.push(Cut { end, id: ContentId::of(&buf[start..end]) });
        start = end;
    }
    cuts
}

/// [`read_full`], hashing the bytes into `whole` as they arrive.
fn read_hashing<R: Read>(reader: &mut R, buf: &mut [u8], whole: &mut Hasher) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let end = (n + HASH_STEP).min(buf.len());
        let k = read_full(reader, &mut buf[n..end])?;
        whole.update(&buf[n..n + k]);
        n += k;
        if n < end {
            break;
        }
    }
    Ok(n)
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

struct Slice {
    buf: Arc<Vec<u8>>,
    eof: bool,
    cuts: Option<Vec<Cut>>,
}

struct Job {
    index: usize,
    buf: Arc<Vec<u8>>,
    eof: bool,
}

/// [`crate::chunk_stream_with`] on `plan.threads` worker threads. The
/// stream's first slice is read before any thread starts: a stream that fits
/// in it is cut on the calling thread.
pub(crate) fn chunk_stream_parallel<R: Read, E>(
    mut reader: R,
    params: ChunkParams,
    plan: Plan,
    sink: impl FnMut(&Chunk<'_>) -> Result<(), E>,
) -> Result<Chunked, ChunkError<E>> {
    let span = plan.slice + plan.overlap;
    let mut first = vec![0u8; span];
    let n = read_full(&mut reader, &mut first).map_err(ChunkError::Read)?;
    if n < span || plan.threads < 2 {
        return crate::chunk_sequential(io::Read::chain(&first[..n], reader), params, sink);
    }
    let mut whole = Hasher::new();
    whole.update(&first);
    std::thread::scope(|scope| {
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done_rx) = mpsc::channel::<(usize, Vec<Cut>)>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        for _ in 0..plan.threads {
            let (job_rx, done_tx) = (Arc::clone(&job_rx), done_tx.clone());
            scope.spawn(move || loop {
                // A poisoned lock means another worker panicked; the scope
                // re-raises that panic, so this one just stops.
                let job = match job_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok(Job { index, buf, eof }) = job else { return };
                let cuts = cut_slice(&buf, 0, eof, params);
                // Let go of the slice before saying so: the calling thread
                // then gets its buffer back for the next slice.
                drop(buf);
                if done_tx.send((index, cuts)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let list = merge(reader, first, &mut whole, params, plan, job_tx, done_rx, sink)?;
        Ok(Chunked { id: whole.finish(), list })
    })
}

/// The calling thread's part: reads slices (hashing them into `whole`),
/// hands them to the workers, and walks the true cut sequence across them, calling `sink`
/// in order. Returning drops the channels, which stops the other threads.
#[allow(clippy::too_many_arguments)]
fn merge<R: Read, E>(
    mut reader: R,
    first: Vec<u8>,
    whole: &mut Hasher,
    params: ChunkParams,
    plan: Plan,
    job_tx: mpsc::Sender<Job>,
    done_rx: mpsc::Receiver<(usize, Vec<Cut>)>,
    mut sink: impl FnMut(&Chunk<'_>) -> Result<(), E>,
) -> Result<ChunkList, ChunkError<E>> {
    let span = plan.slice + plan.overlap;
    let limit = plan.threads + 2;
    let gone = || ChunkError::Read(io::Error::other("chunking thread stopped"));
    let mut slices: BTreeMap<usize, Slice> = BTreeMap::new();
    let mut next_read = 0usize;
    let mut read_done = false;
    let mut pending_first = Some(first);
    // Buffers of finished slices, reused: a fresh 8 MiB allocation is fresh
    // pages, which the kernel faults in and zeroes on every slice.
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut chunks = Vec::new();
    // The true sequence: in slice `cur`, at `pos`, following `follow`
    // (cuts of slice `cur` that are true from index `at` on).
    let mut cur = 0usize;
    let mut pos = 0usize;
    let mut follow: Option<(Vec<Cut>, usize)> = None;
    loop {
        // Keep the workers busy: read ahead up to `limit` slices.
        while !read_done && slices.len() < limit {
            let buf = match pending_first.take() {
                Some(b) => b,
                None => {
                    let prev = &slices.get(&(next_read - 1)).ok_or_else(gone)?.buf;
                    let mut b = spare.pop().unwrap_or_default();
                    b.resize(span, 0);
                    b[..plan.overlap].copy_from_slice(&prev[plan.slice..]);
                    let n = read_hashing(&mut reader, &mut b[plan.overlap..], whole).map_err(ChunkError::Read)?;
                    b.truncate(plan.overlap + n);
                    b
                }
            };
            let eof = buf.len() < span;
            let buf = Arc::new(buf);
            job_tx.send(Job { index: next_read, buf: Arc::clone(&buf), eof }).map_err(|_| gone())?;
            slices.insert(next_read, Slice { buf, eof, cuts: None });
            next_read += 1;
            read_done = eof;
        }
        if follow.is_none() {
            // Joining slice `cur` at `pos` needs its cuts.
            while slices.get(&cur).ok_or_else(gone)?.cuts.is_none() {
                let (i, cuts) = done_rx.recv().map_err(|_| gone())?;
                if let Some(s) = slices.get_mut(&i) {
                    s.cuts = Some(cuts);
                }
            }
            let s = slices.get_mut(&cur).ok_or_else(gone)?;
            let cuts = s.cuts.take().unwrap_or_default();
            follow = Some(if pos == 0 {
                (cuts, 0)
            } else {
                match cuts.binary_search_by_key(&pos, |c| c.end) {
                    Ok(k) => (cuts, k + 1),
                    // The sequences have not met: cut on from the true position.
                    Err(_) => (cut_slice(&s.buf, pos, s.eof, params), 0),
                }
            });
        }
        let s = slices.get(&cur).ok_or_else(gone)?;
        let base = (cur * plan.slice) as u64;
        if let Some((cuts, at)) = &follow {
            for c in &cuts[*at..] {
                let data = &s.buf[pos..c.end];
                let chunk = Chunk { id: c.id, offset: base + pos as u64, data };
                sink(&chunk).map_err(ChunkError::Sink)?;
                // A chunk is at most `max` (≤ MAX_CHUNK_LEN) bytes: fits in u32.
                chunks.push(ChunkRef { id: c.id, len: data.len() as u32 });
                pos = c.end;
            }
        }
        if s.eof {
            break;
        }
        // On to the next slice, at the same stream position (the slice's
        // cuts stop less than `max` before its end, past the next start).
        if let Some(done) = slices.remove(&cur) {
            // The worker let go of it before sending its cuts.
            if let Ok(b) = Arc::try_unwrap(done.buf) {
                spare.push(b);
            }
        }
        cur += 1;
        pos -= plan.slice;
        follow = None;
    }
    ChunkList::new(chunks).map_err(|e| ChunkError::Read(io::Error::other(e)))
}

/// Positional reads from a source of bytes, for [`chunk_at_parallel`]:
/// each worker thread reads its own slices, so the copy out of the page
/// cache runs on the core that then cuts the bytes, while they are in its
/// cache.
pub trait ReadAt: Sync {
    /// Reads bytes at `offset` into `buf`; 0 at the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl ReadAt for std::fs::File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }
}

impl ReadAt for [u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let from = usize::try_from(offset).unwrap_or(usize::MAX).min(self.len());
        let n = buf.len().min(self.len() - from);
        buf[..n].copy_from_slice(&self[from..from + n]);
        Ok(n)
    }
}

/// Bytes a worker reads before cutting what they allow: the cut and the
/// chunk ids then read them from the core's own cache.
const READ_STEP: usize = 1 << 20;

/// One slice read and cut by a worker.
struct ReadSlice {
    index: usize,
    /// The slice's bytes: `buf[..len]`.
    buf: Vec<u8>,
    len: usize,
    eof: bool,
    cuts: Vec<Cut>,
}

/// Reads slice bytes at `offset` into `buf` (up to `span`), cutting as the
/// bytes arrive, with the same cuts as [`cut_slice`] on the whole slice.
fn read_and_cut<A: ReadAt + ?Sized>(
    src: &A,
    offset: u64,
    buf: &mut Vec<u8>,
    span: usize,
    params: ChunkParams,
) -> io::Result<(usize, bool, Vec<Cut>)> {
    // Sized once: buffers go round the pool, so this zeroes each only once.
    if buf.len() < span {
        buf.resize(span, 0);
    }
    let max = params.max as usize;
    let mut cuts = Vec::with_capacity(span / params.avg as usize + 1);
    let (mut n, mut eof, mut start) = (0usize, false, 0usize);
    while n < span && !eof {
        let end = (n + READ_STEP).min(span);
        while n < end {
            match src.read_at(&mut buf[n..end], offset + n as u64) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // A cut needs `max` bytes after the chunk start (or the end): FastCDC
        // looks no further, so cutting what has arrived so far gives the
        // cuts of the whole slice.
        let cdc = fastcdc::v2020::FastCDC::new(&buf[..n], params.min, params.avg, params.max);
        while start < n && (eof || n - start >= max) {
            let (_, e) = cdc.cut(start, n - start);
            cuts.push(Cut { end: e, id: ContentId::of(&buf[start..e]) });
            start = e;
        }
    }
    Ok((n, eof, cuts))
}

/// Chunks `src` from offset 0 to its end on `plan.threads` worker threads
/// that each read and cut their own slices; the calling thread only walks
/// the true cut sequence across slices (as [`merge`] does), hashes the
/// chunks into the whole id and calls `sink` in order. Same chunks as one
/// core for bytes that do not change while being read; if they do (a file
/// rewritten in place meanwhile), the id is still the hash of exactly the
/// chunks handed to `sink`, each cut as FastCDC cuts its own bytes.
pub(crate) fn chunk_at_parallel<A: ReadAt + ?Sized, E>(
    src: &A,
    params: ChunkParams,
    plan: Plan,
    sink: impl FnMut(&Chunk<'_>) -> Result<(), E>,
) -> Result<Chunked, ChunkError<E>> {
    let span = plan.slice + plan.overlap;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let ended = std::sync::atomic::AtomicBool::new(false);
    let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
    // Slices in flight: each worker's, plus two waiting for the caller.
    for _ in 0..plan.threads + 2 {
        let _ = free_tx.send(Vec::new());
    }
    let free_rx = Mutex::new(free_rx);
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel::<io::Result<ReadSlice>>();
        for _ in 0..plan.threads {
            let (free_rx, done_tx, next, ended) = (&free_rx, done_tx.clone(), &next, &ended);
            scope.spawn(move || loop {
                use std::sync::atomic::Ordering::SeqCst;
                // A buffer first, then the next slice: slices are taken in
                // order only by workers that can read them, so the slice the
                // caller waits for is always being read.
                let buf = match free_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok(mut buf) = buf else { return };
                if ended.load(SeqCst) {
                    return;
                }
                let index = next.fetch_add(1, SeqCst);
                let r = read_and_cut(src, (index * plan.slice) as u64, &mut buf, span, params);
                let r = r.map(|(len, eof, cuts)| {
                    if eof {
                        ended.store(true, SeqCst);
                    }
                    ReadSlice { index, buf, len, eof, cuts }
                });
                if done_tx.send(r).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        // Dropping `done_rx` (on return) and `free_tx` stops the workers.
        let r = follow_slices(params, plan, &free_tx, done_rx, sink);
        ended.store(true, std::sync::atomic::Ordering::SeqCst);
        drop(free_tx);
        r
    })
}

/// The calling thread's part of [`chunk_at_parallel`].
fn follow_slices<E>(
    params: ChunkParams,
    plan: Plan,
    free_tx: &mpsc::Sender<Vec<u8>>,
    done_rx: mpsc::Receiver<io::Result<ReadSlice>>,
    mut sink: impl FnMut(&Chunk<'_>) -> Result<(), E>,
) -> Result<Chunked, ChunkError<E>> {
    let gone = || ChunkError::Read(io::Error::other("chunking thread stopped"));
    let mut slices: BTreeMap<usize, ReadSlice> = BTreeMap::new();
    let mut whole = Hasher::new();
    let mut chunks = Vec::new();
    let (mut cur, mut pos) = (0usize, 0usize);
    loop {
        while !slices.contains_key(&cur) {
            let s = done_rx.recv().map_err(|_| gone())?.map_err(ChunkError::Read)?;
            slices.insert(s.index, s);
        }
        let s = slices.get_mut(&cur).ok_or_else(gone)?;
        let data = &s.buf[..s.len];
        let cuts = std::mem::take(&mut s.cuts);
        let (cuts, at) = if pos == 0 {
            (cuts, 0)
        } else {
            match cuts.binary_search_by_key(&pos, |c| c.end) {
                Ok(k) => (cuts, k + 1),
                // The file ended before the bytes the previous slice read
                // past this one's start: it shrank while being read.
                Err(_) if pos > data.len() => {
                    return Err(ChunkError::Read(io::Error::other("the file changed while being read")))
                }
                // The sequences have not met: cut on from the true position.
                Err(_) => (cut_slice(data, pos, s.eof, params), 0),
            }
        };
        let base = (cur * plan.slice) as u64;
        for c in &cuts[at..] {
            let bytes = &data[pos..c.end];
            whole.update(bytes);
            sink(&Chunk { id: c.id, offset: base + pos as u64, data: bytes }).map_err(ChunkError::Sink)?;
            // A chunk is at most `max` (≤ MAX_CHUNK_LEN) bytes: fits in u32.
            chunks.push(ChunkRef { id: c.id, len: bytes.len() as u32 });
            pos = c.end;
        }
        if s.eof {
            break;
        }
        if let Some(done) = slices.remove(&cur) {
            // A worker may have stopped already; the buffer is then freed.
            let _ = free_tx.send(done.buf);
        }
        // On to the next slice, at the same stream position (a full slice's
        // cuts end less than `max` before its end, past the next start).
        cur += 1;
        pos -= plan.slice;
    }
    let list = ChunkList::new(chunks).map_err(|e| ChunkError::Read(io::Error::other(e)))?;
    Ok(Chunked { id: whole.finish(), list })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::noise;
    use proptest::prelude::*;

    /// Small chunks, so small inputs cross many slice boundaries.
    const SMALL: ChunkParams = ChunkParams { min: 256, avg: 1024, max: 4096 };

    /// What a sink saw: each chunk's id, offset and bytes.
    type Seen = Vec<(ContentId, u64, Vec<u8>)>;

    /// A sink that checks each chunk against its id and keeps it in `seen`.
    fn recorder(seen: &mut Seen) -> impl FnMut(&Chunk<'_>) -> Result<(), ()> + '_ {
        move |c: &Chunk<'_>| {
            assert_eq!(c.id, ContentId::of(c.data));
            seen.push((c.id, c.offset, c.data.to_vec()));
            Ok(())
        }
    }

    /// Everything a sink sees, plus the result.
    fn run(data: &[u8], params: ChunkParams, plan: Option<Plan>) -> (Chunked, Seen) {
        let mut seen = Vec::new();
        let chunked = match plan {
            Some(plan) => chunk_stream_parallel(data, params, plan, recorder(&mut seen)),
            None => crate::chunk_sequential(data, params, recorder(&mut seen)),
        }
        .unwrap();
        (chunked, seen)
    }

    /// Everything a sink sees when each worker reads its own slices.
    fn run_at(data: &[u8], params: ChunkParams, plan: Plan) -> (Chunked, Seen) {
        let mut seen = Vec::new();
        let chunked = chunk_at_parallel(data, params, plan, recorder(&mut seen)).unwrap();
        (chunked, seen)
    }

    /// A sink that refuses the 40th chunk of 100,000 random bytes stops
    /// `chunk` (one of the two-core paths) with its error, having been
    /// handed exactly 40 chunks.
    fn a_sink_error_stops_at_its_chunk(
        chunk: impl FnOnce(
            &[u8],
            &mut dyn FnMut(&Chunk<'_>) -> Result<(), &'static str>,
        ) -> Result<Chunked, ChunkError<&'static str>>,
    ) {
        let data = noise(2, 100_000);
        let mut n = 0;
        let r = chunk(&data, &mut |_| {
            n += 1;
            if n == 40 {
                Err("full")
            } else {
                Ok(())
            }
        });
        assert!(matches!(r, Err(ChunkError::Sink("full"))));
        assert_eq!(n, 40);
    }

    fn same_as_one_core(data: &[u8], params: ChunkParams, plan: Plan) {
        same_as_one_core_stream(data, params, plan);
        let (want, want_seen) = run(data, params, None);
        let (got, got_seen) = run_at(data, params, plan);
        assert_eq!(got, want, "positional {plan:?} on {} bytes", data.len());
        assert!(got_seen == want_seen, "positional {plan:?}: the sink saw other chunks");
    }

    fn same_as_one_core_stream(data: &[u8], params: ChunkParams, plan: Plan) {
        let (want, want_seen) = run(data, params, None);
        let (got, got_seen) = run(data, params, Some(plan));
        assert_eq!(got, want, "{plan:?} on {} bytes", data.len());
        assert_eq!(got_seen.len(), want_seen.len());
        assert!(got_seen == want_seen, "{plan:?}: the sink saw other chunks");
        assert_eq!(want.id, ContentId::of(data));
    }

    /// Data that makes the slices' own cut sequences miss the true one:
    /// zeros (cut at `max` from wherever a slice starts) and short repeats.
    fn low_entropy(seed: u64, len: usize) -> Vec<u8> {
        let n = noise(seed, 64);
        (0..len)
            .map(|i| match (i / 20_000) % 3 {
                0 => 0,
                1 => n[i % 7],
                _ => n[(i * 31 + i / 97) % 64],
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn random_data_of_any_size_chunks_as_on_one_core(
            seed in any::<u64>(), len in 0usize..200_000,
            threads in 2usize..5, slice in 4096usize..40_000, extra in 0usize..9000,
        ) {
            let data = noise(seed, len);
            same_as_one_core(&data, SMALL, Plan { threads, slice, overlap: SMALL.max as usize + extra });
        }

        #[test]
        fn low_entropy_data_chunks_as_on_one_core(
            seed in any::<u64>(), len in 0usize..200_000, slice in 4096usize..40_000,
        ) {
            let data = low_entropy(seed, len);
            same_as_one_core(&data, SMALL, Plan { threads: 2, slice, overlap: SMALL.max as usize });
        }
    }

    #[test]
    fn sizes_around_slice_boundaries() {
        let plan = Plan { threads: 2, slice: 10_000, overlap: 5000 };
        for len in [0, 1, 14_999, 15_000, 15_001, 19_999, 20_000, 25_000, 30_000, 35_000, 100_000] {
            same_as_one_core(&noise(len as u64, len), SMALL, plan);
            same_as_one_core(&vec![0u8; len], SMALL, plan);
        }
    }

    #[test]
    fn zeros_with_slices_out_of_step_with_max() {
        // Slices of 5000 bytes, chunks of 4096: no slice's own cuts meet the
        // true ones, so every slice is re-cut from the true position.
        same_as_one_core(&vec![0u8; 300_000], SMALL, Plan { threads: 3, slice: 5000, overlap: 4096 });
    }

    #[test]
    fn default_parameters_across_real_slices() {
        let params = ChunkParams::DEFAULT;
        let mut data = noise(5, 3 * SLICE + 777_777);
        // A run of zeros across a slice boundary too.
        data[SLICE - 100_000..SLICE + 900_000].fill(0);
        same_as_one_core(&data, params, Plan::new(2, params));
        let (c, _) = run(&data, params, Some(Plan::new(2, params)));
        assert_eq!(crate::chunk_stream_threads(&data[..], params, 2, |_| Ok::<_, ()>(())).unwrap(), c);
    }

    #[test]
    fn positional_reads_of_a_real_file_chunk_as_on_one_core() {
        let params = ChunkParams::DEFAULT;
        let mut data = noise(9, 2 * SLICE + 3 * params.max as usize + 12_345);
        data[SLICE - 1000..SLICE + 300_000].fill(7);
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, &data).unwrap();
        let want = crate::chunk_stream_threads(&data[..], params, 1, |_| Ok::<_, ()>(())).unwrap();
        for threads in [1, 2, 3] {
            let got = crate::chunk_at_threads(&f, params, threads, |_| Ok::<_, ()>(())).unwrap();
            assert_eq!(got, want, "{threads} threads");
        }
        assert_eq!(crate::chunk_file(&f, |_| Ok::<_, ()>(())).unwrap(), want);
    }

    #[test]
    fn positional_read_and_sink_errors_stop_every_thread() {
        struct FailsAt(Vec<u8>, u64);
        impl ReadAt for FailsAt {
            fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
                if offset + buf.len() as u64 > self.1 {
                    return Err(io::Error::other("disk on fire"));
                }
                self.0[..].read_at(buf, offset)
            }
        }
        let plan = Plan { threads: 2, slice: 10_000, overlap: 5000 };
        let r = chunk_at_parallel(&FailsAt(noise(1, 100_000), 60_000), SMALL, plan, |_| Ok::<_, ()>(()));
        assert!(matches!(r, Err(ChunkError::Read(_))));
        a_sink_error_stops_at_its_chunk(|data, sink| chunk_at_parallel(data, SMALL, plan, sink));
    }

    #[test]
    fn a_file_that_shrinks_while_read_is_an_error_or_a_consistent_prefix() {
        // Slice 1 sees the file end before the bytes slice 0 read past its
        // start: the file shrank in between.
        struct Shrinks(Vec<u8>);
        impl ReadAt for Shrinks {
            fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
                let end = if offset >= 10_000 { 10_100 } else { self.0.len() };
                self.0[..end].read_at(buf, offset)
            }
        }
        let plan = Plan { threads: 2, slice: 10_000, overlap: 5000 };
        let mut got = Vec::new();
        match chunk_at_parallel(&Shrinks(noise(4, 50_000)), SMALL, plan, |c| {
            got.extend_from_slice(c.data);
            Ok::<_, ()>(())
        }) {
            Err(ChunkError::Read(e)) => assert!(e.to_string().contains("changed"), "{e}"),
            Ok(c) => assert_eq!(c.id, ContentId::of(&got)),
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn read_and_sink_errors_stop_every_thread() {
        struct FailsAfter(Vec<u8>, usize);
        impl Read for FailsAfter {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.1 >= self.0.len() {
                    return Err(io::Error::other("disk on fire"));
                }
                let n = out.len().min(self.0.len() - self.1);
                out[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
                self.1 += n;
                Ok(n)
            }
        }
        let plan = Plan { threads: 2, slice: 10_000, overlap: 5000 };
        let r = chunk_stream_parallel(FailsAfter(noise(1, 100_000), 0), SMALL, plan, |_| Ok::<_, ()>(()));
        assert!(matches!(r, Err(ChunkError::Read(_))));
        a_sink_error_stops_at_its_chunk(|data, sink| chunk_stream_parallel(data, SMALL, plan, sink));
    }
}
