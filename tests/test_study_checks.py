"""The check that committed results come from the tree's code can fail, and is the rule by
which a study resumes a results file."""

import json
import re
import sys
from pathlib import Path

import pytest
from study_checks import computed_by_the_trees_code

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", ["benchmarks/results.json", "book/_reversal.json"])
def test_results_from_other_code_are_told_apart(path):
    results = json.loads((REPO / path).read_text())
    assert computed_by_the_trees_code(results)
    other = dict(results, code_hash="0" * 64)
    assert not computed_by_the_trees_code(other)
    fewer = dict(results, code_files=results["code_files"][1:])
    assert not computed_by_the_trees_code(fewer)


def hash_as_of_version(files, version, folder, monkeypatch):
    """``provenance.code_hash`` of the tree's ``files`` with d2l_lite's ``__version__`` set to
    ``version``: what a study that ran before a version-only bump recorded."""
    import provenance

    for path in files:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text((REPO / path).read_text())
    init = folder / "d2l_lite" / "__init__.py"
    init.write_text(re.sub(r'^__version__ = "[^"]*"$', f'__version__ = "{version}"',
                           init.read_text(), flags=re.MULTILINE))
    with monkeypatch.context() as m:
        m.setattr(provenance, "REPO", folder)
        return provenance.code_hash(files)


def test_a_study_resumes_exactly_the_results_the_check_calls_the_trees(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO / "scripts"))
    import provenance
    import studies

    import d2l_lite  # noqa: F401  (a study imports its code before it starts)

    monkeypatch.setenv(provenance.LOCK_HELD, "1")
    out = tmp_path / "results.json"
    monkeypatch.setattr(sys, "argv", [str(REPO / "scripts" / "reversal.py"), "--smoke",
                                      "--out", str(out)])
    seeds = [0]

    def run_all(results, settings, smoke):
        for seed in seeds:
            if not results.done(seed=seed):
                results.add(dict(seed=seed))

    def study():
        studies.run_study("reversal", "", lambda smoke: dict(arms=["a"]), run_all)

    study()
    results = json.loads(out.read_text())
    # the same runs, made before a bump of d2l_lite's version number only
    bumped = json.loads(json.dumps(results))
    bumped["sessions"][0]["d2l_lite"] = "0.0.1"
    bumped["code_hash"] = hash_as_of_version(results["code_files"], "0.0.1",
                                             tmp_path / "tree", monkeypatch)
    # and runs that claim that version but were made by the tree's code
    mislabelled = json.loads(json.dumps(results))
    mislabelled["sessions"][0]["d2l_lite"] = "0.0.1"
    for record, trees in ((bumped, True), (mislabelled, False), (results, True)):
        assert computed_by_the_trees_code(record) is trees
        out.write_text(json.dumps(record))
        seeds.append(seeds[-1] + 1)
        if trees:
            study()  # resumes, and adds its run under the code the record names
            again = json.loads(out.read_text())
            assert [r["seed"] for r in again["runs"]] == seeds
            assert computed_by_the_trees_code(again)
        else:
            with pytest.raises(SystemExit, match="runs of other code"):
                study()
            assert json.loads(out.read_text()) == record
            seeds.pop()
