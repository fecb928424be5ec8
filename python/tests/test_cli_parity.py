"""pyoxen and the `oxen` CLI agree: same commit ids from the same inputs,
the same diff document, and the same one-line error messages."""

import json
import os

import pyoxen
import pytest


def write(path, data):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def make_files(root):
    write(root / "a.txt", "alpha\n")
    write(root / "data/t.csv", "id,name,score\n1,ann,3\n2,bob,5\n")
    write(root / "data/bin.dat", bytes(range(256)) * 10)
    write(root / "weird name \\ x.txt", "odd\n")


def test_commit_ids_equal_the_clis(tmp_path, oxen):
    py_root, cli_root = tmp_path / "py", tmp_path / "cli"
    for root in (py_root, cli_root):
        make_files(root)
    repo = pyoxen.init(py_root)
    repo.add(".")
    py1 = repo.commit("first")
    oxen("init", str(cli_root))
    oxen("add", ".", cwd=cli_root)
    oxen("commit", "-m", "first", cwd=cli_root)
    cli1 = oxen("log", "-n", "1", "--oneline", cwd=cli_root).stdout.split()[0]
    assert py1.startswith(cli1)

    for root in (py_root, cli_root):
        write(root / "data/t.csv", "id,name,score\n1,ann,4\n2,bob,5\n3,cy,1\n")
        os.remove(root / "a.txt")
    repo.add("data", "a.txt")
    py2 = repo.commit("second\n\nbody  \n\n\n")
    oxen("add", "data", "a.txt", cwd=cli_root)
    oxen("commit", "-m", "second", "-m", "body", cwd=cli_root)
    full = oxen("log", "-n", "1", cwd=cli_root).stdout.splitlines()[0].split()[1]
    assert py2 == full
    assert [c.id for c in repo.log()] == [full, repo.log()[1].id]


def test_diff_equals_oxen_diff_json(tmp_path, oxen):
    root = tmp_path / "r"
    repo = pyoxen.init(root)
    make_files(root)
    repo.add(".")
    c1 = repo.commit("one")
    write(root / "data/t.csv", "id,name,score\n1,ann,4\n3,cy,1\n")
    write(root / "a.txt", "alpha\nbeta\n")
    write(root / "new.txt", "new\n")
    os.remove(root / "data/bin.dat")
    repo.add(".")
    c2 = repo.commit("two")

    def cli(*args):
        return json.loads(oxen("diff", "--json", *args, cwd=root).stdout)

    assert repo.diff(c1, c2) == cli(c1, c2)
    assert repo.diff(c1, c2, keys=["id"]) == cli("--keys", "id", c1, c2)
    assert repo.diff(c1, c2, paths=["data"]) == cli(c1, c2, "--", "data")
    assert repo.diff(c2, c1, keys=["id"], paths=["data/t.csv"]) == cli("--keys", "id", c2, c1, "--", "data/t.csv")
    doc = repo.diff(c1, c2, keys=["id"])
    assert {f["path"] for f in doc["files"]} == {"a.txt", "data/bin.dat", "data/t.csv", "new.txt"}


def cli_error(oxen, cwd, *args):
    p = oxen(*args, cwd=cwd, check=False)
    assert p.returncode == 1, (args, p.stdout, p.stderr)
    line = p.stderr.strip().splitlines()[-1]
    assert line.startswith("error: "), line
    return line[len("error: ") :]


def test_errors_carry_the_clis_message(tmp_path, oxen, monkeypatch):
    root = tmp_path / "r"
    repo = pyoxen.init(root)
    write(root / "f.txt", "x\n")

    def same(exc_type, call, *cli_args):
        with pytest.raises(exc_type) as e:
            call()
        assert isinstance(e.value, pyoxen.OxenError)
        assert str(e.value) == cli_error(oxen, root, *cli_args)

    # No commits yet.
    same(pyoxen.RefusedError, lambda: repo.log(), "log")
    same(pyoxen.RefusedError, lambda: repo.commit("   \n"), "commit", "-m", "   ")
    same(pyoxen.RefusedError, lambda: repo.commit("x"), "commit", "-m", "x")
    repo.add("f.txt")
    repo.commit("c")
    same(pyoxen.RefusedError, lambda: repo.commit("again"), "commit", "-m", "again")
    same(pyoxen.RevisionError, lambda: repo.log(rev="nope"), "log", "nope")
    same(pyoxen.RevisionError, lambda: repo.checkout("nope"), "checkout", "nope")
    same(pyoxen.RefusedError, lambda: repo.branch("main"), "branch", "main")
    same(pyoxen.OxenError, lambda: repo.branch("bad..name"), "branch", "bad..name")
    same(pyoxen.RefusedError, lambda: repo.branch("x", rev="nope"), "branch", "x", "nope")
    same(pyoxen.RevisionError, lambda: repo.merge("nope"), "merge", "nope")
    same(pyoxen.RevisionError, lambda: repo.diff("HEAD", "nope"), "diff", "--json", "HEAD", "nope")
    same(pyoxen.RemoteError, lambda: repo.remote_add("o", str(tmp_path / "missing")), "remote", "add", "o", str(tmp_path / "missing"))
    same(pyoxen.RemoteError, lambda: repo.push("nowhere"), "push", "nowhere")
    same(pyoxen.RemoteError, lambda: repo.fetch("nowhere"), "fetch", "nowhere")
    repo.remote_add("self", str(root))
    same(pyoxen.RemoteError, lambda: repo.remote_add("self", str(root)), "remote", "add", "self", str(root))
    write(root / "f.txt", "changed\n")
    same(pyoxen.RefusedError, lambda: repo.rm("f.txt"), "rm", "f.txt")
    same(pyoxen.OxenError, lambda: repo.add("../outside"), "add", "../outside")
    same(pyoxen.RefusedError, lambda: repo.add(), "add")
    # Local changes block a checkout that would overwrite them.
    repo.branch("other")
    repo.checkout("other")
    write(root / "f.txt", "on other\n")
    repo.add("f.txt")
    repo.commit("other")
    repo.checkout("main", force=True)
    write(root / "f.txt", "dirty\n")
    same(pyoxen.RefusedError, lambda: repo.checkout("other"), "checkout", "other")
    # A merge conflict.
    repo.add("f.txt")
    repo.commit("main side")
    with pytest.raises(pyoxen.MergeConflictError) as e:
        repo.merge("other")
    assert str(e.value) == "automatic merge failed on 1 path(s); fix conflicts, `oxen add` them, then `oxen commit`"
    same(pyoxen.RefusedError, lambda: repo.commit("m"), "commit", "-m", "m")
    # Missing paths and revisions when reading.
    with pytest.raises(pyoxen.RevisionError) as e:
        repo.read("nope.txt")
    assert str(e.value) == cli_error(oxen, root, "show", "HEAD:nope.txt")


def test_not_a_repository(tmp_path, oxen):
    (tmp_path / "plain").mkdir()
    with pytest.raises(pyoxen.NotARepositoryError) as e:
        pyoxen.Repo(tmp_path / "plain")
    assert str(e.value) == cli_error(oxen, tmp_path / "plain", "status")


def test_no_author(tmp_path, oxen, monkeypatch):
    for k in ("OXEN_AUTHOR_NAME", "OXEN_AUTHOR_EMAIL"):
        monkeypatch.delenv(k)
    repo = pyoxen.init(tmp_path / "r")
    write(tmp_path / "r/f", "f")
    repo.add("f")
    with pytest.raises(pyoxen.OxenError) as e:
        repo.commit("c")
    assert str(e.value) == cli_error(oxen, tmp_path / "r", "commit", "-m", "c")
