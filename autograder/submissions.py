"""Finding students' submissions and taking a private, safe copy of each.

A class hands in ``SUBMISSIONS/<student_id>/<lab>/``: the notebook
``<lab>.ipynb`` and what its save cells wrote (``artifacts/``,
``comet-offline/``). The grader never works on those folders: it copies the
regular files (no links, nothing above the size limits) into a private
temporary folder, and everything after that reads the copy.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""Student ids become file names in the output (feedback, results), so only these are accepted."""

MAX_FILE_BYTES = 64 * 2**20
MAX_SUBMISSION_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Submission:
    student_id: str
    lab: str
    folder: Path


@dataclass(frozen=True)
class Copied:
    """A submission's private copy, and what was left out of it and why."""

    folder: Path
    skipped: tuple[str, ...]


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
    for student in sorted(submissions_dir.iterdir()):
        if not (student / lab).is_dir() or student.is_symlink() or (student / lab).is_symlink():
            continue
        if not STUDENT_ID.match(student.name):
            refused.append(f"{student.name!r}: not a usable student id (letters, digits, . _ - only)")
            continue
        found.append(Submission(student.name, lab, student / lab))
    if not found:
        raise FileNotFoundError(_nothing_to_grade(submissions_dir, lab, refused))
    return found, refused


def _nothing_to_grade(submissions_dir: Path, lab: str, refused: list[str]) -> str:
    """Why no submission of ``lab`` was found, with a glimpse of what ``submissions_dir`` holds."""
    entries = sorted(submissions_dir.iterdir())
    held = [f"{entry.name}/" if entry.is_dir() else entry.name for entry in entries]
    inside = sorted({f"<student_id>/{sub.name}/" for entry in entries if entry.is_dir() and not entry.is_symlink()
                     for sub in entry.iterdir() if sub.is_dir()})
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


def copy(submission: Submission, destination: Path) -> Copied:
    """Copy the submission's regular files into ``destination``, leaving out links and oversized files."""
    skipped, total = [], 0
    for path in sorted(submission.folder.rglob("*")):
        relative = path.relative_to(submission.folder)
        if path.is_symlink():
            skipped.append(f"{relative}: a link, not a file")
            continue
        if not path.is_file():
            continue
        size = path.stat().st_size
        if size > MAX_FILE_BYTES or total + size > MAX_SUBMISSION_BYTES:
            skipped.append(f"{relative}: {size:,} bytes, over the limit of {MAX_FILE_BYTES:,} per file "
                           f"and {MAX_SUBMISSION_BYTES:,} per submission")
            continue
        total += size
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target, follow_symlinks=False)
    return Copied(destination, tuple(skipped))


def content_hash(folder: Path, *extra: str) -> str:
    """A sha256 over every regular file's relative path and bytes (and ``extra``): a submission's identity.

    Re-grading skips a submission whose hash matches a finished result; the grader
    passes its own version, the lab's source and the profile as ``extra``, so a
    change to any of them grades again.
    """
    digest = hashlib.sha256()
    for part in extra:
        digest.update(part.encode() + b"\0")
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(2**20), b""):
                    digest.update(block)
            digest.update(b"\0")
    return digest.hexdigest()


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()
