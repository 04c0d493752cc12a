"""What an attention map shows, in one number."""

import math


def normalised_entropy(weights):
    """The mean over the decoding steps of the entropy of each step's attention weights
    divided by ln n, for ``weights`` of shape (steps, n) over n >= 2 source positions: 0 when
    every step puts all its weight on one position, 1 when every step spreads it evenly."""
    n = weights.shape[-1]
    if n < 2:
        raise ValueError(f"an entropy over {n} position(s) is always 0: give at least two")
    entropy = -(weights * weights.clamp_min(1e-12).log()).sum(-1) / math.log(n)
    return entropy.mean().item()
