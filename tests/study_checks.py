"""The check the studies' tests share: committed results come from the tree's code."""

import re
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VERSION = re.compile(r'^__version__ = "[^"]*"$', re.MULTILINE)


def computed_by_the_trees_code(results):
    """Whether ``results`` (a study's results file, read) were computed by the tree's code:
    ``provenance.code_hash`` of the files it lists equals the hash it recorded, with
    ``d2l_lite.__version__`` read as the version its last session recorded. A new version
    number computes nothing differently; any other change to the code does."""
    sys.path.insert(0, str(REPO / "scripts"))
    import provenance

    with tempfile.TemporaryDirectory() as tmp:
        for path in results["code_files"]:
            (Path(tmp) / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / path, Path(tmp) / path)
        init = Path(tmp) / "d2l_lite" / "__init__.py"
        if init.exists():
            recorded = results["sessions"][-1]["d2l_lite"]
            init.write_text(VERSION.sub(f'__version__ = "{recorded}"', init.read_text()))
        repo, provenance.REPO = provenance.REPO, Path(tmp)
        try:
            return provenance.code_hash(results["code_files"]) == results["code_hash"]
        finally:
            provenance.REPO = repo
