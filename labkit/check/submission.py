"""A student's check before hand-in: what the grader will find, known in seconds, with no secret.

>>> labkit.check_submission("lab1-mnist.ipynb")        # the last cell of every lab
$ labkit check-submission work/lab1-mnist/lab1-mnist.ipynb

One line per check, ✓ or ✗ with what to do:

* the notebook reads, and is small enough for the grader to run;
* ``artifacts/metrics.json`` and every graded model file (:func:`labkit.handin.model_files`) are
  there, within the grader's size limit, and load: Keras files in safe mode, lab 5's safetensors
  into the network ``metrics.json`` describes (when the framework is installed; a structural check
  of the file otherwise); a comparing lab's table (lab 5's ``comparison.json``) has a row for every
  network, and each compared network's file loads into the network of its row's width;
* they come from the notebook's last run: ``metrics.json``'s run id is the one the save cell
  printed in the notebook file, each model file is the one that run saved (sha256), no cell above
  the save cell ran after it, and the code of each exercise is what the kernel ran before saving;
* the models were trained in the profile the grader's targets are for (``full``), and the
  accuracies ``metrics.json`` records reach those targets;
* the folder fits the grader's limits on a submission (:data:`labkit.handin.LIMITS`);
* a student id is set, and the runs in ``comet-offline/`` carry it.

Nothing here is a grade: the grader measures everything again, in its sandbox. The check only
says, before it is too late, what would cost points for reasons other than the work itself.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import stat
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from labkit import handin
from labkit.check.display import Message, ShownAsMessage

PASS, FAIL = "✓", "✗"


@dataclass(frozen=True)
class Line:
    """One check: passed or not, and what it found (with what to do when it failed)."""

    passed: bool
    text: str

    def __str__(self) -> str:
        return f"{PASS if self.passed else FAIL} {self.text}"


@dataclass(frozen=True)
class SubmissionReport(ShownAsMessage):
    """Every check of a lab folder, truthy when all passed; shows itself as a cell's result."""

    notebook: Path
    lines: tuple[Line, ...]
    # IPython prefers the __repr__ a dataclass writes into the class to a base's _repr_pretty_.
    _repr_pretty_ = ShownAsMessage._repr_pretty_

    @property
    def passed(self) -> bool:
        return all(line.passed for line in self.lines)

    @property
    def failed(self) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if not line.passed)

    def message(self) -> Message:
        if self.passed:
            title, body = "Ready to hand in", f"Hand in the whole folder {self.notebook.parent.name}/."
        else:
            title = f"Not ready to hand in: {len(self.failed)} of {len(self.lines)} checks failed"
            body = "Fix what each ✗ says, then run this check again."
        return Message("success" if self.passed else "failure", title, body=body,
                       items=tuple(str(line) for line in self.lines))


def check_submission(notebook: str | os.PathLike | None = None, *, profile: str = "full",
                     load: bool = True) -> SubmissionReport:
    """Check the lab folder of ``notebook`` as the grader will read it; never raises for what it finds.

    Parameters
    ----------
    notebook : path, optional
        The lab's notebook; by default the one Jupyter says is running, else the only lab notebook
        in the current folder.
    profile : {"full", "quick"}
        The profile whose targets the grader applies (``autograder grade --profile``; ``full``
        unless the instructor said otherwise).
    load : bool
        Load each model with its framework, when installed (a few seconds); False checks the
        files' structure only.
    """
    from labkit.profiles import PROFILES

    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is not a profile; use one of {', '.join(PROFILES)}.")
    path = _notebook_path(notebook)
    return SubmissionReport(path, tuple(_checks(path, profile, load)))


# --- the checks, in the order a student fixes them ----------------------------------------------------


