"""The value ``labkit.data.load`` returns: a pair of arrays that also says what it is."""

from __future__ import annotations

import numpy as np


class Split(tuple):
    """``(images, labels)`` with the dataset's identity attached.

    Unpacks like a tuple (``x, y = labkit.data.load("mnist")``) while keeping
    where the data came from, so an offline partition can never pass for the
    official split.

    Attributes
    ----------
    dataset : str
        The dataset name, with ``/offline-partition`` or ``/subset`` appended when
        the data is not the official split itself.
    split : str
        ``"train"`` or ``"test"``.
    provenance : str
        One sentence: which files, from where, how they were verified.
    """

    dataset: str
    split: str
    provenance: str

    def __new__(cls, images: np.ndarray, labels: np.ndarray, *, dataset: str, split: str,
                provenance: str):
        self = super().__new__(cls, (images, labels))
        self.dataset, self.split, self.provenance = dataset, split, provenance
        return self

    def __getnewargs_ex__(self):  # keep pickling and copying working
        return (self[0], self[1]), {
            "dataset": self.dataset, "split": self.split, "provenance": self.provenance,
        }

    @property
    def images(self) -> np.ndarray:
        return self[0]

    @property
    def labels(self) -> np.ndarray:
        return self[1]

    def __repr__(self) -> str:
        return (
            f"Split(dataset={self.dataset!r}, split={self.split!r}, "
            f"images={self.images.shape}, labels={self.labels.shape})"
        )
