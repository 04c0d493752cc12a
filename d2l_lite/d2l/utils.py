"""Small helpers kept from d2l 1.0.3: hyperparameters, class patching, devices, seeds, shapes."""

import inspect
import math
import numbers
import operator
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


def check_integer(name, value, low, where=""):
    """``value`` as an ``int`` (NumPy integers included) if it is one and at least ``low``;
    else ValueError naming the setting (``where``: the class or function it belongs to).
    ``True`` and ``False`` are refused although Python counts them as integers."""
    prefix = f"{where}: " if where else ""
    try:
        number = None if isinstance(value, (bool, np.bool_)) else operator.index(value)
    except TypeError:
        number = None
    if number is None or number < low:
        raise ValueError(f"{prefix}{name} must be an integer >= {low}, got {value!r}")
    return number


def check_number(name, value, low, high=math.inf, where="", low_open=False):
    """``value``, unchanged, if it is a finite real number in ``[low, high]`` (``(low, high]``
    if ``low_open``); else ValueError naming the setting."""
    prefix = f"{where}: " if where else ""
    ok = (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
          and math.isfinite(value) and (value > low if low_open else value >= low)
          and value <= high)
    if not ok:
        bounds = (f"{'>' if low_open else '>='} {low:g}" if high == math.inf else
                  f"in {'(' if low_open else '['}{low:g}, {high:g}]")
        raise ValueError(f"{prefix}{name} must be a number {bounds}, got {value!r}")
    return value
