"""The study of what makes §11.4's model attend on real sentences.

    python -m d2l_lite.studies.attending            # the full study (about two hours on two cores)
    python -m d2l_lite.studies.attending --smoke    # the same code on a tiny configuration

Trained on 60,000 single English-French pairs (``long_sentences.MTFraEngLong`` with
``max_joins=1``), §11.4's model at its own sizes (embedding and hidden 256, two layers) learns
to translate short sentences, yet its attention stays near uniform, and uniform weights
translate as well as its own: the decoder does not use where it looks. Each arm below changes
one thing that could explain it (a hypothesis until measured), trained with the same data,
seed, batches and number of steps:

* ``§11.4``: the model as §11.4 builds it; the decoder starts from the encoder's last state;
* ``zeros`` / ``learned``: the decoder starts from zeros, or from a learned constant
  (``variants.StartDecoder``): the hypothesis that the encoder's last state is a path around
  attention, which carries a short sentence whole;
* ``bidirectional``: the paper's bidirectional encoder, its decoder started from the
  backward state (``bahdanau.BidirectionalEncoder``): that the one-way encoder's keys are
  the problem; ``bidirectional, zeros``: both changes;
* ``query after``: the query is the decoder's state after the step, not before it
  (``variants.QueryAfterDecoder``): that a query one step behind looks at the wrong word;
* ``dot`` / ``dot, zeros``: scaled dot-product scoring (Exercise 2), from the encoder's
  state and from zeros;
* ``no weight dropout``: no dropout on the attention weights;
* ``no attention``: §10.7's decoder, for the translation quality attention adds.

The number of steps is measured within every run: after each epoch, ``probe`` translates a
fixed set of validation sentences with the model's weights and with uniform ones.
After training, each arm greedily translates the natural test sentences of every length
bucket with its own attention and with uniform weights (``bahdanau.uniform_attention``); the
run keeps the hypotheses, each sentence's normalised attention entropy and the position of
its largest weight at every step (how monotonic the alignment is). Results go to
``book/_attending.json`` (``d2l_lite.studies``); the weights stay out of git, under
``models/attending/``. It needs the CPU to itself.
"""

import hashlib
import re
import statistics
import time

import torch

import d2l_lite as d2l
from d2l_lite import studies
from d2l_lite.chapters import experiment
from d2l_lite.d2l.data import preprocess, read_lines
from d2l_lite.d2l.train import Trainer
from d2l_lite.d2l.utils import set_seed
from d2l_lite.measures import scores
from d2l_lite.studies.bahdanau import BidirectionalEncoder, uniform_attention
from d2l_lite.studies.long_sentences import (
    MTFraEngLong,
    _groups,
    attention_entropy,
    bucket_of,
    translate_by_length,
)
from d2l_lite.studies.variants import QueryAfterDecoder, StartDecoder, swap_decoder

DATA = dict(batch_size=128, num_train=60_000, num_val=2000, max_joins=1, max_len=40,
            long_from=17, num_test_sentences=4000, num_val_sentences=2000, per_bucket=300)
MODEL = dict(embed_size=256, num_hiddens=256, num_layers=2, dropout=0.2, lr=0.005,
             gradient_clip_val=1, max_epochs=3)
PROBE_SENTENCES = 300  # validation sentences translated after every epoch
SEEDS = [0]
SMOKE = dict(data=dict(num_train=400, num_val=40, num_test_sentences=100, num_val_sentences=40,
                       per_bucket=5),
             model=dict(embed_size=16, num_hiddens=16, max_epochs=2), probe=20, seeds=[0])
ARMS = {"§11.4": dict(),
        "zeros": dict(start="zeros"),
        "bidirectional": dict(encoder="bidirectional"),
        "bidirectional, zeros": dict(encoder="bidirectional", start="zeros"),
        "learned": dict(start="learned"),
        "query after": dict(query="after"),
        "dot": dict(scoring="dot"),
        "dot, zeros": dict(scoring="dot", start="zeros"),
        "no weight dropout": dict(attention_dropout=0.0),
        "no attention": dict(decoder="baseline")}
"""The arms, in the order they run: what each changes from §11.4's model."""


