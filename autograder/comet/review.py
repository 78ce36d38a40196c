"""The Comet review index: what each student's runs logged, beside what the grader measured.

Under grading, labkit keeps every Comet run as an offline archive in the
submission's ``comet-offline/`` (a zip of ``experiment.json`` and
``messages.json``). The grader reads them as data only (bounded sizes, JSON,
nothing extracted), keeps each run's parameters and last logged metrics, and the
index puts a run's logged ``test_accuracy`` beside the accuracy the grader
measured for the same model, flagging disagreements: a logged number is a claim,
the measurement is the grade. Under an instructor's private evaluation set the
two are measured on different images, so nothing is flagged for differing.
Each run is also joined to the submission by the student id it carries
(:mod:`labkit.course`: the ``student_id`` parameter, or the ``student_id:<id>``
tag): a run with no id, or another student's, is flagged whatever the images.

An archive is the student's to write, so it is read as hostile: bounded member
counts and sizes (a zip bomb is refused from its directory, before anything is
unpacked), JSON through :func:`autograder.sandbox.untrusted.loads_json`, every number
through :func:`autograder.sandbox.untrusted.finite_float`. An archive that comet_ml's
uploader would unpack outside its folder, or that names a file outside itself
(comet_ml uploads, then deletes, the ``file_path`` a message names), is refused
as a whole. A refused or broken archive is a ``problem`` on its run, never an
exception.

Uploading the archives stays the instructor's step, with their own key
(:mod:`autograder.comet.upload`: ``python -m autograder comet-upload LAB OUT``).
"""

from __future__ import annotations

import io
import math
import os
import posixpath
import zipfile
from collections.abc import Mapping
from pathlib import Path

from autograder.pipeline.submissions import printable_name
from autograder.reports import spreadsheets
from autograder.sandbox.archives import member_problem, path_problem  # shared with LMS imports
from autograder.sandbox.output import OutputRefused, read_bytes
from autograder.sandbox.untrusted import UntrustedDataError, finite_float, loads_json

MAX_ARCHIVES = 20
MAX_ARCHIVE_BYTES = 32 * 2**20
MAX_MEMBERS = 256
MAX_MEMBER_BYTES = 16 * 2**20
MAX_UNPACKED_BYTES = 64 * 2**20
"""All members together, as the archive's directory declares them: what unpacking it would write."""
MAX_MESSAGES = 100_000
MAX_TEXT_CHARS = 200
PATH_FIELDS = frozenset({"file_path", "thumbnail_path"})
"""Message fields comet_ml's uploader joins to the folder it unpacked the archive in."""
TOLERANCE = 0.005
"""How far a logged accuracy may be from the measured one before the index flags it."""
SAMPLING_ERRORS = 3.0
"""... or, measured on a sample of the notebook's test images, this many standard errors of the sample."""

MAX_TAGS = 50
STUDENT_ID_TAG = "student_id:"
"""The tag labkit.track gives a run besides its ``student_id`` parameter (``student_id:<id>``)."""

COLUMNS = ["student_id", "student_id_logged", "lab", "archive", "experiment", "model", "logged_test_accuracy",
           "measured_test_accuracy", "measured_on", "flag"]


class ArchiveRefused(ValueError):
    """An archive the grader will neither read nor upload; the message says why."""


# --- reading archives ---------------------------------------------------------------------------------


def read_runs(folder: Path) -> tuple[dict, ...]:
    """``{"archive", "experiment", "params", "metrics"}`` for each archive in ``folder``, or its ``problem``.

    Never raises: an archive that cannot be read is a run with a ``problem``.
    """
    names = _zip_names(folder)
    runs = [{"archive": printable_name(name), **read_archive(folder / name)} for name in names[:MAX_ARCHIVES]]
    if len(names) > MAX_ARCHIVES:
        runs.append({"archive": f"{len(names) - MAX_ARCHIVES} more archives",
                     "problem": f"only the first {MAX_ARCHIVES} archives are read"})
    return tuple(runs)


def _zip_names(folder: Path) -> list[str]:
    try:
        return sorted(name for name in os.listdir(folder) if name.endswith(".zip"))
    except OSError:  # no comet-offline/ handed in, or not a folder
        return []


def read_archive(path: Path) -> dict:
    """The run the archive at ``path`` holds (see :func:`parse_archive`); a link or a huge file is a ``problem``."""
    try:
        data = read_bytes(path.parent, path.name, MAX_ARCHIVE_BYTES)
    except (OSError, OutputRefused):
        return {"problem": f"not a regular file of at most {MAX_ARCHIVE_BYTES:,} bytes (a link, a folder or "
                           "too large)"}
    return parse_archive(data)


