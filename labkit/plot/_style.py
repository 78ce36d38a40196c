"""The visual vocabulary every plot shares: what a colour means, how big text is.

Keeping these in one place means "blue" means "correct" in every figure of
every lab, and a change of palette is a one-line edit.
"""

from __future__ import annotations

from collections.abc import Sequence

CORRECT = "tab:blue"
"""Colour of a correct prediction (titles, bars)."""

WRONG = "tab:red"
"""Colour of a wrong prediction."""

NEUTRAL = "0.35"
"""Colour of a prediction whose truth is unknown."""

BACKGROUND_BAR = "0.8"
"""Colour of bars that are context rather than the point of the plot."""

SPLIT_COLORS = {"train": "lightblue", "validation": "steelblue", "test": "navy"}
"""One colour per data split, light to dark, as in seed 004's charts."""

TRAIN = SPLIT_COLORS["train"]
VALIDATION = SPLIT_COLORS["validation"]

SMOOTHED = "tab:orange"
"""Colour of a smoothed curve drawn over its noisy raw values."""

SCORE_COLORS = {"precision": "tab:purple", "recall": "tab:green", "f1": "tab:blue"}
"""One colour per classification score."""

CMAP_IMAGES = "binary"
"""Grey-level images drawn dark on white, as printed digits are."""

CMAP_MATRIX = "Blues"
"""Light for rare, dark for frequent: the diagonal of a good model stands out."""

TITLE_SIZE = 9
"""Font size of the small titles over image panels."""


def outcome_color(correct: bool | None) -> str:
    """The colour that says whether a prediction was right (``None``: not known)."""
    if correct is None:
        return NEUTRAL
    return CORRECT if correct else WRONG


def percent(fraction: float) -> str:
    """A probability as a whole percentage, as titles show it: ``0.987 -> '99%'``.

    Rounding must not overstate: a model 99.7 % sure is not certain, so what
    would round to 100 % (or 0 %) without being exactly that reads ``>99%``
    (or ``<1%``).
    """
    text = f"{fraction:.0%}"
    if text == "100%" and fraction < 1:
        return ">99%"
    if text == "0%" and fraction > 0:
        return "<1%"
    return text


def fitting_font_size(n_labels: int, axis_inches: float, *, largest: float = 10.0,
                      smallest: float = 5.0) -> float:
    """A font size at which ``n_labels`` tick labels fit side by side along an axis.

    Fixed font sizes are what make a 62-class plot unreadable: the labels
    overlap into a black bar. Each label gets about half its slot, in points.
    """
    slot_points = axis_inches * 72.0 / max(n_labels, 1)
    return float(min(largest, max(smallest, 0.55 * slot_points)))


def x_label_rotation(labels: Sequence[str]) -> int:
    """Degrees to turn x tick labels: upright for digits and letters, vertical for longer names."""
    return 90 if max(map(len, labels), default=0) > 2 else 0
