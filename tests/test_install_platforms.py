"""Every laptop installs: the recorded versions resolve, wheels only, on each platform students use.

For Linux x86_64 and aarch64 (glibc 2.28 or later), macOS 14 or later on Apple silicon and Windows x86_64,
each with every Python the lock supports, pip resolves what ``make install`` asks for (labkit's
dependencies and every extra, from pyproject.toml) under requirements/constraints.txt, installing
nothing: ``pip install --dry-run --ignore-installed --report ... --only-binary=:all: --platform ...
--python-version ... --implementation cp``. A platform fails, naming the package, when a recorded
version has no wheel for it, and when it installs a package the lock does not record.

What it proves, and what it does not:

- pip evaluates environment markers (``sys_platform == "darwin"``...) for the machine it runs on, not
  for ``--platform``; here pip runs with the target's marker environment, so each platform gets its own
  requirements (tensorflow-cpu or tensorflow, appnope, colorama...), which the test checks.
- torch comes from PyPI on every platform. ``make install`` takes Linux's from PyTorch's CPU wheel
  index (the same version, ``+cpu``); PyPI's Linux torch is the CUDA build, and its CUDA packages
  (nvidia-*, cuda-*, triton: required by torch itself, absent from the CPU build) are not recorded. On
  Linux this proves the recorded torch has wheels, not that the CPU index holds them.
- Resolution, not installation: nothing is imported or run on the target (the wheels' own
  dependencies and Requires-Python are checked; whether a native library loads is not).
- Nothing on this machine takes part: pip's configuration files and PIP_* variables (find-links,
  extra indexes, a global constraint) are ignored; the index is PyPI's.
- Metadata only, never a wheel: a local index in front of PyPI serves each wheel's METADATA (PEP 658:
  PyPI's own file, or read out of the remote wheel with HTTP range requests where the index in use
  lacks it) and refuses to serve any wheel. The first run fetches about 90 MB: the index pages of ~190
  projects (38 MB) and ~900 range requests into ~500 wheels, on a mirror without PEP 658 metadata;
  later runs reuse .pytest_cache/d/install-platforms (metadata forever: wheels never change; index
  pages for a day). Measured on 2 busy cores: 2.5 minutes the first time, 1.5 minutes after, most
  of it pip's own work (12 resolutions).

Skipped when PyPI does not answer. The fast tests at the end check the Makefile's install logic
(the CPU index for torch, its fallback, ``make install-gpu``, ``make lock``) with a stand-in pip.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import io
import json
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from tests.notebooks import REPO

tomllib = pytest.importorskip("tomllib")  # Python 3.11+, as the lock itself

CONSTRAINTS = REPO / "requirements" / "constraints.txt"
PYPI_INDEX = "https://pypi.org/simple/"
PYPI_FILES = "https://files.pythonhosted.org"

# The lock's Pythons: keras 3.15 needs 3.11, soupsieve 4.1 3.11.5; TensorFlow 2.21 has wheels
# for 3.10 to 3.13. The oldest release of each, where Requires-Python's lower bounds bite.
LOCK_PYTHONS = ("3.11.5", "3.12.0", "3.13.0")
HERE = platform.python_version()
PYTHONS = LOCK_PYTHONS + (() if HERE.rsplit(".", 1)[0] in {p.rsplit(".", 1)[0] for p in LOCK_PYTHONS} else (HERE,))

# pip's own tools (pip freeze never records them) and PyPI's Linux torch's CUDA stack (see above).
NOT_RECORDED = re.compile(r"pip|setuptools|wheel")
LINUX_CUDA = re.compile(r"nvidia-.*|cuda-.*|triton")


@dataclass(frozen=True)
class Platform:
    name: str
    tags: tuple[str, ...]  # --platform values: pip expands macOS versions itself, not manylinux ones
    markers: dict[str, str]
    tensorflow: str  # the TensorFlow distribution this platform installs

    def environment(self, python: str) -> dict[str, str]:
        return {"implementation_name": "cpython", "implementation_version": python,
                "platform_python_implementation": "CPython", "platform_release": "", "platform_version": "",
                "python_full_version": python, "python_version": python.rsplit(".", 1)[0], **self.markers}


def _manylinux(arch: str) -> tuple[str, ...]:
    legacy = ("manylinux2014", "manylinux2010", "manylinux1") if arch == "x86_64" else ("manylinux2014",)
    return tuple(f"manylinux_2_{minor}_{arch}" for minor in range(28, 4, -1)) + tuple(f"{t}_{arch}" for t in legacy)


PLATFORMS = (
    Platform("linux-x86_64", _manylinux("x86_64"),
             {"os_name": "posix", "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"},
             "tensorflow-cpu"),
    Platform("linux-aarch64", _manylinux("aarch64"),
             {"os_name": "posix", "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64"},
             "tensorflow"),
    Platform("macos-arm64", ("macosx_14_0_arm64",),
             {"os_name": "posix", "sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64"},
             "tensorflow"),
    Platform("windows-amd64", ("win_amd64",),
             {"os_name": "nt", "sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64"},
             "tensorflow-cpu"),
)

# pip, with the marker environment of the target platform (argv[1], JSON) in place of this machine's.
RUN_PIP = """
import json, sys
from pip._vendor.packaging import markers
target, host = json.loads(sys.argv[1]), markers.default_environment
markers.default_environment = lambda: {**host(), **target}
from pip._internal.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


