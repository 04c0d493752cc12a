"""The measuring helpers the chapters use: intervals and their wording, saved bytes, the
scorers as training runs them."""

import math
import statistics

import pytest
import torch

from d2l_lite import measure


def test_mean_interval_is_the_t_interval():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    interval = measure.mean_interval(values)
    half = 2.776 * statistics.stdev(values) / math.sqrt(5)
    assert interval.mean == 3.0 and interval.n == 5
    assert interval.low == pytest.approx(3.0 - half) and interval.high == pytest.approx(3.0 + half)


def test_t_quantiles_shrink_towards_the_normal_one():
    assert measure.t95(1) == 12.706 and measure.t95(4) == 2.776
    assert measure.t95(25) == measure.t95(24) > measure.t95(30) > measure.t95(200) == 1.96
    with pytest.raises(ValueError, match="at least two"):
        measure.t95(0)


def test_paired_difference_pairs_and_can_be_relative():
    a, b = [10.0, 11.0, 12.5], [9.0, 10.5, 11.0]
    assert measure.paired_difference(a, b).mean == pytest.approx(statistics.mean([1, 0.5, 1.5]))
    rel = measure.paired_difference(a, b, relative=True)
    assert rel.mean == pytest.approx(statistics.mean([10 / 9 - 1, 11 / 10.5 - 1, 12.5 / 11 - 1]))
    with pytest.raises(ValueError, match="equal counts"):
        measure.paired_difference([1.0], [1.0, 2.0])


@pytest.mark.parametrize("values,words", [([-3.0, -2.0, -2.5], "less"), ([2.0, 3.0, 2.5], "more"),
                                          ([-1.0, 1.0, 0.5], "no detectable difference")])
def test_the_words_follow_the_interval_not_the_mean(values, words):
    assert measure.mean_interval(values).words("less", "more") == words


def test_an_interval_spanning_zero_is_no_detectable_difference_even_with_a_large_mean():
    interval = measure.mean_interval([10.0, 20.0, -5.0])
    assert interval.mean > 0 and interval.spans_zero
    assert interval.words("less", "more", "time") == "no detectable difference"
    assert measure.mean_interval([-3.0, -2.0, -2.5]).words("less", "more", "time") == "less time"


def test_saved_bytes_counts_what_autograd_keeps_once_per_storage():
    x = torch.randn(100, 10, requires_grad=True)
    nbytes, y = measure.saved_bytes(lambda: (x * x).sum())  # saves x (once, for both operands)
    assert nbytes == x.numel() * 4 and y.requires_grad
    nbytes, _ = measure.saved_bytes(lambda: torch.tanh(x).sum())  # saves its output
    assert nbytes == x.numel() * 4
    assert measure.saved_bytes(lambda: (x + 1).sum())[0] == 0  # nothing to keep


@pytest.mark.parametrize("scoring", ["additive", "dot"])
def test_the_scorer_step_keys_once_and_every_step_compute_the_same(scoring):
    outputs = []
    for keys_once in (True, False):
        step = measure.scorer_training_step(scoring, B=3, K=5, d=4, h=6, T=2, keys_once=keys_once)
        outputs.append(step().item())
    assert outputs[0] == pytest.approx(outputs[1], rel=1e-5)


def test_additive_scoring_keeps_its_features_for_the_backward_pass_the_dot_product_does_not():
    """Per step, additive scoring keeps its (B, K, h) tanh features; projecting the keys at
    every step costs time but keeps nothing more (the keys it reads are kept once)."""
    B, K, d, h, T = 8, 16, 32, 48, 5
    once = measure.saved_bytes(measure.scorer_training_step("additive", B, K, d, h, T=T))[0]
    every = measure.saved_bytes(measure.scorer_training_step("additive", B, K, d, h, T=T,
                                                             keys_once=False))[0]
    dot = measure.saved_bytes(measure.scorer_training_step("dot", B, K, d, T=T))[0]
    assert once == every
    assert once - dot >= T * B * K * h * 4


def test_interleaved_times_returns_one_time_per_round_per_function():
    calls = []
    times = measure.interleaved_times({"a": lambda: calls.append("a"),
                                       "b": lambda: calls.append("b")},
                                      rounds=4, per_round=2, warmup=1)
    assert {k: len(v) for k, v in times.items()} == {"a": 4, "b": 4}
    assert calls[2:] == list("aabb" "bbaa" "aabb" "bbaa")  # after warm-up, order alternates
