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


def monotonicity(positions):
    """How monotonic an alignment is: Spearman's rank correlation between the decoding step
    and the source position that step weighs most (``positions``, one per step), from -1 (the
    source read backwards) to 1 (read in order; a translation that keeps the word order
    scores near 1). None where it is undefined: fewer than two steps, or one position at
    every step."""
    n = len(positions)
    if n < 2 or len(set(positions)) < 2:
        return None
    ranks = _ranks(positions)
    steps = [i + 1 for i in range(n)]
    mean = (n + 1) / 2
    cov = sum((a - mean) * (b - mean) for a, b in zip(steps, ranks))
    var_s = sum((a - mean) ** 2 for a in steps)
    var_r = sum((b - mean) ** 2 for b in ranks)
    return cov / math.sqrt(var_s * var_r)


def _ranks(values):
    """1-based ranks, ties given their mean rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks
