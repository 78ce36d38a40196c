"""Grading lab 3 end to end: real notebooks, real sandboxes, the three saved CNNs, one small class graded once.

The class: the reference solution (the solution notebook run once in the quick
profile, as a student would) and a byte-identical copy of it, the untouched
student notebook, two seeded bugs with the reference's models (an annealer
that watches the training loss, a zoom far larger than asked), and a forgery
(the student notebook plants the right learning rates where the annealer probe
writes, then hands it a callback that breaks). Then the technique parts, on the
reference's own files (:data:`SWAPS`): the plain model saved three times (with a
notebook whose ``TRANSFORMED_GAIN`` asks for no gain at all), and, handed in
without a notebook, a model trained without augmentation saved as the augmented
one and two forged learning-rate histories. Graded in one batch with two
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
from tests.grading_class import grade_class, parts, ran_without, summary
from tests.grading_class import with_source as _with_source
from tests.grading_class import write_notebook as _write
from tests.notebooks import released_notebook, solution_notebook

LAB = lab3.LAB
POINTS = {"test-cnn-model": 3, "test-plain-accuracy": 2, "test-annealer": 3, "test-annealed-accuracy": 2,
          "test-augmentation": 3, "test-augmented-accuracy": 3}
REPORTED_TESTS = ["test-cnn-model", "test-annealer", "test-augmentation"]
"""The in-notebook tests the grader's run reports: the accuracy tests need the training it leaves out."""

