#!/usr/bin/env python3
"""Oxen benchmark harness: ours (release build) vs git, git-lfs, DVC and the
published `oxenai` Python package.  Stdlib only.  See bench/README.md.

Every tool gets a fresh `cp -r` of one generated dataset (gen_data.py) and
runs the same steps; each step's child processes are timed (wall clock) and
their peak RSS taken from os.wait4()'s rusage (ru_maxrss of the child and all
of its waited-for descendants).  A step made of several processes reports the
sum of the wall times and the max of the peak RSS values.
"""
import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from free_ports import free_ports  # noqa: E402

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
sys.path.insert(0, BENCH_DIR)
import cases  # noqa: E402
import gen_data  # noqa: E402
import tidy  # noqa: E402

ALL_TOOLS = ["oxen", "git", "git-lfs", "dvc", "oxenai"]
PEERS = ["git", "git-lfs", "dvc", "oxenai"]
AUTHOR = ("bench", "bench@example.com")

STEPS = [
    ("init", "init+add+commit (all)"),
    ("status_clean", "status, nothing changed"),
    ("status_dirty", "status after 1% modified + 100 new"),
    ("commit_change", "add+commit of the change"),
    ("checkout", "checkout first commit"),
    ("storage", "storage on disk"),
    ("push", "push to oxen-server (loopback)"),
    ("clone", "clone from oxen-server"),
    ("cp", "cp -r of the data (floor)"),
]
STEP_LABEL = dict(STEPS)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Process measurement


class StepResult:
    def __init__(self):
        self.wall = 0.0
        self.cpu = 0.0  # CPU seconds (user + system) of the step's processes
        self.rss_kb = 0
        self.ok = True
        self.err = ""
        self.out = ""
        self.err_out = ""
        self.server_rss_kb = None
        self.value = None  # e.g. storage bytes
        self.na = False

    def fail(self, msg):
        self.ok = False
        self.err = msg
        return self

    def cell(self):
        if self.na:
            return "—"
        if not self.ok:
            return "FAIL"
        if self.value is not None:
            return fmt_bytes(self.value)
        s = "%s / %s" % (fmt_secs(self.wall), fmt_mb(self.rss_kb))
        if self.server_rss_kb is not None:
            s += " (server %s)" % fmt_mb(self.server_rss_kb)
        return s


def fmt_secs(s):
    if s < 10:
        return "%.2f s" % s
    if s < 100:
        return "%.1f s" % s
    return "%.0f s" % s


def fmt_mb(kb):
    return "%.0f MB" % (kb / 1024.0)


def fmt_bytes(b):
    if b >= 10 * 1024 ** 3:
        return "%.1f GB" % (b / 1024.0 ** 3)
    return "%.1f MB" % (b / 1024.0 ** 2)


def last_line(text):
    """The last line of an error output, preferring the last one naming an error."""
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    errs = [l for l in lines if "error" in l.lower() or "panicked" in l]
    return (errs or lines or [""])[-1]


# Peak RSS: a child spawned from this (big) Python process inherits the
# parent's memory high-water mark across fork/vfork+exec, so ru_maxrss from
# wait4() would never be below the harness's own RSS.  GNU time forks the
# command from its own tiny process and reports that child's ru_maxrss (%M),
# so it is used when present; otherwise wait4's value is reported and the
# floor it includes is stated in the report.
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def rss_method():
    if GNU_TIME:
        return "GNU time (%M, wait4 rusage of each process)"
    return ("os.wait4 rusage (includes the harness's own RSS as a floor, about %.0f MB: "
            "install GNU time for exact values)"
            % (__import__("resource").getrusage(__import__("resource").RUSAGE_SELF).ru_maxrss / 1024))


RUNNING = {}  # "pid": the process group being measured, killed on interrupt
LAST_CPU = {"secs": 0.0}  # CPU seconds of the last process run_proc ran


def run_proc(argv, cwd, env, timeout):
    """Run one process; return (wall, maxrss_kb, returncode, stdout, stderr).
    Its CPU time (user + system, all threads) goes to LAST_CPU["secs"]."""
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe, \
            tempfile.NamedTemporaryFile(prefix="bench-time-") as ft:
        full = argv
        if GNU_TIME:
            full = [GNU_TIME, "-q", "-f", "%M", "-o", ft.name] + list(argv)
        t0 = time.perf_counter()
        try:
            p = subprocess.Popen(full, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                 stdout=fo, stderr=fe, start_new_session=True)
        except OSError as e:
            return 0.0, 0, 127, "", "cannot run %s: %s" % (argv[0], e)
        killed = []

        def kill():
            killed.append(1)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        RUNNING["pid"] = p.pid
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
            RUNNING.pop("pid", None)
        wall = time.perf_counter() - t0
        # wait4's rusage covers the waited-for descendants (under GNU time:
        # the command), every thread included.
        LAST_CPU["secs"] = ru.ru_utime + ru.ru_stime
        p.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        out = fo.read().decode("utf-8", "replace")
        err = fe.read().decode("utf-8", "replace")
        if killed:
            err += "\ntimeout after %d s" % timeout
        rss = ru.ru_maxrss
        if GNU_TIME:
            ft.seek(0)
            m = re.findall(rb"^(\d+)\s*$", ft.read(), re.M)
            if m:
                rss = int(m[-1])
            elif p.returncode == 127 or "No such file" in err:
                pass  # the command could not be run at all
        return wall, rss, p.returncode, out, err


def show_cmd(argv):
    shown = [os.path.basename(argv[0])]
    for i, a in enumerate(argv[1:5], 1):
        shown.append("<script>" if argv[i - 1] == "-c" else a)
    return " ".join(shown)


