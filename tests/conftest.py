"""Shared fixtures: the corpus location and the d2l 1.0.3 goldens."""

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
GOLDENS = Path(__file__).parent / "goldens" / "d2l_1.0.3.pt"


def corpus_root():
    """$D2L_LITE_DATA, else ../shared/data beside the repository."""
    return Path(os.environ.get("D2L_LITE_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def data_root():
    root = corpus_root()
    if not (root / "fra-eng" / "fra.txt").exists():
        message = (f"the corpus is not at {root}/fra-eng/fra.txt: set D2L_LITE_DATA to the "
                   f"folder that holds fra-eng/fra.txt")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def goldens():
    return torch.load(GOLDENS, weights_only=True)
