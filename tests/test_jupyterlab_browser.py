"""A student's first minutes of lab 1 in a real JupyterLab, driven through headless chromium.

The server starts as `make lab` starts it (a copy of the lab in a work folder, TF_CPP_MIN_LOG_LEVEL=1),
here in a temporary folder with settings of its own. The notebook is opened at its /lab/tree URL, its
first cells (setup, MNIST, a plot of sample images, the data's preparation) are run with Shift+Enter and
the notebook is saved with Ctrl+S, as a student does; then the saved file is read back from disk.
Every step leaves a screenshot, and the server's log, in the test's folder (and, when the environment
sets LABKIT_TEST_ARTIFACTS, in LABKIT_TEST_ARTIFACTS/jupyterlab-browser/).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from tests.browser import headless_chromium
from tests.notebooks import REPO

LAB = "lab1-mnist"
NOTEBOOK = f"{LAB}/{LAB}.ipynb"
JUPYTER = Path(sys.executable).parent / "jupyter"  # .venv/bin/jupyter, as `make lab` runs it
SERVER_START_S = 60
KERNEL_START_S = 120
CELL_S = 180  # one cell: TensorFlow's import alone takes 20 s and more on two cores
STDERR = "application/vnd.jupyter.stderr"
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook's tab, the one shown
IDLE = f'{PANEL} .jp-Notebook-ExecutionIndicator[data-status="idle"]'  # the toolbar's kernel status
KERNEL_STATUS = '#jp-main-statusbar .jp-StatusBar-TextItem[title^="Change kernel"]'  # "Python 3 (ipykernel) | Idle"


def first_cells(notebook) -> list[int]:
    """The code cells before the first exercise: setup, loading MNIST, the sample plot, preparing the data.

    Each runs in seconds in the quick profile; the first graded cell (building the dense model) is where
    a student starts writing code, and training follows it.
    """
    indices = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            if cell.metadata.get("nbgrader", {}).get("solution") or "raise NotImplementedError" in cell.source:
                break
            indices.append(index)
    return indices


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the server, as `make lab` starts it ----------------------------------------------------------------


class Server:
    """`jupyter lab` on a copy of the lab, on 127.0.0.1 with a token, isolated from the user's settings."""

    def __init__(self, root: Path, mirror: Path):
        self.root = root
        self.work = root / "work"
        self.log_path = root / "jupyter-lab.log"
        self.token = secrets.token_hex(24)
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.mirror = mirror

    def environment(self) -> dict[str, str]:
        home = self.root / "home"
        settings = home / "lab-settings"
        # No question about Jupyter's news, no update check: a toast would cover the notebook.
        notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        notification.parent.mkdir(parents=True, exist_ok=True)
        notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        # A student's shell: none of the test session's settings (MPLBACKEND=Agg, LABKIT_*, CI, ...).
        environment = {key: value for key, value in os.environ.items()
                       if not key.startswith(("JUPYTER", "IPYTHON", "LABKIT_", "MPL", "PYTEST_", "COMET_"))
                       and key not in ("CI", "NBGRADER_EXECUTION", "TF_CPP_MIN_LOG_LEVEL")}
        environment.update({
            "HOME": str(home),
            "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
            "JUPYTER_DATA_DIR": str(home / "jupyter-data"),
            "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "lab-workspaces"),
            "IPYTHONDIR": str(home / "ipython"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "LABKIT_PROFILE": "quick",
            "LABKIT_DATA_DIR": str(self.mirror),
            "LABKIT_CACHE_DIR": str(self.root / "labkit-cache"),
            "LABKIT_OFFLINE": "1",  # tests never reach the internet
            "TF_CPP_MIN_LOG_LEVEL": "1",  # as `make lab` sets it
        })
        return environment

    def start(self) -> None:
        self.work.mkdir()
        shutil.copytree(REPO / "labs" / LAB, self.work / LAB)  # as `make lab` copies labs/<lab>/ to work/
        environment = self.environment()
        for _ in range(3):  # the free port may be taken between finding it and binding it
            self.port = free_port()
            command = [str(JUPYTER), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                       f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                       f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.work}"]
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                command.append("--allow-root")
            with open(self.log_path, "a") as log:
                log.write(f"$ {' '.join(command)}\n")
                log.flush()
                self.process = subprocess.Popen(command, cwd=self.root, env=environment, stdout=log,
                                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                start_new_session=True)
            if self.wait_until_up():
                return
            if self.process.poll() is not None and "already in use" in self.log():
                continue
            break
        pytest.fail(f"jupyter lab did not answer on 127.0.0.1:{self.port} within {SERVER_START_S} s "
                    f"(exit status {self.process.poll()}); its log ({self.log_path}):\n{self.log()}")

    def wait_until_up(self) -> bool:
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=5) as answer:
                    if answer.status == 200:
                        json.load(answer)
                        return True
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.5)
        return False

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"

    def stop(self) -> None:
        """SIGTERM to the server's process group (the server shuts its kernels down), then SIGKILL to all."""
        if self.process is None or self.process.poll() is not None:
            return
        import psutil

        try:
            descendants = psutil.Process(self.process.pid).children(recursive=True)  # kernels: own sessions
        except psutil.Error:
            descendants = []
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        for child in descendants:
            try:
                child.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(descendants, timeout=10)


