"""What the model predicted for individual images, and where it went wrong."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from labkit.plot._figure import message_figure, new_figure
from labkit.plot._image_grid import as_image, as_images, draw_image, image_grid
from labkit.plot._inputs import (
    as_labels,
    as_probabilities,
    check_positive_int,
    check_same_length,
    class_names_for,
    true_and_predicted,
)
from labkit.plot._style import BACKGROUND_BAR, CORRECT, WRONG, outcome_color, percent


def prediction(image: ArrayLike, probabilities: ArrayLike, true_label: int | None = None,
               class_names: Sequence[str] | None = None, *, top_k: int = 5) -> Figure:
    """One image beside the model's most probable classes.

    The predicted class's bar is blue when it is the true class and red when
    it is not; the true class's bar is blue. A true class outside the top
    ``top_k`` gets a bar of its own at the bottom, so that a confident mistake
    shows how little probability the right answer received.

    Parameters
    ----------
    image : array-like
        One image, ``(H, W)``, with a channel axis, or flattened.
    probabilities : array-like of float, shape (n_classes,)
        The model's softmax output for this image (``(1, n_classes)`` is fine).
    true_label : int, optional
        The correct class, when known.
    class_names : sequence of str, optional
        One name per class.
    top_k : int
        How many of the most probable classes get a bar.

    Returns
    -------
    Figure
    """
    picture = as_image(image)
    probabilities = as_probabilities(probabilities, ndim=1)
    check_positive_int(top_k, "top_k")
    if true_label is None:
        names = class_names_for(class_names, len(probabilities))
    else:
        truth = as_labels([true_label], "true_label")
        names = class_names_for(class_names, len(probabilities), true_label=truth)
        true_label = int(truth[0])
    predicted = int(np.argmax(probabilities))
    correct = None if true_label is None else predicted == true_label

    shown = top_classes(probabilities, top_k, also=true_label)
    fig = new_figure(6.4, max(2.6, 0.3 * len(shown) + 1.0))
    image_ax, bar_ax = fig.subplots(1, 2, width_ratios=(1.0, 1.5))
    draw_image(image_ax, picture)
    image_ax.set_title(prediction_title(names, predicted, probabilities[predicted], true_label),
                       color=outcome_color(correct))
    colors = [_bar_color(label, predicted, true_label) for label in shown]
    positions = np.arange(len(shown))
    bars = bar_ax.barh(positions, probabilities[shown], color=colors)
    bar_ax.bar_label(bars, [percent(p) for p in probabilities[shown]], padding=2, fontsize=8)
    bar_ax.set_yticks(positions, [names[label] for label in shown])
    bar_ax.invert_yaxis()
    bar_ax.set_xlim(0.0, 1.18)
    bar_ax.set_xticks([0.0, 0.5, 1.0])
    bar_ax.set_xlabel("probability")
    bar_ax.spines[["top", "right"]].set_visible(False)
    return fig


def predictions(images: ArrayLike, probabilities: ArrayLike, true_labels: ArrayLike,
                class_names: Sequence[str] | None = None, *, ncols: int = 5, max_images: int = 25,
                title: str | None = None) -> Figure:
    """A grid of images titled "predicted confidence% (true)": blue when right, red when wrong.

    Works for any number of classes (seed 003's ``plot_image_prediction``
    assumed ten). Note how confident some wrong predictions are.

    Parameters
    ----------
    images : array-like
        A batch of images.
    probabilities : array-like of float, shape (n_images, n_classes)
        The model's softmax outputs, e.g. ``model.predict(images)``.
    true_labels : array-like of int
        The correct class of each image.
    class_names : sequence of str, optional
        One name per class.
    ncols : int
        Images per row.
    max_images : int
        Only the first ``max_images`` images are drawn.
    title : str, optional

    Returns
    -------
    Figure
    """
    pictures = as_images(images)
    probabilities = as_probabilities(probabilities)
    truth = as_labels(true_labels, "true_labels")
    check_same_length(images=pictures, probabilities=probabilities, true_labels=truth)
    names = class_names_for(class_names, probabilities.shape[1], true_labels=truth)
    check_positive_int(max_images, "max_images")
    predicted = probabilities.argmax(axis=1)
    shown = range(min(max_images, len(pictures)))
    titles = [prediction_title(names, predicted[i], probabilities[i, predicted[i]], truth[i]) for i in shown]
    colors = [outcome_color(bool(predicted[i] == truth[i])) for i in shown]
    return image_grid(pictures[:len(shown)], titles, colors, ncols=ncols, title=title, panel_inches=1.5)


def misclassified(images: ArrayLike, y_true: ArrayLike, y_pred: ArrayLike,
                  probabilities: ArrayLike | None = None, class_names: Sequence[str] | None = None, *,
                  max_images: int = 25, ncols: int = 5, title: str | None = None) -> Figure:
    """A gallery of the model's mistakes, titled "true → predicted (confidence%)".

    With ``probabilities`` the most confident mistakes come first: they are
    the most instructive (a mislabelled image, or two classes the model
    cannot tell apart). Without them, mistakes keep their order.

    Parameters
    ----------
    images : array-like
        A batch of images.
    y_true, y_pred : array-like of int
        The correct and the predicted class of each image.
    probabilities : array-like of float, shape (n_images, n_classes), optional
        The model's softmax outputs; the confidence shown is that of ``y_pred``.
    class_names : sequence of str, optional
        One name per class.
    max_images : int
        How many mistakes to draw.
    ncols : int
        Images per row.
    title : str, optional
        Defaults to how many images were misclassified.

    Returns
    -------
    Figure
        A short message instead of a gallery when there are no mistakes.
    """
    pictures = as_images(images)
    if probabilities is None:
        y_true, y_pred, names = true_and_predicted(y_true, y_pred, class_names)
        check_same_length(images=pictures, y_true=y_true)
    else:
        probabilities = as_probabilities(probabilities)
        y_true, y_pred, names = true_and_predicted(y_true, y_pred, class_names, probabilities.shape[1])
        check_same_length(images=pictures, y_true=y_true, probabilities=probabilities)
    check_positive_int(max_images, "max_images")

    mistakes = mistakes_by_confidence(y_true, y_pred, probabilities)
    if mistakes.size == 0:
        return message_figure(f"No misclassified images: all {len(y_true)} predictions are correct.")
    shown = mistakes[:max_images]
    titles = []
    for i in shown:
        text = f"{names[y_true[i]]} → {names[y_pred[i]]}"
        if probabilities is not None:
            text += f" ({percent(probabilities[i, y_pred[i]])})"
        titles.append(text)
    if title is None:
        order = ", most confident first" if probabilities is not None else ""
        title = f"{mistakes.size} of {len(y_true)} images misclassified{order}"
    return image_grid(pictures[shown], titles, [WRONG] * len(shown), ncols=ncols, title=title,
                      panel_inches=1.5)


def mistakes_by_confidence(y_true: np.ndarray, y_pred: np.ndarray,
                           probabilities: np.ndarray | None = None) -> np.ndarray:
    """Indices of the wrong predictions, most confident first (in order without probabilities)."""
    wrong = np.flatnonzero(y_true != y_pred)
    if probabilities is None:
        return wrong
    confidence = probabilities[wrong, y_pred[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")]


def top_classes(probabilities: np.ndarray, k: int, also: int | None = None) -> np.ndarray:
    """The ``k`` most probable classes, most probable first, then ``also`` if it is not among them."""
    top = np.argsort(-probabilities, kind="stable")[:k]
    if also is not None and also not in top:
        top = np.append(top, also)
    return top


def prediction_title(names: Sequence[str], predicted: int, confidence: float,
                     true_label: int | None) -> str:
    """``"7 99% (7)"``: predicted class, its probability and, when known, the true class."""
    text = f"{names[predicted]} {percent(confidence)}"
    return text if true_label is None else f"{text} ({names[true_label]})"


def _bar_color(label: int, predicted: int, true_label: int | None) -> str:
    if label == predicted:
        return outcome_color(None if true_label is None else predicted == true_label)
    return CORRECT if label == true_label else BACKGROUND_BAR
