"""A student's table of networks, checked against the grader's own measurement of their saved files.

A lab that compares networks (lab 5: six architectures trained on one budget)
has the student hand in a table, one row per network with its scores on the
held-out images (accuracy, weighted precision, recall and F1), its parameter
count and its training time, and each network's saved weights beside it. No
number of the table is believed. Each row is read as data (:func:`read_table`);
its file must hold the network of the row's width, and weights no other
handed-in file holds (:func:`compared_table`); the grader runs the file in the
sandbox with its own class (:mod:`autograder.scoring.torch_models`), on the
images the table was measured on, and the row must be that measurement
(:func:`comparison_part`). So a table typed by hand, or one file behind several
rows, earns nothing.

What a lab's table is (its file, its networks and their files, the notebook's
names in the messages) is a :class:`TableSpec` the lab's grader declares; a
:class:`Comparison` adds what one batch checks it against.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from autograder.pipeline.results import PartResult, judged, not_judged
from autograder.sandbox.output import OutputRefused, read_bytes
from autograder.sandbox.untrusted import UntrustedDataError, finite_float, loads_json
from autograder.scoring import torch_models
from autograder.scoring.torch_models import Predictions, Reference
from autograder.scoring.weighted_scores import reference_scores
from labkit import handin

SCORES = ("accuracy", "precision", "recall", "f1")
"""What each row of the table reports, as ``weighted_scores`` returns it."""
SCORE_TOLERANCE = 0.005
"""How far a row's accuracy, weighted precision, recall or F1 may be from the grader's measurement of its file:
half a percentage point, for the few images another device or thread count may classify differently. A row
that was not measured from its file misses by more."""
MAX_TRAIN_SECONDS = 3600.0
"""A compared network's training time must be positive and at most this: an hour, far beyond any budget of
the lab, so only a time no run can have is refused (times are not measured by the grader)."""


class TableError(ValueError):
    """The table is not one the grader can check; the message says what to fix."""


@dataclass(frozen=True)
class TableSpec:
    """A lab's table, as its grader declares it: the part, the files, and the notebook's names for the messages."""

    part: str  # "test-comparison"
    table: str  # "comparison.json", in artifacts/
    files: Mapping[str, str]  # network -> its own file, in the rows' order: {"lenet": "compare-lenet.safetensors"}
    other_files: tuple[str, ...]  # the lab's other model files: a compared file holds none of their weights
    exercise: str  # where the notebook makes the table: "the comparison of exercise 5"
    widths_name: str  # the notebook's constant of the networks' widths: "COMPARED_WIDTHS"
    train_function: str  # the function that trains each network on the budget: "train_on_budget"

    @property
    def width_record(self) -> torch_models.WidthRecord:
        """A row claims its network's width: what the feedback says when the file has another."""
        return torch_models.WidthRecord(f"its row in artifacts/{self.table}",
                                        f"keep {self.widths_name} and run the comparison and the save cell again")

    def run_name(self, network: str) -> str:
        """``"compare-vgg"``: the name the compared network's predictions and fingerprint go by."""
        return Path(self.files[network]).stem


@dataclass(frozen=True)
class Comparison:
    """A lab's table as one batch checks it: each network's reference at each of its widths, and the images."""

    spec: TableSpec
    references: Mapping[str, Mapping[float, Reference]]  # network -> width -> models.build(network, classes, width)
    evaluation: torch_models.EvaluationSet  # the images the table was measured on
    floor: float  # the accuracy every compared network must reach


@dataclass(frozen=True)
class ComparedRow:
    """One row of the student's table, read as data: what it claims about one network."""

    network: str
    width: float  # one of the comparison's widths for this network
    file: str  # its own file, TableSpec.files[network]
    scores: dict[str, float]  # SCORES -> a fraction
    parameters: int
    train_seconds: float


@dataclass(frozen=True)
class ComparedTable:
    """The table as read: its rows, or why it is unusable, and why a row's file cannot be measured."""

    rows: tuple[ComparedRow, ...] = ()
    problem: str | None = None
    file_problems: Mapping[str, str] = dataclasses.field(default_factory=dict)  # network -> why

    def runs(self, artifacts: Path, comparison: Comparison) -> list[torch_models.ModelRun]:
        """The sandbox runs that measure each row's file on the table's images."""
        return [torch_models.ModelRun(comparison.spec.run_name(row.network), artifacts / row.file,
                                      comparison.references[row.network][row.width], comparison.evaluation)
                for row in self.rows if row.network not in self.file_problems]


