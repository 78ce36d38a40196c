"""How training went: per-epoch curves, the learning rate, and per-batch loss."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from numpy.typing import ArrayLike

from labkit.plot._figure import new_figure
from labkit.plot._inputs import check_positive_int
from labkit.plot._style import NEUTRAL, SMOOTHED, TRAIN, VALIDATION

LEARNING_RATE_KEYS = ("learning_rate", "lr")
"""Where the learning rate is logged: Keras 3 (ReduceLROnPlateau) and older code."""


def history(history, metrics: str | Sequence[str] = ("loss", "accuracy"), *,
            title: str | None = None) -> Figure:
    """Training curves, train against validation, one panel per metric.

    A validation curve is drawn wherever ``val_<metric>`` was logged. When a
    learning rate was logged (``learning_rate`` or ``lr``, as
    ``ReduceLROnPlateau`` does), a last panel shows it on a log scale, so a drop
    in the rate can be matched with the bend in the curves.

    Parameters
    ----------
    history : keras.callbacks.History or mapping of str to list of float
        What ``model.fit`` returns, or its ``.history`` dict; a PyTorch loop
        can log the same dict, e.g. ``{"loss": [...], "val_loss": [...]}``.
    metrics : str or sequence of str
        The logged metrics to draw, without the ``val_`` prefix.
    title : str, optional
        A title over all panels.

    Returns
    -------
    Figure
    """
    logs = _logs(history)
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    missing = [metric for metric in metrics if metric not in logs]
    if missing:
        raise ValueError(
            f"The history has no {', '.join(map(repr, missing))}; it logged {sorted(logs)}. "
            "Pass metrics= with names from that list (Keras logs the metrics given to model.compile)."
        )
    rate_key = next((key for key in LEARNING_RATE_KEYS if key in logs), None)
    panels = len(metrics) + (rate_key is not None)
    fig = new_figure(4.0 * panels, 3.2)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        validation = f"val_{metric}"
        _draw_metric(ax, metric, _values(logs, metric),
                     _values(logs, validation) if validation in logs else None)
    if rate_key is not None:
        _draw_learning_rate(axes[-1], _values(logs, rate_key))
    if title:
        fig.suptitle(title)
    return fig


def batch_losses(losses: ArrayLike, smooth: int | None = 50, *, title: str | None = None) -> Figure:
    """The loss of every training batch, on a log scale, with a running mean.

    Per-batch losses span orders of magnitude and jump from batch to batch;
    the log axis shows the late, small improvements, and the running mean
    shows the trend through the noise (seed 004's ``plot_losses``).

    Parameters
    ----------
    losses : array-like of float
        One loss per batch, in training order (e.g. collected by a Keras
        callback's ``on_train_batch_end``).
    smooth : int or None
        Window, in batches, of the trailing mean drawn over the raw losses;
        ``None`` or 1 draws the raw losses only.
    title : str, optional

    Returns
    -------
    Figure
    """
    values = np.asarray(losses, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"losses must be a non-empty 1-D sequence, one per batch; got shape {values.shape}.")
    bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
    if bad.size:
        raise ValueError(
            f"The loss of batch {bad[0] + 1} is {values[bad[0]]}; a log axis needs positive, finite "
            "losses. A NaN or infinite loss means training diverged: lower the learning rate."
        )
    if smooth is not None:
        check_positive_int(smooth, "smooth")
    batches = np.arange(1, values.size + 1)
    fig = new_figure(6.4, 3.6)
    ax = fig.add_subplot()
    ax.plot(batches, values, color=TRAIN, linewidth=0.8, label="per batch")
    if smooth is not None and smooth > 1:
        ax.plot(batches, trailing_mean(values, smooth), color=SMOOTHED, linewidth=2,
                label=f"mean of last {smooth}")
    ax.set_yscale("log")
    ax.set(xlabel="batch", ylabel="loss", title=title or "Loss per batch")
    ax.legend()
    return fig


def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """The mean of each value and the ``window - 1`` before it (fewer at the start)."""
    totals = np.concatenate(([0.0], np.cumsum(values)))
    ends = np.arange(1, values.size + 1)
    starts = np.maximum(ends - window, 0)
    return (totals[ends] - totals[starts]) / (ends - starts)


def _logs(history) -> Mapping:
    """The per-epoch logs of a Keras ``History``, or the mapping itself."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, Mapping):
        raise TypeError(
            "history must be what model.fit returns (a Keras History) or a dict of per-epoch "
            f"lists such as {{'loss': [...], 'val_loss': [...]}}; got {type(history).__name__}."
        )
    return logs


def _values(logs: Mapping, key: str) -> np.ndarray:
    values = np.asarray(logs[key], dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"history[{key!r}] must hold one value per epoch; got shape {values.shape}.")
    return values


def _epochs(values: np.ndarray) -> np.ndarray:
    return np.arange(1, values.size + 1)


def _draw_metric(ax: Axes, metric: str, train: np.ndarray, validation: np.ndarray | None) -> None:
    ax.plot(_epochs(train), train, color=TRAIN, linewidth=2, marker=".", label="train")
    if validation is not None:
        ax.plot(_epochs(validation), validation, color=VALIDATION, linewidth=2, marker=".",
                label="validation")
    ax.set(title=metric.replace("_", " ").capitalize(), xlabel="epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()


def _draw_learning_rate(ax: Axes, rates: np.ndarray) -> None:
    ax.plot(_epochs(rates), rates, color=NEUTRAL, marker=".", drawstyle="steps-mid")
    ax.set_yscale("log")
    ax.set(title="Learning rate", xlabel="epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
