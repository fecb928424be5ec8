"""The whole local workflow through pyoxen, in-process."""

import os

import pyoxen
import pytest


def write(path, data):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as f:
        f.write(data)


def test_init_add_commit_status_log(tmp_path):
    repo = pyoxen.init(tmp_path / "r")
    assert repo.path == str(tmp_path / "r")
    write(tmp_path / "r/a.txt", "hello\n")
    write(tmp_path / "r/data/b.csv", "id,x\n1,2\n")
    st = repo.status()
    assert st.untracked == ["a.txt", "data/b.csv"]
    assert st.staged == [] and not st.is_clean()

    seen = []
    repo.add("a.txt", "data", progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (2, 2), seen
    st = repo.status()
    assert st.staged == ["a.txt", "data/b.csv"] and st.untracked == []

    c1 = repo.commit("first")
    assert len(c1) == 32
    assert repo.status().is_clean()

    write(tmp_path / "r/a.txt", "hello again\n")
    os.remove(tmp_path / "r/data/b.csv")
    st = repo.status()
    assert st.modified == ["a.txt"] and st.deleted == ["data/b.csv"] and st.staged == []
    repo.add("a.txt", "data")
    c2 = repo.commit("second\n\nwith a body")

    log = repo.log()
    assert [c.id for c in log] == [c2, c1]
    assert log[0].parents == [c1] and log[1].parents == []
    assert log[0].author == "Ada Lovelace" and log[0].email == "ada@example.com"
    assert log[0].time == 1700000000 and log[0].tz_minutes == 60
    assert log[0].message == "second\n\nwith a body\n"
    assert [c.id for c in repo.log(n=1)] == [c2]
    assert [c.id for c in repo.log(rev=c1)] == [c1]


def test_repo_is_discovered_from_a_subdirectory(tmp_path):
    pyoxen.init(tmp_path / "r")
    (tmp_path / "r/deep/er").mkdir(parents=True)
    repo = pyoxen.Repo(tmp_path / "r/deep/er")
    assert repo.path == str(tmp_path / "r")


def test_branch_checkout_merge(tmp_path):
    repo = pyoxen.init(tmp_path / "r")
    write(tmp_path / "r/t.csv", "id,v\n1,a\n2,b\n")
    repo.add("t.csv")
    base = repo.commit("base")
    assert repo.branch("feature") == base
    assert repo.branches() == ["feature", "main"]

    repo.checkout("feature")
    assert repo.current_branch() == "feature"
    write(tmp_path / "r/t.csv", "id,v\n1,a\n2,b\n3,c\n")
    repo.add("t.csv")
    theirs = repo.commit("feature row")

    repo.checkout("main")
    assert open(tmp_path / "r/t.csv").read() == "id,v\n1,a\n2,b\n"
    write(tmp_path / "r/t.csv", "id,v\n0,z\n1,a\n2,b\n")
    repo.add("t.csv")
    repo.commit("main row")

    out = repo.merge("feature", keys=["id"])
    assert out["outcome"] == "merged"
    merge = repo.log(n=1)[0]
    assert merge.id == out["commit"] and merge.parents[1] == theirs
    rows = sorted(open(tmp_path / "r/t.csv").read().splitlines()[1:])
    assert rows == ["0,z", "1,a", "2,b", "3,c"]
    assert repo.merge("feature") == {"outcome": "up-to-date", "commit": None}

    repo.checkout(base)
    assert repo.current_branch() is None
    assert open(tmp_path / "r/t.csv").read() == "id,v\n1,a\n2,b\n"


def test_rm_cached_and_not(tmp_path):
    repo = pyoxen.init(tmp_path / "r")
    write(tmp_path / "r/a", "a")
    write(tmp_path / "r/d/b", "b")
    repo.add("a", "d")
    repo.commit("c")
    assert repo.rm("a", cached=True) == ["a"]
    assert os.path.exists(tmp_path / "r/a")
    assert repo.rm("d") == ["d/b"]
    assert not os.path.exists(tmp_path / "r/d/b")
    st = repo.status()
    assert st.staged == ["a", "d/b"] and st.untracked == ["a"]


def test_read_and_open_at_old_revisions(tmp_path):
    repo = pyoxen.init(tmp_path / "r")
    versions = [b"v1 " * 1000, b"version two\n", os.urandom(3_000_000)]
    ids = []
    for v in versions:
        write(tmp_path / "r/f.bin", v)
        repo.add("f.bin")
        ids.append(repo.commit(f"{len(v)}"))
    for v, c in zip(versions, ids):
        assert repo.read("f.bin", rev=c) == v
        with repo.open("f.bin", rev=c) as f:
            assert f.read(5) == v[:5]
            assert f.tell() == 5
            f.seek(len(v) // 2)
            assert f.read(10) == v[len(v) // 2 : len(v) // 2 + 10]
            f.seek(1)  # backward: reopens
            assert f.read() == v[1:]
            f.seek(-3, os.SEEK_END)
            assert f.read() == v[-3:]
            buf = bytearray(4)
            f.seek(0)
            assert f.readinto(buf) == 4 and bytes(buf) == v[:4]
    assert repo.read("f.bin", rev="HEAD~2") == versions[0]
    entries = repo.ls(rev=ids[1])
    assert [(e.path, e.size, e.kind) for e in entries] == [("f.bin", len(versions[1]), "file")]
    # Nothing was checked out: the work tree still has the last version.
    assert open(tmp_path / "r/f.bin", "rb").read() == versions[2]


def test_ls_prefix_and_iter_files(tmp_path):
    repo = pyoxen.init(tmp_path / "r")
    for p in ["img/a.png", "img/b.png", "img2/c.png", "labels.csv"]:
        write(tmp_path / "r" / p, p.encode())
    repo.add("img", "img2", "labels.csv")
    c = repo.commit("files")
    assert [e.path for e in repo.ls(prefix="img")] == ["img/a.png", "img/b.png"]
    assert [e.path for e in repo.ls(prefix="img/")] == ["img/a.png", "img/b.png"]
    assert dict(repo.iter_files("img2", rev=c)) == {"img2/c.png": b"img2/c.png"}
    assert len(list(repo.iter_files())) == 4


def test_iter_files_is_an_iterable_dataset_source(tmp_path):
    """What a torch IterableDataset's __iter__ would return: a fresh iterator each epoch."""
    repo = pyoxen.init(tmp_path / "r")
    for i in range(5):
        write(tmp_path / f"r/s/{i}.bin", bytes([i]) * 10)
    repo.add("s")
    repo.commit("samples")

    class Dataset:
        def __iter__(self):
            return repo.iter_files("s")

    for _epoch in range(2):
        assert [len(b) for _, b in Dataset()] == [10] * 5
