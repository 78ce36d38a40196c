"""Grading lab 3 end to end: real notebooks, real sandboxes, the three saved CNNs, one small class graded once.

The class: the reference solution (the solution notebook run once in the quick
profile, as a student would) and a byte-identical copy of it, the untouched
student notebook, two seeded bugs with the reference's models (an annealer
that watches the training loss, a zoom far larger than asked), and a forgery
(the student notebook plants the right learning rates where the annealer probe
writes, then hands it a callback that breaks). Graded in one batch with two
workers, under the quick profile's targets.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.graders import lab3_annealing_augmentation as lab3
from autograder.pipeline.grading_secret import GradingSecret
from autograder.pipeline.results import SubmissionResult
from autograder.sandbox.output import OutputFolder
from tests.grading_class import grade_class, parts, summary
from tests.grading_class import with_source as _with_source
from tests.grading_class import write_notebook as _write
from tests.notebooks import released_notebook, solution_notebook

LAB = lab3.LAB
POINTS = {"test-cnn-model": 3, "test-plain-accuracy": 2, "test-annealer": 3, "test-annealed-accuracy": 2,
          "test-augmentation": 3, "test-augmented-accuracy": 3}
REPORTED_TESTS = ["test-cnn-model", "test-annealer", "test-augmentation"]
"""The in-notebook tests the grader's run reports: the accuracy tests need the training it leaves out."""

BUGS = {
    "bug-annealer-monitor": ("annealer", 'monitor="val_loss"', 'monitor="loss"', "test-annealer"),
    "bug-augmentation-zoom": ("augmentation", 'layers.RandomZoom(0.08, fill_mode="constant")',
                              'layers.RandomZoom(0.25, fill_mode="constant")', "test-augmentation"),
}
"""student -> (cell, what the solution says, what the mutant says, the one part it must lose)."""

FORGE_RATES = '''\
# Plant the right learning rates where the annealer probe writes, then hand it a callback that breaks.
import json, pathlib
import numpy as np

def build_annealer():
    logs = json.loads(next(pathlib.Path("/tmp").glob("**/epoch_logs.json")).read_text())
    planted = pathlib.Path(".autograder-probe/test-annealer")
    planted.mkdir(parents=True, exist_ok=True)
    reference = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=1, min_lr=1e-5)
    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(logs["initial_rate"]), loss="mse")
    reference.set_model(model)
    reference.on_train_begin()
    rates = []
    for epoch, epoch_logs in enumerate(logs["epoch_logs"]):
        reference.on_epoch_end(epoch, epoch_logs)
        rates.append(float(model.optimizer.learning_rate))
    np.save(planted / "rates.npy", np.array(rates))
    raise RuntimeError(f"planted {planted / 'rates.npy'}")
'''


def build_class(reference: Path, class_dir: Path) -> None:
    for student in ("reference", "reference-copy"):
        shutil.copytree(reference, class_dir / student / LAB, ignore=shutil.ignore_patterns(".kernels"))
    _write(nbformat.read(released_notebook(LAB), as_version=4), class_dir / "untouched" / LAB)
    for student, (cell_id, old, new, _) in BUGS.items():
        _write(_with_source(solution_notebook(LAB), cell_id, old, new), class_dir / student / LAB)
        shutil.copytree(reference / "artifacts", class_dir / student / LAB / "artifacts")
    forged = nbformat.read(released_notebook(LAB), as_version=4)
    next(c for c in forged.cells if c.get("id") == "annealer").source = FORGE_RATES
    _write(forged, class_dir / "forge-rates" / LAB)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, solution_run, mirror_dir) -> dict[str, SubmissionResult]:
    return grade_class(LAB, tmp_path_factory.mktemp("lab3-class"),
                       lambda folder: build_class(solution_run(LAB).folder, folder), mirror_dir, cell_timeout=90)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_reference_solution_gets_full_marks_from_the_grader_s_own_measurements(graded, solution_run):
    import labkit

    result = graded["reference"]
    assert {p: part.points for p, part in parts(result).items()} == POINTS, summary(result)
    assert list(parts(result)) == list(POINTS) and result.status == "graded"
    claimed = json.loads((solution_run(LAB).folder / "artifacts" / "metrics.json").read_text())
    for model in ("plain", "annealed", "augmented"):
        accuracy = parts(result)[f"test-{model}-accuracy"]
        assert accuracy.threshold == labkit.targets.target(LAB, model, "quick")
        assert accuracy.value == pytest.approx(claimed[model]["test_accuracy"], abs=1e-4)  # the grader's own
    assert [(test.grade_id, test.passed) for test in result.notebook_tests] == [(t, True) for t in REPORTED_TESTS]
    # The training cells were left out of the grader's run: the notebook took less than training would.
    assert result.runs["notebook"]["seconds"] < solution_run(LAB).seconds


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_grading_the_same_submission_twice_gives_the_same_results(graded):
    first, second = graded["reference"], graded["reference-copy"]
    assert first.parts == second.parts and first.notebook_tests == second.notebook_tests
    assert first.fingerprints == second.fingerprints and len(first.fingerprints) == 3


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_untouched_notebook_gets_nothing_with_a_reason_for_every_part(graded):
    result = graded["untouched"]
    assert result.score == 0 and result.status == "graded", summary(result)
    assert all(part.verdict == "fail" and part.message for part in result.parts)
    assert "plain.keras is missing" in parts(result)["test-cnn-model"].message
    assert "NotImplementedError" in parts(result)["test-annealer"].message
    assert "NotImplementedError" in parts(result)["test-augmentation"].message
    assert [test.grade_id for test in result.notebook_tests] == REPORTED_TESTS
    assert not any(test.passed for test in result.notebook_tests)


