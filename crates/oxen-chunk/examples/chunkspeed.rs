//! Per-stage speed of hashing and chunking one file (page-cached):
//! `cargo run --release -p oxen-chunk --example chunkspeed -- FILE [ROUNDS]`.
//! Prints, for each stage, the best wall time of ROUNDS alternating runs as
//! MB/s and the CPU seconds (user + system, all threads) of that run.

use std::fs::File;
use std::io::{Read, Write};
use std::time::Instant;

use oxen_chunk::ChunkParams;
use oxen_hash::{ContentId, Hasher};

/// User + system CPU seconds of this process so far (from /proc).
fn cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn read_loop(path: &str, mut each: impl FnMut(&[u8])) {
    let mut f = File::open(path).unwrap();
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        each(&buf[..n]);
    }
}

/// Read `path` in 4 MiB buffers and cut each on its own with FastCDC
/// (close enough for a speed figure), handing `each` every chunk.
fn cut_loop(path: &str, p: ChunkParams, mut each: impl FnMut(&[u8])) {
    read_loop(path, |b| {
        let cdc = fastcdc::v2020::FastCDC::new(b, p.min, p.avg, p.max);
        let mut s = 0;
        while s < b.len() {
            let (_, e) = cdc.cut(s, b.len() - s);
            each(&b[s..e]);
            s = e;
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("FILE");
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(3);
    let only: Option<&String> = args.get(3);
    let len = std::fs::metadata(path).unwrap().len() as f64;
    let p = ChunkParams::DEFAULT;
    type Stage = (&'static str, Box<dyn Fn(&str) -> u64>);
    let stages: Vec<Stage> = vec![
        (
            "read (4 MiB buffer)",
            Box::new(|path| {
                let mut n = 0u64;
                read_loop(path, |b| n += b[0] as u64);
                n
            }),
        ),
        (
            "read + whole xxh3-128",
            Box::new(|path| {
                let mut h = Hasher::new();
                read_loop(path, |b| h.update(b));
                h.finish().as_bytes()[0] as u64
            }),
        ),
        (
            "read + FastCDC cut points",
            Box::new(move |path| {
                let mut n = 0u64;
                cut_loop(path, p, |_| n += 1);
                n
            }),
        ),
        (
            "read + cut + chunk ids",
            Box::new(move |path| {
                let mut n = 0u64;
                cut_loop(path, p, |c| n += ContentId::of(c).as_bytes()[0] as u64);
                n
            }),
        ),
        (
            "chunk_stream_threads(1)",
            Box::new(move |path| {
                let f = File::open(path).unwrap();
                let c = oxen_chunk::chunk_stream_threads(f, p, 1, |_| Ok::<_, ()>(())).unwrap();
                c.list.chunks().len() as u64
            }),
        ),
        (
            "chunk_stream_threads(2)",
            Box::new(move |path| {
                let f = File::open(path).unwrap();
                let c = oxen_chunk::chunk_stream_threads(f, p, 2, |_| Ok::<_, ()>(())).unwrap();
                c.list.chunks().len() as u64
            }),
        ),
        (
            "chunk_at_threads(2)",
            Box::new(move |path| {
                let f = File::open(path).unwrap();
                let c = oxen_chunk::chunk_at_threads(&f, p, 2, |_| Ok::<_, ()>(())).unwrap();
                c.list.chunks().len() as u64
            }),
        ),
        (
            "chunk_file",
            Box::new(move |path| {
                let f = File::open(path).unwrap();
                let c = oxen_chunk::chunk_file(&f, |_| Ok::<_, ()>(())).unwrap();
                c.list.chunks().len() as u64
            }),
        ),
    ];
    let mut best = vec![(f64::MAX, 0.0); stages.len()];
    for _ in 0..rounds {
        for (i, (name, run)) in stages.iter().enumerate() {
            if only.is_some_and(|o| !name.contains(o.as_str())) {
                continue;
            }
            let (t0, c0) = (Instant::now(), cpu());
            std::hint::black_box(run(path));
            let (t, c) = (t0.elapsed().as_secs_f64(), cpu() - c0);
            if t < best[i].0 {
                best[i] = (t, c);
            }
        }
    }
    let mut out = std::io::stdout().lock();
    for (i, (name, _)) in stages.iter().enumerate() {
        if best[i].0 < f64::MAX {
            let (mbs, cpu, wall) = (len / best[i].0 / 1e6, best[i].1, best[i].0);
            writeln!(out, "{name:<28} {mbs:>7.0} MB/s  cpu {cpu:.2} s  wall {wall:.2} s").unwrap();
        }
    }
}
