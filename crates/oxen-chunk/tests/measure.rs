//! Measurements behind the chunking parameters (not run by `cargo test`):
//!
//! ```sh
//! cargo test -p oxen-chunk --test measure -- --ignored --nocapture
//! OXEN_MEASURE_MB=500 cargo test -p oxen-chunk --test measure -- --ignored --nocapture checkpoints
//! ```
//!
//! The checkpoint generator models successive model checkpoints: each of ten
//! versions overwrites 5% of the previous one's bytes with new random bytes,
//! in [`REGIONS`] contiguous regions (one at a random place in each of
//! `REGIONS` equal strata of the file, lengths drawn at random around the
//! mean), the way a training step rewrites some tensors and leaves others.
//! Overwrites rather than insertions: a checkpoint's layout is fixed; an
//! insertion is the easier case for content-defined chunking (the CSV
//! row-insertion case is a unit test in the crate).

// A measurement reports by printing its figures.
#![allow(clippy::print_stdout)]

use std::collections::HashSet;
use std::time::Instant;

use oxen_chunk::{chunk_stream_threads, chunk_stream_with, ChunkParams, Encoder, CHUNK_THRESHOLD};
use oxen_hash::ContentId;

/// Contiguous regions rewritten per checkpoint.
const REGIONS: usize = 40;
/// Share of bytes each checkpoint rewrites.
const CHANGED: f64 = 0.05;
const VERSIONS: usize = 10;

/// xorshift64*: deterministic, fast, good enough for synthetic data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn fill(&mut self, out: &mut [u8]) {
        for c in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

