"""The check that the tests of committed results share (studies, benchmarks): they come from
the tree's code."""

import importlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def computed_by_the_trees_code(results):
    """Whether ``results`` (a results file, read) were computed by the tree's code, by the
    rule a study resumes a results file by (``provenance.computed_by``)."""
    sys.path.insert(0, str(REPO / "scripts"))
    import provenance

    return provenance.computed_by(results)


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
