"""The student's check before hand-in (``labkit check-submission``): real lab folders, written as a lab's save
cell writes them (:func:`labkit.handin.save_metrics`), each broken the way a hand-in goes wrong."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

from labkit import handin
from labkit import settings as labkit_settings
from labkit.check.submission import check_submission
from labkit.targets import TARGETS
from tests.hostile_data import archive, parameter

LAB1, LAB5 = "lab1-mnist", "lab5-emnist-deep-models"
EXERCISE = "def build_fc_model():\n    return make_it()\n"
STUDENT = "s1234567"
LENET_RECORD = {"architecture": "lenet", "width": 1.0, "num_classes": 62, "options": {}}


@pytest.fixture(autouse=True)
def student(monkeypatch, tmp_path):
    """A student who set an id; no saved settings of the developer's are read."""
    monkeypatch.setenv("LABKIT_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LABKIT_STUDENT_ID", STUDENT)


def fake_keras(path: Path) -> None:
    """A file with a .keras archive's layout (what the check reads without Keras)."""
    with zipfile.ZipFile(path, "w") as archive_file:
        archive_file.writestr("metadata.json", '{"keras_version": "3"}')
        archive_file.writestr("config.json", '{"class_name": "Sequential"}')
        archive_file.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(64))


def fake_state(path: Path) -> None:
    from safetensors.numpy import save_file

    save_file({"weight": np.zeros((4, 3), np.float32), "bias": np.zeros(4, np.float32)}, str(path))


def write_lab(root: Path, lab: str = LAB1, *, profile: str = "full", accuracy: float = 0.995, write=None,
              write_compared=None, executed: list[str] | None = None, runs: list[bytes] = ()) -> Path:
    """A lab folder as a finished run leaves it: the models (and a comparing lab's table and networks, each
    written by ``write_compared(path, network, width)``), metrics.json stamped by the save cell, the notebook
    with the save cell's output, its Comet runs. Returns the notebook's path."""
    folder = root / lab
    (folder / "artifacts").mkdir(parents=True)
    write = write or (fake_keras if handin.MODEL_FORMATS[lab] == ".keras" else fake_state)
    for name in handin.model_files(lab).values():
        write(folder / "artifacts" / name)
    if lab in handin.COMPARISON_TABLES:
        widths = labkit_settings.value(lab, "COMPARED_WIDTHS", "full")
        write_compared = write_compared or (lambda path, network, width: write(path))
        rows = []
        for network, name in handin.compared_files(lab).items():
            write_compared(folder / "artifacts" / name, network, widths[network])
            rows.append({"network": network, "width": widths[network], "file": name})
        (folder / "artifacts" / handin.COMPARISON_TABLES[lab]).write_text(json.dumps({"rows": rows}))
    metrics = {"profile": profile, **{model: {"test_accuracy": accuracy, **(LENET_RECORD if lab == LAB5 else {})}
                                      for model in TARGETS[lab]}}
    setup, save = "import labkit", "metrics = labkit.handin.save_metrics(metrics, artifacts)"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        handin.save_metrics(metrics, folder / "artifacts",
                            executed=[setup, EXERCISE, save] if executed is None else executed)
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(setup, execution_count=1),
        nbformat.v4.new_code_cell(EXERCISE, execution_count=2),
        nbformat.v4.new_code_cell(save, execution_count=3,
                                  outputs=[nbformat.v4.new_output("stream", name="stdout", text=printed.getvalue())]),
        nbformat.v4.new_code_cell(f'labkit.check_submission("{lab}.ipynb")'),
    ])
    for cell, cell_id in zip(notebook.cells, ("setup", "fc-model", "save", "check-submission")):
        cell["id"] = cell_id
        cell.metadata["nbgrader"] = {"grade": False, "grade_id": cell_id, "locked": cell_id != "fc-model",
                                     "schema_version": 3, "solution": cell_id == "fc-model"}
    path = folder / f"{lab}.ipynb"
    nbformat.write(notebook, path)
    if runs:
        (folder / "comet-offline").mkdir()
        for number, data in enumerate(runs):
            (folder / "comet-offline" / f"run{number}.zip").write_bytes(data)
    return path


def lines(report) -> list[str]:
    """Every line of the report as the student reads it (✓ or ✗ first)."""
    return [str(line) for line in report.lines]


def failed(report) -> list[str]:
    return [line.text for line in report.failed]


def edit_notebook(path: Path, change) -> None:
    notebook = nbformat.read(path, as_version=4)
    change(notebook)
    nbformat.write(notebook, path)


