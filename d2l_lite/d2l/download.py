"""The English-French corpus on disk: where it lives, how it is downloaded, how it is checked.

``<root>/fra-eng/fra.txt`` is used when it is there and complete: its size and SHA-256 match
the copy in d2l's ``fra-eng.zip``, checked every time it is opened (hashing it takes some
20 ms), so nothing needs to be written next to it and a read-only root works. Otherwise the
archive is downloaded over https, as pooch and torch.hub do it: under a file lock (concurrent
processes make one request; a process waits for it at most as long as a download may take),
into a temporary file with an overall deadline and a size cap, checked against the SHA-1 that
d2l publishes, then extracted and renamed into place, so that no half-written file is ever
left where it would be used. The temporary files of a killed download are swept at the next
attempt; nothing else under the root is ever removed. Network failures and local failures
(disk full, no permission) are told apart, each with its advice.
"""

import contextlib
import errno
import hashlib
import http.client
import os
import shutil
import ssl
import tempfile
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


class DownloadError(OSError):
    """The network failed (or served something else): retry, or use a mirror."""


def data_root(root=None):
    """``root``, else ``$D2L_LITE_DATA``, else ``$XDG_CACHE_HOME/d2l_lite`` (~/.cache/d2l_lite);
    ``~`` is expanded."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("D2L_LITE_DATA"):
        return Path(os.environ["D2L_LITE_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "d2l_lite"


def file_hash(path, algorithm):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fra_eng_path(root=None):
    """Path of a complete ``fra.txt`` under the data root, downloading it if missing."""
    root = data_root(root)
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


def download(url, dest, sha1, max_bytes=None, deadline=None):
    """Download ``url`` to ``dest`` through a temporary file in the same folder, renamed only
    if its SHA-1 matches; nothing is left behind on failure. At most ``max_bytes`` (default
    ``MAX_BYTES``) within ``deadline`` seconds (default ``DEADLINE``)."""
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    deadline = DEADLINE if deadline is None else deadline
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            _fetch(url, f, max_bytes, deadline)
        got = file_hash(tmp, "sha1")
        if got != sha1:
            raise DownloadError(
                f"the file downloaded from {url} has SHA-1 {got}, expected {sha1}: the "
                f"download is corrupt or the server sends another file; nothing was kept, try "
                f"again or set D2L_LITE_DATA_URL to another mirror")
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
    return dest


def _fetch(url, f, max_bytes, deadline):
    """Copy ``url``'s body into the file ``f`` within ``deadline`` seconds; network failures
    become DownloadError. The deadline holds however slowly the server sends: every read takes
    what has arrived (``read1``), and a server that sends nothing for ``STALL`` seconds (or
    the deadline, if shorter) is given up on."""
    end = time.monotonic() + deadline
    advice = ("check your internet connection, set D2L_LITE_DATA_URL to a mirror, or place "
              "fra-eng/fra.txt under D2L_LITE_DATA yourself")
    too_long = f"downloading {url} took too long (over {deadline} s); {advice}"
    try:
        with urllib.request.urlopen(url, timeout=min(STALL, deadline)) as response:
            declared = response.headers.get("Content-Length")
            if declared is not None:
                if not declared.strip().isdigit():
                    raise DownloadError(f"{url} announces a malformed length "
                                        f"(Content-Length: {declared!r}); {advice}")
                if int(declared) > max_bytes:
                    raise DownloadError(f"{url} announces {int(declared):,} bytes, more than "
                                        f"the {max_bytes:,} expected: refusing; {advice}")
            received = 0
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    raise DownloadError(too_long)
                block = response.read1(CHUNK)
                if not block:
                    break
                received += len(block)
                if received > max_bytes:
                    raise DownloadError(f"{url} sent more than {max_bytes:,} bytes: refusing; "
                                        f"{advice}")
                f.write(block)
    except urllib.error.HTTPError as e:
        raise DownloadError(f"downloading {url} failed with HTTP {e.code} ({e.reason}); "
                            f"{advice}") from e
    except urllib.error.URLError as e:
        raise DownloadError(f"could not reach {url} ({e.reason}); {advice}") from e
    except TimeoutError as e:
        if time.monotonic() >= end:
            raise DownloadError(too_long) from e
        raise DownloadError(f"the download of {url} stalled ({e}); {advice}") from e
    except (http.client.HTTPException, ConnectionError, ssl.SSLError) as e:
        raise DownloadError(f"the download of {url} broke off ({type(e).__name__}: {e}); "
                            f"{advice}") from e


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
