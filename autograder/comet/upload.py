"""Uploading a class's Comet archives with comet_ml's own uploader, one archive at a time.

Grading keeps each submission's Comet offline archives in
``OUT/comet/<lab>/<student_id>/``: the archives as handed in (taken from the
private copy before any of the student's code ran), and only those the review
index can read (:mod:`autograder.comet.review`: regular zip files of a
plausible size holding an experiment and its messages, no member of which
would unpack outside the archive's folder, no message of which names a file
outside the archive). Every folder on that path must be a real folder, never a
link: nothing is ever kept, read or deleted outside ``OUT/comet``. Before an
upload, each archive is checked again, and one that fails is recorded as
failed without being handed to comet_ml.

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
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from autograder.comet import review as comet_review
from autograder.pipeline.submissions import STUDENT_ID
from autograder.reports import spreadsheets
from autograder.sandbox.output import OutputRefused, read_bytes
from labkit import _files as files
from labkit._files import replaced_atomically

KEPT_FOLDER = "comet"
"""``OUT/comet/<lab>/<student_id>/<archive>.zip``: the archives kept for upload."""

LOG_NAME = "comet-upload.csv"

COMET_UPLOAD = (sys.executable, "-m", "comet_ml.scripts.comet", "upload")
"""``comet upload``, run by this interpreter, so it is the comet_ml installed beside labkit."""

TIMEOUT_S = 300.0
"""How long one archive may take. Without a network, comet_ml gives up by itself after about 25 s."""

ARCHIVE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.zip")
"""Names an archive may be kept under, matched whole (comet_ml names them ``<experiment key>.zip``)."""

MAX_REASON_CHARS = 500

KEY_HINT = (
    "Set a Comet API key where comet_ml looks for it: `export COMET_API_KEY=...` in this shell, or run "
    "`comet login` once (it writes ~/.comet.config). A key is never given on the command line."
)
NO_KEY_MESSAGE = f"No Comet API key is set, so nothing was uploaded. {KEY_HINT} Then run this command again."


class NoApiKey(RuntimeError):
    """Uploading was asked for, and comet_ml finds no API key."""


class KeptFolderRefused(ValueError):
    """A folder under ``OUT/comet`` is a link or a file: the grader keeps and reads nothing through it."""


@dataclass(frozen=True)
class Archive:
    """One kept archive of one student's run."""

    student_id: str
    path: Path
    sha256: str
    problem: str = ""
    """Why the archive is not fit to upload (see :func:`autograder.comet.review.parse_archive`); empty if it is."""

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


def keep_archives(comet_offline: Path, out: Path, lab: str, student_id: str) -> tuple[str, ...]:
    """Keep the readable archives of ``comet_offline`` in ``out``'s folder for the student, replacing what was
    kept before; return the names kept.

    ``comet_offline`` is the ``comet-offline/`` of a submission's private copy,
    taken before anything ran in it. Archives the review index cannot read are
    left out, and so is anything kept by an earlier grading that the
    submission no longer holds.

    Raises
    ------
    KeptFolderRefused
        When a folder on the way to the student's, under ``out``, is a link or a file.
    """
    if not STUDENT_ID.fullmatch(student_id):
        raise ValueError(f"{student_id!r} is not a student id; archives are kept only under one.")
    readable = [run["archive"] for run in comet_review.read_runs(comet_offline)
                if not run.get("problem") and ARCHIVE_NAME.fullmatch(run["archive"])]
    names = (KEPT_FOLDER, lab, student_id)
    if not readable:
        kept_before = real_folder(out, names, create=False)
        if kept_before is not None:
            shutil.rmtree(kept_before)  # a real folder, checked: rmtree never follows a link inside it
        return ()
    destination = real_folder(out, names, create=True)
    _remove_all_but(destination, set(readable))
    for name in readable:
        data = read_bytes(comet_offline, name, comet_review.MAX_ARCHIVE_BYTES)
        with replaced_atomically(destination / name) as kept:  # replaces a link by the file, never writes through it
            kept.write(data)
    return tuple(readable)


