"""Running untrusted code, and reading what it leaves behind.

Every step of grading that touches a student's code goes through this package:

- :mod:`~autograder.sandbox.bubblewrap`: :func:`run` a program in a bubblewrap
  sandbox within :class:`Limits` (its threat model is that module's docstring);
- :mod:`~autograder.sandbox.warden`: the trusted process inside the sandbox that
  enforces the disk and file limits and copies the work folder in and out;
- :mod:`~autograder.sandbox.output`: the one way to read what a sandbox left
  (no link on the path, regular files only, sizes capped);
- :mod:`~autograder.sandbox.untrusted`: parsing those bytes (bounded JSON, finite numbers);
- :mod:`~autograder.sandbox.archives`: a student's zip, its members checked before anything is
  read (no way out of its folder, no links, no bombs) and unpacked within bounds.
"""

from autograder.sandbox.bubblewrap import (
    INSTALL_HINT,
    WARDEN_HOME,
    Limits,
    SandboxResult,
    SandboxUnavailable,
    available,
    check_sandboxed_labkit,
    labkit_package,
    python_argv,
    python_installation,
    readable_by_all,
    run,
    sandbox_uids,
)

__all__ = ["INSTALL_HINT", "WARDEN_HOME", "Limits", "SandboxResult", "SandboxUnavailable", "available",
           "check_sandboxed_labkit", "labkit_package", "python_argv", "python_installation", "readable_by_all", "run", "sandbox_uids"]
