"""Tools to check the claims commonly posted about dot-product scoring (Exercise 2).

* "It avoids the softmax entering a very small gradient region when d is large": the
  ``score_statistics`` of a trained model, the scale of its scores and how saturated its
  softmax is, on the model's own queries and keys; ``UnscaledDotProductAttention`` is the dot
  product without the 1/sqrt(d), to train and compare.
* "It is more robust to noise, since it has no parameters": ``encoder_noise`` adds Gaussian
  noise to the encoder's outputs (the keys and values) while a model is evaluated.

Shapes: B batch, K keys, d query/key size.
"""

import contextlib
import math
import statistics

import torch

from ..d2l.attention import DotProductAttention, masked_softmax


class UnscaledDotProductAttention(DotProductAttention):
    """Dot-product attention without the scaling: ``softmax(Q K^T) V``."""

    def forward(self, queries, keys, values, valid_lens=None):
        """queries (B, Q, d), keys (B, K, d), values (B, K, v) -> (B, Q, v)."""
        scores = torch.bmm(queries, keys.transpose(1, 2))
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)

    def scores_one(self, query, prepared):
        return torch.bmm(prepared, query.unsqueeze(2)).squeeze(2)


def unscaled(num_hiddens, dropout):
    """A registry entry (``attention.SCORERS``) for the unscaled dot product."""
    return UnscaledDotProductAttention(dropout)


@torch.no_grad()
def score_statistics(model, data, saturated=0.9):
    """How a dot-product model of ``d2l_lite.fast`` scores its own validation sentences, at
    every decoding step: the mean over steps of the standard deviation of its scores over the
    valid keys (what the softmax sees), of the same scores without the 1/sqrt(d) (for the
    unscaled scorer, the same numbers), and of sqrt(d) std(q) std(k) (what the product's
    standard deviation would be with independent entries of those sizes); the mean largest
    weight, and the share of steps whose largest weight exceeds ``saturated``, where the
    softmax passes little gradient to the other scores. Evaluated in eval mode, on the
    model's own queries and keys (its scorer's ``scores_one`` is watched while it runs)."""
    attention, d = model.decoder.attention, model.decoder.rnn.hidden_size
    if not hasattr(model.decoder, "target_logits"):
        raise TypeError("score_statistics watches the fast path's scorer calls: build the "
                        "model with experiment.make_model(..., fast=True)")
    scale = 1.0 if isinstance(attention, UnscaledDotProductAttention) else math.sqrt(d)
    calls, rows = [], []
    watched = attention.scores_one

    def watching(query, prepared):
        scores = watched(query, prepared)
        calls.append((query, prepared, scores))
        return scores

    attention.scores_one = watching
    was_training = model.training
    model.eval()
    try:
        for src, tgt, src_len, _ in data.val_dataloader():
            calls.clear()
            model(src, tgt, src_len)
            for query, keys, scores in calls:
                for b, n in enumerate(src_len.tolist()):
                    if n > 1:
                        s = scores[b, :n]
                        rows.append((float(s.std()), float((s * scale).std()),
                                     math.sqrt(d) * float(query[b].std() * keys[b, :n].std()),
                                     float(torch.softmax(s, 0).max())))
    finally:
        del attention.scores_one  # the class's method again
        model.train(was_training)
    columns = list(zip(*rows))
    mean = statistics.fmean
    return dict(score_std=mean(columns[0]), raw_std=mean(columns[1]),
                independent_std=mean(columns[2]), largest_weight=mean(columns[3]),
                saturated=mean(w > saturated for w in columns[3]), d=d, steps=len(rows))


@contextlib.contextmanager
def encoder_noise(model, sigma, seed=0):
    """Inside the block, the encoder's outputs (the decoder's keys and values) get Gaussian
    noise of standard deviation ``sigma`` times their own standard deviation (drawn from a
    generator seeded with ``seed``); the decoder's initial state is left as it is."""
    generator = torch.Generator().manual_seed(seed)

    def hook(module, inputs, output):
        outputs, state = output
        noise = torch.randn(outputs.shape, generator=generator).to(outputs.device)
        return outputs + sigma * outputs.std() * noise, state

    handle = model.encoder.register_forward_hook(hook)
    try:
        yield model
    finally:
        handle.remove()
