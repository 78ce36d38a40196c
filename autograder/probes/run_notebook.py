"""Sandboxed runner: execute a notebook in a fresh IPython kernel and save it with its outputs.

``python run_notebook.py NOTEBOOK EXECUTED CELL_TIMEOUT`` runs every cell (errors
are kept as outputs; a cell past ``CELL_TIMEOUT`` seconds is interrupted and the
run goes on), writes the executed notebook to ``EXECUTED`` even when the kernel
dies, and prints one JSON line: ``{"outcome": "completed" | "kernel died" | ...}``.
"""

import json
import sys
from pathlib import Path

KERNEL = "grading"


def main(notebook: str, executed: str, cell_timeout: str) -> None:
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
