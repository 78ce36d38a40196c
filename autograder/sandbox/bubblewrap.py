"""Run untrusted student code in a bubblewrap sandbox, within limits.

Threat model
------------
Everything a student submits is hostile: a notebook, a saved model, a file
written next to them. Such code runs only through :func:`run`, and the only
things that leave the sandbox are data — the bytes it prints and the files it
leaves in its ``workdir`` — which the grader validates and never executes or
unpickles. What each defence is for:

- **Nothing to read.** A fresh root file system holds only the system's
  ``/usr`` (and its ``/bin``, ``/lib`` links), the few ``/etc`` files Python
  needs, the Python installation (the venv and its base interpreter), the
  ``labkit`` package folder — never the repository, so ``solutions/``, hidden
  tests, the gradebook and other students do not exist — the caller's
  ``readonly`` paths (e.g. the dataset mirror), and ``workdir``. ``/etc/passwd``
  is made up, naming only the sandbox user.
- **Nothing to change.** All of that is mounted read-only except ``workdir``
  (the submission's own scratch folder, also ``HOME`` and the working
  directory) and a private ``/tmp``. Both lie on one ``tmpfs`` of fixed size,
  the sandbox's disk, which vanishes with it: a trusted warden
  (:mod:`autograder.sandbox.warden`) copies ``workdir`` onto it before the
  program starts and back once no process of the program is left. ``/dev``
  holds only null, zero, random and the like; ``/dev/shm`` is small (64 MiB),
  and its files count with the disk's against the file limit.
- **Only data comes back.** The grader reads what is left in ``workdir`` only
  through :mod:`autograder.sandbox.output`, which refuses a link anywhere on the
  path (one could point at a host file the grader can read) and anything but a
  regular file of a bounded size.
- **No one to talk to.** New network, IPC, UTS, cgroup and pid namespaces:
  only a loopback interface (a Jupyter kernel still reaches its client on
  127.0.0.1), no host processes to see or signal, and a new session so the
  code cannot push keystrokes into the grader's terminal (TIOCSTI).
- **Nothing of the grader to see.** The program has a pid namespace of its
  own inside the sandbox's, with a fresh ``/proc``: it lists the program's
  processes and bubblewrap's init (its pid 1), never the warden, the outer
  bubblewrap or a host process, so it cannot name them in a signal either.
  No command line holds the set-up: both bubblewraps read their options from
  a descriptor (``bwrap --args FD``) and the warden its config, so pid 1's
  command line is ``bwrap --args N --`` and the commands that become the
  program (``choom``, ``prlimit``, its own). Its mount table
  (``/proc/self/mountinfo``) lists only what it sees: its root is built
  without the warden's folder, not merely over it.
- **No secrets.** The environment is only ``PATH``, ``HOME``, ``LANG`` and what
  the caller passes in ``env``. Callers must never pass ``COMET_API_KEY`` or any
  other token: whatever enters the sandbox may be printed back to a student.
- **No privileges.** Student code never runs as root: when the grader is root,
  bubblewrap sets the sandbox up and ``setpriv`` then becomes a fresh
  unprivileged uid with no capabilities and ``no_new_privs`` (its copy of
  ``workdir`` belongs to that uid; the host's stays the grader's); otherwise it
  runs as the caller. Either way it is in a user namespace that may not nest
  another (creating one is the first step of most kernel exploits), and it
  cannot see, signal or trace the warden. It may trace bubblewrap's init, its
  own uid's, which holds nothing the program does not.
- **Bounded resources.** Wall time; resident memory of the whole process tree;
  tasks (``RLIMIT_NPROC``, which binds because the uid is not root, so a fork
  bomb hits a wall instead of the host); output (kept in bounded buffers); the
  size of one file (``RLIMIT_FSIZE``); everything written (the size of the
  disk, so the kernel refuses the write that would break it); the number of
  files (measured ten times a second). Breaking a limit has the warden kill
  every process of the program at once and copy back what it left, so that
  results written before the break are not lost; should the warden not finish,
  the whole sandbox is killed (its pid namespace dies with its init), and
  ``--die-with-parent`` kills it if the grader dies.

Verdicts fail closed: only a clean exit 0 within every limit is ``"ok"``.

What the program can still learn, and why it stays:

- The real paths of what it is shown — the Python installation, ``labkit``,
  the ``readonly`` paths and ``workdir`` (so also the names of the folders
  above it, e.g. the grader's ``labkit-grading-*`` scratch folder) — and, in
  ``/proc/self/mountinfo``, the device and file system each is bound from.
  Each is bound at its own path because the program is told those paths
  (``sys.executable``, ``HOME``, the arguments the grader passes).
- Its uid. A root grader's sandbox uids are derived from the grader's pid
  (:func:`sandbox_uids`), a number that names nothing the program can reach.
  A user namespace could show it another uid, but ``/proc/self/mountinfo``
  would still tell the real one: the owner of its root's tmpfs.
- Its limits (``/proc/self/limits``, and the ``choom`` and ``prlimit``
  commands in pid 1's command line) and the size of its disk.
- The machine as every process sees it: the kernel's version, the CPUs,
  memory, load and uptime (``uname``, ``/proc/cpuinfo``, ``/proc/meminfo``).

The program's own ``/proc`` needs the kernel's leave: a user namespace may
mount a proc only if one is already fully visible. Where the host's ``/proc``
has masked paths (Docker's or Podman's defaults), no sandbox can be made:
:func:`run` raises :class:`SandboxUnavailable` and says what to change.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from autograder.sandbox import warden as sandbox_warden
from autograder.sandbox.warden import file_in_memory, nul_separated

INSTALL_HINT = (
    "Install bubblewrap: `sudo apt-get install -y bubblewrap` on Debian/Ubuntu "
    "(`make install` does it when run as root), then check with `bwrap --version`."
)

POLL_SECONDS = 0.1
"""How often memory and tasks are measured: a bomb overshoots by at most what it allocates in this time."""

STOP_GRACE_SECONDS = 60.0
"""How long the warden may take to end the program and copy ``workdir`` back before all is killed."""

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")

SHM_BYTES = 64 * 2**20
"""Size of the sandbox's ``/dev/shm`` (a tmpfs, so RAM outside the memory limit)."""

SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
INNER_BWRAP = "/usr/bin/bwrap"
"""The bubblewrap that runs inside the sandbox (Debian's path; it must lie under ``/usr`` to be seen)."""
WARDEN_HOME = Path("/.labkit")
"""The warden's folder inside the sandbox, hidden from the program: the disk, the host's workdir, the script."""
DISK_SLACK_BYTES = 2**20
"""The disk holds this much beyond the limit, so that a program that fills it is seen to have broken it."""
FIRST_SANDBOX_UID = 2_000_000
"""Root graders run each sandbox as its own uid from here on, far above any real account."""

_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf",
    "alternatives", "ssl", "ca-certificates", "mime.types", "fonts",
)  # fmt: skip
_sandbox_ids = itertools.count()


@dataclass(frozen=True)
class Limits:
    """What one sandboxed run may use; breaking any limit ends it with a non-"ok" status."""

    wall_seconds: float = 300.0
    memory_bytes: int = 6 * 2**30  # resident memory of the whole process tree
    processes: int = 256  # tasks (processes and threads) inside the sandbox
    output_bytes: int = 1 * 2**20  # stdout and stderr each kept up to this; more -> "output-limit"
    file_bytes: int = 512 * 2**20  # largest single file the sandbox may write (RLIMIT_FSIZE)
    disk_bytes: int = 2 * 2**30  # total it may write into workdir and /tmp (a tmpfs: RAM, beside memory_bytes)
    files: int = 100_000  # files and folders in workdir and /tmp (each costs RAM on the tmpfs)
    threads: int | None = None  # compute threads of OpenMP, BLAS, PyTorch, TensorFlow; None: one per core


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
"""What the numerical libraries read for their thread count. Sandboxes run side by side share the
cores: each library starting one thread per core in each of them oversubscribes the machine, and
PyTorch's spinning OpenMP threads then make two workers slower than one."""


@dataclass(frozen=True)
class SandboxResult:
    """How a run ended. Only ``status == "ok"`` means it finished cleanly within its limits.

    ``status`` is one of ``"ok"``, ``"error"`` (nonzero exit), ``"timeout"``,
    ``"out-of-memory"``, ``"crashed"`` (killed by a signal; ``returncode`` is
    minus the signal) or ``"output-limit"`` (printed more than ``output_bytes``,
    wrote more than ``disk_bytes`` or made more than ``files`` files). When a run
    broke a limit, ``returncode`` is None and ``detail`` says which.
    """

    status: str
    returncode: int | None
    stdout: str  # at most Limits.output_bytes of it
    stderr: str
    seconds: float
    peak_memory_bytes: int
    detail: str = ""  # what went wrong, in words, for feedback: "ran longer than the 300 s limit"

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class SandboxUnavailable(RuntimeError):
    """Bubblewrap is missing or cannot create a sandbox here; the message says what to do."""


# -- what the sandbox sees ------------------------------------------------------------------


def available() -> bool:
    """Whether bubblewrap is installed and can start a sandbox on this machine."""
    try:
        _check_bwrap()
    except SandboxUnavailable:
        return False
    return True


