"""The settings the book uses in more than one place, each typed once: the chapters, the
benchmark and the tests import them from here (the studies through ``chapters.experiment``).
A study's own settings (its data, model, arms and seeds) are at the top of its module in
``d2l_lite.studies``."""

import itertools
from types import MappingProxyType

from d2l_lite.d2l.attention import SCORERS
from d2l_lite.d2l.seq2seq import RNNS

HPARAMS = MappingProxyType(dict(
    embed_size=256, num_hiddens=256, num_layers=2, dropout=0.2, lr=0.005, max_epochs=30,
    gradient_clip_val=1, batch_size=128))
"""§11.4's settings (read-only): the model's sizes, Adam's learning rate and the training."""

PROBES = (("go .", "va !"), ("i lost .", "j'ai perdu ."), ("he's calm .", "il est calme ."),
          ("i'm home .", "je suis chez moi ."))
"""§11.4's probe sentences (English, French reference). Three are training pairs: lines 1, 50
and 350 of fra.txt, among the 512 that §11.4 trains on. "he's calm ." is nowhere in the
corpus (line 274, "he's wet .", is the nearest training pair): the only one unseen."""

VARIANTS = tuple(itertools.product(RNNS, SCORERS))
"""The exercises' decoders, (rnn, scoring): every RNN and every scorer the model offers."""

CHAPTER_SEEDS = range(5)
"""The seeds of the chapters' paired comparisons (§11.4's model retrained once per seed)."""
