"""How fast d2l_lite trains the §11.4 models, measured, and the figures the docs quote.

    python -m benchmarks.bench_training           # measure; write benchmarks/results.json and
                                                  # the figures in README.md, book/intro.md and
                                                  # benchmarks/RESULTS.md
    python -m benchmarks.bench_training --quick   # the same code, tiny (CI); writes _build/bench

Three measurements, each a paired comparison with its 95% interval
(``d2l_lite.measures.intervals``):

* **fit**: §11.4's experiment (GRU + additive, §11.4's settings, 30 epochs) trained by
  d2l_lite's fast path and by d2l 1.0.3 (``pip install --no-deps d2l==1.0.3``; skipped when it
  is not installed), seeds alternating; the ratio of fit times paired by seed, and the quality
  of both on one yardstick (masked validation loss, probe BLEU).
* **steps**: one training step of every §11.4 variant (``settings.VARIANTS``), the fast
  path against the reference (and d2l 1.0.3 for §11.4's own model, its progress plot left
  out), interleaved rounds, paired by round.
* **ablation**: what each piece of the fast path saves in a training step, from the reference
  to the fast path one piece at a time: the written-out cells with the embedding's gates for
  all steps at once (keys still prepared at every step), keys prepared once, no work on the
  targets' padding.

``results.json`` records the commit, the machine and the files of the code measured; the test
suite checks that the figures in the docs are those of the file and that the file describes
the tree's code (``d2l_lite.provenance.computed_by``). One process only: two torch processes
on two cores slow each other badly.
"""

import argparse
import contextlib
import datetime
import io
import json
import re
import statistics
import time
from pathlib import Path

import torch

import d2l_lite
from benchmarks import d2l_reference
from d2l_lite.chapters import experiment
from d2l_lite.d2l.download import fra_eng_path
from d2l_lite.measures import cost, intervals
from d2l_lite.provenance import (
    checkout_lock,
    code_changes,
    commit_and_dirty,
    imported_package_files,
    machine,
    snapshot,
)
from d2l_lite.settings import HPARAMS, PROBES, VARIANTS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

RESULTS = HERE / "results.json"
DOCS = [REPO / "README.md", REPO / "book" / "intro.md", HERE / "RESULTS.md"]
BLOCK = re.compile(r"(<!-- benchmark:start -->\n).*?(<!-- benchmark:end -->)", re.S)
FULL = dict(seeds=3, epochs=HPARAMS["max_epochs"], rounds=10, per_round=5)
QUICK = dict(seeds=2, epochs=1, rounds=2, per_round=1)
ENGS, FRAS = (list(x) for x in zip(*PROBES))


def interval(i):
    return dict(mean=i.mean, low=i.low, high=i.high, n=i.n, level=i.level)


def build(impl, data, rnn="gru", scoring="additive", d2l=None, seed=0):
    """A model of one variant: 'fast', 'reference', 'cells' (the fast decoder with keys
    prepared at every step, all positions), 'keys-once' (keys once, all positions) or 'd2l'."""
    if impl == "d2l":
        hp = HPARAMS
        args = (hp["embed_size"], hp["num_hiddens"], hp["num_layers"], hp["dropout"])
        torch.manual_seed(seed)
        encoder = d2l.Seq2SeqEncoder(len(data.src_vocab), *args)
        decoder = d2l.Seq2SeqAttentionDecoder(len(data.tgt_vocab), *args)
        return d2l.Seq2Seq(encoder, decoder, tgt_pad=data.tgt_vocab["<pad>"], lr=hp["lr"])
    if impl in ("fast", "reference"):
        return experiment.make_model(data, rnn, scoring, fast=impl == "fast", seed=seed)
    model = experiment.make_model(data, rnn, scoring, fast=True, seed=seed)
    model.decoder.project_keys_once = impl == "keys-once"
    # Seq2Seq: the loss over forward's (B, T, V) logits, padding positions computed too
    return d2l_lite.Seq2Seq(model.encoder, model.decoder, tgt_pad=data.tgt_vocab["<pad>"],
                            lr=HPARAMS["lr"])


