"""`SlurmClient`: Slurm's commands, run as the right user, answered as typed values.

Slurm is found through its config file (`conf`, else $SLURM_CONF, else Slurm's own
default) and its commands in `bin_dir` (else the folder of `sbatch` on PATH). Every call
is one process; queries are batched (one `squeue --json` answers for every job, one
`sacct` for any number of ids), so a caller never needs one call per job.

A command given `user` runs as that Unix user (uid, gid and groups: the daemon must be
root to use another one), so Slurm's accounting, fair share and permissions see the
real user. A failed command raises the MlrpError of mlrp.slurm.failures; a command that
does not answer within `timeout` seconds raises BackendUnavailable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from mlrp.errors import BackendUnavailable, ConfigError
from mlrp.slurm import parse
from mlrp.slurm.failures import translate
from mlrp.slurm.records import ShareLine, SlurmJob, SlurmNode
from mlrp.slurm.script import BatchScript

TOOLS = ("sbatch", "squeue", "sacct", "scancel", "scontrol", "sinfo", "sshare", "srun")
# Variables sbatch reads as options: they must not override the planned script.
_INPUT_PREFIXES = ("SBATCH_", "SLURM_")


@dataclass(frozen=True, slots=True)
class SlurmUser:
    """Who a command runs as."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...] = ()


class SlurmClient:
    def __init__(
        self, *, conf: str | None = None, bin_dir: str | None = None, timeout: float = 60.0
    ) -> None:
        self.conf = conf or os.environ.get("SLURM_CONF")
        self.bin_dir = bin_dir or _find_bin_dir()
        self.timeout = timeout
        missing = [t for t in TOOLS if not os.access(self.tool(t), os.X_OK)]
        if missing:
            raise ConfigError(
                f"Slurm's {', '.join(missing)} not found in {self.bin_dir}; set "
                "[backend] bin_dir to the folder that holds them"
            )
        if self.conf is not None and not os.path.isfile(self.conf):
            raise ConfigError(f"Slurm config {self.conf} does not exist; set [backend] conf")

    def tool(self, name: str) -> str:
        return os.path.join(self.bin_dir, name)

    # --- jobs -------------------------------------------------------------------------

    def submit(
        self,
        script: BatchScript,
        *,
        env: Mapping[str, str],
        user: SlurmUser | None = None,
        cwd: str | None = None,
        context: Mapping[str, str] | None = None,
    ) -> int:
        """sbatch the script; the job's environment is `env`, handed to sbatch as its
        own. The script goes through sbatch's stdin, or, when it has arguments (which
        sbatch takes only after a file name), through a private file of `user`'s.
        Returns the job id."""
        job_env = {k: v for k, v in env.items() if not k.startswith(_INPUT_PREFIXES)}
        argv = ["sbatch", "--parsable", "--ignore-pbs"]
        with _script_file(script, user) as path:
            args = [path, *script.args] if path else []
            out = self._run(
                [*argv, *args],
                env=job_env,
                user=user,
                stdin=None if path else script.render(),
                cwd=cwd,
                context=context,
            )
        return parse.parse_submitted(out)

    def jobs(self) -> list[SlurmJob]:
        """Every job slurmctld holds (pending, running, ended within MinJobAge)."""
        return parse.parse_squeue(self._run(["squeue", "--json"]))

    def accounting(
        self, *, job_ids: Iterable[int] = (), since: float | None = None
    ) -> list[SlurmJob]:
        """sacct's records (allocations only) of `job_ids`, or of every job since `since`."""
        argv = ["sacct", "-a", "-X", "-P", "-n", "-o", ",".join(parse.SACCT_FIELDS)]
        ids = sorted(set(job_ids))
        if ids:
            argv += ["-j", ",".join(map(str, ids))]
        if since is not None:
            argv += ["-S", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(since)), "-E", "now"]
        # Times given and printed in UTC and as epoch seconds: no time zone to guess.
        env = {"SLURM_TIME_FORMAT": "%s", "TZ": "UTC"}
        return parse.parse_sacct(self._run(argv, env=env))

    def cancel(self, targets: Sequence[str], *, user: SlurmUser | None = None) -> None:
        self._run(["scancel", *targets], user=user, context=_who(user))

    def hold(self, targets: Sequence[str], *, user: SlurmUser | None = None) -> None:
        self._run(["scontrol", "hold", *targets], user=user, context=_who(user))

    def release(self, targets: Sequence[str], *, user: SlurmUser | None = None) -> None:
        self._run(["scontrol", "release", *targets], user=user, context=_who(user))

    # --- cluster ----------------------------------------------------------------------

    def nodes(self) -> list[SlurmNode]:
        return parse.parse_sinfo(self._run(["sinfo", "--json"]))

    def shares(self) -> list[ShareLine]:
        argv = ["sshare", "-a", "-l", "-P", "-n", "-o", ",".join(parse.SSHARE_FIELDS)]
        return parse.parse_sshare(self._run(argv))

    # --- plumbing ---------------------------------------------------------------------

    def _run(
        self,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        user: SlurmUser | None = None,
        stdin: str | None = None,
        cwd: str | None = None,
        context: Mapping[str, str] | None = None,
    ) -> str:
        command = argv[0] if argv[0] != "scontrol" else f"scontrol {argv[1]}"
        full_env = {"PATH": f"{self.bin_dir}:{os.defpath}", **(env or {})}
        if self.conf is not None:
            full_env["SLURM_CONF"] = self.conf
        as_user = _other_user(user)
        try:
            done = subprocess.run(
                [self.tool(argv[0]), *argv[1:]],
                input=(stdin or "").encode(),
                capture_output=True,
                env=full_env,
                cwd=cwd if cwd and os.path.isdir(cwd) else "/",
                timeout=self.timeout,
                user=None if as_user is None else as_user.uid,
                group=None if as_user is None else as_user.gid,
                extra_groups=None if as_user is None else list(as_user.groups),
            )
        except subprocess.TimeoutExpired as e:
            raise BackendUnavailable(
                f"{command} did not answer within {self.timeout:.0f} s; is slurmctld up?"
            ) from e
        if done.returncode != 0:
            stderr = done.stderr.decode(errors="replace")
            raise translate(command, stderr, {**_who(user), **(context or {})})
        return done.stdout.decode(errors="replace")


def _who(user: SlurmUser | None) -> dict[str, str]:
    return {} if user is None else {"user": user.name}


def _other_user(user: SlurmUser | None) -> SlurmUser | None:
    """`user` when a command must switch to it (None when that is us already)."""
    return None if user is None or user.uid == os.geteuid() else user


@contextlib.contextmanager
def _script_file(script: BatchScript, user: SlurmUser | None) -> Iterator[str | None]:
    """None for a script without arguments (it goes through stdin); else a file of
    the script that only `user` may read, removed afterwards."""
    if not script.args:
        yield None
        return
    fd, path = tempfile.mkstemp(prefix="mlrp-sbatch-", suffix=".sh")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(script.render())
        mover = _other_user(user)
        if mover is not None:
            os.chown(path, mover.uid, mover.gid)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _find_bin_dir() -> str:
    found = shutil.which("sbatch")
    if found is None:
        raise ConfigError(
            "Slurm's sbatch is not on PATH; install Slurm's client commands or set "
            "[backend] bin_dir to their folder"
        )
    return os.path.dirname(found)
