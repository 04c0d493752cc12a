import pytest
import torch

from d2l_lite.activations import tanh, tanh_
from d2l_lite.rnn import cell_weights, lstm_cell


def test_tanh_equals_torch_tanh_up_to_float_rounding():
    x = torch.linspace(-12, 12, 100_001)
    torch.testing.assert_close(tanh(x), torch.tanh(x), rtol=0, atol=2.4e-7)
    y = torch.tanh(x)
    assert tanh_(x) is x  # in place
    torch.testing.assert_close(x, y, rtol=0, atol=2.4e-7)


def test_tanh_into_out_leaves_the_input():
    x = torch.randn(5, 6)
    before, out = x.clone(), torch.empty(5, 6)
    assert tanh_(x, out=out) is out
    assert torch.equal(x, before)
    torch.testing.assert_close(out, torch.tanh(x), rtol=0, atol=2.4e-7)


def test_tanh_gradient():
    x = torch.randn(4, 3, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(tanh, (x,))
    (grad,) = torch.autograd.grad(tanh(x.float()).sum(), x)
    torch.testing.assert_close(grad, 1 - torch.tanh(x.detach()) ** 2, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_cell_weights_fold_an_lstms_hidden_bias_into_the_input_bias(kind):
    rnn = getattr(torch.nn, kind.upper())(3, 4, 2)
    w_ih, w_hh, b_in, b_hid = cell_weights(rnn, 1)
    assert w_ih is rnn.weight_ih_l1 and w_hh is rnn.weight_hh_l1
    if kind == "lstm":
        assert b_hid is None
        torch.testing.assert_close(b_in, rnn.bias_ih_l1 + rnn.bias_hh_l1)
    else:
        assert b_in is rnn.bias_ih_l1 and b_hid is rnn.bias_hh_l1


def test_lstm_cell_with_folded_bias_equals_nn_lstm_cell():
    torch.manual_seed(0)
    cell = torch.nn.LSTMCell(3, 4)
    x, h, c = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 4)
    gates = torch.nn.functional.linear(x, cell.weight_ih, cell.bias_ih + cell.bias_hh)
    ours = lstm_cell(gates, (h, c), cell.weight_hh, None)
    torch.testing.assert_close(ours, cell(x, (h, c)))
