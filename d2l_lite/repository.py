"""The book's own files (results, trained weights) as a chapter reads them, wherever it runs.

A chapter names each file it reads with its path in the repository and pins it in its setup
cell: the commit of main that last changed it and its SHA-256. ``Repository.path`` then gives

* in a checkout (the working folder, or a folder above it, holds the repository), the
  checkout's own file;
* anywhere else (Colab, or any kernel without the checkout), the file at its pinned commit,
  fetched over HTTPS from ``url`` (``<url>/<commit>/<path>``, as GitHub serves raw files),
  checked against the pinned SHA-256 and cached under ``$XDG_CACHE_HOME/d2l_lite/files`` by
  that hash, so that a second run reads the cache.

A download has an overall deadline, from connecting to the last byte (a timer shuts the
connection's socket down when it passes, since a socket's own timeout starts again with every
byte a slow server sends), and a size cap; it goes through a temporary file that is renamed
into the cache only once its hash is the pinned one, so nothing half-written is ever read.

``python -m scripts.install_spec --write`` writes the pins; the tests check that they name the
tree's files at commits of main.
"""

import contextlib
import hashlib
import http.client
import os
import socket
import ssl
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

MAX_BYTES = 64 * 2**20  # the largest file a chapter reads (weights included) is far smaller
DEADLINE = 300  # seconds for one file
MARKERS = ("_toc.yml", "d2l_lite/__init__.py")  # what a checkout of this repository holds
STALL = 10  # seconds without a byte after which a download is given up
CHUNK = 1 << 16


class DownloadError(OSError):
    """The file could not be fetched: the network failed, or the server sent another file.
    ``status`` is the HTTP status of a refused request, else None."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


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
                           f"setup cell's pins with python -m scripts.install_spec --write")
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
        cached = cache_root() / "files" / sha256 / Path(name).name
        if cached.is_file() and file_sha256(cached) == sha256:
            return cached
        url = f"{self.url}/{commit}/{name}"
        advice = (f"check that this runtime is connected to the internet, then run the cell "
                  f"again (or clone {self.url} and run the chapter in its book/ folder)")
        try:
            download(url, cached, sha256, advice)
        except DownloadError as e:
            if e.status == 404:
                raise FileNotFoundError(
                    f"{url} does not exist: the repository has no {name} at commit {commit}, "
                    f"the one this chapter pins. The chapter is not the one of the repository's "
                    f"main branch (a fork, or an unmerged change?): open it from main") from e
            raise
        return cached


def cache_root():
    """The per-user cache folder: ``$XDG_CACHE_HOME/d2l_lite``, else ``~/.cache/d2l_lite``."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "d2l_lite"


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(url, dest, sha256, advice):
    """Download ``url`` to ``dest`` through a temporary file in its folder, renamed only if
    its SHA-256 is ``sha256``; nothing is left behind on failure."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            _fetch(url, f, advice)
        got = file_sha256(tmp)
        if got != sha256:
            raise DownloadError(f"the file downloaded from {url} has SHA-256 {got}, expected "
                                f"{sha256}: it was damaged on the way or the server sends "
                                f"another file; nothing was kept; {advice}")
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def _fetch(url, f, advice):
    """Copy ``url``'s body into the file ``f`` within ``DEADLINE`` seconds and ``MAX_BYTES``
    bytes; network failures become DownloadError."""
    too_long = f"downloading {url} took too long (over {DEADLINE:g} s); {advice}"
    watch = _Deadline(DEADLINE)
    received, declared = 0, None
    try:
        with watch, _open(url, min(STALL, DEADLINE), watch) as response:
            declared = response.headers.get("Content-Length")
            declared = int(declared) if declared and declared.strip().isdigit() else None
            if declared is not None and declared > MAX_BYTES:
                raise DownloadError(f"{url} announces {declared:,} bytes, more than the "
                                    f"{MAX_BYTES:,} expected: refusing; {advice}")
            while block := response.read1(CHUNK):
                received += len(block)
                if received > MAX_BYTES:
                    raise DownloadError(f"{url} sent more than {MAX_BYTES:,} bytes: refusing")
                f.write(block)
    except DownloadError:
        raise
    except urllib.error.HTTPError as e:
        raise DownloadError(f"downloading {url} failed with HTTP {e.code} ({e.reason}); "
                            f"{advice}", status=e.code) from e
    except (urllib.error.URLError, TimeoutError, ConnectionError, ssl.SSLError,
            http.client.HTTPException) as e:  # not a local OSError, such as a full disk
        if watch.expired():
            raise DownloadError(too_long) from e
        reason = e.reason if isinstance(e, urllib.error.URLError) else f"{type(e).__name__}: {e}"
        raise DownloadError(f"could not reach {url} or it broke off ({reason}); {advice}") from e
    if watch.expired():
        raise DownloadError(too_long)
    if declared is not None and received < declared:
        raise DownloadError(f"the download of {url} was cut off after {received:,} of "
                            f"{declared:,} bytes; nothing was kept; {advice}")


class _Deadline:
    """Shuts down the sockets of the connections it watches once ``seconds`` have passed, so
    that a blocked read returns; ``expired()`` then says why it did."""

    def __init__(self, seconds):
        self._connections, self._lock, self._done = [], threading.Lock(), False
        self._timer = threading.Timer(max(seconds, 0), self._expire)
        self._timer.daemon = True

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()
        return False

    def expired(self):
        return self._done

    def watch(self, connection):
        with self._lock:
            self._connections.append(connection)
            if self._done:
                _shut(connection)

    def _expire(self):
        with self._lock:
            self._done = True
            for connection in self._connections:
                _shut(connection)


def _shut(connection):
    """Shut the connection's socket down (the TCP socket under TLS too), waking a read."""
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _open(url, timeout, deadline):
    """``urllib.request.urlopen(url, timeout)``, every connection it makes (redirects too)
    watched by ``deadline``, also when the deadline passes while it connects."""
    class Watched:
        def do_open(self, http_class, req, **kwargs):
            def connection(*args, **kw):
                made = http_class(*args, **kw)
                connect = made.connect

                def watched_connect():
                    connect()
                    deadline.watch(made)

                deadline.watch(made)
                made.connect = watched_connect
                return made
            return super().do_open(connection, req, **kwargs)

    class HTTP(Watched, urllib.request.HTTPHandler):
        pass

    class HTTPS(Watched, urllib.request.HTTPSHandler):
        pass

    return urllib.request.build_opener(HTTP, HTTPS).open(url, timeout=timeout)


def checkout(start=None):
    """The checkout of this repository that holds the working folder (or ``start``), else
    None."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if all((folder / marker).is_file() for marker in MARKERS):
            return folder
    return None


