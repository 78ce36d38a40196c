"""The release machinery: nbgrader turns solutions/<lab> into labs/<lab>, the same way every time."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.__main__ import main
from autograder.release import ReleaseError, check_released, compare_folders, release, repository_root

REPO = repository_root()
LAB = "lab1-mnist"


@pytest.fixture(scope="module")
def released_course(tmp_path_factory) -> Path:
    """A scratch course directory: this repository's nbgrader config and solutions, released once.

    Creating a gradebook costs seconds (nbgrader runs alembic in a subprocess),
    so tests start from copies of this one, which already has one.
    """
    root = tmp_path_factory.mktemp("course")
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "solutions", root / "solutions")
    release(root=root)
    return root


@pytest.fixture
def course(released_course: Path, tmp_path: Path) -> Path:
    """A fresh copy of the released course, for a test to change as it likes."""
    copy = tmp_path / "course"
    shutil.copytree(released_course, copy)
    return copy


def notebook_files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file()}


def test_release_writes_each_lab_to_labs_and_the_gradebook_to_an_ignored_folder(course):
    shutil.rmtree(course / "labs")

    folders = release(root=course)

    labs = sorted(path.name for path in (course / "solutions").iterdir() if path.is_dir())
    assert LAB in labs
    assert folders == [course / "labs" / lab for lab in labs]
    assert (course / "labs" / LAB / f"{LAB}.ipynb").is_file()
    assert (course / ".nbgrader" / "gradebook.db").is_file()
    assert not (course / "gradebook.db").exists()


def test_release_is_byte_identical_when_run_twice(course):
    first = notebook_files(course / "labs")
    release([LAB], root=course)

    assert notebook_files(course / "labs") == first


def test_release_clears_outputs_and_execution_counts(course):
    source = course / "solutions" / LAB / f"{LAB}.ipynb"
    notebook = nbformat.read(source, as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for count, cell in enumerate(code_cells, start=1):  # as if an instructor forgot to clear them
        cell.execution_count = count
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="left over\n")]
    nbformat.write(notebook, source)

    release(root=course)

    released = nbformat.read(course / "labs" / LAB / f"{LAB}.ipynb", as_version=4)
    released_code = [cell for cell in released.cells if cell.cell_type == "code"]
    assert len(released_code) == len(code_cells)
    assert all(cell.outputs == [] and cell.execution_count is None for cell in released_code)


def test_release_does_not_ship_what_a_lab_wrote_when_run_in_place(course):
    lab_folder = course / "solutions" / LAB
    (lab_folder / "artifacts").mkdir()
    (lab_folder / "artifacts" / "cnn.keras").write_bytes(b"trained weights")
    (lab_folder / "comet-offline").mkdir()
    (lab_folder / "comet-offline" / "run.zip").write_bytes(b"archive")

    release(root=course)

    assert sorted(notebook_files(course / "labs" / LAB)) == [f"{LAB}.ipynb"]


def test_release_refuses_an_unknown_lab_and_names_the_known_ones(course):
    shutil.rmtree(course / "labs")

    with pytest.raises(ValueError, match=rf"lab9-nothing.*Labs found: {LAB}"):
        release([LAB, "lab9-nothing"], root=course)

    assert not (course / "labs").exists(), "nothing is released when one of the labs is unknown"


def test_release_turns_nbgraders_refusal_into_one_clear_error(course):
    source = course / "solutions" / LAB / f"{LAB}.ipynb"
    notebook = nbformat.read(source, as_version=4)
    graded = next(cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade"))
    del graded.metadata["nbgrader"]["points"]  # nbgrader cannot score a graded cell without points
    nbformat.write(notebook, source)

    with pytest.raises(ReleaseError, match=f"nbgrader could not generate {LAB}"):
        release(root=course)


def test_check_released_accepts_a_fresh_release_whatever_its_json_layout_and_changes_nothing(course):
    released = course / "labs" / LAB / f"{LAB}.ipynb"
    released.write_text(json.dumps(json.loads(released.read_text()), indent=4))
    before = notebook_files(course / "labs")
    gradebook = (course / ".nbgrader" / "gradebook.db").read_bytes()

    assert check_released(course) == []

    assert notebook_files(course / "labs") == before
    assert (course / ".nbgrader" / "gradebook.db").read_bytes() == gradebook


def test_check_released_reports_a_changed_cell_an_extra_file_and_an_orphaned_lab(course):
    released = course / "labs" / LAB / f"{LAB}.ipynb"
    notebook = json.loads(released.read_text())
    notebook["cells"][3]["source"] = "print('edited by hand')"
    released.write_text(json.dumps(notebook))
    (course / "labs" / LAB / "notes.txt").write_text("not from the source")
    (course / "labs" / "lab9-orphan").mkdir()

    problems = check_released(course)

    assert len(problems) == 3, problems
    changed, = (problem for problem in problems if problem.startswith(str(released)))
    assert "cell 3 differs" in changed and f"python -m autograder release {LAB}" in changed
    assert any("notes.txt" in problem and "not made by the release" in problem for problem in problems)
    assert any("lab9-orphan" in problem and "no source notebook" in problem for problem in problems)


def test_compare_folders_reports_missing_extra_and_changed_files(tmp_path):
    expected, actual = tmp_path / "expected", tmp_path / "actual"
    for folder in (expected, actual):
        folder.mkdir()
        (folder / "same.txt").write_text("same")
    (expected / "only-expected.txt").write_text("a")
    (actual / "only-actual.txt").write_text("b")
    (expected / "data.csv").write_text("1,2")
    (actual / "data.csv").write_text("1,3")
    notebook = {"cells": [{"source": "a"}, {"source": "b"}], "metadata": {}}
    (expected / "lab.ipynb").write_text(json.dumps(notebook))
    (actual / "lab.ipynb").write_text(json.dumps({**notebook, "cells": notebook["cells"][:1]}))

    problems = compare_folders(expected, actual, "lab0")

    assert sorted(problem.split(";")[0] for problem in problems) == sorted([
        f"{actual / 'only-expected.txt'}: missing",
        f"{actual / 'only-actual.txt'}: not made by the release",
        f"{actual / 'data.csv'}: differs",
        f"{actual / 'lab.ipynb'}: has 1 cells instead of 2",
    ])
    assert compare_folders(expected, expected, "lab0") == []


def test_committed_labs_are_what_the_release_makes():
    assert check_released() == [], "labs/ is out of date: run `python -m autograder release`."


def test_cli_refuses_unknown_labs_and_lab_names_with_check(capsys):
    assert main(["release", "lab9-nothing"]) == 2
    assert "No source notebook for lab9-nothing" in capsys.readouterr().err

    assert main(["release", "--check", LAB]) == 2
    assert "leave out the LAB names" in capsys.readouterr().err


def test_release_copies_the_course_json_into_every_lab_and_check_wants_it(course):
    (course / "course.json").write_text('{"course": "Deep Learning 101"}\n')
    folders = release(root=course)
    assert all((folder / "course.json").read_text() == '{"course": "Deep Learning 101"}\n' for folder in folders)
    assert check_released(course) == []
    (course / "labs" / LAB / "course.json").unlink()
    assert [problem for problem in check_released(course) if "course.json: missing" in problem]
