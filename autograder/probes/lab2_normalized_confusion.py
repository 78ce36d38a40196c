"""Sandboxed probe: what a student's ``normalized_confusion_matrix`` returns for label arrays the grader made.

The grader appends a cell that calls :func:`probe` with the notebook's
``normalized_confusion_matrix``. For each case in ``confusion-labels.npz``
(``true_<k>``, ``predicted_<k>``, ``classes_<k>``: unbalanced labels, a class
that never occurs, a class never predicted, more classes than the labels use)
the matrix it returns goes to ``OUT/matrices.npz`` as ``arr_<k>``, which the
grader compares with scikit-learn's ``confusion_matrix(normalize="true")``
computed outside the sandbox. ``OUT`` is cleared before the first call, so a
file the notebook wrote there in advance is never taken for the function's
answer.
"""

import shutil
from pathlib import Path

INPUTS = "confusion-labels.npz"


def probe(normalized_confusion_matrix, probe_dir, out_dir) -> None:
    import numpy as np

    out_dir = Path(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    with np.load(Path(probe_dir) / INPUTS, allow_pickle=False) as data:
        cases = [(data[f"true_{k}"], data[f"predicted_{k}"], int(data[f"classes_{k}"]))
                 for k in range(len(data.files) // 3)]
    matrices = []
    for true, predicted, classes in cases:
        matrix = np.asarray(normalized_confusion_matrix(true.copy(), predicted.copy(), classes))
        if matrix.dtype.kind not in "biuf":
            raise TypeError(f"normalized_confusion_matrix returned {matrix.dtype} values, not numbers.")
        matrices.append(matrix)
    out_dir.mkdir(parents=True)
    np.savez(out_dir / "matrices.npz", *matrices)