@functools.cache
def _check_bwrap() -> str:
    """The path of a working ``bwrap``, tried once with a whole sandbox; :class:`SandboxUnavailable` otherwise.

    The trial runs every step a real run takes, so that a machine that cannot
    sandbox (no user namespaces, an AppArmor rule) is an error for the
    instructor, never a class of student programs that all "fail".
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (`bwrap`) is not installed. {INSTALL_HINT}")
    if os.geteuid() == 0 and not Path(INNER_BWRAP).is_file():
        raise SandboxUnavailable(f"{INNER_BWRAP} is missing: the sandbox needs Debian's bubblewrap. {INSTALL_HINT}")
    if not Path(f"/proc/self/task/{threading.get_native_id()}/children").exists():
        raise SandboxUnavailable(
            "this kernel does not list a process's children in /proc (CONFIG_PROC_CHILDREN), "
            "which the sandbox needs to measure memory; Debian and Ubuntu kernels have it."
        )
    with tempfile.TemporaryDirectory(prefix="labkit-sandbox-trial-") as scratch:
        trial = _run(bwrap, ["/bin/true"], Path(scratch).resolve(), [], Limits(wall_seconds=60), {}, None)
    if trial.status != "ok":
        raise SandboxUnavailable(
            f"bubblewrap is installed but cannot create a sandbox here ({trial.detail}): {trial.stderr.strip()} "
            "It needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu "
            "also kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap), and a /proc "
            "without masked paths (a container's has some unless started with docker run --security-opt "
            "systempaths=unconfined or podman run --security-opt unmask=ALL)."
        )
    return bwrap


@functools.cache
def check_sandboxed_labkit() -> None:
    """The sandbox's Python imports the very ``labkit`` the grader shows it; :class:`SandboxUnavailable` otherwise.

    Grading checks it once per process before any submission. The sandbox shows the
    grader's ``labkit`` package and runs Python isolated (``-I``: no ``PYTHONPATH``).
    Where the two disagree (a ``PYTHONPATH`` or a second checkout in front of the
    course's installed one), every probe would fail to import labkit, or import
    another one: a class of zeros. Found here, it is the instructor's error.
    """
    with tempfile.TemporaryDirectory(prefix="labkit-sandbox-trial-") as scratch:
        found = run([*python_argv(), "-c", "import labkit; print(labkit.__path__[0])"], workdir=Path(scratch),
                    limits=Limits(wall_seconds=120))
    shown = labkit_package()
    where = found.stdout.strip()
    if found.status == "ok" and where and Path(where).resolve() == shown:
        return
    seen = (f"imports labkit from {where}" if found.status == "ok" else
            f"cannot import labkit ({(found.stderr.strip().splitlines() or [found.detail])[-1][:300]})")
    raise SandboxUnavailable(
        f"Inside the sandbox the course's Python ({sys.executable}) {seen}, but this grader uses the labkit in "
        f"{shown}: run the grader with the course's Python, from the checkout labkit was installed from "
        "(`make install` there), without PYTHONPATH."
    )


def python_argv() -> list[str]:
    """The command that starts this course's Python inside the sandbox.

    ``-I`` (isolated): no ``PYTHON*`` variables, no user site-packages, and the
    script's folder is not put first on ``sys.path``, so a file a student left in
    ``workdir`` cannot stand in for a module the grader's probe imports.
    """
    return [sys.executable, "-I"]


def python_installation() -> list[Path]:
    """The folders Python needs, read-only: the venv and wherever its base interpreter lives."""
    folders = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    folders.add(Path(sys.executable).resolve().parent.parent)
    return _outermost(folders - {Path("/usr"), Path("/")})


def labkit_package() -> Path:
    """The ``labkit`` package folder (not the repository that holds it)."""
    spec = find_spec("labkit")
    if spec is None or not spec.submodule_search_locations:
        raise SandboxUnavailable("the labkit package cannot be found; install it with `make install`.")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def _outermost(paths: set[Path]) -> list[Path]:
    """The paths that lie inside no other path of the set (binding a parent binds them all)."""
    return sorted(p for p in paths if not any(q != p and q in p.parents for q in paths))


def _namespace_flags(as_root: bool) -> list[str]:
    """Every namespace bubblewrap can unshare.

    The program's own user namespace comes later (see :func:`_inner_bwrap`).
    As root, none is made here: it would map the sandbox's uid back to root,
    whom ``RLIMIT_NPROC`` never binds. Otherwise the user namespace is what
    lets bubblewrap mount at all.
    """
    flags = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if not as_root:
        flags += ["--unshare-user"]
    return flags + ["--hostname", "sandbox", "--die-with-parent", "--new-session"]


def _system_links() -> dict[str, str]:
    """The merged-``/usr`` links beside ``/usr`` (``/bin`` -> ``usr/bin``), by name, with their targets."""
    return {name: os.readlink(name) for name in _SYSTEM_DIRS if Path(name).is_symlink()}


def _system_folders() -> list[Path]:
    """``/usr`` and whichever of ``/bin``, ``/lib`` and the like are real folders here."""
    return [Path(name) for name in _SYSTEM_DIRS if not Path(name).is_symlink() and Path(name).is_dir()]


def _system_binds() -> list[str]:
    """The system, read-only: ``/usr`` and the merged-``/usr`` links or folders beside it."""
    args: list[str] = []
    for folder in _system_folders():
        args += ["--ro-bind", str(folder), str(folder)]
    for name, target in _system_links().items():
        args += ["--symlink", target, name]
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in _ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


def _parents_to_create(destinations: Sequence[Path]) -> list[str]:
    """World-traversable folders above each bind (bubblewrap would make them owner-only)."""
    made: set[Path] = {Path("/"), Path("/tmp"), Path("/etc"), Path("/dev")}
    args: list[str] = []
    for destination in destinations:
        for parent in reversed(destination.parents):
            if parent not in made:
                made.add(parent)
                args += ["--perms", "0755", "--dir", str(parent)]
    return args


@dataclass(frozen=True)
class WardenChannels:
    """The descriptors the sandbox holds: ``started`` (written just before the program runs),
    ``report`` (the warden's "ended" line and its report) and ``stop`` (the grader's request)."""

    started: int
    report: int
    stop: int


def bwrap_options(
    *,
    workdir: Path,
    readonly: Sequence[Path],
    limits: Limits,
    env: Mapping[str, str],
    inputs_bytes: int,
    sandbox_uid: int | None,
    data_fds: Mapping[str, int] = {},
) -> list[str]:
    """The outer ``bwrap``'s options for one run (pure: it reads only the file system's layout).

    Two bubblewraps nest. The outer one builds the read-only world, the disk
    (a tmpfs of ``inputs_bytes`` plus the limit) and the warden's folder, and
    runs the warden (:func:`warden_command`); the inner one, which the warden
    starts, runs the program in a world of its own (:func:`_inner_bwrap`).
    ``sandbox_uid`` is the uid ``setpriv`` drops to when the grader is root,
    or None to run as the caller inside a user namespace. ``data_fds`` maps a
    path inside to a file descriptor whose content becomes that read-only file.
    """
    readonly_binds = _readonly_binds(readonly)
    args = [
        *_namespace_flags(as_root=sandbox_uid is not None),
        *_system_binds(),
        "--proc", "/proc",
        "--dev", "/dev",
        # tmpfs pages are RAM that no process's resident memory shows: keep it small.
        "--perms", "1777", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm",
        "--perms", "1777", "--dir", "/tmp",
        "--perms", "0755", "--size", str(_disk_size(inputs_bytes, limits)), "--tmpfs", str(WARDEN_HOME / "disk"),
        "--bind", str(workdir), str(WARDEN_HOME / "out"),
        *_fully_visible_proc(),
        "--ro-bind", str(Path(sandbox_warden.__file__).resolve()), str(WARDEN_HOME / "warden.py"),
        *_parents_to_create([*readonly_binds, workdir]),
        "--perms", "0755", "--dir", str(workdir),  # where the inner bubblewrap shows the disk's copy
    ]  # fmt: skip
    for path in sorted(readonly_binds, key=lambda path: len(path.parts)):
        args += ["--ro-bind", str(path), str(path)]
    args += ["--chdir", "/", "--clearenv"]
    for destination, fd in data_fds.items():
        args += ["--perms", "0644", "--ro-bind-data", str(fd), destination]
    for name, value in _environment(workdir, env, limits.threads).items():
        args += ["--setenv", name, value]
    return args


def _fully_visible_proc() -> list[str]:
    """The host's ``/proc`` under a folder then covered, so that the program's bubblewrap may mount a ``/proc``.

    The kernel lets a user namespace mount a proc only where one is already
    fully visible (no locked mount over part of it), and the sandbox's own
    ``/proc`` has bubblewrap's read-only covers on ``/proc/sys`` and others.
    The kernel counts this one, but no path reaches it: not the warden's, and
    the program's world never holds the warden's folder.
    """
    cover = WARDEN_HOME / "covered"
    return [
        "--bind", "/proc", str(cover / "proc"),
        "--perms", "0000", "--size", str(PAGE_BYTES), "--tmpfs", str(cover), "--remount-ro", str(cover),
    ]  # fmt: skip


def warden_command(sandbox_uid: int | None, config_fd: int) -> list[str]:
    """The command the outer bubblewrap runs: the warden, told to read its config from ``config_fd``."""
    warden = [sys.executable, "-I", "-S", str(WARDEN_HOME / "warden.py"), str(config_fd)]
    return [*_warden_privileges(sandbox_uid), *warden]


def warden_config(
    argv: Sequence[str],
    *,
    workdir: Path,
    readonly: Sequence[Path],
    limits: Limits,
    inputs_bytes: int,
    sandbox_uid: int | None,
    channels: WardenChannels,
) -> dict:
    """What the warden is told (pure): its folders, the limits it keeps, its descriptors, and what to start.

    What it starts is ``program`` in the inner bubblewrap (``bwrap``, as
    ``sandbox_uid``), which it hands ``bwrap_args`` through a descriptor,
    never argv: that bubblewrap is the program's pid 1, whose
    ``/proc/1/cmdline`` the program reads.
    """
    return {
        "disk": str(WARDEN_HOME / "disk"), "out": str(WARDEN_HOME / "out"), "owner": sandbox_uid,
        "inputs_bytes": inputs_bytes, "disk_size": _disk_size(inputs_bytes, limits), "max_files": limits.files,
        "started_fd": channels.started, "report_fd": channels.report, "stop_fd": channels.stop,
        "bwrap": [*_drop_privileges(sandbox_uid), INNER_BWRAP],
        "bwrap_args": _inner_bwrap(workdir, _readonly_binds(readonly)),
        "program": [*_inside(limits), *_announce_start(channels.started), *argv],
    }  # fmt: skip


def _readonly_binds(readonly: Sequence[Path]) -> list[Path]:
    """Every path the sandbox shows read-only at its own (real) path."""
    return [*python_installation(), labkit_package(), *(Path(p).resolve() for p in readonly)]


def _disk_size(inputs_bytes: int, limits: Limits) -> int:
    """The disk's size: what ``workdir`` already holds, the limit, and the slack that shows a full disk."""
    return inputs_bytes + limits.disk_bytes + DISK_SLACK_BYTES


