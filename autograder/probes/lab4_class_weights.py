"""Sandboxed probe: the class weights a student's ``balanced_class_weights`` gives grader-made labels.

The grader appends a cell that calls :func:`probe` with the notebook's
``balanced_class_weights``. It reads ``labels.npy`` (unbalanced labels made by
the grader, every class present) and writes the returned mapping to
``OUT/weights.json`` as ``[[class, weight], ...]``. Whatever was in ``OUT``
before the call is removed first, so a file planted in advance is never taken
for the answer. The grader compares the weights with scikit-learn's
``compute_class_weight("balanced", ...)``, computed outside the sandbox.
"""

import json
import shutil
from collections.abc import Mapping
from pathlib import Path


def probe(balanced_class_weights, probe_dir, out_dir) -> None:
    import numpy as np

    out_dir = Path(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    labels = np.load(Path(probe_dir) / "labels.npy", allow_pickle=False)
    weights = balanced_class_weights(labels.copy())
    if not isinstance(weights, Mapping):
        raise TypeError(f"balanced_class_weights returned a {type(weights).__name__}, not a dict "
                        "{class: weight}.")
    pairs = [[int(label), float(weight)] for label, weight in weights.items()]
    out_dir.mkdir(parents=True)
    (out_dir / "weights.json").write_text(json.dumps(pairs))
