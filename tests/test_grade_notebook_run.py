"""A submitted notebook's sandboxed run: the dataset mirror it sees, and the probes' inputs it does not."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.pipeline import notebook_run


def _folders(tmp_path: Path) -> tuple[notebook_run.ProbeFolders, Path]:
    workdir = tmp_path / "student"
    workdir.mkdir()
    for folder in (tmp_path, workdir):
        folder.chmod(0o755)
    return notebook_run.probe_folders(tmp_path / "batch", []), workdir


@pytest.mark.slow
def test_a_mirror_named_through_a_link_is_readable_in_the_notebook(tmp_path: Path, mirror_dir: Path):
    """CI's ../shared/data may be reached through a link; the notebook must still find MNIST."""
    link = tmp_path / "shared"
    link.symlink_to(mirror_dir.resolve(), target_is_directory=True)
    folders, workdir = _folders(tmp_path)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nmnist = sorted(os.listdir(os.path.join(os.environ['LABKIT_DATA_DIR'], 'mnist')))")])

    run = notebook_run.run(notebook, workdir, folders,
                           {"seen": "import json, os\nos.makedirs('{probe_out}', exist_ok=True)\n"
                                    "json.dump(mnist, open('{probe_out}/seen.json', 'w'))\n"},
                           limits=notebook_run.sandbox.Limits(wall_seconds=120), cell_timeout=60, data_dir=link)

    assert run.outcome == "completed", run
    assert "train-images-idx3-ubyte.gz" in run.probe_out("seen").read_text("seen.json", 4096)


SNOOP = r'''
# A student's cell looking for the probes' inputs before the probes run.
import glob, os, sys
found = []
for pattern in ("/tmp/**/*", os.path.expanduser("~") + "/**/*", "/proc/*/fd/*"):
    for path in glob.glob(pattern, recursive=True):
        try:
            with open(path, "rb") as handle:
                if b"SECRET-INPUT" in handle.read(1 << 20):
                    found.append(path)
        except OSError:
            pass
for pid in os.listdir("/proc"):  # the runner's memory, where the inputs wait
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            with open(f"/proc/{pid}/mem", "rb") as memory:
                memory.read(1)
            found.append(f"/proc/{pid}/mem readable")
        except OSError:
            pass
try:
    found.append("stdin: " + repr(sys.stdin.buffer.read(100)))
except Exception:
    pass
# The runner's placeholder for the inputs' folder is public: naming it must get nothing.
placeholder = "<the probes' inputs, unpacked by the runner when the first probe cell runs>"
if placeholder != "<the probes' inputs, " + "unpacked by the runner when the first probe cell runs>":
    found.append("placeholder replaced: " + placeholder)
'''


@pytest.mark.slow
def test_the_probes_inputs_arrive_only_when_the_first_probe_runs(tmp_path: Path):
    folders, workdir = _folders(tmp_path)
    inputs = folders.inputs
    np.save(inputs / "batch.npy", np.frombuffer(b"SECRET-INPUT" * 10, dtype=np.uint8))
    (inputs / "settings.json").write_text(json.dumps({"note": "SECRET-INPUT"}))
    decoy = nbformat.v4.new_code_cell(SNOOP)
    decoy.metadata["autograder"] = "probe:reader"  # a student cell marked as the grader's: unmarked before the run
    notebook = nbformat.v4.new_notebook(cells=[decoy])
    probe = ("import json, os, numpy as np\nos.makedirs('{probe_out}', exist_ok=True)\n"
             "inputs = {probe_dir!r}\n"
             "json.dump({{'snooped': found, 'files': sorted(os.listdir(inputs)),\n"
             "           'batch': bytes(np.load(os.path.join(inputs, 'batch.npy'))[:12]).decode()}},\n"
             "          open('{probe_out}/seen.json', 'w'))\n")

    run = notebook_run.run(notebook, workdir, folders, {"reader": probe},
                           limits=notebook_run.sandbox.Limits(wall_seconds=120), cell_timeout=60, data_dir=None)

    assert run.outcome == "completed", run
    seen = run.probe_out("reader").read_json("seen.json", 2**16)
    assert seen["files"] == ["batch.npy", "settings.json"] and seen["batch"] == "SECRET-INPUT"
    assert [found for found in seen["snooped"] if not found.startswith("stdin: b''")] == [], seen["snooped"]
    assert sorted(path.name for path in folders.scripts.iterdir()) == ["run_notebook.py"]  # all the run could see
