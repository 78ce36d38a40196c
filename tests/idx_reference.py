"""An independent reader of the official files, to check labkit's loader against.

Deliberately written differently from labkit.data.idx (fixed header sizes, no
validation), so a bug there cannot hide itself here.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def raw_images(path: Path) -> np.ndarray:
    data = gzip.open(path).read()
    n = int.from_bytes(data[4:8], "big")
    return np.frombuffer(data[16:], dtype=np.uint8).reshape(n, 28, 28)


def raw_labels(path: Path) -> np.ndarray:
    return np.frombuffer(gzip.open(path).read()[8:], dtype=np.uint8)