fn mb() -> usize {
    std::env::var("OXEN_MEASURE_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(128)
}

/// Rewrites ~5% of `data` in `REGIONS` contiguous regions.
fn mutate(data: &mut [u8], rng: &mut Rng) {
    let stratum = data.len() / REGIONS;
    let mean = (data.len() as f64 * CHANGED / REGIONS as f64) as u64;
    for r in 0..REGIONS {
        // Lengths uniform in [mean/2, 3*mean/2]: the total stays ~5%.
        let len = (mean / 2 + rng.below(mean + 1)).min(stratum as u64) as usize;
        let at = r * stratum + rng.below((stratum - len) as u64 + 1) as usize;
        rng.fill(&mut data[at..at + len]);
    }
}

fn unique_bytes(params: ChunkParams, versions: &[Vec<u8>]) -> (u64, u64, f64) {
    let mut seen = HashSet::new();
    let (mut stored, mut chunks, mut secs) = (0u64, 0u64, 0f64);
    for v in versions {
        let (s, c, t) = add_version(params, v, &mut seen);
        stored += s;
        chunks += c;
        secs += t;
    }
    (stored, chunks, secs)
}

/// Chunks one version; returns the bytes of its new chunks, its chunk count
/// and the seconds chunking took.
fn add_version(params: ChunkParams, v: &[u8], seen: &mut HashSet<ContentId>) -> (u64, u64, f64) {
    let t = Instant::now();
    let c = chunk_stream_with(v, params, |_| Ok::<_, ()>(())).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let mut stored = 0;
    for r in c.list.chunks() {
        if seen.insert(r.id) {
            stored += u64::from(r.len);
        }
    }
    (stored, c.list.chunks().len() as u64, secs)
}

#[test]
#[ignore = "measurement: run by hand"]
fn checkpoints() {
    let size = mb() << 20;
    println!("{VERSIONS} checkpoints of {} MiB, {REGIONS} regions totalling ~5% rewritten each", mb());
    println!("min/avg/max KiB | stored / one checkpoint | chunks | chunking MB/s");
    for (min, avg, max) in [(8, 32, 128), (16, 32, 128), (16, 64, 256), (32, 64, 128), (32, 128, 512)] {
        let p = ChunkParams { min: min << 10, avg: avg << 10, max: max << 10 };
        // The versions are regenerated from the seed for each setting, so
        // only one is in memory at a time.
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut cur = vec![0u8; size];
        rng.fill(&mut cur);
        let mut seen = HashSet::new();
        let (mut stored, mut chunks, mut secs) = (0u64, 0u64, 0f64);
        for v in 0..VERSIONS {
            if v > 0 {
                mutate(&mut cur, &mut rng);
            }
            let (s, c, t) = add_version(p, &cur, &mut seen);
            stored += s;
            chunks += c;
            secs += t;
        }
        let total = (size * VERSIONS) as f64;
        println!("{min}/{avg}/{max} | {:.3}x | {chunks} | {:.0}", stored as f64 / size as f64, total / secs / 1e6);
    }
}

#[test]
#[ignore = "measurement: run by hand"]
fn throughput() {
    let size = mb() << 20;
    let mut rng = Rng(7);
    let mut data = vec![0u8; size];
    rng.fill(&mut data);
    let t = Instant::now();
    let id = ContentId::of(&data);
    let hash = size as f64 / t.elapsed().as_secs_f64() / 1e6;
    // One core, then worker threads (as many as cores, at most MAX_THREADS),
    // alternately, best of three each: the machine is shared.
    let (mut chunk, mut chunk_par) = (0f64, 0f64);
    for _ in 0..3 {
        let t = Instant::now();
        let c = chunk_stream_threads(&data[..], ChunkParams::DEFAULT, 1, |_| Ok::<_, ()>(())).unwrap();
        chunk = chunk.max(size as f64 / t.elapsed().as_secs_f64() / 1e6);
        assert_eq!(c.id, id);
        let t = Instant::now();
        let par = chunk_stream_with(&data[..], ChunkParams::DEFAULT, |_| Ok::<_, ()>(())).unwrap();
        chunk_par = chunk_par.max(size as f64 / t.elapsed().as_secs_f64() / 1e6);
        assert_eq!(par, c);
    }
    // Chunking plus the codec's decision on random bytes (sampled, stays raw).
    let mut enc = Encoder::new().unwrap();
    let t = Instant::now();
    chunk_stream_with(&data[..], ChunkParams::DEFAULT, |ch| enc.encode(ch.data).map(|_| ())).unwrap();
    let chunk_codec_random = size as f64 / t.elapsed().as_secs_f64() / 1e6;
    // A numeric CSV: compressible, so every chunk is compressed in full.
    let mut csv = Vec::with_capacity(size);
    let mut i = 0u64;
    while csv.len() < size {
        let v = rng.next();
        csv.extend_from_slice(
            format!("{i},{}.{:04},{},{}\n", v % 1000, (v >> 10) % 10000, (v >> 24) % 7, (v >> 32) % 100_000).as_bytes(),
        );
        i += 1;
    }
    let mut csv_rows = Vec::new();
    for level in [1, 3] {
        let mut enc = Encoder::with_level(level).unwrap();
        let (mut raw, mut stored) = (0u64, 0u64);
        let t = Instant::now();
        chunk_stream_with(&csv[..], ChunkParams::DEFAULT, |ch| {
            raw += ch.data.len() as u64;
            stored += enc.encode(ch.data)?.bytes.len() as u64;
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
        let speed = csv.len() as f64 / t.elapsed().as_secs_f64() / 1e6;
        csv_rows.push(format!(
            "  + zstd-{level} on a numeric CSV {speed:.0} MB/s, stored {:.3} of raw",
            stored as f64 / raw as f64
        ));
    }
    println!("{} MiB, one core: xxh3-128 {hash:.0} MB/s; FastCDC+chunk ids {chunk:.0} MB/s", mb());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("  FastCDC+chunk ids+file id on worker threads ({cores} cores): {chunk_par:.0} MB/s (best of 3 each)");
    println!("  + codec on random bytes (probe, stays raw) {chunk_codec_random:.0} MB/s");
    for row in csv_rows {
        println!("{row}");
    }
}

#[test]
#[ignore = "measurement: run by hand"]
fn threshold() {
    // What one small overwrite in the middle of a file costs, chunked, as a
    // share of the file (unchunked it is 1.0), and the chunks per file.
    println!("file KiB | stored after a 100-byte edit / size | chunks");
    for kib in [256usize, 512, 1024, 4096] {
        let (mut share, mut chunks) = (0f64, 0usize);
        let trials = 20;
        for seed in 0..trials {
            let mut rng = Rng(seed as u64 * 7919 + 1);
            let mut a = vec![0u8; kib << 10];
            rng.fill(&mut a);
            let mut b = a.clone();
            let at = a.len() / 2;
            rng.fill(&mut b[at..at + 100]);
            let (stored, n, _) = unique_bytes(ChunkParams::DEFAULT, &[a.clone()]);
            let (both, _, _) = unique_bytes(ChunkParams::DEFAULT, &[a, b]);
            share += (both - stored) as f64 / (kib << 10) as f64;
            chunks += n as usize;
        }
        let mark = if kib as u64 * 1024 == CHUNK_THRESHOLD { " (threshold)" } else { "" };
        println!("{kib}{mark} | {:.2} | {:.1}", share / trials as f64, chunks as f64 / trials as f64);
    }
}

#[test]
#[ignore = "measurement: run by hand"]
fn csv_row_edit() {
    // A numeric CSV of OXEN_MEASURE_MB MiB, stored as compressed chunks;
    // then one row in the middle edited (a value made longer, so the bytes
    // after it shift) and stored again: what the second version adds.
    let size = mb() << 20;
    let mut rng = Rng(42);
    let mut csv = b"id,x,y,label,score\n".to_vec();
    let mut i = 0u64;
    while csv.len() < size {
        let v = rng.next();
        csv.extend_from_slice(
            format!(
                "{i},{}.{:04},{},{},{}\n",
                v % 1000,
                (v >> 10) % 10000,
                (v >> 24) % 7,
                (v >> 32) % 100_000,
                v >> 50
            )
            .as_bytes(),
        );
        i += 1;
    }
    let mut enc = Encoder::new().unwrap();
    let mut seen = HashSet::new();
    let mut store = |data: &[u8]| {
        let mut added = 0u64;
        chunk_stream_with(data, ChunkParams::DEFAULT, |ch| {
            if seen.insert(ch.id) {
                added += enc.encode(ch.data)?.bytes.len() as u64;
            }
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
        added
    };
    let first = store(&csv);
    let mid = csv.len() / 2;
    let row = mid + csv[mid..].iter().position(|&b| b == b'\n').unwrap() + 1;
    let comma = row + csv[row..].iter().position(|&b| b == b',').unwrap();
    csv.splice(comma..comma, *b"999");
    let second = store(&csv);
    println!(
        "{} MiB numeric CSV: stored {:.3} of raw; one edited row adds {} KiB",
        mb(),
        first as f64 / size as f64,
        second >> 10
    );
}

/// CPU seconds (user + system, all threads so far) and minor page faults
/// of this process, from /proc/self/stat.
fn cpu_and_faults() -> (f64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // rest[0] is field 3 (state): minflt is field 10, utime 14, stime 15.
    let minflt: u64 = f[7].parse().unwrap();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    (ticks / 100.0, minflt)
}

/// One core against the worker threads on the same bytes, alternately:
/// wall MB/s, CPU seconds per GB and page faults per GB of each (what
/// `bench/run --case chunk-speed` sees from outside, without the store).
#[test]
#[ignore = "measurement: run by hand"]
fn threads_against_one_core() {
    let size = mb() << 20;
    let mut data = vec![0u8; size];
    Rng(11).fill(&mut data);
    let gb = size as f64 / 1e9;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for round in 0..3 {
        for threads in [1, cores] {
            let (c0, f0) = cpu_and_faults();
            let t = Instant::now();
            chunk_stream_threads(&data[..], ChunkParams::DEFAULT, threads, |_| Ok::<_, ()>(())).unwrap();
            let wall = t.elapsed().as_secs_f64();
            let (c1, f1) = cpu_and_faults();
            println!(
                "round {round}, {threads} thread(s): {:.0} MB/s wall, {:.2} CPU s/GB, {:.0} page faults/GB",
                size as f64 / wall / 1e6,
                (c1 - c0) / gb,
                (f1 - f0) as f64 / gb
            );
        }
    }
}
