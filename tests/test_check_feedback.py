"""Questions, reports and how they look: what a student sees, and what the grader gets."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from labkit.check import Difference, Question, Report
from labkit.check.display import Message
from labkit.check.feedback import verdict

FAILED = Report("The architecture differs from the specification in 1 place.",
                (Difference("units", "Layer 2 should be Dense(128) but is Dense(64)", 2),))


@pytest.fixture
def student(monkeypatch):
    """A person at the notebook: nothing marks the run as graded."""
    for name in ("LABKIT_HEADLESS", "NBGRADER_EXECUTION", "CI"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def grader(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")


def test_a_report_is_truthy_only_without_differences():
    assert Report("fine") and not FAILED
    assert str(FAILED) == ("✗ The architecture differs from the specification in 1 place.\n"
                           "  1. Layer 2 should be Dense(128) but is Dense(64)")
    Report("fine").assert_ok()
    with pytest.raises(AssertionError, match="but is Dense\\(64\\)"):
        FAILED.assert_ok()


def test_a_correct_answer_shows_correct(student, capsys):
    Question(check=lambda: Report("The architecture matches.")).check()
    assert capsys.readouterr().out == "✓ Correct\nThe architecture matches.\n"


def test_a_wrong_answer_lists_what_is_wrong_without_raising(student, capsys):
    question = Question(check=lambda: FAILED)
    question.check()
    out = capsys.readouterr().out
    assert out.startswith("✗ Not yet\nThe architecture differs")
    assert "1. Layer 2 should be Dense(128) but is Dense(64)" in out


def test_an_error_in_the_students_code_is_explained_not_raised(student, capsys):
    def check_model():
        return model  # noqa: F821 - the student has not run the cell that defines it

    Question(check=check_model).check()
    assert "NameError: name 'model' is not defined" in capsys.readouterr().out


def test_plain_asserts_and_arguments_work(student):
    def positive(value):
        assert value > 0, f"{value} is not positive"

    question = Question(check=positive)
    assert question.evaluate(3)
    failed = question.evaluate(-1)
    [difference] = failed.differences
    assert difference.aspect == "assertion"
    assert difference.message.startswith("-1 is not positive")  # pytest appends its own explanation
    assert not Question(check=lambda: False).evaluate()


def test_under_grading_a_failure_raises_and_a_success_does_not(grader, capsys):
    Question(check=lambda: True).check()
    with pytest.raises(AssertionError, match="but is Dense\\(64\\)"):
        Question(check=lambda: FAILED).check()
    assert "✗ Not yet" in capsys.readouterr().out  # shown before the grade is lost


def test_a_check_that_returns_something_else_is_the_instructors_mistake():
    with pytest.raises(TypeError, match="should return a labkit.check Report"):
        Question(check=lambda: "yes").evaluate()
    with pytest.raises(TypeError, match="not callable"):
        Question(check="lambda: True")


def test_hints_come_one_at_a_time_and_the_solution_as_code(student, capsys):
    question = Question(check=lambda: True, hint=["Flatten first.", "Then Dense(128)."],
                        solution="model = keras.Sequential([...])")
    question.hint()
    question.hint(2)
    question.hint(3)
    question.solution()
    out = capsys.readouterr().out
    assert "Hint 1 of 2\nFlatten first." in out and "Hint 2 of 2\nThen Dense(128)." in out
    assert "This question has 2 hints; ask for one of 1 to 2." in out
    assert "Solution\n\n    model = keras.Sequential([...])" in out
    assert Question(check=lambda: True).hint_message().title == "There is no hint for this question."


def test_html_is_coloured_and_escaped():
    page = verdict(FAILED)._repr_html_()
    assert "color: #c0262d" in page and "Not yet" in page
    assert "<li>Layer 2 should be Dense(128) but is Dense(64)</li>" in page
    code = Message("solution", "Solution", code="if a < b:\n    pass")._repr_html_()
    assert "if a &lt; b:" in code
    assert "color: #1b7a2e" in verdict(Report("ok"))._repr_html_()


def test_ipython_renders_reports_as_html_and_text():
    shell = InteractiveShell.instance()
    try:
        bundle, _ = shell.display_formatter.format(FAILED)
    finally:
        InteractiveShell.clear_instance()
    assert "<ol><li>Layer 2 should be Dense(128)" in bundle["text/html"]
    assert bundle["text/plain"] == str(FAILED)


def test_colour_on_a_terminal_only():
    message = Message("success", "Correct")
    assert message.text() == "✓ Correct"
    assert message.text(colour=True) == "\033[1;32m✓ Correct\033[0m"
