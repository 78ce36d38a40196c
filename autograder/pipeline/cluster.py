"""Where a batch's submissions are graded: a pool of processes on this machine, or a Dask cluster.

:func:`start` turns ``grade --cluster SPEC`` into a :class:`Pool` or a :class:`DaskCluster`,
which both run one task per submission and hand each outcome back as it finishes:

============================  ======================================================================
(no ``--cluster``)            ``--workers N`` spawned processes on this machine (a ProcessPoolExecutor)
``local:N``                   a Dask ``LocalCluster`` here: N worker processes, one thread each
``tcp://HOST:PORT``           the workers of a running ``dask scheduler`` (``dask ssh``, or started by hand)
``slurm``                     a ``dask_jobqueue.SLURMCluster``: ``--jobs`` batch jobs on ``--queue``
============================  ======================================================================

Each worker grades in the same sandbox as the pool does. The grader's context
is prepared once by the instructor's process and travels pickled with each
task, as it does to the pool's processes; the files it names (the evaluation
images, the probes' inputs drawn from the run's secret) and each submission's
private copy are read from the batch's scratch folder, which every worker host
must see at the same path (``--scratch``, a shared folder, for hosts other than
this one). No sandbox mounts that folder: the probes' inputs reach a notebook
on its standard input, when its probes run.

The instructor's process hands each worker thread one task at a time, pinned to
it, so a task never waits in the queue of a worker that may die. A task whose
worker died, or was dropped by the scheduler for missing its heartbeats
(``distributed.scheduler.worker-ttl``: a hung worker), is given to another
worker, up to :data:`ALLOWED_FAILURES` times more; then it ends with
:class:`WorkersDied`. A task still running :attr:`Cluster.task_timeout` seconds
after it started is cancelled, its worker restarted, and it ends with a
``TimeoutError``. The tasks of a lost scheduler wait for the client to
reconnect (for ``distributed.comm.timeouts.connect``), then each task left
ends with an error. Each of these is that submission's outcome, never a lost
or doubled row.

Dask is imported only when a cluster is asked for: ``import autograder`` stays light.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import queue
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import CancelledError, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ALLOWED_FAILURES = 2
"""Times a submission is given to another worker after its worker died: 3 tries in all."""
TASK_TIMEOUT = 3600.0
"""Seconds one try of a submission may run on a worker."""
WORKER_MEMORY_GIB = 8
"""Memory per worker of a SLURM job: the notebook's sandbox may use 6 GiB, the worker itself ~1."""
WALLTIME = "04:00:00"
POLL_SECONDS = 2.0
"""How often the instructor's process looks for overrunning tasks and for new workers while it waits."""

Job = tuple[Any, str, tuple]
"""``(tag, name, args)``: what the caller gets back with the outcome, a name for the task, the task's arguments."""


