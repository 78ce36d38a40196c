"""The grader's sandbox, on real bubblewrap: what student code can reach, and each limit.

Every test runs hostile code for real and checks both the verdict and that the
host is unharmed; the limits are made small so that each takes a few seconds.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from autograder.sandbox import Limits
from autograder.sandbox import bubblewrap as sandbox
from autograder.sandbox import output as sandbox_output

REPO = Path(__file__).resolve().parent.parent
SMALL = Limits(wall_seconds=20, memory_bytes=400 * 2**20, processes=64, output_bytes=64 * 2**10,
               file_bytes=8 * 2**20, disk_bytes=32 * 2**20)  # fmt: skip


def python(code: str, workdir: Path, limits: Limits = SMALL, **kwargs) -> sandbox.SandboxResult:
    """Run a Python snippet in the sandbox with the course's interpreter."""
    return sandbox.run([*sandbox.python_argv(), "-c", textwrap.dedent(code)], workdir=workdir, limits=limits, **kwargs)


def facts(code: str, workdir: Path, **kwargs) -> dict:
    """Run a snippet that prints one JSON object as its last line, and return that object."""
    result = python(code, workdir, **kwargs)
    assert result.status == "ok", result
    return json.loads(result.stdout.strip().splitlines()[-1])


def sandbox_processes_left(grader_pid: int | None = None) -> list[psutil.Process]:
    """Processes on the host running as a sandbox uid of this process (or another grader): never any after a run."""
    uids = sandbox.sandbox_uids(grader_pid)
    processes = psutil.process_iter(["uids", "name"])
    return [p for p in processes if p.info["uids"] is not None and p.info["uids"].real in uids]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "alice"
    folder.mkdir()
    return folder


# -- a clean run ------------------------------------------------------------------------------



def test_a_grader_whose_labkit_the_sandbox_would_not_import_stops_before_grading(tmp_path):
    """A PYTHONPATH in front of the installed labkit: the grader would show the sandbox one labkit while the
    sandbox's isolated Python imports another, or none, and every probe would fail: a class of zeros.
    grade() refuses before it looks at a submission."""
    import labkit

    other = tmp_path / "elsewhere"
    shutil.copytree(Path(labkit.__file__).parent, other / "labkit", ignore=shutil.ignore_patterns("__pycache__"))
    check = ("from autograder import sandbox\nfrom autograder.pipeline.grading import grade\n"
             "try:\n    grade('lab1-mnist', 'no-class', 'out')\nexcept sandbox.SandboxUnavailable as error:\n"
             "    print('unavailable:', error)\nexcept FileNotFoundError:\n    print('graded nothing')\n")

    def sandbox_check(pythonpath: str) -> str:
        environment = {**os.environ, "PYTHONPATH": pythonpath}
        return subprocess.run([sys.executable, "-c", check], cwd=tmp_path, env=environment, capture_output=True,
                              text=True, timeout=300, check=True).stdout

    assert sandbox_check(str(REPO)).strip().splitlines()[-1] == "graded nothing"  # the check passed
    refused = sandbox_check(f"{other}{os.pathsep}{REPO}")
    assert refused.startswith("unavailable: Inside the sandbox"), refused
    assert f"this grader uses the labkit in {(other / 'labkit').resolve()}" in refused
    assert "without PYTHONPATH" in refused

def test_available_here():
    assert sandbox.available(), sandbox.INSTALL_HINT


def test_ok_run_returns_its_output_and_reads_stdin(workdir: Path):
    result = python(
        """
        import sys
        request = sys.stdin.read()
        print("got", request.upper())
        print("to stderr", file=sys.stderr)
        open("answer.txt", "w").write("42")
        """,
        workdir,
        stdin=b"hello",
    )
    assert result.status == "ok" and result.ok and result.returncode == 0
    assert result.stdout == "got HELLO\n" and result.stderr == "to stderr\n"
    assert (workdir / "answer.txt").read_text() == "42"
    assert (workdir / "answer.txt").stat().st_uid == workdir.stat().st_uid  # handed back to its owner
    assert 0 < result.seconds < 15 and result.peak_memory_bytes > 1_000_000
    request = b"x" * 3 * 2**20  # more than a pipe holds: written while the program reads
    assert python("import sys; print(len(sys.stdin.buffer.read()))", workdir, stdin=request).stdout == "3145728\n"
    assert python("pass", workdir, stdin=request).status == "ok"  # a program may ignore its input


