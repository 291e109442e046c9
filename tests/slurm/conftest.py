"""One real Slurm test cluster for the session, and a Slurm-mode mlrp daemon on it.

The cluster is started by ../shared/slurm/start-test-cluster.sh on a fresh folder under
/tmp (it installs Slurm's packages when they are missing) and stopped, folder and all,
at the end. Tests that need it are skipped, saying why, only when the script is absent
or cannot start a cluster here (not root, no packages).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from slurm_support import (
    Cluster,
    cannot_start_reason,
    running_daemon,
    slurm_config,
    start_cluster,
    stop_cluster,
)

from daemon_harness import Daemon


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[Cluster]:
    reason = cannot_start_reason()
    if reason is not None:
        pytest.skip(reason)
    folder = Path(tempfile.mkdtemp(prefix="mlrp-slurm-", dir="/tmp"))
    started = start_cluster(folder)
    if isinstance(started, str):
        stop_cluster(Cluster(folder, ""))
        pytest.skip(started)
    try:
        yield started
    finally:
        stop_cluster(started)


@pytest.fixture(scope="session")
def slurm_daemon(slurm_cluster: Cluster) -> Iterator[Daemon]:
    """A multi-user (root) daemon with the Slurm backend, shared by the session."""
    with running_daemon(slurm_config(slurm_cluster.conf), mode="multi-user") as daemon:
        yield daemon
