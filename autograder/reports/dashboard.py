"""The class dashboard: one static page per graded lab, to read a class at a glance instead of its CSVs.

``OUT/dashboard/<lab>.html`` shows the grade distribution, each part's pass
rate, each student's measured accuracy against the target, what needs a look
(copied models, grader errors, parts that timed out, ran out of memory or
crashed, Comet runs whose logged accuracy the grader could not confirm) and a
table of students linking to their feedback pages.

The page is self-contained: inline CSS and SVG drawn here, no script, no font
or file from elsewhere, so it opens from a folder, a zip or an LMS attachment.
Student ids, messages and Comet values are the students' to choose, so every
text goes through :func:`html.escape`, and the page's Content-Security-Policy
forbids scripts even if one slipped through.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from urllib.parse import quote

from autograder.comet import review as comet_review
from autograder.pipeline.results import SubmissionResult, read_result
from autograder.reports import spreadsheets
from autograder.scoring import model_fingerprints
from autograder.scoring.model_fingerprints import SimilarPair
from labkit._files import replaced_atomically

NOT_JUDGED = ("error", "timeout", "out-of-memory", "crashed")
"""The verdicts of a part that could not be judged (see :data:`autograder.pipeline.results.VERDICTS`)."""
MAX_SHOWN_CHARS = 240
"""A message, flag or Comet value is cut to this length on the page: the files hold it whole."""
COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "not-judged": "#ef8f00", "bar": "#3f6fb5", "target": "#6a1b9a"}


def page_path(out: Path, lab: str) -> Path:
    """Where the dashboard of ``lab`` goes in the grading output folder ``out``."""
    return Path(out) / "dashboard" / f"{lab}.html"


def feedback_link(student_id: str, lab: str) -> str:
    """The student's feedback page, relative to the dashboard (a folder below ``out``), as a URL."""
    return f"../feedback/{quote(student_id, safe='')}/{quote(lab, safe='')}.html"


def _cut(text: object, limit: int = MAX_SHOWN_CHARS) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


# --- what the page says -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    """One reason to look at a student's submission: ``kind`` names its colour, ``text`` says what."""

    kind: str  # copied, error, timeout, out-of-memory, crashed, comet
    text: str


def pair_flags(student_id: str, pairs: Iterable[SimilarPair]) -> list[Flag]:
    """The student's copied-model leads: one per pair they are in."""
    flags = []
    for pair in pairs:
        if student_id in (pair.student, pair.other_student):
            other = pair.other_student if student_id == pair.student else pair.student
            alike = "" if pair.similarity is None or pair.kind == "identical" else f" ({pair.similarity:.2f})"
            flags.append(Flag("copied", f"{pair.model}: {pair.kind}{alike} with {other}"))
    return flags


def verdict_flags(result: SubmissionResult) -> list[Flag]:
    """The grader's failure, or each verdict that kept parts from being judged, with those parts."""
    if result.status == "error":
        return [Flag("error", "grader error: " + _cut(result.grader_error or "", 120))]
    flags = []
    for verdict in NOT_JUDGED:
        parts = [part.part for part in result.parts if part.verdict == verdict]
        if parts:
            flags.append(Flag(verdict, f"{verdict}: {', '.join(parts)}"))
    return flags


def comet_flags(student_id: str, review_rows: Iterable[Mapping]) -> list[Flag]:
    """Each of the student's Comet runs the review flagged (a mismatch, an unreadable archive)."""
    return [Flag("comet", _cut(f"Comet {row.get('model') or row.get('archive', '')}: {row['flag']}", 160))
            for row in review_rows if row.get("student_id") == student_id and row.get("flag")]


def student_flags(result: SubmissionResult, pairs: Sequence[SimilarPair],
                  review_rows: Sequence[Mapping]) -> list[Flag]:
    """Everything about one submission an instructor should look at, most serious first."""
    return [*pair_flags(result.student_id, pairs), *verdict_flags(result),
            *comet_flags(result.student_id, review_rows)]


