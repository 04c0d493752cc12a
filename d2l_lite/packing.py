"""Decoding only up to each target's end, as a packed sequence does.

A translation batch pads its targets to T steps, but the masked loss of ``Seq2Seq`` ignores
the padding, and a decoder's output at step t depends only on steps <= t. So in training the
positions after a target's last token cannot change the loss or its gradients, and the
decoder may skip them. On the §11.4 data the targets fill 46% of the padded steps.

``target_lengths`` gives each row's steps; the decoder sorts the rows by length
(``sort_by_length``, ``take_rows``); then at step t the rows still inside their target are
a prefix of the batch, ``first_rows`` keeps it, and ``unpack`` puts the logits of the
computed positions back into a (B, T, V) tensor.
"""

import torch


def _map(fn, x):
    """``fn`` applied to every tensor in ``x``: a tensor, None, or nested tuples and lists."""
    if x is None:
        return None
    if isinstance(x, (tuple, list)):
        return type(x)(_map(fn, v) for v in x)
    return fn(x)


def target_lengths(Y, pad):
    """Labels Y (B, T) -> (B,): 1 + the position of each row's last label that is not ``pad``
    (0 for a row of padding only), the steps a loss that ignores ``pad`` reads."""
    positions = torch.arange(1, Y.shape[1] + 1, device=Y.device)
    return ((Y != pad) * positions).amax(1)


def sort_by_length(lengths, num_steps):
    """lengths (B,) -> (order (B,), the rows by decreasing length, ties in batch order; live,
    a list of ``num_steps`` ints: how many rows are still inside their length at each step)."""
    order = torch.argsort(lengths, descending=True, stable=True)
    steps = torch.arange(num_steps, device=lengths.device)
    live = (lengths.reshape(1, -1) > steps.reshape(-1, 1)).sum(1)
    return order, live.tolist()


def take_rows(order, *xs, dim=0):
    """Each of ``xs`` (tensors, None, or nested tuples and lists of them) with its rows along
    ``dim`` taken in ``order``."""
    return tuple(_map(lambda t: t.index_select(dim, order), x) for x in xs)


def first_rows(n, *xs):
    """Each of ``xs`` (as for ``take_rows``) cut to its first ``n`` rows (a view)."""
    return tuple(_map(lambda t: t if len(t) == n else t[:n], x) for x in xs)


def unpack(packed, order, live, num_steps):
    """The outputs of the live positions, step by step, packed (sum(live), V), back in place:
    -> (B, num_steps, V), 0 at the positions not computed. Step t's rows are ``order[:live[t]]``."""
    counts = [n for n in live if n > 0]
    rows = torch.cat([order[:n] for n in counts])
    steps = torch.repeat_interleave(torch.arange(len(counts), device=order.device),
                                    torch.tensor(counts, device=order.device))
    out = packed.new_zeros(len(order), num_steps, packed.shape[-1])
    return out.index_put((rows, steps), packed)
