"""The attention explorer's models: choose them, and export them for the browser.

    python -m d2l_lite.explorer.prepare --choose  # after the attention-at-work study: pick,
                                                  # round and describe the served models
    python -m d2l_lite.explorer.prepare           # export them (scripts/build.sh runs this)

``--choose`` picks, for the additive and the dot-product arm of the attention-at-work study,
the seed whose model has the best chrF on the study's natural test sentences; rounds its
weights to 8 bits (``d2l_lite.explorer``); measures what the rounding changes on those
test sentences; and writes the served weights and their description (vocabularies, settings,
scores, and the SHA-256 of the weights file) to ``book/_explorer/`` (committed: the weights
are 8-bit, a few MB); the export refuses a weights file that its description does not
record. It needs the study's trained weights, which stay out of git under ``models/``, and
the CPU to itself.

Without arguments it exports the served models as ONNX graphs, with ONNX Runtime Web's files
from ``node_modules`` (``npm ci``, which ``scripts/setup.sh`` runs), into ``web/explorer/``,
which the book build copies as it is (``html_extra_path`` in ``_config.yml``). Its manifest
(``models/manifest.json``) gives the page each model's files and its decoding limits, which
the page reads rather than repeats: ``max_source_tokens``, the longest English sentence the
study trained on (``max_len`` in ``book/_attention_at_work.json``); ``extra_steps``, as
``translate_by_length`` decodes at most 2 x (source tokens + 1) + extra_steps tokens, and
never more than the description's ``num_steps``.
"""

import hashlib
import inspect
import json
import shutil
import sys

import torch

from d2l_lite.provenance import REPO, checkout_lock

SERVED = REPO / "book" / "_explorer"
STATIC = REPO / "web" / "explorer"
ARMS = {"additive": "§11.4's decoder, additive scoring", "dot": "scaled dot-product scoring"}
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")


def choose():
    from d2l_lite import explorer
    from d2l_lite.measures import scores
    from d2l_lite.studies.long_sentences import MTFraEngLong, translate_by_length

    results = json.loads((REPO / "book" / "_attention_at_work.json").read_text())
    data = MTFraEngLong(**results["settings"]["data"])
    sources, references = data.natural_sources, data.natural_references
    SERVED.mkdir(exist_ok=True)
    for arm, label in ARMS.items():
        runs = [r for r in results["runs"] if r["arm"] == arm]
        best = max(runs, key=lambda r: r["natural"]["chrf"])
        weights = REPO / best["weights"]
        if hashlib.sha256(weights.read_bytes()).hexdigest() != best["weights_sha256"]:
            sys.exit(f"{weights} is not the file the study wrote: rerun the study")
        trained = torch.load(weights, weights_only=True)
        rounded, packed = explorer.rounded_state(trained)
        hp = {k: results["settings"]["model"][k]
              for k in ("embed_size", "num_hiddens", "num_layers", "dropout")}
        meta = dict(name=arm, label=f"{label} (seed {best['seed']})", scoring=arm, hparams=hp,
                    num_steps=data.num_steps, src_vocab=data.src_vocab.idx_to_token,
                    tgt_vocab=data.tgt_vocab.idx_to_token, seed=best["seed"],
                    description=(f"Trained on {data.num_train:,} English-French examples "
                                 f"(sentence pairs, alone or joined up to "
                                 f"{results['settings']['data']['max_joins']} at a time) by "
                                 f"python -m d2l_lite.studies.attention_at_work, seed "
                                 f"{best['seed']}."),
                    study=dict(settings_key=results["settings_key"],
                               commit=results["sessions"][0]["commit"]))
        model = explorer.served_model(meta, {n: packed.get(n, v) for n, v in rounded.items()})
        served, _ = translate_by_length(model, data, sources)
        full = explorer.served_model(meta, trained)
        original, _ = translate_by_length(full, data, sources)
        served_text, original_text = ([" ".join(t) for t in x] for x in (served, original))
        test = scores.corpus_scores(served_text, references)
        full_scores = scores.corpus_scores(original_text, references)
        meta["test"] = dict(bleu=test["bleu"], chrf=test["chrf"], sentences=len(sources),
                            signatures=test["signatures"])
        meta["rounding"] = dict(
            changed=sum(a != b for a, b in zip(served_text, original_text)) / len(sources),
            chrf_change=test["chrf"] - full_scores["chrf"],
            bleu_change=test["bleu"] - full_scores["bleu"])
        explorer.save_served(SERVED, meta, {n: packed.get(n, v) for n, v in rounded.items()})
        print(f"{arm}: seed {best['seed']}, chrF {test['chrf']:.1f} (full precision "
              f"{full_scores['chrf']:.1f}), {meta['rounding']['changed']:.1%} of the test "
              f"translations change with 8-bit weights")


def export():
    from d2l_lite import explorer
    from d2l_lite.studies.long_sentences import translate_by_length

    models = STATIC / "models"
    models.mkdir(parents=True, exist_ok=True)
    manifest = dict(models=[])
    study = json.loads((REPO / "book" / "_attention_at_work.json").read_text())["settings"]
    extra_steps = inspect.signature(translate_by_length).parameters["extra_steps"].default
    try:  # every pair checked before anything is exported
        served = {arm: explorer.load_served(SERVED, arm) for arm in ARMS}
    except explorer.StaleServedModel as error:
        sys.exit(str(error))
    for arm, (meta, weights) in served.items():
        explorer.export(explorer.served_model(meta, weights), models, arm)
        shutil.copy(SERVED / f"{arm}.json", models / f"{arm}.json")
        manifest["models"].append(dict(
            name=arm, label=meta["label"], meta=f"{arm}.json", encoder=f"{arm}.encoder.onnx",
            decoder=f"{arm}.decoder.onnx",
            # d2l's build keeps num_steps source tokens, <eos> included: no more are read
            max_source_tokens=min(study["data"]["max_len"], meta["num_steps"] - 1),
            extra_steps=extra_steps))
    (models / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    dist = REPO / "node_modules" / "onnxruntime-web" / "dist"
    if not dist.is_dir():
        sys.exit(f"{dist} is missing: run npm ci (bash scripts/setup.sh does)")
    (STATIC / "ort").mkdir(exist_ok=True)
    for name in ORT_FILES:
        shutil.copy(dist / name, STATIC / "ort" / name)
    total = sum(p.stat().st_size for p in STATIC.rglob("*") if p.is_file())
    print(f"exported {len(ARMS)} models into "
          f"{STATIC.relative_to(REPO) if STATIC.is_relative_to(REPO) else STATIC} "
          f"({total / 2**20:.1f} MiB with the page's scripts)")


def main():
    with checkout_lock():
        if sys.argv[1:] == ["--choose"]:
            choose()
        elif not sys.argv[1:]:
            export()
        else:
            sys.exit(__doc__)


if __name__ == "__main__":
    main()
