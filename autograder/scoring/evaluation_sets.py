"""The images a lab's models are scored on: the lab's default set, or the instructor's private one.

By default each lab scores on public images (MNIST's official test set, the
held-out part of labkit's EMNIST partition, ...). Students can read those, so
an instructor who wants images no student has seen puts one ``<lab>.npz`` per
lab in a folder and grades with ``--evaluation DIR``
(:attr:`autograder.pipeline.options.GradingOptions.evaluation_dir`). Each file holds

``images``   uint8, shape (N, 28, 28), upright, as ``labkit.data.load``
             returns the lab's dataset (the grader scales them exactly as the
             notebook does)
``labels``   integers in ``[0, classes)``, shape (N,)

and, for lab 5's transfer to MNIST, ``mnist_images`` and ``mnist_labels`` too
(:func:`write_private_set` writes one). The file is read without pickles and
checked in full before any submission is graded: a wrong file stops the batch
with what to fix instead of grading a class against it. As with the default
sets, only the images enter the sandbox; the labels stay with the grader.

A private set must be framed as the lab's dataset is, or it tests the framing
rather than the model: EMNIST's MNIST split, the obvious drop-in for MNIST's
test set, holds digits scaled to 24 pixels and centred by their box, where
MNIST's are scaled to fit 20 and centred by their mass, and the reference lab 1
models (quick profile) reach only 59.6% (dense) and 79.2% (CNN) on it as stored.
:func:`emnist_mnist` frames it as MNIST was framed (:func:`mnist_style`), on
which they reach about what they reach on MNIST (``docs/grading.md``);
``python -m autograder.scoring.evaluation_sets DIR`` writes it for the labs scored on
MNIST (:data:`MNIST_LABS`).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder.pipeline import submissions
from labkit._files import replaced_atomically

IMAGE_SHAPE = (28, 28)


class EvaluationSetError(ValueError):
    """The instructor's evaluation file is missing or unusable; the message says what to fix."""


@dataclass(frozen=True)
class Images:
    """Images and labels to score models on, and how feedback names them."""

    images: np.ndarray  # uint8 (N, 28, 28), upright
    labels: np.ndarray  # int64 (N,)
    description: str  # completes "... reaches 98.1% on <description>"


def official_test_set(dataset: str, name: str) -> Images:
    """A dataset's official test split, e.g. ``official_test_set("mnist", "MNIST")``."""
    import labkit

    images, labels = labkit.data.load(dataset, "test")
    return Images(images, labels, f"the {len(labels):,} official {name} test images")


def private_file(folder: Path, lab: str) -> Path:
    return Path(folder) / f"{lab}.npz"


def fingerprint(folder: Path | None, lab: str) -> str:
    """The private file's sha256 (``""`` for the default set): a new file means every result is redone."""
    if folder is None:
        return ""
    path = private_file(folder, lab)
    if not path.is_file():
        raise not_found(path, layout(classes=None))
    return submissions.file_hash(path)


def layout(classes: int | None, prefix: str = "") -> str:
    """What the file must hold, for error messages."""
    labels = f"integers 0-{classes - 1}" if classes else "class indices"
    return (f"`{prefix}images` (uint8, N x 28 x 28, upright as labkit.data.load returns them) and "
            f"`{prefix}labels` ({labels}, N)")


def not_found(path: Path, holding: str) -> EvaluationSetError:
    return EvaluationSetError(f"The private evaluation set {path} does not exist. Write it with "
                              f"autograder.scoring.evaluation_sets.write_private_set, holding {holding}, or grade "
                              "without --evaluation to use the lab's default set.")


def images_for(folder: Path | None, lab: str, classes: int, default: Callable[[], Images], *,
               prefix: str = "", what: str = "images") -> Images:
    """The private set's ``<prefix>images``/``<prefix>labels`` when ``folder`` is given, else ``default()``."""
    if folder is None:
        return default()
    return read_private(private_file(folder, lab), classes, prefix=prefix, what=what)


