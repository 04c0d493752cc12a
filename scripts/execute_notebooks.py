"""Re-execute the book's notebooks, one at a time, and write their outputs back.

    python scripts/execute_notebooks.py [NAME ...]

Each chapter's MyST source ``book/NAME.md`` is executed in a fresh kernel whose working folder
is ``book/``; the outputs go into its paired ``book/NAME.ipynb`` (through jupytext, so the pair
stays in sync) without per-cell timing metadata. After each chapter, ``book/_execution.json``
records for it: the wall time, the machine, the commit and whether the tree had uncommitted
changes, and ``source_hash``, a hash of the sources its outputs depend on (see
``source_hash``). ``tests/test_book.py`` compares that hash with the tree's, so outputs are
re-executed whenever the code they come from changes. The Reproducibility chapter shows the
record, so it runs last, also after a single chapter. Notebooks run sequentially: two torch
processes on two cores slow each other badly. The corpus comes from ``$D2L_LITE_DATA``
(``bash scripts/build.sh`` sets it).
"""

import datetime
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbclient
import yaml
from install_spec import without_pin
from jupyter_client.manager import KernelManager
from provenance import commit_and_dirty, cpu_model

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
RECORD = BOOK / "_execution.json"
PACKAGE = REPO / "d2l_lite"


def chapters():
    """Notebook chapters in table-of-contents order (the toc names them with .ipynb)."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    return [Path(c["file"]).stem for c in toc["chapters"] if c["file"].endswith(".ipynb")]


def source_hash(name):
    """SHA-256 of what chapter ``name``'s outputs depend on: the chapter's MyST source (but the
    commit its setup cell installs in Colab) and every ``d2l_lite`` module, byte for byte.
    Comments and docstrings count too: the chapters print the package's source code."""
    h = hashlib.sha256()
    h.update(without_pin((BOOK / f"{name}.md").read_text()).encode())
    for path in sorted(PACKAGE.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def environment():
    import matplotlib
    import numpy
    import torch

    import d2l_lite

    return dict(cpu=cpu_model(), cpu_capability=torch.backends.cpu.get_cpu_capability(),
                cores=os.cpu_count(), torch_threads=torch.get_num_threads(),
                python=platform.python_version(), torch=torch.__version__,
                numpy=numpy.__version__, matplotlib=matplotlib.__version__,
                d2l_lite=d2l_lite.__version__)


def stable_ids(nb):
    """Cell ids from each cell's position and source, so that re-executing an unchanged
    chapter does not rewrite them (jupytext draws new random ids at every read)."""
    for i, cell in enumerate(nb.cells):
        cell.id = hashlib.sha1(f"{i}\n{without_pin(cell.source)}".encode()).hexdigest()[:12]
    return nb


def execute(name):
    nb = stable_ids(jupytext.read(BOOK / f"{name}.md"))
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
    nb.metadata.pop("widgets", None)
    jupytext.write(nb, BOOK / f"{name}.ipynb", fmt="ipynb")
    return seconds


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


def main():
    names = sys.argv[1:] or chapters()
    unknown = sorted(set(names) - set(chapters()))
    if unknown:
        sys.exit(f"unknown chapter(s) {unknown}: choose from {chapters()}")
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    record.setdefault("notebooks", {})
    env = environment()
    # uncommitted changes to what the outputs come from (outputs being rewritten do not count)
    commit, dirty = commit_and_dirty("d2l_lite", "book/*.md")
    for name in execution_order(names):
        print(f"executing book/{name}.md ...", flush=True)
        seconds = execute(name)
        finished = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
        record["notebooks"][name] = dict(seconds=round(seconds, 1), finished=finished,
                                         commit=commit, dirty=dirty,
                                         source_hash=source_hash(name), environment=env)
        order = chapters()
        record["notebooks"] = {n: record["notebooks"][n] for n in order
                               if n in record["notebooks"]}
        record.pop("environment", None)  # older records kept one for all chapters
        write_record(record)
        print(f"  {seconds:.1f} s -> book/{name}.ipynb", flush=True)


if __name__ == "__main__":
    main()
