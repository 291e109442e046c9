"""Build the backend from the config and serve the API on the Unix socket.

The composition root: `[backend] kind` is read here, once. "local" builds the platform
(store, GPUs, executor) and runs the scheduling loop; "slurm" builds a SlurmClient and
runs its poller instead (no local scheduler, no executor). Either way the API is the
same. Jobs outlive the daemon (a supervisor each, or Slurm): stopping or killing the
daemon leaves them running; the next start adopts them, or reads them back from Slurm.
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
from mlrp.config import Config, load_config
from mlrp.daemon.listeners import api_settings, bind_tcp, build_access, proxy_options, tcp_address
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
from mlrp.services.backend import Backend, LocalBackend
from mlrp.services.context import Platform, decide_multi_user
from mlrp.services.slurm_backend import PollSettings, SlurmBackend
from mlrp.slurm.client import SlurmClient
from mlrp.store import Store

log = logging.getLogger("mlrp.daemon")


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    home: Path
    config_file: Path | None = None
    simulated_gpus: int | None = None
    mode: str | None = None  # overrides [daemon] mode
    api_port: int | None = None  # overrides [api] port (0: no TCP listener)
    api_bind: str | None = None  # overrides [api] bind


def build_platform(options: DaemonOptions) -> Platform:
    config, multi_user = _prepare(options)
    inventory = discover(config.hardware, simulated_gpus=options.simulated_gpus)
    return Platform(
        config=config,
        home=options.home,
        store=Store(database_path(options.home)),
        inventory=inventory,
        executor=LocalExecutor(options.home, ended_dir=ended_dir(options.home)),
        clock=time.time,
        multi_user=multi_user,
    )


def build_slurm_backend(options: DaemonOptions) -> SlurmBackend:
    config, multi_user = _prepare(options)
    settings = config.backend
    client = SlurmClient(
        conf=settings.conf, bin_dir=settings.bin_dir, timeout=settings.command_timeout
    )
    poll = PollSettings(
        poll_interval=settings.poll_interval,
        idle_interval=max(settings.idle_poll_interval, settings.poll_interval),
        submit_workers=settings.submit_workers,
    )
    return SlurmBackend(
        client,
        Store(database_path(options.home)),
        multi_user=multi_user,
        admins=config.daemon.admins,
        settings=poll,
    )


def _prepare(options: DaemonOptions) -> tuple[Config, bool]:
    """Read the config and make the home's folders and database file, privately."""
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
    return config, multi_user


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def build_backend(options: DaemonOptions) -> tuple[Backend, Lifespan, Store]:
    """The backend the config names, its background work, and its store (to close)."""
    kind = load_config(options.config_file or config_path(options.home)).backend.kind
    if kind == "slurm":
        slurm = build_slurm_backend(options)
        return slurm, _while_serving(slurm.running), slurm.store
    platform = build_platform(options)
    return LocalBackend(platform), _scheduling(platform), platform.store


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
    backend, lifespan, store = build_backend(options)
    settings = load_config(options.config_file or config_path(options.home))
    api = api_settings(settings, port=options.api_port, bind=options.api_bind)
    tcp = bind_tcp(api)
    sock = bind_socket(socket_path(options.home), multi_user=backend.multi_user)
    pid_path(options.home).write_text(f"{os.getpid()}\n")
    log.info(
        "mlrp daemon on %s: %s, %s mode",
        socket_path(options.home),
        backend.describe(),
        "multi-user" if backend.multi_user else "personal",
    )
    if tcp is not None:
        log.info("API on TCP at http://%s (API tokens or browser sessions)", tcp_address(tcp))
    server: uvicorn.Server | None = None

    def request_stop() -> None:
        if server is not None:
            server.should_exit = True

    access = build_access(settings, store, multi_user=backend.multi_user)
    app = create_app(backend, on_stop=request_stop, lifespan=lifespan, access=access)
    config = uvicorn.Config(
        app,
        http=PeerCredentialsProtocol,
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
        **proxy_options(api),
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the SIGTERM it caught once it has shut down: at the default
    # disposition that would kill the process before the clean-up below.
    with contextlib.suppress(ValueError):  # not the main thread: no signal handlers
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        server.run(sockets=[sock] if tcp is None else [sock, tcp])
    finally:
        sock.close()
        if tcp is not None:
            tcp.close()
        with contextlib.suppress(FileNotFoundError):
            socket_path(options.home).unlink()
        with contextlib.suppress(FileNotFoundError):
            pid_path(options.home).unlink()
        store.close()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _scheduling(platform: Platform) -> Lifespan:
    """Adopt the jobs that outlived the last daemon, then run the scheduling loop for
    as long as the API serves."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        adopted = runtime.adopt_running(platform)
        log.info("%d running jobs adopted", adopted)
        loop = SchedulingLoop(platform, tick=platform.config.daemon.tick)
        task = asyncio.create_task(loop.run())
        yield
        loop.stop()
        await task

    return lifespan


def _while_serving(running: Callable[[], AbstractAsyncContextManager[None]]) -> Lifespan:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with running():
            yield

    return lifespan