def real_folder(out: Path, names: Sequence[str], *, create: bool) -> Path | None:
    """``out/names...`` as :func:`labkit._files.real_folder` finds it, with what to do when a step is refused."""
    try:
        return files.real_folder(out, names, create=create)
    except files.NotARealFolder as refused:
        raise KeptFolderRefused(
            f"{refused.path} is {refused.kind}: the grader keeps Comet archives only in real folders inside {out}, "
            "so that nothing outside it is ever read or deleted. Remove it and run the command again.") from None


def _remove_all_but(folder: Path, keep: set[str]) -> None:
    """Remove from ``folder`` (a real folder) all but the regular files named in ``keep``; links go, not what they
    point to."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name in keep and entry.is_file(follow_symlinks=False):
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


def find_archives(out: Path, lab: str) -> list[Archive]:
    """Every archive kept for ``lab`` in ``out``, by student, then name.

    Each is checked as grading checked it; one that fails says why in its ``problem``.

    Raises
    ------
    FileNotFoundError
        When ``lab`` was never graded into ``out``.
    KeptFolderRefused
        When ``OUT/comet`` or its folder for ``lab`` is a link or a file.
    """
    out = Path(out)
    if not (out / "results" / lab).is_dir():
        raise FileNotFoundError(
            f"{out} holds no grading of {lab} (no {out / 'results' / lab}); grade the lab first with "
            f"`python -m autograder grade {lab} SUBMISSIONS_DIR --out {out}`, which keeps the Comet archives."
        )
    root = real_folder(out, (KEPT_FOLDER, lab), create=False)
    if root is None:
        return []
    archives = []
    for student in _entries(root, lambda entry: entry.is_dir(follow_symlinks=False), STUDENT_ID):
        for path in _entries(student, lambda entry: entry.is_file(follow_symlinks=False), ARCHIVE_NAME):
            archives.append(_archive(student.name, path))
    return archives


def _entries(folder: Path, wanted, name: re.Pattern) -> list[Path]:
    """The entries of ``folder`` that are ``wanted`` (never through a link) and whose whole name matches ``name``."""
    with os.scandir(folder) as entries:
        return sorted(Path(entry.path) for entry in entries if name.fullmatch(entry.name) and wanted(entry))


def _archive(student_id: str, path: Path) -> Archive:
    """The kept archive at ``path``: its digest, and why it may not be uploaded, if it may not."""
    try:
        data = read_bytes(path.parent, path.name, comet_review.MAX_ARCHIVE_BYTES)
    except (OSError, OutputRefused) as error:
        return Archive(student_id, path, "", f"it could not be read ({error})")
    return Archive(student_id, path, hashlib.sha256(data).hexdigest(),
                   comet_review.parse_archive(data).get("problem", ""))


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
    KeptFolderRefused
        When a folder under ``OUT/comet`` is a link: nothing is read through it.
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
            report(f"would refuse {archive.label}: {archive.problem}" if archive.problem
                   else f"would upload {archive.label}")
        unfit = sum(bool(archive.problem) for archive in pending)
        report(f"{len(pending) - unfit} archive(s) to upload, {unfit} unfit to upload, "
               f"{len(archives) - len(pending)} uploaded before"
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
    """Run the uploader on one archive in a subprocess of its own; never raises. An unfit archive is not run."""
    if archive.problem:
        return Outcome(archive.student_id, lab, archive.path.name, archive.sha256, "failed",
                       f"not uploaded: {archive.problem}"[:MAX_REASON_CHARS])
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
    not_ours = f"{path} is not an upload log this tool wrote; move it aside and run again."
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames != LOG_COLUMNS:
                raise ValueError(f"{not_ours} (Its columns are {reader.fieldnames}, not {LOG_COLUMNS}.)")
            return {(row["lab"], row["student_id"], row["archive"]): row for row in reader}
    except (csv.Error, UnicodeDecodeError) as error:
        raise ValueError(f"{not_ours} ({error})") from None


def write_log(path: Path, rows: dict[tuple[str, str, str], dict]) -> None:
    """The log, one row per archive, every cell safe to open in a spreadsheet."""
    spreadsheets.write_csv(path, [LOG_COLUMNS, *([rows[key][column] for column in LOG_COLUMNS]
                                                 for key in sorted(rows))])
