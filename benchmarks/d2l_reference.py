"""Import d2l 1.0.3 (``pip install --no-deps d2l==1.0.3``) as a reference, if it is installed.

d2l's ``torch`` module imports torchvision, pandas, scipy, PIL and requests at the top; §11.4
uses none of them, so missing ones are replaced by empty stand-in modules. Its ``MTFraEng``
downloads the corpus into ``../data``; here it reads the same ``fra.txt`` that d2l_lite reads.
The §11.4 decoder itself is defined in the book's chapter, not in the package: it is restated
below (``D2LSeq2SeqAttentionDecoder``) exactly as D2L 1.0.3 prints it.
"""

import importlib.machinery
import importlib.util
import sys
import types


def available():
    """True when the d2l package is installed."""
    return importlib.util.find_spec("d2l") is not None


def _stub(name, **attrs):
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


def import_d2l(fra_path):
    """d2l.torch with stand-ins for unused imports and MTFraEng reading ``fra_path``."""
    for name in ("torchvision", "pandas", "scipy", "PIL", "requests"):
        try:
            __import__(name)
        except Exception:  # torchvision may be installed yet fail to import beside torch
            if name == "torchvision":
                _stub("torchvision", transforms=_stub("torchvision.transforms"))
            elif name == "scipy":
                _stub("scipy.spatial", distance_matrix=None)
                _stub("scipy", spatial=sys.modules["scipy.spatial"])
            elif name == "PIL":
                _stub("PIL", Image=_stub("PIL.Image"))
            else:
                _stub(name)
    from d2l import torch as d2l

    def _download(self):
        with open(fra_path, encoding="utf-8") as f:
            return f.read()

    d2l.MTFraEng._download = _download
    d2l.Seq2SeqAttentionDecoder = _make_decoder(d2l)
    return d2l


def _make_decoder(d2l):
    import torch
    from torch import nn

    class D2LSeq2SeqAttentionDecoder(d2l.AttentionDecoder):
        """D2L 1.0.3 §11.4's decoder, as printed, for ``rnn='gru', scoring='additive'``.

        The other variants are what a reader writes in d2l's style for the exercises: an
        ``nn.LSTM`` called once per step on the pair (h, c), or ``d2l.DotProductAttention``.
        """

        def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0,
                     rnn="gru", scoring="additive"):
            super().__init__()
            self.is_lstm = rnn == "lstm"
            self.attention = (d2l.AdditiveAttention(num_hiddens, dropout)
                              if scoring == "additive" else d2l.DotProductAttention(dropout))
            self.embedding = nn.Embedding(vocab_size, embed_size)
            self.rnn = (nn.LSTM if self.is_lstm else nn.GRU)(
                embed_size + num_hiddens, num_hiddens, num_layers, dropout=dropout)
            self.dense = nn.LazyLinear(vocab_size)
            self.apply(d2l.init_seq2seq)

        def init_state(self, enc_outputs, enc_valid_lens):
            outputs, hidden_state = enc_outputs
            return (outputs.permute(1, 0, 2), hidden_state, enc_valid_lens)

        def forward(self, X, state):
            enc_outputs, hidden_state, enc_valid_lens = state
            X = self.embedding(X).permute(1, 0, 2)
            outputs, self._attention_weights = [], []
            for x in X:
                h = hidden_state[0] if self.is_lstm else hidden_state
                query = torch.unsqueeze(h[-1], dim=1)
                context = self.attention(query, enc_outputs, enc_outputs, enc_valid_lens)
                x = torch.cat((context, torch.unsqueeze(x, dim=1)), dim=-1)
                out, hidden_state = self.rnn(x.permute(1, 0, 2), hidden_state)
                outputs.append(out)
                self._attention_weights.append(self.attention.attention_weights)
            outputs = self.dense(torch.cat(outputs, dim=0))
            return outputs.permute(1, 0, 2), [enc_outputs, hidden_state, enc_valid_lens]

        @property
        def attention_weights(self):
            return self._attention_weights

    return D2LSeq2SeqAttentionDecoder


def make_encoder(d2l, vocab_size, embed_size, num_hiddens, num_layers, dropout, rnn="gru"):
    """d2l's Seq2SeqEncoder; for ``rnn='lstm'`` its GRU swapped for an nn.LSTM, as a reader
    of d2l would do it."""
    from torch import nn

    encoder = d2l.Seq2SeqEncoder(vocab_size, embed_size, num_hiddens, num_layers, dropout)
    if rnn == "lstm":
        encoder.rnn = nn.LSTM(embed_size, num_hiddens, num_layers, dropout=dropout)
    return encoder
