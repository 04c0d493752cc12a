"""One decoding step of a stacked GRU or LSTM, computed from an ``nn.GRU``/``nn.LSTM``'s weights.

The attention decoder runs its RNN one step at a time, because each step's input depends on the
attention context of the previous state. Calling ``nn.GRU`` on a length-1 sequence works, but it
re-projects the (known in advance) token embeddings at every step. These helpers let the decoder
project the embedding share of layer 0's input for all steps at once and add it per step. The
equations and their order are PyTorch's, so results equal ``nn.GRU``/``nn.LSTM`` up to float
rounding (the tests check this).
"""

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


def gru_cell(gates_x, h, w_hh, b_hh):
    """GRU update from precomputed input gates ``gates_x`` (B, 3H) and state ``h`` (B, H)."""
    gates_h = F.linear(h, w_hh, b_hh)  # (B, 3H)
    x_r, x_z, x_n = gates_x.chunk(3, 1)
    h_r, h_z, h_n = gates_h.chunk(3, 1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return (h - n) * z + n  # = (1 - z) * n + z * h, written as PyTorch's CPU kernel does


def lstm_cell(gates_x, state, w_hh, b_hh):
    """LSTM update from precomputed input gates ``gates_x`` (B, 4H) and ``state`` = (h, c)."""
    h, c = state
    gates = gates_x + F.linear(h, w_hh, b_hh)  # (B, 4H)
    i, f, g, o = gates.chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


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
