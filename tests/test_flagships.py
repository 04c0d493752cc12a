"""The flagship models: the whole corpus split as the attending study splits it, a smoke run
of the study, and a chapter's loader that gives back the study's 8-bit models exactly."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from d2l_lite.chapters import flagship
from d2l_lite.studies import flagships
from d2l_lite.studies.long_sentences import MTFraEngLong, translate_by_length
from d2l_lite.studies.whole_corpus import MTFraEngAll

REPO = Path(__file__).resolve().parents[1]
SPLIT = dict(num_test_sentences=100, num_val_sentences=40, per_bucket=5)


@pytest.mark.slow
def test_the_whole_corpus_trains_on_every_fitting_pair_of_the_long_studys_split(data_root):
    whole = MTFraEngAll(root=data_root, **SPLIT)
    long = MTFraEngLong(root=data_root, num_train=10, num_val=10, max_joins=1, **SPLIT)
    assert whole.natural_sources == long.natural_sources
    assert whole.val_sentences == long.val_sentences
    assert whole.train_sentences == long.train_sentences
    sources = [s for s, _ in whole.train_examples]
    assert set(sources) <= whole.train_sentences
    assert not set(sources) & set(whole.test_sentences)
    assert len(set(whole.train_examples)) == len(whole.train_examples) == whole.num_train
    assert whole.num_train > 100_000
    assert all(len(s.split()) <= whole.max_len for s in sources)
    with pytest.raises(ValueError, match=r"limit must be None or an integer >= 1, got 0"):
        MTFraEngAll(root=data_root, limit=0)


@pytest.mark.slow
def test_the_study_runs_in_smoke_and_a_chapter_loads_its_models_exactly(data_root, tmp_path):
    out = tmp_path / "flagships.json"
    subprocess.run([sys.executable, "-m", "d2l_lite.studies.flagships", "--smoke", "--out",
                    out], check=True, capture_output=True, cwd=REPO,
                   env={**os.environ, "D2L_LITE_DATA": str(data_root)})
    results = json.loads(out.read_text())
    assert [r["arm"] for r in results["runs"]] == list(flagships.ARMS)
    assert results["data"]["num_train"] == flagships.SMOKE["data"]["limit"]
    for run in results["runs"]:
        weights = tmp_path / "flagships" / f"{flagships.slug(run['arm'])}.pt"
        model, data, found = flagship.load(out, weights, run["arm"])
        assert found == run
        translations, _ = translate_by_length(model, data, results["data"]["natural_sources"])
        assert [" ".join(t) for t in translations] == run["eight_bit"]["hypotheses"]
    other = tmp_path / "flagships" / f"{flagships.slug(results['runs'][1]['arm'])}.pt"
    with pytest.raises(ValueError, match=r"not the file the results record for 'additive, q"):
        flagship.load(out, other, "additive, query after")
    with pytest.raises(KeyError, match=r"no flagship arm 'luong'"):
        flagship.load(out, other, "luong")
