"""The larger-scale study: its data split, its baseline decoder, and its script, run in a
smoke configuration, writing a results file of the schema that the chapter reads."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from study_checks import check_committed_results

import d2l_lite as d2l
from d2l_lite.d2l.data import preprocess
from d2l_lite.studies.split import MTFraEngSplit

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "book" / "_larger_scale.json"


@pytest.fixture(scope="module")
def split(data_root):
    return MTFraEngSplit(batch_size=64, num_train=3000, num_val=200, num_test=200,
                         root=data_root)


def test_splits_are_disjoint_by_english_sentence_with_all_references(split, data_root):
    train_sources = {en for en, _ in split.train_pairs}
    assert len(split.train_pairs) == split.num_train == 3000
    assert not set(split.val_sources) & set(split.test_sources)
    assert not (set(split.val_sources) | set(split.test_sources)) & train_sources
    text = preprocess((data_root / "fra-eng" / "fra.txt").read_text(encoding="utf-8"))
    pairs = {}
    for line in text.split("\n"):
        if "\t" in line:
            en, fr = line.split("\t")[:2]
            pairs.setdefault(" ".join(en.split()), []).append(" ".join(fr.split()))
    for sentence, references in zip(split.test_sources[:50], split.test_references[:50]):
        assert 5 <= len(sentence.split()) <= 12
        assert sorted(references) == sorted(r for r in pairs[sentence] if len(r.split()) < 16)


def test_vocabularies_come_from_the_training_pairs_only(split):
    train_tokens = {t for _, fr in split.train_pairs for t in fr.split()}
    assert set(split.tgt_vocab.idx_to_token) - train_tokens <= {"<unk>", "<pad>", "<bos>",
                                                                "<eos>"}
    assert split.oov_rate(split.test_sources, split.src_vocab) > 0


def test_the_split_rejects_inconsistent_lengths(data_root):
    with pytest.raises(ValueError, match="min_len <= max_len < num_steps"):
        MTFraEngSplit(batch_size=2, min_len=5, max_len=20, num_steps=16, root=data_root)


def test_the_baseline_decoder_has_d2ls_shapes_and_trains():
    torch.manual_seed(0)
    encoder = d2l.Seq2SeqEncoder(10, 8, 16, 2)
    decoder = d2l.Seq2SeqDecoder(10, 8, 16, 2)
    model = d2l.Seq2Seq(encoder, decoder, tgt_pad=1, lr=0.05)
    X = torch.randint(2, 10, (4, 7))
    outputs, state = decoder(X, decoder.init_state(encoder(X)))
    d2l.check_shape(outputs, (4, 7, 10))
    d2l.check_shape(state[1], (2, 4, 16))
    optimizer = model.configure_optimizers()
    losses = []
    for _ in range(60):
        loss = model.loss(model(X, X), X)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def check_schema(results):
    """The fields the chapter reads, with their types."""
    assert set(results) >= {"settings", "settings_key", "code_files", "runs",
                            "sessions", "data", "timing"}
    settings = results["settings"]
    assert set(settings) == {"data", "model", "patience", "seeds", "arms", "timing_rounds"}
    for session in results["sessions"]:
        assert {"started", "commit", "dirty", "cpu", "cpu_capability", "cores", "torch",
                "seconds"} <= set(session)
    expected = {(arm, seed) for arm in settings["arms"] for seed in settings["seeds"]}
    assert {(r["arm"], r["seed"]) for r in results["runs"]} == expected
    for run in results["runs"]:
        assert isinstance(run["bleu"], float) and isinstance(run["chrf"], float)
        assert len(run["hypotheses"]) == results["data"]["test_sentences"]
        assert run["history"] and {"epoch", "train_loss", "val_loss", "seconds"} <= set(
            run["history"][0])
        assert 1 <= run["best_epoch"] <= len(run["history"])
        if run["arm"] != "no attention":
            assert all(0 <= e <= 1 for e in run["attention_entropy"])
            if run["seed"] == settings["seeds"][0]:
                assert len(run["maps"]) == 4
    for arm in settings["arms"]:
        assert len(results["timing"]["step_seconds"][arm]) == results["timing"]["rounds"]
        assert results["timing"]["activation_bytes"][arm] > 0


def study(*args, check=True):
    return subprocess.run([sys.executable, "-m", "d2l_lite.studies.larger_scale", *args],
                          capture_output=True, text=True, check=check, cwd=REPO)


@pytest.mark.slow
def test_the_study_runs_in_its_smoke_configuration_and_resumes(data_root, tmp_path,
                                                               monkeypatch):
    monkeypatch.setenv("D2L_LITE_DATA", str(data_root))
    out = tmp_path / "results.json"
    study("--smoke", "--out", out)
    results = json.loads(out.read_text())
    check_schema(results)
    assert results["settings"]["seeds"] == [0]
    before = out.read_text()
    study("--smoke", "--out", out)  # resumes: nothing left to run, the file left as it was
    assert out.read_text() == before

    # a file of other code (or settings) is refused, and kept as it is
    results["sessions"][0].update(commit="0" * 40, dirty=False)
    out.write_text(json.dumps(results))
    refused = study("--smoke", "--out", out, check=False)
    assert refused.returncode != 0 and "runs of other code" in refused.stderr
    assert json.loads(out.read_text())["sessions"][0]["commit"] == "0" * 40
    results["settings_key"] = "other"
    out.write_text(json.dumps(results))
    refused = study("--smoke", "--out", out, check=False)
    assert "other settings and runs of other code" in refused.stderr
    # --restart starts over and keeps the old file beside the new one
    study("--smoke", "--out", out, "--restart")
    assert json.loads((tmp_path / "results.previous.json").read_text())["settings_key"] == "other"
    check_schema(json.loads(out.read_text()))


def test_a_smoke_run_never_writes_the_committed_results(monkeypatch):
    refused = study("--smoke", "--out", str(RESULTS), check=False)
    assert refused.returncode != 0 and "never writes book/_larger_scale.json" in refused.stderr
    from d2l_lite import studies

    monkeypatch.setattr(sys, "argv", ["larger_scale.py", "--smoke"])
    assert studies.parse_args("larger_scale", "").out == (
        REPO / "_build" / "smoke" / "larger_scale.json")


@pytest.mark.parametrize("out", ["book/_larger_scale.json", "book/_reversal.json",
                                 "book/_attention_at_work.json", "book/_explorer/dot.json",
                                 "book/_new_study.json", "benchmarks/results.json",
                                 "larger_scale.json"])
def test_a_smoke_run_refuses_every_file_of_the_checkout_outside_the_smoke_folder(
        out, monkeypatch):
    from d2l_lite import studies

    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "argv", ["reversal.py", "--smoke", "--out", out, "--restart"])
    with pytest.raises(SystemExit, match="only under _build/smoke/") as refused:
        studies.parse_args("reversal", "")
    assert "leave out --out" in str(refused.value)


def test_a_smoke_run_writes_under_the_smoke_folder_or_outside_the_checkout(monkeypatch,
                                                                           tmp_path):
    from d2l_lite import studies

    for out in (REPO / "_build" / "smoke" / "other.json", tmp_path / "results.json"):
        monkeypatch.setattr(sys, "argv", ["reversal.py", "--smoke", "--out", str(out)])
        assert studies.parse_args("reversal", "").out == out


def test_a_session_is_recorded_only_when_it_adds_a_run(tmp_path, monkeypatch):
    from d2l_lite import provenance, studies

    monkeypatch.setenv(provenance.LOCK_HELD, "1")
    out = tmp_path / "results.json"
    monkeypatch.setattr(sys, "argv", [str(REPO / "d2l_lite" / "studies" / "reversal.py"), "--smoke",
                                      "--out", str(out)])
    budget = []  # how many runs the next session may add (an interrupted study)

    def run_all(results, settings, smoke):
        for seed in settings["seeds"]:
            if not results.done(seed=seed) and budget[-1]:
                results.add(dict(seed=seed))
                budget[-1] -= 1

    def study(runs):
        budget.append(runs)
        studies.run_study("reversal", "", lambda smoke: dict(seeds=[0, 1]), run_all)
        return json.loads(out.read_text())

    assert [r["session"] for r in study(1)["runs"]] == [0]
    results = study(2)  # resumes: adds the run left
    assert [r["session"] for r in results["runs"]] == [0, 1] and len(results["sessions"]) == 2
    finished = out.read_text()
    study(2)  # nothing left to run
    assert out.read_text() == finished


def test_a_corrupt_results_file_is_a_clear_error(tmp_path):
    out = tmp_path / "results.json"
    out.write_text('{"runs": [')
    refused = study("--smoke", "--out", out, check=False)
    assert refused.returncode != 0 and "is not valid JSON" in refused.stderr
    assert out.read_text() == '{"runs": ['


def test_an_output_folder_that_cannot_be_made_is_refused_before_any_training(tmp_path):
    (tmp_path / "file").write_text("")
    refused = study("--smoke", "--out", tmp_path / "file" / "results.json", check=False)
    assert refused.returncode != 0 and "cannot make the folder of" in refused.stderr


def test_the_committed_results_come_from_the_trees_code_and_settings():
    check_committed_results(RESULTS, "larger_scale", check_schema)