class Runner:
    def __init__(self, timeout):
        self.timeout = timeout

    def step(self, cmds, cwd, env):
        """cmds: list of argv lists or python callables (timed, no RSS)."""
        r = StepResult()
        os.sync()  # don't bill this step for the previous one's writeback
        for c in cmds:
            if callable(c):
                t0 = time.perf_counter()
                try:
                    c()
                except Exception as e:  # noqa: BLE001
                    r.wall += time.perf_counter() - t0
                    return r.fail("%s: %s" % (getattr(c, "__name__", "python"), e))
                r.wall += time.perf_counter() - t0
                continue
            wall, rss, rc, out, err = run_proc(c, cwd, env, self.timeout)
            r.wall += wall
            r.cpu += LAST_CPU["secs"]
            r.rss_kb = max(r.rss_kb, rss)
            r.out = out
            r.err_out = err
            if rc != 0:
                msg = last_line(err) or last_line(out) or "exit code %d" % rc
                return r.fail("`%s` exited %d: %s" % (show_cmd(c), rc, msg))
        return r

    def quiet(self, argv, cwd, env):
        """Untimed helper command: (ok, stdout, stderr)."""
        _, _, rc, out, err = run_proc(argv, cwd, env, self.timeout)
        return rc == 0, out, err


# --------------------------------------------------------------------------
# File-system helpers


def disk_usage(paths):
    """Bytes allocated on disk (st_blocks) under paths, hard links counted once."""
    seen = set()
    total = 0
    for top in paths:
        if not os.path.lexists(top):
            continue
        st = os.lstat(top)
        if not os.path.isdir(top) or os.path.islink(top):
            total += st.st_blocks * 512
            continue
        for root, dirs, files in os.walk(top):
            for name in dirs + files:
                try:
                    st = os.lstat(os.path.join(root, name))
                except OSError:
                    continue
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1:
                    if key in seen:
                        continue
                    seen.add(key)
                total += st.st_blocks * 512
        total += os.lstat(top).st_blocks * 512
    return total


def snapshot(root):
    """rel path -> (inode, mtime_ns, size) for every file under root."""
    snap = {}
    for dirpath, dirs, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            snap[os.path.relpath(p, root)] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return snap


def read(path):
    with open(path, "rb") as f:
        return f.read()


def free_port():
    """A free loopback port, chosen as the tests choose theirs."""
    return free_ports(1)[0]


# --------------------------------------------------------------------------
# Dataset bookkeeping


class Dataset:
    def __init__(self, path, stats, seed):
        self.path = path
        self.stats = stats
        self.seed = seed
        self.files = stats["small_files"]
        self.dirs = stats["dirs"]
        self.modified, self.added = gen_data.mutation_plan(self.files, self.dirs, seed)
        self.all_paths = sorted(snapshot(path).keys())
        self.rng = random.Random(seed)

    def mutate(self, data_dir):
        gen_data.mutate(data_dir, self.files, self.dirs, self.seed)

    def _sample(self, k=100):
        skip = set(self.modified)
        pool = [p for p in self.all_paths if p not in skip]
        return random.Random(self.seed).sample(pool, min(k, len(pool)))

    def verify_first(self, data_dir):
        """data_dir should equal the pristine dataset; return 'ok' or a problem."""
        try:
            have = set(snapshot(data_dir).keys())
        except OSError as e:
            return "cannot read: %s" % e
        want = set(self.all_paths)
        problems = []
        if have != want:
            problems.append("%d missing, %d extra files" % (len(want - have), len(have - want)))
        bad = 0
        for rel in self.modified + self._sample():
            p = os.path.join(data_dir, rel)
            if not os.path.exists(p) or read(p) != read(os.path.join(self.path, rel)):
                bad += 1
        if bad:
            problems.append("%d files with wrong content" % bad)
        return "; ".join(problems) or "ok"

    def verify_second(self, data_dir):
        """data_dir should equal the dataset after mutate()."""
        try:
            have = set(snapshot(data_dir).keys())
        except OSError as e:
            return "cannot read: %s" % e
        want = set(self.all_paths) | set(self.added)
        problems = []
        if have != want:
            problems.append("%d missing, %d extra files" % (len(want - have), len(have - want)))
        bad = 0
        for rel in self.modified:
            i = int(os.path.basename(rel)[1:8])
            orig = read(os.path.join(self.path, rel))
            exp = gen_data.mutated_head(self.seed, i) + orig[gen_data.MUTATE_HEAD:]
            p = os.path.join(data_dir, rel)
            if not os.path.exists(p) or read(p) != exp[:max(len(orig), gen_data.MUTATE_HEAD)]:
                bad += 1
        for j, rel in enumerate(self.added):
            p = os.path.join(data_dir, rel)
            if not os.path.exists(p) or read(p) != gen_data.added_content(self.seed, j):
                bad += 1
        for rel in self._sample():
            p = os.path.join(data_dir, rel)
            if not os.path.exists(p) or read(p) != read(os.path.join(self.path, rel)):
                bad += 1
        if bad:
            problems.append("%d files with wrong content" % bad)
        return "; ".join(problems) or "ok"


# --------------------------------------------------------------------------
# Tools


class Tool:
    name = "?"
    store = []  # paths relative to the work dir holding the tool's store
    status_lines = False  # status output is one line per changed path

    def __init__(self, h):
        self.h = h
        self.version = ""

    # Prepare / install; return None if usable, else a reason to skip.
    def prepare(self):
        return None

    def env(self, home):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith(("GIT_", "DVC_", "OXEN_")) or k in ("VIRTUAL_ENV", "PYTHONPATH"):
                del e[k]
        e.update({
            "HOME": home,
            "XDG_CONFIG_HOME": os.path.join(home, ".config"),
            "XDG_CACHE_HOME": os.path.join(home, ".cache"),
            "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": AUTHOR[0], "GIT_AUTHOR_EMAIL": AUTHOR[1],
            "GIT_COMMITTER_NAME": AUTHOR[0], "GIT_COMMITTER_EMAIL": AUTHOR[1],
            "GIT_TERMINAL_PROMPT": "0",
            "OXEN_AUTHOR_NAME": AUTHOR[0], "OXEN_AUTHOR_EMAIL": AUTHOR[1],
            "DVC_NO_ANALYTICS": "1",
            "NO_COLOR": "1",
        })
        return e

    def setup_home(self, home):
        os.makedirs(os.path.join(home, ".config"), exist_ok=True)
        with open(os.path.join(home, ".gitconfig"), "w") as f:
            f.write("[user]\n\tname = %s\n\temail = %s\n"
                    "[init]\n\tdefaultBranch = main\n"
                    # Background auto-gc would run detached and pollute the
                    # next steps' timings; storage is measured on loose objects.
                    "[gc]\n\tauto = 0\n"
                    "[advice]\n\tdetachedHead = false\n" % AUTHOR)

    # Steps return lists of commands (see Runner.step).
    def s_init(self, w): raise NotImplementedError
    def s_status(self, w): raise NotImplementedError
    def s_commit_change(self, w): raise NotImplementedError
    def first_commit(self, w): return None  # untimed, after s_init
    def s_checkout(self, w, first): raise NotImplementedError


