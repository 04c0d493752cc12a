"""The scripts recover and say what to do: a half-made .venv, a failed system install, two runs
at once, CI's corpus check, a rerun without network, and an execution record written after
each chapter."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


BASH = shutil.which("bash")


def bash(script, cwd, env=None, timeout=120):
    return subprocess.run([BASH, "-c", script], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.fixture
def checkout(tmp_path):
    """A copy of the scripts in an empty checkout."""
    shutil.copytree(REPO / "scripts", tmp_path / "scripts")
    return tmp_path


def test_a_half_made_venv_is_recreated(checkout):
    (checkout / ".venv" / "bin").mkdir(parents=True)
    (checkout / ".venv" / "bin" / "python").symlink_to(sys.executable)  # but no activate
    result = bash("bash scripts/setup.sh", checkout,
                  {"SETUP_STOP_AFTER_VENV": "1", "PYTHON": sys.executable})
    assert result.returncode == 0, result.stdout + result.stderr
    assert ".venv is incomplete" in result.stdout
    assert (checkout / ".venv" / "bin" / "activate").exists()


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
                             cwd=checkout, stdout=subprocess.PIPE, text=True)
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
    result = bash("bash scripts/setup.sh", REPO,
                  {"PIP_NO_INDEX": "1", "PIP_INDEX_URL": "http://127.0.0.1:9/"}, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


def test_the_execution_record_is_written_after_each_chapter(monkeypatch, tmp_path):
    sys.path.insert(0, str(REPO / "scripts"))
    import execute_notebooks

    record = tmp_path / "_execution.json"
    monkeypatch.setattr(execute_notebooks, "RECORD", record)
    monkeypatch.setattr(execute_notebooks, "environment", lambda: {"cpu": "test"})
    ran = []

    def execute(name):
        if ran:
            raise KeyboardInterrupt  # the run is killed during the second chapter
        ran.append(name)
        return 1.0

    monkeypatch.setattr(execute_notebooks, "execute", execute)
    monkeypatch.setattr(sys, "argv", ["execute_notebooks.py", "reproduce", "lstm"])
    with pytest.raises(KeyboardInterrupt):
        execute_notebooks.main()
    notebooks = json.loads(record.read_text())["notebooks"]
    assert list(notebooks) == ["reproduce"]
    assert notebooks["reproduce"]["source_hash"] == execute_notebooks.source_hash("reproduce")
    assert {"commit", "dirty", "seconds", "finished", "environment"} <= set(notebooks["reproduce"])
