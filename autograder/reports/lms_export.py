"""Grades where the school keeps them: a lab's graded results as an LMS's own import file.

The grader knows students by their submission folder's name; an LMS knows them
by its own ids. A roster, the CSV an instructor exports from the LMS with one
column added (``student_id``, the folder name), joins the two. Three files come
out of that join:

- ``canvas``: Canvas's gradebook import, ``Student, ID, SIS User ID, SIS Login
  ID, Section, <assignment>``, then a ``Points Possible`` row, as Canvas's own
  importer (``GradebookImporter`` in canvas-lms) reads it: it finds the header
  by ``Student`` and ``ID`` and the row by the words ``Points Possible`` in its
  first cell, and matches each student by ``ID``, then SIS User ID, then SIS
  Login ID, then name.
- ``moodle``: Moodle's "Import grades from CSV": one identifier column, mapped
  at import ("Map from" ``Email address`` to ``Email address``, or ID number,
  or username), and the assignment's column, mapped to a grade item.
- ``roster``: the roster's own columns, then score, max_score, status and each
  part's points: every roster student, for a spreadsheet.

Nothing is silently dropped. An LMS file holds only the students it can take
without harm: a graded submission with no roster row is left out (there is no
LMS id to give it), and so is a roster student with no grade, because both
importers read an empty cell as "no grade" and would clear one already there
(Canvas's upload posts it as a changed grade; Moodle stores no grade). A row
Moodle cannot match aborts Moodle's whole import, so a roster row without its
identifier is left out too. A submission whose status is ``error`` (the
grader's failure, graded again by a rerun) is left out of the LMS files, not
posted as a zero. Every one of these is listed in the report, printed and
written beside the export, and makes the command's exit status 3.

``--upload canvas`` posts the same grades through Canvas's REST API
(``POST /api/v1/courses/:course_id/assignments/:assignment_id/submissions/update_grades``
with ``grade_data[<user_id>][posted_grade]``), through the optional
``canvasapi`` package, with the token and URL taken from the environment, never
from the command line; ``--dry-run`` prints that request and sends nothing.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from autograder.pipeline.results import SubmissionResult, read_result
from autograder.reports import spreadsheets
from labkit._files import replaced_atomically

EXPORTED = 0
"""Exit status: every roster student has a final grade and every graded submission a roster row."""
USAGE_ERROR = 2
"""... nothing exported: a wrong folder, lab, roster or option."""
UPLOAD_FAILED = 1
"""... the export was written, but Canvas did not take the upload."""
SOME_UNMATCHED = 3
"""... the export was written, but the report lists students it leaves out or scores that are not final."""

ID_COLUMN = "student_id"
"""The roster column holding the grader's student id (the submission folder's name), by default."""

CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
"""Canvas's identity columns, as its gradebook export names them and its import expects them."""
CANVAS_REQUIRED = ("Student", "ID")
"""What Canvas's importer cannot do without: the header starts ``Student, ID``; ``ID`` matches first."""

MOODLE_IDENTIFIERS = ("Email address", "ID number", "Username")
"""The user fields Moodle's CSV import can map a row to a user by, as Moodle's grade export names them."""

POINTS_POSSIBLE = "Points Possible"

TOKEN_VARIABLE = "CANVAS_API_TOKEN"
URL_VARIABLE = "CANVAS_API_URL"

NOT_GRADED = "not graded"
"""The roster file's status for a roster student with no graded submission."""


class RosterError(ValueError):
    """The roster cannot be used: missing, unreadable, without the needed columns, or ambiguous."""


# --- reading -----------------------------------------------------------------------------------------


def header_key(name: str) -> str:
    """A header as compared: case, spaces and underscores do not matter (``SIS_user_id`` is ``SIS User ID``)."""
    return " ".join(name.replace("_", " ").split()).casefold()


