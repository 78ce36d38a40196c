"""``python -m autograder export``: real result files, a real roster, every output read back with csv.

The class: ada (graded, 5/8), bob (status error: the grader failed), cy
(incomplete: a part timed out), a student whose id starts with ``=`` and whose
roster name starts with ``@`` (both must come out as text), zed (graded but in
no roster row) and, on the roster only, gail (nothing graded). The roster is a
Canvas gradebook export with a ``student_id`` column added, its ``Points
Possible`` and ``Muted`` rows included, as an instructor downloads it.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from autograder.__main__ import main
from autograder.pipeline.results import SubmissionResult, judged, not_judged, write_result
from autograder.reports.spreadsheets import FORMULA_STARTS

LAB = "lab1-mnist"
HOSTILE_ID = '=HYPERLINK("evil.test")'
HOSTILE_NAME = "@SUM(A1:A9)"
CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
PARTS = ["test-fc-accuracy", "test-cnn-accuracy", "test-train-step"]


def scored(student: str, fc: bool, cnn: bool, train: str = "pass", grader_error: str | None = None):
    """A lab 1 result out of 8: fc 3, cnn 3, the training step 2 (``pass``, ``fail`` or a not-judged verdict)."""
    if grader_error:
        parts = tuple(not_judged(part, points, "error", "grader broke") for part, points in zip(PARTS, (3, 3, 2)))
    else:
        step = (judged(PARTS[2], 2, train == "pass", "step") if train in ("pass", "fail")
                else not_judged(PARTS[2], 2, train, "it hung"))
        parts = (judged(PARTS[0], 3, fc, "fc"), judged(PARTS[1], 3, cnn, "cnn"), step)
    return SubmissionResult(student, LAB, "hash", parts, grader_error=grader_error)


def graded_out(folder: Path, results: list[SubmissionResult]) -> Path:
    """A grading output folder holding these results, written as grading writes them."""
    for result in results:
        write_result(result, folder / "results" / LAB / f"{result.student_id}.json")
    return folder


CLASS = [scored("ada", True, False), scored("bob", False, False, grader_error="RuntimeError: broke"),
         scored("cy", True, False, train="timeout"), scored(HOSTILE_ID, True, True), scored("zed", True, True)]


def write_rows(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8-sig") as handle:  # a BOM, as Excel saves it
        csv.writer(handle).writerows(rows)
    return path


def canvas_roster(path: Path) -> Path:
    return write_rows(path, [
        [*CANVAS_HEADER, "Lab 1 (555)", "student_id", "Email address"],
        ["    Points Possible", "", "", "", "", "8", "", ""],
        ["", "", "", "", "", "Muted", "", ""],
        ["Lovelace, Ada", "1001", "s1001", "ada@uni.test", "DL101 A", "", "ada", "ada@uni.test"],
        ["Babbage, Bob", "1002", "s1002", "bob@uni.test", "DL101 A", "", "bob", "bob@uni.test"],
        ["Young, Cy", "1003", "s1003", "cy@uni.test", "DL101 B", "", "cy", "cy@uni.test"],
        ["Ghost, Gail", "1004", "s1004", "gail@uni.test", "DL101 B", "", "gail", "gail@uni.test"],
        [HOSTILE_NAME, "1005", "s1005", "eve@uni.test", "DL101 B", "", HOSTILE_ID, "eve@uni.test"],
    ])


def rows_of(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def formula_cells(path: Path) -> list[str]:
    return [cell for row in rows_of(path) for cell in row if cell.startswith(FORMULA_STARTS)]


@pytest.fixture
def out(tmp_path) -> Path:
    return graded_out(tmp_path / "graded", CLASS)


def export(out: Path, roster: Path, format: str, *extra: str) -> int:
    return main(["export", LAB, str(out), "--roster", str(roster), "--format", format, *extra])


def test_canvas_export_is_canvas_gradebook_import_with_points_possible(out, tmp_path, capsys):
    status = export(out, canvas_roster(tmp_path / "roster.csv"), "canvas", "--assignment", "Lab 1 (555)")

    written = out / "lms" / f"{LAB}-canvas.csv"
    rows = rows_of(written)
    assert rows[0] == [*CANVAS_HEADER, "Lab 1 (555)"]
    assert rows[1] == ["Points Possible", "", "", "", "", "8"]
    assert rows[2:] == [  # bob (error), gail (no grade) and zed (no roster row) are left out
        ["Lovelace, Ada", "1001", "s1001", "ada@uni.test", "DL101 A", "5"],
        ["Young, Cy", "1003", "s1003", "cy@uni.test", "DL101 B", "3"],
        [f"'{HOSTILE_NAME}", "1005", "s1005", "eve@uni.test", "DL101 B", "8"],
    ]
    assert formula_cells(written) == []
    assert status == 3

    report = (out / "lms" / f"{LAB}-canvas.report.txt").read_text(encoding="utf-8")
    assert report in capsys.readouterr().out
    sections = [section.rstrip("\n") for section in report.split("\n\n")]
    unmatched = next(section for section in sections if section.startswith("Graded submissions with no roster"))
    assert "zed (8/8, graded)" in unmatched and "ada" not in unmatched
    without = next(section for section in sections if section.startswith("Roster students with no graded"))
    assert "roster line 7: student_id 'gail', Student 'Ghost, Gail', ID '1004'" in without
    assert "Ada" not in without and "Points Possible" not in without and "Muted" not in without
    errors = next(section for section in sections if section.startswith("Scores that are not final: the grader"))
    assert errors.endswith("(1): not in the file, so the LMS keeps what it has; a rerun of grade grades them "
                           "again, then export again.\n  bob (0/8, error)")
    incomplete = next(section for section in sections if "(status incomplete) (1)" in section)
    assert incomplete.endswith("\n  cy (3/8, incomplete)")


def test_points_possible_scales_the_lms_scores(out, tmp_path):
    output = tmp_path / "canvas-100.csv"
    export(out, canvas_roster(tmp_path / "roster.csv"), "canvas", "--points-possible", "100",
           "--output", str(output))

    rows = rows_of(output)
    assert rows[0][-1] == LAB and rows[1][-1] == "100"
    assert [row[-1] for row in rows[2:]] == ["62.5", "37.5", "100"]
    assert (tmp_path / "canvas-100.report.txt").is_file()


def test_moodle_export_is_keyed_by_the_identifier_it_maps_from(out, tmp_path, capsys):
    roster = write_rows(tmp_path / "moodle.csv", [  # Moodle's own header names, in other cases
        ["first name", "LAST NAME", "Email Address", "STUDENT_ID"],
        ["Ada", "Lovelace", "ada@uni.test", "ada"],
        ["Cy", "Young", "", "cy"],
        ["Eve", "Hostile", "=eve@uni.test", HOSTILE_ID],
        ["Zed", "Zeta", "zed@uni.test", "zed"],
        ["Bob", "Babbage", "bob@uni.test", "bob"],
    ])
    status = export(out, roster, "moodle")

    written = out / "lms" / f"{LAB}-moodle.csv"
    assert rows_of(written) == [["Email address", LAB], ["ada@uni.test", "5"], ["'=eve@uni.test", "8"],
                                ["zed@uni.test", "8"]]
    assert status == 3
    printed = capsys.readouterr().out
    assert "map from 'Email address' to 'Email address'" in printed
    assert "Roster students with no Email address" in printed and "student_id 'cy'" in printed


def test_roster_export_keeps_the_roster_and_adds_scores_status_and_parts(out, tmp_path):
    status = export(out, canvas_roster(tmp_path / "roster.csv"), "roster")

    written = out / "lms" / f"{LAB}-roster.csv"
    rows = rows_of(written)
    assert rows[0] == [*CANVAS_HEADER, "Lab 1 (555)", "student_id", "Email address",
                       "score", "max_score", "status", *PARTS]
    by_id = {row[6]: row[8:] for row in rows[1:]}
    assert by_id == {
        "ada": ["5", "8", "graded", "3", "0", "2"],
        "bob": ["0", "8", "error", "0", "0", "0"],
        "cy": ["3", "8", "incomplete", "3", "0", "0"],
        "gail": ["", "", "not graded", "", "", ""],
        f"'{HOSTILE_ID}": ["8", "8", "graded", "3", "3", "2"],
    }
    assert formula_cells(written) == []
    assert status == 3


def test_a_canvas_export_with_student_id_as_its_first_column_still_skips_points_possible(tmp_path, capsys):
    out = graded_out(tmp_path / "graded", [scored("ada", True, True)])
    roster = write_rows(tmp_path / "roster.csv", [["student_id", "Student", "ID", "Section", "Lab 1"],
                                                  ["", "    Points Possible", "", "", "8"],
                                                  ["ada", "Lovelace, Ada", "1001", "A", ""]])

    assert export(out, roster, "roster") == 0
    assert [row[:2] for row in rows_of(out / "lms" / f"{LAB}-roster.csv")[1:]] == [["ada", "Lovelace, Ada"]]
    assert "Points Possible" not in capsys.readouterr().out


def test_everything_matched_is_status_0(tmp_path, capsys):
    out = graded_out(tmp_path / "graded", [scored("ada", True, True)])
    roster = write_rows(tmp_path / "roster.csv", [["student", "id", "student_id"], ["Lovelace, Ada", "1001", "ada"]])

    assert export(out, roster, "canvas") == 0
    assert rows_of(out / "lms" / f"{LAB}-canvas.csv")[2] == ["Lovelace, Ada", "1001", "", "", "", "8"]
    assert "Everything matched" in capsys.readouterr().out


def test_a_result_file_that_cannot_be_read_is_reported(tmp_path, capsys):
    out = graded_out(tmp_path / "graded", [scored("ada", True, True)])
    (out / "results" / LAB / "mallory.json").write_text("{not json", encoding="utf-8")
    roster = write_rows(tmp_path / "roster.csv", [["Student", "ID", "student_id"], ["Lovelace, Ada", "1001", "ada"]])

    assert export(out, roster, "canvas") == 3
    assert "mallory.json: not a result file the grader wrote" in capsys.readouterr().out


@pytest.mark.parametrize("header, format, named", [
    (["Student", "student_id"], "canvas", ["no ID column", "Export Entire Gradebook", "Section"]),
    (["Name", "ID", "Student"], "canvas", ["no student_id column", "submission folder name"]),
    (["First name", "student_id"], "moodle", ["Email address or ID number or Username", "Plain text file"]),
])
def test_a_roster_without_the_needed_columns_is_refused_with_their_names(out, tmp_path, capsys, header,
                                                                         format, named):
    roster = write_rows(tmp_path / "roster.csv", [header, ["x"] * len(header)])

    assert export(out, roster, format) == 2
    error = capsys.readouterr().err
    assert all(text in error for text in named), error
    assert not (out / "lms").exists()


@pytest.mark.parametrize("extra, says", [
    (["--dry-run"], "add --upload canvas"),
    (["--upload", "canvas", "--course-id", "7"], "--assignment-id"),
    (["--points-possible", "0"], "--points-possible 0"),
])
def test_options_that_do_not_fit_together_are_usage_errors(out, tmp_path, capsys, extra, says):
    assert export(out, canvas_roster(tmp_path / "roster.csv"), "canvas", *extra) == 2
    assert says in capsys.readouterr().err


def test_upload_needs_the_canvas_format_and_a_roster_with_canvas_ids(out, tmp_path, capsys):
    assert export(out, canvas_roster(tmp_path / "roster.csv"), "roster", "--upload", "canvas",
                  "--course-id", "7", "--assignment-id", "42", "--dry-run") == 2
    assert "give --format canvas" in capsys.readouterr().err


def test_a_submission_id_on_two_roster_rows_is_refused(out, tmp_path, capsys):
    roster = write_rows(tmp_path / "roster.csv", [["Student", "ID", "student_id"], ["A", "1", "ada"],
                                                  ["B", "2", "ada"]])

    assert export(out, roster, "canvas") == 2
    assert "ada (lines 2, 3)" in capsys.readouterr().err


def test_a_lab_never_graded_is_a_usage_error(out, tmp_path, capsys):
    roster = canvas_roster(tmp_path / "roster.csv")
    assert main(["export", "lab2-fashion-mnist", str(out), "--roster", str(roster), "--format", "canvas"]) == 2
    assert f"{out} holds results of {LAB}" in capsys.readouterr().err


def test_dry_run_prints_the_bulk_update_request_and_sends_nothing(out, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CANVAS_API_URL", "https://canvas.example.test/")
    monkeypatch.setenv("CANVAS_API_TOKEN", "secret-token-never-shown")
    status = export(out, canvas_roster(tmp_path / "roster.csv"), "canvas", "--upload", "canvas",
                    "--course-id", "7", "--assignment-id", "42", "--dry-run")

    printed = capsys.readouterr().out
    request = printed[printed.index("Dry run: nothing sent."):].splitlines()
    assert "https://canvas.example.test" in request[0]
    assert request[1:] == [
        "GET /api/v1/courses/7",
        "GET /api/v1/courses/7/assignments/42",
        "POST /api/v1/courses/7/assignments/42/submissions/update_grades",
        "  grade_data[1001][posted_grade]=5",
        "  grade_data[1003][posted_grade]=3",
        "  grade_data[1005][posted_grade]=8",
        "3 student(s) in grade_data.",
    ]
    assert "secret-token-never-shown" not in printed
    assert "canvasapi" not in sys.modules
    assert status == 3  # the report still lists bob, cy, gail and zed


def test_dry_run_reports_roster_students_without_a_canvas_id(tmp_path, capsys):
    out = graded_out(tmp_path / "graded", [scored("ada", True, True), scored("cy", False, False)])
    roster = write_rows(tmp_path / "roster.csv", [["Student", "ID", "student_id"], ["Ada", "1001", "ada"],
                                                  ["Cy", "", "cy"]])

    assert export(out, roster, "canvas", "--upload", "canvas", "--course-id", "7", "--assignment-id", "42",
                  "--dry-run") == 3
    printed = capsys.readouterr().out
    assert "Not uploaded (1): no Canvas ID in the roster.\n  roster line 3: student_id 'cy'" in printed
    assert "grade_data[1001][posted_grade]=8" in printed and "1 student(s) in grade_data." in printed


def test_upload_without_a_token_sends_nothing_and_says_where_it_goes(out, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CANVAS_API_TOKEN", raising=False)
    monkeypatch.setenv("CANVAS_API_URL", "https://canvas.example.test")
    status = export(out, canvas_roster(tmp_path / "roster.csv"), "canvas", "--upload", "canvas",
                    "--course-id", "7", "--assignment-id", "42")

    assert status == 2
    assert "set CANVAS_API_TOKEN in the environment" in capsys.readouterr().err
    assert (out / "lms" / f"{LAB}-canvas.csv").is_file()  # the export stands


def test_upload_without_canvasapi_says_how_to_install_it(out, tmp_path, capsys, monkeypatch):
    try:
        import canvasapi  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("canvasapi is installed here: an upload would try the network")
    monkeypatch.setenv("CANVAS_API_TOKEN", "secret-token-never-shown")
    monkeypatch.setenv("CANVAS_API_URL", "https://canvas.example.test")
    status = export(out, canvas_roster(tmp_path / "roster.csv"), "canvas", "--upload", "canvas",
                    "--course-id", "7", "--assignment-id", "42")

    assert status == 2
    error = capsys.readouterr().err
    assert "pip install canvasapi" in error and "secret-token-never-shown" not in error
