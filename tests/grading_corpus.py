"""A class of lab 1 submissions for the grading tests, each made from the real notebooks by a small edit.

Every case says what the grader must conclude: the verdict of each graded part
and the total score. Besides the reference solution, the untouched student
notebook and seeded bugs, most cases are attacks (the exploits that beat
nbgrader and otter-grader, and the ways a submission can try to hang, crash,
flood or read its way past a grader); each must end with the right verdict and
gain nothing.

Notebook attacks start from the released student notebook, with the attack in
place of the first exercise's ``raise NotImplementedError()``: without the
attack they would score 0, so any point would be a gain. Artifact attacks hand
in files only (no notebook): the trained-model files are all that can earn the
model and accuracy parts.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from tests.notebooks import released_notebook, solution_notebook

LAB = "lab1-mnist"
PARTS = ("test-fc-model", "test-fc-accuracy", "test-cnn-model", "test-cnn-accuracy", "test-train-step")
NOT_JUDGED = {"error", "timeout", "out-of-memory", "crashed"}


@dataclass(frozen=True)
class Sources:
    """What the cases are built from, and the paths an attack tries to reach."""

    reference: Path  # an executed solution: notebook + artifacts/ + comet-offline/
    class_dir: Path
    out_dir: Path
    markers: Path  # where a payload would leave a trace if it ever ran outside the sandbox


@dataclass(frozen=True)
class Case:
    student_id: str
    build: Callable[[Path, Sources], None]
    score: float
    verdicts: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """part -> allowed verdicts; parts not named must be "fail"."""

    def allowed(self, part: str) -> frozenset[str]:
        return self.verdicts.get(part, frozenset({"fail"}))


# --- building blocks ----------------------------------------------------------------------------


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def write_notebook(notebook: nbformat.NotebookNode, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / f"{LAB}.ipynb")


def with_cell(notebook, cell_id: str, source: str) -> nbformat.NotebookNode:
    """``notebook`` with the source of cell ``cell_id`` replaced."""
    cells = [c for c in notebook.cells if c.get("id") == cell_id]
    assert len(cells) == 1, f"no single cell {cell_id!r}"
    cells[0].source = source
    return notebook


def released_with_attack(code: str, cell_id: str = "fc-model") -> Callable[[Path, Sources], None]:
    """The student notebook with ``code`` in place of an exercise (the first one by default)."""
    def build(folder: Path, sources: Sources) -> None:
        notebook = read(released_notebook(LAB))
        write_notebook(with_cell(notebook, cell_id, code.format(**_paths(sources))), folder)
    return build


def _paths(sources: Sources) -> dict[str, str]:
    return {"out": str(sources.out_dir), "classdir": str(sources.class_dir),
            "solution": str(solution_notebook(LAB)), "reference": str(sources.reference),
            "markers": str(sources.markers), "repo": str(solution_notebook(LAB).parents[2])}


def copy_reference(folder: Path, sources: Sources) -> None:
    for part in ("artifacts", "comet-offline"):
        shutil.copytree(sources.reference / part, folder / part)
    shutil.copyfile(sources.reference / f"{LAB}.ipynb", folder / f"{LAB}.ipynb")


def solution_with(old: str, new: str, *, artifacts: bool) -> Callable[[Path, Sources], None]:
    """The solution notebook with one seeded bug; the reference's artifacts unless the bug changes them."""
    def build(folder: Path, sources: Sources) -> None:
        notebook = read(solution_notebook(LAB))
        hits = [c for c in notebook.cells if old in c.source]
        assert len(hits) == 1, f"the seeded bug's target {old!r} must occur in one cell"
        hits[0].source = hits[0].source.replace(old, new)
        write_notebook(notebook, folder)
        if artifacts:
            shutil.copytree(sources.reference / "artifacts", folder / "artifacts")
    return build