@dataclass(frozen=True)
class RosterRow:
    """One student of the roster: its line in the file and its cells, by header key."""

    line: int
    cells: dict[str, str]

    def get(self, column: str) -> str:
        return self.cells.get(header_key(column), "")

    def label(self, id_column: str) -> str:
        """How the report names the student: the submission id and what the LMS calls them."""
        known = [f"{column} {self.cells[header_key(column)]!r}" for column in (id_column, *CANVAS_COLUMNS[:2],
                                                                               *MOODLE_IDENTIFIERS)
                 if self.cells.get(header_key(column))]
        return f"roster line {self.line}: " + (", ".join(dict.fromkeys(known)) or "no identity at all")


@dataclass(frozen=True)
class Roster:
    """The roster file as written: its header (for the roster export) and its student rows."""

    header: tuple[str, ...]
    rows: tuple[RosterRow, ...]

    def has(self, column: str) -> bool:
        return header_key(column) in {header_key(name) for name in self.header}


NOT_A_STUDENT = re.compile(r"\s*(Muted|Manual Posting.*)?\s*", re.IGNORECASE)
"""Cells of the rows Canvas's own importer skips: blank, or its export's ``Muted``/``Manual Posting`` row."""


def is_student_row(cells: dict[str, str]) -> bool:
    """False for the rows Canvas's importer skips too: ``Points Possible`` as Student, or only blanks and marks."""
    if POINTS_POSSIBLE.casefold() in cells.get(header_key("Student"), "").casefold():
        return False
    return not all(NOT_A_STUDENT.fullmatch(cell) for cell in cells.values())


def read_roster(path: Path, id_column: str = ID_COLUMN) -> Roster:
    """The roster's header and student rows (a UTF-8 CSV; a byte-order mark, as Excel writes, is fine)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            lines = list(csv.reader(handle))
    except FileNotFoundError:
        raise RosterError(f"no roster at {path}: export the class list from your LMS as CSV and add a "
                          f"{id_column} column (see docs/instructor-guide.md, Grades into your LMS).") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise RosterError(f"the roster {path} cannot be read as a UTF-8 CSV file: {error}") from None
    if not lines:
        raise RosterError(f"the roster {path} is empty: it needs a header row and one row per student.")
    header = tuple(cell.strip() for cell in lines[0])
    keys = [header_key(name) for name in header]
    repeated = sorted({name for name, key in zip(header, keys) if keys.count(key) > 1})
    if repeated:
        raise RosterError(f"the roster {path} has the column(s) {', '.join(repeated)} more than once.")
    rows = []
    for line, cells in enumerate(lines[1:], start=2):
        row = {key: (cells[index].strip() if index < len(cells) else "") for index, key in enumerate(keys)}
        if is_student_row(row):
            rows.append(RosterRow(line, row))
    return Roster(header, tuple(rows))


def needed_columns(format: str, id_column: str, upload: bool = False) -> tuple[str, ...]:
    """The roster columns a format cannot do without (Moodle needs one identifier of several: check_columns)."""
    if format == "canvas" or upload:
        return (id_column, *CANVAS_REQUIRED)
    return (id_column,)


def moodle_identifier(roster: Roster) -> str | None:
    """The first of Moodle's user fields the roster has, the one the Moodle file is keyed by."""
    return next((column for column in MOODLE_IDENTIFIERS if roster.has(column)), None)


def check_columns(roster: Roster, format: str, id_column: str, upload: bool = False) -> None:
    """Refuse a roster that lacks what the format needs, saying which columns and where an LMS has them."""
    missing = [column for column in needed_columns(format, id_column, upload) if not roster.has(column)]
    if format == "moodle" and moodle_identifier(roster) is None:
        missing.append(" or ".join(MOODLE_IDENTIFIERS))
    if not missing:
        return
    hints = []
    if any(column in CANVAS_REQUIRED for column in missing):
        hints.append("Canvas's gradebook export (Grades > Export > Export Entire Gradebook) has "
                     + ", ".join(CANVAS_COLUMNS))
    if format == "moodle" and moodle_identifier(roster) is None:
        hints.append("Moodle's grade export (Grades > Export > Plain text file) or its participants "
                     "download has " + ", ".join(MOODLE_IDENTIFIERS[:2]))
    if id_column in missing:
        hints.append(f"{id_column} is yours to add: each student's submission folder name, as the grader "
                     f"knows them (or name another roster column with --id-column)")
    raise RosterError(f"the roster has no {'; no '.join(missing)} column (it has: {', '.join(roster.header)}). "
                      + "; ".join(hints) + ". Column names are matched ignoring case.")