# ---------------------------------------------------------------------------------------------------
# A local index that serves metadata, never wheels


def _get(url: str, headers: dict | None = None, tries: int = 3) -> tuple[int, dict, bytes]:
    for attempt in range(tries):
        request = urllib.request.Request(url, headers={"User-Agent": "labkit-tests", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
        except urllib.error.HTTPError as error:
            if error.code < 500 or attempt == tries - 1:
                return error.code, {}, b""
        except OSError:
            if attempt == tries - 1:
                raise
        time.sleep(1 + attempt)
    raise AssertionError("unreachable")


class _RemoteFile(io.RawIOBase):
    """A remote file, read-only and seekable, through HTTP range requests of 64 KiB or more."""

    BLOCK = 64 * 1024

    def __init__(self, url: str):
        self.url, self.requests, self._pos, self._segments = url, 0, 0, []
        headers, tail = self._fetch(f"bytes=-{self.BLOCK}")
        self.size = int(headers["content-range"].rpartition("/")[2])
        self._segments.append((self.size - len(tail), tail))

    def _fetch(self, byte_range: str) -> tuple[dict, bytes]:
        self.requests += 1
        status, headers, body = _get(self.url, {"Range": byte_range})
        if status != 206:
            raise OSError(f"{self.url}: a range request answered HTTP {status}")
        return headers, body

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        self._pos = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence] + offset
        return self._pos

    def readinto(self, buffer):
        count = max(0, min(len(buffer), self.size - self._pos))
        if count:
            buffer[:count] = self._read(self._pos, count)
            self._pos += count
        return count

    def _read(self, start: int, count: int) -> bytes:
        for first, data in self._segments:
            if first <= start and start + count <= first + len(data):
                return data[start - first:start - first + count]
        _, data = self._fetch(f"bytes={start}-{min(self.size, start + max(count, self.BLOCK)) - 1}")
        self._segments.append((start, data))
        return data[:count]


def _wheel_version(filename: str) -> Version | None:
    try:
        return parse_wheel_filename(filename)[1]
    except InvalidWheelFilename:  # an sdist, or no wheel at all
        return None


def wheel_metadata(url: str) -> tuple[bytes, int]:
    """The METADATA of the wheel at ``url`` and the requests it took: PEP 658's file, else read in place."""
    status, _, body = _get(url + ".metadata")
    if status == 200:
        return body, 1
    remote = _RemoteFile(url)
    with zipfile.ZipFile(io.BufferedReader(remote, buffer_size=_RemoteFile.BLOCK)) as wheel:
        name = next(n for n in wheel.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n))
        return wheel.read(name), remote.requests + 1


