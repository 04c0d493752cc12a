"""Time d2l_lite against d2l 1.0.3 on the §11.4 experiments, in one process, alternating.

    python benchmarks/bench_training.py [--repeats 5] [--epochs 30] [--variants gru-additive ...]
    python benchmarks/bench_training.py --ablation [--repeats 5] [--epochs 10]
    python benchmarks/bench_training.py --no-fit     # data set, training steps, profile

**fit**: for each rnn x scoring variant and seed, d2l_lite's fast path (``FastSeq2Seq``) and
d2l 1.0.3 train the same model with §11.4's settings (``experiment.HPARAMS``) for the same
epochs, as a reader runs them (d2l with its live plot), the order alternating between seeds.
Quality is compared with one yardstick for both: the masked validation loss and the mean BLEU
of the four probe sentences.

**ablation**: what each piece of the fast path saves, as paired differences of ``fit`` time
over seeds with 95% intervals: the reference decoder; + the written-out cells with the
embedding's gates for all steps at once (keys still projected at every step); + keys projected
once; + skipping the targets' padding (the full fast path).

Then: building MTFraEng, one training step of each (alternating), its analytic FLOPs against
the machine's matmul FLOP/s, and a profile by operator. d2l 1.0.3 is used when importable
(``pip install --no-deps d2l==1.0.3``). One process only: two torch processes on 2 cores slow
each other badly. ``--in-kernel`` runs the same inside a Jupyter kernel.
"""

import argparse
import contextlib
import io
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
import d2l_reference  # noqa: E402
from provenance import cpu_model  # noqa: E402

import d2l_lite  # noqa: E402
from d2l_lite.book import experiment  # noqa: E402
from d2l_lite.book.flops import training_step_flops  # noqa: E402
from d2l_lite.fast import FastSeq2SeqAttentionDecoder, target_lengths  # noqa: E402

HP = experiment.HPARAMS
ENGS, FRAS = (list(x) for x in zip(*experiment.PROBES))
T_95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26,
        10: 2.23, 14: 2.14, 19: 2.09, 29: 2.05}


def mean_ci(xs):
    """Mean and half-width of its 95% t-interval."""
    n = len(xs)
    if n < 2:
        return statistics.mean(xs), float("nan")
    t = T_95.get(n - 1) or T_95[max(k for k in T_95 if k <= n - 1)]
    return statistics.mean(xs), t * statistics.stdev(xs) / math.sqrt(n)


class KeysEveryStep(FastSeq2SeqAttentionDecoder):
    """The fast decoder with additive scoring's key projection at every step, as the
    reference: for the ablation only."""

    def _prepare_keys(self, enc_outputs):
        return enc_outputs

    def _attention_weights_of(self, query, keys, key_mask):
        if hasattr(self.attention, "W_k"):
            keys = self.attention.W_k(keys)
        return super()._attention_weights_of(query, keys, key_mask)


def build(impl, data, rnn, scoring, d2l=None):
    """A model of one variant: ``impl`` is 'fast', 'reference', 'cells', 'keys-once' (the
    ablation's steps) or 'd2l'."""
    args = (HP["embed_size"], HP["num_hiddens"], HP["num_layers"], HP["dropout"])
    if impl == "d2l":
        encoder = d2l_reference.make_encoder(d2l, len(data.src_vocab), *args, rnn=rnn)
        decoder = d2l.Seq2SeqAttentionDecoder(len(data.tgt_vocab), *args, rnn=rnn,
                                              scoring=scoring)
        return d2l.Seq2Seq(encoder, decoder, tgt_pad=data.tgt_vocab["<pad>"], lr=HP["lr"])
    if impl in ("fast", "reference"):
        return experiment.make_model(data, rnn, scoring, fast=impl == "fast")
    encoder = d2l_lite.Seq2SeqEncoder(len(data.src_vocab), *args, rnn=rnn)
    decoder_class = KeysEveryStep if impl == "cells" else FastSeq2SeqAttentionDecoder
    decoder = decoder_class(len(data.tgt_vocab), *args, rnn=rnn, scoring=scoring)
    return d2l_lite.Seq2Seq(encoder, decoder, tgt_pad=data.tgt_vocab["<pad>"], lr=HP["lr"])