def duplicate_ids(roster: Roster, id_column: str) -> dict[str, list[int]]:
    """Submission ids that more than one roster row claims, with their lines: which student is meant?"""
    lines: dict[str, list[int]] = {}
    for row in roster.rows:
        if row.get(id_column):
            lines.setdefault(row.get(id_column), []).append(row.line)
    return {student: found for student, found in lines.items() if len(found) > 1}


def read_results(out: Path, lab: str) -> tuple[dict[str, SubmissionResult], list[str]]:
    """The lab's results by student id, and each result file that could not be used, with why."""
    folder = Path(out) / "results" / lab
    if not folder.is_dir():
        graded = sorted(path.name for path in (Path(out) / "results").glob("*") if path.is_dir())
        raise ValueError(f"no results of {lab} in {folder}: grade it first "
                         f"(python -m autograder grade {lab} SUBMISSIONS --out {out})"
                         + (f"; {out} holds results of {', '.join(graded)}" if graded else ""))
    results: dict[str, SubmissionResult] = {}
    unreadable = []
    for path in sorted(folder.glob("*.json")):
        result = read_result(path)
        if result is None:
            unreadable.append(f"{path}: not a result file the grader wrote")
        elif result.lab != lab:
            unreadable.append(f"{path}: a result of {result.lab}, not {lab}")
        else:
            results[result.student_id] = result
    return results, unreadable


# --- joining --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Joined:
    """The roster and the results side by side; what matched, and what did not, on each side."""

    matched: tuple[tuple[RosterRow, SubmissionResult], ...]
    without_grade: tuple[RosterRow, ...]
    """Roster students with no graded submission (no submission id in the roster, or none graded)."""
    unmatched: tuple[SubmissionResult, ...]
    """Graded submissions whose student id no roster row holds."""


def join(roster: Roster, results: dict[str, SubmissionResult], id_column: str) -> Joined:
    """Match each roster row to the result of the submission id it holds (exactly, spaces trimmed)."""
    matched, without_grade = [], []
    for row in roster.rows:
        result = results.get(row.get(id_column))
        if result is None:
            without_grade.append(row)
        else:
            matched.append((row, result))
    claimed = {row.get(id_column) for row in roster.rows}
    unmatched = [result for student, result in sorted(results.items()) if student not in claimed]
    return Joined(tuple(matched), tuple(without_grade), tuple(unmatched))


def is_final(result: SubmissionResult) -> bool:
    return result.status == "graded"


def is_postable(result: SubmissionResult) -> bool:
    """Whether an LMS should get this score: not for ``error``, the grader's failure (a rerun grades it)."""
    return result.status != "error"


def number(value: float) -> str:
    """A score as an LMS reads it: ``7``, ``7.5``, at most two decimals (what Canvas shows)."""
    return f"{round(value, 2):g}"


def lms_grade(result: SubmissionResult, points_possible: float) -> str:
    """The score on the LMS assignment's scale: the lab's points scaled to ``points_possible``."""
    if result.max_score <= 0:
        return number(result.score)
    return number(result.score * points_possible / result.max_score)


def default_points_possible(results: Iterable[SubmissionResult]) -> float:
    """The lab's maximum score, as its results record it (the same for every submission of a lab)."""
    return max((result.max_score for result in results), default=0.0)


# --- the three files --------------------------------------------------------------------------------------


def posted(joined: Joined) -> list[tuple[RosterRow, SubmissionResult]]:
    """The matched students an LMS file holds: those with a score to post."""
    return [(row, result) for row, result in joined.matched if is_postable(result)]