def _inner_bwrap(workdir: Path, readonly_binds: Sequence[Path]) -> list[str]:
    """The nested bubblewrap's arguments: the sandbox's world without the warden, in namespaces of the program's own.

    Its user namespace may not nest another (a new user namespace is where
    most kernel exploits start). Its pid namespace and fresh ``/proc`` show
    the program its own processes and bubblewrap's init (pid 1), not the
    warden or the outer bubblewrap. Its root is built again, entry by entry,
    from the sandbox's: each top-level folder bound read-only (``/dev`` as it
    is: libraries need ``/dev/urandom``, ``std::random_device`` in TensorFlow,
    and ``/dev/shm`` stays writable), the system links, and the disk's folders
    at ``/tmp`` and ``workdir``; so the warden's folder is absent, even from
    ``/proc/self/mountinfo``. Read-only paths under ``/tmp`` or ``workdir`` are
    bound again after them, outer folders first, so that they stay visible and
    read-only. The folders above a ``workdir`` in ``/tmp`` are the program's
    own, on its disk; the root itself is read-only.
    """
    disk = WARDEN_HOME / "disk"
    args = ["--unshare-user", "--disable-userns", "--unshare-pid", "--die-with-parent"]
    for folder in _top_level_folders([*readonly_binds, workdir]):
        args += ["--dev-bind" if folder == Path("/dev") else "--ro-bind", str(folder), str(folder)]
    for name, target in _system_links().items():
        args += ["--symlink", target, name]
    args += ["--proc", "/proc"]
    binds = [(disk / "tmp", Path("/tmp"), "--bind"), (disk / "work", workdir, "--bind")]
    binds += [(path, path, "--ro-bind") for path in readonly_binds
              if any(folder in path.parents for folder in (Path("/tmp"), workdir))]
    for source, destination, kind in sorted(binds, key=lambda bind: len(bind[1].parts)):
        args += [kind, str(source), str(destination)]
    return [*args, "--remount-ro", "/", "--chdir", str(workdir)]