def _checks(path: Path, profile: str, load: bool) -> list[Line]:
    lab = _lab_of(path)
    if lab is None:
        return [Line(False, f"{path.name} is not one of the labs ({', '.join(handin.MODEL_FORMATS)}): check the "
                            "notebook of the lab you hand in, under its own name, in its own folder.")]
    lines: list[Line] = []
    notebook, line = _read_notebook(path)
    lines.append(line)
    folder = path.parent
    metrics, line = _read_metrics(folder / handin.ARTIFACTS / handin.METRICS)
    lines.append(line)
    run = metrics.get(handin.RUN_KEY) if isinstance(metrics, dict) else None
    run = run if isinstance(run, dict) else None
    if metrics is not None and run is None:
        lines.append(Line(False, "artifacts/metrics.json has no run record: an older save cell wrote it. Run the "
                                 "notebook to its end (the save cell stamps each run), then save the notebook."))
    if metrics is not None:
        lines.append(_profile_line(lab, metrics, profile))
        if str(metrics.get("profile")) == profile:
            lines.append(_accuracy_line(lab, metrics, profile))
    for model, name in handin.model_files(lab).items():
        lines.append(_model_line(folder / handin.ARTIFACTS / name, lab, model, metrics or {}, run, load))
    lines += _comparison_lines(folder, lab, metrics or {}, run, load)
    if notebook is not None and metrics is not None and run is not None:
        lines += _run_lines(path, notebook, run)
    lines.append(_size_line(folder, lab))
    lines.append(_student_line(folder))
    return lines


def _notebook_path(notebook: str | os.PathLike | None) -> Path:
    if notebook is not None:
        return Path(notebook).expanduser().resolve()
    session = os.environ.get("JPY_SESSION_NAME", "")  # the notebook Jupyter started this kernel for
    if session.endswith(".ipynb") and Path(session).is_file():
        return Path(session).resolve()
    here = sorted(Path.cwd().glob("*.ipynb"))
    labs = [candidate for candidate in here if candidate.stem in handin.MODEL_FORMATS]
    chosen = labs or here
    return (chosen[0] if len(chosen) == 1 else Path.cwd() / "<lab>.ipynb").resolve()


def _lab_of(path: Path) -> str | None:
    for name in (path.stem, path.parent.name):
        if name in handin.MODEL_FORMATS:
            return name
    return None


def _read_notebook(path: Path) -> tuple[dict | None, Line]:
    try:
        size = path.stat().st_size
    except OSError:
        return None, Line(False, f"{path.name} is not in {path.parent}: pass the notebook you hand in "
                                 f"(labkit check-submission {path.parent.name}/{path.name}).")
    if size > handin.MAX_NOTEBOOK_BYTES:
        return None, Line(False, f"{path.name} is {_size(size)}, more than the {_size(handin.MAX_NOTEBOOK_BYTES)} "
                                 "the grader runs: clear the largest outputs (Edit > Clear Outputs of a cell "
                                 "with many images), run the save cell again and save.")
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
            raise ValueError("no cells")
    except (OSError, ValueError) as error:
        return None, Line(False, f"{path.name} is not a readable notebook ({error}): save it again from Jupyter.")
    return notebook, Line(True, f"{path.name} reads ({_size(size)}, under the "
                                f"{_size(handin.MAX_NOTEBOOK_BYTES)} the grader runs)")


