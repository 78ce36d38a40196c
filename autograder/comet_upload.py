"""Uploading a class's Comet archives with comet_ml's own uploader, one archive at a time.

Grading keeps each submission's Comet offline archives in
``OUT/comet/<lab>/<student_id>/``: the archives as handed in (taken from the
private copy before any of the student's code ran), and only those the review
index can read (:mod:`autograder.comet_review`: regular zip files of a
plausible size holding an experiment and its messages).

An instructor with a Comet API key then uploads them. Each archive goes to
``comet upload ARCHIVE`` (comet_ml's command line, run by this Python) in a
subprocess of its own, with a time limit, so that a failure or a hang costs
that archive only. Each outcome is printed and recorded in
``OUT/comet-upload.csv``, rewritten atomically after every archive; a re-run
skips the archives recorded as uploaded, the same file with the same bytes.

The key is comet_ml's to find, in ``COMET_API_KEY`` or ``~/.comet.config``
(``comet login`` writes it); it is never an argument, so it never shows in a
process list or a shell history.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from autograder import comet_review
from autograder.submissions import STUDENT_ID
from labkit._files import replaced_atomically

KEPT_FOLDER = "comet"
"""``OUT/comet/<lab>/<student_id>/<archive>.zip``: the archives kept for upload."""

LOG_NAME = "comet-upload.csv"

COMET_UPLOAD = (sys.executable, "-m", "comet_ml.scripts.comet", "upload")
"""``comet upload``, run by this interpreter, so it is the comet_ml installed beside labkit."""

TIMEOUT_S = 300.0
"""How long one archive may take. Without a network, comet_ml gives up by itself after about 25 s."""

ARCHIVE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.zip$")
"""Names an archive may be kept under (comet_ml names them ``<experiment key>.zip``)."""

MAX_REASON_CHARS = 500

KEY_HINT = (
    "Set a Comet API key where comet_ml looks for it: `export COMET_API_KEY=...` in this shell, or run "
    "`comet login` once (it writes ~/.comet.config). A key is never given on the command line."
)
NO_KEY_MESSAGE = f"No Comet API key is set, so nothing was uploaded. {KEY_HINT} Then run this command again."


class NoApiKey(RuntimeError):
    """Uploading was asked for, and comet_ml finds no API key."""


@dataclass(frozen=True)
class Archive:
    """One kept archive of one student's run."""

    student_id: str
    path: Path
    sha256: str

    @property
    def label(self) -> str:
        return f"{self.student_id}/{self.path.name}"


@dataclass(frozen=True)
class Outcome:
    """What became of one archive: a row of ``comet-upload.csv``."""

    student_id: str
    lab: str
    archive: str
    sha256: str
    status: str  # "uploaded" or "failed"
    reason: str = ""
    seconds: float = 0.0


LOG_COLUMNS = [field.name for field in fields(Outcome)]


# --- keeping the archives, at grading time --------------------------------------------------------


def kept_root(out: Path, lab: str) -> Path:
    """Where grading keeps a lab's archives, one folder per student."""
    return Path(out) / KEPT_FOLDER / lab


def kept_folder(out: Path, lab: str, student_id: str) -> Path:
    return kept_root(out, lab) / student_id


def keep_archives(comet_offline: Path, destination: Path) -> tuple[str, ...]:
    """Keep the readable archives of ``comet_offline`` in ``destination``, replacing what was kept before.

    ``comet_offline`` is the ``comet-offline/`` of a submission's private copy,
    taken before anything ran in it. Archives the review index cannot read are
    left out, and so is anything kept by an earlier grading that the
    submission no longer holds. Returns the names kept.
    """
    readable = [run["archive"] for run in comet_review.read_runs(comet_offline)
                if not run.get("problem") and ARCHIVE_NAME.match(run["archive"])]
    if destination.is_dir():
        for old in destination.iterdir():
            if old.name not in readable:
                old.unlink()
    if not readable:
        shutil.rmtree(destination, ignore_errors=True)
        return ()
    destination.mkdir(parents=True, exist_ok=True)
    for name in readable:
        with open(comet_offline / name, "rb") as source, replaced_atomically(destination / name) as kept:
            shutil.copyfileobj(source, kept)
    return tuple(readable)


def find_archives(out: Path, lab: str) -> list[Archive]:
    """Every archive kept for ``lab`` in ``out``, by student, then name.

    Raises
    ------
    FileNotFoundError
        When ``lab`` was never graded into ``out``.
    """
    out = Path(out)
    if not (out / "results" / lab).is_dir():
        raise FileNotFoundError(
            f"{out} holds no grading of {lab} (no {out / 'results' / lab}); grade the lab first with "
            f"`python -m autograder grade {lab} SUBMISSIONS_DIR --out {out}`, which keeps the Comet archives."
        )
    root = kept_root(out, lab)
    if not root.is_dir():
        return []
    archives = []
    for student in sorted(root.iterdir()):
        if not student.is_dir() or student.is_symlink() or not STUDENT_ID.match(student.name):
            continue
        for path in sorted(student.glob("*.zip")):
            if path.is_file() and not path.is_symlink() and ARCHIVE_NAME.match(path.name):
                archives.append(Archive(student.name, path, _sha256(path)))
    return archives


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- uploading --------------------------------------------------------------------------------------


def has_api_key() -> bool:
    """Whether comet_ml finds an API key (``COMET_API_KEY`` or ``~/.comet.config``), as its uploader will."""
    from labkit.track import _comet

    return _comet.api_key() is not None