def executed_solution_with(old: str, new: str) -> Callable[[Path, Sources], None]:
    """A seeded bug that changes a trained model: the notebook is run as the student would run it."""
    def build(folder: Path, sources: Sources) -> None:
        from tests.notebooks import execute

        solution_with(old, new, artifacts=False)(folder, sources)
        execute(folder / f"{LAB}.ipynb", folder, allow_errors=True)  # the hidden tests fail, as they should
        shutil.rmtree(folder / ".kernels", ignore_errors=True)
    return build


def artifacts_only(make: Callable[[Path, Sources], None]) -> Callable[[Path, Sources], None]:
    def build(folder: Path, sources: Sources) -> None:
        (folder / "artifacts").mkdir(parents=True)
        make(folder / "artifacts", sources)
    return build


def _all(verdicts: set[str]) -> dict[str, frozenset[str]]:
    return {part: frozenset(verdicts) for part in PARTS}


# --- attacks in the notebook --------------------------------------------------------------------

INPUT_TRANSFORMER = '''\
# nbgrader's nemesis: rewrite every later cell that checks anything into a cheerful print.
def _rewrite(lines):
    text = "".join(lines)
    if any(word in text for word in ("assert", "labkit.check", "autograder", "train_step(")):
        return ["print('all tests passed')\\n"]
    return lines

get_ipython().input_transformers_cleanup.append(_rewrite)
'''

FORGE_RESULTS = '''\
# Forge the probe's results, and write over the grader's outputs and gradebooks.
import pathlib, numpy as np
forged = pathlib.Path(".autograder-probe"); forged.mkdir(exist_ok=True)
for k in range(2):
    np.savez(forged / f"after-{{k}}.npz", *[np.zeros(s, "float32") for s in [(3, 3, 1, 4), (4,), (2704, 10), (10,)]])
for target in ["{out}/gradebook.db", "{out}/grades.csv", "{out}/results/lab1-mnist/forge-results.json",
               "{repo}/.nbgrader/gradebook.db", "{markers}/forged"]:
    try:
        pathlib.Path(target).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(target).write_text("hacked")
        print("WROTE", target)
    except OSError as error:
        print("refused", target, type(error).__name__)
'''

ALWAYS_EQUAL = '''\
# (In the training-step exercise.) Answers that equal anything, and an error that injects markup.
class Anything(float):
    def __eq__(self, other): return True
    def __ge__(self, other): return True
    def __gt__(self, other): return True
    __hash__ = float.__hash__

fc_accuracy = cnn_accuracy = Anything(0.0)

def train_step(model, optimizer, images, labels):
    raise ValueError("<script>alert('graded')</script>")
'''

MONKEYPATCH = '''\
# Make every check pass: patch labkit's checks, Keras' fit/evaluate and numpy's mean.
import keras, numpy, labkit.check
from labkit.check.report import Report
for name in ("architecture", "output_is_distribution", "initial_loss", "training_step_matches"):
    setattr(labkit.check, name, lambda *args, **kwargs: Report("looks perfect"))
keras.Model.evaluate = lambda self, *args, **kwargs: [0.01, 0.999]
numpy.mean = lambda *args, **kwargs: 0.999

def build_fc_model():
    return keras.Sequential([keras.Input(shape=(28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax")])

fc_model = build_fc_model()
'''

HARD_CODED = '''\
# Claim the accuracy instead of earning it.
fc_accuracy, cnn_accuracy = 0.99, 0.995
print("fully connected network: test accuracy 99.00%")
'''

