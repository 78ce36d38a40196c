"""`make lab`, the students' way in: their own copy of each lab, opened in JupyterLab."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess

from tests.notebooks import REPO

LABS = sorted(path.name for path in (REPO / "labs").iterdir() if path.is_dir())

RECORDING_JUPYTER = """#!/bin/sh
# Stands in for JupyterLab's server: records how it was started, then exits.
echo "$* TF_CPP_MIN_LOG_LEVEL=$TF_CPP_MIN_LOG_LEVEL LABKIT_DATA_DIR=$LABKIT_DATA_DIR" >> "$(dirname "$0")/started"
"""


def _checkout(tmp_path):
    """The Makefile, labs/ and the install's inputs, with .venv installed as far as make can tell."""
    for name in ("Makefile", "pyproject.toml", "requirements/constraints.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "labs", tmp_path / "labs")
    jupyter = tmp_path / ".venv" / "bin" / "jupyter"
    jupyter.parent.mkdir(parents=True)
    jupyter.write_text(RECORDING_JUPYTER)
    jupyter.chmod(jupyter.stat().st_mode | stat.S_IXUSR)
    (tmp_path / ".venv" / ".labkit-installed").touch()  # newer than pyproject.toml: nothing to install
    return tmp_path


def _make_lab(checkout, mirror_dir):
    environment = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    environment["LABKIT_DATA_DIR"] = str(mirror_dir)
    return subprocess.run(["make", "lab"], cwd=checkout, env=environment, capture_output=True, text=True,
                          timeout=60)


def test_make_lab_copies_each_lab_into_work_and_opens_it_quietly(tmp_path, mirror_dir):
    checkout = _checkout(tmp_path)
    result = _make_lab(checkout, mirror_dir)
    assert result.returncode == 0, result.stderr
    for lab in LABS:
        notebook = f"{lab}/{lab}.ipynb"
        assert (checkout / "work" / notebook).read_bytes() == (REPO / "labs" / notebook).read_bytes()
        assert f"copied labs/{lab}/ to work/{lab}/" in result.stdout
    started = (checkout / ".venv" / "bin" / "started").read_text().splitlines()
    assert started == [f"lab work TF_CPP_MIN_LOG_LEVEL=1 LABKIT_DATA_DIR={mirror_dir}"]


def test_make_lab_never_copies_over_a_students_work(tmp_path, mirror_dir):
    checkout = _checkout(tmp_path)
    assert _make_lab(checkout, mirror_dir).returncode == 0
    answer = checkout / "work" / LABS[0] / f"{LABS[0]}.ipynb"
    answer.write_text("the student's answers")
    shutil.rmtree(checkout / "work" / LABS[-1])  # a lab not started yet, or added by a later release

    result = _make_lab(checkout, mirror_dir)

    assert result.returncode == 0, result.stderr
    assert answer.read_text() == "the student's answers"
    assert result.stdout.count("copied ") == 1 and f"to work/{LABS[-1]}/" in result.stdout