def read_private(path: Path, classes: int, *, prefix: str = "", what: str = "images") -> Images:
    """Read and check ``path``'s ``<prefix>images`` and ``<prefix>labels`` (see the module's docstring)."""
    keys = (f"{prefix}images", f"{prefix}labels")
    holding = layout(classes, prefix)
    if not path.is_file():
        raise not_found(path, holding)
    try:
        stored = np.load(path, allow_pickle=False)
        if not isinstance(stored, np.lib.npyio.NpzFile):
            raise ValueError("it holds one array, not named arrays")
        with stored:
            arrays = {key: stored[key] for key in keys if key in stored.files}
            held = sorted(stored.files)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise EvaluationSetError(f"{path} is not a readable .npz of plain arrays ({error}); save it with "
                                 "autograder.scoring.evaluation_sets.write_private_set (no object arrays), holding "
                                 f"{holding}.") from error
    absent = [key for key in keys if key not in arrays]
    if absent:
        raise EvaluationSetError(f"{path} has no {' or '.join(f'`{key}`' for key in absent)} "
                                 f"(it holds {held}); it needs {holding}.")
    images, labels = arrays[keys[0]], arrays[keys[1]]
    return Images(*checked(images, labels, classes, f"{path.name}: "),
                  f"the instructor's {len(labels):,} private evaluation {what} ({path.name})")


