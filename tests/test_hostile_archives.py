"""Comet archives built to break the review or the upload: read safely, never kept, never handed to comet_ml.

comet_ml's ``comet upload`` unpacks an archive and then uploads, and deletes,
every file a message's ``file_path`` names, joined to its folder: an absolute
path or ``..`` there would read and delete the instructor's own files. So the
grader refuses such an archive as a whole, and refuses every archive it cannot
read completely. Each case below is read by the review (no exception, a
``problem`` that says why), kept by grading only when fit, and refused before
the uploader runs even when planted in the kept folder by hand.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

from autograder.comet import review as comet_review
from autograder.comet import upload as comet_upload
from tests.hostile_data import HOSTILE_ARCHIVES, SECRET, archive, metric, mutated, outside

LAB = "lab1-mnist"
RECORDS = (sys.executable, "-c", "import os, sys; open(os.environ['UPLOADED'], 'a').write(sys.argv[1] + '\\n')")
"""A stand-in uploader that only records which archive it was handed."""

REASONS = {
    "deep-json": "messages.json line 1: the JSON nests deeper than 64 levels",
    "deep-experiment": "experiment.json: the JSON nests deeper than 64 levels",
    "huge-integer": "messages.json line 1: a number of 5,000 characters (at most 64 are read)",
    "overflowing-float": "messages.json line 1: the number 1e999 is out of range",
    "nan": "messages.json line 1: NaN is not a number the grader accepts",
    "infinity": "messages.json line 1: -Infinity is not a number the grader accepts",
    "not-utf8": "messages.json is not UTF-8 text",
    "not-json": "messages.json line 1: not valid JSON",
    "line-not-an-object": "messages.json line 1 is not a JSON object",
    "experiment-not-an-object": "experiment.json is not a JSON object",
    "no-messages": "no messages.json inside: not a Comet offline archive",
    "absolute-member": "the member '/etc/cron.d/evil' is an absolute path",
    "dot-dot-member": "the member '../../.bashrc' is a path that leads out of the archive (..)",
    "backslash-dot-dot-member": "the member '..\\\\..\\\\evil' is a path that leads out of the archive (..)",
    "drive-member": "the member 'C:/Windows/evil' is an absolute path",
    "link-member": "the member 'assets/passwd' is a link",
    "encrypted-member": "the member 'assets/x' is encrypted",
    "file-path-outside": "messages.json line 4 names a file outside the archive: '/etc/shadow'",
    "file-path-dot-dot": "messages.json line 4 names a file outside the archive: 'assets/../../../home/x'",
    "file-path-not-a-member": "messages.json line 4 names a file outside the archive: 'missing.bin'",
    "file-path-not-text": "messages.json line 4 names a file outside the archive: \"['/etc/shadow']\"",
    "nested-item-outside": "messages.json line 4 names a file outside the archive: '/root/.ssh/id_rsa'",
    "thumbnail-outside": "messages.json line 4 names a file outside the archive: '/etc/hosts'",
    "many-members": "302 files inside, more than the 256 a run writes",
    "too-many-lines": "messages.json has 100,001 lines, more than the 100,000 allowed",
    "zip-bomb": "83,886,082 bytes once unpacked, more than the 67,108,864 allowed",
    "truncated": "unreadable (BadZipFile)",
    "not-a-zip": "unreadable (BadZipFile)",
    "empty": "unreadable (BadZipFile)",
}


@pytest.fixture(scope="module")
def hostile() -> dict[str, bytes]:
    return {name: build() for name, build in HOSTILE_ARCHIVES.items()}


def handed_in(folder: Path, archives: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True)
    for name, data in archives.items():
        (folder / f"{name}.zip").write_bytes(data)
    return folder


def assert_writable_anywhere(run: dict) -> None:
    """Every text of a run can go into a JSON file, a CSV file and a web page."""
    for value in (run.get("archive"), run.get("experiment"), run.get("problem"),
                  *run.get("params", {}).items(), *run.get("metrics", {}).items()):
        str(value).encode("utf-8")


def test_each_hostile_archive_is_a_problem_that_says_why_and_the_honest_one_is_read(tmp_path, hostile):
    assert set(REASONS) == set(hostile)
    folder = handed_in(tmp_path / "comet-offline", {**hostile, "honest": archive()})

    runs = comet_review.read_runs(folder)

    assert len(runs) == comet_review.MAX_ARCHIVES + 1
    assert runs[-1] == {"archive": f"{len(hostile) + 1 - comet_review.MAX_ARCHIVES} more archives",
                        "problem": f"only the first {comet_review.MAX_ARCHIVES} archives are read"}
    assert comet_review.read_archive(folder / "honest.zip") == {
        "experiment": "0123456789abcdef", "tags": [], "params": {"model": "cnn"}, "metrics": {"test_accuracy": 0.95}}
    for name in hostile:
        run = comet_review.read_archive(folder / f"{name}.zip")
        assert run["problem"].startswith(REASONS[name]), (name, run["problem"])
        assert_writable_anywhere(run)


@pytest.mark.parametrize("seed", range(4))
def test_randomly_damaged_archives_never_raise(seed, hostile):
    rng = random.Random(seed)
    sources = [archive(), *(data for data in hostile.values() if len(data) < 2**20)]
    for _ in range(100):
        run = comet_review.parse_archive(mutated(rng.choice(sources), rng))
        assert set(run) in ({"problem"}, {"experiment", "tags", "params", "metrics"}), run
        assert_writable_anywhere(run)


def test_logged_values_are_untrusted_numbers_or_short_text(tmp_path):
    messages = [metric("test_accuracy", True), metric("loss", 10**60), metric("lr", "\udcff" + "x" * 500),
                '{"type": "parameter_msg", "payload": {"param": {"paramName": "\\ud800", "paramValue": null}}}',
                '{"type": "metric_msg", "payload": [1, 2]}', '{"type": "metric_msg"}']
    run = comet_review.parse_archive(archive(messages))
    assert run["metrics"] == {"test_accuracy": True, "loss": 1e60, "lr": "\\udcff" + "x" * 199}
    assert run["params"] == {"\\ud800": None}
    rows = [{"student_id": "ada", "lab": LAB, "archive": "a.zip", "experiment": "", "model": "cnn",
             "logged_test_accuracy": logged, "measured_test_accuracy": 0.98, "flag": ""}
            for logged in (True, "0.99", 10**400, 0.97)]
    flags = [row["flag"] for row in comet_review.flag_disagreements(rows)]
    assert flags == ["", "", "", "logged 0.9700, measured 0.9800"]  # only a finite number is compared


def test_grading_keeps_only_the_archives_fit_to_upload(tmp_path, hostile):
    folder = handed_in(tmp_path / "copy" / "comet-offline", {**hostile, "honest": archive()})
    out = tmp_path / "graded"
    assert comet_upload.keep_archives(folder, out, LAB, "ada") == ("honest.zip",)
    assert os.listdir(comet_upload.kept_folder(out, LAB, "ada")) == ["honest.zip"]


@pytest.fixture
def kept_by_hand(tmp_path, hostile, monkeypatch) -> Path:
    """A graded OUT where every hostile archive was planted in the kept folder, past grading's checks."""
    out = tmp_path / "graded"
    (out / "results" / LAB).mkdir(parents=True)
    handed_in(comet_upload.kept_folder(out, LAB, "ada"), {**hostile, "honest": archive()})
    monkeypatch.setenv("COMET_API_KEY", "NotARealKeyButLongEnough1234")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("UPLOADED", str(tmp_path / "uploaded.txt"))
    return out