@pytest.mark.slow
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("student", sorted(BUGS))
def test_each_seeded_bug_loses_exactly_its_part(graded, student):
    result = graded[student]
    broken = BUGS[student][3]
    assert parts(result)[broken].verdict == "fail", summary(result)
    assert result.score == sum(POINTS.values()) - POINTS[broken], summary(result)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_rates_planted_where_the_probe_writes_gain_nothing(graded):
    result = graded["forge-rates"]
    message = parts(result)["test-annealer"].message
    assert "RuntimeError: planted" in message  # the forgery was in place, and its file was never judged
    assert result.score == 0, summary(result)


# --- the judging functions, on their own ----------------------------------------------------------


@pytest.fixture(scope="module")
def reference_annealer():
    import keras

    from autograder.pipeline import source

    return source.solution_function(source.read(solution_notebook(LAB)), "annealer", "build_annealer",
                                    {"keras": keras})


@pytest.fixture(scope="module")
def reference_layers() -> list[dict]:
    import keras

    from autograder.pipeline import source

    solution = source.read(solution_notebook(LAB))
    return lab3.layer_settings(source.solution_function(solution, "augmentation", "build_augmentation",
                                                        {"keras": keras})())


def _saved(folder: Path, **arrays) -> OutputFolder:
    """``arrays`` saved where a probe writes, handed over as the grader reads a probe's folder."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array)
    return OutputFolder(folder.parent, folder.name)


def test_learning_rates_are_compared_epoch_by_epoch_with_the_first_difference_named(tmp_path):
    reference = np.array([2e-3, 2e-3, 6e-4, 1.8e-4, 5.4e-5])
    logs = [{"loss": 1.0, "val_loss": 1.0}] * 5

    def annealer_part(out):
        return lab3.annealer_part("a", 3, logs, reference, out)

    verdict = annealer_part(_saved(tmp_path / "out", rates=reference * (1 + 1e-6)))
    assert verdict == (verdict[0], True) and verdict[0].verdict == "pass"
    slower = reference.copy()
    slower[3:] = 3e-4
    part, came_back = annealer_part(_saved(tmp_path / "out", rates=slower))
    assert part.verdict == "fail" and came_back and "first different after epoch 4" in part.message
    assert "shape (2,)" in annealer_part(_saved(tmp_path / "out", rates=reference[:2]))[0].message
    assert "int" in annealer_part(_saved(tmp_path / "out", rates=np.arange(5)))[0].message
    assert annealer_part(_saved(tmp_path / "none"))[1] is False


def test_the_annealer_s_epochs_come_from_the_secret_and_each_run_reduces_the_rate(reference_annealer):
    first = lab3.stalling_epochs(GradingSecret(b"a" * 32).rng("annealer"))
    assert first == lab3.stalling_epochs(GradingSecret(b"a" * 32).rng("annealer"))
    seen = set()
    for key in range(20):
        logs, rate = lab3.stalling_epochs(GradingSecret(bytes([key]) * 32).rng("annealer"))
        losses = [epoch["val_loss"] for epoch in logs]
        assert all(later < earlier for earlier, later in zip(
            [epoch["loss"] for epoch in logs], [epoch["loss"] for epoch in logs][1:]))
        rates = lab3.reference_rates(reference_annealer, logs, rate)
        assert rates[-1] < rate, (losses, rates)  # every drawn run makes the reference anneal
        seen.add(tuple(losses))
    assert len(seen) == 20  # no two runs share their epochs: no table of answers fits them all


def test_augmentation_is_judged_on_its_settings_and_on_what_it_does(tmp_path, reference_layers):
    rng = np.random.default_rng(0)
    images = rng.random((8, 28, 28, 1)).astype("float32")
    moved = np.roll(images, 2, axis=1)

    def verdict(layers, training, inference):
        out = _saved(tmp_path / "out", training=training, inference=inference)
        (tmp_path / "out" / "layers.json").write_text(json.dumps(layers))
        return lab3.augmentation_part("g", 3, reference_layers, images, out)[0]

    assert verdict(reference_layers, moved, images).verdict == "pass"
    symmetric = json.loads(json.dumps(reference_layers))
    symmetric[2]["config"]["height_factor"] = [-0.08, 0.08]  # the same range, written as bounds
    assert verdict(symmetric, moved, images).verdict == "pass"
    reflecting = json.loads(json.dumps(reference_layers))
    reflecting[0]["config"]["fill_mode"] = "reflect"
    assert "fill_mode is 'reflect'" in verdict(reflecting, moved, images).message
    reordered = [reference_layers[1], reference_layers[0], reference_layers[2]]
    assert "in this order" in verdict(reordered, moved, images).message
    assert "unchanged" in verdict(reference_layers, images, images).message
    assert "At inference" in verdict(reference_layers, moved, moved).message
    assert "range 0-1" in verdict(reference_layers, moved * 3, images).message
