"""The check that committed results come from the tree's code can fail."""

import json
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
