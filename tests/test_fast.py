"""The fast path equals the reference: same initial weights, logits, attention weights, state,
loss, every gradient and dropout masks for the same seed, for every RNN and every registered
scorer, through ``forward`` (the reference's contract) and ``target_logits`` (the targets'
positions only), with keys prepared once or at every step."""

import itertools
import math
from typing import NamedTuple

import pytest
import torch

import d2l_lite as d2l
from d2l_lite.d2l.attention import SCORERS
from d2l_lite.d2l.seq2seq import RNNS
from d2l_lite.fast import FastSeq2Seq, FastSeq2SeqAttentionDecoder, target_lengths

VARIANTS = list(itertools.product(RNNS, SCORERS))
V, E, H, B, T, K = 13, 8, 16, 5, 6, 7
PAD = 1


def make_pair(rnn, scoring, layers=2, dropout=0.0, enc_rnn=None, seed=0,
              project_keys_once=True):
    """The reference and the fast model, each built from ``seed``."""
    models = []
    for fast in (False, True):
        torch.manual_seed(seed)
        encoder = d2l.Seq2SeqEncoder(V, E, H, layers, dropout, rnn=enc_rnn or rnn)
        if fast:
            decoder = FastSeq2SeqAttentionDecoder(V, E, H, layers, dropout, rnn=rnn,
                                                  scoring=scoring,
                                                  project_keys_once=project_keys_once)
        else:
            decoder = d2l.Seq2SeqAttentionDecoder(V, E, H, layers, dropout, rnn=rnn,
                                                  scoring=scoring)
        models.append((FastSeq2Seq if fast else d2l.Seq2Seq)(encoder, decoder, tgt_pad=PAD,
                                                             lr=0.01))
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


class Run(NamedTuple):
    logits: torch.Tensor
    weights: list
    state: object
    loss: torch.Tensor
    grads: dict
    after: torch.Tensor  # where the random generator stands after the forward pass


def run(model, batch, seed, skip_padding):
    """Forward (in the model's mode, with ``seed`` for dropout) and backward of the masked
    loss, through ``forward`` or, with ``skip_padding``, ``target_logits``."""
    src, tgt, lens, Y = batch
    model.zero_grad()
    torch.manual_seed(seed)
    dec_state = model.decoder.init_state(model.encoder(src, lens), lens)
    if skip_padding:  # logits (N, V) of the live positions, and where they are
        logits, rows, steps = model.decoder.target_logits(tgt, dec_state, target_lengths(Y, PAD))
        state = (rows, steps)
        loss = model.loss(logits, Y[rows, steps])
    else:
        logits, state = model.decoder(tgt, dec_state)
        loss = model.loss(logits, Y)
    after = torch.rand(4)  # where the random generator stands after the forward pass
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    return Run(logits, model.decoder.attention_weights, state, loss, grads, after)


def assert_same_state(a, b):
    if isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_state(x, y)
    else:
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("keys", ["keys-once", "keys-every-step"])
@pytest.mark.parametrize("skip_padding", [False, True], ids=["forward", "target-logits"])
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train-dropout"])
@pytest.mark.parametrize("rnn,scoring", VARIANTS)
def test_fast_decoder_equals_the_reference(rnn, scoring, training, skip_padding, keys):
    reference, fast = make_pair(rnn, scoring, layers=3, dropout=0.3 if training else 0.0,
                                project_keys_once=keys == "keys-once")
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
    torch.testing.assert_close(ours.loss, ref.loss)
    torch.testing.assert_close(ours.after, ref.after)  # the same dropout draws, in order
    for name, grad in ref.grads.items():
        torch.testing.assert_close(ours.grads[name], grad, msg=name)
    if skip_padding:  # the logits of each target's positions, and of no others
        rows, steps = ours.state
        live = torch.arange(T) < target_lengths(batch[-1], PAD).reshape(-1, 1)  # (B, T)
        assert sorted(map(list, zip(rows.tolist(), steps.tolist()))) == live.nonzero().tolist()
        torch.testing.assert_close(ours.logits, ref.logits[rows, steps])
    else:
        torch.testing.assert_close(ours.logits, ref.logits)
        for a, b in zip(ours.weights, ref.weights, strict=True):  # step by step
            torch.testing.assert_close(a, b)
        assert_same_state(ours.state, ref.state)


@pytest.mark.parametrize("enc_rnn,rnn", [("gru", "lstm"), ("lstm", "gru")])
def test_fast_decoder_equals_the_reference_across_rnn_kinds(enc_rnn, rnn):
    reference, fast = make_pair(rnn, "additive", dropout=0.2, enc_rnn=enc_rnn)
    batch = make_batch(1)
    ref, ours = (run(m.train(), batch, 3, skip_padding=False) for m in (reference, fast))
    torch.testing.assert_close(ours.logits, ref.logits)
    for name, grad in ref.grads.items():
        torch.testing.assert_close(ours.grads[name], grad, msg=name)


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


class ScaledGeneral(torch.nn.Module):
    """A scorer as a reader would add one: q^T (W k) / sqrt(d), Luong's "general" score,
    scaled. It needs nothing but this class and a registry entry."""

    def __init__(self, num_hiddens, dropout):
        super().__init__()
        self.W_k = torch.nn.LazyLinear(num_hiddens, bias=False)
        self.dropout = torch.nn.Dropout(dropout)

    def forward(self, queries, keys, values, valid_lens=None):
        scores = torch.bmm(queries, self.W_k(keys).transpose(1, 2)) / math.sqrt(
            queries.shape[-1])
        self.attention_weights = d2l.masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)

    def prepare_keys(self, keys):
        return self.W_k(keys)

    def scores_one(self, query, prepared):
        return torch.bmm(prepared, query.unsqueeze(2)).squeeze(2) / math.sqrt(query.shape[1])

    def matmul_flops(self, num_keys, query_size, key_size, keys_once=True):
        return 2 * num_keys * query_size + (0 if keys_once else 2 * num_keys * key_size
                                            * self.W_k.out_features)

    def elementwise_flops(self, num_keys):
        return num_keys


def test_a_scorer_added_to_the_registry_works_in_both_paths_and_the_tools(monkeypatch):
    from d2l_lite.measures import flops

    monkeypatch.setitem(SCORERS, "general", lambda num_hiddens, dropout:
                        ScaledGeneral(num_hiddens, dropout))
    for training, skip_padding in itertools.product((False, True), (False, True)):
        test_fast_decoder_equals_the_reference("gru", "general", training, skip_padding,
                                               "keys-once")
    counts = flops.scorer_flops("general", 9, 16, 16, 16, keys_once=False)
    assert counts["matmul"] == 2 * 9 * 16 + 2 * 9 * 16 * 16 + 2 * 9 * 16
