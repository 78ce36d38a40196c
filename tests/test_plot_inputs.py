"""labkit.plot's shared ground: input checks, class names, figures without pyplot, tables."""

from __future__ import annotations

import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest

import labkit.plot as lp
from labkit.plot._history import trailing_mean
from labkit.plot._image_grid import as_image, as_images
from labkit.plot._inputs import as_labels, as_probabilities, class_names_for
from labkit.plot._style import percent
from labkit.plot._table import format_table
from tests.plot_data import load_test_split, simulated_predictions


@pytest.fixture(scope="module")
def mnist(mirror_dir):
    images, labels, names = load_test_split("mnist", 200)
    y_pred, probabilities = simulated_predictions(labels, 10, error_rate=0.2)
    return images, labels, names, y_pred, probabilities


def test_importing_labkit_plot_loads_no_framework_and_no_pyplot():
    code = ("import sys, labkit.plot; heavy = ('tensorflow', 'keras', 'torch', 'matplotlib.pyplot'); "
            "print(sorted(m for m in heavy if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_figures_stay_out_of_pyplot_and_render_as_png_for_notebooks(mnist):
    images, labels, names, y_pred, probabilities = mnist
    plt.close("all")
    figures = [lp.images(images[:8], labels[:8], names), lp.confusion_matrix(labels, y_pred, names),
               lp.predictions(images[:4], probabilities[:4], labels[:4], names)]
    assert plt.get_fignums() == []
    png = figures[0]._repr_png_()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000


def test_labels_are_checked_with_advice():
    assert as_labels(np.array([[3], [1]]), "y").tolist() == [3, 1]
    assert as_labels(np.array([2.0, 0.0]), "y").dtype == np.int64
    with pytest.raises(ValueError, match=r"one-hot.*argmax\(axis=1\)"):
        as_labels(np.eye(10)[[1, 2, 3]], "y_true")
    with pytest.raises(ValueError, match="negative label -1"):
        as_labels([0, -1], "y_pred")
    with pytest.raises(ValueError, match="integer class labels"):
        as_labels([0.5, 1.0], "labels")


def test_probabilities_must_be_softmax_outputs(mnist):
    *_, probabilities = mnist
    assert as_probabilities(probabilities[:1], ndim=1).shape == (10,)  # model.predict on one image
    logits = np.log(probabilities)
    with pytest.raises(ValueError, match="apply a softmax"):
        as_probabilities(logits)
    with pytest.raises(ValueError, match=r"shape \(n_images, n_classes\)"):
        as_probabilities(probabilities[0])


def test_class_names_must_cover_every_label():
    assert class_names_for(None, y=np.array([0, 4])) == ("0", "1", "2", "3", "4")
    assert class_names_for("0123456789ABC", y=np.array([12]))[12] == "C"
    with pytest.raises(ValueError, match=r"label 46, but there are only 10 classes"):
        class_names_for(tuple("0123456789"), y_true=np.array([3, 46]))
    with pytest.raises(ValueError, match="10 class names were given for 47 classes"):
        class_names_for(tuple("0123456789"), 47)


def test_mismatched_lengths_are_reported_by_argument(mnist):
    images, labels, names, y_pred, probabilities = mnist
    with pytest.raises(ValueError, match="images=200, labels=199"):
        lp.images(images, labels[:-1], names)
    with pytest.raises(ValueError, match="y_true=200, y_pred=150"):
        lp.confusion_matrix(labels, y_pred[:150], names)
    with pytest.raises(ValueError, match="probabilities=100"):
        lp.predictions(images, probabilities[:100], labels, names)


def test_every_framework_layout_is_drawn_as_the_same_image(mnist):
    images = mnist[0][:3]
    for layout in (images[..., np.newaxis], images[:, np.newaxis], images.reshape(3, 784)):
        np.testing.assert_array_equal(as_images(layout), images)
    np.testing.assert_array_equal(as_image(images[0].reshape(28, 28, 1)), images[0])
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        as_images(images.reshape(3, 784)[:, :700])  # 700 pixels are no square image
    with pytest.raises(ValueError, match="empty"):
        as_images(images[:0])


def test_trailing_mean_averages_the_last_window_values():
    values = np.random.default_rng(1).lognormal(size=40)
    expected = [values[max(0, i - 9):i + 1].mean() for i in range(40)]
    np.testing.assert_allclose(trailing_mean(values, 10), expected)


def test_tables_align_names_left_and_numbers_right():
    table = format_table(["Model", "Test"], [["CNN", "99.17%"], ["Dense", "9.5%"]], [["mean", "54.3%"]])
    lines = table.splitlines()
    assert lines[0] == "Model    Test"
    assert lines[2] == "CNN    99.17%"
    assert lines[3] == "Dense    9.5%"
    assert set(lines[1]) == {"-"} and lines[4] == lines[1] and lines[5] == "mean    54.3%"


def test_percentages_never_round_to_certainty():
    shown = [percent(p) for p in (0.5, 0.987, 0.9996, 1.0, 0.004, 0.0)]
    assert shown == ["50%", "99%", ">99%", "100%", "<1%", "0%"]
