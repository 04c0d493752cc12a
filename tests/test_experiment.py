"""The experiment helpers: settings that refuse what they would ignore, and what a seed fixes
(two arms of one seed get the same batches and the same weights for every part they share)."""

import itertools

import pytest
import torch

import d2l_lite as d2l
from d2l_lite.chapters import experiment
from d2l_lite.settings import HPARAMS


class Pairs(d2l.DataModule):
    """A small translation data set: 40 training pairs of random tokens, 8 for validation."""

    def __init__(self):
        super().__init__()
        self.batch_size, self.num_steps, self.num_train = 8, 6, 40
        g = torch.Generator().manual_seed(0)
        src = torch.randint(3, 20, (48, 6), generator=g)
        tgt = torch.randint(3, 20, (48, 7), generator=g)
        self.arrays = (src, tgt[:, :-1], torch.full((48,), 6), tgt[:, 1:])
        vocab = d2l.Vocab([[str(i) for i in range(20)] * 2], reserved_tokens=["<pad>", "<bos>"])
        self.src_vocab = self.tgt_vocab = vocab

    def get_dataloader(self, train):
        rows = slice(0, 40) if train else slice(40, None)
        return self.get_tensorloader(self.arrays, train, rows)


SMALL = dict(embed_size=8, num_hiddens=16, num_layers=2, dropout=0.2)


def test_hparams_are_read_only():
    with pytest.raises(TypeError):
        HPARAMS["lr"] = 1.0


def test_a_misspelt_setting_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['num_hidden'\]: choose from"):
        experiment.train(Pairs(), num_hidden=32)


def test_the_batch_size_is_refused_with_where_it_belongs():
    with pytest.raises(ValueError, match="batch size belongs to the data module"):
        experiment.train(Pairs(), batch_size=32)


def shared(model_a, model_b):
    """Names of the parameters both models have, with their shapes."""
    a, b = dict(model_a.named_parameters()), dict(model_b.named_parameters())
    return [n for n in a if n in b and a[n].shape == b[n].shape]


@pytest.mark.parametrize("arm_a,arm_b,parts", [
    (dict(scoring="additive"), dict(scoring="dot"),
     {"encoder.", "decoder.embedding.", "decoder.rnn.", "decoder.dense."}),
    (dict(rnn="gru"), dict(rnn="lstm", enc_rnn="gru"),
     {"encoder.", "decoder.embedding.", "decoder.attention.", "decoder.dense."}),
    (dict(rnn="gru", fast=False), dict(rnn="gru", fast=True), {""}),
])
def test_two_arms_of_one_seed_start_the_parts_they_share_from_the_same_weights(arm_a, arm_b,
                                                                               parts):
    data = Pairs()
    model_a = experiment.make_model(data, seed=3, **arm_a, **SMALL)
    model_b = experiment.make_model(data, seed=3, **arm_b, **SMALL)
    a, b = dict(model_a.named_parameters()), dict(model_b.named_parameters())
    names = shared(model_a, model_b)
    for part in parts:
        mine = [n for n in names if n.startswith(part)]
        assert mine, f"no parameter of {part!r} in both models"
        for name in mine:
            assert torch.equal(a[name], b[name]), name
    other = experiment.make_model(data, seed=4, **arm_a, **SMALL)
    assert not torch.equal(dict(other.named_parameters())["decoder.dense.weight"],
                           a["decoder.dense.weight"])


def test_building_a_model_leaves_the_global_generator_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    experiment.make_model(Pairs(), seed=1, **SMALL)
    assert torch.equal(torch.rand(3), expected)


def test_seeded_batches_do_not_depend_on_other_draws():
    data = Pairs()
    epochs = []
    for noise in (0, 1000):
        torch.rand(noise)  # what a bigger model would have drawn before training
        loader = experiment.seeded_batches(data, 5).train_dataloader()
        epochs.append([b[0] for _ in range(2) for b in loader])
    assert all(torch.equal(x, y) for x, y in itertools.zip_longest(*epochs))
    other = [b[0] for b in experiment.seeded_batches(data, 6).train_dataloader()]
    assert not all(torch.equal(x, y) for x, y in zip(other, epochs[0]))
    assert data.batch_generator is None  # the data module itself is untouched


def test_two_arms_of_one_seed_train_on_the_same_batches():
    data = Pairs()
    seen = {}

    class Recording(d2l.Trainer):
        def prepare_batch(self, batch):
            seen[self.arm].append(batch[0].clone())
            return super().prepare_batch(batch)

    for scoring, noise in (("additive", 0), ("dot", 500)):
        seen[scoring] = []
        model = experiment.make_model(data, seed=2, scoring=scoring, **SMALL)
        model.board.display = False
        torch.rand(noise)  # other draws before training: they must not matter
        trainer = Recording(max_epochs=2)
        trainer.arm = scoring
        trainer.fit(model, experiment.seeded_batches(data, 2))
    assert len(seen["additive"]) == len(seen["dot"]) == 2 * (5 + 1)
    assert all(torch.equal(x, y) for x, y in zip(seen["additive"], seen["dot"]))


def test_the_masked_validation_loss_leaves_the_model_in_its_mode():
    data = Pairs()
    model = experiment.make_model(data, **SMALL)
    model.train()
    experiment.masked_val_loss(model, data)
    assert model.training
    model.eval()
    experiment.masked_val_loss(model, data)
    assert not model.training


@pytest.mark.parametrize("arm_a,arm_b", [
    (dict(scoring="additive"), dict(scoring="dot")),
    (dict(rnn="gru"), dict(rnn="lstm")),
    (dict(rnn="gru", scoring="additive"), dict(rnn="lstm", scoring="dot")),
])
def test_two_arms_of_one_seed_draw_their_dropout_masks_alike(arm_a, arm_b):
    """Both consume PyTorch's generator alike in training (the masks have the same shapes),
    so the masks they draw are the same numbers: it stands in the same place afterwards."""
    states = []
    for arm in (arm_a, arm_b):
        experiment.train(Pairs(), seed=4, max_epochs=2, **arm, **SMALL)
        states.append(torch.get_rng_state())
    assert torch.equal(*states)
    experiment.train(Pairs(), seed=4, max_epochs=2, **arm_a, **{**SMALL, "dropout": 0.0})
    assert not torch.equal(torch.get_rng_state(), states[0])  # the check can fail