def test_an_archive_unfit_to_upload_is_never_handed_to_the_uploader(kept_by_hand, tmp_path):
    lines = []
    outcomes = comet_upload.upload(LAB, kept_by_hand, uploader=RECORDS, report=lines.append)

    honest = comet_upload.kept_folder(kept_by_hand, LAB, "ada") / "honest.zip"
    assert (tmp_path / "uploaded.txt").read_text().splitlines() == [str(honest)]
    by_archive = {outcome.archive.removesuffix(".zip"): outcome for outcome in outcomes}
    assert by_archive.pop("honest").status == "uploaded"
    for name, outcome in by_archive.items():
        assert outcome.status == "failed" and outcome.reason.startswith(f"not uploaded: {REASONS[name]}"), name
    assert sum(line.startswith("FAILED") for line in lines) == len(REASONS)


def test_a_dry_run_says_which_archives_would_be_refused(kept_by_hand):
    lines = []
    comet_upload.upload(LAB, kept_by_hand, dry_run=True, report=lines.append)
    assert "would upload ada/honest.zip" in lines
    assert f"would refuse ada/zip-bomb.zip: {REASONS['zip-bomb']}" in lines


def test_nothing_is_kept_read_or_deleted_through_a_linked_folder_under_out(tmp_path):
    elsewhere = outside(tmp_path)
    (elsewhere / "honest.zip").write_bytes(archive())
    copy = handed_in(tmp_path / "copy" / "comet-offline", {"honest": archive()})
    out = tmp_path / "graded"
    (out / "results" / LAB).mkdir(parents=True)
    student = comet_upload.kept_folder(out, LAB, "ada")
    student.parent.mkdir(parents=True)
    student.symlink_to(elsewhere)  # a stale link where the student's kept archives go

    for offline in (copy, tmp_path / "nothing-handed-in"):
        with pytest.raises(comet_upload.KeptFolderRefused, match="is a link: .* Remove it"):
            comet_upload.keep_archives(offline, out, LAB, "ada")
    assert sorted(os.listdir(elsewhere)) == ["honest.zip", "secret.txt"]
    assert (elsewhere / "secret.txt").read_bytes() == SECRET
    assert comet_upload.find_archives(out, LAB) == []  # a linked student folder is no student's

    student.unlink()
    (out / "comet").rename(tmp_path / "real-comet")
    (out / "comet").symlink_to(elsewhere)
    with pytest.raises(comet_upload.KeptFolderRefused):
        comet_upload.find_archives(out, LAB)


