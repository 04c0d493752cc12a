"""The book's own files (results, trained weights) as a chapter reads them, wherever it runs.

A chapter names each file it reads with its path in the repository and pins it in its setup
cell: the commit of main that last changed it and its SHA-256. ``Repository.path`` then gives

* in a checkout (the working folder, or a folder above it, holds the repository), the
  checkout's own file;
* anywhere else (Colab, or any kernel without the checkout), the file at its pinned commit,
  fetched over HTTPS from ``url`` (``<url>/<commit>/<path>``, as GitHub serves raw files),
  checked against the pinned SHA-256 and cached under ``$XDG_CACHE_HOME/d2l_lite/files`` by
  that hash, so that a second run reads the cache.

``python scripts/install_spec.py --write`` writes the pins; the tests check that they name the
tree's files at commits of main.
"""

import os
from pathlib import Path

from ..d2l import download

MAX_BYTES = 64 * 2**20  # the largest file a chapter reads (weights included) is far smaller
DEADLINE = 300  # seconds for one file
MARKERS = ("_toc.yml", "d2l_lite/__init__.py")  # what a checkout of this repository holds


class Repository:
    """The repository's files, served at ``url/<commit>/<path>``; ``pins`` maps each path a
    chapter reads to ``(commit, sha256)``."""

    def __init__(self, url, pins):
        self.url, self.pins = url.rstrip("/"), dict(pins)

    def path(self, name):
        """A local path holding the repository's file ``name`` (e.g. ``"book/_x.json"``)."""
        if name not in self.pins:
            raise KeyError(f"{name} is not among the files this chapter pins "
                           f"({', '.join(sorted(self.pins)) or 'none'}): add it to the "
                           f"setup cell's pins with python scripts/install_spec.py --write")
        root = checkout()
        if root is not None:
            local = root / name
            if not local.is_file():
                raise FileNotFoundError(f"{name} is missing from the checkout at {root}: "
                                        f"restore it with git checkout -- {name}")
            return local
        return self.fetch(name)

    def fetch(self, name):
        """The file ``name`` at its pinned commit, from the cache or downloaded into it."""
        commit, sha256 = self.pins[name]
        cached = download.cache_root() / "files" / sha256 / Path(name).name
        if cached.is_file() and download.file_hash(cached, "sha256") == sha256:
            return cached
        url = f"{self.url}/{commit}/{name}"
        advice = (f"check that this runtime is connected to the internet, then run the cell "
                  f"again (or clone {self.url} and run the chapter in its book/ folder)")
        try:
            download.download(url, cached, sha256, "sha256", MAX_BYTES, DEADLINE, advice)
        except download.DownloadError as e:
            if e.status == 404:
                raise FileNotFoundError(
                    f"{url} does not exist: the repository has no {name} at commit {commit}, "
                    f"the one this chapter pins. The chapter is not the one of the repository's "
                    f"main branch (a fork, or an unmerged change?): open it from main") from e
            raise
        return cached


def checkout(start=None):
    """The checkout of this repository that holds the working folder (or ``start``), else
    None."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if all((folder / marker).is_file() for marker in MARKERS):
            return folder
    return None


