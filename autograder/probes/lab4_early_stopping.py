"""Sandboxed probe: when a student's early-stopping callback stops training, and which weights it keeps.

The grader appends a cell that calls :func:`probe` with the notebook's
``early_stopping``. Each sequence of epoch logs in ``epoch_logs.json`` (made by
the grader: validation losses that improve, stall and turn up, training losses
that keep falling) drives a new callback, as ``fit`` would, on a tiny compiled
model whose weights are set to a different value every epoch. The probe writes
``OUT/facts.json``: for each sequence, the epoch after which the callback set
``model.stop_training`` (None: never) and the epoch whose weights the model
holds once training ended (-1: the weights it started with; None: none of the
epochs'). Whatever was in ``OUT`` before is removed first. The grader drives
Keras' own ``EarlyStopping`` through the same logs with :func:`facts_while_driven`
and compares.
"""

import json
import shutil
from pathlib import Path


def epoch_weights(model, epoch):
    """The weights "training" reached at the end of ``epoch``: every number equal to ``epoch + 1``."""
    import numpy as np

    return [np.full(w.shape, epoch + 1, dtype=w.dtype) for w in model.get_weights()]


def epoch_of(weights):
    """Which epoch's weights these are (-1: the initial zeros), or None when they are none of them."""
    import numpy as np

    values = {float(v) for w in weights for v in np.unique(np.asarray(w))}
    if len(values) != 1:
        return None
    value = values.pop()
    return int(value) - 1 if value.is_integer() and value >= 0 else None


def facts_while_driven(make_callback, sequences):
    """For each sequence of epoch logs: where a new callback from ``make_callback`` stopped, whose weights stayed."""
    import keras

    facts = []
    for epoch_logs in sequences:
        model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse", metrics=["accuracy"])
        model.set_weights([w * 0 for w in model.get_weights()])
        callback = make_callback()
        callback.set_model(model)
        callback.on_train_begin()
        stopped = None
        for epoch, logs in enumerate(epoch_logs):
            callback.on_epoch_begin(epoch)
            model.set_weights(epoch_weights(model, epoch))
            callback.on_epoch_end(epoch, dict(logs))
            if model.stop_training:
                stopped = epoch
                break
        callback.on_train_end()
        facts.append({"stopped_after": stopped, "weights_of": epoch_of(model.get_weights())})
    return facts


def probe(early_stopping, probe_dir, out_dir) -> None:
    out_dir = Path(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    sequences = json.loads((Path(probe_dir) / "epoch_logs.json").read_text())
    new_each_call = early_stopping() is not early_stopping()
    facts = {"new_each_call": bool(new_each_call), "runs": facts_while_driven(early_stopping, sequences)}
    out_dir.mkdir(parents=True)
    (out_dir / "facts.json").write_text(json.dumps(facts))
