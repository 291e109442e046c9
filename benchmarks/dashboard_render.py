"""Web UI render time with 10,000 jobs in the database.

    .venv/bin/python benchmarks/dashboard_render.py [--jobs 10000] [--ended 2000] [--rounds 20]

The daemon's own app (`create_app`: API and web UI) in-process on a fresh store, with 8
simulated GPUs and the in-memory executor (no job runs). `--jobs` 1-GPU jobs of 30 users
in 3 accounts are submitted in one batch; one scheduling pass starts 8 of them and gives
every pending one its reason and expected start; `--ended` of the pending ones are then
cancelled, so the database holds running, pending and ended jobs. Each page is requested
`--rounds` times as its owner over the "Unix socket" (peer credentials in the ASGI
scope, as mlrp.api.peercred puts them), after one warm-up request: the time is the whole
request through the ASGI stack (backend reads, view building, template), without a
network. The dashboard lists the first 100 pending jobs and counts the rest.

Figures only; nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import shutil
import statistics
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from mlrp.api.app import create_app
from mlrp.api.auth import Access
from mlrp.api.peercred import PEER_KEY
from mlrp.config import parse_config
from mlrp.executors.fake import FakeExecutor
from mlrp.hardware.inventory import discover
from mlrp.models.jobs import JobSpec
from mlrp.services import scheduling, submission
from mlrp.services.backend import LocalBackend, Selection
from mlrp.services.context import Platform
from mlrp.services.identity import Caller
from mlrp.services.roles import Roles
from mlrp.store import Store
from mlrp.store.credentials import CredentialStore

ACCOUNTS = ("vision", "nlp", "robotics")
USERS = 30
PAGES = ("/", "/?fragment=1", "/share", "/usage?days=30", "/jobs/{first_pending}")


def platform_on(home: Path) -> Platform:
    me = pwd.getpwuid(os.geteuid()).pw_name
    accounts = "\n".join(
        f'[[scheduler.accounts]]\nname = "{name}"\nusers = ['
        + ", ".join(f'"u{i}"' for i in range(USERS) if i % len(ACCOUNTS) == n)
        + (f', "{me}"' if n == 0 else "")
        + "]\n"
        for n, name in enumerate(ACCOUNTS)
    )
    config = parse_config(tomllib.loads(accounts))
    return Platform(
        config=config,
        home=home,
        store=Store(home / "state.db"),
        inventory=discover(config.hardware, simulated_gpus=8),
        executor=FakeExecutor(),
        clock=time.time,
        multi_user=False,
    )


def fill(platform: Platform, caller: Caller, jobs: int, ended: int) -> int:
    """Submit, schedule once, cancel some; the id of the first job still pending."""
    specs = [
        JobSpec(argv=["python", "train.py"], gpus=1, as_user=f"u{i % USERS}", name=f"job{i}")
        for i in range(jobs)
    ]
    submission.submit_many(platform, caller, specs, env={"PATH": "/usr/bin"})
    scheduling.run_pass(platform, scheduling.PassCache())
    backend = LocalBackend(platform)
    pending = [job.id for job in platform.store.find(states=None) if job.state == "PENDING"]
    targets = [str(job_id) for job_id in pending[:ended]]
    asyncio.run(backend.cancel(caller, Selection(targets=targets)))
    return pending[ended]


def client_for(platform: Platform) -> TestClient:
    roles = Roles([], platform.config.scheduler.accounts, multi_user=False)
    access = Access.build(roles, CredentialStore(platform.store.db), session_ttl=3600.0)
    app = create_app(LocalBackend(platform), access=access)
    peer = (os.getpid(), os.geteuid(), os.getegid())

    async def with_peer(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, PEER_KEY: peer}
        await app(scope, receive, send)

    return TestClient(with_peer)


def measure(client: TestClient, path: str, rounds: int) -> tuple[list[float], int]:
    reply = client.get(path)  # warm-up (templates compiled, caches filled)
    assert reply.status_code == 200, reply.text[:500]
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        reply = client.get(path)
        times.append(time.perf_counter() - started)
    return times, len(reply.content)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--ended", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    home = Path(tempfile.mkdtemp(prefix="mlrp-webbench-", dir="/tmp"))
    try:
        platform = platform_on(home)
        roles = Roles([], platform.config.scheduler.accounts, multi_user=False)
        caller = roles.caller_for_uid(os.geteuid(), os.getegid())
        started = time.perf_counter()
        first_pending = fill(platform, caller, args.jobs, args.ended)
        print(f"database: {args.jobs} jobs (8 running, {args.ended} cancelled, the rest "
              f"pending) made in {time.perf_counter() - started:.1f} s")  # fmt: skip
        with client_for(platform) as client:
            print(f"\n{'page':<24}{'median ms':>10}{'p90 ms':>9}{'min ms':>9}{'KiB':>8}")
            for template in PAGES:
                path = template.format(first_pending=first_pending)
                times, size = measure(client, path, args.rounds)
                deciles = statistics.quantiles(times, n=10)
                figures = [statistics.median(times), deciles[-1], min(times)]
                cells = "".join(
                    f"{f * 1000:>{w}.1f}" for f, w in zip(figures, (10, 9, 9), strict=True)
                )
                print(f"{path:<24}{cells}{size / 1024:>8.1f}")
        platform.store.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
