"""The study behind the chapter on attention at work: does Bahdanau attention hold translation
quality as sentences grow, where the decoder without attention loses it, and why was §11.4's
attention diffuse?

    python -m d2l_lite.studies.attention_at_work            # the full study (hours on two cores)
    python -m d2l_lite.studies.attention_at_work --smoke    # the same code on a tiny configuration
    python -m d2l_lite.studies.attention_at_work --restart  # start over (see d2l_lite.studies)

Data: ``d2l_lite.studies.long_sentences.MTFraEngLong`` (joined pairs for training, natural and
joined test sentences by length bucket). Arms, each trained with ``experiment.train`` (early
stopping on the validation loss) for every seed (``SEEDS``), one at a time:

* ``no attention``: §10.7's decoder, the whole source in one state;
* ``additive``: §11.4's model (one-way encoder, dropout on the attention weights);
* ``additive, bidirectional``: the paper's bidirectional encoder
  (``d2l_lite.studies.bahdanau``);
* ``additive, no weight dropout``: §11.4's model without dropout on the attention weights;
* ``dot``: §11.4's model with scaled dot-product scoring (Exercise 2).

Every attention arm runs through ``d2l_lite.fast``. Each run greedily translates both test
sets (batches of one source length), keeps the hypotheses whole (the chapter scores them by
bucket with a paired bootstrap) and each sentence's attention entropy, then translates them
again with uniform attention weights (``bahdanau.uniform_attention``): how much a model relies
on where it looks. The trained weights are kept out of git, under ``models/attention_at_work/``
(the attention explorer serves the best of them). A last phase times a training step of each
arm on long batches, interleaved in this process. Results go to
``book/_attention_at_work.json`` (``d2l_lite.studies``), with the commit, the code's hash,
the settings and the machine of every session. It needs the CPU to itself.
"""

import hashlib
import statistics
import time

import torch

import d2l_lite as d2l
from d2l_lite import studies
from d2l_lite.chapters import experiment
from d2l_lite.measures import cost, scores
from d2l_lite.studies.bahdanau import BidirectionalEncoder, uniform_attention
from d2l_lite.studies.batching import LengthBatches
from d2l_lite.studies.long_sentences import (
    MTFraEngLong,
    attention_entropy,
    bucket_of,
    translate_by_length,
)

DATA = dict(batch_size=64, num_train=12_000, num_val=1000, max_joins=4, max_len=40,
            long_from=17, num_test_sentences=4000, num_val_sentences=2000, per_bucket=300)
MODEL = dict(embed_size=128, num_hiddens=128, num_layers=2, dropout=0.2, lr=0.005,
             gradient_clip_val=1, max_epochs=12)
PATIENCE = 2
SEEDS = [0, 1]  # paired seeds: two training runs per arm, about two hours on two cores
SMOKE = dict(data=dict(num_train=400, num_val=40, num_test_sentences=100, num_val_sentences=40,
                       per_bucket=5),
             model=dict(embed_size=16, num_hiddens=16, max_epochs=2), seeds=[0])
ARMS = {"no attention": dict(decoder="baseline"),
        "additive": dict(scoring="additive"),
        "additive, bidirectional": dict(scoring="additive", encoder="bidirectional"),
        "additive, no weight dropout": dict(scoring="additive", attention_dropout=0.0),
        "dot": dict(scoring="dot")}
TEST_SETS = ("natural", "joined")
MAPS_PER_SET = 3  # sentences (seed 0) whose attention maps the chapter shows, per test set
TIMING_LENGTH = 30  # source tokens of the timing phase's batch


def settings(smoke):
    data, model, seeds = dict(DATA), dict(MODEL), list(SEEDS)
    if smoke:
        data.update(SMOKE["data"])
        model.update(SMOKE["model"])
        seeds = SMOKE["seeds"]
    return dict(data=data, model=model, patience=PATIENCE, seeds=seeds, arms=ARMS,
                timing_rounds=2 if smoke else 10)


def arm_arguments(arm):
    """``experiment.make_model``/``train`` arguments of an arm."""
    if arm.get("decoder") == "baseline":
        return dict(decoder=d2l.Seq2SeqDecoder)
    out = dict(scoring=arm["scoring"], fast=True)
    if arm.get("encoder") == "bidirectional":
        out["encoder"] = BidirectionalEncoder
    if "attention_dropout" in arm:
        out["attention_dropout"] = arm["attention_dropout"]
    return out


def map_sentences(data, test_set):
    """The test sentences whose maps the chapter shows: the first of buckets 2 to 4."""
    sources = getattr(data, f"{test_set}_sources")
    picked = []
    for bucket in data.buckets[1:1 + MAPS_PER_SET]:
        picked += [s for s in sources if bucket_of(len(s.split()), data.buckets) == bucket][:1]
    return picked