def _top_level_folders(destinations: Sequence[Path]) -> list[Path]:
    """The folders at the sandbox's root that the program sees again.

    They are the system's, ``/etc``, ``/dev`` and the first folder of each
    bound path; not ``/tmp`` (the disk's is shown there), ``/proc`` (a fresh
    one is) or the warden's folder.
    """
    folders = {*_system_folders(), Path("/etc"), Path("/dev"), *(Path(*path.parts[:2]) for path in destinations)}
    return sorted(folders - {Path("/tmp"), Path("/proc"), WARDEN_HOME})


def _announce_start(started_fd: int) -> list[str]:
    """A shell that says "started" on ``started_fd``, closes it, and becomes the program.

    The word proves that both bubblewraps' set-up worked, and it cannot be
    forged: neither the program nor bubblewrap's init (its pid 1, which it
    may trace) holds the descriptor.
    """
    script = f'printf started >&{started_fd} && exec {started_fd}>&- && exec /usr/bin/env -u SHLVL -- "$@"'
    return ["/bin/bash", "-c", script, "sandbox"]  # dash cannot name a descriptor above 9


def _warden_privileges(sandbox_uid: int | None) -> list[str]:
    """As root, the warden keeps only the capabilities its copies, kills and ``setpriv`` need (else nothing)."""
    if sandbox_uid is None:
        return []
    kept = "+chown,+dac_override,+dac_read_search,+fowner,+kill,+setuid,+setgid,+setpcap"
    return ["/usr/bin/setpriv", "--inh-caps=-all", f"--bounding-set=-all,{kept}", "--"]


def _drop_privileges(sandbox_uid: int | None) -> list[str]:
    """As root, ``setpriv`` becomes the unprivileged ``sandbox_uid`` with no capabilities (else nothing)."""
    if sandbox_uid is None:
        return []
    return [
        "/usr/bin/setpriv", f"--reuid={sandbox_uid}", f"--regid={sandbox_uid}", "--clear-groups",
        "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
    ]  # fmt: skip


def _inside(limits: Limits) -> list[str]:
    """The commands that run just before the student's, each ending in ``exec``.

    The kernel's OOM killer, should the host run short, is told to take
    sandboxed code first, and the per-process limits are set. RLIMIT_AS would
    be the easy memory limit, but TensorFlow and PyTorch reserve many GiB of
    address space they never touch, so it kills them at import: the resident
    memory of the tree is measured from outside instead. ``RLIMIT_NPROC``
    counts every task of the uid, bubblewrap's init (the program's pid 1)
    too: the program keeps ``limits.processes`` for itself.
    """
    return [
        "/usr/bin/choom", "-n", "1000", "--",
        "/usr/bin/prlimit", f"--nproc={limits.processes + 1}", f"--fsize={limits.file_bytes}", "--core=0", "--",
    ]  # fmt: skip


