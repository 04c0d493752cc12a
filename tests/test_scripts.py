"""The scripts recover and say what to do: a half-made .venv or one whose pip is broken, a torch
other than the one asked for, a failed system install, two runs at once, CI's corpus check, a
rerun without network, a .venv that holds exactly the lock, and an execution record written
after each chapter."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


BASH = shutil.which("bash")


def outside_env(**extra):
    """The environment of a run started from outside: without the lock that this test run
    holds (``D2L_LITE_RUN_LOCK``, set when the suite runs under scripts/test.sh)."""
    env = {k: v for k, v in os.environ.items() if k != "D2L_LITE_RUN_LOCK"}
    return {**env, **extra}


def bash(script, cwd, env=None, timeout=120):
    return subprocess.run([BASH, "-c", script], cwd=cwd, capture_output=True, text=True,
                          env=outside_env(**(env or {})), timeout=timeout)


@pytest.fixture
def checkout(tmp_path):
    """A copy of the scripts in an empty checkout."""
    shutil.copytree(REPO / "scripts", tmp_path / "scripts")
    shutil.copy(REPO / "requirements-torch.txt", tmp_path)
    return tmp_path


def test_a_half_made_venv_is_recreated(checkout):
    (checkout / ".venv" / "bin").mkdir(parents=True)
    (checkout / ".venv" / "bin" / "python").symlink_to(sys.executable)  # but no activate
    result = bash("bash scripts/setup.sh", checkout,
                  {"SETUP_STOP_AFTER": "venv", "PYTHON": sys.executable})
    assert result.returncode == 0, result.stdout + result.stderr
    assert ".venv is broken" in result.stdout
    assert (checkout / ".venv" / "bin" / "activate").exists()


def test_a_venv_whose_pip_is_broken_is_recreated(checkout):
    """An interrupted ``pip install --upgrade pip`` leaves a .venv with Python but no pip."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", checkout / ".venv"],
                   check=True)
    result = bash("bash scripts/setup.sh", checkout,
                  {"SETUP_STOP_AFTER": "venv", "PYTHON": sys.executable})
    assert result.returncode == 0, result.stdout + result.stderr
    assert ".venv is broken" in result.stdout
    pip = subprocess.run([checkout / ".venv" / "bin" / "python", "-m", "pip", "--version"],
                         capture_output=True)
    assert pip.returncode == 0


def fake_torch_wheel(folder, version):
    """A wheel of a package named torch, version ``version``: enough for pip to install it."""
    name = f"torch-{version}"
    wheel = folder / f"{name}-py3-none-any.whl"
    files = {"torch/__init__.py": f"__version__ = '{version}'\n",
             f"{name}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: torch\n"
                                           f"Version: {version}\n",
             f"{name}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\n"
                                        "Root-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{name}.dist-info/RECORD"] = "".join(f"{f},,\n" for f in files) + \
        f"{name}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return wheel


def test_a_torch_that_does_not_satisfy_torch_spec_is_replaced(checkout):
    wheels = checkout / "wheels"
    wheels.mkdir()
    for version in ("0.0.1", "0.0.2"):
        fake_torch_wheel(wheels, version)
    # a lock of one entry, the real lock's packaging with its hashes: what the torch check needs
    packaging = re.search(r"^packaging==.*?(?=^\S)", (REPO / "requirements.lock").read_text(),
                          re.M | re.S)[0]
    (checkout / "requirements.lock").write_text(packaging)
    (checkout / "pyproject.toml").write_text("")
    env = {"SETUP_STOP_AFTER": "torch", "PYTHON": sys.executable, "PIP_FIND_LINKS": str(wheels)}
    versions = []
    for spec in ("torch==0.0.1", "torch==0.0.2"):
        result = bash("bash scripts/setup.sh", checkout, {**env, "TORCH_SPEC": spec}, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"installing {spec}" in result.stdout
        versions.append(bash(".venv/bin/python -c 'import torch; print(torch.__version__)'",
                             checkout).stdout.strip())
    assert versions == ["0.0.1", "0.0.2"]


def test_a_failed_system_install_stops_the_run_with_what_to_do(checkout):
    fake = checkout / "bin"
    fake.mkdir()
    (fake / "apt-get").write_text("#!/bin/sh\necho 'no network' >&2\nexit 100\n")
    (fake / "apt-get").chmod(0o755)
    (fake / "id").symlink_to(shutil.which("id"))  # and no chromium, no sudo
    result = bash(". scripts/install_chromium.sh; echo 'went on'", checkout,
                  {"PATH": str(fake), "SUDO": ""})
    assert result.returncode == 1 and "went on" not in result.stdout
    assert "apt-get install chromium chromium-driver" in result.stderr


@pytest.mark.skipif(shutil.which("flock") is None, reason="flock(1) is not installed")
def test_a_second_run_in_one_checkout_waits_for_the_first(checkout):
    first = subprocess.Popen(["bash", "-c", ". scripts/lock.sh; sleep 1.5; echo first done"],
                             cwd=checkout, stdout=subprocess.PIPE, text=True, env=outside_env())
    time.sleep(0.5)
    second = bash(". scripts/lock.sh; echo second ran", checkout)
    assert "waiting" in second.stdout and second.stdout.strip().endswith("second ran")
    assert first.communicate(timeout=10)[0].strip() == "first done"


@pytest.mark.parametrize("ci", ["1", "true", "yes"])
def test_ci_refuses_to_run_without_the_corpus_whatever_ci_is_set_to(tmp_path, ci):
    shutil.copytree(REPO / ".ci", tmp_path / "repo" / ".ci")
    shutil.copytree(REPO / "scripts", tmp_path / "repo" / "scripts")
    (tmp_path / "empty").mkdir()
    result = bash("bash .ci/run", tmp_path / "repo",
                  {"CI": ci, "D2L_LITE_DATA": str(tmp_path / "empty")})
    assert result.returncode == 1 and "the corpus is missing" in result.stderr


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("yes", True),
                                            ("", False), ("0", False), ("false", False),
                                            ("no", False)])
