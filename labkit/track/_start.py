"""Where a run is recorded: on Comet, in an offline archive, or nowhere, and under which name."""

from __future__ import annotations

import getpass
import os
import re
import warnings
from pathlib import Path
from typing import Any

from labkit import config
from labkit import course as labkit_course
from labkit.track import _comet
from labkit.track._tracker import Mode, Tracker, TrackingWarning

DEFAULT_OFFLINE_DIR = Path("comet-offline")
"""Where offline archives go, relative to the lab folder the notebook runs in."""

PROBE_TIMEOUT_S = 3.0
"""How long to wait for the Comet server to answer before logging offline instead."""

STUDENT_ID_TAG = "student_id:"
"""A run's tag ``student_id:<id>``: the id, findable among the tags without the parameters."""

KEY_PARAMETER_NAMES = frozenset({"api_key", "apikey", "comet_api_key"})

KEY_IN_CODE_MESSAGE = (
    "Do not pass a Comet API key to labkit.track.start(): a key typed into a notebook "
    "ends up in every copy of it, submissions included. Put it in the environment "
    "(export COMET_API_KEY=... before starting Jupyter) or in ~/.comet.config "
    "(run `comet login` once), and call start() without it."
)


def start(course: str | None = None, lab: str | None = None, *, student: str | None = None,
          student_id: str | None = None, project: str | None = None, workspace: str | None = None,
          offline_dir: str | os.PathLike | None = None, **params: Any) -> Tracker:
    """Start recording a training run on Comet, online when possible, offline otherwise.

    The run goes online only when a person is running the notebook
    (not :func:`labkit.config.headless`), an API key is set, and the Comet
    server answers within a few seconds. Otherwise it is written to an offline
    archive in ``offline_dir``, to be uploaded later with ``comet upload``; the
    network is never tried while grading. ``LABKIT_TRACKING=off`` records
    nothing at all. Starting never raises because of Comet: a failure becomes
    a :class:`TrackingWarning` and a tracker that records nothing.

    The run carries the course and the student's id (:mod:`labkit.course`) as parameters
    (``course``, ``student_id``) and as tags (the course's name, ``student_id:<id>``), offline
    archives included: the instructor's review joins runs to graded submissions by that id.

    Parameters
    ----------
    course : str, optional
        The course's name; by default :func:`labkit.course.name` (``LABKIT_COURSE``, else the
        ``course.json`` beside the notebook, else ``"labkit"``).
    lab : str
        The lab, e.g. ``lab="lab2"``: with the course and the student, it names the run.
    student : str, optional
        The student's part of the run's name; defaults to the student id, else the operating
        system's user name (the login on a course JupyterHub).
    student_id : str, optional
        Defaults to :func:`labkit.course.student_id` (``LABKIT_STUDENT_ID``, else the id
        ``labkit course --student-id`` saved); without one, the run is not linked to a grade.
    project : str, optional
        The Comet project; defaults to the course, so that one project holds a class.
    workspace : str, optional
        The Comet workspace; defaults to the user's own.
    offline_dir : str or path-like, optional
        Where offline archives go; defaults to ``./comet-offline``.
    **params
        Hyperparameters to log at once, e.g. ``learning_rate=0.01, epochs=5``.

    Returns
    -------
    Tracker

    Raises
    ------
    ValueError
        When an API key is passed as an argument, ``lab`` or ``course`` is empty, or
        ``student_id`` is not a usable student id.
    """
    if KEY_PARAMETER_NAMES & {name.lower() for name in params}:
        raise ValueError(KEY_IN_CODE_MESSAGE)
    if course is None:
        course = _configured(labkit_course.name, labkit_course.DEFAULT_COURSE)
    for argument, value in (("course", course), ("lab", lab)):
        if not (isinstance(value, str) and value.strip()):
            raise ValueError(f"{argument}={value!r} must name the run, e.g. start(course='dl101', lab='lab2').")
    if student_id is None:
        student_id = _configured(labkit_course.student_id, None)
    else:
        labkit_course.checked_student_id(student_id, "student_id=")
    student = student or student_id or default_student()
    name = experiment_name(course, lab, student)
    if not config.tracking_enabled():
        return Tracker.off(name, "LABKIT_TRACKING=off")
    directory = Path(offline_dir or DEFAULT_OFFLINE_DIR).resolve()
    tags = (course, lab, student, *((f"{STUDENT_ID_TAG}{student_id}",) if student_id else ()))
    try:
        tracker = _open(name, tags=tags, project=project or slug(course), workspace=workspace, directory=directory)
    except Exception as error:  # noqa: BLE001 - tracking must never stop a lab
        warnings.warn(f"Comet tracking is off for this run: {_explain(error)}", TrackingWarning, stacklevel=2)
        return Tracker.off(name, f"Comet could not start: {_explain(error)}")
    tracker.log_params({"course": course.strip(), **({"student_id": student_id} if student_id else {}), **params})
    return tracker


def _configured(read, default):
    """``read()``, the course configuration; a broken one is a warning and ``default``, never a stopped lab."""
    try:
        return read()
    except ValueError as error:
        warnings.warn(f"{error} Tracking goes on without it.", TrackingWarning, stacklevel=3)
        return default


def experiment_name(course: str, lab: str, student: str) -> str:
    """The run's name on Comet, sortable by course, then lab, then student: ``dl101-lab2-ada``."""
    return "-".join(part.strip() for part in (course, lab, student))


def default_student() -> str:
    """The operating system's user name, which on a course JupyterHub is the student's login."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a container user with no name
        return "unknown-student"


def slug(text: str) -> str:
    """``"Deep Learning 101"`` -> ``"deep-learning-101"``: a name Comet accepts for a project."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "labkit"


def _open(name: str, *, tags: tuple[str, ...], project: str, workspace: str | None,
          directory: Path) -> Tracker:
    """Open the experiment wherever it can go now, falling back to offline, and label it."""
    mode, reason = _destination(has_key=_comet.api_key() is not None)
    experiment = _comet.open_online(project=project, workspace=workspace) if mode == "online" else None
    if experiment is not None and not experiment.alive:
        mode, reason, experiment = "offline", "Comet refused the connection (is the API key right?)", None
        warnings.warn(f"{reason}; logging offline to {directory} instead.", TrackingWarning, stacklevel=3)
    if experiment is None:
        experiment = _comet.open_offline(project=project, workspace=workspace, directory=directory)
    experiment.set_name(name)
    experiment.add_tags([tag.strip() for tag in tags])
    return Tracker(experiment, name=name, mode=mode, reason=reason)


def _destination(*, has_key: bool) -> tuple[Mode, str]:
    """Whether a run can go online, and why not."""
    if config.headless():
        return "offline", "headless run (grading or CI): never online"
    if not has_key:
        return "offline", "no API key in COMET_API_KEY or ~/.comet.config"
    address = _comet.server_address()
    if not _comet.reachable(address, PROBE_TIMEOUT_S):
        reason = f"the Comet server ({address}) did not answer within {PROBE_TIMEOUT_S:g} s"
        warnings.warn(f"{reason}; logging offline instead.", TrackingWarning, stacklevel=4)
        return "offline", reason
    return "online", "API key set and server reachable"


def _explain(error: Exception) -> str:
    if isinstance(error, ImportError):
        return "comet_ml is not installed (pip install 'labkit[comet]')."
    return f"{type(error).__name__}: {error}"