def fit(data, config, d2l):
    """Fit times of §11.4's model, fast path against d2l 1.0.3, seeds alternating."""
    impls = ["fast", "d2l"]
    out = {impl: dict(seconds=[], val_loss=[], bleu=[]) for impl in impls}
    for seed in range(config["seeds"]):
        for impl in impls if seed % 2 == 0 else impls[::-1]:
            lib = d2l if impl == "d2l" else d2l_lite
            model = build(impl, data[impl], d2l=d2l, seed=seed)
            trainer = lib.Trainer(max_epochs=config["epochs"],
                                  gradient_clip_val=HPARAMS["gradient_clip_val"])
            torch.manual_seed(seed)
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # d2l prints its figure
                trainer.fit(model, data[impl])
            out[impl]["seconds"].append(time.perf_counter() - start)
            out[impl]["val_loss"].append(experiment.masked_val_loss(model, data["fast"]))
            out[impl]["bleu"].append(experiment.mean_bleu(model, data["fast"], ENGS, FRAS))
    ratio = intervals.paired_difference(out["fast"]["seconds"], out["d2l"]["seconds"],
                                      relative=True)
    return dict(runs=out, ratio=interval(ratio), epochs=config["epochs"])


def step_times(data, builds, config):
    """Median ms per training step of each model in ``builds`` (name -> model), interleaved,
    and the per-round times to pair."""
    batch = next(iter(data.train_dataloader()))
    steps = {name: cost.step_function(model, batch) for name, model in builds.items()}
    times = cost.interleaved_times(steps, rounds=config["rounds"],
                                      per_round=config["per_round"])
    return times, {name: statistics.median(t) * 1e3 for name, t in times.items()}


def steps(data, config, d2l):
    out = {}
    for rnn, scoring in VARIANTS:
        builds = {impl: build(impl, data[impl], rnn, scoring, d2l)
                  for impl in ("fast", "reference")}
        if d2l and (rnn, scoring) == ("gru", "additive"):
            builds["d2l"] = build("d2l", data["d2l"], d2l=d2l)
            # d2l 1.0.3's training_step draws its progress plot, which needs a Trainer: timed
            # without it here (fit, above, includes it)
            builds["d2l"].plot = lambda *args, **kwargs: None
        times, ms = step_times(data["fast"], builds, config)
        row = dict(ms=ms, fast_vs_reference=interval(intervals.paired_difference(
            times["fast"], times["reference"], relative=True)))
        if "d2l" in times:
            row["fast_vs_d2l"] = interval(intervals.paired_difference(
                times["fast"], times["d2l"], relative=True))
        out[f"{rnn}-{scoring}"] = row
    return out


def ablation(data, config):
    pieces = [("reference", "cells", "written-out cells, embedding gates at once"),
              ("cells", "keys-once", "keys prepared once per sentence"),
              ("keys-once", "fast", "no work on the targets' padding")]
    out = {}
    for rnn, scoring in VARIANTS:
        builds = {impl: build(impl, data["fast"], rnn, scoring)
                  for impl in ("reference", "cells", "keys-once", "fast")}
        times, ms = step_times(data["fast"], builds, config)
        out[f"{rnn}-{scoring}"] = dict(ms=ms, pieces=[
            dict(piece=what, before=before, after=after, change=interval(
                intervals.paired_difference(times[after], times[before], relative=True)))
            for before, after, what in pieces])
    return out


