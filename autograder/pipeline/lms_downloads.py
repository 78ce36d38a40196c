"""Grading straight from an LMS's bulk download: each student's hand-in as ``<student_id>/<lab>/``.

``python -m autograder grade LAB DOWNLOAD --from canvas|moodle --out OUT`` turns
the download into the grader's layout in ``OUT/imported/<lab>/`` (made afresh on
every run; a student's unchanged hand-in is not graded again) and grades that.

What students upload: **a zip of their lab folder**, ``lab1-mnist.zip``, holding
``lab1-mnist.ipynb`` and the ``artifacts/`` and ``comet-offline/`` folders its
save cells wrote, either at the zip's top or inside one folder (zipping the
folder ``lab1-mnist/`` itself is fine). The lab folder is the shallowest folder
of the upload holding ``<lab>.ipynb`` (or, without one, ``artifacts/``); a lone
notebook of another name there is renamed ``<lab>.ipynb``. On Moodle the
folder's files may also be uploaded as they are, folders kept. An upload that
is only a notebook is graded as one: the parts judging ``artifacts/`` fail.

The two downloads:

- **Canvas**, *Download Submissions*: ``submissions.zip`` (or the folder it
  unzips to), one file per uploaded file, named
  ``<lastfirst>_<user id>_<attachment id>_<file name>``, with ``LATE_`` before
  the user id when it came in late. A file uploaded again under a name taken
  before comes back renamed with ``-1``, ``-2`` before its extension. A student's
  latest zip is graded: the highest attachment id, then the highest ``-N``.
- **Moodle**, *Download all submissions*: the zip (or the folder it unzips to),
  one folder per student, ``<Full Name>_<participant id>_assignsubmission_file_``
  holding the files as uploaded (Moodle 3.1 and later), or, with *Download
  submissions in folders* off, flat files
  ``<Full Name>_<participant id>_assignsubmission_file_<file name>``. Online text
  (``_assignsubmission_onlinetext_``) is not graded.

Student ids: the LMS's own ids, Canvas's user id or Moodle's participant id,
unless ``--roster`` names the roster that ``python -m autograder export`` joins
grades to (:func:`autograder.reports.lms_export.read_roster`): then each LMS id
becomes that row's ``student_id`` (or ``--id-column``), found by the roster's
``ID`` column (Canvas's gradebook export) or ``Identifier`` column
(``Participant 1234``, Moodle's grading worksheet).

Everything in a download is read as hostile. A download is never unpacked as a
whole: its entries are listed (no link followed, nothing but regular files,
bounded), and each student's upload is copied out on its own within the
submission :data:`autograder.pipeline.submissions.LIMITS` and unpacked by
:func:`autograder.sandbox.archives.unpack` (no ``..``, absolute path or link,
zip bombs refused from the directory). Archives inside the upload
(``comet-offline/*.zip``) are data for the grader and are never unpacked, so
nothing is nested deeper than the download and the student's zip. Every student
in the download gets a folder or a ``refused`` line; nothing one student's
upload holds stops the others.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from autograder.pipeline.submissions import LIMITS, STUDENT_ID, Limits, left_out, listing, printable_name
from autograder.sandbox import archives
from autograder.sandbox.output import OutputRefused, read_bytes
from labkit._files import real_folder

KINDS = ("canvas", "moodle")

IMPORTED = "imported"
"""``OUT/imported/<lab>/<student_id>/<lab>/``: the layout graded; ``OUT/imported/<lab>.txt``: what became of whom."""

DOWNLOAD_ENTRIES = 100_000
"""Entries at the top of a download folder that are looked at (a class has one or a few per student)."""

CANVAS_NAME = re.compile(r"(?P<name>.*?)_(?P<late>LATE_)?(?P<user>\d{1,20})_(?P<attachment>\d{1,20})_(?P<file>.+)",
                         re.DOTALL)
MOODLE_FOLDER = re.compile(r"(?P<name>.*)_(?P<id>\d{1,20})_assignsubmission_(?P<plugin>[a-z]+)_?", re.DOTALL)
MOODLE_FILE = re.compile(r"(?P<name>.*)_(?P<id>\d{1,20})_assignsubmission_(?P<plugin>[a-z]+)_(?P<file>.+)", re.DOTALL)
RENAMED = re.compile(r"(?P<stem>.+?)-(?P<copy>\d{1,9})(?P<extension>\.[A-Za-z0-9]+)")
"""Canvas's name for a file uploaded under a name taken before: ``lab1-mnist-1.zip``."""
PARTICIPANT = re.compile(r"(?:participant)?\s*(?P<id>\d{1,20})", re.IGNORECASE)
"""Moodle's grading worksheet identifies a student as ``Participant 1234``."""
ROSTER_KEY = {"canvas": "ID", "moodle": "Identifier"}
"""The roster column holding each student's LMS id: Canvas's gradebook export, Moodle's grading worksheet."""
LMS_NAMES = {"canvas": "Canvas user", "moodle": "Moodle participant"}


