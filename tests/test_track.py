"""Comet tracking: real offline runs read back from their archives, and a tracker that never breaks a lab."""

from __future__ import annotations

import getpass
import io
import json
import os
import subprocess
import sys
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread
from sklearn.metrics import confusion_matrix

import labkit
from labkit import track
from tests.notebooks import execute

UNANSWERING_SERVER = "https://192.0.2.1/clientlib/"
"""TEST-NET-1 (RFC 5737): an address reserved for documentation, which nothing answers."""


@dataclass
class Archive:
    """What an offline run wrote: its metadata, its messages in order, and its files."""

    experiment: dict
    messages: list[dict]
    files: dict[str, bytes]

    @classmethod
    def read(cls, path: Path) -> Archive:
        with zipfile.ZipFile(path) as archive:
            files = {name: archive.read(name) for name in archive.namelist()}
        messages = [json.loads(line) for line in files.pop("messages.json").decode().splitlines()]
        return cls(json.loads(files.pop("experiment.json")), messages, files)

    def payloads(self, kind: str) -> list[dict]:
        return [message["payload"] for message in self.messages if message["type"] == kind]

    def parameters(self) -> dict:
        return {p["param"]["paramName"]: p["param"]["paramValue"]
                for p in self.payloads("parameter_msg") if p["param"]["source"] == "manual"}

    def metric(self, name: str) -> list[tuple[int, float]]:
        """``(step, value)`` of every logged value of one metric."""
        return [(p["metric"]["step"], p["metric"]["metricValue"])
                for p in self.payloads("metric_msg") if p["metric"]["metricName"] == name]

    def uploads(self, **matching) -> list[tuple[dict, bytes]]:
        """The uploaded files whose parameters match, with their content."""
        return [(p["additional_params"], self.files[p["file_path"]])
                for p in self.payloads("file_upload")
                if all(p["additional_params"].get(key) == value for key, value in matching.items())]


@pytest.fixture
def lab_folder(tmp_path, monkeypatch) -> Path:
    """A lab folder as the working directory, a person at the keyboard, no Comet API key and no course settings."""
    monkeypatch.chdir(tmp_path)
    for name in ("LABKIT_TRACKING", "LABKIT_HEADLESS", "CI", "NBGRADER_EXECUTION", "COMET_URL_OVERRIDE",
                 "LABKIT_COURSE", "LABKIT_STUDENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LABKIT_CONFIG_DIR", str(tmp_path / ".config"))  # no student id a developer saved
    monkeypatch.setenv("COMET_API_KEY", "")  # empty also hides a key in a developer's ~/.comet.config
    return tmp_path


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:stat. path should be:DeprecationWarning")  # comet_ml asks if an image is a path
def test_an_offline_run_archives_params_epochs_confusion_matrix_and_images(lab_folder, mirror_dir):
    import keras

    images, labels = labkit.data.load("mnist", "train")
    images, labels = np.asarray(images[:256], dtype=np.float32) / 255.0, np.array(labels[:256])
    class_names = labkit.data.class_names("mnist")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])

    run = track.start(course="DL 101", lab="lab2", student="ada", learning_rate=0.1, epochs=2)
    assert (run.mode, run.name) == ("offline", "DL 101-lab2-ada")
    run.log_params({"batch_size": 64})
    run.log_model_summary(model)
    history = model.fit(images, labels, epochs=2, batch_size=64, validation_split=0.25,
                        callbacks=[run.keras_callback()], verbose=0).history
    predicted = model.predict(images, verbose=0).argmax(axis=1)
    run.log_confusion_matrix(labels, predicted, class_names)
    figure = Figure()
    figure.add_subplot().imshow(images[0], cmap="binary")
    run.log_figure(figure, "first image")
    run.log_images(images[:3], labels[:3], name="digit")
    archive_path = run.end()

    assert archive_path is not None and archive_path.parent == lab_folder / "comet-offline"
    archive = Archive.read(archive_path)
    assert archive.experiment["project_name"] == "dl-101"
    assert sorted(archive.experiment["tags"]) == ["DL 101", "ada", "lab2"]  # no student id configured
    assert archive.parameters() == {"course": "DL 101", "learning_rate": 0.1, "epochs": 2, "batch_size": 64}
    for metric, values in history.items():
        assert archive.metric(metric) == [(1, values[0]), (2, values[1])], metric
    assert "dense" in archive.payloads("graph")[0]["graph"]

    [(_, matrix_json)] = archive.uploads(type="confusion-matrix")
    matrix = json.loads(matrix_json)
    assert matrix["labels"] == list(class_names)
    assert matrix["matrix"] == confusion_matrix(labels, predicted, labels=range(10)).tolist()

    [(figure_params, figure_file)] = archive.uploads(figName="first image")
    assert figure_file.startswith(b"\x89PNG") or b"<svg" in figure_file[:1000], figure_params
    logged = {params["figName"]: imread(io.BytesIO(content), format="png")
              for params, content in archive.uploads() if params.get("figName", "").startswith("digit")}
    assert sorted(logged) == [f"digit-{i}-{labels[i]}" for i in range(3)]
    assert all(image.shape[:2] == (28, 28) for image in logged.values())


