"""Trainer, loader and helpers: history, NaN stop, interruption, clipping, RNG parity."""

import pytest
import torch
from torch import nn

import d2l_lite as d2l


class Regression(d2l.Module):
    """Linear regression whose loss turns NaN at (``fail_at_epoch``, ``fail_at_batch``), in
    training or, with ``fail_in_validation``, in validation."""

    def __init__(self, lr=0.1, fail_at_epoch=None, fail_at_batch=1, interrupt_at_epoch=None,
                 fail_in_validation=False):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Linear(2, 1)
        self.batches = 0

    def loss(self, y_hat, y):
        epoch = self.trainer.epoch + 1
        self.batches = self.batches + 1 if self.training == self._last_mode else 1
        self._last_mode = self.training
        if (epoch == self.fail_at_epoch and self.batches == self.fail_at_batch
                and self.training != self.fail_in_validation):
            return ((y_hat - y) ** 2).mean() * float("nan")
        if epoch == self.interrupt_at_epoch:
            raise KeyboardInterrupt
        return ((y_hat - y) ** 2).mean()

    _last_mode = None


class Line(d2l.DataModule):
    def __init__(self, batch_size=16):
        super().__init__()
        self.save_hyperparameters()
        g = torch.Generator().manual_seed(0)
        self.X = torch.randn(96, 2, generator=g)
        self.y = self.X @ torch.tensor([[2.0], [-1.0]]) + 0.5

    def get_dataloader(self, train):
        i = slice(0, 64) if train else slice(64, None)
        return self.get_tensorloader((self.X, self.y), train, i)


def test_fit_returns_a_record_per_epoch_and_learns():
    torch.manual_seed(0)
    history = d2l.Trainer(max_epochs=20).fit(Regression(), Line())
    assert [r["epoch"] for r in history] == list(range(1, 21))
    assert history[-1]["val_loss"] < 0.01 * history[0]["val_loss"]
    assert all(r["seconds"] > 0 for r in history)


def test_nan_loss_stops_at_its_batch_before_the_step_with_the_weights_finite():
    torch.manual_seed(0)
    trainer = d2l.Trainer(max_epochs=5)
    model = Regression(fail_at_epoch=3, fail_at_batch=2)
    steps = []
    model.register_forward_pre_hook(lambda m, args: steps.append(
        [p.detach().clone() for p in m.parameters()]) if m.training else None)
    with pytest.raises(FloatingPointError, match="training loss became nan in epoch 3, batch 2"):
        trainer.fit(model, Line())
    assert [r["epoch"] for r in trainer.history] == [1, 2]
    assert all(torch.isfinite(p).all() for p in model.parameters())
    for before, now in zip(steps[-1], model.parameters()):  # no step after the NaN batch
        assert torch.equal(before, now)


def test_nan_validation_loss_raises_naming_epoch_and_batch():
    trainer = d2l.Trainer(max_epochs=3)
    with pytest.raises(FloatingPointError, match="validation loss became nan in epoch 2, batch 1"):
        trainer.fit(Regression(fail_at_epoch=2, fail_in_validation=True), Line())
    assert [r["epoch"] for r in trainer.history] == [1]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_clipping_a_non_finite_gradient_raises_instead_of_spreading_it(bad):
    model = nn.Linear(3, 2)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    model.weight.grad[0, 0] = bad
    with pytest.raises(FloatingPointError, match=f"gradient norm is {bad}"):
        d2l.Trainer(max_epochs=1).clip_gradients(1.0, model)


def test_clipping_huge_finite_gradients_keeps_them_finite():
    """Their squares overflow float32: the norm is accumulated in float64."""
    model = nn.Linear(3, 2)
    for p in model.parameters():
        p.grad = torch.full_like(p, 1e30)
    d2l.Trainer(max_epochs=1).clip_gradients(1.0, model)
    grads = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert torch.isfinite(grads).all()
    torch.testing.assert_close(torch.linalg.vector_norm(grads), torch.tensor(1.0))


def test_interrupted_fit_keeps_what_it_recorded():
    trainer = d2l.Trainer(max_epochs=5)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(Regression(interrupt_at_epoch=4), Line())
    assert [r["epoch"] for r in trainer.history] == [1, 2, 3]


def test_num_gpus_zero_forces_the_cpu():
    assert d2l.Trainer(max_epochs=1, num_gpus=0).device == torch.device("cpu")


def test_default_trainer_uses_a_gpu_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert d2l.Trainer(max_epochs=1).device.type == expected


@pytest.mark.parametrize("scale", [1e-3, 10.0])
def test_clip_gradients_follows_d2ls_rule(scale):
    model = nn.Linear(5, 3)
    for p in model.parameters():
        p.grad = torch.randn_like(p) * scale
    grads = [p.grad.clone() for p in model.parameters()]
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
    d2l.Trainer(max_epochs=1).clip_gradients(1.0, model)
    factor = 1.0 / norm if norm > 1 else 1.0
    for p, g in zip(model.parameters(), grads):
        torch.testing.assert_close(p.grad, g * factor)