@dataclass(frozen=True)
class Imported:
    """A download turned into the grader's layout, and what became of each student in it."""

    folder: Path
    """Holds ``<student_id>/<lab>/`` for each student imported: what ``grade`` reads."""
    students: tuple[str, ...]
    lines: tuple[str, ...]
    """One line per student (imported from what, or refused and why), then each file left out, and why."""
    refused: tuple[str, ...]
    """The refused students' lines: for the summary and the exit status."""


# --- the download's entries ----------------------------------------------------------------------------


@dataclass
class _Entry:
    """A name at the top of the download: a file (``files`` is None) or a folder and its files, as listed."""

    name: str
    size: int = 0
    files: list[tuple[str, int]] | None = None
    skipped: list[str] = field(default_factory=list)


class _Download:
    """A download, zip or folder: its top-level entries, and each file copied out within a size cap."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def entries(self) -> tuple[list[_Entry], list[str]]:
        raise NotImplementedError

    def copy(self, entry: str, inner: str | None, target: Path, max_bytes: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _FolderDownload(_Download):
    """An unzipped download: nothing at its top is followed through a link; each student folder is listed with
    :func:`~autograder.pipeline.submissions.listing` (bounded, no links, regular files only)."""

    def entries(self) -> tuple[list[_Entry], list[str]]:
        entries, lines = [], []
        with os.scandir(self.path) as scan:
            found = sorted((entry for _, entry in zip(range(DOWNLOAD_ENTRIES + 1), scan)), key=lambda e: e.name)
        if len(found) > DOWNLOAD_ENTRIES:
            lines.append(f"everything after the first {DOWNLOAD_ENTRIES:,} entries of {self.path}: left out")
            found = found[:DOWNLOAD_ENTRIES]
        for entry in found:
            if entry.is_symlink():
                lines.append(f"'{_shown(entry.name)}': a link, not a file; left out")
            elif entry.is_dir(follow_symlinks=False):
                listed = listing(Path(entry.path), LIMITS)
                entries.append(_Entry(entry.name, files=list(listed.files), skipped=list(listed.skipped)))
            elif entry.is_file(follow_symlinks=False):
                entries.append(_Entry(entry.name, size=entry.stat(follow_symlinks=False).st_size))
            else:
                lines.append(f"'{_shown(entry.name)}': not a regular file; left out")
        return entries, lines

    def copy(self, entry: str, inner: str | None, target: Path, max_bytes: int) -> None:
        target.write_bytes(read_bytes(self.path, f"{entry}/{inner}" if inner else entry, max_bytes))


class _ZipDownload(_Download):
    """A zipped download: its members grouped by their first path component; a member that would leave the
    folder it is unpacked in, or is a link, is left out with a line (only that member)."""

    def __init__(self, path: Path):
        super().__init__(path)
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError, ValueError, EOFError) as error:
            raise ValueError(f"{path} is not a zip archive that can be read ({type(error).__name__}); pass the "
                             "download as the LMS gave it, or the folder it unzips to") from None
        self._members: dict[tuple[str, str | None], zipfile.ZipInfo] = {}

    def entries(self) -> tuple[list[_Entry], list[str]]:
        entries: dict[str, _Entry] = {}
        totals: dict[str, int] = {}
        lines = []
        for member in self._zip.infolist():
            problem = archives.member_problem(member)
            if problem:
                lines.append(f"{archives.quoted(archives.shown_name(member))} in the download: {problem}; left out")
                continue
            text = archives.member_name(member)
            name = posixpath.normpath(text if text is not None else member.filename.replace("\\", "/"))
            top, _, inner = name.partition("/")
            if member.is_dir() or name in ("", "."):
                if inner == "" and top not in entries:
                    entries[top] = _Entry(top, files=[])
                continue
            if not inner:
                entries[top] = _Entry(top, size=member.file_size)
                self._members[(top, None)] = member
                continue
            folder = entries.setdefault(top, _Entry(top, files=[]))
            if folder.files is None:
                lines.append(f"{archives.quoted(name)} in the download: under a file of the same name; left out")
                continue
            reason = ("its name is not UTF-8 text; rename it with plain letters and digits" if text is None
                      else _member_left_out(inner, member.file_size, totals.get(top, 0), len(folder.files)))
            if reason:
                shown = archives.shown_name(member).partition("/")[2] if text is None else inner
                folder.skipped.append(f"{printable_name(shown)}: {reason}")
                continue
            folder.files.append((inner, member.file_size))
            totals[top] = totals.get(top, 0) + member.file_size
            self._members[(top, inner)] = member
        return [entries[name] for name in sorted(entries)], lines

    def copy(self, entry: str, inner: str | None, target: Path, max_bytes: int) -> None:
        member = self._members[(entry, inner)]
        if member.file_size > max_bytes:
            raise OutputRefused(f"{member.file_size:,} bytes, more than the {max_bytes:,} allowed")
        with self._zip.open(member) as source, open(target, "xb") as out:
            shutil.copyfileobj(source, out, 2**20)  # zipfile stops at the declared size and checks the CRC

    def close(self) -> None:
        self._zip.close()


def _shown(name: str, most: int = 200) -> str:
    """A name from the download fit for a line: printable, and not too long."""
    text = printable_name(name)
    return text if len(text) <= most else text[:most] + "..."


def _member_left_out(path: str, size: int, total: int, count: int, limits: Limits = LIMITS) -> str | None:
    """Why a file inside a student's folder of a zipped download is left out, as a folder download would say."""
    if count >= limits.entries:
        return f"more than {limits.entries:,} files in the folder (the limit)"
    if path.count("/") > limits.depth:
        return f"folders nested more than {limits.depth} levels deep"
    return left_out(path, "file", size, total, limits)


