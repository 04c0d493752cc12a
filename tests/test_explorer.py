"""The attention explorer's models and tokeniser: the exported graphs, run by ONNX Runtime, give
the served PyTorch model's logits, attention weights and greedy translations; the browser's
tokeniser splits every sentence of the corpus as MTFraEng's preprocessing does; a served
model's description records its weights' SHA-256, and a stale pair is refused; the manifest
gives the page its decoding limits. (The page itself, and what it downloads, are checked in a
browser: tests/browser/check_explorer.py.)"""

import hashlib
import inspect
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from d2l_lite import explorer
from d2l_lite.d2l.data import preprocess
from d2l_lite.studies.long_sentences import translate_by_length

REPO = Path(__file__).resolve().parents[1]
SERVED = REPO / "book" / "_explorer"
NODE = shutil.which("node")
TRICKY = ["İstanbul is far.", "ΟΔΟΣ ΚΑΙ ΣΟΦΙΑ!", "Straße, bitte?", "I ❤ Tom!", "Ǆemal? yes.",
          "a\u00a0!", "b\u202f?", "ﬁne, ﬂy.", "Hello...  world !", "K\u0130LO, Σ.",
          "one.two,three!four?", "  spaced   out  .  "]


def python_tokens(sentence):
    """What MTFraEng's ``build`` makes of one source sentence, before its <eos>."""
    return [t for t in preprocess(sentence).split(" ") if t]


def node_tokens(sentences):
    script = ("import { tokens } from './web/explorer/tokenize.js';"
              "import { readFileSync } from 'node:fs';"
              "const lines = JSON.parse(readFileSync(0, 'utf8'));"
              "process.stdout.write(JSON.stringify(lines.map(tokens)));")
    done = subprocess.run([NODE, "--input-type=module", "-e", script], cwd=REPO, check=True,
                          input=json.dumps(sentences), capture_output=True, text=True)
    return json.loads(done.stdout)


@pytest.mark.slow
@pytest.mark.skipif(NODE is None, reason="node is not installed (scripts/setup.sh installs it)")
def test_the_browsers_tokeniser_is_mtfraengs_on_every_sentence_of_the_corpus(data_root):
    text = (data_root / "fra-eng" / "fra.txt").read_text(encoding="utf-8-sig")
    sentences = [s for line in text.split("\n") if "\t" in line for s in line.split("\t")[:2]]
    sentences += TRICKY
    assert any(len(s.lower()) != len(s) for s in TRICKY)  # lowercase changes the length
    assert node_tokens(sentences) == [python_tokens(s) for s in sentences]


def tiny_meta(scoring):
    words = sorted(["a", "b", "c", "d", "e", "."])
    return dict(name=scoring, scoring=scoring, num_steps=24,
                hparams=dict(embed_size=8, num_hiddens=16, num_layers=2, dropout=0.2),
                src_vocab=sorted(["<pad>", "<unk>", "<eos>", *words]),
                tgt_vocab=sorted(["<pad>", "<unk>", "<eos>", "<bos>", *words]))


def tiny_model(scoring):
    meta = tiny_meta(scoring)
    return meta, explorer.served_model(meta, random_weights(meta))


def random_weights(meta, seed=3):
    """8-bit weights of a freshly built model (seed ``seed``) of ``meta``'s sizes."""
    from d2l_lite.chapters.experiment import make_model

    model = make_model(explorer.ServedData(meta), scoring=meta["scoring"], fast=True, seed=seed,
                       **meta["hparams"])
    rounded, packed = explorer.rounded_state(model.state_dict())
    return {name: packed.get(name, value) for name, value in rounded.items()}


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_a_served_models_description_records_its_weights_and_a_stale_pair_is_refused(
        tmp_path):
    meta = tiny_meta("additive")
    explorer.save_served(tmp_path, meta, random_weights(meta))
    written = json.loads((tmp_path / "additive.json").read_text())
    assert written["weights_sha256"] == sha256(tmp_path / "additive.pt")
    loaded, weights = explorer.load_served(tmp_path, "additive")
    assert loaded == written and weights.keys() == random_weights(meta).keys()
    # other weights written over the .pt, the description left as it was
    torch.save(random_weights(meta, seed=4), tmp_path / "additive.pt")
    with pytest.raises(explorer.StaleServedModel, match=r"explorer\.prepare --choose"):
        explorer.load_served(tmp_path, "additive")
    # a description that records no hash at all
    del written["weights_sha256"]
    (tmp_path / "additive.json").write_text(json.dumps(written))
    with pytest.raises(explorer.StaleServedModel, match=r"explorer\.prepare --choose"):
        explorer.load_served(tmp_path, "additive")


