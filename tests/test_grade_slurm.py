"""Grading through dask-jobqueue on a real SLURM cluster of one node, started here.

Debian's ``slurm-wlm`` (``make slurm`` installs it): ``slurmctld`` and ``slurmd``
run as root in a scratch folder with a configuration written for this machine
(no cgroups, no accounting, no munge: ``auth/none``, which Slurm 22.05 still
has). The class of tests/grading_cluster.py is graded by ``--cluster slurm``'s
path, a ``SLURMCluster`` whose two batch jobs each start one Dask worker with
``sbatch``, and must get the very rows this machine's pool writes.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from autograder.pipeline import cluster as clusters
from autograder.pipeline.grading import grade
from tests.grading_cluster import LAB, free_port, options, reference_rows, rows, shared_class

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

PARTITION = "grading"
DAEMONS = ("slurmctld", "slurmd")


def _cannot_start() -> str | None:
    """Why no SLURM cluster can be started here, or None."""
    missing = [name for name in (*DAEMONS, "sbatch", "sinfo", "squeue", "scancel") if shutil.which(name) is None]
    if missing:
        return (f"SLURM is not installed ({', '.join(missing)} missing): `make slurm` installs Debian's slurm-wlm "
                "(as root), or `sudo apt-get install -y slurm-wlm`")
    if os.geteuid() != 0:
        return "slurmctld and slurmd run as root here (SlurmUser=root), and this test runs as another user"
    return None


def _configuration(folder: Path) -> str:
    import psutil

    host = socket.gethostname().split(".")[0]  # slurmctld runs only on the host its configuration names
    memory = psutil.virtual_memory().total // 2**20 - 2048
    return "\n".join([
        "ClusterName=labkit-test", f"SlurmctldHost={host}(127.0.0.1)", "SlurmUser=root", "SlurmdUser=root",
        "AuthType=auth/none", "CredType=cred/none",
        f"SlurmctldPort={free_port()}", f"SlurmdPort={free_port()}",
        f"StateSaveLocation={folder / 'state'}", f"SlurmdSpoolDir={folder / 'spool'}",
        f"SlurmctldPidFile={folder / 'slurmctld.pid'}", f"SlurmdPidFile={folder / 'slurmd.pid'}",
        f"SlurmctldLogFile={folder / 'slurmctld.log'}", f"SlurmdLogFile={folder / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",  # no cgroups in a container
        "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core_Memory",
        "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
        "MpiDefault=none", "SwitchType=switch/none", "ReturnToService=2",
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory={memory} State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP", ""])


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """slurmctld and slurmd of a one-node cluster, its partition idle; SLURM_CONF points the commands at it."""
    reason = _cannot_start()
    if reason is not None:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("slurm")
    for name in ("state", "spool"):
        (folder / name).mkdir()
    conf = folder / "slurm.conf"
    conf.write_text(_configuration(folder))
    environment = {**os.environ, "SLURM_CONF": str(conf)}
    daemons = []
    try:
        for daemon in DAEMONS:
            with open(folder / f"{daemon}.out", "wb") as out:
                daemons.append(subprocess.Popen([daemon, "-D", "-f", str(conf)], stdout=out, stderr=subprocess.STDOUT,
                                                env=environment, start_new_session=True))
            time.sleep(1)
        state = ""
        for _ in range(60):
            state = subprocess.run(["sinfo", "-h", "-p", PARTITION, "-o", "%T"], capture_output=True, text=True,
                                   env=environment).stdout.strip()
            if state == "idle" or any(daemon.poll() is not None for daemon in daemons):
                break
            time.sleep(1)
        if state != "idle":
            logs = "; ".join(f"{path.name}: {path.read_text(errors='replace')[-600:]!r}"
                             for path in sorted(folder.glob("*.log")) + sorted(folder.glob("*.out")))
            pytest.skip(f"slurmctld and slurmd started but the node never became idle (sinfo: {state!r}): {logs}")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SLURM_CONF", str(conf))  # for sbatch, squeue and scancel, which dask-jobqueue runs
            yield folder
    finally:
        subprocess.run(["scancel", "--partition", PARTITION], env=environment, capture_output=True)
        for daemon in reversed(daemons):
            if daemon.poll() is None:
                os.killpg(daemon.pid, signal.SIGTERM)
                try:
                    daemon.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(daemon.pid, signal.SIGKILL)
                    daemon.wait()


def test_a_class_graded_by_slurm_jobs_through_dask_jobqueue_matches_one_machine(slurm, tmp_path_factory, tmp_path,
                                                                                mirror_dir):
    import dask
    import dask_jobqueue  # noqa: F401 - its configuration's defaults, before one of them is set here

    reference = reference_rows(tmp_path_factory, mirror_dir)
    started = []
    with dask.config.set({"jobqueue.slurm.log-directory": str(slurm / "jobs")}):
        grade(LAB, shared_class(tmp_path_factory), tmp_path / "graded", options=options(mirror_dir),
              cluster=clusters.Cluster("slurm", queue=PARTITION, jobs=2, walltime="00:30:00"),
              on_start=lambda submissions, dashboard: started.append(dashboard))
    assert rows(tmp_path / "graded") == reference
    assert started and started[0].startswith("http://")  # the dashboard of the scheduler in this process
    job_logs = sorted((slurm / "jobs").glob("*.err")) + sorted((slurm / "jobs").glob("*.out"))
    assert job_logs, "the workers ran as SLURM jobs, which left their logs"
    assert any("Registered to:" in path.read_text(errors="replace") for path in job_logs)
