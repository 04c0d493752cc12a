"""The one provenance rule (``d2l_lite.provenance``): a record holds results of the tree's
code when git finds the code unchanged since the record's commit, comparing code and not
comments, docstrings, module names or version numbers; and it is the rule by which a study
resumes a results file and the test suite accepts a committed one."""

import json
import subprocess
import sys

import pytest
from study_checks import changes

from d2l_lite import provenance

BEFORE = {
    "d2l_lite/__init__.py": '"""A package."""\n\n__version__ = "1.0"\n',
    "d2l_lite/tools.py": ('"""Tools."""\n\nfrom torch.nn import GRU as RNN\n\nSTEPS = 3\n\n\n'
                          'def grow(x):\n    """Doc."""\n    return x + STEPS  # one more\n\n\n'
                          'def spare():\n    return 1\n'),
    "d2l_lite/run.py": ('import os\n\nfrom d2l_lite import tools\nfrom d2l_lite.tools import RNN'
                        '\n\n\ndef main(x):\n    return tools.grow(x), RNN\n\n\n'
                        'if __name__ == "__main__":\n    main(1)\n'),
    "results.json": '{"a": 1}\n',
}


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git repository holding BEFORE at its first commit, which ``provenance`` reads."""
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    for path, text in BEFORE.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    monkeypatch.setattr(provenance, "REPO", tmp_path)
    monkeypatch.setattr(provenance, "PACKAGE", tmp_path / "d2l_lite")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True,
                            text=True, check=True).stdout.strip()

    def changed(edits, now=(), moves=()):
        """What changes_since finds after ``moves`` and ``edits`` of the first commit."""
        git("reset", "-q", "--hard", commit)
        git("clean", "-qfd")
        for old, new in moves:
            (tmp_path / new).parent.mkdir(parents=True, exist_ok=True)
            git("mv", old, new)
        for path, text in edits.items():
            (tmp_path / path).write_text(text)
        git("add", "-A")  # git finds renames among tracked files
        return provenance.changes_since(commit, list(BEFORE), now)

    return changed


def test_comments_docstrings_and_the_version_number_are_no_change(repo):
    assert repo({
        "d2l_lite/__init__.py": '"""Another doc."""\n\n__version__ = "1.1"\n',
        "d2l_lite/tools.py": BEFORE["d2l_lite/tools.py"].replace('"""Doc."""', '"""New doc,\n'
                                                                 '    two lines."""\n')
                                                        .replace("# one more", "")}) == []


def test_moving_code_between_modules_and_renaming_modules_is_no_change(repo):
    tools = BEFORE["d2l_lite/tools.py"]
    assert repo({
        "d2l_lite/measures/steps.py": tools.replace("STEPS = 3\n", "from d2l_lite.settings "
                                                    "import STEPS\n"),
        "d2l_lite/settings.py": "STEPS = 3\n",
        "d2l_lite/run.py": BEFORE["d2l_lite/run.py"]
        .replace("from d2l_lite import tools", "from d2l_lite.measures import steps")
        .replace("d2l_lite.tools import", "d2l_lite.measures.steps import")
        .replace("tools.grow", "steps.grow")},
        now=["d2l_lite/settings.py"], moves=[("d2l_lite/tools.py", "d2l_lite/measures/steps.py")]
    ) == []


@pytest.mark.parametrize("edit, why", [
    (("d2l_lite/tools.py", "STEPS = 3", "STEPS = 4"), "STEPS changed"),
    (("d2l_lite/tools.py", "x + STEPS", "x - STEPS"), "grow changed"),
    (("d2l_lite/tools.py", "GRU as RNN", "LSTM as RNN"), "RNN changed"),
    (("d2l_lite/run.py", "\n\ndef main", "\nprint()\n\ndef main"), "a statement is new"),
    (("d2l_lite/run.py", "\n\ndef main", "\nRNN = None\n\ndef main"), "RNN changed"),
    (("results.json", "1", "2"), "results.json changed"),
])
def test_a_change_to_what_the_code_computes_is_named(repo, edit, why):
    path, old, new = edit
    assert why in repo({path: BEFORE[path].replace(old, new)})


def test_a_definition_that_goes_is_a_change_where_the_code_still_names_it(repo):
    assert repo({"d2l_lite/run.py": BEFORE["d2l_lite/run.py"].replace("import os\n", "")}) == []
    assert repo({"d2l_lite/tools.py": '"""Tools."""\n\nfrom torch.nn import GRU as RNN\n'}) == [
        "grow went"]  # run.py still calls it; STEPS, which went too, is named nowhere now
    local = BEFORE["d2l_lite/run.py"].replace("    return tools", "    STEPS = 1\n    return tools")
    assert repo({"d2l_lite/tools.py": BEFORE["d2l_lite/tools.py"].replace("STEPS = 3\n", "")
                 .replace("x + STEPS", "x + 3"), "d2l_lite/run.py": local}) == [
        "grow changed", "main changed"]  # a local STEPS is not the module's
    assert repo({"d2l_lite/run.py": BEFORE["d2l_lite/run.py"].replace("tools.grow(x)", "x")}) \
        == ["main changed"]  # and the code that called it changed
    # code that nothing names can have computed nothing
    assert repo({"d2l_lite/tools.py": BEFORE["d2l_lite/tools.py"].replace("return 1", "return 2")
                 }) == []


def test_a_commit_outside_the_repository_is_a_change(repo, monkeypatch):
    assert "is not in this repository" in provenance.changes_since("0" * 40, list(BEFORE))[0]


@pytest.mark.parametrize("path, module", [("book/_reversal.json", "d2l_lite.studies.reversal"),
                                          ("book/_larger_scale.json",
                                           "d2l_lite.studies.larger_scale")])
def test_committed_records_are_the_trees_and_a_record_of_other_code_is_not(path, module):
    results = json.loads((provenance.REPO / path).read_text())
    assert changes(results, module) == []
    for other in (dict(results, commit="0" * 40, sessions=[]), dict(results, dirty="0" * 64,
                                                                    sessions=[])):
        assert changes(other, module)


def test_a_study_resumes_exactly_the_results_of_the_trees_code(tmp_path, monkeypatch):
    from d2l_lite import studies

    monkeypatch.setenv(provenance.LOCK_HELD, "1")
    out = tmp_path / "results.json"
    monkeypatch.setattr(sys, "argv", [str(provenance.REPO / "d2l_lite" / "studies" /
                                          "reversal.py"), "--smoke", "--out", str(out)])
    seeds = [0]

    def run_all(results, settings, smoke):
        for seed in seeds:
            if not results.done(seed=seed):
                results.add(dict(seed=seed))

    def study():
        studies.run_study("reversal", "", lambda smoke: dict(arms=["a"]), run_all)

    study()
    first = json.loads(out.read_text())
    seeds.append(1)
    study()  # resumes: the same code
    assert [r["seed"] for r in json.loads(out.read_text())["runs"]] == [0, 1]
    other = dict(first, sessions=[dict(first["sessions"][0], commit="0" * 40, dirty=False)])
    out.write_text(json.dumps(other))
    with pytest.raises(SystemExit, match="runs of other code"):
        study()
    assert json.loads(out.read_text()) == other  # refused, and left as it was


def test_provenance_says_unknown_where_git_cannot_tell(monkeypatch):
    monkeypatch.setattr(provenance, "git", lambda *args: None)
    assert provenance.commit_and_dirty("d2l_lite") == (None, None)
