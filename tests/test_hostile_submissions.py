"""Collecting submissions (find, copy, content_hash) survives any folder a student can hand in.

Random hostile trees (names that are not UTF-8 or are spreadsheet formulas,
FIFOs, links out of the submission, terabyte sparse files, many files) and
folders nested thousands of levels deep, past what a path can spell: the
grader never raises, copies only regular files within its limits, never reads
through a link, and notes everything it left out.
"""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

import pytest

from autograder.pipeline import submissions
from autograder.pipeline.submissions import Limits, printable_name
from tests.hostile_data import SECRET, entries_below, nest, outside, random_tree, unnest

LAB = "lab1-mnist"
SMALL = Limits(depth=4, entries=150, file_bytes=4096, total_bytes=64 * 1024, path_chars=200)
"""Limits a small random tree reaches, so that every kind of note is exercised."""


def class_of(root: Path, build) -> submissions.Submission:
    """A class of one student, ``ada``, whose lab folder ``build(folder)`` fills."""
    folder = root / "class" / "ada" / LAB
    folder.mkdir(parents=True)
    build(folder)
    found, refused = submissions.find(root / "class", LAB)
    assert refused == [] and [s.student_id for s in found] == ["ada"]
    return found[0]


def assert_a_safe_copy(copied: submissions.Copied, original: Path, limits: Limits) -> None:
    """Only regular files and folders within the limits, each byte for byte the original's, nothing from outside."""
    files = 0
    total = 0
    for path, info in entries_below(copied.folder):
        assert stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode), path
        assert path.decode("utf-8")  # every name is text
        assert path.count(b"/") <= limits.depth, path
        if stat.S_ISREG(info.st_mode):
            data = (copied.folder / os.fsdecode(path)).read_bytes()
            assert data == (original / os.fsdecode(path)).read_bytes()
            assert SECRET not in data and len(data) <= limits.file_bytes
            files, total = files + 1, total + len(data)
    assert files <= limits.entries and total <= limits.total_bytes
    assert len(copied.skipped) <= submissions.MAX_NOTES + 1
    for note in copied.skipped:
        note.encode("utf-8")  # fit for a feedback page and a JSON file


def assert_nothing_left_out_silently(folder: Path, limits: Limits) -> None:
    """Every file, link, FIFO... is either taken or noted, itself or through a folder above it."""
    listed = submissions.listing(folder, limits)
    taken = {path for path, _ in listed.files}
    if any("the first" in note for note in listed.skipped):
        return  # the walk stopped at the limit on entries: what comes after is noted as a whole
    for path, info in entries_below(folder):
        if stat.S_ISDIR(info.st_mode):
            continue
        relative = os.fsdecode(path)
        parts = relative.split("/")
        above = {printable_name("/".join(parts[:end])) for end in range(1, len(parts) + 1)}
        noted = any(note.split(": ")[0] in above for note in listed.skipped)
        assert relative in taken or noted, (relative, listed.skipped)


@pytest.mark.parametrize("seed", range(12))
def test_a_random_hostile_submission_is_copied_safely_and_every_omission_noted(tmp_path, seed):
    rng = random.Random(seed)
    elsewhere = outside(tmp_path)
    submission = class_of(tmp_path, lambda folder: random_tree(folder, rng, elsewhere, entries=rng.randrange(20, 120)))

    copied = submissions.copy(submission, tmp_path / "copy", SMALL)

    assert_a_safe_copy(copied, submission.folder, SMALL)
    assert_nothing_left_out_silently(submission.folder, SMALL)
    again = submissions.copy(submission, tmp_path / "copy-again", SMALL)
    assert again.skipped == copied.skipped
    assert submissions.content_hash(copied.folder, "v1") == submissions.content_hash(again.folder, "v1")
    assert (elsewhere / "secret.txt").read_bytes() == SECRET and sorted(os.listdir(elsewhere)) == ["secret.txt"]


def test_a_change_to_any_byte_or_name_changes_the_content_hash(tmp_path):
    rng = random.Random(7)
    submission = class_of(tmp_path, lambda folder: random_tree(folder, rng, outside(tmp_path), entries=40))
    copied = submissions.copy(submission, tmp_path / "copy", SMALL)
    files = submissions.listing(copied.folder).files
    assert files, "the random tree should hold some regular file"
    before = submissions.content_hash(copied.folder, "v1")
    assert submissions.content_hash(copied.folder, "v2") != before
    path = copied.folder / files[0][0]
    path.write_bytes(path.read_bytes() + b"!")
    changed = submissions.content_hash(copied.folder, "v1")
    assert changed != before
    path.rename(path.with_name(path.name + "-renamed"))
    assert submissions.content_hash(copied.folder, "v1") not in (before, changed)


@pytest.fixture
def deep(tmp_path):
    """A submission holding a folder 2,100 levels deep (4,200 characters of path, past PATH_MAX), removed after."""
    submission = class_of(tmp_path, lambda folder: (folder / "notes.txt").write_text("kept"))
    nest(submission.folder, 2100)
    yield submission
    unnest(submission.folder)


