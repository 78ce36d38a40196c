"""Sandboxed probe: what a student's ``upright`` makes of images stored as in the EMNIST files.

The grader appends a cell that calls :func:`probe` with the notebook's
``upright``. It reads ``stored.npy`` (random uint8 images, (N, 28, 28), made by
the grader) and saves what the function returns to ``OUT/upright.npy``.
Whatever was in ``OUT`` before the call is removed first, so a file the
notebook wrote there in advance is never taken for the function's answer. The
grader compares the result with the transpose it computes itself.
"""

import shutil
from pathlib import Path


def probe(upright, probe_dir, out_dir) -> None:
    import numpy as np

    out_dir = Path(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    stored = np.load(Path(probe_dir) / "stored.npy", allow_pickle=False)
    turned = np.asarray(upright(stored.copy()))
    if turned.dtype.kind not in "biuf":
        raise TypeError(f"upright returned {turned.dtype} values, not pixel values.")
    out_dir.mkdir(parents=True)
    np.save(out_dir / "upright.npy", turned, allow_pickle=False)
