"""Sandboxed runner: execute a notebook in a fresh IPython kernel and save it with its outputs.

``python run_notebook.py NOTEBOOK EXECUTED CELL_TIMEOUT`` runs every cell (errors
are kept as outputs; a cell past ``CELL_TIMEOUT`` seconds is interrupted and the
run goes on), writes the executed notebook to ``EXECUTED`` even when the kernel
dies, and prints one JSON line: ``{"outcome": "completed" | "kernel died" | ...}``.

**The probes' inputs arrive only when the first probe runs.** The grader sends
them on standard input, as a tar archive, and this runner reads it whole before
the kernel starts, then makes itself non-dumpable, so that no process of the
same user (the student's kernel) can read its memory. Nothing the student's
cells run can see the inputs: they are unpacked into a fresh folder only when
the first of the grader's probe cells (appended after the student's last
cell, and the only cells marked ``autograder: probe:<part>``; the grader
strips that mark from every other cell) is about to run, and
:data:`INPUTS_PLACEHOLDER` in those cells becomes that folder's path.
"""

import ctypes
import io
import json
import sys
import tarfile
import tempfile
from pathlib import Path

KERNEL = "grading"
INPUTS_PLACEHOLDER = "<the probes' inputs, unpacked by the runner when the first probe cell runs>"
MAX_INPUTS_BYTES = 512 * 2**20


def not_traceable() -> None:
    """Make this process non-dumpable: another process of the same user can neither trace it nor read its
    memory (as the sandbox's warden does for itself)."""
    PR_SET_DUMPABLE = 4
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def unpack(archive: bytes) -> str:
    """The archive's files in a new folder of their own, read-only; the folder's path."""
    folder = tempfile.mkdtemp(prefix="probe-inputs-")
    with tarfile.open(fileobj=io.BytesIO(archive)) as files:
        files.extractall(folder, filter="data")
    for path in Path(folder).rglob("*"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    return folder


class ProbeInputs:
    """Hands the probe cells their inputs' folder, unpacking it the first time one is about to run."""

    def __init__(self, archive: bytes) -> None:
        self.archive, self.folder = archive, None

    def deliver(self, cell, cell_index) -> None:
        """nbclient's ``on_cell_execute`` hook: called just before ``cell`` is sent to the kernel."""
        marked = str(cell.get("metadata", {}).get("autograder", "")).startswith("probe:")
        if cell.get("cell_type") != "code" or not marked or INPUTS_PLACEHOLDER not in cell.source:
            return  # a student's cell that names the placeholder gets nothing for it
        if self.folder is None:
            self.folder = unpack(self.archive)
            self.archive = b""
        cell.source = cell.source.replace(INPUTS_PLACEHOLDER, self.folder)


def main(notebook: str, executed: str, cell_timeout: str) -> None:
    archive = sys.stdin.buffer.read(MAX_INPUTS_BYTES)  # before any untrusted code runs
    not_traceable()

    import nbformat
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    here = Path.cwd()
    spec_dir = here / ".kernels"
    write_kernel_spec(spec_dir / KERNEL, overrides={"display_name": "grading"})
    specs = KernelSpecManager(kernel_dirs=[str(spec_dir)], ensure_native_kernel=False)
    document = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        document,
        km=AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=specs),
        timeout=int(cell_timeout),
        interrupt_on_timeout=True,
        allow_errors=True,
        resources={"metadata": {"path": str(here)}},
        on_cell_execute=ProbeInputs(archive).deliver,
    )
    outcome = "completed"
    try:
        client.execute()
    except DeadKernelError:
        outcome = "kernel died"
    except Exception as error:  # reported, and the partial notebook is still written
        outcome = f"{type(error).__name__}: {error}"[:500]
    nbformat.write(document, executed)
    print(json.dumps({"outcome": outcome}))


if __name__ == "__main__":
    main(*sys.argv[1:])
