"""The benchmark scripts' own logic: what they accept, and how they judge and show a run."""

from __future__ import annotations

import json

import pytest

from autograder.graders import LABS
from autograder.pipeline.results import PartResult, SubmissionResult
from benchmarks import full_marks, grading


def test_every_graded_lab_is_measured_unless_some_are_named():
    assert grading.parse(None) == (list(LABS), grading.SIZE, None, 1)
    assert grading.parse(["lab3-annealing-augmentation", "size=2"]) == (["lab3-annealing-augmentation"], 2, None, 1)
    assert grading.parse(["lab1-mnist", "baseline=c0548dd", "repeat=3"]) == (["lab1-mnist"], grading.SIZE, "c0548dd", 3)
    with pytest.raises(ValueError, match="repeat=N"):
        grading.parse(["repeat=0"])
    assert full_marks.parse(["seeds=3", "profile=full"]) == (list(LABS), 3, "full")
    with pytest.raises(ValueError, match="name a graded lab"):
        full_marks.parse(["lab9"])


def test_a_grader_s_row_beside_a_baseline_is_its_median_run_and_every_run_is_shown():
    runs = [{"lab": "lab1-mnist", "workers": 1, "grader": grader, "seconds_per_submission": seconds,
             "notebook_run_seconds_mean": 15.0, "model_probe_seconds_mean": 8.0, "load_average": [load, load]}
            for grader, seconds, load in (("c0548dd", 28.5, 1.5), ("this checkout", 29.0, 1.6),
                                          ("this checkout", 36.0, 5.2), ("c0548dd", 30.1, 2.0),
                                          ("c0548dd", 41.0, 6.1), ("this checkout", 30.4, 2.1))]
    rows = [grading.median_run(runs, "lab1-mnist", 1, grader) for grader in ("c0548dd", "this checkout")]
    assert [row["seconds_per_submission"] for row in rows] == [30.1, 30.4]
    shown = grading.table({"baseline": "c0548dd", "rows": rows, "runs": runs,
                           "growth": {"lab1-mnist, 1 worker": 0.01}, "target": {"met": True}})
    every = "29.0 (1.6, 1.6), 36.0 (5.2, 5.2), 30.4 (2.1, 2.1)"
    assert f"| lab1-mnist | 1 | this checkout | 30.4 | 15.0 | 8.0 | {every} |" in shown


def test_margins_are_measured_minus_threshold_for_the_accuracy_parts_only():
    parts = (PartResult("test-cnn-model", "pass", 3, 3, "ok", value="1,000 parameters", threshold=1000),
             PartResult("test-cnn-accuracy", "pass", 2, 2, "ok", value=0.9312, threshold=0.92),
             PartResult("test-fc-accuracy", "fail", 0, 2, "low", value=0.91, threshold=0.92))
    result = SubmissionResult("seed-1", "lab1-mnist", "hash", parts)
    assert full_marks.margins(result) == {"test-cnn-accuracy": 0.0112, "test-fc-accuracy": -0.01}


def test_what_a_part_measured_besides_its_accuracy_gets_a_margin_and_a_record_of_its_own():
    robustness = {"augmented-transformed": [0.9912, 0.975], "augmented-transformed-gain": [0.05, 0.03]}
    parts = (PartResult("test-augmented-accuracy", "pass", 3, 3, "ok", value=0.995, threshold=0.985,
                        measurements=robustness),)
    result = SubmissionResult("seed-1", "lab3-annealing-augmentation", "hash", parts)
    assert full_marks.margins(result) == {"test-augmented-accuracy": 0.01, "augmented-transformed": 0.0162,
                                          "augmented-transformed-gain": 0.02}
    kept = full_marks.graded_accuracies(result)
    assert kept["accuracies"]["augmented-transformed"] == 0.9912 and kept["thresholds"]["augmented-transformed"] == 0.975
    # ... and it survives the result file's round trip, where it travels as a list.
    assert SubmissionResult.from_json(json.loads(json.dumps(result.to_json()))) == result