def open_download(path: Path) -> _Download:
    path = Path(path)
    if path.is_dir():
        return _FolderDownload(path)
    if path.is_file():
        return _ZipDownload(path)
    raise FileNotFoundError(f"{path} is neither the LMS's zip nor the folder it unzips to")


# --- who handed in what ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Upload:
    """One file a student uploaded: its place in the download, its name as uploaded, and how late it came."""

    entry: str
    inner: str | None
    name: str
    size: int
    order: tuple[int, int]


@dataclass
class _HandIn:
    lms_id: str
    label: str
    uploads: list[_Upload] = field(default_factory=list)
    folder: bool = False
    """Moodle's uploads as files in a folder (kept with their paths), not one upload each."""
    lines: list[str] = field(default_factory=list)


def canvas_hand_ins(entries: list[_Entry]) -> tuple[dict[str, _HandIn], list[str]]:
    """Each Canvas user's uploads, from file names ``<lastfirst>_[LATE_]<user>_<attachment>_<file>``."""
    hand_ins: dict[str, _HandIn] = {}
    lines = []
    for entry in entries:
        match = CANVAS_NAME.fullmatch(entry.name)
        if entry.files is not None or not match:
            lines.append(f"'{_shown(entry.name)}': not named as Canvas names a submission's file "
                         "(<name>_<user id>_<attachment id>_<file>); left out")
            continue
        user = str(int(match["user"]))
        hand_in = hand_ins.setdefault(user, _HandIn(user, f"{_shown(match['name'])} "
                                                         f"({LMS_NAMES['canvas']} {user})"))
        file = match["file"]
        renamed = RENAMED.fullmatch(file)
        copy = int(renamed["copy"]) if renamed else 0
        hand_in.uploads.append(_Upload(entry.name, None, file, entry.size, (int(match["attachment"]), copy)))
    return hand_ins, lines


