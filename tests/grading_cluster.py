"""What the cluster tests and benchmark share: a cheap class of lab 1, real Dask processes, rows to compare.

The class is made from the real notebooks without running any of them here: the
solution notebook (the grader runs it in the sandbox; its train step passes the
probe drawn from the run's secret), models with the lab's architectures that were
never trained (the model parts pass, the accuracy parts are measured and fail),
the untouched student notebook, and three submissions graded in a moment (no
notebook that runs, no model): all six graded deterministically given the run's secret.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import nbformat

from autograder.pipeline.grading import grade
from autograder.pipeline.grading_secret import GradingSecret
from autograder.pipeline.options import GradingOptions
from tests import grading_class
from tests.notebooks import released_notebook, solution_notebook

LAB = "lab1-mnist"
VENV_BIN = Path(sys.executable).parent
HEAVY = ("solution-only", "untrained", "untouched")
"""The students whose grading runs sandboxes (a notebook or two model probes): tens of seconds each."""
INSTANT = ("broken-notebook", "metrics-only", "nothing-gradable")
CLASS = HEAVY + INSTANT
TIMING = ("seconds", "runs")
"""What differs between two gradings of the same submission with the same secret: how long each run took."""
SECRET = GradingSecret(bytes(range(32)))
"""The secret of every grading of the class in a test session: the same inputs, the same rows."""


def options(mirror_dir: Path) -> GradingOptions:
    """The grading tests' settings (the quick profile, affordable limits) with :data:`SECRET`."""
    return replace(grading_class.options(mirror_dir), secret=SECRET)


def shared_class(tmp_path_factory) -> Path:
    """The class, built once per test session (the same model files for every grading compared)."""
    root = tmp_path_factory.getbasetemp() / "cluster-class"
    if not (root / "built").exists():
        shutil.rmtree(root, ignore_errors=True)
        build_class(root / "class")
        (root / "built").touch()
    return root / "class"


def reference_rows(tmp_path_factory, mirror_dir: Path) -> dict[str, dict]:
    """The class graded once per session on this machine's pool (two workers), as today: the rows to match."""
    grading_class.require_sandbox()
    root = tmp_path_factory.getbasetemp() / "cluster-class"
    saved = root / "reference.json"
    if not saved.exists():
        grade(LAB, shared_class(tmp_path_factory), root / "pool", workers=2, options=options(mirror_dir))
        saved.write_text(json.dumps(rows(root / "pool")))
    return json.loads(saved.read_text())


def untrained_models(artifacts: Path) -> None:
    """Lab 1's two architectures, never trained, saved as a student would."""
    import keras

    layers = keras.layers
    artifacts.mkdir(parents=True, exist_ok=True)
    keras.Sequential([keras.Input(shape=(28, 28, 1)), layers.Flatten(), layers.Dense(128, activation="relu"),
                      layers.Dense(10, activation="softmax")]).save(artifacts / "fc.keras")
    keras.Sequential([keras.Input(shape=(28, 28, 1)), layers.Conv2D(24, 3, activation="relu"), layers.MaxPool2D(2),
                      layers.Conv2D(36, 3, activation="relu"), layers.MaxPool2D(2), layers.Flatten(),
                      layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")]
                     ).save(artifacts / "cnn.keras")


def build_class(class_dir: Path, students=CLASS) -> Path:
    """Write each of ``students`` (names from :data:`CLASS`) as ``class_dir/<student>/lab1-mnist/``."""
    for student in students:
        folder = class_dir / student / LAB
        folder.mkdir(parents=True)
        match student:
            case "solution-only":
                shutil.copyfile(solution_notebook(LAB), folder / f"{LAB}.ipynb")
            case "untrained":
                untrained_models(folder / "artifacts")
            case "untouched":
                nbformat.write(nbformat.read(released_notebook(LAB), as_version=4), folder / f"{LAB}.ipynb")
            case "broken-notebook":
                (folder / f"{LAB}.ipynb").write_text('{"cells": [')
            case "metrics-only":
                (folder / "artifacts").mkdir()
                entry = {"test_accuracy": 0.99, "target": 0.9, "train_seconds": 1.0}
                (folder / "artifacts" / "metrics.json").write_text(json.dumps({"fc": entry, "cnn": entry}))
            case "nothing-gradable":
                (folder / "README.txt").write_text("I handed in nothing the grader reads.\n")
            case _:
                raise ValueError(f"no submission is made for {student!r}")
    return class_dir


def rows(out: Path, lab: str = LAB) -> dict[str, dict]:
    """The result store's rows (``out/results/<lab>/*.json``), by student, without their timings."""
    found = {}
    for path in sorted((out / "results" / lab).iterdir()):
        assert path.suffix == ".json", f"{path.name}: only result files belong in the store"
        row = json.loads(path.read_text())
        found[row["student_id"]] = {key: value for key, value in row.items() if key not in TIMING}
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DaskProcesses:
    """A ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, as an instructor would start them.

    Each worker has a nanny (``dask worker``'s default), which starts its worker process again
    when it dies; ``environment`` is added to every process's (e.g. the scheduler's
    ``DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL``), ``preload`` is each worker's ``--preload``.
    """

    def __init__(self, logs: Path, workers: int = 2, environment: dict | None = None, preload: Path | None = None):
        self.logs, self.workers, self.preload = logs, workers, preload
        self.environment = {**os.environ, **(environment or {})}
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler: subprocess.Popen | None = None
        self.worker_processes: list[subprocess.Popen] = []
        logs.mkdir(parents=True, exist_ok=True)

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "ab") as log:
            return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.environment,
                                    start_new_session=True)

    def start(self, timeout: float = 120) -> DaskProcesses:
        """Start the scheduler and the workers; return once every worker has joined."""
        self.scheduler = self._start("scheduler", [str(VENV_BIN / "dask"), "scheduler", "--host", "127.0.0.1",
                                                   "--port", str(self.port), "--no-dashboard"])
        preload = ["--preload", str(self.preload)] if self.preload else []
        self.worker_processes = [
            self._start(f"worker-{k}", [str(VENV_BIN / "dask"), "worker", self.address, "--host", "127.0.0.1",
                                        "--nworkers", "1", "--nthreads", "1", "--no-dashboard", *preload])
            for k in range(self.workers)]
        with self.client(timeout) as client:
            client.wait_for_workers(self.workers, timeout=timeout)
        return self

    def client(self, timeout: float = 60):
        from distributed import Client

        return Client(self.address, timeout=f"{timeout}s")

    def kill_scheduler(self) -> None:
        self.scheduler.send_signal(signal.SIGKILL)
        self.scheduler.wait()

    def stop(self) -> None:
        """End every process started here: each one's session (a nanny and its worker process)."""
        for process in [*self.worker_processes, self.scheduler]:
            if process is None or process.poll() is not None:
                continue
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=30)


def processing_for(client, student: str, *, at_least: float, timeout: float = 600) -> str:
    """The worker that has been running ``student``'s grading task for ``at_least`` seconds: its address."""
    first_seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for worker, keys in client.processing().items():
            if any(str(key).startswith(f"grade-{student}-") for key in keys):
                since = first_seen.setdefault(worker, time.monotonic())
                if time.monotonic() - since >= at_least:
                    return worker
        time.sleep(0.2)
    raise TimeoutError(f"{student}'s task never ran for {at_least} s on a worker")
