"""``linear(x, w, b, add)``: ``F.linear(x, w, b) + add`` on the faster of two CPU libraries.

Nearly all the arithmetic of the seq2seq models is linear layers, (B x in) times (in x out)
with B = 128 and sizes of a few hundred. On the CPU PyTorch computes ``F.linear`` and its
backward with its BLAS (MKL on x86). oneDNN, which PyTorch also ships (for its compiler's
CPU kernels), computes the same products. Which one is faster depends on the CPU: on an AMD
EPYC with AVX-512 (Zen 5) oneDNN reached about twice MKL's rate, for these shapes and for a
2048^3 product alike, since MKL runs its AVX2 code on AMD processors; on an AMD EPYC with
AVX2 only (Zen 3) MKL was 5-20% faster than oneDNN, and much faster for the weight gradient
(``python benchmarks/bench_training.py --no-fit`` prints both rates). So ``linear`` uses
oneDNN where PyTorch reports AVX-512 (``backend()``), for the forward product and both
products of the backward (dx = dy w, dw = dy^T x), and the BLAS otherwise, with ``add``
folded into the product (``addmm``). Results equal ``F.linear``'s up to float rounding (the
tests compare them). For other devices and dtypes ``linear`` is ``F.linear`` plus ``add``.
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


@functools.cache
def backend():
    """``"onednn"`` where this PyTorch has oneDNN's linear operator and the CPU has AVX-512
    (oneDNN was the faster library there), else ``"blas"`` (PyTorch's own products). Fixed
    for the process, so that a rerun on the same machine gives the same numbers."""
    avx512 = torch.backends.cpu.get_cpu_capability().startswith("AVX512")
    return "onednn" if avx512 and onednn_available() else "blas"


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
    return (tensors[0].device.type == "cpu" and backend() == "onednn"
            and all(t.dtype == torch.float32 for t in tensors if t is not None))


def _blas_linear(x, w, b, add):
    """F.linear(x, w, b) + add with PyTorch's products; ``add`` is the product's C operand
    (``addmm``), which saves a pass over the output."""
    if add is None or x.dim() != 2 or add.shape != (x.shape[0], w.shape[0]):
        y = F.linear(x, w, b)  # raises F.linear's errors for mismatched shapes
        return y if add is None else y + add
    return torch.addmm(add if b is None else add + b, x, w.t())


def linear(x, w, b=None, add=None):
    """``F.linear(x, w, b) + add``: x (..., in), w (out, in), b (out,) or None, add (..., out)
    or None -> (..., out). A weight that is not contiguous is copied at each call: callers
    that reuse a slice of a weight copy it once (see the attention decoder)."""
    if not _use_onednn(x, w, b, add) or x.shape[-1] != w.shape[1] or (
            b is not None and b.shape != (w.shape[0],)) or (
            add is not None and add.shape != (*x.shape[:-1], w.shape[0])):
        return _blas_linear(x, w, b, add)
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