def part_names(results: Iterable[SubmissionResult]) -> list[str]:
    """The graded parts, in the notebook's order (as the results list them)."""
    names: dict[str, None] = {}
    for result in results:
        names.update(dict.fromkeys(part.part for part in result.parts))
    return list(names)


@dataclass(frozen=True)
class Tally:
    """How a part went across the class."""

    part: str
    passed: int
    failed: int
    not_judged: int

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.not_judged


def tally(results: Iterable[SubmissionResult], part: str) -> Tally:
    verdicts = Counter(p.verdict for result in results for p in result.parts if p.part == part)
    return Tally(part, verdicts["pass"], verdicts["fail"], sum(verdicts[v] for v in NOT_JUDGED))


def fraction(value: object) -> float | None:
    """``value`` when it is a finite number from 0 to 1 (an accuracy), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if 0 <= value <= 1 else None


@dataclass(frozen=True)
class Measured:
    """One student's measured accuracy on a part (None when nothing was measured) and its verdict."""

    student_id: str
    value: float | None
    verdict: str


def accuracy_parts(results: Sequence[SubmissionResult]) -> dict[str, float]:
    """Each part judged as an accuracy against a target (a fraction), with its most common target."""
    targets: dict[str, Counter] = {}
    for result in results:
        for part in result.parts:
            if fraction(part.threshold) is not None and part.threshold > 0:
                targets.setdefault(part.part, Counter())[float(part.threshold)] += 1
    return {part: targets[part].most_common(1)[0][0] for part in part_names(results) if part in targets}


def measured(results: Iterable[SubmissionResult], part: str) -> list[Measured]:
    return [Measured(result.student_id, fraction(p.value), p.verdict)
            for result in results for p in result.parts if p.part == part]


@dataclass(frozen=True)
class Bin:
    """A bar of the score histogram: scores from ``low`` up to ``high``."""

    low: float
    high: float
    label: str
    count: int


def score_bins(scores: Sequence[float], max_score: float) -> list[Bin]:
    """One bin per whole point when the scores are whole and few; else ten equal bins."""
    if max_score <= 30 and float(max_score).is_integer() and all(float(s).is_integer() for s in scores):
        counts = Counter(int(s) for s in scores)
        return [Bin(i - 0.5, i + 0.5, str(i), counts[i]) for i in range(int(max_score) + 1)]
    width = max_score / 10 if max_score > 0 else 1.0
    counts = Counter(min(int(s / width), 9) for s in scores)
    return [Bin(i * width, (i + 1) * width, f"{i * width:g}–{(i + 1) * width:g}", counts[i]) for i in range(10)]


# --- charts: inline SVG -------------------------------------------------------------------------------


def _svg(width: int, height: int, label: str, body: str) -> str:
    return (f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(label)}"><title>{escape(label)}</title>{body}</svg>')


def histogram_svg(bins: Sequence[Bin], max_score: float, mean: float | None) -> str:
    """Bars of how many students scored how much, with the class mean marked."""
    width, height, left, right, top, bottom = 460, 236, 12, 12, 30, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    low, high = bins[0].low, bins[-1].high
    tallest = max((b.count for b in bins), default=0) or 1
    slot = plot_w / len(bins)
    every = 1 if len(bins) <= 16 else 2
    body = []
    for i, b in enumerate(bins):
        x, bar_h = left + i * slot, plot_h * b.count / tallest
        body.append(f'<rect class="bar" x="{x + 2:.1f}" y="{top + plot_h - bar_h:.1f}" width="{slot - 4:.1f}" '
                    f'height="{bar_h:.1f}" fill="{COLOURS["bar"]}"><title>{escape(b.label)}: {b.count}</title></rect>')
        if b.count:
            body.append(f'<text x="{x + slot / 2:.1f}" y="{top + plot_h - bar_h - 5:.1f}" '
                        f'text-anchor="middle">{b.count}</text>')
        if i % every == 0:
            body.append(f'<text x="{x + slot / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                        f'class="tick">{escape(b.label)}</text>')
    body.append(f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" class="axis"/>')
    body.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" class="axis-title">'
                f'score, out of {max_score:g}</text>')
    if mean is not None and high > low:
        x = left + plot_w * (mean - low) / (high - low)
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 14}" y2="{top + plot_h}" class="mean"/>'
                    f'<text x="{x + 4:.1f}" y="{top - 17}" class="mean-label">mean {mean:.1f}</text>')
    return _svg(width, height, "Histogram of the class's scores", "".join(body))