def test_a_folder_nested_past_any_path_limit_is_cut_at_the_depth_limit_with_a_note(deep, tmp_path):
    copied = submissions.copy(deep, tmp_path / "copy")

    assert_a_safe_copy(copied, deep.folder, submissions.LIMITS)
    assert (copied.folder / "notes.txt").read_text() == "kept"
    depth = submissions.LIMITS.depth
    too_deep = "/".join(["d"] * (depth + 1))
    assert copied.skipped == (f"{too_deep}: folders nested more than {depth} levels deep; what it holds was left out",)
    assert len(submissions.content_hash(copied.folder)) == 64
    found, _ = submissions.find(tmp_path / "class", LAB)  # the class's folder is read as before
    assert [s.student_id for s in found] == ["ada"]


def test_past_the_limit_on_files_the_rest_is_left_out_in_one_note(tmp_path):
    limit = 300  # the default, 10,000, works alike; removing that many files takes this disk seconds

    def many(folder: Path) -> None:
        for number in range(limit + 50):
            (folder / f"{number:05d}.txt").touch()

    copied = submissions.copy(class_of(tmp_path, many), tmp_path / "copy", Limits(entries=limit))

    assert len(os.listdir(copied.folder)) == limit
    assert copied.skipped == (f"everything after the first {limit:,} files and folders (the limit)",)


def test_what_no_folder_or_file_may_be_is_noted_never_read(tmp_path):
    elsewhere = outside(tmp_path)

    def hostile(folder: Path) -> None:
        os.mkfifo(folder / f"{LAB}.ipynb")  # reading it would hang the grader
        (folder / "artifacts").mkdir()
        with open(folder / "artifacts" / "fc.keras", "wb") as handle:
            handle.truncate(2**40)
        (folder / "artifacts" / "cnn.keras").symlink_to(elsewhere / "secret.txt")
        (folder / "comet-offline").symlink_to(elsewhere)
        (folder / os.fsdecode(b"caf\xe9.txt")).write_text("a name that is not UTF-8")
        (folder / ("x" * 250)).mkdir()
        (folder / ("x" * 250) / ("y" * 250)).mkdir()
        (folder / ("x" * 250) / ("y" * 250) / ("z" * 250)).mkdir()
        (folder / ("x" * 250) / ("y" * 250) / ("z" * 250) / ("w" * 250 + ".txt")).write_text("far")

    copied = submissions.copy(class_of(tmp_path, hostile), tmp_path / "copy")

    assert entries_below(copied.folder) == []  # nothing there was a regular file it could take
    notes = dict(note.split(": ", 1) for note in copied.skipped)
    assert notes == {
        f"{LAB}.ipynb": "not a regular file (a FIFO, socket or device)",
        "artifacts/cnn.keras": "a link, not a file",
        "artifacts/fc.keras": f"{2**40:,} bytes, over the limit of {submissions.LIMITS.file_bytes:,} per file "
                              f"and {submissions.LIMITS.total_bytes:,} per submission",
        "caf\\xe9.txt": "its name is not UTF-8 text; rename it with plain letters and digits",
        "comet-offline": "a link, not a file",
        f"{'x' * 250}/{'y' * 250}/{'z' * 250}/{'w' * 250}.txt": "a path of more than 1,000 characters",
    }


def test_student_folders_that_cannot_be_graded_are_refused_with_a_line_each(tmp_path):
    root = tmp_path / "class"
    elsewhere = outside(tmp_path)
    names = [b"ada", b"caf\xe9", b"=HYPERLINK(1)", b"new\nline", b"-rf", b"a" * 65, b"bob", b"cy", b"dee", b"eve\n"]
    for name in names:
        os.makedirs(os.path.join(os.fsencode(root), name))
    for name in names[:6]:
        os.mkdir(os.path.join(os.fsencode(root), name, LAB.encode()))
    (root / "bob" / LAB).symlink_to(elsewhere)  # a link in place of the lab's folder
    os.mkfifo(root / "cy" / LAB)
    (root / "dee" / LAB).mkdir()
    (root / "dee-link").symlink_to(root / "dee")  # a link to a student's folder: not a student
    (root / "eve\n" / LAB).mkdir()  # a trailing newline is not part of an id

    found, refused = submissions.find(root, LAB)

    assert [submission.student_id for submission in found] == ["ada", "dee"]
    assert sorted(refused) == sorted([
        "'caf\\xe9': not a usable student id (letters, digits, . _ - only); rename the folder to grade it",
        "'=HYPERLINK(1)': not a usable student id (letters, digits, . _ - only); rename the folder to grade it",
        "'new\\nline': not a usable student id (letters, digits, . _ - only); rename the folder to grade it",
        "'-rf': not a usable student id (letters, digits, . _ - only); rename the folder to grade it",
        f"'{'a' * 65}': not a usable student id (letters, digits, . _ - only); rename the folder to grade it",
        "'bob': lab1-mnist is a link or a file, not a folder; hand in the folder itself",
        "'cy': lab1-mnist is a link or a file, not a folder; hand in the folder itself",
        "'eve\\n': not a usable student id (letters, digits, . _ - only); rename the folder to grade it",
    ])


def test_a_class_of_only_unusable_folders_is_an_error_that_names_them_printably(tmp_path):
    root = tmp_path / "class"
    os.makedirs(os.path.join(os.fsencode(root), b"caf\xe9", LAB.encode()))
    with pytest.raises(FileNotFoundError) as caught:
        submissions.find(root, LAB)
    assert "every one was refused: 'caf\\xe9'" in str(caught.value)
    str(caught.value).encode("utf-8")
