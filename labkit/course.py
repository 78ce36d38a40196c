"""The course a notebook runs in and the student running it: what links a Comet run to a grade.

Each is read, at the moment it is needed, from the first of these that has it:

==============  ==========================================  =====================================
                course name                                 student id
==============  ==========================================  =====================================
environment     ``LABKIT_COURSE``                           ``LABKIT_STUDENT_ID``
course file     ``course.json`` beside the notebook (or in  (never: the file is the same for the
                the folder above), shipped by the           whole class)
                instructor with every lab
student file    (never)                                     ``labkit course --student-id ID``
                                                            writes it, in the user's config folder
default         ``"labkit"``                                none: runs are not linked to a grade
==============  ==========================================  =====================================

``python -m autograder release`` copies the course's ``course.json`` (in the course directory, beside
``nbgrader_config.py``) into every released lab, so ``make lab``'s ``work/<lab>/`` and nbgrader's
exchange carry it. A student id follows :data:`STUDENT_ID`, the rule the grader applies to the
names of the submission folders, so an id a student sets is one a submission folder can have.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from labkit._files import replaced_atomically

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""A student id, matched whole (``fullmatch``): it names the student's submission folder and output files."""

DEFAULT_COURSE = "labkit"
COURSE_FILE = "course.json"
STUDENT_FILE = "student.json"
MAX_FILE_BYTES = 64 * 2**10


@dataclass(frozen=True)
class Course:
    """The course's name and the student's id, each with where it was read (for ``labkit course``)."""

    name: str
    student_id: str | None
    name_from: str
    student_id_from: str


def is_student_id(text: object) -> bool:
    """Whether ``text`` is a usable student id (letters, digits, ``. _ -``, at most 64, no leading symbol)."""
    return isinstance(text, str) and STUDENT_ID.fullmatch(text) is not None


def checked_student_id(text: object, where: str = "the student id") -> str:
    """``text`` when it is a usable student id; otherwise a ValueError that says what one looks like."""
    if not is_student_id(text):
        raise ValueError(
            f"{where} {str(text)[:80]!r} is not a usable student id: use letters, digits, '.', '_' and '-' "
            "only, at most 64 characters, starting with a letter or a digit (the name your submission "
            "folder has, e.g. your login or student number)."
        )
    return text


def current(folder: str | os.PathLike | None = None) -> Course:
    """The course and the student, read now (see the module's table); ``folder`` is the notebook's (cwd)."""
    name, name_from = _course_name(Path(folder) if folder is not None else Path.cwd())
    student_id, student_from = _student_id()
    return Course(name, student_id, name_from, student_from)


def name(folder: str | os.PathLike | None = None) -> str:
    """The course's name: ``LABKIT_COURSE``, else ``course.json`` beside the notebook, else ``"labkit"``."""
    return _course_name(Path(folder) if folder is not None else Path.cwd())[0]


def student_id() -> str | None:
    """The student's id: ``LABKIT_STUDENT_ID``, else the one ``labkit course --student-id`` saved, else None."""
    return _student_id()[0]


def course_file(folder: Path) -> Path | None:
    """The ``course.json`` that applies in ``folder``: the folder's own, else its parent's; None if neither."""
    for candidate in (folder / COURSE_FILE, folder.parent / COURSE_FILE):
        if candidate.is_file():
            return candidate
    return None


def user_config_dir() -> Path:
    """Where a student's own settings are kept: ``LABKIT_CONFIG_DIR``, else platformdirs' user config folder."""
    raw = os.environ.get("LABKIT_CONFIG_DIR", "").strip()
    if raw:
        return Path(raw).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("labkit"))


def student_file() -> Path:
    return user_config_dir() / STUDENT_FILE


def set_student_id(value: str) -> Path:
    """Save ``value`` as this user's student id (checked first); returns the file written."""
    checked_student_id(value)
    path = student_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path, "w", encoding="utf-8") as handle:
        json.dump({"student_id": value}, handle)
        handle.write("\n")
    return path


def forget_student_id() -> bool:
    """Remove this user's saved student id; True if there was one."""
    try:
        student_file().unlink()
    except FileNotFoundError:
        return False
    return True


def _course_name(folder: Path) -> tuple[str, str]:
    raw = os.environ.get("LABKIT_COURSE", "").strip()
    if raw:
        return raw, "LABKIT_COURSE"
    path = course_file(folder)
    if path is None:
        return DEFAULT_COURSE, f"the default (no {COURSE_FILE} beside the notebook)"
    value = _read_object(path).get("course")
    if not (isinstance(value, str) and value.strip()):
        raise ValueError(f"{path} has no course name: it should hold {{\"course\": \"<name>\"}}, as the "
                         "instructor ships it.")
    return value.strip(), str(path)


def _student_id() -> tuple[str | None, str]:
    raw = os.environ.get("LABKIT_STUDENT_ID", "").strip()
    if raw:
        return checked_student_id(raw, "LABKIT_STUDENT_ID="), "LABKIT_STUDENT_ID"
    path = student_file()
    if not path.is_file():
        return None, "not set (labkit course --student-id ID sets it)"
    value = _read_object(path).get("student_id")
    return checked_student_id(value, f"{path} holds"), str(path)


def _read_object(path: Path) -> dict:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"more than {MAX_FILE_BYTES:,} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a readable JSON settings file ({error}); fix or delete it.") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object; fix or delete it.")
    return data