def moodle_hand_ins(entries: list[_Entry]) -> tuple[dict[str, _HandIn], list[str]]:
    """Each Moodle participant's files, from ``<Full Name>_<id>_assignsubmission_file_`` folders or file names."""
    hand_ins: dict[str, _HandIn] = {}
    lines = []
    for entry in entries:
        match = (MOODLE_FOLDER if entry.files is not None else MOODLE_FILE).fullmatch(entry.name)
        if not match:
            lines.append(f"'{_shown(entry.name)}': not named as Moodle names a submission "
                         "(<Full Name>_<participant id>_assignsubmission_file_); left out")
            continue
        participant = str(int(match["id"]))
        hand_in = hand_ins.setdefault(participant, _HandIn(participant, f"{_shown(match['name'])} "
                                                                        f"({LMS_NAMES['moodle']} {participant})"))
        if match["plugin"] != "file":
            hand_in.lines.append(f"its {match['plugin']} submission is not graded, only uploaded files")
        elif entry.files is None:
            hand_in.uploads.append(_Upload(entry.name, None, match["file"], entry.size, (0, 0)))
        else:
            hand_in.folder = True
            hand_in.lines += entry.skipped
            hand_in.uploads += [_Upload(entry.name, inner, inner, size, (0, 0)) for inner, size in entry.files]
    return hand_ins, lines


# --- student ids ---------------------------------------------------------------------------------------------


def roster_ids(roster_path: Path, kind: str, id_column: str) -> tuple[dict[str, str], set[str]]:
    """LMS id -> student id, from the roster that ``export`` reads; and the LMS ids more than one row claims."""
    from autograder.reports.lms_export import RosterError, read_roster

    roster = read_roster(roster_path, id_column)
    key = ROSTER_KEY[kind]
    missing = [column for column in (key, id_column) if not roster.has(column)]
    if missing:
        where = ("Canvas's gradebook export (Grades > Export) has ID" if kind == "canvas"
                 else "Moodle's grading worksheet (Submissions > Download grading worksheet) has Identifier")
        raise RosterError(f"the roster {roster_path} has no {' and no '.join(missing)} column (it has: "
                          f"{', '.join(roster.header)}); {where}, and {id_column} is yours to add: the id each "
                          "student is graded under.")
    found: dict[str, str] = {}
    ambiguous = set()
    for row in roster.rows:
        match = PARTICIPANT.fullmatch(row.get(key)) if kind == "moodle" else re.fullmatch(r"\d{1,20}", row.get(key))
        if not match:
            continue
        lms_id = str(int(match["id"] if kind == "moodle" else match[0]))
        if lms_id in found:
            ambiguous.add(lms_id)
        found[lms_id] = row.get(id_column)
    return found, ambiguous


# --- turning a hand-in into a lab folder ------------------------------------------------------------------


class _Refused(Exception):
    """This student cannot be imported; the message says why."""


def _latest(uploads: list[_Upload], extension: str) -> list[_Upload]:
    """The uploads whose name ends with ``extension``, latest last."""
    return sorted((upload for upload in uploads if upload.name.lower().endswith(extension)),
                  key=lambda upload: upload.order)


