"""The EMNIST offline partition: opt-in, honest about what it is, deterministic, disjoint."""

from __future__ import annotations

import numpy as np
import pytest

import labkit
from labkit.data import DatasetNotFoundError, partition


@pytest.fixture
def opted_in(monkeypatch):
    monkeypatch.setenv("LABKIT_EMNIST_OFFLINE_PARTITION", "1")
    monkeypatch.setenv("LABKIT_OFFLINE", "1")


def test_without_opting_in_the_missing_train_split_is_an_error(mirror_dir, monkeypatch):
    monkeypatch.delenv("LABKIT_EMNIST_OFFLINE_PARTITION", raising=False)
    with pytest.raises(DatasetNotFoundError, match="emnist-bymerge-train-images-idx3-ubyte.gz"):
        labkit.data.load("emnist-bymerge", "train")
    # and the official test split is still the official one
    assert labkit.data.load("emnist-bymerge", "test").dataset == "emnist-bymerge"


@pytest.mark.parametrize("name,n_classes", [("emnist-bymerge", 47), ("emnist-byclass", 62)])
def test_partition_splits_the_official_test_set_disjointly_and_stratified(mirror_dir, opted_in, name, n_classes):
    train = labkit.data.load(name, "train")
    test = labkit.data.load(name, "test")
    official = labkit.data.load(name, "test", offline_partition=False)
    assert train.dataset == test.dataset == f"{name}/offline-partition"
    assert "offline partition" in train.provenance and "official test split" in train.provenance
    assert len(train.labels) + len(test.labels) == len(official.labels) == 116323
    assert abs(len(test.labels) / 116323 - partition.TEST_FRACTION) < 1e-3
    # disjoint and complete: together they are exactly the official test images
    together = np.concatenate([train.images.reshape(len(train.images), -1),
                               test.images.reshape(len(test.images), -1)])
    assert np.array_equal(np.sort(together.view("V784").ravel()),
                          np.sort(official.images.reshape(-1, 784).view("V784").ravel()))
    # stratified: every class in both, in the official proportions
    official_share = np.bincount(official.labels, minlength=n_classes) / len(official.labels)
    test_share = np.bincount(test.labels, minlength=n_classes) / len(test.labels)
    assert np.abs(official_share - test_share).max() < 0.002
    assert (np.bincount(train.labels, minlength=n_classes) > 0).all()


def test_the_partition_is_announced_every_time(mirror_dir, opted_in, capsys):
    for _ in range(2):
        labkit.data.load("emnist-bymerge", "train")
    err = capsys.readouterr().err
    assert err.count("OFFLINE PARTITION") == 2 and "Not the official EMNIST split" in err


def test_the_partition_is_the_same_on_every_machine(mirror_dir, opted_in, tmp_path, monkeypatch):
    first = partition.manifest("emnist-bymerge")
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path / "another-cache"))
    second = partition.manifest("emnist-bymerge")
    assert first["indices_sha256"] == second["indices_sha256"]
    assert first["seed"] == partition.SEED and first["derived_from"] == "emnist-bymerge official test split"
    assert sum(first["class_counts"]["test"]) == first["sizes"]["test"]


def test_only_bymerge_and_byclass_have_a_partition(mirror_dir):
    with pytest.raises(ValueError, match="emnist-bymerge and emnist-byclass"):
        partition.load("mnist", "train")
    assert not labkit.data.uses_offline_partition("mnist", True)
