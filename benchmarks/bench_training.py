"""Time d2l_lite against d2l 1.0.3 on the §11.4 experiments, in one process, alternating.

    python benchmarks/bench_training.py [--repeats 3] [--epochs 30] [--variants gru-additive ...]

For each rnn x scoring variant and repeat, both implementations train the same model with the
same hyperparameters (batch 128, 512 pairs, embed 256, 2x256, dropout 0.2, lr 0.005, clip 1)
for the same epochs, as a reader runs them (d2l with its default live plot). The order of the
two alternates between repeats. Quality is compared with one yardstick for both: the masked
validation loss (padding excluded) and the mean BLEU of the four probe sentences.

Then: building MTFraEng(batch_size=128), the FLOPs of a training step counted analytically
against the FLOP/s achieved and the machine's matmul FLOP/s, and a profile by operator.
d2l 1.0.3 is used when importable (``pip install --no-deps d2l==1.0.3``); otherwise only
d2l_lite is timed. One process only: two torch processes on 2 cores slow each other badly.

``--in-kernel`` runs the same benchmark inside a Jupyter kernel, where readers train: there
the live plots really render (d2l redraws an SVG figure every other batch; d2l_lite updates a
PNG at most once a second).
"""

import argparse
import contextlib
import io
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import d2l_reference  # noqa: E402

import d2l_lite  # noqa: E402
import d2l_lite.linear  # noqa: E402
from d2l_lite import experiment  # noqa: E402
from d2l_lite.flops import training_step_flops  # noqa: E402
from d2l_lite.packing import target_lengths  # noqa: E402

ENGS = ["go .", "i lost .", "he's calm .", "i'm home ."]
FRAS = ["va !", "j'ai perdu .", "il est calme .", "je suis chez moi ."]
HP = dict(embed_size=256, num_hiddens=256, num_layers=2, dropout=0.2, lr=0.005, batch_size=128)


def build(lib, data, rnn, scoring, reference):
    """Model of one variant with ``lib`` (d2l_lite or d2l) and its own decoder."""
    V_src, V_tgt = len(data.src_vocab), len(data.tgt_vocab)
    args = (HP["embed_size"], HP["num_hiddens"], HP["num_layers"], HP["dropout"])
    if reference:
        encoder = d2l_reference.make_encoder(lib, V_src, *args, rnn=rnn)
    else:
        encoder = lib.Seq2SeqEncoder(V_src, *args, rnn=rnn)
    decoder = lib.Seq2SeqAttentionDecoder(V_tgt, *args, rnn=rnn, scoring=scoring)
    return lib.Seq2Seq(encoder, decoder, tgt_pad=data.tgt_vocab["<pad>"], lr=HP["lr"])


def quality(model, data):
    """Masked validation loss and mean probe BLEU, computed the same way for both."""
    return experiment.masked_val_loss(model, data), experiment.mean_bleu(model, data, ENGS, FRAS)


def run_once(lib, data, rnn, scoring, epochs, seed, reference):
    torch.manual_seed(seed)
    model = build(lib, data, rnn, scoring, reference)
    trainer = lib.Trainer(max_epochs=epochs, gradient_clip_val=1)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # d2l prints its figure outside Jupyter
        trainer.fit(model, data)
    seconds = time.perf_counter() - start
    val_loss, bleu = quality(model, data)
    return seconds, val_loss, bleu


def spread(xs):
    return f"{min(xs):.2f}-{max(xs):.2f}"