def _read_metrics(path: Path) -> tuple[dict | None, Line]:
    where = f"{handin.ARTIFACTS}/{handin.METRICS}"
    try:
        info = os.lstat(path)
    except OSError:
        return None, Line(False, f"{where} is missing: run the notebook to its end; its save cell writes it.")
    if not stat.S_ISREG(info.st_mode):
        return None, Line(False, f"{where} is a link or not a file: let the save cell write it.")
    if info.st_size > handin.MAX_METRICS_BYTES:
        return None, Line(False, f"{where} is {_size(info.st_size)}, more than the grader reads: run the save cell.")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(metrics, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        return None, Line(False, f"{where} is not readable JSON ({str(error)[:100]}): run the save cell again.")
    return metrics, Line(True, f"{where} reads")


def _profile_line(lab: str, metrics: dict, profile: str) -> Line:
    trained = str(metrics.get("profile", "unknown"))
    if trained == profile:
        return Line(True, f"trained in the {profile} profile, the one the grader's targets are for")
    from labkit.targets import TARGETS, target

    details = []
    for model in TARGETS[lab]:
        wanted = target(lab, model, profile)
        reached = _accuracy(metrics, model)
        details.append(f"{model} {wanted:.1%}" + (f" (yours: {reached:.1%})" if reached is not None else ""))
    return Line(False, f"trained in the {trained} profile, but the grader measures your saved models against the "
                       f"{profile} profile's targets: {', '.join(details)}. Models trained in the {trained} "
                       "profile most likely miss them and lose those points. Run the whole notebook again "
                       f"with LABKIT_PROFILE unset (or ={profile}), and save.")


def _accuracy_line(lab: str, metrics: dict, profile: str) -> Line:
    from labkit.targets import TARGETS, target

    shown, below = [], []
    for model in TARGETS[lab]:
        wanted, reached = target(lab, model, profile), _accuracy(metrics, model)
        if reached is None:
            below.append(model)
            shown.append(f"{model} not recorded (target {wanted:.1%})")
            continue
        shown.append(f"{model} {reached:.2%} (target {wanted:.1%})")
        if reached < wanted:
            below.append(model)
    if below:
        return Line(False, f"metrics.json records {', '.join(shown)}: the grader measures each model itself, and "
                           f"{', '.join(below)} would get no accuracy points. Improve and retrain before handing in.")
    return Line(True, f"metrics.json records {', '.join(shown)}; the grader measures each model again itself")


def _accuracy(metrics: dict, model: str) -> float | None:
    record = metrics.get(model)
    value = record.get("test_accuracy") if isinstance(record, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


# --- model files -----------------------------------------------------------------------------------------


def _model_line(path: Path, lab: str, model: str, metrics: dict, run: dict | None, load: bool) -> Line:
    where = f"{handin.ARTIFACTS}/{path.name}"
    try:
        info = os.lstat(path)
    except OSError:
        return Line(False, f"{where} is missing: train the {model} model, run the save cell, and hand in artifacts/.")
    if not stat.S_ISREG(info.st_mode):
        return Line(False, f"{where} is a link or not a file: let the save cell write it.")
    if info.st_size > handin.MAX_MODEL_BYTES:
        return Line(False, f"{where} is {_size(info.st_size)}, more than the {_size(handin.MAX_MODEL_BYTES)} the "
                           "grader loads: keep the model as the exercise describes it.")
    try:
        what = _load(path, lab, model, metrics, load)
    except Exception as error:  # noqa: BLE001 - any refusal of the file is the finding
        return Line(False, f"{where} {_first_line(error)}: run the save cell again after training.")
    if run is not None:
        recorded = (run.get("files") or {}).get(path.name) if isinstance(run.get("files"), dict) else None
        if recorded is None:
            return Line(False, f"{where} {what}, but the run that wrote metrics.json did not save it: run the save "
                               "cell again.")
        if recorded != handin.file_hash(path):
            return Line(False, f"{where} {what}, but it is not the file the save cell of run {run.get('id')} wrote "
                               "(changed or copied since): run the save cell again.")
        what += ", as saved by this run"
    return Line(True, f"{where} {what}")


def _comparison_lines(folder: Path, lab: str, metrics: dict, run: dict | None, load: bool) -> list[Line]:
    """A comparing lab's table, and each compared network's weights as the grader rebuilds them from its row."""
    if lab not in handin.COMPARISON_TABLES:
        return []
    where = f"{handin.ARTIFACTS}/{handin.COMPARISON_TABLES[lab]}"
    try:
        table = json.loads((folder / where).read_text(encoding="utf-8"))
        rows = {row["network"]: row for row in table["rows"] if isinstance(row, dict)}
    except FileNotFoundError:
        return [Line(False, f"{where} is missing: run the comparison and the save cell.")]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return [Line(False, f"{where} is not the table the save cell writes ({_first_line(error)}): run the "
                            "save cell again.")]
    missing = [network for network in handin.compared_files(lab) if network not in rows]
    lines = [Line(not missing, f"{where} has a row for each compared network" if not missing else
                  f"{where} has no row for {', '.join(missing)}: run the comparison and the save cell again.")]
    # The compared networks classify what the lab's first model does (EMNIST ByClass's 62 classes in lab 5).
    first = metrics.get(next(iter(handin.model_files(lab))))
    classes = first.get("num_classes") if isinstance(first, dict) else None
    for network, name in handin.compared_files(lab).items():
        if network in rows:
            record = {network: {"architecture": network, "num_classes": classes,
                                "width": rows[network].get("width"), "options": {}}}
            lines.append(_model_line(folder / handin.ARTIFACTS / name, lab, network, record, run, load))
    return lines


def _load(path: Path, lab: str, model: str, metrics: dict, load: bool) -> str:
    """What the file is ("loads in ..."), or an exception that says what is wrong with it."""
    if handin.MODEL_FORMATS[lab] == ".keras":
        return _keras(path, load)
    return _safetensors(path, model, metrics, load)


def _keras(path: Path, load: bool) -> str:
    if not zipfile.is_zipfile(path):
        raise ValueError("is not a Keras model file (a .keras file is a zip archive; save with model.save(...))")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if "config.json" not in names or not any(name.endswith(".weights.h5") for name in names):
            raise ValueError("is a zip archive without a Keras model's config.json and weights")
        if archive.testzip() is not None:
            raise ValueError("is a damaged zip archive")
    if not load or not _installed("keras"):
        return "is a Keras model archive (not loaded: " + ("Keras is not installed here)" if load else "asked not to)")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    try:
        loaded = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # noqa: BLE001
        raise ValueError(f"does not load in Keras' safe mode, as the grader loads it: {_first_line(error)}") from None
    return f"loads in Keras' safe mode ({loaded.count_params():,} parameters)"


def _safetensors(path: Path, model: str, metrics: dict, load: bool) -> str:
    tensors = _safetensors_header(path)
    parameters = sum(math.prod(entry["shape"]) for entry in tensors.values())
    if not load or not (_installed("torch") and _installed("safetensors")):
        reason = "PyTorch is not installed here" if load else "asked not to"
        return f"holds {len(tensors)} tensor(s) ({parameters:,} values; not loaded: {reason})"
    record = metrics.get(model)
    try:
        architecture, classes, width = record["architecture"], record["num_classes"], record["width"]
        options = dict(record.get("options", {}))
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"cannot be rebuilt: metrics.json has no {model!r} record with its architecture, "
                         "num_classes and width (the save cell writes them)") from None
    from labkit import models

    network = models.build(architecture, num_classes=classes, width=width, **options)
    try:
        models.load_state(network, path)
    except ValueError as error:
        raise ValueError(f"does not fit the network the save cell recorded ({architecture}, width {width}), as the "
                         f"grader will rebuild it: {_first_line(error)[:300]}") from None
    return f"loads strictly into models.build({architecture!r}, width={width}) ({parameters:,} values)"


def _safetensors_header(path: Path) -> dict:
    """The tensors a safetensors file declares, once its header is readable and fits the file exactly."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 0 < length <= min(size - 8, 2**26):
            raise ValueError("is not a safetensors file (no readable header): save it with models.save_state")
        try:
            header = json.loads(handle.read(length))
        except ValueError:
            raise ValueError("is not a safetensors file (its header is not JSON)") from None
    tensors = {name: entry for name, entry in header.items() if name != "__metadata__"} \
        if isinstance(header, dict) else {}
    try:
        end = max((int(entry["data_offsets"][1]) for entry in tensors.values()), default=0)
        [list(entry["shape"]) for entry in tensors.values()]
    except (KeyError, TypeError, ValueError, IndexError):
        raise ValueError("is a damaged safetensors file (its header does not describe its tensors)") from None
    if not tensors or 8 + length + end != size:
        raise ValueError("is a damaged or truncated safetensors file (its tensors do not fill it as its header says)")
    return tensors


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


# --- from the notebook's last run -------------------------------------------------------------------------


def _run_lines(path: Path, notebook: dict, run: dict) -> list[Line]:
    cells = [cell for cell in notebook["cells"] if isinstance(cell, dict)]
    saved_at = str(run.get("saved_at", "?"))[:25].replace("T", " ").replace("+00:00", " UTC")
    run_id = str(run.get("id"))
    shown = [(index, found) for index, cell in enumerate(cells) if cell.get("cell_type") == "code"
             for found in [_shown_run(cell)] if found]
    metrics_file = path.parent / handin.ARTIFACTS / handin.METRICS
    saved_before = path.stat().st_mtime < metrics_file.stat().st_mtime  # the file on disk predates the save cell
    if not shown:
        return [Line(False, f"{path.name} shows no save cell output, so nothing ties artifacts/ to this notebook: "
                            + ("save the notebook (Ctrl+S) and check again." if saved_before else
                               "run the notebook to its end, then save it (Ctrl+S) and check again."))]
    save_index, shown_id = shown[-1]
    if shown_id != run_id:
        if saved_before:
            return [Line(False, f"artifacts/ are from run {run_id} (saved {saved_at}), but the notebook file still "
                                f"shows run {shown_id}: save the notebook (Ctrl+S) and check again.")]
        return [Line(False, f"artifacts/ are from run {run_id} (saved {saved_at}), not from run {shown_id}, the one "
                            f"{path.name} shows: run the notebook to its end again and save it, so that the two "
                            "match.")]
    lines = [Line(True, f"artifacts/ come from the run this notebook shows (run {run_id}, saved {saved_at})")]
    save = cells[save_index]
    count = save.get("execution_count")
    later = [index for index, cell in enumerate(cells[:save_index]) if cell.get("cell_type") == "code"
             and isinstance(cell.get("execution_count"), int) and isinstance(count, int)
             and cell["execution_count"] > count]
    if later:
        lines.append(Line(False, f"{len(later)} cell(s) above the save cell ran after it ({_cells(cells, later)}): the "
                                 "saved models may not be the ones the notebook shows. Run the save cell again, "
                                 "then save the notebook."))
    recorded = run.get("cells")
    if isinstance(recorded, list):
        ran = set(map(str, recorded))
        marked = any(isinstance((cell.get("metadata") or {}).get("nbgrader"), dict) for cell in cells)
        exercises = [index for index, cell in enumerate(cells[:save_index]) if cell.get("cell_type") == "code"
                     and _is_exercise(cell, marked)]
        changed = [index for index in exercises if handin.cell_hash(_source(cells[index])) not in ran]
        if changed:
            lines.append(Line(False, f"the code of {_cells(cells, changed)} is not what ran before the save cell "
                                     "(edited since, or never run): run the notebook from the top again, then save."))
        else:
            lines.append(Line(True, f"the code of each exercise ({len(exercises)}) is what ran before the save cell"))
    return lines


def _shown_run(cell: dict) -> str | None:
    """The run id a save cell's output names, or None."""
    for output in cell.get("outputs") or []:
        text = output.get("text", "") if isinstance(output, dict) else ""
        text = "".join(text) if isinstance(text, list) else str(text)
        found = text.rfind(handin.RUN_MARKER)
        words = text[found + len(handin.RUN_MARKER):].split(maxsplit=1) if found >= 0 else []
        if words:
            return words[0]
    return None


def _is_exercise(cell: dict, marked: bool) -> bool:
    """An answer cell (nbgrader's ``solution``); in a notebook without nbgrader's marks, every cell that ran."""
    if marked:
        nbgrader = (cell.get("metadata") or {}).get("nbgrader")
        return isinstance(nbgrader, dict) and bool(nbgrader.get("solution"))
    return cell.get("execution_count") is not None


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _cells(cells: Sequence[dict], indices: Sequence[int]) -> str:
    names = [f"'{cells[i].get('id')}'" if cells[i].get("id") else f"cell {i + 1}" for i in indices]
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


# --- the folder ------------------------------------------------------------------------------------------


def _size_line(folder: Path, lab: str) -> Line:
    taken, skipped, total = _walk(folder, handin.LIMITS)
    needed = set(handin.graded_files(lab))
    lost = [(path, why) for path, why in skipped
            if path in needed or path.startswith((f"{handin.ARTIFACTS}/", f"{handin.COMET_OFFLINE}/"))
            or path in (handin.ARTIFACTS, handin.COMET_OFFLINE)]
    if lost:
        listed = "; ".join(f"{path}: {why}" for path, why in lost[:3])
        return Line(False, f"the grader would leave out what it grades: {listed}. Keep artifacts/ and comet-offline/ "
                           "as the notebook writes them, and move large extra files out of the folder.")
    note = ""
    if skipped:
        note = (f"; left out of grading, but not needed: {', '.join(path for path, _ in skipped[:3])}"
                + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else "") + " (you may leave them out)")
    return Line(True, f"the folder fits the grader's limits ({taken:,} files, {_size(total)} of the "
                      f"{_size(handin.LIMITS.total_bytes)} it takes){note}")


