"""Sandboxed probe: the learning rates a student's annealing callback sets while the validation loss stalls.

The grader appends a cell that calls :func:`probe` with the notebook's
``build_annealer``. The callback it returns is driven, epoch by epoch, through
the logs in ``epoch_logs.json`` (made by the grader: a training loss that keeps
falling, a validation loss that stalls) on a tiny compiled model, and the
learning rate after each epoch goes to ``OUT/rates.npy``. The grader runs the
reference callback through the same epochs and compares.
"""

import json
import shutil
from pathlib import Path


def rates_while_driven(callback, epoch_logs, initial_rate):
    """The learning rate after each epoch, when the epochs end with ``epoch_logs``."""
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=initial_rate), loss="mse")
    callback.set_model(model)
    callback.on_train_begin()
    rates = []
    for epoch, logs in enumerate(epoch_logs):
        callback.on_epoch_end(epoch, dict(logs))
        rates.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
    return np.asarray(rates, dtype="float64")


def probe(build_annealer, probe_dir, out_dir) -> None:
    import numpy as np

    out_dir = Path(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    setup = json.loads((Path(probe_dir) / "epoch_logs.json").read_text())
    rates = rates_while_driven(build_annealer(), setup["epoch_logs"], setup["initial_rate"])
    out_dir.mkdir(parents=True)
    np.save(out_dir / "rates.npy", rates, allow_pickle=False)
