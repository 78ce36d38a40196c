"""Grading lab 1 end to end: real notebooks, real sandboxes, real models, one class graded once.

The class (tests/grading_corpus.py) holds the reference solution, a byte-identical
copy of it, the untouched student notebook, two seeded bugs and an adversarial
corpus. It is graded in one batch with two workers, under the quick profile's
targets; every test below but the last (the command line on one notebook) reads
that one grading.
"""

from __future__ import annotations

import csv
import html
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.pipeline.grading import grade, result_path
from autograder.pipeline.options import GradingOptions
from autograder.pipeline.results import SubmissionResult, read_result
from autograder.graders import lab1_mnist as lab1
from tests.grading_class import ran_without, require_sandbox
from tests.grading_corpus import CASES, LAB, PARTS, Sources, build_class
from tests.notebooks import released_notebook

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
# The class takes 8-10 minutes on 2 idle cores (about 25 sandboxed notebook runs and model
# probes, two at a time), and twice that while other jobs share the machine.

CELL_TIMEOUT = 60
NOTEBOOK_SECONDS = 300.0


def options(mirror_dir: Path) -> GradingOptions:
    return GradingOptions(
        profile="quick", data_dir=mirror_dir, cell_timeout=CELL_TIMEOUT,
        notebook_limits=sandbox.Limits(wall_seconds=NOTEBOOK_SECONDS, memory_bytes=4 * 2**30,
                                       processes=256, output_bytes=4 * 2**20,
                                       file_bytes=256 * 2**20, disk_bytes=2 * 2**30),
    )


@dataclass
class GradedClass:
    results: dict[str, SubmissionResult]
    out: Path
    sources: Sources
    seconds: float


@pytest.fixture(scope="session")
def reference_submission(solution_run) -> Path:
    """The solution notebook run once, as a student would, leaving its artifacts beside it."""
    return solution_run(LAB).folder


@pytest.fixture(scope="module")
def graded(tmp_path_factory, reference_submission, mirror_dir) -> GradedClass:
    require_sandbox()
    root = tmp_path_factory.mktemp("class")
    sources = Sources(reference_submission, root / "submissions", root / "graded", root / "markers")
    build_class(sources)
    started = time.perf_counter()
    results = grade(LAB, sources.class_dir, sources.out_dir, workers=2, options=options(mirror_dir))
    return GradedClass({r.student_id: r for r in results}, sources.out_dir, sources,
                       time.perf_counter() - started)


def verdicts(result: SubmissionResult) -> dict[str, str]:
    return {part.part: part.verdict for part in result.parts}


def test_every_submission_is_graded_once_in_the_lab_s_part_order(graded):
    assert sorted(graded.results) == sorted(case.student_id for case in CASES)
    for result in graded.results.values():
        assert [part.part for part in result.parts] == list(PARTS)
        assert result.grader_error is None, f"{result.student_id}: {result.grader_error}"


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.student_id)
def test_each_submission_gets_its_verdicts_and_nothing_more(graded, case):
    result = graded.results[case.student_id]
    summary = {part.part: (part.verdict, part.message[:200]) for part in result.parts}
    for part in result.parts:
        assert part.verdict in case.allowed(part.part), f"{case.student_id} {part.part}: {summary}"
        assert part.points == (part.max_points if part.verdict == "pass" else 0)
    assert result.score == case.score, summary
    assert result.max_score == 14


def test_untouched_notebook_fails_every_part_with_a_reason_and_runs_every_test_cell(graded):
    result = graded.results["untouched"]
    assert result.status == "graded" and result.score == 0
    assert all(part.verdict == "fail" and part.message for part in result.parts)
    assert [test.grade_id for test in result.notebook_tests] == [p for p in PARTS if p not in lab1.SKIP]
    assert not any(test.passed for test in result.notebook_tests)
    assert result.runs["notebook"]["status"] == "ok"
    assert ran_without(result, lab1.SKIP)[-1] == "probe:test-train-step"  # no training cell ran


def test_accuracy_is_measured_by_the_grader_against_the_quick_target(graded, reference_submission):
    import json

    import labkit

    result = graded.results["reference"]
    claimed = json.loads((reference_submission / "artifacts" / "metrics.json").read_text())
    for part, model in (("test-fc-accuracy", "fc"), ("test-cnn-accuracy", "cnn")):
        measured = next(p for p in result.parts if p.part == part)
        assert measured.threshold == labkit.targets.target(LAB, model, "quick")
        assert measured.value == pytest.approx(claimed[model]["test_accuracy"], abs=1e-4)


def test_identical_submissions_get_identical_results_and_are_flagged(graded):
    first, second = graded.results["reference"], graded.results["reference-copy"]
    assert first.parts == second.parts
    assert first.fingerprints == second.fingerprints and len(first.fingerprints) == 2
    rows = list(csv.DictReader((graded.out / "identical-models.csv").open()))
    # (the seeded train-step bug and the faked metrics hand in the reference's models too)
    shared = {row["model"] for row in rows if row["kind"] == "identical"
              and {row["student"], row["other_student"]} == {"reference", "reference-copy"}}
    assert shared == {"fc", "cnn"}


def test_in_notebook_tests_are_shown_but_never_counted(graded):
    faked = graded.results["input-transformer"]
    assert any(test.passed for test in faked.notebook_tests)  # the exploit fooled its own kernel
    assert faked.score == 0
    hard_coded = graded.results["hard-coded-accuracy"]
    # The grader's run leaves the accuracy checks out: the claimed accuracy never even reaches one.
    assert "test-fc-accuracy" in lab1.SKIP
    assert "test-fc-accuracy" not in {t.grade_id for t in hard_coded.notebook_tests}
    assert hard_coded.score == 0


def test_attacks_reach_nothing_outside_their_sandbox(graded):
    markers = graded.sources.markers
    assert list(markers.iterdir()) == []  # no pickle payload ran here, no forged file landed here
    assert not (graded.out / "results" / LAB / "forge-results.json").read_text().count("hacked")
    with sqlite3.connect(graded.out / "gradebook.db") as db:
        assert db.execute("select count(*) from student").fetchone()[0] == len(CASES)
    assert "STOLEN" not in str(graded.results["steal"].to_json())
    notes = " ".join(graded.results["links"].notes + graded.results["oversized"].notes)
    assert "a link, not a file" in notes and "over the limit" in notes
    locked = " ".join(graded.results["locked-cells-edited"].notes)
    assert "'save' was deleted" in locked and "'test-fc-model' was edited" in locked


def test_comet_review_sets_logged_accuracy_beside_the_measured_one(graded):
    rows = list(csv.DictReader((graded.out / "comet-review.csv").open()))
    honest = [row for row in rows if row["student_id"] == "reference" and row["model"]]
    assert sorted(row["model"] for row in honest) == ["cnn", "fc"]
    assert all(row["flag"] == "" for row in honest)
    liar = [row for row in rows if row["student_id"] == "fake-metrics" and row["model"]]
    assert len(liar) == 2 and all(row["flag"].startswith("logged 0.9990, measured 0.9") for row in liar)


def test_grading_keeps_the_comet_archives_as_handed_in_for_upload(graded):
    from autograder.comet import upload as comet_upload

    kept: dict[str, list[Path]] = {}
    for archive in comet_upload.find_archives(graded.out, LAB):
        kept.setdefault(archive.student_id, []).append(archive.path)
    # the notebooks run in grading track nothing: only what was handed in is kept
    assert sorted(kept) == ["bug-cnn-filters", "fake-metrics", "reference", "reference-copy"]
    handed_in = sorted((graded.sources.reference / "comet-offline").glob("*.zip"))
    assert handed_in
    for student in ("reference", "reference-copy"):
        assert [path.name for path in kept[student]] == [path.name for path in handed_in]
        assert [path.read_bytes() for path in kept[student]] == [path.read_bytes() for path in handed_in]


def test_kill_limits_end_runs_with_their_verdict_and_within_the_limit(graded):
    bomb = graded.results["memory-bomb"].runs["notebook"]
    assert bomb["status"] == "out-of-memory"
    forks = graded.results["fork-bomb"].runs["notebook"]
    assert forks["status"] == "out-of-memory"
    assert forks["seconds"] < NOTEBOOK_SECONDS / 2  # ended as it started, not left to spin to the wall-time limit
    loop = graded.results["infinite-loop"].runs["notebook"]
    assert loop["status"] == "ok" and loop["seconds"] < NOTEBOOK_SECONDS  # the cell was interrupted, the run went on
    assert graded.results["os-exit"].runs["notebook"]["outcome"] == "kernel died"


def test_grades_csv_feedback_and_gradebook_agree(graded):
    rows = {row["student_id"]: row for row in csv.DictReader((graded.out / "grades.csv").open())}
    assert list(next(iter(rows.values()))) == ["student_id", "lab", "score", "max_score", "status", *PARTS]
    for student, result in graded.results.items():
        assert float(rows[student]["score"]) == result.score
        assert rows[student]["status"] == result.status
        assert [float(rows[student][part]) for part in PARTS] == [p.points for p in result.parts]
        page = (graded.out / "feedback" / student / f"{LAB}.html").read_text()
        assert f"{result.score:g} / 14" in page
    page = (graded.out / "feedback" / "always-equal" / f"{LAB}.html").read_text()
    assert "<script>" not in page and html.escape("<script>alert('graded')</script>") in page

    from nbgrader.api import Gradebook

    from autograder.release import scripts_of_this_environment_on_path

    with scripts_of_this_environment_on_path():
        book = Gradebook(f"sqlite:///{graded.out / 'gradebook.db'}")
    try:
        scores = {s["student"]: s["score"] for s in book.submission_dicts(LAB)}
    finally:
        book.close()
    assert scores == {student: result.score for student, result in graded.results.items()}


def test_grading_again_resumes_from_the_results_without_running_anything(graded, mirror_dir):
    reused = []
    again = grade(LAB, graded.sources.class_dir, graded.out, workers=2, options=options(mirror_dir),
                  progress=lambda result, was_reused: reused.append(was_reused))
    assert reused == [True] * len(CASES)  # setup only: no sandbox ran
    assert {r.student_id: r for r in again} == graded.results
    assert read_result(result_path(graded.out, LAB, "reference")) == graded.results["reference"]


def test_the_grade_command_prints_its_summary_and_nothing_from_tensorflow(tmp_path, mirror_dir):
    """The grader builds its own Keras probes; TensorFlow's start-up lines would bury the summary."""
    require_sandbox()
    (tmp_path / "class" / "ada" / LAB).mkdir(parents=True)
    shutil.copy(released_notebook(LAB), tmp_path / "class" / "ada" / LAB)
    environment = {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"}
    ran = subprocess.run([sys.executable, "-m", "autograder", "grade", LAB, str(tmp_path / "class"),
                          "--out", str(tmp_path / "out"), "--profile", "quick"], capture_output=True,
                         text=True, timeout=600, env={**environment, "LABKIT_DATA_DIR": str(mirror_dir)})

    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stderr == ""
    full_marks = next(case.score for case in CASES if case.student_id == "reference")
    assert ran.stdout.splitlines()[0].split()[:2] == ["ada", f"0/{full_marks:g}"]
    assert (tmp_path / "out" / "grades.csv").is_file()
