"""Shared test setup: real data from the mirror, an isolated cache, headless plots."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def mirror_dir() -> Path:
    """The genuine dataset mirror (``../shared/data`` in CI), required, never faked."""
    raw = os.environ.get("LABKIT_DATA_DIR", "")
    path = Path(raw) if raw else None
    if path is None or not (path / "mnist").is_dir():
        pytest.fail(
            "LABKIT_DATA_DIR must point at the dataset mirror (../shared/data); "
            "run the tests through `make test`, which sets it."
        )
    return path


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory) -> Path:
    """One parsed-array cache for the whole session, outside the user's real cache."""
    cache = tmp_path_factory.mktemp("labkit-cache")
    previous = os.environ.get("LABKIT_CACHE_DIR")
    os.environ["LABKIT_CACHE_DIR"] = str(cache)
    os.environ.setdefault("LABKIT_OFFLINE", "1")  # tests never reach the internet
    yield cache
    if previous is None:
        os.environ.pop("LABKIT_CACHE_DIR", None)
    else:
        os.environ["LABKIT_CACHE_DIR"] = previous


REFERENCE_STUDENT = "reference"
"""The student id a solution run's Comet runs carry (LABKIT_STUDENT_ID): the grading tests hand it in as hers."""


@dataclass(frozen=True)
class SolutionRun:
    """A lab's solution notebook as a student would run it: the folder it ran in, its outputs, its time."""

    folder: Path  # holds <lab>.ipynb (unexecuted) and what the run wrote: artifacts/, comet-offline/
    executed: object  # the notebook with its outputs
    seconds: float

    def failed_graded_cells(self) -> dict[str, str]:
        """Each graded cell (hidden tests included) that raised, by grade id, with its error."""
        from tests.notebooks import error_of, grade_id, graded_cells

        return {grade_id(c): error_of(c) for c in graded_cells(self.executed) if error_of(c) is not None}

    def metrics(self) -> dict:
        """What the save cell wrote to ``artifacts/metrics.json``."""
        return json.loads((self.folder / "artifacts" / "metrics.json").read_text())

    def comet_archives(self) -> list[Path]:
        """The offline Comet runs the notebook recorded, one archive each."""
        return sorted((self.folder / "comet-offline").glob("*.zip"))


class SolutionRuns:
    """Each lab's solution run at most once per session, shared by its notebook and grading tests."""

    def __init__(self, root: Path):
        self._root = root
        self._runs: dict[str, SolutionRun] = {}

    def __call__(self, lab: str) -> SolutionRun:
        if lab not in self._runs:
            from tests.notebooks import execute, solution_notebook

            folder = self._root / lab / lab
            folder.mkdir(parents=True)
            (folder / f"{lab}.ipynb").write_bytes(solution_notebook(lab).read_bytes())
            started = time.perf_counter()
            # raises at the first failing cell; the runs carry the id of the folder the grading tests hand them in as
            executed = execute(folder / f"{lab}.ipynb", folder, environment={"LABKIT_STUDENT_ID": REFERENCE_STUDENT})
            self._runs[lab] = SolutionRun(folder, executed, time.perf_counter() - started)
        return self._runs[lab]


@pytest.fixture(scope="session")
def solution_run(tmp_path_factory, mirror_dir) -> SolutionRuns:
    """``solution_run(lab)``: the lab's solution, executed once in the quick profile on the mirror's data.

    Tests must treat the folder as read-only: the grading tests copy it into
    their class, the notebook tests read what it wrote.
    """
    return SolutionRuns(tmp_path_factory.mktemp("solutions"))