def test_the_full_marks_target_needs_full_marks_and_the_margin_on_every_seed():
    rows = [{"lab": "lab1-mnist", "seed": 1, "score": 10.0, "max_score": 10.0, "status": "graded",
             "margins": {"test-cnn-accuracy": 0.004}}]
    shown = full_marks.table({"profile": "quick", "seeds": 1, "rows": rows, "least_margin": 0.004,
                              "target": {"met": False}})
    assert "| lab1-mnist | 1 | 10/10 | cnn-accuracy +0.40% |  |" in shown and "NOT met" in shown


def test_an_untouched_notebook_that_scores_is_shown_and_fails_the_target():
    rows = [{"lab": "lab1-mnist", "seed": 1, "score": 14.0, "max_score": 14.0, "status": "graded",
             "margins": {"test-cnn-accuracy": 0.02}}]
    untouched = [{"lab": "lab1-mnist", "score": 2.0, "max_score": 14.0, "status": "graded"}]
    shown = full_marks.table({"profile": "quick", "seeds": 1, "rows": rows, "untouched": untouched,
                              "least_margin": 0.02, "target": {"met": False}})
    assert "| lab1-mnist | untouched | 2/14 | graded |" in shown and "NOT met" in shown
    assert not full_marks.target_met(rows, untouched)
    assert full_marks.target_met(rows, [{**untouched[0], "score": 0.0}])
    assert not full_marks.target_met(rows, [{**untouched[0], "score": 0.0, "status": "incomplete"}])
    assert not full_marks.target_met([{**rows[0], "score": 13.0}], [])
    assert not full_marks.target_met([{**rows[0], "margins": {"test-cnn-accuracy": 0.004}}], [])


def test_a_seed_whose_grading_did_not_finish_shows_its_status():
    rows = [{"lab": "lab1-mnist", "seed": 1, "score": 0.0, "max_score": 14.0, "status": "incomplete", "margins": {}}]
    shown = full_marks.table({"profile": "full", "seeds": 1, "rows": rows, "least_margin": 0.0,
                              "target": {"met": False}})
    assert "| lab1-mnist | 1 | 0/14 | incomplete |  |" in shown