def test_a_readonly_folder_named_through_a_link_is_seen_at_its_real_path(workdir: Path, mirror_dir: Path,
                                                                         tmp_path: Path):
    """CI's ../shared may be a link: the sandbox binds the real folder, and only there."""
    link = tmp_path / "shared-link"
    link.symlink_to(mirror_dir.resolve(), target_is_directory=True)
    code = "import os, sys; print(os.path.isdir(sys.argv[1]), os.path.isdir(sys.argv[2]))"
    result = sandbox.run([*sandbox.python_argv(), "-c", code, str(mirror_dir.resolve() / "mnist"),
                          str(link / "mnist")], workdir=workdir, readonly=[link], limits=SMALL)
    assert (result.status, result.stdout) == ("ok", "True False\n")


def test_sandboxes_run_from_many_threads_at_once_each_get_their_own_result(tmp_path: Path):
    """Each run owns its descriptors: closing one twice once broke a neighbour's run mid-way."""
    from concurrent.futures import ThreadPoolExecutor

    def run(index: int) -> tuple[str, str]:
        folder = tmp_path / f"student-{index}"
        folder.mkdir()
        result = python(f"print({index})", folder)
        return result.status, result.stdout

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(run, range(18)))
    assert results == [("ok", f"{index}\n") for index in range(18)]


def test_course_python_and_labkit_work_inside_but_the_grader_is_invisible(workdir: Path):
    seen = facts(
        """
        import importlib.util, json, os, sys, labkit
        print(json.dumps({
            "executable": sys.executable, "labkit": labkit.__file__, "cwd": os.getcwd(),
            "home": os.environ["HOME"], "autograder": importlib.util.find_spec("autograder") is not None,
            "uid": os.getuid(), "urandom": len(open("/dev/urandom", "rb").read(8)),
            "null": open("/dev/null", "w").write("x"),
        }))
        """,
        workdir,
    )
    assert seen["executable"] == sys.executable
    assert seen["labkit"] == str(sandbox.labkit_package() / "__init__.py")
    assert seen["cwd"] == seen["home"] == str(workdir)
    assert seen["autograder"] is False
    assert seen["uid"] != 0
    assert seen["urandom"] == 8 and seen["null"] == 1  # the few devices libraries need (std::random_device)


# -- nothing to reach -------------------------------------------------------------------------


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"secret answers")

    def log_message(self, *args):
        pass


