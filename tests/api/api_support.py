"""Helpers of the API tests: the real FastAPI app in-process over a real store, and real
Unix users for the role tests.

The app is the daemon's own (`create_app` with an `Access` built as the daemon builds
it) on a LocalBackend whose executor is the in-memory fake: no job ever runs, which
these tests do not need. A request "over the Unix socket" is one whose ASGI scope
carries peer credentials, exactly what mlrp.api.peercred puts there; any other request
is a TCP one and must bring a token or a session.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlrp.api.app import create_app
from mlrp.api.auth import Access
from mlrp.api.peercred import PEER_KEY
from mlrp.config import parse_config
from mlrp.executors.fake import FakeExecutor
from mlrp.hardware.inventory import discover
from mlrp.services.backend import LocalBackend
from mlrp.services.context import Platform
from mlrp.services.login_limits import LoginLimiter
from mlrp.services.roles import Roles
from mlrp.store import Store
from mlrp.store.credentials import CredentialStore

ASGIApp = Any


class Clock:
    """A settable clock for token expiry and the login limiter's window."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class ApiWorld:
    """One in-process daemon: its app, store, clock and what `stop` requests did."""

    app: FastAPI
    store: Store
    clock: Clock
    stops: list[int] = field(default_factory=list)

    def unix(self, uid: int | None = None, gid: int | None = None) -> TestClient:
        """A client whose requests come "over the Unix socket" as `uid` (default: me)."""
        uid = os.geteuid() if uid is None else uid
        gid = pwd.getpwuid(uid).pw_gid if gid is None else gid
        return TestClient(with_peer(self.app, (os.getpid(), uid, gid)))

    def tcp(self, token: str | None = None, *, https: bool = False) -> TestClient:
        """A client over "TCP": with `token`, every request carries it."""
        base = "https://testserver" if https else "http://testserver"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return TestClient(self.app, base_url=base, headers=headers)

    def token_for(self, uid: int | None = None, **body: Any) -> str:
        """A new API token of the user `uid` (default: me), made over the Unix socket."""
        reply = self.unix(uid).post("/api/v1/tokens", json=body)
        assert reply.status_code == 201, reply.text
        token: str = reply.json()["token"]
        return token


def with_peer(app: ASGIApp, peer: tuple[int, int, int]) -> ASGIApp:
    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, PEER_KEY: peer}
        await app(scope, receive, send)

    return wrapped


@contextlib.contextmanager
def api_world(config: str = "", *, multi_user: bool = False) -> Iterator[ApiWorld]:
    """The app on a fresh home: `config` is config.toml's text."""
    home = Path(tempfile.mkdtemp(prefix="mlrp-api-", dir="/tmp"))
    settings = parse_config(tomllib.loads(config))
    store = Store(home / "state.db")
    clock = Clock()
    platform = Platform(
        config=settings,
        home=home,
        store=store,
        inventory=discover(settings.hardware, simulated_gpus=4),
        executor=FakeExecutor(clock),
        clock=clock,
        multi_user=multi_user,
    )
    roles = Roles(settings.daemon.admins, settings.scheduler.accounts, multi_user=multi_user)
    limiter = LoginLimiter(max_failures=settings.api.login_failures, clock=clock)
    access = Access.build(
        roles, CredentialStore(store.db), session_ttl=3600.0, limiter=limiter, clock=clock
    )
    world = ApiWorld(create_app(LocalBackend(platform), access=access), store, clock)
    world.app.state.on_stop = lambda: world.stops.append(1)
    try:
        yield world
    finally:
        store.close()
        shutil.rmtree(home, ignore_errors=True)


def error_of(reply: Any) -> tuple[str, str]:
    """(code, message) of an error reply, which must have the one error shape."""
    body = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return body["error"]["code"], body["error"]["message"]


# ----------------------------------------------------------------------- real Unix users


def users_skip_reason() -> str | None:
    if sys.platform != "linux":
        return "needs Linux"
    if os.geteuid() != 0:
        return "the role tests need root: they create real Unix users"
    for tool in ("useradd", "userdel"):
        if shutil.which(tool) is None:
            return f"the role tests need `{tool}`"
    return None


@contextlib.contextmanager
def unix_users(*roles: str) -> Iterator[dict[str, pwd.struct_passwd]]:
    """Real users, one per role name (`mlrpapi_<role>_<tag>`), removed afterwards."""
    tag = secrets.token_hex(3)
    made: dict[str, pwd.struct_passwd] = {}
    try:
        for role in roles:
            name = f"mlrpapi_{role}_{tag}"
            _tool("useradd", "-M", "-s", "/usr/sbin/nologin", name)
            made[role] = pwd.getpwnam(name)
        yield made
    finally:
        for entry in made.values():
            with contextlib.suppress(RuntimeError):
                _tool("userdel", entry.pw_name)


def _tool(*argv: str) -> None:
    """useradd & co., retried while another process holds the lock on /etc/passwd."""
    for _ in range(20):
        proc = subprocess.run(list(argv), capture_output=True, text=True)
        if proc.returncode == 0:
            return
        if "lock" not in proc.stderr:
            break
        time.sleep(0.25)
    raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
