"""The larger-scale study: do the exercises' answers hold with longer sentences and more data?

    python -m d2l_lite.studies.larger_scale            # the full study (about an hour on two cores)
    python -m d2l_lite.studies.larger_scale --smoke    # the same code on a tiny configuration
    python -m d2l_lite.studies.larger_scale --restart  # start over (d2l_lite/studies/__init__.py)

Data: ``d2l_lite.studies.split.MTFraEngSplit`` (English sentences of 5 to 12 tokens, splits
disjoint by English sentence, all references of a held-out sentence kept). Arms: §10.7's
decoder without attention, and Bahdanau's decoder with GRU or LSTM and additive or dot-product
scoring, the attention arms through ``d2l_lite.fast``. For each seed and arm, one at a time:
``experiment.train`` with the same epoch limit and early stopping on the validation loss,
then greedy translation of the test sentences, kept whole for the chapter's paired bootstrap,
scored with sacreBLEU's corpus BLEU and chrF against all references, and each sentence's
normalised attention entropy; the trained weights are kept out of git, under
``models/larger_scale/`` (for the attention explorer, which serves the best of the book's
models). Then one timing phase, all arms interleaved in this process
(timing comparisons come from one CPU in one session): time and activation memory of a
training step. Results go to ``book/_larger_scale.json`` (``d2l_lite.studies``). It needs
the CPU to itself: two torch processes on two cores slow each other badly.
"""

import hashlib
import statistics
import time

import torch

import d2l_lite as d2l
from d2l_lite import studies
from d2l_lite.chapters import experiment
from d2l_lite.measures import cost, scores
from d2l_lite.studies.split import MTFraEngSplit

DATA = dict(num_train=16_000, num_val=1000, num_test=1000, min_len=5, max_len=12, num_steps=16,
            batch_size=128)
MODEL = dict(embed_size=128, num_hiddens=128, num_layers=2, dropout=0.2, lr=0.005,
             gradient_clip_val=1, max_epochs=25)
PATIENCE = 2
SEEDS = [0, 1, 2]
SMOKE = dict(data=dict(num_train=300, num_val=30, num_test=30, batch_size=64),
             model=dict(embed_size=16, num_hiddens=16, max_epochs=2), seeds=[0])
ARMS = {"no attention": dict(decoder="baseline"),
        "GRU + additive": dict(rnn="gru", scoring="additive"),
        "GRU + dot": dict(rnn="gru", scoring="dot"),
        "LSTM + additive": dict(rnn="lstm", scoring="additive"),
        "LSTM + dot": dict(rnn="lstm", scoring="dot")}
MAP_SENTENCES = 4  # test sentences whose attention maps (seed 0) the chapter shows
TIMING_ROUNDS = 15


def settings(smoke):
    data, model, seeds = dict(DATA), dict(MODEL), list(SEEDS)
    if smoke:
        data.update(SMOKE["data"])
        model.update(SMOKE["model"])
        seeds = SMOKE["seeds"]
    return dict(data=data, model=model, patience=PATIENCE, seeds=seeds, arms=ARMS,
                timing_rounds=3 if smoke else TIMING_ROUNDS)


def arm_arguments(arm):
    """``experiment.make_model``/``train`` arguments of an arm."""
    if arm.get("decoder") == "baseline":
        return dict(decoder=d2l.Seq2SeqDecoder)
    return dict(rnn=arm["rnn"], scoring=arm["scoring"], fast=True)


def train_and_score(data, name, arm, seed, config, models):
    """One run: train with early stopping, keep the weights in the folder ``models``, then
    translate and score the test sentences."""
    start = time.perf_counter()
    model, history = experiment.train(data, seed=seed, patience=config["patience"],
                                      **arm_arguments(arm), **config["model"])
    weights = models / f"{name.replace(' + ', '-').replace(' ', '-').lower()}-seed{seed}.pt"
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights)
    translations, _ = experiment.translate(model, data, data.test_sources)
    hypotheses = [" ".join(t) for t in translations]
    best = min(history, key=lambda r: r["val_loss"])
    result = dict(arm=name, seed=seed, history=history, best_epoch=best["epoch"],
                  **scores.corpus_scores(hypotheses, data.test_references),
                  hypotheses=hypotheses, weights=studies.shown(weights),
                  weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest(),
                  seconds=time.perf_counter() - start)
    if arm.get("decoder") != "baseline":
        summary = experiment.attention_summary(model, data, data.test_sources)
        result["attention_entropy"] = summary["entropy"]  # one per test sentence
        if seed == config["seeds"][0]:
            _, maps = experiment.translate(model, data, data.test_sources[:MAP_SENTENCES],
                                           save_attention_weights=True)
            result["maps"] = [m.tolist() for m in maps]
    return result


def timing(data, config):
    """Time and activation memory of one training step of each arm, all interleaved."""
    batch = next(iter(data.train_dataloader()))
    steps, memory = {}, {}
    for name, arm in config["arms"].items():
        model = experiment.make_model(data, seed=0, **arm_arguments(arm), **config["model"])
        steps[name] = cost.step_function(model, batch)
        memory[name] = cost.activation_bytes(lambda m=model: m.training_step(batch),
                                                exclude=[*model.parameters(), *batch])[0]
    times = cost.interleaved_times(steps, rounds=config["timing_rounds"], per_round=2)
    return dict(step_seconds=times, activation_bytes=memory, rounds=config["timing_rounds"],
                per_round=2)


def run_all(results, config, smoke):
    data = MTFraEngSplit(**config["data"])
    results.data["data"] = dict(
        num_train=data.num_train, val_sentences=len(data.val_sources),
        test_sentences=len(data.test_sources), val_pairs=data.num_val,
        test_references=sum(map(len, data.test_references)),
        src_vocab=len(data.src_vocab), tgt_vocab=len(data.tgt_vocab))
    for seed in config["seeds"]:
        for name, arm in config["arms"].items():
            if results.done(arm=name, seed=seed):
                continue
            print(f"{name}, seed {seed} ...", flush=True)
            run = train_and_score(data, name, arm, seed, config, results.models)
            results.add(run)
            print(f"  {len(run['history'])} epochs, best {run['best_epoch']}, BLEU "
                  f"{run['bleu']:.1f}, chrF {run['chrf']:.1f}"
                  + (f", entropy {statistics.mean(run['attention_entropy']):.2f}"
                     if "attention_entropy" in run else "")
                  + f", {run['seconds']:.0f} s", flush=True)
    if "timing" not in results.data:
        print("timing ...", flush=True)
        results.check_code()
        results.data["timing"] = dict(timing(data, config),
                                      session=len(results.data["sessions"]) - 1)
        results.save()


if __name__ == "__main__":
    studies.run_study("larger_scale", __doc__.split("\n\n")[0], settings, run_all)