def canvas_rows(joined: Joined, assignment: str, points_possible: float) -> list[list[str]]:
    """Canvas's gradebook import: the header, the Points Possible row, one row per student with a grade."""
    rows = [[*CANVAS_COLUMNS, assignment], [POINTS_POSSIBLE, "", "", "", "", number(points_possible)]]
    for row, result in posted(joined):
        rows.append([*(row.get(column) for column in CANVAS_COLUMNS), lms_grade(result, points_possible)])
    return rows


def moodle_rows(joined: Joined, identifier: str, assignment: str, points_possible: float) -> list[list[str]]:
    """Moodle's grade import: the identifier to map from, and the assignment's column, per student with a grade."""
    rows = [[identifier, assignment]]
    for row, result in posted(joined):
        if row.get(identifier):
            rows.append([row.get(identifier), lms_grade(result, points_possible)])
    return rows


def part_names(results: Iterable[SubmissionResult]) -> list[str]:
    """Every graded part, in the order the lab's results list them."""
    return list(dict.fromkeys(part.part for result in results for part in result.parts))


def roster_rows(roster: Roster, results: dict[str, SubmissionResult], id_column: str) -> list[list[str]]:
    """The roster's own columns, then score, max_score, status and each part's points; every roster student."""
    parts = part_names(results.values())
    rows = [[*roster.header, "score", "max_score", "status", *parts]]
    for row in roster.rows:
        own = [row.get(column) for column in roster.header]
        result = results.get(row.get(id_column))
        if result is None:
            rows.append([*own, "", "", NOT_GRADED, *("" for _ in parts)])
            continue
        points = {part.part: part.points for part in result.parts}
        rows.append([*own, number(result.score), number(result.max_score), result.status,
                     *(number(points[part]) if part in points else "" for part in parts)])
    return rows


# --- the report -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """One kind of problem: what it is, what it means for the file, and one line per student or file."""

    title: str
    meaning: str
    lines: tuple[str, ...]

    def text(self) -> str:
        return f"{self.title} ({len(self.lines)}): {self.meaning}\n" + "".join(f"  {line}\n" for line in self.lines)


@dataclass(frozen=True)
class Report:
    """What the export leaves out or cannot vouch for; clean when every section is empty."""

    sections: tuple[Section, ...]

    @property
    def clean(self) -> bool:
        return not any(section.lines for section in self.sections)

    def text(self, headline: str) -> str:
        body = [section.text() for section in self.sections if section.lines]
        if not body:
            body = [("Everything matched: every roster student has a final grade and every graded submission "
                     "a roster row.\n")]
        return headline + "\n\n" + "\n".join(body)


def score_of(result: SubmissionResult) -> str:
    return f"{result.student_id} ({number(result.score)}/{number(result.max_score)}, {result.status})"


def build_report(joined: Joined, unreadable: Sequence[str], format: str, id_column: str,
                 identifier: str | None = None, not_uploaded: Sequence[str] = ()) -> Report:
    """Every student the file leaves out, every score that is not final, every result that could not be read."""
    lms = format != "roster"
    kept = "not in the file, so the LMS keeps what it has"
    errors = [score_of(result) for _, result in joined.matched if result.status == "error"]
    incomplete = [score_of(result) for _, result in joined.matched
                  if result.status != "error" and not is_final(result)]
    no_identifier = []
    if format == "moodle" and identifier:
        no_identifier = [f"{row.label(id_column)}, score of {score_of(result)}" for row, result in posted(joined)
                         if not row.get(identifier)]
    return Report((
        Section("Graded submissions with no roster row",
                f"not in the file; add their {id_column} to the roster.",
                tuple(score_of(result) for result in joined.unmatched)),
        Section("Roster students with no graded submission", f"{kept}." if lms else "no score.",
                tuple(row.label(id_column) for row in joined.without_grade)),
        Section("Scores that are not final: the grader failed (status error)",
                (f"{kept}; " if lms else "") + "a rerun of grade grades them again, then export again.",
                tuple(errors)),
        Section("Scores that are not final: some part could not be judged (status incomplete)",
                "a time-out, out of memory or a crash earned that part nothing; in the file as graded: "
                "check their feedback pages.", tuple(incomplete)),
        Section(f"Roster students with no {identifier}",
                "not in the file: Moodle stops a whole import at a row it cannot match.", tuple(no_identifier)),
        Section("Not uploaded", "no Canvas ID in the roster.", tuple(not_uploaded)),
        Section("Result files not read", "a rerun of grade writes them again.", tuple(unreadable)),
    ))


