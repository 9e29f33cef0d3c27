"""Helpers of the `stager ui` tests: real runs in a ledger, the real `stager ui` server, a real headless Chromium.

The runs are made as the `stager runs diff` tests make theirs (run_world.py and
diff_world.py, next door in tests/integration/run): real `stager run` subprocesses on
the session's emulator, with its gold image, from a STAGER_HOME of their own. The
server is `python -m stager ui --port 0`, its URL read from its first line of output.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "run"))

from diff_world import CHANGED_FILE, changed_copy, run_once  # noqa: E402
from run_world import RunWorld  # noqa: E402

__all__ = ["CHANGED_FILE", "CHROMEDRIVER", "CHROMIUM", "RunsWorld", "UiServer", "chromium", "make_runs_world",
           "start_ui"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
_CHROMIUM_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run", "--window-size=1280,1000")


@dataclass
class RunsWorld:
    world: RunWorld
    run_a: str  # on the original dataset, its loss logged every step
    run_b: str  # the same pipeline on a copy of the dataset with CHANGED_FILE changed
    runs_dir_a: Path  # run A's runs folder, where its metrics.jsonl lies


def make_runs_world(base: Path, session: RunWorld) -> RunsWorld:
    """Two real runs, the second on a copy of the data with one file changed, in a ledger of their own.

    They run on the session's emulator and gold image (``session``, tests/integration/conftest.py) but
    from a STAGER_HOME of their own under ``base``, whose ``emulator`` state directory is the session's
    (which is how `stager run` finds a served emulator): the ledger holds these two runs and no other.
    """
    home = base / "home"
    home.mkdir(parents=True)
    (home / "emulator").symlink_to(session.home / "emulator", target_is_directory=True)
    world = RunWorld(home, session.emulator, session.data)
    run_a = run_logged_every_step(world, base / "a")
    run_b = run_logged_every_step(world, base / "b", data=changed_copy(session.data, base / "mnist-changed"))
    assert world.live_instances() == [], "the runs left instances behind"
    return RunsWorld(world, run_a, run_b, base / "a" / "runs")


def run_logged_every_step(world: RunWorld, folder: Path, *, data: Path | None = None) -> str:
    """One small real run in ``folder`` on ``data``, logging every step so its loss curve has several points."""
    return run_once(world, folder, data=data, log_every_n_steps=1)


@dataclass
class UiServer:
    process: subprocess.Popen
    url: str  # http://127.0.0.1:PORT/

    def stop(self) -> tuple[int, str]:
        """SIGTERM, as a service manager stops it; the exit code and the rest of its output."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            out, err = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
        return self.process.returncode, out + err


@contextmanager
def start_ui(*args: str, env: dict | None = None, timeout: float = 20) -> Iterator[UiServer]:
    """``stager ui --port 0 ARGS`` until the block ends; fails the test when no URL is printed in time."""
    process = subprocess.Popen([sys.executable, "-m", "stager", "ui", "--port", "0", *args], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    server = UiServer(process, _read_url(process, timeout))
    try:
        yield server
    finally:
        server.stop()


def _read_url(process: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline()
            if "serving http://" in line:
                return line.split("serving ", 1)[1].split()[0]
        if process.poll() is not None:
            break
    process.kill()
    out, err = process.communicate()
    pytest.fail(f"stager ui printed no URL within {timeout} s: {out[-2000:]} {err[-2000:]}")


def _missing_browser() -> str | None:
    """Why a real browser cannot be driven here, or None when it can."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (path.is_file() and os.access(path, os.X_OK)):
            return f"{path} is not installed (Debian: apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


@contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium driven by Selenium through Debian's chromedriver, with a fresh profile."""
    reason = _missing_browser()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="stager-ui-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (*_CHROMIUM_ARGS, f"--user-data-dir={profile}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
