"""masked_softmax and the two scorers: masking, shapes, and clear errors on bad input."""

import math

import pytest
import torch

import d2l_lite as d2l


def test_masked_softmax_gives_zero_weight_beyond_valid_len_and_sums_to_one():
    X = torch.randn(3, 2, 6)
    W = d2l.masked_softmax(X, torch.tensor([1, 4, 6]))
    assert torch.all(W[0, :, 1:] == 0) and torch.all(W[1, :, 4:] == 0)
    torch.testing.assert_close(W.sum(-1), torch.ones(3, 2))


def test_masked_softmax_accepts_one_length_per_query():
    W = d2l.masked_softmax(torch.randn(2, 3, 4), torch.tensor([[1, 2, 3], [4, 4, 1]]))
    assert torch.all(W[0, 0, 1:] == 0) and torch.all(W[1, 2, 1:] == 0)
    assert torch.all(W[1, 0] > 0)


def test_masked_softmax_without_lengths_is_plain_softmax():
    X = torch.randn(2, 3, 4)
    torch.testing.assert_close(d2l.masked_softmax(X, None), torch.softmax(X, -1))


@pytest.mark.parametrize("lens", [torch.tensor([1, 2, 3]), torch.tensor([[1, 2], [3, 4]]),
                                  torch.ones(2, 3, 1)])
def test_masked_softmax_rejects_valid_lens_of_the_wrong_shape(lens):
    with pytest.raises(ValueError, match=r"valid_lens has shape .* pass one valid length"):
        d2l.masked_softmax(torch.randn(2, 3, 4), lens)


def test_dot_product_divides_by_sqrt_d():
    q, k, v = torch.randn(1, 1, 16), torch.randn(1, 5, 16), torch.eye(5).unsqueeze(0)
    attention = d2l.DotProductAttention(dropout=0).eval()
    out = attention(q, k, v)
    expected = torch.softmax((q @ k.transpose(1, 2)) / math.sqrt(16), -1)
    torch.testing.assert_close(out, expected)


def test_dot_product_rejects_query_and_key_sizes_that_differ():
    attention = d2l.DotProductAttention(dropout=0)
    with pytest.raises(ValueError, match="same size.*query size 8 and key size 6"):
        attention(torch.randn(2, 1, 8), torch.randn(2, 5, 6), torch.randn(2, 5, 3))


def test_additive_attention_accepts_different_query_and_key_sizes():
    attention = d2l.AdditiveAttention(num_hiddens=4, dropout=0).eval()
    out = attention(torch.randn(2, 3, 8), torch.randn(2, 5, 6), torch.randn(2, 5, 7),
                    torch.tensor([2, 5]))
    assert out.shape == (2, 3, 7)
    assert attention.attention_weights.shape == (2, 3, 5)
