"""A ``dask worker --preload`` for the cluster tests: a worker that starts a poisoned task kills itself.

Student code runs in the sandbox and cannot reach the worker that drives it, so a
submission that brings its worker down every time is simulated here: a worker
plugin sends SIGKILL to its own worker process the moment a task whose key starts
with ``grade-poison`` begins to execute, the way an out-of-memory kill of the worker
would end it. Every other task runs untouched.
"""

from __future__ import annotations

import os
import signal

from distributed import WorkerPlugin

POISON = "grade-poison"


class KillOnPoison(WorkerPlugin):
    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and str(key).startswith(POISON):
            os.kill(os.getpid(), signal.SIGKILL)


async def dask_setup(worker):
    await worker.plugin_add(KillOnPoison(), name="kill-on-poison")
