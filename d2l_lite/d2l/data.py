"""Text data of D2L §9.5 and §10.5: ``Vocab`` and the English-French corpus ``MTFraEng``.

The corpus (Tatoeba sentences collected by manythings.org, CC-BY 2.0) is read from
``<root>/fra-eng/fra.txt``; ``<root>`` is the ``root`` argument, else ``$D2L_LITE_DATA``, else a
per-user cache folder. ``download`` checks the file, or fetches it when it is missing.
"""

import collections
import re

import torch

from .download import data_root, fra_eng_path
from .train import DataModule


class Vocab:
    """Vocabulary: tokens with frequency >= ``min_freq``, plus ``<unk>`` and reserved tokens,
    indexed in sorted order (d2l 1.0.3's numbering)."""

    def __init__(self, tokens=(), min_freq=0, reserved_tokens=()):
        tokens = list(tokens)
        if tokens and isinstance(tokens[0], list):  # flatten a list of sentences
            tokens = [token for line in tokens for token in line]
        counter = collections.Counter(tokens)
        self.token_freqs = sorted(counter.items(), key=lambda x: x[1], reverse=True)
        self.idx_to_token = sorted(set(["<unk>", *reserved_tokens] + [
            token for token, freq in self.token_freqs if freq >= min_freq]))
        self.token_to_idx = {token: idx for idx, token in enumerate(self.idx_to_token)}

    def __len__(self):
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        """Index of a token (``<unk>``'s for unknown ones), or a list of indices for a list."""
        if not isinstance(tokens, (list, tuple)):
            return self.token_to_idx.get(tokens, self.unk)
        return [self.__getitem__(token) for token in tokens]

    def to_tokens(self, indices):
        """Token of an index, or the list of tokens of a sequence of indices (as in d2l, a
        sequence of length one gives its token, not a list)."""
        is_sequence = hasattr(indices, "__len__") and getattr(indices, "ndim", 1) > 0
        if is_sequence and len(indices) > 1:
            return [self.idx_to_token[int(index)] for index in indices]
        return self.idx_to_token[int(indices[0] if is_sequence else indices)]

    @property
    def unk(self):
        return self.token_to_idx["<unk>"]


def read_lines(path, n):
    """The first ``n`` lines (all when ``n`` is None) of a UTF-8 text file, joined."""
    lines = []
    try:
        with open(path, encoding="utf-8-sig") as f:  # a byte-order mark is not text
            for line in f:
                lines.append(line)
                if len(lines) == n:
                    break
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text ({e}): delete it to download it again") from e
    return "".join(lines)


_SPACE_BEFORE_PUNCT = re.compile(r"(?<=[^ ])([,.!?])")


def preprocess(text):
    """d2l's preprocessing of the corpus: replace non-breaking spaces, lowercase, and put a
    space before , . ! ? that follow a non-space."""
    text = text.replace("\u202f", " ").replace("\xa0", " ")
    lowered = text.lower()
    if len(lowered) != len(text):  # rare characters change length: use d2l's loop as is
        return "".join(" " + c if i > 0 and c in ",.!?" and text[i - 1] != " " else c
                       for i, c in enumerate(lowered))
    return _SPACE_BEFORE_PUNCT.sub(r" \1", lowered)


def tokenize(text, max_examples=None):
    """Preprocessed lines 'English<TAB>French' -> (source, target) token lists, each ending in
    ``<eos>``; keeps lines 0..max_examples (d2l's off-by-one); lines without exactly one TAB
    are skipped."""
    src, tgt = [], []
    for i, line in enumerate(text.split("\n")):
        if max_examples and i > max_examples:
            break
        parts = line.split("\t")
        if len(parts) == 2:
            src.append([t for t in f"{parts[0]} <eos>".split(" ") if t])
            tgt.append([t for t in f"{parts[1]} <eos>".split(" ") if t])
    return src, tgt


def build_arrays(src, tgt, num_steps, src_vocab=None, tgt_vocab=None):
    """Token lists -> ((src, tgt_input, src_valid_len, tgt_label), src_vocab, tgt_vocab):
    sentences padded or trimmed to ``num_steps`` tokens, targets with a leading ``<bos>``;
    a vocabulary (tokens seen at least twice) is built where none is given."""
    def build_array(sentences, vocab, is_tgt=False):
        sentences = [s[:num_steps] if len(s) > num_steps else
                     s + ["<pad>"] * (num_steps - len(s)) for s in sentences]
        if is_tgt:
            sentences = [["<bos>"] + s for s in sentences]
        if vocab is None:
            vocab = Vocab(sentences, min_freq=2)
        array = torch.tensor([vocab[s] for s in sentences], dtype=torch.int64)
        valid_len = (array != vocab["<pad>"]).type(torch.int32).sum(1)
        return array, vocab, valid_len

    src_array, src_vocab, src_valid_len = build_array(src, src_vocab)
    tgt_array, tgt_vocab, _ = build_array(tgt, tgt_vocab, True)
    return ((src_array, tgt_array[:, :-1], src_valid_len, tgt_array[:, 1:]),
            src_vocab, tgt_vocab)


