"""Grading on a Dask cluster: real ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, real faults.

The class (tests/grading_cluster.py: six submissions of lab 1, three of them
running sandboxes for tens of seconds) is graded once on this machine's pool,
as today, and each run here must write the very same rows (every field but the
timings) with the same secret: exactly one per student, none lost, none twice.
The faults are real: a worker process killed with SIGKILL in the middle of a
task, one stopped with SIGSTOP (a hung worker: the scheduler stops hearing its
heartbeats), a scheduler killed between two runs of the command. Only the
submission that kills its worker each time is simulated, by a worker plugin
(tests/dask_poison_preload.py): student code in the sandbox cannot reach the worker.
"""

from __future__ import annotations

import dataclasses

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from autograder.pipeline import cluster as clusters
from autograder.pipeline.grading import grade
from tests.grading_cluster import (HEAVY, INSTANT, LAB, DaskProcesses, build_class, options, processing_for,
                                   reference_rows, rows, shared_class)

POISON_PRELOAD = Path(__file__).with_name("dask_poison_preload.py")
SCHEDULER = {"DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL": "15s"}
"""A scheduler that drops a worker after 15 s without its heartbeats (5 minutes by default): the hung worker's test."""
BATCH_SECONDS = 900


# --- the cluster option, without a cluster ---------------------------------------------------


def test_a_cluster_is_named_local_n_a_scheduler_s_address_or_slurm():
    assert [clusters.kind(spec) for spec in ("local:2", "tcp://10.0.0.5:8786", "tls://head:8786", "slurm")] == [
        "local", "scheduler", "scheduler", "slurm"]
    for wrong in ("local", "local:0", "local:two", "tcp://", "8786", "pbs", ""):
        with pytest.raises(ValueError, match="local:N"):
            clusters.kind(wrong)
    with pytest.raises(ValueError, match="--queue"):
        clusters.Cluster("local:2", queue="short")
    with pytest.raises(ValueError, match="--jobs"):
        clusters.Cluster("slurm", jobs=0)


def test_each_worker_s_sandboxes_get_its_share_of_its_host_s_cores():
    from autograder.pipeline.options import GradingOptions

    assert clusters.Cluster("local:2").threads_per_worker(16) == 8
    assert clusters.Cluster("local:4").threads_per_worker(2) == 1  # never none
    assert clusters.Cluster("slurm").threads_per_worker(64) == 1  # a SLURM worker has one core
    assert clusters.Cluster("tcp://head:8786").threads_per_worker(16) is None  # its hosts are not known here
    options = GradingOptions()
    shared = options.with_threads(3)
    assert shared.notebook_limits.threads == shared.probe_limits.threads == 3
    assert shared.probe_limits.wall_seconds == options.probe_limits.wall_seconds and shared.secret is options.secret
    chosen = dataclasses.replace(options, probe_limits=dataclasses.replace(options.probe_limits, threads=5))
    assert chosen.with_threads(1).probe_limits.threads == 5  # an instructor's own choice is kept


