"""The pip spec that each chapter's setup cell installs in Colab, and a way to update it.

    python scripts/install_spec.py          # print the spec the chapters should hold
    python scripts/install_spec.py --write  # put it into every chapter (.md and .ipynb)

The spec names the repository (``repository.url`` in ``_config.yml``) at a commit: the last
commit that changed ``d2l_lite/`` or ``pyproject.toml``. That commit is in main's history,
so every clone of main has it (a tag would have to be pushed on its own), and its
``d2l_lite`` is the tree's. ``tests/test_book.py`` checks both, so the chapters can never
name code that a reader cannot get, or code other than the one their outputs came from.

The pin is kept out of the chapters' provenance hash (``without_pin``): re-pinning after a
change elsewhere in the package does not force re-executing the chapters.
"""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGED = ("d2l_lite", "pyproject.toml")  # what a pip install from git builds the package from
PIN_LINE = re.compile(r'^D2L_LITE = "(?P<spec>[^"\n]*)"$', re.M)
SPEC = re.compile(r"^d2l_lite @ git\+(?P<url>\S+)@(?P<ref>[0-9a-f]{40})$")


def git(*args):
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()


def repository_url():
    return yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["url"]


def packaged_commit():
    """The last commit that changed what the package is built from."""
    return git("log", "-1", "--format=%H", "--", *PACKAGED)


def spec(commit=None):
    return f"d2l_lite @ git+{repository_url()}@{commit or packaged_commit()}"


def chapters_with_setup():
    return [p for p in sorted((REPO / "book").glob("*.md")) if PIN_LINE.search(p.read_text())]


def pinned_specs():
    """Chapter name -> the spec its setup cell installs."""
    return {p.stem: PIN_LINE.search(p.read_text())["spec"] for p in chapters_with_setup()}


def without_pin(text):
    """``text`` with the setup cell's spec blanked: what the provenance hash reads."""
    return PIN_LINE.sub('D2L_LITE = ""', text)


def write(new_spec):
    """Put ``new_spec`` into every chapter's setup cell, in the .md and in its .ipynb (whose
    outputs stay as they are: the cell's output does not depend on the spec)."""
    for md in chapters_with_setup():
        md.write_text(PIN_LINE.sub(f'D2L_LITE = "{new_spec}"', md.read_text()))
        ipynb = md.with_suffix(".ipynb")
        if ipynb.exists():
            nb = nbformat.read(ipynb, as_version=4)
            for cell in nb.cells:
                cell.source = PIN_LINE.sub(f'D2L_LITE = "{new_spec}"', cell.source)
            ipynb.write_text(nbformat.writes(nb) + "\n")  # as jupytext writes it
        print(f"{md.relative_to(REPO)}: {new_spec}")


def main():
    if sys.argv[1:] == ["--write"]:
        if git("status", "--porcelain", "--", *PACKAGED):
            sys.exit(f"{' and '.join(PACKAGED)} have uncommitted changes: commit them first, so "
                     f"that the chapters can name the commit that holds them")
        write(spec())
    elif sys.argv[1:]:
        sys.exit(__doc__)
    else:
        print(spec())


if __name__ == "__main__":
    main()
