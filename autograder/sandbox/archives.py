"""Zip archives a student made: every member checked before anything is read, and unpacked within bounds.

Two kinds of zip reach the grader from students: Comet's offline archives in a
submission's ``comet-offline/`` (read as data by :mod:`autograder.comet.review`,
never unpacked) and the zip of a lab folder handed in through an LMS
(:mod:`autograder.pipeline.lms_downloads`, unpacked here). Both are read as
hostile, with the checks in this module:

- a member whose path would leave the folder it is unpacked in (an absolute
  path, a drive letter, ``..``; a backslash counts as a separator) refuses the
  whole archive, and so does a link or an encrypted member: such an archive
  was made to do harm, and nothing of it is written;
- a zip bomb is refused from the archive's directory, before anything is
  unpacked: the members' declared sizes together, and their number, are
  bounded; :mod:`zipfile` never inflates a member past its declared size, and
  its CRC check catches one that lies;
- a member over the per-file limit, nested too deep, with too long a path, or
  whose name is not UTF-8 text (a zip's names carry no encoding unless it says
  so) is left out with a note, like a file in a submission folder
  (:func:`autograder.pipeline.submissions.left_out`);
- archives inside an archive are written as files, never unpacked: the depth
  of nesting the grader ever opens is bounded by its callers, not by the data.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder.pipeline.submissions import Limits, left_out, printable_name, summarised

MAX_NAME_CHARS = 200
"""How much of a hostile member name a message quotes."""


class ArchiveRefused(ValueError):
    """An archive the grader will not unpack at all; the message says why."""


@dataclass(frozen=True)
class Unpacked:
    """What :func:`unpack` wrote (paths inside the destination) and what it left out, with why."""

    files: tuple[str, ...]
    skipped: tuple[str, ...]


def path_problem(name: str) -> str | None:
    """Why the path ``name``, joined to a folder, would lead out of it, or None."""
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return "an absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return "a path that leads out of the archive (..)"
    return None


def member_problem(member: zipfile.ZipInfo) -> str | None:
    """Why ``member`` would not unpack as a plain file inside the archive's folder, or None."""
    if stat.S_ISLNK(member.external_attr >> 16):
        return "a link"
    if member.flag_bits & 0x1:
        return "encrypted"
    return path_problem(member.filename)


def member_name(member: zipfile.ZipInfo) -> str | None:
    """The member's path as UTF-8 text with ``/`` separators, or None when its name is not UTF-8.

    A zip marks UTF-8 names with a flag; without it :mod:`zipfile` decodes the
    bytes as code page 437, which any bytes are. Many tools write UTF-8 without
    the flag, so the bytes are read as UTF-8 when they are that (as ``unzip`` does).
    """
    name = member.filename
    if not member.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return None
    return name.replace("\\", "/")


def shown_name(member: zipfile.ZipInfo) -> str:
    """The member's name as written in the archive, undecodable bytes as ``\\xNN``."""
    if member.flag_bits & 0x800:
        return member.filename
    try:
        return member.filename.encode("cp437").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return member.filename


def quoted(name: str) -> str:
    """A member's name fit for a message: printable, and not too long."""
    text = printable_name(name)
    return repr(text if len(text) <= MAX_NAME_CHARS else text[:MAX_NAME_CHARS] + "...")


def checked(archive: zipfile.ZipFile, limits: Limits) -> list[zipfile.ZipInfo]:
    """The archive's members, once none would leave its folder and their number and declared size are within
    ``limits``; else :class:`ArchiveRefused`, before anything is read."""
    members = archive.infolist()
    if len(members) > limits.entries:
        raise ArchiveRefused(f"{len(members):,} files inside, more than the {limits.entries:,} allowed")
    declared = sum(member.file_size for member in members)
    if declared > limits.total_bytes:
        raise ArchiveRefused(f"{declared:,} bytes once unpacked, more than the {limits.total_bytes:,} allowed")
    for member in members:
        problem = member_problem(member)
        if problem:
            raise ArchiveRefused(f"the member {quoted(shown_name(member))} is {problem}")
    return members


def unpack(archive_path: Path, destination: Path, limits: Limits) -> Unpacked:
    """Unpack the zip at ``archive_path`` into ``destination``, a folder this call creates: regular files only.

    Raises :class:`ArchiveRefused`, with nothing written, for an archive that
    cannot be read as a zip or that :func:`checked` refuses. A member left out
    (see the module's docstring) or that fails to inflate is a note in
    ``skipped``; the other members are unpacked.
    """
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, ValueError, EOFError) as error:
        raise ArchiveRefused(f"not a zip archive that can be read ({type(error).__name__})") from None
    with archive:
        members = checked(archive, limits)
        destination.mkdir(parents=True)
        written, skipped, total = [], [], 0
        for member in members:
            name = member_name(member)
            if name is None:
                skipped.append(f"{quoted(shown_name(member))}: its name is not UTF-8 text; rename it with plain "
                               "letters and digits")
                continue
            path = posixpath.normpath(name.rstrip("/"))
            if path in ("", "."):
                continue
            if member.is_dir():
                reason = left_out(path, "folder", 0, total, limits)
                if reason:
                    skipped.append(f"{quoted(path)}: {reason}")
                continue
            folders = path.count("/")
            reason = (f"folders nested more than {limits.depth} levels deep" if folders > limits.depth
                      else left_out(path, "file", member.file_size, total, limits))
            if reason:
                skipped.append(f"{quoted(path)}: {reason}")
                continue
            try:
                _write_member(archive, member, destination, path)
            except Exception as error:  # a member that fails to inflate, a name taken twice: that member only
                skipped.append(f"{quoted(path)}: could not be unpacked ({_why(error)})")
                continue
            written.append(path)
            total += member.file_size
    return Unpacked(tuple(written), summarised(skipped))


def _write_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, destination: Path, path: str) -> None:
    """Write one checked member as a new regular file (never over anything, never through a link)."""
    target = destination / path
    _make_folders(destination, path.split("/")[:-1])
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb") as out, archive.open(member) as source:
            shutil.copyfileobj(source, out, 2**20)  # zipfile stops at the declared size and checks the CRC
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _make_folders(destination: Path, names: list[str]) -> None:
    """``destination/names[0]/names[1]/...``, each a real folder (a file of that name is an error)."""
    path = destination
    for name in names:
        path = path / name
        try:
            os.mkdir(path)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                raise NotADirectoryError(f"{name} is a file and a folder in the archive") from None


def _why(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if type(error).__name__ not in text else text