def test_each_seed_keeps_what_its_notebook_measured(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"profile": "full", "train_size": 60000, "fc": {"test_accuracy": 0.98, "target": 0.97, '
                    '"train_seconds": 13.2, "epochs": 10}, "loop": {"test_accuracy": 0.975, "steps": 938}}')
    assert full_marks.notebook_metrics(path) == {"fc": {"test_accuracy": 0.98, "train_seconds": 13.2},
                                                 "loop": {"test_accuracy": 0.975}}
    assert full_marks.notebook_metrics(tmp_path / "missing.json") == {}
    row = {"lab": "lab1-mnist", "seed": 2, "score": 14.0, "max_score": 14.0, "status": "graded",
           "margins": {"test-fc-accuracy": 0.01}, "notebook": full_marks.notebook_metrics(path),
           "run": {"wall_seconds": 50.0, "cpu_seconds": 80.0}}
    shown = full_marks.table({"profile": "full", "seeds": 1, "rows": [row], "least_margin": 0.01,
                              "target": {"met": True}})
    assert "| lab1-mnist | 2 | 14/14 | fc-accuracy +1.00% | fc 13 s | 1.60 |" in shown


def test_a_run_s_share_of_the_machine_is_its_cpu_time_and_its_kernel_s_over_wall_time():
    import subprocess
    import sys
    import time

    from benchmarks import machine

    busy = "import time\nwhile time.process_time() < 1: pass\ntime.sleep(0.5)"  # seen between samples
    done, child = machine.measure(lambda: subprocess.run([sys.executable, "-c", busy]).returncode, every=0.1)
    assert done == 0 and 0.9 <= child["cpu_seconds"] <= 1.5 and child["wall_seconds"] >= 1.5
    _, own = machine.measure(lambda: sum(range(10_000_000)), every=0.1)
    assert 0.0 < own["cpu_seconds"] <= own["wall_seconds"] * 1.1 + 0.1
    _, idle = machine.measure(lambda: time.sleep(0.3), every=0.1)
    assert idle["cpu_seconds"] <= 0.05 and idle["wall_seconds"] >= 0.3
    assert machine.cores({"wall_seconds": 50.0, "cpu_seconds": 80.0}) == "1.60" and machine.cores(None) == ""


def test_the_seed_recipe_of_lab5_augments_one_image_at_a_time():
    import torch

    from benchmarks import lab5_recipe

    seen = []
    batch = torch.arange(24, dtype=torch.float32).reshape(3, 1, 2, 4)
    augmented = lab5_recipe.per_image(lambda images: seen.append(images.shape) or images * 2)(batch)
    assert seen == [(1, 1, 2, 4)] * 3
    assert torch.equal(augmented, batch * 2)


def test_training_for_a_time_ends_on_the_first_whole_batch_past_it():
    import torch

    import labkit
    from benchmarks import lab5_recipe
    from labkit import models

    images, labels = labkit.data.load("emnist-byclass", "test")
    batches = labkit.data.to_torch_loader(images[:64], labels[:64], batch_size=16, shuffle=True, seed=0,
                                          normalize="emnist-byclass")
    torch.manual_seed(0)
    model = models.LeNet(num_classes=62)
    before = [p.detach().clone() for p in model.parameters()]
    seconds, done = lab5_recipe.train_for(model, batches, torch.optim.SGD(model.parameters(), lr=0.1), 0.0)
    assert done == 1 and seconds >= 0.0
    assert any(not torch.equal(old, new) for old, new in zip(before, model.parameters()))
    seconds, done = lab5_recipe.train_for(model, batches, torch.optim.SGD(model.parameters(), lr=0.1), 0.3)
    assert seconds >= 0.3 and done >= 1


def test_an_equal_time_row_says_so_and_how_far_the_seed_got():
    from benchmarks import lab_recipes

    row = {"lab": "lab5-emnist-deep-models", "model": "vgg", "seed": "001", "comparison": "equal time",
           "seed_seconds": 509.4, "seed_epochs": 0.42, "seed_accuracy": 0.61, "our_seconds": 508.0,
           "our_accuracy": 0.8446, "time_ratio": 1.003, "accuracy_gain": 0.2346}
    trained_to_the_end = {"lab": "lab1-mnist", "model": "fc", "seed": "003", "seed_seconds": 22.2, "seed_epochs": 5,
                          "seed_accuracy": 0.9672, "our_seconds": 6.3, "our_accuracy": 0.9809, "time_ratio": 3.52,
                          "accuracy_gain": 0.0137, "seed_run": {"wall_seconds": 22.2, "cpu_seconds": 40.0},
                          "our_run": {"wall_seconds": 30.0, "cpu_seconds": 45.0}}
    shown = lab_recipes.table({"rows": [trained_to_the_end, row]})
    assert "| lab1-mnist | fc | 003 | 22 s | 6 s | 3.5x | 96.72% | 98.09% | 1.80 / 1.50 |" in shown
    assert "| lab5-emnist-deep-models | vgg | 001 | 509 s (0.42 epochs) | 508 s | equal time | 61.00% | 84.46% |" \
        in shown


def test_each_run_is_kept_in_the_tracked_history_beside_the_latest_and_never_replaced(tmp_path, monkeypatch):
    import json
    import re
    from datetime import datetime, timezone

    from benchmarks import __main__ as bench

    monkeypatch.setattr(bench, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(bench, "HISTORY", tmp_path / "history")
    first = datetime(2026, 12, 4, 22, 0, 0, tzinfo=timezone.utc)
    bench.write_result({"least_margin": 0.01}, "full_marks", first, "abc1234")
    bench.write_result({"least_margin": 0.02}, "full_marks", first.replace(hour=23), None)
    assert json.loads((tmp_path / "results" / "full_marks.json").read_text()) == {"least_margin": 0.02}
    kept = sorted(path.name for path in (tmp_path / "history").iterdir())
    assert kept == ["20261204T220000Z-full_marks-abc1234.json", "20261204T230000Z-full_marks-no-commit.json"]
    assert json.loads((tmp_path / "history" / kept[0]).read_text()) == {"least_margin": 0.01}
    with pytest.raises(FileExistsError):
        bench.write_result({"least_margin": 0.03}, "full_marks", first, "abc1234")
    assert json.loads((tmp_path / "history" / kept[0]).read_text()) == {"least_margin": 0.01}
    assert re.fullmatch(r"[0-9a-f]{7,}(-dirty)?", bench.current_commit())


def test_the_history_is_not_ignored_by_git_and_the_latest_results_are():
    import subprocess

    from benchmarks import __main__ as bench

    def ignored(path) -> bool:
        return subprocess.run(["git", "check-ignore", "--quiet", str(path)], cwd=bench.HISTORY.parent,
                              check=False).returncode == 0

    assert not ignored(bench.HISTORY / "20261204T220000Z-full_marks-abc1234.json")
    assert ignored(bench.RESULTS / "full_marks.json")


def test_a_record_states_the_machine_it_measured():
    import os

    from benchmarks import machine

    described = machine.describe()
    assert set(described) == {"cpu", "cores", "platform", "python"}
    assert described["cores"] == (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                  else os.cpu_count())
    assert described["cpu"] is None or described["cpu"].strip() == described["cpu"] != ""


def test_the_seed_recipes_can_be_narrowed_to_a_lab_and_a_model():
    from benchmarks import lab_recipes

    assert lab_recipes.parse(None) == ([*lab_recipes.DATASETS, "lab5-emnist-deep-models"], None)
    assert lab_recipes.parse(["lab3-annealing-augmentation", "model=augmented"]) == (
        ["lab3-annealing-augmentation"], {"augmented"})
    with pytest.raises(ValueError, match="models: annealed, augmented, plain"):
        lab_recipes.parse(["lab3-annealing-augmentation", "model=cnn"])
    with pytest.raises(ValueError, match="name a lab with a seed recipe"):
        lab_recipes.parse(["lab9"])


def test_the_cluster_overhead_is_the_seconds_outside_grading_beyond_the_pool_s_and_the_course_is_graded_in_waves():
    from benchmarks import cluster

    assert cluster.parse(None) == cluster.SIZE and cluster.parse(["size=6"]) == 6
    with pytest.raises(ValueError, match="size=N"):
        cluster.parse(["size=0"])
    # 4 submissions of 40 s each: the pool's worker spends 50 s per submission (setup included), the
    # cluster's 51 s after its 5 s start: 1 s more, 2.5% of a submission's grading.
    rows = [cluster.row("pool", 1, 4, 200.0, 0.0, [40.0] * 4), cluster.row("local", 1, 4, 209.0, 5.0, [40.0] * 4),
            cluster.row("pool", 2, 4, 100.0, 0.0, [40.0] * 4), cluster.row("local", 2, 4, 110.0, 5.0, [41.0] * 4)]
    assert rows[1]["seconds_per_submission_per_worker"] == 51.0 and rows[1]["outside_grading_seconds"] == 11.0
    result = cluster.summarise(rows, collect_seconds=0.01)
    assert result["overhead"]["1"] == {"seconds_per_submission": 1.0, "share_of_grading": 0.025, "start_seconds": 5.0}
    assert result["overhead"]["2"]["seconds_per_submission"] == 1.5  # 52.5 - 41 against 50 - 40
    assert result["target"] == {"max_overhead": 0.05, "met": True}
    course = result["projection"]  # 5 s + 2,000 x 0.01 s collected + 32 waves x 52.5 s
    assert (course["waves"], course["seconds"], course["hours"]) == (32, 1705, 0.47)
    shown = cluster.table(result)
    assert "NOT met" not in shown and "2,000 submissions on 64 workers in 0.47 h" in shown
