"""Where a recorded result came from, shared by the scripts that record results: the commit
and whether the sources had uncommitted changes, the machine, the hashes that tie outputs to
the code that made them, and the lock that keeps one run at a time in a checkout."""

import ast
import contextlib
import hashlib
import io
import os
import platform
import re
import subprocess
import sys
import tokenize
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "d2l_lite"
LOCK_FILE = REPO / ".run.lock"
LOCK_HELD = "D2L_LITE_RUN_LOCK"  # set while a run holds the checkout's lock (scripts/lock.sh)
VERSION_FILE = "d2l_lite/__init__.py"
VERSION_LINE = re.compile(r'^__version__ = "[^"]*"$', re.MULTILINE)
# what keeps a study's results file (its arguments, sessions, hashes) and computes none of its
# results: results files made before this rule list these files among their code
RECORD_KEEPING = frozenset({"scripts/studies.py", "scripts/provenance.py"})


def git(*args):
    """``git``'s output in the repository, or None where git or the repository is missing."""
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def commit_and_dirty(*paths):
    """(HEAD's commit, whether ``paths`` have uncommitted changes); both None where git
    cannot tell (no git, or no repository)."""
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--", *paths)
    return commit, None if commit is None or status is None else bool(status)


def cpu_model():
    """The CPU's model name, family and model, and its widest vector extension (from
    /proc/cpuinfo on Linux): what a reader needs to compare machines."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    info = {}
    for line in lines:
        if ":" in line:
            key, value = line.split(":", 1)
            info.setdefault(key.strip(), value.strip())
    flags = info.get("flags", "").split()
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return (f"{info.get('model name', platform.machine())} (family {info.get('cpu family', '?')}, "
            f"model {info.get('model', '?')}, {isa})")


def machine():
    """The machine and the libraries, as a record keeps them."""
    import numpy
    import torch

    import d2l_lite

    return dict(cpu=cpu_model(), cpu_capability=torch.backends.cpu.get_cpu_capability(),
                cores=os.cpu_count(), torch_threads=torch.get_num_threads(),
                python=platform.python_version(), torch=torch.__version__,
                numpy=numpy.__version__, d2l_lite=d2l_lite.__version__)


def imported_package_files(modules=None):
    """Repository-relative paths of the ``d2l_lite`` modules among ``modules`` (module
    objects; default: those this process has imported), sorted. A d2l_lite imported from
    elsewhere than this checkout is an error: its code is not the tree's."""
    modules = list(sys.modules.values()) if modules is None else modules
    files = {getattr(m, "__file__", None) for m in modules if m.__name__.split(".")[0] ==
             "d2l_lite"}
    return package_files(f for f in files if f)


def package_files(files):
    """Absolute paths of d2l_lite modules -> sorted repository-relative paths, checking that
    they are this checkout's."""
    paths = []
    for file in files:
        path = Path(file).resolve()
        if PACKAGE not in path.parents:
            raise RuntimeError(f"d2l_lite was imported from {path}, not from this checkout "
                               f"({PACKAGE}): run bash scripts/setup.sh, which installs the "
                               f"checkout's d2l_lite")
        paths.append(path.relative_to(REPO).as_posix())
    return sorted(paths)


def file_hashes(paths):
    """Repository-relative path -> SHA-256 of the file's bytes, for a before/after check."""
    return {p: hashlib.sha256((REPO / p).read_bytes()).hexdigest() for p in sorted(paths)}


def code_text(source):
    """Python source without its comments, docstrings and layout: what it computes. Each
    token, with INDENT and DEDENT kept, one line per logical line."""
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    kept, line = [], []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.ENDMARKER):
            continue
        if token.type == tokenize.STRING and token.start[0] in docstrings:
            continue
        if token.type == tokenize.NEWLINE:
            if line:
                kept.append(" ".join(line))
            line = []
        elif token.type == tokenize.INDENT:
            kept.append("<indent>")
        elif token.type == tokenize.DEDENT:
            kept.append("<dedent>")
        else:
            line.append(token.string)
    return "\n".join(kept)


def code_hash(paths, version=None, commit=None):
    """SHA-256 of what the files at ``paths`` (repository-relative) compute: their code
    without comments and docstrings (``code_text``), so that a result is tied to the code
    that made it and not to its documentation. With ``version``, ``d2l_lite.__version__`` is
    read as ``version``; with ``commit``, the record-keeping files (``RECORD_KEEPING``) as
    they were at that commit."""
    h = hashlib.sha256()
    for path in sorted(paths):
        if commit and path in RECORD_KEEPING:
            source = _source_at(commit, path)
        else:
            source = (REPO / path).read_text()
        if version is not None and path == VERSION_FILE:
            source = VERSION_LINE.sub(f'__version__ = "{version}"', source)
        h.update(path.encode() + b"\0" + code_text(source).encode() + b"\0")
    return h.hexdigest()


def _source_at(commit, path):
    try:
        return subprocess.run(["git", "show", f"{commit}:{path}"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise RuntimeError(
            f"cannot read {path} as it was at commit {commit[:8]}, which a results file "
            f"names ({getattr(e, 'stderr', '') or e}): in a shallow clone, run git fetch "
            f"--unshallow") from None


def computed_by(record, files=None):
    """Whether ``record`` (a results file, read: a study's or the benchmark's) holds results
    of the tree's code: of ``files`` (repository-relative; default: the ones it lists) as
    they are now. Its ``code_hash`` is taken again with ``d2l_lite.__version__`` read as the
    version it recorded (a new version number computes nothing differently; any other change
    to the code does) and the record-keeping files as at the commit it recorded (they
    compute nothing of the results). The one rule by which a study resumes a results file
    and the test suite accepts a committed one."""
    listed = record["code_files"]
    if files is not None and sorted(set(listed) - RECORD_KEEPING) != sorted(files):
        return False
    first = record["sessions"][0] if record.get("sessions") else record.get("machine", {})
    commit = record.get("commit") or first.get("commit")
    return code_hash(listed, first.get("d2l_lite"), commit) == record["code_hash"]


@contextlib.contextmanager
def checkout_lock():
    """One run at a time in this checkout (they share .venv, _build and the CPU): wait for
    the run that holds ``.run.lock``, as scripts/lock.sh does; a no-op inside such a run."""
    if os.environ.get(LOCK_HELD) or sys.platform == "win32":
        yield
        return
    import fcntl

    with open(LOCK_FILE, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("another build, test or study is using this checkout: waiting for it to "
                  "finish", flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        os.environ[LOCK_HELD] = str(os.getpid())
        try:
            yield
        finally:
            del os.environ[LOCK_HELD]
            fcntl.flock(f, fcntl.LOCK_UN)