def upload(lab: str, out: Path, *, dry_run: bool = False, uploader: Sequence[str] = COMET_UPLOAD,
           timeout_s: float = TIMEOUT_S, report: Callable[[str], None] = print) -> list[Outcome]:
    """Upload every archive kept for ``lab`` in ``out`` that is not uploaded yet; record each outcome.

    Parameters
    ----------
    lab, out : str, path
        The lab, and the grading output folder (``python -m autograder grade ... --out OUT``).
    dry_run : bool
        Only report what would be uploaded; write nothing, start nothing, need no key.
    uploader : sequence of str
        The command an archive's path is appended to; comet_ml's ``comet upload`` by default.
        Any other command is a stand-in for tests, and it is handed the same environment.
    timeout_s : float
        The time one archive may take; then its upload is stopped and recorded as failed.
    report : callable
        Called with one line per archive as it ends.

    Returns
    -------
    list of Outcome
        One per archive tried in this call (empty in a dry run).

    Raises
    ------
    NoApiKey
        When comet_ml finds no API key (and this is not a dry run); nothing is uploaded.
    FileNotFoundError
        When ``lab`` was never graded into ``out``.
    """
    out = Path(out)
    log_path = out / LOG_NAME
    archives = find_archives(out, lab)
    rows = read_log(log_path)
    key = has_api_key()
    if not (key or dry_run):
        raise NoApiKey(NO_KEY_MESSAGE)
    if not archives:
        report(f"No Comet archives are kept for {lab} in {out}: no submission handed in a readable one.")
    pending = [archive for archive in archives if not _uploaded_before(rows, lab, archive)]
    for archive in archives:
        if archive not in pending:
            report(f"skipped   {archive.label}: uploaded before")
    if dry_run:
        for archive in pending:
            report(f"would upload {archive.label}")
        report(f"{len(pending)} archive(s) to upload, {len(archives) - len(pending)} uploaded before"
               + ("." if key else f"; no Comet API key is set yet. {KEY_HINT}"))
        return []
    outcomes = []
    for archive in pending:
        outcome = upload_one(archive, lab, uploader, timeout_s)
        outcomes.append(outcome)
        rows[(lab, archive.student_id, archive.path.name)] = asdict(outcome)
        write_log(log_path, rows)
        report(f"uploaded  {archive.label} ({outcome.seconds:.1f} s)" if outcome.status == "uploaded"
               else f"FAILED    {archive.label}: {outcome.reason}")
    return outcomes


def upload_one(archive: Archive, lab: str, uploader: Sequence[str], timeout_s: float) -> Outcome:
    """Run the uploader on one archive in a subprocess of its own; never raises."""
    started = time.monotonic()
    try:
        done = subprocess.run([*uploader, str(archive.path)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout_s, env=uploader_environment())
    except subprocess.TimeoutExpired:
        status, reason = "failed", f"no answer within {timeout_s:g} s; the upload was stopped"
    except OSError as error:
        status, reason = "failed", f"the uploader {uploader[0]!r} could not be started: {error}"
    else:
        output = done.stdout.decode("utf-8", errors="replace")
        status = "uploaded" if done.returncode == 0 else "failed"
        reason = "" if done.returncode == 0 else failure_reason(output, done.returncode).replace(
            str(archive.path), archive.label)
    return Outcome(archive.student_id, lab, archive.path.name, archive.sha256, status, reason,
                   round(time.monotonic() - started, 2))


def uploader_environment() -> dict[str, str]:
    """This process's environment (where the key is), with comet_ml's crash reports off unless set."""
    from labkit.track import _comet

    return {**_comet.IMPORT_SETTINGS, **os.environ}


def failure_reason(output: str, returncode: int) -> str:
    """comet's own words for a failed upload: its ``COMET ERROR`` lines and the last exception it printed.

    comet_ml logs the failure of one archive as ``COMET ERROR: Upload failed for ...``
    followed by a traceback, and ends with a summary line that says nothing new.
    """
    lines = output.splitlines()
    errors = [line.removeprefix("COMET ERROR:").strip() for line in lines
              if line.startswith("COMET ERROR:") and "At least one experiment failed" not in line]
    exceptions = [line.strip() for line in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception)\w*: ", line)]
    parts = errors + exceptions[-1:]
    if not parts:
        last = next((line.strip() for line in reversed(lines) if line.strip()), "")
        parts = [f"the uploader exited with status {returncode}"] + ([last] if last else [])
    return " | ".join(parts)[:MAX_REASON_CHARS]


# --- the log ----------------------------------------------------------------------------------------


def _uploaded_before(rows: dict, lab: str, archive: Archive) -> bool:
    row = rows.get((lab, archive.student_id, archive.path.name))
    return row is not None and row["status"] == "uploaded" and row["sha256"] == archive.sha256


def read_log(path: Path) -> dict[tuple[str, str, str], dict]:
    """The rows of ``comet-upload.csv`` by (lab, student, archive); empty when there is none yet."""
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != LOG_COLUMNS:
            raise ValueError(f"{path} is not an upload log this tool wrote (its columns are {reader.fieldnames}, "
                             f"not {LOG_COLUMNS}); move it aside and run again.")
        return {(row["lab"], row["student_id"], row["archive"]): row for row in reader}


def write_log(path: Path, rows: dict[tuple[str, str, str], dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, LOG_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows[key] for key in sorted(rows))
    with replaced_atomically(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(buffer.getvalue())
