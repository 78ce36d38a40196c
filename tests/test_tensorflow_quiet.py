"""TensorFlow starts without its start-up notes once labkit is imported, and keeps its warnings.

TensorFlow 2.21 writes its start-up notes from C++ before it reads
``TF_CPP_MIN_LOG_LEVEL``, so these tests remove that variable (which the test
session sets) from every process they start: the notes must go whatever it says.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

from labkit._tf_startup import kept
from tests.notebooks import GRADING_ENVIRONMENT, LAYOUTS, REPO, cell, kernel_manager, read, released_notebook

# What TensorFlow 2.21 wrote on an x86 CPU when it was imported without labkit.
PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
ONEDNN = ("I0000 00:00:1796593232.467531    5062 port.cc:153] oneDNN custom operations are on. You may see "
          "slightly different numerical results due to floating-point round-off errors from different "
          "computation orders. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.\n")
CPU_FEATURES = ("I0000 00:00:1796593232.512579    5062 cpu_feature_guard.cc:227] This TensorFlow binary is "
                "optimized to use available CPU instructions in performance-critical operations.\n"
                "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
                "TensorFlow with the appropriate compiler flags.\n")
WARNING = "W0000 00:00:1796593233.000001    5062 gpu_device.cc:2344] Cannot dlopen some GPU libraries.\n"
ERROR = "2024-01-11 05:40:05.176998: E external/local_xla/xla/stream_executor/cuda/cuda_fft.cc:467] No cuFFT.\n"

STARTUP_NOTE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|I\d{4} \d\d:\d\d:\S+\s+\d+ \S+:\d+\]"
                          r"|\d{4}-\d\d-\d\d \S+: I \S+:\d+\])", re.MULTILINE)
"""absl's preamble, or a log record of severity I (a note), in either of TensorFlow's formats."""


def without_tf_log_level(environment) -> dict[str, str]:
    return {name: value for name, value in environment.items() if name != "TF_CPP_MIN_LOG_LEVEL"}


def as_in_jupyterlab(environment) -> dict[str, str]:
    """A kernel's environment outside pytest: ipykernel shows what its process writes to
    file descriptors 1 and 2 in the notebook, except when PYTEST_CURRENT_TEST is set."""
    return {name: value for name, value in without_tf_log_level(environment).items()
            if name != "PYTEST_CURRENT_TEST"}


def test_notes_go_with_their_continuation_lines_and_warnings_errors_and_other_lines_stay():
    written = PREAMBLE + ONEDNN + CPU_FEATURES + WARNING + "a line of someone else's\n" + PREAMBLE + ONEDNN + ERROR

    assert kept(written, 1) == WARNING + "a line of someone else's\n" + ERROR
    assert kept(written, 2) == ERROR
    assert kept(written, 0) == written  # TF_CPP_MIN_LOG_LEVEL=0 asks for everything
    assert kept("a line before any record\n" + ONEDNN, 1) == "a line before any record\n"


def test_what_tensorflow_writes_while_it_loads_is_filtered_only_then(tmp_path):
    """A stand-in ``tensorflow`` package writes to file descriptor 2 as TensorFlow's libraries do."""
    package = tmp_path / "tensorflow"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(f"""\
        import os
        os.write(2, {(PREAMBLE + ONEDNN + CPU_FEATURES + WARNING).encode()!r})
        LEVEL = os.environ["TF_CPP_MIN_LOG_LEVEL"]

        def note():
            os.write(2, {ONEDNN.encode()!r})
        """))
    script = ("import sys; import labkit; import tensorflow; print('level', tensorflow.LEVEL); "
              "tensorflow.note(); print('done', file=sys.stderr)")
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO,
                         env={**without_tf_log_level(os.environ), "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"})

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "level 1\n"  # set for TensorFlow to filter its later messages itself
    assert ran.stderr == WARNING + ONEDNN + "done\n"  # after the import, nothing is filtered


@pytest.mark.slow
def test_importing_keras_after_labkit_writes_no_note_from_tensorflow():
    script = "import labkit, keras, tensorflow as tf; print(float(tf.reduce_sum(tf.ones(3))))"
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env=without_tf_log_level(os.environ))

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "3.0\n"
    assert STARTUP_NOTE.findall(ran.stderr) == [], ran.stderr


KERAS_LABS = [lab for lab in LAYOUTS
              if 'labkit.device.setup("tf"' in cell(read(released_notebook(lab)), "setup").source]


@pytest.mark.slow
@pytest.mark.parametrize("lab", KERAS_LABS)
def test_the_first_cell_of_a_keras_lab_shows_no_note_from_tensorflow(lab, tmp_path):
    """The setup cell, in a real kernel, as JupyterLab runs it: whatever it writes to stderr shows in red."""
    from nbclient import NotebookClient

    notebook = read(released_notebook(lab))
    notebook.cells = [cell(notebook, "setup")]
    client = NotebookClient(notebook, km=kernel_manager(tmp_path / ".kernels"), timeout=300,
                            resources={"metadata": {"path": str(tmp_path)}}, shutdown_kernel="immediate")
    client.execute(cleanup_kc=True, env=as_in_jupyterlab({**os.environ, **GRADING_ENVIRONMENT}))

    streams = {name: "".join(o.text for o in notebook.cells[0].outputs if o.get("name") == name)
               for name in ("stdout", "stderr")}
    assert streams["stdout"].startswith("labkit: tensorflow "), streams  # the cell ran to its summary line
    assert STARTUP_NOTE.findall(streams["stderr"]) == [], streams["stderr"]
