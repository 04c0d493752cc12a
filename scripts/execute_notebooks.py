"""Re-execute the book's notebooks, one at a time, and write their outputs back.

    python scripts/execute_notebooks.py [NAME ...]

Each chapter's MyST source ``book/NAME.md`` is executed in a fresh kernel whose working folder
is ``book/``; the outputs go into its paired ``book/NAME.ipynb`` (through jupytext, so the pair
stays in sync) without per-cell timing metadata. After each chapter, ``book/_execution.json``
records for it: the wall time, the machine, the commit and whether the chapter's sources had
uncommitted changes, the ``d2l_lite`` modules its kernel imported, the results files it reads,
``source_hash`` (see ``source_hash``) and ``ipynb_hash``, the hash of the notebook written.
The sources are hashed before the chapter runs and checked after: if one changed meanwhile,
nothing is written and the run stops. ``tests/test_book.py`` recomputes both hashes from the
tree, so outputs are re-executed whenever the code they come from changes. The
Reproducibility chapter shows the record, so it runs last, also after a single chapter.
Notebooks run sequentially: two torch processes on two cores slow each other badly. The
corpus comes from ``$D2L_LITE_DATA`` (``bash scripts/build.sh`` sets it).
"""

import datetime
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbclient
import nbformat
import yaml
from install_spec import pinned_files, without_pin
from jupyter_client.manager import KernelManager
from provenance import checkout_lock, commit_and_dirty, machine, package_files

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
RECORD = BOOK / "_execution.json"
PACKAGE = REPO / "d2l_lite"
IMPORTED = ("import json as _json, sys as _sys\n"
            "print(_json.dumps(sorted({getattr(_m, '__file__', None) or '' for _m in "
            "list(_sys.modules.values()) if _m.__name__.split('.')[0] == 'd2l_lite'})))")


def chapters():
    """Notebook chapters in table-of-contents order (the toc names them with .ipynb)."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    return [Path(c["file"]).stem for c in toc["chapters"] if c["file"].endswith(".ipynb")]


def results_files(name):
    """The repository files that chapter ``name`` reads: those its setup cell pins, the
    execution record aside (the Reproducibility page reads it, and it changes with every
    run)."""
    found = set(pinned_files((BOOK / f"{name}.md").read_text()))
    return sorted(found - {"book/_execution.json"})


def source_hash(name, modules):
    """SHA-256 of what chapter ``name``'s outputs depend on: the chapter's MyST source (but the
    commit its setup cell installs in Colab), the ``d2l_lite`` modules its kernel imported
    (``modules``, repository-relative paths) and the results files it reads, byte for byte.
    Comments and docstrings count too: the chapters print the package's source code."""
    h = hashlib.sha256()
    h.update(without_pin((BOOK / f"{name}.md").read_text()).encode())
    for path in sorted(modules) + results_files(name):
        h.update(path.encode() + b"\0" + (REPO / path).read_bytes() + b"\0")
    return h.hexdigest()


def ipynb_hash(path):
    """SHA-256 of a written notebook, its setup cell's pins blanked in every cell's source
    (re-pinning rewrites them; the Reproducibility page pins the record this hash is kept in)."""
    nb = json.loads(Path(path).read_text())
    for cell in nb["cells"]:
        source = cell["source"]
        cell["source"] = without_pin(source if isinstance(source, str) else "".join(source))
    return hashlib.sha256(json.dumps(nb, sort_keys=True).encode()).hexdigest()


def stable_ids(nb):
    """Cell ids from each cell's position and source, so that re-executing an unchanged
    chapter does not rewrite them (jupytext draws new random ids at every read)."""
    for i, cell in enumerate(nb.cells):
        cell.id = hashlib.sha1(f"{i}\n{without_pin(cell.source)}".encode()).hexdigest()[:12]
    return nb


def execute(name):
    """Run chapter ``name`` in a fresh kernel; returns (the executed notebook, seconds, the
    d2l_lite modules the kernel imported). Nothing is written."""
    nb = stable_ids(jupytext.read(BOOK / f"{name}.md"))
    nb.cells.append(nbformat.v4.new_code_cell(IMPORTED))  # asked after the chapter, removed
    with tempfile.TemporaryDirectory(prefix="kernel-") as folder:
        # IPC transport: the kernel talks over local sockets in ``folder``, not TCP ports
        km = KernelManager(kernel_name="python3", transport="ipc",
                           connection_file=os.path.join(folder, "kernel.json"))
        client = nbclient.NotebookClient(nb, km=km, timeout=1200,
                                         resources={"metadata": {"path": str(BOOK)}},
                                         record_timing=False)
        start = time.perf_counter()
        try:
            client.execute()
        finally:
            if km.has_kernel:
                km.shutdown_kernel(now=True)  # the client shuts down only kernels it started
    seconds = time.perf_counter() - start
    asked = nb.cells.pop()
    modules = package_files(f for f in json.loads(asked.outputs[0]["text"]) if f)
    nb.metadata.pop("widgets", None)
    return nb, seconds, modules


def load_record():
    if not RECORD.exists():
        return {"notebooks": {}}
    try:
        record = json.loads(RECORD.read_text())
    except json.JSONDecodeError as e:
        sys.exit(f"{RECORD} is not valid JSON ({e}): restore it with git checkout {RECORD}, or "
                 f"move it away to start a new record")
    record.setdefault("notebooks", {})
    return record


def write_record(record):
    """Write the record atomically (a run killed midway leaves the previous one whole)."""
    tmp = RECORD.with_suffix(".json.part")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, RECORD)


def execution_order(names):
    """``names`` in the order to execute them: the Reproducibility page prints the record, so
    it runs last, and after any other chapter (else it would show that chapter's old run)."""
    names = [n for n in names if n != "reproducibility"]
    return names + (["reproducibility"] if "reproducibility" in chapters() else [])


def run_chapter(name, record, env):
    """Execute one chapter and record it; raises SystemExit, writing nothing, if its sources
    changed while it ran."""
    def sources():
        paths = [BOOK / f"{name}.md", *(REPO / p for p in results_files(name)),
                 *PACKAGE.rglob("*.py")]
        return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}

    before = sources()
    commit, dirty = commit_and_dirty("d2l_lite", f"book/{name}.md", *results_files(name))
    nb, seconds, modules = execute(name)
    after = sources()
    if after != before:
        changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
        sys.exit(f"{changed} changed while book/{name}.md ran: its outputs were not written; "
                 f"run it again")
    jupytext.write(nb, BOOK / f"{name}.ipynb", fmt="ipynb")
    record["sequence"] = record.get("sequence", 0) + 1
    record["notebooks"][name] = dict(
        seconds=round(seconds, 1), sequence=record["sequence"],
        finished=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        commit=commit, dirty=dirty, modules=modules, results_files=results_files(name),
        source_hash=source_hash(name, modules),
        ipynb_hash=ipynb_hash(BOOK / f"{name}.ipynb"), environment=env)
    record["notebooks"] = {n: record["notebooks"][n] for n in chapters()
                           if n in record["notebooks"]}
    write_record(record)
    return seconds


def main():
    names = sys.argv[1:] or chapters()
    unknown = sorted(set(names) - set(chapters()))
    if unknown:
        sys.exit(f"unknown chapter(s) {unknown}: choose from {chapters()}")
    with checkout_lock():
        record = load_record()
        env = machine()
        for name in execution_order(names):
            print(f"executing book/{name}.md ...", flush=True)
            seconds = run_chapter(name, record, env)
            print(f"  {seconds:.1f} s -> book/{name}.ipynb", flush=True)


if __name__ == "__main__":
    main()
