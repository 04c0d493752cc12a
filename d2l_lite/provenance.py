"""Where a recorded result came from, shared by everything that records results (the
studies, the benchmark, the chapters' execution record): the commit and any uncommitted
changes, the machine, the one rule that says whether a record holds results of the tree's
code (``changes_since``: git is asked whether the code changed since the record's commit,
comparing code, not comments or docstrings; ``computed_by`` applies it to a study's results
file), and the lock that keeps one run at a time in a checkout."""

import ast
import contextlib
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "d2l_lite"
LOCK_FILE = REPO / ".run.lock"
LOCK_HELD = "D2L_LITE_RUN_LOCK"  # set while a run holds the checkout's lock (scripts/lock.sh)
VERSION_FILE = "d2l_lite/__init__.py"
CODE_FOLDERS = ("d2l_lite", "benchmarks")  # where the code that records results lives
# what keeps a study's results file (its arguments, sessions, hashes) and computes none of its
# results: results files made before this rule list these files among their code
RECORD_KEEPING = frozenset({"scripts/studies.py", "scripts/provenance.py",
                            "d2l_lite/studies/__init__.py", "d2l_lite/provenance.py"})


def git(*args):
    """``git``'s output in the repository, or None where git or the repository is missing."""
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def commit_and_dirty(*paths):
    """(HEAD's commit, ``paths``' uncommitted changes): False where there are none, else the
    SHA-256 of them (``git diff`` against HEAD and the untracked files), which tells a later
    run whether it has the same changes. Both None where git cannot tell (no git, or no
    repository)."""
    commit = git("rev-parse", "HEAD")
    diff = git("diff", "HEAD", "--", *paths)
    untracked = git("ls-files", "--others", "--exclude-standard", "--", *paths)
    if commit is None or diff is None or untracked is None:
        return None, None
    if not diff and not untracked:
        return commit, False
    h = hashlib.sha256(diff.encode())
    for path in untracked.splitlines():
        h.update(path.encode() + b"\0" + (REPO / path).read_bytes())
    return commit, h.hexdigest()


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


def files_imported_by(module):
    """The repository files of the modules that importing ``module`` (a dotted name) imports,
    the module's own included, from a fresh interpreter: the files that hold a study's or the
    benchmark's code today (``changes_since``'s ``now``)."""
    code = ("import importlib, json, sys; importlib.import_module(sys.argv[1]); "
            "print(json.dumps([getattr(m, '__file__', None) for m in list(sys.modules.values())]))")
    out = subprocess.run([sys.executable, "-c", code, module], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    files = {Path(f).resolve() for f in json.loads(out) if f}
    return sorted(f.relative_to(REPO).as_posix() for f in files
                  if f.suffix == ".py" and any(REPO / d in f.parents for d in CODE_FOLDERS))


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


def definitions(source, internal, version_file=False):
    """The set of what a module's top-level statements compute, each as ``(name, code)``:
    ``name`` is what it binds (None for a statement that binds nothing) and ``code`` its
    syntax tree dumped without docstrings, comments or layout. Imports of ``internal``
    modules (dotted names: this repository's) are left out, and a name bound to one of them
    reads ``<module>``: moving code between modules, or renaming a module, is no change as
    long as each definition keeps its code. So is the version number of ``version_file``,
    where ``sys.path`` looks for modules, and a string that documents an assignment."""
    tree = ast.parse(source)
    modules = _ModuleNames(_module_names(tree, internal), internal)
    found = set()
    for node in _without_docstrings(tree).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) and _is_internal(node, internal):
            continue
        if _sets_sys_path(node) or (version_file and _assigns(node) == ["__version__"]):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(
                node.value.value, str):
            continue  # the docstring of the assignment above
        code = ast.dump(modules.visit(node))
        names = _assigns(node)
        found.update((name, code) for name in names) if names else found.add((None, code))
    return found


def _assigns(node):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return [t.id for t in targets if isinstance(t, ast.Name)]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in node.names]
    return []


def _is_internal(node, internal):
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] in internal
    return all(a.name.split(".")[0] in internal for a in node.names)


