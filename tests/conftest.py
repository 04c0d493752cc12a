"""Shared fixtures: the corpus location and the d2l 1.0.3 goldens."""

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
GOLDENS = Path(__file__).parent / "goldens" / "d2l_1.0.3.pt"


def in_ci():
    """True when $CI is set to anything but '', 0, false, no or off (as .ci/run reads it)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


@pytest.fixture(scope="session")
def data_root():
    """$D2L_LITE_DATA (scripts/setup.sh and .ci/run set it); tests that need the corpus are
    skipped without it, and fail under CI."""
    root = Path(os.environ.get("D2L_LITE_DATA", "")).expanduser()
    if not os.environ.get("D2L_LITE_DATA") or not (root / "fra-eng" / "fra.txt").exists():
        message = (f"the corpus is not at $D2L_LITE_DATA/fra-eng/fra.txt (D2L_LITE_DATA="
                   f"{os.environ.get('D2L_LITE_DATA', 'unset')}): set D2L_LITE_DATA to the "
                   f"folder that holds fra-eng/fra.txt")
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def goldens():
    return torch.load(GOLDENS, weights_only=True)
