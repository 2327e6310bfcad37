"""Looking at pages as a reader does: Debian's headless Chromium driven by Playwright, and a real
`mlflow ui` on 127.0.0.1 (helpers for tests; nothing here is mocked).

Chromium comes from the system (`apt-get install chromium`; CI installs it), not from Playwright's
download: tests never touch the network. Without it the browser tests skip with the reason, unless
MFT_REQUIRE_BROWSER=1 (CI), where they fail.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from local_stack import free_port

CHROMIUM = Path(os.environ.get("MFT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    # Nothing but this machine: Chromium would otherwise look up Google's update and account hosts.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
UI_START_LIMIT_S = 900  # a hang guard (6 min seen at load 25 on 2 cores), not a timing assertion
# MLflow 3.17 opens an "Assistant" side panel on first load; a reader closes it once, for good.
QUIET_UI_SCRIPT = """
localStorage.setItem("mlflow.assistant.panelOpen_v1", "false");
localStorage.setItem("mlflow.assistant.fab.autoOpenedOnFirstLoad_v1", "true");
"""


def require_chromium() -> None:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    reason = f"no Chromium at {CHROMIUM}: apt-get install chromium, or set MFT_CHROMIUM to one"
    if os.environ.get("MFT_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@contextmanager
def chromium() -> Iterator:
    """A headless Chromium (a Playwright `Browser`), closed afterwards."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def mlflow_ui(command: str, log: Path) -> Iterator[str]:
    """Run a printed `mlflow ui ...` command on a free port; yields its http://127.0.0.1:PORT.

    Only the port is added, and one web worker without MLflow's job runner (GenAI jobs, which
    the runs view does not use), so it starts in seconds rather than a minute on a busy box.
    """
    words = shlex.split(command)
    assert words[:2] == ["mlflow", "ui"], command
    port = free_port()
    argv = [sys.executable, "-m", "mlflow", *words[1:], "--port", str(port), "--workers", "1"]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with log.open("w") as output:
        server = subprocess.Popen(
            argv, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + UI_START_LIMIT_S
        while True:
            assert server.poll() is None, f"mlflow ui exited: {log.read_text()[-2000:]}"
            try:
                urllib.request.urlopen(f"{url}/health", timeout=5).read()
                break
            except OSError:
                assert time.monotonic() < deadline, f"mlflow ui never answered: {log.read_text()[-2000:]}"
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # its own session: the web worker goes too
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
