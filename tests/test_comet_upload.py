"""Uploading the class's Comet archives: real offline runs, comet_ml's real `comet upload`, no network.

Without a network every real upload fails, which is what these tests need:
each archive must fail on its own, with comet's own reason, and the batch go
on. comet_ml is pointed at a port on 127.0.0.1 that refuses connections (so no
test ever reaches the internet) and told, through its own setting, not to
retry, so each attempt takes seconds. A successful upload can only be had from
a stand-in uploader command, which the module accepts for that purpose.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.comet import upload as comet_upload
from labkit import track

LAB = "lab1-mnist"
STUDENTS = ("ada", "bob", "cy")
FAKE_KEY = "NotARealKeyButLongEnough1234"
SUCCEEDS = (sys.executable, "-c", "import sys; sys.exit(0)")
FAILS_FOR_CY = (sys.executable, "-c", "import sys; sys.exit('/cy/' in sys.argv[1])")
HANGS = (sys.executable, "-c", "import time; time.sleep(60)")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One real offline Comet archive per student, written by labkit.track as under grading."""
    folder = tmp_path_factory.mktemp("runs")
    archives = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("COMET_API_KEY", "")
        patch.setenv("LABKIT_HEADLESS", "1")
        patch.delenv("LABKIT_TRACKING", raising=False)
        for number, student in enumerate(STUDENTS):
            with track.start(course="dl101", lab=LAB, student=student, model="cnn",
                             offline_dir=folder / student) as run:
                run.log_metrics({"test_accuracy": 0.95 + number / 100}, step=1)
            archives[student] = run.archive
    return archives


@pytest.fixture
def out(tmp_path, runs) -> Path:
    """A grading output folder in which grading kept each student's archive."""
    out = tmp_path / "graded"
    (out / "results" / LAB).mkdir(parents=True)
    for student, archive in runs.items():
        kept = comet_upload.keep_archives(archive.parent, out, LAB, student)
        assert kept == (archive.name,)
    return out


