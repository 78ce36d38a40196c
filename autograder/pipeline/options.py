"""The settings of one grading batch, shared by every lab's grader."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from autograder import sandbox
from autograder.pipeline.grading_secret import GradingSecret


@dataclass(frozen=True)
class GradingOptions:
    """How a batch is graded.

    profile
        Which targets apply (``labkit.targets``): ``full`` (the course) or ``quick``.
        The notebook itself always runs in the quick profile: the grader only
        needs it for the training step and the student's feedback.
    notebook_limits, cell_timeout
        The sandbox's limits for the notebook run, and the seconds one cell may
        take before it is interrupted (the run then goes on).
    probe_limits
        The limits of each model probe. Threads count as tasks, and TensorFlow starts
        some per core: the task limit leaves room for a many-core machine.
    data_dir
        The read-only dataset mirror the notebook may read; ``LABKIT_DATA_DIR`` by default.
    evaluation_dir
        A folder of private evaluation sets, ``<lab>.npz`` each (see
        :mod:`autograder.scoring.evaluation_sets`); ``None`` scores on each lab's default set.
    secret
        The run's :class:`autograder.pipeline.grading_secret.GradingSecret`: every probe input and
        perturbation is drawn from it. Fresh for each ``GradingOptions`` unless given.
    """

    profile: str = "full"
    notebook_limits: sandbox.Limits = field(default_factory=lambda: sandbox.Limits(
        wall_seconds=480.0, memory_bytes=6 * 2**30, processes=512, output_bytes=4 * 2**20,
        file_bytes=256 * 2**20, disk_bytes=2 * 2**30))
    cell_timeout: int = 180
    probe_limits: sandbox.Limits = field(default_factory=lambda: sandbox.Limits(
        wall_seconds=180.0, memory_bytes=4 * 2**30, processes=512, output_bytes=2**20,
        file_bytes=256 * 2**20, disk_bytes=512 * 2**20))
    data_dir: Path | None = field(default_factory=lambda: _data_dir_from_environment())
    evaluation_dir: Path | None = None
    secret: GradingSecret = field(default_factory=GradingSecret.fresh, repr=False)

    def with_threads(self, threads: int) -> GradingOptions:
        """These options with every sandbox held to ``threads`` compute threads (a limit's own is kept).

        Sandboxes run side by side share their host's cores: see
        :data:`autograder.sandbox.bubblewrap.THREAD_VARIABLES`.
        """
        return replace(self, **{name: limits if limits.threads is not None else replace(limits, threads=threads)
                                for name, limits in (("notebook_limits", self.notebook_limits),
                                                     ("probe_limits", self.probe_limits))})


def _data_dir_from_environment() -> Path | None:
    raw = os.environ.get("LABKIT_DATA_DIR", "")
    return Path(raw) if raw else None
