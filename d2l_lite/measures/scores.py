"""Corpus scores of translations with sacreBLEU, and paired bootstrap intervals of the
difference between two systems: the yardstick of the book's studies.

Hypotheses and references are d2l's preprocessed text (lowercased, punctuation split off), so
BLEU takes them as they are (``tokenize="none"``); scores are comparable between the book's
systems, not with published numbers on other test sets. A sentence may have several
references. The bootstrap resamples sacreBLEU's per-sentence sufficient statistics, as
sacreBLEU's own paired bootstrap does (``sacrebleu.significance``): summed over the corpus
they give exactly ``corpus_score``'s number (``tests/test_scores.py``).
"""

import numpy as np

METRICS = ("bleu", "chrf")


def metric(name):
    """sacreBLEU's metric object for ``name`` ('bleu' or 'chrf')."""
    from sacrebleu.metrics import BLEU, CHRF

    if name == "bleu":
        return BLEU(tokenize="none", force=True)
    if name == "chrf":
        return CHRF()
    raise ValueError(f"unknown metric {name!r}: choose one of {METRICS}")


def reference_streams(references):
    """One list of references per sentence -> sacreBLEU's streams (stream i holds each
    sentence's i-th reference, or None where it has fewer)."""
    width = max(len(r) for r in references)
    return [[r[i] if i < len(r) else None for r in references] for i in range(width)]


def corpus_scores(hypotheses, references):
    """Corpus BLEU and chrF of ``hypotheses`` (strings) against ``references`` (one list of
    strings per sentence), with sacreBLEU's signatures."""
    streams = reference_streams(references)
    out = {}
    for name in METRICS:
        m = metric(name)
        out[name] = m.corpus_score(hypotheses, streams).score
        out.setdefault("signatures", []).append(str(m.get_signature()))
    return out


def sentence_statistics(name, hypotheses, references):
    """(N, S) array: metric ``name``'s sufficient statistics of each of the N sentences;
    their sum over any set of sentences gives that set's corpus score (``score_of``)."""
    m = metric(name)
    return np.array(m._extract_corpus_statistics(hypotheses, reference_streams(references)),
                    dtype=np.float64)


def score_of(name, summed):
    """The corpus score of summed sufficient statistics (S,)."""
    return metric(name)._compute_score_from_stats(list(summed)).score


def bootstrap_difference(name, stats_a, stats_b, level=0.95, resamples=1000, seed=0):
    """Metric ``name`` of system a minus system b, with a percentile bootstrap interval.

    ``stats_a`` and ``stats_b`` are lists of (N, S) arrays over the same N test sentences,
    paired by training seed (entry i of both: seed i). The estimate is the mean over seeds of
    the corpus-score difference. Each resample draws the seeds (pairs kept together) and the
    test sentences with replacement, so the interval carries both the variation between
    training runs and that between test sets. Returns ``intervals.Interval``.
    """
    from .intervals import Interval

    if len(stats_a) != len(stats_b) or not stats_a:
        raise ValueError(f"paired systems need the same number of seeds (at least one), got "
                         f"{len(stats_a)} and {len(stats_b)}")
    a, b = np.stack(stats_a), np.stack(stats_b)  # (seeds, N, S)
    seeds, n = a.shape[:2]
    m = metric(name)

    def difference(seed_idx, sentence_idx):
        return float(np.mean([
            m._compute_score_from_stats(list(a[s][sentence_idx].sum(0))).score
            - m._compute_score_from_stats(list(b[s][sentence_idx].sum(0))).score
            for s in seed_idx]))

    rng = np.random.default_rng(seed)
    draws = np.sort([difference(rng.integers(0, seeds, seeds), rng.integers(0, n, n))
                     for _ in range(resamples)])
    tail = (1 - level) / 2
    low = draws[int(np.floor(tail * (resamples - 1)))]
    high = draws[int(np.ceil((1 - tail) * (resamples - 1)))]
    return Interval(difference(range(seeds), np.arange(n)), float(low), float(high), n, level)
