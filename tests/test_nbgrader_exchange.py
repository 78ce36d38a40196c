"""A lab handed in through nbgrader's own exchange, with the course's nbgrader_config.py.

The grader judges what a lab's run wrote beside the notebook (trained models in
``artifacts/``, Comet's offline archives in ``comet-offline/``), so ``nbgrader
submit`` and ``nbgrader collect`` must carry them; the release must not, since a
lab run in place by an instructor holds trained solutions there. Every command
below is nbgrader's own, run in this process as nbgrader's tests run them, in a
scratch course with a scratch exchange: no notebook is executed.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from autograder.release import scripts_of_this_environment_on_path
from tests.notebooks import REPO, solution_notebook

LAB = "lab1-mnist"
COURSE = "labkit"
RUN_OUTPUTS = {"artifacts/fc.keras": b"a trained model", "comet-offline/run.zip": b"an offline Comet run"}


class Course:
    """A scratch course directory, a student's home and an exchange between them."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        self.instructor, self.student, self.exchange = root / "course", root / "student", root / "exchange"
        for folder in (self.instructor / "solutions" / LAB, self.student, self.exchange, root / "no-config"):
            folder.mkdir(parents=True)
        shutil.copy(REPO / "nbgrader_config.py", self.instructor)
        shutil.copy(solution_notebook(LAB), self.instructor / "solutions" / LAB)
        self._root, self._monkeypatch = root, monkeypatch
        monkeypatch.setenv("HOME", str(self.student))
        monkeypatch.setattr(sys, "path", list(sys.path))  # each nbgrader command puts its folder first

    def as_instructor(self, *command: str) -> None:
        """Run ``nbgrader COMMAND`` in the course directory, which holds the course's nbgrader_config.py."""
        self._run(self.instructor, self._root / "no-config", command)

    def as_student(self, *command: str, home: Path | None = None) -> None:
        """Run ``nbgrader COMMAND`` in the student's home, under the course's configuration.

        ``home``: another student's home, with a submission cache of its own, as each
        student has (``fetch_feedback`` finds feedback by the submissions in its cache).
        """
        if home is None:
            self._run(self.student, self.instructor, command)
            return
        home.mkdir(parents=True, exist_ok=True)
        self._monkeypatch.setenv("HOME", str(home))
        self._run(home, self.instructor, command, cache=home / ".nbgrader-cache")

    def _run(self, folder: Path, config_dir: Path, command: tuple[str, ...], cache: Path | None = None) -> None:
        from jupyter_core.application import NoStart
        from nbgrader.apps import NbGraderApp

        self._monkeypatch.chdir(folder)
        self._monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(config_dir))
        app = NbGraderApp.instance()
        try:
            with scripts_of_this_environment_on_path():  # the gradebook's first use runs alembic by name
                app.initialize([*command, f"--course={COURSE}", f"--Exchange.root={self.exchange}",
                                f"--Exchange.cache={cache or self._root / 'cache'}"])
                app.start()
        except NoStart:  # how `nbgrader` ends once its subcommand has run
            pass
        except SystemExit as exit:  # nbgrader's way to fail a command
            assert not exit.code, f"nbgrader {' '.join(command)} failed; its log is above"
        finally:
            app.reset()


def write(folder: Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)


def files_in(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


def test_a_hand_in_reaches_the_instructor_with_what_its_run_wrote_and_nothing_of_the_instructors(
        tmp_path, monkeypatch):
    course = Course(tmp_path, monkeypatch)
    write(course.instructor / "solutions" / LAB, RUN_OUTPUTS)  # the solution, run in place
    course.as_instructor("generate_assignment", LAB)
    write(course.instructor / "labs" / LAB, RUN_OUTPUTS)  # the student version, run in place
    course.as_instructor("release_assignment", LAB)

    course.as_student("fetch_assignment", LAB)
    fetched = course.student / LAB
    assert files_in(fetched) == {f"{LAB}.ipynb"}  # no instructor's run reached the student
    write(fetched, RUN_OUTPUTS | {"__pycache__/helpers.cpython-311.pyc": b"a cache"})
    course.as_student("submit", LAB, "--student=ada")
    course.as_instructor("collect", LAB)

    submitted = course.instructor / "submitted" / "ada" / LAB
    assert files_in(submitted) == {f"{LAB}.ipynb", *RUN_OUTPUTS, "timestamp.txt", "submission_secret.txt"}
    assert {name: (submitted / name).read_bytes() for name in RUN_OUTPUTS} == RUN_OUTPUTS
