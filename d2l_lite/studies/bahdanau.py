"""What Bahdanau et al. (2015) did differently from §11.4, for the chapter on attention at
work: a bidirectional encoder, and attention replaced by uniform weights at evaluation.

**The encoder.** The paper's annotation of source position j is [h→_j; h←_j]: a forward RNN
reads the sentence left to right, a backward one right to left, so every position summarises
the words on both sides of it. §11.4's one-way encoder gives position j only the words up to
j, and its last positions summarise the whole sentence, so attending to the end is enough for
much of a translation. ``BidirectionalEncoder`` returns outputs 2H wide, the keys and values
(the decoder is built with ``key_size=2 * num_hiddens``); additive scoring takes keys of any
width (its ``W_k`` projects them), dot-product scoring needs a projection (Luong's "general"
score) and is not used with it here. The decoder's state starts as the paper's does (its
appendix A.2.2), from the backward RNN's state at the first word, s_0 = tanh(W_s h←_1), one
W_s per layer. Sentences are packed (``pack_padded_sequence``), so the backward RNN starts
at each sentence's last word, not at its padding.

**Uniform weights.** ``UniformAttention`` stands in for a trained scorer at evaluation: every
valid source position gets the same weight. How much worse a model translates with it
measures how much the model relies on where it looks.

Shapes: B batch, K source positions, E embedding size, H hidden size, L layers.
"""

import contextlib

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..d2l.attention import masked_softmax
from ..d2l.seq2seq import Encoder, check_sizes, init_seq2seq


class BidirectionalEncoder(Encoder):
    """Embedding, a stacked bidirectional GRU and the decoder's initial state (see above)."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0):
        super().__init__()
        check_sizes(vocab_size=vocab_size, embed_size=embed_size, num_hiddens=num_hiddens,
                    num_layers=num_layers)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size, num_hiddens, num_layers, dropout=dropout,
                          bidirectional=True)
        self.initial = nn.ModuleList(nn.Linear(num_hiddens, num_hiddens)
                                     for _ in range(num_layers))  # W_s of each layer
        self.output_size = 2 * num_hiddens  # the width of the keys and values
        self.apply(init_seq2seq)

    def forward(self, X, valid_lens):
        """X (B, K) token ids, valid_lens (B,) -> (outputs (K, B, 2H), the decoder's initial
        state (L, B, H)); outputs at padding positions are zero."""
        embs = self.embedding(X.t().type(torch.int64))  # (K, B, E)
        packed = pack_padded_sequence(embs, valid_lens.cpu(), enforce_sorted=False)
        outputs, state = self.rnn(packed)
        outputs, _ = pad_packed_sequence(outputs, total_length=X.shape[1])  # (K, B, 2H)
        L, H = self.rnn.num_layers, self.rnn.hidden_size
        backward_first = state.reshape(L, 2, -1, H)[:, 1]  # (L, B, H): h←_1 of each layer
        initial = torch.stack([torch.tanh(w(h)) for w, h in zip(self.initial, backward_first)])
        return outputs, initial


class UniformAttention(nn.Module):
    """A scorer that gives every valid key the same weight, whatever the query: for
    evaluating a trained decoder without its attention (``uniform_attention``). It
    keeps the replaced scorer's dropout, so that the decoder's dropout draws are unchanged."""

    def __init__(self, dropout):
        super().__init__()
        self.dropout = dropout

    def forward(self, queries, keys, values, valid_lens=None):
        scores = queries.new_zeros(queries.shape[0], queries.shape[1], keys.shape[1])
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)

    def prepare_keys(self, keys):
        return keys

    def scores_one(self, query, prepared):
        return query.new_zeros(prepared.shape[:2])


@contextlib.contextmanager
def uniform_attention(model):
    """``with uniform_attention(model):`` the model's decoder attends uniformly inside the
    block, and gets its own scorer back after it."""
    trained = model.decoder.attention
    model.decoder.attention = UniformAttention(trained.dropout)
    try:
        yield model
    finally:
        model.decoder.attention = trained
