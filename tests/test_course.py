"""The course configuration (labkit.course) and the review that joins Comet runs to graded submissions by it."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from autograder.comet import review as comet_review
from autograder.pipeline import submissions
from autograder.pipeline.results import SubmissionResult, judged
from labkit import course
from tests.hostile_data import archive, metric, parameter

LAB = "lab1-mnist"


@pytest.fixture
def settings(tmp_path, monkeypatch):
    """A notebook folder as the working directory, an empty user config folder, no course variables."""
    for name in ("LABKIT_COURSE", "LABKIT_STUDENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LABKIT_CONFIG_DIR", str(tmp_path / "config"))
    notebook_folder = tmp_path / "work" / LAB
    notebook_folder.mkdir(parents=True)
    monkeypatch.chdir(notebook_folder)
    return notebook_folder


def test_without_any_setting_the_course_is_labkit_and_no_student_is_known(settings):
    found = course.current()
    assert (found.name, found.student_id) == ("labkit", None)
    assert "default" in found.name_from and "--student-id" in found.student_id_from


def test_the_course_comes_from_the_environment_then_course_json_beside_or_above_the_notebook(settings, monkeypatch):
    (settings.parent / "course.json").write_text('{"course": "DL above"}')
    assert course.name() == "DL above"  # work/course.json, beside the lab folders
    (settings / "course.json").write_text(json.dumps({"course": " Deep Learning 101 ", "other": 1}))
    assert course.name() == "Deep Learning 101"
    assert course.current().name_from == str(settings / "course.json")
    monkeypatch.setenv("LABKIT_COURSE", "dl-env")
    assert course.current().name == "dl-env" and course.current().name_from == "LABKIT_COURSE"
    assert course.name(settings.parent.parent) == "dl-env"


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"course": ""}', '{"name": "dl101"}'])
def test_a_broken_course_json_says_what_is_wrong(settings, content):
    (settings / "course.json").write_text(content)
    with pytest.raises(ValueError, match="course.json"):
        course.name()


def test_the_student_id_comes_from_the_environment_then_the_saved_setting(settings, monkeypatch):
    path = course.set_student_id("s1234567")
    assert path.parent == settings.parent.parent / "config"
    assert json.loads(path.read_text()) == {"student_id": "s1234567"}
    assert course.student_id() == "s1234567" and course.current().student_id_from == str(path)
    monkeypatch.setenv("LABKIT_STUDENT_ID", "ada.lovelace")
    assert course.current().student_id == "ada.lovelace"
    monkeypatch.delenv("LABKIT_STUDENT_ID")
    assert course.forget_student_id() and course.student_id() is None
    assert not course.forget_student_id()


GOOD_IDS = ["s1234567", "ada", "Ada.Lovelace_2", "0", "a" * 64, "x-y"]
BAD_IDS = ["", " ", "a b", "../x", ".hidden", "-rf", "_x", "a" * 65, "é", "a/b", "a\nb", "=cmd", 123, None]


@pytest.mark.parametrize("value", GOOD_IDS)
def test_a_student_id_is_what_the_grader_accepts_as_a_submission_folder(value):
    assert course.is_student_id(value) and course.checked_student_id(value) == value
    assert submissions.STUDENT_ID.fullmatch(value)  # one rule: the grader's is labkit's


@pytest.mark.parametrize("value", BAD_IDS)
def test_anything_else_is_refused_with_what_an_id_looks_like(value, settings, monkeypatch):
    assert not course.is_student_id(value)
    with pytest.raises(ValueError, match="letters, digits"):
        course.checked_student_id(value)
    if isinstance(value, str):
        with pytest.raises(ValueError, match="not a usable student id"):
            course.set_student_id(value)
        if value.strip():
            monkeypatch.setenv("LABKIT_STUDENT_ID", value)
            with pytest.raises(ValueError, match="LABKIT_STUDENT_ID"):
                course.student_id()
    assert not (settings.parent.parent / "config" / "student.json").exists()


def test_a_hand_edited_student_file_is_checked_too(settings):
    (settings.parent.parent / "config").mkdir()
    (settings.parent.parent / "config" / "student.json").write_text('{"student_id": "../../etc"}')
    with pytest.raises(ValueError, match="not a usable student id"):
        course.student_id()


def test_the_labkit_course_command_sets_shows_and_forgets_the_student_id(settings):
    env = {**os.environ, "LABKIT_CONFIG_DIR": str(settings.parent.parent / "config")}

    def labkit(*args):
        return subprocess.run([sys.executable, "-m", "labkit.cli", "course", *args], capture_output=True, text=True,
                              env=env, cwd=settings, timeout=120)

    refused = labkit("--student-id", "not an id")
    assert refused.returncode == 2 and "not a usable student id" in refused.stderr
    assert not (settings.parent.parent / "config" / "student.json").exists()
    saved = labkit("--student-id", "s42")
    assert saved.returncode == 0, saved.stderr
    assert "student id s42 saved" in saved.stdout and "student id: s42" in saved.stdout
    (settings / "course.json").write_text('{"course": "dl101"}')
    assert "course:     dl101" in labkit().stdout
    forgotten = labkit("--forget-student-id")
    assert "student id removed" in forgotten.stdout and "student id: (none)" in forgotten.stdout


# --- the review: runs joined to submissions by student id -----------------------------------------------


def result_with_runs(student_id: str, *runs: bytes, tmp_path) -> SubmissionResult:
    """``student_id``'s graded lab 1 with ``runs`` (archive bytes) handed in, read back as the grader reads them."""
    folder = tmp_path / student_id / "comet-offline"
    folder.mkdir(parents=True)
    for number, data in enumerate(runs):
        (folder / f"run{number}.zip").write_bytes(data)
    measured = judged("test-cnn-accuracy", 3, True, "ok", value=0.9812, threshold=0.98)
    return SubmissionResult(student_id, LAB, "hash", (measured,), comet_runs=comet_review.read_runs(folder))


