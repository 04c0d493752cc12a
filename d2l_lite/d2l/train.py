"""d2l's training API (after PyTorch Lightning): the ``Module`` says how to compute its loss and
which optimiser it wants, the ``DataModule`` hands out batches, the ``Trainer`` owns the loop,
the device, gradient clipping and the record of every epoch.
"""

import math
import time

import torch
from torch import nn

from . import utils
from .plot import ProgressBoard
from .utils import HyperParameters


class Module(nn.Module, HyperParameters):
    """Base class of models: ``loss``, ``configure_optimizers``, training and validation steps.

    The trainer plots each epoch's mean training and validation loss. A module whose steps
    call ``plot`` themselves, as d2l's do, plots as in d2l instead: ``plot_train_per_epoch``
    and ``plot_valid_per_epoch`` points per epoch, each the mean of the batches since the last.
    """

    def __init__(self, plot_train_per_epoch=2, plot_valid_per_epoch=1):
        super().__init__()
        self.save_hyperparameters()
        self.board = ProgressBoard(xlabel="epoch", ylabel="loss (nats per token)")

    def loss(self, y_hat, y):
        raise NotImplementedError

    def forward(self, X):
        assert hasattr(self, "net"), "Neural network is defined"
        return self.net(X)

    def plot(self, key, value, train):
        """Add a batch's ``value`` to the line ``train_<key>`` or ``val_<key>``, as d2l's: at
        the fraction of the epoch done (training) or at the epoch's end (validation),
        averaged over ``num_batches / plot_*_per_epoch`` batches."""
        assert hasattr(self, "trainer"), "Trainer is not inited"
        if train:
            x = self.trainer.train_batch_idx / self.trainer.num_train_batches
            n = self.trainer.num_train_batches / self.plot_train_per_epoch
        else:
            x = self.trainer.epoch + 1
            n = self.trainer.num_val_batches / self.plot_valid_per_epoch
        label = ("train_" if train else "val_") + key
        self.board.plotted_by_module.add(label)
        value = value.detach().item() if torch.is_tensor(value) else float(value)
        self.board.record(x, value, label, every_n=max(int(n), 1))

    def training_step(self, batch):
        """Loss of one batch (inputs..., labels); the trainer back-propagates it."""
        return self.loss(self(*batch[:-1]), batch[-1])

    def validation_step(self, batch):
        """Loss of one validation batch (the trainer runs it without autograd)."""
        return self.loss(self(*batch[:-1]), batch[-1])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


class DataModule(HyperParameters):
    """Base class of data: ``train_dataloader()`` and ``val_dataloader()``.

    Training batches are shuffled by PyTorch's global generator, as in d2l, unless
    ``batch_generator`` (not in d2l) is a ``torch.Generator``: then by that one alone, so
    that the batches do not depend on what else drew random numbers before them.
    """

    batch_generator = None

    def __init__(self, root="../data", num_workers=4):
        self.save_hyperparameters()

    def get_dataloader(self, train):
        raise NotImplementedError

    def train_dataloader(self):
        return self.get_dataloader(train=True)

    def val_dataloader(self):
        return self.get_dataloader(train=False)

    def get_tensorloader(self, tensors, train, indices=slice(0, None)):
        """d2l's loader over ``tensors[indices]``, shuffled when ``train``."""
        tensors = tuple(a[indices] for a in tensors)
        dataset = torch.utils.data.TensorDataset(*tensors)
        return torch.utils.data.DataLoader(dataset, self.batch_size, shuffle=train,
                                           generator=self.batch_generator)


