"""Transformed copies of the evaluation images: whether a model learnt that a moved digit is the same digit.

Data augmentation trains a network on images rotated, shifted and zoomed at
random; what it buys shows on images transformed the same way, far more than on
the test images as they are (lab 3's reference models, full profile,
``docs/calibration.md``: the augmented CNN 99.0-99.6% on them, the plain and
annealed CNNs 91-95%, where all three reach about 99.1-99.6% on the originals).
So a lab that grades an augmented model sends the
sandbox, with the evaluation images and their perturbed copies
(:mod:`autograder.scoring.perturbed_copies`), copies of a sample of them
transformed by the exercise's own augmentation (the source notebook's
reference layers, never the student's), each layer seeded from the grading
run's secret: which images, which transforms and where the copies sit among the
other rows are unknown to anything in the sandbox. The model probe predicts on
every row in one run; the grader splits the predictions here, scores the
evaluation set's own rows as before (:func:`autograder.pipeline.results.accuracy_part`),
and the transformed copies apart.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder import probes
from autograder.scoring import evaluation_sets, perturbed_copies
from autograder.scoring.keras_models import EvaluationSet, ModelProbe, prepare

COPIES = 2000
"""How many evaluation images get a transformed copy: a standard error of about half a point at 95%
accuracy, a fraction of a second per model."""


@dataclass(frozen=True)
class MixedSet:
    """What the sandbox is given (``rows``: labels of every row) and how the grader takes it apart.

    ``evaluation`` is the evaluation set's own rows (images and perturbed copies, in
    the order they come out of ``rows``), as :func:`autograder.pipeline.results.accuracy_part`
    scores them; ``transformed`` marks the rows of ``rows`` that are transformed copies.
    """

    rows: EvaluationSet
    evaluation: EvaluationSet
    transformed: np.ndarray  # bool per row of ``rows``

    @property
    def copies(self) -> int:
        return int(self.transformed.sum())


def seeded_layers(layers: Sequence, seeds: Sequence[int]) -> list:
    """New Keras layers with the settings of ``layers`` (the reference augmentation's), each with its seed."""
    return [type(layer).from_config({**layer.get_config(), "seed": int(seed)}) for layer, seed in zip(layers, seeds)]


def augmentation_transform(layers: Sequence, rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """A function applying ``layers`` in training mode, one fresh random transform per image, seeded by ``rng``.

    ``layers`` are the reference augmentation's (a ``keras.Sequential``'s ``layers``);
    the seeds come from the grading run's secret, so the same run draws the same copies.
    """
    import keras

    seeds = rng.integers(0, 2**31 - 1, size=len(layers))

    def transform(images: np.ndarray) -> np.ndarray:
        augmentation = keras.Sequential(seeded_layers(layers, seeds))
        moved = keras.ops.convert_to_numpy(augmentation(images, training=True))
        return np.clip(np.asarray(moved, dtype="float32"), 0.0, 1.0)

    return transform


def write_mixed_set(folder: Path, images: evaluation_sets.Images, classes: int,
                    copies_from: np.random.Generator | None, transform: Callable[[np.ndarray], np.ndarray],
                    transformed_from: np.random.Generator, copies: int = COPIES) -> MixedSet:
    """``folder/inputs.npy`` (and the model probe's scripts): the evaluation images, their perturbed copies
    (``copies_from``, as :func:`autograder.scoring.keras_models.write_evaluation_set`) and ``transform`` of a
    sample of ``copies`` images (all, if fewer), shuffled together by ``transformed_from``.

    Both generators come from the grading run's secret.
    """
    rows = perturbed_copies.with_copies(images.images, images.labels, copies_from)
    sample = transformed_from.choice(len(images.images), size=min(copies, len(images.images)), replace=False)
    moved = transform(prepare(images.images[sample]))
    stacked = np.concatenate([prepare(rows.images), moved])
    labels = np.concatenate([rows.labels, np.asarray(images.labels)[sample]])
    transformed = np.arange(len(stacked)) >= len(rows.images)
    order = transformed_from.permutation(len(stacked))
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "inputs.npy", stacked[order], allow_pickle=False)
    for script in (probes.KERAS_MODEL, probes.WEIGHTS_FINGERPRINT):
        shutil.copyfile(script, folder / script.name)
    transformed = transformed[order]
    labels = labels[order]
    copied = np.concatenate([rows.copied, np.zeros(len(moved), dtype=bool)])[order]
    return MixedSet(EvaluationSet(folder, labels, classes, images.description, copied),
                    EvaluationSet(folder, labels[~transformed], classes, images.description, copied[~transformed]),
                    transformed)


def split(found: ModelProbe, mixed: MixedSet) -> tuple[ModelProbe, float | None]:
    """What the probe found, with its predictions on the evaluation set's own rows only, and the accuracy
    on the transformed copies (None when the model gave no predictions)."""
    if found.predictions is None:
        return found, None
    on_copies = found.predictions[mixed.transformed].argmax(axis=1) == mixed.rows.labels[mixed.transformed]
    return (dataclasses.replace(found, predictions=found.predictions[~mixed.transformed]),
            float(np.mean(on_copies)))
