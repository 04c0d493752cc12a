"""Intervals for the book: paired differences with confidence intervals (one comparison, or
a family of them) and bootstrap intervals for bounded quantities.

Every comparison the chapters, the studies and the benchmark print comes from here, so that
each is a paired difference with its interval, worded from the interval alone.
"""

import math
import random
import statistics
from dataclasses import dataclass


def t_quantile(level, df):
    """The two-sided ``level`` quantile of Student's t with ``df`` degrees of freedom: the t
    with ``P(|T| < t) = level`` (2.776 for level 0.95, df 4). Exact for integer ``df`` (the
    closed forms of Abramowitz and Stegun 26.7.3-4), solved by bisection."""
    if df < 1 or int(df) != df:
        raise ValueError(f"an interval needs at least two paired values (df >= 1), got df={df}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    df = int(df)

    def coverage(t):  # P(|T| < t)
        theta = math.atan(t / math.sqrt(df))
        c2, term, total = math.cos(theta) ** 2, 1.0, 0.0
        if df % 2 == 1:
            for k in range(1, (df - 1) // 2 + 1):  # 1, 2/3 c^2, (2 4)/(3 5) c^4, ...
                total += term
                term *= c2 * (2 * k) / (2 * k + 1)
            return 2 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)
        for k in range(1, df // 2 + 1):  # 1, 1/2 c^2, (1 3)/(2 4) c^4, ...
            total += term
            term *= c2 * (2 * k - 1) / (2 * k)
        return math.sin(theta) * total

    low, high = 0.0, 1.0
    while coverage(high) < level:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if coverage(mid) < level else (low, mid)
    return (low + high) / 2


@dataclass
class Interval:
    """A mean (or other estimate) with its confidence interval [low, high] at ``level``, from
    ``n`` units (seeds, rounds, sentences)."""

    mean: float
    low: float
    high: float
    n: int
    level: float = 0.95

    @property
    def spans_zero(self):
        return self.low <= 0 <= self.high

    def words(self, negative="less", positive="more", what=""):
        """'no detectable difference' when the interval spans 0, else ``negative`` or
        ``positive`` (the sign of the whole interval) followed by ``what``."""
        if self.spans_zero:
            return "no detectable difference"
        return (negative if self.high < 0 else positive) + (f" {what}" if what else "")

    def format(self, fmt=".3f", scale=1.0, unit=""):
        """'mean [low, high] unit', each multiplied by ``scale``."""
        return (f"{self.mean * scale:{fmt}} [{self.low * scale:{fmt}}, "
                f"{self.high * scale:{fmt}}]{unit}")

    def __str__(self):
        return self.format()


def family_level(family_size, level=0.95):
    """The level of each interval such that all ``family_size`` intervals of a family hold
    together with probability at least ``level`` (Bonferroni)."""
    if family_size < 1:
        raise ValueError(f"a family has at least one comparison, got {family_size}")
    return 1 - (1 - level) / family_size


def mean_interval(values, level=0.95):
    """Mean of ``values`` with its t-interval at ``level``."""
    values = [float(v) for v in values]
    n = len(values)
    if n < 2:
        raise ValueError(f"an interval needs at least two values, got {n}")
    half = t_quantile(level, n - 1) * statistics.stdev(values) / math.sqrt(n)
    mean = statistics.fmean(values)
    return Interval(mean, mean - half, mean + half, n, level)


def paired_difference(a, b, relative=False, level=0.95):
    """Mean of a[i] - b[i] (or a[i] / b[i] - 1 when ``relative``) over pairs (the same seed,
    or the same round of an interleaved timing), with its t-interval at ``level``."""
    if len(a) != len(b):
        raise ValueError(f"paired values need equal counts, got {len(a)} and {len(b)}")
    return mean_interval([x / y - 1 if relative else x - y for x, y in zip(a, b)], level)


def bootstrap_interval(units, statistic=statistics.fmean, level=0.95, resamples=2000, seed=0):
    """``statistic`` of ``units`` with a percentile bootstrap interval at ``level``: the units
    (test sentences, say) are drawn with replacement ``resamples`` times. The interval stays
    within the range the statistic can take (an entropy in [0, 1] stays there)."""
    units = list(units)
    if len(units) < 2:
        raise ValueError(f"a bootstrap needs at least two units, got {len(units)}")
    rng = random.Random(seed)
    draws = sorted(statistic(rng.choices(units, k=len(units))) for _ in range(resamples))
    tail = (1 - level) / 2
    low = draws[int(math.floor(tail * (resamples - 1)))]
    high = draws[int(math.ceil((1 - tail) * (resamples - 1)))]
    return Interval(statistic(units), low, high, len(units), level)
