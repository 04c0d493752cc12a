"""The Colab path: every chapter's first cells run in a fresh virtual environment that has only
what Colab preinstalls (torch, numpy, matplotlib, ipykernel) and a ``google.colab`` module,
and install d2l_lite from git with the chapter's own setup cell.

The setup cell runs as the chapter has it, with one change: the repository's URL points at
this clone (``file://``), and the ref the chapter names is kept. So the test installs exactly
the commit a Colab reader gets, and fails where a reader's install would (a ref that main's
history does not hold). With the ref replaced by one that does not exist, the install cell
itself must fail, with a message that says so.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import nbclient
import nbformat
import pytest
from jupyter_client.manager import KernelManager

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import install_spec  # noqa: E402
import pins  # noqa: E402

CHAPTERS = sorted(install_spec.pinned_specs())

pytestmark = pytest.mark.colab


def run(*args, **kwargs):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True,
                          **kwargs)


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    """(kernel name, the venv's python, environment for its kernels): a venv with Colab's
    preinstalled packages, a registered kernel and a stand-in ``google.colab`` module."""
    root = tmp_path_factory.mktemp("colab")
    venv = root / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--upgrade", "pip")  # Colab's pip is recent
    run(python, "-m", "pip", "install", "-q", pins.torch_spec())  # first: see README
    run(python, "-m", "pip", "install", "-q", "numpy", "matplotlib", "ipykernel")
    run(python, "-m", "ipykernel", "install", "--prefix", venv, "--name", "colab-test")
    fake = root / "site"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "__init__.py").write_text('"""Stands in for Colab."""\n')
    env = dict(PYTHONPATH=str(fake), JUPYTER_PATH=str(venv / "share" / "jupyter"),
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    return "colab-test", python, env


def first_cells(name, ref=None):
    """The chapter's setup cell, pointed at this clone (its ref kept, or replaced by ``ref``),
    then its cells up to the first that builds a data set or reads a results file."""
    cells = [c for c in jupytext.read(REPO / "book" / f"{name}.md").cells
             if c.cell_type == "code"]
    end = next(i for i, c in enumerate(cells)
               if re.search(r"MTFraEng\w*\(|_\w+\.json", c.source))
    cells = cells[:end + 1]
    url = install_spec.repository_url()
    assert url in cells[0].source, f"{name}'s setup cell does not install from {url}"
    cells[0].source = cells[0].source.replace(f"git+{url}@", f"git+file://{REPO}@")
    if ref is not None:
        cells[0].source = re.sub(r"@[0-9a-f]{40}\"", f'@{ref}"', cells[0].source)
    return cells


def execute(colab, cells, monkeypatch, tmp_path):
    kernel, python, env = colab
    run(python, "-m", "pip", "uninstall", "-y", "d2l_lite")  # each chapter installs it anew
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import google.colab")]
                                  + cells)
    km = KernelManager(kernel_name=kernel, transport="ipc",
                       connection_file=str(tmp_path / "kernel.json"))
    try:
        nbclient.NotebookClient(nb, km=km, timeout=900,
                                resources={"metadata": {"path": str(REPO / "book")}}).execute()
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=True)


@pytest.mark.parametrize("name", CHAPTERS)
def test_a_chapters_first_cells_run_in_colab_and_install_the_pinned_commit(colab, name,
                                                                          monkeypatch, tmp_path):
    execute(colab, first_cells(name), monkeypatch, tmp_path)
    info = json.loads(run(colab[1], "-c", "import importlib.metadata as m, sys; "
                          "sys.stdout.write(m.distribution('d2l_lite').read_text("
                          "'direct_url.json'))", cwd=tmp_path).stdout)  # not the clone's
    ref = install_spec.SPEC.match(install_spec.pinned_specs()[name])["ref"]
    assert info["vcs_info"]["commit_id"] == ref
    assert info["url"] == f"file://{REPO}"


def test_a_ref_that_does_not_exist_fails_in_the_install_cell_saying_so(colab, monkeypatch,
                                                                        tmp_path):
    cells = first_cells(CHAPTERS[0], ref="0" * 40)
    with pytest.raises(nbclient.exceptions.CellExecutionError) as failure:
        execute(colab, cells, monkeypatch, tmp_path)
    message = str(failure.value)
    assert "RuntimeError" in message and "pip could not install d2l_lite" in message
    assert "D2L_LITE = " in message  # the install cell, not an import further down
