"""A 1 GB file streams through Repo.open in bounded memory."""

import hashlib
import os
import subprocess
import sys

import pyoxen

GB = 1 << 30
BLOCK = 1 << 20


def test_one_gigabyte_streams_under_200_mb_rss(tmp_path):
    repo = pyoxen.init(tmp_path / "r")
    # 1 GiB of 1 MiB random blocks, each block once altered so no two are
    # alike, written without holding more than a block.
    base = os.urandom(BLOCK)
    want = hashlib.sha256()
    with open(tmp_path / "r/big.bin", "wb") as f:
        for i in range(GB // BLOCK):
            block = i.to_bytes(8, "little") + base[8:]
            want.update(block)
            f.write(block)
    repo.add("big.bin")
    repo.commit("big")
    os.remove(tmp_path / "r/big.bin")  # nothing to read but the store

    # A fresh interpreter, so its peak RSS (VmHWM) is this read alone.
    code = f"""
import hashlib, pyoxen
r = pyoxen.Repo({str(tmp_path / "r")!r})
h = hashlib.sha256()
n = 0
with r.open("big.bin") as f:
    while True:
        b = f.read(4 << 20)
        if not b:
            break
        n += len(b)
        h.update(b)
peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(n, h.hexdigest(), int(peak) * 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    n, digest, peak = int(out[0]), out[1], int(out[2])
    assert n == GB
    assert digest == want.hexdigest()
    assert peak < 200 * 1024 * 1024, f"peak RSS {peak / 1e6:.0f} MB"
    print(f"1 GiB through Repo.open: peak RSS {peak / 1e6:.0f} MB")
