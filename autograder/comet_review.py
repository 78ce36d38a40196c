"""The Comet review index: what each student's runs logged, beside what the grader measured.

Under grading, labkit keeps every Comet run as an offline archive in the
submission's ``comet-offline/`` (a zip of ``experiment.json`` and
``messages.json``). The grader reads them as data only (bounded sizes, JSON,
nothing extracted), keeps each run's parameters and last logged metrics, and the
index puts a run's logged ``test_accuracy`` beside the accuracy the grader
measured for the same model, flagging disagreements: a logged number is a claim,
the measurement is the grade. Under an instructor's private evaluation set the
two are measured on different images, so nothing is flagged for differing.

Uploading the archives stays the instructor's step, with their own key
(:mod:`autograder.comet_upload`: ``python -m autograder comet-upload LAB OUT``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from collections.abc import Mapping
from pathlib import Path

from labkit._files import replaced_atomically

MAX_ARCHIVES = 20
MAX_ARCHIVE_BYTES = 32 * 2**20
MAX_MESSAGES_BYTES = 16 * 2**20
TOLERANCE = 0.005
"""How far a logged accuracy may be from the measured one before the index flags it."""
SAMPLING_ERRORS = 3.0
"""... or, measured on a sample of the notebook's test images, this many standard errors of the sample."""


def read_runs(folder: Path) -> tuple[dict, ...]:
    """``{"archive", "experiment", "params", "metrics"}`` for each archive in ``folder`` (problems noted)."""
    if not folder.is_dir():
        return ()
    runs = []
    for archive in sorted(folder.glob("*.zip"))[:MAX_ARCHIVES]:
        runs.append({"archive": archive.name, **_read_archive(archive)})
    return tuple(runs)


def _read_archive(path: Path) -> dict:
    if path.is_symlink() or path.stat().st_size > MAX_ARCHIVE_BYTES:
        return {"problem": "not a regular archive of a plausible size"}
    try:
        with zipfile.ZipFile(path) as archive:
            experiment = _member_json(archive, "experiment.json")
            lines = _member(archive, "messages.json").decode("utf-8").splitlines()
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        return {"problem": f"unreadable ({type(error).__name__})"}
    params, metrics = {}, {}
    for line in lines:
        try:
            message = json.loads(line)
            payload = message["payload"]
            if message["type"] == "parameter_msg":
                params[str(payload["param"]["paramName"])[:100]] = _scalar(payload["param"]["paramValue"])
            elif message["type"] == "metric_msg":
                metrics[str(payload["metric"]["metricName"])[:100]] = _scalar(payload["metric"]["metricValue"])
        except (ValueError, KeyError, TypeError):
            continue
    return {"experiment": str(experiment.get("offline_id", ""))[:64], "params": params, "metrics": metrics}


def _member(archive: zipfile.ZipFile, name: str) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > MAX_MESSAGES_BYTES:
        raise ValueError(f"{name} is too large")
    return archive.read(info)


def _member_json(archive: zipfile.ZipFile, name: str) -> dict:
    data = json.loads(_member(archive, name))
    if not isinstance(data, dict):
        raise ValueError(f"{name} is not an object")
    return data


def _scalar(value):
    return value if isinstance(value, bool | int | float) or value is None else str(value)[:200]


def review_rows(results, models: Mapping[str, tuple[str, str]], model_param: Mapping[str, str]) -> list[dict]:
    """One row per run: the student, the run, its logged test accuracy and the measured one.

    ``models`` maps a model name to its (architecture part, accuracy part);
    ``model_param`` maps the value of the run's ``model`` parameter to that name.
    A row is flagged here only when there is nothing to compare; whether the two
    numbers agree is :func:`flag_disagreements`' question.
    """
    rows = []
    for result in results:
        measured = {part.part: part.value for part in result.parts}
        for run in result.comet_runs:
            name = model_param.get(str(run.get("params", {}).get("model")))
            logged = run.get("metrics", {}).get("test_accuracy")
            grader = measured.get(models[name][1]) if name in models else None
            flag = ""
            if run.get("problem"):
                flag = f"unreadable archive: {run['problem']}"
            elif name is not None and grader is None:
                flag = "no measured accuracy to compare with"
            rows.append({"student_id": result.student_id, "lab": result.lab, "archive": run["archive"],
                         "experiment": run.get("experiment", ""), "model": name or "",
                         "logged_test_accuracy": "" if logged is None else logged,
                         "measured_test_accuracy": "" if grader is None else grader, "flag": flag})
    return rows


def flag_disagreements(rows: list[dict], tolerance: float = TOLERANCE, sample_size: int | None = None) -> list[dict]:
    """The rows, each whose logged test accuracy is too far from the measured one flagged.

    Only meaningful when the grader measured on the images the notebook tests on:
    on an instructor's private set, every honest run would differ. When it
    measured on a random sample of ``sample_size`` of them, an honest run differs
    by the sample's error too, so the allowance grows to :data:`SAMPLING_ERRORS`
    standard errors when that is more than ``tolerance``.
    """
    flagged = []
    for row in rows:
        logged, measured = row["logged_test_accuracy"], row["measured_test_accuracy"]
        if not row["flag"] and isinstance(logged, int | float) and isinstance(measured, int | float):
            allowed = tolerance
            if sample_size:
                allowed = max(tolerance, SAMPLING_ERRORS * math.sqrt(measured * (1 - measured) / sample_size))
            if abs(logged - measured) > allowed:
                row = {**row, "flag": f"logged {logged:.4f}, measured {measured:.4f}"}
        flagged.append(row)
    return flagged


def write_index(path: Path, rows: list[dict], measured_on: str) -> None:
    """``comet-review.csv``: the rows, each saying what the grader measured on (``measured_on``)."""
    columns = ["student_id", "lab", "archive", "experiment", "model", "logged_test_accuracy",
               "measured_test_accuracy", "measured_on", "flag"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({**row, "measured_on": measured_on} for row in rows)
    with replaced_atomically(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(buffer.getvalue())
