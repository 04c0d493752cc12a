"""``linear(x, w, b)``: ``F.linear`` whose matrix products run on oneDNN on the CPU.

Nearly all the arithmetic of the seq2seq models is linear layers, (B x in) times (in x out)
with B = 128 and sizes of a few hundred. On the CPU PyTorch computes ``F.linear`` and its
backward with its BLAS (MKL on x86). oneDNN, which PyTorch also ships (for its compiler's
CPU kernels), computes the same products; on this project's machine (a 2-core AMD EPYC) it
reaches about twice MKL's rate, for these shapes and for a 2048^3 product alike
(``python benchmarks/bench_training.py --no-fit`` prints both rates). ``linear`` routes the
forward product and both products of the backward (dx = dy w, dw = dy^T x) through oneDNN;
results equal ``F.linear``'s up to float rounding (the tests compare them). Without oneDNN,
and for other devices and dtypes, ``linear`` is ``F.linear``.
"""

import functools

import torch
from torch.autograd.function import once_differentiable
from torch.nn import functional as F


@functools.cache
def onednn_available():
    """True when this PyTorch build has oneDNN's linear operator and it runs here."""
    try:
        x = torch.ones(2, 3)
        y = torch.ops.mkldnn._linear_pointwise(x, torch.ones(4, 3), None, "none", [], "")
        return torch.equal(y, torch.full((2, 4), 3.0))
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


def _product(x, w, b, add):
    """x w^T + b + add on oneDNN; x (N, in), w (out, in), b (out,) or None, add (N, out) or
    None. Adding ``add`` inside the product saves a pass over the output."""
    if add is None:
        return torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")
    return torch.ops.mkldnn._linear_pointwise.binary(x, add, w, b, "add")


def _mm_t(a, b):
    """a (N, k) times b (n, k) transposed -> (N, n), on oneDNN. oneDNN reads a transposed
    ``b`` in place but copies a transposed ``a`` first."""
    return torch.ops.mkldnn._linear_pointwise(a, b, None, "none", [], "")


class _Linear(torch.autograd.Function):
    """x (N, in), w (out, in), b (out,) or None, add (N, out) or None -> x w^T + b + add
    (N, out), with the backward's products dx = dy w and dw = dy^T x on oneDNN too."""

    @staticmethod
    def forward(ctx, x, w, b, add):
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        return _product(x, w, b, add)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        dy = dy.contiguous()  # an expanded gradient (of a sum) would take oneDNN's slow path
        dx = _mm_t(dy, w.t()) if ctx.needs_input_grad[0] else None
        dw = None
        if ctx.needs_input_grad[1]:  # dy^T x, copying the narrower of dy, x to transpose it
            if x.shape[1] <= dy.shape[1]:
                dw = _mm_t(x.t(), dy.t()).t()  # (x^T dy)^T
            else:
                dw = _mm_t(dy.t(), x.t())
        db = dy.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return dx, dw, db, dy if ctx.needs_input_grad[3] else None


def _use_onednn(*tensors):
    return (tensors[0].device.type == "cpu" and onednn_available()
            and all(t.dtype == torch.float32 for t in tensors if t is not None))


def linear(x, w, b=None, add=None):
    """``F.linear(x, w, b) + add``: x (..., in), w (out, in), b (out,) or None, add (..., out)
    or None -> (..., out). A weight that is not contiguous is copied at each call: callers
    that reuse a slice of a weight copy it once (see the attention decoder)."""
    if not _use_onednn(x, w, b, add) or x.shape[-1] != w.shape[1] or (
            b is not None and b.shape != (w.shape[0],)) or (
            add is not None and add.shape != (*x.shape[:-1], w.shape[0])):
        y = F.linear(x, w, b)  # raises F.linear's errors for mismatched shapes
        return y if add is None else y + add
    # oneDNN is slow for operands that are not dense (a column slice of a weight took 1000x
    # as long as its copy): copy those first, with autograd following the copy.
    w = w if w.is_contiguous() else w.contiguous()
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1]).contiguous()
    add2 = None if add is None else add.reshape(-1, w.shape[0]).contiguous()
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, w, b, add)):
        y = _Linear.apply(x2, w, b, add2)
    else:  # no autograd node needed
        y = _product(x2, w, b, add2)
    return y.reshape(*lead, w.shape[0])


def apply_linear(layer, x):
    """``layer(x)`` for an ``nn.Linear`` through ``linear``; a lazy layer that has not seen
    an input yet is called once as it is, which creates its parameters."""
    if isinstance(layer, torch.nn.modules.lazy.LazyModuleMixin):
        return layer(x)
    return linear(x, layer.weight, layer.bias)
