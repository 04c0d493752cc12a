"""Re-execute the book's notebooks, one at a time, and write their outputs back.

    python -m scripts.execute_notebooks [NAME ...]   # these chapters (default: all)
    python -m scripts.execute_notebooks --stale      # those whose sources changed

Each chapter's MyST source ``book/NAME.md`` is executed in a fresh kernel whose working folder
is ``book/``; the outputs go into its paired ``book/NAME.ipynb`` (through jupytext, so the pair
stays in sync) without per-cell timing metadata. After each chapter, ``book/_execution.json``
records for it: the wall time, the machine, the commit and any uncommitted changes, the
``d2l_lite`` modules its kernel imported, the results files it reads, and ``ipynb_hash``, the
hash of the notebook written. The sources are hashed before the chapter runs and checked
after: if one changed meanwhile, nothing is written and the run stops. A chapter is stale
(``stale``) when its source, the code of a module it imported or a results file it reads
changed since the recorded commit (``d2l_lite.provenance.changes_since``, the rule the
studies and the benchmark follow); ``tests/test_book.py`` checks that none is. The
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
from jupyter_client.manager import KernelManager

from d2l_lite.provenance import (
    changes_since,
    checkout_lock,
    commit_and_dirty,
    machine,
    package_files,
)
from scripts.install_spec import pinned_files, without_pin

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


def stale(name, record):
    """Why chapter ``name``'s recorded run (``record``: its entry in the execution record, or
    None) is not of the tree's sources, as readable lines; none when it is. Its source is
    compared but for the pins of its setup cell (re-pinning changes no output); the modules
    by their code; the results files byte for byte."""
    if record is None:
        return ["it was never executed"]
    if not record.get("commit") or record.get("dirty") is not False:
        return ["it ran on uncommitted sources"]
    files = [f"book/{name}.md", *record["modules"], *record["results_files"]]
    return changes_since(record["commit"], files, normalize=lambda path, text: (
        without_pin(text) if path.endswith(".md") else text))


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
        ipynb_hash=ipynb_hash(BOOK / f"{name}.ipynb"), environment=env)
    record["notebooks"] = {n: record["notebooks"][n] for n in chapters()
                           if n in record["notebooks"]}
    write_record(record)
    return seconds


def main():
    names = sys.argv[1:] or chapters()
    if names == ["--stale"]:
        runs = load_record()["notebooks"]
        names = [n for n in chapters() if stale(n, runs.get(n))]
        print(f"stale: {', '.join(names) or 'none'}", flush=True)
        if not names:
            return
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