def evaluate(model, data, test_set, attention, keep_maps):
    """Hypotheses of one test set, with the attention's entropies and, with ``attention``,
    the hypotheses under uniform attention."""
    sources = getattr(data, f"{test_set}_sources")
    translations, maps = translate_by_length(model, data, sources,
                                             save_attention_weights=attention)
    out = dict(hypotheses=[" ".join(t) for t in translations])
    if attention:
        out["entropy"] = attention_entropy(maps, translations)
        with uniform_attention(model):
            uniform, _ = translate_by_length(model, data, sources)
        out["uniform_hypotheses"] = [" ".join(t) for t in uniform]
        if keep_maps:
            index = {s: i for i, s in enumerate(sources)}
            out["maps"] = {s: maps[index[s]].tolist() for s in map_sentences(data, test_set)}
    return out


def train_and_evaluate(data, name, arm, seed, config, models):
    start = time.perf_counter()
    model, history = experiment.train(data, seed=seed, patience=config["patience"],
                                      **arm_arguments(arm), **config["model"])
    weights = models / f"{name.replace(', ', '-').replace(' ', '-')}-seed{seed}.pt"
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights)
    best = min(history, key=lambda r: r["val_loss"])
    run = dict(arm=name, seed=seed, history=history, best_epoch=best["epoch"],
               weights=studies.shown(weights),
               weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest())
    attention = arm.get("decoder") != "baseline"
    for test_set in TEST_SETS:
        run[test_set] = evaluate(model, data, test_set, attention,
                                 keep_maps=attention and seed == config["seeds"][0])
        references = getattr(data, f"{test_set}_references")
        run[test_set].update(scores.corpus_scores(run[test_set]["hypotheses"], references))
    run["seconds"] = time.perf_counter() - start
    return run


def timing(data, config):
    """Time and activation memory of one training step of each arm on a batch of long
    sentences (``TIMING_LENGTH`` source tokens), all interleaved."""
    lengths = data.arrays[2][:data.num_train]
    length = TIMING_LENGTH + 1 if (lengths == TIMING_LENGTH + 1).any() else int(lengths.max())
    rows = (lengths == length).nonzero().flatten()[:data.batch_size]
    batch = next(iter(LengthBatches(data.arrays, rows.tolist(), len(rows),
                                    data.tgt_vocab["<pad>"], shuffle=False)))
    steps, memory = {}, {}
    for name, arm in config["arms"].items():
        model = experiment.make_model(data, seed=0, **arm_arguments(arm), **config["model"])
        steps[name] = cost.step_function(model, batch)
        memory[name] = cost.activation_bytes(lambda m=model: m.training_step(batch),
                                                exclude=[*model.parameters(), *batch])[0]
    times = cost.interleaved_times(steps, rounds=config["timing_rounds"], per_round=2)
    return dict(step_seconds=times, activation_bytes=memory, rounds=config["timing_rounds"],
                per_round=2, batch_shape=list(batch[0].shape), target_steps=batch[1].shape[1])


def run_all(results, config, smoke):
    data = MTFraEngLong(**config["data"])
    tokens = int(data.arrays[2][:data.num_train].sum()) + int(
        (data.arrays[3][:data.num_train] != data.tgt_vocab["<pad>"]).sum())
    lengths = [len(s.split()) for s in data.train_sentences | data.val_sentences] + [
        len(s.split()) for s in data.test_sentences]
    corpus = {f"{lo}-{hi}": sum(lo <= n <= hi for n in lengths) for lo, hi in data.buckets}
    corpus[f"over {data.buckets[-1][1]}"] = sum(n > data.buckets[-1][1] for n in lengths)
    results.data["data"] = dict(
        corpus_lengths=corpus,
        num_train=data.num_train, num_val=data.num_val, num_steps=data.num_steps,
        train_tokens=tokens, buckets=[list(b) for b in data.buckets],
        src_vocab=len(data.src_vocab), tgt_vocab=len(data.tgt_vocab),
        **{f"{t}_{what}": getattr(data, f"{t}_{what}") for t in TEST_SETS
           for what in ("sources", "references")})
    for seed in config["seeds"]:
        for name, arm in config["arms"].items():
            if results.done(arm=name, seed=seed):
                continue
            print(f"{name}, seed {seed} ...", flush=True)
            run = train_and_evaluate(data, name, arm, seed, config, results.models)
            results.add(run)
            epoch_seconds = statistics.mean(h["seconds"] for h in run["history"])
            print(f"  {len(run['history'])} epochs, best {run['best_epoch']}, "
                  f"{tokens / epoch_seconds:,.0f} tokens/s; natural BLEU "
                  f"{run['natural']['bleu']:.1f}, joined BLEU {run['joined']['bleu']:.1f}; "
                  f"{run['seconds'] / 60:.0f} min", flush=True)
    if "timing" not in results.data:
        print("timing ...", flush=True)
        results.check_code()
        results.data["timing"] = dict(timing(data, config),
                                      session=len(results.data["sessions"]) - 1)
        results.save()


if __name__ == "__main__":
    studies.run_study("attention_at_work", __doc__.split("\n\n")[0], settings, run_all)
