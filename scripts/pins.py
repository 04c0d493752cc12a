"""The torch that the scripts and tests install: ``$TORCH_SPEC``, else the pin in
``requirements-torch.txt`` (its one source)."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TORCH_PIN_FILE = REPO / "requirements-torch.txt"


def torch_pin():
    """The pinned spec, such as ``torch==2.13.0``."""
    lines = [line.split("#")[0].strip() for line in TORCH_PIN_FILE.read_text().splitlines()]
    specs = [line for line in lines if line]
    if len(specs) != 1 or not specs[0].startswith("torch"):
        raise ValueError(f"{TORCH_PIN_FILE} must hold exactly one torch requirement, found "
                         f"{specs}")
    return specs[0]


def torch_spec():
    """``$TORCH_SPEC`` when set (to try another torch), else ``torch_pin()``."""
    return os.environ.get("TORCH_SPEC") or torch_pin()
