"""Helpers for the book's experiments: build and train a §11.4 model, translate, score.

Nothing here is in d2l; it keeps the chapters short. Settings come from
``d2l_lite.settings`` (``HPARAMS``, ``PROBES``), their one source.

**What a seed fixes.** ``train(data, seed=s, ...)`` makes every random choice of a run from
``s``, each from its own stream, so that two runs with the same seed differ only where their
models differ: the training batches come from a generator of their own (not PyTorch's global
one, which model building and dropout also draw from); the encoder, the decoder's layers and
each layer created lazily at the first forward pass (the scorer's projections, the output
layer) are drawn from generators seeded by (s, the part's name), so that two models sharing a
part (additive and dot-product decoders share the embedding, the RNN and the output layer;
GRU and LSTM decoders the embedding and the output layer) start it from identical weights;
and the dropout masks come from PyTorch's global generator, seeded with ``s`` when training
starts, which every §11.4 variant consumes alike (the masks have the same shapes).
"""

import contextlib
import copy
import difflib
import hashlib
import inspect
import math
import statistics

import torch
from torch.nn import functional as F

from ..d2l.data import check_sentences, preprocess, read_lines
from ..d2l.metrics import bleu
from ..d2l.seq2seq import Seq2Seq, Seq2SeqAttentionDecoder, Seq2SeqEncoder
from ..d2l.train import Trainer
from ..d2l.utils import set_seed
from ..fast import FastSeq2Seq, FastSeq2SeqAttentionDecoder, target_lengths
from ..settings import HPARAMS, PROBES

__all__ = ["PROBES", "HPARAMS", "hparams", "make_model", "train", "seeded_batches"]


def hparams(**overrides):
    """``HPARAMS`` with ``overrides`` replacing some entries; an unknown name is an error (a
    misspelt setting would otherwise be ignored), and so is ``batch_size``, which the data
    module holds."""
    if "batch_size" in overrides:
        raise ValueError(f"batch_size={overrides['batch_size']!r}: the batch size belongs to "
                         f"the data module, e.g. d2l.MTFraEng(batch_size=...)")
    unknown = sorted(set(overrides) - set(HPARAMS))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}: choose from {sorted(HPARAMS)}")
    return {**HPARAMS, **overrides}


@contextlib.contextmanager
def part_seed(seed, part):
    """Draw from a generator seeded by (``seed``, ``part``) inside the block, and leave
    PyTorch's global generator as it was."""
    derived = int.from_bytes(hashlib.sha256(f"{seed}/{part}".encode()).digest()[:8], "little")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derived % 2**63)
        yield


def make_model(data, rnn="gru", scoring="additive", enc_rnn=None, fast=True, decoder=None,
               seed=0, encoder=None, attention_dropout=None, **overrides):
    """A §11.4 model with an ``enc_rnn`` (default: ``rnn``) encoder and an attention decoder,
    drawn from ``seed`` part by part (see the module docstring); PyTorch's global generator
    is left as it was.

    ``fast=True`` builds ``fast.FastSeq2Seq`` (the same model, computed with less work),
    ``fast=False`` the reference ``Seq2Seq``; both start from the same weights.
    ``decoder``, if given, is a decoder class called as §11.4 calls its own
    (vocab_size, embed_size, num_hiddens, num_layers, dropout), such as a reader's version or
    §10.7's ``d2l.Seq2SeqDecoder``, trained by ``Seq2Seq``. ``encoder``, if given, is an
    encoder class called the same way instead of ``Seq2SeqEncoder``; the attention decoder's
    keys are as wide as its ``output_size`` (``num_hiddens`` without one).
    ``attention_dropout``, if given, replaces the dropout rate of the attention weights (the
    RNNs keep ``dropout``). ``overrides`` replace entries of ``HPARAMS`` (``hparams``).
    """
    hp = hparams(**overrides)
    args = (hp["embed_size"], hp["num_hiddens"], hp["num_layers"], hp["dropout"])
    with part_seed(seed, "encoder"):
        if encoder is not None:
            encoder = encoder(len(data.src_vocab), *args)
        else:
            encoder = Seq2SeqEncoder(len(data.src_vocab), *args, rnn=enc_rnn or rnn)
    key_size = getattr(encoder, "output_size", hp["num_hiddens"])
    with part_seed(seed, "decoder"):
        if decoder is not None:
            model_class, decoder = Seq2Seq, decoder(len(data.tgt_vocab), *args)
        else:
            model_class = FastSeq2Seq if fast else Seq2Seq
            decoder_class = FastSeq2SeqAttentionDecoder if fast else Seq2SeqAttentionDecoder
            decoder = decoder_class(len(data.tgt_vocab), *args, rnn=rnn, scoring=scoring,
                                    key_size=key_size)
    if attention_dropout is not None:
        decoder.attention.dropout.p = attention_dropout
    create_lazy_layers(decoder, seed, hp["num_hiddens"], key_size)
    return model_class(encoder, decoder, tgt_pad=data.tgt_vocab["<pad>"], lr=hp["lr"])


