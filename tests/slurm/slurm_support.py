"""The real Slurm test cluster and mlrp daemons in Slurm mode, for tests/slurm.

`start_cluster(dir)` runs ../shared/slurm/start-test-cluster.sh (it installs Slurm's
Debian packages when they are missing) and returns the cluster's SLURM_CONF; the session
fixture in conftest.py stops it at the end. `slurm_config(conf)` is a daemon config for
`[backend] kind = "slurm"` that polls quickly, so tests wait little.

A module of its own (not conftest.py) so that its name never clashes with the helpers
other test folders import.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import site
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import mlrp
from daemon_harness import Daemon, Result, kill_leftovers, short_tempdir
from daemon_harness import eventually as harness_eventually
from mlrp.errors import MlrpError

T = TypeVar("T")
SHARED = Path(__file__).parents[2].parent / "shared" / "slurm"
START = SHARED / "start-test-cluster.sh"
STOP = SHARED / "stop-test-cluster.sh"
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "PREEMPTED",
            "NODE_FAIL"}  # fmt: skip
SRC_DIR = Path(mlrp.__file__).resolve().parent.parent


@dataclass(frozen=True)
class Cluster:
    dir: Path
    conf: str

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": self.conf}

    def run(self, *argv: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        """A Slurm command (as `user` through runuser), its output as text."""
        prefix = ["runuser", "-u", user, "--"] if user else []
        return subprocess.run(
            [*prefix, *argv], capture_output=True, text=True, env=self.env(), timeout=60
        )


def cannot_start_reason() -> str | None:
    if not START.exists():
        return f"the Slurm test cluster script {START} is absent"
    if os.geteuid() != 0:
        return "the Slurm test cluster needs root (it installs packages and runs daemons)"
    return None


def start_cluster(folder: Path) -> Cluster | str:
    """The running cluster, or why it could not start."""
    env = {**os.environ, "SLURM_TC_SCHED_PARAMS": "batch_sched_delay=0"}
    proc = subprocess.run(
        ["bash", str(START), str(folder)], capture_output=True, text=True, env=env, timeout=900
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        return "the Slurm test cluster did not start:\n" + "\n".join(tail)
    return Cluster(folder, read_conf(folder / "env.sh"))


def read_conf(env_sh: Path) -> str:
    for line in env_sh.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        if name.strip() == "SLURM_CONF":
            return value.strip().strip("'\"")
    raise RuntimeError(f"{env_sh} sets no SLURM_CONF")


def stop_cluster(cluster: Cluster) -> None:
    subprocess.run(
        ["bash", str(STOP), "--purge", str(cluster.dir)], capture_output=True, timeout=120
    )


def slurm_config(conf: str, *, admins: tuple[str, ...] = (), extra: str = "") -> str:
    names = ", ".join(f'"{a}"' for a in admins)
    return (
        f"[daemon]\nadmins = [{names}]\n\n"
        f'[backend]\nkind = "slurm"\nconf = "{conf}"\npoll_interval = 0.3\n'
        f"idle_poll_interval = 2.0\n{extra}"
    )


@contextlib.contextmanager
def running_daemon(config: str, *, mode: str = "personal") -> Iterator[Daemon]:
    """A daemon on a home of its own; at the end its active jobs are cancelled."""
    home = short_tempdir()
    home.chmod(0o755)
    daemon = Daemon(home=home, config=config, mode=mode)
    try:
        daemon.start()
        yield daemon
        with contextlib.suppress(MlrpError):
            daemon.client.cancel([], states=["PENDING", "RUNNING"])
    finally:
        daemon.stop()
        kill_leftovers(home)
        shutil.rmtree(home, ignore_errors=True)


# Slurm's answers can take a while on a loaded machine
eventually = functools.partial(harness_eventually, timeout=60.0, every=0.1)


def wait_state(
    daemon: Daemon, job_id: int, states: set[str] | None = None, timeout: float = 120
) -> dict[str, Any]:
    wanted = states or TERMINAL

    def reached() -> dict[str, Any] | None:
        job = daemon.job(job_id)
        return job if job["state"] in wanted else None

    return eventually(reached, timeout=timeout, what=f"job {job_id} to reach {wanted}")


# -------------------------------------------------------------------- other Unix users


@dataclass(frozen=True)
class UserCli:
    """`mlrp` run as a Unix user (runuser, a clean environment), against a daemon."""

    argv: tuple[str, ...]
    env: dict[str, str]

    def run(self, user: str, home: Path, *args: str, cwd: str | None = None) -> Result:
        entry_home = f"/home/{user}"
        env = {
            "HOME": entry_home, "USER": user, "LOGNAME": user, "LANG": "C.UTF-8",
            "PATH": "/usr/local/bin:/usr/bin:/bin", "MLRP_HOME": str(home), **self.env,
        }  # fmt: skip
        command = ["runuser", "-u", user, "--", "env", "-i",
                   *(f"{k}={v}" for k, v in env.items()), *self.argv, *args]  # fmt: skip
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=60, cwd=cwd or entry_home,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        return Result(proc.returncode, proc.stdout, proc.stderr)


def user_cli(user: str) -> UserCli | None:
    """How `user` can run mlrp: the venv's entry point if they may execute it, else a
    system Python of the same version with the venv's packages on PYTHONPATH."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    paths = ":".join([str(SRC_DIR), *site.getsitepackages()])
    candidates = [UserCli((str(Path(sys.executable).parent / "mlrp"),), {})]
    for python in (f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if os.path.exists(python):
            candidates.append(UserCli((python, "-m", "mlrp.cli.main"), {"PYTHONPATH": paths}))
    for cli in candidates:
        if cli.run(user, Path("/tmp"), "queue", "--help").code == 0:
            return cli
    return None