def test_the_export_refuses_weights_that_their_description_does_not_record(tmp_path,
                                                                         monkeypatch):
    from d2l_lite.explorer import prepare

    served, static = tmp_path / "served", tmp_path / "static"
    served.mkdir()
    for arm in prepare.ARMS:  # pairs as --choose writes them
        meta = dict(tiny_meta(arm), label=arm)
        torch.save(random_weights(meta), served / f"{arm}.pt")
        meta["weights_sha256"] = sha256(served / f"{arm}.pt")
        (served / f"{arm}.json").write_text(json.dumps(meta))
    torch.save(random_weights(tiny_meta("dot"), seed=4), served / "dot.pt")  # a stale .pt
    monkeypatch.setattr(prepare, "SERVED", served)
    monkeypatch.setattr(prepare, "STATIC", static)
    with pytest.raises(SystemExit, match=r"dot\.pt.*explorer\.prepare --choose"):
        prepare.export()


@pytest.mark.skipif(not (REPO / "node_modules" / "onnxruntime-web").is_dir(),
                    reason="no node_modules (npm ci, which scripts/setup.sh runs, installs it)")
def test_the_manifest_gives_the_page_each_models_decoding_limits(tmp_path, monkeypatch):
    from d2l_lite.explorer import prepare

    served, static = tmp_path / "served", tmp_path / "static"
    served.mkdir()
    study = json.loads((REPO / "book" / "_attention_at_work.json").read_text())["settings"]
    num_steps = {"additive": 3 * study["data"]["max_len"], "dot": study["data"]["max_len"]}
    for arm in prepare.ARMS:
        meta = dict(tiny_meta(arm), label=arm, num_steps=num_steps[arm])
        explorer.save_served(served, meta, random_weights(meta))
    monkeypatch.setattr(prepare, "SERVED", served)
    monkeypatch.setattr(prepare, "STATIC", static)
    prepare.export()
    entries = {m["name"]: m for m in
               json.loads((static / "models" / "manifest.json").read_text())["models"]}
    # the longest sentence the study trained on, unless the description keeps fewer steps
    # (d2l's build keeps num_steps source tokens, <eos> included)
    assert entries["additive"]["max_source_tokens"] == study["data"]["max_len"]
    assert entries["dot"]["max_source_tokens"] == num_steps["dot"] - 1
    for entry in entries.values():  # the page decodes as translate_by_length does
        assert entry["extra_steps"] == inspect.signature(
            translate_by_length).parameters["extra_steps"].default


class Onnx:
    """The exported graphs, run by ONNX Runtime as the page runs them: the encoder once per
    source token, the decoder once per generated token."""

    def __init__(self, folder, name):
        import onnxruntime

        self.encoder, self.decoder = (
            onnxruntime.InferenceSession(str(folder / f"{name}.{part}.onnx"),
                                         providers=["CPUExecutionProvider"])
            for part in ("encoder", "decoder"))

    def translate(self, meta, tokens):
        src = {t: i for i, t in enumerate(meta["src_vocab"])}
        ids = [src.get(t, src["<unk>"]) for t in tokens + ["<eos>"]]
        L, H = meta["hparams"]["num_layers"], meta["hparams"]["num_hiddens"]
        state, outputs = np.zeros((L, 1, H), np.float32), []
        for i in ids:
            output, state = self.encoder.run(None, {"token": np.array([i]), "state": state})
            outputs.append(output)
        enc_outputs = np.stack(outputs, 1)  # (1, K, H)
        token, words, steps = meta["tgt_vocab"].index("<bos>"), [], []
        for _ in range(min(meta["num_steps"], 2 * len(ids) + 10)):
            logits, weights, state = self.decoder.run(None, {
                "token": np.array([token]), "state": state, "enc_outputs": enc_outputs})
            steps.append((logits[0], weights[0]))
            token = int(logits[0].argmax())
            if token == meta["tgt_vocab"].index("<eos>"):
                break
            words.append(meta["tgt_vocab"][token])
        return words, steps


