"""Which machine a run measured, and how much of it the run had: its CPU seconds over its wall seconds.

On a machine shared with other virtual machines, neighbours take cores away
without a trace in a run's own timings: the same training takes twice as long
on a busy day. Its CPU time says what happened. A run that kept two cores busy
for its whole length had the machine; one that used about one core's worth was
held back, and its seconds say more about the day than about the recipe.
Timings, and ratios of timings, are comparable only between runs that had the
same share.
"""

from __future__ import annotations

import os
import platform
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

SAMPLE_EVERY_S = 2.0
"""How often child processes (notebook kernels) are sampled while they run."""


def describe() -> dict[str, object]:
    """The machine as each benchmark record states it: CPU model, the cores this process may use, OS, Python.

    Ratios travel between machines; seconds do not, and the cores say how many
    workers a grading run could keep busy.
    """
    return {"cpu": cpu_model(), "cores": usable_cores(), "platform": platform.platform(),
            "python": platform.python_version()}


def cpu_model() -> str | None:
    """``"Intel(R) Xeon(R) Processor"``: the processor's own name, None where the system does not say."""
    try:  # Linux
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    try:  # macOS
        named = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], check=False,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        if named:
            return named
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or None


def usable_cores() -> int | None:
    """The cores this process may run on (its affinity where the system has one, else every core)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def measure(work: Callable[[], T], every: float = SAMPLE_EVERY_S) -> tuple[T, dict[str, float]]:
    """Run ``work``; return what it returned, and its wall seconds and CPU seconds.

    The CPU seconds are this process's (all its threads) and its descendants'
    (a notebook's kernel). The operating system counts a child's time for its
    parent only once the child has been waited for, which nbclient does not do,
    so children are sampled every ``every`` seconds while they run: the last
    seconds of a child that ends before ``work`` returns may go uncounted.
    """
    seen = children_cpu_seconds()
    before = dict(seen)
    finished = threading.Event()

    def sample() -> None:
        while not finished.wait(every):
            _keep_latest(seen, children_cpu_seconds())

    sampler = threading.Thread(target=sample, name="machine-share", daemon=True)
    started, own_cpu = time.perf_counter(), time.process_time()
    sampler.start()
    try:
        result = work()
    finally:
        wall, own_cpu = time.perf_counter() - started, time.process_time() - own_cpu
        finished.set()
        sampler.join()
    _keep_latest(seen, children_cpu_seconds())
    cpu = own_cpu + sum(seconds - before.get(pid, 0.0) for pid, seconds in seen.items())
    return result, {"wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1)}


def cores(timing: dict[str, float] | None) -> str:
    """``"1.62"``: the cores a run kept busy on average; blank when it was not measured."""
    if not timing or not timing.get("wall_seconds"):
        return ""
    return f"{timing['cpu_seconds'] / timing['wall_seconds']:.2f}"


def children_cpu_seconds() -> dict[int, float]:
    """The CPU seconds each living descendant of this process has used so far, by process id."""
    import psutil

    seconds = {}
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:  # it ended between the listing and the reading
            continue
        seconds[child.pid] = times.user + times.system
    return seconds


def _keep_latest(seen: dict[int, float], now: dict[int, float]) -> None:
    for pid, seconds in now.items():
        seen[pid] = max(seconds, seen.get(pid, 0.0))