def _write_atomically(path: Path, data: bytes):
    """The cache may be shared by pytest runs at the same time: a reader sees a whole file or none."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


_LINK = re.compile(r'<a href="https://files\.pythonhosted\.org(?P<path>/[^"#]+)(?P<fragment>#[^"]*)?"(?P<attrs>[^>]*)>'
                   r'(?P<file>[^<]*)</a>')


class MetadataIndex:
    """PyPI's simple index on 127.0.0.1, every wheel with PEP 658 metadata, no wheel downloadable.

    A recorded package's page lists only its recorded version's wheels (``pins``): pip, constrained to
    that version, would take no other, and pages of thousands of files cost it seconds each.
    """

    PAGE_TTL = 24 * 3600

    def __init__(self, cache: Path, pins: dict[str, str]):
        self.cache, self.pins = cache, {name: Version(version) for name, version in pins.items()}
        for sub in ("pages", "metadata"):
            (cache / sub).mkdir(parents=True, exist_ok=True)
        self.stats = {"pages fetched": 0, "page bytes": 0, "metadata fetched": 0, "metadata requests": 0,
                      "wheels refused": 0}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        index = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                try:
                    if self.path.startswith("/simple/"):
                        body = index.page(self.path.removeprefix("/simple/").strip("/"))
                    elif self.path.startswith("/files/") and self.path.endswith(".whl.metadata"):
                        body = index.metadata(self.path.removeprefix("/files").removesuffix(".metadata"))
                    else:
                        with index._guard:
                            index.stats["wheels refused"] += 1
                        return self.send_error(403, "metadata only: this test never downloads a wheel")
                except LookupError:
                    return self.send_error(404)
                except OSError as error:
                    return self.send_error(502, str(error)[:200])
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "text/html" if self.path.startswith("/simple/") else "text/plain")
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _count(self, **amounts):
        with self._guard:
            for key, amount in amounts.items():
                self.stats[key.replace("_", " ")] += amount

    def page(self, project: str) -> bytes:
        project = canonicalize_name(project)
        path = self.cache / "pages" / f"{project}.html.gz"
        with self._lock("page " + project):
            if not (path.exists() and time.time() - path.stat().st_mtime < self.PAGE_TTL):
                status, _, body = _get(PYPI_INDEX + project + "/", {"Accept": "text/html"})
                if status != 200:
                    raise LookupError(project)
                self._count(pages_fetched=1, page_bytes=len(body))
                _write_atomically(path, gzip.compress(body))
            text = gzip.decompress(path.read_bytes()).decode()

        pin = self.pins.get(project)

        def local(link: re.Match) -> str:
            attrs = link["attrs"]
            if pin is not None and _wheel_version(html.unescape(link["file"])) != pin:
                return ""
            if link["path"].endswith(".whl") and "data-dist-info-metadata" not in attrs:
                attrs += ' data-dist-info-metadata="true" data-core-metadata="true"'
            return f'<a href="{self.url}/files{link["path"]}{link["fragment"] or ""}"{attrs}>{link["file"]}</a>'

        return _LINK.sub(local, text).encode()

    def metadata(self, path: str) -> bytes:
        cached = self.cache / "metadata" / hashlib.sha256(path.encode()).hexdigest()
        with self._lock("metadata " + path):
            if not cached.exists():
                body, requests = wheel_metadata(PYPI_FILES + path)
                self._count(metadata_fetched=1, metadata_requests=requests)
                _write_atomically(cached, body)
            return cached.read_bytes()


# ---------------------------------------------------------------------------------------------------
# What make install asks for, and how pip resolves it for a platform


def project_requirements(pyproject: Path = REPO / "pyproject.toml", extras=("all",)) -> list[str]:
    """labkit's dependencies with ``extras``, its own extras (``labkit[grading]``) expanded, markers kept."""
    project = tomllib.loads(pyproject.read_text())["project"]
    name, optional = canonicalize_name(project["name"]), project.get("optional-dependencies", {})
    wanted, seen, pending = list(project.get("dependencies", [])), set(), list(extras)
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in optional[extra]:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == name:
                assert requirement.marker is None, f"{line}: a marker on labkit's own extras is not handled here"
                pending.extend(requirement.extras)
            else:
                wanted.append(line)
    return list(dict.fromkeys(wanted))


