"""Helpers for the book's experiments: build and train a §11.4 model, translate, score.

Nothing here is in d2l; it keeps the chapters short. ``HPARAMS`` are D2L §11.4's settings and
``PROBES`` its four probe sentences, the one place both are written down.
"""

import difflib
import inspect
import math
import statistics

import torch
from torch.nn import functional as F

from .data import check_sentences, read_lines
from .fast import FastSeq2Seq, FastSeq2SeqAttentionDecoder, target_lengths
from .metrics import bleu
from .seq2seq import Seq2Seq, Seq2SeqAttentionDecoder, Seq2SeqEncoder
from .train import Trainer
from .utils import set_seed

HPARAMS = dict(embed_size=256, num_hiddens=256, num_layers=2, dropout=0.2, lr=0.005,
               max_epochs=30, gradient_clip_val=1, batch_size=128)

# D2L §11.4's probe sentences (English, French reference). Three are training pairs: lines 1,
# 50 and 350 of fra.txt, among the 512 that §11.4 trains on. "he's calm ." is nowhere in the
# corpus (line 274, "he's wet .", is the nearest training pair), so it is the only one unseen.
PROBES = (("go .", "va !"), ("i lost .", "j'ai perdu ."), ("he's calm .", "il est calme ."),
          ("i'm home .", "je suis chez moi ."))


def make_model(data, rnn="gru", scoring="additive", enc_rnn=None, fast=True, decoder=None,
               **overrides):
    """A §11.4 model with an ``enc_rnn`` (default: ``rnn``) encoder and an attention decoder.

    ``fast=True`` builds ``fast.FastSeq2Seq`` (the same model, computed with less work),
    ``fast=False`` the reference ``Seq2Seq``; a seeded run gives both the same initial weights.
    ``decoder``, if given, is a reader's decoder class, called as §11.4 calls its own
    (vocab_size, embed_size, num_hiddens, num_layers, dropout) and trained by ``Seq2Seq``.
    ``overrides`` replace entries of ``HPARAMS``.
    """
    hp = {**HPARAMS, **overrides}
    args = (hp["embed_size"], hp["num_hiddens"], hp["num_layers"], hp["dropout"])
    encoder = Seq2SeqEncoder(len(data.src_vocab), *args, rnn=enc_rnn or rnn)
    if decoder is not None:
        model_class, decoder = Seq2Seq, decoder(len(data.tgt_vocab), *args)
    elif fast:
        model_class = FastSeq2Seq
        decoder = FastSeq2SeqAttentionDecoder(len(data.tgt_vocab), *args, rnn=rnn,
                                              scoring=scoring)
    else:
        model_class = Seq2Seq
        decoder = Seq2SeqAttentionDecoder(len(data.tgt_vocab), *args, rnn=rnn, scoring=scoring)
    return model_class(encoder, decoder, tgt_pad=data.tgt_vocab["<pad>"], lr=hp["lr"])


def train(data, seed=0, rnn="gru", scoring="additive", enc_rnn=None, fast=True, decoder=None,
          patience=None, plot=False, **overrides):
    """Seed, build (``make_model``) and fit one model; returns (model, history), see
    ``Trainer.fit``. With ``patience``, training stops once the validation loss has not
    improved for that many epochs, and the model keeps its best epoch's weights.

    The live loss plot is off unless ``plot``: the chapters train many models in one cell.
    """
    hp = {**HPARAMS, **overrides}
    set_seed(seed)
    model = make_model(data, rnn, scoring, enc_rnn, fast, decoder, **overrides)
    model.board.display = plot
    trainer = Trainer(max_epochs=hp["max_epochs"], gradient_clip_val=hp["gradient_clip_val"],
                      patience=patience)
    history = trainer.fit(model, data)
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
    text = data._preprocess(read_lines(data.path, first + n))
    lines = text.split("\n")[first:first + n]
    pairs = [line.split("\t") for line in lines if line.count("\t") == 1]
    return [p[0] for p in pairs], [p[1] for p in pairs]


@torch.no_grad()
def masked_val_loss(model, data):
    """Validation cross-entropy averaged over non-<pad> target tokens.

    Computed here rather than with ``model.loss``, so that it is the same yardstick for every
    model, d2l 1.0.3's (whose loss includes padding) among them.
    """
    model.eval()
    pad = data.tgt_vocab["<pad>"]
    total, count = 0.0, 0
    for src, tgt, src_len, label in data.val_dataloader():
        logits = model(src, tgt, src_len)
        total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), label.reshape(-1),
                                       ignore_index=pad, reduction="sum"))
        count += int((label != pad).sum())
    return total / count