def create_lazy_layers(decoder, seed, num_hiddens, key_size=None):
    """Create the lazy layers of ``decoder`` (its scorer's projections, ``attention``, and its
    output layer, ``dense``), each from its own part seed."""
    H = num_hiddens
    for name in ("attention", "dense"):
        module = getattr(decoder, name, None)
        if module is None or not any(torch.nn.parameter.is_lazy(p) for p in module.parameters()):
            continue
        with part_seed(seed, f"decoder.{name}"), torch.no_grad():
            if name == "dense":
                module(torch.zeros(1, H))
            else:
                training = module.training
                module.eval()  # no dropout
                keys = torch.zeros(1, 1, key_size or H)
                module(torch.zeros(1, 1, H), keys, keys)
                module.train(training)


def seeded_batches(data, seed):
    """A shallow copy of the data module ``data`` (the arrays are shared) whose training
    batches are shuffled by a generator of their own, seeded with ``seed``."""
    data = copy.copy(data)
    data.batch_generator = torch.Generator().manual_seed(seed)
    return data


def train(data, seed=0, rnn="gru", scoring="additive", enc_rnn=None, fast=True, decoder=None,
          patience=None, plot=False, encoder=None, attention_dropout=None, **overrides):
    """Build (``make_model``) and fit one model, every random choice made from ``seed`` (see
    the module docstring); returns (model, history), see ``Trainer.fit``. With ``patience``,
    training stops once the validation loss has not improved for that many epochs, and the
    model keeps its best epoch's weights.

    The live loss plot is off unless ``plot``: the chapters train many models in one cell.
    """
    hp = hparams(**overrides)
    model = make_model(data, rnn, scoring, enc_rnn, fast, decoder, seed, encoder,
                       attention_dropout, **overrides)
    model.board.display = plot
    set_seed(seed)  # dropout
    trainer = Trainer(max_epochs=hp["max_epochs"], gradient_clip_val=hp["gradient_clip_val"],
                      patience=patience)
    history = trainer.fit(model, seeded_batches(data, seed))
    return model, history


def source_diff(old, new, context=2):
    """The lines that change from ``old``'s source code to ``new``'s (classes or functions),
    as a unified diff: how a reader gets from one to the other."""
    a, b = (inspect.getsource(x).splitlines() for x in (old, new))
    return "\n".join(difflib.unified_diff(a, b, old.__qualname__, new.__qualname__,
                                          n=context, lineterm=""))


