"""Re-execute the book's notebooks, one at a time, and write their outputs back.

    python scripts/execute_notebooks.py [NAME ...]

Each chapter's MyST source ``book/NAME.md`` is executed in a fresh kernel whose working folder
is ``book/``; the outputs go into its paired ``book/NAME.ipynb`` (through jupytext, so the pair
stays in sync) without per-cell timing metadata. The wall time of each notebook and the
environment are recorded in ``book/_execution.json``, which the Reproducibility chapter reads.
Notebooks run sequentially: two torch processes on two cores slow each other down badly.
"""

import datetime
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import jupytext
import nbclient
import yaml

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
RECORD = BOOK / "_execution.json"


def chapters():
    """Notebook chapters in table-of-contents order (the toc names them with .ipynb)."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    return [Path(c["file"]).stem for c in toc["chapters"] if c["file"].endswith(".ipynb")]


def environment():
    import matplotlib
    import numpy
    import torch

    import d2l_lite

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return dict(cpu=cpu, cores=os.cpu_count(), torch_threads=torch.get_num_threads(),
                python=platform.python_version(), torch=torch.__version__,
                numpy=numpy.__version__, matplotlib=matplotlib.__version__,
                d2l_lite=d2l_lite.__version__)


def stable_ids(nb):
    """Cell ids from each cell's position and source, so that re-executing an unchanged
    chapter does not rewrite them (jupytext draws new random ids at every read)."""
    for i, cell in enumerate(nb.cells):
        cell.id = hashlib.sha1(f"{i}\n{cell.source}".encode()).hexdigest()[:12]
    return nb


def execute(name):
    nb = stable_ids(jupytext.read(BOOK / f"{name}.md"))
    client = nbclient.NotebookClient(nb, timeout=1200, kernel_name="python3",
                                     resources={"metadata": {"path": str(BOOK)}},
                                     record_timing=False)
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nb.metadata.pop("widgets", None)
    jupytext.write(nb, BOOK / f"{name}.ipynb", fmt="ipynb")
    return seconds


def main():
    default_data = REPO.parent / "shared" / "data"
    if "D2L_LITE_DATA" not in os.environ and (default_data / "fra-eng" / "fra.txt").exists():
        os.environ["D2L_LITE_DATA"] = str(default_data)
    names = sys.argv[1:] or chapters()
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {"notebooks": {}}
    record["environment"] = environment()
    record.setdefault("notebooks", {})
    last = [n for n in names if n == "reproducibility"]
    for name in [n for n in names if n != "reproducibility"] + last:
        if name == "reproducibility":  # it reads the record: write it first
            RECORD.write_text(json.dumps(record, indent=2) + "\n")
        print(f"executing book/{name}.md ...", flush=True)
        seconds = execute(name)
        finished = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
        record["notebooks"][name] = {"seconds": round(seconds, 1), "finished": finished}
        print(f"  {seconds:.1f} s -> book/{name}.ipynb", flush=True)
    order = chapters()
    record["notebooks"] = {n: record["notebooks"][n] for n in order if n in record["notebooks"]}
    RECORD.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