def _environment(workdir: Path, extra: Mapping[str, str], threads: int | None = None) -> dict[str, str]:
    """The sandbox's whole environment: a plain PATH, HOME in workdir, the thread count, the caller's extras."""
    for name, value in extra.items():
        if not isinstance(name, str) or not isinstance(value, str) or not name or "=" in name or "\0" in name + value:
            raise ValueError(f"sandbox env entries must be non-empty names without '=' mapped to strings: {name!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"Limits.threads={threads!r}: give a whole number of threads, at least 1, or None.")
    counts = {} if threads is None else dict.fromkeys(THREAD_VARIABLES, str(threads))
    return {"PATH": f"{Path(sys.prefix) / 'bin'}:{SANDBOX_PATH}", "HOME": str(workdir), "LANG": "C.UTF-8",
            **counts, **extra}


def _passwd(uid: int, workdir: Path) -> tuple[bytes, bytes]:
    """A made-up ``/etc/passwd`` and ``/etc/group`` naming only the sandbox user.

    Libraries ask who they run as (``getpass.getuser()``: PyTorch's caches);
    this answers without showing the host's accounts.
    """
    passwd = f"sandbox:x:{uid}:{uid}:sandbox:{workdir}:/usr/sbin/nologin\n"
    return passwd.encode(), f"sandbox:x:{uid}:\n".encode()


# -- reading what comes out -----------------------------------------------------------------


def readable_by_all(folder: Path) -> None:
    """Make a batch's read-only inputs readable by the sandbox's user, which is not the grader's."""
    for root, _dirs, files in os.walk(folder):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


# -- running --------------------------------------------------------------------------------


def run(
    argv: Sequence[str],
    *,
    workdir: Path,
    readonly: Sequence[Path] = (),
    limits: Limits = Limits(),
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> SandboxResult:
    """Run ``argv`` in a fresh sandbox whose only writable folder is ``workdir``.

    ``workdir`` must exist; it is the working directory and ``HOME``, and what
    the code leaves there is its output (untrusted data). ``readonly`` paths are
    visible read-only at their resolved path (links followed): name that path, not
    the link, in anything the program is told. ``env`` is added to a bare environment
    and must hold no secrets. Raises :class:`SandboxUnavailable` when no sandbox
    can be made; a misbehaving program never raises, it gets a status.

    Call it from a thread that outlives the run (any thread blocked in it does):
    the sandbox is killed when the thread that started it exits.
    """
    bwrap = _check_bwrap()
    if not argv:
        raise ValueError("argv is empty: give the program to run, e.g. sandbox.python_argv() + ['probe.py'].")
    argv = [os.fspath(arg) for arg in argv]
    if not all(isinstance(arg, str) and "\0" not in arg for arg in argv):
        raise ValueError(f"argv must be strings (or paths) without NUL bytes: {argv!r}")
    workdir = _checked_workdir(workdir)
    readonly = [Path(path) for path in readonly]
    for path in readonly:
        _check_readonly(path, readable_by_others=os.geteuid() == 0)
    return _run(bwrap, argv, workdir, readonly, limits, env or {}, stdin)


def _run(
    bwrap: str,
    argv: Sequence[str],
    workdir: Path,
    readonly: Sequence[Path],
    limits: Limits,
    env: Mapping[str, str],
    stdin: bytes | None,
) -> SandboxResult:
    """:func:`run` once its arguments are checked: open the pipes, run, give ``workdir`` back."""
    as_root = os.geteuid() == 0
    uid = _fresh_uid() if as_root else os.getuid()
    owner = workdir.stat()
    read_at_start: list[int] = []  # what bubblewrap and the warden read as they start, instead of argv
    started, report, stop = os.pipe(), os.pipe(), os.pipe()
    inside = WardenChannels(started=started[1], report=report[1], stop=stop[0])
    ours = [started[0], report[0], stop[1], *vars(inside).values()]  # to close until _supervise takes them
    try:
        passwd, group = _passwd(uid, workdir)
        data_fds = {"/etc/passwd": file_in_memory(passwd), "/etc/group": file_in_memory(group)}
        read_at_start += data_fds.values()
        sandbox_uid, inputs_bytes = (uid if as_root else None), _tree_bytes(workdir)
        config = warden_config(argv, workdir=workdir, readonly=readonly, limits=limits, inputs_bytes=inputs_bytes,
                               sandbox_uid=sandbox_uid, channels=inside)  # fmt: skip
        read_at_start.append(config_fd := file_in_memory(json.dumps(config).encode()))
        options = bwrap_options(workdir=workdir, readonly=readonly, limits=limits, env=env,
                                inputs_bytes=inputs_bytes, sandbox_uid=sandbox_uid, data_fds=data_fds)  # fmt: skip
        read_at_start.append(options_fd := file_in_memory(nul_separated(options)))
        command = [bwrap, "--args", str(options_fd), "--", *warden_command(sandbox_uid, config_fd)]
        ours = []  # closed by _supervise from here on, whatever happens: never twice, since
        # with several sandboxes in threads a closed number is soon another thread's descriptor
        return _supervise(
            command, limits, stdin, read_at_start=read_at_start, inside=inside,
            started=started[0], report=report[0], stop=stop[1],
        )  # fmt: skip
    finally:
        for fd in [*read_at_start, *ours]:
            os.close(fd)
        if as_root:  # the warden copied the files back as root
            _chown_tree(workdir, owner.st_uid, owner.st_gid)


def _tree_bytes(folder: Path) -> int:
    """What the files under ``folder`` take on a tmpfs: page-rounded sizes, a hard-linked file once.

    The sandbox's disk is made this much larger than its limit, so the inputs
    already in ``workdir`` cost the program nothing.
    """
    total, seen, pending = 0, set(), [str(folder)]
    while pending:
        try:
            entries = os.scandir(pending.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(info.st_mode):
                    pending.append(entry.path)
                elif stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) not in seen:
                    seen.add((info.st_dev, info.st_ino))
                    total += sandbox_warden.page_rounded(info.st_size)
    return total


def _checked_workdir(workdir: Path) -> Path:
    """``workdir`` resolved, refused when it would expose or let code change what it must not."""
    workdir = Path(workdir).resolve()
    if not workdir.is_dir():
        raise FileNotFoundError(f"workdir {workdir} is not a folder; create a fresh empty folder for each run.")
    protected = [Path(p) for p in _SYSTEM_DIRS] + [Path("/etc"), labkit_package(), *python_installation()]
    for path in protected:
        if workdir == path or workdir in path.parents or path in workdir.parents:
            raise ValueError(
                f"workdir {workdir} overlaps {path}, which the sandbox may only read; "
                "give each run a fresh folder of its own, e.g. under the grading output folder."
            )
    return workdir


def _check_readonly(path: Path, *, readable_by_others: bool) -> None:
    """Refuse a ``readonly`` path that does not exist, or that the sandbox's own uid could not read."""
    if not path.exists():
        raise FileNotFoundError(f"readonly path {path} does not exist; bind only existing paths.")
    needed = 0o005 if path.is_dir() else 0o004
    if readable_by_others and path.stat().st_mode & needed != needed:
        raise PermissionError(
            f"readonly path {path} is not readable by other users (mode {path.stat().st_mode & 0o777:o}), "
            "and sandboxed code runs as an unprivileged user: make it world-readable, e.g. "
            f"`chmod o+rX {path}` (folders from tempfile.mkdtemp are owner-only)."
        )


def sandbox_uids(pid: int | None = None) -> range:
    """The uids that the sandboxes of a root grader process (default: this one) run as.

    64 per process, as pids are unique: each sandbox needs a uid no other
    running sandbox has, because ``RLIMIT_NPROC`` counts every task of a uid.
    Tests use the range to check that nothing a sandbox started outlives it.
    """
    first = FIRST_SANDBOX_UID + (os.getpid() if pid is None else pid) * 64  # < 2**32 for any pid
    return range(first, first + 64)


def _fresh_uid() -> int:
    """The next of :func:`sandbox_uids`, round robin (64 sandboxes may run at once per process)."""
    return sandbox_uids()[next(_sandbox_ids) % 64]


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    """Hand ``root`` and everything in it to ``uid``, never following a link out of it.

    The kernel clears set-user-ID bits on every chown, so handing files back to
    root cannot create a privileged program.
    """
    os.chown(root, uid, gid, follow_symlinks=False)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            try:
                os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)
            except FileNotFoundError:
                pass


class _BoundedReader:
    """Drains a pipe to its end on a thread of its own, keeping at most ``limit`` bytes."""

    def __init__(self, pipe, limit: int) -> None:
        self.pipe, self.limit = pipe, limit
        self.read = getattr(pipe, "read1", pipe.read)  # what has arrived, not a full chunk
        self.kept = bytearray()
        self.overflowed = False  # there was more than ``limit``
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while chunk := self.read(1 << 16):
            room = self.limit - len(self.kept)
            self.kept += chunk[:room]
            self.overflowed = self.overflowed or len(chunk) > room

    def finish(self) -> None:
        """Wait for the end of the pipe (the sandbox is dead by now), then close it."""
        self.thread.join(timeout=10)
        _close_quietly(self.pipe)

    def text(self) -> str:
        return self.kept.decode("utf-8", errors="replace")


def _close_quietly(pipe) -> None:
    try:
        pipe.close()
    except OSError:
        pass


def _feed(pipe, data: bytes) -> None:
    """Write ``data`` to the sandbox's stdin and close it; a program that stops reading is its business."""
    try:
        pipe.write(data)
    except OSError:
        pass
    finally:
        _close_quietly(pipe)


def _supervise(
    command: list[str],
    limits: Limits,
    stdin: bytes | None,
    *,
    read_at_start: list[int],
    inside: WardenChannels,
    started: int,
    report: int,
    stop: int,
) -> SandboxResult:
    """Start bubblewrap, watch the tree against the limits, and stop it the moment one breaks.

    ``read_at_start`` are descriptors bubblewrap and the warden read as they
    start (the caller closes them); ``inside`` are the sandbox's ends of the
    pipes, closed here once it holds them; ``started``, ``report`` and
    ``stop`` are the grader's ends. A broken limit asks the warden to end the
    program and copy ``workdir`` back; a warden that has not finished
    :data:`STOP_GRACE_SECONDS` later, or a tree still over the memory limit
    half a second later, is killed outright.
    """
    announcement_pipe = os.fdopen(started, "rb", buffering=0)  # own their descriptors from here
    report_pipe = os.fdopen(report, "rb", buffering=0)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=[*read_at_start, *vars(inside).values()],
            start_new_session=True,
        )
    except OSError as error:
        for pipe in (announcement_pipe, report_pipe):
            pipe.close()
        os.close(stop)
        raise SandboxUnavailable(f"bubblewrap could not be started: {error}. {INSTALL_HINT}") from error
    finally:
        for fd in vars(inside).values():  # only the sandbox holds them now: their end is the sandbox's
            os.close(fd)
    stdout, stderr = _BoundedReader(proc.stdout, limits.output_bytes), _BoundedReader(proc.stderr, limits.output_bytes)
    announcement, warden = _BoundedReader(announcement_pipe, 16), _BoundedReader(report_pipe, 2**16)
    if stdin is not None:
        threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True).start()
    broken: tuple[str, str] | None = None
    peak, reaped, grace_from = 0, None, None  # grace_from: when only the warden had work left
    ended = os.pidfd_open(proc.pid)  # readable once bubblewrap exits: no waiting out a poll interval
    try:
        while (reaped := _reap(proc.pid, block=False)) is None:
            now = time.monotonic()
            program_ended = warden.kept.startswith(b"ended\n")  # and every process it started
            memory = 0 if program_ended else _tree_memory(proc.pid)
            peak = max(peak, memory)
            if broken is None and not program_ended:
                printed = stdout.overflowed or stderr.overflowed
                broken = _broken_limit(limits, now - start, memory, printed)
                if broken is not None:
                    os.write(stop, b"stop")
            if grace_from is None and (broken is not None or program_ended):
                grace_from = now
            if grace_from is not None and (
                now - grace_from > STOP_GRACE_SECONDS
                or (memory > limits.memory_bytes and now - grace_from > 5 * POLL_SECONDS)
            ):
                _kill(proc.pid)
            select.select([ended], [], [], POLL_SECONDS)
    finally:
        os.close(ended)
        if reaped is None:
            _kill(proc.pid)
            reaped = _reap(proc.pid, block=True)
        proc.returncode = reaped[0]  # reaped here (for its resource usage), not by Popen
        for reader in (stdout, stderr, announcement, warden):
            reader.finish()
        os.close(stop)
        if proc.stdin is not None:
            _close_quietly(proc.stdin)
    exit_code, usage = reaped
    seconds = time.monotonic() - start
    peak = max(peak, usage.ru_maxrss * 1024)  # the largest single process, if it outgrew the polls
    if broken is None and (stdout.overflowed or stderr.overflowed):
        broken = _broken_limit(limits, seconds, 0, True)
    report = _warden_report(warden.kept)
    if broken is None and bytes(announcement.kept) != b"started":
        problem = report.get("error") or stderr.text().strip()
        raise SandboxUnavailable(f"bubblewrap could not set up the sandbox: {problem}")
    broken = broken or _warden_verdict(report, limits)
    if broken is not None:
        status, detail = broken
        return SandboxResult(status, None, stdout.text(), stderr.text(), seconds, peak, detail)
    status, code, detail = _verdict(exit_code)
    return SandboxResult(status, code, stdout.text(), stderr.text(), seconds, peak, detail)


