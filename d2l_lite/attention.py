"""Attention scoring as in D2L §11.3: masked softmax, scaled dot-product and additive attention.

Both scorers share one interface, ``forward(queries, keys, values, valid_lens)``, plus two
methods for a decoder that queries the same keys at every step: ``prepare_keys(keys)``, what
can be computed once per source sentence (for additive attention, the key projection ``W_k k``),
and ``step_weights(query, prepared_keys, key_mask)``, the attention weights of one query per
sequence from those prepared keys, with a mask (``key_mask``) computed once per sentence too.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from .activations import tanh
from .linear import apply_linear

MASK_VALUE = -1e6  # d2l's masking value: exp(-1e6) underflows to exactly 0
# Up to this many keys, one query per sequence is scored and pooled by ``_DotScores`` and
# ``_Pool`` instead of torch.bmm alone: on CPU, bmm's backward for such thin matrices (inner
# size 1) is 1.5-3x slower (measured for K = 9..32, d = 256); beyond ~64 keys bmm wins.
SMALL_K = 32


def _check_valid_lens(scores, valid_lens):
    """Raise ValueError unless ``valid_lens`` is (B,) or (B, Q) for ``scores`` of (B, Q, K)."""
    B, Q = scores.shape[0], scores.shape[1]
    if tuple(valid_lens.shape) not in {(B,), (B, Q)}:
        raise ValueError(
            f"valid_lens has shape {tuple(valid_lens.shape)} but the scores have shape "
            f"{tuple(scores.shape)} (batch, queries, keys): pass one valid length per sequence, "
            f"shape ({B},), or one per query, shape ({B}, {Q})"
        )


class _Pool(torch.autograd.Function):
    """weights (B, K), values (B, K, v) -> (B, v): sum_k weights[b, k] values[b, k].

    One query per sequence, as in a decoding step. Each product runs in its faster form on
    the CPU: a (1, K) x (K, v) ``bmm`` forward, a broadcast multiply-and-sum for the weights'
    gradient (``bmm`` is slow for (K, v) x (v, 1)) and an outer product for the values'.
    """

    @staticmethod
    def forward(ctx, weights, values):
        ctx.save_for_backward(weights, values)
        return torch.bmm(weights.unsqueeze(1), values).squeeze(1)

    @staticmethod
    def backward(ctx, grad):
        weights, values = ctx.saved_tensors
        d_weights = d_values = None
        if ctx.needs_input_grad[0]:
            d_weights = (values * grad.unsqueeze(1)).sum(-1)  # (B, K)
        if ctx.needs_input_grad[1]:
            d_values = weights.unsqueeze(2) * grad.unsqueeze(1)  # (B, K, v)
        return d_weights, d_values


class _DotScores(torch.autograd.Function):
    """keys (B, K, d), query (B, d) -> (B, K): keys[b, k] . query[b]; the transpose of
    ``_Pool``, with the same choice of forms."""

    @staticmethod
    def forward(ctx, keys, query):
        ctx.save_for_backward(keys, query)
        return (keys * query.unsqueeze(1)).sum(-1)

    @staticmethod
    def backward(ctx, grad):
        keys, query = ctx.saved_tensors
        d_keys = d_query = None
        if ctx.needs_input_grad[0]:
            d_keys = grad.unsqueeze(2) * query.unsqueeze(1)  # (B, K, d)
        if ctx.needs_input_grad[1]:
            d_query = torch.bmm(grad.unsqueeze(1), keys).squeeze(1)  # (B, d)
        return d_keys, d_query


def pool(weights, values):
    """Attention pooling of one query per sequence: weights (B, K), values (B, K, v) ->
    (B, v); the same as ``weighted_sum`` up to float rounding, faster for a decoding step."""
    return _Pool.apply(weights, values)


def weighted_sum(weights, values):
    """Attention pooling: weights (B, Q, K) times values (B, K, v) -> (B, Q, v).

    For one query and few keys (a decoding step, see ``SMALL_K``) ``pool`` replaces
    ``torch.bmm``; same result up to float rounding.
    """
    if weights.shape[1] == 1 and values.shape[1] <= SMALL_K:
        return pool(weights.squeeze(1), values).unsqueeze(1)  # (B, 1, v)
    return torch.bmm(weights, values)


def key_mask(valid_lens, num_keys):
    """Boolean mask (B, K), True for the keys at positions < ``valid_lens`` (B,); None if None."""
    if valid_lens is None:
        return None
    return torch.arange(num_keys, device=valid_lens.device) < valid_lens.reshape(-1, 1)


def masked_softmax_with_mask(scores, mask):
    """Softmax over the last axis with keys where ``mask`` is False set to ``MASK_VALUE``, as
    ``masked_softmax``; scores (B, K) or (B, Q, K), mask broadcastable to them, or None."""
    if mask is None:
        return F.softmax(scores, dim=-1)
    return F.softmax(scores.masked_fill(~mask, MASK_VALUE), dim=-1)


def masked_softmax(X, valid_lens):
    """Softmax over the last axis of ``X`` that ignores keys at positions >= ``valid_lens``.

    Args:
        X: scores, shape (B, Q, K).
        valid_lens: None, (B,) or (B, Q); entry b (or b, q) counts the valid keys.
    Returns:
        Weights of shape (B, Q, K); masked keys get weight 0 (a row with no valid key is
        uniform, as in d2l 1.0.3, which fills masked scores with -1e6).
    """
    if valid_lens is None:
        return F.softmax(X, dim=-1)
    if X.dim() != 3:
        raise ValueError(f"masked_softmax expects scores of shape (batch, queries, keys), "
                         f"got {tuple(X.shape)}")
    _check_valid_lens(X, valid_lens)
    lens = valid_lens.reshape(X.shape[0], -1, 1)  # (B, 1 or Q, 1)
    positions = torch.arange(X.shape[-1], device=X.device)  # (K,)
    return masked_softmax_with_mask(X, positions < lens)  # mask (B, 1 or Q, K)


class DotProductAttention(nn.Module):
    """Scaled dot-product attention: ``softmax(Q K^T / sqrt(d)) V``; no parameters.

    Queries and keys must have the same size d; dividing by sqrt(d) keeps the scores' variance
    near 1 when the entries of q and k have unit variance, so the softmax does not saturate.
    """

    def __init__(self, dropout):
        super().__init__()
        self.dropout = nn.Dropout(dropout)

    def prepare_keys(self, keys):
        """Nothing to precompute: returns ``keys`` (B, K, d)."""
        return keys

    def forward(self, queries, keys, values, valid_lens=None, prepared_keys=None):
        """queries (B, Q, d), keys (B, K, d), values (B, K, v) -> (B, Q, v).

        Sets ``self.attention_weights`` (B, Q, K).
        """
        d = queries.shape[-1]
        if keys.shape[-1] != d:
            raise ValueError(
                f"dot-product scoring needs queries and keys of the same size, got query size "
                f"{d} and key size {keys.shape[-1]}: project one of them (or use "
                f"AdditiveAttention, which accepts different sizes)"
            )
        if queries.shape[1] == 1 and keys.shape[1] <= SMALL_K:  # faster than bmm (SMALL_K)
            scores = _DotScores.apply(keys, queries.squeeze(1)).unsqueeze(1) / math.sqrt(d)
        else:
            scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(d)  # (B, Q, K)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return weighted_sum(self.dropout(self.attention_weights), values)

    def step_weights(self, query, prepared_keys, mask):
        """Weights of one query per sequence: query (B, d), prepared_keys (B, K, d), mask
        (B, K) from ``key_mask`` or None -> (B, K), before dropout."""
        scores = _DotScores.apply(prepared_keys, query) / math.sqrt(query.shape[-1])
        return masked_softmax_with_mask(scores, mask)


class AdditiveAttention(nn.Module):
    """Additive (Bahdanau) attention: score(q, k) = w_v^T tanh(W_q q + W_k k).

    ``num_hiddens`` is the width h of the hidden layer. As in d2l, the projections are lazy
    (their input sizes are read at the first call) unless ``query_size`` and ``key_size`` are
    given. Parameter names ``W_q``, ``W_k``, ``w_v`` match d2l's, so its state_dicts load.
    """

    def __init__(self, num_hiddens, dropout, query_size=None, key_size=None):
        super().__init__()

        def linear(in_features, out_features):
            if in_features is None:
                return nn.LazyLinear(out_features, bias=False)
            return nn.Linear(in_features, out_features, bias=False)

        self.W_k = linear(key_size, num_hiddens)
        self.W_q = linear(query_size, num_hiddens)
        self.w_v = linear(None if query_size is None else num_hiddens, 1)
        self.dropout = nn.Dropout(dropout)

    def materialize(self, query_size, key_size):
        """Create lazy parameters now, in d2l's order (W_q, W_k, w_v), so that a seeded run
        draws the same initial weights as d2l, which creates them at the first call."""
        for layer, size in ((self.W_q, query_size), (self.W_k, key_size),
                            (self.w_v, self.W_q.out_features)):
            if isinstance(layer, nn.LazyLinear):
                layer(torch.zeros(1, size, device=layer.weight.device))

    def prepare_keys(self, keys):
        """Project keys once, (B, K, d_k) -> (B, K, h); they do not change while decoding."""
        return apply_linear(self.W_k, keys)

    def forward(self, queries, keys, values, valid_lens=None, prepared_keys=None):
        """queries (B, Q, d_q), keys (B, K, d_k), values (B, K, v) -> (B, Q, v).

        ``prepared_keys`` (B, K, h), if given, replaces ``W_k(keys)``. Sets
        ``self.attention_weights`` (B, Q, K).
        """
        keys = apply_linear(self.W_k, keys) if prepared_keys is None else prepared_keys  # (B, K, h)
        queries = apply_linear(self.W_q, queries)  # (B, Q, h)
        features = torch.tanh(queries.unsqueeze(2) + keys.unsqueeze(1))  # (B, Q, K, h)
        scores = self.w_v(features).squeeze(-1)  # (B, Q, K)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return weighted_sum(self.dropout(self.attention_weights), values)

    def step_weights(self, query, prepared_keys, mask):
        """Weights of one query per sequence: query (B, d_q), prepared_keys (B, K, h) from
        ``prepare_keys``, mask (B, K) from ``key_mask`` or None -> (B, K), before dropout."""
        features = tanh(prepared_keys + apply_linear(self.W_q, query).unsqueeze(1))  # (B, K, h)
        scores = features @ self.w_v.weight.squeeze(0)  # (B, K)
        return masked_softmax_with_mask(scores, mask)
