"""d2l_lite: the part of d2l 1.0.3 that D2L §11.4 (Bahdanau attention) uses, small and fast.

``import d2l_lite as d2l`` runs the chapter's code unchanged. ``d2l.Seq2SeqAttentionDecoder``
is the reference model, written like the book's (it also takes ``rnn='lstm'`` and
``scoring='dot'`` for the exercises); ``d2l_lite.fast`` computes the same model with less
work. Where d2l 1.0.3 is wrong the docstrings say so (``Seq2Seq.loss``, ``init_seq2seq``).
"""

from . import experiment, fast, flops
from .aliases import *  # noqa: F403  d2l's tensor aliases: d2l.zeros, d2l.concat, ...
from .aliases import __all__ as _aliases
from .attention import AdditiveAttention, DotProductAttention, masked_softmax
from .data import MTFraEng, Vocab
from .metrics import bleu
from .plot import ProgressBoard, show_heatmaps
from .seq2seq import (
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
from .train import DataModule, Module, Trainer
from .utils import (
    HyperParameters,
    add_to_class,
    check_shape,
    cpu,
    gpu,
    num_gpus,
    set_seed,
    try_gpu,
)

__version__ = "0.2.1"

__all__ = [
    "AdditiveAttention", "AttentionDecoder", "DataModule", "Decoder", "DotProductAttention",
    "Encoder", "EncoderDecoder", "HyperParameters", "MTFraEng", "Module", "ProgressBoard",
    "Seq2Seq", "Seq2SeqAttentionDecoder", "Seq2SeqDecoder", "Seq2SeqEncoder", "Trainer",
    "Vocab", "add_to_class", "bleu", "check_shape", "cpu", "gpu", "init_seq2seq",
    "masked_softmax", "num_gpus", "set_seed", "show_heatmaps", "try_gpu", "experiment", "fast",
    "flops", *_aliases,
]
