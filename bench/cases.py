"""Storage v2 cases of the benchmark (issue 11): `bench/run --case NAME`.

Each case makes its own data (gen_data.py, seeded), runs the tools that
apply to it side by side in one run, prints one markdown section of rows and
ratios, and deletes its data before the next case starts (the disk is
shared), never between two timed steps (tidy.py says why). Called from bench.py with the harness and the bench module (`b`),
so the helpers (timed steps, disk usage, oxen-server) are the same ones.

Cases (sizes are the issue's; `--ci` runs a tiny csv-edit, ours only):

- csv-edit: a numeric CSV (200 MiB), add+commit, one row edited, add+commit:
  local store growth for each tool; for ours also the push of each commit to
  a local oxen-server: server growth and the bytes the second push sent.
- csv-size: that CSV's stored size / its size: ours, git (loose and after
  `git gc --aggressive`), git-lfs, DVC.
- checkpoints: ten successive 500 MiB files, each rewriting ~5% of the
  previous one, added+committed one after another: total storage / one
  checkpoint, and time per step.
- chunk-speed: a 5 GiB random file: `oxen-hash-object` (hashing only),
  `oxen-hash-object -w` and `oxen add` into a fresh repository (hashing +
  chunking + storing), MB/s and peak RSS.
- storage: the N=100k bench dataset after add+commit: .oxen vs .git.
- s3: push and clone of a ~500 MB mixed dataset to oxen-server on local
  disk vs the same server with `--storage s3://BUCKET` on SeaweedFS.
- scaleout: the topology of deploy/topology.sh (3 replicas on shared
  metadata + SeaweedFS, nginx in front): push/clone of large files through
  the proxy vs one replica on local storage, and 8 concurrent clones of the
  N=10k dataset through the proxy vs one clone.
- fsmonitor (issue 14): `--files` small files committed, 10 of them edited
  before each status: status without and with the file-system monitor,
  ours (`core.fsmonitor`) and git's (`core.fsmonitor=true`, its built-in
  daemon, with `core.untrackedCache`), median of 5 runs.
- shallow (issue 14): the N=10k bench dataset with 20 commits of churn
  (gen_data.mutate with a new seed each: 1% of files rewritten, 1% added),
  pushed to oxen-server; `clone --depth 1` vs a full clone: bytes received
  (the client's `received N bytes` line), time, and `.oxen` size.
- python (issue 13): pyoxen's Repo.add + commit of the N=100k dataset vs
  `oxen add` + `oxen commit`; reading every file of a 10k-file revision
  through Repo.read vs reading them from a checkout.
"""
import os
import re
import shutil
import subprocess

import gen_data
import tidy

# The loopback scale-out topology the integration tests use (tests/it/scaleout.rs).
TOPOLOGY_SH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "deploy",
                           "topology.sh")
# The SeaweedFS harness the integration tests use (tests/it/s3_storage.rs).
SEAWEEDFS_SH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests",
                            "seaweedfs.sh")

ALL_CASES = ["csv-edit", "csv-size", "checkpoints", "chunk-speed", "storage", "s3", "scaleout", "python",
             "shallow", "fsmonitor", "partial-clone"]
CASE_TOOLS = {
    "csv-edit": ["oxen", "git", "git-lfs", "dvc"],
    "csv-size": ["oxen", "git", "git-lfs", "dvc"],
    "checkpoints": ["oxen", "git-lfs", "dvc"],
    "chunk-speed": ["oxen"],
    "storage": ["oxen", "git"],
    "s3": ["oxen"],
    "scaleout": ["oxen"],
    "python": ["oxen"],
    "fsmonitor": ["oxen", "git"],
    "shallow": ["oxen"],
    "partial-clone": ["oxen"],
}

# The python case's timed parts, run by `--python` (an interpreter with
# pyoxen installed) in the repository's directory.
PY_ADD_COMMIT = """
import sys, time, pyoxen
r = pyoxen.Repo(".")
t0 = time.perf_counter()
r.add(sys.argv[1])
r.commit("first")
print(time.perf_counter() - t0)
"""
PY_READ = """
import os, sys, time, pyoxen
r = pyoxen.Repo(".")
def via_repo():
    n = 0
    for e in r.ls():
        n += len(r.read(e.path))
    return n
def via_checkout():
    n = 0
    for d, _, fs in os.walk("."):
        if d.startswith("./.oxen"):
            continue
        for f in fs:
            with open(os.path.join(d, f), "rb") as fh:
                n += len(fh.read())
    return n
out = {}
for name, fn in (("repo", via_repo), ("checkout", via_checkout)) * 2:  # second round is warm
    t0 = time.perf_counter()
    n = fn()
    out[name] = (time.perf_counter() - t0, n)
print(out["repo"][0], out["repo"][1], out["checkout"][0], out["checkout"][1])
"""
MiB = 1 << 20


def log(msg):
    import sys
    print(msg, file=sys.stderr, flush=True)


def mb(n):
    return "%.2f MB" % (n / 1e6)


class Repo:
    """One tool's repository in a fresh work dir with its own $HOME."""

    def __init__(self, h, b, tool, base):
        self.h, self.b, self.tool = h, b, tool
        self.base = base
        self.home = os.path.join(base, "home")
        self.w = os.path.join(base, "repo")
        os.makedirs(self.home)
        os.makedirs(self.w)
        tool.setup_home(self.home)
        self.env = tool.env(self.home)
        h.cur_env = self.env

    def run(self, cmds):
        return self.h.runner.step(cmds, self.w, self.env)

    def init(self):
        t, w = self.tool, self.w
        if t.name == "oxen":
            cmds = [[t.oxen, "init"]]
        elif t.name == "git":
            cmds = [["git", "init", "-q"]]
        elif t.name == "git-lfs":
            def exclude_gitattributes():
                with open(os.path.join(w, ".gitattributes"), "a") as f:
                    f.write(".gitattributes !filter !diff !merge text\n")
            cmds = [["git", "init", "-q"], ["git", "lfs", "install", "--local"],
                    ["git", "lfs", "track", "*"], exclude_gitattributes]
        else:  # dvc
            cmds = [["git", "init", "-q"], [t.dvc, "init", "-q"]]
        return self.run(cmds)

    def add_commit(self, rel, msg):
        t = self.tool
        if t.name == "oxen":
            cmds = [[t.oxen, "add", rel], [t.oxen, "commit", "-m", msg]]
        elif t.name in ("git", "git-lfs"):
            cmds = [["git", "add", "-A"], ["git", "commit", "-qm", msg]]
        else:
            cmds = [[t.dvc, "add", "-q", rel], ["git", "add", "-A"], ["git", "commit", "-qm", msg]]
        return self.run(cmds)

    def store_bytes(self):
        return self.b.disk_usage([os.path.join(self.w, s) for s in self.tool.store])


