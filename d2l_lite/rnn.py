"""Stacked GRUs and LSTMs step by step, computed from an ``nn.GRU``/``nn.LSTM``'s weights.

The attention decoder runs its RNN one step at a time, because each step's input depends on the
attention context of the previous state. Calling ``nn.GRU`` on a length-1 sequence works, but it
re-projects the (known in advance) token embeddings at every step. These helpers let a model
compute the embeddings' share of the first layer's input gates for all steps at once
(``embedding_gates``), run the cells from precomputed input gates (``gru_cell``,
``lstm_cell``, ``stacked_rnn``) and draw the dropout masks of all steps at once
(``dropout_noise``). The equations and their order are PyTorch's, so results equal
``nn.GRU``/``nn.LSTM`` up to float rounding, with the same dropout masks (the tests check this).
"""

import math

import torch
from torch.nn import functional as F

RNN_TYPES = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM}


def make_rnn(kind, input_size, num_hiddens, num_layers, dropout):
    """``nn.GRU`` or ``nn.LSTM`` by name, with a clear error for any other name."""
    if kind not in RNN_TYPES:
        raise ValueError(f"unknown rnn {kind!r}: choose one of {sorted(RNN_TYPES)}")
    return RNN_TYPES[kind](input_size, num_hiddens, num_layers, dropout=dropout)


def layer_weights(rnn, layer):
    """(w_ih, w_hh, b_ih, b_hh) of ``layer``; w_ih is (G*H, in), G = 3 (GRU) or 4 (LSTM)."""
    return tuple(getattr(rnn, f"{name}_l{layer}")
                 for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def embedding_gates(embedding, X, w_ih, b_ih):
    """Input gates ``embedding(X) @ w_ih.T + b_ih`` of token ids X (T, B) -> (T, B, G*H).

    Projecting the embedding table once, (V, E) x (E, G*H), and looking rows up costs less
    than projecting every token, (T*B, E) x (E, G*H), when the batch holds more tokens than
    the vocabulary has entries (here 1,152 tokens, about 200 words), in the backward pass too.
    Same result up to float rounding; the cheaper order is chosen.
    """
    X = X.long()
    if X.numel() > embedding.num_embeddings:
        return F.embedding(X, F.linear(embedding.weight, w_ih, b_ih))
    return F.linear(embedding(X), w_ih, b_ih)


def gru_cell(gates_x, h, w_hh, b_hh):
    """GRU update from precomputed input gates ``gates_x`` (B, 3H) and state ``h`` (B, H).

    PyTorch's equations and gate order (r, z, n); r and z share one sigmoid.
    """
    H = h.shape[-1]
    x_rz, x_n = gates_x.split([2 * H, H], 1)
    h_rz, h_n = F.linear(h, w_hh, b_hh).split([2 * H, H], 1)  # (B, 2H), (B, H)
    r, z = (x_rz + h_rz).sigmoid_().chunk(2, 1)  # in place: one (B, 2H) buffer
    n = (x_n + r * h_n).tanh_()
    return (h - n) * z + n  # = (1 - z) * n + z * h, as PyTorch's CPU kernel has it


def lstm_cell(gates_x, state, w_hh, b_hh):
    """LSTM update from precomputed input gates ``gates_x`` (B, 4H) and ``state`` = (h, c)."""
    h, c = state
    gates = gates_x + F.linear(h, w_hh, b_hh)  # (B, 4H), PyTorch's order i, f, g, o
    i, f, g, o = gates.chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def dropout_noise(specs, steps, device=None):
    """The noise ``F.dropout(x, p, training=True)`` multiplies ``x`` by, for a loop that drops
    out tensors of the shapes in ``specs`` (a list of (shape, p)), in this order, at each of
    ``steps`` steps; returns ``steps`` lists with one tensor per spec.

    On the CPU ``F.dropout`` draws one float64 uniform u per element from the global
    generator and keeps the element when u < 1 - p, scaled by 1 / (1 - p). Drawing the
    uniforms of all steps in one ``torch.rand`` consumes the generator identically, so the
    masks are the same as dropping out step by step (the tests check this), for fewer,
    larger operations. Like ``F.dropout``, p = 0 and p = 1 draw nothing; p = 0 gives None
    (nothing to multiply by).
    """
    sizes = [math.prod(shape) if 0 < p < 1 else 0 for shape, p in specs]
    u = torch.rand(steps, sum(sizes), dtype=torch.float64, device=device)
    noise = []
    for (shape, p), u_spec in zip(specs, u.split(sizes, 1)):
        if p == 0:
            noise.append([None] * steps)
        elif p == 1:
            noise.append(torch.zeros(steps, *shape, device=device))
        else:
            keep = (u_spec < 1 - p).to(torch.float32).div_(1 - p)
            noise.append(keep.reshape(steps, *shape))
    return list(zip(*noise))


def stacked_rnn(rnn, embedding, X, training):
    """Run ``rnn`` (an ``nn.GRU``/``nn.LSTM``) over ``embedding(X)`` from a zero state, layer by
    layer and step by step with its weights; X (T, B) token ids -> (outputs (T, B, H), final
    state as ``rnn`` returns it: (L, B, H), or the pair (h, c) for an LSTM).

    Same results as ``rnn(embedding(X))`` up to float rounding, dropout between layers
    included (the same masks on the CPU, see ``dropout_noise``); what it gains is that layer
    0's input gates come from ``embedding_gates``.
    """
    is_lstm = isinstance(rnn, torch.nn.LSTM)
    cell = lstm_cell if is_lstm else gru_cell
    T, B = X.shape
    finals, x = [], None  # x: the outputs (T, B, H) of the layer below
    for l in range(rnn.num_layers):
        w_ih, w_hh, b_ih, b_hh = layer_weights(rnn, l)
        if l == 0:
            gates = embedding_gates(embedding, X, w_ih, b_ih)  # (T, B, G*H)
        else:  # the layer below's outputs, dropped out as nn.GRU/nn.LSTM do
            noise = dropout_noise([(x.shape, rnn.dropout if training else 0.0)], 1)[0][0]
            gates = F.linear(x if noise is None else x * noise, w_ih, b_ih)
        zeros = gates.new_zeros(B, rnn.hidden_size)
        state = (zeros, zeros) if is_lstm else zeros
        outputs = []
        for gates_t in gates:
            state = cell(gates_t, state, w_hh, b_hh)
            outputs.append(top_hidden(state, is_lstm))
        x = torch.stack(outputs)  # (T, B, H)
        finals.append(state)
    return x, stack_layers(finals, is_lstm)


def split_layers(state, is_lstm):
    """(L, B, H) tensor, or a pair of them for an LSTM -> list of L per-layer states."""
    if is_lstm:
        return list(zip(state[0].unbind(0), state[1].unbind(0)))
    return list(state.unbind(0))


def stack_layers(layers, is_lstm):
    """Inverse of ``split_layers``."""
    if is_lstm:
        return torch.stack([h for h, _ in layers]), torch.stack([c for _, c in layers])
    return torch.stack(layers)


def top_hidden(layer_state, is_lstm):
    """The hidden state h (B, H) of one layer's state (for an LSTM, h of the pair (h, c))."""
    return layer_state[0] if is_lstm else layer_state
