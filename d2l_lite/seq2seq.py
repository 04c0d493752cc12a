"""Encoder-decoder models of D2L §10.6-10.7 and §11.4: the RNN encoder, Bahdanau's attention
decoder (GRU or LSTM, additive or scaled dot-product scoring) and the ``Seq2Seq`` trainer model.

Shapes: B batch, T target steps, K source steps (keys), E embedding size, H hidden size,
L layers, V vocabulary size.
"""

import torch
from torch import nn
from torch.nn import functional as F

from .attention import AdditiveAttention, DotProductAttention, key_mask, pool
from .linear import apply_linear, linear
from .packing import first_rows, sort_by_length, take_rows, target_lengths, unpack
from .rnn import (
    cell_weights,
    dropout_noise,
    embedding_gates,
    gru_cell,
    lstm_cell,
    make_rnn,
    split_layers,
    stack_layers,
    stacked_rnn,
    top_hidden,
)
from .train import Module

SCORERS = ("additive", "dot")


class Encoder(nn.Module):
    """The encoder interface: ``forward(X, *args)`` returns what the decoder's state needs."""

    def forward(self, X, *args):
        raise NotImplementedError


class Decoder(nn.Module):
    """The decoder interface: ``init_state(enc_all_outputs, *args)`` then ``forward(X, state)``.

    A decoder whose ``forward`` also takes ``lengths`` (see ``Seq2SeqAttentionDecoder``) sets
    ``accepts_lengths``; ``Seq2Seq`` then lets it skip the targets' padding in training.
    """

    accepts_lengths = False

    def init_state(self, enc_all_outputs, *args):
        raise NotImplementedError

    def forward(self, X, state):
        raise NotImplementedError


class AttentionDecoder(Decoder):
    """A decoder that exposes the attention weights of its last call."""

    @property
    def attention_weights(self):
        raise NotImplementedError


