"""Build the platform from the config and serve the API on the Unix socket.

Jobs outlive the daemon (each has its own supervisor): stopping or killing the daemon
leaves them running, and the next start adopts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from mlrp.api.app import create_app
from mlrp.api.peercred import PeerCredentialsProtocol
from mlrp.config import load_config
from mlrp.daemon.loop import SchedulingLoop
from mlrp.errors import ConfigError, MlrpError
from mlrp.executors.local import LocalExecutor
from mlrp.hardware.inventory import discover
from mlrp.paths import (
    config_path,
    database_path,
    ended_dir,
    jobs_dir,
    pid_path,
    socket_path,
)
from mlrp.services import runtime
from mlrp.services.context import Platform, decide_multi_user
from mlrp.store import Store

log = logging.getLogger("mlrp.daemon")


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    home: Path
    config_file: Path | None = None
    simulated_gpus: int | None = None
    mode: str | None = None  # overrides [daemon] mode


def build_platform(options: DaemonOptions) -> Platform:
    home = options.home
    home.mkdir(parents=True, exist_ok=True)
    config = load_config(options.config_file or config_path(home))
    if options.config_file is not None and not options.config_file.exists():
        raise ConfigError(f"config file {options.config_file} does not exist")
    mode = options.mode or config.daemon.mode
    multi_user = decide_multi_user(mode)
    if multi_user and os.geteuid() != 0:
        raise ConfigError("multi-user mode needs the daemon to run as root")
    home.chmod(0o755 if multi_user else 0o700)
    for folder in (jobs_dir(home), ended_dir(home)):  # whatever the umask: root-owned 0755
        folder.mkdir(exist_ok=True)
        folder.chmod(0o755)
    # The database holds every job's spec (environment, command, script): the daemon's
    # alone, even in a home other users traverse. SQLite gives -wal and -shm its mode.
    database = database_path(home)
    database.touch(mode=0o600)
    for path in (database, *home.glob(f"{database.name}-*")):
        path.chmod(0o600)
    inventory = discover(config.hardware, simulated_gpus=options.simulated_gpus)
    return Platform(
        config=config,
        home=home,
        store=Store(database_path(home)),
        inventory=inventory,
        executor=LocalExecutor(home, ended_dir=ended_dir(home)),
        clock=time.time,
        multi_user=multi_user,
    )


def bind_socket(path: Path, *, multi_user: bool) -> socket.socket:
    """Bind the API socket; refuse if a live daemon already answers on it."""
    if path.exists():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # stale: its daemon is gone
        else:
            raise MlrpError(f"a daemon is already running on {path}")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    path.chmod(0o666 if multi_user else 0o600)
    sock.listen(512)
    return sock


def serve(options: DaemonOptions) -> None:
    platform = build_platform(options)
    sock = bind_socket(socket_path(options.home), multi_user=platform.multi_user)
    pid_path(options.home).write_text(f"{os.getpid()}\n")
    adopted = runtime.adopt_running(platform)
    log.info(
        "mlrp daemon on %s: %d GPUs (%s), %s mode, %d running jobs adopted",
        socket_path(options.home),
        len(platform.inventory.gpus),
        platform.inventory.source,
        "multi-user" if platform.multi_user else "personal",
        adopted,
    )
    server: uvicorn.Server | None = None

    def request_stop() -> None:
        if server is not None:
            server.should_exit = True

    app = create_app(platform, on_stop=request_stop, lifespan=_scheduling(platform))
    config = uvicorn.Config(
        app,
        http=PeerCredentialsProtocol,
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the SIGTERM it caught once it has shut down: at the default
    # disposition that would kill the process before the clean-up below.
    with contextlib.suppress(ValueError):  # not the main thread: no signal handlers
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            socket_path(options.home).unlink()
        with contextlib.suppress(FileNotFoundError):
            pid_path(options.home).unlink()
        platform.store.close()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _scheduling(platform: Platform) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Run the scheduling loop for as long as the API serves."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loop = SchedulingLoop(platform, tick=platform.config.daemon.tick)
        task = asyncio.create_task(loop.run())
        yield
        loop.stop()
        await task

    return lifespan
