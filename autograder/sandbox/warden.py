"""The trusted first process inside every sandbox: it keeps the sandbox's writes on a disk of fixed size.

A limit on what a program writes that is only measured from outside comes too
late: between two measurements a fast writer lands several times the limit.
So the sandbox's writable folders live on a ``tmpfs`` of fixed size, which the
kernel enforces at every write (the writer gets ``ENOSPC``). A tmpfs vanishes
with the sandbox, so this warden, started by bubblewrap before anything
untrusted, moves the work folder across:

1. copy the host's work folder (bound at ``out``, hidden from the program) onto
   the disk, then run the program in a nested bubblewrap that sees the copy at
   the work folder's own path and the disk's ``tmp`` as ``/tmp``, in a pid
   namespace of its own, so that it sees no process of the warden's;
2. when the program ends, or the grader asks (a byte on ``stop_fd``, when a
   limit broke), kill every process left in the sandbox, so that nothing
   untrusted runs while its files are read (``kill(-1)`` reaches into the
   nested pid namespace too: its processes are the sandbox's as well);
3. say ``ended`` on ``report_fd`` (the grader's limits stop there: only
   trusted code runs on), clear the host's work folder, copy the disk's work
   folder back into it, and report what was written, as one JSON object.

The warden runs as root when the grader does (the program never does), or as
the grader's user; either way the program cannot see, signal or trace it, nor
see its files. The copies follow no links, recreate links and FIFOs as such,
keep hard links as one file, and stop at a byte budget, so whatever the
program leaves costs the host no more than the disk held. The file count
(each file costs RAM on a tmpfs) is measured ten times a second, on the disk
and on the sandbox's ``/dev/shm``, whose size caps its bytes but not its files.

Run as ``python -I -S sandbox_warden.py CONFIG_FD``: the descriptor holds the
config, a JSON object (see ``autograder.sandbox.warden_config``), and is read
rather than argv because a command line is readable in ``/proc`` by everyone
who can see the process. It imports only the standard library, because
nothing else is certain inside.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import shutil
import signal
import stat
import sys
import time

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
SHARED_MEMORY = "/dev/shm"
"""The other tmpfs the program can write to (the sandbox's own, small): its files count too."""
POLL_SECONDS = 0.1
MAX_DEPTH = 64
"""Folders deeper than this inside the work folder are not copied (no program of ours nests so deep)."""
SETTLE_SECONDS = 10.0
"""How long killed processes get to disappear before the work folder is left where it is."""


def page_rounded(size: int) -> int:
    """What a file of ``size`` bytes occupies on a tmpfs, which allocates whole pages."""
    return -(-size // PAGE_BYTES) * PAGE_BYTES


def used_bytes(disk: str) -> int:
    """The bytes the disk holds (pages of file contents; folders take none)."""
    info = os.statvfs(disk)
    return (info.f_blocks - info.f_bfree) * info.f_frsize


def used_files(disk: str) -> int:
    """The files, folders and links on the disk (each an inode, in RAM)."""
    info = os.statvfs(disk)
    return info.f_files - info.f_ffree


def copy_tree(source: str, destination: str, budget: int, owner: int | None = None) -> None:
    """Copy the contents of ``source`` into the existing folder ``destination``, never following a link.

    Regular files are copied while ``budget`` lasts (page-rounded sizes, a
    hard-linked file once); links and FIFOs are recreated as such. Left out:
    files past the budget, folders below :data:`MAX_DEPTH`, anything else
    (sockets), and whatever cannot be read. Modes keep only permission bits;
    ``owner`` (a uid) receives everything copied.
    """
    linked: dict[tuple[int, int], str] = {}
    folder_modes: list[tuple[str, int]] = []
    pending = [("", 0)]
    while pending:
        relative, depth = pending.pop()
        try:
            names = sorted(os.listdir(os.path.join(source, relative)))
        except OSError:
            continue
        for name in names:
            path = os.path.join(relative, name)
            src, dst = os.path.join(source, path), os.path.join(destination, path)
            try:
                info = os.lstat(src)
                if stat.S_ISDIR(info.st_mode) and depth < MAX_DEPTH:
                    os.mkdir(dst, 0o700)
                    folder_modes.append((dst, stat.S_IMODE(info.st_mode) & 0o777))
                    pending.append((path, depth + 1))
                elif stat.S_ISLNK(info.st_mode):
                    os.symlink(os.readlink(src), dst)
                elif stat.S_ISFIFO(info.st_mode):
                    os.mkfifo(dst, 0o600)
                elif stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) in linked:
                    os.link(linked[info.st_dev, info.st_ino], dst, follow_symlinks=False)
                elif stat.S_ISREG(info.st_mode) and page_rounded(info.st_size) <= budget:
                    budget -= page_rounded(_copy_file(src, dst, info))
                    linked[info.st_dev, info.st_ino] = dst
                else:
                    continue
                if owner is not None:
                    os.chown(dst, owner, owner, follow_symlinks=False)
            except OSError:
                continue
    for folder, mode in folder_modes:
        os.chmod(folder, mode | 0o700)  # its owner can always empty it


def _copy_file(src: str, dst: str, info: os.stat_result) -> int:
    """Copy one regular file's bytes and permission bits; the bytes copied."""
    source = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if os.fstat(source).st_ino != info.st_ino:
            raise OSError(f"{src} changed while it was copied")
        target = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, stat.S_IMODE(info.st_mode) & 0o777)
        try:
            copied = 0
            while copied < info.st_size:
                sent = os.sendfile(target, source, copied, info.st_size - copied)
                if sent == 0:
                    break
                copied += sent
            os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
            return copied
        finally:
            os.close(target)
    finally:
        os.close(source)


