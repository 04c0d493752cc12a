"""Attention scoring of D2L §11.3: masked softmax, scaled dot-product and additive attention.

Both scorers take ``forward(queries, keys, values, valid_lens)`` and keep the weights of their
last call in ``attention_weights``, as in d2l 1.0.3, whose numbers they reproduce.

Beyond d2l, each scorer says how to score one query per row against keys prepared once per
sentence (``prepare_keys``, ``scores_one``; ``d2l_lite.fast`` decodes with them) and what that
costs (``matmul_flops``). ``SCORERS`` is the registry the decoders build scorers from: a new
scorer is a class in this module and one entry there.

Shapes: B batch, Q queries, K keys, d query/key size, v value size, h the additive scorer's
hidden size.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

MASK_VALUE = -1e6  # d2l's value for masked scores: exp(-1e6 - max) underflows to exactly 0


def masked_softmax(X, valid_lens):
    """Softmax over the last axis of ``X`` that ignores keys at positions >= ``valid_lens``.

    Args:
        X: scores, shape (B, Q, K).
        valid_lens: None, (B,) or (B, Q); entry b (or b, q) counts the valid keys.
    Returns:
        Weights of shape (B, Q, K); masked keys get weight 0 (a row with no valid key is
        uniform, as in d2l 1.0.3).
    """
    if valid_lens is None:
        return F.softmax(X, dim=-1)
    if X.dim() != 3:
        raise ValueError(f"masked_softmax expects scores of shape (batch, queries, keys), "
                         f"got {tuple(X.shape)}")
    B, Q, K = X.shape
    if tuple(valid_lens.shape) not in {(B,), (B, Q)}:
        raise ValueError(
            f"valid_lens has shape {tuple(valid_lens.shape)} but the scores have shape "
            f"{(B, Q, K)} (batch, queries, keys): pass one valid length per sequence, "
            f"shape ({B},), or one per query, shape ({B}, {Q})")
    lens = valid_lens.reshape(B, -1, 1)  # (B, 1 or Q, 1)
    mask = torch.arange(K, device=X.device) < lens  # (B, 1 or Q, K)
    return F.softmax(X.masked_fill(~mask, MASK_VALUE), dim=-1)


class DotProductAttention(nn.Module):
    """Scaled dot-product attention: ``softmax(Q K^T / sqrt(d)) V``; no parameters.

    Queries and keys must have the same size d. Dividing by sqrt(d) keeps the scores' variance
    near 1 when the entries of q and k have unit variance, so the softmax does not saturate.
    """

    def __init__(self, dropout):
        super().__init__()
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries, keys, values, valid_lens=None):
        """queries (B, Q, d), keys (B, K, d), values (B, K, v) -> (B, Q, v)."""
        d = queries.shape[-1]
        if keys.shape[-1] != d:
            raise ValueError(
                f"dot-product scoring needs queries and keys of the same size, got query size "
                f"{d} and key size {keys.shape[-1]}: project one of them (or use "
                f"AdditiveAttention, which accepts different sizes)")
        scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(d)  # (B, Q, K)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)

    def prepare_keys(self, keys):
        """What scoring reads from the keys (B, K, d) at every step: the keys themselves."""
        return keys

    def scores_one(self, query, prepared):
        """Unmasked scores of one query per row: query (n, d), prepared (n, K, d) -> (n, K);
        ``forward``'s scores for one query, up to float rounding."""
        return torch.bmm(prepared, query.unsqueeze(2)).squeeze(2) / math.sqrt(query.shape[1])

    def matmul_flops(self, num_keys, query_size, key_size, keys_once=True):
        """Multiply-add FLOPs (2 per multiply-add) of scoring one query against ``num_keys``
        keys: q.k per key, 2 K d."""
        return 2 * num_keys * query_size

    def elementwise_flops(self, num_keys):
        """Element-wise operations of scoring one query: the 1/sqrt(d) scale, K."""
        return num_keys


class AdditiveAttention(nn.Module):
    """Additive (Bahdanau) attention: score(q, k) = w_v^T tanh(W_q q + W_k k).

    ``num_hiddens`` is the hidden size h. As in d2l, the projections are lazy (their input sizes
    are read at the first call) unless ``query_size`` and ``key_size`` are given. Parameter
    names ``W_q``, ``W_k``, ``w_v`` are d2l's, so its state_dicts load.
    """

    def __init__(self, num_hiddens, dropout, query_size=None, key_size=None):
        super().__init__()
        self.W_k = _linear(key_size, num_hiddens)
        self.W_q = _linear(query_size, num_hiddens)
        self.w_v = _linear(None if query_size is None else num_hiddens, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries, keys, values, valid_lens=None):
        """queries (B, Q, d_q), keys (B, K, d_k), values (B, K, v) -> (B, Q, v)."""
        queries, keys = self.W_q(queries), self.W_k(keys)  # (B, Q, h), (B, K, h)
        # Every query against every key: (B, Q, 1, h) + (B, 1, K, h) -> (B, Q, K, h)
        features = torch.tanh(queries.unsqueeze(2) + keys.unsqueeze(1))
        scores = self.w_v(features).squeeze(-1)  # (B, Q, K)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)

    def prepare_keys(self, keys):
        """What scoring reads from the keys (B, K, d_k) at every step: W_k k, (B, K, h)."""
        return self.W_k(keys)

    def scores_one(self, query, prepared):
        """Unmasked scores of one query per row: query (n, d_q), prepared = W_k k (n, K, h)
        -> (n, K); ``forward``'s scores for one query, up to float rounding."""
        features = torch.tanh(self.W_q(query).unsqueeze(1) + prepared)  # (n, K, h)
        return self.w_v(features).squeeze(-1)

    def matmul_flops(self, num_keys, query_size, key_size, keys_once=True):
        """Multiply-add FLOPs of scoring one query against ``num_keys`` keys: W_q q (2 d_q h),
        w_v over the K features (2 K h), and W_k k for every key (2 K d_k h) unless the keys
        were projected once per sentence (``keys_once``), which is not counted here."""
        h = self.W_q.out_features
        flops = 2 * query_size * h + 2 * num_keys * h
        return flops if keys_once else flops + 2 * num_keys * key_size * h

    def elementwise_flops(self, num_keys):
        """Element-wise operations of scoring one query: the h-wide sum and tanh per key."""
        return 2 * num_keys * self.W_q.out_features


SCORERS = {
    "additive": lambda num_hiddens, dropout: AdditiveAttention(num_hiddens, dropout),
    "dot": lambda num_hiddens, dropout: DotProductAttention(dropout),
}
"""name -> scorer(num_hiddens, dropout): the scorers a decoder can be built with."""


def _linear(in_features, out_features):
    """A bias-free projection; lazy when the input size is not known yet."""
    if in_features is None:
        return nn.LazyLinear(out_features, bias=False)
    return nn.Linear(in_features, out_features, bias=False)