def test_no_network_not_even_the_hosts_loopback(workdir: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/"
    try:
        assert urllib.request.urlopen(url, timeout=5).read() == b"secret answers"  # the host reaches it
        seen = facts(
            f"""
            import json, socket, urllib.request
            outcomes = {{}}
            try:
                socket.create_connection(("1.1.1.1", 53), timeout=3); outcomes["internet"] = "connected"
            except OSError as error:
                outcomes["internet"] = type(error).__name__
            try:
                outcomes["host"] = urllib.request.urlopen({url!r}, timeout=3).read().decode()
            except OSError as error:
                outcomes["host"] = type(error).__name__
            print(json.dumps(outcomes))
            """,
            workdir,
        )
    finally:
        server.shutdown()
    assert seen["internet"] != "connected"
    assert seen["host"] != "secret answers"


def test_solutions_repository_other_students_and_host_files_are_invisible(workdir: Path, tmp_path: Path):
    other = tmp_path / "bob"
    other.mkdir()
    (other / "submission.txt").write_text("bob's answers")
    outside = tmp_path / "gradebook.db"
    outside.write_text("grades")
    root_entries = [Path("/root") / name for name in sorted(p.name for p in Path("/root").iterdir())]
    python_folders = sandbox.python_installation()
    root_secrets = [p for p in root_entries if not any(p == f or p in f.parents for f in python_folders)]
    targets = [REPO / "solutions", REPO / "README.md", REPO / "tests", REPO / "autograder", REPO / ".git",
               other / "submission.txt", outside, Path("/etc/shadow"), Path("/etc/hostname"),
               Path("/work/shared/seeds"), *root_secrets]  # fmt: skip
    targets = [t for t in targets if t.exists()]  # each exists on the host...
    assert REPO / "solutions" in targets and other / "submission.txt" in targets and len(root_secrets) > 0
    seen = facts(
        f"""
        import json, os
        print(json.dumps({{path: os.path.exists(path) for path in {[str(t) for t in targets]!r}}}))
        """,
        workdir,
    )
    assert [path for path, exists in seen.items() if exists] == []  # ...and none inside
    assert sorted(seen) == sorted(str(t) for t in targets)


def test_nothing_outside_workdir_can_be_written(workdir: Path, mirror_dir: Path):
    places = [str(sandbox.labkit_package() / "planted.py"), str(Path(sys.prefix) / "planted.pth"),
              "/usr/planted", "/etc/planted", "/planted", str(mirror_dir / "planted"),
              f"{sandbox.WARDEN_HOME}/planted", f"{sandbox.WARDEN_HOME}/out/planted"]  # fmt: skip
    seen = facts(
        f"""
        import json
        outcomes = {{}}
        for path in {places!r} + ["/tmp/scratch", {str(workdir.parent / "planted")!r}, "mine.txt"]:
            try:
                open(path, "w").write("x"); outcomes[path] = "written"
            except OSError as error:
                outcomes[path] = type(error).__name__
        print(json.dumps(outcomes))
        """,
        workdir,
        readonly=[mirror_dir],
    )
    assert {path: outcome for path, outcome in seen.items() if outcome == "written"} == {
        "/tmp/scratch": "written",  # a private /tmp, gone afterwards
        str(workdir.parent / "planted"): "written",  # workdir lies in /tmp here: its parent is in the private one
        "mine.txt": "written",
    }
    assert not any(Path(p).exists() for p in places) and not Path("/tmp/scratch").exists()
    assert not (workdir.parent / "planted").exists()
    assert (workdir / "mine.txt").exists()


def test_the_environment_holds_no_secrets(workdir: Path, monkeypatch):
    monkeypatch.setenv("COMET_API_KEY", "the-instructors-key")
    monkeypatch.setenv("GITHUB_TOKEN", "a-token")
    seen = facts("import json, os; print(json.dumps(dict(os.environ)))", workdir, env={"LABKIT_PROFILE": "quick"})
    assert "the-instructors-key" not in json.dumps(seen) and "a-token" not in json.dumps(seen)
    assert set(seen) <= {"PATH", "HOME", "LANG", "PWD", "LABKIT_PROFILE"}
    assert seen["LABKIT_PROFILE"] == "quick" and seen["HOME"] == str(workdir)


def test_sandboxes_side_by_side_are_held_to_their_share_of_threads(workdir: Path):
    """Each library's thread count is the limit's: two workers' PyTorch must not spin on each other's cores."""
    code = """
        import json, os, torch
        print(json.dumps({"omp": os.environ.get("OMP_NUM_THREADS"), "torch": torch.get_num_threads(),
                          "tf": os.environ.get("TF_NUM_INTRAOP_THREADS")}))
    """
    limits = dataclasses.replace(SMALL, memory_bytes=2 * 2**30, wall_seconds=60)
    held = facts(code, workdir, limits=dataclasses.replace(limits, threads=1))
    assert held == {"omp": "1", "torch": 1, "tf": "1"}
    free = facts(code, workdir, limits=limits)
    assert free["omp"] is None and free["tf"] is None
    for wrong in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="Limits.threads"):
            python("print(1)", workdir, limits=dataclasses.replace(SMALL, threads=wrong))


