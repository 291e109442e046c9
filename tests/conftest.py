"""Shared fixtures: a real daemon on a temporary MLRP_HOME, driven through the CLI."""

from __future__ import annotations

import importlib.machinery
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import mlrp
from daemon_harness import Daemon, kill_leftovers, short_tempdir


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuse to test modules compiled (setup.py) from an older source: Python would
    import the compiled one, and the tests would pass or fail on code no longer there."""
    package = Path(mlrp.__file__).parent
    stale = [
        str(source.relative_to(package.parent))
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
        for compiled in package.rglob(f"*{suffix}")
        if (source := compiled.with_name(compiled.name.removesuffix(suffix) + ".py")).exists()
        and source.stat().st_mtime > compiled.stat().st_mtime
    ]
    if stale:
        raise pytest.UsageError(
            f"compiled modules older than their source: {', '.join(sorted(stale))}; "
            "run `make test` (it compiles them again) or `make clean`"
        )


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