def run_fit(impl, data, rnn, scoring, epochs, seed, d2l=None):
    """Seconds of ``fit``, masked validation loss and mean probe BLEU of one run."""
    lib = d2l if impl == "d2l" else d2l_lite
    torch.manual_seed(seed)
    model = build(impl, data, rnn, scoring, d2l)
    trainer = lib.Trainer(max_epochs=epochs, gradient_clip_val=HP["gradient_clip_val"])
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # d2l prints its figure outside Jupyter
        trainer.fit(model, data)
    seconds = time.perf_counter() - start
    return (seconds, experiment.masked_val_loss(model, data),
            experiment.mean_bleu(model, data, ENGS, FRAS))


def alternate(arms, seeds, run):
    """{arm: [run(arm, seed) for seed in seeds]}, the order of the arms alternating."""
    results = {arm: [] for arm in arms}
    for i, seed in enumerate(seeds):
        for arm in (arms if i % 2 == 0 else arms[::-1]):
            results[arm].append(run(arm, seed))
    return results


def warm_up(impls, data, d2l):
    """One untimed epoch of each, which also pays PyTorch's one-off import of its compiler at
    the first optimizer of the process outside the timings."""
    for impl in impls:
        run_fit(impl, data[impl], "gru", "additive", 1, 0, d2l)


def fit_table(args, data, d2l):
    impls = ["fast"] + (["d2l"] if d2l else [])
    warm_up(impls, data, d2l)
    print(f"fit, {args.epochs} epochs, seeds 0-{args.repeats - 1}, alternating")
    print(f"{'variant':<14} {'impl':<9} {'fit s (median)':>14} {'range':>12} {'val loss':>9} "
          f"{'(range)':>12} {'BLEU':>6} {'ratio':>6} {'paired ratio, 95% CI':>22}")
    for variant in args.variants:
        rnn, scoring = variant.split("-")
        res = alternate(impls, range(args.repeats),
                        lambda impl, seed, rnn=rnn, scoring=scoring: run_fit(
                            impl, data[impl], rnn, scoring, args.epochs, seed, d2l))
        med = {impl: statistics.median(x[0] for x in r) for impl, r in res.items()}
        for impl, r in res.items():
            secs, losses = [x[0] for x in r], [x[1] for x in r]
            ratio, paired = float("nan"), ""
            if d2l:
                ratio = med[impl] / med["d2l"]
                m, h = mean_ci([a[0] / b[0] for a, b in zip(r, res["d2l"])])
                paired = f"{m:.2f} ± {h:.2f}"
            print(f"{variant:<14} {impl:<9} {med[impl]:>14.2f} "
                  f"{min(secs):>5.2f}-{max(secs):<6.2f} {statistics.mean(losses):>9.3f} "
                  f"{min(losses):>5.2f}-{max(losses):<6.2f} "
                  f"{statistics.mean(x[2] for x in r):>6.3f} {ratio:>6.2f} {paired:>22}")
    print("ratio: median fit time / d2l's; paired ratio: mean over seeds of fast / d2l with its "
          "95% t-interval; val loss: masked, mean and range; BLEU: mean of the four probes\n")


