"""The English-French corpus on disk: where it lives, how it is downloaded, how it is checked.

``<root>/fra-eng/fra.txt`` is used when it is there and complete: its size and SHA-256 match
the copy in d2l's ``fra-eng.zip``, checked every time it is opened (hashing it takes some
20 ms), so nothing needs to be written next to it and a read-only root works. Otherwise the
archive is downloaded over https, as pooch and torch.hub do it: under a file lock (concurrent
processes make one request; a process waits for it at most as long as a download may take),
into a temporary file with an overall deadline (from the request's first byte to its last) and
a size cap, checked against the SHA-1 that d2l publishes, then extracted and renamed into
place, so that no half-written file is ever left where it would be used. The temporary files
of a killed download are swept at the next attempt; nothing else under the root is ever
removed. Network failures and local failures (disk full, no permission) are told apart, each
with its advice. A root that is the corpus file or its ``fra-eng`` folder is refused before
anything is written. ``download`` also fetches the book's own files (``book.repository``).
"""

import contextlib
import errno
import hashlib
import http.client
import os
import shutil
import socket
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

DATA_URL = "https://d2l-data.s3-accelerate.amazonaws.com/"
FRA_ENG_ZIP = "fra-eng.zip"
FRA_ENG_SHA1 = "94646ad1522d915e7b0f9296181140edcf86a4f5"  # as d2l 1.0.3 publishes it
# fra-eng/fra.txt of that archive (Tatoeba via manythings.org, 2019-04-07, 167,130 pairs)
FRA_TXT_SIZE = 11_669_748
FRA_TXT_SHA256 = "0bb85dbaa1c896844649094d7eaf2e34bee34e84fe362b26ce7e8f2e12aae104"
MAX_BYTES = 64 * 2**20  # the archive is 3.4 MB; refuse anything larger than this
DEADLINE = 600  # seconds for the whole download
LOCK_WAIT = DEADLINE + 60  # seconds to wait for another process's download
STALE = 3600  # without a lock: seconds after which a temporary file is a killed one's debris
BOM = b"\xef\xbb\xbf"
CHUNK = 1 << 16
STALL = 10  # seconds without a byte after which a download is given up


CORPUS_ADVICE = ("check your internet connection, set D2L_LITE_DATA_URL to a mirror, or place "
                 "fra-eng/fra.txt under D2L_LITE_DATA yourself")


class DownloadError(OSError):
    """The network failed (or served something else): retry, or use a mirror. ``status`` is
    the HTTP status of a refused request, else None."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


def cache_root():
    """The per-user cache folder: ``$XDG_CACHE_HOME/d2l_lite``, else ``~/.cache/d2l_lite``."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "d2l_lite"


