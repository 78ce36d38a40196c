"""Sandboxed probe: what a student's Keras ``train_step`` does to the grader's weights on its batch.

The grader appends a cell to the student's notebook that calls :func:`probe`
with the notebook's ``train_step``. For each set of starting weights the grader
supplied (``starts.npz``), the probe model gets those weights and one step is
taken with a fresh ``SGD(learning_rate=LEARNING_RATE)``; the weights after it
go to ``OUT/after-<k>.npz``. The grader computes the reference step itself,
outside the sandbox, from the same starting weights and :func:`probe_model`.
"""

from pathlib import Path

LEARNING_RATE = 0.05


def probe_model():
    """A small, fast, deterministic model (no dropout) for checking training steps."""
    import keras

    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(4, kernel_size=3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])


def probe(train_step, probe_dir, out_dir) -> None:
    import keras
    import numpy as np

    probe_dir, out_dir = Path(probe_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = np.load(probe_dir / "images.npy", allow_pickle=False)
    labels = np.load(probe_dir / "labels.npy", allow_pickle=False)
    with np.load(probe_dir / "starts.npz", allow_pickle=False) as starts:
        count = len({name.split("_")[0] for name in starts.files})
        tensors = len(starts.files) // count
        start_weights = [[starts[f"start{k}_{i}"] for i in range(tensors)] for k in range(count)]
    model = probe_model()
    for k, weights in enumerate(start_weights):
        model.set_weights(weights)
        train_step(model, keras.optimizers.SGD(learning_rate=LEARNING_RATE), images, labels)
        np.savez(out_dir / f"after-{k}.npz", *[np.asarray(w) for w in model.get_weights()])
