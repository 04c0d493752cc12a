"""Corpus scores and the paired bootstrap: sacreBLEU's numbers, rebuilt from per-sentence
statistics, and intervals that cover a known difference and are paired."""

import pytest

from d2l_lite.measures import scores

HYPOTHESES = ["le chat est noir .", "il fait beau", "je suis ici .", "nous partons demain ."]
REFERENCES = [["le chat est noir ."], ["il fait beau .", "le temps est beau ."],
              ["je suis là ."], ["nous partons demain matin .", "on part demain ."]]


@pytest.mark.parametrize("metric", scores.METRICS)
def test_summed_sentence_statistics_give_sacrebleus_corpus_score(metric):
    expected = scores.corpus_scores(HYPOTHESES, REFERENCES)[metric]
    stats = scores.sentence_statistics(metric, HYPOTHESES, REFERENCES)
    assert stats.shape[0] == len(HYPOTHESES)
    assert scores.score_of(metric, stats.sum(0)) == pytest.approx(expected, abs=1e-9)
    part = scores.corpus_scores(HYPOTHESES[:2], REFERENCES[:2])[metric]
    assert scores.score_of(metric, stats[:2].sum(0)) == pytest.approx(part, abs=1e-9)


def test_a_system_against_itself_differs_by_exactly_nothing():
    stats = [scores.sentence_statistics("chrf", HYPOTHESES * 10, REFERENCES * 10)] * 2
    interval = scores.bootstrap_difference("chrf", stats, stats, resamples=200)
    assert interval.mean == interval.low == interval.high == 0


def test_a_better_system_is_found_better_and_the_interval_is_seeded():
    worse = [h.split()[0] for h in HYPOTHESES]  # one word of each
    good = [scores.sentence_statistics("bleu", HYPOTHESES * 10, REFERENCES * 10)] * 2
    bad = [scores.sentence_statistics("bleu", worse * 10, REFERENCES * 10)] * 2
    interval = scores.bootstrap_difference("bleu", good, bad, resamples=300)
    assert interval.low > 0 and interval.words("lower", "higher") == "higher"
    assert scores.bootstrap_difference("bleu", good, bad, resamples=300) == interval


def test_unpaired_seeds_are_refused():
    stats = [scores.sentence_statistics("bleu", HYPOTHESES, REFERENCES)]
    with pytest.raises(ValueError, match="same number of seeds"):
        scores.bootstrap_difference("bleu", stats, stats * 2)
