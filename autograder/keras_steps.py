"""Judging a student's Keras training step by what it does to weights, never by what it prints.

The grader picks starting weights and a batch, the sandboxed notebook applies
the student's ``train_step`` once from each start (``probes/keras_train_step.py``),
and the weights that come back are compared here, tensor by tensor, with the
reference step computed by the grader itself, through
``labkit.check.training_step_matches``, so the student reads the same
diagnosis as in the notebook's hidden test.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder import notebook_parts, probes
from autograder.results import PartResult, judged

_KERAS_LOCK = threading.Lock()  # the trusted side's Keras work, one submission at a time


@dataclass(frozen=True)
class StepProbe:
    """The batch-level inputs of the step probe and the reference results, computed once."""

    folder: Path
    starts: list[list[np.ndarray]]
    batch: tuple[np.ndarray, np.ndarray]
    reference_step: Callable

    def cell_source(self) -> str:
        return notebook_parts.probe_cell("one step of your train_step from fixed weights on a fixed batch.",
                                         "train_step", self.folder / probes.KERAS_TRAIN_STEP.name)


def random_starts(shapes: list[tuple[int, ...]], count: int, seed: int) -> list[list[np.ndarray]]:
    """``count`` sets of small random weights: deterministic, and independent of Keras' initialisers."""
    rng = np.random.default_rng(seed)
    return [[rng.normal(0.0, 0.05, shape).astype(np.float32) for shape in shapes] for _ in range(count)]


def write_step_probe(folder: Path, images: np.ndarray, labels: np.ndarray, count: int, seed: int,
                     reference_step: Callable) -> StepProbe:
    """Write the probe script, the batch and the starting weights into ``folder`` (mounted read-only)."""
    from autograder.probes.keras_train_step import probe_model

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(probes.KERAS_TRAIN_STEP, folder / probes.KERAS_TRAIN_STEP.name)
    np.save(folder / "images.npy", images, allow_pickle=False)
    np.save(folder / "labels.npy", labels, allow_pickle=False)
    with _KERAS_LOCK:
        shapes = [tuple(w.shape) for w in probe_model().get_weights()]
    starts = random_starts(shapes, count, seed)
    np.savez(folder / "starts.npz", **{f"start{k}_{i}": w for k, ws in enumerate(starts) for i, w in enumerate(ws)})
    return StepProbe(folder, starts, (images, labels), reference_step)


def read_after(probe_out: Path, k: int, like: list[np.ndarray]) -> tuple[list[np.ndarray] | None, str | None]:
    """The weights the student's step left from start ``k``, checked against the expected shapes."""
    path = probe_out / f"after-{k}.npz"
    if not path.is_file() or path.is_symlink():
        return None, "the step's resulting weights never came back"
    if path.stat().st_size > sum(w.nbytes for w in like) * 2 + 65536:
        return None, "the step's resulting weights are larger than the model"
    try:
        with np.load(path, allow_pickle=False) as stored:
            weights = [stored[f"arr_{i}"] for i in range(len(like))]
            extra = len(stored.files) != len(like)
    except Exception as error:
        return None, f"the step's resulting weights are unreadable ({type(error).__name__})"
    if extra or any(w.shape != r.shape or w.dtype.kind != "f" for w, r in zip(weights, like)):
        return None, "the step's resulting weights do not have the model's shapes"
    if not all(np.all(np.isfinite(w)) for w in weights):
        return None, "the step produced NaN or infinite weights"
    return weights, None


def train_step_part(part: str, points: float, step: StepProbe, probe_out: Path) -> tuple[PartResult, bool]:
    """Compare each returned step with the reference; the bool says whether any result came back."""
    from autograder.probes.keras_train_step import probe_model

    import labkit

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
