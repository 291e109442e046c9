"""Fixtures of the web UI's tests: a real daemon with a TCP port, and headless Chromium.

Chromium is Debian's (`/usr/bin/chromium`), driven by Playwright's Python package with
`executable_path` (Playwright never downloads a browser here). When it is missing and
the tests run as root, the session installs it with apt-get; otherwise the browser tests
are skipped, saying why. Screenshots go to tests/web/screenshots/ (ignored by git).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The in-process app of the API tests (tests/api/api_support.py), for the page tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from web_support import CHROMIUM, SCREENSHOTS, WebDaemon, start_web_daemon

from daemon_harness import kill_leftovers


def _install_chromium() -> str | None:
    """None when /usr/bin/chromium is there (installed now if need be), else why not."""
    if Path(CHROMIUM).exists():
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"{CHROMIUM} is missing; install Debian's `chromium` package (needs root)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    for command in (install, ["apt-get", "update", "-q"], install):
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode == 0 and Path(CHROMIUM).exists():
            return None
    return f"`apt-get install chromium` failed: {proc.stderr.strip()[-500:]}"


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of Debian's Chromium, installed now if need be (else the test skips)."""
    pytest.importorskip(
        "playwright.sync_api", reason="the `playwright` package (a dev dependency) is missing"
    )
    why = _install_chromium()
    if why is not None:
        pytest.skip(why)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """Headless Chromium for one module. Not for the session: Playwright's sync API
    marks an asyncio loop as running in this thread while it is open, which would break
    any later test that runs a loop of its own."""
    sync_api = pytest.importorskip("playwright.sync_api")  # (checked by `chromium`)
    sync_api.expect.set_options(timeout=20_000)  # how long `expect` waits for the page
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def web_daemon() -> Iterator[WebDaemon]:
    """One daemon for a module's browser tests (its jobs are cancelled after each)."""
    daemon = start_web_daemon()
    try:
        yield daemon
    finally:
        daemon.stop()
        kill_leftovers(daemon.home)
        shutil.rmtree(daemon.home, ignore_errors=True)


@pytest.fixture
def page(browser: Any, web_daemon: WebDaemon) -> Iterator[Any]:
    """A fresh browser context (no cookies) on a laptop-sized screen."""
    context = browser.new_context(base_url=web_daemon.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    yield tab
    context.close()
    web_daemon.cancel_everything()
