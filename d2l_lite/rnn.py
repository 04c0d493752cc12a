"""Stacked GRUs and LSTMs step by step, computed from an ``nn.GRU``/``nn.LSTM``'s weights.

The attention decoder runs its RNN one step at a time, because each step's input depends on the
attention context of the previous state. Calling ``nn.GRU`` on a length-1 sequence works, but it
re-projects the (known in advance) token embeddings at every step. These helpers let a model
compute the embeddings' share of the first layer's input gates for all steps at once
(``embedding_gates``), run the cells from precomputed input gates (``gru_cell``,
``lstm_cell``, ``stacked_rnn``) and draw the dropout masks of all steps at once
(``dropout_noise``). The products go through ``linear`` (the faster CPU library); an LSTM's two
biases are added once to the input gates (``cell_weights``); the element-wise part of each
cell is one autograd node with its backward written out (``_GRUCell``, ``_LSTMCell``), its
tanh computed as 2 sigmoid(2x) - 1 (``activations.tanh_``). The equations and their order are
PyTorch's, so results equal ``nn.GRU``/``nn.LSTM`` up to float rounding, with the same
dropout masks (the tests check this).
"""

import math

import torch
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from .activations import tanh_
from .linear import linear

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


def cell_weights(rnn, layer):
    """(w_ih, w_hh, b_in, b_hid) of ``layer`` for the step-by-step cells: the biases of the
    input and of the hidden gates. An LSTM adds b_ih and b_hh to the same gates, so here
    they are added once, b_in = b_ih + b_hh and b_hid = None: each step then adds no bias
    of its own, and the bias gradient is one sum over all steps' gate gradients instead of
    one sum per step. A GRU keeps both (b_hh's n part is multiplied by r)."""
    w_ih, w_hh, b_ih, b_hh = layer_weights(rnn, layer)
    if isinstance(rnn, torch.nn.LSTM):
        return w_ih, w_hh, b_ih + b_hh, None
    return w_ih, w_hh, b_ih, b_hh


def embedding_gates(embedding, X, w_ih, b_ih):
    """Input gates ``embedding(X) @ w_ih.T + b_ih`` of token ids X (T, B) -> (T, B, G*H).

    Projecting the embedding table once, (V, E) x (E, G*H), and looking rows up costs less
    than projecting every token, (T*B, E) x (E, G*H), when the batch holds more tokens than
    the vocabulary has entries (here 1,152 tokens, about 200 words), in the backward pass too.
    Same result up to float rounding; the cheaper order is chosen.
    """
    X = X.long()
    if X.numel() > embedding.num_embeddings:
        return F.embedding(X, linear(embedding.weight, w_ih, b_ih))
    return linear(embedding(X), w_ih, b_ih)


class _GRUCell(torch.autograd.Function):
    """The element-wise part of a GRU step: input gates ``gx`` (B, 3H), hidden gates
    ``gh = W_hh h + b_hh`` (B, 3H) and the state ``h`` (B, H) -> the new state (B, H).

    One autograd node with its backward written out (the chain rule of the equations in
    ``gru_cell``): the gradients of ``gx`` and ``gh`` come out whole, where autograd would
    build them from a dozen small nodes and concatenate the gate slices again.
    """

    @staticmethod
    def forward(ctx, gx, gh, h):
        H = h.shape[1]
        rz = torch.add(gx[:, :2 * H], gh[:, :2 * H]).sigmoid_()  # r and z share one sigmoid
        r, z = rz[:, :H], rz[:, H:]
        gh_n = gh[:, 2 * H:]
        n = tanh_(torch.addcmul(gx[:, 2 * H:], r, gh_n))
        h_minus_n = h - n
        ctx.save_for_backward(rz, n, gh_n, h_minus_n)
        return torch.addcmul(n, h_minus_n, z)  # n + z * (h - n) = (1 - z) * n + z * h

    @staticmethod
    @once_differentiable
    def backward(ctx, d_new):
        rz, n, gh_n, h_minus_n = ctx.saved_tensors
        H = n.shape[1]
        r, z = rz[:, :H], rz[:, H:]
        d_h = d_new * z
        d_gx = torch.empty(n.shape[0], 3 * H, dtype=n.dtype, device=n.device)
        d_n = torch.ops.aten.tanh_backward.grad_input(d_new - d_h, n, grad_input=d_gx[:, 2 * H:])
        d_rz = torch.empty_like(rz)
        torch.mul(d_n, gh_n, out=d_rz[:, :H])  # d r
        torch.mul(d_new, h_minus_n, out=d_rz[:, H:])  # d z
        torch.ops.aten.sigmoid_backward.grad_input(d_rz, rz, grad_input=d_gx[:, :2 * H])
        d_gh = torch.empty_like(d_gx)
        d_gh[:, :2 * H] = d_gx[:, :2 * H]
        torch.mul(d_n, r, out=d_gh[:, 2 * H:])
        return d_gx, d_gh, d_h


