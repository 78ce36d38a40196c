"""A submitted notebook's sandboxed run sees the dataset mirror, wherever the mirror is linked from."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder import notebook_run


@pytest.mark.slow
def test_a_mirror_named_through_a_link_is_readable_in_the_notebook(tmp_path: Path, mirror_dir: Path):
    """CI's ../shared/data may be reached through a link; the notebook must still find MNIST."""
    link = tmp_path / "shared"
    link.symlink_to(mirror_dir.resolve(), target_is_directory=True)
    probe_dir, workdir = tmp_path / "probe", tmp_path / "student"
    for folder in (probe_dir, workdir):
        folder.mkdir()
        folder.chmod(0o755)
    tmp_path.chmod(0o755)
    notebook_run.install_runner(probe_dir)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nmnist = sorted(os.listdir(os.path.join(os.environ['LABKIT_DATA_DIR'], 'mnist')))")])

    run = notebook_run.run(notebook, workdir, probe_dir,
                           {"seen": "import json, os\nos.makedirs('{probe_out}', exist_ok=True)\n"
                                    "json.dump(mnist, open('{probe_out}/seen.json', 'w'))\n"},
                           limits=notebook_run.sandbox.Limits(wall_seconds=120), cell_timeout=60, data_dir=link)

    assert run.outcome == "completed", run
    seen = (run.probe_out("seen") / "seen.json").read_text()
    assert "train-images-idx3-ubyte.gz" in seen