def _walk(folder: Path, limits: handin.Limits) -> tuple[int, list[tuple[str, str]], int]:
    """As the grader walks a submission: (files taken, (path, why) of each left out, bytes taken)."""
    taken, skipped, total, looked_at = 0, [], 0, 0
    pending = [""]
    while pending:
        relative = pending.pop()
        try:
            with os.scandir(folder / relative if relative else folder) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as error:
            skipped.append((relative or ".", f"could not be read ({error.strerror})"))
            continue
        for entry in entries:
            looked_at += 1
            if looked_at > limits.entries:
                skipped.append((entry.name, f"beyond the first {limits.entries:,} files and folders"))
                return taken, skipped, total
            path = f"{relative}/{entry.name}" if relative else entry.name
            kind, size = handin.entry_kind(entry)
            reason = handin.left_out(path, kind, size, total, limits)
            if reason:
                skipped.append((path, reason))
            elif kind == "folder":
                pending.append(path)
            else:
                taken, total = taken + 1, total + size
    return taken, skipped, total



# --- the student ---------------------------------------------------------------------------------------


def _student_line(folder: Path) -> Line:
    from labkit import course

    try:
        student = course.student_id()
    except ValueError as error:
        return Line(False, str(error))
    if student is None:
        return Line(False, "no student id is set, so your Comet runs are not linked to your grade: run "
                           "`labkit course --student-id ID` once (ID: the name of your submission folder, e.g. "
                           "your login), then run the notebook again.")
    archives = sorted((folder / handin.COMET_OFFLINE).glob("*.zip"))
    logged = [_archive_student(path) for path in archives]
    others = [value for value in logged if (value or "").casefold() != student.casefold()]
    if others:
        seen = sorted({value or "none" for value in others})
        return Line(False, f"{len(others)} of the {len(archives)} runs in comet-offline/ carry another student id "
                           f"than yours, {student} ({', '.join(seen[:3])}): delete the runs that are not yours, "
                           "or run the notebook again.")
    carried = f", and the {len(archives)} run(s) in comet-offline/ carry it" if archives else ""
    return Line(True, f"your student id is {student}{carried}")


def _archive_student(path: Path) -> str | None:
    """The ``student_id`` parameter an offline Comet run logged, or None (also for an unreadable archive)."""
    try:
        if path.stat().st_size > 32 * 2**20:
            return None
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("messages.json")
            if info.file_size > 16 * 2**20:
                return None
            lines = archive.read(info).decode("utf-8").splitlines()
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    for line in lines:
        if '"student_id"' not in line:
            continue
        try:
            message = json.loads(line)
            param = message["payload"]["param"]
            if message["type"] == "parameter_msg" and param["paramName"] == "student_id":
                return str(param["paramValue"])
        except (ValueError, KeyError, TypeError):
            continue
    return None


# --- words ----------------------------------------------------------------------------------------------


def _size(count: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}".replace(".0 ", " ")
    return f"{count} bytes"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]