def parse_archive(data: bytes) -> dict:
    """``{"experiment", "tags", "params", "metrics"}`` of an archive's bytes, or ``{"problem": why}``; never raises."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = checked_members(archive)
            experiment = _json_object(archive, "experiment.json")
            messages = _messages(_member(archive, "messages.json"), names)
    except ArchiveRefused as error:
        return {"problem": str(error)}
    except Exception as error:  # zipfile raises many kinds on a malformed archive (BadZipFile, EOFError, ...)
        return {"problem": f"unreadable ({type(error).__name__})"}
    params, metrics = logged_values(messages)
    tags = experiment.get("tags")
    tags = [_text(tag, 100) for tag in tags[:MAX_TAGS] if isinstance(tag, str)] if isinstance(tags, list) else []
    return {"experiment": _text(experiment.get("offline_id", ""), 64), "tags": tags, "params": params,
            "metrics": metrics}


def checked_members(archive: zipfile.ZipFile) -> frozenset[str]:
    """The names of the archive's members, once every one is safe to unpack; else :class:`ArchiveRefused`."""
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise ArchiveRefused(f"{len(members):,} files inside, more than the {MAX_MEMBERS} a run writes")
    unpacked = sum(member.file_size for member in members)
    if unpacked > MAX_UNPACKED_BYTES:
        raise ArchiveRefused(f"{unpacked:,} bytes once unpacked, more than the {MAX_UNPACKED_BYTES:,} allowed")
    for member in members:
        problem = member_problem(member)
        if problem:
            raise ArchiveRefused(f"the member {_text(member.filename, 100)!r} is {problem}")
    return frozenset(member.filename for member in members)