def checked(images: np.ndarray, labels: np.ndarray, classes: int, where: str = "") -> tuple[np.ndarray, np.ndarray]:
    """``images`` and ``labels`` if they make an evaluation set, else an error saying what is wrong."""
    if images.dtype != np.uint8:
        raise EvaluationSetError(f"{where}the images are {images.dtype}; store them as uint8 pixels 0-255 "
                                 "(images.astype('uint8') if they are already whole numbers in that range).")
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE or len(images) == 0:
        raise EvaluationSetError(f"{where}the images have shape {images.shape}; they must be N x 28 x 28 "
                                 "with N >= 1 (no channel axis).")
    if labels.ndim != 1 or len(labels) != len(images):
        raise EvaluationSetError(f"{where}there are {len(images):,} images and labels of shape {labels.shape}; "
                                 "give one label per image, as a 1-D array.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise EvaluationSetError(f"{where}the labels are {labels.dtype}; they must be integer class indices.")
    outside = (labels < 0) | (labels >= classes)
    if outside.any():
        raise EvaluationSetError(f"{where}{int(outside.sum()):,} labels are outside 0-{classes - 1} (e.g. "
                                 f"{int(labels[outside][0])}); this lab's models have {classes} classes.")
    return images, labels.astype(np.int64)


def write_private_set(path: str | Path, images: np.ndarray, labels: np.ndarray, classes: int, *,
                      mnist_images: np.ndarray | None = None, mnist_labels: np.ndarray | None = None) -> Path:
    """Check and save a private evaluation set (``mnist_*``: lab 5's transfer images, 10 classes).

    Name the file ``<lab>.npz`` in the folder given to ``--evaluation``.
    """
    arrays = dict(zip(("images", "labels"), checked(np.asarray(images), np.asarray(labels), classes)))
    if (mnist_images is None) != (mnist_labels is None):
        raise EvaluationSetError("Give both mnist_images and mnist_labels, or neither.")
    if mnist_images is not None:
        arrays.update(zip(("mnist_images", "mnist_labels"),
                          checked(np.asarray(mnist_images), np.asarray(mnist_labels), 10, "MNIST: ")))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as stream:
        np.savez(stream, **arrays)
    return path


# --- a drop-in for MNIST's test set: EMNIST's MNIST split, framed as MNIST's digits are -------------

MNIST_LABS = ("lab1-mnist", "lab3-annealing-augmentation")
"""The labs whose models are scored on MNIST's test set by default, and so on :func:`emnist_mnist` privately."""
MNIST_BOX = 20
"""MNIST's digits were scaled, keeping their aspect ratio, to fit a box of this many pixels."""
HALF_INKED = 128
"""A digit's extent: the pixels inked at least half. EMNIST blurred its strokes before scaling them; the
faint halo beyond a stroke's edge is not part of the digit MNIST would have scaled."""


def area_weights(source: int, target: int) -> np.ndarray:
    """A (target, source) matrix that resamples by area: each new pixel the mean of the old ones it covers.

    Shrinking by area averaging is anti-aliased, as MNIST's size normalisation was.
    """
    edges = np.linspace(0.0, source, target + 1)
    pixels = np.arange(source)[None, :]
    overlap = np.clip(np.minimum(edges[1:, None], pixels + 1) - np.maximum(edges[:-1, None], pixels), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def mnist_style(image: np.ndarray) -> np.ndarray:
    """One upright uint8 digit framed as MNIST's were: its extent scaled to fit :data:`MNIST_BOX` pixels,
    keeping its aspect ratio, then placed so that its centre of mass is at the middle pixel (14, 14)."""
    rows = np.flatnonzero((image >= HALF_INKED).any(axis=1))
    columns = np.flatnonzero((image >= HALF_INKED).any(axis=0))
    if len(rows) == 0:
        return image.copy()
    digit = image[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1].astype(np.float64)
    return placed_by_mass(fitted(digit, MNIST_BOX), image.shape[0])


def fitted(digit: np.ndarray, box: int) -> np.ndarray:
    """``digit`` scaled by area so that its longer side is ``box`` pixels."""
    scale = box / max(digit.shape)
    height, width = (max(1, round(side * scale)) for side in digit.shape)
    return area_weights(digit.shape[0], height) @ digit @ area_weights(digit.shape[1], width).T


def placed_by_mass(digit: np.ndarray, size: int) -> np.ndarray:
    """A ``size`` x ``size`` uint8 frame with ``digit`` in it, its centre of mass on the middle pixel (or
    as near as the frame allows)."""
    height, width = digit.shape
    mass_row = digit.sum(axis=1) @ np.arange(height) / digit.sum()
    mass_column = digit.sum(axis=0) @ np.arange(width) / digit.sum()
    top = int(np.clip(round(size // 2 - mass_row), 0, size - height))
    left = int(np.clip(round(size // 2 - mass_column), 0, size - width))
    frame = np.zeros((size, size))
    frame[top:top + height, left:left + width] = digit
    return np.clip(np.rint(frame), 0, 255).astype(np.uint8)


def emnist_mnist() -> Images:
    """EMNIST's MNIST-split test images (other writers than MNIST's), framed as MNIST's (:func:`mnist_style`)."""
    import labkit

    images, labels = labkit.data.load("emnist-mnist", "test")
    framed = np.stack([mnist_style(image) for image in images])
    return Images(framed, np.asarray(labels, dtype=np.int64),
                  f"the {len(labels):,} EMNIST MNIST-split test images, framed as MNIST's")


def write_emnist_mnist(folder: str | Path) -> list[Path]:
    """Write :func:`emnist_mnist` as the private set of each of :data:`MNIST_LABS` in ``folder``."""
    drop_in = emnist_mnist()
    return [write_private_set(private_file(Path(folder), lab), drop_in.images, drop_in.labels, 10)
            for lab in MNIST_LABS]


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.scoring.evaluation_sets DIR``: write the EMNIST drop-in for the MNIST labs into DIR."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m autograder.scoring.evaluation_sets",
        description="Write EMNIST's MNIST-split test images, framed as MNIST's digits are, as the private "
        f"evaluation set of {', '.join(MNIST_LABS)} (DIR/<lab>.npz); grade with --evaluation DIR.")
    parser.add_argument("folder", metavar="DIR", type=Path)
    for path in write_emnist_mnist(parser.parse_args(argv).folder):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