# --- a hand-in that is ready ---------------------------------------------------------------------------


def test_a_finished_full_profile_run_is_ready_line_by_line(tmp_path):
    notebook = write_lab(tmp_path, runs=[archive([parameter("student_id", STUDENT)])])
    report = check_submission(notebook, load=False)
    assert report.passed, str(report)
    shown = lines(report)
    assert shown[0].startswith(f"✓ {LAB1}.ipynb reads")
    assert "✓ trained in the full profile, the one the grader's targets are for" in shown
    assert any(line.startswith("✓ metrics.json records fc 99.50% (target 97.0%), cnn 99.50% (target 98.5%)")
               for line in shown)
    assert any(line.startswith("✓ artifacts/fc.keras is a Keras model archive") and "as saved by this run" in line
               for line in shown)
    assert any(line.startswith("✓ artifacts/ come from the run this notebook shows") for line in shown)
    assert "✓ the code of each exercise (1) is what ran before the save cell" in shown
    assert any(line.startswith("✓ the folder fits the grader's limits (5 files") for line in shown)
    assert f"✓ your student id is {STUDENT}, and the 1 run(s) in comet-offline/ carry it" in shown
    assert "Ready to hand in" in report._repr_html_() and str(report).startswith("✓ Ready to hand in")


def test_the_command_prints_the_report_and_exits_0_when_ready_1_when_not(tmp_path):
    notebook = write_lab(tmp_path)
    env = {**os.environ, "LABKIT_CONFIG_DIR": str(tmp_path / "config"), "LABKIT_STUDENT_ID": STUDENT}

    def check(*args):
        return subprocess.run([sys.executable, "-m", "labkit.cli", "check-submission", *args], capture_output=True,
                              text=True, env=env, timeout=120)

    ready = check(str(notebook), "--no-load")
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert ready.stdout.startswith("✓ Ready to hand in") and "10. ✓ your student id" in ready.stdout
    (notebook.parent / "artifacts" / "cnn.keras").unlink()
    missing = check(str(notebook), "--no-load")
    assert missing.returncode == 1 and "✗ artifacts/cnn.keras is missing" in missing.stdout


# --- what goes wrong -------------------------------------------------------------------------------------


def test_a_missing_model_file_or_metrics_file_says_to_run_the_save_cell(tmp_path):
    notebook = write_lab(tmp_path)
    (notebook.parent / "artifacts" / "fc.keras").unlink()
    assert failed(check_submission(notebook, load=False)) == [
        "artifacts/fc.keras is missing: train the fc model, run the save cell, and hand in artifacts/."]
    (notebook.parent / "artifacts" / "metrics.json").unlink()
    problems = failed(check_submission(notebook, load=False))
    assert problems[0] == "artifacts/metrics.json is missing: run the notebook to its end; its save cell writes it."
    shutil.rmtree(notebook.parent / "artifacts")
    assert len(failed(check_submission(notebook, load=False))) == 3  # metrics.json and both models


def test_no_notebook_or_another_lab_s_name_is_one_line_that_says_so(tmp_path):
    report = check_submission(tmp_path / LAB1 / f"{LAB1}.ipynb", load=False)
    assert not report and failed(report)[0].startswith(f"{LAB1}.ipynb is not in")
    other = tmp_path / "notes" / "scratch.ipynb"
    other.parent.mkdir()
    other.write_text("{}")
    assert failed(check_submission(other))[0].startswith("scratch.ipynb is not one of the labs")


def test_corrupt_files_are_named_with_what_is_wrong(tmp_path):
    notebook = write_lab(tmp_path)
    artifacts = notebook.parent / "artifacts"
    (artifacts / "fc.keras").write_bytes(b"PK\x03\x04 a torn download")
    with zipfile.ZipFile(artifacts / "cnn.keras", "w") as wrong:
        wrong.writestr("model.pkl", b"\x80\x04pickle")
    (artifacts / "metrics.json").write_bytes((artifacts / "metrics.json").read_bytes()[:-30])
    problems = failed(check_submission(notebook, load=False))
    assert problems[0].startswith("artifacts/metrics.json is not readable JSON")
    assert problems[1].startswith("artifacts/fc.keras is not a Keras model file (a .keras file is a zip archive")
    assert problems[2].startswith("artifacts/cnn.keras is a zip archive without a Keras model's config.json")
    (notebook).write_text('{"cells": ')
    assert failed(check_submission(notebook, load=False))[0].startswith(f"{LAB1}.ipynb is not a readable notebook")