def constrained_names(path: Path = CONSTRAINTS) -> dict[str, str]:
    """Each recorded package, by canonical name, with its pinned version."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"{line}: the lock records exact versions"
            pins[canonicalize_name(requirement.name)] = spec.version
    return pins


@dataclass
class Resolution:
    platform: Platform
    python: str
    returncode: int
    output: str
    report: dict | None
    seconds: float

    @property
    def installed(self) -> dict[str, str]:
        return {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
                for item in (self.report or {}).get("install", [])}

    def missing_wheels(self) -> list[str]:
        """The packages pip named as having no distribution (no wheel) for this platform and Python."""
        names = re.findall(r"No matching distribution found for ([^\s;]+)", self.output)
        block = re.search(r"no matching distributions available for your environment:\n((?:[ \t]+\S+\n?)+)",
                          self.output)
        if block:
            names += block.group(1).split()
        return sorted({re.split(r"[<>=!~\[ ]", name)[0] for name in names})

    def describe(self) -> str:
        tail = "\n".join(self.output.strip().splitlines()[-25:])
        return f"{self.platform.name}, Python {self.python}:\n{tail}"


def resolve(index: MetadataIndex, target: Platform, python: str, requirements: list[str],
            constraints: Path, workdir: Path) -> Resolution:
    workdir.mkdir(parents=True, exist_ok=True)
    requirements_file = workdir / "requirements.txt"
    requirements_file.write_text("\n".join(requirements) + "\n")
    report = workdir / "report.json"
    keep = ("PIP_CERT", "PIP_CLIENT_CERT", "PIP_PROXY", "PIP_TRUSTED_HOST", "PIP_DEFAULT_TIMEOUT", "PIP_RETRIES")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in keep}
    environment.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    command = [sys.executable, "-c", RUN_PIP, json.dumps(target.environment(python)),
               "install", "--dry-run", "--ignore-installed", "--report", str(report), "--no-cache-dir",
               "--index-url", f"{index.url}/simple/", "--only-binary=:all:", "--implementation", "cp",
               "--python-version", python, *(f"--platform={tag}" for tag in target.tags),
               "-c", str(constraints), "-r", str(requirements_file)]
    start = time.monotonic()
    result = subprocess.run(command, check=False, env=environment, capture_output=True, text=True, timeout=840)
    return Resolution(target, python, result.returncode, result.stdout + result.stderr,
                      json.loads(report.read_text()) if result.returncode == 0 else None,
                      time.monotonic() - start)


def _pypi_answers() -> bool:
    try:
        return _get(PYPI_INDEX + "pip/", tries=1)[0] == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def index(request, tmp_path_factory):
    if not _pypi_answers():
        pytest.skip(f"{PYPI_INDEX} does not answer: resolving for other platforms needs PyPI")
    try:
        cache = request.config.cache.mkdir("install-platforms")
    except AttributeError:  # -p no:cacheprovider
        cache = tmp_path_factory.mktemp("install-platforms")
    served = MetadataIndex(Path(cache), constrained_names())
    yield served
    served.close()
    print(f"\nmetadata index: {served.stats}")


def _check(resolution: Resolution, pins: dict[str, str]) -> list[str]:
    """What is wrong with one platform's resolution, in words (nothing: it installs the recorded set)."""
    if resolution.returncode != 0:
        missing = resolution.missing_wheels()
        named = f"no wheel for {', '.join(missing)}" if missing else "pip could not resolve"
        return [f"{named} on {resolution.platform.name}, Python {resolution.python}\n{resolution.describe()}"]
    problems = []
    installed = resolution.installed
    cuda_ok = resolution.platform.markers["sys_platform"] == "linux"
    unrecorded = sorted(f"{name}=={version}" for name, version in installed.items()
                        if name not in pins and not NOT_RECORDED.fullmatch(name)
                        and not (cuda_ok and LINUX_CUDA.fullmatch(name)))
    if unrecorded:
        problems.append(f"{resolution.platform.name}, Python {resolution.python} installs packages "
                        f"requirements/constraints.txt does not record: {', '.join(unrecorded)} "
                        "(add them to its section for other platforms)")
    expected = resolution.platform.tensorflow
    other = {"tensorflow", "tensorflow-cpu"} - {expected}
    if expected not in installed or other & installed.keys():
        problems.append(f"{resolution.platform.name}: expected {expected}, got "
                        f"{sorted({'tensorflow', 'tensorflow-cpu'} & installed.keys())} "
                        "(the platform's markers were not applied?)")
    return problems