class Cases:
    def __init__(self, h, b, tools, tmp):
        self.h, self.b, self.tmp = h, b, tmp
        self.tools = tools  # name -> prepared Tool
        # Trees a case is done with are set aside here and deleted between
        # cases, never between two timed steps (see tidy.py).
        self.trash = tidy.Trash(os.path.join(tmp, ".trash"))
        self.sections = []
        self.failures = []  # (case, message): ours failed or a CI check failed
        self.a = h.args

    # -- helpers ------------------------------------------------------------

    def fail(self, case, msg):
        self.failures.append((case, msg))
        log("[%s] FAIL: %s" % (case, msg))

    def case_dir(self, case):
        d = os.path.join(self.tmp, case)
        os.makedirs(d, exist_ok=True)
        return d

    def tools_for(self, case):
        return [self.tools[n] for n in CASE_TOOLS[case] if n in self.tools]

    def section(self, title, intro, header, rows, notes=()):
        lines = ["## %s" % title, ""]
        lines += intro
        lines.append("")
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---"] * len(header)) + "|")
        for r in rows:
            lines.append("| " + " | ".join(str(c) for c in r) + " |")
        if notes:
            lines.append("")
            lines += ["- " + n for n in notes]
        lines.append("")
        text = "\n".join(lines)
        self.sections.append(text)
        log(text)

    def repo(self, case, tool):
        base = os.path.join(self.case_dir(case), tool.name)
        return Repo(self.h, self.b, tool, base)

    def server(self, tool, base, home, env, extra_args=(), extra_env=None):
        srv = self.b.Server(self.h, tool, base)
        srv.extra_args = list(extra_args)
        srv.extra_env = dict(extra_env or {})
        ok = srv.start(home, dict(env, **srv.extra_env))
        return srv, ok

    # -- csv-edit / csv-size --------------------------------------------------

    def csv_mb(self):
        return self.a.csv_mb

    def make_csv(self, case):
        path = os.path.join(self.case_dir(case), "numbers.csv")
        log("[%s] generating a %g MiB numeric CSV ..." % (case, self.csv_mb()))
        size = gen_data.numeric_csv(path, self.csv_mb(), self.a.seed)
        return path, size

    def csv_edit(self):
        case = "csv-edit"
        src, size = self.make_csv(case)
        rows, notes = [], []
        limit = self.a.csv_edit_limit
        for t in self.tools_for(case):
            log("[%s] %s" % (case, t.name))
            r = self.repo(case, t)
            shutil.copy(src, os.path.join(r.w, "numbers.csv"))
            row = [t.name]
            srv = None
            try:
                s1 = r.init()
                s1 = s1 if not s1.ok else r.add_commit("numbers.csv", "first")
                if not s1.ok:
                    raise StepFailed("add+commit: " + s1.err)
                before = r.store_bytes()
                push1 = server_before = None
                if t.name == "oxen":
                    srv, ok = self.server(t, r.base, r.home, r.env)
                    if not ok:
                        notes.append("oxen: server did not start: %s" % srv.error)
                        srv = None
                    else:
                        ok, out, err = self.h.runner.quiet([t.oxen, "remote", "add", "origin", srv.url], r.w, r.env)
                        push1 = r.run([[t.oxen, "push", "origin", "main"]])
                        if not push1.ok:
                            raise StepFailed("first push: " + push1.err)
                        server_before = self.b.disk_usage([os.path.join(r.base, "sync")])
                gen_data.edit_csv_row(os.path.join(r.w, "numbers.csv"))
                s2 = r.add_commit("numbers.csv", "one row edited")
                if not s2.ok:
                    raise StepFailed("add+commit of the edit: " + s2.err)
                growth = r.store_bytes() - before
                row += [self.b.fmt_secs(s1.wall), self.b.fmt_secs(s2.wall), mb(before), mb(growth)]
                verdict = "met" if growth <= limit else "MISSED"
                if t.name == "oxen":
                    if srv:
                        p2 = r.run([[t.oxen, "push", "origin", "main"]])
                        if not p2.ok:
                            raise StepFailed("second push: " + p2.err)
                        sgrowth = self.b.disk_usage([os.path.join(r.base, "sync")]) - server_before
                        m = re.search(r"sent\s+([\d,]+)\s+bytes", p2.out + "\n" + p2.err_out)
                        if m:
                            sent = int(m.group(1).replace(",", ""))
                            sent_cell = mb(sent)
                        else:
                            sent = sgrowth
                            sent_cell = "%s (not printed by push: server growth)" % mb(sgrowth)
                        row += [mb(sgrowth), sent_cell, self.b.fmt_secs(p2.wall)]
                        ok_all = growth <= limit and sgrowth <= limit and sent <= limit
                        verdict = "met" if ok_all else "MISSED"
                        if self.a.ci and not ok_all:
                            self.fail(case, "server grew by %s, the push sent %s (limit %s)"
                                      % (mb(sgrowth), mb(sent), mb(limit)))
                    else:
                        row += ["n/a", "n/a", "n/a"]
                    if self.a.ci and growth > limit:
                        self.fail(case, "local store grew by %s (limit %s)" % (mb(growth), mb(limit)))
                else:
                    row += ["—", "—", "—"]
                row.append("%s (≤ %s)" % (verdict, mb(limit)) if t.name == "oxen" else "")
            except StepFailed as e:
                row += ["FAIL"] * (8 - len(row))
                notes.append("%s: %s" % (t.name, e))
                if t.name == "oxen":
                    self.fail(case, str(e))
            finally:
                if srv:
                    srv.stop()
                self.trash.set_aside(r.base)
            rows.append(row)
        self.trash.set_aside(self.case_dir(case))
        self.section(
            "csv-edit: one row edited in a %g MiB numeric CSV" % self.csv_mb(),
            ["CSV of %s (seed %d); the edit makes one value in the middle row 3 bytes longer, so "
             "every later byte shifts. Growth = `du` of the store after the second add+commit "
             "minus after the first; server growth = `du` of oxen-server's sync dir after the "
             "second push minus after the first." % (mb(size), self.a.seed)],
            ["tool", "add+commit", "add+commit of the edit", "store after first", "local growth",
             "server growth", "second push sent", "second push", "target"],
            rows, notes)

    def csv_size(self):
        case = "csv-size"
        src, size = self.make_csv(case)
        rows, notes = [], []
        for t in self.tools_for(case):
            log("[%s] %s" % (case, t.name))
            r = self.repo(case, t)
            shutil.copy(src, os.path.join(r.w, "numbers.csv"))
            try:
                s = r.init()
                s = s if not s.ok else r.add_commit("numbers.csv", "first")
                if not s.ok:
                    raise StepFailed(s.err)
                stored = r.store_bytes()
                label = t.name + (" (loose)" if t.name == "git" else "")
                target = ""
                if t.name == "oxen":
                    target = "%s (≤ 0.6)" % ("met" if stored / size <= 0.6 else "MISSED")
                rows.append([label, mb(stored), "%.3f" % (stored / size), self.b.fmt_secs(s.wall), target])
                if t.name == "git":
                    g = r.run([["git", "gc", "-q", "--aggressive"]])
                    if g.ok:
                        packed = r.store_bytes()
                        rows.append(["git (gc --aggressive)", mb(packed), "%.3f" % (packed / size),
                                     "+" + self.b.fmt_secs(g.wall), ""])
                    else:
                        notes.append("git gc --aggressive failed: %s" % g.err)
            except StepFailed as e:
                rows.append([t.name, "FAIL", "", "", ""])
                notes.append("%s: %s" % (t.name, e))
                if t.name == "oxen":
                    self.fail(case, str(e))
            finally:
                self.trash.set_aside(r.base)
        self.trash.set_aside(self.case_dir(case))
        self.section(
            "csv-size: a %g MiB numeric CSV stored" % self.csv_mb(),
            ["The CSV is %s; stored = `du` of the tool's store after add+commit (DVC: .dvc + "
             ".git; git-lfs: .git with its lfs objects)." % mb(size)],
            ["tool", "stored", "stored / size", "add+commit", "target"], rows, notes)

    # -- checkpoints ----------------------------------------------------------

    def checkpoints(self):
        case = "checkpoints"
        size = int(self.a.ckpt_mb * MiB)
        count = self.a.ckpt_count
        rows, notes = [], []
        for t in self.tools_for(case):
            log("[%s] %s: %d x %g MiB" % (case, t.name, count, self.a.ckpt_mb))
            r = self.repo(case, t)
            path = os.path.join(r.w, "model.ckpt")
            walls = []
            try:
                s = r.init()
                if not s.ok:
                    raise StepFailed(s.err)
                for v, data in enumerate(gen_data.checkpoints(size, count, self.a.seed)):
                    with open(path, "wb") as f:
                        f.write(data)
                    s = r.add_commit("model.ckpt", "checkpoint %d" % v)
                    if not s.ok:
                        raise StepFailed("checkpoint %d: %s" % (v, s.err))
                    walls.append(s.wall)
                    log("[%s] %s: checkpoint %d %s" % (case, t.name, v, self.b.fmt_secs(s.wall)))
                stored = r.store_bytes()
                ratio = stored / size
                target = ""
                if t.name == "oxen":
                    target = "%s (≤ 1.6)" % ("met" if ratio <= 1.6 else "MISSED")
                rows.append([t.name, mb(stored), "%.2fx" % ratio, self.b.fmt_secs(walls[0]),
                             self.b.fmt_secs(sum(walls[1:]) / max(1, len(walls) - 1)),
                             "%.0f MB/s" % (size * len(walls) / sum(walls) / 1e6), target])
            except StepFailed as e:
                rows.append([t.name, "FAIL", "", "", "", "", ""])
                notes.append("%s: %s" % (t.name, e))
                if t.name == "oxen":
                    self.fail(case, str(e))
            finally:
                self.trash.set_aside(r.base)
        self.trash.set_aside(self.case_dir(case))
        self.section(
            "checkpoints: %d successive %g MiB checkpoints, ~5%% rewritten each" % (count, self.a.ckpt_mb),
            ["One path (`model.ckpt`) rewritten and added+committed %d times; each version "
             "overwrites ~5%% of the previous one's bytes in %d random contiguous regions "
             "(gen_data.checkpoints, seed %d). Stored = `du` of the store after the last commit, "
             "relative to one checkpoint." % (count, gen_data.CHECKPOINT_REGIONS, self.a.seed)],
            ["tool", "stored", "stored / one checkpoint", "first add+commit", "later add+commit (mean)",
             "add+commit throughput", "target"], rows, notes)

    # -- chunk-speed ----------------------------------------------------------

    def chunk_speed(self):
        case = "chunk-speed"
        size = int(self.a.big_mb * MiB)
        rows, notes = [], []
        for t in self.tools_for(case):
            r = self.repo(case, t)
            path = os.path.join(r.base, "big.bin")
            log("[%s] writing %g MiB of random bytes ..." % (case, self.a.big_mb))
            gen_data.random_file(path, size, "%d-big" % self.a.seed)
            hob = os.path.join(t.bindir, "oxen-hash-object")
            try:
                s = r.init()
                if not s.ok:
                    raise StepFailed(s.err)
                steps = [("`oxen-hash-object FILE` (hashing only)", [[hob, path]], True),
                         ("`oxen-hash-object -w FILE`, fresh repo (hash + chunk + compress probe + "
                          "write + fsync)", [[hob, "-w", path]], False),
                         ("`oxen-hash-object -w FILE` again (every chunk stored: hash + chunk, "
                          "nothing written)", [[hob, "-w", path]], True)]
                taskset = shutil.which("taskset")
                if taskset:
                    # One core vs threaded on the same run: pinned to one CPU,
                    # available_parallelism() is 1, so the chunker takes its
                    # one-thread path (chunk_stream_threads(.., 1, ..)).
                    steps.append(("same again, pinned to one core (`taskset -c 0`: one-thread "
                                  "chunking)", [[taskset, "-c", "0", hob, "-w", path]], True))
                walls = {}
                for label, cmds, judged in steps:
                    s = r.run(cmds)
                    if not s.ok:
                        raise StepFailed("%s: %s" % (label, s.err))
                    walls[len(walls)] = s.wall
                    rows.append(self.speed_row(label, size, s, judged))
                if len(walls) == 4:
                    threaded, one = size / walls[2] / 1e6, size / walls[3] / 1e6
                    notes.append("%s: threaded %.0f MB/s vs one core %.0f MB/s (%.2fx)%s" % (
                        t.name, threaded, one, threaded / one,
                        " — the threaded path was SLOWER than one core on this run"
                        if threaded < one else ""))
                # `oxen add` into a fresh repository (the -w runs stored it).
                shutil.rmtree(os.path.join(r.w, ".oxen"))
                shutil.move(path, os.path.join(r.w, "big.bin"))
                s = r.init()
                s = s if not s.ok else r.run([[t.oxen, "add", "big.bin"]])
                if not s.ok:
                    raise StepFailed("oxen add: " + s.err)
                rows.append(self.speed_row("`oxen add FILE`, fresh repo (as -w, plus the index)",
                                           size, s, False))
                shutil.rmtree(os.path.join(r.w, ".oxen"))
                s = r.run([["cp", "big.bin", "copy.bin"], ["sync"]])
                if s.ok:
                    rows.append(self.speed_row("`cp FILE COPY && sync` (this disk's write floor)", size, s, None))
            except StepFailed as e:
                notes.append("%s: %s" % (t.name, e))
                self.fail(case, str(e))
            finally:
                self.trash.set_aside(r.base)
        self.trash.set_aside(self.case_dir(case))
        self.section(
            "chunk-speed: one %g MiB file of random bytes" % self.a.big_mb,
            ["The file was just written (page cache warm). MB/s = size / wall time of the "
             "command; CPU = user + system seconds over all its threads; peak RSS from its "
             "rusage. %d cores, shared. Random bytes do not compress, so a first store writes "
             "the whole file: those rows are bound by the disk (see the `cp` row); the hashing "
             "+ chunking target is judged on the rows that write nothing." % (os.cpu_count() or 0)],
            ["command", "wall", "MB/s", "CPU", "peak RSS", "target"], rows, notes)

    def speed_row(self, label, size, s, judged):
        rate = size / s.wall / 1e6 if s.wall > 0 else 0
        rss = s.rss_kb / 1024.0
        if judged is None:
            verdict = ""
        elif judged:
            verdict = "%s (≥ 1000 MB/s, ≤ 200 MB)" % ("met" if rate >= 1000 and rss <= 200 else "MISSED")
        else:
            verdict = "RSS %s (≤ 200 MB)" % ("met" if rss <= 200 else "MISSED")
        return [label, self.b.fmt_secs(s.wall), "%.0f" % rate, "%.2f s" % s.cpu, "%.0f MB" % rss, verdict]

    # -- storage --------------------------------------------------------------

    def storage(self):
        case = "storage"
        a = self.a
        src = os.path.join(self.case_dir(case), "dataset")
        stats = gen_data.generate(src, a.seed, a.files, a.dirs, a.large_count, a.large_mb, a.csv_rows)
        rows, notes, got = [], [], {}
        for t in self.tools_for(case):
            log("[%s] %s" % (case, t.name))
            r = self.repo(case, t)
            try:
                c = r.run([["cp", "-r", src, os.path.join(r.w, "data")]])
                s = c if not c.ok else r.init()
                s = s if not s.ok else r.add_commit("data", "first")
                if not s.ok:
                    raise StepFailed(s.err)
                got[t.name] = r.store_bytes()
                rows.append([t.name, mb(got[t.name]), "%.3f" % (got[t.name] / stats["bytes"]),
                             self.b.fmt_secs(s.wall)])
            except StepFailed as e:
                rows.append([t.name, "FAIL", "", ""])
                notes.append("%s: %s" % (t.name, e))
                if t.name == "oxen":
                    self.fail(case, str(e))
            finally:
                self.trash.set_aside(r.base)
        self.trash.set_aside(self.case_dir(case))
        if "oxen" in got and got.get("git"):
            ratio = got["oxen"] / got["git"]
            notes.append("ours / git: %.3f — target ≤ 0.6: %s" % (ratio, "met" if ratio <= 0.6 else "MISSED"))
        self.section(
            "storage: the bench dataset after add+commit",
            ["N = %d small files in %d dirs, %d x %g MiB random files, %d-row CSV: %s in %d files "
             "(seed %d). Stored = `du` of .oxen / .git (loose objects, as git leaves them after "
             "a commit)." % (stats["small_files"], stats["dirs"], a.large_count, a.large_mb, a.csv_rows,
                             mb(stats["bytes"]), stats["files"], a.seed)],
            ["tool", "stored", "stored / data", "init+add+commit"], rows, notes)

    # -- s3 -------------------------------------------------------------------

    def s3(self):
        case = "s3"
        rows, notes = [], []
        cpu_rows = []
        tools = self.tools_for(case)
        if not tools:
            return
        t = tools[0]
        ok, out, err = self.h.runner.quiet([t.server, "start", "--help"], self.tmp, dict(os.environ))
        if "--storage" not in out + err:
            self.section("s3: push and clone, server on local disk vs on SeaweedFS",
                         ["n/a (server lacks --storage): `oxen-server start --help` has no "
                          "`--storage` option in this build."], ["row", "result"],
                         [["s3 vs local throughput", "n/a (server lacks --storage)"]])
            return
        d = self.case_dir(case)
        src = os.path.join(d, "dataset")
        stats = gen_data.generate(src, self.a.seed, self.a.s3_files, None, self.a.s3_large_count,
                                  self.a.s3_large_mb, 0)
        total = stats["bytes"]
        weed_proc = None
        results, totals = {}, {}
        try:
            bucket = "oxen-bench"
            weed_dir = os.path.join(d, "weed")
            s3env, why = start_weed(weed_dir, bucket)
            if s3env is None:
                raise StepFailed("SeaweedFS did not start (tests/seaweedfs.sh): %s" % why)
            weed_proc = weed_dir
            for label, extra, env in (("local disk", [], {}),
                                      ("SeaweedFS (s3)", ["--storage", "s3://%s/bench" % bucket], s3env)):
                log("[%s] server on %s" % (case, label))
                r = self.repo(case, t)
                srv = None
                try:
                    c = r.run([["cp", "-r", src, os.path.join(r.w, "data")]])
                    s = c if not c.ok else r.init()
                    s = s if not s.ok else r.add_commit("data", "first")
                    if not s.ok:
                        raise StepFailed(s.err)
                    srv, ok = self.server(t, r.base, r.home, r.env, extra, env)
                    if not ok:
                        raise StepFailed("server on %s did not start: %s" % (label, srv.error))
                    self.h.runner.quiet([t.oxen, "remote", "add", "origin", srv.url], r.w, r.env)
                    # CPU seconds of each process over the step: where a
                    # push's time goes when client, server and weed share
                    # the machine's cores.
                    pids = [srv.proc.pid] + ([weed_pid(weed_dir)] if extra else [])
                    before = [proc_cpu(pid) for pid in pids]
                    p = r.run([[t.oxen, "push", "origin", "main"]])
                    if not p.ok:
                        raise StepFailed("push to %s: %s" % (label, p.err))
                    mid = [proc_cpu(pid) for pid in pids]
                    cl = self.h.runner.step([[t.oxen, "clone", srv.url, os.path.join(r.base, "clone")]],
                                            r.base, r.env)
                    if not cl.ok:
                        raise StepFailed("clone from %s: %s" % (label, cl.err))
                    after = [proc_cpu(pid) for pid in pids]
                    results[label] = (p.wall, cl.wall)
                    rows.append([label, self.b.fmt_secs(p.wall), "%.0f MB/s" % (total / p.wall / 1e6),
                                 self.b.fmt_secs(cl.wall), "%.0f MB/s" % (total / cl.wall / 1e6)])
                    cpu_rows.append([label, cpu_cell(p.cpu, before, mid), cpu_cell(cl.cpu, mid, after)])
                    totals[label] = (cpu_total(p.cpu, before, mid), cpu_total(cl.cpu, mid, after))
                finally:
                    if srv:
                        srv.stop()
                    self.trash.set_aside(r.base)
        except StepFailed as e:
            notes.append(str(e))
            self.fail(case, str(e))
        finally:
            if weed_proc:
                subprocess.run(["bash", SEAWEEDFS_SH, "stop", weed_proc], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            self.trash.set_aside(d)
        if len(results) == 2:
            (lp, lc), (sp, sc) = results["local disk"], results["SeaweedFS (s3)"]
            notes.append("throughput on SeaweedFS / on local disk: push %.2f, clone %.2f — target ≥ 0.5: %s"
                         % (lp / sp, lc / sc, "met" if min(lp / sp, lc / sc) >= 0.5 else "MISSED"))
        for label, push_cpu, clone_cpu in cpu_rows:
            notes.append("CPU seconds on %s (client / oxen-server / weed): push %s; clone %s"
                         % (label, push_cpu, clone_cpu))
        if len(results) == 2 and "SeaweedFS (s3)" in totals:
            # Every process shares the machine's cores, so a step cannot end
            # before all their CPU seconds are spent: the best ratio this
            # machine allows, whatever our code does.
            cores = os.cpu_count() or 1
            for i, step in enumerate(("push", "clone")):
                need = totals["SeaweedFS (s3)"][i]
                if need is None:
                    continue
                floor = need / cores
                notes.append("CPU floor, %s to SeaweedFS: %.2f CPU s (client + oxen-server + weed) on %d cores "
                             "take at least %.2f s, so at most %.2f of the local-disk %s's throughput on this "
                             "machine" % (step, need, cores, floor, results["local disk"][i] / floor, step))
        self.section(
            "s3: push and clone, server on local disk vs on SeaweedFS",
            ["Dataset: %d small files, %d x %g MiB random files: %s. SeaweedFS (`weed server "
             "-s3`) on loopback, data on the same disk." % (self.a.s3_files, self.a.s3_large_count,
                                                           self.a.s3_large_mb, mb(total))],
            ["server storage", "push", "push MB/s", "clone", "clone MB/s"], rows, notes)

    # -- scaleout ---------------------------------------------------------------

    def scaleout(self):
        case = "scaleout"
        tools = self.tools_for(case)
        if not tools:
            return
        t = tools[0]
        a = self.a
        d = self.case_dir(case)
        rows, notes = [], []
        topo_dir = os.path.join(d, "topology")
        topo = None
        try:
            # The large-file dataset: a few small files, the rest large random files.
            big = os.path.join(d, "big")
            bstats = gen_data.generate(big, a.seed, 100, None, a.scaleout_large_count, a.scaleout_large_mb, 0)
            btotal = bstats["bytes"]
            log("[%s] starting the topology: %d replicas, nginx" % (case, a.scaleout_replicas))
            topo, why = start_topology(topo_dir, t.bindir, a.scaleout_replicas)
            if topo is None:
                raise StepFailed("deploy/topology.sh did not start: %s" % why)
            notes.append("topology: %d replicas, metadata %s, contents on SeaweedFS (%s), nginx in front"
                         % (a.scaleout_replicas, topo["OXEN_METADATA"], topo["OXEN_STORAGE"]))

            def push_clone(label, url_of, env, tag):
                r = self.repo(case, t)
                srv = None
                try:
                    c = r.run([["cp", "-r", big, os.path.join(r.w, "data")]])
                    s = c if not c.ok else r.init()
                    s = s if not s.ok else r.add_commit("data", "first")
                    if not s.ok:
                        raise StepFailed(s.err)
                    if url_of is None:
                        srv, ok = self.server(t, r.base, r.home, r.env)
                        if not ok:
                            raise StepFailed("server did not start: %s" % srv.error)
                        url, e = srv.url, r.env
                    else:
                        url, e = url_of(tag), dict(r.env, **env)
                    # CPU seconds of the clients and every component (only
                    # the topology's; a lone replica is not in it).
                    c0 = (component_cpu(topo), clients_cpu())
                    p = self.h.runner.step([[t.oxen, "push", url, "main"]], r.w, e)
                    if not p.ok:
                        raise StepFailed("push (%s): %s" % (label, p.err))
                    c1 = (component_cpu(topo), clients_cpu())
                    cl = self.h.runner.step([[t.oxen, "clone", url, os.path.join(r.base, "clone")]], r.base, e)
                    if not cl.ok:
                        raise StepFailed("clone (%s): %s" % (label, cl.err))
                    c2 = (component_cpu(topo), clients_cpu())
                    spent[tag] = tuple(sum(cpu_delta(a[0], b[0]).values()) + b[1] - a[1]
                                       for a, b in ((c0, c1), (c1, c2)))
                    rows.append([label, self.b.fmt_secs(p.wall), "%.0f MB/s" % (btotal / p.wall / 1e6),
                                 self.b.fmt_secs(cl.wall), "%.0f MB/s" % (btotal / cl.wall / 1e6)])
                    return p.wall, cl.wall
                finally:
                    if srv:
                        srv.stop()
                    self.trash.set_aside(r.base)

            topo_env = {k: v for k, v in topo.items() if k == "OXEN_HOME"}
            spent = {}  # tag -> (push, clone) CPU seconds
            cores = os.cpu_count() or 1

            def proxied(tag):
                create_repo(topo["OXEN_PROXY_URL"], topo["OXEN_TOKEN"], tag)
                return "%s/%s" % (topo["OXEN_PROXY_URL"], tag)

            def direct(tag):
                create_repo(topo["OXEN_REPLICA_1_URL"], topo["OXEN_TOKEN"], tag)
                return "%s/%s" % (topo["OXEN_REPLICA_1_URL"], tag)

            # Warm up: SeaweedFS allocates its volumes on the first writes.
            w = self.repo(case, t)
            with open(os.path.join(w.w, "warm.bin"), "wb") as f:
                f.write(os.urandom(4 * MiB))
            s = w.init()
            s = s if not s.ok else w.add_commit("warm.bin", "warm up")
            if s.ok:
                self.h.runner.quiet([t.oxen, "push", proxied("warmup"), "main"], w.w, dict(w.env, **topo_env))
            self.trash.set_aside(w.base)

            log("[%s] large files: one replica, local storage" % case)
            lp, lc = push_clone("one replica, local storage (direct)", None, {}, None)
            log("[%s] large files: %d replicas through nginx" % (case, a.scaleout_replicas))
            pp, pc = push_clone("%d replicas on S3, through nginx" % a.scaleout_replicas, proxied, topo_env, "big1")
            log("[%s] large files: replica 1 directly (same S3, no nginx)" % case)
            dp, dc = push_clone("replica 1 on S3, direct (no nginx: the proxy's share)", direct, topo_env, "big2")
            pr, cr = lp / pp, lc / pc
            notes.append("through the proxy / one replica on local storage: push %.2f, clone %.2f — target "
                         "≥ 0.8: %s" % (pr, cr, "met" if min(pr, cr) >= 0.8 else "MISSED"))
            notes.append("through the proxy / replica 1 directly (both on S3): push %.2f, clone %.2f (what nginx "
                         "costs; the rest is S3's)" % (dp / pp, dc / pc))
            if "big1" in spent:
                # Everything shares the cores: a step cannot end before all
                # its CPU seconds are spent, whatever our code does.
                (np_, nc) = spent["big1"]
                notes.append("CPU floor through the proxy: push %.2f CPU s (clients + replicas + PostgreSQL + "
                             "SeaweedFS + nginx), clone %.2f, on %d cores: at least %.2f s and %.2f s, so at most "
                             "push %.2f, clone %.2f of one replica on local storage on this machine"
                             % (np_, nc, cores, np_ / cores, nc / cores, lp / (np_ / cores), lc / (nc / cores)))
            self.trash.set_aside(big)

            # Concurrent clones of the N=10k dataset through the proxy.
            tenk = os.path.join(d, "tenk")
            tstats = gen_data.generate(tenk, a.seed, a.scaleout_files, None, 2, 20, 100_000)
            r = self.repo(case, t)
            e = dict(r.env, **topo_env)
            url = proxied("tenk")
            c = r.run([["cp", "-r", tenk, os.path.join(r.w, "data")]])
            s = c if not c.ok else r.init()
            s = s if not s.ok else r.add_commit("data", "first")
            if not s.ok:
                raise StepFailed(s.err)
            log("[%s] pushing the N=%d dataset through nginx" % (case, a.scaleout_files))
            p = self.h.runner.step([[t.oxen, "push", url, "main"]], r.w, e)
            if not p.ok:
                raise StepFailed("push of the N=%d dataset: %s" % (a.scaleout_files, p.err))
            self.trash.set_aside(tenk)
            log("[%s] one clone" % case)
            cpu0, cl0 = component_cpu(topo), clients_cpu()
            one = self.h.runner.step([[t.oxen, "clone", url, os.path.join(r.base, "one")]], r.base, e)
            cpu_one, cl_one = cpu_delta(cpu0, component_cpu(topo)), clients_cpu() - cl0
            if not one.ok:
                raise StepFailed("clone: %s" % one.err)
            self.trash.set_aside(os.path.join(r.base, "one"))
            n = a.scaleout_clients
            log("[%s] %d concurrent clones" % (case, n))
            cpu0, cl0 = component_cpu(topo), clients_cpu()
            wall, errs = concurrent_clones(t.oxen, url, r.base, e, n)
            cpu_n, cl_n = cpu_delta(cpu0, component_cpu(topo)), clients_cpu() - cl0
            if errs:
                raise StepFailed("%d of %d concurrent clones failed: %s" % (len(errs), n, errs[0]))
            ratio = wall / one.wall
            rows.append(["N=%d dataset (%s, %d files): push through nginx" % (a.scaleout_files,
                                                                         mb(tstats["bytes"]), tstats["files"]),
                         self.b.fmt_secs(p.wall), "%.0f MB/s" % (tstats["bytes"] / p.wall / 1e6), "", ""])
            rows.append(["N=%d: one clone through nginx" % a.scaleout_files, "", "",
                         self.b.fmt_secs(one.wall), "%.0f MB/s" % (tstats["bytes"] / one.wall / 1e6)])
            rows.append(["N=%d: %d concurrent clones through nginx (wall until the last ends)"
                         % (a.scaleout_files, n), "", "", self.b.fmt_secs(wall),
                         "%.0f MB/s total" % (n * tstats["bytes"] / wall / 1e6)])
            notes.append("%d concurrent clones / one clone: %.2fx — target ≤ 3x: %s"
                         % (n, ratio, "met" if ratio <= 3 else "MISSED"))
            # Where the CPU went (from /proc): on a machine of few cores the
            # concurrent clones cannot end before all their CPU is spent.
            for label, comp, cl, w in (("one clone", cpu_one, cl_one, one.wall),
                                       ("%d concurrent clones" % n, cpu_n, cl_n, wall)):
                total = cl + sum(comp.values())
                notes.append("CPU seconds, %s (wall %.1f s): clients %.1f, %s; total %.1f = %.1f s of %d cores"
                             % (label, w, cl, ", ".join("%s %.1f" % kv for kv in sorted(comp.items())), total,
                                total / cores, cores))
            one_cpu = cl_one + sum(cpu_one.values())
            notes.append("CPU floor: one clone kept %.2f cores busy on average (%.1f CPU s in %.1f s); %d such "
                         "clones on %d cores take at least %d x %.1f / %d = %.1f s, %.2fx one clone's time, "
                         "whatever the servers do" % (one_cpu / one.wall, one_cpu, one.wall, n, cores, n, one_cpu,
                                                      cores, n * one_cpu / cores, n * one_cpu / cores / one.wall))
            self.trash.set_aside(r.base)
        except StepFailed as e:
            notes.append(str(e))
            self.fail(case, str(e))
        finally:
            if topo is not None or os.path.exists(os.path.join(topo_dir, "topology.env")):
                subprocess.run(["bash", TOPOLOGY_SH, "stop", topo_dir], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
            self.trash.set_aside(d)
        self.section(
            "scaleout: %d replicas behind nginx (deploy/topology.sh) vs one replica" % a.scaleout_replicas,
            ["Large files: %d x %g MiB random files + 100 small ones, pushed to a fresh repository and "
             "cloned back. %d cores, shared; every server, SeaweedFS, nginx and the clients on this one "
             "machine." % (a.scaleout_large_count, a.scaleout_large_mb, os.cpu_count() or 0)],
            ["setup", "push", "push MB/s", "clone", "clone MB/s"], rows, notes)

    # -- driver ---------------------------------------------------------------

    # -- python ---------------------------------------------------------------

    def python(self):
        case = "python"
        a = self.a
        tools = self.tools_for(case)
        if not tools:
            return
        t = tools[0]
        py = a.python
        ok, out, err = self.h.runner.quiet([py, "-c", "import pyoxen"], self.tmp, dict(os.environ))
        if not ok:
            self.section("python: pyoxen vs the CLI", ["n/a: `%s -c 'import pyoxen'` failed (install with "
                         "`pip install ./python`, pass `--python`): %s" % (py, (err or out).strip()[-200:])],
                         ["row", "result"], [])
            return
        rows, notes = [], []
        src = os.path.join(self.case_dir(case), "dataset")
        stats = gen_data.generate(src, a.seed, a.files, a.dirs, a.large_count, a.large_mb, a.csv_rows)
        # add + commit of the whole dataset: the CLI, then pyoxen, each into a fresh copy.
        times = {}
        for who in ("cli", "pyoxen"):
            r = self.repo(case, t)
            try:
                c = r.run([["cp", "-r", src, os.path.join(r.w, "data")]])
                s = c if not c.ok else r.init()
                if not s.ok:
                    raise StepFailed(s.err)
                if who == "cli":
                    s = r.run([[t.oxen, "add", "data"], [t.oxen, "commit", "-m", "first"]])
                    if not s.ok:
                        raise StepFailed(s.err)
                    times[who] = (s.wall, s.wall, s.rss_kb)
                else:
                    s = r.run([[py, "-c", PY_ADD_COMMIT, "data"]])
                    if not s.ok:
                        raise StepFailed(s.err)
                    times[who] = (float(s.out.split()[-1]), s.wall, s.rss_kb)
            except StepFailed as e:
                notes.append("%s add+commit: %s" % (who, e))
                self.fail(case, "%s add+commit: %s" % (who, e))
            finally:
                self.trash.set_aside(r.base)
        self.trash.set_aside(src)
        if len(times) == 2:
            ratio = times["pyoxen"][1] / times["cli"][1]
            for who in ("cli", "pyoxen"):
                inner, wall, rss = times[who]
                rows.append(["add+commit, N = %d files (%s)" % (stats["files"], who),
                             "%s (in-process %s) / %s" % (self.b.fmt_secs(wall), self.b.fmt_secs(inner),
                                                         mb(rss * 1024)), ""])
            rows[-1][2] = "%.2fx the CLI (process wall) — target ≤ 1.1x: %s" % (ratio, "met" if ratio <= 1.1 else "MISSED")
        # Reading every file of a 10k-file revision.
        src = os.path.join(self.case_dir(case), "small")
        n_read = min(10_000, a.files)
        gen_data.generate(src, a.seed, n_read, None, 0, 0, 0)
        r = self.repo(case, t)
        try:
            c = r.run([["cp", "-r", src, os.path.join(r.w, "data")]])
            s = c if not c.ok else r.init()
            s = s if not s.ok else r.add_commit("data", "files")
            if not s.ok:
                raise StepFailed(s.err)
            s = r.run([[py, "-c", PY_READ]])
            if not s.ok:
                raise StepFailed(s.err)
            t_repo, n_repo, t_co, n_co = s.out.split()[-4:]
            t_repo, t_co = float(t_repo), float(t_co)
            if int(n_repo) != int(n_co):
                notes.append("bytes differ: Repo.read %s, checkout %s" % (n_repo, n_co))
            ratio = t_co / t_repo
            rows.append(["read every file of a %d-file revision: Repo.read" % n_read,
                         "%s (%.0f MB/s)" % (self.b.fmt_secs(t_repo), int(n_repo) / t_repo / 1e6), ""])
            rows.append(["the same files from the checkout (open + read)",
                         "%s (%.0f MB/s)" % (self.b.fmt_secs(t_co), int(n_co) / t_co / 1e6),
                         "Repo.read at %.0f%% of the checkout's throughput — target ≥ 50%%: %s"
                         % (ratio * 100, "met" if ratio >= 0.5 else "MISSED")])
        except StepFailed as e:
            notes.append("read: %s" % e)
            self.fail(case, "read: %s" % e)
        finally:
            self.trash.set_aside(r.base)
            self.trash.set_aside(self.case_dir(case))
        self.section(
            "python: pyoxen vs the CLI",
            ["`%s` with pyoxen; the N=%d dataset (%s in %d files, seed %d) added and committed by "
             "`oxen add data && oxen commit` and by one Python process calling `Repo.add` + `Repo.commit` "
             "(process wall including interpreter start; in-process = the two calls alone). Reads: both "
             "rounds in one process, the second (warm) round reported." % (py, a.files, mb(stats["bytes"]),
                                                                           stats["files"], a.seed)],
            ["step", "time / peak RSS", "result"], rows, notes)

    # -- fsmonitor -------------------------------------------------------------

    def fsmonitor(self):
        case = "fsmonitor"
        a = self.a
        d = self.case_dir(case)
        src = os.path.join(d, "dataset")
        stats = gen_data.generate(src, a.seed, a.files, a.dirs, 0, 0, 0)
        rows, notes, got = [], [], {}
        got_after = {}
        runs = 5
        import statistics
        import time
        for t in self.tools_for(case):
            log("[%s] %s" % (case, t.name))
            r = self.repo(case, t)
            try:
                c = r.run([["cp", "-r", src, os.path.join(r.w, "data")]])
                s = c if not c.ok else r.init()
                s = s if not s.ok else r.add_commit("data", "first")
                if not s.ok:
                    raise StepFailed(s.err)
                small = os.path.join(r.w, "data", "small")
                dirs = sorted(os.listdir(small))
                picks = []
                for i in range(10):
                    dd = os.path.join(small, dirs[(i * 37) % len(dirs)])
                    names = sorted(os.listdir(dd))
                    picks.append(os.path.join(dd, names[i % len(names)]))

                def timed(cmd, env):
                    walls = []
                    for k in range(runs):
                        for f in picks:
                            with open(f, "ab") as fh:
                                fh.write(b"edit %d\n" % k)
                        st = self.h.runner.step([cmd], r.w, env)
                        if not st.ok:
                            raise StepFailed("%s: %s" % (" ".join(cmd), st.err))
                        walls.append(st.wall)
                    return statistics.median(walls)

                def after_commit(add, commit, status, env, trace):
                    # With the monitor on: `add .` after 10 edits, then commit,
                    # then the first status (medians); ours must not scan.
                    adds, firsts = [], []
                    for k in range(runs):
                        for f in picks:
                            with open(f, "ab") as fh:
                                fh.write(b"again %d\n" % k)
                        st = self.h.runner.step([add], r.w, trace or env)
                        if not st.ok:
                            raise StepFailed("%s: %s" % (" ".join(add), st.err))
                        if trace and "add: fast" not in st.err_out:
                            notes.append("ours: an add was not answered by the monitor (%s)" % st.err_out.strip())
                        adds.append(st.wall)
                        self.h.runner.quiet(commit, r.w, env)
                        st = self.h.runner.step([status], r.w, trace or env)
                        if not st.ok:
                            raise StepFailed("%s: %s" % (" ".join(status), st.err))
                        if trace and "fsmonitor: fast" not in st.err_out:
                            notes.append("ours: a status after commit was not answered by the monitor (%s)"
                                         % st.err_out.strip())
                        firsts.append(st.wall)
                    return statistics.median(adds), statistics.median(firsts)

                if t.name == "oxen":
                    cmd = [t.oxen, "status", "--porcelain"]
                    full = timed(cmd, r.env)
                    self.h.runner.quiet([t.oxen, "config", "core.fsmonitor", "true"], r.w, r.env)
                    trace = dict(r.env, OXEN_FSMONITOR_TRACE="1")
                    how = ""
                    for _ in range(20):
                        ok, out, err = self.h.runner.quiet(cmd, r.w, trace)
                        how = err
                        if "fsmonitor: fast" in err:
                            break
                        time.sleep(0.5)
                    mon = timed(cmd, r.env)
                    ok, out, err = self.h.runner.quiet(cmd, r.w, trace)
                    if "fsmonitor: fast" not in err:
                        notes.append("ours: the monitored runs were not all answered by the monitor (%s)"
                                     % err.strip())
                    got_after[t.name] = after_commit([t.oxen, "add", "."], [t.oxen, "commit", "-m", "edit"],
                                                     cmd, r.env, trace)
                    self.h.runner.quiet([t.oxen, "fsmonitor", "stop"], r.w, r.env)
                else:
                    cmd = ["git", "status", "--porcelain"]
                    full = timed(cmd, r.env)
                    ok, _, err = self.h.runner.quiet(["git", "fsmonitor--daemon", "status"], r.w, r.env)
                    if "not supported" in err:
                        notes.append("git's built-in fsmonitor daemon is not supported on this platform "
                                     "(`git fsmonitor--daemon`: %s): git's 'monitor' column is "
                                     "`core.untrackedCache` alone" % err.strip())
                    self.h.runner.quiet(["git", "config", "core.fsmonitor", "true"], r.w, r.env)
                    self.h.runner.quiet(["git", "config", "core.untrackedCache", "true"], r.w, r.env)
                    for _ in range(3):
                        self.h.runner.quiet(cmd, r.w, r.env)
                        time.sleep(0.5)
                    mon = timed(cmd, r.env)
                    got_after[t.name] = after_commit(["git", "add", "."], ["git", "commit", "-q", "-m", "edit"],
                                                     cmd, r.env, None)
                    self.h.runner.quiet(["git", "fsmonitor--daemon", "stop"], r.w, r.env)
                got[t.name] = (full, mon)
                rows.append([t.name, "%.1f ms" % (full * 1e3), "%.1f ms" % (mon * 1e3)])
            except StepFailed as e:
                rows.append([t.name, "FAIL", ""])
                notes.append("%s: %s" % (t.name, e))
                if t.name == "oxen":
                    self.fail(case, str(e))
            finally:
                if t.name == "oxen":
                    self.h.runner.quiet([t.oxen, "fsmonitor", "stop"], r.w, r.env)
                self.trash.set_aside(r.base)
        self.trash.set_aside(d)
        if "oxen" in got and "git" in got:
            ours = got["oxen"][1]
            notes.append("ours with the monitor: %.1f ms — target ≤ 50 ms: %s"
                         % (ours * 1e3, "met" if ours <= 0.05 else "MISSED"))
            notes.append("ours with the monitor / git without: %.3f — target ≤ 0.1: %s"
                         % (ours / got["git"][0], "met" if ours / got["git"][0] <= 0.1 else "MISSED"))
            notes.append("ours with the monitor / git with its fsmonitor: %.2f" % (ours / got["git"][1]))
            notes.append("ours / git, both without a monitor: %.2f" % (got["oxen"][0] / got["git"][0]))
        notes.append("load (uptime) at the end: %s" % os.getloadavg().__repr__())
        self.section(
            "fsmonitor: status with 10 files changed",
            ["N = %d small files in %d dirs (seed %d), committed; before each `status --porcelain`, 10 of "
             "them get a line appended. Median of %d runs. With the monitor: ours `core.fsmonitor true` "
             "(the daemon warmed until status is answered by it), git `core.fsmonitor=true` (its built-in "
             "daemon) and `core.untrackedCache=true`." % (stats["small_files"], stats["dirs"], a.seed, runs)],
            ["tool", "status, no monitor", "status, monitor"], rows, notes)
        if got_after:
            after_rows = [[k, "%.1f ms" % (v[0] * 1e3), "%.1f ms" % (v[1] * 1e3)] for k, v in got_after.items()]
            after_notes = []
            if "oxen" in got_after and "git" in got_after:
                o, g = got_after["oxen"], got_after["git"]
                after_notes.append("ours / git: add %.3f, first status after commit %.3f" % (o[0] / g[0], o[1] / g[1]))
            after_notes.append("load (uptime) at the end: %s" % os.getloadavg().__repr__())
            self.section(
                "fsmonitor: add and the first status after commit, monitor on",
                ["Same repositories, monitor on: 10 files get a line appended, then `add .` (timed), `commit` "
                 "(not timed), then the first `status --porcelain` (timed). Median of %d runs." % runs],
                ["tool", "add . (10 changed)", "first status after commit"], after_rows, after_notes)
    # -- shallow ----------------------------------------------------------------

    def shallow(self):
        case = "shallow"
        tools = self.tools_for(case)
        if not tools:
            return
        t = tools[0]
        files, commits = self.a.shallow_files, self.a.shallow_commits
        rows, notes = [], []
        r = self.repo(case, t)
        srv = None
        try:
            data = os.path.join(r.w, "data")
            gen_data.generate(data, self.a.seed, files, None, 0, 0, 0)
            s = r.init()
            s = s if not s.ok else r.add_commit("data", "base")
            if not s.ok:
                raise StepFailed(s.err)
            for i in range(commits):
                gen_data.mutate(data, files, None, self.a.seed + 1 + i)
                s = r.run([[t.oxen, "add", "-A"], [t.oxen, "commit", "-m", "churn %d" % i]])
                if not s.ok:
                    raise StepFailed("churn commit %d: %s" % (i, s.err))
            srv, ok = self.server(t, r.base, r.home, r.env)
            if not ok:
                raise StepFailed("server did not start: %s" % srv.error)
            self.h.runner.quiet([t.oxen, "remote", "add", "origin", srv.url], r.w, r.env)
            p = r.run([[t.oxen, "push", "origin", "main"]])
            if not p.ok:
                raise StepFailed("push: %s" % p.err)
            got = {}
            kinds = {"full clone": [], "clone --depth 1": ["--depth", "1"]}
            # Each twice, in the order A B B A, the faster run kept: on a
            # shared disk a clone right after another pays for its
            # writeback, whichever goes second.
            for label in ("full clone", "clone --depth 1", "clone --depth 1", "full clone"):
                dest = os.path.join(r.base, label.replace(" ", "-"))
                cl = self.h.runner.step([[t.oxen, "clone"] + kinds[label] + [srv.url, dest]], r.base, r.env)
                if not cl.ok:
                    raise StepFailed("%s: %s" % (label, cl.err))
                m = re.search(r"received (\d+) bytes", cl.err_out or "")
                sent = int(m.group(1)) if m else 0
                store = self.b.disk_usage([os.path.join(dest, ".oxen")])
                if label not in got or cl.wall < got[label][1]:
                    got[label] = (sent, cl.wall, store, cl.rss_kb)
                self.trash.set_aside(dest)
            for label in kinds:
                sent, wall, store, rss = got[label]
                rows.append([label, mb(sent), self.b.fmt_secs(wall), mb(store), "%d MB" % (rss // 1024)])
            (fb, fw, _, _), (sb, sw, _, _) = got["full clone"], got["clone --depth 1"]
            if fb and fw:
                notes.append("depth 1 / full: bytes %.2f, time %.2f" % (sb / fb, sw / fw))
        except StepFailed as e:
            notes.append(str(e))
            self.fail(case, str(e))
        finally:
            if srv:
                srv.stop()
            self.trash.set_aside(r.base)
            self.trash.set_aside(self.case_dir(case))
        self.section(
            "shallow: clone --depth 1 vs a full clone, %d commits of churn" % (commits + 1),
            ["Dataset: %d small files (gen_data, seed %d), then %d commits each rewriting 1%% of the "
             "files and adding 1%% (gen_data.mutate, seeds %d..%d), pushed to oxen-server on loopback. "
             "Bytes = the clone's `received N bytes` line; time = the faster of two runs "
             "(order full, depth, depth, full)." % (files, self.a.seed, commits, self.a.seed + 1,
                                                               self.a.seed + commits)],
            ["clone", "received", "time", ".oxen size", "peak RSS"], rows, notes)

    # -- partial-clone ----------------------------------------------------------

    def partial_clone(self):
        """A full clone and `clone --filter <dir>` of one directory holding 1%
        of the files, side by side from one server: bytes received and time."""
        case = "partial-clone"
        a = self.a
        files = a.files or 100_000
        src = os.path.join(self.case_dir(case), "dataset")
        # 100 directories: each holds 1% of the files.
        stats = gen_data.generate(src, a.seed, files, 100, 0, 0, 0)
        t = self.tools["oxen"]
        r = self.repo(case, t)
        rows, notes, srv = [], [], None
        try:
            c = r.run([["cp", "-r", src, os.path.join(r.w, "data")]])
            s = c if not c.ok else r.init()
            s = s if not s.ok else r.add_commit("data", "first")
            if not s.ok:
                raise StepFailed("add+commit: " + s.err)
            srv, ok = self.server(t, r.base, r.home, r.env)
            if not ok:
                raise StepFailed("server did not start: %s" % srv.error)
            self.h.runner.quiet([t.oxen, "remote", "add", "origin", srv.url], r.w, r.env)
            p = r.run([[t.oxen, "push", "origin", "main"]])
            if not p.ok:
                raise StepFailed("push: " + p.err)
            sub = "data/small/d0000"
            in_dir = len(os.listdir(os.path.join(src, "small", "d0000")))
            got = {}
            for label, extra in (("full clone", []), ("clone --filter %s" % sub, ["--filter", sub])):
                dest = os.path.join(r.base, "clone-%d" % len(got))
                st = self.h.runner.step([[t.oxen, "clone"] + extra + [srv.url, dest]], r.base, r.env)
                if not st.ok:
                    raise StepFailed("%s: %s" % (label, st.err))
                m = re.search(r"received (\d+) bytes", st.out + "\n" + st.err_out)
                sent = int(m.group(1)) if m else 0
                got[label] = (st.wall, sent)
                rows.append([label, mb(sent), self.b.fmt_secs(st.wall), self.b.fmt_mb(st.rss_kb), ""])
                self.trash.set_aside(dest)
            (fw, fb), (pw, pb) = got["full clone"], got["clone --filter %s" % sub]
            br, tr = pb / max(fb, 1), pw / max(fw, 1e-9)
            verdict = "bytes %.2f%% (target ≤ 2%%: %s), time %.1f%% (target ≤ 5%%: %s)" % (
                100 * br, "met" if br <= 0.02 else "MISSED", 100 * tr, "met" if tr <= 0.05 else "MISSED")
            rows.append(["partial / full", "%.4f" % br, "%.4f" % tr, "", verdict])
            notes.append("the filtered directory holds %d of %d files (%.1f%%)" % (
                in_dir, stats["files"], 100.0 * in_dir / max(stats["files"], 1)))
        except StepFailed as e:
            rows.append(["oxen", "FAIL", "", "", ""])
            notes.append(str(e))
            self.fail(case, str(e))
        finally:
            if srv:
                srv.stop()
            self.trash.set_aside(r.base)
            self.trash.set_aside(self.case_dir(case))
        self.section(
            "partial-clone: clone --filter of one directory vs a full clone",
            ["N = %d small files in 100 dirs (%s, seed %d), pushed to oxen-server on loopback; a full "
             "clone and a partial clone of one directory (1%% of the files), one after the other in one "
             "run. Bytes = the pack bytes the clone printed (`received N bytes`)."
             % (stats["files"], mb(stats["bytes"]), a.seed)],
            ["clone", "bytes received", "time", "peak RSS", "target"], rows, notes)

    def run(self, cases):
        for c in cases:
            log("== case %s" % c)
            try:
                getattr(self, c.replace("-", "_"))()
            except Exception as e:  # noqa: BLE001 - report and go on with the next case
                import traceback
                traceback.print_exc()
                self.fail(c, "harness error: %s" % e)
                self.trash.set_aside(self.case_dir(c))
            finally:
                self.trash.empty()


class StepFailed(Exception):
    pass


def proc_cpu(pid):
    """CPU seconds (user + system) process `pid` has used so far, None if
    it cannot be read."""
    if pid is None:
        return None
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def weed_pid(d):
    """The pid `tests/seaweedfs.sh start` recorded in `d`, None if none."""
    try:
        with open(os.path.join(d, "weed.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def cpu_total(client, before, after):
    """Sum of the client's and each process's CPU seconds over a step,
    None if one could not be read."""
    if any(a is None or b is None for b, a in zip(before, after)):
        return None
    return client + sum(a - b for b, a in zip(before, after))


def cpu_cell(client, before, after):
    """`client / server [/ weed]` CPU seconds of one step."""
    parts = ["%.2f" % client]
    for b, a in zip(before, after):
        parts.append("%.2f" % (a - b) if a is not None and b is not None else "?")
    return " / ".join(parts)


def start_weed(d, bucket):
    """Starts SeaweedFS with `tests/seaweedfs.sh start` (the one way the tests
    start it too: free loopback ports, an S3 identity, the bucket made);
    (environment for the server, None) or (None, why)."""
    os.makedirs(d, exist_ok=True)
    try:
        p = subprocess.run(["bash", SEAWEEDFS_SH, "start", d, bucket], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        subprocess.run(["bash", SEAWEEDFS_SH, "stop", d], timeout=60)
        return None, "tests/seaweedfs.sh start took over 300 s"
    if p.returncode != 0:
        subprocess.run(["bash", SEAWEEDFS_SH, "stop", d], timeout=60)
        return None, (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
    env = {}
    for line in p.stdout.splitlines():
        k, sep, v = line.partition("=")
        if sep and k.startswith("AWS_"):
            env[k] = v
    return env, None


def start_topology(d, bindir, replicas):
    """`deploy/topology.sh start` (the tests' topology); (its environment, None)
    or (None, why)."""
    try:
        p = subprocess.run(["bash", TOPOLOGY_SH, "start", d, "--replicas", str(replicas), "--bin-dir", bindir],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return None, "deploy/topology.sh start took over 300 s"
    if p.returncode != 0:
        return None, (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
    env = {}
    for line in p.stdout.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            env[k] = v
    return env, None


def create_repo(base_url, token, name):
    import json
    import urllib.request
    req = urllib.request.Request(base_url + "/api/repos", method="POST", data=json.dumps({"name": name}).encode(),
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        resp.read()


def _proc_cpu(pid):
    """(ppid, user+system CPU seconds of the process itself, of its waited-for
    children) from /proc/PID/stat, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields follow the last ')'.
    fields = st[st.rindex(")") + 2:].split()
    hz = os.sysconf("SC_CLK_TCK")
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / hz, (int(fields[13]) + int(fields[14])) / hz


def component_cpu(topo):
    """CPU seconds used so far by each component of a deploy/topology.sh
    topology: the replicas, PostgreSQL (the postmaster, its live backends and
    the backends it reaped), SeaweedFS and nginx (master and workers), each
    with the descendants of its process. The clients are measured apart
    (getrusage of the bench's own children)."""
    roots = {}
    for k, v in topo.items():
        if k.startswith("OXEN_REPLICA_") and k.endswith("_PID"):
            roots[int(v)] = "replicas"
    for k, name in (("PG_PID", "postgres"), ("WEED_PID", "seaweedfs"), ("NGINX_PID", "nginx")):
        if topo.get(k, "").isdigit():
            roots[int(topo[k])] = name
    parent, own = {}, {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            r = _proc_cpu(int(e))
            if r:
                parent[int(e)] = r[0]
                own[int(e)] = r
    out = {name: 0.0 for name in roots.values()}
    for pid, (_, cpu, reaped) in own.items():
        p, seen = pid, 0
        while p and p not in roots and seen < 64:
            p, seen = parent.get(p, 0), seen + 1
        if p in roots:
            out[roots[p]] += cpu + (reaped if pid == p else 0)
    return out


def clients_cpu():
    """User+system CPU seconds of the bench's waited-for children so far."""
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def cpu_delta(before, after):
    return {k: after.get(k, 0.0) - v for k, v in before.items()}


def concurrent_clones(oxen, url, base, env, n):
    """Clone `url` n times at once; (wall seconds until the last ends, errors)."""
    import time
    t0 = time.time()
    procs = []
    for i in range(n):
        dest = os.path.join(base, "clone-%d" % i)
        procs.append(subprocess.Popen([oxen, "clone", url, dest], cwd=base, env=env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    errs = []
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            errs.append((err.decode("utf-8", "replace").strip().splitlines() or ["exit %d" % p.returncode])[-1])
    wall = time.time() - t0
    for i in range(n):
        shutil.rmtree(os.path.join(base, "clone-%d" % i), ignore_errors=True)
    return wall, errs
