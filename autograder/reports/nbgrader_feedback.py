"""Grading an nbgrader course's collected submissions, and handing the feedback back through nbgrader's exchange.

``nbgrader collect LAB`` leaves each hand-in in ``COURSE/submitted/<student>/<LAB>/``,
which is the grader's own layout: ``python -m autograder grade LAB COURSE --from
nbgrader`` grades that folder, then writes each student's feedback page where
nbgrader's ``generate_feedback`` would, so that ``nbgrader release_feedback LAB``
and the students' ``nbgrader fetch_feedback LAB`` carry it:
``COURSE/feedback/<student>/<LAB>/<LAB>.html``, beside copies of the submission's
``timestamp.txt`` and ``submission_secret.txt``. ``release_feedback`` (nbgrader
0.9) names the page in the exchange by the md5 of that secret and the notebook's
name; ``fetch_feedback`` finds it by the same secret, kept in the student's own
submission cache, and puts it in ``<LAB>/feedback/<timestamp>/<LAB>.html``.

The two text files were written by the student's ``nbgrader submit``, so they
are read as hostile: regular files reached through no link, short UTF-8 text,
copied byte for byte (the hash must match the student's copy). A submission
without them (nbgrader older than 0.8, or a folder put there by hand) gets no
released feedback, and a line says so; neither does a submission whose grading
ended with the status ``error`` (a rerun grades it again). Nothing is written
through a link: each folder on the way is a real folder, each file is replaced,
not written into.
"""

from __future__ import annotations

from pathlib import Path

from autograder.pipeline.results import SubmissionResult
from autograder.pipeline.submissions import STUDENT_ID
from autograder.sandbox.output import OutputRefused, read_bytes
from labkit._files import real_folder, replaced_atomically

SUBMITTED = "submitted"
"""nbgrader's ``CourseDirectory.submitted_directory`` (its default, which the course's nbgrader_config.py keeps)."""
FEEDBACK = "feedback"
"""nbgrader's ``CourseDirectory.feedback_directory`` (its default)."""
KEPT_FILES = ("timestamp.txt", "submission_secret.txt")
"""What ``release_feedback`` reads beside each page: when it was submitted, and the secret that names the page."""
MAX_TEXT_BYTES = 1024


def course_folders(path: Path) -> tuple[Path, Path]:
    """The course directory and its ``submitted/`` folder, given either of them.

    Raises FileNotFoundError, saying what to pass, when neither is.
    """
    path = Path(path)
    if (path / SUBMITTED).is_dir():
        return path, path / SUBMITTED
    if path.name == SUBMITTED and path.is_dir():
        return path.parent, path
    raise FileNotFoundError(
        f"{path} is not an nbgrader course directory: it holds no {SUBMITTED}/ folder. Pass the course directory "
        f"(the one holding nbgrader_config.py and {SUBMITTED}/), after `nbgrader collect LAB` has run there.")


def feedback_path(course: Path, student_id: str, lab: str) -> Path:
    """Where nbgrader's ``release_feedback`` looks for the student's page of ``lab``."""
    return Path(course) / FEEDBACK / student_id / lab / f"{lab}.html"


def write_course_feedback(course: Path, out: Path, lab: str, results: list[SubmissionResult]) -> list[str]:
    """Put each graded student's page (``OUT/feedback/<student>/<lab>.html``) in the course's feedback folder.

    Returns one line per student: where the page went, or why it did not.
    """
    course, submitted = course_folders(course)
    lines = []
    for result in results:
        student = result.student_id
        if not STUDENT_ID.fullmatch(student):  # results come from find(), which refuses these already
            continue
        if result.status == "error":
            lines.append(f"{student}: no feedback released, the grading ended with the status error "
                         "(a rerun grades it again)")
            continue
        try:
            kept = {name: _submitted_text(submitted, f"{student}/{lab}/{name}") for name in KEPT_FILES}
            page = read_bytes(Path(out), f"feedback/{student}/{lab}.html", 64 * 2**20)
            folder = real_folder(course, (FEEDBACK, student, lab))
            for name, data in kept.items():
                _replace(folder / name, data)
            _replace(folder / f"{lab}.html", page)
        except (OSError, OutputRefused, ValueError) as error:
            lines.append(f"{student}: no feedback released: {error}")
            continue
        lines.append(f"{student}: feedback for `nbgrader release_feedback` in {folder}")
    return lines


def _submitted_text(submitted: Path, path: str) -> bytes:
    """The bytes of one of nbgrader's text files in a submission (no link on the way), checked; ValueError when
    unfit."""
    name = path.rsplit("/", 1)[-1]
    try:
        data = read_bytes(submitted, path, MAX_TEXT_BYTES)
    except FileNotFoundError:
        raise ValueError(f"the submission has no {name} (submitted with nbgrader older than 0.8, or copied "
                         "there by hand); collect it with `nbgrader collect` from an nbgrader 0.8+ submission"
                         ) from None
    except OutputRefused as error:
        raise ValueError(f"the submission's {name} is not a plain file ({error})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"the submission's {name} is not UTF-8 text") from None
    if not text.strip() or not text.strip().isprintable():
        raise ValueError(f"the submission's {name} is not the one-line text nbgrader writes")
    return data


def _replace(path: Path, data: bytes) -> None:
    with replaced_atomically(path) as handle:  # a link there is replaced by the file, never written through
        handle.write(data)
