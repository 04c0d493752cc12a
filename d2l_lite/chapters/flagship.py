"""The book's flagship models (``d2l_lite.studies.flagships``) as a chapter loads them: from
the study's results file and an arm's 8-bit weights, both read through the chapter's pins
(``repository.Repository``), so that a chapter opened in Colab gets them too.

    record = repository.path("book/_flagships.json")
    model, data, run = flagship.load(record, repository.path("book/_flagships/dot.pt"), "dot")

``model`` translates with ``long_sentences.translate_by_length(model, data, sentences)``;
``run`` is the arm's entry in the results file (its scores, with ``eight_bit`` those of these
weights).
"""

import hashlib
import json
from pathlib import Path

import torch

from ..explorer import ServedData, dequantize


def load(record_path, weights_path, arm):
    """(model in eval mode, data, run) of the flagship ``arm``: the model rebuilt as the study
    built it, with the 8-bit weights at ``weights_path``, which must be the file the results
    file at ``record_path`` records for it."""
    from ..studies import attending  # the arms are described in the attending study's terms

    record = json.loads(Path(record_path).read_text())
    arms = record["settings"]["arms"]
    if arm not in arms:
        raise KeyError(f"no flagship arm {arm!r}: choose one of {sorted(arms)}")
    run = next(r for r in record["runs"] if r["arm"] == arm)
    found = hashlib.sha256(Path(weights_path).read_bytes()).hexdigest()
    if found != run["served_sha256"]:
        raise ValueError(f"{weights_path} (SHA-256 {found}) is not the file the results "
                         f"record for {arm!r} ({run['served_sha256']}): one of the two is "
                         f"stale; pin both at the same commit")
    data = ServedData(record["data"])
    model = attending.make_model(data, arms[arm], run["seed"], record["settings"]["model"])
    weights = torch.load(weights_path, weights_only=True)
    model.load_state_dict({name: dequantize(*value) if isinstance(value, tuple) else value
                           for name, value in weights.items()})
    return model.eval(), data, run
