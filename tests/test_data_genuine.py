"""labkit.data on the genuine shared files: the right images, the right labels, upright."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import labkit
from labkit.data import idx, integrity, loader, registry
from tests.idx_reference import raw_images, raw_labels

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_mnist_train_matches_the_official_files(mirror_dir):
    images, labels = labkit.data.load("mnist", "train")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert np.bincount(labels).tolist() == MNIST_TRAIN_COUNTS
    np.testing.assert_array_equal(labels, raw_labels(mirror_dir / "mnist/train-labels-idx1-ubyte.gz"))
    np.testing.assert_array_equal(images, raw_images(mirror_dir / "mnist/train-images-idx3-ubyte.gz"))
    assert abs(images.mean() / 255 - 0.13066) < 1e-4  # the published MNIST mean


def test_fashion_mnist_has_6000_and_1000_per_class(mirror_dir):
    _, y_train = labkit.data.load("fashion-mnist", "train")
    x_test, y_test = labkit.data.load("fashion-mnist", "test")
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    np.testing.assert_array_equal(x_test, raw_images(mirror_dir / "fashion-mnist/t10k-images-idx3-ubyte.gz"))
    assert labkit.data.class_names("fashion-mnist")[9] == "Ankle boot"


@pytest.mark.parametrize("name", ["emnist-bymerge", "emnist-byclass", "emnist-mnist"])
def test_emnist_images_are_the_raw_arrays_turned_upright(mirror_dir, name):
    images, labels = labkit.data.load(name, "test")
    raw = raw_images(mirror_dir / f"emnist/{name}-test-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(images, raw.transpose(0, 2, 1))
    np.testing.assert_array_equal(labels, raw_labels(mirror_dir / f"emnist/{name}-test-labels-idx1-ubyte.gz"))
    assert images.flags.c_contiguous


def test_emnist_upright_means_ink_reads_like_mnist(mirror_dir):
    """EMNIST MNIST digits, once upright, look like MNIST's: same mean image, not its transpose."""
    emnist, _ = labkit.data.load("emnist-mnist", "test")
    mnist, _ = labkit.data.load("mnist", "test")
    mean_emnist = emnist.mean(axis=0)
    mean_mnist = mnist.mean(axis=0)
    upright = np.corrcoef(mean_emnist.ravel(), mean_mnist.ravel())[0, 1]
    transposed = np.corrcoef(mean_emnist.T.ravel(), mean_mnist.ravel())[0, 1]
    assert upright > transposed


@pytest.mark.parametrize("name,count,first,last", [
    ("emnist-bymerge", 47, "0", "t"),
    ("emnist-byclass", 62, "0", "z"),
    ("emnist-balanced", 47, "0", "t"),
    ("emnist-letters", 26, "A/a", "Z/z"),
    ("emnist-digits", 10, "0", "9"),
    ("mnist", 10, "0", "9"),
])
def test_class_names_come_from_the_official_mapping(mirror_dir, name, count, first, last):
    names = labkit.data.class_names(name)
    assert len(names) == count and names[0] == first and names[-1] == last


def test_bymerge_merges_the_look_alike_lowercase_letters(mirror_dir):
    names = labkit.data.class_names("emnist-bymerge")
    assert "c" not in names and "o" not in names and "C" in names and "O" in names
    assert [n for n in names if n.islower()] == list("abdefghnqrt")


def test_letters_labels_start_at_zero(mirror_dir):
    """Letters stores 1..26; labkit's labels are 0..25, with 0 = 'A/a'.

    The full Letters test images are not in the mirror, so the real transform is
    run on the genuine partial slice (first 14,800 images) and its real labels.
    """
    part = np.load(mirror_dir / "emnist/partial/emnist-letters-test-partial-0-14799.npz")
    stored_labels = raw_labels(mirror_dir / "emnist/emnist-letters-test-labels-idx1-ubyte.gz")
    assert stored_labels.min() == 1 and stored_labels.max() == 26
    spec = dataclasses.replace(registry.get("emnist-letters"), counts={"test": len(part["images"])})
    make = lambda data, name: integrity.VerifiedFile(mirror_dir / name, "", idx.dump(data), "test")  # noqa: E731
    images, labels = loader.build_arrays(
        spec, "test", make(part["images"], "images"), make(stored_labels[: len(part["images"])], "labels")
    )
    np.testing.assert_array_equal(labels, stored_labels[: len(labels)].astype(np.int64) - 1)
    np.testing.assert_array_equal(images, part["images"].transpose(0, 2, 1))


def test_every_mirror_file_has_its_official_hash(mirror_dir):
    from labkit.data.inventory import verify_all

    checks = [c for c in verify_all() if c.origin == "mirror"]
    assert len(checks) == 27
    assert all(c.ok and c.detail == "official sha256" for c in checks), [c for c in checks if not c.ok]


def test_load_returns_a_split_that_says_what_it_is(mirror_dir):
    result = labkit.data.load("mnist", "test")
    assert result.dataset == "mnist" and result.split == "test"
    assert "official test split" in result.provenance and "official sha256" in result.provenance
    x, y = result
    assert x is result.images and y is result.labels


def test_unknown_names_and_splits_are_clear_errors():
    with pytest.raises(ValueError, match="Available: mnist, fashion-mnist"):
        labkit.data.load("cifar10")
    with pytest.raises(ValueError, match="'train' or 'test'"):
        labkit.data.load("mnist", "validation")