def matmul_flops():
    """Best FLOP/s of float32 products (x w^T, as a linear layer computes them): a large
    square one and the step's typical shape, with PyTorch's GEMM (MKL on x86) and with
    oneDNN; d2l_lite's ``linear`` uses the one ``d2l_lite.linear.backend()`` names."""
    out = {}
    for m, k, n in [(2048, 2048, 2048), (128, 256, 768)]:
        x, w = torch.randn(m, k), torch.randn(n, k)
        backends = {"torch.mm": torch.mm}
        if d2l_lite.linear.onednn_available():
            backends["oneDNN"] = lambda x, w: d2l_lite.linear._product(x, w, None, None)
        reps = max(5, int(4e9 / (2 * m * k * n)))
        for name, product in backends.items():
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                for _ in range(reps):
                    product(x, w.t()) if product is torch.mm else product(x, w)
                best = min(best, (time.perf_counter() - start) / reps)
            out[f"{m}x{k}x{n} {name}"] = 2 * m * k * n / best
    return out


def make_step(lib, data, rnn, scoring, reference=False):
    """A closure running one training step (forward, backward, clipping, Adam) on the first
    batch, as each library's trainer computes it."""
    torch.manual_seed(0)
    model = build(lib, data, rnn, scoring, reference=reference)
    batch = next(iter(data.train_dataloader()))
    model(*batch[:-1])
    optim = model.configure_optimizers()
    trainer = lib.Trainer(max_epochs=1, gradient_clip_val=1)

    def step():
        if reference:  # d2l's training_step also draws its live plot: leave that out here
            loss = model.loss(model(*batch[:-1]), batch[-1])
        else:  # d2l_lite's decoder skips the targets' padding here (d2l_lite.packing)
            loss = model.training_step(batch)
        optim.zero_grad()
        loss.backward()
        trainer.clip_gradients(1, model)
        optim.step()

    return step


def time_steps(steps, rounds=8, per_round=5):
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


def profile_step(step):
    """Top operators of five steps by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(5):
            step()
    return prof


def fit_table(args, libs, data, d2l):
    """Time ``fit`` of every variant, both implementations alternating; print the table."""
    header = (f"{'variant':<14} {'impl':<9} {'fit s (median)':>14} {'spread':>12} "
              f"{'val loss':>9} {'(seeds)':>12} {'BLEU':>6} {'ratio':>6}")
    print(f"fit, {args.epochs} epochs, {args.repeats} repeats, alternating\n{header}")
    # Untimed: one epoch of each, which also pays PyTorch's one-off import of its compiler
    # at the first optimizer of the process (about 3 s here) outside the timings
    for name, lib in libs:
        run_once(lib, data[name], "gru", "additive", 1, seed=0, reference=name == "d2l")
    for variant in args.variants:
        rnn, scoring = variant.split("-")
        results = {name: [] for name, _ in libs}
        for r in range(args.repeats):
            order = libs if r % 2 == 0 else libs[::-1]
            for name, lib in order:
                results[name].append(run_once(lib, data[name], rnn, scoring, args.epochs,
                                              seed=r, reference=name == "d2l"))
        med = {name: statistics.median(x[0] for x in res) for name, res in results.items()}
        for name, res in results.items():
            ratio = med[name] / med["d2l"] if d2l else float("nan")
            row = (variant, name, med[name], spread([x[0] for x in res]),
                   statistics.mean(x[1] for x in res), spread([x[1] for x in res]),
                   statistics.mean(x[2] for x in res), ratio)
            print(f"{row[0]:<14} {row[1]:<9} {row[2]:>14.2f} {row[3]:>12} {row[4]:>9.3f} "
                  f"{row[5]:>12} {row[6]:>6.3f} {row[7]:>6.2f}")
    print("ratio: median fit time / d2l's; val loss: masked, mean and range over the repeats "
          "(seeds); BLEU: mean of the four probes, mean over repeats\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--variants", nargs="+",
                        default=["gru-additive", "lstm-additive", "gru-dot", "lstm-dot"])
    parser.add_argument("--no-profile", action="store_true", help="skip the step profile")
    parser.add_argument("--no-fit", action="store_true",
                        help="skip the fit table (data set, step FLOP/s and profile only)")
    parser.add_argument("--in-kernel", action="store_true",
                        help="run inside a Jupyter kernel, as a notebook reader does")
    args = parser.parse_args()
    if args.in_kernel:
        return run_in_kernel([a for a in sys.argv[1:] if a != "--in-kernel"])

    root = d2l_lite.data.data_root()
    fra = d2l_lite.data.fra_eng_path(root)
    d2l = d2l_reference.import_d2l(str(fra)) if d2l_reference.available() else None
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"d2l_lite products on {d2l_lite.linear.backend()}")
    print(f"d2l 1.0.3: {'yes' if d2l else 'not installed, timing d2l_lite only'}\n")

    # Building the data set
    libs = [("d2l_lite", d2l_lite)] + ([("d2l", d2l)] if d2l else [])
    build_times = {name: [] for name, _ in libs}
    for _ in range(5):
        for name, lib in libs:
            start = time.perf_counter()
            lib.MTFraEng(batch_size=128)
            build_times[name].append(time.perf_counter() - start)
    line = f"MTFraEng(batch_size=128): d2l_lite {statistics.median(build_times['d2l_lite']):.4f} s"
    if d2l:
        ratio = statistics.median(build_times["d2l_lite"]) / statistics.median(build_times["d2l"])
        line += f", d2l {statistics.median(build_times['d2l']):.3f} s, ratio {ratio:.3f}"
    print(line + " (median of 5)\n")

    data = {name: lib.MTFraEng(batch_size=HP["batch_size"]) for name, lib in libs}
    if not args.no_fit:
        fit_table(args, libs, data, d2l)
    if args.no_profile:
        return
    peak = matmul_flops()
    print("matmul FLOP/s (float32, best of 5): " +
          ", ".join(f"{k}: {v / 1e9:.0f} GFLOP/s" for k, v in peak.items()))
    step_peak = max(v for k, v in peak.items() if k.startswith("128x256x768"))
    d = data["d2l_lite"]
    labels = next(iter(d.train_dataloader()))[-1]  # the batch make_step trains on
    live = target_lengths(labels, d.tgt_vocab["<pad>"]).sum().item() / labels.numel()
    print(f"targets fill {live:.0%} of the decoder's positions in the step's batch")
    sizes = (HP["batch_size"], d.num_steps, d.num_steps, HP["embed_size"], HP["num_hiddens"],
             HP["num_layers"], len(d.tgt_vocab))
    for variant in args.variants:
        rnn, scoring = variant.split("-")
        steps = {"d2l_lite": make_step(d2l_lite, d, rnn, scoring)}
        if d2l:
            steps["d2l"] = make_step(d2l, data["d2l"], rnn, scoring, reference=True)
        seconds = time_steps(steps)
        # d2l_lite projects the embedding tables (the decoder's, and the encoder's on the
        # CPU, see Seq2SeqEncoder.forward), and its decoder skips the targets' padding
        # (d2l_lite.packing)
        flops = {"d2l_lite": training_step_flops(rnn, scoring, *sizes, tgt_table=True,
                                                 src_vocab=len(d.src_vocab),
                                                 live_fraction=live),
                 "d2l": training_step_flops(rnn, scoring, *sizes, keys_cached=False)}
        for name in steps:
            rate = flops[name] / seconds[name]
            print(f"{variant if name == 'd2l_lite' else '':<14} {name:<9} training step "
                  f"{seconds[name] * 1e3:6.1f} ms, {flops[name] / 1e9:5.2f} GFLOP (analytic), "
                  f"{rate / 1e9:4.0f} GFLOP/s = {rate / step_peak:.0%} of the "
                  f"best step-shaped matmul rate")
        if d2l:
            print(f"{'':<14} step ratio {seconds['d2l_lite'] / seconds['d2l']:.2f} "
                  f"(median of 8 alternating rounds of 5 steps)")
        if variant == args.variants[0]:
            prof = profile_step(steps["d2l_lite"])
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15,
                                            max_name_column_width=40))


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
