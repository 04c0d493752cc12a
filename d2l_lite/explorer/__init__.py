"""The attention explorer's models: trained §11.4 models made small, and exported as ONNX
graphs that a browser runs one step at a time.

**Served weights.** ``quantize`` rounds every weight matrix of a trained model to 8 bits, one
scale per row (symmetric: w ~ scale x q, q in -127..127); biases stay in float32. The served
model, ``served_model``, is the d2l_lite model with these rounded weights: a quarter of the
bytes, computed in float32 like the original. What the rounding changes is measured when the
models are chosen (``d2l_lite/explorer/prepare.py``) and shown on the page.

**Graphs.** ``EncoderStep`` reads one source token and returns the top layer's output and the
new state (the browser calls it once per token); ``DecoderStep`` is one step of the fast
decoder's ``forward``: a token, the state and the encoder's outputs -> logits, attention
weights, new state. Both keep the weights as 8-bit integers and their scales, and dequantize
them inside the graph (``torch.nn.utils.parametrize``), so the files hold a quarter of the
float32 bytes. ``tests/test_explorer.py`` checks that the graphs, run by ONNX Runtime, give the
served model's logits and attention weights, and the same greedy translations.

**Files.** A served model is a pair in ``book/_explorer/``: ``<name>.pt``, its 8-bit weights,
and ``<name>.json``, its description, which records the SHA-256 of the ``.pt`` it was written
with (``weights_sha256``). ``save_served`` writes a pair; ``load_served`` reads one and refuses
a ``.pt`` that is not the one its description records.

Shapes: L layers, H hidden size, E embedding size, K source tokens, V vocabulary size.
"""

import copy
import hashlib
import json
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import parametrize

from ..d2l.data import SentencePairs, Vocab
from ..fast import gru_cell


def quantize(weight):
    """Per-row symmetric 8-bit rounding: weight (rows, ...) -> (q int8, scale (rows,))."""
    rows = weight.reshape(weight.shape[0], -1)
    scale = rows.abs().amax(1) / 127
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.round(rows / scale.unsqueeze(1)).clamp(-127, 127).to(torch.int8)
    return q.reshape(weight.shape), scale


def dequantize(q, scale):
    return q.to(torch.float32) * scale.reshape(-1, *([1] * (q.dim() - 1)))


def rounded_state(state_dict):
    """A state_dict with every weight matrix (2-D or more) rounded to 8 bits per row: the
    values the served model computes with. Returns (the rounded state_dict, the int8 form:
    name -> (q, scale) for the rounded tensors)."""
    rounded, packed = {}, {}
    for name, value in state_dict.items():
        if value.dim() >= 2 and value.is_floating_point():
            q, scale = quantize(value)
            packed[name] = (q, scale)
            rounded[name] = dequantize(q, scale)
        else:
            rounded[name] = value
    return rounded, packed


def vocab_from(tokens):
    """The ``Vocab`` whose ``idx_to_token`` is ``tokens`` (a list in d2l's sorted order)."""
    return Vocab([tokens, tokens], min_freq=2)


class ServedData(SentencePairs):
    """What translating needs of a data set, from a served model's description: the two
    vocabularies and the number of steps (``build``, ``num_steps``, the vocabularies)."""

    def __init__(self, meta):
        super().__init__()
        self.src_vocab, self.tgt_vocab = vocab_from(meta["src_vocab"]), vocab_from(
            meta["tgt_vocab"])
        self.num_steps, self.batch_size, self.num_train = meta["num_steps"], 1, 0


def served_model(meta, weights):
    """The d2l_lite model that the explorer serves, from its description ``meta`` and its
    8-bit ``weights`` (name -> (q, scale) for the matrices, name -> tensor for the rest)."""
    from ..chapters.experiment import make_model

    model = make_model(ServedData(meta), scoring=meta["scoring"], fast=True, seed=0,
                       **meta["hparams"])
    state = {name: dequantize(*value) if isinstance(value, tuple) else value
             for name, value in weights.items()}
    model.load_state_dict(state)
    return model.eval()


class StaleServedModel(ValueError):
    """A served model's weights are not the file its description records."""


def file_sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_served(folder, meta, weights):
    """Write the served model ``meta["name"]`` into ``folder``: its 8-bit ``weights``
    (``<name>.pt``), then its description ``meta`` (``<name>.json``) with the SHA-256 of that
    ``.pt`` added as ``weights_sha256``."""
    folder = Path(folder)
    torch.save(weights, folder / f"{meta['name']}.pt")
    meta["weights_sha256"] = file_sha256(folder / f"{meta['name']}.pt")
    (folder / f"{meta['name']}.json").write_text(
        json.dumps(meta, indent=1, ensure_ascii=False) + "\n")


def load_served(folder, name):
    """The served model ``name``'s description and 8-bit weights, read from ``folder``
    (``<name>.json`` and ``<name>.pt``); raises ``StaleServedModel`` where the ``.pt`` is not
    the file the description records."""
    folder = Path(folder)
    described, weights = folder / f"{name}.json", folder / f"{name}.pt"
    meta = json.loads(described.read_text())
    recorded, actual = meta.get("weights_sha256"), file_sha256(weights)
    if recorded is None:
        raise StaleServedModel(
            f"{described} records no weights_sha256, so nothing says that {weights} is the "
            f"file it describes: run python -m d2l_lite.explorer.prepare --choose to write the "
            f"pair again")
    if recorded != actual:
        raise StaleServedModel(
            f"{weights} (SHA-256 {actual}) is not the file {described} describes (SHA-256 "
            f"{recorded}): one of the two is stale. Run python -m d2l_lite.explorer.prepare "
            f"--choose to write the pair again")
    return meta, torch.load(weights, weights_only=True)