def settings(smoke):
    data, model, seeds, probe = dict(DATA), dict(MODEL), list(SEEDS), PROBE_SENTENCES
    if smoke:
        data.update(SMOKE["data"])
        model.update(SMOKE["model"])
        seeds, probe = SMOKE["seeds"], SMOKE["probe"]
    return dict(data=data, model=model, seeds=seeds, arms=dict(ARMS), probe_sentences=probe)


def make_model(data, arm, seed, model_settings):
    """The arm's model, drawn from ``seed`` as ``experiment.make_model`` draws §11.4's: the
    arms share every part they have in common."""
    hp = {k: v for k, v in {**model_settings, **arm}.items()
          if k in experiment.HPARAMS and k != "max_epochs"}
    scoring = arm.get("scoring", "additive")
    kwargs = dict(seed=seed, scoring=scoring, attention_dropout=arm.get("attention_dropout"),
                  **hp)
    if arm.get("decoder") == "baseline":
        return experiment.make_model(data, decoder=d2l.Seq2SeqDecoder, **kwargs)
    if arm.get("encoder") == "bidirectional":
        kwargs["encoder"] = BidirectionalEncoder
    if arm.get("query") == "after":  # written like §11.4's decoder: the reference model
        model = experiment.make_model(data, fast=False, **kwargs)
        return swap_decoder(model, QueryAfterDecoder, seed, hp, scoring)
    model = experiment.make_model(data, fast=True, **kwargs)
    if arm.get("start", "encoder") != "encoder":
        swap_decoder(model, StartDecoder, seed, hp, scoring, start=arm["start"])
    return model


class ProbingTrainer(Trainer):
    """``Trainer`` that adds ``probe(model)``'s dict to every epoch's record."""

    def __init__(self, probe, **kwargs):
        super().__init__(**kwargs)
        self.probe = probe

    def fit_epoch(self):
        record = super().fit_epoch()
        start = time.perf_counter()
        record.update(self.probe(self.model), probe_seconds=time.perf_counter() - start)
        return record


