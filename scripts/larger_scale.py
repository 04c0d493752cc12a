"""The larger-scale study: do the exercises' answers hold where attention matters?

    python scripts/larger_scale.py           # the full study, resumable (see RUNTIME below)
    python scripts/larger_scale.py --smoke   # the same code on a tiny configuration (seconds)
    python scripts/larger_scale.py --out results.json

Data: ``d2l_lite.book.split.MTFraEngSplit`` (English sentences of 5 to 12 tokens, splits disjoint
by English sentence, all references of a held-out sentence kept). Arms: §10.7's decoder
without attention, and Bahdanau's decoder with GRU or LSTM and additive or dot-product
scoring, all through ``d2l_lite.fast``. For each seed and arm, one at a time: training with
the same epoch limit and early stopping on the validation loss, then greedy translation of
the test sentences scored with sacreBLEU's corpus BLEU and chrF against all references, and
the attention's normalised entropy. Then one timing phase, all arms interleaved in this
process (timing comparisons come from one CPU in one session): time and activation memory of
a training step.

The results file (default ``book/_larger_scale.json``) is rewritten after every run, with the
commit, the settings, the machine and the wall times; a rerun with the same settings skips
what it holds, so an interrupted study resumes. No checkpoints are kept. It needs the CPU to
itself: two torch processes on two cores slow each other badly.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

import d2l_lite as d2l
from d2l_lite.book import experiment, measure
from d2l_lite.book.split import MTFraEngSplit

sys.path.insert(0, str(Path(__file__).parent))
from provenance import commit_and_dirty, cpu_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RUNTIME = "about an hour on two CPU cores"
DATA = dict(num_train=16_000, num_val=1000, num_test=1000, min_len=5, max_len=12, num_steps=16,
            batch_size=128)
MODEL = dict(embed_size=128, num_hiddens=128, num_layers=2, dropout=0.2, lr=0.005,
             gradient_clip_val=1, max_epochs=25, patience=2)
SEEDS = [0, 1, 2]
SMOKE = dict(data=dict(num_train=300, num_val=30, num_test=30, batch_size=64),
             model=dict(embed_size=16, num_hiddens=16, max_epochs=2), seeds=[0])
ARMS = {"no attention": dict(decoder="baseline"),
        "GRU + additive": dict(rnn="gru", scoring="additive"),
        "GRU + dot": dict(rnn="gru", scoring="dot"),
        "LSTM + additive": dict(rnn="lstm", scoring="additive"),
        "LSTM + dot": dict(rnn="lstm", scoring="dot")}
MAP_SENTENCES = 4  # test sentences whose attention maps (seed 0) the chapter shows


def settings(smoke):
    data, model, seeds = dict(DATA), dict(MODEL), list(SEEDS)
    if smoke:
        data.update(SMOKE["data"])
        model.update(SMOKE["model"])
        seeds = SMOKE["seeds"]
    return dict(data=data, model=model, seeds=seeds, arms=ARMS)


def build(data, arm, model_settings):
    """A model of ``arm`` (no training)."""
    hp = {k: v for k, v in model_settings.items() if k not in ("max_epochs", "patience")}
    if arm.get("decoder") == "baseline":
        return experiment.make_model(data, decoder=d2l.Seq2SeqDecoder, **hp)
    return experiment.make_model(data, arm["rnn"], arm["scoring"], fast=True, **hp)


def train_and_score(data, name, arm, seed, model_settings):
    """One run: train with early stopping, then score the test sentences."""
    hp = dict(model_settings)
    start = time.perf_counter()
    d2l.set_seed(seed)
    model = build(data, arm, hp)
    model.board.display = False
    trainer = d2l.Trainer(max_epochs=hp["max_epochs"], gradient_clip_val=hp["gradient_clip_val"],
                          patience=hp["patience"])
    history = trainer.fit(model, data)
    translations, _ = experiment.translate(model, data, data.test_sources)
    hypotheses = [" ".join(t) for t in translations]
    result = dict(arm=name, seed=seed, history=history, best_epoch=trainer.best_epoch,
                  **corpus_scores(hypotheses, data.test_references),
                  hypotheses_sample=hypotheses[:5], seconds=time.perf_counter() - start)
    if arm.get("decoder") != "baseline":
        summary = experiment.attention_summary(model, data, data.test_sources)
        result["attention_entropy"] = statistics.mean(summary["entropy"])
        if seed == 0:
            _, maps = experiment.translate(model, data, data.test_sources[:MAP_SENTENCES],
                                           save_attention_weights=True)
            result["maps"] = [m.tolist() for m in maps]
            result["map_translations"] = hypotheses[:MAP_SENTENCES]
    return result


def corpus_scores(hypotheses, references):
    """sacreBLEU's corpus BLEU and chrF of ``hypotheses`` against all ``references`` of each
    sentence (lists of varying length). The text is d2l's tokenization already (lowercased,
    punctuation split off), so BLEU takes it as it is (``tokenize="none"``)."""
    from sacrebleu.metrics import BLEU, CHRF

    width = max(len(r) for r in references)
    streams = [[r[i] if i < len(r) else None for r in references] for i in range(width)]
    bleu, chrf = BLEU(tokenize="none", force=True), CHRF()
    return dict(bleu=bleu.corpus_score(hypotheses, streams).score,
                chrf=chrf.corpus_score(hypotheses, streams).score,
                signatures=[str(bleu.get_signature()), str(chrf.get_signature())])


def timing(data, arms, model_settings, rounds):
    """Time and activation memory of one training step of each arm, all interleaved."""
    batch = next(iter(data.train_dataloader()))
    steps, memory = {}, {}
    for name, arm in arms.items():
        torch.manual_seed(0)
        model = build(data, arm, model_settings)
        model(*batch[:-1])  # creates the lazy layers
        steps[name] = measure.training_step(model, batch)
        memory[name] = measure.saved_bytes(lambda m=model: m.training_step(batch))[0]
    times = measure.interleaved_times(steps, rounds=rounds, per_round=2)
    return dict(step_seconds=times, saved_bytes=memory, rounds=rounds, per_round=2)


def provenance():
    commit, dirty = commit_and_dirty("d2l_lite", "scripts")
    return dict(commit=commit, dirty=dirty, cpu=cpu_model(),
                cpu_capability=torch.backends.cpu.get_cpu_capability(), cores=os.cpu_count(),
                torch=torch.__version__, python=platform.python_version(),
                d2l_lite=d2l.__version__)


def save(results, out):
    tmp = out.with_suffix(out.suffix + ".part")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny configuration (CI)")
    parser.add_argument("--out", type=Path, default=REPO / "book" / "_larger_scale.json")
    args = parser.parse_args()
    config = settings(args.smoke)
    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    if results.get("settings_key") != key:
        results = dict(settings_key=key, settings=config, runs=[], sessions=[])
    session = dict(started=datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), **provenance())
    results["sessions"].append(session)
    start = time.perf_counter()
    data = MTFraEngSplit(**config["data"])
    results["data"] = dict(
        num_train=data.num_train, val_sentences=len(data.val_sources),
        test_sentences=len(data.test_sources), val_pairs=data.num_val,
        test_references=sum(map(len, data.test_references)),
        src_vocab=len(data.src_vocab), tgt_vocab=len(data.tgt_vocab),
        test_src_oov=data.oov_rate(data.test_sources, data.src_vocab),
        test_ref_oov=data.oov_rate([r for rs in data.test_references for r in rs],
                                   data.tgt_vocab))
    done = {(r["arm"], r["seed"]) for r in results["runs"]}
    for seed in config["seeds"]:
        for name, arm in config["arms"].items():
            if (name, seed) in done:
                continue
            print(f"{name}, seed {seed} ...", flush=True)
            run = train_and_score(data, name, arm, seed, config["model"])
            run["session"] = len(results["sessions"]) - 1
            results["runs"].append(run)
            save(results, args.out)
            print(f"  {len(run['history'])} epochs, best {run['best_epoch']}, BLEU "
                  f"{run['bleu']:.1f}, chrF {run['chrf']:.1f}, {run['seconds']:.0f} s", flush=True)
    if "timing" not in results:
        print("timing ...", flush=True)
        results["timing"] = dict(timing(data, config["arms"], config["model"],
                                        rounds=3 if args.smoke else 15),
                                 session=len(results["sessions"]) - 1)
    session["seconds"] = time.perf_counter() - start
    save(results, args.out)
    print(f"done in {session['seconds']:.0f} s -> {args.out}")


if __name__ == "__main__":
    sys.exit(main())
