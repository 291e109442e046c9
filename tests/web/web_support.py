"""Helpers of the browser tests: the daemon they drive, its history, logging in."""

from __future__ import annotations

import contextlib
import os
import pwd
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon_harness import Daemon, short_tempdir
from mlrp.errors import MlrpError
from mlrp.models.jobs import Job, JobSpec
from mlrp.models.states import JobState
from mlrp.store import Store

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parent / "screenshots"
ME = pwd.getpwuid(os.geteuid()).pw_name
PASSWORD = "correct horse battery staple"

CONFIG = f"""
[daemon]
grace = 1

[[scheduler.accounts]]
name = "vision"
shares = 3
users = ["{ME}", "u1"]

[[scheduler.accounts]]
name = "nlp"
shares = 1
users = ["u2"]
"""

# (account, user, GPUs, hours) of one job a day over the last two weeks.
HISTORY = (("vision", ME, 4, 3.0), ("vision", "u1", 2, 5.0), ("nlp", "u2", 8, 1.5))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class WebDaemon:
    daemon: Daemon
    token: str

    @property
    def home(self) -> Path:
        return self.daemon.home

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.daemon.api_port}"

    def stop(self) -> None:
        self.daemon.stop()

    def cancel_everything(self) -> None:
        with contextlib.suppress(MlrpError):
            self.daemon.client.cancel([], states=["PENDING", "RUNNING"])


def start_web_daemon() -> WebDaemon:
    home = short_tempdir()
    home.chmod(0o755)
    seed_history(home)
    daemon = Daemon(home=home, config=CONFIG, api_port=free_port())
    daemon.start()
    token = daemon.client.create_token(name="browser")["token"]
    daemon.client.set_password(PASSWORD)
    return WebDaemon(daemon, str(token))


def seed_history(home: Path) -> None:
    """Ended jobs of the last 14 days, written before the daemon starts, so that the
    usage page has days of history to chart."""
    store = Store(home / "state.db")
    entry = pwd.getpwuid(os.geteuid())
    now = time.time()
    for day in range(1, 15):
        for account, user, gpus, hours in HISTORY:
            start = now - day * 86400
            spec = JobSpec(argv=["python", "train.py"], gpus=gpus, account=account)
            job = Job(id=0, name="train", user=user, uid=entry.pw_uid, gid=entry.pw_gid,
                      account=account, partition="batch", qos="normal",
                      state=JobState.COMPLETED, spec=spec, submit_time=start - 60,
                      time_limit=86400)  # fmt: skip
            (job_id,) = store.insert_jobs([job], as_array=False)
            store.update(job_id, start_time=start, end_time=start + hours * 3600, exit_code=0)
    store.close()


def log_in(page: Any, user: str, secret: str, *, kind: str = "token") -> None:
    page.goto("/login")
    page.get_by_label("User").fill(user)
    page.get_by_label("Password" if kind == "password" else "API token", exact=True).check()
    page.get_by_label("Token or password").fill(secret)
    page.get_by_role("button", name="Log in").click()


def shot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as tests/web/screenshots/NAME.png."""
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
