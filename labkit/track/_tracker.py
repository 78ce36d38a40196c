"""The record of one training run, which can never break the notebook that keeps it."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from labkit.track import _comet

if TYPE_CHECKING:
    import keras
    from matplotlib.figure import Figure

Mode = Literal["online", "offline", "off"]
T = TypeVar("T")


class TrackingWarning(UserWarning):
    """Comet tracking fell back or stopped; training itself is unaffected."""


class Tracker:
    """One run's parameters, metrics, figures and model on Comet, or nowhere.

    Made by :func:`labkit.track.start`. Every method is safe to call in any
    mode: when tracking is off they do nothing, and when a Comet call fails the
    error becomes one :class:`TrackingWarning` and the tracker turns itself
    off, so that a lab never fails because of its bookkeeping.

    Use it as a context manager to end the run however the block exits::

        with labkit.track.start(course="dl101", lab="lab2", lr=0.01) as run:
            model.fit(..., callbacks=[run.keras_callback()])

    Attributes
    ----------
    name : str
        The experiment's name on Comet: course, lab and student.
    mode : {"online", "offline", "off"}
        Where the run goes now; ``"off"`` from the first failed Comet call on.
    reason : str
        Why it goes there, in words.
    archive : Path or None
        After :meth:`end`, the offline archive to upload with ``comet upload``.
    """

    def __init__(self, experiment: Any | None, *, name: str, mode: Mode, reason: str) -> None:
        self.name = name
        self.mode: Mode = mode if experiment is not None else "off"
        self.reason = reason
        self.archive: Path | None = None
        self._experiment = experiment
        self._archive_destination = _comet.archive_path(experiment) if self.mode == "offline" else None

    @classmethod
    def off(cls, name: str, reason: str) -> Tracker:
        """A tracker that records nothing, with the same methods as one that does."""
        return cls(None, name=name, mode="off", reason=reason)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log hyperparameters, e.g. ``{"learning_rate": 0.01, "batch_size": 64}``."""
        self._safely("log parameters", lambda experiment: experiment.log_parameters(dict(params)))

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None,
                    epoch: int | None = None) -> None:
        """Log metric values, e.g. ``{"loss": 0.31, "val_accuracy": 0.91}``, at a step and epoch.

        Values may be NumPy, TensorFlow or PyTorch scalars; comet_ml converts them.
        """
        self._safely("log metrics",
                     lambda experiment: experiment.log_metrics(dict(metrics), step=step, epoch=epoch))

    def log_step(self, step: int, *, epoch: int | None = None, **metrics: Any) -> None:
        """Log one step of a loop of your own (``tf.GradientTape`` or PyTorch): ``run.log_step(i, loss=loss)``."""
        self.log_metrics(metrics, step=step, epoch=epoch)

    def keras_callback(self) -> keras.callbacks.Callback:
        """A Keras callback that logs each epoch's metrics (``loss``, ``val_accuracy``, ...), epochs counted from 1."""
        import keras

        return keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: self.log_metrics(logs or {}, step=epoch + 1, epoch=epoch + 1),
        )

    def log_confusion_matrix(self, y_true: Sequence[int], y_pred: Sequence[int],
                             class_names: Sequence[str], *, title: str = "Confusion matrix",
                             step: int | None = None) -> None:
        """Log a confusion matrix of integer labels, every class shown (Comet stops at 25 unless told).

        Parameters
        ----------
        y_true, y_pred : array-like of int
            True and predicted class indices, one per example.
        class_names : sequence of str
            The name of each class index, e.g. ``labkit.data.class_names("mnist")``.
        title : str
        step : int, optional
        """
        self._safely("log the confusion matrix", lambda experiment: experiment.log_confusion_matrix(
            y_true=np.asarray(y_true).tolist(), y_predicted=np.asarray(y_pred).tolist(),
            labels=[str(name) for name in class_names], max_categories=len(class_names),
            title=title, step=step))

    def log_figure(self, figure: Figure, name: str, *, step: int | None = None) -> None:
        """Log a matplotlib figure, such as one from :mod:`labkit.plot`, under ``name``."""
        self._safely("log a figure",
                     lambda experiment: experiment.log_figure(figure_name=name, figure=figure, step=step))

    def log_images(self, images: Sequence[Any], labels: Sequence[Any] | None = None, *,
                   name: str = "sample", step: int | None = None) -> None:
        """Log images one by one, e.g. sample predictions, named ``<name>-<i>`` or ``<name>-<i>-<label>``.

        Parameters
        ----------
        images : sequence of array-like
            Images of shape ``(H, W)`` or ``(H, W, C)``, e.g. ``x_test[:8]``.
        labels : sequence, optional
            One label per image, added to its name (a class name or a "true/predicted" note).
        name : str
        step : int, optional
        """
        def log_all(experiment: Any) -> None:
            for index, image in enumerate(images):
                suffix = "" if labels is None else f"-{labels[index]}"
                experiment.log_image(np.asarray(image), name=f"{name}-{index}{suffix}", step=step)

        self._safely("log images", log_all)

    def log_model_summary(self, model: Any) -> None:
        """Log a Keras or PyTorch model's layers as text, shown in Comet's *Graph definition* tab."""
        self._safely("log the model summary", lambda experiment: experiment.set_model_graph(model_summary(model)))

    def end(self) -> Path | None:
        """End the run and return its offline archive, if one was written; ending twice is harmless.

        An offline run prints one line, with the command that uploads its archive,
        in place of comet_ml's progress messages.

        A run that stopped after an error is still ended, so that what was
        logged before the error is kept. Upload an archive later, from a
        machine with a network and an API key, with ``comet upload <archive>``.
        """
        ending = self._experiment
        quietly = _comet.without_progress_messages() if self.mode == "offline" else nullcontext()
        with quietly:
            self._safely("end the run", lambda experiment: experiment.end(), even_if_stopped=True)
        self._experiment = None
        if ending is not None and self._archive_destination is not None and self._archive_destination.is_file():
            self.archive = self._archive_destination
            print(upload_advice(self.archive))
        return self.archive

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.end()

    def __repr__(self) -> str:
        return f"<Tracker {self.name!r}: {self.mode}, {self.reason}>"

    def _safely(self, action: str, call: Callable[[Any], T], *, even_if_stopped: bool = False) -> T | None:
        """Make one Comet call; on any error, warn (once per run) and stop tracking, but never raise."""
        experiment = self._experiment
        if experiment is None or (self.mode == "off" and not even_if_stopped):
            return None
        try:
            return call(experiment)
        except Exception as error:  # noqa: BLE001 - bookkeeping must never stop training
            if self.mode != "off":
                warnings.warn(
                    f"Comet tracking stopped: could not {action} ({type(error).__name__}: {error}). "
                    "Training is unaffected, but nothing more is logged for this run.",
                    TrackingWarning, stacklevel=3,
                )
                self.mode = "off"
                self.reason = f"stopped when it could not {action}: {type(error).__name__}: {error}"
            return None


def upload_advice(archive: Path) -> str:
    """The one line an ended offline run prints: where its archive is and how to upload it."""
    return f"Comet: the run is saved offline; to upload it later, run `comet upload {archive}`"


def model_summary(model: Any) -> str:
    """A model's layers as text: Keras's ``summary()``, or PyTorch's ``repr`` with a parameter count."""
    if callable(getattr(model, "summary", None)):
        lines: list[str] = []
        model.summary(print_fn=lambda text, **_: lines.append(text))
        return "\n".join(lines)
    if callable(getattr(model, "parameters", None)):
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return f"{model!r}\nTrainable parameters: {trainable:,}"
    raise TypeError(
        f"Cannot summarise a {type(model).__name__}: pass a Keras model or a torch.nn.Module."
    )
