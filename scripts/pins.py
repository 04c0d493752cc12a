"""The torch that the scripts and tests install: ``$TORCH_SPEC``, else the pin in
``requirements-torch.txt`` (its one source), with the sha256 of every file it may be
installed from.

    python scripts/pins.py    # prints the pin, such as torch==2.13.0
"""

import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TORCH_PIN_FILE = REPO / "requirements-torch.txt"
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
FILE_COMMENT = re.compile(r"^#\s+([0-9a-f]{12,64})\s+(\S+\.whl)\b", re.M)


def _requirement_line():
    """The one requirement of the file, its continuation lines joined, comments dropped."""
    text = TORCH_PIN_FILE.read_text()
    lines = [line.split("#")[0].strip() for line in text.replace("\\\n", " ").splitlines()]
    specs = [line for line in lines if line]
    if len(specs) != 1 or not specs[0].startswith("torch"):
        raise ValueError(f"{TORCH_PIN_FILE} must hold exactly one torch requirement, found "
                         f"{specs}")
    return specs[0]


def torch_pin():
    """The pinned spec, such as ``torch==2.13.0`` (its hashes aside)."""
    return _requirement_line().split()[0]


def torch_hashes():
    """The sha256 of every file the pin may be installed from, in the file's order."""
    line = _requirement_line()
    options = line.split()[1:]
    hashes = [m[1] for m in map(HASH.fullmatch, options) if m]
    if len(hashes) != len(options):
        raise ValueError(f"{TORCH_PIN_FILE}: the pin may carry only --hash=sha256:<64 hex "
                         f"digits> options, found {options}")
    return hashes


def torch_files():
    """sha256 -> the file it belongs to, from the comments (``#   <hash or its first 12 hex
    digits> <file>.whl``) of ``requirements-torch.txt``."""
    hashes = torch_hashes()
    files = {}
    for prefix, name in FILE_COMMENT.findall(TORCH_PIN_FILE.read_text()):
        matches = [h for h in hashes if h.startswith(prefix)]
        if len(matches) != 1:
            raise ValueError(f"{TORCH_PIN_FILE}: the comment on {name} names {prefix}, which "
                             f"is the start of {len(matches)} of the pin's hashes, not one")
        files[matches[0]] = name
    return files


def torch_spec():
    """``$TORCH_SPEC`` when set (to try another torch), else ``torch_pin()``."""
    return os.environ.get("TORCH_SPEC") or torch_pin()


def torch_install_args():
    """What ``pip install`` needs to install torch: ``$TORCH_SPEC`` as it is (its file's hash
    unchecked) when set, else the pin, from a file whose sha256 it lists, without its
    dependencies (requirements.lock holds them; elsewhere, install them after it)."""
    if os.environ.get("TORCH_SPEC"):
        return [os.environ["TORCH_SPEC"]]
    return ["--require-hashes", "--no-deps", "-r", str(TORCH_PIN_FILE)]


if __name__ == "__main__":
    print(torch_pin())