def compared_table(comparison: Comparison, artifacts: Path) -> ComparedTable:
    """The table's rows checked as data, and each row's file against its network and every other file."""
    spec, references = comparison.spec, comparison.references
    widths = {network: tuple(by_width) for network, by_width in references.items()}
    try:
        rows = read_table(spec, artifacts / spec.table, widths)
    except TableError as error:
        return ComparedTable(problem=str(error))
    problems = {}
    for row in rows:
        path, reference = artifacts / row.file, references[row.network][row.width]
        problem = torch_models.checked_file(path, reference, f"the compared {row.network}")
        if problem is not None:
            problems[row.network] = torch_models.width_mismatch(path, reference, references[row.network],
                                                                spec.width_record) or problem
    others = [artifacts / name for name in [*spec.other_files, *spec.files.values()]]
    for row in rows:
        twin = None if row.network in problems else same_weights_as(artifacts / row.file, others)
        if twin is not None:
            problems[row.network] = (
                f"{row.file} holds the very weights of {twin.name}: each network of the comparison is a new one, "
                f"trained on the budget ({spec.train_function}), and saved in its own file by the save cell.")
    return ComparedTable(tuple(rows), None, problems)


def read_table(spec: TableSpec, path: Path, widths: Mapping[str, tuple[float, ...]]) -> list[ComparedRow]:
    """The rows of the table at ``path``, one per compared network in ``spec.files``' order, each checked
    as data (pure but for one read); :class:`TableError` names the first problem."""
    where = f"artifacts/{spec.table}"
    try:
        data = read_bytes(path.parent, path.name, handin.MAX_METRICS_BYTES)
    except FileNotFoundError:
        raise TableError(f"{where} is missing: write {spec.exercise}, run the save cell and hand in "
                         "the artifacts/ folder.") from None
    except OutputRefused as refused:
        raise TableError(f"{where} was not read: {refused}") from None
    try:
        rows = loads_json(data, max_bytes=handin.MAX_METRICS_BYTES)["rows"]
        if not isinstance(rows, list):
            raise TypeError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise TableError(f"{where} holds no readable list of rows: run the save cell again.") from None
    found: dict[str, ComparedRow] = {}
    for row in rows:
        compared = compared_row(spec, row, widths)
        if compared.network in found:
            raise TableError(f"{where} has two rows for {compared.network}: one row per network.")
        found[compared.network] = compared
    missing = [network for network in spec.files if network not in found]
    if missing:
        raise TableError(f"{where} has no row for {', '.join(missing)}: the comparison trains and measures every "
                         f"network of {spec.widths_name} ({', '.join(spec.files)}).")
    return [found[network] for network in spec.files]


def compared_row(spec: TableSpec, row: object, widths: Mapping[str, tuple[float, ...]]) -> ComparedRow:
    """One row as data: a network of the comparison, its own file, one of its widths, scores, count and time."""
    files = spec.files
    network = row.get("network") if isinstance(row, dict) else None
    if not isinstance(network, str) or network not in files:
        raise TableError(f"A row of the table is for {str(network)[:40]!r}, not one of the networks compared "
                         f"({', '.join(files)}).")
    if row.get("file") != files[network]:
        raise TableError(f"The row of {network} names the file {str(row.get('file'))[:60]!r}, not its own, "
                         f"{files[network]}: a file behind another row, or another model's file, is no "
                         f"measurement of this {network}.")
    try:
        width = finite_float(row.get("width"))
        scores = {score: finite_float(row.get(score), low=0.0, high=1.0) for score in SCORES}
        seconds = finite_float(row.get("train_seconds"))
        parameters = row.get("parameters")
        if isinstance(parameters, bool) or not isinstance(parameters, int) or parameters < 0:
            raise UntrustedDataError(f"{str(parameters)[:40]!r} is not a count of parameters")
    except UntrustedDataError as error:
        raise TableError(f"The row of {network} does not hold what the exercise asks for ({error}): "
                         f"{', '.join(SCORES)} as fractions, parameters as a count, train_seconds.") from None
    offered = [w for w in widths[network] if math.isclose(width, w)]
    if not offered:
        raise TableError(f"The row of {network} says width {width:g}; the comparison trains {network} at width "
                         f"{' or '.join(f'{w:g}' for w in widths[network])} ({spec.widths_name}).")
    if not 0 < seconds <= MAX_TRAIN_SECONDS:
        raise TableError(f"The row of {network} says it trained for {seconds:g} s: a training time is positive "
                         f"and at most {MAX_TRAIN_SECONDS:g} s.")
    return ComparedRow(network, offered[0], files[network], scores, parameters, seconds)