class SentencePairs(DataModule):
    """Arrays of sentence pairs with their vocabularies: what ``MTFraEng`` and other
    translation data sets share. Subclasses set ``arrays`` (training rows first, then
    validation rows), ``num_train``, ``num_steps``, ``batch_size``, ``src_vocab`` and
    ``tgt_vocab``.

    """

    def get_dataloader(self, train):
        idx = slice(0, self.num_train) if train else slice(self.num_train, None)
        if not train and len(self.arrays[0]) == self.num_train:
            return None
        return self.get_tensorloader(self.arrays, train, idx)

    def build(self, src_sentences, tgt_sentences):
        """Arrays for new sentence pairs with this data set's vocabularies (unknown -> <unk>):
        two lists of the same, non-zero length of sentences without TAB or newline."""
        src_sentences = check_sentences(src_sentences, "src_sentences")
        tgt_sentences = check_sentences(tgt_sentences, "tgt_sentences")
        if len(src_sentences) != len(tgt_sentences):
            raise ValueError(f"{len(src_sentences)} source sentences but {len(tgt_sentences)} "
                             f"target sentences: pass one target per source sentence")
        raw_text = "\n".join(src + "\t" + tgt for src, tgt in zip(src_sentences, tgt_sentences))
        src, tgt = tokenize(preprocess(raw_text))
        arrays, _, _ = build_arrays(src, tgt, self.num_steps, self.src_vocab, self.tgt_vocab)
        return arrays


class MTFraEng(SentencePairs):
    """The English-French data set: (src, tgt_input, src_valid_len, tgt_label) arrays.

    Same arrays and vocabularies as d2l 1.0.3, including its quirk of keeping
    ``num_train + num_val + 1`` pairs (the validation split has ``num_val + 1``). Sentences are
    padded or trimmed to ``num_steps`` tokens; targets get a leading ``<bos>``, so
    ``tgt_input`` and ``tgt_label`` are both (N, num_steps). Only the lines used are read
    and preprocessed.
    """

    def __init__(self, batch_size, num_steps=9, num_train=512, num_val=128, root=None):
        super().__init__()
        for name, value, low in (("batch_size", batch_size, 1), ("num_steps", num_steps, 1),
                                 ("num_train", num_train, 1), ("num_val", num_val, 0)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"MTFraEng: {name} must be an integer >= {low}, got {value!r}")
        self.save_hyperparameters(ignore=("root",))
        self.root = str(data_root(root))
        self.path = fra_eng_path(self.root)
        raw_text = read_lines(self.path, num_train + num_val + 1)
        self.arrays, self.src_vocab, self.tgt_vocab = self._build_arrays(
            raw_text, max_examples=num_train + num_val)

    # d2l's method names, kept for code written against d2l
    def _preprocess(self, text):
        return preprocess(text)

    def _tokenize(self, text, max_examples=None):
        return tokenize(text, max_examples)

    def _build_arrays(self, raw_text, src_vocab=None, tgt_vocab=None, max_examples=None):
        src, tgt = tokenize(preprocess(raw_text), max_examples)
        if src_vocab is None:
            self._check_enough(len(src))
        return build_arrays(src, tgt, self.num_steps, src_vocab, tgt_vocab)

    def _check_enough(self, found):
        wanted = self.num_train + self.num_val
        where = getattr(self, "path", "the corpus")
        if found == 0:
            raise ValueError(
                f"{where} holds no sentence pairs (expected lines 'English<TAB>French'): the "
                f"file is empty or malformed; delete it to download it again")
        if found < wanted:
            raise ValueError(
                f"num_train + num_val = {wanted} but {where} holds only {found} sentence pairs: "
                f"lower num_train or num_val")

    def get_dataloader(self, train):
        if not train and self.num_val == 0:
            return None
        return super().get_dataloader(train)


def check_sentences(sentences, name):
    """``sentences`` as a list, after checking it is a non-empty list of strings without TAB
    or newline (either would split or shift the sentence pairs silently)."""
    if isinstance(sentences, str) or not isinstance(sentences, (list, tuple)):
        raise TypeError(f"{name} must be a list of sentences (strings), got "
                        f"{type(sentences).__name__}")
    if not sentences:
        raise ValueError(f"{name} is empty: pass at least one sentence")
    for i, sentence in enumerate(sentences):
        if not isinstance(sentence, str):
            raise TypeError(f"{name}[{i}] is {type(sentence).__name__}, not a string")
        for char, what in (("\t", "a TAB"), ("\n", "a newline"), ("\r", "a carriage return")):
            if char in sentence:
                raise ValueError(f"{name}[{i}] = {sentence!r} contains {what}, which would "
                                 f"split or shift the sentence pairs: pass one sentence per "
                                 f"item, without {what}")
    return list(sentences)
