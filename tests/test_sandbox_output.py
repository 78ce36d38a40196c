"""The one reader of what a sandbox leaves behind: what it refuses, and that no grader reads another way."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import numpy as np
import pytest

from autograder.sandbox import output as sandbox_output
from autograder.sandbox.output import OutputFolder, OutputRefused
from autograder.sandbox.untrusted import UntrustedDataError, finite_float, loads_json

AUTOGRADER = Path(sandbox_output.__file__).parent.parent


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A sandbox's folder as a hostile program could leave it, beside a file only the grader may read."""
    secret = tmp_path / "grader-only"
    secret.mkdir()
    np.save(secret / "answers.npy", np.arange(3.0))
    (secret / "answers.json").write_text('{"accuracy": 1.0}')
    work = tmp_path / "work"
    (work / "out" / "part").mkdir(parents=True)
    np.save(work / "out" / "part" / "weights.npy", np.ones((2, 3), dtype="float32"))
    (work / "out" / "part" / "report.json").write_text('{"accuracy": 0.9}')
    os.symlink(secret, work / "out" / "linked-folder")  # a folder link in the middle of the path
    os.symlink(secret / "answers.npy", work / "out" / "part" / "linked.npy")  # a file link at its end
    os.symlink(secret, work / "linked-root")
    os.mkfifo(work / "out" / "part" / "fifo.json")
    return work


def test_plain_files_are_read_and_every_way_out_of_the_folder_is_refused(workdir: Path):
    out = OutputFolder(workdir, "out/part")
    assert out.read_json("report.json", 100) == {"accuracy": 0.9}
    assert out.read_array("weights.npy", 1000, kinds="f", shape=(2, 3)).sum() == 6
    for folder, name in (("out/linked-folder", "answers.npy"), ("linked-root", "answers.npy"),
                         ("out/part", "linked.npy"), ("out/part", "fifo.json"), ("out/part", "../../../grader-only/answers.npy")):
        with pytest.raises(OutputRefused):
            OutputFolder(workdir, folder).read_bytes(name, 10_000)
    with pytest.raises(FileNotFoundError):
        out.read_bytes("missing.npy", 100)
    assert out.exists("linked.npy") and not out.exists("missing.npy")
    with pytest.raises(OutputRefused, match="more than the 10 expected"):
        out.read_bytes("report.json", 10)


def test_arrays_must_be_numbers_of_the_expected_kind_and_shape(workdir: Path):
    out = OutputFolder(workdir, "out/part")
    folder = workdir / "out" / "part"
    with pytest.raises(OutputRefused, match="shape"):
        out.read_array("weights.npy", 1000, shape=(3, 2))
    with pytest.raises(OutputRefused, match="not integers"):
        out.read_array("weights.npy", 1000, kinds="iu")
    np.save(folder / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)  # a pickle inside
    with pytest.raises(OutputRefused, match="not a readable array"):
        out.read_array("objects.npy", 10_000)
    (folder / "garbage.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(OutputRefused):
        out.read_array("garbage.npy", 10_000)
    np.savez(folder / "many.npz", *[np.zeros(1)] * 5)
    assert len(out.read_arrays("many.npz", 10_000)) == 5
    with pytest.raises(OutputRefused, match="5 arrays"):
        out.read_arrays("many.npz", 10_000, max_arrays=4)


@pytest.mark.parametrize("text, words", [
    ("[" * 20_000 + "]" * 20_000, "nests deeper"),
    ('{"metric": ' + "9" * 5000 + "}", "5,000 characters"),
    ('{"metric": 1e400}', "out of range"),
    ('{"metric": NaN}', "NaN"),
    ('{"metric": -Infinity}', "Infinity"),
    ('{"metric": ', "not valid JSON"),
    (b'{"m": "\xff"}', "not UTF-8"),
])
def test_untrusted_json_is_refused_with_a_reason_never_a_crash(text, words):
    with pytest.raises(UntrustedDataError, match=words):
        loads_json(text, max_bytes=10**6)


def test_brackets_inside_strings_do_not_count_as_nesting():
    data = {"name": "[[[[{{{{" * 100, "quoted": '\\"[[['}
    assert loads_json(json.dumps(data), max_bytes=10**6, max_depth=2) == data


def test_untrusted_numbers_are_real_finite_and_in_range():
    assert finite_float(0.5, low=0, high=1) == 0.5
    for value in (True, "0.5", None, 10**400, float("nan"), 2.0):
        with pytest.raises(UntrustedDataError):
            finite_float(value, low=0, high=1)


GRADER_MODULES = sorted([*AUTOGRADER.glob("graders/*.py"), *AUTOGRADER.glob("scoring/*.py"),
                         *(AUTOGRADER / "pipeline" / name for name in ("notebook_run.py", "notebook_parts.py"))])
"""Every module that drives a sandbox or judges what it left: the lab graders, the scoring steps, the notebook run."""

MODULE_READS = {("np", "load"), ("numpy", "load"), ("np", "fromfile"), ("json", "load"), ("json", "loads"),
                ("pickle", "load"), ("pickle", "loads")}
PATH_READS = {"read_text", "read_bytes", "open"}
"""Calls that would read a file without sandbox_output's checks (``Path.read_bytes``, ``np.load``, ...)."""

ALLOWED = {
    # What the grader wrote itself, or its own data, before any sandbox ran:
    ("lab3_annealing_augmentation.py", "layer_settings", "json.loads"),  # a round trip of the reference's config
    ("lab5_emnist_deep_models.py", "setup", "np.load"),  # its own evaluation images
    ("evaluation_sets.py", "read_private", "np.load"),  # the instructor's private evaluation set
    # What was handed in, read as data before any student code runs in the folder (submissions.copy
    # made it a private copy of regular files, no links):
    ("lab5_emnist_deep_models.py", "vgg_width", "read_bytes"),
    ("torch_models.py", "read_header", "open"),
    ("notebook_run.py", "packed", "open"),  # writes the probes' inputs into an archive for the runner
}


def _reads(path: Path) -> set[tuple[str, str, str]]:
    """``(module, function, call)`` for every file-reading call in ``path``, by the function it is in."""
    found = set()
    for function in ast.walk(ast.parse(path.read_text())):
        if not isinstance(function, ast.FunctionDef):
            continue
        for node in ast.walk(function):
            if not isinstance(node, ast.Call):
                continue
            call = node.func
            if isinstance(call, ast.Name) and call.id == "open":
                found.add((path.name, function.name, "open"))
            elif isinstance(call, ast.Attribute) and isinstance(call.value, ast.Name) \
                    and (call.value.id, call.attr) in MODULE_READS:
                found.add((path.name, function.name, f"{call.value.id}.{call.attr}"))
            elif isinstance(call, ast.Attribute) and call.attr in PATH_READS \
                    and not (isinstance(call.value, ast.Name) and call.value.id in OUTPUT_FOLDERS):
                found.add((path.name, function.name, call.attr))
    return found


OUTPUT_FOLDERS = {"out", "probe_out", "sandbox_output"}
"""The module and the names graders give an :class:`OutputFolder`: their ``read_bytes`` is the careful one."""


def test_no_grader_reads_a_sandbox_s_files_but_through_sandbox_output():
    assert len(GRADER_MODULES) >= 14, GRADER_MODULES  # the layout moved: scan the new places
    reads = set().union(*(_reads(path) for path in GRADER_MODULES))
    assert reads - ALLOWED == set(), "read sandbox output only through autograder.sandbox.output"
