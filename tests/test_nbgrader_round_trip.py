"""A lab all the way round nbgrader's exchange, graded by our sandboxed grader, its feedback fetched by the students.

With nbgrader's own commands (run in this process, as in tests/test_nbgrader_exchange.py),
a scratch course and a scratch exchange: generate, release, fetch as two students,
run (one honest, one untouched), submit, collect; then ``python -m autograder grade
LAB COURSE --from nbgrader`` in a subprocess, the real command line; then nbgrader's
``release_feedback`` as the instructor and ``fetch_feedback`` as each student, who
must find our feedback page with their score. The fast test checks the hand-back
alone, with pages written here in the grader's place.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from autograder.pipeline.results import read_result
from autograder.reports import nbgrader_feedback
from tests.grading_class import require_sandbox
from tests.notebooks import REPO
from tests.test_nbgrader_exchange import LAB, RUN_OUTPUTS, Course, files_in, write

STUDENTS = ("ada", "bob")
ARTIFACT_PARTS = ("test-fc-accuracy", "test-cnn-accuracy")
"""The parts judged on the trained models in artifacts/: they pass only if the models survived the trip."""


def hand_in(course: Course, tmp_path: Path, lab_folders: dict[str, Path | None]) -> dict[str, Path]:
    """Generate, release, fetch as each student, put what each student's run left in their folder, submit and
    collect; the students' homes."""
    course.as_instructor("generate_assignment", LAB)
    course.as_instructor("release_assignment", LAB)
    homes = {student: tmp_path / "home" / student for student in lab_folders}
    for student, run in lab_folders.items():
        course.as_student("fetch_assignment", LAB, home=homes[student])
        if run is not None:  # the student's run of the lab, over the fetched notebook
            shutil.copytree(run, homes[student] / LAB, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".kernels"))
        course.as_student("submit", LAB, f"--student={student}", home=homes[student])
    course.as_instructor("collect", LAB)
    return homes


def fetched_feedback(course: Course, home: Path, student: str) -> dict[str, str]:
    """``fetch_feedback`` as the student: the pages in ``<home>/<LAB>/feedback/<timestamp>/``, by timestamp."""
    course.as_student("fetch_feedback", LAB, f"--student={student}", home=home)
    folder = home / LAB / "feedback"
    return {path.parent.name: path.read_text() for path in folder.glob(f"*/{LAB}.html")} if folder.is_dir() else {}


def test_feedback_written_for_nbgrader_is_released_and_fetched_by_each_student_alone(tmp_path, monkeypatch):
    course = Course(tmp_path, monkeypatch)
    run = tmp_path / "run"
    write(run, RUN_OUTPUTS)
    homes = hand_in(course, tmp_path, {"ada": run, "bob": None, "eve": None})
    submitted = course.instructor / "submitted"
    secret = submitted / "eve" / LAB / "submission_secret.txt"
    secret.unlink()
    secret.symlink_to(submitted / "ada" / LAB / "submission_secret.txt")  # eve would get ada's feedback
    out = tmp_path / "graded"
    for student in homes:
        write(out / "feedback" / student, {f"{LAB}.html": f"<h1>feedback for {student}</h1>".encode()})
    results = [SimpleNamespace(student_id=student, status="graded") for student in homes]

    lines = nbgrader_feedback.write_course_feedback(course.instructor, out, LAB, results)

    assert lines[:2] == [f"{student}: feedback for `nbgrader release_feedback` in "
                         f"{course.instructor / 'feedback' / student / LAB}" for student in ("ada", "bob")]
    assert lines[2].startswith("eve: no feedback released: the submission's submission_secret.txt is not a plain "
                               "file (eve/lab1-mnist/submission_secret.txt is a link")
    course.as_instructor("release_feedback", LAB)
    for student in ("ada", "bob"):
        timestamp = (submitted / student / LAB / "timestamp.txt").read_text()
        assert fetched_feedback(course, homes[student], student) == {
            timestamp: f"<h1>feedback for {student}</h1>"}
    assert fetched_feedback(course, homes["eve"], "eve") == {}


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_a_lab_goes_round_nbgrader_s_exchange_graded_by_our_grader(tmp_path, monkeypatch, solution_run, mirror_dir):
    require_sandbox()
    course = Course(tmp_path, monkeypatch)
    # ada's run: the solution run as a student runs it (its notebook, artifacts/ and comet-offline/); bob's: none
    homes = hand_in(course, tmp_path, {"ada": solution_run(LAB).folder, "bob": None})
    submitted = course.instructor / "submitted"
    assert {"artifacts/fc.keras", "artifacts/cnn.keras"} <= files_in(submitted / "ada" / LAB)

    out = tmp_path / "graded"
    environment = {**os.environ, "LABKIT_DATA_DIR": str(mirror_dir), "HOME": str(tmp_path / "instructor-home")}
    ran = subprocess.run([sys.executable, "-m", "autograder", "grade", LAB, str(course.instructor), "--from",
                          "nbgrader", "--out", str(out), "--profile", "quick", "--workers", "1"],
                         capture_output=True, text=True, timeout=1800, env=environment, cwd=REPO)

    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    results = {student: read_result(out / "results" / LAB / f"{student}.json") for student in STUDENTS}
    verdicts = {student: {part.part: part.verdict for part in result.parts} for student, result in results.items()}
    assert results["ada"].score > 0 and all(verdicts["ada"][part] == "pass" for part in ARTIFACT_PARTS), verdicts
    assert results["bob"].score == 0 and results["bob"].status == "graded", verdicts
    for student in STUDENTS:
        assert f"{student}: feedback for `nbgrader release_feedback` in" in ran.stdout

    course.as_instructor("release_feedback", LAB)
    for student in STUDENTS:
        timestamp = (submitted / student / LAB / "timestamp.txt").read_text()
        pages = fetched_feedback(course, homes[student], student)
        assert list(pages) == [timestamp]
        assert pages[timestamp] == (out / "feedback" / student / f"{LAB}.html").read_text()
        assert f"{results[student].score:g} / {results[student].max_score:g}" in pages[timestamp]