def git_first(h, w, env):
    ok, out, err = h.runner.quiet(["git", "rev-parse", "HEAD"], w, env)
    return out.strip() if ok else None


class GitTool(Tool):
    name = "git"
    store = [".git"]
    status_lines = True

    def prepare(self):
        if not shutil.which("git"):
            return "git not found on PATH"
        self.version = subprocess.run(["git", "--version"], capture_output=True,
                                      text=True).stdout.strip()
        return None

    def s_init(self, w):
        return [["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "first"]]

    def s_status(self, w):
        return [["git", "status", "--porcelain"]]

    def s_commit_change(self, w):
        return [["git", "add", "-A"], ["git", "commit", "-qm", "second"]]

    def first_commit(self, w):
        return git_first(self.h, w, self.h.cur_env)

    def s_checkout(self, w, first):
        return [["git", "checkout", "-q", first]]


class GitLfsTool(GitTool):
    name = "git-lfs"

    def prepare(self):
        r = GitTool.prepare(self)
        if r:
            return r
        ok = subprocess.run(["git", "lfs", "version"], capture_output=True).returncode == 0
        if not ok and self.h.args.install and shutil.which("apt-get"):
            log("[git-lfs] installing with apt-get ...")
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "git-lfs"], capture_output=True,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
            ok = subprocess.run(["git", "lfs", "version"], capture_output=True).returncode == 0
        if not ok:
            return "git-lfs not available (apt-get install -y git-lfs failed or not allowed)"
        self.version = subprocess.run(["git", "lfs", "version"], capture_output=True,
                                      text=True).stdout.strip()
        return None

    def s_init(self, w):
        def exclude_gitattributes():
            # `track "*"` would put .gitattributes itself into LFS.
            with open(os.path.join(w, ".gitattributes"), "a") as f:
                f.write(".gitattributes !filter !diff !merge text\n")
        return [["git", "init", "-q"], ["git", "lfs", "install", "--local"],
                ["git", "lfs", "track", "*"], exclude_gitattributes,
                ["git", "add", "-A"], ["git", "commit", "-qm", "first"]]


def venv_tool(h, name, package, check):
    """Ensure bench/.venv/<name> has `package`; returns (venv dir or None, reason)."""
    vdir = os.path.join(h.args.venv_dir, name)
    py = os.path.join(vdir, "bin", "python")

    def works():
        return os.path.exists(py) and subprocess.run(
            [py, "-c", check], capture_output=True).returncode == 0

    if works():
        return vdir, None
    if not h.args.install:
        return None, "%s not installed in %s and installs are disabled" % (package, vdir)
    log("[%s] pip install %s into %s ..." % (name, package, vdir))
    r = subprocess.run([sys.executable, "-m", "venv", vdir], capture_output=True, text=True)
    if r.returncode != 0:
        return None, "cannot create venv: %s" % last_line(r.stderr)
    r = subprocess.run([py, "-m", "pip", "install", "-q", package], capture_output=True, text=True)
    if r.returncode != 0:
        return None, "pip install %s failed: %s" % (package, last_line(r.stderr))
    if not works():
        return None, "%s installed but `%s` fails" % (package, check)
    return vdir, None


class DvcTool(Tool):
    name = "dvc"
    store = [".dvc", ".git"]

    def prepare(self):
        if not shutil.which("git"):
            return "git not found (DVC needs it)"
        vdir, why = venv_tool(self.h, "dvc", "dvc", "import dvc")
        if why:
            return why
        self.dvc = os.path.join(vdir, "bin", "dvc")
        self.version = "dvc " + subprocess.run([self.dvc, "--version"], capture_output=True,
                                               text=True, env=dict(os.environ, DVC_NO_ANALYTICS="1")
                                               ).stdout.strip()
        return None

    def setup_home(self, home):
        Tool.setup_home(self, home)
        d = os.path.join(home, ".config", "dvc")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config"), "w") as f:
            f.write("[core]\n    analytics = false\n    check_update = false\n"
                    "    site_cache_dir = %s\n" % os.path.join(home, "dvc-site-cache"))

    def s_init(self, w):
        return [["git", "init", "-q"], [self.dvc, "init", "-q"], [self.dvc, "add", "-q", "data"],
                ["git", "add", "-A"], ["git", "commit", "-qm", "first"]]

    def s_status(self, w):
        return [[self.dvc, "status"]]

    def s_commit_change(self, w):
        return [[self.dvc, "add", "-q", "data"], ["git", "add", "-A"],
                ["git", "commit", "-qm", "second"]]

    def first_commit(self, w):
        return git_first(self.h, w, self.h.cur_env)

    def s_checkout(self, w, first):
        return [["git", "checkout", "-q", first], [self.dvc, "checkout", "-q"]]


OXENAI_PRELUDE = "import sys\nfrom oxen import Repo\nr = Repo(sys.argv[1])\n"
OXENAI = {
    "init": "r.init()\nr.add(sys.argv[2])\nc = r.commit('first')\nprint(c.id)\n",
    "mark": "r.checkout('bench-first', create=True)\nr.checkout('main')\n",
    "status": "s = r.status()\nprint(s)\n",
    "commit": "r.add(sys.argv[2])\nc = r.commit('second')\nprint(c.id)\n",
    "checkout": "r.checkout('bench-first')\n",
}


class OxenaiTool(Tool):
    name = "oxenai"
    store = [".oxen"]

    def prepare(self):
        vdir, why = venv_tool(self.h, "oxenai", "oxenai", "from oxen import Repo")
        if why:
            return why
        self.py = os.path.join(vdir, "bin", "python")
        v = subprocess.run([self.py, "-m", "pip", "show", "oxenai"], capture_output=True,
                           text=True).stdout
        m = re.search(r"^Version:\s*(\S+)", v, re.M)
        self.version = "oxenai %s (Python API)" % (m.group(1) if m else "?")
        return None

    def setup_home(self, home):
        Tool.setup_home(self, home)
        env = self.env(home)
        subprocess.run([self.py, "-c", "from oxen import user; user.config_user(%r, %r)" % AUTHOR],
                       env=env, capture_output=True)

    def _py(self, w, key):
        return [self.py, "-c", OXENAI_PRELUDE + OXENAI[key], w, os.path.join(w, "data")]

    def s_init(self, w):
        return [self._py(w, "init")]

    def s_status(self, w):
        return [self._py(w, "status")]

    def s_commit_change(self, w):
        return [self._py(w, "commit")]

    def first_commit(self, w):
        # The Python API only checks out branches: mark the first commit with one.
        ok, out, err = self.h.runner.quiet(self._py(w, "mark"), w, self.h.cur_env)
        return "bench-first" if ok else None

    def s_checkout(self, w, first):
        return [self._py(w, "checkout")]


class OursTool(Tool):
    name = "oxen"
    store = [".oxen"]
    status_lines = True

    def prepare(self):
        a = self.h.args
        if a.oxen_bin_dir:
            bindir = os.path.abspath(a.oxen_bin_dir)
        else:
            log("[oxen] cargo build --release ...")
            r = subprocess.run(["cargo", "build", "--release"], cwd=REPO_ROOT)
            if r.returncode != 0:
                return "cargo build --release failed (exit %d)" % r.returncode
            target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO_ROOT, "target")
            bindir = os.path.join(target, "release")
        if not os.access(os.path.join(bindir, "oxen"), os.X_OK):
            return "no oxen binary in %s" % bindir
        # Run private copies, so a rebuild during the run cannot swap binaries.
        snap = tempfile.mkdtemp(prefix="oxen-bench-bin-", dir=a.tmp_dir)
        self.h.cleanup.append(snap)
        for name in os.listdir(bindir):
            src = os.path.join(bindir, name)
            if name.startswith("oxen") and os.path.isfile(src) and os.access(src, os.X_OK):
                shutil.copy2(src, os.path.join(snap, name))
        self.src_bindir = bindir
        bindir = snap
        self.bindir = bindir
        self.oxen = os.path.join(bindir, "oxen")
        self.server = os.path.join(bindir, "oxen-server")
        if not os.access(self.oxen, os.X_OK):
            return "no oxen binary in %s" % bindir
        if a.oxen_bin_dir:
            self.version = "oxen (binaries from %s)" % self.src_bindir
        else:
            rev = subprocess.run(["git", "-C", REPO_ROOT, "rev-parse", "--short", "HEAD"],
                                 capture_output=True, text=True).stdout.strip()
            if rev and subprocess.run(["git", "-C", REPO_ROOT, "diff", "--quiet", "HEAD", "--"],
                                      capture_output=True).returncode == 1:
                rev += " with uncommitted changes"
            self.version = "oxen (this repo%s, release build)" % (" @ " + rev if rev else "")
        return None

    def env(self, home):
        e = Tool.env(self, home)
        e["PATH"] = self.bindir + os.pathsep + e.get("PATH", "")
        return e

    def s_init(self, w):
        return [[self.oxen, "init"], [self.oxen, "add", "."], [self.oxen, "commit", "-m", "first"]]

    def s_status(self, w):
        return [[self.oxen, "status", "--porcelain"]]

    def s_commit_change(self, w):
        return [[self.oxen, "add", "."], [self.oxen, "commit", "-m", "second"]]

    def first_commit(self, w):
        rp = os.path.join(self.bindir, "oxen-rev-parse")
        argv = [rp, "HEAD"] if os.access(rp, os.X_OK) else [self.oxen, "rev-parse", "HEAD"]
        ok, out, err = self.h.runner.quiet(argv, w, self.h.cur_env)
        out = out.strip()
        return out.split()[0] if ok and out else None

    def s_checkout(self, w, first):
        return [[self.oxen, "checkout", first]]


