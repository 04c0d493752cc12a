"""Skipping the targets' padding in training: same loss and gradients, less work."""

import pytest
import torch
from test_seq2seq import VARIANTS, B, T, V, batch, make_model

from d2l_lite import seq2seq
from d2l_lite.packing import first_rows, sort_by_length, take_rows, target_lengths, unpack

PAD = 1


def labels_with_padding():
    """Labels (B, T) whose rows end after 7, 3, 0 and 5 steps (one pad inside a row)."""
    _, _, _, Y = batch()
    Y = Y.clamp(min=2)
    Y[1, 3:] = PAD
    Y[2, :] = PAD
    Y[3, 5:] = PAD
    Y[3, 2] = PAD  # a pad before the row's last label: the loss skips it, the decoder must not
    return Y


def test_target_lengths_end_at_each_rows_last_label():
    assert target_lengths(labels_with_padding(), PAD).tolist() == [7, 3, 0, 5]


def test_sort_by_length_orders_rows_and_counts_the_live_ones_per_step():
    order, live = sort_by_length(torch.tensor([2, 4, 0, 4, 1]), 5)
    assert order.tolist() == [1, 3, 0, 4, 2]
    assert live == [4, 3, 2, 2, 0]


def test_take_rows_and_first_rows_go_through_nested_states():
    h, c = torch.arange(6.0).reshape(1, 3, 2), -torch.arange(6.0).reshape(1, 3, 2)
    x, (hc,) = torch.arange(3), take_rows(torch.tensor([2, 0, 1]), (h, c), dim=1)
    assert hc[0][0, :, 0].tolist() == [4, 0, 2] and hc[1][0, :, 0].tolist() == [-4, 0, -2]
    xs, layers, none = first_rows(2, x, [(h[0], c[0])], None)
    assert xs.tolist() == [0, 1] and layers[0][1].shape == (2, 2) and none is None
    assert first_rows(3, x)[0] is x  # nothing to cut: the tensor itself, no autograd node


def test_unpack_puts_packed_rows_back_and_passes_gradients():
    order, live = torch.tensor([2, 0, 1]), [3, 1, 0]
    packed = torch.arange(1.0, 5.0).reshape(4, 1).requires_grad_()
    out = unpack(packed, order, live, 3)
    expected = torch.zeros(3, 3, 1)
    expected[2, 0], expected[0, 0], expected[1, 0], expected[2, 1] = 1, 2, 3, 4
    assert torch.equal(out, expected)
    (out * torch.arange(9.0).reshape(3, 3, 1)).sum().backward()
    assert packed.grad.flatten().tolist() == [6, 0, 3, 7]


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train-dropout"])
@pytest.mark.parametrize("rnn,scoring", VARIANTS)
def test_decoder_with_lengths_gives_the_live_logits_and_the_same_loss_gradients(
        rnn, scoring, training):
    torch.manual_seed(0)
    model = make_model(rnn, scoring, dropout=0.3 if training else 0.0).train(training)
    src, tgt, lens, _ = batch()
    Y = labels_with_padding()
    model(src, tgt, lens)  # creates the lazy layers
    results = []
    for lengths in (None, target_lengths(Y, PAD)):
        model.zero_grad()
        torch.manual_seed(1)  # the same dropout masks
        logits = model(src, tgt, lens, lengths=lengths)
        loss = model.loss(logits, Y)
        loss.backward()
        results.append((logits, loss, [p.grad.clone() for p in model.parameters()]))
    (full, full_loss, full_grads), (packed, packed_loss, packed_grads) = results
    live = torch.arange(T) < target_lengths(Y, PAD).reshape(-1, 1)  # (B, T)
    torch.testing.assert_close(packed[live], full[live])
    assert torch.count_nonzero(packed[~live]) == 0
    torch.testing.assert_close(packed_loss, full_loss)
    for ours, ref in zip(packed_grads, full_grads):
        torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_training_step_runs_the_cells_on_the_live_rows_only(monkeypatch, rnn):
    torch.manual_seed(0)
    model = make_model(rnn, "dot")
    src, tgt, lens, _ = batch()
    Y = labels_with_padding()
    model(src, tgt, lens)
    rows = []
    name = f"{rnn}_cell"
    cell = getattr(seq2seq, name)
    monkeypatch.setattr(seq2seq, name, lambda gates, *a: rows.append(len(gates)) or cell(gates, *a))
    loss = model.training_step((src, tgt, lens, Y))
    assert sum(rows) == model.decoder.rnn.num_layers * (7 + 3 + 0 + 5)
    torch.testing.assert_close(loss, model.loss(model(src, tgt, lens), Y))
    torch.testing.assert_close(model.validation_step((src, tgt, lens, Y)), loss)


def test_a_decoder_without_lengths_is_called_as_before():
    torch.manual_seed(0)
    model = make_model("gru", "additive")
    calls = []

    class Plain(seq2seq.Decoder):
        def init_state(self, enc_all_outputs, *args):
            return None

        def forward(self, X, state):
            calls.append(X.shape)
            return torch.zeros(*X.shape, V, requires_grad=True), state

    model.decoder = Plain()
    src, tgt, lens, _ = batch()
    model.training_step((src, tgt, lens, labels_with_padding()))
    assert calls == [(B, T)]


def test_a_batch_of_padding_only_gives_the_plain_loss_nan_not_an_error():
    torch.manual_seed(0)
    model = make_model("lstm", "additive")
    src, tgt, lens, _ = batch()
    Y = torch.full((B, T), PAD)
    assert torch.isnan(model.training_step((src, tgt, lens, Y)))
    assert torch.isnan(model.loss(model(src, tgt, lens), Y))


def test_a_subclass_with_its_own_loss_trains_on_every_position():
    class LossWithPadding(seq2seq.Seq2Seq):  # as d2l 1.0.3's loss, which counts padding
        def loss(self, Y_hat, Y, averaged=True):
            return seq2seq.EncoderDecoder.loss(self, Y_hat, Y, averaged)

    torch.manual_seed(0)
    plain = make_model("gru", "additive")
    model = LossWithPadding(plain.encoder, plain.decoder, tgt_pad=PAD, lr=0.01)
    src, tgt, lens, _ = batch()
    Y = labels_with_padding()
    torch.testing.assert_close(model.training_step((src, tgt, lens, Y)),
                               model.loss(model(src, tgt, lens), Y))
