"""The measuring helpers the chapters use: intervals and their wording, family-wise levels,
bootstrap intervals that respect their bounds, activation memory, the scorers as training
runs them."""

import math
import statistics

import pytest
import torch

from d2l_lite.measures import attention, cost, intervals


def test_mean_interval_is_the_t_interval():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    interval = intervals.mean_interval(values)
    half = 2.776 * statistics.stdev(values) / math.sqrt(5)
    assert interval.mean == 3.0 and interval.n == 5
    assert interval.low == pytest.approx(3.0 - half, rel=1e-3)
    assert interval.high == pytest.approx(3.0 + half, rel=1e-3)


@pytest.mark.parametrize("level,df,expected", [
    (0.95, 1, 12.706), (0.95, 2, 4.303), (0.95, 4, 2.776), (0.95, 5, 2.571), (0.95, 9, 2.262),
    (0.95, 30, 2.042), (0.99, 4, 4.604), (0.99, 10, 3.169), (0.90, 3, 2.353),
    (1 - 0.05 / 6, 4, 4.851)])
def test_t_quantiles_match_the_tables(level, df, expected):
    assert intervals.t_quantile(level, df) == pytest.approx(expected, abs=1e-3)


def test_t_quantiles_shrink_towards_the_normal_one_and_need_two_values():
    assert intervals.t_quantile(0.95, 10_000) == pytest.approx(1.960, abs=1e-3)
    with pytest.raises(ValueError, match="at least two"):
        intervals.t_quantile(0.95, 0)
    with pytest.raises(ValueError, match="at least two values"):
        intervals.mean_interval([1.0])


def test_a_family_of_intervals_is_wider_than_one():
    values = [1.0, 2.5, 2.0, 3.0, 1.5]
    one = intervals.mean_interval(values)
    family = intervals.mean_interval(values, level=intervals.family_level(6))
    assert family.level == pytest.approx(1 - 0.05 / 6)
    assert family.low < one.low and family.high > one.high and family.mean == one.mean


def test_paired_difference_pairs_and_can_be_relative():
    a, b = [10.0, 11.0, 12.5], [9.0, 10.5, 11.0]
    assert intervals.paired_difference(a, b).mean == pytest.approx(statistics.mean([1, 0.5, 1.5]))
    rel = intervals.paired_difference(a, b, relative=True)
    assert rel.mean == pytest.approx(statistics.mean([10 / 9 - 1, 11 / 10.5 - 1, 12.5 / 11 - 1]))
    with pytest.raises(ValueError, match="equal counts"):
        intervals.paired_difference([1.0], [1.0, 2.0])


@pytest.mark.parametrize("values,words", [([-3.0, -2.0, -2.5], "less"), ([2.0, 3.0, 2.5], "more"),
                                          ([-1.0, 1.0, 0.5], "no detectable difference")])
def test_the_words_follow_the_interval_not_the_mean(values, words):
    assert intervals.mean_interval(values).words("less", "more") == words


def test_an_interval_spanning_zero_is_no_detectable_difference_even_with_a_large_mean():
    interval = intervals.mean_interval([10.0, 20.0, -5.0])
    assert interval.mean > 0 and interval.spans_zero
    assert interval.words("less", "more", "time") == "no detectable difference"
    assert intervals.mean_interval([-3.0, -2.0, -2.5]).words("less", "more", "time") == "less time"


def test_activation_bytes_counts_what_autograd_keeps_once_per_storage():
    x = torch.randn(100, 10, requires_grad=True)
    nbytes, y = cost.activation_bytes(lambda: torch.tanh(x).sum())  # keeps its output
    assert nbytes == x.numel() * 4 and y.requires_grad
    assert cost.activation_bytes(lambda: (x + 1).sum())[0] == 0  # nothing to keep


def test_activation_bytes_leaves_out_parameters_and_inputs():
    layer = torch.nn.Linear(10, 20)
    x = torch.randn(100, 10)
    with_all, _ = cost.activation_bytes(lambda: torch.tanh(layer(x)).sum())
    activations, _ = cost.activation_bytes(lambda: torch.tanh(layer(x)).sum(),
                                              exclude=[x, *layer.parameters()])
    assert activations == 100 * 20 * 4  # the tanh's output, kept for its backward
    assert with_all == activations + x.numel() * 4  # and the input, for the weight's gradient


def test_a_bootstrap_interval_stays_within_the_range_of_its_statistic():
    near_one = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.9, 0.95]
    interval = intervals.bootstrap_interval(near_one, resamples=500)
    assert 0.9 <= interval.low <= interval.mean <= interval.high <= 1.0
    assert intervals.bootstrap_interval(near_one, resamples=500) == interval  # seeded
    t_interval = intervals.mean_interval(near_one)
    assert t_interval.high > 1.0 >= interval.high  # where the t-interval leaves the range


def test_interleaved_times_returns_one_time_per_round_per_function():
    calls = []
    times = cost.interleaved_times({"a": lambda: calls.append("a"),
                                       "b": lambda: calls.append("b")},
                                      rounds=4, per_round=2, warmup=1)
    assert {k: len(v) for k, v in times.items()} == {"a": 4, "b": 4}
    assert calls[2:] == list("aabb" "bbaa" "aabb" "bbaa")  # after warm-up, order alternates


@pytest.mark.parametrize("positions, expected", [
    ([0, 1, 2, 3], 1.0), ([3, 2, 1, 0], -1.0), ([0, 2, 1, 3], 0.8),
    ([0, 0, 1, 1], 4 / math.sqrt(20)),  # ties take their mean rank, as scipy's spearmanr
    ([2, 2, 2], None), ([1], None), ([], None)])
def test_monotonicity_is_spearmans_rank_correlation_of_step_and_position(positions, expected):
    found = attention.monotonicity(positions)
    assert found == expected if expected is None else found == pytest.approx(expected)