TOOL_CLASSES = {c.name: c for c in (OursTool, GitTool, GitLfsTool, DvcTool, OxenaiTool)}


# --------------------------------------------------------------------------
# oxen-server (ours only)


class Server:
    def __init__(self, h, tool, base):
        self.h, self.tool, self.base = h, tool, base
        self.proc = None
        self.url = None
        self.error = None

    def start(self, home, env):
        t = self.tool
        if not os.access(t.server, os.X_OK):
            self.error = "no oxen-server binary in %s" % t.src_bindir
            return False
        sync = os.path.join(self.base, "sync")
        os.makedirs(sync, exist_ok=True)
        senv = dict(env, SYNC_DIR=sync)
        cfg = os.path.join(self.base, "server_user", "user_config.toml")
        os.makedirs(os.path.dirname(cfg), exist_ok=True)
        # The token is for this server only: add-user is told its address
        # (binaries from before per-server tokens do not know --host).
        port = free_port()
        add_user = [t.server, "add-user", "--email", AUTHOR[1], "--name", AUTHOR[0], "--output", cfg]
        ok, out, err = self.h.runner.quiet(add_user + ["--host", "http://127.0.0.1:%d" % port], self.base, senv)
        if not ok and "--host" in err:
            ok, out, err = self.h.runner.quiet(add_user, self.base, senv)
        text = out + "\n" + (open(cfg).read() if os.path.exists(cfg) else "")
        m = re.search(r'token\s*=\s*"([^"]+)"', text)
        if not ok or not m:
            self.error = "oxen-server add-user failed: %s" % (last_line(err) or last_line(out)
                                                             or "no token found")
            return False
        token = m.group(1)
        # Client config: the token goes to $HOME/.oxen/user_config.toml.
        os.makedirs(os.path.join(home, ".oxen"), exist_ok=True)
        if os.path.exists(cfg):
            shutil.copy(cfg, os.path.join(home, ".oxen", "user_config.toml"))
        else:
            with open(os.path.join(home, ".oxen", "user_config.toml"), "w") as f:
                f.write(out)
        self.log_path = os.path.join(self.base, "server.log")
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen([t.server, "start", "--host", "127.0.0.1", "--port", str(port)]
                                     + list(getattr(self, "extra_args", [])),
                                     cwd=self.base, env=senv, stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.error = "oxen-server exited %d: %s" % (self.proc.returncode, self.log_tail())
                return False
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            self.error = "oxen-server did not listen on port %d within 30 s" % port
            return False
        base_url = "http://127.0.0.1:%d" % port
        req = urllib.request.Request(base_url + "/api/repos", method="POST",
                                     data=json.dumps({"name": "bench"}).encode(),
                                     headers={"Authorization": "Bearer " + token,
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                resp.read()
        except urllib.error.HTTPError as e:
            self.error = "POST /api/repos -> HTTP %d: %s" % (e.code, e.read()[:200].decode("utf-8", "replace"))
            return False
        except OSError as e:
            self.error = "POST /api/repos failed: %s" % e
            return False
        self.url = base_url + "/bench"
        return True

    def log_tail(self):
        try:
            return last_line(open(self.log_path, encoding="utf-8", errors="replace").read())
        except OSError:
            return ""

    def reset_peak(self):
        try:
            with open("/proc/%d/clear_refs" % self.proc.pid, "w") as f:
                f.write("5")
        except OSError:
            pass

    def peak_kb(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                m = re.search(r"^VmHWM:\s*(\d+)", f.read(), re.M)
                return int(m.group(1)) if m else None
        except OSError:
            return None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()


# --------------------------------------------------------------------------
# Harness


class Harness:
    def __init__(self, args):
        self.args = args
        self.runner = Runner(args.timeout)
        self.results = {}  # tool -> step -> StepResult
        self.notes = {}    # tool -> list of strings
        self.skipped = {}  # tool -> reason
        self.versions = {}
        self.cur_env = None
        self.interrupted = False
        self.cleanup = []  # extra temporary dirs to remove at the end
        self.cases = None  # cases.Cases of a --case run, or of --ci's tiny csv-edit
        self.load_start = os.getloadavg()[0]

    def note(self, tool, msg):
        self.notes.setdefault(tool, []).append(msg)
        log("[%s]   %s" % (tool, msg))

    def record(self, tool, step, r):
        self.results.setdefault(tool, {})[step] = r
        msg = "[%s] %-38s %s" % (tool, STEP_LABEL[step], r.cell())
        if not r.ok:
            msg += "  <- " + r.err
        log(msg)

    def run_tool(self, tool, ds, tmp):
        a = self.args
        base = os.path.join(tmp, tool.name)
        home = os.path.join(base, "home")
        w = os.path.join(base, "repo")
        os.makedirs(home)
        os.makedirs(w)
        tool.setup_home(home)
        env = tool.env(home)
        self.cur_env = env
        data = os.path.join(w, "data")
        run = self.runner.step

        # cp -r floor: a fresh copy of the dataset for this tool.
        r = run([["cp", "-r", ds.path, data]], tmp, env)
        self.record(tool.name, "cp", r)
        if not r.ok:
            return
        r = run(tool.s_init(w), w, env)
        self.record(tool.name, "init", r)
        first = tool.first_commit(w) if r.ok else None

        r = run(tool.s_status(w), w, env)
        self.record(tool.name, "status_clean", r)
        if r.ok and tool.status_lines:
            n = len([l for l in r.out.splitlines() if l.strip()])
            if n:
                self.note(tool.name, "status with nothing changed printed %d lines (expected 0)" % n)

        ds.mutate(data)
        r = run(tool.s_status(w), w, env)
        self.record(tool.name, "status_dirty", r)
        if r.ok and tool.status_lines:
            n = len([l for l in r.out.splitlines() if l.strip()])
            exp = len(ds.modified) + len(ds.added)
            self.note(tool.name, "status after the change: %d lines (expected %d)%s"
                      % (n, exp, "" if n == exp else "  <- MISMATCH"))

        r = run(tool.s_commit_change(w), w, env)
        self.record(tool.name, "commit_change", r)

        before = snapshot(data)
        if first:
            r = run(tool.s_checkout(w, first), w, env)
        else:
            r = StepResult().fail("no id for the first commit (init step failed?)")
        self.record(tool.name, "checkout", r)
        if r.ok:
            after = snapshot(data)
            written = sum(1 for p, v in after.items() if before.get(p, (None, None))[:2] != v[:2])
            removed = len(set(before) - set(after))
            verdict = ds.verify_first(data)
            self.note(tool.name, "checkout wrote %d files and removed %d (minimum %d and %d); "
                      "work tree vs first commit: %s"
                      % (written, removed, len(ds.modified), len(ds.added), verdict))
            self.checkout_stats.setdefault(tool.name, (written, removed, verdict))

        r = StepResult()
        r.value = disk_usage([os.path.join(w, s) for s in tool.store])
        self.record(tool.name, "storage", r)

        if tool.name == "oxen":
            self.push_clone(tool, ds, base, home, w, env)
        else:
            for s in ("push", "clone"):
                na = StepResult()
                na.na = True
                self.results[tool.name][s] = na

    def push_clone(self, tool, ds, base, home, w, env):
        srv = Server(self, tool, base)
        try:
            if not srv.start(home, env):
                for s in ("push", "clone"):
                    self.record(tool.name, s, StepResult().fail(srv.error))
                return
            ok, out, err = self.runner.quiet([tool.oxen, "remote", "add", "origin", srv.url], w, env)
            if not ok:
                msg = "oxen remote add failed: " + (last_line(err) or last_line(out))
                for s in ("push", "clone"):
                    self.record(tool.name, s, StepResult().fail(msg))
                return
            srv.reset_peak()
            r = self.runner.step([[tool.oxen, "push", "origin", "main"]], w, env)
            r.server_rss_kb = srv.peak_kb()
            if not r.ok and srv.log_tail():
                r.err += " (server log: %s)" % srv.log_tail()
            self.record(tool.name, "push", r)
            clone_dir = os.path.join(base, "clone")
            srv.reset_peak()
            r = self.runner.step([[tool.oxen, "clone", srv.url, clone_dir]], base, env)
            r.server_rss_kb = srv.peak_kb()
            self.record(tool.name, "clone", r)
            if r.ok:
                self.note(tool.name, "clone vs the pushed (second) commit: %s"
                          % ds.verify_second(os.path.join(clone_dir, "data")))
        finally:
            srv.stop()

    def main(self):
        global GNU_TIME
        a = self.args
        self.checkout_stats = {}
        if not GNU_TIME and a.install and shutil.which("apt-get"):
            log("installing GNU time (apt-get install -y time) for exact peak RSS ...")
            subprocess.run(["apt-get", "install", "-y", "-qq", "time"], capture_output=True,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
            GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
        tools = []
        for name in a.tools:
            t = TOOL_CLASSES[name](self)
            why = t.prepare()
            if why:
                self.skipped[name] = why
                log("[%s] SKIPPED: %s" % (name, why))
            else:
                self.versions[name] = t.version
                tools.append(t)

        tmp = tempfile.mkdtemp(prefix="oxen-bench-", dir=a.tmp_dir)
        log("work dir: %s" % tmp)
        if a.case:
            return self.main_cases(tools, tmp)
        # A SIGTERM (e.g. from `timeout`) still writes the partial report.
        def on_term(signum, frame):
            raise KeyboardInterrupt()
        signal.signal(signal.SIGTERM, on_term)
        self.dataset = None
        try:
            src = os.path.join(tmp, "dataset")
            stats = gen_data.generate(src, a.seed, a.files, a.dirs, a.large_count,
                                      a.large_mb, a.csv_rows)
            ds = Dataset(src, stats, a.seed)
            self.dataset = ds
            for t in tools:
                log("== %s (%s)" % (t.name, t.version))
                try:
                    self.run_tool(t, ds, tmp)
                except Exception as e:  # noqa: BLE001 - keep benchmarking the others
                    import traceback
                    traceback.print_exc()
                    self.note(t.name, "harness error: %s" % e)
            if a.ci:
                # The storage v2 row's code, tiny: csv-edit on ours.
                self.cases = cases.Cases(self, sys.modules[__name__], {t.name: t for t in tools}, tmp)
                self.cases.run(["csv-edit"])
        except KeyboardInterrupt:
            pid = RUNNING.get("pid")
            if pid:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
            log("interrupted: writing the partial report")
            self.interrupted = True
        try:
            if self.dataset is not None:
                report = self.report()
                os.makedirs(a.out, exist_ok=True)
                day = datetime.date.today().isoformat()
                suffix = "-ci" if a.ci else ("-quick" if a.quick else "")
                path = os.path.join(a.out, "%s%s.md" % (day, suffix))
                with open(path, "w") as f:
                    f.write(report)
                print(report, flush=True)
                log("written to %s" % path)
        finally:
            if a.keep:
                log("kept work dir: %s" % tmp)
            else:
                # Work dirs are only removed at the end: deleting many files on
                # a discard-mounted file system slows down file creation for a
                # while afterwards.
                log("removing %s ..." % tmp)
                tidy.remove_tree(tmp)
            for d in self.cleanup:
                tidy.remove_tree(d)
        if self.dataset is None or self.interrupted:
            return 1

        if a.strict:
            ours = self.results.get("oxen")
            if "oxen" in self.skipped or not ours:
                log("FAILED: ours was not benchmarked")
                return 1
            failed = [s for s, r in ours.items() if not r.ok]
            if failed:
                log("FAILED: ours failed step(s): %s" % ", ".join(STEP_LABEL[s] for s in failed))
                return 1
            if self.cases and self.cases.failures:
                log("FAILED: %s" % "; ".join("%s: %s" % f for f in self.cases.failures))
                return 1
        return 0

    def main_cases(self, tools, tmp):
        """`--case`: the storage v2 cases only (bench/cases.py)."""
        a = self.args
        c = cases.Cases(self, sys.modules[__name__], {t.name: t for t in tools}, tmp)
        self.cases = c
        def on_term(signum, frame):
            raise KeyboardInterrupt()
        signal.signal(signal.SIGTERM, on_term)
        try:
            c.run(a.case)
        except KeyboardInterrupt:
            log("interrupted: writing the partial report")
            self.interrupted = True
        finally:
            tidy.remove_tree(tmp)
            for d in self.cleanup:
                tidy.remove_tree(d)
        report = "\n".join(self.header_lines("cases: " + ", ".join(a.case))) + "\n" + "\n".join(c.sections)
        if c.failures:
            report += "\n## Failures\n\n" + "\n".join("- %s: %s" % f for f in c.failures) + "\n"
        os.makedirs(a.out, exist_ok=True)
        day = datetime.date.today().isoformat()
        path = os.path.join(a.out, "%s-case-%s.md" % (day, "+".join(a.case)))
        with open(path, "w") as f:
            f.write(report)
        print(report, flush=True)
        log("written to %s" % path)
        if self.interrupted:
            return 1
        return 1 if a.strict and c.failures else 0

    def header_lines(self, mode):
        """Date, machine, load and tool versions: the top of a report."""
        a = self.args
        now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        mem = ""
        try:
            m = re.search(r"MemTotal:\s*(\d+)", open("/proc/meminfo").read())
            mem = "%.1f GiB" % (int(m.group(1)) / 1024.0 ** 2)
        except (OSError, AttributeError):
            pass
        try:
            uname = subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip()
        except OSError:
            uname = " ".join(platform.uname())
        lines = ["# Oxen benchmark, %s (%s)" % (now, mode), ""]
        if self.interrupted:
            lines += ["**Interrupted: partial results.**", ""]
        lines.append("- machine: `%s`" % uname)
        lines.append("- cores: %d, memory: %s; load average at start %.2f, at end %.2f "
                     "(other work on the machine makes the numbers noisy)"
                     % (os.cpu_count() or 0, mem, self.load_start, os.getloadavg()[0]))
        for t in a.tools:
            if t in self.versions:
                lines.append("- %s: %s" % (t, self.versions[t]))
            else:
                lines.append("- %s: skipped (%s)" % (t, self.skipped.get(t, "")))
        lines.append("- peak RSS measured with %s" % rss_method())
        lines.append("")
        return lines

    # ----------------------------------------------------------------------

    def cp_floor(self):
        """The fastest of the run's `cp -r` copies of the dataset (one per tool)."""
        walls = [rs["cp"].wall for rs in self.results.values()
                 if "cp" in rs and rs["cp"].ok and rs["cp"].wall > 0]
        return min(walls) if walls else None

    def ratio(self, step):
        ours = self.results.get("oxen", {}).get(step)
        if step == "cp" or not ours or not ours.ok or ours.na:
            return ""
        if step in ("push", "clone"):
            cp = self.cp_floor()
            return "%.2fx cp -r" % (ours.wall / cp) if cp else ""
        best = None
        for p in PEERS:
            r = self.results.get(p, {}).get(step)
            if not r or not r.ok or r.na:
                continue
            v = r.value if step == "storage" else r.wall
            if best is None or v < best[0]:
                best = (v, p)
        if not best or best[0] <= 0:
            return ""
        v = ours.value if step == "storage" else ours.wall
        return "%.2fx %s" % (v / best[0], best[1])

    def target(self, step):
        res = self.results.get("oxen", {})
        ours = res.get(step)
        ok = ours is not None and ours.ok and not ours.na

        def verdict(v, limit):
            return "%s (%.2fx)" % ("met" if v <= limit else "MISSED", v)

        def best_peer(s):
            vals = [self.results[p][s].wall for p in PEERS
                    if s in self.results.get(p, {}) and self.results[p][s].ok]
            return min(vals) if vals else None

        if step == "init":
            b = best_peer("init")
            return "≤ 0.5x fastest peer" + (": " + verdict(ours.wall / b, 0.5) if ok and b else "")
        if step == "status_clean":
            g = self.results.get("git", {}).get("status_clean")
            t = "≤ 0.5x git"
            if ok and g and g.ok and g.wall > 0:
                t += ": " + verdict(ours.wall / g.wall, 0.5)
            return t
        if step == "status_dirty":
            c = res.get("status_clean")
            t = "proportional to change"
            if ok and c and c.ok:
                t += ": %.2f s over clean status" % (ours.wall - c.wall)
            return t
        if step == "commit_change":
            full = res.get("init")
            t = "proportional to change"
            if ok and full and full.ok and full.wall > 0:
                t += ": %.1f%% of full add+commit" % (100 * ours.wall / full.wall)
            return t
        if step == "checkout":
            t = "writes only differing files"
            st = self.checkout_stats.get("oxen")
            if ok and st:
                exact = st[0] == len(self.dataset.modified) and st[2] == "ok"
                t += ": %s (%d written)" % ("met" if exact else "MISSED", st[0])
            return t
        if step in ("push", "clone"):
            cp = self.cp_floor()
            t = "≥ 50% of cp -r throughput"
            if ok and cp and ours.wall > 0:
                b = self.dataset.stats["bytes"]
                t += ": %s, %.0f MB/s vs %.0f MB/s" % (
                    "met" if ours.wall <= 2 * cp else "MISSED", b / ours.wall / 1e6, b / cp / 1e6)
            return t
        return ""

    def report(self):
        a = self.args
        ds = self.dataset
        cols = [t for t in a.tools if t not in self.skipped]
        lines = []
        now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        mode = "ci" if a.ci else ("quick" if a.quick else "full")
        mem = ""
        try:
            m = re.search(r"MemTotal:\s*(\d+)", open("/proc/meminfo").read())
            mem = "%.1f GiB" % (int(m.group(1)) / 1024.0 ** 2)
        except (OSError, AttributeError):
            pass
        lines.append("# Oxen benchmark, %s (%s mode)" % (now, mode))
        lines.append("")
        if self.interrupted:
            lines.append("**Interrupted: partial results.**")
            lines.append("")
        try:
            uname = subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip()
        except OSError:
            uname = " ".join(platform.uname())
        lines.append("- machine: `%s`" % uname)
        lines.append("- cores: %d, memory: %s; load average at start %.2f, at end %.2f "
                     "(other work on the machine makes the numbers noisy)"
                     % (os.cpu_count() or 0, mem, self.load_start, os.getloadavg()[0]))
        lines.append("- dataset (seed %d): N = %d small files (2-8 KB) in %d dirs, %d x %g MiB "
                     "files, CSV of %d rows; %d files, %.1f MB in total"
                     % (ds.seed, ds.files, ds.dirs, a.large_count, a.large_mb, a.csv_rows,
                        ds.stats["files"], ds.stats["bytes"] / 1e6))
        lines.append("- change step: %d files modified in place (1%%), %d files added"
                     % (len(ds.modified), len(ds.added)))
        for t in a.tools:
            if t in self.versions:
                lines.append("- %s: %s" % (t, self.versions[t]))
            else:
                lines.append("- %s: skipped (%s)" % (t, self.skipped.get(t, "")))
        lines.append("- cells: wall time (sum over the step's processes) / peak RSS (max over "
                     "them); storage = bytes allocated on disk by the tool's store; page cache "
                     "warm, `sync` before each step")
        lines.append("- peak RSS measured with %s" % rss_method())
        lines.append("- push / clone are compared with the fastest `cp -r` of the dataset in "
                     "this run (one copy per tool)")
        lines.append("")
        header = ["step"] + cols + ["ours / fastest peer", "target (ours)"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---"] * len(header)) + "|")
        for key, label in STEPS:
            row = [label]
            for c in cols:
                r = self.results.get(c, {}).get(key)
                row.append(r.cell() if r else "")
            row.append(self.ratio(key))
            row.append(self.target(key))
            lines.append("| " + " | ".join(row) + " |")
        ours = self.results.get("oxen")
        if ours:
            peaks = [r.rss_kb for k, r in ours.items() if r.ok and not r.na and r.value is None
                     and k != "cp"]
            peaks += [r.server_rss_kb for r in ours.values() if r.server_rss_kb]
            if peaks:
                peak = max(peaks)
                lines.append("")
                lines.append("Peak RSS of ours over all steps (client and server): %s — target "
                             "< 200 MB: %s" % (fmt_mb(peak), "met" if peak < 200 * 1024 else "MISSED"))
        fails = [(t, k, r.err) for t, rs in self.results.items() for k, r in rs.items()
                 if not r.ok]
        if fails or self.notes or self.skipped:
            lines.append("")
            lines.append("## Notes")
            lines.append("")
            for t, why in self.skipped.items():
                lines.append("- %s skipped: %s" % (t, why))
            for t, k, err in fails:
                lines.append("- %s FAIL in '%s': %s" % (t, STEP_LABEL[k], err.replace("|", "/")))
            for t, ns in self.notes.items():
                for n in ns:
                    lines.append("- %s: %s" % (t, n))
        if "oxenai" in cols:
            lines.append("- oxenai: each step is one `python -c` process (interpreter start-up "
                         "and `import oxen` included); its checkout uses a branch made at the "
                         "first commit, as the Python API checks out branches only")
        lines.append("")
        if self.cases:
            lines += self.cases.sections
        return "\n".join(lines)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="N=10,000, 2 x 20 MiB large files, 100,000-row CSV")
    ap.add_argument("--ci", action="store_true",
                    help="CI smoke run: ours only, N=500, 2 x 2 MiB, 10,000-row CSV, no installs, "
                         "exit non-zero if any of our steps fails")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS),
                    help="comma list of: %s (default all)" % ",".join(ALL_TOOLS))
    ap.add_argument("--files", type=int, help="N small files (default 100,000)")
    ap.add_argument("--dirs", type=int, help="subdirectories (default N/100 in 100..1000)")
    ap.add_argument("--large-count", type=int, help="large files (default 5)")
    ap.add_argument("--large-mb", type=float, help="MiB per large file (default 50)")
    ap.add_argument("--csv-rows", type=int, help="CSV rows (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=gen_data.DEFAULT_SEED)
    ap.add_argument("--out", default=None,
                    help="directory for <date>.md (default bench/results; with --ci "
                         "$TMPDIR/oxen-bench-results)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work dir")
    ap.add_argument("--tmp-dir", default=None, help="where to make the work dir (default $TMPDIR)")
    ap.add_argument("--oxen-bin-dir", default=None,
                    help="use oxen binaries from here instead of `cargo build --release`")
    ap.add_argument("--venv-dir", default=os.path.join(BENCH_DIR, ".venv"),
                    help="where the dvc / oxenai virtualenvs live (default bench/.venv)")
    ap.add_argument("--no-install", dest="install", action="store_false",
                    help="never apt-get / pip install; skip tools that are missing")
    ap.add_argument("--strict", action="store_true",
                    help="exit non-zero if any of our steps fails")
    ap.add_argument("--timeout", type=int, default=3600, help="per-process timeout in seconds")
    g = ap.add_argument_group("storage v2 cases (bench/cases.py; see bench/README.md)")
    g.add_argument("--case", default=None,
                   help="run only these cases instead of the main table, comma list of: %s, or all"
                        % ",".join(cases.ALL_CASES))
    g.add_argument("--csv-mb", type=float, default=None, help="csv-edit / csv-size: CSV MiB (default 200)")
    g.add_argument("--ckpt-mb", type=float, default=500, help="checkpoints: MiB per checkpoint (default 500)")
    g.add_argument("--ckpt-count", type=int, default=10, help="checkpoints: how many (default 10)")
    g.add_argument("--big-mb", type=float, default=5120, help="chunk-speed: file MiB (default 5120)")
    g.add_argument("--s3-files", type=int, default=20_000, help="s3: small files (default 20,000)")
    g.add_argument("--s3-large-count", type=int, default=4, help="s3: large files (default 4)")
    g.add_argument("--s3-large-mb", type=float, default=100, help="s3: MiB per large file (default 100)")
    g.add_argument("--scaleout-replicas", type=int, default=3, help="scaleout: replicas behind nginx (default 3)")
    g.add_argument("--scaleout-large-count", type=int, default=4, help="scaleout: large files (default 4)")
    g.add_argument("--scaleout-large-mb", type=float, default=100,
                   help="scaleout: MiB per large file (default 100)")
    g.add_argument("--scaleout-files", type=int, default=10_000,
                   help="scaleout: small files of the concurrent-clone dataset (default 10,000)")
    g.add_argument("--scaleout-clients", type=int, default=8, help="scaleout: concurrent clones (default 8)")
    g.add_argument("--shallow-files", type=int, default=10_000, help="shallow: small files (default 10,000)")
    g.add_argument("--shallow-commits", type=int, default=20, help="shallow: churn commits (default 20)")
    g.add_argument("--python", default=sys.executable,
                   help="python: an interpreter with pyoxen installed (pip install ./python; default this one)")
    a = ap.parse_args(argv)
    if a.ci:
        a.tools = "oxen"
        a.install = False
        a.strict = True
        preset = dict(files=500, large_count=2, large_mb=2, csv_rows=10_000)
        a.timeout = min(a.timeout, 300)
    elif a.quick:
        preset = dict(files=10_000, large_count=2, large_mb=20, csv_rows=100_000)
    else:
        preset = dict(files=100_000, large_count=5, large_mb=50, csv_rows=1_000_000)
    for k, v in preset.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    tools = [t.strip() for t in a.tools.split(",") if t.strip()]
    bad = [t for t in tools if t not in ALL_TOOLS]
    if bad:
        ap.error("unknown tool(s): %s (choose from %s)" % (",".join(bad), ",".join(ALL_TOOLS)))
    a.tools = [t for t in ALL_TOOLS if t in tools]
    if a.case:
        names = cases.ALL_CASES if a.case == "all" else [c.strip() for c in a.case.split(",") if c.strip()]
        bad = [c for c in names if c not in cases.ALL_CASES]
        if bad:
            ap.error("unknown case(s): %s (choose from %s, or all)" % (",".join(bad), ",".join(cases.ALL_CASES)))
        a.case = [c for c in cases.ALL_CASES if c in names]
        # Only the tools some selected case uses are prepared.
        wanted = set(t for c in a.case for t in cases.CASE_TOOLS[c])
        a.tools = [t for t in a.tools if t in wanted]
    if a.csv_mb is None:
        a.csv_mb = 5 if a.ci else 200
    # csv-edit: what the store, the server and the push may grow by.
    a.csv_edit_limit = 1_000_000 if a.ci else 2_000_000
    if a.out is None:
        a.out = (os.path.join(tempfile.gettempdir(), "oxen-bench-results") if a.ci
                 else os.path.join(BENCH_DIR, "results"))
    a.out = os.path.abspath(a.out)
    return a


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return Harness(args).main()


if __name__ == "__main__":
    sys.exit(main())
