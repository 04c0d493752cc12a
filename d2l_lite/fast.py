"""The fast path: the reference model of ``d2l_lite.d2l.seq2seq``, computed with less work.

``FastSeq2SeqAttentionDecoder`` is a subclass of the reference ``Seq2SeqAttentionDecoder``
with the same parameters (their state_dicts are interchangeable), the same contract
(``forward(X, state)`` returns what the reference returns) and the same results up to float
rounding: logits, attention weights, state, every gradient, and the same dropout masks for the
same seed (``tests/test_fast.py`` checks all of these, for every registered scorer).
``FastSeq2Seq`` trains it. Choose it by name: ``experiment.make_model(..., fast=True)``.
What it does differently:

1. **Keys prepared once per sentence.** What a scorer reads from the keys does not change
   while a sentence is decoded (additive scoring's ``W_k k``: ``prepare_keys``); the
   reference recomputes it at every step.
2. **The embedding's share of the first layer's input gates, for all steps at once.** The RNN
   reads x = [context; embedding], so ``W_ih x = W_c context + W_e embedding``, and the second
   term does not depend on the decoder's state: one product over all T steps.
3. **No work on the targets' padding** (``target_logits``, which ``FastSeq2Seq`` trains and
   validates with). The masked loss ignores the positions after each target's end, and a
   step depends only on the steps before it. As ``pack_padded_sequence`` does, the rows are
   sorted by target length, so that the rows still inside their target at step t are a
   prefix of the batch; each step runs those rows only, and the output layer and the loss
   see only their positions.

For 2 and 3 the RNN's cells are written out (``gru_cell``, ``lstm_cell``: PyTorch's documented
equations on the ``nn.GRU``/``nn.LSTM``'s own weights). Dropout: at each step the reference
drops out the attention weights (B, K) and the input of each RNN layer above the first (B, H),
one ``dropout`` call each. The fast path makes the same calls on all B rows in the same
order, so it consumes the random generator as the reference does, on any CPU, and then
applies each row's mask to that row.

Shapes: B batch, T target steps, K source steps, H hidden size, E embedding size, G gate
blocks (3 for a GRU, 4 for an LSTM), V vocabulary size, n rows still decoding.
"""

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from .d2l.attention import MASK_VALUE
from .d2l.seq2seq import Seq2Seq, Seq2SeqAttentionDecoder


def gru_cell(x_gates, h, w_hh, b_hh):
    """One GRU step: the input's share of the gates ``x_gates = W_ih x + b_ih`` (n, 3H) and the
    state h (n, H) -> the new h (n, H). PyTorch's equations, gates in its order r, z, n:
    r = sigmoid(x_r + W_hr h + b_hr), z = sigmoid(x_z + W_hz h + b_hz),
    n = tanh(x_n + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h."""
    H = h.shape[1]
    h_gates = F.linear(h, w_hh, b_hh)  # (n, 3H)
    r, z = torch.sigmoid(x_gates[:, :2 * H] + h_gates[:, :2 * H]).chunk(2, 1)
    n = torch.tanh(x_gates[:, 2 * H:] + r * h_gates[:, 2 * H:])
    return n + z * (h - n)  # = (1 - z) * n + z * h


def lstm_cell(x_gates, state, w_hh, b_hh):
    """One LSTM step: ``x_gates = W_ih x + b_ih`` (n, 4H) and state (h, c), each (n, H) -> the
    new (h, c). PyTorch's equations, gates in its order i, f, g, o:
    c' = sigmoid(f) * c + sigmoid(i) * tanh(g), h' = sigmoid(o) * tanh(c')."""
    h, c = state
    i, f, g, o = (x_gates + F.linear(h, w_hh, b_hh)).chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def embedding_gates(embedding, X, w, b):
    """``F.linear(embedding(X), w, b)`` for token ids X (T, B) -> (T, B, G H). When the batch
    holds more tokens than the vocabulary has entries, the embedding table is projected
    instead and its rows looked up: the same numbers, fewer FLOPs (forward and backward)."""
    if X.numel() > embedding.num_embeddings:
        return F.embedding(X, F.linear(embedding.weight, w, b))
    return F.linear(embedding(X), w, b)


def target_lengths(Y, pad):
    """Labels Y (B, T) -> (B,): 1 + the position of each row's last label that is not ``pad``
    (0 for a row of padding only): the steps that a loss ignoring ``pad`` reads."""
    positions = torch.arange(1, Y.shape[1] + 1, device=Y.device)
    return ((Y != pad) * positions).amax(1)


class Memory(NamedTuple):
    """What every decoding step of a batch reads from the encoder: values (n, K, H_v), keys as
    the scorer prepared them, or not yet prepared (n, K, ...), and key_mask (n, K) or None."""

    values: torch.Tensor
    keys: torch.Tensor
    key_mask: torch.Tensor | None

    def rows(self, index):
        """The memory of rows ``index`` (a tensor of row numbers, or a slice)."""
        return Memory(self.values[index], self.keys[index],
                      None if self.key_mask is None else self.key_mask[index])