def check_against_pytorch(meta, model, folder, sentences):
    onnx = Onnx(folder, meta["name"])
    data = explorer.ServedData(meta)
    expected, maps = translate_by_length(model, data, sentences, save_attention_weights=True)
    for sentence, words, W in zip(sentences, expected, maps):
        ours, steps = onnx.translate(meta, python_tokens(sentence))
        assert ours == words, sentence
        torch.testing.assert_close(torch.tensor(np.stack([w for _, w in steps])),
                                   W[:len(steps)], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("scoring", ["additive", "dot"])
def test_exported_graphs_give_the_served_models_logits_weights_and_translations(scoring,
                                                                                tmp_path):
    meta, model = tiny_model(scoring)
    explorer.export(model, tmp_path, scoring)
    sentences = ["a b c .", "e d", "a a a a b b b b c c c c d d .", "x y a"]
    check_against_pytorch(meta, model, tmp_path, sentences)
    # the step graphs against the model's own step, logits included
    onnx, data = Onnx(tmp_path, scoring), explorer.ServedData(meta)
    src, tgt, lens, label = data.build(["a b c ."], [""])
    with torch.no_grad():
        enc_outputs, state = model.encoder(src[:, :int(lens[0])], lens)
        dec_state = model.decoder.init_state((enc_outputs, state), lens)
        logits, _ = model.decoder(tgt[:, :1], dec_state)
    _, steps = onnx.translate(meta, ["a", "b", "c", "."])
    torch.testing.assert_close(torch.tensor(steps[0][0]), logits[0, 0], atol=1e-5, rtol=1e-4)


def test_the_graphs_keep_8_bit_weights(tmp_path):
    meta, model = tiny_model("additive")
    explorer.export(model, tmp_path, "additive")
    import onnx

    for part in ("encoder", "decoder"):
        graph = onnx.load(str(tmp_path / f"additive.{part}.onnx")).graph
        kinds = {init.data_type for init in graph.initializer if len(init.dims) >= 2}
        assert kinds == {onnx.TensorProto.INT8}, part


def test_rounding_to_8_bits_keeps_each_row_within_half_a_step():
    w = torch.randn(7, 5) * torch.arange(1, 8).reshape(-1, 1)
    q, scale = explorer.quantize(w)
    assert q.dtype == torch.int8 and q.abs().max() == 127
    assert ((explorer.dequantize(q, scale) - w).abs() <= scale.reshape(-1, 1) / 2 + 1e-7).all()


@pytest.mark.parametrize("name", ["additive", "dot"])
def test_the_served_models_export_and_agree_with_pytorch(name, tmp_path):
    meta, weights = explorer.load_served(SERVED, name)
    model = explorer.served_model(meta, weights)
    explorer.export(model, tmp_path, name)
    sentences = ["i'm home .", "she bought a red bicycle for her brother last week .",
                 "the teacher asked us to read the book before the end of the month , but "
                 "nobody did it .", "zorblax is a word nobody knows ."]
    check_against_pytorch(meta, model, tmp_path, sentences)


@pytest.mark.parametrize("name", ["additive", "dot"])
def test_the_committed_weights_are_those_their_description_records(name):
    meta = json.loads((SERVED / f"{name}.json").read_text())
    assert meta.get("weights_sha256") == sha256(SERVED / f"{name}.pt"), (
        f"book/_explorer/{name}.pt is not the file book/_explorer/{name}.json describes: run "
        f"python -m d2l_lite.explorer.prepare --choose")


@pytest.mark.parametrize("name", ["additive", "dot"])
def test_the_served_models_are_the_studys_best_by_chrf(name):
    meta = json.loads((SERVED / f"{name}.json").read_text())
    results = json.loads((REPO / "book" / "_attention_at_work.json").read_text())
    assert meta["study"] == dict(settings_key=results["settings_key"],
                                 commit=results["sessions"][0]["commit"]), (
        f"book/_explorer/{name} comes from another run of the study: run python "
        f"-m d2l_lite.explorer.prepare --choose")
    runs = [r for r in results["runs"] if r["arm"] == name]
    assert meta["seed"] == max(runs, key=lambda r: r["natural"]["chrf"])["seed"]
