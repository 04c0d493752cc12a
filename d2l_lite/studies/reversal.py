"""The reversal task of the chapter on attention at work: does attention align where the
right alignment is known?

    python -m d2l_lite.studies.reversal            # the full study (minutes on two cores)
    python -m d2l_lite.studies.reversal --smoke    # the same code on a tiny configuration
    python -m d2l_lite.studies.reversal --restart  # start over (d2l_lite/studies/__init__.py)

Data: ``d2l_lite.studies.synthetic.Reversal``, digit strings of 1 to 30 digits and their
reversals. Arms: §10.7's decoder without attention, §11.4's attention decoder (additive
scoring) after its one-way encoder, and after the paper's bidirectional encoder
(``d2l_lite.studies.bahdanau``). Each is trained with ``experiment.train`` for every seed, keeping
the weights of its best validation loss, then greedily reverses the test strings (batches of
one length); for the attention arms, each string's attention is measured against the known
alignment (``synthetic.alignment_scores``). Results go to ``book/_reversal.json``
(``d2l_lite.studies``).
"""

import time

import d2l_lite as d2l
from d2l_lite import studies
from d2l_lite.chapters import experiment
from d2l_lite.studies.bahdanau import BidirectionalEncoder
from d2l_lite.studies.long_sentences import translate_by_length
from d2l_lite.studies.synthetic import Reversal, alignment_scores, reverse

DATA = dict(batch_size=64, max_len=30, num_train=10_000, num_val=500, test_per_length=20)
MODEL = dict(embed_size=32, num_hiddens=64, num_layers=2, dropout=0.0, lr=0.005,
             gradient_clip_val=1, max_epochs=8)
PATIENCE = 3
SEEDS = [0, 1]
SMOKE = dict(data=dict(num_train=300, num_val=30, test_per_length=2, max_len=12),
             model=dict(max_epochs=1), seeds=[0])
ARMS = {"no attention": dict(decoder="baseline"),
        "one-way": dict(scoring="additive"),
        "bidirectional": dict(scoring="additive", encoder="bidirectional")}
MAP_LENGTHS = (8, 17, 29)  # strings (seed 0) whose attention maps the chapter shows


def settings(smoke):
    data, model, seeds = dict(DATA), dict(MODEL), list(SEEDS)
    if smoke:
        data.update(SMOKE["data"])
        model.update(SMOKE["model"])
        seeds = SMOKE["seeds"]
    return dict(data=data, model=model, patience=PATIENCE, seeds=seeds, arms=ARMS)


def arm_arguments(arm):
    if arm.get("decoder") == "baseline":
        return dict(decoder=d2l.Seq2SeqDecoder)
    out = dict(scoring=arm["scoring"], fast=True)
    if arm.get("encoder") == "bidirectional":
        out["encoder"] = BidirectionalEncoder
    return out


def run_all(results, config, smoke):
    data = Reversal(**config["data"], seed=0)
    results.data["data"] = dict(num_train=data.num_train, num_val=data.num_val,
                                test_sources=data.test_sources)
    for seed in config["seeds"]:
        for name, arm in config["arms"].items():
            if results.done(arm=name, seed=seed):
                continue
            print(f"{name}, seed {seed} ...", flush=True)
            start = time.perf_counter()
            model, history = experiment.train(data, seed=seed, patience=config["patience"],
                                              **arm_arguments(arm), **config["model"])
            attention = arm.get("decoder") != "baseline"
            translations, maps = translate_by_length(model, data, data.test_sources,
                                                     save_attention_weights=attention)
            run = dict(arm=name, seed=seed, history=history,
                       best_epoch=min(history, key=lambda r: r["val_loss"])["epoch"],
                       correct=[" ".join(t) == reverse(s)
                                for t, s in zip(translations, data.test_sources)])
            if attention:
                run["aligned"], run["entropy"] = alignment_scores(maps, data.test_sources)
                run["right_neighbour"], _ = alignment_scores(maps, data.test_sources, shift=1)
                if seed == config["seeds"][0]:
                    lengths = [len(s.split()) for s in data.test_sources]
                    run["maps"] = {data.test_sources[lengths.index(n)]:
                                   maps[lengths.index(n)].tolist()
                                   for n in MAP_LENGTHS if n in lengths}
            run["seconds"] = time.perf_counter() - start
            results.add(run)
            print(f"  {len(history)} epochs, best {run['best_epoch']}, "
                  f"{sum(run['correct']) / len(run['correct']):.0%} reversed exactly, "
                  f"{run['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    studies.run_study("reversal", __doc__.split("\n\n")[0], settings, run_all)