def test_the_review_flags_runs_of_another_student_or_of_none_and_shows_the_logged_id(tmp_path):
    cnn = [parameter("model", "cnn"), metric("test_accuracy", 0.9815)]
    own = archive([*cnn, parameter("student_id", "s1")])
    shouting = archive([*cnn, parameter("student_id", "S1")])  # the same login, typed in capitals
    tagged_only = archive(cnn, experiment=json.dumps({"offline_id": "t", "tags": ["dl101", "student_id:s1"]}))
    someone_else = archive([*cnn, parameter("student_id", "s2")])
    unlinked = archive(cnn)
    boasting_other = archive([parameter("model", "cnn"), metric("test_accuracy", 0.999), parameter("student_id", "s2")])
    numeric = archive([*cnn, parameter("student_id", 1234567)])
    result = result_with_runs("s1", own, shouting, tagged_only, someone_else, unlinked, boasting_other,
                              b"not a zip", tmp_path=tmp_path)
    numbered = result_with_runs("1234567", numeric, tmp_path=tmp_path)

    rows = comet_review.flag_disagreements(comet_review.review_rows(
        [result, numbered], {"cnn": ("test-cnn-model", "test-cnn-accuracy")}, {"cnn": "cnn"}))
    seen = [(row["archive"], row["student_id_logged"], row["flag"]) for row in rows]
    assert seen == [
        ("run0.zip", "s1", ""),
        ("run1.zip", "S1", ""),
        ("run2.zip", "s1", ""),
        ("run3.zip", "s2", "run logged student id 's2', not this submission's"),
        ("run4.zip", "", "run not linked to a student id"),
        ("run5.zip", "s2", "logged 0.9990, measured 0.9812; run logged student id 's2', not this submission's"),
        ("run6.zip", "", "unreadable archive: unreadable (BadZipFile)"),
        ("run0.zip", "1234567", ""),
    ]

    comet_review.write_index(tmp_path / "comet-review.csv", rows, "the lab's test images")
    with open(tmp_path / "comet-review.csv", newline="", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert list(written[0]) == comet_review.COLUMNS
    assert [(row["student_id"], row["student_id_logged"]) for row in written][3:5] == [("s1", "s2"), ("s1", "")]


def test_a_run_s_tags_are_read_bounded_and_as_text(tmp_path):
    tags = ["student_id:=cmd", *(f"t{n}" for n in range(200)), 5, {"a": 1}, "x" * 500]
    run = comet_review.parse_archive(archive([parameter("model", "cnn")],
                                             experiment=json.dumps({"offline_id": "t", "tags": tags})))
    assert len(run["tags"]) <= comet_review.MAX_TAGS and all(isinstance(tag, str) for tag in run["tags"])
    assert comet_review.logged_student_id(run) == "=cmd"  # a hostile id is only text: write_csv quotes it
    not_a_list = comet_review.parse_archive(archive([], experiment=json.dumps({"offline_id": "t", "tags": "s1"})))
    assert not_a_list["tags"] == [] and comet_review.logged_student_id(not_a_list) is None