def report_path(output: Path) -> Path:
    """The report, beside the export: ``lab1-mnist-canvas.csv`` -> ``lab1-mnist-canvas.report.txt``."""
    return output.with_suffix(".report.txt")


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path, "w", encoding="utf-8") as handle:
        handle.write(text)


# --- Canvas's REST API ------------------------------------------------------------------------------------


def canvas_grade_data(joined: Joined, points_possible: float,
                      id_column: str = ID_COLUMN) -> tuple[dict[str, dict[str, str]], list[str]]:
    """``grade_data`` for Canvas's bulk update, keyed by Canvas user ID; and the students without an ID."""
    grade_data, without_id = {}, []
    for row, result in posted(joined):
        if row.get("ID"):
            grade_data[row.get("ID")] = {"posted_grade": lms_grade(result, points_possible)}
        else:
            without_id.append(f"{row.label(id_column)}, score of {score_of(result)}")
    return grade_data, without_id


def update_grades_path(course_id: int, assignment_id: int) -> str:
    return f"/api/v1/courses/{course_id}/assignments/{assignment_id}/submissions/update_grades"


def form_fields(grade_data: dict[str, dict[str, str]]) -> list[tuple[str, str]]:
    """The request's form fields, flattened as canvasapi (``combine_kwargs``) and Rails write them."""
    return [(f"grade_data[{user}][{name}]", value) for user, fields in grade_data.items()
            for name, value in fields.items()]


def dry_run_text(course_id: int, assignment_id: int, grade_data: dict[str, dict[str, str]]) -> str:
    """The requests an upload would send, in order, with the grades; no token, nothing sent."""
    base = os.environ.get(URL_VARIABLE, "").rstrip("/") or f"${URL_VARIABLE}"
    lines = [(f"Dry run: nothing sent. An upload sends these requests to {base}, with the token in "
              f"${TOKEN_VARIABLE} as its Authorization header:"),
             f"GET /api/v1/courses/{course_id}",
             f"GET /api/v1/courses/{course_id}/assignments/{assignment_id}",
             f"POST {update_grades_path(course_id, assignment_id)}",
             *(f"  {field}={value}" for field, value in form_fields(grade_data))]
    return "\n".join(lines) + f"\n{len(grade_data)} student(s) in grade_data.\n"


class UploadUnavailable(RuntimeError):
    """An upload cannot be tried: no token or URL in the environment, or no canvasapi."""


class UploadFailed(RuntimeError):
    """Canvas, or the way to it, refused the upload: a wrong id, token or address, or no connection."""


def upload_to_canvas(course_id: int, assignment_id: int, grade_data: dict[str, dict[str, str]]) -> str:
    """Post the grades with canvasapi; what Canvas answered. Raises UploadUnavailable before sending anything."""
    url, token = os.environ.get(URL_VARIABLE, "").strip(), os.environ.get(TOKEN_VARIABLE, "").strip()
    missing = [name for name, value in ((URL_VARIABLE, url), (TOKEN_VARIABLE, token)) if not value]
    if missing:
        raise UploadUnavailable(
            f"set {' and '.join(missing)} in the environment (e.g. export {URL_VARIABLE}=https://school."
            f"instructure.com and export {TOKEN_VARIABLE}=... from Canvas's Account > Settings > New access "
            "token); a token is never given on the command line. Nothing was uploaded.")
    try:
        from canvasapi import Canvas
        from canvasapi.exceptions import CanvasException
    except ImportError:
        raise UploadUnavailable("uploading to Canvas needs the canvasapi package: pip install canvasapi "
                                "(nothing was uploaded; the export file is written).") from None
    try:
        assignment = Canvas(url, token).get_course(course_id).get_assignment(assignment_id)
        progress = assignment.submissions_bulk_update(grade_data=grade_data)
    except (CanvasException, OSError) as error:  # OSError: requests' connection errors derive from it
        raise UploadFailed(f"{type(error).__name__}: {error}") from error
    name = getattr(assignment, "name", assignment_id)
    job = f"job {getattr(progress, 'id', '?')}, {getattr(progress, 'workflow_state', 'queued')}"
    where = f", {progress.url}" if getattr(progress, "url", None) else ""
    return f"Canvas took the grades of {len(grade_data)} student(s) for {name}: {job}{where}."


