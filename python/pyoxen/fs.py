"""An fsspec filesystem over one revision of an Oxen repository.

Read-only, and nothing is checked out: files stream from the versions
store. Two ways to address files:

* a URL naming the repository and revision:
  ``oxen:///abs/path/to/repo@main/data/train.csv`` — the repository path,
  ``@``, the revision (a branch, tag, commit id or ``HEAD``; in this form it
  must not contain ``/``), then the path inside the repository;
* options: ``fsspec.filesystem("oxen", repo="/path/to/repo", rev="main")``
  (or ``storage_options={"repo": ..., "rev": ...}`` in pandas), then
  ``oxen://data/train.csv``. Use this form for revisions containing ``/``.

The revision is resolved to a commit when the filesystem is created, so a
branch that moves afterwards does not change what an open filesystem reads.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from fsspec.spec import AbstractFileSystem

from . import Repo

__all__ = ["OxenFileSystem"]


def _split(url: str) -> tuple:
    """``(repo, rev, inner path)`` of a URL, or ``(None, None, path)``."""
    path = url
    if path.startswith("oxen://"):
        path = path[len("oxen://") :]
    if "@" not in path:
        return None, None, path.lstrip("/")
    repo, rest = path.split("@", 1)
    rev, _, inner = rest.partition("/")
    return repo or "/", rev or "HEAD", inner.strip("/")


class OxenFileSystem(AbstractFileSystem):
    """Files of one revision of an Oxen repository (read-only)."""

    protocol = "oxen"
    root_marker = ""

    def __init__(self, repo: Optional[str] = None, rev: str = "HEAD", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if repo is None:
            raise ValueError("the oxen filesystem needs a repository: oxen:///path/to/repo@rev/file or repo=...")
        self.repo = Repo(repo)
        self.rev = self.repo.log(rev, 1)[0].id
        self._files: Optional[Dict[str, Any]] = None

    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]  # type: ignore[return-value]
        return _split(os.fspath(path))[2].rstrip("/")

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> Dict[str, Any]:
        repo, rev, _ = _split(path)
        return {} if repo is None else {"repo": repo, "rev": rev}

    def _all(self) -> Dict[str, Any]:
        if self._files is None:
            self._files = {os.fspath(e.path): e for e in self.repo.ls(self.rev)}
        return self._files

    def _file_info(self, e: Any) -> Dict[str, Any]:
        return {"name": os.fspath(e.path), "size": e.size, "type": "file", "id": e.id, "kind": e.kind}

    def ls(self, path: str = "", detail: bool = True, **kwargs: Any) -> List[Any]:
        path = self._strip_protocol(path)
        files = self._all()
        if path in files:
            out = [self._file_info(files[path])]
            return out if detail else [path]
        prefix = path + "/" if path else ""
        entries: Dict[str, Dict[str, Any]] = {}
        for p, e in files.items():
            if not p.startswith(prefix):
                continue
            head, sep, _ = p[len(prefix) :].partition("/")
            name = prefix + head
            if sep:
                entries.setdefault(name, {"name": name, "size": 0, "type": "directory"})
            else:
                entries[name] = self._file_info(e)
        if not entries and path:
            raise FileNotFoundError(path)
        out = sorted(entries.values(), key=lambda d: d["name"])
        return out if detail else [d["name"] for d in out]

    def info(self, path: str, **kwargs: Any) -> Dict[str, Any]:
        path = self._strip_protocol(path)
        files = self._all()
        if path in files:
            return self._file_info(files[path])
        prefix = path + "/" if path else ""
        if not path or any(p.startswith(prefix) for p in files):
            return {"name": path, "size": 0, "type": "directory"}
        raise FileNotFoundError(path)

    def _open(self, path: str, mode: str = "rb", block_size: Any = None, **kwargs: Any) -> Any:
        if "r" not in mode or "+" in mode or "w" in mode or "a" in mode:
            raise PermissionError("the oxen filesystem is read-only")
        path = self._strip_protocol(path)
        if path not in self._all():
            raise FileNotFoundError(path)
        return self.repo.open(path, self.rev)

    def cat_file(self, path: str, start: Optional[int] = None, end: Optional[int] = None, **kwargs: Any) -> bytes:
        path = self._strip_protocol(path)
        if path not in self._all():
            raise FileNotFoundError(path)
        if start is None and end is None:
            return self.repo.read(path, self.rev)
        with self.repo.open(path, self.rev) as f:
            size = self._all()[path].size
            s = 0 if start is None else (start if start >= 0 else max(size + start, 0))
            e = size if end is None else (end if end >= 0 else max(size + end, 0))
            f.seek(s)
            return f.read(max(e - s, 0))

    def ukey(self, path: str) -> str:
        return self.info(path).get("id", self.rev + ":" + path)
