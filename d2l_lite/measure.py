"""Measuring for the book: paired differences with 95% intervals, interleaved timings, the
memory a computation saves for its backward pass, and the scorers as training runs them.

Nothing here is in d2l. The chapters use it so that every comparison they print is a paired
difference with its interval and their cells stay short.
"""

import math
import statistics
import time
from dataclasses import dataclass

import torch

from .attention import AdditiveAttention, DotProductAttention
from .fast import one_query_weights, prepare_keys
from .train import Trainer

# two-sided 95% quantiles of Student's t by degrees of freedom (larger: the normal's 1.96)
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120,
        17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 24: 2.064, 29: 2.045, 39: 2.023,
        59: 2.001, 119: 1.980}


def t95(df):
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (conservative between
    tabulated values)."""
    if df < 1:
        raise ValueError("a 95% interval needs at least two paired values")
    if df >= 120:
        return 1.96
    return _T95[max(k for k in _T95 if k <= df)]


@dataclass
class Interval:
    """A mean with its 95% confidence interval [low, high] over n paired values."""

    mean: float
    low: float
    high: float
    n: int

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


def mean_interval(values):
    """Mean of ``values`` with its 95% t-interval."""
    values = [float(v) for v in values]
    n = len(values)
    half = t95(n - 1) * statistics.stdev(values) / math.sqrt(n)
    mean = statistics.fmean(values)
    return Interval(mean, mean - half, mean + half, n)


def paired_difference(a, b, relative=False):
    """Mean of a[i] - b[i] (or a[i] / b[i] - 1 when ``relative``) over pairs (the same seed,
    or the same round of an interleaved timing), with its 95% t-interval."""
    if len(a) != len(b):
        raise ValueError(f"paired values need equal counts, got {len(a)} and {len(b)}")
    return mean_interval([x / y - 1 if relative else x - y for x, y in zip(a, b)])


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


def saved_bytes(fn):
    """Bytes of the tensors that autograd saves for the backward pass while ``fn()`` runs
    (each storage counted once), via ``torch.autograd.graph.saved_tensors_hooks``: the
    activation memory that a training step holds between its forward and backward passes.
    Returns (bytes, fn's result)."""
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[(storage.data_ptr(), tensor.device)] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = fn()
    return sum(storages.values()), result


def training_step(model, batch, clip=1.0):
    """A function running one training step of ``model`` on ``batch`` as ``Trainer`` does:
    loss, backward, clipping of the global gradient norm to ``clip``, the optimiser's step."""
    optimizer = model.configure_optimizers()
    trainer = Trainer(max_epochs=1, gradient_clip_val=clip)

    def step():
        loss = model.training_step(batch)
        optimizer.zero_grad()
        loss.backward()
        trainer.clip_gradients(clip, model)
        optimizer.step()

    return step


def scorer(scoring, d, h=None):
    """A scorer without dropout for queries and keys of size d: additive with hidden size h,
    or scaled dot-product."""
    if scoring == "additive":
        return AdditiveAttention(h, dropout=0, query_size=d, key_size=d)
    if scoring == "dot":
        return DotProductAttention(dropout=0)
    raise ValueError(f"unknown scoring {scoring!r}: choose 'additive' or 'dot'")


def scorer_training_step(scoring, B, K, d, h=None, T=9, keys_once=True, seed=0):
    """A function running what a training step asks of the scorer for one batch, forward and
    backward: T decoding steps, each scoring one query per row against K keys of size d and
    pooling the values (the keys), as the decoder runs it. ``keys_once``: as ``d2l_lite.fast``
    (additive scoring's W_k k once per sentence, so its cost is spread over the T steps);
    otherwise as §11.4's decoder (the scorer's ``forward`` at every step). Queries are random:
    the decoder's state is not part of the scorer's cost."""
    torch.manual_seed(seed)
    attention = scorer(scoring, d, h)
    queries = torch.randn(T, B, d, requires_grad=True)
    keys = torch.randn(B, K, d, requires_grad=True)
    lens = torch.randint(1, K + 1, (B,))
    mask = torch.arange(K) < lens.reshape(-1, 1)

    def step():
        if keys_once:
            prepared = prepare_keys(attention, keys)
            contexts = [torch.bmm(one_query_weights(attention, q, prepared, mask).unsqueeze(1),
                                  keys) for q in queries]
        else:
            contexts = [attention(q.unsqueeze(1), keys, keys, lens) for q in queries]
        loss = torch.stack(contexts).sum()
        loss.backward()
        return loss

    return step
