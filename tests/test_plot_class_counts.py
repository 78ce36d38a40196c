"""labkit.plot.class_counts: one bar per class, as many examples as the class has, on real EMNIST labels."""

from __future__ import annotations

import numpy as np
import pytest

import labkit


def test_bars_count_the_examples_of_every_class_in_order(mirror_dir):
    _, labels = labkit.data.load("emnist-bymerge", "test")
    names = labkit.data.class_names("emnist-bymerge")

    fig = labkit.plot.class_counts(labels, names)

    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert heights == np.bincount(labels, minlength=47).tolist()
    assert [tick.get_text() for tick in fig.axes[0].get_xticklabels()] == list(names)
    assert "'1' has" in fig.axes[0].get_title() and "fewer" in fig.axes[0].get_title()
    assert fig._repr_png_().startswith(b"\x89PNG")  # shows itself in a notebook without pyplot


def test_a_class_without_examples_gets_a_zero_bar_and_the_title_says_so():
    fig = labkit.plot.class_counts([0, 0, 2], ["a", "b", "c"])

    assert [bar.get_height() for bar in fig.axes[0].patches] == [2, 0, 1]
    assert "'b' has none" in fig.axes[0].get_title()


def test_one_hot_labels_are_refused_with_a_hint():
    with pytest.raises(ValueError, match="argmax"):
        labkit.plot.class_counts(np.eye(3))
