"""A task where attention must align and where a bug cannot hide: reversing digit strings.

The source is a string of digits, "3 1 4 1 5", and the target the same digits reversed,
"5 1 4 1 3". Its alignment is known: the digit at target position i is the source's at
n - 1 - i. Lengths go well beyond §11.4's nine steps. Without attention, the decoder gets the
whole string through one state vector, which has to hold more as the string grows; with
attention, each step can look the digit it needs up.

``Reversal`` is a translation data set like ``MTFraEng`` (same arrays, vocabularies,
``build``), so the book's models and helpers run on it unchanged; ``alignment_scores``
measures a model's attention against the known alignment.

Shapes: N strings, n a string's length, K source positions, T target positions.
"""

import math
import random

import torch

from ..d2l.data import SentencePairs, build_arrays, tokenize
from .batching import LengthBatches


class Reversal(SentencePairs):
    """``num_train`` + ``num_val`` digit strings of lengths ``min_len`` to ``max_len`` (uniform),
    each with its reversal, drawn with ``seed``; ``test_sources`` holds ``test_per_length``
    other strings of every length, for accuracy by length. Batches are of one source length
    (``get_dataloader``): no source padding, as in the longer-sentence study."""

    def __init__(self, batch_size=64, min_len=1, max_len=30, num_train=20_000, num_val=1000,
                 test_per_length=50, seed=0):
        super().__init__()
        for name, value in (("batch_size", batch_size), ("min_len", min_len),
                            ("num_train", num_train), ("num_val", num_val),
                            ("test_per_length", test_per_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Reversal: {name} must be an integer >= 1, got {value!r}")
        if max_len < min_len:
            raise ValueError(f"Reversal: need min_len <= max_len, got {min_len}, {max_len}")
        self.batch_size, self.min_len, self.max_len = batch_size, min_len, max_len
        self.num_steps = max_len + 1  # the digits and <eos>
        rng = random.Random(seed)
        seen, strings = set(), []
        lengths = [rng.randint(min_len, max_len) for _ in range(num_train + num_val)]
        lengths += [n for n in range(min_len, max_len + 1) for _ in range(test_per_length)]
        for n in lengths:
            while True:  # test and validation strings never seen in training
                s = " ".join(str(rng.randrange(10)) for _ in range(n))
                if s not in seen or n < 4:  # short strings repeat: there are few of them
                    break
            seen.add(s)
            strings.append(s)
        train, val = strings[:num_train], strings[num_train:num_train + num_val]
        self.test_sources = strings[num_train + num_val:]
        self.num_train, self.num_val = num_train, num_val
        text = "\n".join(f"{s}\t{reverse(s)}" for s in train + val)
        src, tgt = tokenize(text)
        self.arrays, self.src_vocab, self.tgt_vocab = build_arrays(src, tgt, self.num_steps)

    def get_dataloader(self, train):
        first, count = (0, self.num_train) if train else (self.num_train, self.num_val)
        return LengthBatches(self.arrays, range(first, first + count), self.batch_size,
                             self.tgt_vocab["<pad>"], shuffle=train,
                             generator=self.batch_generator)


def reverse(string):
    """'3 1 4' -> '4 1 3'."""
    return " ".join(reversed(string.split()))


def alignment_scores(maps, sources, shift=0):
    """How a model's attention maps follow the reversal's alignment: ``maps``, one (steps, K)
    map per string (``translate_by_length``'s), ``sources`` the digit strings. For each string
    of length n, over the n steps that emit its digits: the mean weight on source position
    n - 1 - t + ``shift`` (the aligned digit for shift 0, its right neighbour for shift 1;
    1: all of it) and the mean normalised entropy over the n + 1 valid positions (digits and
    <eos>; 0: one position, 1: uniform). Returns two lists, one value per string."""
    mass, entropy = [], []
    for W, s in zip(maps, sources):
        n = len(s.split())
        W = W[:n, :n + 1]  # the digit-emitting steps, the valid keys
        position = (n - 1 - torch.arange(n) + shift).clamp(0, n)
        mass.append(W[torch.arange(n), position].mean().item())
        h = -(W * W.clamp_min(1e-12).log()).sum(-1) / math.log(n + 1)
        entropy.append(h.mean().item())
    return mass, entropy
