"""The whole English-French corpus as one training set, with the held-out sentences of
``long_sentences.MTFraEngLong``: the data of the book's flagship models.

``MTFraEngAll`` trains on every sentence pair whose English sentence is not held out and
that fits (at most ``max_len`` English tokens), each once, and validates on every pair of the
validation sentences. Its split is ``MTFraEngLong``'s with the same ``seed``: the same test
sentences (every English sentence of at least ``long_from`` tokens, and
``num_test_sentences`` shorter ones), the same validation sentences, and so the same natural
test set by length bucket, which no training example contains. Batches hold one source length
(``batching.LengthBatches``).
"""

from .long_sentences import BUCKETS, MTFraEngLong


class MTFraEngAll(MTFraEngLong):
    """Every fitting training pair once (see the module docstring), or the first ``limit``
    of them (a smoke run's); ``num_train`` and ``num_val`` count the pairs kept."""

    def __init__(self, batch_size=128, max_len=40, long_from=17, num_test_sentences=4000,
                 num_val_sentences=2000, per_bucket=300, buckets=BUCKETS, seed=0, root=None,
                 limit=None):
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                  or limit < 1):
            raise ValueError(f"MTFraEngAll: limit must be None or an integer >= 1, "
                             f"got {limit!r}")
        self.limit = limit
        super().__init__(batch_size=batch_size, num_train=1, num_val=1, max_joins=1,
                         max_len=max_len, long_from=long_from,
                         num_test_sentences=num_test_sentences,
                         num_val_sentences=num_val_sentences, per_bucket=per_bucket,
                         buckets=buckets, seed=seed, root=root)

    def _joins(self, pairs, count, rng):
        """Every pair of ``pairs`` that fits, in their order, up to ``limit`` (``count`` is not
        used)."""
        return [pair for pair in pairs if self._fits(*pair)][:self.limit]
