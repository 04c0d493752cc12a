"""``d2l_lite.linear``: F.linear's results and gradients, on either backend (oneDNN, BLAS)."""

import pytest
import torch
from torch.nn import functional as F

import d2l_lite.linear as lin
from d2l_lite.rnn import _GRUCell, _LSTMCell

needs_onednn = pytest.mark.skipif(not lin.onednn_available(), reason="no oneDNN in this build")
BACKENDS = ["blas", pytest.param("onednn", marks=needs_onednn)]


def _grads(fn, tensors, grad_out):
    for t in tensors:
        t.grad = None
    out = fn(*tensors)
    out.backward(grad_out)
    return out.detach(), [t.grad.clone() for t in tensors]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("x_shape", [(6, 5), (3, 4, 5)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_add", [True, False])
def test_linear_matches_f_linear_and_its_gradients(monkeypatch, backend, x_shape, bias, with_add):
    monkeypatch.setattr(lin, "backend", lambda: backend)
    torch.manual_seed(0)
    x = torch.randn(*x_shape, requires_grad=True)
    w = torch.randn(7, 5, requires_grad=True)
    tensors = [x, w]
    if bias:
        tensors.append(torch.randn(7, requires_grad=True))
    if with_add:
        tensors.append(torch.randn(*x_shape[:-1], 7, requires_grad=True))

    def ours(x, w, *rest):
        b = rest[0] if bias else None
        return lin.linear(x, w, b, add=rest[-1] if with_add else None)

    def reference(x, w, *rest):
        y = F.linear(x, w, rest[0] if bias else None)
        return y + rest[-1] if with_add else y

    g = torch.randn(*x_shape[:-1], 7)
    out, grads = _grads(ours, tensors, g)
    ref_out, ref_grads = _grads(reference, tensors, g)
    torch.testing.assert_close(out, ref_out)
    for ours_g, ref_g in zip(grads, ref_grads):
        torch.testing.assert_close(ours_g, ref_g)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_column_slice_of_a_weight_and_an_expanded_gradient_work(monkeypatch, backend):
    monkeypatch.setattr(lin, "backend", lambda: backend)
    torch.manual_seed(0)
    W = torch.randn(8, 10, requires_grad=True)
    x = torch.randn(4, 5, requires_grad=True)
    lin.linear(x, W[:, 5:]).sum().backward()  # sum's gradient is an expanded tensor
    ours = W.grad.clone(), x.grad.clone()
    W.grad = x.grad = None
    F.linear(x, W[:, 5:]).sum().backward()
    torch.testing.assert_close(ours[0], W.grad)
    torch.testing.assert_close(ours[1], x.grad)
    assert torch.count_nonzero(ours[0][:, :5]) == 0


@pytest.mark.parametrize("capability, available, expected", [
    ("AVX512", True, "onednn"), ("AVX512_BF16", True, "onednn"), ("AVX512", False, "blas"),
    ("AVX2", True, "blas"), ("DEFAULT", True, "blas")])
def test_backend_is_onednn_only_with_avx512(monkeypatch, capability, available, expected):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.setattr(lin, "onednn_available", lambda: available)
    assert lin.backend.__wrapped__() == expected


@needs_onednn
def test_training_products_go_through_onednn(monkeypatch):
    monkeypatch.setattr(lin, "backend", lambda: "onednn")
    calls = []
    apply = lin._Linear.apply
    monkeypatch.setattr(lin._Linear, "apply", lambda *a: calls.append(1) or apply(*a))
    x, w = torch.randn(3, 4, requires_grad=True), torch.randn(2, 4, requires_grad=True)
    lin.linear(x, w).sum().backward()
    assert calls == [1]


def test_blas_backend_or_float64_is_f_linear_with_add_in_the_product(monkeypatch):
    x, w, b = torch.randn(3, 4), torch.randn(2, 4), torch.randn(2)
    assert torch.equal(lin.linear(x.double(), w.double(), b.double()),
                       F.linear(x.double(), w.double(), b.double()))
    monkeypatch.setattr(lin, "backend", lambda: "blas")
    monkeypatch.setattr(lin._Linear, "apply", None)  # the oneDNN node must not be used
    assert torch.equal(lin.linear(x, w, b), F.linear(x, w, b))
    add = torch.randn(3, 2)
    assert torch.equal(lin.linear(x, w, add=add), torch.addmm(add, x, w.t()))
    torch.testing.assert_close(lin.linear(x, w, b, add=add), F.linear(x, w, b) + add)
    x3, add3 = torch.randn(5, 3, 4), torch.randn(5, 3, 2)
    torch.testing.assert_close(lin.linear(x3, w, b, add=add3), F.linear(x3, w, b) + add3)


def test_mismatched_shapes_raise_f_linears_error():
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        lin.linear(torch.randn(3, 4), torch.randn(2, 5))


def test_apply_linear_creates_a_lazy_layers_parameters_then_uses_them():
    torch.manual_seed(0)
    layer = torch.nn.LazyLinear(3)
    x = torch.randn(2, 5)
    first = lin.apply_linear(layer, x)
    assert layer.weight.shape == (3, 5)
    torch.testing.assert_close(first, layer(x))
    torch.testing.assert_close(lin.apply_linear(layer, x), F.linear(x, layer.weight, layer.bias))


def test_gru_and_lstm_cells_backward_passes_gradcheck():
    torch.manual_seed(0)
    B, H = 3, 4
    gx, gh = torch.randn(B, 3 * H, dtype=torch.double), torch.randn(B, 3 * H, dtype=torch.double)
    h = torch.randn(B, H, dtype=torch.double)
    inputs = [t.requires_grad_() for t in (gx, gh, h)]
    assert torch.autograd.gradcheck(_GRUCell.apply, inputs)
    gates = torch.randn(B, 4 * H, dtype=torch.double, requires_grad=True)
    c = torch.randn(B, H, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(_LSTMCell.apply, (gates, c))