@pytest.fixture
def refusing_port():
    """A port on 127.0.0.1 held by a socket that never listens: connecting is refused at once."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


@pytest.fixture
def comet_without_network(refusing_port, tmp_path, monkeypatch) -> dict[str, str]:
    """A (fake) API key, a server that refuses connections, no retries, and no ~/.comet.config."""
    settings = {"COMET_API_KEY": FAKE_KEY, "COMET_URL_OVERRIDE": f"http://127.0.0.1:{refusing_port}/clientlib/",
                "COMET_GET_OR_ADD_EXPERIMENT_RETRY_TOTAL": "0", "HOME": str(tmp_path)}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return settings


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "comet-upload", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **env})


def log_rows(out: Path) -> dict[str, dict]:
    with open(out / comet_upload.LOG_NAME, newline="") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


# --- keeping ------------------------------------------------------------------------------------------


def test_grading_keeps_only_readable_archives_and_forgets_what_a_resubmission_dropped(runs, tmp_path):
    handed_in = tmp_path / "copy" / "comet-offline"
    handed_in.mkdir(parents=True)
    real = handed_in / runs["ada"].name
    real.write_bytes(runs["ada"].read_bytes())
    (handed_in / "not-a-zip.zip").write_text("a zip in name only")
    (handed_in / "folder.zip").mkdir()
    with open(handed_in / "huge.zip", "wb") as handle:
        handle.truncate(comet_upload.comet_review.MAX_ARCHIVE_BYTES + 1)
    destination = comet_upload.kept_folder(tmp_path / "graded", LAB, "ada")

    assert comet_upload.keep_archives(handed_in, tmp_path / "graded", LAB, "ada") == (real.name,)
    assert [path.name for path in destination.iterdir()] == [real.name]
    assert (destination / real.name).read_bytes() == runs["ada"].read_bytes()

    real.unlink()  # handed in again, without the run
    assert comet_upload.keep_archives(handed_in, tmp_path / "graded", LAB, "ada") == ()
    assert not destination.exists()


# --- refusing, listing --------------------------------------------------------------------------------


def test_without_a_key_nothing_is_uploaded_and_the_message_says_how_to_set_one(out, tmp_path):
    done = cli(LAB, str(out), env={"COMET_API_KEY": "", "HOME": str(tmp_path)})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "No Comet API key" in done.stderr and "COMET_API_KEY" in done.stderr and "comet login" in done.stderr
    assert "FAILED" not in done.stdout and "uploaded  " not in done.stdout
    assert not (out / comet_upload.LOG_NAME).exists()


def test_a_dry_run_lists_every_archive_and_writes_nothing(out, tmp_path):
    done = cli(LAB, str(out), "--dry-run", env={"COMET_API_KEY": "", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    listed = [line.split()[-1] for line in done.stdout.splitlines() if line.startswith("would upload")]
    assert listed == [archive.label for archive in comet_upload.find_archives(out, LAB)]
    assert [label.split("/")[0] for label in listed] == list(STUDENTS)
    assert "3 archive(s) to upload" in done.stdout and "no Comet API key" in done.stdout
    assert not (out / comet_upload.LOG_NAME).exists()


def test_an_output_folder_that_was_never_graded_is_refused_with_the_command_to_run(tmp_path):
    done = cli(LAB, str(tmp_path), env={"COMET_API_KEY": FAKE_KEY})
    assert done.returncode == 2
    assert "no grading of lab1-mnist" in done.stderr and "python -m autograder grade lab1-mnist" in done.stderr


# --- uploading with comet's own uploader ------------------------------------------------------------


@pytest.mark.slow
def test_each_failed_upload_is_reported_with_comet_s_reason_and_the_batch_goes_on(out, comet_without_network):
    started = time.monotonic()
    done = cli(LAB, str(out), env=comet_without_network)
    seconds = time.monotonic() - started

    assert done.returncode == 1, done.stdout + done.stderr
    failed = [line for line in done.stdout.splitlines() if line.startswith("FAILED")]
    assert [line.split()[1].split("/")[0] for line in failed] == list(STUDENTS)
    rows = log_rows(out)
    assert sorted(rows) == list(STUDENTS)
    for student, row in rows.items():
        assert row["status"] == "failed" and row["lab"] == LAB
        assert "Upload failed for" in row["reason"] and "Connection refused" in row["reason"], row["reason"]
        assert f"{student}/{row['archive']}" in row["reason"]  # named as the instructor knows it
    assert "0 uploaded, 3 failed" in done.stdout
    assert seconds < 120, f"three refused uploads took {seconds:.0f} s"


def test_a_rerun_uploads_only_what_did_not_go_through(out, comet_without_network, runs):
    lines = []
    first = comet_upload.upload(LAB, out, uploader=FAILS_FOR_CY, report=lines.append)
    assert [(o.student_id, o.status) for o in first] == [("ada", "uploaded"), ("bob", "uploaded"), ("cy", "failed")]
    assert first[2].reason == "the uploader exited with status 1"

    lines.clear()
    again = comet_upload.upload(LAB, out, report=lines.append)  # comet's own uploader, no network
    assert [(o.student_id, o.status) for o in again] == [("cy", "failed")]
    assert "Connection refused" in again[0].reason
    assert [line.split()[:2] for line in lines[:2]] == [["skipped", f"ada/{runs['ada'].name}:"],
                                                      ["skipped", f"bob/{runs['bob'].name}:"]]
    rows = log_rows(out)
    assert {student: row["status"] for student, row in rows.items()} == {
        "ada": "uploaded", "bob": "uploaded", "cy": "failed"}

    kept = comet_upload.kept_folder(out, LAB, "ada") / runs["ada"].name
    kept.write_bytes(runs["bob"].read_bytes())  # ada handed in another run under the same name
    third = comet_upload.upload(LAB, out, uploader=SUCCEEDS, report=lines.append)
    assert [(o.student_id, o.status) for o in third] == [("ada", "uploaded"), ("cy", "uploaded")]
    assert {row["status"] for row in log_rows(out).values()} == {"uploaded"}
    assert comet_upload.upload(LAB, out, uploader=HANGS, report=lines.append) == []  # nothing left to do


def test_a_hung_upload_is_stopped_at_its_time_limit_and_the_next_one_still_runs(out, comet_without_network):
    started = time.monotonic()
    outcomes = comet_upload.upload(LAB, out, uploader=HANGS, timeout_s=1, report=lambda line: None)
    assert [o.status for o in outcomes] == ["failed"] * 3
    assert all(o.reason == "no answer within 1 s; the upload was stopped" for o in outcomes)
    assert time.monotonic() - started < 30


def test_a_log_this_tool_did_not_write_is_refused_not_overwritten(out, comet_without_network):
    log = out / comet_upload.LOG_NAME
    log.write_text("student,grade\nada,A\n")
    with pytest.raises(ValueError, match="move it aside"):
        comet_upload.upload(LAB, out, uploader=SUCCEEDS)
    assert log.read_text() == "student,grade\nada,A\n"


def test_the_failure_reason_is_comet_s_error_and_exception_lines():
    output = ("COMET INFO: Attempting to upload 'x.zip'...\n"
              "COMET ERROR: Upload failed for 'x.zip'; unknown error\n"
              "Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n"
              "requests.exceptions.ConnectionError: refused\n"
              "COMET ERROR: At least one experiment failed to upload, check COMET ERROR messages above\n")
    assert comet_upload.failure_reason(output, 1) == (
        "Upload failed for 'x.zip'; unknown error | requests.exceptions.ConnectionError: refused")
    assert comet_upload.failure_reason("", 3) == "the uploader exited with status 3"


def test_a_class_that_handed_in_no_archive_uploads_nothing_and_says_so(tmp_path, comet_without_network):
    out = tmp_path / "graded"
    (out / "results" / LAB).mkdir(parents=True)
    lines = []
    assert comet_upload.upload(LAB, out, uploader=HANGS, report=lines.append) == []
    assert lines == [f"No Comet archives are kept for {LAB} in {out}: no submission handed in a readable one."]
    assert not (out / comet_upload.LOG_NAME).exists()
