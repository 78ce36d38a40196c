"""Render the figures the documentation shows, from genuine EMNIST ByMerge and a model trained here.

    LABKIT_DATA_DIR=../shared/data .venv/bin/python docs/make_figures.py

Writes ``docs/img/*.png``. The figures show a real training run, not made-up
numbers: a small dense Keras network is trained for a few epochs on CPU (about
a minute), with ``ReduceLROnPlateau`` so that the history has a learning-rate
track. Without the official EMNIST train images (offline machines), the run
uses labkit's offline partition of the official test set, as the labs do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import labkit.data
import labkit.plot

DATASET = "emnist-bymerge"
OUTPUT = Path(__file__).resolve().parent / "img"
DPI = 90
SEED = 0


def train(images: np.ndarray, labels: np.ndarray, n_classes: int):
    """A dense network fitted for a few epochs; returns the model and its Keras ``History``."""
    import keras

    keras.utils.set_random_seed(SEED)
    model = keras.Sequential([
        keras.Input(images.shape[1:]),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Flatten(),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(n_classes, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    annealer = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=1, factor=0.3, min_delta=0.01)
    history = model.fit(images, labels, epochs=8, batch_size=256, validation_split=0.1,
                        callbacks=[annealer], verbose=2)
    return model, history


def figures() -> dict[str, Figure]:
    """Every documentation figure by file name."""
    x_train, y_train = labkit.data.load(DATASET, "train", offline_partition=True)
    x_test, y_test = labkit.data.load(DATASET, "test", offline_partition=True)
    names = labkit.data.class_names(DATASET)
    model, history = train(np.asarray(x_train), np.asarray(y_train), len(names))
    probabilities = model.predict(np.asarray(x_test), batch_size=1024, verbose=0)
    y_pred = probabilities.argmax(axis=1)
    right, wrong = np.flatnonzero(y_pred == y_test), np.flatnonzero(y_pred != y_test)
    sample = np.sort(np.concatenate([right[:15], wrong[:5]]))  # both title colours on show
    return {
        "images_emnist_bymerge.png": labkit.plot.images(
            x_test[:40], y_test[:40], names, title="EMNIST ByMerge: 47 classes, upright"),
        "history_with_learning_rate.png": labkit.plot.history(
            history, title="Dense network on EMNIST ByMerge, ReduceLROnPlateau"),
        "predictions_emnist_bymerge.png": labkit.plot.predictions(
            x_test[sample], probabilities[sample], y_test[sample], names),
        "misclassified_emnist_bymerge.png": labkit.plot.misclassified(
            x_test, y_test, y_pred, probabilities, names, max_images=15),
        "confusion_matrix_emnist_bymerge.png": labkit.plot.confusion_matrix(
            y_test, y_pred, names, normalize="true"),
    }


def main() -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for name, figure in figures().items():
        path = OUTPUT / name
        figure.savefig(path, dpi=DPI)
        print(f"{path}: {path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