def test_a_damaged_safetensors_file_is_found_without_any_framework(tmp_path):
    notebook = write_lab(tmp_path, LAB5)
    artifacts = notebook.parent / "artifacts"
    data = (artifacts / "vgg.safetensors").read_bytes()
    (artifacts / "vgg.safetensors").write_bytes(data[:-4])  # truncated
    (artifacts / "lenet.safetensors").write_bytes(b"\xff" * 64)
    problems = failed(check_submission(notebook, load=False))
    assert problems[0].startswith("artifacts/lenet.safetensors is not a safetensors file (no readable header)")
    assert problems[1].startswith("artifacts/vgg.safetensors is a damaged or truncated safetensors file")
    assert "not the file the save cell" not in " ".join(problems)  # the file's own problem comes first


def test_a_model_file_replaced_after_the_save_is_not_from_this_run(tmp_path):
    notebook = write_lab(tmp_path)
    older = tmp_path / "older"
    write_lab(older)  # another run: its models differ (nothing else does)
    fake_keras(notebook.parent / "artifacts" / "cnn.keras")
    with zipfile.ZipFile(notebook.parent / "artifacts" / "cnn.keras", "a") as changed:
        changed.writestr("assets/note.txt", "retrained in another notebook")
    [problem] = failed(check_submission(notebook, load=False))
    assert problem.startswith("artifacts/cnn.keras is a Keras model archive") and \
        "but it is not the file the save cell of run" in problem and "run the save cell again" in problem


def test_artifacts_from_another_run_than_the_notebook_shows_are_stale(tmp_path):
    notebook = write_lab(tmp_path)
    other = write_lab(tmp_path / "other")
    # The student ran the notebook again (new artifacts) but did not save it: the file shows the old run.
    shutil.rmtree(notebook.parent / "artifacts")
    shutil.copytree(other.parent / "artifacts", notebook.parent / "artifacts")
    os.utime(notebook, (1, 1))  # saved long before the artifacts were written
    [problem] = failed(check_submission(notebook, load=False))
    assert "but the notebook file still shows run" in problem and "save the notebook (Ctrl+S)" in problem
    # The notebook saved after artifacts/ that are not its own: copied from elsewhere.
    os.utime(notebook)
    os.utime(notebook.parent / "artifacts" / "metrics.json", (1, 1))
    [problem] = failed(check_submission(notebook, load=False))
    assert "not from run" in problem and "the one lab1-mnist.ipynb shows" in problem


def test_a_notebook_without_the_save_cell_s_output_or_without_a_run_record(tmp_path):
    notebook = write_lab(tmp_path)
    edit_notebook(notebook, lambda nb: nb.cells[2].update(outputs=[]))
    [problem] = failed(check_submission(notebook, load=False))
    assert problem.startswith(f"{LAB1}.ipynb shows no save cell output")
    metrics_file = notebook.parent / "artifacts" / "metrics.json"
    written = json.loads(metrics_file.read_text())
    del written["run"]
    metrics_file.write_text(json.dumps(written))  # as the save cells wrote it before the run record
    assert failed(check_submission(notebook, load=False)) == [
        "artifacts/metrics.json has no run record: an older save cell wrote it. Run the notebook to its end (the save "
        "cell stamps each run), then save the notebook."]


def test_cells_run_after_the_save_cell_or_code_edited_since_are_found(tmp_path):
    notebook = write_lab(tmp_path)

    def retrained_after_saving(nb):
        nb.cells[1].execution_count = 7

    edit_notebook(notebook, retrained_after_saving)
    [problem] = failed(check_submission(notebook, load=False))
    assert problem.startswith("1 cell(s) above the save cell ran after it ('fc-model')")

    def edited(nb):
        nb.cells[1].execution_count = 2
        nb.cells[1].source = EXERCISE.replace("make_it", "make_it_better")

    edit_notebook(notebook, edited)
    [problem] = failed(check_submission(notebook, load=False))
    assert problem.startswith("the code of 'fc-model' is not what ran before the save cell")
    edit_notebook(notebook, lambda nb: nb.cells[1].update(source="\n" + EXERCISE + "\n\n"))  # blank lines only
    assert check_submission(notebook, load=False).passed


def test_a_quick_profile_run_says_what_the_grader_will_do_with_its_models(tmp_path, monkeypatch):
    notebook = write_lab(tmp_path, profile="quick", accuracy=0.91)
    [problem] = failed(check_submission(notebook, load=False))
    assert problem == (
        "trained in the quick profile, but the grader measures your saved models against the full profile's "
        "targets: fc 97.0% (yours: 91.0%), cnn 98.5% (yours: 91.0%). Models trained in the quick profile most "
        "likely miss them and lose those points. Run the whole notebook again with LABKIT_PROFILE unset (or "
        "=full), and save.")
    assert check_submission(notebook, profile="quick", load=False).passed  # an instructor grading quick


