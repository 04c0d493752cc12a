"""The fast path equals the reference: same initial weights, logits, attention weights, state,
loss, every gradient and dropout masks for the same seed, in all rnn x scoring variants, with
and without skipping the targets' padding."""

import itertools

import pytest
import torch

import d2l_lite as d2l
from d2l_lite.fast import FastSeq2Seq, FastSeq2SeqAttentionDecoder, target_lengths

VARIANTS = list(itertools.product(["gru", "lstm"], ["additive", "dot"]))
V, E, H, B, T, K = 13, 8, 16, 5, 6, 7
PAD = 1


def make_pair(rnn, scoring, layers=2, dropout=0.0, enc_rnn=None, seed=0):
    """The reference and the fast model, each built from ``seed``."""
    models = []
    for decoder_class, model_class in ((d2l.Seq2SeqAttentionDecoder, d2l.Seq2Seq),
                                       (FastSeq2SeqAttentionDecoder, FastSeq2Seq)):
        torch.manual_seed(seed)
        encoder = d2l.Seq2SeqEncoder(V, E, H, layers, dropout, rnn=enc_rnn or rnn)
        decoder = decoder_class(V, E, H, layers, dropout, rnn=rnn, scoring=scoring)
        models.append(model_class(encoder, decoder, tgt_pad=PAD, lr=0.01))
    return models