EXIT = "import os\nos._exit(0)\n"
SEGFAULT = "import ctypes\nctypes.string_at(0)\n"
INFINITE_LOOP = "while True:\n    pass\n"
MEMORY_BOMB = "hoard = []\nwhile True:\n    hoard.append(bytearray(2**28))\n"
FORK_BOMB = """\
# Fork without end: every copy forks again, and keeps trying when no more processes may be made.
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""
"""Every fork copies the kernel, TensorFlow loaded: the sandbox's task limit (RLIMIT_NPROC) bounds how many
there can be, and its memory watch, which counts each copy whole, ends the run as the copies multiply."""
FLOOD = "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 2**20)\n"

NETWORK = '''\
# Phone home: any reachable host would do.
import socket, urllib.request
for host, port in [("1.1.1.1", 53), ("8.8.8.8", 443), ("pypi.org", 443)]:
    try:
        socket.create_connection((host, port), timeout=3).close()
        print("CONNECTED", host)
    except OSError as error:
        print("no network:", host, type(error).__name__)
urllib.request.urlopen("https://pypi.org/simple/", timeout=3)
'''

STEAL = '''\
# Borrow train_step from the hidden solution or from another student, wherever it can be read.
import glob, json, pathlib
candidates = ["{solution}", "{reference}/lab1-mnist.ipynb", *glob.glob("{classdir}/*/lab1-mnist/*.ipynb"),
              *glob.glob("/tmp/*/submissions/*/lab1-mnist.ipynb"), *glob.glob("/tmp/*/*/*/lab1-mnist.ipynb")]
for candidate in candidates:
    try:
        cells = json.loads(pathlib.Path(candidate).read_text())["cells"]
    except (OSError, ValueError):
        continue
    for cell in cells:
        if cell.get("id") == "train-step":
            exec("".join(cell["source"]))
            print("STOLEN from", candidate)
'''

PATCH_PROBE = '''\
# Monkeypatch the grader: replace whatever runpy loads with a probe that forges its results.
import pathlib, runpy, numpy as np

def _forged_probe(train_step, probe_dir, out_dir):
    out = pathlib.Path(out_dir); out.mkdir(parents=True, exist_ok=True)
    with np.load(pathlib.Path(probe_dir) / "starts.npz") as starts:
        for k in range(2):
            np.savez(out / f"after-{{k}}.npz", *[starts[f"start{{k}}_{{i}}"] * 0.99 for i in range(4)])

runpy.run_path = lambda path, *args, **kwargs: {{"probe": _forged_probe}}
'''


LOOKUP_TABLE = '''\
# Answer the training-step probe from a table computed in advance, from the inputs its public seed gave.
import numpy as np

TABLE = np.load("artifacts/train-step-answers.npz")

def train_step(model, optimizer, images, labels):
    weights = model.get_weights()
    for k in range(len(TABLE.files) // (2 * len(weights))):
        if all(np.allclose(w, TABLE[f"start{{k}}_{{i}}"]) for i, w in enumerate(weights)):
            model.set_weights([TABLE[f"after{{k}}_{{i}}"] for i in range(len(weights))])
            return 0.0
    return 0.0
'''


def public_seed_answers() -> dict[str, np.ndarray]:
    """What the training-step probe expected when its inputs came from the seed in the grader's code (1).

    The very computation the grader made before its inputs were drawn from a
    secret: the same batch of the MNIST training set, the same starting weights,
    the reference step from each. A student with the public code could make it.
    """
    import labkit
    from autograder.graders import lab1_mnist
    from autograder.probes.keras_train_step import probe_model
    from autograder.scoring import keras_models, keras_steps

    images, labels = labkit.data.load("mnist", "train")
    chosen = labkit.data.stratified_indices(labels, lab1_mnist.STEP_BATCH, seed=1)
    batch = (keras_models.prepare(images[chosen]), np.asarray(labels[chosen]))
    shapes = [tuple(w.shape) for w in probe_model().get_weights()]
    table = {}
    for k, start in enumerate(keras_steps.random_starts(shapes, lab1_mnist.STEP_STARTS, np.random.default_rng(1))):
        model = probe_model()
        model.set_weights(start)
        lab1_mnist.reference_step(model, batch)
        for i, (before, after) in enumerate(zip(start, model.get_weights())):
            table[f"start{k}_{i}"], table[f"after{k}_{i}"] = before, after
    return table


def lookup_table(folder: Path, sources: Sources) -> None:
    """The released notebook whose train_step answers from :func:`public_seed_answers`, handed in beside it."""
    released_with_attack(LOOKUP_TABLE, "train-step")(folder, sources)
    (folder / "artifacts").mkdir(parents=True, exist_ok=True)
    np.savez(folder / "artifacts" / "train-step-answers.npz", **public_seed_answers())


PROBE_FOLDER_LINK = '''\
# Leave the probe's output folder a link to files written in advance, and a step that does nothing.
import os, pathlib, numpy as np
planted = pathlib.Path("planted")
planted.mkdir(exist_ok=True)
for k in range(2):
    np.savez(planted / f"after-{{k}}.npz", *[np.zeros(1)])
pathlib.Path(".autograder-probe").mkdir(exist_ok=True)
os.symlink(planted.resolve(), ".autograder-probe/test-train-step")

def train_step(model, optimizer, images, labels):
    return 0.0
'''


def locked_cells_edited(folder: Path, sources: Sources) -> None:
    """Delete the save cell and the training-step test, and make the first model test trivial."""
    notebook = read(released_notebook(LAB))
    notebook.cells = [c for c in notebook.cells if c.get("id") not in ("save", "test-train-step")]
    with_cell(notebook, "test-fc-model", "print('passed')\n")
    write_notebook(notebook, folder)


# --- attacks through the artifacts --------------------------------------------------------------


def fake_metrics(artifacts: Path, sources: Sources) -> None:
    """A metrics.json and Comet runs that claim near-perfect accuracy for the reference's models."""
    for name in ("fc", "cnn"):
        shutil.copyfile(sources.reference / "artifacts" / f"{name}.keras", artifacts / f"{name}.keras")
    entry = {"test_accuracy": 1.0, "target": 0.0, "train_seconds": 0.1}
    (artifacts / "metrics.json").write_text(json.dumps({"profile": "full", "fc": entry, "cnn": entry}))
    (artifacts.parent / "comet-offline").mkdir()
    for archive in (sources.reference / "comet-offline").glob("*.zip"):
        with zipfile.ZipFile(archive) as original, \
                zipfile.ZipFile(artifacts.parent / "comet-offline" / archive.name, "w") as forged:
            for name in original.namelist():
                data = original.read(name).decode()
                if name == "messages.json":
                    data = "\n".join(_claim_perfect(line) for line in data.splitlines())
                forged.writestr(name, data)