def pass_rate_svg(tallies: Sequence[Tally]) -> str:
    """One bar per part: the share that passed, failed, and could not be judged."""
    width, row, label_w, bar_w, top = 560, 30, 190, 250, 8
    height = top + row * len(tallies) + 30
    body = []
    for i, t in enumerate(tallies):
        y = top + i * row
        body.append(f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{escape(t.part)}</text>')
        x = float(label_w)
        for kind, count in (("pass", t.passed), ("fail", t.failed), ("not-judged", t.not_judged)):
            w = bar_w * count / t.total if t.total else 0.0
            if w:
                body.append(f'<rect class="rate {kind}" x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row - 10}" '
                            f'fill="{COLOURS[kind]}"><title>{escape(t.part)}: {count} {kind}</title></rect>')
            x += w
        rate = f"{t.passed / t.total:.0%}" if t.total else "—"
        body.append(f'<text x="{label_w + bar_w + 8}" y="{y + 17}"><tspan class="strong">{rate}</tspan>'
                    f' · {t.passed} of {t.total}</text>')
    legend_y = top + row * len(tallies) + 14
    for j, (kind, name) in enumerate((("pass", "pass"), ("fail", "fail"), ("not-judged", "not judged"))):
        x = label_w + j * 90
        body.append(f'<rect x="{x}" y="{legend_y - 9}" width="11" height="11" fill="{COLOURS[kind]}"/>'
                    f'<text x="{x + 15}" y="{legend_y}" class="tick">{name}</text>')
    return _svg(width, height, "Pass rate of each part", "".join(body))


def axis_range(values: Sequence[float], target: float) -> tuple[float, float]:
    """The accuracies shown: every value and the target, with a margin, within 0 to 1, at least 2 points wide."""
    low, high = min([*values, target]), max([*values, target])
    pad = max((high - low) * 0.08, 0.005)
    low, high = max(0.0, low - pad), min(1.0, high + pad)
    if high - low < 0.02:
        middle = (low + high) / 2
        low, high = max(0.0, min(middle - 0.01, 0.98)), min(1.0, max(middle + 0.01, 0.02))
    return low, high


def tick_values(low: float, high: float) -> list[float]:
    """Round accuracies between ``low`` and ``high``, five to ten of them."""
    step = next(s for s in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2) if (high - low) / s <= 10 + 1e-9)
    first = math.ceil(low / step - 1e-9)
    return [round(k * step, 6) for k in range(first, math.floor(high / step + 1e-9) + 1)]


