"""The grades in nbgrader's gradebook, so that ``nbgrader export`` and formgrader see them.

Only the grading parent process writes it, one submission at a time, and only
numbers and student ids go in: no student file is ever copied near it. The
lab's notebook and graded cells are registered from the trusted source notebook.
``nbgrader export`` writes its CSV as the gradebook holds it, with no quoting,
so every id is checked here to be one that no spreadsheet reads as a formula.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from autograder.pipeline import source
from autograder.pipeline.submissions import STUDENT_ID

GRADEBOOK = "gradebook.db"


def open_for(out: Path, lab: str, source_notebook: Path):
    """The gradebook ``out/gradebook.db``, holding ``lab`` with its graded cells and points."""
    from nbgrader.api import Gradebook

    from autograder.release import scripts_of_this_environment_on_path

    with scripts_of_this_environment_on_path():  # nbgrader runs `alembic` by name
        book = Gradebook(f"sqlite:///{Path(out).resolve() / GRADEBOOK}")
    book.update_or_create_assignment(lab)
    notebook_name = source_notebook.stem
    book.update_or_create_notebook(notebook_name, lab)
    for grade_id, points in source.graded_points(source.read(source_notebook)).items():
        book.update_or_create_grade_cell(grade_id, notebook_name, lab, max_score=points, cell_type="code")
    return book


def record(book, result) -> None:
    """Set the student's auto scores for ``result``'s lab (creating the student and submission)."""
    if not STUDENT_ID.fullmatch(result.student_id):
        raise ValueError(f"{result.student_id!r} is not a student id (letters, digits, . _ - only, a letter or "
                         "digit first); it is kept out of the gradebook, whose export no spreadsheet may run.")
    book.update_or_create_student(result.student_id)
    with warnings.catch_warnings():  # nbgrader's own session handling warns on every new submission
        warnings.simplefilter("ignore", category=Warning)
        book.update_or_create_submission(result.lab, result.student_id)
    for part in result.parts:
        grade = book.find_grade(part.part, result.lab, result.lab, result.student_id)  # notebook <lab>.ipynb
        grade.auto_score = part.points
        grade.needs_manual_grade = False  # the grader's verdict is final; formgrader may still override
    book.db.commit()
