"""The pip spec that each chapter's setup cell installs in Colab, and a way to update them.

    python scripts/install_spec.py          # print the spec
    python scripts/install_spec.py --write  # put it into every chapter's setup cell

The spec is derived from two places: the repository URL in ``_config.yml`` and
``d2l_lite.__version__``; it names the release tag ``v<version>``. ``tests/test_book.py``
checks that every chapter's setup cell holds it (README: "Cutting a release").
"""

import ast
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SPEC_LINE = re.compile(r'^D2L_LITE = ".*"$', re.M)


def version():
    """``d2l_lite.__version__``, read without importing the package."""
    tree = ast.parse((REPO / "d2l_lite" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "__version__":
            return node.value.value
    raise LookupError("d2l_lite/__init__.py defines no __version__")


def spec():
    url = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["url"]
    return f"d2l_lite @ git+{url}@v{version()}"


def chapters_with_setup():
    return [p for p in sorted((REPO / "book").glob("*.md")) if SPEC_LINE.search(p.read_text())]


def main():
    if sys.argv[1:] == ["--write"]:
        for path in chapters_with_setup():
            path.write_text(SPEC_LINE.sub(f'D2L_LITE = "{spec()}"', path.read_text()))
            print(f"{path.relative_to(REPO)}: {spec()}")
    else:
        print(spec())


if __name__ == "__main__":
    main()
