"""The book's notebooks: every MyST chapter has its .ipynb twin with the same cells, executed,
with PNG figures and no errors; the toc names the .ipynb. (``jupytext --diff`` cannot gate
this: it exits 0 even when a pair differs.)"""

import ast
import hashlib
import json
import re
import subprocess
from pathlib import Path

import jupytext
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
PAIRED = sorted(p for p in BOOK.glob("*.md") if p.read_text().startswith("---\njupytext:"))


def cells(notebook):
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", [])))
            for c in notebook.cells]


def test_every_notebook_chapter_of_the_toc_has_its_myst_source_and_no_other():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    notebooks = {Path(c["file"]).stem for c in toc["chapters"] if c["file"].endswith(".ipynb")}
    assert notebooks == {p.stem for p in PAIRED}


@pytest.mark.parametrize("md", PAIRED, ids=lambda p: p.name)
def test_md_and_ipynb_have_the_same_cells(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.exists(), (f"{md.name} has no paired {ipynb.name}: run python -m "
                            f"scripts.execute_notebooks")
    ours, theirs = cells(jupytext.read(md)), cells(jupytext.read(ipynb))
    assert len(ours) == len(theirs), f"{md.name}: {len(ours)} cells, {ipynb.name}: {len(theirs)}"
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a == b, f"cell {i} differs between {md.name} and {ipynb.name}; re-execute the pair"


@pytest.mark.parametrize("md", PAIRED, ids=lambda p: p.name)
def test_every_code_cell_was_executed_without_error(md):
    nb = json.loads(md.with_suffix(".ipynb").read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        assert cell["execution_count"] is not None, f"{md.stem}.ipynb cell {i} never ran"
        assert all(o["output_type"] != "error" for o in cell["outputs"]), f"cell {i} failed"
        for output in cell["outputs"]:
            assert "image/svg+xml" not in output.get("data", {}), f"cell {i}: SVG figure"
            assert "execution" not in cell.get("metadata", {}), f"cell {i}: timing metadata"


@pytest.mark.parametrize("md", PAIRED, ids=lambda p: p.name)
def test_notebook_cells_are_in_run_order(md):
    nb = json.loads(md.with_suffix(".ipynb").read_text())
    counts = [c["execution_count"] for c in nb["cells"] if c["cell_type"] == "code"]
    assert counts == list(range(1, len(counts) + 1)), f"{md.stem}: executed out of order"


def test_toc_names_every_notebook_chapter_with_its_ipynb_extension():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [c["file"] for c in toc["chapters"]]
    for md in PAIRED:
        assert f"book/{md.stem}.ipynb" in files, f"{md.stem} missing from _toc.yml"
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config["only_build_toc_files"] is True


@pytest.mark.parametrize("md", PAIRED, ids=lambda p: p.name)
def test_chapter_starts_by_making_d2l_lite_importable(md):
    first_code = next(c for c in jupytext.read(md).cells if c.cell_type == "code")
    assert 'find_spec("d2l_lite")' in first_code.source


@pytest.mark.parametrize("md", PAIRED, ids=lambda p: p.name)
def test_cell_ids_are_stable_so_re_execution_does_not_rewrite_them(md):
    from scripts.execute_notebooks import stable_ids

    expected = [c.id for c in stable_ids(jupytext.read(md)).cells]
    stored = [c["id"] for c in json.loads(md.with_suffix(".ipynb").read_text())["cells"]]
    assert stored == expected


def _scripts():
    from scripts import execute_notebooks, install_spec

    return execute_notebooks, install_spec


def git(*args, check=True):
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                          check=check)


def too_shallow_to_tell(ref):
    """A message when this clone's history is cut off and lacks ``ref``, else None."""
    shallow = git("rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    present = git("cat-file", "-e", f"{ref}^{{commit}}", check=False).returncode == 0
    if shallow and not present:
        return (f"this clone is shallow and does not hold {ref}, so it cannot tell whether "
                f"main's history does: run git fetch --unshallow and test again")
    return None


def test_every_chapter_installs_one_commit_of_this_repository_in_colab():
    _, install_spec = _scripts()
    specs = install_spec.pinned_specs()
    assert set(specs) == {p.stem for p in PAIRED}, specs
    assert len(set(specs.values())) == 1, f"the chapters install different specs: {specs}"
    match = install_spec.SPEC.match(next(iter(specs.values())))
    assert match, (f"{specs}: not 'd2l_lite @ git+<url>@<commit>': run python "
                   f"-m scripts.install_spec --write")
    assert match["url"] == install_spec.repository_url()


def test_the_pinned_commit_is_in_mains_history_and_holds_the_trees_d2l_lite():
    """A Colab reader installs the pinned commit: every clone of main must have it, and its
    package must be the one the outputs were computed with (the tree's)."""
    _, install_spec = _scripts()
    ref = install_spec.SPEC.match(next(iter(install_spec.pinned_specs().values())))["ref"]
    if message := too_shallow_to_tell(ref):
        pytest.fail(message)
    assert git("merge-base", "--is-ancestor", ref, "HEAD", check=False).returncode == 0, (
        f"the chapters install {ref}, which is not in the history of HEAD: a reader cannot "
        f"get it; run python -m scripts.install_spec --write")
    changed = git("diff", "--name-only", ref, "--", *install_spec.PACKAGED).stdout.split()
    assert not changed, (
        f"the chapters install {ref}, but {changed} differ in the tree: commit them, then run "
        f"python -m scripts.install_spec --write (and bump d2l_lite.__version__)")


def test_the_version_was_set_in_or_after_the_last_change_to_the_package():
    """``d2l_lite.__version__`` names one state of the package: any change to it since the
    commit that set the version needs a new version."""
    _, install_spec = _scripts()
    setter = git("log", "-1", "--format=%H", "-G", "^__version__ = ", "--",
                 "d2l_lite/__init__.py").stdout.strip()
    assert setter, "no commit of this clone's history sets d2l_lite.__version__"
    changed = git("diff", "--name-only", setter, "--", *install_spec.PACKAGED).stdout.split()
    assert not changed, (f"{changed} changed since __version__ was set (commit {setter[:12]}): "
                         f"bump __version__ in d2l_lite/__init__.py")


@pytest.mark.parametrize("md", PAIRED, ids=lambda p: p.name)
def test_outputs_come_from_the_code_in_the_tree(md):
    """The chapter was executed from the sources it shows: since its recorded commit, neither
    the chapter, nor the code of a d2l_lite module its kernel imported, nor a results file
    it reads changed (``execute_notebooks.stale``); the notebook is the one that run wrote;
    and the torch it ran on is the pinned one."""
    execute_notebooks, _ = _scripts()
    from packaging.requirements import Requirement

    from scripts import pins

    record = json.loads((BOOK / "_execution.json").read_text())["notebooks"].get(md.stem)
    rerun = f"run python -m scripts.execute_notebooks {md.stem}"
    assert record is not None, f"{md.stem} was never executed: {rerun}"
    if md.stem != "reproducibility":
        assert "d2l_lite/__init__.py" in record["modules"], record["modules"]
    assert record["results_files"] == execute_notebooks.results_files(md.stem)
    changed = execute_notebooks.stale(md.stem, record)
    assert not changed, (
        f"book/{md.stem}.ipynb was executed from other sources than the tree's (its chapter, "
        f"a d2l_lite module it imported, or a results file it reads changed since: "
        f"{changed}): {rerun}, or python -m scripts.execute_notebooks --stale")
    assert record["ipynb_hash"] == execute_notebooks.ipynb_hash(md.with_suffix(".ipynb")), (
        f"book/{md.stem}.ipynb is not the notebook its recorded run wrote: {rerun}")
    torch = record["environment"]["torch"]
    assert Requirement(pins.torch_pin()).specifier.contains(torch, prereleases=True), (
        f"book/{md.stem}.ipynb ran on torch {torch}, not the pinned {pins.torch_pin()}: {rerun}")


def test_the_reproducibility_page_was_executed_after_every_chapter_it_shows():
    """It prints the record of the other chapters' runs: one re-executed after it makes the
    page (and nbval's comparison of it) out of date."""
    record = json.loads((BOOK / "_execution.json").read_text())["notebooks"]
    page = record["reproducibility"]["sequence"]
    later = [name for name, run in record.items() if run["sequence"] > page]
    assert not later, (f"{later} were executed after the Reproducibility page: run python "
                       f"-m scripts.execute_notebooks reproducibility")


def test_executing_one_chapter_executes_the_reproducibility_page_after_it():
    execute_notebooks, _ = _scripts()
    assert execute_notebooks.execution_order(["lstm"]) == ["lstm", "reproducibility"]
    assert execute_notebooks.execution_order(["reproducibility", "lstm"]) == [
        "lstm", "reproducibility"]
    everything = execute_notebooks.execution_order(execute_notebooks.chapters())
    assert everything[-1] == "reproducibility" and sorted(everything) == sorted(
        execute_notebooks.chapters())


def test_re_pinning_changes_neither_the_source_compared_nor_the_cell_ids(tmp_path, monkeypatch):
    execute_notebooks, install_spec = _scripts()
    monkeypatch.setattr(execute_notebooks, "BOOK", tmp_path)
    text = (BOOK / "lstm.md").read_text()
    hashes, ids, notebooks = [], [], []
    for ref in ("a" * 40, "b" * 40):  # the package's pin, the files' pins and their URL
        pins = {"book/_reversal.json": (ref, ref[:32] * 2)}
        cell = install_spec.setup_cell(install_spec.spec(ref), pins,
                                       url=f"https://example.org/{ref}")
        (tmp_path / "lstm.md").write_text(install_spec.replace_setup(text, cell))
        hashes.append(install_spec.without_pin((tmp_path / "lstm.md").read_text()))
        nb = execute_notebooks.stable_ids(jupytext.read(tmp_path / "lstm.md"))
        ids.append([c.id for c in nb.cells])
        jupytext.write(nb, tmp_path / "lstm.ipynb", fmt="ipynb")
        notebooks.append(execute_notebooks.ipynb_hash(tmp_path / "lstm.ipynb"))
    assert hashes[0] == hashes[1] and ids[0] == ids[1] and notebooks[0] == notebooks[1]
    (tmp_path / "lstm.md").write_text(text.replace("Exercise 1", "Exercise one"))
    assert install_spec.without_pin((tmp_path / "lstm.md").read_text()) != hashes[0]


def code_cells(md):
    """The chapter's code cells, IPython's magics blanked so that ``ast`` can read them."""
    return [re.sub(r"^\s*[%!].*$", "", c.source, flags=re.M)
            for c in jupytext.read(md).cells if c.cell_type == "code"]


@pytest.mark.parametrize("md", PAIRED, ids=lambda p: p.name)
def test_every_setup_cell_is_the_one_install_spec_writes_with_the_chapters_pins(md):
    _, install_spec = _scripts()
    text = md.read_text()
    setup = next(c for c in jupytext.read(md).cells if c.cell_type == "code")
    expected = install_spec.setup_cell(install_spec.PIN_LINE.search(text)["spec"],
                                       install_spec.pinned_files(text), install_spec.files_url())
    assert setup.source == expected, (f"{md.name}'s setup cell is not install_spec's: run python "
                                      f"-m scripts.install_spec --write")
    assert "remove-cell" in setup.metadata.get("tags", [])
    assert install_spec.files_url().startswith("https://")


@pytest.mark.parametrize("md", PAIRED, ids=lambda p: p.name)
def test_a_chapter_reads_repository_files_only_through_its_pins(md):
    """Every string of a chapter's code that names a file of the repository is the argument
    of ``repository.path``, and every pinned file is read: a chapter opened in Colab, with no
    checkout beside it, then finds each file it reads."""
    _, install_spec = _scripts()
    pinned = set(install_spec.pinned_files(md.read_text()))
    read = set()
    for source in code_cells(md)[1:]:
        tree = ast.parse(source)
        through_pins = {id(node.args[0]) for node in ast.walk(tree)
                        if isinstance(node, ast.Call) and ast.unparse(node.func) ==
                        "repository.path" and node.args}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            value = node.value
            names_a_file = (value and "\n" not in value and len(value) < 200 and any(
                (folder / value).is_file() for folder in (REPO, BOOK)))
            looks_like_one = re.fullmatch(r"[\w./-]*\.(json|pt|npz|npy|pkl|csv|txt|onnx)",
                                          value)
            if id(node) in through_pins:
                read.add(value)
            else:
                assert not (names_a_file or looks_like_one), (
                    f"{md.name} reads {value!r} other than through repository.path: a chapter "
                    f"opened in Colab has no checkout beside it")
    assert read <= pinned, f"{md.name} reads {sorted(read - pinned)} without pinning them"
    assert pinned <= read, f"{md.name} pins {sorted(pinned - read)} but never reads them"


@pytest.mark.parametrize("md", PAIRED, ids=lambda p: p.name)
def test_the_pinned_files_are_the_trees_at_commits_of_main(md):
    _, install_spec = _scripts()
    for path, (commit, sha256) in install_spec.pinned_files(md.read_text()).items():
        redo = f"commit {path}, then run python -m scripts.install_spec --write"
        assert commit and sha256, f"{md.name} has an empty pin for {path}: {redo}"
        if message := too_shallow_to_tell(commit):
            pytest.fail(message)
        assert git("merge-base", "--is-ancestor", commit, "HEAD", check=False).returncode == 0, (
            f"{md.name} pins {path} at {commit}, not in the history of HEAD: {redo}")
        at_commit = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=REPO,
                                   capture_output=True, check=True).stdout
        assert hashlib.sha256(at_commit).hexdigest() == sha256, (
            f"{md.name} pins {path} with a SHA-256 other than its content at {commit}: {redo}")
        assert hashlib.sha256((REPO / path).read_bytes()).hexdigest() == sha256, (
            f"{path} changed since the commit {md.name} pins: {redo}")


def test_readmes_colab_table_is_the_one_install_spec_writes():
    _, install_spec = _scripts()
    readme = (REPO / "README.md").read_text()
    table = readme.split("<!-- colab:start -->\n")[1].split("\n<!-- colab:end -->")[0]
    assert table == install_spec.colab_table(), (
        "README's Colab table is out of date: run python -m scripts.install_spec --write")
