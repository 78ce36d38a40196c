"""Exercises a student can check, ask a hint for, and see solved, as in Kaggle's learntools.

A notebook's setup cell defines the questions::

    q1 = labkit.check.Question(
        check=lambda: labkit.check.architecture(model, MLP, input_shape=(28, 28)),
        hint="Flatten the image, then one hidden Dense layer and a softmax output.",
        solution="model = keras.Sequential([...])",
    )

and the student calls ``q1.check()``, ``q1.hint()`` and ``q1.solution()``. A
check shows a green "Correct" or a red "Not yet" with everything that is wrong;
it never throws a traceback at a student. Under grading (nbgrader, CI,
``LABKIT_HEADLESS=1``) a failed check raises ``AssertionError`` instead, so that
the test cell fails and the grade shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from labkit import config
from labkit.check.display import Message, show
from labkit.check.report import Difference, Report

__all__ = ["Question"]


class Question:
    """One exercise: a check, hints, and a solution.

    Parameters
    ----------
    check : callable
        Called with whatever arguments ``q.check(...)`` receives. It passes by
        returning a passing :class:`Report`, True or None, and fails by
        returning a failing Report or False, or by raising AssertionError (so
        plain ``assert`` statements work).
    hint : str or sequence of str, optional
        One hint, or several shown one at a time: ``q.hint()``, ``q.hint(2)``.
    solution : str, optional
        Shown verbatim by ``q.solution()``, usually code.
    """

    def __init__(self, check: Callable[..., Any], *, hint: str | Sequence[str] = (),
                 solution: str | None = None):
        if not callable(check):
            raise TypeError(f"check={check!r} is not callable; pass a function that checks the answer.")
        self._check = check
        self._hints = (hint,) if isinstance(hint, str) else tuple(hint)
        self._solution = solution

    def evaluate(self, *args: Any, **kwargs: Any) -> Report:
        """Run the check and return its Report, showing nothing and raising for no student error."""
        try:
            outcome = self._check(*args, **kwargs)
        except AssertionError as error:
            return Report("The answer is not right yet.",
                          (Difference("assertion", str(error) or "A check did not pass."),))
        except Exception as error:  # the student's code raised: explain it instead of a traceback
            return Report("Checking the answer raised an error.",
                          (Difference("error", f"{type(error).__name__}: {error}"),))
        return _as_report(outcome)

    def check(self, *args: Any, **kwargs: Any) -> None:
        """Check the answer and show the verdict; under grading, a failure raises AssertionError."""
        report = self.evaluate(*args, **kwargs)
        show(verdict(report))
        if not report and config.headless():
            raise AssertionError(str(report))

    def hint(self, number: int = 1) -> None:
        """Show hint ``number`` (counting from 1)."""
        show(self.hint_message(number))

    def solution(self) -> None:
        """Show the solution."""
        show(self.solution_message())

    def hint_message(self, number: int = 1) -> Message:
        if not self._hints:
            return Message("hint", "There is no hint for this question.")
        if not 1 <= number <= len(self._hints):
            count = len(self._hints)
            return Message("hint", f"This question has {count} hint{'s' if count > 1 else ''}; "
                                   f"ask for one of 1 to {count}.")
        title = "Hint" if len(self._hints) == 1 else f"Hint {number} of {len(self._hints)}"
        return Message("hint", title, body=self._hints[number - 1])

    def solution_message(self) -> Message:
        if self._solution is None:
            return Message("solution", "There is no solution to show for this question.")
        return Message("solution", "Solution", code=self._solution)


def verdict(report: Report) -> Message:
    """What a student sees after a check: "Correct" in green, or "Not yet" in red with every difference."""
    return Message(
        "success" if report else "failure",
        "Correct" if report else "Not yet",
        body=report.summary,
        items=tuple(difference.message for difference in report.differences),
    )


def _as_report(outcome: Any) -> Report:
    if isinstance(outcome, Report):
        return outcome
    if outcome is None or outcome is True:
        return Report("")
    if outcome is False:
        return Report("The answer is not right yet.",
                      (Difference("incorrect", "Not the expected answer; q.hint() may help."),))
    raise TypeError(
        f"The question's check returned {outcome!r}; it should return a labkit.check Report, "
        "True/False or None, or raise AssertionError."
    )