def strip_svg(part: str, points: Sequence[Measured], target: float) -> str:
    """Each student's measured accuracy as a dot beside the target line; green passed, red did not."""
    width, left, right, top, dot = 1040, 20, 20, 26, 6.5
    shown = [p for p in points if p.value is not None]
    low, high = axis_range([p.value for p in shown], target)
    plot_w = width - left - right

    def x_of(value: float) -> float:
        return left + plot_w * (value - low) / (high - low)

    stacked: Counter = Counter()
    dots = []
    for p in sorted(shown, key=lambda p: p.value):
        column = int(x_of(p.value) // (dot * 2))
        level = stacked[column]
        stacked[column] += 1
        offset = (level + 1) // 2 * (2 * dot + 1) * (1 if level % 2 else -1)
        colour = COLOURS["pass" if p.verdict == "pass" else "fail"]
        dots.append((x_of(p.value), offset, colour, p))
    spread = max((abs(offset) for _, offset, _, _ in dots), default=0)
    middle = top + 6 + spread + dot
    axis_y = middle + spread + dot + 8
    height = int(axis_y + 34)
    body = [f'<line x1="{left}" x2="{width - right}" y1="{axis_y}" y2="{axis_y}" class="axis"/>']
    for tick in tick_values(low, high):
        x = x_of(tick)
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{axis_y + 4}" class="grid"/>'
                    f'<text x="{x:.1f}" y="{axis_y + 17}" text-anchor="middle" class="tick">{tick:.1%}</text>')
    tx = x_of(target)
    label_x = min(max(tx, left + 50), width - right - 50)  # the label stays on the chart
    body.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{top - 8}" y2="{axis_y}" class="target"/>'
                f'<text x="{label_x:.1f}" y="{top - 12}" text-anchor="middle" class="target-label">'
                f'target {target:.1%}</text>')
    for x, offset, colour, p in dots:
        body.append(f'<circle class="dot" cx="{x:.1f}" cy="{middle + offset:.1f}" r="{dot}" fill="{colour}">'
                    f'<title>{escape(p.student_id)}: {p.value:.2%} ({escape(p.verdict)})</title></circle>')
    return _svg(width, height, f"{part}: each student's measured accuracy against the target", "".join(body))


# --- the page -----------------------------------------------------------------------------------------


