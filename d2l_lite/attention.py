"""Attention scoring of D2L §11.3: masked softmax, scaled dot-product and additive attention.

Both scorers take ``forward(queries, keys, values, valid_lens)`` and keep the weights of their
last call in ``attention_weights``, as in d2l 1.0.3, whose numbers they reproduce.

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


def _linear(in_features, out_features):
    """A bias-free projection; lazy when the input size is not known yet."""
    if in_features is None:
        return nn.LazyLinear(out_features, bias=False)
    return nn.Linear(in_features, out_features, bias=False)
