"""English-French translation at every sentence length: the data of the chapter on attention
at work, and decoding by length.

Bahdanau et al. (2015) showed attention's worth on sentences longer than about 20 words; the
corpus is short. Counted in d2l's tokens (punctuation split off), most English sentences have
at most 8 tokens and a few hundred more than 20. ``MTFraEngLong`` reaches long inputs in two
ways, and tests on both:

* **joined pairs**: a training example is one sentence pair, or two to ``max_joins`` pairs
  joined, source to source and target to target ("i lost . he's calm ." -> "j'ai perdu . il
  est calme ."), a known augmentation for long-sentence translation. Its parts are
  independent sentences, each ended by its punctuation, so a joined example is easier than a
  natural sentence of the same length: the words to translate at any point sit in one short
  stretch of the source, which is what attention can find and a single state vector must
  carry.
* **natural long sentences**: every English sentence of at least ``long_from`` tokens is
  held out for testing and never trained on: the natural test set shows whether what the
  models learn from joined pairs holds on real long sentences.

Splits are by English sentence (no test sentence is ever trained on, alone or in a join), the
vocabularies come from the training examples, and a test sentence keeps all its references.
Batches hold one source length (``batching.LengthBatches``).
"""

import random

import torch

from ..d2l.data import SentencePairs, build_arrays, preprocess, read_lines
from ..d2l.download import data_root, fra_eng_path
from .batching import LengthBatches

BUCKETS = ((1, 8), (9, 16), (17, 24), (25, 32), (33, 40))
"""Source-length buckets, in English tokens (without <eos>), of the tests by length."""


def bucket_of(length, buckets=BUCKETS):
    """The (low, high) bucket that holds ``length``, or None."""
    return next((b for b in buckets if b[0] <= length <= b[1]), None)


