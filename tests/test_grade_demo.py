"""``make demo``'s grading demo: its class comes from the grading corpus, its table reads like the CSV."""

from __future__ import annotations

from autograder import demo
from tests.grading_corpus import CASES


def test_the_demo_class_is_a_reference_an_untouched_notebook_a_seeded_bug_and_a_tampering_attempt():
    scores = {case.student_id: case.score for case in CASES if case.student_id in demo.DEMO_CASES}
    assert list(scores) == list(demo.DEMO_CASES)
    full = scores["reference"]
    assert full > 0 and scores["untouched"] == 0 and scores["forge-results"] == 0
    assert 0 < scores["bug-train-step"] < full


def test_the_grade_table_lines_up_the_csv_columns(tmp_path):
    grades = tmp_path / "grades.csv"
    grades.write_text("student_id,score,max_score\nreference,14,14\nuntouched,0,14\n")

    lines = demo.grade_table(grades).splitlines()

    assert [line.split() for line in lines] == [["student_id", "score", "max_score"],
                                                ["reference", "14", "14"], ["untouched", "0", "14"]]
    assert len({line.index(line.split()[1]) for line in lines}) == 1  # the second column starts in one place


def test_a_lab_without_a_grader_is_refused_with_the_labs_that_have_one(capsys):
    assert demo.main(["--lab", "lab9-unknown"]) == 2
    assert "cannot grade lab9-unknown yet; it grades: lab1-mnist" in capsys.readouterr().err


def test_a_lab_without_a_demo_class_is_refused_with_the_labs_that_have_one(capsys):
    assert demo.main(["--lab", "lab2-fashion-mnist"]) == 2
    assert "no demo class for lab2-fashion-mnist; the demo grades: lab1-mnist" in capsys.readouterr().err
