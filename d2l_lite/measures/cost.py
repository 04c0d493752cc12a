"""What a training step costs: its time, in interleaved paired rounds, and the memory it
keeps for its backward pass."""

import time

import torch

from ..d2l.train import Trainer


def interleaved_times(fns, rounds=10, per_round=3, warmup=2):
    """Seconds per call of each function in ``fns`` (a dict name -> function), measured in
    ``rounds`` rounds that call every function ``per_round`` times, in an order that reverses
    from one round to the next; returns name -> list of per-round means (pair them by round).

    Interleaving puts slow phases of a shared machine on all functions alike; pairing by
    round then cancels them. Put one function in twice (an A/A pair) to see the noise left.
    """
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            for _ in range(per_round):
                fns[name]()
            times[name].append((time.perf_counter() - start) / per_round)
    return times


def activation_bytes(fn, exclude=()):
    """Bytes of the tensors that autograd saves for the backward pass while ``fn()`` runs,
    each storage counted once, leaving out the storages of the tensors in ``exclude`` (the
    model's parameters and the inputs, which exist whether or not a backward pass follows):
    the activation memory a training step holds between its forward and backward passes.
    Via ``torch.autograd.graph.saved_tensors_hooks``. Returns (bytes, fn's result)."""
    excluded = {(t.untyped_storage().data_ptr(), t.device) for t in exclude}
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        key = (storage.data_ptr(), tensor.device)
        if key not in excluded:
            storages[key] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = fn()
    return sum(storages.values()), result


def step_function(model, batch, clip=1.0):
    """A function that, each time it is called, runs one training step of ``model`` on
    ``batch`` as ``Trainer`` does: loss, backward, clipping of the global gradient norm to
    ``clip``, the optimiser's step."""
    optimizer = model.configure_optimizers()
    trainer = Trainer(max_epochs=1, gradient_clip_val=clip)

    def step():
        loss = model.training_step(batch)
        optimizer.zero_grad()
        loss.backward()
        trainer.clip_gradients(clip, model)
        optimizer.step()

    return step