# ---------------------------------------------------------------------------------------------------
# The resolutions


@pytest.mark.slow
@pytest.mark.parametrize("python", PYTHONS)
def test_the_recorded_versions_install_on_every_platform(python, index, tmp_path):
    requirements, pins = project_requirements(), constrained_names()
    with ThreadPoolExecutor(max_workers=len(PLATFORMS)) as pool:
        resolutions = list(pool.map(
            lambda target: resolve(index, target, python, requirements, CONSTRAINTS, tmp_path / target.name),
            PLATFORMS))
    for resolution in resolutions:
        print(f"{resolution.platform.name}, Python {python}: {len(resolution.installed)} packages, "
              f"{resolution.seconds:.0f} s")
    problems = [problem for resolution in resolutions for problem in _check(resolution, pins)]
    assert not problems, "\n\n".join(problems)
    assert index.stats["wheels refused"] == 0, "pip asked for a wheel: metadata should have been enough"


@pytest.mark.slow
def test_a_recorded_version_without_a_wheel_fails_naming_it(index, tmp_path):
    """The check itself: tensorflow-cpu has no macOS wheel, and the failure says so."""
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("tensorflow-cpu==2.21.0\n")
    macos = next(p for p in PLATFORMS if p.name == "macos-arm64")
    resolution = resolve(index, macos, LOCK_PYTHONS[0], ["tensorflow-cpu>=2.16"], constraints, tmp_path / "pip")
    (problem,) = _check(resolution, {"tensorflow-cpu": "2.21.0"})
    assert problem.startswith("no wheel for tensorflow-cpu on macos-arm64, Python 3.11.5"), problem


@pytest.mark.slow
def test_a_platform_package_the_lock_does_not_record_fails_naming_it(index, tmp_path):
    """The check itself: tqdm needs colorama on Windows only; a lock without it fails there, naming it."""
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("tqdm==4.70.1\n")
    windows = next(p for p in PLATFORMS if p.name == "windows-amd64")
    resolution = resolve(index, windows, LOCK_PYTHONS[0], ["tqdm"], constraints, tmp_path / "pip")
    assert resolution.returncode == 0, resolution.describe()
    problems = _check(resolution, {"tqdm": "4.70.1"})
    assert any("does not record: colorama==" in problem for problem in problems), problems


# ---------------------------------------------------------------------------------------------------
# The lock itself (fast, offline)


def test_every_platform_records_the_same_tensorflow():
    pins = constrained_names()
    assert pins["tensorflow"] == pins["tensorflow-cpu"], "tensorflow (macOS, Linux aarch64) and tensorflow-cpu differ"


def test_the_tf_extra_picks_exactly_one_tensorflow_per_platform():
    from packaging.markers import default_environment

    lines = [Requirement(r) for r in project_requirements(extras=("tf",))]
    for target in PLATFORMS:
        environment = {**default_environment(), **target.environment(LOCK_PYTHONS[0]), "extra": ""}
        chosen = {canonicalize_name(r.name) for r in lines if r.marker is None or r.marker.evaluate(environment)}
        assert chosen & {"tensorflow", "tensorflow-cpu"} == {target.tensorflow}, (target.name, chosen)
        assert "tensorflow-metal" not in chosen, "tensorflow-metal 1.2.0 does not load in TensorFlow 2.21"


# ---------------------------------------------------------------------------------------------------
# The Makefile's install logic, with a stand-in pip (fast, offline)