def test_a_seeded_loader_repeats_its_batches_and_covers_every_row_once():
    X = torch.arange(50).reshape(25, 2)
    data = d2l.DataModule()
    data.batch_size = 8
    epochs = []
    for _ in range(2):
        torch.manual_seed(3)
        epochs.append([b[0] for b in data.get_tensorloader((X,), train=True)])
    assert [len(b) for b in epochs[0]] == [8, 8, 8, 1]
    assert all(torch.equal(a, b) for a, b in zip(*epochs))
    assert sorted(torch.cat(epochs[0])[:, 0].tolist()) == list(range(0, 50, 2))


def test_no_figure_is_made_outside_a_notebook():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    model = Regression()
    d2l.Trainer(max_epochs=2).fit(model, Line())
    assert plt.get_fignums() == before
    assert model.board.data["train_loss"][-1][0] == 2


def test_set_seed_makes_runs_repeat():
    d2l.set_seed(7)
    a = torch.rand(3)
    d2l.set_seed(7)
    assert torch.equal(a, torch.rand(3))


def test_save_hyperparameters_and_check_shape():
    class Thing(d2l.HyperParameters):
        def __init__(self, a, b=2, _hidden=3):
            self.save_hyperparameters(ignore=["b"])

    t = Thing(1)
    assert t.hparams == {"a": 1} and t.a == 1 and not hasattr(t, "b")
    d2l.check_shape(torch.zeros(2, 3), (2, 3))
    with pytest.raises(AssertionError, match=r"\(2, 3\) != expected shape \(3, 2\)"):
        d2l.check_shape(torch.zeros(2, 3), (3, 2))


def test_add_to_class_registers_a_method():
    class A:
        pass

    @d2l.add_to_class(A)
    def double(self, x):
        return 2 * x

    assert A().double(3) == 6


def test_patience_stops_early_and_restores_the_best_weights():
    class Noisy(Regression):
        """Validation loss that improves for 3 epochs, then only worsens."""

        def validation_step(self, batch):
            epoch = self.trainer.epoch + 1
            self.seen = {k: v.clone() for k, v in self.state_dict().items()}
            if epoch == 3:
                self.best_seen = self.seen
            return torch.tensor(float(abs(epoch - 3)))

    torch.manual_seed(0)
    model = Noisy()
    trainer = d2l.Trainer(max_epochs=20, patience=2)
    history = trainer.fit(model, Line())
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5]
    assert trainer.best_epoch == 3
    for name, value in model.state_dict().items():
        assert torch.equal(value, model.best_seen[name])
    assert not torch.equal(model.net.weight, model.seen["net.weight"])  # epoch 5's is not kept


def test_patience_restores_the_best_weights_also_when_training_is_interrupted():
    class NoisyThenInterrupted(Regression):
        def validation_step(self, batch):
            epoch = self.trainer.epoch + 1
            if epoch == 2:
                self.best_seen = {k: v.clone() for k, v in self.state_dict().items()}
            return torch.tensor(float(abs(epoch - 2)))

    torch.manual_seed(0)
    model = NoisyThenInterrupted(interrupt_at_epoch=4)
    trainer = d2l.Trainer(max_epochs=20, patience=5)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(model, Line())
    assert trainer.best_epoch == 2 and len(trainer.history) == 3
    for name, value in model.state_dict().items():
        assert torch.equal(value, model.best_seen[name]), name


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_bleu_needs_at_least_unigrams(k):
    with pytest.raises(ValueError, match="k, the longest n-gram scored, must be an integer >= 1"):
        d2l.bleu("a b c", "a b c", k)


def test_module_keeps_d2ls_plot_settings():
    module = d2l.Module(plot_train_per_epoch=4)
    assert (module.plot_train_per_epoch, module.plot_valid_per_epoch) == (4, 1)
    assert module.hparams == {"plot_train_per_epoch": 4, "plot_valid_per_epoch": 1}


def test_every_n_averages_points_as_d2ls_board_does():
    board = d2l.ProgressBoard(display=False)
    for x, y in [(1, 10.0), (2, 20.0), (3, 30.0), (4, 50.0), (5, 0.0)]:
        board.draw(x, y, "loss", every_n=2)
    assert board.data["loss"] == [(1.5, 15.0), (3.5, 40.0)]  # the fifth waits for a sixth


def test_a_module_that_plots_itself_plots_as_d2ls_modules_do():
    class Plotting(Regression):
        def training_step(self, batch):
            loss = self.loss(self(*batch[:-1]), batch[-1])
            self.plot("loss", loss, train=True)
            self.losses.append(loss.item())
            return loss

    torch.manual_seed(0)
    model = Plotting()
    model.losses = []
    d2l.Trainer(max_epochs=1).fit(model, Line())  # 4 batches of 16, 2 points per epoch
    (x0, y0), (x1, y1) = model.board.data["train_loss"]
    assert (x0, x1) == (0.125, 0.625)  # batches at 0, 1/4 | 2/4, 3/4 of the epoch
    assert y0 == pytest.approx(sum(model.losses[:2]) / 2)
    assert y1 == pytest.approx(sum(model.losses[2:]) / 2)
    assert [p[0] for p in model.board.data["val_loss"]] == [1]  # the trainer's, per epoch