# --- the browser -------------------------------------------------------------------------------------------


def stable_folder() -> Path | None:
    """Where a run's screenshots are copied to be inspected later: $LABKIT_TEST_ARTIFACTS/jupyterlab-browser."""
    folder = os.environ.get("LABKIT_TEST_ARTIFACTS")
    return Path(folder) / "jupyterlab-browser" if folder else None


class Steps:
    """Screenshots, one per step, numbered, in the test's folder (copied to stable_folder() at the end)."""

    def __init__(self, driver, folder: Path):
        self.driver, self.folder, self.count = driver, folder, 0
        folder.mkdir(parents=True, exist_ok=True)

    def shot(self, name: str) -> Path:
        self.count += 1
        return self.shot_as(f"{self.count:02d}-{name}")

    def shot_as(self, name: str) -> Path:
        path = self.folder / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


@pytest.fixture
def session(tmp_path, mirror_dir):
    """The server, the browser and the screenshots' folder; everything shut down and kept after the test."""
    shots = tmp_path / "screenshots"
    server = Server(tmp_path, mirror_dir)
    driver = None
    try:
        server.start()
        driver = headless_chromium(tmp_path / "chromium-profile", "JupyterLab browser test")
        yield server, driver, Steps(driver, shots)
    finally:
        try:
            if driver is not None:
                try:
                    Steps(driver, shots).shot_as("end")  # where a failing run stopped
                finally:
                    driver.quit()
        finally:
            server.stop()
            target = stable_folder()
            if target is not None:  # the screenshots, the server's log and the saved notebook, kept
                shutil.rmtree(target, ignore_errors=True)
                target.mkdir(parents=True)
                if shots.is_dir():
                    shutil.copytree(shots, target / "screenshots")
                for kept in (server.log_path, server.work / NOTEBOOK):
                    if kept.exists():
                        shutil.copy2(kept, target)


# --- what the page shows ---------------------------------------------------------------------------------


def cells(driver):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, f"{PANEL} .jp-WindowedPanel-viewport > .jp-Notebook-cell")


def prompt(cell) -> str:
    from selenium.webdriver.common.by import By

    return cell.find_element(By.CSS_SELECTOR, ".jp-InputArea-prompt").text.strip()


def executed_count(cell) -> int | None:
    """The number in the cell's prompt, `[3]:`; None while it is `[ ]:` or `[*]:`."""
    text = prompt(cell).strip("[]: ")
    return int(text) if text.isdigit() else None


