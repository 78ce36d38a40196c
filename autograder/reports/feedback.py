"""What the grader writes for people: the class's ``grades.csv`` and one feedback page per student.

Every text on a feedback page is escaped: messages quote the student's own
errors and outputs, which may hold any markup, and any character (a lone
surrogate a notebook's JSON spelled out is written as ``\udcff``). Every CSV
goes through :func:`autograder.reports.spreadsheets.write_csv`, so no cell is a formula.
"""

from __future__ import annotations

import html
from pathlib import Path

from autograder.pipeline.results import SubmissionResult
from autograder.reports import spreadsheets
from autograder.scoring import model_fingerprints
from labkit._files import replaced_atomically

FIXED_COLUMNS = ["student_id", "lab", "score", "max_score", "status"]


def _number(value: float) -> str:
    return f"{value:g}"


def grades_rows(results: list[SubmissionResult], parts: list[str]) -> list[list[str]]:
    rows = [FIXED_COLUMNS + parts]
    for result in results:
        points = {part.part: part.points for part in result.parts}
        rows.append([result.student_id, result.lab, _number(result.score), _number(result.max_score),
                     result.status, *(_number(points.get(part, 0.0)) for part in parts)])
    return rows


def write_grades_csv(path: Path, results: list[SubmissionResult], parts: list[str]) -> None:
    """One row per submission: the total, the status and the points of each graded part."""
    spreadsheets.write_csv(path, grades_rows(results, parts))


def write_identical_models_csv(path: Path, pairs) -> None:
    """For the instructor: pairs of students whose models have the same or nearly the same weights."""
    spreadsheets.write_csv(path, model_fingerprints.csv_rows(pairs))


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; line-height: 1.4; }
table { border-collapse: collapse; width: 100%; } td, th { border: 1px solid #ccc; padding: .4em; vertical-align: top; }
.pass { color: #176317; font-weight: bold; } .fail, .error, .timeout, .out-of-memory, .crashed { color: #a31515; font-weight: bold; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: .5em; max-height: 20em; overflow: auto; }
"""


def _value(value, threshold) -> str:
    if value is None and threshold is None:
        return ""
    shown = "—" if value is None else value
    return f"{shown} (threshold: {threshold})" if threshold is not None else f"{shown}"


def feedback_html(result: SubmissionResult) -> str:
    """The student's page: the score, each part's verdict and why, and the notebook's own test output."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(part.part)}</td><td class='{e(part.verdict)}'>{e(part.verdict)}</td>"
        f"<td>{e(_number(part.points))} / {e(_number(part.max_points))}</td>"
        f"<td>{e(_value(part.value, part.threshold))}</td><td><pre>{e(part.message)}</pre></td></tr>"
        for part in result.parts)
    notes = "".join(f"<li>{e(note)}</li>" for note in result.notes)
    tests = "".join(
        f"<h3>{e(test.grade_id)}: {'passed' if test.passed else 'failed'}</h3><pre>{e(test.output)}</pre>"
        for test in result.notebook_tests)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(result.lab)}: feedback for {e(result.student_id)}</title>
<style>{_STYLE}</style></head><body>
<h1>{e(result.lab)}: {e(_number(result.score))} / {e(_number(result.max_score))}</h1>
<p>Student {e(result.student_id)} · status {e(result.status)} · targets of the {e(result.profile)} profile</p>
<table><tr><th>part</th><th>verdict</th><th>points</th><th>measured</th><th>why</th></tr>{rows}</table>
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
<h2>Your notebook's own checks</h2>
<p>How the test cells ran in your notebook, for your information: the points above come from the
grader's own measurements, not from these.</p>
{tests or "<p>The notebook did not run far enough to show them.</p>"}
</body></html>
"""


def write_feedback(path: Path, result: SubmissionResult) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path, "w", encoding="utf-8", errors="backslashreplace") as handle:
        handle.write(feedback_html(result))
