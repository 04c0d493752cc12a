"""What ``pip install`` of this repository puts on a reader's machine (Colab's install builds
the same wheel from git): every module of ``d2l_lite``, its subpackages included."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_every_module_of_the_package(tmp_path):
    source = tmp_path / "source"  # a copy, so the build leaves nothing in the tree
    shutil.copytree(REPO / "d2l_lite", source / "d2l_lite",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, capture_output=True, text=True)
    (wheel,) = (tmp_path / "dist").glob("d2l_lite-*.whl")
    packaged = {n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".py")}
    tree = {p.relative_to(REPO).as_posix() for p in (REPO / "d2l_lite").rglob("*.py")}
    assert packaged == tree, (f"the wheel lacks {sorted(tree - packaged)} and adds "
                              f"{sorted(packaged - tree)}: list the packages in pyproject.toml")