def outputs_text(cell) -> str:
    from selenium.webdriver.common.by import By

    return "\n".join(output.get_attribute("textContent") or ""
                     for output in cell.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output"))


def errors_in(cell) -> list[str]:
    """Tracebacks on stderr (how JupyterLab renders an error), and any rendered text naming an Error."""
    from selenium.webdriver.common.by import By

    found = []
    for output in cell.find_elements(By.CSS_SELECTOR, f'.jp-OutputArea-output[data-mime-type="{STDERR}"]'):
        text = output.get_attribute("textContent") or ""
        if "Traceback" in text or "Error" in text:
            found.append(text)
    for output in cell.find_elements(By.CSS_SELECTOR, ".jp-OutputArea .jp-RenderedText"):
        text = output.get_attribute("textContent") or ""
        if "Error" in text and text not in found:
            found.append(text)
    return found


def shown_images(cell) -> list:
    """The cell's rendered images that the browser has decoded and shows at a readable size, once in view."""
    from selenium.webdriver.common.by import By

    cell.parent.execute_script("arguments[0].scrollIntoView({block: 'center'})", cell)  # off screen: not drawn
    return [image for image in cell.find_elements(By.CSS_SELECTOR, ".jp-OutputArea .jp-RenderedImage img")
            if image.is_displayed() and image.size["width"] > 100 and image.size["height"] > 100
            and image.parent.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0",
                                            image)]


def press(driver, *keys) -> None:
    """Keys pressed together, sent to whatever has the focus, as a keyboard does."""
    from selenium.webdriver.common.action_chains import ActionChains

    chain = ActionChains(driver)
    for key in keys[:-1]:
        chain.key_down(key)
    chain.send_keys(keys[-1])
    for key in reversed(keys[:-1]):
        chain.key_up(key)
    chain.perform()


