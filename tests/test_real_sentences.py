"""The chapter's reading of a real-sentence study record: rows per arm and bucket, the cost
of uniform weights as a paired interval at the family's level, entropy and monotonicity."""

import pytest

from d2l_lite.chapters.real_sentences import bucket_of_each, bucket_rows

SOURCES = ["go .", "i won !", "he is here now .", "we went to the shop ."] * 5
GOOD = ["va !", "j'ai gagné !", "il est ici maintenant .", "nous sommes allés au magasin ."] * 5
BAD = ["x", "y", "z", "w"] * 5


def record():
    natural = dict(hypotheses=GOOD, uniform_hypotheses=BAD, entropy=[0.2, 0.4] * 10,
                   alignment=[[0, 1, 2], [2, 1, 0]] * 10,
                   buckets={"1-3": dict(bleu=90.0, chrf=95.0), "4-8": dict(bleu=80.0, chrf=85.0)})
    same = dict(natural, uniform_hypotheses=GOOD)
    baseline = dict(hypotheses=BAD, buckets={"1-3": dict(bleu=1.0, chrf=2.0),
                                             "4-8": dict(bleu=1.0, chrf=2.0)})
    return dict(data=dict(natural_sources=SOURCES, natural_references=[[g] for g in GOOD],
                          buckets=[[1, 3], [4, 8]]),
                runs=[dict(arm="uses", seed=0, natural=natural),
                      dict(arm="ignores", seed=0, natural=same, eight_bit=natural),
                      dict(arm="no attention", seed=0, natural=baseline)])


def test_each_sentence_gets_its_length_bucket():
    assert bucket_of_each(record())[:4] == ["1-3", "1-3", "4-8", "4-8"]


def test_rows_per_arm_and_bucket_with_the_cost_of_uniform_weights():
    rows = bucket_rows(record(), resamples=200)
    assert [(r["arm"], r["bucket"]) for r in rows] == [
        ("uses", "1-3"), ("uses", "4-8"), ("ignores", "1-3"), ("ignores", "4-8"),
        ("no attention", "1-3"), ("no attention", "4-8")]
    uses, ignores = rows[0], rows[2]
    assert uses["uniform_cost"].low > 0 and uses["sentences"] == 10
    assert ignores["uniform_cost"].mean == 0 and ignores["uniform_cost"].spans_zero
    assert uses["uniform_cost"].level == pytest.approx(1 - 0.05 / 4)  # 4 rows with attention
    assert uses["entropy"] == pytest.approx(0.3)
    assert uses["monotonicity"] == pytest.approx(0.0)  # one forward, one backward map
    assert "uniform_cost" not in rows[4] and rows[4]["chrf"] == 2.0


def test_a_flagships_eight_bit_scores_are_read_on_request():
    rows = bucket_rows(dict(record(), runs=record()["runs"][1:2]), eight_bit=True,
                       resamples=200)
    assert rows[0]["uniform_cost"].low > 0