class FastSeq2SeqAttentionDecoder(Seq2SeqAttentionDecoder):
    """``Seq2SeqAttentionDecoder`` computed with less work (see the module docstring).

    Takes the reference's arguments, and ``project_keys_once``: True (the default) prepares
    the keys once per sentence; False prepares them at every step, as the reference does, to
    measure what preparing them once saves. Both give the reference's results.
    """

    def __init__(self, *args, project_keys_once=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.project_keys_once = project_keys_once

    def forward(self, X, state):
        """The reference's contract: X (B, T) token ids -> (logits (B, T, V), new state), and
        ``attention_weights`` holds one (B, 1, K) tensor per step."""
        enc_outputs, hidden_state, enc_valid_lens = state
        memory, layers, x_gates = self._prepare(X, enc_outputs, hidden_state, enc_valid_lens)
        B, K = memory.key_mask.shape if memory.key_mask is not None else enc_outputs.shape[:2]
        outputs, self._attention_weights = [], []
        for x_gates_t in x_gates:
            layers, weights = self._step(x_gates_t, layers, memory, self._dropout_noise(B, K))
            outputs.append(_hidden(layers[-1]))
            self._attention_weights.append(weights.unsqueeze(1))
        logits = self.dense(torch.stack(outputs, 1))  # (B, T, V)
        return logits, [enc_outputs, _stack_layers(layers), enc_valid_lens]

    def target_logits(self, X, state, lengths):
        """The logits of each row's first ``lengths[b]`` steps only, without computing the
        others: X (B, T) token ids, lengths (B,) -> (logits (N, V), rows (N,), steps (N,)),
        where logits[i] is row rows[i]'s at step steps[i], in step order, N = lengths.sum().
        They equal ``forward``'s logits at those positions; no state or attention weights are
        kept (the rows end at different steps)."""
        enc_outputs, hidden_state, enc_valid_lens = state
        (B, K), T = enc_outputs.shape[:2], X.shape[1]
        order = torch.argsort(lengths, descending=True, stable=True)
        live = (lengths.reshape(1, -1) > torch.arange(T, device=X.device).reshape(-1, 1))
        live = live.sum(1).tolist()  # live[t]: how many rows are inside their target
        memory, layers, x_gates = self._prepare(X, enc_outputs, hidden_state, enc_valid_lens)
        memory, layers, x_gates = memory.rows(order), _rows(layers, order), x_gates[:, order]
        outputs = []
        for x_gates_t, n in zip(x_gates, live):
            noise = [None if m is None else m[order] for m in self._dropout_noise(B, K)]
            if n == 0:  # every target has ended (the masks are still drawn, as the reference)
                continue
            memory, layers = memory.rows(slice(n)), _rows(layers, slice(n))
            noise = [None if m is None else m[:n] for m in noise]
            layers, _ = self._step(x_gates_t[:n], layers, memory, noise)
            outputs.append(_hidden(layers[-1]))  # (n, H)
        packed = torch.cat(outputs) if outputs else enc_outputs.new_zeros(0, self.rnn.hidden_size)
        steps = torch.tensor([t for t, n in enumerate(live) for _ in range(n)],
                             dtype=torch.int64, device=X.device)
        return self.dense(packed), torch.cat([order[:n] for n in live]), steps

    def _prepare(self, X, enc_outputs, hidden_state, enc_valid_lens):
        """What every step reads: the memory (values, keys, key mask), the per-layer states
        and the embedding's share of the first layer's gates for every step (T, B, G H)."""
        self._create_lazy_attention(enc_outputs)
        K = enc_outputs.shape[1]
        key_mask = None if enc_valid_lens is None else (
            torch.arange(K, device=X.device) < enc_valid_lens.reshape(-1, 1))  # (B, K)
        keys = (self.attention.prepare_keys(enc_outputs) if self.project_keys_once
                else enc_outputs)
        E = self.embedding.embedding_dim
        w_embedding = self.rnn.weight_ih_l0[:, -E:]  # x = [context; embedding]
        x_gates = embedding_gates(self.embedding, X.t(), w_embedding, self.rnn.bias_ih_l0)
        return Memory(enc_outputs, keys, key_mask), _split_layers(hidden_state), x_gates

    def _step(self, x_gates_t, layers, memory, noise):
        """One decoding step for n rows: the embedding's gates (n, G H), the per-layer states,
        the memory and this step's dropout masks -> (new per-layer states, attention weights
        (n, K) before dropout)."""
        attention_noise, *layer_noise = noise
        query = _hidden(layers[-1])  # (n, H): the top layer's h
        keys = memory.keys if self.project_keys_once else self.attention.prepare_keys(
            memory.keys)
        scores = self.attention.scores_one(query, keys)  # (n, K)
        if memory.key_mask is not None:
            scores = scores.masked_fill(~memory.key_mask, MASK_VALUE)
        weights = F.softmax(scores, dim=-1)
        dropped = weights if attention_noise is None else weights * attention_noise
        context = torch.bmm(dropped.unsqueeze(1), memory.values).squeeze(1)  # (n, H_v)
        w_context = self.rnn.weight_ih_l0[:, :context.shape[1]]
        gates = x_gates_t + F.linear(context, w_context)  # the first layer's input gates
        cell = lstm_cell if isinstance(self.rnn, nn.LSTM) else gru_cell
        new_layers = []
        for l, layer in enumerate(layers):
            if l > 0:  # the layer below's new output, dropped out as nn.GRU/nn.LSTM do
                x = _hidden(new_layers[-1])
                x = x if layer_noise[l - 1] is None else x * layer_noise[l - 1]
                gates = F.linear(x, getattr(self.rnn, f"weight_ih_l{l}"),
                                 getattr(self.rnn, f"bias_ih_l{l}"))
            new_layers.append(cell(gates, layer, getattr(self.rnn, f"weight_hh_l{l}"),
                                   getattr(self.rnn, f"bias_hh_l{l}")))
        return new_layers, weights

    def _dropout_noise(self, B, K):
        """This step's dropout masks, drawn as the reference draws them: the attention
        weights' (B, K), then one (B, H) per layer above the first; None where nothing is
        dropped."""
        device, H = self.embedding.weight.device, self.rnn.hidden_size
        p_attention = self.attention.dropout.p if self.training else 0.0
        p_rnn = self.rnn.dropout if self.training else 0.0
        shapes = [((B, K), p_attention)] + [((B, H), p_rnn)] * (self.rnn.num_layers - 1)
        return [None if p == 0 else F.dropout(torch.ones(shape, device=device), p)
                for shape, p in shapes]

    def _create_lazy_attention(self, enc_outputs):
        """Create the scorer's lazy projections as the reference's first call does (the
        first step's scoring, before any dropout is drawn), so that a seeded model starts
        from the same weights."""
        if any(nn.parameter.is_lazy(p) for p in self.attention.parameters()):
            H, key_size = self.rnn.hidden_size, enc_outputs.shape[-1]
            training = self.attention.training
            with torch.no_grad():
                self.attention.eval()  # no dropout draws
                keys = enc_outputs.new_zeros(1, 1, key_size)
                self.attention(enc_outputs.new_zeros(1, 1, H), keys, keys)
            self.attention.train(training)


def _hidden(layer_state):
    """h (n, H) of one layer's state: the state itself (GRU) or h of (h, c) (LSTM)."""
    return layer_state[0] if isinstance(layer_state, tuple) else layer_state


def _split_layers(hidden_state):
    """(L, B, H), or (h, c) of them -> a list of L per-layer states."""
    if isinstance(hidden_state, tuple):
        return list(zip(hidden_state[0].unbind(0), hidden_state[1].unbind(0)))
    return list(hidden_state.unbind(0))


def _stack_layers(layers):
    """Inverse of ``_split_layers``."""
    if isinstance(layers[0], tuple):
        return tuple(torch.stack(s) for s in zip(*layers))
    return torch.stack(layers)


def _rows(layers, index):
    """Rows ``index`` of every per-layer state (a tensor, or an (h, c) pair)."""
    return [tuple(s[index] for s in layer) if isinstance(layer, tuple) else layer[index]
            for layer in layers]


class FastSeq2Seq(Seq2Seq):
    """``Seq2Seq`` whose training and validation steps compute the decoder's logits, and the
    masked loss, only at the targets' positions (``target_logits``): the loss is the same (it
    ignores padding), with no work on the padding. Its decoder is a
    ``FastSeq2SeqAttentionDecoder``."""

    def __init__(self, encoder, decoder, tgt_pad, lr):
        if not isinstance(decoder, FastSeq2SeqAttentionDecoder):
            raise TypeError(f"FastSeq2Seq needs a FastSeq2SeqAttentionDecoder, got "
                            f"{type(decoder).__name__}: use Seq2Seq for other decoders")
        super().__init__(encoder, decoder, tgt_pad, lr)

    def training_step(self, batch):
        """``Seq2Seq.loss`` of a batch (src, dec_X, src_valid_len, Y), from the logits of the
        positions up to each target's end: (N, V) against their labels (N,)."""
        src, dec_X, src_valid_len, Y = batch
        dec_state = self.decoder.init_state(self.encoder(src, src_valid_len), src_valid_len)
        logits, rows, steps = self.decoder.target_logits(dec_X, dec_state,
                                                         target_lengths(Y, self.tgt_pad))
        return self.loss(logits, Y[rows, steps])

    def validation_step(self, batch):
        return self.training_step(batch)