def clear_folder(folder: str) -> None:
    """Remove everything inside ``folder`` (links are removed, never followed)."""
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)  # its folders are all the owner's to empty: copy_tree made them so
        else:
            os.unlink(path)


def not_traceable() -> None:
    """Make this process non-dumpable: a program running as the same user cannot trace it or read its files."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_DUMPABLE = 4
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def end_every_other_process() -> bool:
    """SIGKILL every process of the sandbox but its init and this one; whether all were gone in time.

    ``kill(-1)`` reaches each at once (a fork cannot slip past it), so nothing
    untrusted runs while the work folder is copied back.
    """
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _reap_children()
        if not _others_alive():
            return True
        time.sleep(0.01)
    return False


def _reap_children() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _others_alive() -> bool:
    """Whether a process other than init and this one still runs (zombies are dead)."""
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (1, os.getpid()):
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as status:
                state = status.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # it ended while we looked
        if state not in (b"Z", b"X"):
            return True
    return False


def file_in_memory(content: bytes) -> int:
    """A descriptor of an unnamed file in memory that holds ``content``, to be read from its start.

    Bubblewrap's and the warden's arguments travel in such files, not in argv,
    which any process that can see another reads in ``/proc/PID/cmdline``.
    """
    fd = os.memfd_create("sandbox", os.MFD_CLOEXEC)
    written = 0
    while written < len(content):
        written += os.write(fd, content[written:])
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def nul_separated(args: list[str]) -> bytes:
    """``args`` as ``bwrap --args FD`` reads them: each one ended by a NUL byte, which none may hold."""
    encoded = [os.fsencode(arg) for arg in args]
    if any(b"\0" in arg for arg in encoded):
        raise ValueError("an argument holds a NUL byte, which no command line can pass")
    return b"".join(arg + b"\0" for arg in encoded)


def keep_only(*fds: int) -> None:
    """Close every descriptor above stderr but ``fds``, which a program then exec'd inherits."""
    lowest = 3
    for fd in sorted(fds):
        os.closerange(lowest, fd)
        os.set_inheritable(fd, True)
        lowest = fd + 1
    os.closerange(lowest, os.sysconf("SC_OPEN_MAX"))


def start_program(bwrap: list[str], bwrap_args: list[str], program: list[str], started_fd: int) -> int:
    """Start ``bwrap --args FD -- program``, the bubblewrap reading ``bwrap_args`` from FD; its pid.

    Bubblewrap's options stay out of argv, so the program's pid 1 (that
    bubblewrap) shows nothing of the sandbox's layout in ``/proc/1/cmdline``;
    the command after ``--`` has to be in argv, but it is the program's own.
    """
    args_fd = file_in_memory(nul_separated(bwrap_args))
    pid = os.fork()
    if pid == 0:  # it inherits stdin, stdout, stderr, started_fd and args_fd (which bubblewrap closes once read)
        try:
            keep_only(started_fd, args_fd)
            os.execv(bwrap[0], [*bwrap, "--args", str(args_fd), "--", *program])
        finally:
            os._exit(127)
    os.close(args_fd)
    os.close(started_fd)
    return pid


def watch_program(pid: int, stop_fd: int, disk: str, max_files: int) -> tuple[int, str]:
    """Wait for the program started as ``pid`` to end, the grader to ask to stop, or too many files.

    Returns its exit code (128 + N for signal N, as shells say) and why it was
    stopped: "" when it ended by itself.
    """
    ended = os.pidfd_open(pid)
    why = ""
    while not why:
        ready, _, _ = select.select([ended, stop_fd], [], [], POLL_SECONDS)
        if ended in ready:
            break
        files = used_files(disk) + used_files(SHARED_MEMORY)
        if stop_fd in ready:
            why = "stopped"
        elif files > max_files:
            why = f"created {files:,} files and folders, more than the {max_files:,} limit"
    os.close(ended)
    if why:
        os.kill(pid, signal.SIGKILL)
    _, wait_status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(wait_status)
    return (128 - code if code < 0 else code), why


def read_config(fd: int) -> dict:
    """The grader's instructions (a JSON object), read from descriptor ``fd`` and closed."""
    with os.fdopen(fd, "rb") as source:
        return json.loads(source.read())


def main(argv: list[str]) -> int:
    """Copy in, run, end everything, copy back; the program's exit code."""
    config = read_config(int(argv[1]))
    disk, out, owner = config["disk"], config["out"], config["owner"]
    report_fd = config["report_fd"]
    report: dict = {}
    code = 1
    try:
        not_traceable()
        work, tmp = os.path.join(disk, "work"), os.path.join(disk, "tmp")
        for folder, mode in ((work, stat.S_IMODE(os.stat(out).st_mode) | 0o700), (tmp, 0o1777)):
            os.mkdir(folder, 0o700)
            if owner is not None:
                os.chown(folder, owner, owner)
            os.chmod(folder, mode)
        copy_tree(out, work, config["inputs_bytes"], owner)
        before = used_bytes(disk)
        pid = start_program(config["bwrap"], config["bwrap_args"], config["program"], config["started_fd"])
        code, report["why"] = watch_program(pid, config["stop_fd"], disk, config["max_files"])
        if not end_every_other_process():
            report["why"] = report["why"] or "processes outlived the program"
            return code
        os.write(report_fd, b"ended\n")  # from here on the grader's limits no longer run: only trusted code does
        report["written"] = max(0, used_bytes(disk) - before)
        clear_folder(out)
        copy_tree(work, out, config["disk_size"])
        report["copied_back"] = True
        return code
    except Exception as error:  # the report says what broke, and the grader fails the run closed
        report["error"] = f"{type(error).__name__}: {error}"[:1000]
        return code
    finally:
        os.write(report_fd, json.dumps(report).encode() + b"\n")
        os.close(report_fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