def data_root(root=None):
    """``root``, else ``$D2L_LITE_DATA``, else ``cache_root()``; ``~`` is expanded."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("D2L_LITE_DATA"):
        return Path(os.environ["D2L_LITE_DATA"]).expanduser()
    return cache_root()


def check_root(root):
    """Refuse a data root that is the corpus file or its ``fra-eng`` folder (a common slip
    when setting D2L_LITE_DATA), before anything is written there."""
    root = Path(root)
    points_at = ("the corpus file itself" if root.is_file() else
                 "its fra-eng/ folder" if root.name == "fra-eng" else None)
    if points_at:
        raise ValueError(f"the data root {root} (D2L_LITE_DATA, or the root given) is "
                         f"{points_at}: point D2L_LITE_DATA at the folder above fra-eng/, "
                         f"the one that holds fra-eng/fra.txt")


def file_hash(path, algorithm):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fra_eng_path(root=None):
    """Path of a complete ``fra.txt`` under the data root, downloading it if missing."""
    root = data_root(root)
    check_root(root)
    target = root / "fra-eng" / "fra.txt"
    if target.exists():
        check_corpus(target)
        return target
    with _local_errors(root), _lock(root) as locked:
        if not target.exists():  # another process may have made it while we waited
            _sweep(root, min_age=0 if locked else STALE)
            archive = root / FRA_ENG_ZIP
            if not archive.exists() or file_hash(archive, "sha1") != FRA_ENG_SHA1:
                base = os.environ.get("D2L_LITE_DATA_URL") or DATA_URL
                download(base.rstrip("/") + "/" + FRA_ENG_ZIP, archive, FRA_ENG_SHA1)
            _extract(archive, "fra-eng/fra.txt", target)
    check_corpus(target)
    return target


def check_corpus(path):
    """Raise ValueError unless ``path`` is d2l's fra.txt: its size, then its SHA-256, both
    taken after a leading UTF-8 byte-order mark if there is one."""
    with open(path, "rb") as f:
        bom = len(BOM) if f.read(len(BOM)) == BOM else 0
    size = path.stat().st_size - bom
    advice = (f"delete {path} to download it again, or set D2L_LITE_DATA to a folder whose "
              f"fra-eng/fra.txt is d2l's")
    if size != FRA_TXT_SIZE:
        raise ValueError(f"{path} has {size:,} bytes, but d2l's fra.txt has {FRA_TXT_SIZE:,}: "
                         f"it is a partial copy or another corpus; {advice}")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(bom)
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != FRA_TXT_SHA256:
        raise ValueError(f"{path} has SHA-256 {h.hexdigest()}, expected {FRA_TXT_SHA256}: it "
                         f"is damaged or another corpus; {advice}")


def download(url, dest, digest, algorithm="sha1", max_bytes=None, deadline=None,
             advice=CORPUS_ADVICE):
    """Download ``url`` to ``dest`` through a temporary file in the same folder, renamed only
    if its hash (``algorithm``) is ``digest``; nothing is left behind on failure. At most
    ``max_bytes`` (default ``MAX_BYTES``) within ``deadline`` seconds (default ``DEADLINE``).
    ``advice`` ends the message of a network failure: what the reader can do."""
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    deadline = DEADLINE if deadline is None else deadline
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            _fetch(url, f, max_bytes, deadline, advice)
        got = file_hash(tmp, algorithm)
        if got != digest:
            name = {"sha1": "SHA-1", "sha256": "SHA-256"}.get(algorithm, algorithm)
            raise DownloadError(
                f"the file downloaded from {url} has {name} {got}, expected {digest}: it was "
                f"damaged on the way or the server sends another file; nothing was kept; "
                f"{advice}")
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
    return dest


def _fetch(url, f, max_bytes, deadline, advice=CORPUS_ADVICE):
    """Copy ``url``'s body into the file ``f`` within ``deadline`` seconds, from connecting to
    the last byte; network failures become DownloadError. A server that sends nothing for
    ``STALL`` seconds is given up on; one that sends its headers or its body a byte at a time
    is cut off at the deadline (``_Deadline``), since a socket's timeout starts again with
    every byte it receives."""
    too_long = f"downloading {url} took too long (over {deadline:g} s); {advice}"
    watch = _Deadline(deadline)
    received, declared = 0, None
    try:
        with watch, _open(url, min(STALL, deadline), watch) as response:
            declared = response.headers.get("Content-Length")
            if declared is not None:
                if not declared.strip().isdigit():
                    raise DownloadError(f"{url} announces a malformed length "
                                        f"(Content-Length: {declared!r}); {advice}")
                declared = int(declared)
                if declared > max_bytes:
                    raise DownloadError(f"{url} announces {declared:,} bytes, more than "
                                        f"the {max_bytes:,} expected: refusing; {advice}")
            while True:
                if watch.expired():
                    raise DownloadError(too_long)
                block = response.read1(CHUNK)
                if not block:
                    break
                received += len(block)
                if received > max_bytes:
                    raise DownloadError(f"{url} sent more than {max_bytes:,} bytes: refusing; "
                                        f"{advice}")
                f.write(block)
    except DownloadError:
        raise
    except urllib.error.HTTPError as e:
        raise DownloadError(f"downloading {url} failed with HTTP {e.code} ({e.reason}); "
                            f"{advice}", status=e.code) from e
    except (urllib.error.URLError, TimeoutError, ConnectionError, ssl.SSLError,
            http.client.HTTPException) as e:  # not a local OSError: _local_errors words those
        if watch.expired():
            raise DownloadError(too_long) from e
        if isinstance(e, urllib.error.URLError):
            raise DownloadError(f"could not reach {url} ({e.reason}); {advice}") from e
        if isinstance(e, TimeoutError):
            raise DownloadError(f"the download of {url} stalled ({e}); {advice}") from e
        raise DownloadError(f"the download of {url} broke off ({type(e).__name__}: {e}); "
                            f"{advice}") from e
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
    """``urllib.request.urlopen(url, timeout)``, with every connection it makes (redirects
    included) watched by ``deadline``."""
    class Watched:
        def do_open(self, http_class, req, **kwargs):
            def connection(*args, **kw):
                made = http_class(*args, **kw)
                connect = made.connect

                def watched_connect():  # the deadline may pass while the TCP connect runs
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


def _extract(archive, member, target):
    """Extract ``member`` of ``archive`` to ``target`` through a temporary file."""
    with zipfile.ZipFile(archive) as z:
        if member not in z.namelist():
            raise DownloadError(f"{archive} does not contain {member}: delete it and retry")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, z.open(member) as src:
                shutil.copyfileobj(src, out, 1 << 20)
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)


@contextlib.contextmanager
def _local_errors(root):
    """Turn local I/O failures (no space, no permission) into errors that say what to do."""
    try:
        yield
    except DownloadError:
        raise
    except OSError as e:
        where = f"{root} (the data root: D2L_LITE_DATA, or the cache folder)"
        if e.errno == errno.ENOSPC:
            raise OSError(e.errno, f"no space left on the device of {where}: free some space "
                                   f"or set D2L_LITE_DATA to a folder on another disk") from e
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise OSError(e.errno, f"cannot write to {where} ({e.strerror}): set "
                                   f"D2L_LITE_DATA to a folder you can write to") from e
        raise


@contextlib.contextmanager
def _lock(root, wait=None):
    """An exclusive lock on ``root/.fra-eng.lock`` where ``fcntl`` exists (yields True), so
    that processes that start at once make one download and the others wait for it, at most
    ``wait`` seconds (default ``LOCK_WAIT``: as long as a download may take)."""
    wait = LOCK_WAIT if wait is None else wait
    root.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no lock; concurrent downloads only repeat the work
        yield False
        return
    with open(root / ".fra-eng.lock", "w") as f:
        end = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    raise DownloadError(
                        f"another process has been downloading the corpus into {root} for "
                        f"over {wait:.0f} s: wait for it, or stop it and try again") from None
                time.sleep(0.1)
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _sweep(root, min_age):
    """Remove the temporary files of killed downloads (this module's names for them, beside
    the archive and beside fra.txt) once older than ``min_age`` seconds; under the lock no
    live download owns them, so any age will do. Nothing else is ever removed."""
    now = time.time()
    for path in [*root.glob(FRA_ENG_ZIP + ".*.part"), *root.glob("fra-eng/fra.txt.*.part")]:
        with contextlib.suppress(OSError):
            if path.is_file() and now - path.stat().st_mtime >= min_age:
                path.unlink()