STAND_IN_PYTHON = """#!/bin/sh
# .venv/bin/python for the Makefile's tests: 'python -m pip ...' is recorded (and fails when asked to);
# anything else runs the real interpreter.
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  shift 2
  echo "pip $*" >> "$(dirname "$0")/pip.log"
  case " $* " in *" $FAIL_PIP "*) [ -n "$FAIL_PIP" ] && exit 1;; esac
  [ "$1" = "freeze" ] && cat "$(dirname "$0")/freeze.txt"
  exit 0
fi
exec "{python}" "$@"
"""


def _make_checkout(tmp_path: Path, system: str = "Linux", gpu: bool = False) -> Path:
    """The Makefile and the install's inputs; .venv with a recording pip; uname and nvidia-smi faked."""
    checkout = tmp_path / "checkout"
    for name in ("Makefile", "pyproject.toml", "requirements/constraints.txt"):
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, checkout / name)
    tools = {".venv/bin/python": STAND_IN_PYTHON.replace("{python}", sys.executable),
             "bin/uname": f"#!/bin/sh\necho {system}\n",
             "bin/nvidia-smi": f"#!/bin/sh\nexit {0 if gpu else 9}\n"}
    for name, text in tools.items():
        path = checkout / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return checkout


def _make(checkout: Path, *args: str, **variables: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("TORCH_", "MAKE"))}
    environment["PATH"] = f"{checkout / 'bin'}{os.pathsep}{environment['PATH']}"
    environment.update(variables)
    return subprocess.run(["make", "--no-print-directory", *args], check=False, cwd=checkout, env=environment,
                          capture_output=True, text=True, timeout=120)


def _pip_calls(checkout: Path) -> list[str]:
    log = checkout / ".venv" / "bin" / "pip.log"
    return log.read_text().splitlines() if log.exists() else []


class _CpuIndex:
    """A stand-in for PyTorch's CPU wheel index that answers (only the probe reaches it)."""

    def __enter__(self):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200 if self.path == "/whl/cpu/torch/" else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/whl/cpu"

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()


STAMP = ".venv/.labkit-installed"
UNREACHABLE = "http://127.0.0.1:9/whl/cpu"  # the discard port: refused at once


def test_make_install_takes_torch_from_the_cpu_index_on_linux_without_a_gpu(tmp_path):
    checkout = _make_checkout(tmp_path)
    with _CpuIndex() as cpu_index:
        result = _make(checkout, STAMP, TORCH_CPU_INDEX=cpu_index)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = _pip_calls(checkout)
    assert calls[-2:] == [
        f"pip install --quiet --no-deps -c requirements/constraints.txt --index-url {cpu_index} torch",
        "pip install --quiet -c requirements/constraints.txt -e .[all]",
    ], calls
    assert (checkout / STAMP).exists()


