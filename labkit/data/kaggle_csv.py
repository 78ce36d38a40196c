"""Kaggle's "Digit Recognizer" CSV format, read and written.

A training file starts with the header ``label,pixel0,...,pixel783``; a test file
has no label column. Each following line is one 28x28 image, row by row
(``pixelK`` is row ``K // 28``, column ``K % 28``), as integers 0..255.

Reading uses NumPy's C parser (``np.loadtxt``: about 1 s for the 60,000 MNIST
training images). Only when it rejects a file is the file scanned again in Python,
to name the line and the column at fault.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from labkit._files import replaced_atomically

SIDE = 28
PIXELS = SIDE * SIDE
PIXEL_COLUMNS = tuple(f"pixel{k}" for k in range(PIXELS))
LABEL_COLUMN = "label"
_ROWS_PER_WRITE = 4096  # bounds the memory np.savetxt needs for its table


def header(with_labels: bool) -> tuple[str, ...]:
    """The column names of a training (``with_labels``) or test file."""
    return ((LABEL_COLUMN,) if with_labels else ()) + PIXEL_COLUMNS


def write_csv(path, images, labels=None) -> Path:
    """Write images (and labels) as a Kaggle digit-recognizer CSV; return its path.

    The file appears complete or not at all: it is written beside ``path`` under a
    temporary name and renamed over ``path`` only once every row is on disk.

    Parameters
    ----------
    path : str or Path
    images : uint8 array of shape (N, 28, 28)
    labels : integer array of shape (N,), optional
        Class indices 0..255. Without labels a test file is written.
    """
    path = Path(path)
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.shape[1:] != (SIDE, SIDE):
        raise ValueError(
            f"images must be uint8 of shape (N, {SIDE}, {SIDE}), as labkit.data.load returns "
            f"them; got {images.dtype} of shape {images.shape}."
        )
    pixels = images.reshape(len(images), PIXELS)
    columns = [pixels]
    if labels is not None:
        columns.insert(0, _checked_labels(labels, len(images))[:, np.newaxis])

    with replaced_atomically(path, "w", encoding="ascii", newline="\n") as file:
        file.write(",".join(header(labels is not None)) + "\n")
        for start in range(0, len(images), _ROWS_PER_WRITE):
            rows = np.hstack([column[start : start + _ROWS_PER_WRITE] for column in columns])
            np.savetxt(file, rows, fmt="%d", delimiter=",")
    return path


def read_csv(path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a Kaggle digit-recognizer CSV.

    Returns
    -------
    images : uint8 array of shape (N, 28, 28)
    labels : int64 array of shape (N,), or None for a test file (no label column)

    Raises
    ------
    ValueError
        Naming the line (counting the header as line 1) and the column at fault,
        when the header is not the expected one, a line has the wrong number of
        values, or a value is not an integer in 0..255.
    """
    path = Path(path)
    with open(path, encoding="utf-8-sig", newline="") as file:  # -sig: tolerate an Excel BOM
        columns = _check_header(file.readline(), path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "no data": a header and no rows
                # uint8 makes the C parser itself reject negatives, values above 255
                # and anything that is not an integer.
                table = np.loadtxt(file, dtype=np.uint8, delimiter=",", comments=None, ndmin=2)
        except ValueError as error:
            raise _locate_problem(path, columns, parser_message=str(error)) from None
    if table.size == 0:
        table = table.reshape(0, len(columns))
    if table.shape[1] != len(columns):  # consistent rows, but not what the header says
        raise _locate_problem(path, columns, parser_message="wrong number of columns")

    images = np.ascontiguousarray(table[:, -PIXELS:]).reshape(-1, SIDE, SIDE)
    labels = table[:, 0].astype(np.int64) if columns[0] == LABEL_COLUMN else None
    return images, labels


def _checked_labels(labels, count: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (count,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be {count} integer class indices, one per image; got "
            f"{labels.dtype} of shape {labels.shape}."
        )
    if count and (labels.min() < 0 or labels.max() > 255):
        raise ValueError(
            f"labels run from {labels.min()} to {labels.max()}; the CSV format holds "
            "class indices 0..255."
        )
    return labels


def _check_header(line: str, path: Path) -> tuple[str, ...]:
    """The header's columns if they are a training or a test header, else an error."""
    found = tuple(name.strip() for name in line.rstrip("\r\n").split(","))
    if found in (header(True), header(False)):
        return found
    if not line:
        raise ValueError(f"{path} is empty; a digit-recognizer CSV starts with a header line.")
    expected = header(found[0] == LABEL_COLUMN)
    if found[0].isdigit():
        problem = "it has no header line; the first line holds data"
    elif len(found) != len(expected):
        problem = f"it has {len(found)} columns instead of {len(expected)}"
    else:
        k = next(k for k, (a, b) in enumerate(zip(found, expected)) if a != b)
        problem = f"column {k + 1} is {found[k]!r} instead of {expected[k]!r}"
    raise ValueError(
        f"{path}, line 1: not a digit-recognizer header ({problem}). Expected "
        f"'label,pixel0,...,pixel{PIXELS - 1}' for training data or "
        f"'pixel0,...,pixel{PIXELS - 1}' for test data."
    )


def _locate_problem(path: Path, columns: tuple[str, ...], parser_message: str) -> ValueError:
    """The error for the first bad line, found the slow way once the fast parser failed."""
    with open(path, encoding="utf-8-sig", newline="") as file:
        next(file)  # the header, already checked
        for number, line in enumerate(file, start=2):
            if not line.strip():
                continue  # blank lines are skipped, as np.loadtxt skips them
            values = line.rstrip("\r\n").split(",")
            where = f"{path}, line {number}"
            if len(values) != len(columns):
                return ValueError(
                    f"{where}: {len(values)} values, but the header names {len(columns)} columns."
                )
            for column, text in zip(columns, values):
                try:
                    value = int(text)
                except ValueError:
                    return ValueError(f"{where}, column {column}: {text!r} is not an integer.")
                if not 0 <= value <= 255:
                    return ValueError(f"{where}, column {column}: {value} is outside 0..255.")
    return ValueError(f"{path} is not a valid digit-recognizer CSV: {parser_message}")
