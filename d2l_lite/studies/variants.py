"""Changes to §11.4's decoder that the attending study tests, one hypothesis each.

* ``StartDecoder``: the decoder's state starts from the encoder's (§11.4), from zeros, or
  from a learned constant. From zeros or a constant, the decoder can learn about the source
  only through attention: the hypothesis is that the encoder's last state is a path around
  attention, which carries a short sentence whole.
* ``QueryAfterDecoder``: the query is the state *after* the step that reads the current
  input (Luong et al., 2015), not the state before it (§11.4, Bahdanau et al.): the
  hypothesis is that a query one step behind looks at the word just translated.

``swap_decoder`` puts one of them into a model built by ``experiment.make_model``, keeping
every weight the two decoders share, so that an arm differs from §11.4's model only where
its hypothesis says.

Shapes: B batch, T target steps, K source positions, E embedding size, H hidden size,
D key size (H, or 2H after a bidirectional encoder), L layers.
"""

import torch
from torch import nn

from ..chapters import experiment
from ..d2l.seq2seq import Seq2SeqAttentionDecoder
from ..fast import FastSeq2SeqAttentionDecoder


class StartDecoder(FastSeq2SeqAttentionDecoder):
    """§11.4's decoder, computed by the fast path, whose state starts from ``start``:
    'encoder' (§11.4: the encoder's last state), 'zeros', or 'learned' (one trained vector
    per layer, the same for every sentence, starting at zero). GRU only."""

    STARTS = ("encoder", "zeros", "learned")

    def __init__(self, *args, start="encoder", **kwargs):
        super().__init__(*args, **kwargs)
        if start not in self.STARTS:
            raise ValueError(f"unknown start {start!r}: choose one of {self.STARTS}")
        if not isinstance(self.rnn, nn.GRU):
            raise ValueError("StartDecoder starts a GRU's state; build it with rnn='gru'")
        self.start = start
        if start == "learned":
            self.initial = nn.Parameter(torch.zeros(self.rnn.num_layers, 1,
                                                    self.rnn.hidden_size))

    def init_state(self, enc_outputs, enc_valid_lens):
        outputs, hidden_state, enc_valid_lens = super().init_state(enc_outputs, enc_valid_lens)
        if self.start == "zeros":
            hidden_state = torch.zeros_like(hidden_state)
        elif self.start == "learned":
            hidden_state = self.initial.expand_as(hidden_state).contiguous()
        return outputs, hidden_state, enc_valid_lens


class QueryAfterDecoder(Seq2SeqAttentionDecoder):
    """Attention with the query taken after the step (Luong et al.'s order). At step t the
    RNN reads [c_{t-1}; embedding of y_{t-1}] (the previous context: Luong's input feeding,
    so the RNN still sees the source), its new top state s_t is the query, and the output
    layer reads [s_t; c_t]. The context starts at zero. Written like §11.4's decoder (no fast
    path); the state is (enc_outputs, hidden_state, enc_valid_lens, context)."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0,
                 rnn="gru", scoring="additive", key_size=None):
        super().__init__(vocab_size, embed_size, num_hiddens, num_layers, dropout, rnn,
                         scoring, key_size)
        self.key_size = num_hiddens if key_size is None else key_size
        self.dense = nn.Linear(num_hiddens + self.key_size, vocab_size)

    def init_state(self, enc_outputs, enc_valid_lens):
        outputs, hidden_state, enc_valid_lens = super().init_state(enc_outputs, enc_valid_lens)
        context = outputs.new_zeros(outputs.shape[0], 1, self.key_size)  # (B, 1, D)
        return outputs, hidden_state, enc_valid_lens, context

    def forward(self, X, state):
        """X (B, T) token ids -> (logits (B, T, vocab), new state)."""
        enc_outputs, hidden_state, enc_valid_lens, context = state
        X = self.embedding(X).permute(1, 0, 2)  # (T, B, E)
        outputs, self._attention_weights = [], []
        for x in X:
            x = torch.cat((context, torch.unsqueeze(x, dim=1)), dim=-1)  # (B, 1, D + E)
            out, hidden_state = self.rnn(x.permute(1, 0, 2), hidden_state)  # (1, B, H)
            query = out.permute(1, 0, 2)  # (B, 1, H): the top layer's state after the step
            context = self.attention(query, enc_outputs, enc_outputs, enc_valid_lens)
            outputs.append(torch.cat((query, context), dim=-1).permute(1, 0, 2))
            self._attention_weights.append(self.attention.attention_weights)
        outputs = self.dense(torch.cat(outputs, dim=0))  # (T, B, vocab)
        return outputs.permute(1, 0, 2), [enc_outputs, hidden_state, enc_valid_lens, context]


def swap_decoder(model, decoder_class, seed, hp, scoring, **kwargs):
    """Replace ``model.decoder`` (built by ``experiment.make_model`` from ``seed`` with the
    settings ``hp``) by a ``decoder_class`` drawn from the same part seeds, then copy every
    weight of the old decoder that has the same name and shape: the two share all they have
    in common."""
    reference = model.decoder
    key_size = reference.rnn.input_size - hp["embed_size"]
    with experiment.part_seed(seed, "decoder"):
        decoder = decoder_class(reference.dense.out_features, hp["embed_size"],
                                hp["num_hiddens"], hp["num_layers"], hp["dropout"],
                                scoring=scoring, key_size=key_size, **kwargs)
    experiment.create_lazy_layers(decoder, seed, hp["num_hiddens"], key_size)
    own = decoder.state_dict()
    shared = {k: v for k, v in reference.state_dict().items()
              if k in own and own[k].shape == v.shape}
    decoder.load_state_dict(shared, strict=False)
    decoder.attention.dropout.p = reference.attention.dropout.p
    model.decoder = decoder
    return model
