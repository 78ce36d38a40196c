"""The Kaggle digit-recognizer CSV format: round trips on real MNIST, every malformed file."""

from __future__ import annotations

import numpy as np
import pytest

import labkit.data
from labkit.data.kaggle_csv import header, read_csv, write_csv

TRAIN_HEADER = "label," + ",".join(f"pixel{k}" for k in range(784))


@pytest.fixture(scope="module")
def mnist_test(mirror_dir):
    return labkit.data.load("mnist", "test")


@pytest.fixture
def small_csv(tmp_path, mnist_test):
    """A valid training CSV of four real images, as lines to corrupt one at a time."""
    path = tmp_path / "train.csv"
    write_csv(path, mnist_test.images[:4], mnist_test.labels[:4])
    return path, path.read_text().splitlines()


def rewrite(path, lines):
    path.write_text("\n".join(lines) + "\n")


def test_round_trip_of_the_mnist_test_split_is_exact(tmp_path, mnist_test):
    images, labels = mnist_test
    path = write_csv(tmp_path / "train.csv", images, labels)

    read_images, read_labels = read_csv(path)
    assert read_images.dtype == np.uint8 and read_images.shape == (10_000, 28, 28)
    assert read_labels.dtype == np.int64
    assert np.array_equal(read_images, images) and np.array_equal(read_labels, labels)


def test_the_file_follows_kaggles_layout(small_csv, mnist_test):
    path, lines = small_csv
    assert lines[0] == TRAIN_HEADER == ",".join(header(with_labels=True))
    first = [int(value) for value in lines[1].split(",")]
    assert first[0] == mnist_test.labels[0]
    image = mnist_test.images[0]
    # pixelK is row K // 28, column K % 28
    assert all(first[1 + k] == image[k // 28, k % 28] for k in range(784))


def test_a_test_file_has_no_label_column(tmp_path, mnist_test):
    path = write_csv(tmp_path / "test.csv", mnist_test.images[:50])
    assert path.read_text().splitlines()[0] == ",".join(f"pixel{k}" for k in range(784))

    images, labels = read_csv(path)
    assert labels is None
    assert np.array_equal(images, mnist_test.images[:50])


def test_a_header_without_rows_reads_as_zero_images(tmp_path, mnist_test):
    path = write_csv(tmp_path / "empty.csv", mnist_test.images[:0], mnist_test.labels[:0])
    images, labels = read_csv(path)
    assert images.shape == (0, 28, 28) and labels.shape == (0,)


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda text: "\ufeff" + text, id="excel-byte-order-mark"),
        pytest.param(lambda text: text.replace("\n", "\r\n"), id="windows-line-endings"),
        pytest.param(lambda text: text + "\n", id="trailing-blank-line"),
    ],
)
def test_harmless_variants_of_a_file_are_read(small_csv, mnist_test, variant):
    path, _ = small_csv
    path.write_bytes(variant(path.read_text()).encode("utf-8"))
    images, labels = read_csv(path)
    assert np.array_equal(images, mnist_test.images[:4])
    assert np.array_equal(labels, mnist_test.labels[:4])


def _replace_value(lines, line_number, position, value):
    """Put ``value`` at ``position`` (0 is the label) on line ``line_number`` (1 is the header)."""
    values = lines[line_number - 1].split(",")
    values[position] = value
    lines[line_number - 1] = ",".join(values)


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda lines: lines.__setitem__(0, lines[0].replace("pixel5,", "pixel_5,")),
         r"line 1: not a digit-recognizer header \(column 7 is 'pixel_5' instead of 'pixel5'\)"),
        (lambda lines: lines.__setitem__(0, lines[0].rsplit(",", 1)[0]),
         r"line 1: not a digit-recognizer header \(it has 784 columns instead of 785\)"),
        (lambda lines: lines.pop(0),
         r"line 1: not a digit-recognizer header \(it has no header line"),
        (lambda lines: lines.__setitem__(2, lines[2].rsplit(",", 1)[0]),
         r"line 3: 784 values, but the header names 785 columns"),
        (lambda lines: lines.__setitem__(0, lines[0].split(",", 1)[1]),  # a test header over training rows
         r"line 2: 785 values, but the header names 784 columns"),
        (lambda lines: _replace_value(lines, 4, 6, "256"),
         r"line 4, column pixel5: 256 is outside 0\.\.255"),
        (lambda lines: _replace_value(lines, 3, 0, "-1"),
         r"line 3, column label: -1 is outside 0\.\.255"),
        (lambda lines: _replace_value(lines, 5, 784, "12.5"),
         r"line 5, column pixel783: '12.5' is not an integer"),
        (lambda lines: _replace_value(lines, 2, 100, ""),
         r"line 2, column pixel99: '' is not an integer"),
        (lambda lines: _replace_value(lines, 2, 1, "x"),
         r"line 2, column pixel0: 'x' is not an integer"),
    ],
    ids=["misspelt-column", "short-header", "no-header", "short-row", "header-row-mismatch",
         "above-255", "negative", "decimal", "empty-value", "text"],
)
def test_a_malformed_file_is_refused_naming_the_line(small_csv, corrupt, message):
    path, lines = small_csv
    corrupt(lines)
    rewrite(path, lines)
    with pytest.raises(ValueError, match=message) as caught:
        read_csv(path)
    assert str(path) in str(caught.value)


def test_an_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ValueError, match="is empty; a digit-recognizer CSV starts with a header"):
        read_csv(path)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (lambda x, y: (x.astype(np.int16), y), "images must be uint8 of shape \\(N, 28, 28\\)"),
        (lambda x, y: (x.reshape(-1, 784), y), "images must be uint8 of shape \\(N, 28, 28\\)"),
        (lambda x, y: (x, y[:-1]), "labels must be 4 integer class indices"),
        (lambda x, y: (x, y + 300), "labels run from 300 to 307"),
    ],
)
def test_bad_input_is_refused_and_leaves_an_existing_file_alone(small_csv, mnist_test, arguments, message):
    path, lines = small_csv
    before = path.read_bytes()
    with pytest.raises(ValueError, match=message):
        write_csv(path, *arguments(mnist_test.images[:4], mnist_test.labels[:4]))
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["train.csv"]


def test_a_write_that_fails_at_the_end_leaves_no_partial_file(tmp_path, mnist_test):
    # Every row is written, then the final rename fails: a directory is in the way.
    target = tmp_path / "train.csv"
    target.mkdir()
    with pytest.raises(IsADirectoryError):
        write_csv(target, mnist_test.images[:100], mnist_test.labels[:100])
    assert [p.name for p in tmp_path.iterdir()] == ["train.csv"]
    assert target.is_dir() and not any(target.iterdir())
