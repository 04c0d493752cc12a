"""The check that the tests of committed results share (studies, benchmarks): they come from
the tree's code."""

import importlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VERSION = re.compile(r'^__version__ = "[^"]*"$', re.MULTILINE)


def recorded_version(results):
    """The ``d2l_lite.__version__`` that ``results`` were computed with: the one its last
    session recorded (studies), else the one at the commit it recorded (benchmarks)."""
    if "sessions" in results:
        return results["sessions"][-1]["d2l_lite"]
    init = subprocess.run(["git", "show", f"{results['commit']}:d2l_lite/__init__.py"],
                          cwd=REPO, capture_output=True, text=True, check=True).stdout
    return re.search(r'^__version__ = "([^"]*)"$', init, re.MULTILINE)[1]


def computed_by_the_trees_code(results):
    """Whether ``results`` (a results file, read) were computed by the tree's code:
    ``provenance.code_hash`` of the files it lists equals the hash it recorded, with
    ``d2l_lite.__version__`` read as the version it was computed with. A new version number
    computes nothing differently; any other change to the code does."""
    sys.path.insert(0, str(REPO / "scripts"))
    import provenance

    with tempfile.TemporaryDirectory() as tmp:
        for path in results["code_files"]:
            (Path(tmp) / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / path, Path(tmp) / path)
        init = Path(tmp) / "d2l_lite" / "__init__.py"
        if init.exists():
            init.write_text(VERSION.sub(f'__version__ = "{recorded_version(results)}"',
                                        init.read_text()))
        repo, provenance.REPO = provenance.REPO, Path(tmp)
        try:
            return provenance.code_hash(results["code_files"]) == results["code_hash"]
        finally:
            provenance.REPO = repo


def check_committed_results(path, script, check_schema):
    """The committed results file ``path`` of ``scripts/{script}.py``: it exists, passes
    ``check_schema``, holds the script's full settings and was computed by the tree's code."""
    name = path.relative_to(REPO)
    if not path.exists():
        raise AssertionError(f"{name} is missing: run python scripts/{script}.py")
    results = json.loads(path.read_text())
    check_schema(results)
    sys.path.insert(0, str(REPO / "scripts"))
    settings = importlib.import_module(script).settings(smoke=False)
    assert results["settings"] == json.loads(json.dumps(settings)), (
        f"{name} holds other settings than scripts/{script}.py's: run python "
        f"scripts/{script}.py --restart")
    assert computed_by_the_trees_code(results), (
        f"{name} was computed by other code than the tree's: run python "
        f"scripts/{script}.py --restart")
