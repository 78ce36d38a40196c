"""Stratified subsets and instructor-made course subsets."""

from __future__ import annotations

import json

import numpy as np
import pytest

import labkit
from labkit.data import stratified_indices, stratified_split


def test_stratified_indices_keep_the_class_mix_and_are_deterministic(mirror_dir):
    _, labels = labkit.data.load("emnist-byclass", "test")
    index = stratified_indices(labels, 5000, seed=3)
    assert len(index) == 5000 and np.all(np.diff(index) > 0)
    assert np.array_equal(index, stratified_indices(labels, 5000, seed=3))
    assert not np.array_equal(index, stratified_indices(labels, 5000, seed=4))
    expected = np.bincount(labels, minlength=62) * 5000 / len(labels)
    assert np.abs(np.bincount(labels[index], minlength=62) - expected).max() < 1


def test_stratified_split_is_a_partition():
    labels = np.repeat(np.arange(5), [10, 20, 30, 40, 50])
    train, test = stratified_split(labels, 0.2, seed=0)
    assert np.bincount(labels[test]).tolist() == [2, 4, 6, 8, 10]
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(150))


@pytest.mark.parametrize("size", [0, 151, 1.5, -0.1])
def test_impossible_sizes_are_refused(size):
    with pytest.raises(ValueError):
        stratified_indices(np.zeros(150, dtype=int), size)


def test_course_subset_round_trip_with_manifest(mirror_dir, tmp_path):
    dest = labkit.data.write_course_subset(tmp_path / "fmnist-small", "fashion-mnist", train=1200, test=300)
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["splits"]["train"]["class_counts"] == [120] * 10
    assert "official train split" in manifest["splits"]["train"]["source"]
    train = labkit.data.load_course_subset(dest, "train")
    assert train.dataset == "fashion-mnist/subset" and train.images.shape == (1200, 28, 28)
    full_images, _ = labkit.data.load("fashion-mnist", "train")
    index = stratified_indices(labkit.data.load("fashion-mnist", "train").labels, 1200, seed=0)
    np.testing.assert_array_equal(train.images, full_images[index])
    with pytest.raises(FileExistsError):
        labkit.data.write_course_subset(dest, "fashion-mnist", train=10, test=10)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind
