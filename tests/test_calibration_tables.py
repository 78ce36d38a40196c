"""docs/calibration.md's tables are what the committed benchmark history gives, and they are computed right."""

from __future__ import annotations

import json

import pytest

import labkit.targets
from autograder.graders import LABS
from benchmarks import calibration


def test_the_calibration_tables_are_the_ones_the_committed_history_renders():
    text = calibration.DOC.read_text()
    rendered = calibration.render(calibration.load())
    written = {match["name"]: match["body"].strip("\n") for match in calibration.SECTION.finditer(text)}
    stale = [name for name, body in rendered.items() if written.get(name) != body]
    assert not stale, (f"docs/calibration.md's sections {stale} differ from benchmarks/history/ (edited by hand, "
                       "or a run recorded without regenerating): run make calibration")
    assert calibration.update(text, rendered) == text


def keep(folder, request: str, finished: str, result: dict, commit: str = "abc1234") -> None:
    """A record as ``python -m benchmarks`` writes it."""
    name = request.partition(":")[0]
    record = result | {"run": {"request": request, "finished": finished, "commit": commit}}
    (folder / f"{finished[:19].replace('-', '').replace(':', '')}Z-{name}-{commit}.json").write_text(json.dumps(record))


def seed_row(seed: int, accuracy: float | None, threshold: float, *, margin_only: bool = False) -> dict:
    """One seed of lab 1 graded in full marks: only its CNN's accuracy part, the notebook's timer, its cores."""
    part = "test-cnn-accuracy"
    row = {"lab": "lab1-mnist", "seed": seed, "score": 14.0, "max_score": 14.0, "status": "graded",
           "margins": {part: round(accuracy - threshold, 4)},
           "notebook": {"cnn": {"test_accuracy": accuracy, "train_seconds": 30.0 + seed}},
           "run": {"wall_seconds": 100.0, "cpu_seconds": 150.0 + 10 * seed}}
    if not margin_only:
        row |= {"accuracies": {part: accuracy}, "thresholds": {part: threshold}}
    return row


def cells(section: str, start: str) -> list[str]:
    line = next(line for line in section.splitlines() if line.startswith(start))
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_a_full_marks_run_on_three_seeds_gives_the_least_median_and_most_accuracy_and_the_margins(tmp_path):
    threshold = labkit.targets.target("lab1-mnist", "cnn", "quick")
    accuracies = [threshold + 0.031, threshold + 0.012, threshold + 0.02]
    keep(tmp_path, "full_marks:lab1-mnist,seeds=3", "2026-12-08T10:00:00+00:00",
         {"profile": "quick", "seeds": 3, "rows": [seed_row(seed, accuracy, threshold)
                                                   for seed, accuracy in enumerate(accuracies, 1)]})
    sections = calibration.render(calibration.load(tmp_path))
    quick = sections["full-marks-quick"]
    assert cells(quick, "| lab1-mnist | cnn |") == [
        "lab1-mnist", "cnn", "3", "3 of 3",
        f"{threshold + 0.012:.2%} – {threshold + 0.02:.2%} – {threshold + 0.031:.2%}", f"{threshold * 100:g}%",
        "+1.20 to +3.10", "31–33 s", "1.60–1.80", "`abc1234`", "2026-12-08"]
    assert cells(quick, "| lab1-mnist | fc |")[2] == "not measured (the run recorded no accuracy for it)"
    assert cells(quick, "| lab2-fashion-mnist |")[2] == "not measured"
    assert calibration.RECOVERED not in quick  # every accuracy is the grader's own, as recorded
    assert all(cells(sections["full-marks-full"], f"| {lab} |")[2] == "not measured"
               for lab in labkit.targets.TARGETS)  # a quick run says nothing of the full profile
    assert "`full_marks:lab1-mnist,seeds=3`" in sections["runs"]
    assert sections["grading"].count("| not measured |") == len(LABS)


def test_lab_3_s_transformed_copies_get_a_row_from_what_the_augmented_part_measured(tmp_path):
    lab = "lab3-annealing-augmentation"
    threshold = labkit.targets.target(lab, "augmented-transformed", "full")
    on_copies = [threshold + 0.016, threshold + 0.02, threshold + 0.018]
    rows = [{"lab": lab, "seed": seed, "score": 16.0, "max_score": 16.0, "status": "graded",
             "margins": {"augmented-transformed": round(value - threshold, 4), "augmented-transformed-gain": 0.05},
             "accuracies": {"augmented-transformed": value, "augmented-transformed-gain": 0.08},
             "thresholds": {"augmented-transformed": threshold, "augmented-transformed-gain": 0.03}}
            for seed, value in enumerate(on_copies, 1)]
    keep(tmp_path, f"full_marks:{lab},profile=full,seeds=3", "2026-12-08T10:00:00+00:00",
         {"profile": "full", "seeds": 3, "rows": rows})
    full = calibration.render(calibration.load(tmp_path))["full-marks-full"]
    assert cells(full, f"| {lab} | augmented-transformed |")[2:7] == [
        "3", "3 of 3", f"{threshold + 0.016:.2%} – {threshold + 0.018:.2%} – {threshold + 0.02:.2%}",
        f"{threshold * 100:g}%", "+1.60 to +2.00"]
    assert "gain" not in full  # the gain over plain.keras has no target of labkit.targets: no row of its own


def test_a_later_run_replaces_an_earlier_one_and_an_old_record_is_read_from_its_margins(tmp_path):
    threshold = labkit.targets.target("lab1-mnist", "cnn", "quick")
    keep(tmp_path, "full_marks:lab1-mnist", "2026-12-08T10:00:00+00:00",
         {"profile": "quick", "seeds": 1, "rows": [seed_row(1, threshold + 0.05, threshold)]})
    keep(tmp_path, "full_marks:lab1-mnist", "2026-12-09T10:00:00+00:00", commit="def5678",
         result={"profile": "quick", "seeds": 2, "rows": [seed_row(1, threshold + 0.01, threshold, margin_only=True),
                                                          seed_row(2, threshold + 0.02, threshold + 0.005)]})
    quick = calibration.render(calibration.load(tmp_path))["full-marks-quick"]
    row = cells(quick, "| lab1-mnist | cnn |")
    spread = f"{threshold + 0.01:.2%} – {threshold + 0.015:.2%} – {threshold + 0.02:.2%}"
    assert row[2:7] == ["2", "2 of 2", spread + calibration.RECOVERED,
                        f"{threshold * 100:g}% (graded against {(threshold + 0.005) * 100:g}%)", "+1.00 to +2.00"]
    assert row[-2:] == ["`def5678`", "2026-12-09"] and calibration.RECOVERED_NOTE in quick


def test_the_course_time_adds_up_each_lab_s_median_notebook_run_and_holds_lab_5_to_its_budget(tmp_path):
    from benchmarks import full_marks

    def timed(lab: str, seed: int, minutes: float) -> dict:
        return {"lab": lab, "seed": seed, "score": 1.0, "max_score": 1.0, "status": "graded", "margins": {},
                "run": {"wall_seconds": 60 * minutes, "cpu_seconds": 100 * minutes}}

    lab5 = "lab5-emnist-deep-models"
    keep(tmp_path, f"full_marks:{lab5},profile=full,seeds=3", "2026-12-08T10:00:00+00:00",
         {"profile": "full", "seeds": 3, "rows": [timed(lab5, 1, 12.0), timed(lab5, 2, 16.0), timed(lab5, 3, 13.0)]})
    keep(tmp_path, "full_marks:lab1-mnist,seeds=3", "2026-12-08T11:00:00+00:00",  # a quick run: no course time
         {"profile": "quick", "seeds": 1, "rows": [timed("lab1-mnist", 1, 1.0)]})
    course = calibration.render(calibration.load(tmp_path))["course-time"]
    assert cells(course, f"| {lab5} |")[1:5] == ["3", "12.0 – 13.0 – 16.0 min", "15 min (NOT met)", "1.67"]
    assert cells(course, "| lab1-mnist |")[1] == "not measured"
    assert cells(course, "| whole course |")[2:4] == [
        f"not measured ({len(LABS) - 1} of {len(LABS)} labs have no full-profile run)", "35 min"]

    others = [lab for lab in LABS if lab != lab5]
    keep(tmp_path, f"full_marks:{','.join(others)},profile=full,seeds=2", "2026-12-08T12:00:00+00:00",
         {"profile": "full", "seeds": 2, "rows": [timed(lab, seed, minutes + seed - 1)
                                                  for lab, minutes in zip(others, [1.0, 4.0, 5.0, 6.0])
                                                  for seed in (1, 2)]})
    course = calibration.render(calibration.load(tmp_path))["course-time"]
    assert cells(course, "| lab2-fashion-mnist |")[1:4] == ["2", "4.0 – 4.5 – 5.0 min", ""]
    assert cells(course, "| whole course |")[2:4] == [  # medians 1.5 + 4.5 + 5.5 + 6.5 + 13; slowest 2 + 5 + 6 + 7 + 16
        "31 min (the labs' medians; their slowest seeds: 36 min)", "35 min (met by the medians)"]
    assert full_marks.COURSE_BUDGET_S == 35 * 60 and full_marks.FULL_RUN_BUDGET_S[lab5] == 15 * 60


def test_the_grading_and_cluster_tables_come_from_their_latest_runs(tmp_path):
    from benchmarks import cluster

    def graded(workers: int, seconds: float, grader: str) -> dict:
        return {"lab": "lab2-fashion-mnist", "workers": workers, "submissions": 2, "seconds": seconds,
                "seconds_per_submission": seconds / 2, "notebook_run_seconds_mean": 10.0,
                "model_probe_seconds_mean": 4.0, "grader": grader}

    keep(tmp_path, "grading:lab2-fashion-mnist,baseline=c0548dd", "2026-12-08T10:00:00+00:00",
         {"rows": [graded(1, 40.0, "c0548dd"), graded(2, 25.0, "c0548dd"), graded(1, 44.0, "this checkout"),
                   graded(2, 27.5, "this checkout")], "baseline": "c0548dd",
          "growth": {"lab2-fashion-mnist, 1 worker": 0.1, "lab2-fashion-mnist, 2 workers": 0.1},
          "target": {"met": True}})
    rows = [cluster.row(path, workers, 4, 100.0, 1.0 if path == "local" else 0.0, [20.0] * 4)
            for path, workers in cluster.RUNS]
    keep(tmp_path, "cluster:size=4", "2026-12-08T11:00:00+00:00", cluster.summarise(rows, collect_seconds=0.01))
    sections = calibration.render(calibration.load(tmp_path))
    assert cells(sections["grading"], "| lab2-fashion-mnist |")[1:6] == [
        "2", "22.0 (10.0 + 4.0)", "13.75", "1.6x", "+10.0% / +10.0% against `c0548dd`"]
    assert cells(sections["grading"], "| lab1-mnist |")[1] == "not measured"
    assert "growth per submission against c0548dd: lab2-fashion-mnist, 1 worker +10.0%" in sections["grading-baselines"]
    assert cells(sections["cluster"], "| 2026-12-08T11:00:00Z |")[1] == "4"
    assert "No `data_load` run in the history: not measured." == sections["data-load"]


def test_the_document_s_sections_are_replaced_and_a_lost_one_is_an_error():
    names = list(calibration.SECTIONS)
    old = "# Calibration\n\nWhy.\n\n" + "\n\nProse.\n\n".join(calibration.generated(name, "| old |") for name in names)
    new = calibration.update(old, {name: f"| {name} |" for name in names})
    assert "| old |" not in new and all(f"| {name} |" in new for name in names) and new.startswith("# Calibration")
    assert new.count("Prose.") == len(names) - 1
    assert calibration.update(new, {name: f"| {name} |" for name in names}) == new
    without = old.replace(calibration.generated(names[-1], "| old |"), "")
    with pytest.raises(ValueError, match=f"missing \\['{names[-1]}'\\]"):
        calibration.update(without, {name: "" for name in names})
