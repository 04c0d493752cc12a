"""The fast path: the reference model of ``seq2seq``, computed with less work.

``FastSeq2SeqAttentionDecoder`` is a subclass of the reference ``Seq2SeqAttentionDecoder``
with the same parameters (their state_dicts are interchangeable) and the same results up to
float rounding: logits, attention weights, state, every gradient, and the same dropout masks
for the same seed (``tests/test_fast.py`` checks all of these). ``FastSeq2Seq`` trains it.
Choose it by name: ``experiment.make_model(..., fast=True)``. What it does differently:

1. **Keys projected once per sentence.** Additive scoring's ``W_k k`` does not change while a
   sentence is decoded; the reference recomputes it at every step.
2. **The embedding's share of the first layer's input gates, for all steps at once.** The RNN
   reads x = [context; embedding], so ``W_ih x = W_c context + W_e embedding``, and the second
   term does not depend on the decoder's state: one product over all T steps.
3. **No work on the targets' padding** (``FastSeq2Seq``, in training and validation). The
   masked loss ignores the positions after each target's end, and a step depends only on the
   steps before it. As ``pack_padded_sequence`` does, the rows are sorted by target length,
   so that the rows still inside their target at step t are a prefix of the batch; each step
   runs those rows only, and the output layer and the loss see only their positions.

For 2 and 3 the RNN's cells are written out (``gru_cell``, ``lstm_cell``: PyTorch's documented
equations on the ``nn.GRU``/``nn.LSTM``'s own weights). Dropout: at each step the reference
drops out the attention weights (B, K) and the input of each RNN layer above the first (B, H),
one ``dropout`` call each. The fast path makes the same calls on all B rows in the same
order, so it consumes the random generator as the reference does, on any CPU, and then
applies each row's mask to that row.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from .attention import MASK_VALUE, AdditiveAttention
from .seq2seq import Seq2Seq, Seq2SeqAttentionDecoder


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


def prepare_keys(attention, keys):
    """What a scorer reads from the keys (B, K, d), the same at every decoding step: W_k k
    (B, K, h) for additive scoring, the keys themselves for dot-product scoring."""
    if isinstance(attention, AdditiveAttention):
        return attention.W_k(keys)
    return keys


def one_query_weights(attention, query, prepared_keys, key_mask=None):
    """``attention``'s weights for one query per row, from ``prepare_keys``' output: query
    (n, d), prepared_keys (n, K, h or d), key_mask (n, K) or None -> (n, K). The same as
    ``attention(query.unsqueeze(1), keys, ...)``'s ``attention_weights`` up to float rounding."""
    if isinstance(attention, AdditiveAttention):
        features = torch.tanh(attention.W_q(query).unsqueeze(1) + prepared_keys)  # (n, K, h)
        scores = attention.w_v(features).squeeze(-1)  # (n, K)
    else:
        scores = torch.bmm(prepared_keys, query.unsqueeze(2)).squeeze(2) / math.sqrt(query.shape[1])
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask, MASK_VALUE)
    return F.softmax(scores, dim=-1)


def target_lengths(Y, pad):
    """Labels Y (B, T) -> (B,): 1 + the position of each row's last label that is not ``pad``
    (0 for a row of padding only): the steps that a loss ignoring ``pad`` reads."""
    positions = torch.arange(1, Y.shape[1] + 1, device=Y.device)
    return ((Y != pad) * positions).amax(1)


