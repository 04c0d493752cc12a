"""What a chapter reads from the records of the studies on real sentences (``attending``,
``flagships``): per arm and length bucket, how well the model translates, whether it uses its
attention, and what its attention looks like.

``bucket_rows(record)`` gives one row per arm and bucket of the natural test sentences:
BLEU and chrF of the arm's translations; ``uniform_cost``, the chrF of its translations minus
the chrF with uniform attention weights in place of its own, with a paired bootstrap interval
over the bucket's sentences (``scores.bootstrap_difference``; one seed, so the interval
carries the test sentences' variation only), at the family-wise level of all the record's
rows: an interval above zero says the model uses where it looks; ``entropy``, the mean
normalised entropy of its maps (1: uniform); ``monotonicity``, the mean over sentences of
Spearman's correlation between the decoding step and the position weighed most
(``measures.attention.monotonicity``). ``eight_bit=True`` reads a flagship's scores with the
8-bit weights the chapters load instead of its float32 ones.
"""

import statistics

from ..measures import intervals, scores
from ..measures.attention import monotonicity


def bucket_of_each(record):
    """The bucket label ('1-8', ...) of each natural test sentence, or None."""
    labels = []
    for source in record["data"]["natural_sources"]:
        n = len(source.split())
        labels.append(next((f"{low}-{high}" for low, high in record["data"]["buckets"]
                            if low <= n <= high), None))
    return labels


def bucket_rows(record, eight_bit=False, level=0.95, resamples=1000):
    """One dict per (arm, bucket), in the record's run order (see the module docstring)."""
    labels = bucket_of_each(record)
    references = record["data"]["natural_references"]
    attending = [r for r in record["runs"] if "uniform_hypotheses" in _found(r, eight_bit)]
    family = sum(len(_found(r, eight_bit)["buckets"]) for r in attending)
    each = intervals.family_level(max(family, 1), level)
    rows = []
    for run in record["runs"]:
        found = _found(run, eight_bit)
        for bucket, score in found["buckets"].items():
            index = [i for i, label in enumerate(labels) if label == bucket]
            row = dict(arm=run["arm"], seed=run["seed"], bucket=bucket, sentences=len(index),
                       bleu=score["bleu"], chrf=score["chrf"])
            if "uniform_hypotheses" in found:
                refs = [references[i] for i in index]
                own = scores.sentence_statistics(
                    "chrf", [found["hypotheses"][i] for i in index], refs)
                uniform = scores.sentence_statistics(
                    "chrf", [found["uniform_hypotheses"][i] for i in index], refs)
                row["uniform_cost"] = scores.bootstrap_difference(
                    "chrf", [own], [uniform], level=each, resamples=resamples)
                row["entropy"] = _mean(found["entropy"][i] for i in index)
                row["monotonicity"] = _mean(monotonicity(found["alignment"][i])
                                            for i in index)
            rows.append(row)
    return rows


def _found(run, eight_bit):
    return run["eight_bit"] if eight_bit else run["natural"]


def _mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None
