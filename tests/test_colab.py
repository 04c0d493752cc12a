"""The Colab path: every chapter runs where a Colab reader runs it, in a fresh virtual
environment that has only what Colab preinstalls (torch, numpy, matplotlib, ipykernel) and a
``google.colab`` module, from a working folder outside the repository (as Colab's
``/content`` is), installing d2l_lite from git with the chapter's own setup cell and reading
the repository's files it needs at the commits it pins. Each chapter runs up to the first cell
that trains a model, or to its end.

The setup cell runs as the chapter has it, with two changes: the repository's URL points at
this clone (``file://``), the ref the chapter names kept, and its files come from a loopback
server that serves this clone's history as GitHub serves raw files. So the test installs and
reads exactly what a Colab reader gets, and fails where a reader's would (a ref or a file that
main's history does not hold). With the ref replaced by one that does not exist, or the
repository out of reach, the install cell itself must fail, saying which of the two it is.
"""

import http.server
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import jupytext
import nbclient
import nbformat
import pytest
from jupyter_client.manager import KernelManager

from scripts import install_spec, pins

REPO = Path(__file__).resolve().parents[1]

CHAPTERS = sorted(install_spec.pinned_specs())
TRAINS = re.compile(r"\bexperiment\.train\(|\.fit\(|\.training_step\(")

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
    # torch first (see README), from a file whose hash requirements-torch.txt lists, as
    # scripts/setup.sh installs it (or $TORCH_SPEC); then its dependencies with Colab's others
    run(python, "-m", "pip", "install", "-q", *pins.torch_install_args())
    run(python, "-m", "pip", "install", "-q", "torch", "numpy", "matplotlib", "ipykernel")
    run(python, "-m", "ipykernel", "install", "--prefix", venv, "--name", "colab-test")
    fake = root / "site"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "__init__.py").write_text('"""Stands in for Colab."""\n')
    env = dict(PYTHONPATH=str(fake), JUPYTER_PATH=str(venv / "share" / "jupyter"),
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    return "colab-test", python, env


@pytest.fixture(scope="module")
def raw_files():
    """A loopback HTTP server that serves the repository's files as GitHub serves raw files,
    ``/<commit>/<path>`` from this clone's history; yields (its URL, the paths asked for)."""
    asked = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            commit, _, path = self.path.lstrip("/").partition("/")
            shown = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=REPO,
                                   capture_output=True)
            if shown.returncode != 0:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(shown.stdout)))
            self.end_headers()
            self.wfile.write(shown.stdout)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", asked
    httpd.shutdown()
    httpd.server_close()


def first_cells(name, files_url, ref=None, url=None):
    """The chapter's setup cell, pointed at this clone (its ref kept, or replaced by ``ref``;
    ``url`` replaces the clone's) and its files at ``files_url``; then its cells up to the
    first that trains a model (runs a training step), or all of them where none does."""
    cells = [c for c in jupytext.read(REPO / "book" / f"{name}.md").cells
             if c.cell_type == "code"]
    end = next((i for i, c in enumerate(cells) if TRAINS.search(c.source)), len(cells))
    cells = cells[:end]
    setup = cells[0].source
    assert f"git+{install_spec.repository_url()}@" in setup, f"{name}: not installed from here"
    setup = setup.replace(f"git+{install_spec.repository_url()}@", f"git+{url or f'file://{REPO}'}@")
    setup = setup.replace(f'Repository("{install_spec.files_url()}"', f'Repository("{files_url}"')
    if ref is not None:
        setup = re.sub(r"@[0-9a-f]{40}\"", f'@{ref}"', setup)
    cells[0].source = setup
    return cells


def execute(colab, cells, monkeypatch, tmp_path):
    """Run ``cells`` in a fresh kernel of the Colab-like venv, with ``d2l_lite`` uninstalled
    first, an empty cache, and a working folder outside the repository, as Colab's
    ``/content`` is."""
    kernel, python, env = colab
    run(python, "-m", "pip", "uninstall", "-y", "d2l_lite")  # each chapter installs it anew
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    content = tmp_path / "content"
    content.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import google.colab")]
                                  + cells)
    km = KernelManager(kernel_name=kernel, transport="ipc",
                       connection_file=str(tmp_path / "kernel.json"))
    try:
        nbclient.NotebookClient(nb, km=km, timeout=900,
                                resources={"metadata": {"path": str(content)}}).execute()
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=True)


def raised_message(error):
    """The setup cell's RuntimeError message, out of a cell error that also shows the cell's
    source (which holds every message the cell can raise)."""
    assert "pip could not install d2l_lite @" in error, error[-2000:]
    return error[error.rindex("pip could not install d2l_lite @"):]


@pytest.mark.parametrize("name", CHAPTERS)
def test_a_chapter_runs_in_colab_up_to_its_training_with_the_pinned_commit_and_files(
        colab, raw_files, name, monkeypatch, tmp_path):
    files_url, asked = raw_files
    asked.clear()
    execute(colab, first_cells(name, files_url), monkeypatch, tmp_path)
    info = json.loads(run(colab[1], "-c", "import importlib.metadata as m, sys; "
                          "sys.stdout.write(m.distribution('d2l_lite').read_text("
                          "'direct_url.json'))", cwd=tmp_path).stdout)  # not the clone's
    ref = install_spec.SPEC.match(install_spec.pinned_specs()[name])["ref"]
    assert info["vcs_info"]["commit_id"] == ref
    assert info["url"] == f"file://{REPO}"
    pinned = install_spec.pinned_files((REPO / "book" / f"{name}.md").read_text())
    assert sorted(asked) == sorted(f"/{commit}/{path}" for path, (commit, _) in pinned.items())


def test_a_ref_that_does_not_exist_fails_in_the_install_cell_saying_so(colab, raw_files,
                                                                        monkeypatch, tmp_path):
    cells = first_cells(CHAPTERS[0], raw_files[0], ref="0" * 40)
    with pytest.raises(nbclient.exceptions.CellExecutionError) as failure:
        execute(colab, cells, monkeypatch, tmp_path)
    message = str(failure.value)
    assert "D2L_LITE = " in message  # the install cell, not an import further down
    raised = raised_message(message)
    assert f"did not give commit {'0' * 40}: most likely it lacks it" in raised
    assert "open the chapter from main" in raised and "cannot be reached" not in raised


def test_a_missing_network_fails_in_the_install_cell_saying_so(colab, raw_files, monkeypatch,
                                                              tmp_path):
    unreachable = "http://127.0.0.1:9/owner/repo"  # the discard port: nothing listens
    cells = first_cells(CHAPTERS[0], raw_files[0], url=unreachable)
    with pytest.raises(nbclient.exceptions.CellExecutionError) as failure:
        execute(colab, cells, monkeypatch, tmp_path)
    raised = raised_message(str(failure.value))
    assert f"{unreachable} cannot be reached (no network, or no public repository there)" in raised
    assert "did not give commit" not in raised
