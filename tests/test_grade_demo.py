"""``make demo``'s grading demo: its classes come from the grading tests' own, its table reads like the CSV."""

from __future__ import annotations

import importlib

import pytest

from autograder import demo
from autograder.graders import LABS
from tests.grading_corpus import CASES


def test_lab_1_s_demo_class_is_a_reference_an_untouched_notebook_a_seeded_bug_and_a_tampering_attempt():
    scores = {case.student_id: case.score for case in CASES if case.student_id in demo.DEMO_CLASSES["lab1-mnist"]}
    assert list(scores) == list(demo.DEMO_CLASSES["lab1-mnist"])
    full = scores["reference"]
    assert full > 0 and scores["untouched"] == 0 and scores["forge-results"] == 0
    assert 0 < scores["bug-train-step"] < full


def test_every_graded_lab_has_a_demo_class_of_four_students_its_grading_tests_build():
    assert list(demo.DEMO_CLASSES) == list(LABS)
    for lab, students in demo.DEMO_CLASSES.items():
        assert len(students) == 4 and students[:2] == ("reference", "untouched")


@pytest.mark.slow
@pytest.mark.parametrize("lab", [lab for lab in demo.DEMO_CLASSES if lab != "lab1-mnist"])
def test_the_demo_students_are_built_by_the_lab_s_grading_tests(lab, tmp_path, solution_run):
    class_dir = tmp_path / "class"
    importlib.import_module(f"tests.test_grade_{lab.split('-')[0]}").build_class(solution_run(lab).folder, class_dir)
    built = {folder.name for folder in class_dir.iterdir()}
    assert set(demo.DEMO_CLASSES[lab]) <= built, built
    assert all((class_dir / student / lab / f"{lab}.ipynb").is_file() for student in demo.DEMO_CLASSES[lab])


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


def test_a_lab_without_a_demo_class_is_refused_with_the_labs_that_have_one(capsys, monkeypatch):
    monkeypatch.setattr(demo, "DEMO_CLASSES", {"lab1-mnist": demo.DEMO_CLASSES["lab1-mnist"]})
    assert demo.main(["--lab", "lab2-fashion-mnist"]) == 2
    assert "no demo class for lab2-fashion-mnist; the demo grades: lab1-mnist" in capsys.readouterr().err