GRADER = """
import json, sys
from pathlib import Path
from autograder.sandbox import bubblewrap as sandbox
result = sandbox.run([*sandbox.python_argv(), "-c", sys.argv[1]], workdir=Path(sys.argv[2]),
                     limits=sandbox.Limits(wall_seconds=20))
print(json.dumps([result.status, result.stdout, result.stderr]))
"""
PROC_AS_SEEN_INSIDE = """
import json, os
listed = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
read = {}
for pid in listed:
    for name in ("cmdline", "environ"):
        try:
            read[f"{pid}/{name}"] = open(f"/proc/{pid}/{name}", "rb").read().decode(errors="replace")
        except OSError:  # not ours to read
            pass
init = open("/proc/1/cmdline", "rb").read().decode(errors="replace").split("\\0")[:-1]
held_by_init = os.listdir("/proc/1/fd") if os.access("/proc/1/fd", os.R_OK) else []
for fd in [fd for fd in held_by_init if int(fd) > 2]:  # were one the grader's, "started" would come twice
    try:
        os.write(os.open(f"/proc/1/fd/{fd}", os.O_WRONLY), b"started")
    except OSError:
        pass
print(json.dumps({"me": os.getpid(), "listed": listed, "read": read, "init": init}))
"""


def test_proc_shows_the_program_its_own_processes_and_nothing_of_the_host(tmp_path: Path):
    """Every command line and environment in the sandbox's /proc, pid 1's too, is the program's own:
    no host path but its workdir, no warden or bubblewrap arguments, nothing of the grader's.
    Pid 1, bubblewrap's init, holds no descriptor of the grader's either (else "started" could be forged)."""
    workdir = tmp_path / "labkit-grading-lab0-x1y2" / "submissions" / "alice"  # laid out as grading.py does
    workdir.mkdir(parents=True)
    note = "known-to-the-grader-only"
    grader = subprocess.run([sys.executable, "-c", GRADER, PROC_AS_SEEN_INSIDE, str(workdir), f"--{note}-argv"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(REPO), "GRADER_NOTE": f"{note}-environment"})
    assert grader.returncode == 0, grader.stderr
    status, output, errors = json.loads(grader.stdout)
    assert status == "ok", errors
    seen = json.loads(output)
    assert seen["listed"] == [1, seen["me"]]  # bubblewrap's init and the program: no warden, no outer bubblewrap
    init = seen["init"]
    assert init[:2] == [sandbox.INNER_BWRAP, "--args"] and init[2].isdigit() and init[3] == "--"
    shown = "\n".join([*seen["read"].values(), *init])
    beyond_workdir = shown.replace(str(workdir), "WORKDIR")  # its own path it is told (HOME, the cwd)
    hidden = [str(workdir.parent), str(tmp_path), "labkit-grading", "/.labkit", "warden", "report_fd", note]
    assert [text for text in hidden if text in beyond_workdir] == []
    environments = [text for key, text in seen["read"].items() if key.endswith("/environ")]
    variables = {entry.split("=", 1)[0] for text in environments for entry in text.split("\0") if entry}
    assert variables <= {"PATH", "HOME", "LANG", "PWD"}


def test_no_privileges_and_no_new_user_namespaces(workdir: Path):
    seen = facts(
        """
        import json, os, subprocess
        status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\\t" in line)
        nested = subprocess.run(["/usr/bin/unshare", "--user", "--map-root-user", "true"], capture_output=True)
        print(json.dumps({"uid": os.getuid(), "caps": status["CapEff"], "bounding": status["CapBnd"],
                          "no_new_privs": status["NoNewPrivs"], "nested_userns": nested.returncode}))
        """,
        workdir,
    )
    assert seen["uid"] != 0 and seen["caps"] == "0000000000000000" and seen["no_new_privs"] == "1"
    assert seen["nested_userns"] != 0


