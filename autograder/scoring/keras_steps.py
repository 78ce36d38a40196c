"""Judging a student's Keras training step by what it does to weights, never by what it prints.

The grader draws starting weights and a batch from the grading run's secret,
the sandboxed notebook applies the student's ``train_step`` once from each
start (``probes/keras_train_step.py``),
and the weights that come back are compared here, tensor by tensor, with the
reference step computed by the grader itself, through
``labkit.check.training_step_matches``, so the student reads the same
diagnosis as in the notebook's hidden test.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder import probes
from autograder.pipeline import notebook_parts
from autograder.pipeline.notebook_run import ProbeFolders, probe_folders
from autograder.pipeline.results import PartResult, judged
from autograder.sandbox.output import OutputFolder, OutputRefused

_KERAS_LOCK = threading.Lock()  # the trusted side's Keras work, one submission at a time


@dataclass(frozen=True)
class StepProbe:
    """The step probe's folders, its inputs (drawn from the run's secret) and the reference step, made once."""

    folders: ProbeFolders
    starts: list[list[np.ndarray]]
    batch: tuple[np.ndarray, np.ndarray]
    reference_step: Callable

    def cell_source(self) -> str:
        return notebook_parts.probe_cell("one step of your train_step from the grader's weights on its batch.",
                                         "train_step", self.folders.scripts / probes.KERAS_TRAIN_STEP.name)


def random_starts(shapes: list[tuple[int, ...]], count: int, rng: np.random.Generator) -> list[list[np.ndarray]]:
    """``count`` sets of small random weights, drawn from the run's secret, independent of Keras' initialisers."""
    return [[rng.normal(0.0, 0.05, shape).astype(np.float32) for shape in shapes] for _ in range(count)]


def write_step_probe(scratch: Path, images: np.ndarray, labels: np.ndarray, count: int, rng: np.random.Generator,
                     reference_step: Callable) -> StepProbe:
    """The probe's folders under ``scratch``: its script, and as its inputs the batch and ``count`` starts."""
    from autograder.probes.keras_train_step import probe_model

    folders = probe_folders(scratch, [probes.KERAS_TRAIN_STEP])
    np.save(folders.inputs / "images.npy", images, allow_pickle=False)
    np.save(folders.inputs / "labels.npy", labels, allow_pickle=False)
    with _KERAS_LOCK:
        shapes = [tuple(w.shape) for w in probe_model().get_weights()]
    starts = random_starts(shapes, count, rng)
    np.savez(folders.inputs / "starts.npz",
             **{f"start{k}_{i}": w for k, ws in enumerate(starts) for i, w in enumerate(ws)})
    return StepProbe(folders, starts, (images, labels), reference_step)


def read_after(probe_out: OutputFolder, k: int, like: list[np.ndarray]) -> tuple[list[np.ndarray] | None, str | None]:
    """The weights the student's step left from start ``k``, checked against the expected shapes."""
    try:
        stored = probe_out.read_arrays(f"after-{k}.npz", sum(w.nbytes for w in like) * 2 + 65536,
                                       kinds="f", max_arrays=len(like))
    except FileNotFoundError:
        return None, "the step's resulting weights never came back"
    except OutputRefused as error:
        return None, f"the step's resulting weights were not usable ({error})"
    weights = [stored.get(f"arr_{i}") for i in range(len(like))]
    if len(stored) != len(like) or any(w is None or w.shape != r.shape for w, r in zip(weights, like)):
        return None, "the step's resulting weights do not have the model's shapes"
    if not all(np.all(np.isfinite(w)) for w in weights):
        return None, "the step produced NaN or infinite weights"
    return weights, None


def train_step_part(part: str, points: float, step: StepProbe, probe_out: OutputFolder) -> tuple[PartResult, bool]:
    """Compare each returned step with the reference; the bool says whether any result came back."""
    import labkit
    from autograder.probes.keras_train_step import probe_model

    for k, start in enumerate(step.starts):
        after, problem = read_after(probe_out, k, start)
        if after is None:
            return judged(part, points, False, f"Step {k + 1}: {problem}."), k > 0

        def factory(start=start):
            model = probe_model()
            model.set_weights(start)
            return model

        def replayed(model, batch, after=after):  # the student's step, as it ran in the sandbox
            model.set_weights(after)

        with _KERAS_LOCK:
            report = labkit.check.training_step_matches(replayed, step.reference_step, factory,
                                                        step.batch, steps=1)
        if not report.passed:
            return judged(part, points, False, f"From start {k + 1} of {len(step.starts)}: {report}",
                          value="differs", threshold="reference step"), True
    return judged(part, points, True, f"From {len(step.starts)} different starting weights, the step "
                  "changes every weight as the reference step does.", value="matches",
                  threshold="reference step"), True
