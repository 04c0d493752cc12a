"""Small helpers kept from d2l 1.0.3: hyperparameters, class patching, devices, seeds, shapes."""

import inspect
import random

import numpy as np
import torch


def add_to_class(Class):
    """Register the decorated function as a method of ``Class`` (d2l's notebook idiom)."""

    def wrapper(obj):
        setattr(Class, obj.__name__, obj)
        return obj

    return wrapper


class HyperParameters:
    """Base class whose ``save_hyperparameters`` stores the caller's arguments as attributes."""

    def save_hyperparameters(self, ignore=()):
        """Save the arguments of the calling ``__init__`` into ``self.hparams`` and attributes.

        Arguments named in ``ignore``, ``self`` and names starting with ``_`` are skipped.
        """
        frame = inspect.currentframe().f_back
        _, _, _, local_vars = inspect.getargvalues(frame)
        skip = set(ignore) | {"self"}
        self.hparams = {
            k: v for k, v in local_vars.items() if k not in skip and not k.startswith("_")
        }
        for k, v in self.hparams.items():
            setattr(self, k, v)


def cpu():
    """The CPU device."""
    return torch.device("cpu")


def gpu(i=0):
    """The ``i``-th CUDA device."""
    return torch.device(f"cuda:{i}")


def num_gpus():
    """Number of visible CUDA devices."""
    return torch.cuda.device_count()


def try_gpu(i=0):
    """``gpu(i)`` if it exists, else ``cpu()``."""
    return gpu(i) if num_gpus() >= i + 1 else cpu()


def check_shape(a, shape):
    """Raise ``AssertionError`` unless ``a.shape == shape``."""
    assert tuple(a.shape) == tuple(shape), (
        f"tensor's shape {tuple(a.shape)} != expected shape {tuple(shape)}"
    )


def set_seed(seed):
    """Seed Python's, NumPy's and PyTorch's generators (all devices) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