@dataclass(frozen=True)
class Cluster:
    """Where to grade, as ``grade --cluster`` and its options say.

    spec
        ``local:N``, ``tcp://HOST:PORT`` (a running scheduler) or ``slurm``.
    queue, jobs, workers_per_job, job_memory, walltime
        SLURM only: the partition, the batch jobs to start, the workers (one core
        each) per job, a job's memory (default :data:`WORKER_MEMORY_GIB` per
        worker) and its time limit. Unset ones come from dask-jobqueue's own
        configuration (``~/.config/dask/jobqueue.yaml``) where it sets them.
    scratch
        The folder the batch's scratch folder is made in (default the system's
        temporary folder): on hosts other than this one, a folder every worker
        host shares at the same path.
    task_timeout
        Seconds one try of a submission may run on a worker before it is
        cancelled (its worker restarted) and ends as an error row.
    """

    spec: str
    queue: str | None = None
    jobs: int = 1
    workers_per_job: int = 1
    job_memory: str | None = None
    walltime: str | None = None
    scratch: Path | None = None
    task_timeout: float = TASK_TIMEOUT

    def __post_init__(self):
        kind(self.spec)  # refuse a malformed spec before anything starts
        if self.jobs < 1 or self.workers_per_job < 1:
            raise ValueError(f"--jobs {self.jobs} --workers-per-job {self.workers_per_job}: each must be at least 1.")
        if self.task_timeout <= 0:
            raise ValueError(f"--task-timeout {self.task_timeout:g}: give the seconds a submission may take.")
        if kind(self.spec) != "slurm" and self.queue is not None:
            raise ValueError("--queue names a SLURM partition: use it with --cluster slurm.")

    def threads_per_worker(self, cores_here: int) -> int | None:
        """Each worker's share of its host's cores, for its sandboxes' compute threads; None where unknown.

        ``local:N`` shares this machine's cores; a SLURM worker has one core of its own; a running
        scheduler's hosts are not known from here.
        """
        if kind(self.spec) == "local":
            return max(1, cores_here // int(self.spec.partition(":")[2]))
        return 1 if kind(self.spec) == "slurm" else None


def kind(spec: str) -> str:
    """``local``, ``scheduler`` or ``slurm``; ValueError, saying what is accepted, for anything else."""
    if spec == "slurm":
        return "slurm"
    if spec.startswith(("tcp://", "tls://")) and spec.partition("://")[2]:
        return "scheduler"
    name, _, count = spec.partition(":")
    if name == "local" and count.isdigit() and int(count) >= 1:
        return "local"
    raise ValueError(f"--cluster {spec!r}: give local:N (N worker processes here), tcp://HOST:PORT (a running "
                     "dask scheduler) or slurm (with --queue and --jobs).")


@contextmanager
def start(cluster: Cluster | None, workers: int = 1, preload: Sequence[str] = ()) -> Iterator[Pool | DaskCluster]:
    """This machine's pool of ``workers`` processes when ``cluster`` is None, else the Dask cluster it names.

    The pool's processes start at once and import the modules named in ``preload`` (the lab's grader),
    while the caller sets the batch up.
    """
    if cluster is None:
        with Pool(workers, preload) as pool:
            yield pool
        return
    client, made = _connect(cluster)
    try:
        yield DaskCluster(client, cluster.task_timeout)
    finally:
        client.close()
        if made is not None:
            made.close()


class Pool:
    """Today's pool: ``workers`` spawned processes on this machine; a task whose process died is not run again."""

    reruns = False
    dashboard: str | None = None

    def __init__(self, workers: int, preload: Sequence[str] = ()):
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        for _ in range(workers):  # each submission spawns a process until there are ``workers``
            self._pool.submit(_import_modules, tuple(preload))

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown()

    def run(self, task: Callable, jobs: Iterable[Job]) -> Iterator[tuple[Any, Any]]:
        """``(tag, outcome)`` for each job as it finishes: what ``task(*args)`` returned, or the exception it
        ended with."""
        futures = {self._pool.submit(task, *args): tag for tag, _name, args in jobs}
        for future in as_completed(futures):
            yield futures[future], _outcome(future)


def _import_modules(names: tuple[str, ...]) -> None:
    """A pool process's first task: the grading code, imported before the first submission arrives."""
    for name in names:
        importlib.import_module(name)


class WorkersDied(RuntimeError):
    """A submission whose worker died every time it was graded: the batch gives up on it."""


class DaskCluster:
    """A Dask ``Client``: each job a task on the cluster's workers, one per worker thread at a time."""

    reruns = True

    def __init__(self, client, task_timeout: float = TASK_TIMEOUT):
        self.client = client
        self.task_timeout = task_timeout

    @property
    def dashboard(self) -> str | None:
        """The scheduler's dashboard address, or None when it serves none."""
        try:
            served = "dashboard" in self.client.scheduler_info().get("services", {})
        except Exception:  # noqa: BLE001 - a link is a convenience
            return None
        return self.client.dashboard_link if served else None

    def run(self, task: Callable, jobs: Iterable[Job]) -> Iterator[tuple[Any, Any]]:
        """``(tag, outcome)`` for each job as it finishes, as :meth:`Pool.run` (see the module's faults)."""
        waiting = deque(_Try(tag, name, args) for tag, name, args in jobs)
        running: dict[Any, _Try] = {}
        finished: queue.Queue = queue.Queue()
        while waiting or running:
            threads = self._threads()
            if threads is None:  # the scheduler is gone for good: nothing left can be graded
                lost = RuntimeError("the Dask scheduler was lost before this submission was graded")
                for attempt in [*running.values(), *waiting]:
                    yield attempt.tag, lost
                return
            now = time.monotonic()
            for future, attempt in list(running.items()):
                if attempt.worker not in threads:  # died, or dropped by the scheduler for missing heartbeats
                    del running[future]
                    future.cancel()
                    yield from self._again(attempt, waiting, f"its worker {attempt.worker} died or stopped answering")
                elif now - attempt.started > self.task_timeout:
                    del running[future]
                    yield attempt.tag, self._stop(future, attempt)
            busy = [attempt.worker for attempt in running.values()]
            for worker in sorted(threads):
                for _ in range(threads[worker] - busy.count(worker)):
                    if waiting:
                        attempt = waiting.popleft()
                        future = self._submit(task, attempt, worker)
                        running[future] = attempt
                        future.add_done_callback(finished.put)
            try:
                future = finished.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            attempt = running.pop(future, None)
            if attempt is None:  # cancelled above, already answered
                continue
            outcome = _outcome(future)
            if isinstance(outcome, CancelledError) or type(outcome).__name__ == "KilledWorker":
                # lost with the scheduler (the client may reconnect), or a scheduler stricter about deaths than here
                yield from self._again(attempt, waiting, f"{type(outcome).__name__}: {outcome}")
            else:
                yield attempt.tag, outcome

    def _threads(self) -> dict[str, int] | None:
        """Each worker's threads now; None once the client has given up on its scheduler."""
        if self.client.status in ("closing", "closed"):
            return None
        try:
            return dict(self.client.nthreads())
        except Exception:  # noqa: BLE001 - reconnecting: no worker to hand anything to for now
            return {}

    def _submit(self, task: Callable, attempt: _Try, worker: str):
        attempt.worker, attempt.started = worker, time.monotonic()
        attempt.workers.append(worker)
        return self.client.submit(task, *attempt.args, key=f"grade-{attempt.name}-{uuid.uuid4().hex[:8]}",
                                  workers=[worker], allow_other_workers=False, pure=False)

    def _again(self, attempt: _Try, waiting: deque, why: str) -> Iterator[tuple[Any, Any]]:
        """Back to the front of the queue for another worker, or :class:`WorkersDied` after the last try."""
        log.warning("%s: %s", attempt.name, why)
        if len(attempt.workers) > ALLOWED_FAILURES:
            yield attempt.tag, WorkersDied(
                f"the workers grading it died {len(attempt.workers)} times ({', '.join(attempt.workers)}): its "
                "grading may kill its worker (memory outside the sandbox?), or the workers are failing; the "
                "workers' logs say which")
        else:
            waiting.appendleft(attempt)

    def _stop(self, future, attempt: _Try) -> TimeoutError:
        """Cancel an overrunning task and restart its worker, whose thread the task still holds."""
        future.cancel()
        log.warning("%s ran longer than %.0f s on %s: cancelled, its worker restarted", attempt.name,
                    self.task_timeout, attempt.worker)
        try:
            self.client.restart_workers([attempt.worker], raise_for_error=False)
        except Exception:  # noqa: BLE001 - the worker may be gone already
            log.warning("could not restart %s", attempt.worker, exc_info=True)
        return TimeoutError(f"the submission was still being graded on {attempt.worker} after "
                            f"{self.task_timeout:.0f} s (--task-timeout), so it was stopped")


@dataclass
class _Try:
    """A job and where it has been tried: the worker it runs on now, since when, and every worker so far."""

    tag: Any
    name: str
    args: tuple
    worker: str | None = None
    started: float = 0.0
    workers: list[str] = field(default_factory=list)


def _outcome(future):
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - a dead worker, a lost scheduler: the job's outcome
        return error


def _connect(cluster: Cluster):
    """A connected ``Client`` and the cluster made for it (None for a running scheduler)."""
    from distributed import Client

    match kind(cluster.spec):
        case "scheduler":
            try:
                return Client(cluster.spec), None  # waits distributed.comm.timeouts.connect (30 s)
            except (OSError, TimeoutError) as error:
                raise ValueError(f"--cluster {cluster.spec}: no Dask scheduler answered there ({error}); start one "
                                 "with `dask scheduler` or `dask ssh` (docs/instructor-guide.md)") from error
        case "local":
            from distributed import LocalCluster

            made = LocalCluster(n_workers=int(cluster.spec.partition(":")[2]), threads_per_worker=1, processes=True)
        case _:
            made = _slurm(cluster)
    try:
        return Client(made), made
    except BaseException:
        made.close()
        raise


def _slurm(cluster: Cluster):
    """A SLURMCluster of ``cluster.jobs`` jobs, each ``workers_per_job`` single-threaded workers on this Python."""
    import dask
    from dask_jobqueue import SLURMCluster

    configured = dask.config.get("jobqueue.slurm", default={}) or {}
    settings = {"cores": cluster.workers_per_job, "processes": cluster.workers_per_job,
                "memory": cluster.job_memory or configured.get("memory")
                or f"{WORKER_MEMORY_GIB * cluster.workers_per_job}GiB",
                "walltime": cluster.walltime or configured.get("walltime") or WALLTIME,
                "python": sys.executable, "job_name": "labkit-grading"}
    if cluster.queue is not None:
        settings["queue"] = cluster.queue
    made = SLURMCluster(**settings)
    try:
        made.scale(jobs=cluster.jobs)
    except BaseException:
        made.close()
        raise
    log.info("SLURM job script:\n%s", made.job_script())
    return made
