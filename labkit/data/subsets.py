"""Deterministic stratified subsets: smaller data with the same class mix, the same every time.

Used for CPU budgets (a lab's quick profile), for the offline partition of EMNIST,
and for instructor-made course subsets (seed 001 cut EMNIST ByClass to 120k images).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np


def _per_class_quota(counts: np.ndarray, size: int) -> np.ndarray:
    """How many of each class a subset of ``size`` takes: proportional, largest remainders."""
    exact = counts * (size / counts.sum())
    quota = np.floor(exact).astype(np.int64)
    shortfall = size - quota.sum()
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[:shortfall]] += 1
    return np.minimum(quota, counts)


def stratified_indices(labels: np.ndarray, size: int | float, *, seed: int = 0) -> np.ndarray:
    """Sorted indices of a stratified random subset of ``labels``.

    Parameters
    ----------
    labels : array of int
    size : int or float
        A number of examples, or a fraction in (0, 1].
    seed : int
        The same labels, size and seed always give the same indices.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if isinstance(size, float):
        if not 0 < size <= 1:
            raise ValueError(f"a fractional size must be in (0, 1], not {size}.")
        size = round(size * n)
    if not 0 < size <= n:
        raise ValueError(f"size must be between 1 and {n} (the number of examples), not {size}.")
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    quota = _per_class_quota(counts, int(size))
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)  # one shuffle, then the first `quota` of each class in it
    rank = np.empty(n, dtype=np.int64)
    by_class = np.argsort(inverse[order], kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank[order[by_class]] = np.arange(n) - np.repeat(starts, counts)
    chosen = rank < quota[inverse]
    return np.flatnonzero(chosen)


def stratified_split(labels: np.ndarray, test_fraction: float, *, seed: int = 0):
    """Disjoint stratified ``(train_indices, test_indices)`` covering every example."""
    test = stratified_indices(labels, float(test_fraction), seed=seed)
    train = np.setdiff1d(np.arange(len(labels)), test, assume_unique=True)
    return train, test


def stratified_subset(images: np.ndarray, labels: np.ndarray, size: int | float, *, seed: int = 0):
    """``(images, labels)`` of a stratified subset (copies of the chosen rows only)."""
    index = stratified_indices(labels, size, seed=seed)
    return images[index], labels[index]


def indices_digest(indices: np.ndarray) -> str:
    """A fingerprint of a subset, recorded in manifests so a changed subset is noticed."""
    return hashlib.sha256(np.asarray(indices, dtype="<i8").tobytes()).hexdigest()


def class_counts(labels: np.ndarray, n_classes: int) -> list[int]:
    return np.bincount(np.asarray(labels), minlength=n_classes).tolist()


# ---------------------------------------------------------------- course subsets
def write_course_subset(dest: str | os.PathLike, name: str, *, train: int | float,
                        test: int | float, seed: int = 0) -> Path:
    """Write a stratified subset of dataset ``name`` to ``dest`` with a manifest.

    The folder holds ``{train,test}-{images,labels}.npy`` and ``manifest.json``
    (source provenance, seed, sizes, per-class counts, index fingerprints). It is
    built in a temporary folder and renamed, so it appears complete or not at all.
    """
    from labkit.data import load

    dest = Path(dest)
    if dest.exists():
        raise FileExistsError(f"{dest} exists; choose a new folder or delete it first.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        manifest = {"kind": "labkit course subset", "dataset": name, "seed": seed, "splits": {}}
        for split, size in (("train", train), ("test", test)):
            source = load(name, split)
            index = stratified_indices(source.labels, size, seed=seed)
            np.save(staging / f"{split}-images.npy", source.images[index])
            np.save(staging / f"{split}-labels.npy", source.labels[index])
            manifest["splits"][split] = {
                "size": int(len(index)),
                "of": int(len(source.labels)),
                "source": source.provenance,
                "source_dataset": source.dataset,
                "class_counts": class_counts(source.labels[index], int(source.labels.max()) + 1),
                "indices_sha256": indices_digest(index),
            }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
        os.replace(staging, dest)
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest


def load_course_subset(path: str | os.PathLike, split: str = "train"):
    """Load one split of a folder made by :func:`write_course_subset`."""
    from labkit.data.split import Split

    path = Path(path)
    manifest_file = path / "manifest.json"
    if not manifest_file.is_file():
        raise FileNotFoundError(f"{path} is not a course subset: it has no manifest.json.")
    manifest = json.loads(manifest_file.read_text())
    info = manifest["splits"][split]
    images = np.load(path / f"{split}-images.npy", mmap_mode="r")
    labels = np.load(path / f"{split}-labels.npy", mmap_mode="r")
    if len(labels) != info["size"] or len(images) != info["size"]:
        raise ValueError(f"{path}: the {split} arrays do not match the manifest; rebuild the subset.")
    return Split(images, labels, dataset=f"{manifest['dataset']}/subset", split=split,
                 provenance=f"course subset {path} ({info['size']:,} of {info['of']:,}): {info['source']}")