def summary(results):
    """The figures the docs quote, as one paragraph, from ``results``."""
    m = results["machine"]
    where = (f"Measured on a {m['cores']}-core {m['cpu']} (torch {m['torch']}, "
             f"{m['torch_threads']} threads) at commit {results['commit'][:8]}, "
             f"{results['measured'][:10]}, by `python -m benchmarks.bench_training`")
    parts = []
    if results.get("fit"):
        r = results["fit"]["ratio"]
        parts.append(f"§11.4's training ({results['fit']['epochs']} epochs, GRU + additive) "
                     f"took {1 + r['mean']:.2f} [{1 + r['low']:.2f}, {1 + r['high']:.2f}] "
                     f"times as long with d2l_lite's fast path as with d2l 1.0.3 (ratio "
                     f"paired by seed over {r['n']} seeds, 95% interval)")
    step = "; ".join(f"{v.replace('-', ' + ').replace('gru', 'GRU').replace('lstm', 'LSTM')} "
                     f"{1 + row['fast_vs_reference']['mean']:.2f} "
                     f"[{1 + row['fast_vs_reference']['low']:.2f}, "
                     f"{1 + row['fast_vs_reference']['high']:.2f}]"
                     for v, row in results["steps"].items())
    parts.append(f"a training step of the fast path took, relative to the reference decoder "
                 f"(§11.4's code with the exercises' options): {step} times as long (paired "
                 f"by round over {results['config']['rounds']} interleaved rounds, 95% "
                 f"intervals)")
    return where + ": " + "; ".join(parts) + "."


def write_docs(results):
    text = summary(results)
    for path in DOCS:
        source = path.read_text()
        if not BLOCK.search(source):
            raise SystemExit(f"{path} has no <!-- benchmark:start --> ... <!-- benchmark:end "
                             f"--> block to hold the figures")
        path.write_text(BLOCK.sub(lambda m: m[1] + text + "\n" + m[2], source))


def keeps_comparison(record, with_d2l, told):
    """Stop before measuring when a run without d2l 1.0.3 would replace ``record``, which
    compares with it, unless ``told`` (``--no-d2l``)."""
    if with_d2l or told or not record.exists():
        return
    try:
        had = json.loads(record.read_text()).get("fit")
    except (json.JSONDecodeError, AttributeError):
        had = None
    if had:
        raise SystemExit(f"d2l 1.0.3 is not installed, and {record} compares d2l_lite with it: "
                         f"a run now would replace that comparison, and the figures the docs "
                         f"quote, with ones without it. Install it (pip install --no-deps "
                         f"d2l==1.0.3) and run again, or pass --no-d2l to replace them anyway")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny configuration (CI)")
    parser.add_argument("--no-d2l", action="store_true",
                        help="leave d2l 1.0.3 out, also replacing a record that compares with it")
    args = parser.parse_args()
    config = QUICK if args.quick else FULL
    out = REPO / "_build" / "bench" / "results.json" if args.quick else RESULTS
    with checkout_lock():
        fra = fra_eng_path()
        d2l = (d2l_reference.import_d2l(str(fra))
               if d2l_reference.available() and not args.no_d2l else None)
        if not args.quick:
            keeps_comparison(out, with_d2l=d2l is not None, told=args.no_d2l)
        files = sorted({Path(__file__).resolve().relative_to(REPO).as_posix(),
                        "benchmarks/d2l_reference.py", *imported_package_files()})
        measured_code = snapshot(files)
        commit, dirty = commit_and_dirty(*files)
        data = {"fast": d2l_lite.MTFraEng(batch_size=HPARAMS["batch_size"])}
        data["reference"] = data["fast"]
        if d2l:
            data["d2l"] = d2l.MTFraEng(batch_size=HPARAMS["batch_size"])
        results = dict(commit=commit, dirty=dirty, code_files=files,
                       machine=machine(), config=config, d2l="1.0.3" if d2l else None,
                       measured=datetime.datetime.now(datetime.timezone.utc).isoformat(
                           timespec="seconds"))
        print("fit ...", flush=True)
        results["fit"] = fit(data, config, d2l) if d2l else None
        print("steps ...", flush=True)
        results["steps"] = steps(data, config, d2l)
        print("ablation ...", flush=True)
        results["ablation"] = ablation(data, config)
        if code_changes(measured_code):
            raise SystemExit("the measured code changed during the benchmark: run it again")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1) + "\n")
        print(summary(results))
        print(json.dumps({k: results[k] for k in ("steps", "ablation")}, indent=1))
        if not args.quick:
            if dirty:
                print("note: the measured code had uncommitted changes; commit it and run "
                      "again before quoting these figures")
            write_docs(results)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
