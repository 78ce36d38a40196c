"""The opt-in offline partition of EMNIST ByMerge and ByClass.

Machines without internet (ours, some exam rooms) do not have EMNIST's official
train images (697,932 per split, only in NIST's 562 MB archive). The partition
lets the labs run anyway, honestly: the genuine official *test* set of a split is
divided, deterministically and stratified by class, into a train part and a test
part. It is used only when asked for (``LABKIT_EMNIST_OFFLINE_PARTITION=1`` or
``offline_partition=True``) and only when the official train files cannot be had;
it is announced every time it is loaded, it carries its own dataset name
(``emnist-bymerge/offline-partition``) and a manifest, and it is never returned
under the official split's identity. Numbers measured on it are not comparable
with published EMNIST results, and the notebooks say so.
"""

from __future__ import annotations

import sys

import numpy as np

from labkit.data import cache, subsets
from labkit.data.registry import get
from labkit.data.split import Split

VERSION = 1
TEST_FRACTION = 0.2
SEED = 20170217  # EMNIST's release date; any fixed number would do, this one is memorable


def key(name: str, split: str) -> str:
    return f"{name}-offline-partition-v{VERSION}-{split}"


def manifest_for(name: str, source: Split, train_idx: np.ndarray, test_idx: np.ndarray) -> dict:
    n_classes = get(name).n_classes
    return {
        "kind": "labkit offline partition",
        "version": VERSION,
        "dataset": name,
        "derived_from": f"{name} official test split",
        "source": source.provenance,
        "method": "stratified by class, numpy default_rng permutation",
        "seed": SEED,
        "test_fraction": TEST_FRACTION,
        "sizes": {"train": int(len(train_idx)), "test": int(len(test_idx))},
        "class_counts": {
            "train": subsets.class_counts(source.labels[train_idx], n_classes),
            "test": subsets.class_counts(source.labels[test_idx], n_classes),
        },
        "indices_sha256": {
            "train": subsets.indices_digest(train_idx),
            "test": subsets.indices_digest(test_idx),
        },
    }


def announce(result: Split) -> None:
    print(
        f"labkit: {result.dataset} {result.split}: {len(result.labels):,} images from the "
        f"OFFLINE PARTITION of the official test set (labkit's stand-in where the official "
        f"train images cannot be had). Not the official EMNIST split; results are not "
        f"comparable with published ones.",
        file=sys.stderr,
    )


def _ensure(name: str, split: str) -> cache.Entry:
    """The cached part of the partition, built (both parts at once) on first use."""
    from labkit.data.loader import load_official

    spec = get(name)
    if not spec.partitionable:
        raise ValueError(
            f"the offline partition exists for emnist-bymerge and emnist-byclass, not {name!r}."
        )
    entry = cache.read(key(name, split))
    if entry is None:
        with cache.lock(key(name, "build")):
            entry = cache.read(key(name, split))
            if entry is None:
                source = load_official(name, "test")
                train_idx, test_idx = subsets.stratified_split(source.labels, TEST_FRACTION, seed=SEED)
                manifest = manifest_for(name, source, train_idx, test_idx)
                for part, index in (("train", train_idx), ("test", test_idx)):
                    cache.write(key(name, part), source.images[index], source.labels[index], {
                        "dataset": f"{name}/offline-partition",
                        "split": part,
                        "manifest": manifest,
                        "provenance": (
                            f"{spec.title}, {part} part ({len(index):,} images) of labkit's offline "
                            f"partition v{VERSION} of the official test split "
                            f"(stratified, test fraction {TEST_FRACTION}, seed {SEED})"
                        ),
                    })
                entry = cache.read(key(name, split))
    return entry


def load(name: str, split: str) -> Split:
    """One part of the offline partition, announced every time it is loaded."""
    entry = _ensure(name, split)
    result = Split(entry.images, entry.labels, dataset=f"{name}/offline-partition", split=split,
                   provenance=entry.meta["provenance"])
    announce(result)
    return result


def manifest(name: str) -> dict:
    """The manifest of a partition (building it if needed)."""
    return _ensure(name, "test").meta["manifest"]
