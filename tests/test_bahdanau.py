"""Bahdanau et al.'s bidirectional encoder and the uniform-attention ablation: padding cannot
reach a sentence's annotations, the fast path equals the reference with 2H-wide keys, and
uniform attention spreads the weight evenly over the valid positions in both paths."""

import pytest
import torch
from test_experiment import SMALL, Pairs

import d2l_lite as d2l
from d2l_lite.chapters import experiment
from d2l_lite.studies.bahdanau import BidirectionalEncoder, uniform_attention


def test_padding_cannot_reach_a_sentences_annotations_or_initial_state():
    torch.manual_seed(0)
    encoder = BidirectionalEncoder(20, 8, 16, 2).eval()
    X = torch.randint(3, 20, (1, 5))
    alone, state_alone = encoder(X, torch.tensor([5]))
    padded, state_padded = encoder(torch.cat([X, torch.full((1, 4), 1)], 1), torch.tensor([5]))
    d2l.check_shape(padded, (9, 1, 32))
    torch.testing.assert_close(padded[:5], alone)
    assert torch.equal(padded[5:], torch.zeros(4, 1, 32))
    torch.testing.assert_close(state_padded, state_alone)


def test_the_initial_state_is_tanh_of_the_backward_state_at_the_first_word():
    torch.manual_seed(0)
    encoder = BidirectionalEncoder(20, 8, 16, 1).eval()
    X = torch.randint(3, 20, (2, 4))
    outputs, state = encoder(X, torch.tensor([4, 4]))
    backward_first = outputs[0, :, 16:]  # h<-_1: the backward half at position 1
    torch.testing.assert_close(state[0], torch.tanh(encoder.initial[0](backward_first)))


def batch():
    data = Pairs()
    src, tgt, lens, Y = next(iter(data.train_dataloader()))
    lens = torch.tensor([6, 3, 5, 6, 2, 4, 6, 1])
    return data, (src, tgt, lens, Y)


@pytest.mark.parametrize("training", [False, True])
def test_the_fast_path_equals_the_reference_after_a_bidirectional_encoder(training):
    data, (src, tgt, lens, Y) = batch()
    results = []
    for fast in (False, True):
        model = experiment.make_model(data, fast=fast, seed=1, encoder=BidirectionalEncoder,
                                      **SMALL).train(training)
        torch.manual_seed(5)
        loss = model.training_step((src, tgt, lens, Y))
        loss.backward()
        results.append((loss, {n: p.grad for n, p in model.named_parameters()}))
    torch.testing.assert_close(results[1][0], results[0][0])
    for name, grad in results[0][1].items():
        torch.testing.assert_close(results[1][1][name], grad, msg=name)


@pytest.mark.parametrize("fast", [False, True])
def test_uniform_attention_weighs_every_valid_position_alike_and_is_undone(fast):
    data, (src, tgt, lens, _) = batch()
    model = experiment.make_model(data, fast=fast, **SMALL).eval()
    trained = model.decoder.attention
    with uniform_attention(model):
        model(src, tgt, lens)
        weights = torch.cat(model.decoder.attention_weights, 1)  # (B, T, K)
    expected = (torch.arange(6) < lens.reshape(-1, 1)) / lens.reshape(-1, 1)
    torch.testing.assert_close(weights, expected.unsqueeze(1).expand_as(weights))
    assert model.decoder.attention is trained


def test_attention_dropout_can_be_turned_off_alone():
    model = experiment.make_model(Pairs(), attention_dropout=0.0, **SMALL)
    assert model.decoder.attention.dropout.p == 0.0 and model.decoder.rnn.dropout == 0.2
