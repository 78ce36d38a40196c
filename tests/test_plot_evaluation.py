"""Confusion matrices, classification reports and model comparisons, checked against the numbers."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sklearn import metrics

import labkit.plot as lp
from labkit.plot._confusion import cell_font_size
from tests.plot_data import SIZES, load_test_split, simulated_predictions


@pytest.fixture(scope="module", params=list(SIZES))
def evaluated(request, mirror_dir):
    """First 3000 test labels of a dataset, with predictions about 15 % wrong."""
    _, labels, names = load_test_split(request.param, 3000)
    y_pred, _ = simulated_predictions(labels, len(names), error_rate=0.15, seed=7)
    return labels, names, y_pred


def drawn_matrix(fig) -> np.ndarray:
    return fig.axes[0].images[0].get_array()


def counted(y_true, y_pred, n):
    counts = np.zeros((n, n), dtype=int)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def test_confusion_matrix_counts_with_class_names_as_ticks(evaluated):
    labels, names, y_pred = evaluated
    fig = lp.confusion_matrix(labels, y_pred, names)
    ax = fig.axes[0]
    np.testing.assert_array_equal(drawn_matrix(fig), counted(labels, y_pred, len(names)))
    assert [t.get_text() for t in ax.get_xticklabels()] == list(names)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(names)
    assert len(fig.axes) == 2, "the matrix and its colorbar"
    assert f"accuracy {np.mean(labels == y_pred):.1%}" in ax.get_title()


def test_normalised_rows_are_percentages_of_the_true_class(evaluated):
    labels, names, y_pred = evaluated
    matrix = drawn_matrix(lp.confusion_matrix(labels, y_pred, names, normalize="true"))
    counts = counted(labels, y_pred, len(names))
    support = counts.sum(axis=1)
    present = support > 0
    np.testing.assert_allclose(matrix.sum(axis=1)[present], 100.0)
    np.testing.assert_allclose(matrix[present], 100.0 * counts[present] / support[present, None])
    assert np.all(matrix[~present] == 0)


def test_a_class_absent_from_the_labels_keeps_its_row_and_column(evaluated):
    labels, names, y_pred = evaluated
    last = len(names) - 1
    keep = (labels != last) & (y_pred != last)
    matrix = drawn_matrix(lp.confusion_matrix(labels[keep], y_pred[keep], names, normalize="true"))
    assert matrix.shape == (len(names), len(names))
    assert np.all(matrix[last] == 0) and np.all(matrix[:, last] == 0)
    assert matrix[0].sum() == pytest.approx(100.0)


def test_the_figure_grows_with_the_class_count_and_numbers_only_fill_cells_that_hold_them(evaluated):
    labels, names, y_pred = evaluated
    fig = lp.confusion_matrix(labels, y_pred, names)
    width, height = fig.get_size_inches()
    assert 6 < width <= 20 and 5 < height <= 20
    if len(names) > 10:
        small = lp.confusion_matrix(labels % 10, y_pred % 10)
        assert width > small.get_size_inches()[0]
    counts = counted(labels, y_pred, len(names))
    written = {}
    for text in fig.axes[0].texts:
        column, row = text.get_position()
        written[row, column] = int(text.get_text())
    assert written == {(row, column): counts[row, column] for row, column in zip(*np.nonzero(counts))}


def test_cell_numbers_shrink_with_the_cell_and_vanish_when_they_cannot_be_read():
    assert cell_font_size(0.5, 3) == 9.0
    assert 6.0 <= cell_font_size(0.25, 4) < cell_font_size(0.25, 3)
    assert cell_font_size(0.2, 5) is None


def test_most_confused_pairs_are_ordered_by_count_then_rate(evaluated):
    labels, names, y_pred = evaluated
    pairs = lp.most_confused_pairs(labels, y_pred, names, k=8)
    mistakes = Counter((t, p) for t, p in zip(labels.tolist(), y_pred.tolist()) if t != p)
    support = Counter(labels.tolist())
    def importance(item):
        (true, predicted), count = item
        return -count, -count / support[true], true, predicted

    expected = sorted(mistakes.items(), key=importance)[:8]
    assert [(p.true, p.predicted, p.count) for p in pairs] == [
        (names[t], names[q], count) for (t, q), count in expected]
    assert [p.rate for p in pairs] == pytest.approx([count / support[t] for (t, _), count in expected])


def test_most_confused_pairs_find_a_planted_lookalike(mirror_dir):
    _, labels, names = load_test_split("emnist-bymerge", 5000)
    y_pred, _ = simulated_predictions(labels, len(names), error_rate=0.05, seed=3)
    letter_o, digit_0 = names.index("O"), names.index("0")
    o_images = np.flatnonzero(labels == letter_o)
    y_pred[o_images[: len(o_images) // 2]] = digit_0
    top = lp.most_confused_pairs(labels, y_pred, names, k=3)[0]
    assert (top.true, top.predicted) == ("O", "0")
    assert top.rate == pytest.approx(np.mean(y_pred[o_images] == digit_0))
    assert lp.most_confused_pairs(labels, labels, names) == []


def test_classification_report_equals_scikit_learn(evaluated):
    labels, names, y_pred = evaluated
    report = lp.classification_report(labels, y_pred, names)
    reference = metrics.classification_report(labels, y_pred, labels=range(len(names)), target_names=names,
                                              output_dict=True, zero_division=0)
    for i, name in enumerate(names):
        assert (report.precision[i], report.recall[i], report.f1[i], report.support[i]) == pytest.approx(
            (reference[name]["precision"], reference[name]["recall"], reference[name]["f1-score"],
             reference[name]["support"]))
    for average in ("weighted", "macro"):
        ours, theirs = getattr(report, average), reference[f"{average} avg"]
        assert (ours.precision, ours.recall, ours.f1) == pytest.approx(
            (theirs["precision"], theirs["recall"], theirs["f1-score"]))
    assert report.accuracy == pytest.approx(np.mean(labels == y_pred))
    table = str(report).splitlines()
    assert len(table) == 1 + 1 + len(names) + 1 + 3
    assert table[2].split() == [names[0], f"{report.precision[0]:.3f}", f"{report.recall[0]:.3f}",
                                f"{report.f1[0]:.3f}", str(report.support[0])]


def test_classification_report_figure_draws_a_bar_per_class_and_score(evaluated):
    labels, names, y_pred = evaluated
    report = lp.classification_report(labels, y_pred, names)
    fig = lp.classification_report_figure(labels, y_pred, names, scores=("precision", "recall", "f1"))
    ax = fig.axes[0]
    heights = [bar.get_height() for bar in ax.patches]
    np.testing.assert_allclose(heights, np.concatenate([report.precision, report.recall, report.f1]))
    assert [t.get_text() for t in ax.get_xticklabels()] == list(names)
    averages = sorted(line.get_ydata()[0] for line in ax.lines)
    assert averages == pytest.approx(sorted(vars(report.weighted).values()))
    with pytest.raises(ValueError, match="scores must be chosen from"):
        lp.classification_report_figure(labels, y_pred, names, scores="f1-score")


RESULTS = {
    "CNN": {"train": 0.9952, "validation": 0.9921, "test": 0.9917},
    "CNN + LR annealing": {"train": 0.9975, "validation": 0.9945, "test": 0.9941},
    "CNN + LR + augmentation": {"train": 0.9961, "validation": 0.9957},
}


def test_compare_models_draws_annotated_bars_per_split():
    fig = lp.compare_models(RESULTS)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(RESULTS)
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["train", "validation", "test"]
    heights = [bar.get_height() for bar in ax.patches]
    expected = [100 * scores.get(split, np.nan) for split in ("train", "validation", "test")
                for scores in RESULTS.values()]
    np.testing.assert_allclose(heights, expected)
    annotations = [text.get_text() for text in ax.texts if text.get_text()]
    assert annotations == [f"{value:.2f}" for value in expected if not np.isnan(value)]
    bottom, top = ax.get_ylim()
    assert 90 < bottom < 99.17 and top > 99.75


def test_comparison_table_lists_every_model_in_percent():
    lines = lp.comparison_table(RESULTS).splitlines()
    assert lines[0].split("  ")[0] == "Model" and lines[0].endswith("Test accuracy")
    assert lines[2].split() == ["CNN", "99.52%", "99.21%", "99.17%"]
    assert lines[4].split()[-3:] == ["99.61%", "99.57%", "-"]


@pytest.mark.parametrize("results, message", [
    ({"CNN": {"train": 99.5}}, "fractions"),
    ({"CNN": {"val": 0.99}}, "unknown splits"),
    ({}, "non-empty"),
])
def test_model_results_are_checked(results, message):
    with pytest.raises(ValueError, match=message):
        lp.comparison_table(results)