BUGS = {
    "bug-annealer-monitor": ("annealer", 'logs["val_loss"]', 'logs["loss"]', "test-annealer"),
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


SWAPS = {
    "plain-thrice": {"annealed.keras": "plain.keras", "augmented.keras": "plain.keras"},
    "unaugmented": {"augmented.keras": "annealed.keras"},
}
"""student -> the reference's artifacts/ with files replaced: file -> the reference's file it becomes."""
NO_GAIN = ('TRANSFORMED_GAIN = labkit.settings.value(LAB, "TRANSFORMED_GAIN")\n',
           "TRANSFORMED_GAIN = -1.0  # edited: augmentation needs to add nothing\n")
"""What the plain-thrice student's notebook makes of the gain; the grader's comes from labkit.settings."""

FORGED_RATE = 5e-4
"""A learning rate the exercise's annealer never sets from 0.002 (only 0.002 x 0.3^k, and 1e-5)."""


def _with_learning_rate(model_file: Path, rate: float) -> None:
    """``model_file`` re-saved with its optimizer's learning rate set by hand, as a forger would."""
    import keras

    model = keras.saving.load_model(model_file, safe_mode=True)  # compiled: the optimizer's state restored
    model.optimizer.learning_rate.assign(rate)
    model.save(model_file)


def _artifacts_only(reference: Path, folder: Path) -> None:
    """The reference's artifacts/ and comet-offline/, handed in without a notebook."""
    for part in ("artifacts", "comet-offline"):
        shutil.copytree(reference / part, folder / part)


def build_technique_cases(reference: Path, class_dir: Path) -> None:
    """The artifact-only cases: :data:`SWAPS`, ``forged-rate`` and ``forged-history``."""
    for student, swaps in SWAPS.items():
        folder = class_dir / student / LAB
        _artifacts_only(reference, folder)
        for name, source in swaps.items():
            shutil.copyfile(reference / "artifacts" / source, folder / "artifacts" / name)
    _write(_with_source(solution_notebook(LAB), "prepare", *NO_GAIN), class_dir / "plain-thrice" / LAB)
    # The annealed model, its optimizer's rate lowered by hand as if an annealer had dropped it.
    folder = class_dir / "forged-rate" / LAB
    _artifacts_only(reference, folder)
    _with_learning_rate(folder / "artifacts" / "annealed.keras", FORGED_RATE)
    # ... and, besides, its record rewritten to show that drop in the last epoch: the two agree.
    folder = class_dir / "forged-history" / LAB
    _artifacts_only(reference, folder)
    _with_learning_rate(folder / "artifacts" / "annealed.keras", FORGED_RATE)
    metrics = json.loads((folder / "artifacts" / "metrics.json").read_text())
    metrics["annealed"]["history"]["learning_rate"][-1] = FORGED_RATE
    (folder / "artifacts" / "metrics.json").write_text(json.dumps(metrics))


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
    build_technique_cases(reference, class_dir)


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
    # Each technique's part says what it checked besides the accuracy.
    assert "Its training record checks out" in parts(result)["test-annealed-accuracy"].message
    assert "its offline Comet run records the same" in parts(result)["test-annealed-accuracy"].message
    augmented = parts(result)["test-augmented-accuracy"].message
    assert "copies of those images, each rotated, shifted and zoomed" in augmented and "over plain.keras" in augmented
    # ... and keeps the numbers it checked there, for the benchmarks' margins.
    robustness = parts(result)["test-augmented-accuracy"].measurements
    assert set(robustness) == {"augmented-transformed", "augmented-transformed-gain"}
    assert robustness["augmented-transformed"][1] == labkit.targets.target(LAB, "augmented-transformed", "quick")
    assert robustness["augmented-transformed-gain"][1] == labkit.settings.value(LAB, "TRANSFORMED_GAIN", "quick")
    assert all(value >= threshold for value, threshold in robustness.values()), robustness
    assert f"it reaches {robustness['augmented-transformed'][0]:.2%}" in augmented
    assert [(test.grade_id, test.passed) for test in result.notebook_tests] == [(t, True) for t in REPORTED_TESTS]
    # The training cells were left out of the grader's run; the probe cells ran after every other.
    assert ran_without(result, lab3.SKIP)[-2:] == ["probe:test-annealer", "probe:test-augmentation"]


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


TECHNIQUE_PARTS = ("test-annealed-accuracy", "test-augmented-accuracy")


def _scores_without_notebook(result) -> dict[str, float]:
    """Points per model part (judged from the files alone; most of these students hand in no notebook)."""
    return {part: parts(result)[part].points for part in ("test-cnn-model", "test-plain-accuracy", *TECHNIQUE_PARTS)}


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_plain_model_saved_three_times_earns_nothing_for_either_technique(graded):
    import labkit

    result = graded["plain-thrice"]
    assert _scores_without_notebook(result) == {"test-cnn-model": 3, "test-plain-accuracy": 2,
                                                "test-annealed-accuracy": 0, "test-augmented-accuracy": 0}
    annealed, augmented = (parts(result)[part] for part in TECHNIQUE_PARTS)
    assert annealed.value >= annealed.threshold and augmented.value >= augmented.threshold  # accurate enough
    assert "very weights of plain.keras" in annealed.message
    assert "not the model this run trained" in annealed.message
    assert "below the" in augmented.message and "points above plain.keras" in augmented.message
    on_copies, over_plain = (augmented.measurements[name] for name in ("augmented-transformed",
                                                                       "augmented-transformed-gain"))
    assert on_copies[0] < on_copies[1] and over_plain[0] < over_plain[1], augmented.measurements  # what failed it
    # Its notebook's TRANSFORMED_GAIN of -1 moved nothing: the grader's gain is labkit.settings'.
    gain = labkit.settings.value(LAB, "TRANSFORMED_GAIN", "quick")
    assert f"augmentation should add at least {100 * gain:.0f}." in augmented.message, augmented.message
    assert "The locked cell 'prepare' was edited; the grader ran the original." in result.notes


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_model_trained_without_augmentation_earns_nothing_as_the_augmented_one(graded):
    result = graded["unaugmented"]
    assert _scores_without_notebook(result) == {"test-cnn-model": 3, "test-plain-accuracy": 2,
                                                "test-annealed-accuracy": 2, "test-augmented-accuracy": 0}
    message = parts(result)["test-augmented-accuracy"].message
    assert "trained on augmented batches" in message, message


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_learning_rate_set_by_hand_is_caught(graded):
    result = graded["forged-rate"]
    assert _scores_without_notebook(result)["test-annealed-accuracy"] == 0, summary(result)
    assert "set by hand" in parts(result)["test-annealed-accuracy"].message
    assert _scores_without_notebook(result)["test-augmented-accuracy"] == 3


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_forged_learning_rate_history_is_caught(graded):
    result = graded["forged-history"]
    message = parts(result)["test-annealed-accuracy"].message
    assert _scores_without_notebook(result)["test-annealed-accuracy"] == 0, summary(result)
    assert "the exercise's annealer" in message and "first different in epoch" in message
    assert "Comet run(s) of the annealed CNN" in message  # the Comet run kept the true history


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


def test_robustness_needs_its_target_and_a_gain_over_the_plain_model_when_there_is_one():
    passed, checked = lab3.robustness_problems(0.96, 0.80, 0.90, 0.05, 2000)
    assert passed == [] and "2,000 copies" in checked and "+16.0 points over plain.keras (80.00%" in checked
    below, _ = lab3.robustness_problems(0.85, 0.60, 0.90, 0.05, 2000)
    assert len(below) == 1 and "85.00%, below the 90.0%" in below[0]
    close, _ = lab3.robustness_problems(0.95, 0.93, 0.90, 0.05, 2000)
    assert len(close) == 1 and "+2.0 points above plain.keras (93.00%)" in close[0]
    both, _ = lab3.robustness_problems(0.85, 0.84, 0.90, 0.05, 2000)
    assert len(both) == 2
    # A plain model that could not be compared (broken, missing): the fixed target alone decides.
    alone, checked = lab3.robustness_problems(0.95, None, 0.90, 0.05, 2000)
    assert alone == [] and "could not be compared" in checked
    assert lab3.robustness_problems(0.85, None, 0.90, 0.05, 2000)[0]
    assert "no predictions" in lab3.robustness_problems(None, 0.8, 0.90, 0.05, 2000)[0][0]


def test_robustness_keeps_what_it_measured_beside_each_threshold():
    assert lab3.robustness_measurements(0.96, 0.80, 0.90, 0.05) == {
        "augmented-transformed": [0.96, 0.90], "augmented-transformed-gain": [pytest.approx(0.16), 0.05]}
    assert lab3.robustness_measurements(0.95, None, 0.90, 0.05) == {"augmented-transformed": [0.95, 0.90]}
    assert lab3.robustness_measurements(None, 0.80, 0.90, 0.05) == {}


def _float32(value: float) -> float:
    return float(np.float32(value))


def _record(learning_rates, val_losses=(1.0, 0.5, 0.6, 0.4), accuracy=0.98, loss=0.07) -> dict:
    return {"history": {"loss": [1.0, 0.5, 0.3, 0.2][:len(val_losses)], "val_loss": list(val_losses),
                        "learning_rate": list(learning_rates)},
            "test_accuracy": accuracy, "test_loss": loss}


def test_an_annealed_run_s_record_must_be_what_the_exercise_s_annealer_does_and_the_file_s_own(reference_annealer):
    start = _float32(2e-3)
    dropped = _float32(start * 0.3)  # as Keras computes it: the float32 rate times the factor, stored as float32
    honest = _record([start, start, start, dropped])  # the loss stalls in epoch 3: the rate drops after it

    def problems(record=honest, saved=dropped, measured=(0.98, 0.07), same=False, runs=(), why=None):
        return lab3.annealing_problems(record, why, reference_annealer, 2e-3, saved, "unreadable", measured,
                                       same, list(runs))

    found, checked = problems()
    assert found == [] and "1 drop" in checked and "annealed.keras' own" in checked
    assert "Comet" not in checked
    found, checked = problems(measured=None)  # a private evaluation set: no link by the test images
    assert found == [] and "annealed.keras' own" not in checked
    comet = {"params": {"model": "cnn + annealing"},
             "metrics": {"learning_rate": dropped, "val_loss": 0.4, "test_accuracy": 0.98, "test_loss": 0.07}}
    assert "its offline Comet run records the same" in problems(runs=[comet])[1]
    other = {**comet, "metrics": {**comet["metrics"], "learning_rate": start}}
    assert "Comet run(s) of the annealed CNN" in problems(runs=[other])[0][0]

    assert "recorded no learning rates" in problems(record={**honest, "history": {
        key: values for key, values in honest["history"].items() if key != "learning_rate"}})[0][0]
    never_dropped = problems(record=_record([start] * 4))[0]
    assert len(never_dropped) == 1 and "first different in epoch 4" in never_dropped[0]
    assert "set by hand" in problems(saved=start)[0][0]
    assert "could not be read: unreadable" in problems(saved=None)[0][0]
    assert "not the model this run trained" in problems(measured=(0.975, 0.07))[0][0]
    assert "not the model this run trained" in problems(measured=(0.98, 0.09))[0][0]
    assert problems(measured=(0.98 + 1e-4, 0.07 * 1.0005))[0] == []  # one image, float32 sums: the same model
    copied = problems(same=True)[0]
    assert len(copied) == 1 and "very weights of plain.keras" in copied[0]
    missing = problems(record=None, why="artifacts/metrics.json is missing.")[0]
    assert "could not be checked: artifacts/metrics.json is missing." in missing[0]


def test_metrics_json_is_read_as_hostile_data(tmp_path):
    good = {"annealed": _record([2e-3] * 4), "plain": {**_record([2e-3] * 4), "history": {"val_loss": [1.0]}}}
    (tmp_path / "metrics.json").write_text(json.dumps(good))
    records, problem = lab3.read_records(tmp_path)
    assert problem is not None and "'augmented' entry" in problem  # no entry at all
    assert records["annealed"]["history"]["learning_rate"] == [2e-3] * 4 and records["plain"]["test_loss"] == 0.07
    for broken, words in [
        ({"annealed": {**good["annealed"], "test_accuracy": 1.5}}, "'annealed' entry"),
        ({"annealed": {**good["annealed"], "history": {"val_loss": [1.0, 0.5], "learning_rate": [2e-3]}}},
         "different numbers of epochs"),
        ({"annealed": {**good["annealed"], "history": {"val_loss": ["0.5"]}}}, "'annealed' entry"),
        ({"annealed": {**good["annealed"], "history": {"loss": [1.0]}}}, "no validation losses"),
        ({"annealed": {**good["annealed"], "history": {"val_loss": [0.5] * 5000}}}, "list of epochs"),
    ]:
        (tmp_path / "metrics.json").write_text(json.dumps(broken))
        records, problem = lab3.read_records(tmp_path)
        assert "annealed" not in records and words in problem, problem
    (tmp_path / "metrics.json").write_text('{"annealed": {"test_loss": NaN}}')
    assert lab3.read_records(tmp_path) == ({}, lab3.read_records(tmp_path)[1])
    assert "not usable" in lab3.read_records(tmp_path)[1]
    (tmp_path / "metrics.json").unlink()
    (tmp_path / "metrics.json").symlink_to(tmp_path / "elsewhere.json")
    assert lab3.read_records(tmp_path)[0] == {}
    assert lab3.read_records(tmp_path / "none") == ({}, "artifacts/metrics.json is missing.")


def test_the_saved_learning_rate_is_read_from_the_file_s_config_as_data(tmp_path):
    import zipfile

    import keras

    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(3e-4), loss="mse")
    model.save(tmp_path / "model.keras")
    assert lab3.saved_learning_rate(tmp_path, "model.keras") == (pytest.approx(3e-4), None)
    uncompiled = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)])
    uncompiled.save(tmp_path / "uncompiled.keras")
    assert "records no optimizer" in lab3.saved_learning_rate(tmp_path, "uncompiled.keras")[1]
    (tmp_path / "garbage.keras").write_bytes(b"PK\x03\x04 not really")
    assert "not a readable .keras archive" in lab3.saved_learning_rate(tmp_path, "garbage.keras")[1]
    with zipfile.ZipFile(tmp_path / "nan.keras", "w") as archive:
        archive.writestr("config.json", '{"compile_config": {"optimizer": {"config": {"learning_rate": NaN}}}}')
    assert "not usable" in lab3.saved_learning_rate(tmp_path, "nan.keras")[1]
    assert lab3.saved_learning_rate(tmp_path, "none.keras") == (None, "none.keras is missing.")