def _warden_report(written: bytes) -> dict:
    """The warden's report: the JSON object on the last line it wrote ({} if it wrote none)."""
    lines = [line for line in written.splitlines() if line.strip() and line != b"ended"]
    try:
        report = json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {}
    return report if isinstance(report, dict) else {}


def _warden_verdict(report: dict, limits: Limits) -> tuple[str, str] | None:
    """The status and explanation the warden's report calls for, else None (the exit code decides).

    Fails closed: a run whose files did not come back is never "ok".
    """
    why = str(report.get("why", ""))
    if why.startswith("created "):
        return "output-limit", why
    written = report.get("written", 0)
    if isinstance(written, int) and written > limits.disk_bytes:
        return "output-limit", f"wrote {_mib(written)} of files, more than the {_mib(limits.disk_bytes)} limit"
    if report.get("copied_back") is not True:
        problem = report.get("error") or why or "the sandbox ended before its warden reported"
        return "error", f"its files could not be copied back ({str(problem)[:500]})"
    return None


def _reap(pid: int, *, block: bool) -> tuple[int, object] | None:
    """bubblewrap's exit code and resource usage once it has ended (None while it runs)."""
    done, wait_status, usage = os.wait4(pid, 0 if block else os.WNOHANG)
    return (os.waitstatus_to_exitcode(wait_status), usage) if done else None


