"""Sandboxed probe: what a student's augmentation model is made of, and what it does to a batch.

The grader appends a cell that calls :func:`probe` with the notebook's
``build_augmentation``. It writes ``OUT/layers.json`` (each layer's class name
and settings), and the augmentation of the grader's batch ``images.npy`` in
training mode (``OUT/training.npy``) and in inference mode
(``OUT/inference.npy``). The grader compares the layers with the reference
augmentation's and checks what the batches show: the shape kept, the images
moved in training, untouched at inference, pixels still in 0-1.
"""

import json
import shutil
from pathlib import Path


def plain(value):
    """numpy scalars and other settings as JSON values."""
    return value.item() if hasattr(value, "item") else str(value)


def probe(build_augmentation, probe_dir, out_dir) -> None:
    import keras
    import numpy as np

    out_dir = Path(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    images = np.load(Path(probe_dir) / "images.npy", allow_pickle=False)
    keras.utils.set_random_seed(0)
    augmentation = build_augmentation()
    layers = getattr(augmentation, "layers", [augmentation])
    described = [{"class_name": type(layer).__name__, "config": layer.get_config()} for layer in layers]
    training = keras.ops.convert_to_numpy(augmentation(images, training=True))
    inference = keras.ops.convert_to_numpy(augmentation(images, training=False))
    out_dir.mkdir(parents=True)
    (out_dir / "layers.json").write_text(json.dumps(described, default=plain))
    np.save(out_dir / "training.npy", np.asarray(training), allow_pickle=False)
    np.save(out_dir / "inference.npy", np.asarray(inference), allow_pickle=False)
