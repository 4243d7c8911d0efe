"""The run page in a real headless Chromium: the log grows while the run goes on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import Server
from test_viewer_http_clone import start_viewer, stop_viewer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

SLOW_PIPELINE = """\
jobs:
  slow:
    steps:
      - name: count
        run: for i in 1 2 3 4 5 6; do echo line $i; sleep 1; done
"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium"),
]


def _wait_for_run(git_dir: Path, number: int, timeout: float = 15) -> None:
    """Wait until the worker has written a run's record and started it."""
    ref = git_dir / "refs" / "lightci" / "runs" / str(number)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ref.exists():
            return
        time.sleep(0.1)
    raise AssertionError(f"run {number} was not recorded within {timeout}s")


def test_run_page_log_grows_live(server: Server) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    server.commit({".lightci.yml": SLOW_PIPELINE}, "Count slowly")
    server.push()
    _wait_for_run(server.git_dir, 1)
    process, url = start_viewer(server.git_dir)
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_page()
                page.goto(f"{url}server/runs/1")
                page.wait_for_selector("#job-slow pre.log")
                first = page.inner_text("#job-slow pre.log")
                navigations: list[str] = []
                page.on("framenavigated", lambda frame: navigations.append(frame.url))

                page.wait_for_function(
                    "document.querySelector('#job-slow pre.log')"
                    ".textContent.includes('line 6')",
                    timeout=20_000,
                )
                page.wait_for_selector(
                    '[data-live="run-status"] .status[data-status="passed"]',
                    timeout=15_000,
                )
                final = page.inner_text("#job-slow pre.log")
                step = page.inner_text('#job-slow [data-live="step-exit"]')
            finally:
                browser.close()
    finally:
        stop_viewer(process)
        server.wait_idle()

    assert "line 6" not in first
    assert "line 6" in final
    assert final.count("line 1") == 1
    assert navigations == []
    assert step == "exit 0"
