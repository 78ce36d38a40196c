"""Building LMS bulk downloads for tests: Canvas's submissions.zip and Moodle's download of all submissions.

Names follow each LMS's own: Canvas ``<lastfirst>_[LATE_]<user id>_<attachment id>_<file>``,
with ``-1`` before the extension of a file uploaded again under a name taken before;
Moodle ``<Full Name>_<participant id>_assignsubmission_file_/<files>``.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

LAB = "lab1-mnist"


def lab_files(folder: Path) -> dict[str, bytes]:
    """A lab folder's files, as a student zips them (what a notebook run leaves besides: no kernel specs)."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file() and ".kernels" not in path.relative_to(folder).parts}


def zipped(files: dict[str, bytes], *, inside: str | None = LAB,
           extra: list[tuple[zipfile.ZipInfo | str, bytes]] = ()) -> bytes:
    """A zip of ``files`` (under the folder ``inside``, or at the top), then the ``extra`` members as given."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(f"{inside}/{name}" if inside else name, data)
        for member, data in extra:
            archive.writestr(member, data)
    return buffer.getvalue()


def link_member(name: str, target: str = "/etc/passwd") -> tuple[zipfile.ZipInfo, bytes]:
    """A member that ``unzip`` would restore as a symbolic link to ``target``."""
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def with_raw_name(data: bytes, placeholder: bytes, raw: bytes) -> bytes:
    """The zip ``data`` with a member's name ``placeholder`` (ASCII, so no UTF-8 flag) replaced by the bytes
    ``raw`` of the same length, in its local header and the central directory: a name that is not UTF-8."""
    assert len(placeholder) == len(raw) and data.count(placeholder) == 2
    return data.replace(placeholder, raw)


def canvas_zip(path: Path, uploads: dict[str, bytes]) -> Path:
    """``submissions.zip`` as Canvas's Download Submissions makes it: one flat member per uploaded file."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in uploads.items():
            archive.writestr(name, data)
    return path


def moodle_folder(root: Path, students: dict[str, dict[str, bytes]]) -> Path:
    """Moodle's download of all submissions, unzipped: one ``<Full Name>_<id>_assignsubmission_file_`` folder each,
    holding the files as uploaded (``name`` may be bytes, for a name that is not UTF-8)."""
    for folder, files in students.items():
        for name, data in files.items():
            path = os.path.join(os.fsencode(root / folder), os.fsencode(name))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(data)
    return root
