"""The chapter on attention at work: the reversal task, batches of one source length, the
long-sentence data set and its decoding by length, and the two studies in smoke
configurations, writing the results files the chapter reads; the committed results files
come from the tree's code."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from study_checks import check_committed_results

from d2l_lite.chapters import experiment
from d2l_lite.studies.batching import LengthBatches
from d2l_lite.studies.long_sentences import (
    MTFraEngLong,
    attention_entropy,
    bucket_of,
    translate_by_length,
)
from d2l_lite.studies.synthetic import Reversal, alignment_scores, reverse

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "book" / "_attention_at_work.json"
SMALL = dict(embed_size=8, num_hiddens=16, num_layers=1, dropout=0.0)


def test_reversal_pairs_each_string_with_its_reverse_and_tests_every_length():
    data = Reversal(num_train=50, num_val=10, max_len=12, test_per_length=3, seed=1)
    src, _, src_len, label = data.arrays
    for row in range(5):
        digits = data.src_vocab.to_tokens(src[row][:src_len[row] - 1])
        n = int(src_len[row]) - 1
        target = data.tgt_vocab.to_tokens(label[row][:n])
        assert (target if n > 1 else [target]) == (digits[::-1] if n > 1 else [digits])
    assert sorted({len(s.split()) for s in data.test_sources}) == list(range(1, 13))
    assert reverse("3 1 4") == "4 1 3"


def test_alignment_scores_of_the_perfect_map_and_of_a_uniform_one():
    n = 4
    perfect = torch.zeros(1, n + 1, n + 1)
    perfect[0, torch.arange(n), n - 1 - torch.arange(n)] = 1.0
    mass, entropy = alignment_scores(perfect, ["1 2 3 4"])
    assert mass == [1.0] and entropy[0] == pytest.approx(0.0, abs=1e-6)
    uniform = torch.full((1, n + 1, n + 1), 1 / (n + 1))
    mass, entropy = alignment_scores(uniform, ["1 2 3 4"])
    assert mass[0] == pytest.approx(0.2) and entropy[0] == pytest.approx(1.0)


def test_length_batches_hold_one_source_length_without_padding_and_every_row_once():
    data = Reversal(num_train=200, num_val=10, max_len=9, batch_size=16, seed=0)
    loader = LengthBatches(data.arrays, range(200), 16, data.tgt_vocab["<pad>"], shuffle=True,
                           generator=torch.Generator().manual_seed(0))
    seen = []
    for src, tgt, src_len, label in loader:
        assert len(set(src_len.tolist())) == 1 and src.shape[1] == int(src_len[0])
        assert (src != data.src_vocab["<pad>"]).all()
        assert tgt.shape == label.shape and (label[:, -1] != data.tgt_vocab["<pad>"]).any()
        seen += src[:, 0].tolist()
    assert sorted(seen) == sorted(data.arrays[0][:200, 0].tolist())
    assert len(list(loader)) == len(loader)
    twice = [LengthBatches(data.arrays, range(200), 16, data.tgt_vocab["<pad>"], shuffle=True,
                           generator=torch.Generator().manual_seed(3)) for _ in range(2)]
    torch.rand(100)  # other draws do not matter
    assert all(torch.equal(a[0], b[0]) for a, b in zip(*twice))


def test_attention_entropy_is_zero_for_one_position_and_one_for_uniform_weights():
    one = torch.zeros(3, 4)
    one[:, 2] = 1
    assert attention_entropy([one, torch.full((3, 4), 0.25)], [["a", "b"], ["a", "b"]]) == [
        pytest.approx(0.0, abs=1e-6), pytest.approx(1.0)]


@pytest.fixture(scope="module")
def long_data(data_root):
    return MTFraEngLong(num_train=2000, num_val=100, num_test_sentences=300,
                        num_val_sentences=100, per_bucket=20, root=data_root)


def test_no_test_sentence_is_trained_on_and_long_sentences_are_only_tested(long_data):
    assert not set(long_data.natural_sources) & long_data.train_sentences
    assert not set(long_data.natural_sources) & long_data.val_sentences
    assert all(len(s.split()) <= 40 for s, _ in long_data.train_examples)
    long_natural = [s for s in long_data.natural_sources if len(s.split()) >= 17]
    assert long_natural and all(len(r) >= 1 for r in long_data.natural_references)


def test_test_sets_fill_their_buckets(long_data):
    for sources in (long_data.natural_sources, long_data.joined_sources):
        counts = {}
        for s in sources:
            b = bucket_of(len(s.split()))
            assert b is not None
            counts[b] = counts.get(b, 0) + 1
        assert max(counts.values()) <= 20
    assert {bucket_of(len(s.split())) for s in long_data.joined_sources} == {
        (9, 16), (17, 24), (25, 32), (33, 40)}


def test_decoding_by_length_gives_each_sentence_what_it_gets_alone(long_data):
    model = experiment.make_model(long_data, seed=0, **SMALL)
    sentences = long_data.natural_sources[::7][:6]
    together, maps = translate_by_length(model, long_data, sentences,
                                         save_attention_weights=True)
    for sentence, translation, W in zip(sentences, together, maps):
        alone, _ = translate_by_length(model, long_data, [sentence])
        assert alone[0] == translation
        assert W.shape[1] == len(sentence.split()) + 1  # no padding position
        torch.testing.assert_close(W.sum(-1), torch.ones(W.shape[0]))


def study(*args, check=True):
    return subprocess.run([sys.executable, "-m", "d2l_lite.studies.attention_at_work", *args],
                          capture_output=True, text=True, check=check, cwd=REPO)


def check_schema(results):
    settings = results["settings"]
    expected = {(arm, seed) for arm in settings["arms"] for seed in settings["seeds"]}
    assert {(r["arm"], r["seed"]) for r in results["runs"]} == expected
    data = results["data"]
    for run in results["runs"]:
        for test_set in ("natural", "joined"):
            result = run[test_set]
            assert len(result["hypotheses"]) == len(data[f"{test_set}_sources"])
            assert isinstance(result["bleu"], float) and isinstance(result["chrf"], float)
            if run["arm"] != "no attention":
                assert len(result["uniform_hypotheses"]) == len(result["hypotheses"])
                assert all(e is None or 0 <= e <= 1 for e in result["entropy"])
        assert 1 <= run["best_epoch"] <= len(run["history"])
    assert set(results["timing"]["step_seconds"]) == set(settings["arms"])


@pytest.mark.slow
def test_the_study_runs_in_its_smoke_configuration(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("D2L_LITE_DATA", str(data_root))
    out = tmp_path / "results.json"
    study("--smoke", "--out", out)
    results = json.loads(out.read_text())
    check_schema(results)
    assert (tmp_path / "models" / "attention_at_work").is_dir()


def test_the_committed_results_come_from_the_trees_code_and_settings():
    check_committed_results(RESULTS, "attention_at_work", check_schema)


REVERSAL = REPO / "book" / "_reversal.json"


def check_reversal(results):
    settings = results["settings"]
    assert {(r["arm"], r["seed"]) for r in results["runs"]} == {
        (a, s) for a in settings["arms"] for s in settings["seeds"]}
    n = len(results["data"]["test_sources"])
    for run in results["runs"]:
        assert len(run["correct"]) == n
        if run["arm"] != "no attention":
            for key in ("aligned", "right_neighbour", "entropy"):
                assert len(run[key]) == n and all(0 <= v <= 1 + 1e-6 for v in run[key])


@pytest.mark.slow
def test_the_reversal_study_runs_in_its_smoke_configuration(tmp_path):
    out = tmp_path / "reversal.json"
    subprocess.run([sys.executable, "-m", "d2l_lite.studies.reversal", "--smoke", "--out", out],
                   check=True, capture_output=True, cwd=REPO)
    check_reversal(json.loads(out.read_text()))


def test_the_committed_reversal_results_come_from_the_trees_code_and_settings():
    check_committed_results(REVERSAL, "reversal", check_reversal)
