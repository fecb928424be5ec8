"""Oxen data version control from Python.

The Rust library runs in-process (nothing spawns the ``oxen`` command):
commits made here and by the CLI from the same inputs have the same ids,
and every failure raises :class:`OxenError` (or a subclass) carrying the
CLI's one-line message.

>>> import pyoxen
>>> repo = pyoxen.init("data")            # doctest: +SKIP
>>> repo.add("images", "labels.csv")      # doctest: +SKIP
>>> repo.commit("first data")             # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import os
from typing import Any, Callable, Iterator, Optional, Sequence, Tuple, Union

from . import _native
from ._native import (
    Commit,
    Entry,
    MergeConflictError,
    NotARepositoryError,
    OxenError,
    RefusedError,
    RemoteError,
    RevisionError,
    Status,
)

__all__ = [
    "Commit",
    "Entry",
    "MergeConflictError",
    "NotARepositoryError",
    "OxenError",
    "RefusedError",
    "RemoteError",
    "Repo",
    "RevisionError",
    "Status",
    "clone",
    "init",
]

PathLike = Union[str, "os.PathLike[str]"]
Progress = Optional[Callable[[int, int], Any]]

# Table formats read_table knows, by file name suffix.
_CSV = (".csv", ".tsv", ".txt")
_PARQUET = (".parquet", ".pq")
_JSONL = (".jsonl", ".ndjson", ".json")


class _RawBlob(io.RawIOBase):
    """A committed file as a raw binary stream (see :meth:`Repo.open`)."""

    def __init__(self, reader: Any, name: str) -> None:
        super().__init__()
        self._r = reader
        self.name = name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        data = self._r.read(len(view))
        n = len(data)
        view[:n] = data
        return n

    def read(self, size: int = -1) -> bytes:
        return self._r.read(-1 if size is None else size)

    def readall(self) -> bytes:
        return self._r.read(-1)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._r.seek(offset, whence)

    def tell(self) -> int:
        return self._r.tell()

    @property
    def size(self) -> int:
        return self._r.size

    def close(self) -> None:
        if not self.closed:
            self._r.close()
        super().close()


class Repo:
    """An Oxen repository.

    ``Repo(path)`` opens the repository containing ``path`` (any directory
    inside its work tree). Relative paths given to methods are relative to
    the repository root, not the process's current directory.
    """

    def __init__(self, path: PathLike = ".") -> None:
        self._r = _native.Repo(os.fspath(path))

    @classmethod
    def _wrap(cls, native: Any) -> "Repo":
        r = cls.__new__(cls)
        r._r = native
        return r

    @property
    def path(self) -> str:
        """The root of the work tree."""
        return os.fspath(self._r.path)

    def __repr__(self) -> str:
        return f"pyoxen.Repo({self.path!r})"

    # -- staging and committing --------------------------------------
    def add(self, *paths: PathLike, progress: Progress = None) -> None:
        """Stage files and directories (recursively, honouring ``.oxenignore``).

        ``progress(done, total)`` is called while files are hashed, so a
        ``tqdm`` bar can follow: ``progress=lambda d, t: bar.update(d - bar.n)``.
        """
        self._r.add(*[os.fspath(p) for p in paths], progress=progress)

    def rm(self, *paths: PathLike, cached: bool = False, force: bool = False) -> list:
        """Remove tracked files from the index and, unless ``cached``, the work tree.

        Refused (``RefusedError``) for files with local changes unless ``force``.
        Returns the removed paths.
        """
        return [os.fspath(p) for p in self._r.rm(*[os.fspath(p) for p in paths], cached=cached, force=force)]

    def commit(self, message: str, allow_empty: bool = False) -> str:
        """Commit what is staged on the current branch; returns the commit id.

        The author comes from the repository or global config, or
        ``OXEN_AUTHOR_NAME`` / ``OXEN_AUTHOR_EMAIL`` / ``OXEN_AUTHOR_DATE``,
        exactly as for ``oxen commit``.
        """
        return self._r.commit(message, allow_empty)

    def status(self) -> Status:
        """Staged, modified, deleted and untracked paths (lists of ``str``)."""
        return self._r.status()

    def log(self, rev: str = "HEAD", n: Optional[int] = None) -> list:
        """Commits reachable from ``rev``, newest first (at most ``n``)."""
        return self._r.log(rev, n)

    # -- branches ------------------------------------------------------
    def branch(self, name: str, rev: str = "HEAD") -> str:
        """Create branch ``name`` at ``rev``; returns the commit id."""
        return self._r.branch(name, rev)

    def branches(self) -> list:
        """Local branch names."""
        return self._r.branches()

    def current_branch(self) -> Optional[str]:
        """The checked-out branch, or ``None`` when HEAD is detached."""
        return self._r.current_branch()

    def checkout(self, rev: str, force: bool = False, progress: Progress = None) -> None:
        """Switch to a branch (or detach at any other revision), updating the work tree."""
        self._r.checkout(rev, force, progress)

    def merge(self, rev: str, keys: Optional[Sequence[str]] = None) -> dict:
        """Merge ``rev`` into the current branch.

        Tables are merged row by row on ``keys`` when given. Returns
        ``{"outcome": "up-to-date" | "fast-forward" | "merged", "commit": id or None}``;
        conflicts raise :class:`MergeConflictError` and are left in the work
        tree to resolve with ``add`` + ``commit``.
        """
        outcome, commit = self._r.merge(rev, list(keys) if keys is not None else None)
        return {"outcome": outcome, "commit": commit}

    # -- reading a revision without checking it out --------------------
    def ls(self, rev: str = "HEAD", prefix: str = "") -> list:
        """Files of ``rev`` under the directory ``prefix`` (all files for ``""``)."""
        return self._r.ls(rev, prefix)

    def read(self, path: PathLike, rev: str = "HEAD") -> bytes:
        """The contents of ``path`` at ``rev``."""
        return self._r.read(os.fspath(path), rev)

    def open(self, path: PathLike, rev: str = "HEAD", buffering: int = 1 << 20) -> io.BufferedReader:
        """A read-only binary file object streaming ``path`` at ``rev``.

        Memory stays bounded by ``buffering`` whatever the file's size;
        ``seek`` forward skips, ``seek`` backward reopens the content.
        """
        raw = _RawBlob(self._r.open_raw(os.fspath(path), rev), os.fspath(path))
        return io.BufferedReader(raw, buffer_size=buffering)

    def stat(self, path: PathLike, rev: str = "HEAD") -> Optional[Entry]:
        """The :class:`Entry` of the file ``path`` at ``rev``, or ``None``."""
        return self._r.stat(os.fspath(path), rev)

    def iter_files(self, prefix: str = "", rev: str = "HEAD") -> Iterator[Tuple[str, bytes]]:
        """Yield ``(path, bytes)`` for each file of ``rev`` under ``prefix``.

        Files are read one at a time, so memory holds one file. Usable as a
        PyTorch ``IterableDataset`` source without depending on torch::

            class Files(torch.utils.data.IterableDataset):
                def __iter__(self):
                    return repo.iter_files("images/", rev="v1")
        """
        commit = self._r.log(rev, 1)[0].id if rev else "HEAD"
        for e in self._r.ls(commit, prefix):
            yield os.fspath(e.path), self._r.read(e.path, commit)

    def read_table(self, path: PathLike, rev: str = "HEAD") -> Any:
        """``path`` at ``rev`` as a ``pyarrow.Table`` (CSV, TSV, Parquet or JSON lines).

        Needs the optional dependency pyarrow (``pip install pyarrow``).
        """
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ImportError(
                "Repo.read_table needs pyarrow: pip install pyarrow (or pip install 'pyoxen[arrow]')"
            ) from None
        name = os.fspath(path).lower()
        with self.open(path, rev) as f:
            if name.endswith(_PARQUET):
                import pyarrow.parquet as pq

                return pq.read_table(f)
            if name.endswith(_JSONL):
                import pyarrow.json as pj

                return pj.read_json(f)
            import pyarrow.csv as pc

            delim = "\t" if name.endswith(".tsv") else ","
            return pc.read_csv(f, parse_options=pc.ParseOptions(delimiter=delim))

    def diff(
        self,
        a: str,
        b: str,
        keys: Optional[Sequence[str]] = None,
        paths: Optional[Sequence[PathLike]] = None,
    ) -> dict:
        """The changes from ``a`` to ``b``: the same document as ``oxen diff --json a b``."""
        ps = [os.fspath(p) for p in paths] if paths is not None else None
        return json.loads(self._r.diff_json(a, b, list(keys) if keys is not None else None, ps))

    # -- remotes ---------------------------------------------------------
    def remote_add(self, name: str, url: str) -> None:
        """Add remote ``name`` (an ``http://host:port/<RepoName>`` URL or a repository path)."""
        self._r.remote_add(name, url)

    def remotes(self) -> dict:
        """Remote names to URLs."""
        return dict(self._r.remotes())

    def push(
        self, remote: str = "origin", branch: Optional[str] = None, force: bool = False, progress: Progress = None
    ) -> None:
        """Push ``branch`` (default: the current branch) to ``remote``."""
        self._r.push(remote, branch, force, progress)

    def fetch(self, remote: str = "origin", progress: Progress = None) -> None:
        """Fetch ``remote``'s branches into its remote-tracking refs."""
        self._r.fetch(remote, progress)

    def pull(self, remote: str = "origin", branch: Optional[str] = None, progress: Progress = None) -> dict:
        """Fetch ``remote`` and merge its ``branch`` (default: the current branch's name)."""
        outcome, commit = self._r.pull(remote, branch, progress)
        return {"outcome": outcome, "commit": commit}


def init(path: PathLike, branch: str = "main") -> Repo:
    """Create an empty repository in ``path`` (created if missing)."""
    return Repo._wrap(_native.init(os.fspath(path), branch))


def clone(url: str, path: PathLike, branch: Optional[str] = None, progress: Progress = None) -> Repo:
    """Clone ``url`` (``http://host:port/<RepoName>`` or a repository path) into ``path``."""
    return Repo._wrap(_native.clone(url, os.fspath(path), branch, progress))