UNPRIVILEGED_CHECKS = """
import json, os, socket, subprocess, sys
from pathlib import Path
from autograder.sandbox import bubblewrap as sandbox

workdir, python, solutions = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
def inside(code, **limits):
    return sandbox.run([python, "-c", code], workdir=workdir, limits=sandbox.Limits(**limits))
facts = inside("import json, os, subprocess; print(json.dumps({'uid': os.getuid(), 'solutions': os.path.exists("
               f"{solutions!r}), 'nested': subprocess.run(['/usr/bin/unshare', '-U', 'true']).returncode}}))")
forks = inside("import os, time\\nn = 0\\ntry:\\n  while n < 100:\\n    if os.fork() == 0: time.sleep(3); os._exit(0)\\n"
               "    n += 1\\nexcept OSError: print(n)", processes=16)
network = inside("import socket; socket.create_connection(('1.1.1.1', 53), timeout=3)")
loop = inside("while True: pass", wall_seconds=1)
# The warden is the caller too: the program, as the same user, must still find nothing of it,
# neither its folder nor its process (the program's pid namespace holds bubblewrap's init and itself).
warden = inside("import json, os\\nprint(json.dumps({'folder': os.path.exists('/.labkit'), 'me': os.getpid(), "
                "'processes': sorted(int(name) for name in os.listdir('/proc') if name.isdigit())}))")
disk = inside("n = 0\\ntry:\\n  for part in range(100):\\n    with open(f'part-{part}', 'wb') as out:\\n"
              "      for _ in range(4): out.write(bytes(2**20)); out.flush(); n += 1\\nexcept OSError as error: "
              "print(n, error.errno)", disk_bytes=16 * 2**20)
for part in workdir.glob("part-*"):
    part.unlink()
killer = inside("import os, signal\\nopen('kept.txt', 'w').write('mine')\\nfor pid in [-1, *range(1, 100)]:\\n"
                "  if pid != os.getpid():\\n    try: os.kill(pid, signal.SIGKILL)\\n    except OSError: pass\\n"
                "print('survived')")
kept = (workdir / "kept.txt").read_text() if (workdir / "kept.txt").exists() else None
print(json.dumps({"facts": json.loads(facts.stdout), "forks": int(forks.stdout), "network": network.status,
                  "loop": loop.status, "caller": os.getuid(), "warden": json.loads(warden.stdout),
                  "disk": [disk.status, disk.detail, disk.stdout], "killer": [killer.status, killer.stdout, kept]}))
"""


def test_a_grader_that_is_not_root_gets_the_same_sandbox(tmp_path: Path):
    """Instructors grade as themselves: then bubblewrap makes the user namespace, not setpriv,
    and the warden runs as the program's own user, yet stays out of its reach."""
    python = next((p for p in (sys.executable, "/usr/bin/python3") if _usable_by_anyone(Path(p))), None)
    assert python is not None, "this test needs a Python interpreter that an unprivileged user may run"
    workdir = Path(tempfile.mkdtemp(prefix="labkit-unprivileged-"))  # reachable by that user
    try:
        command = [python, "-c", UNPRIVILEGED_CHECKS, str(workdir), python, str(REPO / "solutions")]
        if os.geteuid() == 0:
            os.chown(workdir, 65534, 65534)
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                              env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})  # fmt: skip
    finally:
        shutil.rmtree(workdir)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["caller"] != 0 and seen["facts"]["uid"] == seen["caller"]
    assert seen["facts"]["solutions"] is False and seen["facts"]["nested"] != 0
    assert seen["forks"] < 16 and seen["network"] == "error" and seen["loop"] == "timeout"
    assert seen["warden"] == {"folder": False, "me": 2, "processes": [1, 2]}
    status, detail, written = seen["disk"]
    assert (status, written.split()[1]) == ("output-limit", "28"), seen["disk"]  # ENOSPC at the tmpfs' edge
    assert "more than the 16.0 MiB limit" in detail and int(written.split()[0]) <= 17
    assert seen["killer"] == ["ok", "survived\n", "mine"]  # no signal reaches the warden: the files come back


def _usable_by_anyone(path: Path) -> bool:
    """Whether every folder above the interpreter lets others through, and others may run it."""
    real = path.resolve()
    return all(folder.stat().st_mode & 0o001 for folder in real.parents) and bool(real.stat().st_mode & 0o001)


# -- limits -----------------------------------------------------------------------------------


def test_an_infinite_loop_times_out(workdir: Path):
    limits = Limits(wall_seconds=2)
    result = python("while True: pass", workdir, limits)
    assert result.status == "timeout" and result.returncode is None
    assert result.detail == "ran longer than the 2 s limit"
    assert 2 <= result.seconds < 2 + 3
    assert sandbox_processes_left() == []


def test_nothing_started_inside_outlives_the_run(workdir: Path):
    result = python(
        """
        import subprocess
        subprocess.Popen(["sleep", "60"], start_new_session=True)   # a daemon that would linger
        subprocess.Popen(["sh", "-c", "sleep 60 &"])
        """,
        workdir,
    )
    assert result.status == "ok" and result.seconds < 10
    assert sandbox_processes_left() == []


