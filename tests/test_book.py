"""The book's notebooks: every MyST chapter has its .ipynb twin with the same cells, executed,
with PNG figures and no errors; the toc names the .ipynb. (``jupytext --diff`` cannot gate
this: it exits 0 even when a pair differs.)"""

import json
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


def test_there_are_notebook_chapters():
    assert len(PAIRED) >= 5, PAIRED


@pytest.mark.parametrize("md", PAIRED, ids=lambda p: p.name)
def test_md_and_ipynb_have_the_same_cells(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.exists(), f"{md.name} has no paired {ipynb.name}: run scripts/execute_notebooks.py"
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
    assert 'find_spec("d2l_lite")' in first_code.source or md.stem == "reproducibility"


@pytest.mark.parametrize("md", PAIRED, ids=lambda p: p.name)
def test_cell_ids_are_stable_so_re_execution_does_not_rewrite_them(md):
    import sys

    sys.path.insert(0, str(REPO / "scripts"))
    from execute_notebooks import stable_ids

    expected = [c.id for c in stable_ids(jupytext.read(md)).cells]
    stored = [c["id"] for c in json.loads(md.with_suffix(".ipynb").read_text())["cells"]]
    assert stored == expected


def _scripts():
    import sys

    sys.path.insert(0, str(REPO / "scripts"))
    import execute_notebooks
    import install_spec

    return execute_notebooks, install_spec


@pytest.mark.parametrize("md", [p for p in PAIRED if p.stem != "reproducibility"],
                         ids=lambda p: p.name)
def test_every_chapter_installs_the_one_pinned_release_in_colab(md):
    _, install_spec = _scripts()
    setup = next(c for c in jupytext.read(md).cells if c.cell_type == "code").source
    assert f'D2L_LITE = "{install_spec.spec()}"' in setup, (
        f"{md.name}'s setup cell does not install {install_spec.spec()}: run "
        f"python scripts/install_spec.py --write")
    assert "@v" in install_spec.spec()  # a release tag, not the moving default branch
    assert "os.environ.get('D2L_LITE_SPEC', D2L_LITE)" in setup


@pytest.mark.parametrize("md", PAIRED, ids=lambda p: p.name)
def test_outputs_come_from_the_code_in_the_tree(md):
    """The chapter was executed from the sources it shows: its recorded source hash equals
    the hash of the tree's d2l_lite code and the chapter's source."""
    execute_notebooks, _ = _scripts()
    record = json.loads((BOOK / "_execution.json").read_text())["notebooks"].get(md.stem)
    assert record is not None, f"{md.stem} was never executed: run scripts/execute_notebooks.py"
    assert record["source_hash"] == execute_notebooks.source_hash(md.stem), (
        f"book/{md.stem}.ipynb was executed from other sources than the tree's (d2l_lite or "
        f"book/{md.stem}.md changed since): run python scripts/execute_notebooks.py {md.stem}")


def test_the_reproducibility_page_was_executed_after_every_chapter_it_shows():
    """It prints the record of the other chapters' runs: one re-executed after it makes the
    page (and nbval's comparison of it) out of date."""
    record = json.loads((BOOK / "_execution.json").read_text())["notebooks"]
    page = record["reproducibility"]["finished"]
    later = [name for name, run in record.items() if run["finished"] > page]
    assert not later, (f"{later} were executed after the Reproducibility page: run python "
                       f"scripts/execute_notebooks.py reproducibility")


def test_executing_one_chapter_executes_the_reproducibility_page_after_it():
    execute_notebooks, _ = _scripts()
    assert execute_notebooks.execution_order(["lstm"]) == ["lstm", "reproducibility"]
    assert execute_notebooks.execution_order(["reproducibility", "lstm"]) == [
        "lstm", "reproducibility"]
    everything = execute_notebooks.execution_order(execute_notebooks.chapters())
    assert everything[-1] == "reproducibility" and sorted(everything) == sorted(
        execute_notebooks.chapters())


def test_the_source_hash_changes_with_code_docstrings_and_the_chapter(tmp_path, monkeypatch):
    execute_notebooks, _ = _scripts()
    package = tmp_path / "d2l_lite"
    package.mkdir()
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "x.md").write_text("# x\n")
    monkeypatch.setattr(execute_notebooks, "PACKAGE", package)
    monkeypatch.setattr(execute_notebooks, "BOOK", tmp_path / "book")
    hashes = []
    for source in ('def f(x):\n    """Doc."""\n    return x + 1\n',
                   'def f(x):\n    """Doc."""\n    return x + 1\n',
                   'def f(x):\n    """Other doc."""\n    return x + 1\n',
                   'def f(x):\n    """Doc."""\n    return x + 2\n'):
        (package / "m.py").write_text(source)
        hashes.append(execute_notebooks.source_hash("x"))
    (tmp_path / "book" / "x.md").write_text("# x, edited\n")
    hashes.append(execute_notebooks.source_hash("x"))
    assert hashes[0] == hashes[1] and len(set(hashes[1:])) == 4