def _broken_limit(limits: Limits, seconds: float, memory: int, printed_too_much: bool) -> tuple[str, str] | None:
    """The status and an explanation when a measurement breaks a limit, else None."""
    if seconds > limits.wall_seconds:
        return "timeout", f"ran longer than the {limits.wall_seconds:g} s limit"
    if memory > limits.memory_bytes:
        return "out-of-memory", f"used {_mib(memory)} of memory, more than the {_mib(limits.memory_bytes)} limit"
    if printed_too_much:
        return "output-limit", f"printed more than {_mib(limits.output_bytes)} to stdout or stderr"
    return None


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"


def _verdict(exit_code: int) -> tuple[str, int, str]:
    """Status, return code and explanation from bubblewrap's exit code.

    bubblewrap reports death by signal N as exit code 128+N, as shells do, so
    a program that calls ``exit(139)`` is taken for a crash: not "ok" either way.
    """
    if exit_code == 0:
        return "ok", 0, ""
    signum = -exit_code if exit_code < 0 else exit_code - 128
    if signum in signal.valid_signals() and (exit_code < 0 or exit_code > 128):
        return "crashed", -signum, f"killed by signal {signal.Signals(signum).name}"
    return "error", exit_code, f"exited with status {exit_code}"


def _kill(pid: int) -> None:
    """SIGKILL bubblewrap: its init then dies with it, and the pid namespace with all inside."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _tree_memory(pid: int) -> int:
    """Resident memory of a process and all its descendants, from ``/proc``.

    Pages shared after a fork count once per process, so this errs high: safe
    for a limit. Cgroups would be exact but are not available everywhere. The
    kernel's lists of children keep a poll cheap (a scan of every process on
    the host, as ``psutil`` does, costs a few ms each time).
    """
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * PAGE_BYTES
            for thread in os.listdir(f"/proc/{current}/task"):
                pending += map(int, Path(f"/proc/{current}/task/{thread}/children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue  # it ended while we looked
    return total