def ablation(args, data):
    """Paired differences of fit time between successive steps of the fast path."""
    steps = [("reference", "cells", "written-out cells, embedding gates at once"),
             ("cells", "keys-once", "keys projected once per sentence"),
             ("keys-once", "fast", "skipping the targets' padding")]
    impls = ["reference", "cells", "keys-once", "fast"]
    warm_up(["fast"], {"fast": data}, None)
    for variant in args.variants:
        rnn, scoring = variant.split("-")

        def run(impl, seed, rnn=rnn, scoring=scoring):
            return run_fit(impl, data, rnn, scoring, args.epochs, seed)

        res = alternate(impls, range(args.repeats), run)
        print(f"ablation, {variant}, {args.epochs} epochs, seeds 0-{args.repeats - 1}, "
              f"alternating; fit seconds (mean): " +
              ", ".join(f"{i} {statistics.mean(x[0] for x in res[i]):.2f}" for i in impls))
        for before, after, what in steps:
            diffs = [a[0] - b[0] for a, b in zip(res[after], res[before])]
            m, h = mean_ci(diffs)
            base = statistics.mean(x[0] for x in res[before])
            print(f"  {what:<46} {m:+7.2f} s ± {h:.2f} ({m / base:+.0%} of {before})")
    print("each line: mean paired difference of fit time (after - before) over seeds, 95% "
          "t-interval\n")


def matmul_flops():
    """Best float32 FLOP/s of ``torch.mm`` for a large square product and the step's shape."""
    out = {}
    for m, k, n in [(2048, 2048, 2048), (128, 256, 768)]:
        x, w = torch.randn(m, k), torch.randn(k, n)
        reps = max(5, int(4e9 / (2 * m * k * n)))
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(reps):
                torch.mm(x, w)
            best = min(best, (time.perf_counter() - start) / reps)
        out[f"{m}x{k}x{n}"] = 2 * m * k * n / best
    return out


def make_step(impl, data, rnn, scoring, d2l=None):
    """A closure running one training step (forward, backward, clipping, Adam) on the first
    batch, as each implementation's trainer computes it (d2l's without its live plot)."""
    torch.manual_seed(0)
    model = build(impl, data, rnn, scoring, d2l)
    batch = next(iter(data.train_dataloader()))
    model(*batch[:-1])
    optim = model.configure_optimizers()
    trainer = (d2l if impl == "d2l" else d2l_lite).Trainer(max_epochs=1, gradient_clip_val=1)

    def step():
        if impl == "d2l":  # d2l's training_step also draws its live plot: leave that out here
            loss = model.loss(model(*batch[:-1]), batch[-1])
        else:
            loss = model.training_step(batch)
        optim.zero_grad()
        loss.backward()
        trainer.clip_gradients(1, model)
        optim.step()

    return step


def time_steps(steps, rounds=10, per_round=5):
    """Median seconds per step of each closure in ``steps`` (a dict), alternating in rounds."""
    times = {name: [] for name in steps}
    for step in steps.values():
        for _ in range(3):
            step()
    for r in range(rounds):
        for name in (list(steps) if r % 2 == 0 else list(steps)[::-1]):
            start = time.perf_counter()
            for _ in range(per_round):
                steps[name]()
            times[name].append((time.perf_counter() - start) / per_round)
    return {name: statistics.median(t) for name, t in times.items()}


