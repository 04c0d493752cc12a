"""d2l_lite: the part of d2l 1.0.3 that D2L §11.4 (Bahdanau attention) uses, small and fast.

``import d2l_lite as d2l`` gives d2l's names for what the chapter uses, from the replica in
``d2l_lite/d2l/``, and runs the chapter's code unchanged. ``d2l.Seq2SeqAttentionDecoder`` is
the reference model, written like the book's (it also takes ``rnn='lstm'`` and
``scoring='dot'`` for the exercises). Beside the replica, one folder or module per role:

* ``d2l_lite.fast``: the same model computed with less work, chosen by name;
* ``d2l_lite.settings``: the settings used in more than one place (§11.4's hyperparameters
  and probe sentences, the exercises' variants, the chapters' seeds), typed once;
* ``d2l_lite.chapters``: what the chapters run (§11.4's decoder verbatim and the readers'
  versions of it, the experiment helpers);
* ``d2l_lite.measures``: the measuring tools (intervals, BLEU and chrF, a training step's
  time and memory, FLOPs, attention entropy);
* ``d2l_lite.studies``: the long experiments the chapters read, their data sets and runner;
* ``d2l_lite.explorer``: the attention explorer's models, for the browser;
* ``d2l_lite.repository``: the repository's files where a chapter runs (Colab included);
* ``d2l_lite.provenance``: whether a recorded result comes from the tree's code.

Where d2l 1.0.3 is wrong the docstrings say so (``Seq2Seq.loss``, ``init_seq2seq``).
"""

from .d2l.aliases import *  # noqa: F403  d2l's tensor aliases: d2l.zeros, d2l.concat, ...
from .d2l.aliases import __all__ as _aliases
from .d2l.attention import AdditiveAttention, DotProductAttention, masked_softmax
from .d2l.data import MTFraEng, Vocab
from .d2l.metrics import bleu
from .d2l.plot import ProgressBoard, show_heatmaps
from .d2l.seq2seq import (
    AttentionDecoder,
    Decoder,
    Encoder,
    EncoderDecoder,
    Seq2Seq,
    Seq2SeqAttentionDecoder,
    Seq2SeqDecoder,
    Seq2SeqEncoder,
    init_seq2seq,
)
from .d2l.train import DataModule, Module, Trainer
from .d2l.utils import (
    HyperParameters,
    add_to_class,
    check_shape,
    cpu,
    gpu,
    num_gpus,
    set_seed,
    try_gpu,
)

__version__ = "0.5.7"

__all__ = [
    "AdditiveAttention", "AttentionDecoder", "DataModule", "Decoder", "DotProductAttention",
    "Encoder", "EncoderDecoder", "HyperParameters", "MTFraEng", "Module", "ProgressBoard",
    "Seq2Seq", "Seq2SeqAttentionDecoder", "Seq2SeqDecoder", "Seq2SeqEncoder", "Trainer",
    "Vocab", "add_to_class", "bleu", "check_shape", "cpu", "gpu", "init_seq2seq",
    "masked_softmax", "num_gpus", "set_seed", "show_heatmaps", "try_gpu", *_aliases,
]
