"""Datasets for the labs: genuine files, verified, loaded fast, online and offline.

>>> import labkit
>>> x_train, y_train = labkit.data.load("mnist", "train")      # uint8 (60000, 28, 28), int64
>>> labkit.data.class_names("emnist-bymerge")[:12]
('0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'A', 'B')

Names: ``mnist``, ``fashion-mnist`` and the six EMNIST splits ``emnist-byclass``,
``emnist-bymerge``, ``emnist-balanced``, ``emnist-letters``, ``emnist-digits``,
``emnist-mnist``. Images are always upright (EMNIST is stored transposed and is
turned here) and labels always start at 0 (EMNIST Letters stores 1..26 for A..Z;
labkit subtracts 1, so label 0 is "A/a").

Files are looked for in ``LABKIT_DATA_DIR``, then the cache, then Debian's
dataset packages, and downloaded from the official URLs and mirrors otherwise;
see :mod:`labkit.data.sources` and :mod:`labkit.data.download`.
"""

from __future__ import annotations

from labkit import config
from labkit.data import partition
from labkit.data.adapters import (
    DATASET_NORMALIZATION,
    Normalization,
    compute_normalization,
    normalization,
)
from labkit.data.errors import DataError, DatasetNotFoundError, DownloadError, IntegrityError
from labkit.data.kaggle_csv import read_csv, write_csv
from labkit.data.loader import class_names, load_official, official_available
from labkit.data.registry import DATASETS, get as spec
from labkit.data.split import Split
from labkit.data.subsets import (
    load_course_subset,
    stratified_indices,
    stratified_split,
    stratified_subset,
    write_course_subset,
)
from labkit.data.tf_adapter import to_tf_dataset
from labkit.data.torch_adapter import BatchLoader, to_torch_loader, to_torch_tensors

__all__ = [
    "DATASETS", "DATASET_NORMALIZATION", "BatchLoader", "DataError", "DatasetNotFoundError",
    "DownloadError", "IntegrityError", "Normalization", "Split", "class_names",
    "compute_normalization", "load", "load_course_subset", "names", "normalization", "read_csv",
    "spec", "stratified_indices", "stratified_split", "stratified_subset", "to_tf_dataset",
    "to_torch_loader", "to_torch_tensors", "uses_offline_partition", "write_course_subset",
    "write_csv",
]


def names() -> list[str]:
    """Every dataset name ``load`` accepts."""
    return list(DATASETS)


def uses_offline_partition(name: str, offline_partition: bool | None = None) -> bool:
    """Whether ``load(name, ...)`` will return the offline partition instead of official data.

    Only when it was asked for (the argument, else ``LABKIT_EMNIST_OFFLINE_PARTITION``),
    the dataset has one, and the official train files cannot be had.
    """
    if offline_partition is None:
        offline_partition = config.env_flag("LABKIT_EMNIST_OFFLINE_PARTITION")
    if not offline_partition or not spec(name).partitionable:
        return False
    return not official_available(name, "train")


def load(name: str, split: str = "train", *, offline_partition: bool | None = None) -> Split:
    """Load one split of a dataset as ``(images, labels)``.

    Parameters
    ----------
    name : str
        A dataset name (see :func:`names`).
    split : {"train", "test"}
    offline_partition : bool, optional
        For ``emnist-bymerge`` and ``emnist-byclass`` only: when the official train
        images cannot be had, use labkit's offline partition of the official test
        set instead (see :mod:`labkit.data.partition`). Defaults to
        ``LABKIT_EMNIST_OFFLINE_PARTITION``. Both splits then come from the
        partition, so train and test never overlap.

    Returns
    -------
    Split
        Unpacks as ``(images, labels)``: read-only memory-mapped uint8 images of
        shape ``(N, 28, 28)``, upright, and int64 labels from 0. ``.dataset`` and
        ``.provenance`` say exactly what was loaded.
    """
    if uses_offline_partition(name, offline_partition):
        return partition.load(name, split)
    return load_official(name, split)
