"""The scripts recover and say what to do: a half-made .venv or one whose pip is broken, a torch
other than the one asked for, a failed system install, two runs at once, CI's corpus check, a
rerun without network, a .venv that holds exactly the lock, and an execution record written
after each chapter."""

import hashlib
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


@pytest.mark.slow
def test_a_half_made_venv_is_moved_aside_with_its_files_and_a_new_one_made(checkout):
    (checkout / ".venv" / "bin").mkdir(parents=True)
    (checkout / ".venv" / "bin" / "python").symlink_to(sys.executable)  # but no activate
    (checkout / ".venv" / "notes.txt").write_text("mine\n")
    result = bash("bash scripts/setup.sh", checkout,
                  {"SETUP_STOP_AFTER": "venv", "PYTHON": sys.executable})
    assert result.returncode == 0, result.stdout + result.stderr
    assert ".venv is broken" in result.stdout
    assert (checkout / ".venv" / "bin" / "activate").exists()
    (aside,) = checkout.glob(".venv.broken-*")
    assert (aside / "notes.txt").read_text() == "mine\n"
    assert aside.name in result.stdout  # said where it went


@pytest.mark.slow
def test_a_venv_without_pip_is_repaired_in_place_with_its_files_kept(checkout):
    """``uv venv`` makes a .venv without pip, and an interrupted ``pip install --upgrade pip``
    leaves one."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", checkout / ".venv"],
                   check=True)
    (checkout / ".venv" / "notes.txt").write_text("mine\n")
    result = bash("bash scripts/setup.sh", checkout,
                  {"SETUP_STOP_AFTER": "venv", "PYTHON": sys.executable})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "has no working pip" in result.stdout
    assert (checkout / ".venv" / "notes.txt").read_text() == "mine\n"
    assert not list(checkout.glob(".venv.broken-*"))
    pip = subprocess.run([checkout / ".venv" / "bin" / "python", "-m", "pip", "--version"],
                         capture_output=True)
    assert pip.returncode == 0


def fake_torch_wheel(folder, version, requires=()):
    """A wheel of a package named torch, version ``version``, that requires ``requires``:
    enough for pip to install it."""
    name = f"torch-{version}"
    wheel = folder / f"{name}-py3-none-any.whl"
    files = {"torch/__init__.py": f"__version__ = '{version}'\n",
             f"{name}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: torch\n"
                                           f"Version: {version}\n"
                                           + "".join(f"Requires-Dist: {r}\n" for r in requires),
             f"{name}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\n"
                                        "Root-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{name}.dist-info/RECORD"] = "".join(f"{f},,\n" for f in files) + \
        f"{name}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return wheel


@pytest.mark.slow
def test_a_torch_that_does_not_satisfy_torch_spec_is_replaced(checkout):
    wheels = checkout / "wheels"
    wheels.mkdir()
    for version in ("0.0.1", "0.0.2"):
        fake_torch_wheel(wheels, version)
    one_entry_lock(checkout)
    env = {"SETUP_STOP_AFTER": "torch", "PYTHON": sys.executable, "PIP_FIND_LINKS": str(wheels)}
    versions = []
    for spec in ("torch==0.0.1", "torch==0.0.2"):
        result = bash("bash scripts/setup.sh", checkout, {**env, "TORCH_SPEC": spec}, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"installing {spec}" in result.stdout
        assert "without checking its hash" in result.stdout
        versions.append(bash(".venv/bin/python -c 'import torch; print(torch.__version__)'",
                             checkout).stdout.strip())
    assert versions == ["0.0.1", "0.0.2"]


def one_entry_lock(checkout):
    """A lock of one entry, the real lock's packaging with its hashes (what the torch check
    needs), and an empty pyproject.toml."""
    packaging = re.search(r"^packaging==.*?(?=^\S)", (REPO / "requirements.lock").read_text(),
                          re.M | re.S)[0]
    (checkout / "requirements.lock").write_text(packaging)
    (checkout / "pyproject.toml").write_text("")


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.slow
def test_the_pinned_torch_is_installed_by_hash_and_a_file_that_matches_none_is_refused(checkout):
    wheels = checkout / "wheels"
    wheels.mkdir()
    # a dependency that no index holds: the hashed install must not look for torch's
    # dependencies (they are in the lock)
    wheel = fake_torch_wheel(wheels, "0.0.3", requires=["d2l-lite-absent-dependency"])
    one_entry_lock(checkout)
    env = {"SETUP_STOP_AFTER": "torch", "PYTHON": sys.executable, "PIP_FIND_LINKS": str(wheels)}
    pin = checkout / "requirements-torch.txt"
    pin.write_text(f"# {'0' * 12} another file\ntorch==0.0.3 \\\n    --hash=sha256:{'0' * 64}\n")
    refused = bash("bash scripts/setup.sh", checkout, env, timeout=300)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "DO NOT MATCH THE HASHES" in refused.stdout  # pip's own words, shown
    message = refused.stdout.splitlines()[-1]
    for what in ("no file of torch==0.0.3", "requirements-torch.txt", "CPU build",
                 "https://download.pytorch.org/whl/cpu", "TORCH_SPEC"):
        assert what in message, message
    assert bash(".venv/bin/python -c 'import torch'", checkout).returncode == 1

    pin.write_text(f"torch==0.0.3 \\\n    --hash=sha256:{'0' * 64} \\\n"
                   f"    --hash=sha256:{sha256(wheel)}\n")
    result = bash("bash scripts/setup.sh", checkout, env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "installing torch==0.0.3 (by hash" in result.stdout
    assert bash(".venv/bin/python -c 'import torch; print(torch.__version__)'",
                checkout).stdout.strip() == "0.0.3"


def test_the_torch_pin_is_read_with_its_hashes(tmp_path, monkeypatch):
    from scripts import pins

    hashes = [f"{i}" * 64 for i in (1, 2)]
    pin = tmp_path / "requirements-torch.txt"
    pin.write_text(f"# the pin\n#   {hashes[0][:12]} torch-9.0.0+cpu-cp311-cp311-linux_x86_64.whl\n"
                   f"#   {hashes[1][:12]} torch-9.0.0-cp311-cp311-macosx_14_0_arm64.whl\n"
                   f"torch==9.0.0 \\\n  --hash=sha256:{hashes[0]} \\\n"
                   f"  --hash=sha256:{hashes[1]}\n")
    monkeypatch.setattr(pins, "TORCH_PIN_FILE", pin)
    monkeypatch.delenv("TORCH_SPEC", raising=False)
    assert pins.torch_pin() == pins.torch_spec() == "torch==9.0.0"
    assert pins.torch_hashes() == hashes
    assert pins.torch_files() == {
        hashes[0]: "torch-9.0.0+cpu-cp311-cp311-linux_x86_64.whl",
        hashes[1]: "torch-9.0.0-cp311-cp311-macosx_14_0_arm64.whl"}
    assert pins.torch_install_args() == ["--require-hashes", "--no-deps", "-r", str(pin)]
    monkeypatch.setenv("TORCH_SPEC", "torch==9.1.0")
    assert pins.torch_install_args() == ["torch==9.1.0"]


def test_every_torch_hash_names_its_file_and_none_is_a_cuda_build():
    """PyPI's Linux wheels of torch are CUDA builds, which need gigabytes of nvidia-* packages
    that the lock does not hold: only CPU builds may match."""
    from packaging.requirements import Requirement
    from packaging.utils import parse_wheel_filename

    from scripts.pins import torch_files, torch_hashes, torch_pin

    hashes, files = torch_hashes(), torch_files()
    assert hashes and len(set(hashes)) == len(hashes)
    assert set(files) == set(hashes), "every hash, and only they, with its file in a comment"
    pin = Requirement(torch_pin())
    for name in files.values():
        _, version, _, tags = parse_wheel_filename(name)
        assert pin.specifier.contains(version, prereleases=True), name
        if any("linux" in tag.platform for tag in tags):
            assert version.local == "cpu", f"{name}: a Linux wheel that is not a CPU build"


def test_node_packages_are_installed_without_running_their_scripts(checkout):
    fake = checkout / "bin"
    fake.mkdir()
    (fake / "npm").write_text('#!/bin/sh\necho "$@" >npm-args\nmkdir -p node_modules\n')
    (fake / "npm").chmod(0o755)
    (checkout / "package-lock.json").write_text("{}\n")
    result = bash(". scripts/install_node.sh", checkout,
                  {"PATH": f"{fake}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stdout + result.stderr
    args = (checkout / "npm-args").read_text().split()
    assert args[0] == "ci" and "--ignore-scripts" in args


def test_the_readme_quotes_the_torch_range_and_pin_as_the_files_have_them():
    from scripts.pins import torch_pin

    readme = (REPO / "README.md").read_text()
    (wanted,) = [line.split("#")[0].strip()
                 for line in (REPO / "requirements.txt").read_text().splitlines()
                 if re.match(r"torch\b", line)]
    for quoted in re.findall(r"torch\s*(?:[<>~!]=?|==)[^`\s;)]*", readme):
        if quoted.startswith("torch=="):
            assert quoted == torch_pin(), f"README quotes {quoted}, the pin is {torch_pin()}"
        else:
            assert quoted == wanted, f"README quotes {quoted}, requirements.txt has {wanted}"


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


@pytest.mark.slow
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
    import jupytext

    from scripts import execute_notebooks

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
    assert run["modules"] == ["d2l_lite/__init__.py"]
    assert run["ipynb_hash"] == execute_notebooks.ipynb_hash(book / "reproduce.ipynb")
    assert {"commit", "dirty", "seconds", "finished", "sequence", "environment",
            "results_files"} <= set(run)


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
    from packaging.requirements import Requirement

    from scripts.pins import torch_spec

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
