"""The book's measuring tools: what the chapters, the studies and the benchmark measure with.

* ``intervals``: paired differences with confidence intervals, one comparison or a family.
* ``scores``: sacreBLEU's BLEU and chrF against all references, and their paired bootstrap.
* ``cost``: a training step's time (interleaved, paired rounds) and activation memory.
* ``flops``: analytic FLOP counts of a training step.
* ``attention``: how spread an attention map is (normalised entropy), how monotonic its
  alignment is.
"""

from . import attention, cost, flops, intervals, scores  # noqa: F401