def test_tracking_off_writes_nothing_and_never_loads_comet(lab_folder):
    script = (
        "import sys\nfrom matplotlib.figure import Figure\nimport labkit\n"
        "run = labkit.track.start(course='dl101', lab='lab2', learning_rate=0.1)\n"
        "run.log_metrics({'loss': 0.5}, step=1)\n"
        "run.log_confusion_matrix([0, 1], [0, 0], ['a', 'b'])\n"
        "run.log_figure(Figure(), 'empty')\n"
        "print(run.mode, run.end(), 'comet_ml' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "LABKIT_TRACKING": "off"}, cwd=lab_folder)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["off", "None", "False"]
    assert list(lab_folder.iterdir()) == []


def test_a_key_without_a_reachable_server_falls_back_offline_within_seconds(lab_folder, monkeypatch):
    monkeypatch.setenv("COMET_API_KEY", "NotARealKeyButLongEnough1234")
    monkeypatch.setenv("COMET_URL_OVERRIDE", UNANSWERING_SERVER)
    started = time.monotonic()
    with pytest.warns(track.TrackingWarning, match="did not answer"):
        run = track.start(course="dl101", lab="lab2")
    assert time.monotonic() - started < 30
    assert run.mode == "offline"
    run.log_metrics({"loss": 0.5}, step=1)
    archive = run.end()
    assert archive.is_file() and archive.parent == lab_folder / "comet-offline"
    assert Archive.read(archive).metric("loss") == [(1, 0.5)]


def test_headless_runs_never_try_the_network(lab_folder, monkeypatch):
    monkeypatch.setenv("COMET_API_KEY", "NotARealKeyButLongEnough1234")
    monkeypatch.setenv("COMET_URL_OVERRIDE", UNANSWERING_SERVER)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with warnings.catch_warnings():
        warnings.simplefilter("error", track.TrackingWarning)  # a network probe would warn
        run = track.start(course="dl101", lab="lab2", offline_dir=lab_folder / "archives")
    assert run.mode == "offline" and "headless" in run.reason
    assert run.end().parent == lab_folder / "archives"


@pytest.mark.parametrize("argument", ["api_key", "COMET_API_KEY"])
def test_a_key_passed_as_an_argument_is_refused(lab_folder, argument):
    with pytest.raises(ValueError, match="COMET_API_KEY"):
        track.start(course="dl101", lab="lab2", **{argument: "NotARealKeyButLongEnough1234"})
    assert list(lab_folder.iterdir()) == []


def test_a_failing_call_warns_once_stops_logging_and_keeps_what_came_before(lab_folder):
    run = track.start(course="dl101", lab="lab2")
    run.log_metrics({"loss": 0.9}, step=1)
    with pytest.warns(track.TrackingWarning) as caught:
        run.log_model_summary("not a model")
        run.log_metrics({"loss": 0.5}, step=2)
        run.log_params({"learning_rate": 0.1})
    assert len([w for w in caught if w.category is track.TrackingWarning]) == 1
    assert run.mode == "off" and "model summary" in run.reason
    archive = Archive.read(run.end())
    assert archive.metric("loss") == [(1, 0.9)]
    assert archive.parameters() == {"course": "dl101"}  # logged at the start, before the failing call


def test_a_context_manager_ends_the_run(lab_folder):
    with track.start(course="dl101", lab="lab2") as run:
        run.log_step(3, epoch=1, loss=0.25)
    assert run.archive is not None and run.end() == run.archive
    assert Archive.read(run.archive).metric("loss") == [(3, 0.25)]


def test_runs_are_named_by_course_lab_and_os_user(monkeypatch, tmp_path):
    monkeypatch.setenv("LABKIT_TRACKING", "off")
    monkeypatch.delenv("LABKIT_STUDENT_ID", raising=False)
    monkeypatch.setenv("LABKIT_CONFIG_DIR", str(tmp_path))  # no student id saved: the OS user names the run
    run = track.start(course="dl101", lab="lab2")
    assert run.name == f"dl101-lab2-{getpass.getuser()}"
    assert track.start(course="dl101", lab="lab2", student="ada").name == "dl101-lab2-ada"
    with pytest.raises(ValueError, match="must name the run"):
        track.start(course="", lab="lab2")


def test_in_a_notebook_a_run_prints_only_where_its_archive_went(lab_folder):
    """comet_ml tells notebook users to call ``experiment.end()``; a Tracker ends its own run."""
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import labkit\nrun = labkit.track.start(course='dl101', lab='lab2')"),
        nbformat.v4.new_code_cell("print(run.end())"),
    ])
    nbformat.write(notebook, lab_folder / "run.ipynb")
    executed = execute(lab_folder / "run.ipynb", lab_folder)
    printed = ["".join(output.get("text", "") for output in cell.outputs) for cell in executed.cells]
    assert "COMET" not in printed[0], printed[0]  # opening the run says nothing
    archive = next((lab_folder / "comet-offline").glob("*.zip"))
    assert f"comet upload {archive}" in printed[1], printed[1]
    assert "COMET INFO" not in printed[1], printed[1]  # comet_ml's progress messages are held back