class Dequantized(nn.Module):
    """A parametrization: the weight is ``scale x q``, q the rounded weight's integers (kept
    in float32, as parametrizations keep their original's type; ``eight_bit_initializers``
    stores them as 8-bit integers in the ONNX file)."""

    def __init__(self, scale):
        super().__init__()
        self.register_buffer("scale", scale)

    def forward(self, q):
        return dequantize(q, self.scale)

    def right_inverse(self, weight):
        return quantize(weight)[0].to(weight.dtype)


def with_8_bit_weights(model):
    """A copy of ``model`` whose weight matrices are kept as integers and per-row scales and
    dequantized when used: the form the ONNX graphs store."""
    model = copy.deepcopy(model)
    for p in model.parameters():
        p.requires_grad_(False)  # an 8-bit original cannot require gradients
    for module in list(model.modules()):
        for name, value in list(module.named_parameters(recurse=False)):
            if value.dim() >= 2:
                _, scale = quantize(value.detach())
                parametrize.register_parametrization(module, name, Dequantized(scale),
                                                     unsafe=True)
    return model


class EncoderStep(nn.Module):
    """One step of a GRU ``Seq2SeqEncoder``: token (1,) and state (L, 1, H) -> (the top
    layer's output (1, H), the new state (L, 1, H)); the same numbers as its ``nn.GRU``."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, token, state):
        x, rnn, layers = self.encoder.embedding(token), self.encoder.rnn, []
        for l in range(rnn.num_layers):
            gates = F.linear(x, getattr(rnn, f"weight_ih_l{l}"), getattr(rnn, f"bias_ih_l{l}"))
            x = gru_cell(gates, state[l], getattr(rnn, f"weight_hh_l{l}"),
                         getattr(rnn, f"bias_hh_l{l}"))
            layers.append(x)
        return x, torch.stack(layers)


class DecoderStep(nn.Module):
    """One step of a ``FastSeq2SeqAttentionDecoder``: token (1,), state (L, 1, H) and the
    encoder's outputs (1, K, H) -> (logits (1, V), attention weights (1, K), new state)."""

    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, token, state, enc_outputs):
        logits, (_, new_state, _) = self.decoder(token.reshape(1, 1),
                                                 (enc_outputs, state, None))
        return logits[:, 0], self.decoder.attention_weights[0][:, 0], new_state


def eight_bit_initializers(path):
    """Rewrite the ONNX file at ``path`` so that every weight matrix whose entries are
    integers in -127..127 (the rounded weights' integers) is stored as 8-bit integers and cast
    back to float32 in the graph: a quarter of the bytes, the same numbers."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    graph = (model := onnx.load(str(path))).graph
    for init in list(graph.initializer):
        values = numpy_helper.to_array(init)
        if (values.ndim < 2 or values.dtype != np.float32 or np.abs(values).max() > 127
                or not np.array_equal(values, np.round(values))):
            continue
        graph.initializer.remove(init)
        graph.initializer.append(numpy_helper.from_array(values.astype(np.int8),
                                                         f"{init.name}.int8"))
        graph.node.insert(0, helper.make_node("Cast", [f"{init.name}.int8"], [init.name],
                                              to=onnx.TensorProto.FLOAT))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def export(model, folder, name, opset=17):
    """Write ``<name>.encoder.onnx`` and ``<name>.decoder.onnx`` of a served GRU model (eval
    mode) into ``folder``, with 8-bit weights (not folded into float32 constants at export:
    ONNX Runtime folds them when it loads the graph)."""
    small = with_8_bit_weights(model).eval()
    L, H = small.decoder.rnn.num_layers, small.decoder.rnn.hidden_size
    token, state = torch.zeros(1, dtype=torch.int64), torch.zeros(L, 1, H)
    enc_outputs = torch.zeros(1, 5, H)
    with torch.no_grad(), warnings.catch_warnings():
        # the trace fixes what is fixed for one token (one step, one row): as it should
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(EncoderStep(small.encoder), (token, state),
                          str(folder / f"{name}.encoder.onnx"), dynamo=False,
                          input_names=["token", "state"], output_names=["output", "new_state"],
                          opset_version=opset, do_constant_folding=False)
        torch.onnx.export(DecoderStep(small.decoder), (token, state, enc_outputs),
                          str(folder / f"{name}.decoder.onnx"), dynamo=False,
                          input_names=["token", "state", "enc_outputs"],
                          output_names=["logits", "weights", "new_state"],
                          dynamic_axes={"enc_outputs": {1: "source_tokens"},
                                        "weights": {1: "source_tokens"}},
                          opset_version=opset, do_constant_folding=False)
    for part in ("encoder", "decoder"):
        eight_bit_initializers(folder / f"{name}.{part}.onnx")
