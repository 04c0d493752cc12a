"""The check that the tests of committed results share (studies, benchmarks): they come from
the tree's code."""

import importlib
import json
from pathlib import Path

from d2l_lite import provenance

REPO = Path(__file__).resolve().parents[1]


def changes(results, module):
    """Why ``results`` (a results file, read) are not of the tree's code, that of ``module``
    (the dotted name of a study or the benchmark), as readable lines; none when they are: by
    the rule a study resumes a results file by (``provenance.computed_by``), and from
    committed code."""
    commit, dirty = provenance.record_commit(results)
    if not commit or dirty is not False:
        return ["made by uncommitted code"]
    return provenance.changes_since(commit, results["code_files"],
                                    provenance.files_imported_by(module))


def check_committed_results(path, study, check_schema):
    """The committed results file ``path`` of the study ``d2l_lite.studies.{study}``: it
    exists, passes ``check_schema``, holds the study's full settings and was computed by the
    tree's code."""
    name = path.relative_to(REPO)
    module = f"d2l_lite.studies.{study}"
    if not path.exists():
        raise AssertionError(f"{name} is missing: run python -m {module}")
    results = json.loads(path.read_text())
    check_schema(results)
    settings = importlib.import_module(module).settings(smoke=False)
    assert results["settings"] == json.loads(json.dumps(settings)), (
        f"{name} holds other settings than {module}'s: run python -m {module} --restart")
    changed = changes(results, module)
    assert not changed, (f"{name} was computed by other code than the tree's ({changed}): run "
                         f"python -m {module} --restart")