def test_an_offline_archive_carries_the_course_and_student_id_as_parameters_and_tags(lab_folder, monkeypatch):
    """The course comes from course.json beside the notebook, the id from `labkit course --student-id`."""
    from labkit import course

    (lab_folder / "course.json").write_text('{"course": "Deep Learning 101"}')
    course.set_student_id("s1234567")
    run = track.start(lab="lab2", learning_rate=0.1)
    assert run.name == "Deep Learning 101-lab2-s1234567"
    archive = Archive.read(run.end())
    assert archive.parameters() == {"course": "Deep Learning 101", "student_id": "s1234567", "learning_rate": 0.1}
    assert sorted(archive.experiment["tags"]) == ["Deep Learning 101", "lab2", "s1234567", "student_id:s1234567"]
    assert archive.experiment["project_name"] == "deep-learning-101"

    # The environment wins over both files; the grader's review reads the id back from the archive.
    from autograder.comet import review

    monkeypatch.setenv("LABKIT_COURSE", "dl102")
    monkeypatch.setenv("LABKIT_STUDENT_ID", "ada.l")
    read = review.read_archive(track.start(lab="lab3", student="Ada").end())
    assert read["params"]["course"] == "dl102" and read["params"]["student_id"] == "ada.l"
    assert "student_id:ada.l" in read["tags"] and review.logged_student_id(read) == "ada.l"


def test_a_broken_student_id_setting_warns_and_the_run_goes_on_unlinked(lab_folder, monkeypatch):
    monkeypatch.setenv("LABKIT_STUDENT_ID", "not an id!")
    with pytest.warns(track.TrackingWarning, match="not a usable student id"):
        run = track.start(lab="lab2")
    archive = Archive.read(run.end())
    assert "student_id" not in archive.parameters() and archive.parameters()["course"] == "labkit"
    monkeypatch.delenv("LABKIT_STUDENT_ID")
    with pytest.raises(ValueError, match="not a usable student id"):
        track.start(lab="lab2", student_id="../../etc")
