"""The ``labkit`` command as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.datafiles import HTML_PAGE, scratch_mirror


def run(*args, env=None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], capture_output=True,
                          text=True, env=full_env, timeout=300)


def test_data_verify_checks_every_file_of_the_shared_mirror(mirror_dir):
    result = run("data", "verify", env={"LABKIT_DATA_DIR": str(mirror_dir)})
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if " mirror " in line]
    assert len(rows) == 27 and all(" ok " in row for row in rows)
    assert "27 file(s) verified, 0 bad." in result.stdout


def test_data_verify_fails_on_a_bad_file_and_names_it(mirror_dir, tmp_path):
    root = scratch_mirror(mirror_dir, tmp_path / "mirror", folders=("mnist",))
    bad = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(HTML_PAGE)
    result = run("data", "verify", env={"LABKIT_DATA_DIR": str(root)})
    assert result.returncode == 1
    assert "3 file(s) verified, 1 bad." in result.stdout
    assert str(bad) in result.stderr and "HTML page" in result.stderr


def test_data_fetch_offline_reports_what_is_missing(mirror_dir, tmp_path):
    env = {"LABKIT_DATA_DIR": str(mirror_dir), "LABKIT_OFFLINE": "1",
           "LABKIT_CACHE_DIR": str(tmp_path)}
    ok = run("data", "fetch", "mnist", env=env)
    assert ok.returncode == 0 and "mnist: ok" in ok.stdout and ok.stdout.count("official sha256") == 4
    missing = run("data", "fetch", "emnist-letters", env=env)
    assert missing.returncode == 1 and "emnist-letters-train-images-idx3-ubyte.gz" in missing.stderr
    unknown = run("data", "fetch", "cifar10", env=env)
    assert unknown.returncode == 2 and "choose from mnist" in unknown.stderr


def test_data_info_shows_where_each_split_is(mirror_dir, tmp_path):
    result = run("data", "info", env={"LABKIT_DATA_DIR": str(mirror_dir), "LABKIT_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 0
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith(("mnist", "emnist"))}
    assert lines["mnist"].split()[4:6] == ["mirror", "mirror"]
    assert lines["emnist-bymerge"].split()[4:6] == ["missing", "mirror"]


@pytest.mark.slow
def test_doctor_reports_frameworks_device_and_data(mirror_dir):
    result = run("doctor", env={"LABKIT_DATA_DIR": str(mirror_dir)})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "torch        2.13.0" in out and "CPU only" in out
    assert "verified files:   27 ok, 0 bad" in out and f"data dir     {mirror_dir}" in out