def num_parameters(model):
    """Number of trainable parameters (after the first forward pass creates lazy ones)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def translate(model, data, src_sentences, save_attention_weights=False):
    """Greedy translations of preprocessed English sentences (token lists, cut at <eos>)
    and, if asked, the attention maps: (translations, maps), maps (N, num_steps, K) or None.
    """
    src_sentences = check_sentences(src_sentences, "src_sentences")
    batch = data.build(src_sentences, [""] * len(src_sentences))
    device = next(model.parameters()).device
    preds, steps = model.predict_step(batch, device, data.num_steps, save_attention_weights)
    translations = []
    for p in preds.cpu().tolist():
        tokens = [data.tgt_vocab.idx_to_token[i] for i in p]
        translations.append(tokens[:tokens.index("<eos>")] if "<eos>" in tokens else tokens)
    maps = torch.cat([s[0] for s in steps], 1).cpu() if steps else None  # (N, steps, K)
    return translations, maps


def mean_bleu(model, data, src_sentences, tgt_sentences, k=2):
    """Mean sentence BLEU (D2L's ``bleu`` with k-grams) of the model's translations of
    ``src_sentences`` against ``tgt_sentences`` (lists of the same, non-zero length)."""
    tgt_sentences = check_sentences(tgt_sentences, "tgt_sentences")
    if len(src_sentences) != len(tgt_sentences):
        raise ValueError(f"{len(src_sentences)} source sentences but {len(tgt_sentences)} "
                         f"references: pass one reference per source sentence")
    translations, _ = translate(model, data, src_sentences)
    return statistics.mean(bleu(" ".join(t), ref, k)
                           for t, ref in zip(translations, tgt_sentences, strict=True))


def target_fill(data, batch):
    """The share of a batch's B x T decoder positions that hold target tokens (not padding)."""
    labels = batch[-1]
    return target_lengths(labels, data.tgt_vocab["<pad>"]).sum().item() / labels.numel()


def tokens_as_seen(vocab, sentence):
    """A preprocessed sentence's tokens as the model sees them (``<unk>`` for unknown words),
    plus ``<eos>``."""
    return [t if vocab.token_to_idx.get(t) is not None else "<unk>"
            for t in sentence.split()] + ["<eos>"]


def attention_summary(model, data, src_sentences):
    """Per sentence, over the greedy translation's steps up to and including ``<eos>``: the
    mean normalised entropy of the attention weights over the n valid source positions
    (entropy / ln n: 0 = one position, 1 = uniform), the mean largest weight, and the share
    of steps whose most-attended position does not move left. Sentences of one source token
    are skipped. Returns a dict of lists, one entry per sentence kept."""
    translations, maps = translate(model, data, src_sentences, save_attention_weights=True)
    _, _, src_len, _ = data.build(src_sentences, [""] * len(src_sentences))
    out = {"entropy": [], "peak": [], "monotone": []}
    for tokens, W, n in zip(translations, maps, src_len.tolist()):
        W = W[:min(len(tokens) + 1, W.shape[0]), :n]  # steps up to <eos>, valid keys
        if n < 2:
            continue
        entropy = -(W * W.clamp_min(1e-12).log()).sum(-1) / math.log(n)
        out["entropy"].append(entropy.mean().item())
        out["peak"].append(W.max(-1).values.mean().item())
        top = W.argmax(-1)
        out["monotone"].append((top[1:] >= top[:-1]).float().mean().item()
                               if len(top) > 1 else 1.0)
    return out


def held_out_pairs(data, n=500):
    """``n`` preprocessed (English, French) pairs from the corpus lines after those trained
    and validated on (d2l's MTFraEng uses lines 0..num_train+num_val)."""
    first = data.num_train + data.num_val + 1
    text = preprocess(read_lines(data.path, first + n))
    lines = text.split("\n")[first:first + n]
    pairs = [line.split("\t") for line in lines if line.count("\t") == 1]
    return [p[0] for p in pairs], [p[1] for p in pairs]


@torch.no_grad()
def masked_val_loss(model, data):
    """Validation cross-entropy averaged over non-<pad> target tokens.

    Computed here rather than with ``model.loss``, so that it is the same yardstick for every
    model, d2l 1.0.3's (whose loss includes padding) among them. The model is evaluated in
    eval mode and left in the mode it was in.
    """
    was_training = model.training
    model.eval()
    pad = data.tgt_vocab["<pad>"]
    total, count = 0.0, 0
    try:
        for src, tgt, src_len, label in data.val_dataloader():
            logits = model(src, tgt, src_len)
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                           label.reshape(-1), ignore_index=pad,
                                           reduction="sum"))
            count += int((label != pad).sum())
    finally:
        model.train(was_training)
    return total / count
