"""The book's flagship models: §11.4's model with its query taken after the decoder's step,
with additive and with scaled dot-product scoring, a decoder without attention, and §11.4's
model as it is, trained on the whole corpus.

    python -m d2l_lite.studies.flagships            # every arm (20 to 100 minutes each)
    python -m d2l_lite.studies.flagships --smoke    # the same code on a tiny configuration

Every arm trains on ``whole_corpus.MTFraEngAll`` (every pair whose English sentence is not
held out, each once an epoch), at §11.4's sizes (embedding and hidden 256, two layers), for
``max_epochs`` epochs with the attending study's settings otherwise; an arm is described as
the attending study describes its arms (``attending.make_model``). In that study, §11.4's
model translated as well with uniform attention weights as with its own; with the query
taken after the decoder's step (``variants.QueryAfterDecoder``: Luong et al.'s order, whose
output layer also reads the context) uniform weights cost chrF and the model translated
better than §11.4's. The flagships are §11.4's model with that change, named as such
("additive, query after", "dot, query after"), beside §10.7's decoder without attention and
§11.4's model as it is, all at the same budget. Each arm
is evaluated as the attending study evaluates its arms (held-out natural sentences by length
bucket: BLEU, chrF, chrF with uniform weights, entropy, the argmax alignment), once with its
float32 weights and once with its weights rounded to 8 bits per row
(``explorer.rounded_state``): the weights the chapters and the explorer load. Results go to
``book/_flagships.json`` (``d2l_lite.studies``), with the vocabularies a chapter needs to
rebuild the models; the 8-bit weights, which the chapters read, to ``book/_flagships/<arm>.pt``
(committed; ``chapters.flagship.load`` reads them), the float32 ones to
``models/flagships/``. It needs the CPU to itself.
"""

import hashlib
import re

import torch

from d2l_lite import studies
from d2l_lite.explorer import rounded_state
from d2l_lite.studies import attending
from d2l_lite.studies.whole_corpus import MTFraEngAll

DATA = dict(batch_size=128, max_len=40, long_from=17, num_test_sentences=4000,
            num_val_sentences=2000, per_bucket=300)
MODEL = dict(attending.MODEL, max_epochs=4)
PROBE_SENTENCES = 300  # validation sentences translated after every epoch
SEEDS = [0]
SMOKE = dict(data=dict(limit=400, num_test_sentences=100, num_val_sentences=40, per_bucket=5),
             model=dict(embed_size=16, num_hiddens=16, max_epochs=2), probe=20, seeds=[0])
ARMS = {"additive, query after": dict(query="after"),
        "dot, query after": dict(scoring="dot", query="after"),
        "no attention": dict(decoder="baseline"),
        "§11.4": dict()}
"""The arms, in the order they run, in the attending study's terms."""


def settings(smoke):
    data, model, seeds, probe = dict(DATA), dict(MODEL), list(SEEDS), PROBE_SENTENCES
    if smoke:
        data.update(SMOKE["data"])
        model.update(SMOKE["model"])
        seeds, probe = SMOKE["seeds"], SMOKE["probe"]
    return dict(data=data, model=model, seeds=seeds, arms=dict(ARMS), probe_sentences=probe)


def slug(arm):
    """The file name of an arm's weights: 'no attention' -> 'no-attention'."""
    return re.sub(r"[^a-z0-9]+", "-", arm.lower()).strip("-")


def eight_bit(data, name, arm, run, config, served):
    """Evaluate ``run``'s model (its float32 weights, saved by the attending study's
    ``train_and_evaluate``) with its weights rounded to 8 bits, and write those weights to
    ``served/<slug>.pt``; returns what goes into the run's record."""
    model = attending.make_model(data, arm, run["seed"], config["model"])
    model.load_state_dict(torch.load(studies.REPO / run["weights"], weights_only=True))
    rounded, packed = rounded_state(model.state_dict())
    model.load_state_dict(rounded)
    served.mkdir(parents=True, exist_ok=True)
    path = served / f"{slug(name)}.pt"
    torch.save({k: packed.get(k, v) for k, v in rounded.items()}, path)
    found = attending.evaluate(model.eval(), data, arm.get("decoder") != "baseline")
    found["buckets"] = attending.by_bucket(data, found["hypotheses"])
    if "uniform_hypotheses" in found:
        found["uniform_buckets"] = attending.by_bucket(data, found["uniform_hypotheses"])
    return dict(served=studies.shown(path),
                served_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                eight_bit=found)


def run_all(results, config, smoke):
    data = MTFraEngAll(**config["data"])
    references = attending._val_references(data)
    tokens = int(data.arrays[2][:data.num_train].sum()) + int(
        (data.arrays[3][:data.num_train] != data.tgt_vocab["<pad>"]).sum())
    results.data["data"] = dict(
        num_train=data.num_train, num_val=data.num_val, train_tokens=tokens,
        num_steps=data.num_steps, buckets=[list(b) for b in data.buckets],
        src_vocab=data.src_vocab.idx_to_token, tgt_vocab=data.tgt_vocab.idx_to_token,
        natural_sources=data.natural_sources, natural_references=data.natural_references)
    lengths = [len(s.split()) for s in data.natural_sources]
    served = results.path.parent / results.path.stem
    for seed in config["seeds"]:
        for name, arm in config["arms"].items():
            if results.done(arm=name, seed=seed):
                continue
            print(f"{name}, seed {seed} ...", flush=True)
            run = attending.train_and_evaluate(data, name, arm, seed, config, results.models,
                                               tokens, references)
            run.update(eight_bit(data, name, arm, run, config, served))
            results.add(run)
            print(f"  {run['seconds'] / 60:.1f} min; float32:\n"
                  f"{attending.summary(run, lengths)}\n  8-bit:\n"
                  f"{attending.summary(dict(natural=run['eight_bit']), lengths)}", flush=True)


if __name__ == "__main__":
    studies.run_study("flagships", __doc__.split("\n\n")[0], settings, run_all)
