"""Image grids and predictions on genuine MNIST and EMNIST images, for 10, 47 and 62 classes."""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.colors import same_color

import labkit.plot as lp
from labkit.plot._style import BACKGROUND_BAR, CORRECT, NEUTRAL, WRONG, percent
from tests.plot_data import SIZES, load_test_split, simulated_predictions


@pytest.fixture(scope="module", params=list(SIZES))
def evaluated(request, mirror_dir):
    """First 300 test images of a dataset, with predictions about 25 % wrong."""
    images, labels, names = load_test_split(request.param, 300)
    y_pred, probabilities = simulated_predictions(labels, len(names), error_rate=0.25)
    return images, labels, names, y_pred, probabilities


def titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


def test_images_are_titled_with_their_class_names(evaluated):
    images, labels, names, *_ = evaluated
    fig = lp.images(images[:23], labels[:23], names, ncols=6, title="A first look")
    assert len(fig.axes) == 23
    assert titles(fig) == [names[label] for label in labels[:23]]
    np.testing.assert_array_equal(fig.axes[5].images[0].get_array(), images[5])
    assert fig._suptitle.get_text() == "A first look"


def test_images_without_labels_and_the_max_images_guard(evaluated):
    images = evaluated[0]
    fig = lp.images(images, max_images=12)
    assert len(fig.axes) == 12 and set(titles(fig)) == {""}
    with pytest.raises(ValueError, match="pass labels as well"):
        lp.images(images[:4], class_names=evaluated[2])


def test_prediction_titles_are_blue_when_right_and_red_when_wrong(evaluated):
    images, labels, names, y_pred, probabilities = evaluated
    fig = lp.predictions(images, probabilities, labels, names, max_images=30)
    assert len(fig.axes) == 30
    for ax, truth, predicted, p in zip(fig.axes, labels, y_pred, probabilities):
        assert ax.get_title() == f"{names[predicted]} {percent(p[predicted])} ({names[truth]})"
        assert same_color(ax.title.get_color(), CORRECT if predicted == truth else WRONG)
    colours = {same_color(ax.title.get_color(), WRONG) for ax in fig.axes}
    assert colours == {True, False}, "the sample should hold right and wrong predictions"


def test_prediction_bars_are_the_top_probabilities(evaluated):
    images, labels, names, y_pred, probabilities = evaluated
    right = int(np.flatnonzero(y_pred == labels)[0])
    fig = lp.prediction(images[right], probabilities[right], labels[right], names, top_k=4)
    image_ax, bar_ax = fig.axes
    expected = np.sort(probabilities[right])[::-1][:4]
    np.testing.assert_allclose([bar.get_width() for bar in bar_ax.patches], expected)
    assert [t.get_text() for t in bar_ax.get_yticklabels()] == [
        names[c] for c in np.argsort(-probabilities[right])[:4]]
    assert same_color(bar_ax.patches[0].get_facecolor(), CORRECT)
    assert all(same_color(bar.get_facecolor(), BACKGROUND_BAR) for bar in bar_ax.patches[1:])
    assert same_color(image_ax.title.get_color(), CORRECT)


def test_a_wrong_prediction_shows_the_true_class_even_outside_the_top_k(evaluated):
    images, labels, names, y_pred, probabilities = evaluated
    ranks = np.argsort(-probabilities, axis=1)
    far = int(np.flatnonzero([labels[i] not in ranks[i, :3] for i in range(len(labels))])[0])
    fig = lp.prediction(images[far], probabilities[far], labels[far], names, top_k=3)
    image_ax, bar_ax = fig.axes
    bars = bar_ax.patches
    assert len(bars) == 4
    assert bar_ax.get_yticklabels()[-1].get_text() == names[labels[far]]
    assert bars[-1].get_width() == pytest.approx(probabilities[far, labels[far]])
    assert same_color(bars[0].get_facecolor(), WRONG) and same_color(bars[-1].get_facecolor(), CORRECT)
    assert same_color(image_ax.title.get_color(), WRONG)


def test_a_prediction_without_truth_is_neutral(evaluated):
    images, _, names, y_pred, probabilities = evaluated
    fig = lp.prediction(images[0], probabilities[0:1], class_names=names)
    assert fig.axes[0].get_title() == f"{names[y_pred[0]]} {percent(probabilities[0, y_pred[0]])}"
    assert same_color(fig.axes[1].patches[0].get_facecolor(), NEUTRAL)


def test_misclassified_shows_the_most_confident_mistakes_first(evaluated):
    images, labels, names, y_pred, probabilities = evaluated
    wrong = y_pred != labels
    fig = lp.misclassified(images, labels, y_pred, probabilities, names, max_images=12)
    assert len(fig.axes) == 12
    confidences = np.sort(probabilities[wrong, y_pred[wrong]])[::-1][:12]
    shown = [re.fullmatch(r"(.+) → (.+) \((.+)\)", title).groups() for title in titles(fig)]
    assert all(true_name != predicted_name for true_name, predicted_name, _ in shown)
    assert [confidence for *_, confidence in shown] == [percent(c) for c in confidences]
    assert fig._suptitle.get_text() == f"{wrong.sum()} of 300 images misclassified, most confident first"


def test_misclassified_without_probabilities_keeps_the_order(evaluated):
    images, labels, names, y_pred, _ = evaluated
    first = np.flatnonzero(y_pred != labels)[:5]
    fig = lp.misclassified(images, labels, y_pred, class_names=names, max_images=5)
    assert titles(fig) == [f"{names[labels[i]]} → {names[y_pred[i]]}" for i in first]


def test_no_mistakes_gives_a_message_not_an_empty_grid(evaluated):
    images, labels, names, *_ = evaluated
    fig = lp.misclassified(images, labels, labels, class_names=names)
    assert fig.axes == [] and "all 300 predictions are correct" in fig.texts[0].get_text()