def step_table(args, data, d2l):
    from torch.profiler import ProfilerActivity, profile

    peak = matmul_flops()
    print("torch.mm FLOP/s (float32, best of 5): " +
          ", ".join(f"{k}: {v / 1e9:.0f} GFLOP/s" for k, v in peak.items()))
    d = data["fast"]
    labels = next(iter(d.train_dataloader()))[-1]  # the batch make_step trains on
    live = target_lengths(labels, d.tgt_vocab["<pad>"]).sum().item() / labels.numel()
    print(f"targets fill {live:.0%} of the decoder's positions in the step's batch")
    sizes = (HP["batch_size"], d.num_steps, d.num_steps, HP["embed_size"], HP["num_hiddens"],
             HP["num_layers"], len(d.tgt_vocab))
    flops = {"fast": dict(keys_once=True, live_fraction=live, embedding_table=True),
             "reference": {}, "d2l": {}}
    impls = ["fast", "reference"] + (["d2l"] if d2l else [])
    for variant in args.variants:
        rnn, scoring = variant.split("-")
        steps = {impl: make_step(impl, data[impl], rnn, scoring, d2l) for impl in impls}
        seconds = time_steps(steps)
        for impl in impls:
            f = training_step_flops(rnn, scoring, *sizes, **flops[impl])
            print(f"{variant if impl == 'fast' else '':<14} {impl:<9} training step "
                  f"{seconds[impl] * 1e3:6.1f} ms, {f / 1e9:5.2f} GFLOP (analytic), "
                  f"{f / seconds[impl] / 1e9:4.0f} GFLOP/s = "
                  f"{f / seconds[impl] / peak['128x256x768']:.0%} of torch.mm's step-shaped rate")
        if d2l:
            print(f"{'':<14} step ratio fast / d2l {seconds['fast'] / seconds['d2l']:.2f}, "
                  f"reference / d2l {seconds['reference'] / seconds['d2l']:.2f} "
                  f"(medians of 10 alternating rounds of 5 steps)")
        if variant == args.variants[0] and not args.no_profile:
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(5):
                    steps["fast"]()
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15,
                                            max_name_column_width=40))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="seeds per arm")
    parser.add_argument("--epochs", type=int, default=None, help="30 (fit), 10 (ablation)")
    parser.add_argument("--variants", nargs="+",
                        default=["gru-additive", "lstm-additive", "gru-dot", "lstm-dot"])
    parser.add_argument("--ablation", action="store_true", help="the fast path's pieces")
    parser.add_argument("--no-fit", action="store_true", help="skip the fit table")
    parser.add_argument("--no-steps", action="store_true", help="skip steps and profile")
    parser.add_argument("--no-profile", action="store_true", help="skip the profile")
    parser.add_argument("--in-kernel", action="store_true",
                        help="run inside a Jupyter kernel, as a notebook reader does")
    args = parser.parse_args()
    if args.in_kernel:
        return run_in_kernel([a for a in sys.argv[1:] if a != "--in-kernel"])
    args.epochs = args.epochs or (10 if args.ablation else HP["max_epochs"])

    fra = d2l_lite.d2l.download.fra_eng_path()
    d2l = d2l_reference.import_d2l(str(fra)) if d2l_reference.available() else None
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}")
    print(f"d2l 1.0.3: {'yes' if d2l else 'not installed, timing d2l_lite only'}\n")
    data = {"fast": d2l_lite.MTFraEng(batch_size=HP["batch_size"])}
    data["reference"] = data["fast"]
    if args.ablation:
        return ablation(args, data["fast"])

    libs = [("d2l_lite", d2l_lite)] + ([("d2l", d2l)] if d2l else [])
    build_times = alternate([name for name, _ in libs], range(5), lambda name, _: timed(
        lambda: dict(libs)[name].MTFraEng(batch_size=HP["batch_size"])))
    print("MTFraEng(batch_size=128), median of 5: " + ", ".join(
        f"{name} {statistics.median(t):.4f} s" for name, t in build_times.items()) + "\n")
    if d2l:
        data["d2l"] = d2l.MTFraEng(batch_size=HP["batch_size"])
    if not args.no_fit:
        fit_table(args, data, d2l)
    if not args.no_steps:
        step_table(args, data, d2l)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_in_kernel(argv):
    """Execute this script in a fresh Jupyter kernel and print what it printed.

    Its printing goes to a file: d2l's live plot clears the cell's output as it redraws.
    """
    import tempfile

    import nbclient
    import nbformat

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "out.txt"
        code = (f"import sys\n_log = open({str(log)!r}, 'w', buffering=1)\n"
                f"sys.stdout = _log\ntry:\n"
                f"    %run {Path(__file__).resolve()} {' '.join(argv)}\n"
                f"finally:\n    sys.stdout = sys.__stdout__\n    _log.close()\n")
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        nbclient.NotebookClient(nb, timeout=None, kernel_name="python3").execute()
        print("(run inside a Jupyter kernel)")
        print(log.read_text(), end="")
        errors = [o for o in nb.cells[0].outputs if o.output_type == "error"]
        if errors:  # %run reports an exception instead of raising it
            sys.exit(f"the benchmark failed in the kernel: {errors[0].ename}: {errors[0].evalue}")


if __name__ == "__main__":
    main()