def test_transformed_copies_are_drawn_from_the_secret_and_scored_apart(tmp_path, mirror_dir):
    import keras

    import labkit
    from autograder.pipeline import source
    from autograder.scoring import evaluation_sets, transformed_copies
    from autograder.scoring.keras_models import ModelProbe

    images, labels = labkit.data.load("mnist", "test")
    chosen = evaluation_sets.Images(images[:300], labels[:300], "300 test images")
    layers = source.solution_function(source.read(solution_notebook(LAB)), "augmentation", "build_augmentation",
                                      {"keras": keras})().layers

    def mixed(folder, key):
        secret = GradingSecret(key * 32)
        return transformed_copies.write_mixed_set(
            tmp_path / folder, chosen, 10, secret.rng("copies"),
            transformed_copies.augmentation_transform(layers, secret.rng("layers")), secret.rng("transformed"),
            copies=100)

    first, _, other = mixed("a", b"a"), mixed("b", b"a"), mixed("c", b"b")  # the second: the first's secret
    inputs = [np.load(folder / "inputs.npy") for folder in (tmp_path / "a", tmp_path / "b", tmp_path / "c")]
    assert np.array_equal(inputs[0], inputs[1]) and not np.array_equal(inputs[0], inputs[2])
    # 300 images, a perturbed copy of each (there are fewer than perturbed_copies.COPIES), 100 transformed.
    assert inputs[0].shape == (300 + 300 + 100, 28, 28, 1) and first.copies == 100
    assert len(first.evaluation.labels) == 600 and int(first.evaluation.copied.sum()) == 300
    assert np.array_equal(first.evaluation.labels, first.rows.labels[~first.transformed])
    # The transformed rows are new images, moved within the augmentation's small ranges.
    moved = inputs[0][first.transformed]
    assert moved.min() >= 0 and moved.max() <= 1
    assert not any(np.array_equal(image, original) for image in moved[:20]
                   for original in inputs[0][~first.transformed])
    assert other.copies == 100 and not np.array_equal(first.transformed, other.transformed)
    # Scored apart: predictions that are right on every row but the transformed ones.
    scores = np.eye(10, dtype="float32")[first.rows.labels]
    scores[first.transformed] = np.roll(scores[first.transformed], 1, axis=1)
    kept, on_transformed = transformed_copies.split(ModelProbe(predictions=scores), first)
    assert on_transformed == 0.0 and kept.predictions.shape == (600, 10)
    assert np.array_equal(kept.predictions.argmax(axis=1), first.evaluation.labels)
    assert transformed_copies.split(ModelProbe(problem="none"), first) == (ModelProbe(problem="none"), None)
