"""Finding students' submissions and taking a private, safe copy of each.

A class hands in ``SUBMISSIONS/<student_id>/<lab>/``: the notebook
``<lab>.ipynb`` and what its save cells wrote (``artifacts/``,
``comet-offline/``). The grader never works on those folders: it copies the
regular files into a private temporary folder, and everything after that reads
the copy.

A submission folder is read as hostile, since nothing in it may stop the
grader: the walk keeps its own stack (a folder nested thousands of levels deep
cannot exhaust Python's recursion), never follows a link, opens no FIFO or
device, and stops at the :class:`Limits` (depth, number of entries, bytes). A
name that is not UTF-8 text is left out: it could be written nowhere the grader
writes. Whatever is left out becomes a note for the student's feedback, never an
exception.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from autograder.sandbox.output import OutputRefused, read_bytes
from labkit.course import STUDENT_ID  # noqa: F401 - the rule students' ids follow too (labkit course --student-id)
from labkit.handin import LIMITS, Limits, entry_kind, file_hash, is_text, left_out  # noqa: F401 - one home, shared with the student's check

MAX_NOTES = 20
"""Notes kept on what was left out; the rest are counted in one more."""


@dataclass(frozen=True)
class Submission:
    student_id: str
    lab: str
    folder: Path


@dataclass(frozen=True)
class Listing:
    """What a walk of a submission found: its files (path inside, bytes) and why anything else was left out."""

    files: tuple[tuple[str, int], ...]
    skipped: tuple[str, ...]


@dataclass(frozen=True)
class Copied:
    """A submission's private copy, and what was left out of it and why."""

    folder: Path
    skipped: tuple[str, ...]


# --- names -----------------------------------------------------------------------------------------


def printable_name(name: str) -> str:
    """A file name as text fit for any page or log: undecodable bytes as ``\\xNN``, control characters escaped."""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


# --- finding the class's submissions ---------------------------------------------------------------


def find(submissions_dir: Path, lab: str) -> tuple[list[Submission], list[str]]:
    """Every ``<student_id>/<lab>/`` folder, sorted by student, and a line for each one refused.

    Finding none is an error, not an empty class: it is almost always the wrong
    folder or the wrong lab, and the message shows what the folder holds instead.
    """
    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"{submissions_dir} is not a folder; pass the folder holding "
                                "one <student_id>/<lab>/ folder per student.")
    found, refused = [], []
    for name in sorted(os.listdir(submissions_dir)):
        folder = submissions_dir / name / lab
        if not _is_real_folder(submissions_dir / name) or not os.path.lexists(folder):
            continue  # a file, a link, or a student without this lab: not a submission of it
        problem = _refusal(name, folder)
        if problem:
            refused.append(f"'{printable_name(name)}': {problem}")
        else:
            found.append(Submission(name, lab, folder))
    if not found:
        raise FileNotFoundError(_nothing_to_grade(submissions_dir, lab, refused))
    return found, refused


def _refusal(student_id: str, folder: Path) -> str | None:
    """Why the student's folder ``folder`` cannot be graded, or None."""
    if not STUDENT_ID.fullmatch(student_id):
        return "not a usable student id (letters, digits, . _ - only); rename the folder to grade it"
    if not _is_real_folder(folder):
        return f"{folder.name} is a link or a file, not a folder; hand in the folder itself"
    return None


def _is_real_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _nothing_to_grade(submissions_dir: Path, lab: str, refused: list[str]) -> str:
    """Why no submission of ``lab`` was found, with a glimpse of what ``submissions_dir`` holds."""
    names = sorted(os.listdir(submissions_dir))
    folders = [name for name in names if _is_real_folder(submissions_dir / name)]
    held = [printable_name(name) + ("/" if name in folders else "") for name in names]
    inside = sorted({f"<student_id>/{printable_name(sub)}/" for name in folders
                     for sub in _folder_names(submissions_dir / name)})
    if refused:
        seen = "every one was refused: " + "; ".join(refused[:3])
    elif (submissions_dir / lab).is_dir():
        seen = f"it looks like one student's folder; pass the folder above it, {submissions_dir.parent}"
    elif not held:
        seen = "the folder is empty"
    else:
        seen = f"it holds {', '.join(held[:5])}{', ...' if len(held) > 5 else ''}"
        seen += f", with {', '.join(inside[:5])} inside" if inside else ", with no folders inside"
    return (f"no submission of {lab} in {submissions_dir}: {seen}. Each student's work goes in "
            f"{submissions_dir}/<student_id>/{lab}/ ({lab}.ipynb and the artifacts/ and comet-offline/ "
            "folders its save cells wrote); check the folder and the lab's name.")