def _stage(download: _Download, hand_in: _HandIn, lab: str, staging: Path) -> tuple[Path, list[str]]:
    """Copy and unpack the student's hand-in under ``staging``; the lab folder in it, and notes."""
    notes: list[str] = []
    top_level = [upload for upload in hand_in.uploads if "/" not in upload.name]
    zips, notebooks = _latest(top_level, ".zip"), _latest(top_level, ".ipynb")
    if zips:
        chosen = zips[-1]
        if len(zips) > 1 and zips[-2].order == chosen.order:
            raise _Refused(f"{len(zips)} zips handed in ({', '.join(_names(zips))}) and none is the latest; "
                           "hand in one zip of the lab folder")
        others = [upload for upload in hand_in.uploads if upload is not chosen]
        if others:
            earlier = [upload for upload in others if upload in zips]
            notes.append(f"graded {printable_name(chosen.name)}"
                         + (f", the latest of {len(zips)} zips" if earlier else "")
                         + f"; left out: {', '.join(_names(others, 5))}")
        archive = staging / "upload.zip"
        _copy(download, chosen, archive, LIMITS.total_bytes)
        try:
            unpacked = archives.unpack(archive, staging / "unpacked", LIMITS)
        except archives.ArchiveRefused as error:
            raise _Refused(f"{printable_name(chosen.name)} refused: {error}") from None
        archive.unlink()
        notes += [f"left out of {printable_name(chosen.name)}: {line}" for line in unpacked.skipped]
        top = staging / "unpacked"
    elif hand_in.folder:
        top = staging / "files"
        top.mkdir()
        copied = 0
        for upload in hand_in.uploads:
            try:
                (top / upload.name).parent.mkdir(parents=True, exist_ok=True)
                _copy(download, upload, top / upload.name, LIMITS.file_bytes)
                copied += 1
            except (OSError, _Refused) as error:
                notes.append(f"{printable_name(upload.name)}: could not be copied ({error})")
        if not copied:
            raise _Refused("no file to grade in its submission" + (f" ({'; '.join(notes)})" if notes else ""))
    elif notebooks:
        chosen = notebooks[-1]
        others = [upload for upload in hand_in.uploads if upload is not chosen]
        notes.append(f"no zip of the lab folder, only the notebook {printable_name(chosen.name)} is graded (the "
                     "parts judging artifacts/ cannot pass)"
                     + (f"; left out: {', '.join(_names(others, 5))}" if others else ""))
        top = staging / "files"
        top.mkdir()
        _copy(download, chosen, top / f"{lab}.ipynb", LIMITS.file_bytes)
    else:
        raise _Refused("no zip of the lab folder and no notebook among its files"
                       + (f" ({', '.join(_names(hand_in.uploads, 5))})" if hand_in.uploads else "")
                       + "; hand in a zip of the lab folder")
    root = lab_root(top, lab)
    if root != top and root != top / lab:
        notes.append(f"graded the folder {printable_name(str(root.relative_to(top)))}/ of the upload, where "
                     f"{lab}.ipynb is")
    notebook = root / f"{lab}.ipynb"
    if not notebook.is_file():
        found = sorted(path.name for path in root.glob("*.ipynb") if path.is_file())
        if len(found) == 1 and not os.path.lexists(notebook):
            (root / found[0]).rename(notebook)
            notes.append(f"its only notebook, {printable_name(found[0])}, graded as {lab}.ipynb")
        else:
            notes.append(f"no {lab}.ipynb in the upload" + (f" (it has {', '.join(map(printable_name, found[:5]))})" if found else ""))
    return root, notes


def _names(uploads: list[_Upload], most: int = 20) -> list[str]:
    names = [printable_name(upload.name) for upload in uploads[:most]]
    return names + ([f"{len(uploads) - most} more"] if len(uploads) > most else [])


def _copy(download: _Download, upload: _Upload, target: Path, max_bytes: int) -> None:
    if upload.size > max_bytes:
        raise _Refused(f"{printable_name(upload.name)} has {upload.size:,} bytes, more than the {max_bytes:,} "
                       "a hand-in may have")
    try:
        download.copy(upload.entry, upload.inner, target, max_bytes)
    except (OSError, OutputRefused, zipfile.BadZipFile, EOFError) as error:
        raise _Refused(f"{printable_name(upload.name)} could not be read from the download ({error})") from None


def lab_root(top: Path, lab: str, depth: int = 3) -> Path:
    """The shallowest folder under ``top`` (``top`` itself first) holding ``<lab>.ipynb``, or else an
    ``artifacts/`` folder; ``top`` when none does. Only real folders are looked in (the tree was written here)."""
    for wanted in (f"{lab}.ipynb", "artifacts"):
        level = [top]
        for _ in range(depth + 1):
            for folder in level:
                if os.path.lexists(folder / wanted):
                    return folder
            level = [child for folder in level for child in _subfolders(folder)]
    return top


def _subfolders(folder: Path) -> Iterator[Path]:
    with os.scandir(folder) as scan:
        found = sorted(entry.name for entry in scan if entry.is_dir(follow_symlinks=False)
                       and entry.name != "__MACOSX")
    return (folder / name for name in found)


# --- the whole download ---------------------------------------------------------------------------------