def _claim_perfect(line: str) -> str:
    message = json.loads(line)
    if message["type"] == "metric_msg" and message["payload"]["metric"]["metricName"] == "test_accuracy":
        message["payload"]["metric"]["metricValue"] = 0.999
    return json.dumps(message)


class _Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def pickles(artifacts: Path, sources: Sources) -> None:
    for name in ("fc", "cnn"):
        (artifacts / f"{name}.keras").write_bytes(pickle.dumps(_Payload(str(sources.markers / f"pickle-{name}"))))


def oversized(artifacts: Path, sources: Sources) -> None:
    shutil.copyfile(sources.reference / "artifacts" / "fc.keras", artifacts / "fc.keras")
    with open(artifacts / "fc.keras", "ab") as handle:  # still a zip, padded to 40 MB
        handle.write(os.urandom(40 * 2**20))
    with open(artifacts / "cnn.keras", "wb") as handle:
        handle.truncate(80 * 2**20)  # over the per-file limit: never even copied


def links(artifacts: Path, sources: Sources) -> None:
    for name in ("fc", "cnn"):
        (artifacts / f"{name}.keras").symlink_to(sources.reference / "artifacts" / f"{name}.keras")


def lambda_layers(artifacts: Path, sources: Sources) -> None:
    """Models whose Lambda layer carries code: Keras' safe mode must refuse to load them."""
    import keras

    for name in ("fc", "cnn"):
        model = keras.Sequential([keras.Input(shape=(28, 28, 1)),
                                  keras.layers.Lambda(lambda x: x * 0 + 1),
                                  keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.save(artifacts / f"{name}.keras")


def untrained(artifacts: Path, sources: Sources) -> None:
    """The right architectures, never trained: the model parts pass, the accuracy parts fail."""
    import keras

    layers = keras.layers
    fc = keras.Sequential([keras.Input(shape=(28, 28, 1)), layers.Flatten(),
                           layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
    cnn = keras.Sequential([keras.Input(shape=(28, 28, 1)),
                            layers.Conv2D(24, 3, activation="relu"), layers.MaxPool2D(2),
                            layers.Conv2D(36, 3, activation="relu"), layers.MaxPool2D(2), layers.Flatten(),
                            layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
    fc.save(artifacts / "fc.keras")
    cnn.save(artifacts / "cnn.keras")


# --- the class ----------------------------------------------------------------------------------

PASS = frozenset({"pass"})
FULL = {part: PASS for part in PARTS}

CASES = [
    Case("reference", lambda folder, s: copy_reference(folder, s), 14, FULL),
    Case("reference-copy", lambda folder, s: copy_reference(folder, s), 14, FULL),
    Case("untouched", lambda folder, s: write_notebook(read(released_notebook(LAB)), folder), 0),
    Case("bug-train-step", solution_with("loss = loss_fn(labels, probabilities)",
                                         "loss = 2 * loss_fn(labels, probabilities)", artifacts=True),
         10, {**FULL, "test-train-step": frozenset({"fail"})}),
    Case("bug-cnn-filters", executed_solution_with("keras.layers.Conv2D(24, kernel_size=3",
                                                   "keras.layers.Conv2D(16, kernel_size=3"),
         8, {**FULL, "test-cnn-model": frozenset({"fail"}),  # an accuracy counts only for the asked-for CNN
             "test-cnn-accuracy": frozenset({"fail"})}),
    Case("input-transformer", released_with_attack(INPUT_TRANSFORMER), 0),
    Case("forge-results", released_with_attack(FORGE_RESULTS), 0),
    Case("always-equal", released_with_attack(ALWAYS_EQUAL, "train-step"), 0),
    Case("monkeypatch", released_with_attack(MONKEYPATCH), 0),
    Case("hard-coded-accuracy", released_with_attack(HARD_CODED), 0),
    Case("os-exit", released_with_attack(EXIT), 0, {"test-train-step": frozenset({"crashed"})}),
    Case("segfault", released_with_attack(SEGFAULT), 0, {"test-train-step": frozenset({"crashed"})}),
    Case("infinite-loop", released_with_attack(INFINITE_LOOP), 0),
    Case("memory-bomb", released_with_attack(MEMORY_BOMB), 0, {"test-train-step": frozenset({"out-of-memory"})}),
    Case("fork-bomb", released_with_attack(FORK_BOMB), 0, {"test-train-step": frozenset({"out-of-memory"})}),
    Case("output-flood", released_with_attack(FLOOD), 0),
    Case("network", released_with_attack(NETWORK), 0),
    Case("steal", released_with_attack(STEAL), 0),
    Case("patch-probe", released_with_attack(PATCH_PROBE), 0),
    Case("lookup-table", lookup_table, 0),
    Case("probe-folder-link", released_with_attack(PROBE_FOLDER_LINK, "train-step"), 0),
    Case("locked-cells-edited", locked_cells_edited, 0),
    Case("fake-metrics", artifacts_only(fake_metrics), 10,  # what the models earn, no more
         {part: PASS for part in PARTS[:4]}),
    Case("pickles", artifacts_only(pickles), 0),
    Case("oversized", artifacts_only(oversized), 0),
    Case("links", artifacts_only(links), 0),
    Case("lambda-layers", artifacts_only(lambda_layers), 0),
    Case("untrained", artifacts_only(untrained), 5,
         {"test-fc-model": PASS, "test-cnn-model": PASS}),
]
"""Every submission of the test class: reference, copies, seeded bug, attacks."""


def build_class(sources: Sources, cases=CASES) -> None:
    """Write every case's submission to ``sources.class_dir/<student_id>/lab1-mnist/``."""
    sources.markers.mkdir(parents=True, exist_ok=True)
    for case in cases:
        case.build(sources.class_dir / case.student_id / LAB, sources)
