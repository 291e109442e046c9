"""Shared fixtures: a real daemon on a temporary MLRP_HOME, driven through the CLI."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon_harness import Daemon, kill_leftovers, short_tempdir


@pytest.fixture
def home() -> Iterator[Path]:
    path = short_tempdir()
    path.chmod(0o755)
    yield path
    kill_leftovers(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemon(home: Path) -> Iterator[Daemon]:
    d = Daemon(home=home)
    d.start()
    yield d
    d.stop()


@pytest.fixture
def daemon_factory(home: Path) -> Iterator[Callable[..., Daemon]]:
    """Start daemons on one home (a config, or a restart after a kill); all are stopped
    at the end."""
    started: list[Daemon] = []

    def start(config: str | None = None, **options: Any) -> Daemon:
        d = Daemon(home=home, config=config, **options)
        d.start()
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()
