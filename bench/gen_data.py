#!/usr/bin/env python3
"""Deterministic benchmark data generator for the Oxen benchmark harness.

Layout written under OUT (every byte is a function of --seed and the sizes):

    OUT/small/dNNNN/fNNNNNNN.{txt,bin}   N small files of 2-8 KB (half text, half binary)
    OUT/large/large_NN.bin              --large-count files of --large-mb MiB of random bytes
    OUT/table.csv                       one CSV of --csv-rows rows

The same module provides `mutate()`, the "1% change" used by the benchmark:
the first 64 bytes of every 100th small file are overwritten (size kept, so a
tool has to notice the mtime/content change) and 100 new small files are added,
spread over the existing directories.

Usage:
    gen_data.py OUT [--seed S] [--files N] [--dirs D] [--large-count K]
                    [--large-mb M] [--csv-rows R]
    gen_data.py --mutate OUT [--seed S]
Stdlib only.
"""
import argparse
import base64
import os
import random
import sys
import time

DEFAULT_SEED = 42
CHUNK = 1 << 20
MUTATE_HEAD = 64
ADDED_FILES = 100


def default_dirs(files):
    """100..1000 directories (about 100 files each), never more than files."""
    return max(1, min(files, max(100, min(1000, files // 100))))


def small_rel_path(i, dirs):
    ext = "txt" if i % 2 == 0 else "bin"
    return os.path.join("small", "d%04d" % (i % dirs), "f%07d.%s" % (i, ext))


def _small_content(rng, i):
    size = rng.randint(2048, 8192)
    if i % 2 == 0:
        # Text-ish: base64 lines of random bytes (76 chars + newline).
        raw = rng.randbytes((size * 3) // 4 + 3)
        text = base64.encodebytes(raw)
        return text[:size]
    return rng.randbytes(size)


def small_paths(files, dirs):
    return [small_rel_path(i, dirs) for i in range(files)]


def generate(out, seed=DEFAULT_SEED, files=100_000, dirs=None, large_count=5,
             large_mb=50, csv_rows=1_000_000, verbose=True):
    """Write the dataset to `out` (created). Returns a dict of stats."""
    if dirs is None:
        dirs = default_dirs(files)
    dirs = max(1, min(dirs, max(files, 1)))
    t0 = time.perf_counter()
    os.makedirs(out, exist_ok=True)
    total = 0
    count = 0

    # Small files.
    rng = random.Random("%d-small" % seed)
    for d in range(dirs):
        os.makedirs(os.path.join(out, "small", "d%04d" % d), exist_ok=True)
    for i in range(files):
        data = _small_content(rng, i)
        with open(os.path.join(out, small_rel_path(i, dirs)), "wb") as f:
            f.write(data)
        total += len(data)
        count += 1

    # Large files, written in 1 MiB chunks.
    if large_count > 0:
        os.makedirs(os.path.join(out, "large"), exist_ok=True)
    for k in range(large_count):
        lrng = random.Random("%d-large-%d" % (seed, k))
        remaining = int(large_mb * CHUNK)
        with open(os.path.join(out, "large", "large_%02d.bin" % k), "wb") as f:
            while remaining > 0:
                n = min(CHUNK, remaining)
                f.write(lrng.randbytes(n))
                remaining -= n
        total += int(large_mb * CHUNK)
        count += 1

    # CSV.
    if csv_rows > 0:
        crng = random.Random("%d-csv" % seed)
        cats = ["cat", "dog", "bird", "fish", "horse", "ox", "yak", "emu"]
        path = os.path.join(out, "table.csv")
        with open(path, "w", newline="") as f:
            f.write("id,image,label,width,height,score,split\n")
            batch = []
            getrandbits = crng.getrandbits
            for r in range(csv_rows):
                bits = getrandbits(64)
                batch.append("%d,images/%08x.jpg,%s,%d,%d,%.6f,%s\n" % (
                    r, bits & 0xFFFFFFFF, cats[(bits >> 32) & 7],
                    64 + ((bits >> 35) & 1023), 64 + ((bits >> 45) & 1023),
                    ((bits >> 20) & 0xFFFFF) / 1048576.0,
                    "train" if (bits >> 55) & 7 else "test"))
                if len(batch) >= 10000:
                    f.write("".join(batch))
                    batch.clear()
            f.write("".join(batch))
        total += os.path.getsize(path)
        count += 1

    stats = {"files": count, "small_files": files, "dirs": dirs, "bytes": total,
             "large_count": large_count, "large_mb": large_mb,
             "csv_rows": csv_rows, "seed": seed,
             "seconds": time.perf_counter() - t0}
    if verbose:
        print("generated %d files (%d small in %d dirs), %.1f MB in %.1f s"
              % (count, files, dirs, total / 1e6, stats["seconds"]), file=sys.stderr)
    return stats


def mutation_plan(files, dirs, seed=DEFAULT_SEED):
    """(modified relative paths, added relative paths) of the 1% change."""
    modified = [small_rel_path(i, dirs) for i in range(0, files, 100)]
    ndirs = max(1, min(dirs, files))
    added = [os.path.join("small", "d%04d" % ((j * 7919) % ndirs), "added_%03d.txt" % j)
             for j in range(ADDED_FILES)]
    return modified, added


def mutated_head(seed, i):
    """The 64 bytes written over the start of modified file number i."""
    r = random.Random("%d-mut-%d" % (seed, i))
    return (b"MODIFIED %07d " % i + r.randbytes(32).hex().encode())[:MUTATE_HEAD]


def added_content(seed, j):
    r = random.Random("%d-add-%d" % (seed, j))
    return _small_content(r, 0)


def mutate(root, files, dirs=None, seed=DEFAULT_SEED):
    """Apply the 1% change in place under `root` (the dataset root)."""
    if dirs is None:
        dirs = default_dirs(files)
    dirs = max(1, min(dirs, max(files, 1)))
    modified, added = mutation_plan(files, dirs, seed)
    for rel in modified:
        i = int(os.path.basename(rel)[1:8])
        with open(os.path.join(root, rel), "r+b") as f:
            f.write(mutated_head(seed, i))
    for j, rel in enumerate(added):
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(added_content(seed, j))
    return modified, added


# --------------------------------------------------------------------------
# Storage v2 cases (bench/cases.py): one numeric CSV, checkpoints, big files.


def numeric_csv(path, mb, seed=DEFAULT_SEED):
    """A numeric CSV of about `mb` MiB (id,x,y,label,score: the shape of
    crates/oxen-chunk/tests/measure.rs's CSV). Returns its size."""
    rng = random.Random("%d-numeric-csv" % seed)
    target = int(mb * CHUNK)
    size = 0
    with open(path, "w", newline="") as f:
        head = "id,x,y,label,score\n"
        f.write(head)
        size += len(head)
        i = 0
        getrandbits = rng.getrandbits
        while size < target:
            batch = []
            for _ in range(1000):
                v = getrandbits(64)
                batch.append("%d,%d.%04d,%d,%d,%d\n" % (i, v % 1000, (v >> 10) % 10000, (v >> 24) % 7,
                                                         (v >> 32) % 100000, v >> 50))
                i += 1
            text = "".join(batch)
            f.write(text)
            size += len(text)
    return size


def edit_csv_row(path):
    """Edit one row in the middle of a CSV in place: its second field is made
    3 bytes longer ("999" inserted), so every later byte shifts."""
    with open(path, "rb") as f:
        data = f.read()
    mid = len(data) // 2
    row = data.index(b"\n", mid) + 1
    comma = data.index(b",", row)
    with open(path, "wb") as f:
        f.write(data[:comma] + b"999" + data[comma:])


def random_file(path, size, seed):
    """`size` seeded random bytes, written in 64 MiB pieces."""
    rng = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(64 * CHUNK, left)
            f.write(rng.randbytes(n))
            left -= n


CHECKPOINT_REGIONS = 40
CHECKPOINT_CHANGED = 0.05


def checkpoints(size, count, seed=DEFAULT_SEED):
    """Yields `count` successive checkpoints of `size` bytes (one bytearray,
    changed in place): each rewrites ~5% of the previous one's bytes in 40
    contiguous regions, one at a random place in each of 40 equal strata,
    lengths uniform in [mean/2, 3*mean/2] (the generator of
    crates/oxen-chunk/tests/measure.rs, with Python's seeded RNG)."""
    rng = random.Random("%d-checkpoints" % seed)
    # randbytes draws n * 8 bits at once: pieces keep that under C int.
    data = bytearray()
    while len(data) < size:
        data += rng.randbytes(min(64 * CHUNK, size - len(data)))
    stratum = size // CHECKPOINT_REGIONS
    mean = int(size * CHECKPOINT_CHANGED / CHECKPOINT_REGIONS)
    for v in range(count):
        if v > 0:
            for r in range(CHECKPOINT_REGIONS):
                n = min(mean // 2 + rng.randint(0, mean), stratum)
                at = r * stratum + rng.randint(0, stratum - n)
                data[at:at + n] = rng.randbytes(n)
        yield data


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--dirs", type=int, default=None,
                    help="number of subdirectories (default: files/100 clamped to 100..1000)")
    ap.add_argument("--large-count", type=int, default=5)
    ap.add_argument("--large-mb", type=float, default=50)
    ap.add_argument("--csv-rows", type=int, default=1_000_000)
    ap.add_argument("--mutate", action="store_true",
                    help="apply the 1%% change to an existing dataset instead")
    a = ap.parse_args(argv)
    if a.mutate:
        m, ad = mutate(a.out, a.files, a.dirs, a.seed)
        print("modified %d files, added %d" % (len(m), len(ad)), file=sys.stderr)
    else:
        generate(a.out, a.seed, a.files, a.dirs, a.large_count, a.large_mb, a.csv_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
