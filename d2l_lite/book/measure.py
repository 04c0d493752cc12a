"""Measuring for the book: paired differences with confidence intervals (one comparison, or a
family of them), bootstrap intervals for bounded quantities, interleaved timings, and the
memory a training step keeps for its backward pass.

Nothing here is in d2l. Every comparison the chapters, the studies and the benchmark print
comes from here, so that each is a paired difference with its interval, worded from the
interval alone.
"""

import math
import random
import statistics
import time
from dataclasses import dataclass

import torch

from ..d2l.attention import MASK_VALUE, SCORERS
from ..d2l.train import Trainer


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


def interleaved_times(fns, rounds=10, per_round=3, warmup=2):
    """Seconds per call of each function in ``fns`` (a dict name -> function), measured in
    ``rounds`` rounds that call every function ``per_round`` times, in an order that reverses
    from one round to the next; returns name -> list of per-round means (pair them by round).

    Interleaving puts slow phases of a shared machine on all functions alike; pairing by
    round then cancels them. Put one function in twice (an A/A pair) to see the noise left.
    """
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            for _ in range(per_round):
                fns[name]()
            times[name].append((time.perf_counter() - start) / per_round)
    return times


def activation_bytes(fn, exclude=()):
    """Bytes of the tensors that autograd saves for the backward pass while ``fn()`` runs,
    each storage counted once, leaving out the storages of the tensors in ``exclude`` (the
    model's parameters and the inputs, which exist whether or not a backward pass follows):
    the activation memory a training step holds between its forward and backward passes.
    Via ``torch.autograd.graph.saved_tensors_hooks``. Returns (bytes, fn's result)."""
    excluded = {(t.untyped_storage().data_ptr(), t.device) for t in exclude}
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        key = (storage.data_ptr(), tensor.device)
        if key not in excluded:
            storages[key] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = fn()
    return sum(storages.values()), result


def step_function(model, batch, clip=1.0):
    """A function that, each time it is called, runs one training step of ``model`` on
    ``batch`` as ``Trainer`` does: loss, backward, clipping of the global gradient norm to
    ``clip``, the optimiser's step."""
    optimizer = model.configure_optimizers()
    trainer = Trainer(max_epochs=1, gradient_clip_val=clip)

    def step():
        loss = model.training_step(batch)
        optimizer.zero_grad()
        loss.backward()
        trainer.clip_gradients(clip, model)
        optimizer.step()

    return step


def scorer(scoring, d, h):
    """A registered scorer (``SCORERS``) without dropout, its lazy layers created for queries
    and keys of size d (h: the additive scorer's hidden size)."""
    attention = SCORERS[scoring](h, 0.0)
    with torch.no_grad():
        x = torch.zeros(1, 1, d)
        attention(x, x, x)
    return attention


def scorer_training_step(scoring, B, K, d, h, T=9, keys_once=True, seed=0):
    """A function running what a training step asks of the scorer for one batch, forward and
    backward: T decoding steps, each scoring one query per row against K keys of size d and
    pooling the values (the keys), as the decoder runs it. ``keys_once``: as ``d2l_lite.fast``
    (the keys prepared once per sentence); otherwise as §11.4's decoder (the scorer's
    ``forward`` at every step). Queries are random: the decoder's state is not part of the
    scorer's cost."""
    torch.manual_seed(seed)
    attention = scorer(scoring, d, h)
    queries = torch.randn(T, B, d, requires_grad=True)
    keys = torch.randn(B, K, d, requires_grad=True)
    lens = torch.randint(1, K + 1, (B,))
    mask = torch.arange(K) < lens.reshape(-1, 1)

    def step():
        if keys_once:
            prepared = attention.prepare_keys(keys)
            contexts = []
            for q in queries:
                scores = attention.scores_one(q, prepared).masked_fill(~mask, MASK_VALUE)
                contexts.append(torch.bmm(torch.softmax(scores, -1).unsqueeze(1), keys))
        else:
            contexts = [attention(q.unsqueeze(1), keys, keys, lens) for q in queries]
        loss = torch.stack(contexts).sum()
        loss.backward()
        return loss

    return step
