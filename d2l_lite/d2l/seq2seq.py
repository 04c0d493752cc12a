"""Encoder-decoder models of D2L §10.6-10.7 and §11.4: the RNN encoder, Bahdanau's attention
decoder and the ``Seq2Seq`` model that trains them.

This is the reference: it reads like the book's code and is what ``d2l.Seq2SeqAttentionDecoder``
means. The exercises' variants are arguments: ``rnn='lstm'`` (Exercise 1) and ``scoring='dot'``
(Exercise 2). ``d2l_lite.fast`` computes the same model with less work.

Shapes: B batch, T target steps, K source steps (keys), E embedding size, H hidden size,
L layers, V vocabulary size.
"""

import torch
from torch import nn
from torch.nn import functional as F

from .attention import SCORERS
from .train import Module

RNNS = {"gru": nn.GRU, "lstm": nn.LSTM}
"""name -> recurrent layer: the RNNs an encoder or decoder can be built with."""


class Encoder(nn.Module):
    """The encoder interface: ``forward(X, *args)`` returns what the decoder's state needs."""

    def forward(self, X, *args):
        raise NotImplementedError


class Decoder(nn.Module):
    """The decoder interface: ``init_state(enc_all_outputs, *args)`` then ``forward(X, state)``."""

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
    """An encoder and a decoder trained end to end."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, enc_X, dec_X, *args):
        """enc_X (B, K), dec_X (B, T) -> logits (B, T, V)."""
        enc_all_outputs = self.encoder(enc_X, *args)
        dec_state = self.decoder.init_state(enc_all_outputs, *args)
        return self.decoder(dec_X, dec_state)[0]

    def loss(self, Y_hat, Y, averaged=True):
        """Cross-entropy of logits ``Y_hat`` (B, T, V) against labels ``Y`` (B, T), over every
        position (d2l 1.0.3's classifier loss; ``Seq2Seq`` masks the padding)."""
        return F.cross_entropy(Y_hat.reshape(-1, Y_hat.shape[-1]), Y.reshape(-1),
                               reduction="mean" if averaged else "none")

    @torch.no_grad()
    def predict_step(self, batch, device, num_steps, save_attention_weights=False):
        """Greedy decoding of ``num_steps`` tokens for a batch (src, tgt, src_valid_len, _).

        Returns (predictions (B, num_steps), attention weights): the second is a list with one
        entry per step, the decoder's ``attention_weights`` for that step (a list holding one
        (B, 1, K) tensor), as in d2l; empty unless ``save_attention_weights``.
        Runs in eval mode (d2l keeps the mode it finds: dropout while predicting only adds
        noise) and restores the previous mode.
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
        for name, param in module.named_parameters():
            if "weight" in name:
                nn.init.xavier_uniform_(param)


def make_rnn(kind, input_size, num_hiddens, num_layers, dropout):
    """``nn.GRU`` or ``nn.LSTM`` by name ('gru' or 'lstm')."""
    if kind not in RNNS:
        raise ValueError(f"unknown rnn {kind!r}: choose one of {sorted(RNNS)}")
    return RNNS[kind](input_size, num_hiddens, num_layers, dropout=dropout)


def check_sizes(**sizes):
    """Raise ValueError naming the first size that is not an integer >= 1."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


class Seq2SeqEncoder(Encoder):
    """Embedding followed by a stacked GRU (d2l's) or LSTM (``rnn='lstm'``)."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, rnn="gru"):
        super().__init__()
        check_sizes(vocab_size=vocab_size, embed_size=embed_size, num_hiddens=num_hiddens,
                    num_layers=num_layers)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = make_rnn(rnn, embed_size, num_hiddens, num_layers, dropout)
        self.apply(init_seq2seq)
        # d2l wraps its nn.GRU in a d2l.GRU, so its state_dict says "rnn.rnn.weight_ih_l0"
        self.register_load_state_dict_pre_hook(_accept_d2l_encoder_keys)

    def forward(self, X, *args):
        """X (B, K) token ids -> (outputs (K, B, H), state (L, B, H), or (h, c) for an LSTM)."""
        embs = self.embedding(X.t().type(torch.int64))  # (K, B, E)
        outputs, state = self.rnn(embs)
        return outputs, state


def _accept_d2l_encoder_keys(module, state_dict, prefix, *args):
    for key in [k for k in state_dict if k.startswith(prefix + "rnn.rnn.")]:
        state_dict[prefix + "rnn." + key[len(prefix + "rnn.rnn."):]] = state_dict.pop(key)


class Seq2SeqDecoder(Decoder):
    """The RNN decoder of D2L §10.7, without attention: the encoder's last top-layer state is the
    context of every step, concatenated with the embedded input token. The larger-scale
    chapter's baseline. ``rnn`` is 'gru' (d2l's) or 'lstm'."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, rnn="gru"):
        super().__init__()
        check_sizes(vocab_size=vocab_size, embed_size=embed_size, num_hiddens=num_hiddens,
                    num_layers=num_layers)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = make_rnn(rnn, embed_size + num_hiddens, num_hiddens, num_layers, dropout)
        self.dense = nn.LazyLinear(vocab_size)
        self.apply(init_seq2seq)

    def init_state(self, enc_all_outputs, *args):
        """The encoder's (outputs (K, B, H), state), kept as the decoder's state."""
        return enc_all_outputs

    def forward(self, X, state):
        """X (B, T) token ids -> (logits (B, T, V), new state)."""
        embs = self.embedding(X.t().type(torch.int32))  # (T, B, E)
        enc_output, hidden_state = state
        context = enc_output[-1]  # (B, H): the top layer's last output
        context = context.repeat(embs.shape[0], 1, 1)  # (T, B, H)
        embs_and_context = torch.cat((embs, context), -1)
        outputs, hidden_state = self.rnn(embs_and_context, hidden_state)
        outputs = self.dense(outputs).swapaxes(0, 1)  # (B, T, V)
        return outputs, [enc_output, hidden_state]


