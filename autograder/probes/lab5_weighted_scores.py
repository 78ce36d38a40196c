"""Sandboxed probe: what a student's ``weighted_scores`` returns for label arrays the grader made.

The grader appends a cell that calls :func:`probe` with the notebook's
``weighted_scores``. For each pair in ``labels.npz`` (``true_<k>``, ``predicted_<k>``)
the four scores it returns (accuracy, precision, recall, f1) go to
``OUT/scores.json``, which the grader compares with scikit-learn's weighted
averages computed outside the sandbox. ``OUT`` is cleared before the first call.
"""

import json
import shutil
from pathlib import Path

SCORES = ("accuracy", "precision", "recall", "f1")


def probe(weighted_scores, probe_dir, out_dir) -> None:
    import numpy as np

    probe_dir, out_dir = Path(probe_dir), Path(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    found = []
    with np.load(probe_dir / "labels.npz", allow_pickle=False) as data:
        pairs = [(data[f"true_{k}"], data[f"predicted_{k}"]) for k in range(len(data.files) // 2)]
    for true, predicted in pairs:
        scores = weighted_scores(true.copy(), predicted.copy())
        missing = [name for name in SCORES if name not in scores]
        if missing:
            raise KeyError(f"weighted_scores returned no {', '.join(missing)}.")
        found.append({name: float(scores[name]) for name in SCORES})
    out_dir.mkdir(parents=True)
    (out_dir / "scores.json").write_text(json.dumps(found))
