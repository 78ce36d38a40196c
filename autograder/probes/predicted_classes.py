"""Sandboxed probe: the classes a student's ``predicted_classes`` picks for the grader's probabilities.

The grader appends a cell to the student's notebook that calls :func:`probe`
with the notebook's ``predicted_classes``. It reads ``probabilities.npy`` (made
by the grader, with many rows where no probability is above 0.5) and saves what
the function returns to ``OUT/classes.npy``. Whatever was in ``OUT`` before the
call is removed first, so a file the notebook wrote there in advance is never
taken for the function's answer. The grader compares the classes with the
argmax it computes itself.
"""

import shutil
from pathlib import Path


def probe(predicted_classes, probe_dir, out_dir) -> None:
    import numpy as np

    out_dir = Path(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    probabilities = np.load(Path(probe_dir) / "probabilities.npy", allow_pickle=False)
    classes = np.asarray(predicted_classes(probabilities.copy()))
    if classes.dtype.kind not in "biuf":
        raise TypeError(f"predicted_classes returned {classes.dtype} values, not class numbers.")
    out_dir.mkdir(parents=True)
    np.save(out_dir / "classes.npy", classes, allow_pickle=False)
