"""BLEU as defined in D2L §10.7 (``d2l.bleu``): brevity penalty times weighted n-gram precisions."""

import collections
import math


def bleu(pred_seq, label_seq, k):
    """BLEU of ``pred_seq`` against ``label_seq`` (space-separated strings) up to ``k``-grams.

    n-gram precisions p_n are clipped by the label's counts and weighted by 1/2^n; the brevity
    penalty is ``exp(min(0, 1 - len_label / len_pred))``. Same numbers as d2l 1.0.3 (an empty
    prediction scores 0). ``k`` must be an integer >= 1: with none, the score would be the
    brevity penalty alone.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"bleu: k, the longest n-gram scored, must be an integer >= 1, got "
                         f"{k!r} (D2L uses k=2)")
    pred_tokens, label_tokens = pred_seq.split(" "), label_seq.split(" ")
    len_pred, len_label = len(pred_tokens), len(label_tokens)
    score = math.exp(min(0, 1 - len_label / len_pred))
    for n in range(1, min(k, len_pred) + 1):
        num_matches, label_subs = 0, collections.defaultdict(int)
        for i in range(len_label - n + 1):
            label_subs[" ".join(label_tokens[i : i + n])] += 1
        for i in range(len_pred - n + 1):
            gram = " ".join(pred_tokens[i : i + n])
            if label_subs[gram] > 0:
                num_matches += 1
                label_subs[gram] -= 1
        score *= math.pow(num_matches / (len_pred - n + 1), math.pow(0.5, n))
    return score