def _member(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        member = archive.getinfo(name)
    except KeyError:
        raise ArchiveRefused(f"no {name} inside: not a Comet offline archive") from None
    if member.file_size > MAX_MEMBER_BYTES:
        raise ArchiveRefused(f"{name} has {member.file_size:,} bytes, more than the {MAX_MEMBER_BYTES:,} allowed")
    with archive.open(member) as handle:
        return handle.read(MAX_MEMBER_BYTES + 1)


def _json_object(archive: zipfile.ZipFile, name: str) -> dict:
    try:
        data = loads_json(_member(archive, name), max_bytes=MAX_MEMBER_BYTES)
    except UntrustedDataError as error:
        raise ArchiveRefused(f"{name}: {error}") from None
    if not isinstance(data, dict):
        raise ArchiveRefused(f"{name} is not a JSON object")
    return data


def _messages(data: bytes, members: frozenset[str]) -> list[dict]:
    """Every line of ``messages.json``, each a JSON object naming no file outside the archive.

    One line the grader cannot read refuses the archive: comet_ml's uploader
    would act on a line that this reader skipped.
    """
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise ArchiveRefused("messages.json is not UTF-8 text") from None
    if len(lines) > MAX_MESSAGES:
        raise ArchiveRefused(f"messages.json has {len(lines):,} lines, more than the {MAX_MESSAGES:,} allowed")
    messages = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            message = loads_json(line, max_bytes=MAX_MEMBER_BYTES)
        except UntrustedDataError as error:
            raise ArchiveRefused(f"messages.json line {number}: {error}") from None
        if not isinstance(message, dict):
            raise ArchiveRefused(f"messages.json line {number} is not a JSON object")
        outside = path_outside(message, members)
        if outside is not None:
            raise ArchiveRefused(f"messages.json line {number} names a file outside the archive: "
                                 f"{_text(outside, 100)!r}")
        messages.append(message)
    return messages


def path_outside(message: dict, members: frozenset[str]) -> object | None:
    """The first value of a :data:`PATH_FIELDS` field in ``message`` that is not a member of the archive, or None."""
    pending: list = [message]
    while pending:  # nesting is bounded by loads_json; a stack all the same
        value = pending.pop()
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, inner in items:
            if key in PATH_FIELDS and inner is not None and not _is_member(inner, members):
                return inner
            pending.append(inner)
    return None


def _is_member(path: object, members: frozenset[str]) -> bool:
    return isinstance(path, str) and path_problem(path) is None and posixpath.normpath(path) in members


def logged_values(messages: list[dict]) -> tuple[dict, dict]:
    """The parameters and the last value of each metric the messages log, by name."""
    params, metrics = {}, {}
    for message in messages:
        try:
            payload, kind = message["payload"], message["type"]
            if kind == "parameter_msg":
                params[_text(payload["param"]["paramName"], 100)] = _scalar(payload["param"]["paramValue"])
            elif kind == "metric_msg":
                metrics[_text(payload["metric"]["metricName"], 100)] = _scalar(payload["metric"]["metricValue"])
        except (KeyError, TypeError):
            continue
    return params, metrics


def _scalar(value):
    """A logged value as the grader keeps it: a finite float, a bool, None or text."""
    if value is None or isinstance(value, bool):
        return value
    return _number(value) if isinstance(value, int | float) else _text(value)


def _number(value) -> float | str:
    try:
        return finite_float(value)
    except UntrustedDataError as error:
        return _text(error)


def _text(value, limit: int = MAX_TEXT_CHARS) -> str:
    """``value`` as text of at most ``limit`` characters that can be written anywhere (no lone surrogates)."""
    return str(value)[:limit].encode("utf-8", "backslashreplace").decode("utf-8")


# --- the index ------------------------------------------------------------------------------------------


def review_rows(results, models: Mapping[str, tuple[str, str]], model_param: Mapping[str, str]) -> list[dict]:
    """One row per run: the student, the run, its logged test accuracy and the measured one.

    ``models`` maps a model name to its (architecture part, accuracy part);
    ``model_param`` maps the value of the run's ``model`` parameter to that name.
    A row is flagged here when there is nothing to compare, and when the run is not the
    student's: it logged no student id, or another than the submission folder's
    (:func:`student_id_flag`); whether the two numbers agree is :func:`flag_disagreements`'
    question.
    """
    rows = []
    for result in results:
        measured = {part.part: part.value for part in result.parts}
        for run in result.comet_runs:
            name = model_param.get(str(run.get("params", {}).get("model")))
            logged = run.get("metrics", {}).get("test_accuracy")
            grader = measured.get(models[name][1]) if name in models else None
            student = logged_student_id(run)
            flags = []
            if run.get("problem"):
                flags.append(f"unreadable archive: {run['problem']}")
            else:
                if name is not None and grader is None:
                    flags.append("no measured accuracy to compare with")
                flags.append(student_id_flag(student, result.student_id))
            rows.append({"student_id": result.student_id, "student_id_logged": student or "", "lab": result.lab,
                         "archive": run["archive"], "experiment": run.get("experiment", ""), "model": name or "",
                         "logged_test_accuracy": "" if logged is None else logged,
                         "measured_test_accuracy": "" if grader is None else grader,
                         "flag": "; ".join(flag for flag in flags if flag)})
    return rows


def logged_student_id(run: Mapping) -> str | None:
    """The student id a run carries: its ``student_id`` parameter, else its ``student_id:<id>`` tag; or None."""
    value = run.get("params", {}).get("student_id")
    if isinstance(value, float) and value.is_integer():  # an id of digits, read back as a number
        value = int(value)
    if value is not None and not isinstance(value, bool) and str(value).strip():
        return _text(value, 100).strip()
    for tag in run.get("tags", ()):
        if isinstance(tag, str) and tag.startswith(STUDENT_ID_TAG) and tag[len(STUDENT_ID_TAG):].strip():
            return tag[len(STUDENT_ID_TAG):].strip()
    return None


def student_id_flag(logged: str | None, student_id: str) -> str:
    """Why a run logged as ``logged`` is not linked to the submission of ``student_id``, or "" when it is.

    Ids are compared without regard to case (a login typed ``S123`` is folder ``s123``'s).
    """
    if logged is None:
        return "run not linked to a student id"
    if logged.casefold() != student_id.casefold():
        return f"run logged student id {logged!r}, not this submission's"
    return ""


def flag_disagreements(rows: list[dict], tolerance: float = TOLERANCE, sample_size: int | None = None) -> list[dict]:
    """The rows, each whose logged test accuracy is too far from the measured one flagged.

    Only meaningful when the grader measured on the images the notebook tests on:
    on an instructor's private set, every honest run would differ. When it
    measured on a random sample of ``sample_size`` of them, an honest run differs
    by the sample's error too, so the allowance grows to :data:`SAMPLING_ERRORS`
    standard errors when that is more than ``tolerance``. A logged value that is
    not a finite number is never compared. A disagreement comes first in the
    row's flag, before a flag :func:`review_rows` set (a run not linked to the student).
    """
    flagged = []
    for row in rows:
        logged, measured = _comparable(row["logged_test_accuracy"]), _comparable(row["measured_test_accuracy"])
        if logged is not None and measured is not None:
            allowed = tolerance
            if sample_size:
                allowed = max(tolerance, SAMPLING_ERRORS * math.sqrt(measured * (1 - measured) / sample_size))
            if abs(logged - measured) > allowed:
                flag = "; ".join(filter(None, (f"logged {logged:.4f}, measured {measured:.4f}", row["flag"])))
                row = {**row, "flag": flag}
        flagged.append(row)
    return flagged


def _comparable(value) -> float | None:
    try:
        return finite_float(value)
    except UntrustedDataError:
        return None


def write_index(path: Path, rows: list[dict], measured_on: str) -> None:
    """``comet-review.csv``: the rows, each saying what the grader measured on (``measured_on``)."""
    table = ({**row, "measured_on": measured_on} for row in rows)
    spreadsheets.write_csv(path, [COLUMNS, *([row.get(column, "") for column in COLUMNS] for row in table)])
