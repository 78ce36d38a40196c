"""``make demo`` as a user runs it: a real subprocess, real data, real figures and archive."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile

import pytest


@pytest.mark.slow
def test_demo_runs_end_to_end_in_the_quick_profile(mirror_dir, tmp_path):
    out = tmp_path / "demo-output"
    env = {**os.environ, "LABKIT_PROFILE": "quick", "LABKIT_DATA_DIR": str(mirror_dir)}
    env.pop("COMET_API_KEY", None)
    result = subprocess.run([sys.executable, "-m", "labkit.demo", str(out)], capture_output=True,
                            text=True, env=env, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "27 file(s) verified, 0 bad" in result.stdout
    assert "architecture check:" in result.stdout
    accuracy = float(re.search(r"test accuracy (\d\.\d+)", result.stdout).group(1))
    assert accuracy > 0.93
    figures = sorted(p.name for p in out.glob("*.png"))
    assert figures == ["confusion_matrix.png", "emnist_images.png", "history.png", "live_curves.png",
                       "mnist_images.png", "predictions.png"]
    assert all((out / f).stat().st_size > 10_000 for f in figures)
    (archive,) = (out / "comet-offline").glob("*.zip")
    with zipfile.ZipFile(archive) as bundle:
        assert any(name.endswith(".json") for name in bundle.namelist())
