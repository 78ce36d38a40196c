"""Sandboxed probe: the weights a student's ``compile_and_fit`` leaves on a small model, from the grader's start.

The grader appends a cell that calls :func:`probe` with the notebook's
``compile_and_fit``. The probe model (:func:`probe_model`: no dropout, no
randomness) gets the starting weights in ``start.npz``, and ``compile_and_fit``
trains it on ``count`` copies of one image with one label (``sample.npz``), all
drawn from the grading run's secret. The weights after training go to
``OUT/after.npz``; the optimizer's step count and what the returned history
says of the run (epochs, batches per epoch, whether it validated) to
``OUT/run.json``.

Copies of one image make every batch's mean gradient the same whatever order
``fit`` shuffles them in, so the grader can repeat the run outside the sandbox
with the source notebook's own ``compile_and_fit`` and compare the weights:
they agree only when the optimizer, its learning-rate schedule and the loss are
the exercise's, and the run took the schedule's steps. The counts in
``run.json`` come from the student's process and are compared as data. Whatever
was in ``OUT`` before the call is removed first.
"""

import json
import shutil
from pathlib import Path


def probe_model():
    """A small deterministic classifier of 28 x 28 images."""
    import keras

    return keras.Sequential([keras.Input(shape=(28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax")])


def trained(compile_and_fit, start, image, label, count):
    """The probe model's weights after ``compile_and_fit`` on ``count`` copies of ``(image, label)``,
    and the counts of the run: ``{"iterations", "epochs", "steps", "validated"}``."""
    import numpy as np

    model = probe_model()
    model.set_weights(start)
    images = np.repeat(image[np.newaxis], count, axis=0)
    labels = np.full(count, label, dtype="int64")
    history = compile_and_fit(model, images, labels)
    params = getattr(history, "params", None) or {}
    logs = getattr(history, "history", None) or {}
    optimizer = getattr(model, "optimizer", None)
    run = {"iterations": None if optimizer is None else int(optimizer.iterations),
           "epochs": params.get("epochs"), "steps": params.get("steps"), "validated": "val_loss" in logs}
    return [np.asarray(weights) for weights in model.get_weights()], run


def probe(compile_and_fit, probe_dir, out_dir) -> None:
    import numpy as np

    probe_dir, out_dir = Path(probe_dir), Path(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    with np.load(probe_dir / "start.npz", allow_pickle=False) as stored:
        start = [stored[f"arr_{i}"] for i in range(len(stored.files))]
    with np.load(probe_dir / "sample.npz", allow_pickle=False) as stored:
        image, label, count = stored["image"], int(stored["label"]), int(stored["count"])
    after, run = trained(compile_and_fit, start, image, label, count)
    out_dir.mkdir(parents=True)
    np.savez(out_dir / "after.npz", *after)
    (out_dir / "run.json").write_text(json.dumps(run, default=str))
