"""Every lab's notebooks, as committed: clean, and the student version hides the answers but keeps the grading.

What the generator must guarantee for each lab, checked on the committed files
(``tests/test_release.py`` checks that they are what the generator makes).
"""

from __future__ import annotations

import re

import pytest

from tests.notebooks import (
    LAYOUTS,
    MARKERS,
    error_of,
    execute,
    grade_id,
    graded_cells,
    read,
    released_notebook,
    secret_lines,
    solution_notebook,
)

LABS = sorted(LAYOUTS)

"""How long the untouched student notebook may take (90 s unless named): failing must be quick."""


def test_every_lab_in_solutions_has_a_layout():
    in_solutions = sorted(path.parent.name for path in solution_notebook("x").parents[1].glob("*/*.ipynb"))
    assert in_solutions == LABS


@pytest.mark.parametrize("version", ["solutions", "labs"])
@pytest.mark.parametrize("lab", LABS)
def test_committed_notebook_has_no_outputs(lab, version):
    notebook = solution_notebook(lab) if version == "solutions" else released_notebook(lab)
    code = [c for c in read(notebook).cells if c.cell_type == "code"]
    assert code
    assert all(c.outputs == [] and c.execution_count is None for c in code), (
        f"{notebook} was committed with outputs; clear them before committing."
    )


@pytest.mark.parametrize("lab", LABS)
def test_released_notebook_has_no_solutions_and_no_hidden_tests(lab):
    source, released = read(solution_notebook(lab)), read(released_notebook(lab))
    released_text = "\n".join(c.source for c in released.cells)
    released_lines = {line.strip() for line in released_text.splitlines()}
    secrets = secret_lines(source)

    assert len(secrets) > 20, "the solution notebook should hold solutions and hidden tests"
    assert not [marker for marker in MARKERS if marker in released_text]
    assert not sorted(secrets & released_lines), "solution or hidden-test lines reached the students"
    exercises = [c for c in released.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert [c.id for c in exercises] == LAYOUTS[lab].exercises
    assert all("raise NotImplementedError()" in c.source for c in exercises)


@pytest.mark.parametrize("lab", LABS)
def test_released_notebook_keeps_every_graded_cell_with_its_points(lab):
    def points(notebook):
        return {grade_id(c): c.metadata["nbgrader"]["points"] for c in graded_cells(notebook)}

    released = points(read(released_notebook(lab)))
    assert released == points(read(solution_notebook(lab)))
    assert list(released) == LAYOUTS[lab].graded
    assert all(value > 0 for value in released.values())


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS)
def test_untouched_student_notebook_fails_every_graded_cell_quickly(lab, tmp_path, mirror_dir):
    # Quickly: no cell may run a minute (a training cell that went on without the student's code would).
    executed = execute(released_notebook(lab), tmp_path, allow_errors=True, cell_timeout=60)

    graded = {grade_id(c): error_of(c) for c in graded_cells(executed)}
    assert list(graded) == LAYOUTS[lab].graded
    assert [name for name, error in graded.items() if error is None] == [], "a graded cell passed untouched"
    first_exercise = next(i for i, c in enumerate(executed.cells) if c.id == LAYOUTS[lab].exercises[0])
    before = [c for c in executed.cells[:first_exercise] if c.cell_type == "code"]
    assert [error_of(c) for c in before] == [None] * len(before), "the lab's own cells must run"
    assert not (tmp_path / "artifacts" / "metrics.json").exists(), "nothing may be saved from an unfinished lab"


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS)
def test_a_solution_run_prints_no_python_warning(lab, solution_run):
    """A warning in a lab's output is either a bug in the lab or noise its students must learn to ignore."""
    run = solution_run(lab)
    printed = [output.get("text", "") for cell in run.executed.cells if cell.cell_type == "code"
               for output in cell.get("outputs", []) if output.get("name") == "stderr"]
    warnings = [line for text in printed for line in text.splitlines() if re.search(r"\w+Warning: ", line)]
    assert warnings == []


def test_a_notebook_run_shuts_its_kernel_down(tmp_path):
    """A kernel left running keeps a lab's framework, data and models in memory until pytest exits."""
    import nbformat
    import psutil

    def kernels() -> set[int]:
        return {child.pid for child in psutil.Process().children(recursive=True)
                if "ipykernel" in " ".join(child.cmdline())}

    before = kernels()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("answer = 42")]),
                   tmp_path / "small.ipynb")
    execute(tmp_path / "small.ipynb", tmp_path)
    assert kernels() - before == set()