def test_a_recorded_accuracy_below_the_full_target_is_a_warning_before_hand_in(tmp_path):
    notebook = write_lab(tmp_path, accuracy=0.975)
    [problem] = failed(check_submission(notebook, load=False))
    assert problem.startswith("metrics.json records fc 97.50% (target 97.0%), cnn 97.50% (target 98.5%): ")
    assert "cnn would get no accuracy points" in problem


def test_oversized_outputs_are_refused_as_the_grader_refuses_them(tmp_path):
    notebook = write_lab(tmp_path)
    folder = notebook.parent
    with open(folder / "artifacts" / "fc.keras", "r+b") as model:
        model.truncate(handin.MAX_MODEL_BYTES + 2**20)  # sparse: no disk used
    with open(folder / "mnist-train-60000.csv", "wb") as extra:  # lab 3 writes one this size beside its notebook
        extra.truncate(110 * 2**20)
    problems = failed(check_submission(notebook, load=False))
    assert problems == ["artifacts/fc.keras is 33 MiB, more than the 32 MiB the grader loads: keep the model as the "
                        "exercise describes it."]  # the CSV is left out, but the grader does not need it
    fits = next(line.text for line in check_submission(notebook, load=False).lines if "limits" in line.text)
    assert "left out of grading, but not needed: mnist-train-60000.csv" in fits

    with open(folder / "artifacts" / "cnn.keras", "r+b") as model:
        model.truncate(handin.LIMITS.file_bytes + 1)  # more than the grader copies of one file
    problems = failed(check_submission(notebook, load=False))
    assert problems[1].startswith("artifacts/cnn.keras is 64 MiB, more than the 32 MiB the grader loads")
    assert problems[2].startswith("the grader would leave out what it grades: artifacts/cnn.keras: 67,108,865 "
                                  "bytes, over the limit of 67,108,864 per file")

    with open(notebook, "r+b") as handle:
        handle.truncate(handin.MAX_NOTEBOOK_BYTES + 1)
    assert failed(check_submission(notebook, load=False))[0].startswith(
        f"{LAB1}.ipynb is 16 MiB, more than the 16 MiB the grader runs: clear the largest outputs")


def test_comet_runs_without_the_student_s_id_or_no_id_at_all(tmp_path, monkeypatch):
    notebook = write_lab(tmp_path, runs=[archive([parameter("student_id", STUDENT)]), archive([]),
                                         archive([parameter("student_id", "s7")])])
    [problem] = failed(check_submission(notebook, load=False))
    assert problem.startswith(f"2 of the 3 runs in comet-offline/ carry another student id than yours, {STUDENT} "
                              "(none, s7)")
    monkeypatch.delenv("LABKIT_STUDENT_ID")
    [problem] = failed(check_submission(notebook, load=False))
    assert problem.startswith("no student id is set, so your Comet runs are not linked to your grade: run "
                              "`labkit course --student-id ID`")


def test_the_handin_lists_are_the_graders_own():
    """One home: labkit.handin names the files each grader reads, and the limits it applies."""
    from autograder.graders import lab1_mnist, lab4_emnist_baselines, lab5_emnist_deep_models
    from autograder.pipeline import notebooks, submissions
    from autograder.scoring import keras_models, torch_models

    for grader in (lab1_mnist, lab4_emnist_baselines):
        assert handin.model_files(grader.LAB) == {model.name: f"{model.name}.keras" for model in grader.MODELS}
    assert handin.model_files(LAB5) == lab5_emnist_deep_models.FILES
    assert submissions.LIMITS is handin.LIMITS and submissions.left_out is handin.left_out
    assert keras_models.MAX_MODEL_BYTES == torch_models.MAX_STATE_BYTES == handin.MAX_MODEL_BYTES
    assert notebooks.MAX_NOTEBOOK_BYTES == handin.MAX_NOTEBOOK_BYTES