# --- the test --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_student_runs_lab1s_first_cells_and_saves_them_in_jupyterlab(session):
    from selenium.common.exceptions import (
        ElementClickInterceptedException,
        ElementNotInteractableException,
        StaleElementReferenceException,
        TimeoutException,
    )
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    server, driver, steps = session
    started = time.perf_counter()
    stable = stable_folder()
    see = (f"(screenshots in {steps.folder}, server log {server.log_path}"
           + (f"; both copied to {stable} at the end)" if stable else ")"))
    released = nbformat.read(server.work / NOTEBOOK, as_version=4)
    to_run = first_cells(released)
    data, plot = (next((i for i in to_run if call in released.cells[i].source), None)
                  for call in ("labkit.data.load(", "labkit.plot.images("))
    assert data is not None and plot is not None and to_run[0] < data < plot, (
        f"lab 1's code cells before the first exercise, {to_run}, are not setup, loading MNIST, then a plot")

    def wait(seconds: float, condition, what: str):
        try:
            return WebDriverWait(driver, seconds, poll_frequency=0.25,
                                 ignored_exceptions=(StaleElementReferenceException, ElementNotInteractableException,
                                                     ElementClickInterceptedException, IndexError)).until(condition)
        except TimeoutException:
            path = steps.shot("timeout")
            pytest.fail(f"Timed out after {seconds} s waiting for {what} {see}; last screenshot {path}; "
                        f"server log:\n{server.log()[-4000:]}")

    def kernel_idle(d) -> bool:
        """The status bar reads "Python 3 (ipykernel) | Idle", and the toolbar's indicator agrees."""
        status = d.find_elements(By.CSS_SELECTOR, KERNEL_STATUS)
        return (bool(status) and status[0].text.strip().endswith("| Idle")
                and bool(d.find_elements(By.CSS_SELECTOR, IDLE)))

    def select(index: int):
        """A click beside the cell (its prompt: no link to follow there), then Escape for command mode."""
        def clicked(d) -> bool:
            cell = cells(d)[index]
            d.execute_script("arguments[0].scrollIntoView({block: 'center'})", cell)
            cell.find_element(By.CSS_SELECTOR, ".jp-InputArea-prompt").click()
            return True

        wait(30, clicked, f"cell {index} to take a click")  # laid out a moment after it is in the page
        press(driver, Keys.ESCAPE)
        wait(10, lambda d: "jp-mod-active" in cells(d)[index].get_attribute("class"),
             f"cell {index} to be selected")

    # 1. The notebook, opened from its URL and clicked into; its kernel started and idle.
    driver.get(server.url(f"lab/tree/{NOTEBOOK}"))
    wait(120, lambda d: len(cells(d)) == len(released.cells), f"the notebook's {len(released.cells)} cells")
    steps.shot("opened")
    select(0)
    wait(KERNEL_START_S, kernel_idle, "the kernel to start and be idle (status bar: Python 3 (ipykernel) | Idle)")
    steps.shot("kernel-idle")

    # 2. Shift+Enter from cell to cell, as a student reads on: markdown is rendered, code runs.
    for index in range(to_run[-1] + 1):
        press(driver, Keys.SHIFT, Keys.ENTER)
        if index not in to_run:
            wait(10, lambda d, i=index: "jp-mod-active" in cells(d)[i + 1].get_attribute("class"),
                 f"cell {index + 1} to be selected after running cell {index}")
            continue
        wait(CELL_S, lambda d, i=index: executed_count(cells(d)[i]) is not None,
             f"cell {index} to run (its prompt shows a number)")
        cell = cells(driver)[index]
        shot = steps.shot(f"cell-{index}")
        assert errors_in(cell) == [], f"cell {index} shows an error {see}, {shot}"
    wait(CELL_S, kernel_idle, "the kernel to be idle after the last cell")

    shown = cells(driver)
    counts = [executed_count(shown[i]) for i in to_run]
    assert counts == list(range(1, len(to_run) + 1)), f"execution counts {counts} for cells {to_run} {see}"
    for index in to_run:
        assert errors_in(shown[index]) == [], f"cell {index}: {errors_in(shown[index])} {see}"
    assert "train: (60000, 28, 28) uint8, test: (10000, 28, 28)" in outputs_text(shown[data]), see
    assert "training on 6,000 images" in outputs_text(shown[to_run[-1]]), f"not the quick profile? {see}"
    plots = [index for index in to_run if shown_images(shown[index])]
    assert plots == [plot], f"rendered, visible images in cells {plots}, not in the sample's, {plot} {see}"
    shown_images(shown[plot])  # scrolled back to the sample, for its picture
    steps.shot("plot")

    # 3. Saved with Ctrl+S; the file on disk holds what the browser shows.
    path = server.work / NOTEBOOK
    before = path.stat().st_mtime_ns
    press(driver, Keys.CONTROL, "s")
    wait(60, lambda d: path.stat().st_mtime_ns != before and not d.find_elements(
        By.CSS_SELECTOR, ".lm-DockPanel-tabBar .lm-TabBar-tab.jp-mod-dirty"), "the notebook to be saved")
    steps.shot("saved")
    saved = nbformat.read(path, as_version=4)
    nbformat.validate(saved)
    assert [cell.source for cell in saved.cells] == [cell.source for cell in released.cells], see
    for number, index in enumerate(to_run, start=1):
        cell = saved.cells[index]
        assert cell.execution_count == number, f"saved cell {index}: execution count {cell.execution_count} {see}"
        assert cell.outputs, f"saved cell {index} has no outputs {see}"
        assert not [o for o in cell.outputs if o.output_type == "error"], f"saved cell {index}: {cell.outputs}"
    pngs = [index for index in to_run for o in saved.cells[index].outputs if "image/png" in o.get("data", {})]
    assert pngs == [plot], f"image/png outputs saved in cells {pngs}, not in the sample's, {plot} {see}"
    assert all(not saved.cells[i].get("outputs") for i in range(to_run[-1] + 1, len(saved.cells))
               if saved.cells[i].cell_type == "code"), "cells after the data's were run"
    print(f"\nJupyterLab browser test: {time.perf_counter() - started:.1f} s; screenshots in {steps.folder}")
