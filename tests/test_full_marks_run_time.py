"""The notebook runs' time budgets, which the benchmark reports and no test asserts."""

from __future__ import annotations

from autograder.graders import LABS
from benchmarks import full_marks


def row(lab: str, wall_seconds: float | None) -> dict:
    return {"lab": lab, "seed": 1, "score": 14.0, "max_score": 14.0, "status": "graded", "margins": {},
            "run": None if wall_seconds is None else {"wall_seconds": wall_seconds, "cpu_seconds": 1.8 * wall_seconds}}


def test_every_graded_lab_has_a_quick_run_budget():
    assert set(full_marks.QUICK_RUN_BUDGET_S) == set(LABS)


def test_the_table_shows_each_notebook_run_against_its_budget_where_its_profile_sets_one():
    rows = [row("lab1-mnist", 97.4), row("lab4-emnist-baselines", 200.0), row("lab1-mnist", None)]
    quick = full_marks.table({"profile": "quick", "seeds": 1, "rows": rows, "least_margin": 0.0,
                              "target": {"met": False}}).splitlines()
    assert quick[-5].endswith("| 1.80 | 97 s (within the 120 s budget) |")
    assert quick[-4].endswith("| 1.80 | 200 s (OVER the 180 s budget) |")
    assert quick[-3].endswith("|  |  |")
    full = full_marks.table({"profile": "full", "seeds": 1, "rows": rows[:1], "least_margin": 0.0,
                             "target": {"met": False}})
    assert "| 1.80 | 97 s |" in full  # lab 1 has no full-profile budget; lab 5 has one
    full = full_marks.table({"profile": "full", "seeds": 1, "rows": [row("lab5-emnist-deep-models", 910.0)],
                             "least_margin": 0.0, "target": {"met": False}})
    assert "| 1.80 | 910 s (OVER the 900 s budget) |" in full