def import_download(kind: str, download_path: Path, lab: str, out: Path, *, roster: Path | None = None,
                    id_column: str = "student_id") -> Imported:
    """Turn an LMS's bulk download into ``OUT/imported/<lab>/<student_id>/<lab>/``, replacing an earlier import.

    Raises FileNotFoundError or ValueError (a wrong kind, download or roster)
    before anything is written; every student's own problem is a line instead.
    """
    if kind not in KINDS:
        raise ValueError(f"an LMS download is one of {', '.join(KINDS)}, not {kind!r}")
    mapping, ambiguous = roster_ids(roster, kind, id_column) if roster is not None else (None, set())
    download = open_download(download_path)
    try:
        entries, lines = download.entries()
        hand_ins, more = (canvas_hand_ins if kind == "canvas" else moodle_hand_ins)(entries)
        lines += more
        if not hand_ins:
            raise FileNotFoundError(_nothing_found(kind, download_path, entries))
        parent = real_folder(Path(out), (IMPORTED,))
        building = Path(tempfile.mkdtemp(prefix=f".{lab}-", dir=parent))
        try:
            students, per_student, refused = _import_all(download, hand_ins, lab, building, kind, mapping,
                                                         ambiguous, id_column, roster)
            folder = parent / lab
            _remove_import(folder)
            os.rename(building / "layout", folder)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    finally:
        download.close()
    every = tuple(per_student + lines)
    report = parent / f"{lab}.txt"
    report.write_text(f"{kind} download {download_path}: {len(students)} student(s) imported into {folder}, "
                      f"{len(refused)} refused\n" + "".join(f"{line}\n" for line in every), encoding="utf-8",
                      errors="backslashreplace")
    return Imported(folder, tuple(students), every, tuple(refused))


def _import_all(download, hand_ins, lab, building, kind, mapping, ambiguous, id_column, roster):
    layout = building / "layout"
    layout.mkdir()
    students, lines, refused = [], [], []
    taken: dict[str, str] = {}
    for number, lms_id in enumerate(sorted(hand_ins, key=int)):
        hand_in = hand_ins[lms_id]
        staging = building / f"staging-{number}"
        staging.mkdir()
        try:
            student = _student_id(hand_in, mapping, ambiguous, id_column, roster)
            if student in taken:
                raise _Refused(f"{student} is the student id of {taken[student]} already")
            root, notes = _stage(download, hand_in, lab, staging)
            (layout / student).mkdir()
            os.rename(root, layout / student / lab)
            taken[student] = hand_in.label
            students.append(student)
            lines.append(f"{student} <- {hand_in.label}")
            lines += [f"  {student}: {note}" for note in hand_in.lines + notes]
        except _Refused as error:
            refused.append(f"{hand_in.label}: {error}")
            lines.append(f"refused {hand_in.label}: {error}")
            lines += [f"  {hand_in.label}: {note}" for note in hand_in.lines]
        except Exception as error:  # nothing one student's upload holds may stop the others
            line = f"{hand_in.label}: could not be imported ({type(error).__name__}: {error})"
            refused.append(line)
            lines.append(f"refused {line}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return students, lines, refused


def _student_id(hand_in: _HandIn, mapping, ambiguous, id_column: str, roster) -> str:
    if mapping is None:
        student = hand_in.lms_id
    elif hand_in.lms_id in ambiguous:
        raise _Refused(f"more than one row of the roster {roster} has this id; keep one")
    elif hand_in.lms_id not in mapping:
        raise _Refused(f"not in the roster {roster}; add their row to grade them")
    else:
        student = mapping[hand_in.lms_id]
    if not STUDENT_ID.fullmatch(student):
        raise _Refused(f"the roster's {id_column} {student!r} is not a usable student id (letters, digits, "
                       ". _ - only)" if mapping is not None else f"{student!r} is not a usable student id")
    return student


def _nothing_found(kind: str, path: Path, entries: list[_Entry]) -> str:
    held = [_shown(entry.name) + ("/" if entry.files is not None else "") for entry in entries[:5]]
    expected = ("<lastfirst>_<user id>_<attachment id>_<file> files (Canvas's Download Submissions)"
                if kind == "canvas" else
                "<Full Name>_<participant id>_assignsubmission_file_ folders (Moodle's Download all submissions)")
    return (f"no student's submission in the {kind} download {path}: it should hold {expected}, and it holds "
            + (", ".join(held) + (", ..." if len(entries) > 5 else "") if held else "nothing")
            + ". Check the file and --from.")


def _remove_import(folder: Path) -> None:
    """Remove an earlier import (a real folder; a link there is removed, not what it points to)."""
    try:
        mode = os.lstat(folder).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(folder)
    else:
        os.unlink(folder)