def same_weights_as(path: Path, others: list[Path]) -> Path | None:
    """Another file among ``others`` that holds the very tensors of ``path`` (a checked file), or None.

    Only a file with the same header can; its values are compared as data, never loaded as code.
    """
    header = torch_models.read_header(path)
    for other in others:
        if other == path:
            continue
        try:
            same_layout = torch_models.read_header(other) == header
        except torch_models.StateFileError:
            continue
        if same_layout and not torch_models.changed_tensors(path, other, sorted(header)):
            return other
    return None


def comparison_part(comparison: Comparison, points: float, table: ComparedTable,
                    found: Mapping[str, Predictions]) -> PartResult:
    """Every row against the grader's measurement of its file; a pass only when all rows are."""
    spec = comparison.spec
    total = len(spec.files)
    threshold = f"{total} of {total} rows"
    if table.problem is not None:
        return judged(spec.part, points, False, table.problem, value=f"0 of {total} rows", threshold=threshold)
    labels, floor = comparison.evaluation.labels, comparison.floor
    problems: dict[str, str] = dict(table.file_problems)
    for row in table.rows:
        if row.network in problems:
            continue
        ran = found.get(spec.run_name(row.network)) or Predictions(problem=f"{row.file} gave no predictions.")
        if ran.predictions is None:
            if ran.verdict != "fail":  # the sandbox stopped: not the student's doing, graded again
                return not_judged(spec.part, points, ran.verdict, ran.problem or f"{row.file} could not be run.")
            problems[row.network] = ran.problem or f"{row.file} gave no predictions."
            continue
        measured = reference_scores(labels, ran.predictions.argmax(axis=1))
        parameters = comparison.references[row.network][row.width].parameter_count
        problem = row_differences(row, measured, parameters)
        if problem is None and measured["accuracy"] < floor:
            problem = (f"{row.file} reaches {measured['accuracy']:.2%} on the held-out images, below the "
                       f"{floor:.0%} every network of the comparison must reach: train it with "
                       f"{spec.train_function} before measuring it.")
        if problem is not None:
            problems[row.network] = problem
    value = f"{total - len(problems)} of {total} rows"
    if problems:
        shown = [problems[network] for network in spec.files if network in problems]
        more = f" ({len(shown) - 3} more rows are wrong.)" if len(shown) > 3 else ""
        return judged(spec.part, points, False, " ".join(shown[:3]) + more, value=value, threshold=threshold)
    return judged(spec.part, points, True,
                  f"Each of the {total} rows of {spec.table} is the grader's own measurement of its network's "
                  f"saved weights on {comparison.evaluation.description}: accuracy and weighted precision, recall "
                  f"and F1 within {SCORE_TOLERANCE * 100:g} points, the parameters exactly, a plausible training "
                  f"time; every network reaches at least {floor:.0%}.", value=value, threshold=threshold)


def row_differences(row: ComparedRow, measured: Mapping[str, float], parameters: int) -> str | None:
    """What a row claims that its file's measurement does not bear out, in one sentence, or None."""
    wrong = [score for score in SCORES if abs(row.scores[score] - measured[score]) > SCORE_TOLERANCE]
    claimed = [f"{score} {row.scores[score]:.2%}" for score in wrong]
    actual = [f"{measured[score]:.2%}" for score in wrong]
    if row.parameters != parameters:
        claimed.append(f"{row.parameters:,} parameters")
        actual.append(f"{parameters:,}")
    if not claimed:
        return None
    return (f"The row of {row.network} says {', '.join(claimed)}; the grader measures {', '.join(actual)} from "
            f"{row.file} (scores within {SCORE_TOLERANCE * 100:g} points, parameters exactly): the table must be "
            "measured from the networks it saves.")