def _module_names(tree, internal):
    """Names that imports of ``internal`` modules bind to modules (not to their objects)."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and _is_internal(node, internal):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and _is_internal(node, internal):
            module = node.module or ""
            modules = internal.get(module.split(".")[0], set())
            bound.update(a.asname or a.name for a in node.names
                         if f"{module}.{a.name}" in modules or a.name in internal)
    return bound


class _ModuleNames(ast.NodeTransformer):
    """Names bound to internal modules read ``<module>``; internal imports name no module."""

    def __init__(self, bound, internal):
        self.bound, self.internal = bound, internal

    def visit_Name(self, node):
        return ast.Name("<module>", node.ctx) if node.id in self.bound else node

    def visit_ImportFrom(self, node):
        if _is_internal(node, self.internal):
            return ast.ImportFrom("<module>", [self._alias(a) for a in node.names], 0)
        return node

    def visit_Import(self, node):
        if _is_internal(node, self.internal):
            return ast.Import([self._alias(a, module=True) for a in node.names])
        return node

    def _alias(self, alias, module=False):
        name = alias.asname or alias.name.split(".")[0]
        return ast.alias("<module>" if module or name in self.bound else alias.name,
                         "<module>" if name in self.bound else alias.asname)


def _without_docstrings(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


def _sets_sys_path(node):
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and ast.unparse(node.value.func) in ("sys.path.insert", "sys.path.append"))


def internal_modules(paths):
    """What ``definitions`` counts as this repository's modules, given the repository's
    Python files (``paths``): the top-level name of each (``d2l_lite``, a script's stem)
    mapped to the dotted names of that package's modules."""
    internal = {}
    for path in paths:
        path = Path(path)
        parts = (path.relative_to(REPO) if path.is_absolute() else path).with_suffix("").parts
        if parts[0] == "d2l_lite":
            dotted = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            internal.setdefault("d2l_lite", set()).add(dotted)
        else:
            internal.setdefault(parts[-1], set()).add(parts[-1])
    return internal


def differences(old, new, old_internal, new_internal, normalize=lambda path, text: text):
    """What changed between two versions of a body of code, as readable lines (none when
    nothing did). ``old`` and ``new`` map paths to texts. Python files are compared as one
    set of definitions (``definitions``), wherever each lives: one that ``new`` binds to
    other code changed, and one that ``new`` lacks went, where ``new`` still names it (a
    definition named nowhere can be called by nothing, and the code that called it before
    changed too); a statement that binds nothing counts always; a new name is new code,
    which the old code could not call. Record-keeping modules
    (``RECORD_KEEPING``) compute no results and are left out. Other files are compared by
    their text (through ``normalize``), path by path."""
    def defs(files, internal):
        found = set()
        for path, text in files.items():
            if path.endswith(".py") and path not in RECORD_KEEPING:
                found |= definitions(text, internal, version_file=path == VERSION_FILE)
        return found

    before, after = defs(old, old_internal), defs(new, new_internal)
    names_before, names_after = {n for n, _ in before}, {n for n, _ in after}
    named = _names_used(t for p, t in new.items() if p.endswith(".py"))
    for path, text in new.items():  # a chapter's code cells, say
        if not path.endswith(".py"):
            named |= set(re.findall(r"[A-Za-z_]\w*", text))
    lines = []
    for name, _ in before - after:
        if name is not None and name not in named:
            continue  # nothing can call it now, and what called it changed
        lines.append(f"{name} changed" if name in names_after else
                     f"{name or 'a statement'} went")
    for name, _ in after - before:
        if name is None:
            lines.append("a statement is new")
        elif name in names_before and name in named:
            lines.append(f"{name} changed")
    for path, text in old.items():
        if not path.endswith(".py"):
            if path not in new:
                lines.append(f"{path} is gone")
            elif normalize(path, text) != normalize(path, new[path]):
                lines.append(f"{path} changed")
    return sorted(set(lines))


def _names_used(sources):
    """Every name the code in ``sources`` could read from a module: the names it reads that
    its functions do not bind themselves, the attributes it reads, and strings that could
    name one (``getattr``)."""
    used = set()
    for source in sources:
        tree = ast.parse(source)
        local = {}  # node -> the names its enclosing function binds
        for function in ast.walk(tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                names = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
                names |= {n.id for n in ast.walk(function) if isinstance(n, ast.Name)
                          and isinstance(n.ctx, ast.Store)}
                for node in ast.walk(function):
                    local.setdefault(node, set()).update(names)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id not in local.get(node, ()):
                used.add(node.id)
            elif isinstance(node, ast.Attribute):
                used.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                used.add(node.value)
    return used


def renames(commit):
    """Path at ``commit`` -> path in the working tree, for the files git finds renamed since
    (deleted files map to None)."""
    moved = {}
    out = git("diff", "--name-status", "-M", commit, "--") or ""
    for line in out.splitlines():
        status, *paths = line.split("\t")
        if status.startswith("R"):
            moved[paths[0]] = paths[1]
        elif status == "D":
            moved[paths[0]] = None
    return moved


def changes_since(commit, files, now=(), normalize=lambda path, text: text):
    """What changed in the code of ``files`` (repository-relative paths as at ``commit``)
    between ``commit`` and the working tree (``differences``): each file is followed through
    git's renames, and ``now`` names the files that hold that code today besides (a study's
    or the benchmark's imports). A commit git cannot read is a change: a record must name a
    commit of this repository."""
    listing = git("ls-tree", "-r", "--name-only", commit)
    if listing is None:
        return [f"commit {commit} is not in this repository (in a shallow clone, run git "
                f"fetch --unshallow)"]
    moved = renames(commit)
    old = {p: _source_at(commit, p) for p in files}
    paths = {moved.get(p, p) for p in files} | set(now)
    new = {p: (REPO / p).read_text() for p in paths if p and (REPO / p).exists()}
    # a non-Python file is compared under its name at the commit
    new.update({p: new[moved.get(p, p)] for p in files if moved.get(p, p) in new})
    tree = git("ls-files", "--cached", "--others", "--exclude-standard").splitlines()
    return differences(old, new, internal_modules(p for p in listing.splitlines()
                                                  if p.endswith(".py")),
                       internal_modules(p for p in tree if p.endswith(".py")), normalize)


def snapshot(paths):
    """Repository-relative path -> text of the files at ``paths``: the code a run started
    with, for ``code_changes``."""
    return {p: (REPO / p).read_text() for p in paths}


def code_changes(before):
    """What changed in the code of ``before`` (a ``snapshot``) since it was taken
    (``differences``): whether a run's code changed while it ran."""
    internal = internal_modules(PACKAGE.rglob("*.py"))
    return differences(before, snapshot(before), internal, internal)


def record_commit(record):
    """The commit a record (a study's results file, the benchmark's, a chapter's execution
    entry) ran at, and whether its code was committed then."""
    first = record["sessions"][0] if record.get("sessions") else record
    return first.get("commit"), first.get("dirty")


def computed_by(record, now=()):
    """Whether ``record`` holds results of the tree's code: the code of the files it lists
    has not changed since the commit it ran at (``changes_since``), with ``now`` naming the
    files that hold that code today. A record of uncommitted code holds the tree's results
    only at the same commit with the same uncommitted changes to ``d2l_lite``. The one rule
    by which a study resumes a results file and the test suite accepts a committed one
    (which must also be of committed code)."""
    commit, dirty = record_commit(record)
    if not commit:
        return False
    if dirty:
        return (commit, dirty) == commit_and_dirty("d2l_lite")
    return not changes_since(commit, record["code_files"], now)


def _source_at(commit, path):
    try:
        return subprocess.run(["git", "show", f"{commit}:{path}"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise RuntimeError(
            f"cannot read {path} as it was at commit {commit[:8]}, which a record names "
            f"({getattr(e, 'stderr', '') or e}): in a shallow clone, run git fetch "
            f"--unshallow") from None


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
