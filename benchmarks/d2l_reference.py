"""d2l 1.0.3 as a reference, when it is installed (``pip install --no-deps d2l==1.0.3``): what
the parity goldens (``benchmarks/make_goldens.py``) and the benchmark compare with.

d2l's ``torch`` module imports torchvision, pandas, scipy, PIL and requests at the top; §11.4
uses none of them, so missing ones are replaced by empty stand-in modules. Its ``MTFraEng``
downloads the corpus into ``../data``; here it reads the same ``fra.txt`` that d2l_lite reads.
§11.4's decoder is not in the package (the book defines it in the chapter): ``import_d2l``
adds it from the source of ``d2l_lite.chapters.section_11_4.Seq2SeqAttentionDecoder``, the page's
code verbatim, run against d2l's own classes.
"""

import importlib.machinery
import importlib.util
import inspect
import sys
import types


def available():
    """True when the d2l package is installed."""
    return importlib.util.find_spec("d2l") is not None


def _stub(name, **attrs):
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


def import_d2l(fra_path):
    """d2l.torch with stand-ins for unused imports, MTFraEng reading ``fra_path`` and §11.4's
    decoder as ``d2l.Seq2SeqAttentionDecoder``."""
    for name in ("torchvision", "pandas", "scipy", "PIL", "requests"):
        try:
            __import__(name)
        except Exception:  # torchvision may be installed yet fail to import beside torch
            if name == "torchvision":
                _stub("torchvision", transforms=_stub("torchvision.transforms"))
            elif name == "scipy":
                _stub("scipy.spatial", distance_matrix=None)
                _stub("scipy", spatial=sys.modules["scipy.spatial"])
            elif name == "PIL":
                _stub("PIL", Image=_stub("PIL.Image"))
            else:
                _stub(name)
    from d2l import torch as d2l

    def _download(self):
        with open(fra_path, encoding="utf-8") as f:
            return f.read()

    d2l.MTFraEng._download = _download
    d2l.Seq2SeqAttentionDecoder = book_decoder(d2l)
    return d2l


def book_decoder(d2l):
    """§11.4's decoder class, its source taken from ``section_11_4`` and run with ``d2l``
    naming the d2l package."""
    import torch
    from torch import nn

    from d2l_lite.chapters import section_11_4

    namespace = {"d2l": d2l, "torch": torch, "nn": nn, "AttentionDecoder": d2l.AttentionDecoder}
    exec(inspect.getsource(section_11_4.Seq2SeqAttentionDecoder), namespace)
    return namespace["Seq2SeqAttentionDecoder"]