def _folder_names(folder: Path) -> list[str]:
    try:
        return [name for name in os.listdir(folder) if _is_real_folder(folder / name)]
    except OSError:
        return []


# --- walking one submission --------------------------------------------------------------------------


def listing(folder: Path, limits: Limits = LIMITS) -> Listing:
    """Every regular file under ``folder`` within ``limits``, sorted by path, and why anything else was left out.

    Iterative, one folder read at a time: no depth or size of tree can make it
    recurse, and it stops reading once ``limits.entries`` have been looked at.
    """
    files, skipped, total, looked_at = [], [], 0, 0
    pending = [""]  # folders still to read, by their path inside ``folder``
    while pending:
        relative = pending.pop()
        entries, problem = _read_folder(folder, relative, limits.entries - looked_at)
        if problem:
            skipped.append(problem)
        for entry in entries:
            looked_at += 1
            if looked_at > limits.entries:
                skipped.append(f"everything after the first {limits.entries:,} files and folders (the limit)")
                return _listed(files, skipped)
            path = f"{relative}/{entry.name}" if relative else entry.name
            kind, size = entry_kind(entry)
            reason = left_out(path, kind, size, total, limits)
            if reason:
                skipped.append(f"{printable_name(path)}: {reason}")
            elif kind == "folder":
                pending.append(path)
            else:
                files.append((path, size))
                total += size
    return _listed(files, skipped)


def _read_folder(folder: Path, relative: str, room: int) -> tuple[list[os.DirEntry], str | None]:
    """The entries of ``folder/relative`` by name, at most ``room + 1`` of them, or why it could not be read."""
    try:
        with os.scandir(folder / relative if relative else folder) as scan:
            return sorted(itertools.islice(scan, room + 1), key=lambda entry: entry.name), None
    except OSError as error:
        return [], f"{printable_name(relative) or 'the submission folder'}: could not be read ({error.strerror})"



def _listed(files: list[tuple[str, int]], skipped: list[str]) -> Listing:
    return Listing(tuple(sorted(files, key=lambda file: file[0].split("/"))), tuple(skipped))


def summarised(notes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """At most :data:`MAX_NOTES` notes, the rest counted in one more: a feedback page stays readable."""
    if len(notes) <= MAX_NOTES:
        return tuple(notes)
    return (*notes[:MAX_NOTES], f"{len(notes) - MAX_NOTES:,} more files or folders, for reasons like the above")


# --- copying and hashing ------------------------------------------------------------------------------


def copy(submission: Submission, destination: Path, limits: Limits = LIMITS) -> Copied:
    """Copy the submission's regular files into ``destination``; note everything left out (never raises for it)."""
    destination.mkdir(parents=True, exist_ok=True)
    listed = listing(submission.folder, limits)
    skipped = list(listed.skipped)
    for path, size in listed.files:
        try:
            data = read_bytes(submission.folder, path, size)
            (destination / path).parent.mkdir(parents=True, exist_ok=True)
            (destination / path).write_bytes(data)
        except (OSError, OutputRefused) as error:  # changed or vanished since it was listed
            skipped.append(f"{printable_name(path)}: could not be copied ({error})")
    return Copied(destination, summarised(skipped))


def content_hash(folder: Path, *extra: str) -> str:
    """A sha256 over every regular file's relative path and bytes (and ``extra``): a submission's identity.

    Re-grading skips a submission whose hash matches a finished result; the grader
    passes its own version, the lab's source and the profile as ``extra``, so a
    change to any of them grades again. ``folder`` is a private copy, so every
    file in it is within the limits.
    """
    digest = hashlib.sha256()
    for part in extra:
        digest.update(part.encode() + b"\0")
    for path, size in listing(folder).files:
        digest.update(path.encode() + b"\0" + read_bytes(folder, path, size) + b"\0")
    return digest.hexdigest()

