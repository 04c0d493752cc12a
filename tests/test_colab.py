"""The Colab path: every chapter's first cells run in a fresh virtual environment that has only
what Colab preinstalls (torch, numpy, matplotlib, ipykernel) and a ``google.colab`` module, and
install d2l_lite from git with the chapter's own setup cell.

The setup cell installs ``$D2L_LITE_SPEC`` when it is set; here it points at this clone's
HEAD (``git+file://...@<commit>``), so the test needs the code committed, as on CI's clean
clone. The pinned spec itself, the released tag, is checked in ``test_book.py``.
"""

import json
import os
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
CHAPTERS = [p.stem for p in sorted((REPO / "book").glob("*.md"))
            if p.read_text().startswith("---\njupytext:") and p.stem != "reproducibility"]
TORCH_SPEC = os.environ.get("TORCH_SPEC", "torch==2.13.0")

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
    run(python, "-m", "pip", "install", "-q", TORCH_SPEC)  # first: see README
    run(python, "-m", "pip", "install", "-q", "numpy", "matplotlib", "ipykernel")
    run(python, "-m", "ipykernel", "install", "--prefix", venv, "--name", "colab-test")
    fake = root / "site"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "__init__.py").write_text('"""Stands in for Colab."""\n')
    # the ref to install: HEAD, or $COLAB_TEST_REF (a tag, say); a missing ref fails the test
    head = run("git", "rev-parse", "HEAD", cwd=REPO).stdout.strip()
    ref = os.environ.get("COLAB_TEST_REF") or head
    env = dict(PYTHONPATH=str(fake), JUPYTER_PATH=str(venv / "share" / "jupyter"),
               D2L_LITE_SPEC=f"d2l_lite @ git+file://{REPO}@{ref}",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    return "colab-test", python, env, ref


def first_cells(name):
    """The chapter's setup cell, then its cells up to the one that builds the data set."""
    cells = [c for c in jupytext.read(REPO / "book" / f"{name}.md").cells
             if c.cell_type == "code"]
    end = next(i for i, c in enumerate(cells) if re.search(r"MTFraEng\w*\(", c.source))
    return cells[:end + 1]


@pytest.mark.parametrize("name", CHAPTERS)
def test_a_chapters_first_cells_run_in_colab_and_install_d2l_lite_from_git(colab, name,
                                                                         monkeypatch, tmp_path):
    kernel, python, env, ref = colab
    run(python, "-m", "pip", "uninstall", "-y", "d2l_lite")  # each chapter installs it anew
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import google.colab")]
                                  + first_cells(name))
    km = KernelManager(kernel_name=kernel, transport="ipc",
                       connection_file=str(tmp_path / "kernel.json"))
    try:
        nbclient.NotebookClient(nb, km=km, timeout=900,
                                resources={"metadata": {"path": str(REPO / "book")}}).execute()
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    info = json.loads(run(python, "-c", "import importlib.metadata as m, sys; "
                          "sys.stdout.write(m.distribution('d2l_lite').read_text("
                          "'direct_url.json'))", cwd=tmp_path).stdout)  # not the clone's
    commit = run("git", "rev-parse", f"{ref}^{{commit}}", cwd=REPO).stdout.strip()
    assert info["vcs_info"]["commit_id"] == commit
    assert info["vcs_info"]["requested_revision"] == ref
    assert info["url"] == f"file://{REPO}"
