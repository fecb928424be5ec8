"""Deleting the benchmarks' work trees without charging a timed step for it.

Two facts about this machine's file system (ext4 mounted with `discard`)
shape this module:

- one unlink at a time (Python's `shutil.rmtree`) of millions of files
  takes longer than the benchmark that made them, so `remove_tree` runs
  several `rm -rf` at once;
- creating files soon after tens of thousands were deleted is several times
  slower than usual (a clone's system time went from 1.4 s to 10-12 s), so
  a step timed right after a deletion is charged for it. Cases therefore
  `set_aside` what they are done with (a rename) and a `Trash` is emptied
  only when no step is being timed.
"""

import itertools
import os
import shutil
import subprocess


def remove_tree(path):
    """Delete `path` by many `rm -rf` at once, four at a time, on the
    entries three directory levels down (a dataset's small/dNNNN)."""
    if not os.path.lexists(path):
        return
    if not os.path.isdir(path) or os.path.islink(path):
        os.unlink(path)
        return
    level = [path]
    for _ in range(3):
        nxt = []
        for d in level:
            try:
                subs = [e.path for e in os.scandir(d) if e.is_dir(follow_symlinks=False)]
            except OSError:
                subs = []
            nxt += subs or [d]
        level = nxt
    procs = []
    for p in level:
        procs.append(subprocess.Popen(["rm", "-rf", "--", p]))
        if len(procs) >= 4:
            procs.pop(0).wait()
    for p in procs:
        p.wait()
    shutil.rmtree(path, ignore_errors=True)


class Trash:
    """A directory that takes trees by rename (instant, no unlink) and
    deletes them all at once in `empty`. It must be on the same file system
    as what it takes."""

    def __init__(self, root):
        self.root = root
        self._n = itertools.count()

    def set_aside(self, path):
        """Move `path` out of the way (nothing if it does not exist)."""
        if not os.path.lexists(path):
            return
        os.makedirs(self.root, exist_ok=True)
        os.rename(path, os.path.join(self.root, "%d" % next(self._n)))

    def empty(self):
        remove_tree(self.root)