def probe_sentences(data, count):
    """``count`` validation sentences of 2 to 16 tokens, in a fixed order."""
    sentences = sorted(s for s in data.val_sentences if 2 <= len(s.split()) <= 16)
    return sentences[::max(1, len(sentences) // count)][:count]


def make_probe(data, sentences, references, attention):
    """A probe: chrF of the greedy translations of ``sentences``, and for an attention model,
    their mean normalised entropy and chrF with uniform weights."""
    def probe(model):
        translations, maps = translate_by_length(model, data, sentences,
                                                 save_attention_weights=attention)
        out = dict(chrf=scores.corpus_scores([" ".join(t) for t in translations],
                                             references)["chrf"])
        if attention:
            out["entropy"] = statistics.fmean(e for e in attention_entropy(maps, translations)
                                              if e is not None)
            with uniform_attention(model):
                uniform, _ = translate_by_length(model, data, sentences)
            out["uniform_chrf"] = scores.corpus_scores([" ".join(t) for t in uniform],
                                                       references)["chrf"]
        return out
    return probe


def alignment(maps, translations):
    """Per sentence, the source position of the largest weight at each step up to and
    including <eos>."""
    return [W[:min(len(t) + 1, W.shape[0])].argmax(-1).tolist()
            for W, t in zip(maps, translations)]


def evaluate(model, data, attention):
    """Hypotheses of the natural test sentences; for an attention model also each sentence's
    entropy and alignment, and the hypotheses with uniform weights."""
    translations, maps = translate_by_length(model, data, data.natural_sources,
                                             save_attention_weights=attention)
    out = dict(hypotheses=[" ".join(t) for t in translations])
    if attention:
        out["entropy"] = attention_entropy(maps, translations)
        out["alignment"] = alignment(maps, translations)
        with uniform_attention(model):
            uniform, _ = translate_by_length(model, data, data.natural_sources)
        out["uniform_hypotheses"] = [" ".join(t) for t in uniform]
    return out


def by_bucket(data, hypotheses):
    """Corpus BLEU and chrF of ``hypotheses`` of the natural test sentences, per bucket."""
    out = {}
    for low, high in data.buckets:
        rows = [i for i, s in enumerate(data.natural_sources)
                if bucket_of(len(s.split()), data.buckets) == (low, high)]
        if rows:
            found = scores.corpus_scores([hypotheses[i] for i in rows],
                                         [data.natural_references[i] for i in rows])
            out[f"{low}-{high}"] = dict(bleu=found["bleu"], chrf=found["chrf"])
    return out


def train_and_evaluate(data, name, arm, seed, config, models, tokens, references):
    """Train one arm with one seed and evaluate it; ``references`` maps every validation
    sentence to its references (for the probe)."""
    start = time.perf_counter()
    attention = arm.get("decoder") != "baseline"
    sentences = probe_sentences(data, config["probe_sentences"])
    probe = make_probe(data, sentences, [references[s] for s in sentences], attention)
    model = make_model(data, arm, seed, config["model"])
    model.board.display = False
    set_seed(seed)  # dropout
    trainer = ProbingTrainer(probe, max_epochs=config["model"]["max_epochs"],
                             gradient_clip_val=config["model"]["gradient_clip_val"])
    history = trainer.fit(model, experiment.seeded_batches(data, seed))
    for record in history:
        record["tokens_per_second"] = tokens / record["seconds"]
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    weights = models / f"{slug}-seed{seed}.pt"
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights)
    run = dict(arm=name, seed=seed, history=history, weights=studies.shown(weights),
               weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest(),
               parameters=experiment.num_parameters(model),
               natural=evaluate(model, data, attention))
    run["natural"]["buckets"] = by_bucket(data, run["natural"]["hypotheses"])
    if attention:
        run["natural"]["uniform_buckets"] = by_bucket(data,
                                                      run["natural"]["uniform_hypotheses"])
    run["seconds"] = time.perf_counter() - start
    return run


def summary(run, lengths):
    """One line per bucket: BLEU, chrF, chrF with uniform weights, mean entropy; ``lengths``
    are the natural test sentences' lengths."""
    natural, lines = run["natural"], []
    for bucket, found in natural["buckets"].items():
        line = f"    {bucket}: BLEU {found['bleu']:.1f} chrF {found['chrf']:.1f}"
        if "uniform_buckets" in natural:
            low, high = map(int, bucket.split("-"))
            entropies = [e for e, n in zip(natural["entropy"], lengths)
                         if low <= n <= high and e is not None]
            line += (f", uniform chrF {natural['uniform_buckets'][bucket]['chrf']:.1f}, "
                     f"entropy {statistics.fmean(entropies):.2f}")
        lines.append(line)
    return "\n".join(lines)


def run_all(results, config, smoke):
    data = MTFraEngLong(**config["data"])
    references = _val_references(data)
    tokens = int(data.arrays[2][:data.num_train].sum()) + int(
        (data.arrays[3][:data.num_train] != data.tgt_vocab["<pad>"]).sum())
    results.data["data"] = dict(
        num_train=data.num_train, num_val=data.num_val, train_tokens=tokens,
        buckets=[list(b) for b in data.buckets], src_vocab=len(data.src_vocab),
        tgt_vocab=len(data.tgt_vocab), natural_sources=data.natural_sources,
        natural_references=data.natural_references)
    lengths = [len(s.split()) for s in data.natural_sources]
    for seed in config["seeds"]:
        for name, arm in config["arms"].items():
            if results.done(arm=name, seed=seed):
                continue
            print(f"{name}, seed {seed} ...", flush=True)
            run = train_and_evaluate(data, name, arm, seed, config, results.models, tokens,
                                     references)
            results.add(run)
            per_epoch = ", ".join(
                f"{h['chrf']:.1f}" + (f"/{h['uniform_chrf']:.1f}/{h['entropy']:.2f}"
                                      if "entropy" in h else "") for h in run["history"])
            print(f"  {statistics.fmean(h['tokens_per_second'] for h in run['history']):,.0f} "
                  f"tokens/s; probe chrF/uniform/entropy by epoch: {per_epoch}; "
                  f"{run['seconds'] / 60:.1f} min\n{summary(run, lengths)}", flush=True)


def _val_references(data):
    """Every validation sentence -> all its references (from the corpus's pairs)."""
    groups = _groups(preprocess(read_lines(data.path, None)))
    return {s: groups[s] for s in data.val_sentences}


if __name__ == "__main__":
    studies.run_study("attending", __doc__.split("\n\n")[0], settings, run_all)
