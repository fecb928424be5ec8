"""push / clone / fetch / pull against a real oxen-server on loopback."""

import os

import pyoxen


def write(path, data):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(data)


def test_push_clone_fetch_pull(tmp_path, server, oxen):
    url = server.create_repo("data")
    a = pyoxen.init(tmp_path / "a")
    write(tmp_path / "a/x.csv", "id,v\n1,a\n")
    write(tmp_path / "a/img/1.bin", "one")
    a.add(".")
    c1 = a.commit("first")
    a.remote_add("origin", url)
    assert a.remotes() == {"origin": url}
    progress = []
    a.push(progress=lambda d, t: progress.append((d, t)))
    assert progress, "push reported no progress"

    b = pyoxen.clone(url, tmp_path / "b")
    assert b.log()[0].id == c1
    assert open(tmp_path / "b/x.csv").read() == "id,v\n1,a\n"
    assert b.current_branch() == "main"

    # The CLI sees the same server state.
    oxen("clone", url, str(tmp_path / "c"))
    assert open(tmp_path / "c/img/1.bin").read() == "one"

    write(tmp_path / "a/x.csv", "id,v\n1,a\n2,b\n")
    a.add("x.csv")
    c2 = a.commit("second")
    a.push("origin", "main")
    b.fetch()
    assert b.log("origin/main")[0].id == c2
    assert b.log()[0].id == c1  # fetch leaves the branch alone
    assert b.pull() == {"outcome": "fast-forward", "commit": c2}
    assert open(tmp_path / "b/x.csv").read() == "id,v\n1,a\n2,b\n"

    # A branch pushed from Python, cloned by name.
    a.branch("exp")
    a.push("origin", "exp")
    e = pyoxen.clone(url, tmp_path / "e", branch="exp")
    assert e.current_branch() == "exp"


def test_push_rejected_is_a_remote_error(tmp_path, server, oxen):
    url = server.create_repo("r2")
    a = pyoxen.init(tmp_path / "a")
    write(tmp_path / "a/f", "a")
    a.add("f")
    a.commit("a")
    a.remote_add("origin", url)
    a.push()
    b = pyoxen.init(tmp_path / "b")
    write(tmp_path / "b/f", "b")
    b.add("f")
    b.commit("b")
    b.remote_add("origin", url)
    try:
        b.push()
    except pyoxen.RemoteError as e:
        msg = str(e)
    else:
        raise AssertionError("a non-fast-forward push was accepted")
    p = oxen("push", cwd=tmp_path / "b", check=False)
    assert p.returncode == 1 and p.stderr.strip().splitlines()[-1] == f"error: {msg}"