class FastSeq2SeqAttentionDecoder(Seq2SeqAttentionDecoder):
    """``Seq2SeqAttentionDecoder`` computed with less work (see the module docstring)."""

    def forward(self, X, state, lengths=None):
        """X (B, T) token ids -> (logits (B, T, V), new state), as the reference.

        ``lengths`` (B,), optional: row b needs logits only at its first ``lengths[b]`` steps.
        Then only those are computed, and it returns (logits (N, V), (rows, steps)): logits[i]
        is row rows[i]'s at step steps[i], N = lengths.sum(); no state and no attention weights
        are kept (the rows end at different steps).
        """
        enc_outputs, hidden_state, enc_valid_lens = state  # (B, K, H), as in the reference
        (B, K, H), T = enc_outputs.shape, X.shape[1]
        self._create_lazy_attention(H)
        key_mask = None if enc_valid_lens is None else (
            torch.arange(K, device=X.device) < enc_valid_lens.reshape(-1, 1))  # (B, K)
        layers = self._split_layers(hidden_state)  # L states, each (B, H) or (h, c)
        live, order = [B] * T, None
        if lengths is not None:  # sort the rows by length: those still live form a prefix
            order = torch.argsort(lengths, descending=True, stable=True)
            live = (lengths.reshape(1, -1) > torch.arange(T, device=X.device).reshape(-1, 1))
            live = live.sum(1).tolist()  # live[t]: how many rows are inside their target
            X, enc_outputs, key_mask = X[order], enc_outputs[order], _rows(key_mask, order)
            layers = [_rows(s, order) for s in layers]
        keys = self._prepare_keys(enc_outputs)  # (B, K, h) or (B, K, H), once per sentence
        w_context, w_embedding = self.rnn.weight_ih_l0.split([H, self.embedding.embedding_dim], 1)
        x_gates = embedding_gates(self.embedding, X.t(), w_embedding, self.rnn.bias_ih_l0)
        outputs, self._attention_weights = [], []
        for x_gates_t, n in zip(x_gates.unbind(0), live):
            attention_noise, *layer_noise = self._dropout_noise(B, K, H, X.device, order)
            if n == 0:  # every target has ended (the masks are still drawn, as the reference)
                continue
            if n < len(enc_outputs):  # rows past their target's end drop out of the batch
                enc_outputs, keys, key_mask = enc_outputs[:n], keys[:n], _rows(key_mask, slice(n))
                layers = [_rows(s, slice(n)) for s in layers]
            query = self._hidden(layers[-1])  # (n, H)
            weights = self._attention_weights_of(query, keys, key_mask)  # (n, K)
            if lengths is None:
                self._attention_weights.append(weights.unsqueeze(1))  # (B, 1, K)
            if attention_noise is not None:
                weights = weights * attention_noise[:n]
            context = torch.bmm(weights.unsqueeze(1), enc_outputs).squeeze(1)  # (n, H)
            gates = x_gates_t[:n] + F.linear(context, w_context)  # layer 0's input gates
            for l in range(len(layers)):
                if l > 0:  # the layer below's output, dropped out as nn.GRU/nn.LSTM do
                    x = self._hidden(layers[l - 1])
                    if layer_noise[l - 1] is not None:
                        x = x * layer_noise[l - 1][:n]
                    gates = F.linear(x, getattr(self.rnn, f"weight_ih_l{l}"),
                                     getattr(self.rnn, f"bias_ih_l{l}"))
                layers[l] = self._cell(gates, layers[l], getattr(self.rnn, f"weight_hh_l{l}"),
                                       getattr(self.rnn, f"bias_hh_l{l}"))
            outputs.append(self._hidden(layers[-1]))  # (n, H)
        if lengths is not None:  # (no outputs when every target is empty)
            packed = torch.cat(outputs) if outputs else enc_outputs.new_zeros(0, H)
            return self.dense(packed), _positions(order, live)
        logits = self.dense(torch.stack(outputs, 1))  # (B, T, V)
        return logits, [enc_outputs, self._stack_layers(layers), enc_valid_lens]

    def _create_lazy_attention(self, H):
        """Create a lazy additive scorer's projections in the order the reference's first
        call does (W_q, W_k, w_v), so that a seeded model starts from the same weights."""
        attention = self.attention
        if isinstance(attention, AdditiveAttention) and isinstance(
                attention.W_q.weight, nn.parameter.UninitializedParameter):
            x = torch.zeros(1, H, device=self.embedding.weight.device)
            queries = attention.W_q(x)
            attention.w_v(queries + attention.W_k(x))

    # The scorer's two parts, as methods so that a subclass can change them (the benchmark's
    # ablation projects the keys at every step again)
    def _prepare_keys(self, enc_outputs):
        return prepare_keys(self.attention, enc_outputs)

    def _attention_weights_of(self, query, keys, key_mask):
        return one_query_weights(self.attention, query, keys, key_mask)

    def _dropout_noise(self, B, K, H, device, order):
        """This step's dropout masks, drawn as the reference draws them: the attention
        weights' (B, K), then one (B, H) per layer above the first; None where nothing is
        dropped; rows taken in ``order`` when given."""
        p_attention = self.attention.dropout.p if self.training else 0.0
        p_rnn = self.rnn.dropout if self.training else 0.0
        shapes = [((B, K), p_attention)] + [((B, H), p_rnn)] * (self.rnn.num_layers - 1)
        noise = [None if p == 0 else F.dropout(torch.ones(shape, device=device), p)
                 for shape, p in shapes]
        return [n if n is None or order is None else n[order] for n in noise]

    def _cell(self, gates, state, w_hh, b_hh):
        cell = lstm_cell if isinstance(self.rnn, nn.LSTM) else gru_cell
        return cell(gates, state, w_hh, b_hh)

    def _hidden(self, layer_state):
        """h (n, H) of one layer's state: the state itself (GRU) or h of (h, c) (LSTM)."""
        return layer_state[0] if isinstance(layer_state, tuple) else layer_state

    def _split_layers(self, hidden_state):
        """(L, B, H), or (h, c) of them -> a list of L per-layer states."""
        if isinstance(hidden_state, tuple):
            return list(zip(hidden_state[0].unbind(0), hidden_state[1].unbind(0)))
        return list(hidden_state.unbind(0))

    def _stack_layers(self, layers):
        """Inverse of ``_split_layers``."""
        if isinstance(layers[0], tuple):
            return tuple(torch.stack(s) for s in zip(*layers))
        return torch.stack(layers)


def _rows(x, index):
    """Rows ``index`` of a tensor, of each tensor of an (h, c) pair, or None."""
    if x is None:
        return None
    if isinstance(x, tuple):
        return tuple(s[index] for s in x)
    return x[index]


def _positions(order, live):
    """(rows, steps) of the live positions, step after step: step t's rows are
    ``order[:live[t]]``."""
    steps = torch.tensor([t for t, n in enumerate(live) for _ in range(n)], dtype=torch.int64,
                         device=order.device)
    return torch.cat([order[:n] for n in live]), steps


class FastSeq2Seq(Seq2Seq):
    """``Seq2Seq`` whose training and validation steps compute the decoder's logits, and the
    masked loss, only at the targets' positions: the loss is the same (it ignores padding),
    with no work on the padding. Its decoder is a ``FastSeq2SeqAttentionDecoder``."""

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
        logits, (rows, steps) = self.decoder(dec_X, dec_state,
                                             lengths=target_lengths(Y, self.tgt_pad))
        return self.loss(logits, Y[rows, steps])

    def validation_step(self, batch):
        return self.training_step(batch)