class EncoderDecoder(Module):
    """An encoder and a decoder trained end to end with cross-entropy."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, enc_X, dec_X, *args, lengths=None):
        """enc_X (B, K), dec_X (B, T) -> logits (B, T, V); ``lengths`` (B,), if given, goes to
        the decoder (only the logits of each row's first ``lengths`` steps are computed)."""
        enc_all_outputs = self.encoder(enc_X, *args)
        dec_state = self.decoder.init_state(enc_all_outputs, *args)
        if lengths is None:
            return self.decoder(dec_X, dec_state)[0]
        return self.decoder(dec_X, dec_state, lengths=lengths)[0]

    def loss(self, Y_hat, Y, averaged=True):
        """Cross-entropy of logits ``Y_hat`` (B, T, V) against labels ``Y`` (B, T)."""
        return F.cross_entropy(Y_hat.reshape(-1, Y_hat.shape[-1]), Y.reshape(-1),
                               reduction="mean" if averaged else "none")

    @torch.no_grad()
    def predict_step(self, batch, device, num_steps, save_attention_weights=False):
        """Greedy decoding of ``num_steps`` tokens for a batch (src, tgt, src_valid_len, _).

        Returns (predictions (B, num_steps), attention weights): the second is a list with one
        entry per step, each the decoder's ``attention_weights`` for that step (a list holding
        one (B, 1, K) tensor), as in d2l; empty unless ``save_attention_weights``.
        Runs in eval mode without autograd (d2l kept the mode it found; dropout while
        predicting only adds noise) and restores the previous mode.
        """
        was_training = self.training
        self.eval()
        try:
            src, tgt, src_valid_len, _ = [a.to(device) for a in batch]
            enc_all_outputs = self.encoder(src, src_valid_len)
            dec_state = self.decoder.init_state(enc_all_outputs, src_valid_len)
            outputs, attention_weights = [tgt[:, :1]], []
            for _ in range(num_steps):
                Y, dec_state = self.decoder(outputs[-1], dec_state)
                outputs.append(Y.argmax(2))
                if save_attention_weights:
                    attention_weights.append(self.decoder.attention_weights)
            return torch.cat(outputs[1:], 1), attention_weights
        finally:
            self.train(was_training)


def init_seq2seq(module):
    """Xavier-uniform initialisation for ``nn.Linear`` and for the weights of GRUs and LSTMs.

    Fix of d2l 1.0.3, whose version only reaches ``nn.GRU``: an LSTM kept PyTorch's default
    U(-1/sqrt(H), 1/sqrt(H)) weights, so a GRU-vs-LSTM comparison also compared two inits.
    Biases keep PyTorch's default.
    """
    if type(module) is nn.Linear:
        nn.init.xavier_uniform_(module.weight)
    if type(module) in (nn.GRU, nn.LSTM):
        for name in module._flat_weights_names:
            if "weight" in name:
                nn.init.xavier_uniform_(module._parameters[name])


class Seq2SeqEncoder(Encoder):
    """Embedding followed by a stacked GRU (d2l's) or LSTM (``rnn='lstm'``)."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, rnn="gru"):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = make_rnn(rnn, embed_size, num_hiddens, num_layers, dropout)
        self.apply(init_seq2seq)
        # d2l wraps its nn.GRU in a d2l.GRU, so its state_dict says "rnn.rnn.weight_ih_l0"
        self._register_load_state_dict_pre_hook(_accept_d2l_encoder_keys)

    def forward(self, X, *args):
        """X (B, K) token ids -> (outputs (K, B, H), state (L, B, H) or (h, c) for an LSTM).

        On the CPU the first layer runs step by step from its weights (``stacked_rnn``), so
        that its input gates come from the projected embedding table (``embedding_gates``:
        fewer FLOPs, forward and backward). A GRU's upper layers run step by step too (a
        training step of the GRU + dot model took 0.76 times as long as with ``nn.GRU`` on an
        AVX-512 CPU, 0.95 times on an AVX2 one); an LSTM's run in one call of oneDNN's fused
        LSTM, which was faster than step-by-step cells there (a training step of the LSTM +
        dot model took 0.92-0.95 times as long as with ``nn.LSTM`` on the AVX2 CPU). cuDNN
        runs both on a GPU.
        """
        if X.device.type == "cpu":
            stepwise = 1 if isinstance(self.rnn, nn.LSTM) else None
            return stacked_rnn(self.rnn, self.embedding, X.t(), self.training, stepwise)
        return self.rnn(self.embedding(X.t().long()))  # (K, B, H), state


def _accept_d2l_encoder_keys(state_dict, prefix, *args):
    for key in [k for k in state_dict if k.startswith(prefix + "rnn.rnn.")]:
        state_dict[prefix + "rnn." + key[len(prefix + "rnn.rnn."):]] = state_dict.pop(key)


class Seq2SeqAttentionDecoder(AttentionDecoder):
    """Bahdanau's decoder (D2L §11.4): at every step, attend over the encoder outputs with the
    previous top-layer hidden state as query, then feed [context; embedding] to the RNN.

    ``rnn`` is 'gru' (d2l's) or 'lstm'; ``scoring`` is 'additive' (d2l's) or 'dot' (scaled
    dot-product, which needs the encoder's and decoder's hidden sizes to be equal: both are
    ``num_hiddens`` here). The state is ``[enc_outputs (B, K, H), hidden_state, enc_valid_lens,
    prepared_keys]``, where ``hidden_state`` is (L, B, H) for a GRU and the pair (h, c) for an
    LSTM, and ``prepared_keys`` caches what the scorer computes from the keys once per sentence.

    Initial state from the encoder's final state (an explicit choice where the RNNs differ):
    an LSTM decoder after a GRU encoder starts with h = the encoder's h and c = 0 (the cell
    memory starts empty; only h carries the summary of the source); a GRU decoder after an LSTM
    encoder takes the encoder's h and drops its c.

    Initialisation as in d2l 1.0.3: ``init_seq2seq`` on the RNN, while the attention
    projections and the output layer are lazy layers that ``init_seq2seq`` never reaches and
    that keep PyTorch's default. They are created, in d2l's order, by the first ``init_state``
    (attention) and the first ``forward`` (output layer), so a seeded run draws d2l's initial
    weights; count parameters after one forward pass. Parameter names match d2l's, so its
    state_dicts load.
    """

    accepts_lengths = True

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0,
                 rnn="gru", scoring="additive"):
        super().__init__()
        if scoring not in SCORERS:
            raise ValueError(f"unknown scoring {scoring!r}: choose one of {list(SCORERS)}")
        self.rnn_kind, self.scoring, self.num_hiddens = rnn, scoring, num_hiddens
        self.is_lstm = rnn == "lstm"
        if scoring == "additive":
            self.attention = AdditiveAttention(num_hiddens, dropout)
        else:
            self.attention = DotProductAttention(dropout)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = make_rnn(rnn, embed_size + num_hiddens, num_hiddens, num_layers, dropout)
        self.dense = nn.LazyLinear(vocab_size)
        self.rnn.apply(init_seq2seq)
        self._attention_weights = []

    def init_state(self, enc_outputs, enc_valid_lens, *args):
        """Encoder's (outputs (K, B, H), state) -> the decoder state described above."""
        outputs, enc_state = enc_outputs
        enc_is_lstm = isinstance(enc_state, tuple)
        if self.is_lstm and not enc_is_lstm:
            hidden_state = (enc_state, torch.zeros_like(enc_state))
        elif enc_is_lstm and not self.is_lstm:
            hidden_state = enc_state[0]
        else:
            hidden_state = enc_state
        keys = outputs.permute(1, 0, 2)  # (B, K, H)
        if self.scoring == "additive":
            self.attention.materialize(self.num_hiddens, keys.shape[-1])
        return [keys, hidden_state, enc_valid_lens, self.attention.prepare_keys(keys)]

    def forward(self, X, state, lengths=None):
        """X (B, T) token ids -> (logits (B, T, V), new state).

        ``lengths`` (B,), optional, serves a loss that ignores each target's padding (``Seq2Seq``
        passes it in training and validation): row b needs logits only at its first
        ``lengths[b]`` steps. As in a packed sequence, the rows are then sorted by length and
        each step runs only the rows not yet past their end, so no work goes into padding.
        The logits at the skipped positions are 0, the new state is None and no attention
        weights are kept; the other logits, and the gradients of a loss that ignores the
        skipped ones, are the same as without ``lengths`` up to float rounding.
        """
        enc_outputs, hidden_state, enc_valid_lens, prepared_keys = state
        H, (B, K), T = self.num_hiddens, enc_outputs.shape[:2], X.shape[1]
        noise = self._dropout_noise(T, B, K, enc_outputs.device)  # in d2l's order, all rows
        live = [B] * T  # live[t]: the rows still inside their target at step t (a prefix)
        if lengths is not None:
            order, live = sort_by_length(lengths, T)
            X, enc_outputs, prepared_keys, enc_valid_lens, noise = take_rows(
                order, X, enc_outputs, prepared_keys, enc_valid_lens, noise)
            (hidden_state,) = take_rows(order, hidden_state, dim=1)  # (L, B, H) or (h, c)
        cell = lstm_cell if self.is_lstm else gru_cell
        weights = [cell_weights(self.rnn, l) for l in range(self.rnn.num_layers)]
        # Layer 0's input is [context; embedding]. The embedding's share of its input gates
        # does not depend on the state: compute it for all T steps at once.
        w_ih0, _, b_in0, _ = weights[0]
        # The two column blocks of w_ih0, contiguous once here rather than in each step's
        # ``linear`` (which copies a non-contiguous weight at every call on oneDNN).
        w_context, w_embedding = (w.contiguous() for w in w_ih0.split([H, w_ih0.shape[1] - H], 1))
        emb_gates = embedding_gates(self.embedding, X.t(), w_embedding, b_in0)  # (T, B, G*H)
        mask = key_mask(enc_valid_lens, K)  # (B, K), the same at every step
        layers = split_layers(hidden_state, self.is_lstm)  # L states, each (B, H) or (h, c)
        outputs, self._attention_weights = [], []
        for emb_gate, (attention_noise, *layer_noise), n in zip(emb_gates, noise, live):
            if n == 0:  # every target has ended
                break
            if n < B:  # rows sorted by length: only the first n are still inside their target
                (emb_gate, attention_noise, layer_noise, enc_outputs, prepared_keys, mask,
                 layers) = first_rows(n, emb_gate, attention_noise, layer_noise, enc_outputs,
                                      prepared_keys, mask, layers)
            query = top_hidden(layers[-1], self.is_lstm)  # (n, H)
            weights_t = self.attention.step_weights(query, prepared_keys, mask)  # (n, K)
            if lengths is None:  # (rows are reordered and dropped otherwise)
                self._attention_weights.append(weights_t.unsqueeze(1))
            if attention_noise is not None:  # dropout on the attention weights, as d2l
                weights_t = weights_t * attention_noise
            context = pool(weights_t, enc_outputs)  # (n, H)
            gates = linear(context, w_context, add=emb_gate)  # (n, G*H)
            for l, (w_ih, w_hh, b_in, b_hid) in enumerate(weights):
                if l > 0:  # deeper layers read the (dropped-out) output of the layer below
                    x = top_hidden(layers[l - 1], self.is_lstm)
                    if layer_noise[l - 1] is not None:
                        x = x * layer_noise[l - 1]
                    gates = linear(x, w_ih, b_in)
                layers[l] = cell(gates, layers[l], w_hh, b_hid)
            outputs.append(top_hidden(layers[-1], self.is_lstm))  # (n, H)
        if lengths is not None:  # the logits of the live positions, put back in place
            return unpack(apply_linear(self.dense, torch.cat(outputs)), order, live, T), None
        logits = apply_linear(self.dense, torch.stack(outputs, 1))  # (B, T, V)
        hidden_state = stack_layers(layers, self.is_lstm)
        return logits, [enc_outputs, hidden_state, enc_valid_lens, prepared_keys]

    def _dropout_noise(self, steps, B, K, device):
        """Per step: the dropout noise of the attention weights (B, K), then of the input of
        each layer above the first (B, H), drawn in d2l's order (``dropout_noise``); all None
        when not training."""
        p_attention = self.attention.dropout.p if self.training else 0.0
        p_rnn = self.rnn.dropout if self.training else 0.0
        specs = [((B, K), p_attention)] + [((B, self.num_hiddens), p_rnn)] * (
            self.rnn.num_layers - 1)
        return dropout_noise(specs, steps, device)

    @property
    def attention_weights(self):
        """List of the last call's T attention weights, each (B, 1, K)."""
        return self._attention_weights