# --- the command ------------------------------------------------------------------------------------------


def default_output(out: Path, lab: str, format: str) -> Path:
    return Path(out) / "lms" / f"{lab}-{format}.csv"


def usage_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the options, before anything is read; None when they make sense together."""
    if args.upload and args.format != "canvas":
        return "--upload canvas posts the Canvas export: give --format canvas."
    if args.upload and (args.course_id is None or args.assignment_id is None):
        return ("--upload canvas needs --course-id and --assignment-id: the numbers in the assignment's "
                "address, .../courses/<course-id>/assignments/<assignment-id>.")
    if args.dry_run and not args.upload:
        return "--dry-run shows the request --upload would send: add --upload canvas."
    if args.points_possible is not None and args.points_possible <= 0:
        return f"--points-possible {args.points_possible:g}: give the assignment's points in the LMS, e.g. 10."
    return None


def run(args: argparse.Namespace) -> int:
    """``python -m autograder export``: write the file and its report, upload if asked; the exit status."""
    problem = usage_problem(args)
    if problem:
        raise ValueError(problem)
    roster = read_roster(args.roster, args.id_column)
    check_columns(roster, args.format, args.id_column, upload=bool(args.upload))
    duplicates = duplicate_ids(roster, args.id_column)
    if duplicates:
        raise RosterError("each submission id must name one roster student; these name several: " + "; ".join(
            f"{student} (lines {', '.join(map(str, lines))})" for student, lines in sorted(duplicates.items())))
    results, unreadable = read_results(args.out, args.lab)
    joined = join(roster, results, args.id_column)
    assignment = args.assignment or args.lab
    points_possible = args.points_possible or default_points_possible(results.values())
    identifier = moodle_identifier(roster) if args.format == "moodle" else None
    if args.format == "canvas":
        rows = canvas_rows(joined, assignment, points_possible)
    elif args.format == "moodle":
        rows = moodle_rows(joined, identifier, assignment, points_possible)
    else:
        rows = roster_rows(roster, results, args.id_column)
    output = Path(args.output) if args.output else default_output(args.out, args.lab, args.format)
    output.parent.mkdir(parents=True, exist_ok=True)
    spreadsheets.write_csv(output, rows)

    grade_data, without_id = canvas_grade_data(joined, points_possible, args.id_column) if args.upload else ({}, [])
    report = build_report(joined, unreadable, args.format, args.id_column, identifier, without_id)
    written = len(rows) - (2 if args.format == "canvas" else 1)
    headline = (f"{args.lab} for {args.format}: {written} student(s) in {output}"
                + (f", scores out of {number(points_possible)}" if args.format != "roster" else "")
                + (f"; at Moodle's import, map from {identifier!r} to {identifier!r} and {assignment!r} to the "
                   "grade item" if identifier else ""))
    text = report.text(headline)
    write_text(report_path(output), text)
    print(text.rstrip("\n"))
    print(f"This report is also in {report_path(output)}.")

    status = EXPORTED if report.clean else SOME_UNMATCHED
    if not args.upload:
        return status
    if args.dry_run:
        print(dry_run_text(args.course_id, args.assignment_id, grade_data).rstrip("\n"))
        return status
    if not grade_data:
        print("Nothing to upload: no roster student with a Canvas ID has a grade.")
        return status
    try:
        print(upload_to_canvas(args.course_id, args.assignment_id, grade_data))
    except UploadUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except UploadFailed as error:  # the export stands; the upload did not
        print(f"error: the upload to Canvas failed, so check the course's gradebook: {error}", file=sys.stderr)
        return UPLOAD_FAILED
    return status