class Trainer(HyperParameters):
    """Fits a ``Module`` to a ``DataModule``.

    Args:
        max_epochs: number of passes over the training data.
        num_gpus: GPUs to use; None (default) uses one when present, 0 forces the CPU.
        gradient_clip_val: clip the global gradient norm to this value when > 0.
        patience: if set (not in d2l), stop early once the validation loss has not improved
            for this many epochs, and restore the weights of the best epoch
            (``best_epoch``), also when training ends with an error or an interrupt.

    ``fit`` returns ``history``: one dict per epoch with ``epoch``, ``train_loss`` (mean over
    the epoch's batches), ``val_loss`` and ``seconds`` (wall time of the epoch). The history
    is kept on the trainer, so an interrupted fit still has what it recorded. A loss or a
    gradient that is not finite stops training with ``FloatingPointError`` at the batch where
    it appears, before the optimiser's step, so the weights stay finite.
    """

    def __init__(self, max_epochs, num_gpus=None, gradient_clip_val=0, patience=None):
        self.save_hyperparameters()
        wanted = 1 if num_gpus is None else num_gpus
        self.gpus = [utils.gpu(i) for i in range(min(wanted, utils.num_gpus()))]
        self.device = self.gpus[0] if self.gpus else torch.device("cpu")
        self.history = []

    def prepare_data(self, data):
        self.train_dataloader = data.train_dataloader()
        self.val_dataloader = data.val_dataloader()
        self.num_train_batches = len(self.train_dataloader)
        self.num_val_batches = len(self.val_dataloader) if self.val_dataloader is not None else 0

    def prepare_batch(self, batch):
        return [a.to(self.device) for a in batch]

    def prepare_model(self, model):
        model.trainer = self
        model.board.xlim = [0, self.max_epochs]
        model.to(self.device)
        self.model = model

    def fit(self, model, data):
        """Train for ``max_epochs``; returns the per-epoch history (see the class docstring)."""
        self.prepare_data(data)
        self.prepare_model(model)
        self.optim = model.configure_optimizers()
        self.epoch, self.history, self.best_epoch = 0, [], None
        self.train_batch_idx = self.val_batch_idx = 0  # batches so far, as d2l counts them
        try:
            for epoch in range(self.max_epochs):
                self.epoch = epoch
                record = self.fit_epoch()
                self.history.append(record)
                for label in ("train_loss", "val_loss"):  # unless the module plots them itself
                    if record[label] is not None and label not in model.board.plotted_by_module:
                        model.board.record(epoch + 1, record[label], label)
                stop = self.patience is not None and self._early_stop(record)
                model.board.draw(final=stop or epoch + 1 == self.max_epochs)
                if stop:
                    break
        finally:  # also when interrupted or stopped by an error: the best weights, not the last
            model.board.close()
            if self.best_epoch is not None:
                model.load_state_dict(self._best_state)
        return self.history

    def _early_stop(self, record):
        """Keep the weights of the best validation loss so far; True once ``patience`` epochs
        have passed without improving on it."""
        if record["val_loss"] is None:
            raise ValueError("patience needs validation data: the data module has none")
        if self.best_epoch is None or record["val_loss"] < self.history[self.best_epoch - 1][
                "val_loss"]:
            self.best_epoch = record["epoch"]
            self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        return record["epoch"] - self.best_epoch >= self.patience

    def fit_epoch(self):
        """One pass over the training data, then validation; returns the epoch's record."""
        start = time.perf_counter()
        self.model.train()
        total = 0.0
        for i, batch in enumerate(self.train_dataloader):
            loss = self.model.training_step(self.prepare_batch(batch))
            total += self._check_finite(loss, "training loss", i)
            self.optim.zero_grad(set_to_none=True)
            loss.backward()
            norm = self._check_finite(self.gradient_norm(self.model), "gradient norm", i)
            if self.gradient_clip_val > 0:
                self.clip_gradients(self.gradient_clip_val, self.model, norm)
            self.optim.step()
            self.train_batch_idx += 1
        val_loss = None
        if self.val_dataloader is not None:
            self.model.eval()
            val_total = 0.0
            with torch.inference_mode():
                for i, batch in enumerate(self.val_dataloader):
                    val = self.model.validation_step(self.prepare_batch(batch))
                    val_total += self._check_finite(val, "validation loss", i)
                    self.val_batch_idx += 1
            val_loss = val_total / self.num_val_batches
        return {"epoch": self.epoch + 1, "train_loss": total / self.num_train_batches,
                "val_loss": val_loss, "seconds": time.perf_counter() - start}

    def _check_finite(self, value, what, batch):
        """``value`` as a float; raises FloatingPointError if it is not finite."""
        value = value.item() if torch.is_tensor(value) else float(value)
        if not math.isfinite(value):
            raise FloatingPointError(
                f"the {what} became {value} in epoch {self.epoch + 1}, batch {batch + 1}: "
                f"training stopped before the optimiser's step, so the weights are those "
                f"after the batch before (with patience: those of the best epoch). Lower the "
                f"learning rate or set gradient_clip_val; "
                f"the epochs before are in trainer.history")
        return value

    @staticmethod
    def gradient_norm(model):
        """The global L2 norm of all gradients, a Python float. If float32 overflows (squares
        of huge finite gradients), it is computed again in float64."""
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        if not grads:
            return 0.0
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        if torch.isinf(norm):
            norm = torch.linalg.vector_norm(torch.stack(
                [torch.linalg.vector_norm(g, dtype=torch.float64) for g in grads]))
        return norm.item()

    @staticmethod
    def scale_gradients(model, factor):
        """Multiply every gradient by ``factor``."""
        for p in model.parameters():
            if p.grad is not None:
                p.grad.mul_(factor)

    def clip_gradients(self, grad_clip_val, model, norm=None):
        """Scale all gradients by grad_clip_val / norm when their global norm exceeds it:
        d2l's rule (no epsilon, unlike ``clip_grad_norm_``); ``norm``, if given, is
        ``gradient_norm(model)``. A norm that is not finite raises ``FloatingPointError``
        instead of turning the gradients into NaN (or zeros, for an infinite norm)."""
        norm = self.gradient_norm(model) if norm is None else norm
        if not math.isfinite(norm):
            raise FloatingPointError(f"the gradient norm is {norm}: some gradient is not finite")
        if norm > grad_clip_val:
            self.scale_gradients(model, grad_clip_val / norm)