def _why_no_sandbox(grader: subprocess.Popen, output: Path) -> str:
    """What a grader whose sandboxed program never appeared was doing, for the failure message."""
    if grader.poll() is not None:
        state = f"exited with {grader.returncode}"
    else:
        children = [(p.name(), p.uids().real) for p in psutil.Process(grader.pid).children(recursive=True)]
        state = f"is still running, with the processes (name, uid) {children}"
    return f"the sandboxed program never started: the grader {state} and wrote {output.read_text(errors='replace')!r}"


def test_the_sandbox_dies_with_the_grader(workdir: Path):
    output = workdir.parent / "grader-output.txt"
    with output.open("wb") as sink:
        grader = subprocess.Popen(
            [sys.executable, "-c", "import faulthandler, sys; faulthandler.dump_traceback_later(25); "
             "from pathlib import Path; from autograder import sandbox; "
             "sandbox.run(['sleep', '120'], workdir=Path(sys.argv[1]))", str(workdir)],
            cwd=REPO, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def program_running() -> bool:  # not just any sandbox: run() first tries one out with /bin/true
        return any(p.info["name"] == "sleep" for p in sandbox_processes_left(grader.pid))

    deadline = time.monotonic() + 30
    while not (started := program_running()) and time.monotonic() < deadline and grader.poll() is None:
        time.sleep(0.1)
    why_not_started = "" if started else _why_no_sandbox(grader, output)
    grader.kill()
    grader.wait()
    assert not why_not_started, why_not_started
    deadline = time.monotonic() + 5
    while sandbox_processes_left(grader.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sandbox_processes_left(grader.pid) == []
    for leftover in Path(tempfile.gettempdir()).glob("labkit-sandbox-tmp-*"):  # no one lived to remove it
        if leftover.stat().st_uid in sandbox.sandbox_uids(grader.pid):
            shutil.rmtree(leftover)


def test_a_memory_bomb_is_killed_and_the_host_survives(workdir: Path):
    result = python(
        """
        hoard = []
        while True:
            hoard.append(bytearray(b"x" * 32 * 2**20))
        """,
        workdir,
    )
    assert result.status == "out-of-memory" and result.returncode is None
    assert "more than the 400.0 MiB limit" in result.detail
    assert result.peak_memory_bytes > SMALL.memory_bytes
    assert result.seconds < 15
    assert sandbox_processes_left() == []
    assert psutil.virtual_memory().available > 2 * 2**30


def test_a_fork_bomb_is_contained(workdir: Path):
    started = time.monotonic()
    result = python(
        """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """,
        workdir,
        Limits(wall_seconds=5, processes=64),
    )
    assert result.status != "ok"
    assert time.monotonic() - started < 15
    assert sandbox_processes_left() == []
    assert subprocess.run(["true"]).returncode == 0  # the host can still start processes


def test_the_process_limit_binds(workdir: Path):
    seen = facts(
        """
        import json, os, time
        children = 0
        try:
            while children < 200:
                if os.fork() == 0:
                    time.sleep(5)
                    os._exit(0)
                children += 1
        except OSError as error:
            print(json.dumps({"children": children, "error": type(error).__name__}))
        """,
        workdir,
        limits=Limits(wall_seconds=20, processes=32),
    )
    assert seen == {"children": 31, "error": "BlockingIOError"}  # 31 children + the parent


def test_too_much_output_is_cut_and_stopped(workdir: Path):
    result = python(
        """
        import sys
        line = "x" * 1023 + "\\n"
        for _ in range(100 * 1024):   # 100 MB
            sys.stdout.write(line)
        """,
        workdir,
    )
    assert result.status == "output-limit" and result.returncode is None
    assert result.detail.startswith("printed more than")
    assert len(result.stdout.encode()) <= SMALL.output_bytes
    assert result.stdout.startswith("x" * 1023)
    assert result.seconds < 15


def test_exit_codes_and_signals(workdir: Path):
    exited = python("import os; os._exit(3)", workdir)
    assert (exited.status, exited.returncode) == ("error", 3)
    raised = python("raise SystemExit('no answer')", workdir)
    assert (raised.status, raised.returncode) == ("error", 1) and "no answer" in raised.stderr
    crashed = python("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", workdir)
    assert (crashed.status, crashed.returncode, crashed.detail) == ("crashed", -11, "killed by signal SIGSEGV")


def test_one_huge_file_is_stopped_by_the_file_limit(workdir: Path):
    result = python(
        """
        with open("weights.bin", "wb") as out:
            for _ in range(64):
                out.write(b"\\0" * 2**20)
        """,
        workdir,
    )
    assert result.status != "ok"
    assert (workdir / "weights.bin").stat().st_size <= SMALL.file_bytes


def test_the_disk_limit_stops_the_write_that_would_break_it(workdir: Path):
    result = python(  # as fast as it can: nothing is measured, the full disk refuses the write
        """
        import itertools
        for n in itertools.count():
            for folder in (".", "/tmp"):
                with open(f"{folder}/part-{n}.bin", "wb") as out:
                    out.write(b"\\1" * 4 * 2**20)
        """,
        workdir,
    )
    assert result.status == "output-limit" and result.returncode is None
    assert result.detail.startswith("wrote ") and "No space left on device" in result.stderr
    written = sum(p.stat().st_size for p in workdir.iterdir())  # /tmp held the other half, and is gone
    assert SMALL.disk_bytes / 2 - 4 * 2**20 <= written <= SMALL.disk_bytes / 2 + sandbox.DISK_SLACK_BYTES


def test_files_already_in_workdir_do_not_count_against_the_disk_limit(workdir: Path):
    (workdir / "weights.bin").write_bytes(b"\2" * (SMALL.disk_bytes + 8 * 2**20))
    result = python(
        """
        data = open("weights.bin", "rb").read()
        open("copy-of-a-part.bin", "wb").write(data[: 6 * 2**20])
        print(len(data))
        """,
        workdir,
    )
    assert (result.status, result.stdout.strip()) == ("ok", str(SMALL.disk_bytes + 8 * 2**20))
    assert (workdir / "copy-of-a-part.bin").stat().st_size == 6 * 2**20


@pytest.mark.parametrize("folder", ["many", "/dev/shm"])  # the disk's files, and the small tmpfs beside it
def test_many_empty_files_are_stopped_by_the_file_limit(workdir: Path, folder: str):
    (workdir / "many").mkdir()
    result = python(
        f"""
        import itertools
        for n in itertools.count():
            open(f"{folder}/{{n}}", "w").close()
        """,
        workdir,
        limits=dataclasses.replace(SMALL, files=500),
    )
    assert result.status == "output-limit" and result.returncode is None
    assert result.detail.startswith("created ") and "more than the 500 limit" in result.detail
    if folder == "many":  # what was made before the stop comes back
        assert 500 < len(list((workdir / "many").iterdir())) < 100_000  # stopped within a tenth of a second


def test_files_written_before_a_limit_broke_still_come_back(workdir: Path):
    result = python(
        """
        import time
        open("first-model.json", "w").write('{"accuracy": 0.97}')
        time.sleep(60)
        """,
        workdir,
        limits=dataclasses.replace(SMALL, wall_seconds=2),
    )
    assert result.status == "timeout"
    assert (workdir / "first-model.json").read_text() == '{"accuracy": 0.97}'


def test_a_hard_linked_file_comes_back_once(workdir: Path):
    result = python(
        """
        import os
        open("model.bin", "wb").write(b"\\3" * 2**20)
        for n in range(200):  # 200 MiB if each came back as a copy, more than the disk
            os.link("model.bin", f"link-{n}.bin")
        """,
        workdir,
    )
    assert result.ok, result.stderr
    assert (workdir / "model.bin").stat().st_nlink == 201
    assert (workdir / "link-199.bin").stat().st_ino == (workdir / "model.bin").stat().st_ino


def test_nothing_runs_on_once_the_files_are_back(workdir: Path):
    result = python(
        """
        import subprocess, sys
        writer = "import time\\nwhile True: open('late.txt', 'a').write('x'); time.sleep(0.01)"
        subprocess.Popen([sys.executable, "-c", writer], start_new_session=True)
        """,
        workdir,
    )
    assert result.ok, result.stderr
    before = {p.name: p.stat().st_size for p in workdir.iterdir()}
    time.sleep(0.5)
    assert {p.name: p.stat().st_size for p in workdir.iterdir()} == before


def test_only_plain_files_come_back(workdir: Path, tmp_path: Path):
    secret = tmp_path / "grader-only.txt"
    secret.write_text("hidden test answers")
    secret.chmod(0o600)
    result = python(
        f"""
        import os
        os.makedirs("out")
        open("out/result.json", "w").write('{{"accuracy": 0.9}}')
        open("out/big.bin", "wb").write(b"0" * 5000)
        os.symlink({str(secret)!r}, "out/link.json")
        os.symlink("/etc", "etc")
        os.mkfifo("out/fifo.json")
        """,
        workdir,
    )
    assert result.status == "ok", result
    assert json.loads(sandbox_output.read_bytes(workdir, "out/result.json", 100)) == {"accuracy": 0.9}
    for name in ("out/link.json", "out/fifo.json", "out/big.bin", "etc/passwd", "../grader-only.txt"):
        with pytest.raises(sandbox_output.OutputRefused):
            sandbox_output.read_bytes(workdir, name, 1000)
    with pytest.raises(FileNotFoundError):
        sandbox_output.read_bytes(workdir, "out/missing.json", 1000)


def test_bad_arguments_are_refused_with_what_to_do(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="fresh empty folder"):
        sandbox.run(["/bin/true"], workdir=tmp_path / "missing")
    with pytest.raises(ValueError, match="may only read"):
        sandbox.run(["/bin/true"], workdir=sandbox.labkit_package().parent)
    with pytest.raises(FileNotFoundError, match="readonly path"):
        sandbox.run(["/bin/true"], workdir=tmp_path, readonly=[tmp_path / "nothing"])
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(PermissionError, match="chmod o\\+rX"):
        sandbox.run(["/bin/true"], workdir=tmp_path, readonly=[private])


def test_a_sandbox_that_cannot_be_set_up_is_the_graders_error_not_the_students(workdir: Path):
    bwrap = shutil.which("bwrap")  # below run()'s checks: a path that vanished after them
    with pytest.raises(sandbox.SandboxUnavailable, match="could not set up the sandbox: bwrap: "):
        sandbox._run(bwrap, ["/bin/true"], workdir, [workdir.parent / "vanished"], SMALL, {}, None)
    forged = python("import sys; print('bwrap: fake', file=sys.stderr); sys.exit(1)", workdir)
    assert (forged.status, forged.returncode) == ("error", 1)  # printing like bubblewrap changes nothing


def test_make_installs_bubblewrap_only_when_missing(tmp_path: Path):
    make = ["/usr/bin/make", "-s", "bubblewrap"]
    present = subprocess.run(make, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert present.returncode == 0 and present.stdout == present.stderr == ""  # nothing to do
    bare = tmp_path / "bin"  # a PATH with neither bwrap nor apt-get on it: it says what to run
    bare.mkdir()
    (bare / "id").symlink_to("/usr/bin/id")
    missing = subprocess.run(make, cwd=REPO, capture_output=True, text=True, timeout=60, env={"PATH": str(bare)})
    assert missing.returncode == 0, missing.stderr
    assert "apt-get install -y bubblewrap" in missing.stdout


# -- what the grader does inside --------------------------------------------------------------


@pytest.mark.slow
def test_keras_and_torch_work_inside_within_the_default_limits(workdir: Path):
    """What the grader does: load a Keras file in safe mode, predict, and use torch, all sandboxed."""
    result = python(
        """
        import json, os, numpy, keras, torch
        inputs = keras.Input((28, 28, 1))
        outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs))
        keras.Model(inputs, outputs).save("model.keras")
        model = keras.saving.load_model("model.keras", safe_mode=True)
        p = model.predict(numpy.zeros((4, 28, 28, 1), "float32"), verbose=0)
        t = torch.nn.Linear(3, 2)(torch.zeros(1, 3))
        print(json.dumps({"predictions": list(p.shape), "torch": list(t.shape)}))
        """,
        workdir,
        Limits(),
        env={"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.status == "ok", result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"predictions": [4, 10], "torch": [1, 2]}
    assert 0 < result.peak_memory_bytes < Limits().memory_bytes