# --- with the frameworks ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_keras_files_are_loaded_in_safe_mode(tmp_path):
    import keras

    def tiny(path: Path) -> None:
        keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]).save(path)

    notebook = write_lab(tmp_path, write=tiny)
    report = check_submission(notebook)
    assert report.passed, str(report)
    assert any(line.text.startswith("artifacts/fc.keras loads in Keras' safe mode (7,850 parameters)")
               for line in report.lines)
    # A Lambda layer carries Python code: safe mode refuses it, as the grader's probe does.
    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Lambda(lambda x: x * 2), keras.layers.Flatten(),
                      keras.layers.Dense(10)]).save(notebook.parent / "artifacts" / "cnn.keras")
    [problem] = failed(check_submission(notebook))
    assert problem.startswith("artifacts/cnn.keras does not load in Keras' safe mode, as the grader loads it")


@pytest.mark.slow
def test_safetensors_files_load_strictly_into_the_network_metrics_json_describes(tmp_path):
    from labkit import models

    notebook = write_lab(tmp_path, LAB5, write=lambda path: models.save_state(models.build("lenet"), path),
                         write_compared=lambda path, network, width: models.save_state(
                             models.build(network, num_classes=62, width=width), path))
    report = check_submission(notebook)
    assert report.passed, str(report)
    assert any(line.text.startswith("artifacts/lenet.safetensors loads strictly into models.build('lenet'")
               for line in report.lines)
    assert any(line.text.startswith("artifacts/compare-ensnet.safetensors loads strictly into "
                                    "models.build('ensnet', width=0.125)") for line in report.lines)
    models.save_state(models.build("lenet", num_classes=10), notebook.parent / "artifacts" / "vgg.safetensors")
    [problem] = failed(check_submission(notebook))
    assert problem.startswith("artifacts/vgg.safetensors does not fit the network the save cell recorded (lenet")


@pytest.mark.slow
def test_lab_5_s_compared_networks_are_checked_against_their_rows(tmp_path):
    from labkit import models

    def network(path, name, width):
        # A ResNet saved at another width than its row states, as a student who changed one width would.
        models.save_state(models.build(name, num_classes=62, width=0.25 if name == "resnet" else width), path)

    notebook = write_lab(tmp_path, LAB5, write=lambda path: models.save_state(models.build("lenet"), path),
                         write_compared=network)
    [problem] = failed(check_submission(notebook))
    assert problem.startswith("artifacts/compare-resnet.safetensors does not fit the network the save cell recorded "
                              "(resnet, width 0.5)")
    table = notebook.parent / "artifacts" / "comparison.json"
    rows = json.loads(table.read_text())["rows"]
    table.write_text(json.dumps({"rows": [row for row in rows if row["network"] != "spinalnet"]}))
    assert "artifacts/comparison.json has no row for spinalnet: run the comparison and the save cell again." \
        in failed(check_submission(notebook, load=False))
    table.unlink()
    assert failed(check_submission(notebook, load=False)) == [
        "artifacts/comparison.json is missing: run the comparison and the save cell."]


@pytest.mark.slow
def test_the_last_cell_of_lab_1_checks_the_run_it_ends(solution_run, tmp_path):
    """The solution's own run, in the quick profile: its last cell reports; saved, the folder passes --profile quick."""
    run = solution_run(LAB1)
    last = run.executed.cells[-2]  # before the conclusion
    assert last.get("id") == "check-submission" and last.source == f'labkit.check_submission("{LAB1}.ipynb")'
    shown = "".join(output.get("data", {}).get("text/plain", "") + output.get("text", "") for output in last.outputs)
    assert "✗ trained in the quick profile" in shown and "✓ artifacts/fc.keras loads in Keras' safe mode" in shown
    assert "shows no save cell output" in shown  # run by nbclient, the file on disk was never saved

    # Saved as Jupyter saves it, the folder is ready for a grader that applies the quick profile's targets.
    folder = tmp_path / LAB1
    shutil.copytree(run.folder, folder, ignore=shutil.ignore_patterns(".kernels"))
    nbformat.write(run.executed, folder / f"{LAB1}.ipynb")
    env = {**os.environ, "LABKIT_CONFIG_DIR": str(tmp_path / "config"), "LABKIT_STUDENT_ID": "reference"}
    checked = subprocess.run([sys.executable, "-m", "labkit.cli", "check-submission", str(folder / f"{LAB1}.ipynb"),
                              "--profile", "quick"], capture_output=True, text=True, env=env, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "the 3 run(s) in comet-offline/ carry it" in checked.stdout
    full = subprocess.run([sys.executable, "-m", "labkit.cli", "check-submission", str(folder / f"{LAB1}.ipynb"),
                           "--no-load"], capture_output=True, text=True, env=env, timeout=300)
    assert full.returncode == 1 and "✗ trained in the quick profile" in full.stdout