def test_stale_links_in_a_kept_folder_are_removed_and_what_they_point_to_is_left(tmp_path):
    elsewhere = outside(tmp_path)
    out = tmp_path / "graded"
    kept = comet_upload.kept_folder(out, LAB, "ada")
    kept.mkdir(parents=True)
    (kept / "old.zip").symlink_to(elsewhere / "secret.txt")
    (kept / "honest.zip").symlink_to(elsewhere / "secret.txt")  # the name the new archive takes
    (kept / "folder").symlink_to(elsewhere)
    (kept / "run.zip").mkdir()  # a folder under a name the new archive takes
    (kept / "run.zip" / "inside").write_text("stale")
    copy = handed_in(tmp_path / "copy" / "comet-offline", {"honest": archive(), "run": archive()})

    assert comet_upload.keep_archives(copy, out, LAB, "ada") == ("honest.zip", "run.zip")

    assert sorted(os.listdir(kept)) == ["honest.zip", "run.zip"]
    for name in ("honest.zip", "run.zip"):
        assert (kept / name).is_file() and not (kept / name).is_symlink()
        assert (kept / name).read_bytes() == archive()
    assert (elsewhere / "secret.txt").read_bytes() == SECRET and sorted(os.listdir(elsewhere)) == ["secret.txt"]


def test_a_log_that_is_not_csv_is_refused_with_what_to_do(tmp_path):
    log = tmp_path / comet_upload.LOG_NAME
    log.write_bytes(b"\xff\xfe not text")
    with pytest.raises(ValueError, match="move it aside"):
        comet_upload.read_log(log)
    assert log.read_bytes() == b"\xff\xfe not text"

