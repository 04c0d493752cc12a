"""The book's own tools and exhibits: nothing here is in d2l.

* ``section_11_4``: §11.4's decoder exactly as the book prints it, the versions readers write
  for its exercises, and its settings (``HPARAMS``, ``PROBES``, ``VARIANTS``): the exhibits.
* ``experiment``: build, train, translate and score a model in one call each.
* ``measure``: paired differences with intervals, interleaved timings, saved memory.
* ``flops``: analytic FLOP counts.
* ``split``: the larger-scale data set.

A tool that a chapter needs goes here.
"""