class Seq2SeqAttentionDecoder(AttentionDecoder):
    """Bahdanau's decoder (D2L §11.4): at every step the previous top-layer hidden state is the
    query, the encoder's outputs are keys and values, and the RNN reads [context; embedding].

    ``rnn`` is 'gru' (§11.4's) or 'lstm' (Exercise 1); ``scoring`` names a scorer of
    ``attention.SCORERS``: 'additive' (§11.4's) or 'dot' (Exercise 2: scaled dot-product,
    which needs the query and key sizes to be equal). ``key_size`` is the width of the
    encoder's outputs, the keys and values, which the RNN reads beside the embedding (default
    ``num_hiddens``; twice that after a bidirectional encoder). An LSTM's state is the pair
    (h, c) throughout: the query reads h; ``init_state`` decides what the pair starts from
    when the encoder is a GRU.

    As in d2l 1.0.3, ``init_seq2seq`` reaches the RNN only: the attention's projections and
    the output layer are lazy layers, created with PyTorch's default initialisation at the
    first ``forward``; count parameters after one forward pass.
    """

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers,
                 dropout=0, rnn="gru", scoring="additive", key_size=None):
        super().__init__()
        key_size = num_hiddens if key_size is None else key_size
        check_sizes(vocab_size=vocab_size, embed_size=embed_size, num_hiddens=num_hiddens,
                    num_layers=num_layers, key_size=key_size)
        if scoring not in SCORERS:
            raise ValueError(f"unknown scoring {scoring!r}: choose one of {list(SCORERS)}")
        self.attention = SCORERS[scoring](num_hiddens, dropout)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = make_rnn(
            rnn, embed_size + key_size, num_hiddens, num_layers,
            dropout=dropout)
        self.dense = nn.LazyLinear(vocab_size)
        self.apply(init_seq2seq)

    def init_state(self, enc_outputs, enc_valid_lens):
        """Encoder's (outputs, state) -> the decoder's state (enc_outputs, hidden_state,
        enc_valid_lens); ``hidden_state`` is the pair (h, c) for an LSTM decoder."""
        # Shape of outputs: (num_steps, batch_size, num_hiddens).
        # Shape of hidden_state: (num_layers, batch_size, num_hiddens)
        outputs, hidden_state = enc_outputs
        is_lstm = isinstance(self.rnn, nn.LSTM)
        if is_lstm and not isinstance(hidden_state, tuple):  # GRU encoder, LSTM decoder:
            hidden_state = (hidden_state, torch.zeros_like(hidden_state))  # c starts empty
        elif isinstance(hidden_state, tuple) and not is_lstm:  # LSTM encoder, GRU decoder:
            hidden_state = hidden_state[0]  # keep h
        return (outputs.permute(1, 0, 2), hidden_state, enc_valid_lens)

    def forward(self, X, state):
        """X (batch_size, num_steps) token ids -> (logits, new state)."""
        # Shape of enc_outputs: (batch_size, num_steps, num_hiddens).
        # Shape of hidden_state: (num_layers, batch_size, num_hiddens)
        enc_outputs, hidden_state, enc_valid_lens = state
        # Shape of the output X: (num_steps, batch_size, embed_size)
        X = self.embedding(X).permute(1, 0, 2)
        outputs, self._attention_weights = [], []
        for x in X:
            # The top layer's hidden state h; an LSTM's state is the pair (h, c)
            h = hidden_state[0] if isinstance(hidden_state, tuple) else hidden_state
            # Shape of query: (batch_size, 1, num_hiddens)
            query = torch.unsqueeze(h[-1], dim=1)
            # Shape of context: (batch_size, 1, num_hiddens)
            context = self.attention(
                query, enc_outputs, enc_outputs, enc_valid_lens)
            # Concatenate on the feature dimension
            x = torch.cat((context, torch.unsqueeze(x, dim=1)), dim=-1)
            # Reshape x as (1, batch_size, embed_size + num_hiddens)
            out, hidden_state = self.rnn(x.permute(1, 0, 2), hidden_state)
            outputs.append(out)
            self._attention_weights.append(self.attention.attention_weights)
        # After fully connected layer transformation, shape of outputs:
        # (num_steps, batch_size, vocab_size)
        outputs = self.dense(torch.cat(outputs, dim=0))
        return outputs.permute(1, 0, 2), [enc_outputs, hidden_state,
                                          enc_valid_lens]

    @property
    def attention_weights(self):
        """One (batch_size, 1, num_keys) tensor of attention weights per step of the last call."""
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
        return F.cross_entropy(Y_hat.reshape(-1, Y_hat.shape[-1]), Y.reshape(-1),
                               ignore_index=self.tgt_pad,
                               reduction="mean" if averaged else "none")

    def configure_optimizers(self):
        """Adam, as d2l; fused (one pass over all parameters) where PyTorch offers it."""
        fused = all(p.device.type in ("cpu", "cuda") for p in self.parameters())
        return torch.optim.Adam(self.parameters(), lr=self.lr, fused=fused or None)