class Seq2Seq(EncoderDecoder):
    """Encoder-decoder for translation, trained with Adam on the masked cross-entropy."""

    def __init__(self, encoder, decoder, tgt_pad, lr):
        super().__init__(encoder, decoder)
        self.save_hyperparameters(ignore=("encoder", "decoder"))

    def loss(self, Y_hat, Y, averaged=True):
        """Mean cross-entropy over the target tokens that are not ``<pad>``.

        Fix of d2l 1.0.3: the package's ``Seq2Seq`` inherits the classifier's loss and
        averages over padding too, although D2L §10.7 defines this masked loss. With
        ``averaged=False`` it returns per-token losses (B*T,) with padding set to 0.
        """
        Y_hat = Y_hat.reshape(-1, Y_hat.shape[-1])
        if averaged:
            return F.cross_entropy(Y_hat, Y.reshape(-1), ignore_index=self.tgt_pad)
        return F.cross_entropy(Y_hat, Y.reshape(-1), ignore_index=self.tgt_pad,
                               reduction="none")

    def outputs_for_loss(self, batch):
        """Logits of a batch (src, dec_X, src_valid_len, Y) for ``loss``, with the decoder
        skipping the positions past each target's last token where it can, since this loss
        ignores them. A subclass that overrides ``loss`` gets the logits of every position."""
        *inputs, Y = batch
        masked_loss = type(self).loss is Seq2Seq.loss  # another loss may read the padding
        if masked_loss and self.decoder.accepts_lengths:
            lengths = target_lengths(Y, self.tgt_pad)
            if lengths.any():
                return self(*inputs, lengths=lengths)
        return self(*inputs)

    def configure_optimizers(self):
        """Adam, as d2l; its fused kernel (same update rule, one pass over all parameters)."""
        return torch.optim.Adam(self.parameters(), lr=self.lr, fused=True)