_STYLE = """
:root { --pass: #2e7d32; --fail: #c62828; --amber: #ef8f00; --ink: #1f2430; --muted: #5f6673; --line: #e3e6eb; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: #f5f6f8; margin: 0; }
main { max-width: 76em; margin: 0 auto; padding: 1.5em 1.5em 3em; }
h1 { margin: 0 0 .15em; font-size: 1.7em; } h2 { font-size: 1.2em; margin: 1.6em 0 .6em; }
h3 { font-size: 1em; margin: 1em 0 .4em; }
.sub { color: var(--muted); margin: 0 0 1.2em; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(11em, 1fr)); gap: .8em; }
.card, .panel { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: .8em 1em; }
.card .big { font-size: 1.7em; font-weight: 650; display: block; }
.card .what { color: var(--muted); font-size: .85em; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(26em, 1fr)); gap: .8em; margin-top: .8em; }
.panel h2 { margin: 0 0 .5em; }
svg.chart { display: block; max-width: 100%; height: auto; }
svg text { font: 12px system-ui, sans-serif; fill: var(--ink); }
svg .tick, svg .axis-title { fill: var(--muted); } svg .strong { font-weight: 700; }
svg .axis { stroke: #9aa1ab; } svg .grid { stroke: var(--line); }
svg .mean { stroke: var(--ink); stroke-dasharray: 4 3; } svg .mean-label { font-weight: 600; }
svg .target { stroke: #6a1b9a; stroke-width: 2; stroke-dasharray: 6 3; }
svg .target-label { fill: #6a1b9a; font-weight: 600; }
svg .dot { stroke: #fff; stroke-width: 1.5; fill-opacity: .85; }
.note { color: var(--muted); font-size: .88em; margin: .3em 0 0; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { border-bottom: 1px solid var(--line); padding: .45em .6em; text-align: left; vertical-align: top; }
th { background: #eef0f4; font-size: .82em; font-weight: 600; position: sticky; top: 0; }
tr.flagged td { background: #fff8ec; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.meter { width: 5em; height: .45em; background: var(--line); border-radius: 3px; margin-top: .25em; }
.meter span { display: block; height: 100%; background: #3f6fb5; border-radius: 3px; }
.chip { display: inline-block; border-radius: .8em; padding: .05em .6em; margin: .1em .15em .1em 0;
        font-size: .82em; white-space: nowrap; border: 1px solid transparent; }
.v-pass { background: #e6f4e7; color: var(--pass); } .v-fail { background: #fdeaea; color: var(--fail); }
.v-error, .v-timeout, .v-out-of-memory, .v-crashed { background: #fff1dc; color: #9a5800; }
.f-copied { background: #f3e5f5; color: #6a1b9a; border-color: #dcc0e4; }
.f-error { background: #fdeaea; color: var(--fail); border-color: #f2c1c1; }
.f-timeout, .f-out-of-memory, .f-crashed { background: #fff1dc; color: #9a5800; border-color: #f3d3a4; }
.f-comet { background: #e3f0fb; color: #1b5e96; border-color: #bcd8ef; }
.s-graded { color: var(--pass); } .s-incomplete { color: #9a5800; font-weight: 600; }
.s-error { color: var(--fail); font-weight: 700; }
.flags { width: auto; } .flags td, .flags th { font-size: .92em; }
.scroll { overflow-x: auto; } td.flag-chips .chip { white-space: normal; }
.nothing { color: var(--pass); }
a { color: #1b5e96; }
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _shown(value: object) -> str:
    """A Comet value as the page shows it: an accuracy to four places, anything else as text, cut short."""
    number = fraction(_number(value) if isinstance(value, str) else value)
    return f"{number:.4f}" if number is not None else _cut("" if value is None else value, 80)


def _number(text: str) -> float | str:
    """``text`` as a number when it spells one (as the Comet review's CSV holds them), else as it is."""
    try:
        return float(text)
    except ValueError:
        return text


def _student_link(student_id: str, lab: str) -> str:
    return f'<a href="{escape(feedback_link(student_id, lab))}">{escape(student_id)}</a>'


def _chips(flags: Iterable[Flag]) -> str:
    return "".join(f'<span class="chip f-{escape(flag.kind)}">{escape(flag.text)}</span>' for flag in flags)


def cards_html(results: Sequence[SubmissionResult], flagged: int) -> str:
    """The class in five numbers: size, mean and median, full marks, statuses, students flagged."""
    scores = [result.score for result in results]
    max_score = max((result.max_score for result in results), default=0.0)
    statuses = Counter(result.status for result in results)
    mean = f"{statistics.mean(scores):.1f}" if scores else "—"
    median = f"{statistics.median(scores):g}" if scores else "—"
    full = sum(1 for result in results if result.max_score and result.score == result.max_score)
    cards = [(str(len(results)), "students graded"),
             (f"{mean} / {max_score:g}", f"mean score (median {median})"),
             (str(full), "with full marks"),
             (f"{statuses['graded']} · {statuses['incomplete']} · {statuses['error']}",
              "graded · incomplete · error"),
             (str(flagged), "students flagged to look at")]
    return '<div class="cards">' + "".join(
        f'<div class="card"><span class="big">{escape(big)}</span><span class="what">{escape(what)}</span></div>'
        for big, what in cards) + "</div>"


def accuracy_panels(results: Sequence[SubmissionResult]) -> str:
    """One strip per accuracy part, with how many students had nothing measured."""
    panels = []
    for part, target in accuracy_parts(results).items():
        points = measured(results, part)
        missing = [p for p in points if p.value is None]
        note = (f"{len(missing)} student(s) with nothing measured (no model, or it could not be run): "
                + ", ".join(p.student_id for p in missing)) if missing else "Every student's model was measured."
        chart = strip_svg(part, points, target) if len(missing) < len(points) else ""
        panels.append(f'<div class="panel"><h3>{escape(part)}: target {target:.1%}</h3>{chart}'
                      f'<p class="note">{escape(_cut(note, 600))}</p></div>')
    if not panels:
        return ""
    return ("<h2>Measured accuracy against the target</h2>"
            '<p class="note">One dot per student; hover for the id. Green passed; a red dot at or above the target '
            "was not counted (its architecture check failed, or it did not hold up on perturbed copies).</p>"
            + "".join(panels))


def flags_html(lab: str, results: Sequence[SubmissionResult], pairs: Sequence[SimilarPair],
               review_rows: Sequence[Mapping]) -> str:
    """What needs a look, by kind: copied models, grader errors, parts not judged, flagged Comet runs."""
    sections = []
    if pairs:
        rows = "".join(f"<tr><td>{escape(p.model)}</td><td>{escape(p.kind)}</td><td class='num'>"
                       f"{'—' if p.similarity is None else f'{p.similarity:.4f}'}</td>"
                       f"<td>{_student_link(p.student, lab)} and {_student_link(p.other_student, lab)}</td></tr>"
                       for p in pairs)
        sections.append("<h3>Copied models: a lead to check, not proof</h3><table class='flags'><tr><th>model</th>"
                        f"<th>kind</th><th>similarity</th><th>students</th></tr>{rows}</table>")
    errors = [r for r in results if r.status == "error"]
    if errors:
        items = "".join(f"<li>{_student_link(r.student_id, lab)}: {escape(_cut(r.grader_error or ''))}</li>"
                        for r in errors)
        sections.append(f"<h3>The grader failed (a rerun grades these again)</h3><ul>{items}</ul>")
    unjudged = [(r, verdict_flags(r)) for r in results if r.status == "incomplete"]
    if unjudged:
        items = "".join(f"<li>{_student_link(r.student_id, lab)}: {_chips(flags)}</li>" for r, flags in unjudged)
        sections.append(f"<h3>Parts that could not be judged</h3><ul>{items}</ul>")
    comet = [row for row in review_rows if row.get("flag")]
    if comet:
        rows = "".join(f"<tr><td>{_student_link(str(row.get('student_id', '')), lab)}</td>"
                       f"<td>{escape(_cut(row.get('archive', ''), 80))}</td>"
                       f"<td>{escape(_cut(row.get('model', ''), 40))}</td>"
                       f"<td class='num'>{escape(_shown(row.get('logged_test_accuracy')))}</td>"
                       f"<td class='num'>{escape(_shown(row.get('measured_test_accuracy')))}</td>"
                       f"<td>{escape(_cut(row['flag']))}</td></tr>" for row in comet)
        sections.append("<h3>Comet runs the grader could not confirm</h3><table class='flags'><tr><th>student</th>"
                        "<th>archive</th><th>model</th><th>logged</th><th>measured</th><th>why</th></tr>"
                        f"{rows}</table>")
    body = "".join(sections) or '<p class="nothing">Nothing flagged: no copied models, errors or mismatches.</p>'
    return f"<h2>Needs a look</h2>{body}"


def _part_cell(result: SubmissionResult, part: str, accuracies: Mapping[str, float]) -> str:
    found = next((p for p in result.parts if p.part == part), None)
    if found is None:
        return "<td></td>"
    mark = {"pass": "✓", "fail": "✗"}.get(found.verdict, found.verdict)
    value = fraction(found.value) if part in accuracies else None
    text = mark if value is None else f"{mark} {value:.2%}"
    tip = f"{found.points:g}/{found.max_points:g}: {_cut(found.message.strip())}"
    return f'<td><span class="chip v-{escape(found.verdict)}" title="{escape(tip)}">{escape(text)}</span></td>'


def table_html(lab: str, results: Sequence[SubmissionResult], flags: Mapping[str, list[Flag]]) -> str:
    """One row per student: score, status, each part's verdict, flags, and a link to the feedback page."""
    parts = part_names(results)
    accuracies = accuracy_parts(results)
    head = "".join(f"<th>{escape(part)}</th>" for part in parts)
    rows = []
    for r in results:
        share = 100 * r.score / r.max_score if r.max_score else 0
        cells = "".join(_part_cell(r, part, accuracies) for part in parts)
        rows.append(
            f'<tr class="student{" flagged" if flags[r.student_id] else ""}">'
            f"<td>{_student_link(r.student_id, lab)}</td>"
            f'<td class="num">{r.score:g} / {r.max_score:g}<div class="meter"><span style="width:{share:.0f}%">'
            f"</span></div></td><td class='s-{escape(r.status)}'>{escape(r.status)}</td>{cells}"
            f"<td class='flag-chips'>{_chips(flags[r.student_id])}</td></tr>")
    return (f"<h2>Students</h2><div class='scroll'><table class='students'><thead><tr><th>student (feedback page)"
            f"</th><th>score</th><th>status</th>{head}<th>flags</th></tr></thead><tbody>{''.join(rows)}</tbody>"
            "</table></div>")


def dashboard_html(lab: str, results: Sequence[SubmissionResult], pairs: Sequence[SimilarPair],
                   review_rows: Sequence[Mapping]) -> str:
    """The whole page for ``lab``'s results, every text escaped."""
    results = sorted(results, key=lambda r: r.student_id)
    flags = {r.student_id: student_flags(r, pairs, review_rows) for r in results}
    scores = [r.score for r in results]
    max_score = max((r.max_score for r in results), default=0.0)
    profiles = ", ".join(sorted({r.profile for r in results})) or "—"
    charts = ""
    if results:
        histogram = histogram_svg(score_bins(scores, max_score), max_score, statistics.mean(scores))
        rates = pass_rate_svg([tally(results, part) for part in part_names(results)])
        charts = (f'<div class="charts"><div class="panel"><h2>Scores</h2>{histogram}</div>'
                  f'<div class="panel"><h2>Pass rate per part</h2>{rates}</div></div>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(lab)}: class dashboard</title><style>{_STYLE}</style></head><body><main>
<h1>{escape(lab)}: class dashboard</h1>
<p class="sub">{len(results)} submission(s) · targets of the {escape(profiles)} profile · from the grader's results;
each student's id links to their feedback page.</p>
{cards_html(results, sum(1 for f in flags.values() if f))}
{charts}
{accuracy_panels(results)}
{flags_html(lab, results, pairs, review_rows)}
{table_html(lab, results, flags)}
</main></body></html>
"""


def write_dashboard(path: Path, lab: str, results: Sequence[SubmissionResult], similar_pairs: Sequence[SimilarPair],
                    review_rows: Sequence[Mapping]) -> None:
    """Write the dashboard of ``lab`` to ``path``, whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path, "w", encoding="utf-8", errors="backslashreplace") as handle:
        handle.write(dashboard_html(lab, results, similar_pairs, review_rows))


# --- rebuilding from the output folder ----------------------------------------------------------------


def as_written(cell: str) -> str:
    """A CSV cell as it was before :func:`autograder.reports.spreadsheets.neutralised` guarded it against formulas."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(spreadsheets.FORMULA_STARTS) else cell


def read_review_rows(path: Path, lab: str) -> list[dict]:
    """The rows of ``comet-review.csv`` for ``lab`` (none when there is no such file)."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        return []
    review = [{key: as_written(value or "") for key, value in row.items() if key in comet_review.COLUMNS}
              for row in rows]
    return [row for row in review if row.get("lab") == lab]


def read_results(out: Path, lab: str) -> list[SubmissionResult]:
    """Every readable result of ``lab`` in ``out/results/<lab>/``; FileNotFoundError when there is none."""
    folder = Path(out) / "results" / lab
    found = [read_result(path) for path in sorted(folder.glob("*.json"))]
    results = [result for result in found if result is not None and result.lab == lab]
    if not results:
        raise FileNotFoundError(f"no results of {lab} in {folder}: grade the lab into {out} first")
    return results


def rebuild(out: Path, lab: str) -> Path:
    """The dashboard of ``lab`` written again from what grading left in ``out``; where it is."""
    results = read_results(out, lab)
    pairs = model_fingerprints.similar_pairs({r.student_id: r.fingerprints for r in results})
    path = page_path(out, lab)
    write_dashboard(path, lab, results, pairs, read_review_rows(Path(out) / "comet-review.csv", lab))
    return path
