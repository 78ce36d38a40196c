"""comet_ml, opened quietly: no import hooks, no crash reports, no waiting on the network.

Imported as is, comet_ml patches Keras, TensorFlow and PyTorch as they load so
that it can log on its own, may send its own crash reports to Sentry, and an
online experiment started without a network retries for about 30 seconds. The
labs log explicitly through :class:`~labkit.track.Tracker`, so labkit turns the
automatic parts off and asks whether the server answers before going online.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

IMPORT_SETTINGS = {
    "COMET_DISABLE_AUTO_LOGGING": "1",  # no import hooks patching Keras, TensorFlow and PyTorch
    "COMET_ERROR_TRACKING_ENABLE": "false",  # no crash reports sent to Sentry
}
"""Settings comet_ml reads once, when it is first imported; a user's own values win."""

EXPERIMENT_SETTINGS: dict[str, Any] = {
    "auto_output_logging": False,  # would replace sys.stdout and sys.stderr to copy them
    "auto_param_logging": False,  # the run's parameters are logged explicitly
    "auto_metric_logging": False,
    "auto_log_co2": False,
    "log_code": False,  # a notebook's source is fetched from the Jupyter server
    "log_graph": False,  # the model summary is logged explicitly
    "parse_args": False,  # a kernel's command line is not the run's parameters
    "log_git_metadata": False,  # runs git in a subprocess
    "log_git_patch": False,
    "log_env_details": False,  # background threads sampling the machine
    "log_env_gpu": False,
    "log_env_cpu": False,
    "log_env_host": False,
    "log_env_network": False,
    "log_env_disk": False,
    "display_summary_level": 0,
}
"""What every experiment labkit opens leaves out: anything slow, surprising or not asked for."""


ADVICE_LABKIT_FOLLOWS = "you will need to call `experiment.end()`"
"""comet_ml's warning, in a notebook, that every experiment must be ended.

A :class:`~labkit.track.Tracker` ends its experiment in ``end()`` (or at the end
of its ``with`` block), as every lab does; in a lab the warning would only send
students looking for an ``experiment`` they never see."""


def import_comet() -> ModuleType:
    """comet_ml, imported (the first time) with framework patching and crash reports off.

    Raises
    ------
    ImportError
        When comet_ml is not installed.
    """
    if "comet_ml" not in sys.modules:
        with _environment_defaults(IMPORT_SETTINGS):
            import comet_ml  # noqa: F401
    return sys.modules["comet_ml"]


def api_key() -> str | None:
    """The user's API key, where comet_ml looks for it: ``COMET_API_KEY``, then ``~/.comet.config``."""
    comet = import_comet()
    return comet.config.get_api_key(None, comet.config.get_config())


def server_address() -> str:
    """The Comet server this user's settings point at (``COMET_URL_OVERRIDE`` or comet.com)."""
    return import_comet().config.get_backend_address()


def reachable(url: str, timeout: float) -> bool:
    """Whether a connection to ``url``'s host opens within ``timeout`` seconds, name lookup included.

    The attempt runs in a daemon thread because a name lookup cannot be given
    a timeout; when time is up the answer is no, and the thread is left to
    finish on its own.
    """
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    outcome: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((parts.hostname, port), timeout=timeout):
                outcome.append(True)
        except OSError:
            outcome.append(False)

    probe = threading.Thread(target=connect, name="labkit-comet-probe", daemon=True)
    probe.start()
    probe.join(timeout)
    return outcome == [True]


def open_online(*, project: str, workspace: str | None) -> Any:
    """A new experiment streamed to the Comet server."""
    comet = import_comet()
    with _without_warning(ADVICE_LABKIT_FOLLOWS):
        return comet.Experiment(project_name=project, workspace=workspace, **EXPERIMENT_SETTINGS)


def open_offline(*, project: str, workspace: str | None, directory: Path) -> Any:
    """A new experiment written to a zip archive in ``directory``, for ``comet upload`` later."""
    comet = import_comet()
    with _without_warning(ADVICE_LABKIT_FOLLOWS):
        return comet.OfflineExperiment(
            project_name=project, workspace=workspace, offline_directory=str(directory),
            **EXPERIMENT_SETTINGS,
        )


@contextmanager
def _without_warning(fragment: str):
    """Drop comet_ml's log records that contain ``fragment`` while the block runs; keep all others."""
    logger = logging.getLogger("comet_ml.experiment")  # where comet_ml's Experiment logs

    def keep(record: logging.LogRecord) -> bool:
        return fragment not in record.getMessage()

    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


@contextmanager
def without_progress_messages():
    """Hold back comet_ml's progress messages (INFO) while the block runs; warnings and errors still show.

    Ending an offline experiment logs five lines about saving and archiving;
    the one thing a student needs from them, where the archive went, the
    tracker says itself.
    """
    logger = logging.getLogger("comet_ml")  # comet_ml's own handler hangs here
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def archive_path(experiment: Any) -> Path:
    """Where an offline experiment writes its archive when it ends.

    comet_ml names a new (not resumed) offline experiment's archive after its key.
    """
    return Path(experiment.offline_directory) / f"{experiment.get_key()}.zip"


@contextmanager
def _environment_defaults(settings: dict[str, str]):
    """Set the environment variables that are unset, for the duration of the block only."""
    added = {name: value for name, value in settings.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)
