#!/usr/bin/env python3
"""Scale benchmark: peak RSS and time of every step at N files (issue 14).

Steps, ours: add, commit, clean status, status after touching 1% (stat
changed, contents not), checkout of a second branch and back, diff of
the two branches (1% differs), work-tree diff with 1% modified, fsck, push to a
local oxen-server (client and server peak), clone (client and server
peak), and the clone's halves apart: fetch into an empty repository, then
the checkout of every file (`reset --hard`). git (when --git): add+commit and clean status on a copy, for the
ratios. Peak RSS of each of our processes comes from GNU time (%M); the
server's from /proc/<pid>/status VmHWM, reset (clear_refs 5) before each
step.

    bench/scale.py --files N [--tiny] [--git] [--max-rss-mb 200] [--no-remote]
                   [--oxen-bin-dir DIR] [--tmp-dir DIR] [--out FILE]

--tiny writes 16-byte files (fast to make; memory depends on the number
of files, not their size); without it the data is bench/gen_data.py's
(2-8 KB files, 100 a directory up to 1000 directories). --max-rss-mb makes
the run fail (exit 1) when the peak of any step (add, commit, status,
checkout, diff, fsck, push, clone; client or server) passes the limit.
--remote-files N runs push and clone on a repository of N files instead
(made after the local steps, so CI can gate the local steps at 300k and the
remote ones at 100k). The report
(Markdown rows) goes to stdout and, with --out, to that file.

Disk: about N x 4 KiB for the tiny data (inodes) and twice that for the
repository and clone (x3 with gen_data's 5 KB average files, plus the
same again for git with --git). Stdlib only.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from free_ports import free_ports  # noqa: E402
from tidy import remove_tree  # noqa: E402

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
GNU_TIME = "/usr/bin/time"


def log(msg):
    print("[scale %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def free_port():
    """A free loopback port, chosen as the tests choose theirs."""
    return free_ports(1)[0]


def make_tiny(root, files):
    """`files` 16-byte files, 100 a directory."""
    for d in range((files + 99) // 100):
        dp = os.path.join(root, "small", "d%05d" % d)
        os.makedirs(dp, exist_ok=True)
        for i in range(d * 100, min(files, d * 100 + 100)):
            p = os.path.join(dp, "f%08d.txt" % i)
            with open(p, "wb") as f:
                f.write(b"file %010d\n" % i)


def run(argv, cwd, env, timed=True):
    """(wall seconds, peak RSS KiB or None, stdout); raises on failure."""
    with tempfile.NamedTemporaryFile(prefix="scale-time-") as ft:
        full = ([GNU_TIME, "-q", "-f", "%M", "-o", ft.name] if timed else []) + list(argv)
        t0 = time.perf_counter()
        p = subprocess.run(full, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (" ".join(argv[:3]), p.returncode,
                                                      p.stderr.decode("utf-8", "replace").strip()[-500:]))
        rss = None
        if timed:
            m = re.findall(rb"^(\d+)\s*$", open(ft.name, "rb").read(), re.M)
            rss = int(m[-1]) if m else None
        return wall, rss, p.stdout


class Server:
    def __init__(self, bindir, base, env):
        self.bin = os.path.join(bindir, "oxen-server")
        self.base, self.env = base, dict(env, SYNC_DIR=os.path.join(base, "sync"))
        os.makedirs(self.env["SYNC_DIR"], exist_ok=True)
        self.port = free_port()
        cfg = os.path.join(base, "user_config.toml")
        subprocess.run([self.bin, "add-user", "--email", "bench@example.com", "--name", "Bench",
                        "--output", cfg, "--host", "http://127.0.0.1:%d" % self.port],
                       cwd=base, env=self.env, check=True, capture_output=True)
        self.token = re.search(r'token\s*=\s*"([^"]+)"', open(cfg).read()).group(1)
        os.makedirs(os.path.join(env["HOME"], ".oxen"), exist_ok=True)
        shutil.copy(cfg, os.path.join(env["HOME"], ".oxen", "user_config.toml"))
        self.log = open(os.path.join(base, "server.log"), "wb")
        self.proc = subprocess.Popen([self.bin, "start", "--host", "127.0.0.1", "--port", str(self.port)],
                                     cwd=base, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("oxen-server did not start")
                time.sleep(0.1)
        url = "http://127.0.0.1:%d" % self.port
        req = urllib.request.Request(url + "/api/repos", method="POST", data=json.dumps({"name": "scale"}).encode(),
                                     headers={"Authorization": "Bearer " + self.token,
                                              "Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=30).read()
        self.url = url + "/scale"

    def reset_peak(self):
        with open("/proc/%d/clear_refs" % self.proc.pid, "w") as f:
            f.write("5")

    def peak_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            return int(re.search(r"^VmHWM:\s*(\d+)", f.read(), re.M).group(1))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--tiny", action="store_true", help="16-byte files instead of gen_data.py's")
    ap.add_argument("--git", action="store_true", help="also time git add+commit and clean status")
    ap.add_argument("--max-rss-mb", type=float, default=None, help="fail when a step's peak RSS passes this")
    ap.add_argument("--oxen-bin-dir", default=os.path.join(REPO_ROOT, "target", "release"))
    ap.add_argument("--tmp-dir", default=None)
    ap.add_argument("--out", default=None, help="also write the report here")
    ap.add_argument("--no-remote", action="store_true",
                    help="skip push and clone (they dominate the run's time and disk)")
    ap.add_argument("--remote-files", type=int, default=None,
                    help="push and clone a repository of this many files instead of the --files one")
    a = ap.parse_args(argv)
    bindir = os.path.abspath(a.oxen_bin_dir)
    oxen = os.path.join(bindir, "oxen")
    tmp = tempfile.mkdtemp(prefix="oxen-scale-", dir=a.tmp_dir)
    env = dict(os.environ, HOME=os.path.join(tmp, "home"), OXEN_HOME=os.path.join(tmp, "home", ".oxen"),
               OXEN_AUTHOR_NAME="Bench", OXEN_AUTHOR_EMAIL="bench@example.com", OXEN_NO_PROGRESS="1",
               GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.com")
    os.makedirs(env["HOME"], exist_ok=True)
    load0 = os.getloadavg()[0]
    rows, over = [], []
    server = None

    def step(name, argv, cwd, limit_applies=True, srv=False):
        if srv:
            server.reset_peak()
        wall, rss, _ = run(argv, cwd, env)
        srss = server.peak_kb() if srv else None
        log("%s: %.2f s, %s KiB%s" % (name, wall, rss, ", server %s KiB" % srss if srv else ""))
        rows.append((name if limit_applies else name + " (not gated)", wall, rss, srss))
        for who, kb in (("client", rss), ("server", srss)):
            if a.max_rss_mb and limit_applies and kb is not None and kb / 1024.0 > a.max_rss_mb:
                over.append("%s (%s): %.0f MB" % (name, who, kb / 1024.0))
        return wall

    try:
        work = os.path.join(tmp, "work")
        os.makedirs(work)
        t0 = time.time()
        if a.tiny:
            make_tiny(work, a.files)
        else:
            subprocess.run([sys.executable, os.path.join(BENCH_DIR, "gen_data.py"), work, "--files", str(a.files),
                            "--large-count", "0", "--csv-rows", "0"], check=True, stdout=subprocess.DEVNULL)
        log("data: %d files in %.0f s" % (a.files, time.time() - t0))
        gitw = None
        if a.git:
            gitw = os.path.join(tmp, "git")
            subprocess.run(["cp", "-a", work, gitw], check=True)
        run([oxen, "init"], work, env, timed=False)
        add = step("add", [oxen, "add", "."], work)
        commit = step("commit", [oxen, "commit", "-m", "all"], work)
        status = step("status (clean)", [oxen, "status", "--porcelain"], work)
        # 1% touched: the stat changes, the contents do not (read once, refreshed in batches).
        now = time.time()
        n = 0
        for dp, _, names in os.walk(os.path.join(work, "small")):
            for nm in sorted(names)[:1]:
                os.utime(os.path.join(dp, nm), (now, now))
                n += 1
        step("status (%d touched)" % n, [oxen, "status", "--porcelain"], work)
        # A second branch changing 1% of the files, checked out and back.
        run([oxen, "checkout", "-b", "other"], work, env, timed=False)
        for dp, _, names in os.walk(os.path.join(work, "small")):
            for nm in sorted(names)[:1]:
                with open(os.path.join(dp, nm), "ab") as f:
                    f.write(b"changed\n")
        run([oxen, "commit", "-a", "-m", "1% changed"], work, env, timed=False)
        # Every step streams (gated): checkout, two commits differing in
        # 1%, the work tree with 1% modified, and fsck of everything.
        step("checkout (1% differs)", [oxen, "checkout", "main"], work)
        step("diff main other (1% differs)", [oxen, "diff", "main", "other"], work)
        m = 0
        for dp, _, names in os.walk(os.path.join(work, "small")):
            for nm in sorted(names)[1:2]:
                with open(os.path.join(dp, nm), "ab") as f:
                    f.write(b"modified\n")
                m += 1
        step("diff (%d modified)" % m, [oxen, "diff"], work)
        step("fsck", [oxen, "fsck"], work)
        if not a.no_remote:
            server = Server(bindir, os.path.join(tmp, "server"), env)
            src, suffix = work, ""
            if a.remote_files:
                # A repository of its own, the same shape, one commit. The
                # local steps' work tree stays until the end: on ext4
                # without a journal (this machine) a new file's inode skips
                # every inode freed in the last minutes, so removing 300k
                # files here made the clone's creates, not the clone, the
                # cost (88% of a checkout's samples in recently_deleted).
                src = os.path.join(tmp, "remote-src")
                os.makedirs(src)
                make_tiny(src, a.remote_files)
                run([oxen, "init"], src, env, timed=False)
                run([oxen, "add", "."], src, env, timed=False)
                run([oxen, "commit", "-m", "all"], src, env, timed=False)
                suffix = " (%d files)" % a.remote_files
            run([oxen, "remote", "add", "origin", server.url], src, env, timed=False)
            step("push" + suffix, [oxen, "push", "origin", "main"], src, srv=True)
            step("clone" + suffix, [oxen, "clone", server.url, os.path.join(tmp, "clone")], tmp, srv=True)
            # The clone's two halves apart: receive only into an empty
            # repository, then the checkout that writes every file.
            halves = os.path.join(tmp, "halves")
            os.makedirs(halves)
            run([oxen, "init"], halves, env, timed=False)
            run([oxen, "remote", "add", "origin", server.url], halves, env, timed=False)
            step("fetch into an empty repository" + suffix, [oxen, "fetch", "origin"], halves, srv=True)
            step("checkout of every file" + suffix, [oxen, "reset", "--hard", "origin/main"], halves)
        git_add = git_status = None
        if gitw:
            run(["git", "init", "-q"], gitw, env, timed=False)
            w1, _, _ = run(["git", "add", "-A"], gitw, env)
            w2, _, _ = run(["git", "commit", "-q", "-m", "all"], gitw, env)
            git_add = w1 + w2
            log("git add+commit: %.2f s" % git_add)
            run(["git", "status", "--porcelain"], gitw, env)  # refresh the index once, as ours did
            git_status, _, _ = run(["git", "status", "--porcelain"], gitw, env)
            log("git status (clean): %.2f s" % git_status)
    finally:
        if server:
            server.stop()
        remove_tree(tmp)
    lines = ["## Scale: %d %s files (%s)" % (a.files, "16-byte" if a.tiny else "2-8 KB",
                                             datetime.datetime.now().strftime("%Y-%m-%d %H:%M")), "",
             "- binaries: `%s`; load average at start %.2f, at end %.2f (2 cores shared)"
             % (bindir, load0, os.getloadavg()[0]),
             "- peak RSS: GNU time %M per process; server: VmHWM, reset before each step", "",
             "| step | time | peak RSS | server peak RSS |", "|---|---|---|---|"]
    for name, wall, rss, srss in rows:
        lines.append("| %s | %.2f s | %s | %s |" % (name, wall, "%.0f MB" % (rss / 1024.0) if rss else "-",
                                                  "%.0f MB" % (srss / 1024.0) if srss else "-"))
    if git_add is not None:
        lines += ["", "| ours vs git | ours | git | ratio |", "|---|---|---|---|",
                  "| add+commit | %.2f s | %.2f s | %.2fx |" % (add + commit, git_add, (add + commit) / git_add),
                  "| clean status | %.2f s | %.2f s | %.2fx |" % (status, git_status, status / git_status)]
    if a.max_rss_mb:
        lines += ["", "RSS limit %.0f MB: %s" % (a.max_rss_mb, "; ".join(over) if over else "every step within it")]
    report = "\n".join(lines) + "\n"
    print(report)
    if a.out:
        with open(a.out, "a") as f:
            f.write(report + "\n")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