class _LSTMCell(torch.autograd.Function):
    """The element-wise part of an LSTM step: gates (B, 4H) before their activations, in
    PyTorch's order i, f, g, o, and the cell state ``c`` (B, H) -> (h, c) of the next step.
    One autograd node with its backward written out, as ``_GRUCell``."""

    @staticmethod
    def forward(ctx, gates, c):
        H = c.shape[1]
        act = torch.sigmoid(gates)  # sigmoid(i), sigmoid(f), tanh(g), sigmoid(o):
        tanh_(gates[:, 2 * H:3 * H], out=act[:, 2 * H:3 * H])  # one sigmoid, g's replaced
        i, f, g, o = act.chunk(4, 1)
        c_new = torch.addcmul(f * c, i, g)
        tanh_c = tanh_(c_new, out=torch.empty_like(c_new))
        ctx.save_for_backward(act, c, tanh_c)
        return o * tanh_c, c_new

    @staticmethod
    @once_differentiable
    def backward(ctx, d_h, d_c):
        act, c, tanh_c = ctx.saved_tensors
        H = c.shape[1]
        i, f, g, o = act.chunk(4, 1)
        d_c = torch.ops.aten.tanh_backward(d_h * o, tanh_c).add_(d_c)
        d_act = torch.empty_like(act)
        for out, a, b in ((0, d_c, g), (1, d_c, c), (2, d_c, i), (3, d_h, tanh_c)):
            torch.mul(a, b, out=d_act[:, out * H:(out + 1) * H])  # d i, d f, d g, d o
        d_gates = torch.ops.aten.sigmoid_backward(d_act, act)  # then g's replaced:
        torch.ops.aten.tanh_backward.grad_input(d_act[:, 2 * H:3 * H], g,
                                                grad_input=d_gates[:, 2 * H:3 * H])
        return d_gates, d_c * f


def gru_cell(gates_x, h, w_hh, b_hh):
    """GRU update from precomputed input gates ``gates_x`` (B, 3H) and state ``h`` (B, H).

    PyTorch's equations and gate order (r, z, n):
    r = sigmoid(x_r + h_r), z = sigmoid(x_z + h_z), n = tanh(x_n + r * h_n),
    h' = (1 - z) * n + z * h, where x_* are the input gates and h_* = W_h* h + b_h*.
    """
    return _GRUCell.apply(gates_x, linear(h, w_hh, b_hh), h)


def lstm_cell(gates_x, state, w_hh, b_hh):
    """LSTM update from precomputed input gates ``gates_x`` (B, 4H) and ``state`` = (h, c);
    ``b_hh`` may be None when ``gates_x`` includes it (``cell_weights``).

    PyTorch's equations and gate order (i, f, g, o): gates = x_* + W_h* h + b_h*,
    c' = sigmoid(f) * c + sigmoid(i) * tanh(g), h' = sigmoid(o) * tanh(c').
    """
    h, c = state
    return _LSTMCell.apply(linear(h, w_hh, b_hh, add=gates_x), c)


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


def stacked_rnn(rnn, embedding, X, training, stepwise_layers=None):
    """Run ``rnn`` (an ``nn.GRU``/``nn.LSTM``) over ``embedding(X)`` from a zero state; X (T, B)
    token ids -> (outputs (T, B, H), final state as ``rnn`` returns it: (L, B, H), or the pair
    (h, c) for an LSTM).

    The first ``stepwise_layers`` layers (default: all) run step by step from the weights,
    layer 0's input gates coming from ``embedding_gates``; the layers above run in one call of
    PyTorch's fused RNN (for an LSTM on the CPU, oneDNN's). Same results as
    ``rnn(embedding(X))`` up to float rounding, dropout between layers included (the same
    masks on the CPU, see ``dropout_noise``; the fused call draws its own masks after ours,
    as ``rnn`` would).
    """
    is_lstm = isinstance(rnn, torch.nn.LSTM)
    cell = lstm_cell if is_lstm else gru_cell
    T, B = X.shape
    L = rnn.num_layers
    stepwise_layers = L if stepwise_layers is None else stepwise_layers
    finals, x = [], None  # x: the outputs (T, B, H) of the layer below
    for l in range(L):
        if l > 0:  # the layer below's outputs, dropped out as nn.GRU/nn.LSTM do
            noise = dropout_noise([(x.shape, rnn.dropout if training else 0.0)], 1)[0][0]
            x = x if noise is None else x * noise
        if l == stepwise_layers:
            return _fused_layers(rnn, x, l, training, finals, is_lstm)
        w_ih, w_hh, b_in, b_hid = cell_weights(rnn, l)
        if l == 0:
            gates = embedding_gates(embedding, X, w_ih, b_in)  # (T, B, G*H)
        else:
            gates = linear(x, w_ih, b_in)
        zeros = gates.new_zeros(B, rnn.hidden_size)
        state = (zeros, zeros) if is_lstm else zeros
        outputs = []
        for gates_t in gates:
            state = cell(gates_t, state, w_hh, b_hid)
            outputs.append(top_hidden(state, is_lstm))
        x = torch.stack(outputs)  # (T, B, H)
        finals.append(state)
    return x, stack_layers(finals, is_lstm)


def _fused_layers(rnn, x, first, training, finals, is_lstm):
    """Layers ``first``.. of ``rnn`` over x (T, B, H) in one fused call, from a zero state;
    returns the outputs and the final state of all layers, ``finals`` holding the lower
    layers' (each (B, H) or (h, c))."""
    params = [w for l in range(first, rnn.num_layers) for w in layer_weights(rnn, l)]
    zeros = x.new_zeros(rnn.num_layers - first, x.shape[1], rnn.hidden_size)
    fused = torch.lstm if is_lstm else torch.gru
    x, *state = fused(x, (zeros, zeros) if is_lstm else zeros, params, True,
                      rnn.num_layers - first, rnn.dropout, training, False, False)
    if is_lstm:
        h, c = stack_layers(finals, True)
        return x, (torch.cat([h, state[0]]), torch.cat([c, state[1]]))
    return x, torch.cat([stack_layers(finals, False), state[0]])


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
