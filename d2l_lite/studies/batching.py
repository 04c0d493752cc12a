"""Batches of one source length, as NMT toolkits bucket their data: no source padding, so no
work on it, and an encoder's last state is its sentence's (d2l's encoder reads the padding
too); targets are cut to the batch's longest."""

import collections
import math

import torch


class LengthBatches:
    """Batches of the ``rows`` of ``arrays`` (src, tgt_input, src_valid_len, tgt_label) whose
    sources have one length: each batch is cut to that length (no source padding) and to its
    longest target (``pad`` marks the labels' padding). With ``shuffle``, every pass groups
    the rows anew and draws the batches' order from ``generator`` (PyTorch's global one when
    None), as a shuffling ``DataLoader`` does; otherwise they come by length, in order."""

    def __init__(self, arrays, rows, batch_size, pad, shuffle, generator=None):
        self.arrays, self.rows = arrays, torch.as_tensor(list(rows))
        self.batch_size, self.pad, self.shuffle, self.generator = (batch_size, pad, shuffle,
                                                                   generator)
        self.counts = collections.Counter(self.arrays[2][self.rows].tolist())

    def __len__(self):
        return sum(math.ceil(c / self.batch_size) for c in self.counts.values())

    def __iter__(self):
        rows = self.rows
        if self.shuffle:
            rows = rows[torch.randperm(len(rows), generator=self.generator)]
        by_length = {}
        for row in rows.tolist():
            by_length.setdefault(int(self.arrays[2][row]), []).append(row)
        batches = [group[i:i + self.batch_size] for n in sorted(by_length)
                   for group in [by_length[n]] for i in range(0, len(group), self.batch_size)]
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=self.generator)]
        for batch in batches:
            yield cut(self.arrays, torch.tensor(batch), self.pad)


def cut(arrays, index, pad):
    """Rows ``index`` of the arrays (src, tgt_input, src_valid_len, tgt_label), the source cut
    to the rows' longest valid length and the targets to their longest target."""
    src, tgt, src_len, label = (a[index] for a in arrays)
    K = int(src_len.max())
    positions = torch.arange(1, label.shape[1] + 1)
    T = int(((label != pad) * positions).amax())
    return src[:, :K], tgt[:, :T], src_len, label[:, :T]
