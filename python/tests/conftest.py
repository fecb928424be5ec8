"""Shared fixtures: an isolated OXEN_HOME and fixed author per test, the
real `oxen` / `oxen-server` binaries (from PATH) for comparisons, and an
oxen-server on a loopback ephemeral port."""

import json
import os
import shutil
import subprocess
import urllib.request

import pytest

AUTHOR = {
    "OXEN_AUTHOR_NAME": "Ada Lovelace",
    "OXEN_AUTHOR_EMAIL": "ada@example.com",
    "OXEN_AUTHOR_DATE": "1700000000 +0100",
}


@pytest.fixture(autouse=True)
def oxen_env(tmp_path, monkeypatch):
    """Every test: its own OXEN_HOME (no global config leaks in) and a fixed author."""
    home = tmp_path / "oxen-home"
    home.mkdir()
    monkeypatch.setenv("OXEN_HOME", str(home))
    monkeypatch.delenv("OXEN_TOKEN", raising=False)
    for k, v in AUTHOR.items():
        monkeypatch.setenv(k, v)
    return home


def _binary(name):
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: build it (cargo build) and put its directory on PATH")
    return path


@pytest.fixture
def oxen():
    """Run the real `oxen` CLI: oxen(*args, cwd=...) -> CompletedProcess (text)."""
    exe = _binary("oxen")

    def run(*args, cwd=None, check=True):
        p = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True)
        if check and p.returncode != 0:
            raise AssertionError(f"oxen {' '.join(args)} failed: {p.stderr}")
        return p

    return run


class Server:
    def __init__(self, root):
        self.sync_dir = root / "sync"
        self.sync_dir.mkdir()
        exe = _binary("oxen-server")
        env = dict(os.environ, SYNC_DIR=str(self.sync_dir))
        self.log = open(root / "server.log", "wb")
        self.proc = subprocess.Popen(
            [exe, "start", "--host", "127.0.0.1", "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        banner = self.proc.stdout.readline().decode().strip()
        assert banner.startswith("listening on http://"), banner
        self.addr = banner[len("listening on http://") :]
        cfg = root / "user_config.toml"
        subprocess.run(
            [exe, "add-user", "--email", "ada@example.com", "--name", "Ada", "--host", self.addr, "--output", str(cfg)],
            env=env,
            check=True,
            capture_output=True,
        )
        self.token = next(
            line.split('"')[1] for line in cfg.read_text().splitlines() if line.startswith("token = ")
        )

    def create_repo(self, name):
        req = urllib.request.Request(
            f"http://{self.addr}/api/repos",
            data=json.dumps({"name": name}).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status in (200, 201), r.status
        return f"http://{self.addr}/{name}"

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def server(tmp_path, monkeypatch):
    s = Server(tmp_path)
    monkeypatch.setenv("OXEN_TOKEN", s.token)
    yield s
    s.stop()