class MTFraEngLong(SentencePairs):
    """Training and validation examples of joined pairs, and two test sets by length bucket
    (see the module docstring): ``natural_sources``/``natural_references`` (test sentences,
    all their references) and ``joined_sources``/``joined_references`` (joins of test pairs,
    one reference each), each with up to ``per_bucket`` sentences in every bucket."""

    def __init__(self, batch_size=64, num_train=12_000, num_val=1000, max_joins=4, max_len=40,
                 long_from=17, num_test_sentences=4000, num_val_sentences=2000, per_bucket=300,
                 buckets=BUCKETS, seed=0, root=None):
        super().__init__()
        for name, value in (("batch_size", batch_size), ("num_train", num_train),
                            ("num_val", num_val), ("max_joins", max_joins),
                            ("max_len", max_len), ("per_bucket", per_bucket)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MTFraEngLong: {name} must be an integer >= 1, got {value!r}")
        self.batch_size, self.max_len, self.buckets = batch_size, max_len, tuple(buckets)
        self.max_joins = max_joins
        self.num_steps = max_len + max_len // 2  # French runs longer than English
        self.root = str(data_root(root))
        self.path = fra_eng_path(self.root)
        groups = _groups(preprocess(read_lines(self.path, None)))
        sentences = sorted(groups)
        random.Random(seed).shuffle(sentences)
        long = [s for s in sentences if len(s.split()) >= long_from]
        short = [s for s in sentences if len(s.split()) < long_from]
        test = short[:num_test_sentences] + long
        val = short[num_test_sentences:num_test_sentences + num_val_sentences]
        train = short[num_test_sentences + num_val_sentences:]
        self.train_sentences, self.val_sentences = set(train), set(val)
        self.test_sentences = test
        rng = random.Random(seed + 1)
        train_examples = self._joins([(s, r) for s in train for r in groups[s]], num_train, rng)
        val_examples = self._joins([(s, r) for s in val for r in groups[s]], num_val, rng)
        self.train_examples = train_examples
        self.num_train, self.num_val = len(train_examples), len(val_examples)
        train_arrays, self.src_vocab, self.tgt_vocab = build_arrays(
            *_tokens(train_examples), self.num_steps)
        val_arrays, _, _ = build_arrays(*_tokens(val_examples), self.num_steps, self.src_vocab,
                                        self.tgt_vocab)
        self.arrays = tuple(torch.cat(pair) for pair in zip(train_arrays, val_arrays))
        natural = {}
        for s in test:
            b = bucket_of(len(s.split()), self.buckets)
            if b and len(natural.setdefault(b, [])) < per_bucket:
                natural[b].append(s)
        self.natural_sources = [s for b in self.buckets for s in natural.get(b, [])]
        self.natural_references = [groups[s] for s in self.natural_sources]
        test_pairs = [(s, groups[s][0]) for s in short[:num_test_sentences]]
        joined = self._joined_by_bucket(test_pairs, per_bucket, rng)
        self.joined_sources = [s for s, _ in joined]
        self.joined_references = [[r] for _, r in joined]

    def _fits(self, source, target):
        return len(source.split()) <= self.max_len and len(target.split()) < self.num_steps

    def _joins(self, pairs, count, rng):
        """``count`` examples, each 1 to ``max_joins`` pairs (as many of each) joined."""
        examples = []
        while len(examples) < count:
            parts = rng.sample(pairs, rng.randint(1, self.max_joins))
            source, target = (" ".join(p[i] for p in parts) for i in (0, 1))
            if self._fits(source, target):
                examples.append((source, target))
        return examples

    def _joined_by_bucket(self, pairs, per_bucket, rng):
        """Up to ``per_bucket`` joins of 2 or more ``pairs`` in every bucket above the first:
        pairs are added until the source's length falls in the bucket (a join that overshoots
        it is dropped)."""
        joined = []
        for low, high in self.buckets[1:]:
            found, attempts = [], 0
            while len(found) < per_bucket and attempts < 100 * per_bucket:
                attempts += 1
                parts = rng.sample(pairs, 2)
                while sum(len(p[0].split()) for p in parts) < low:
                    parts.append(rng.choice(pairs))
                source, target = (" ".join(p[i] for p in parts) for i in (0, 1))
                if len(source.split()) <= high and self._fits(source, target):
                    found.append((source, target))
            joined += found
        return joined

    def get_dataloader(self, train):
        first, count = (0, self.num_train) if train else (self.num_train, self.num_val)
        return LengthBatches(self.arrays, range(first, first + count), self.batch_size,
                             self.tgt_vocab["<pad>"], shuffle=train,
                             generator=self.batch_generator)


def _groups(text):
    """English sentence -> its distinct French references, for every pair of the corpus."""
    groups = {}
    for line in text.split("\n"):
        parts = line.split("\t")
        if len(parts) == 2:
            source, target = (" ".join(p.split()) for p in parts)
            references = groups.setdefault(source, [])
            if target not in references:
                references.append(target)
    return groups


def _tokens(pairs):
    """(English, French) strings -> two lists of token lists, each ending in <eos>."""
    return [f"{s} <eos>".split() for s, _ in pairs], [f"{t} <eos>".split() for _, t in pairs]


@torch.no_grad()
def translate_by_length(model, data, sentences, save_attention_weights=False, extra_steps=10,
                        batch_size=256):
    """Greedy translations of preprocessed English ``sentences`` (token lists, cut at <eos>),
    decoded in batches of one source length (no source padding) for at most
    2 x length + ``extra_steps`` tokens; with ``save_attention_weights``, also each sentence's
    attention map (steps, its source length + 1), else None. The model is run in eval mode
    (``predict_step``)."""
    src, tgt, src_len, label = data.build(sentences, [""] * len(sentences))
    device = next(model.parameters()).device
    translations, maps = [None] * len(sentences), [None] * len(sentences)
    eos = data.tgt_vocab["<eos>"]
    rows_by_length = {}
    for row, n in enumerate(src_len.tolist()):
        rows_by_length.setdefault(n, []).append(row)
    for n, rows in sorted(rows_by_length.items()):
        steps = min(data.num_steps, 2 * n + extra_steps)
        for i in range(0, len(rows), batch_size):
            index = torch.tensor(rows[i:i + batch_size])
            batch = (src[index, :n], tgt[index], src_len[index], label[index])
            preds, weights = model.predict_step(batch, device, steps, save_attention_weights)
            if save_attention_weights:
                weights = torch.cat([w[0] for w in weights], 1).cpu()  # (b, steps, n)
            for j, row in enumerate(index.tolist()):
                ids = preds[j].tolist()
                ids = ids[:ids.index(eos)] if eos in ids else ids
                translations[row] = [data.tgt_vocab.idx_to_token[t] for t in ids]
                if save_attention_weights:
                    maps[row] = weights[j]
    return translations, (maps if save_attention_weights else None)


def attention_entropy(maps, translations):
    """Per sentence, the mean normalised entropy of its attention map over the steps up to
    and including <eos> (0: every step looks at one source position; 1: uniform over the n
    valid positions); None for sentences of one source position."""
    out = []
    for W, tokens in zip(maps, translations):
        n = W.shape[1]
        if n < 2:
            out.append(None)
            continue
        W = W[:min(len(tokens) + 1, W.shape[0])]
        h = -(W * W.clamp_min(1e-12).log()).sum(-1) / torch.log(torch.tensor(float(n)))
        out.append(h.mean().item())
    return out