def test_the_tests_read_ci_as_ci_run_does(monkeypatch, value, expected):
    import importlib.util

    spec = importlib.util.spec_from_file_location("tests_conftest", REPO / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("CI", value)
    assert module.in_ci() is expected


@pytest.mark.skipif(not (REPO / ".venv" / "requirements.stamp").exists(),
                    reason="needs a .venv made by scripts/setup.sh")
def test_a_rerun_of_setup_with_nothing_changed_needs_no_network():
    # this checkout's own setup, inside this run: with the lock the run holds, if any
    result = subprocess.run([BASH, "-c", "bash scripts/setup.sh"], cwd=REPO, capture_output=True,
                            text=True, timeout=300,
                            env={**os.environ, "PIP_NO_INDEX": "1",
                                 "PIP_INDEX_URL": "http://127.0.0.1:9/"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


@pytest.fixture
def book_copy(monkeypatch, tmp_path):
    """execute_notebooks pointed at a copy of the book (the package itself shared), with
    ``execute`` replaced by a stand-in that returns the chapter unexecuted."""
    sys.path.insert(0, str(REPO / "scripts"))
    import execute_notebooks
    import jupytext

    shutil.copytree(REPO / "book", tmp_path / "book")
    shutil.copy(REPO / "_toc.yml", tmp_path)
    (tmp_path / "d2l_lite").symlink_to(REPO / "d2l_lite")
    for name, value in (("REPO", tmp_path), ("BOOK", tmp_path / "book"),
                        ("RECORD", tmp_path / "book" / "_execution.json"),
                        ("PACKAGE", tmp_path / "d2l_lite")):
        monkeypatch.setattr(execute_notebooks, name, value)
    monkeypatch.setattr(execute_notebooks, "machine", lambda: {"cpu": "test"})
    monkeypatch.setattr(execute_notebooks, "package_files", lambda files: list(files))

    def unexecuted(name):
        return jupytext.read(tmp_path / "book" / f"{name}.md"), 1.0, ["d2l_lite/__init__.py"]

    return execute_notebooks, tmp_path / "book", unexecuted


def test_the_execution_record_is_written_after_each_chapter(book_copy, monkeypatch):
    execute_notebooks, book, unexecuted = book_copy
    ran = []

    def execute(name):
        if ran:
            raise KeyboardInterrupt  # the run is killed during the second chapter
        ran.append(name)
        return unexecuted(name)

    monkeypatch.setattr(execute_notebooks, "execute", execute)
    (book / "_execution.json").unlink()
    monkeypatch.setattr(sys, "argv", ["execute_notebooks.py", "reproduce", "lstm"])
    with pytest.raises(KeyboardInterrupt):
        execute_notebooks.main()
    notebooks = json.loads((book / "_execution.json").read_text())["notebooks"]
    assert list(notebooks) == ["reproduce"]
    run = notebooks["reproduce"]
    assert run["source_hash"] == execute_notebooks.source_hash("reproduce", run["modules"])
    assert run["ipynb_hash"] == execute_notebooks.ipynb_hash(book / "reproduce.ipynb")
    assert {"commit", "dirty", "seconds", "finished", "sequence", "environment"} <= set(run)


def test_a_chapter_edited_while_it_runs_is_not_recorded(book_copy, monkeypatch):
    execute_notebooks, book, unexecuted = book_copy
    record, notebook = (book / "_execution.json").read_text(), (book / "lstm.ipynb").read_text()

    def execute(name):
        result = unexecuted(name)
        (book / f"{name}.md").write_text((book / f"{name}.md").read_text() + "\nedited\n")
        return result

    monkeypatch.setattr(execute_notebooks, "execute", execute)
    monkeypatch.setattr(sys, "argv", ["execute_notebooks.py", "lstm"])
    with pytest.raises(SystemExit, match=r"lstm.md'\] changed while book/lstm.md ran: its "
                                         r"outputs were not written"):
        execute_notebooks.main()
    assert (book / "_execution.json").read_text() == record
    assert (book / "lstm.ipynb").read_text() == notebook


def test_a_corrupt_execution_record_is_a_clear_error(book_copy, monkeypatch):
    execute_notebooks, book, _ = book_copy
    (book / "_execution.json").write_text('{"notebooks": {')
    monkeypatch.setattr(sys, "argv", ["execute_notebooks.py", "lstm"])
    with pytest.raises(SystemExit, match="is not valid JSON .*git checkout"):
        execute_notebooks.main()


def test_provenance_says_unknown_where_git_cannot_tell(monkeypatch):
    sys.path.insert(0, str(REPO / "scripts"))
    import provenance

    monkeypatch.setattr(provenance, "git", lambda *args: None)
    assert provenance.commit_and_dirty("d2l_lite") == (None, None)


def test_the_code_hash_ignores_comments_and_docstrings_but_not_code(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO / "scripts"))
    import provenance

    monkeypatch.setattr(provenance, "REPO", tmp_path)
    versions = ['def f(x):\n    """Doc."""\n    return x + 1  # one\n',
                'def f(x):\n    """Other doc,\n    two lines."""\n\n    return x + 1\n',
                'def f(x):\n    return x + 2\n',
                'def f(x):\n    if x:\n        return x\n    return 1\n',
                'def f(x):\n    if x:\n        return x\n        return 1\n']
    hashes = []
    for source in versions:
        (tmp_path / "m.py").write_text(source)
        hashes.append(provenance.code_hash(["m.py"]))
    assert hashes[0] == hashes[1]
    assert len(set(hashes[1:])) == 4  # code, and indentation, count


def lock_entries():
    """Name -> version of every entry of requirements.lock whose markers fit this Python."""
    from packaging.requirements import Requirement

    entries = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line[:1].isalnum():
            requirement = Requirement(line.rstrip(" \\"))
            if requirement.marker is None or requirement.marker.evaluate():
                (version,) = [s.version for s in requirement.specifier]
                entries[canonical(requirement.name)] = version
    return entries


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.mark.skipif(not (REPO / ".venv" / "requirements.stamp").exists(),
                    reason="needs a .venv made by scripts/setup.sh")
def test_the_venv_holds_exactly_the_lock_and_the_pinned_torch():
    sys.path.insert(0, str(REPO / "scripts"))
    from packaging.requirements import Requirement
    from pins import torch_spec

    listing = subprocess.run(
        [REPO / ".venv" / "bin" / "python", "-c", "import importlib.metadata as m; print('\\n'"
         ".join(f\"{d.metadata['Name']}=={d.version}\" for d in m.distributions()))"],
        capture_output=True, text=True, check=True).stdout.split()
    installed = dict(line.split("==") for line in listing)
    installed = {canonical(name): version for name, version in installed.items()}
    torch = Requirement(torch_spec())
    assert torch.specifier.contains(installed.pop("torch"), prereleases=True)
    installed.pop("d2l-lite")
    installed.pop("d2l", None)  # d2l 1.0.3, which the benchmark compares with, if installed
    expected = lock_entries()
    assert installed == expected, (
        f"not in the lock: {sorted(set(installed) - set(expected))}; missing: "
        f"{sorted(set(expected) - set(installed))}; other versions: "
        f"{sorted(n for n in set(installed) & set(expected) if installed[n] != expected[n])}; "
        f"run bash scripts/setup.sh")


def test_a_relative_data_root_is_made_absolute_from_the_repository_root(checkout):
    result = bash(". scripts/data_env.sh; echo \"$D2L_LITE_DATA\"", checkout,
                  {"D2L_LITE_DATA": "corpora/d2l"})
    assert result.stdout.strip() == str(checkout / "corpora" / "d2l")
    result = bash(". scripts/data_env.sh; echo \"$D2L_LITE_DATA\"", checkout,
                  {"D2L_LITE_DATA": "/data/d2l"})
    assert result.stdout.strip() == "/data/d2l"