def test_make_install_falls_back_to_the_default_index_when_the_cpu_index_does_not_answer(tmp_path):
    checkout = _make_checkout(tmp_path)
    start = time.monotonic()
    result = _make(checkout, STAMP, TORCH_CPU_INDEX=UNREACHABLE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - start < 60
    assert f"PyTorch's CPU wheel index ({UNREACHABLE}) did not answer" in result.stdout
    calls = _pip_calls(checkout)
    assert not any("--index-url" in call for call in calls), calls
    assert calls[-1] == "pip install --quiet -c requirements/constraints.txt -e .[all]"
    assert (checkout / STAMP).exists()


def test_make_install_goes_on_when_torch_is_not_on_the_cpu_index(tmp_path):
    checkout = _make_checkout(tmp_path)
    with _CpuIndex() as cpu_index:
        result = _make(checkout, STAMP, TORCH_CPU_INDEX=cpu_index, FAIL_PIP="--index-url")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "comes from the default index" in result.stdout
    assert _pip_calls(checkout)[-1] == "pip install --quiet -c requirements/constraints.txt -e .[all]"


@pytest.mark.parametrize("system, gpu", [("Linux", True), ("Darwin", False)])
def test_make_install_takes_torch_from_the_default_index_with_a_gpu_or_off_linux(tmp_path, system, gpu):
    checkout = _make_checkout(tmp_path, system=system, gpu=gpu)
    with _CpuIndex() as cpu_index:
        result = _make(checkout, STAMP, TORCH_CPU_INDEX=cpu_index)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not any("--index-url" in call for call in _pip_calls(checkout))


def test_torch_index_names_an_index_or_the_default(tmp_path):
    checkout = _make_checkout(tmp_path, system="Darwin")
    result = _make(checkout, STAMP, TORCH_INDEX="https://example.org/whl/cu126")
    assert result.returncode == 0, result.stdout + result.stderr
    assert any("--index-url https://example.org/whl/cu126 torch" in call for call in _pip_calls(checkout))

    checkout = _make_checkout(tmp_path / "default")
    result = _make(checkout, STAMP, TORCH_INDEX="default", TORCH_CPU_INDEX=UNREACHABLE)
    assert result.returncode == 0 and "did not answer" not in result.stdout
    assert not any("--index-url" in call for call in _pip_calls(checkout))


def test_make_install_fails_when_pip_fails(tmp_path):
    checkout = _make_checkout(tmp_path, system="Darwin")
    result = _make(checkout, STAMP, FAIL_PIP="-e")
    assert result.returncode != 0
    assert not (checkout / STAMP).exists()


def _gpu_extras() -> str:
    """Every extra of pyproject.toml's 'all' but tf, in its order: what make install-gpu installs."""
    (everything,) = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["all"]
    extras = re.fullmatch(r"labkit\[(.*)\]", everything).group(1).split(",")
    assert "tf" in extras and "torch" in extras
    return ",".join(extra for extra in extras if extra != "tf")


def test_make_install_gpu_installs_the_gpu_builds_and_keeps_them(tmp_path):
    checkout = _make_checkout(tmp_path, gpu=True)
    result = _make(checkout, "install-gpu")
    assert result.returncode == 0, result.stdout + result.stderr
    calls = _pip_calls(checkout)
    assert "pip uninstall --quiet --yes tensorflow-cpu" in calls
    assert calls[-3:] == [
        "pip install --quiet -c requirements/constraints.txt tensorflow[and-cuda] keras",
        "pip install --quiet --no-deps -c requirements/constraints.txt torch",
        f"pip install --quiet -c requirements/constraints.txt -e .[{_gpu_extras()}]",
    ], calls
    assert (checkout / STAMP).exists() and (checkout / ".venv" / ".labkit-gpu").exists()
    # make lab, test, demo: installed as far as make can tell
    assert _make(checkout, "--question", STAMP).returncode == 0
    # A newer pyproject.toml or lock: the GPU builds again, never tensorflow-cpu over them.
    time.sleep(1.1)
    (checkout / "pyproject.toml").touch()
    assert _make(checkout, STAMP).returncode == 0
    assert _pip_calls(checkout)[-1].endswith(f"-e .[{_gpu_extras()}]")
    assert not any(call.endswith("-e .[all]") for call in _pip_calls(checkout))


def test_make_install_gpu_is_for_linux(tmp_path):
    checkout = _make_checkout(tmp_path, system="Darwin")
    result = _make(checkout, "install-gpu")
    assert result.returncode != 0 and "Linux" in result.stdout + result.stderr
    assert _pip_calls(checkout) == []


def test_make_lock_keeps_the_other_platforms_section(tmp_path):
    checkout = _make_checkout(tmp_path)
    (checkout / STAMP).touch()
    lock = (checkout / "requirements" / "constraints.txt").read_text()
    lines = lock.splitlines(keepends=True)
    header = "".join(lines[:next(i for i, line in enumerate(lines) if not line.startswith("#"))])
    section = lock[lock.index("# Other platforms"):]
    # pip freeze on a Mac would list tensorflow too: the section's line wins, once.
    (checkout / ".venv" / "bin" / "freeze.txt").write_text("numpy==9.9.9\ntensorflow==2.21.0\ntorch==2.13.0+cpu\n"
                                                           "tensorflow_cpu==2.21.0\n")
    result = _make(checkout, "lock")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (checkout / "requirements" / "constraints.txt").read_text() == (
        header + "numpy==9.9.9\ntorch==2.13.0\ntensorflow-cpu==2.21.0\n" + section)