def make_batch(seed=0):
    """src (B, K) with valid lengths, decoder input and labels (B, T) whose rows end after
    6, 2, 0, 4 and 6 steps (row 3 has a pad before its last label, which it keeps)."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(2, V, (B, K), generator=g)
    tgt = torch.randint(2, V, (B, T), generator=g)
    Y = torch.randint(2, V, (B, T), generator=g)
    Y[1, 2:] = PAD
    Y[2, :] = PAD
    Y[3, 4:] = PAD
    Y[3, 1] = PAD
    return src, tgt, torch.tensor([7, 3, 5, 1, 6]), Y


def run(model, batch, seed, skip_padding):
    """Forward (in the model's mode, with ``seed`` for dropout) and backward of the masked loss;
    returns logits, attention weights, state, loss, gradients and the generator's next draw."""
    src, tgt, lens, Y = batch
    model.zero_grad()
    torch.manual_seed(seed)
    dec_state = model.decoder.init_state(model.encoder(src, lens), lens)
    if skip_padding:  # logits (N, V) of the live positions, and where they are
        logits, state = model.decoder(tgt, dec_state, lengths=target_lengths(Y, PAD))
        loss = model.loss(logits, Y[state])
    else:
        logits, state = model.decoder(tgt, dec_state)
        loss = model.loss(logits, Y)
    after = torch.rand(4)  # where the random generator stands after the forward pass
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    return logits, model.decoder.attention_weights, state, loss, grads, after


def assert_same_state(a, b):
    if isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_state(x, y)
    else:
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("skip_padding", [False, True], ids=["all-positions", "skip-padding"])
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train-dropout"])
@pytest.mark.parametrize("rnn,scoring", VARIANTS)
def test_fast_decoder_equals_the_reference(rnn, scoring, training, skip_padding):
    reference, fast = make_pair(rnn, scoring, layers=3, dropout=0.3 if training else 0.0)
    batch = make_batch()
    for model in (reference, fast):
        model.train(training)
        torch.manual_seed(5)
        model(*batch[:-1])  # the first call creates the lazy layers
    for (name, p), (fast_name, q) in zip(reference.named_parameters(), fast.named_parameters()):
        assert name == fast_name
        assert torch.equal(p, q), f"{name}: the models start from different weights"
    ref = run(reference, batch, 7, skip_padding=False)
    ours = run(fast, batch, 7, skip_padding)
    torch.testing.assert_close(ours[3], ref[3])  # loss
    torch.testing.assert_close(ours[5], ref[5])  # the same dropout draws, in the same order
    for name, grad in ref[4].items():
        torch.testing.assert_close(ours[4][name], grad, msg=name)
    if skip_padding:  # the logits of each target's positions, and of no others
        rows, steps = ours[2]
        live = torch.arange(T) < target_lengths(batch[-1], PAD).reshape(-1, 1)  # (B, T)
        assert sorted(map(list, zip(rows.tolist(), steps.tolist()))) == live.nonzero().tolist()
        torch.testing.assert_close(ours[0], ref[0][rows, steps])
    else:
        torch.testing.assert_close(ours[0], ref[0])
        for a, b in zip(ours[1], ref[1], strict=True):  # attention weights, step by step
            torch.testing.assert_close(a, b)
        assert_same_state(ours[2], ref[2])


@pytest.mark.parametrize("enc_rnn,rnn", [("gru", "lstm"), ("lstm", "gru")])
def test_fast_decoder_equals_the_reference_across_rnn_kinds(enc_rnn, rnn):
    reference, fast = make_pair(rnn, "additive", dropout=0.2, enc_rnn=enc_rnn)
    batch = make_batch(1)
    results = [run(m.train(), batch, 3, skip_padding=False) for m in (reference, fast)]
    torch.testing.assert_close(results[1][0], results[0][0])
    for name, grad in results[0][4].items():
        torch.testing.assert_close(results[1][4][name], grad, msg=name)


@pytest.mark.parametrize("rnn,scoring", VARIANTS)
def test_fast_model_translates_as_the_reference(rnn, scoring):
    batch = make_batch()
    preds = []
    for model in make_pair(rnn, scoring):
        torch.manual_seed(1)
        model(*batch[:-1])  # creates the lazy layers, alike in both
        preds.append(model.predict_step(batch, "cpu", 5, save_attention_weights=True))
    assert torch.equal(preds[0][0], preds[1][0])
    for a, b in zip(preds[0][1], preds[1][1], strict=True):
        torch.testing.assert_close(a[0], b[0])


class Batches(d2l.DataModule):
    """Three fixed training batches and one validation batch of ``make_batch``."""

    def __init__(self):
        super().__init__()
        self.batch_size = B
        self.arrays = [torch.cat(t) for t in zip(*(make_batch(s) for s in range(4)))]

    def get_dataloader(self, train):
        rows = slice(0, 3 * B) if train else slice(3 * B, None)
        return self.get_tensorloader(self.arrays, train, rows)


@pytest.mark.parametrize("rnn,scoring", [("gru", "additive"), ("lstm", "dot")])
def test_training_the_fast_model_follows_the_reference_epoch_by_epoch(rnn, scoring):
    histories = []
    for model in make_pair(rnn, scoring, dropout=0.2, seed=3):
        torch.manual_seed(11)
        histories.append(d2l.Trainer(max_epochs=3, gradient_clip_val=1).fit(model, Batches()))
    for ref, ours in zip(*histories, strict=True):
        assert ours["train_loss"] == pytest.approx(ref["train_loss"], rel=1e-4)
        assert ours["val_loss"] == pytest.approx(ref["val_loss"], rel=1e-4)


def test_fast_seq2seq_needs_the_fast_decoder():
    encoder = d2l.Seq2SeqEncoder(V, E, H, 2)
    with pytest.raises(TypeError, match="needs a FastSeq2SeqAttentionDecoder.*use Seq2Seq"):
        FastSeq2Seq(encoder, d2l.Seq2SeqAttentionDecoder(V, E, H, 2), tgt_pad=PAD, lr=0.1)


def test_target_lengths_end_at_each_rows_last_label():
    assert target_lengths(make_batch()[-1], PAD).tolist() == [6, 2, 0, 4, 6]


def test_the_fast_training_step_is_the_reference_masked_loss():
    batch = make_batch()
    losses = []
    for model in make_pair("lstm", "additive", dropout=0.2):
        torch.manual_seed(2)
        losses.append(model.training_step(batch))
    torch.testing.assert_close(losses[1], losses[0])


def test_a_batch_of_padding_only_gives_a_nan_loss_as_the_reference():
    reference, fast = make_pair("gru", "dot")
    src, tgt, lens, _ = make_batch()
    Y = torch.full((B, T), PAD)
    for model in (reference, fast):
        assert torch.isnan(model.training_step((src, tgt, lens, Y)))