@pytest.mark.parametrize("arguments, says", [
    (["--queue", "short"], "--queue"),
    (["--scratch", "/tmp"], "--scratch"),
    (["--cluster", "local:2", "--workers", "2"], "--workers sizes this machine's pool"),
    (["--cluster", "pbs"], "local:N"),
])
def test_cluster_options_that_do_not_go_together_are_refused_before_anything_is_graded(tmp_path, capsys,
                                                                                         arguments, says):
    from autograder.__main__ import USAGE_ERROR, main

    (tmp_path / "class").mkdir()
    assert main(["grade", LAB, str(tmp_path / "class"), "--out", str(tmp_path / "out"), *arguments]) == USAGE_ERROR
    assert says in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_scheduler_that_does_not_answer_is_a_usage_error_before_anything_is_graded(tmp_path):
    from tests.grading_cluster import free_port

    (tmp_path / "class" / "someone" / LAB).mkdir(parents=True)
    ran = subprocess.run([sys.executable, "-m", "autograder", "grade", LAB, str(tmp_path / "class"), "--out",
                          str(tmp_path / "out"), "--cluster", f"tcp://127.0.0.1:{free_port()}"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"})
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "no Dask scheduler answered there" in ran.stderr
    assert not (tmp_path / "out" / "results").exists()


def test_the_grader_imports_dask_only_for_a_cluster():
    loaded = subprocess.run([sys.executable, "-c", "import sys, autograder.__main__, autograder.pipeline.grading; "
                             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"],
                            capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def _sleep_then_return(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pytest.mark.slow
def test_a_task_still_running_after_the_task_timeout_is_stopped_and_the_others_finish():
    """A worker whose task hangs (heartbeats still answered) costs that one row, not the batch."""
    with clusters.start(clusters.Cluster("local:1", task_timeout=4.0)) as where:
        outcomes = dict(where.run(_sleep_then_return, [("hung", "hung", (600.0,)), ("quick", "quick", (0.1,))]))
        assert outcomes["quick"] == 0.1
        assert isinstance(outcomes["hung"], TimeoutError) and "--task-timeout" in str(outcomes["hung"])
        where.client.wait_for_workers(1, timeout=60)  # its worker was restarted, and grades again
        assert dict(where.run(_sleep_then_return, [("after", "after", (0.1,))])) == {"after": 0.1}


# --- a class on real Dask processes ----------------------------------------------------------


@pytest.fixture(scope="module")
def class_dir(tmp_path_factory) -> Path:
    return shared_class(tmp_path_factory)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, mirror_dir) -> dict[str, dict]:
    return reference_rows(tmp_path_factory, mirror_dir)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """``dask scheduler`` and two ``dask worker`` processes (with nannies), as the instructor's guide starts them."""
    processes = DaskProcesses(tmp_path_factory.mktemp("dask-logs"), environment=SCHEDULER, preload=POISON_PRELOAD)
    try:
        yield processes.start()
    finally:
        processes.stop()


def _in_background(target) -> tuple[threading.Thread, dict]:
    finished: dict = {}

    def run():
        try:
            finished["results"] = target()
        except BaseException as error:  # noqa: BLE001 - seen by the test
            finished["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, finished


def _joined(thread: threading.Thread, finished: dict):
    thread.join(BATCH_SECONDS)
    assert not thread.is_alive(), f"the batch did not end within {BATCH_SECONDS} s"
    if "error" in finished:
        raise finished["error"]
    return finished["results"]


@pytest.mark.slow
@pytest.mark.timeout(BATCH_SECONDS + 600)
def test_a_class_on_two_dask_workers_matches_one_machine_with_one_worker_killed_and_one_hung(
        class_dir, reference, dask_cluster, tmp_path, mirror_dir):
    out = tmp_path / "graded"
    with dask_cluster.client() as observer:
        observer.wait_for_workers(2, timeout=120)
        thread, finished = _in_background(lambda: grade(LAB, class_dir, out, options=options(mirror_dir),
                                                        cluster=clusters.Cluster(dask_cluster.address)))
        killed = processing_for(observer, "solution-only", at_least=3.0)  # its notebook is running in the sandbox
        os.kill(observer.run(os.getpid)[killed], signal.SIGKILL)
        stopped = processing_for(observer, "untrained", at_least=3.0)  # its models are being probed
        os.kill(observer.run(os.getpid, workers=[stopped])[stopped], signal.SIGSTOP)
        results = _joined(thread, finished)
        events = [event for _, event in observer.get_events("scheduler")]
    assert sorted(result.student_id for result in results) == sorted(reference)
    assert rows(out) == reference
    assert any(event.get("action") == "worker-ttl-timed-out" and stopped in event.get("workers", ())
               for event in events), "the hung worker was found by its missing heartbeats"


@pytest.mark.slow
@pytest.mark.timeout(BATCH_SECONDS)
def test_a_submission_that_kills_its_worker_every_time_ends_as_an_error_row_after_bounded_retries(
        tmp_path, reference, dask_cluster, mirror_dir):
    class_dir = build_class(tmp_path / "class", ["metrics-only"])
    (class_dir / "poison-pill" / LAB).mkdir(parents=True)  # the preload kills any worker that starts its task
    (class_dir / "poison-pill" / LAB / "README.txt").write_text("nothing\n")
    with dask_cluster.client() as observer:
        observer.wait_for_workers(2, timeout=120)
    results = {result.student_id: result
               for result in grade(LAB, class_dir, tmp_path / "graded", options=options(mirror_dir),
                                   cluster=clusters.Cluster(dask_cluster.address))}
    poisoned = results["poison-pill"]
    assert poisoned.status == "error" and poisoned.score == 0
    assert poisoned.grader_error.startswith("autograder.pipeline.cluster.WorkersDied: the workers grading it died "
                                            f"{clusters.ALLOWED_FAILURES + 1} times")
    assert rows(tmp_path / "graded")["metrics-only"] == reference["metrics-only"]
    assert sorted(rows(tmp_path / "graded")) == ["metrics-only", "poison-pill"]


@pytest.mark.slow
@pytest.mark.timeout(2 * BATCH_SECONDS)
def test_a_run_cut_short_by_its_scheduler_s_death_is_finished_by_the_next_run_on_a_restarted_scheduler(
        class_dir, reference, tmp_path, mirror_dir):
    import dask
    import distributed  # noqa: F401 - its configuration's defaults, before one of them is set here

    processes = DaskProcesses(tmp_path / "logs", environment=SCHEDULER)
    out, first_run = tmp_path / "graded", []

    def kill_the_scheduler_after_a_first_heavy_row(result, reused):
        first_run.append(result.student_id)
        if result.student_id in HEAVY and processes.scheduler.poll() is None:
            processes.kill_scheduler()

    try:
        processes.start()
        # The client waits this long for its scheduler to come back before giving up the tasks it sent.
        with dask.config.set({"distributed.comm.timeouts.connect": "10s"}):
            cut = grade(LAB, class_dir, out, options=options(mirror_dir), cluster=clusters.Cluster(processes.address),
                        progress=kill_the_scheduler_after_a_first_heavy_row)
        assert sorted(result.student_id for result in cut) == sorted(reference) == sorted(rows(out))
        lost = {result.student_id for result in cut if result.status == "error"}
        assert lost, "the scheduler died while submissions were still being graded"
        assert all(rows(out)[student] == reference[student] for student in set(reference) - lost)
        processes.stop()
        processes.start()  # the same address: what an instructor restarts
        again: dict[str, bool] = {}
        grade(LAB, class_dir, out, options=options(mirror_dir), cluster=clusters.Cluster(processes.address),
              progress=lambda result, reused: again.__setitem__(result.student_id, reused))
    finally:
        processes.stop()
    assert rows(out) == reference
    assert {student for student, reused in again.items() if not reused} == lost  # the rest were kept


@pytest.mark.slow
@pytest.mark.timeout(BATCH_SECONDS)
def test_the_command_grades_on_a_local_cluster_with_a_progress_bar_and_the_dashboard_link(
        tmp_path, reference, mirror_dir):
    import fcntl
    import pty
    import struct
    import termios

    students = ["untrained", *INSTANT]
    build_class(tmp_path / "class", students)
    terminal, stderr = pty.openpty()  # the bar is drawn on a terminal only, as an instructor's
    fcntl.ioctl(stderr, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # 160 columns
    ran = subprocess.Popen([sys.executable, "-m", "autograder", "grade", LAB, str(tmp_path / "class"), "--out",
                            str(tmp_path / "graded"), "--profile", "quick", "--cluster", "local:2"],
                           stdout=subprocess.PIPE, stderr=stderr, text=True,
                           env={**os.environ, "LABKIT_DATA_DIR": str(mirror_dir)})
    os.close(stderr)
    drawn = bytearray()
    reader = threading.Thread(target=_read_all, args=(terminal, drawn), daemon=True)
    reader.start()
    stdout, _ = ran.communicate(timeout=BATCH_SECONDS)
    reader.join(30)
    os.close(terminal)
    bar = drawn.decode(errors="replace")
    assert ran.returncode == 0, stdout + bar
    assert "Dask dashboard: http://" in stdout
    assert f"{len(students)}/{len(students)}" in bar and "failed=0" in bar  # the bar, at its end
    graded = rows(tmp_path / "graded")
    assert sorted(graded) == sorted(students)
    for student in students:  # a fresh secret: the verdicts and scores, not the probes' inputs, must agree
        assert [(p["part"], p["verdict"], p["points"]) for p in graded[student]["parts"]] == [
            (p["part"], p["verdict"], p["points"]) for p in reference[student]["parts"]], student
    assert "INFO" not in stdout + bar  # Dask's own chatter stays out of the summary


def _read_all(descriptor: int, into: bytearray) -> None:
    while True:
        try:
            chunk = os.read(descriptor, 65536)
        except OSError:  # the terminal's other end closed
            return
        if not chunk:
            return
        into += chunk
