"""A larger English-French data set, for the larger-scale chapter: longer sentences, splits
disjoint by source sentence, and every reference of a source kept for multi-reference scores.

d2l's ``MTFraEng`` takes the corpus's first lines, which are its shortest (fra.txt is sorted
by length): its 641 pairs have at most 4 source tokens. ``MTFraEngSplit`` keeps the pairs
whose English side has ``min_len`` to ``max_len`` tokens and whose sides fit ``num_steps``
with their ``<eos>``; groups them by English sentence; draws (with ``seed``) ``num_val`` and
``num_test`` English sentences for validation and test, and up to ``num_train`` pairs of the
other sentences for training. The vocabularies come from the training pairs only.
"""

import random

import torch

from ..d2l.data import SentencePairs, build_arrays, preprocess, read_lines
from ..d2l.download import data_root, fra_eng_path


class MTFraEngSplit(SentencePairs):
    """``MTFraEng``'s arrays, loaders and ``build`` over the split described above.

    ``arrays`` holds the training pairs (``train_pairs``: (English, French) strings), then one
    validation pair per (sentence, reference);
    ``val_sources``/``val_references`` and ``test_sources``/``test_references`` list each
    held-out English sentence once with all its French references.
    """

    def __init__(self, batch_size, num_steps=16, num_train=20_000, num_val=1000, num_test=1000,
                 min_len=5, max_len=12, seed=0, root=None):
        for name, value in (("batch_size", batch_size), ("num_steps", num_steps),
                            ("num_train", num_train), ("num_val", num_val),
                            ("num_test", num_test), ("min_len", min_len)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MTFraEngSplit: {name} must be an integer >= 1, got {value!r}")
        if not min_len <= max_len < num_steps:
            raise ValueError(f"MTFraEngSplit: need min_len <= max_len < num_steps, got "
                             f"{min_len}, {max_len}, {num_steps}")
        super().__init__()
        self.batch_size, self.num_steps, self.seed = batch_size, num_steps, seed
        self.min_len, self.max_len = min_len, max_len
        self.root = str(data_root(root))
        self.path = fra_eng_path(self.root)
        groups = self._groups(preprocess(read_lines(self.path, None)))
        sources = sorted(groups)
        random.Random(seed).shuffle(sources)
        if len(sources) < num_val + num_test + 1:
            raise ValueError(f"only {len(sources)} English sentences have {min_len} to "
                             f"{max_len} tokens: lower num_val or num_test, or widen the range")
        self.test_sources = sources[:num_test]
        self.val_sources = sources[num_test:num_test + num_val]
        train = [(s, t) for s in sources[num_test + num_val:] for t in groups[s]]
        random.Random(seed + 1).shuffle(train)
        train = train[:num_train]
        self.train_pairs = train
        val = [(s, t) for s in self.val_sources for t in groups[s]]
        self.test_references = [groups[s] for s in self.test_sources]
        self.val_references = [groups[s] for s in self.val_sources]
        self.num_train, self.num_val = len(train), len(val)
        train_arrays, self.src_vocab, self.tgt_vocab = build_arrays(*_tokens(train), num_steps)
        val_arrays, _, _ = build_arrays(*_tokens(val), num_steps, self.src_vocab,
                                        self.tgt_vocab)
        self.arrays = tuple(torch.cat(pair) for pair in zip(train_arrays, val_arrays))

    def _groups(self, text):
        """English sentence -> its French references, for the pairs in the length range."""
        groups = {}
        for line in text.split("\n"):
            parts = line.split("\t")
            if len(parts) < 2:
                continue
            src, tgt = parts[0].split(), parts[1].split()
            if self.min_len <= len(src) <= self.max_len and len(tgt) < self.num_steps:
                groups.setdefault(" ".join(src), []).append(" ".join(tgt))
        return groups

    def oov_rate(self, sentences, vocab):
        """The share of the tokens of ``sentences`` (strings) that ``vocab`` does not hold."""
        tokens = [t for s in sentences for t in s.split()]
        return sum(t not in vocab.token_to_idx for t in tokens) / len(tokens)


def _tokens(pairs):
    """(English, French) sentence pairs -> two lists of token lists, each ending in <eos>."""
    return [f"{s} <eos>".split() for s, _ in pairs], [f"{t} <eos>".split() for _, t in pairs]
