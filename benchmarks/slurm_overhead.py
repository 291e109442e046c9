"""What mlrp costs on top of Slurm: submit time, and how often it calls Slurm.

    .venv/bin/python benchmarks/slurm_overhead.py               # a private test cluster
    .venv/bin/python benchmarks/slurm_overhead.py --jobs 300 --idle 30
    .venv/bin/python benchmarks/slurm_overhead.py --conf /etc/slurm/slurm.conf   # a cluster
                                                                # that is already up

Runs a Slurm-mode daemon (`[backend] kind = "slurm"`, default poll settings) whose
Slurm commands are counting shims: scripts in a temporary folder (the daemon's
`bin_dir`) that log their name and exec the real command. Then, in one run:

1. submit N held jobs (`sleep 1`, `--hold`) with a plain `sbatch --parsable` loop;
2. submit N such jobs through mlrp, one `Client.submit` call each;
3. submit N such jobs through mlrp in one `Client.submit_batch` call;
   and print the times, jobs/s and mlrp's time over the plain loop's;
4. count the Slurm calls mlrp makes per second: idle (no job active, `--idle` s after
   the first poll), busy (the 3N held jobs pending, `--busy` s), and busy while
   `--readers` clients each list the queue every 0.2 s.

Every job is cancelled and the private cluster stopped at the end. Without `--conf`
the cluster is ../shared/slurm/start-test-cluster.sh on a fresh folder under /tmp
(root; it installs Slurm's packages when missing). Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from mlrp.client import Client
from mlrp.errors import DaemonUnavailable

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "slurm"
TOOLS = ("sbatch", "squeue", "sacct", "scancel", "scontrol", "sinfo", "sshare", "srun")
SHIM = """#!/bin/sh
printf '%s %s\\n' "{name}" "$(date +%s.%N)" >> "{log}"
exec "{real}" "$@"
"""


def main() -> int:
    args = parse_args()
    with cluster(args.conf) as conf, shims() as (bin_dir, log):
        env = {**os.environ, "SLURM_CONF": conf}
        with daemon(conf, bin_dir) as client:
            held = ["sleep", "1"]
            plain = time_plain_loop(args.jobs, env, held)
            one_by_one = time_mlrp(client, args.jobs, held, batch=False)
            batch = time_mlrp(client, args.jobs, held, batch=True)
            print_submit_table(args.jobs, plain, one_by_one, batch)
            client.cancel([], states=["PENDING", "RUNNING"])
            wait_until_idle(env)
            rates = measure_rates(client, log, args)
            print_rate_table(rates, args)
            client.cancel([], states=["PENDING", "RUNNING"])
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs per submit method")
    parser.add_argument("--conf", help="slurm.conf of a cluster that is up (else start one)")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds counted idle")
    parser.add_argument("--busy", type=float, default=20.0, help="seconds counted busy")
    parser.add_argument("--readers", type=int, default=10, help="clients listing the queue")
    return parser.parse_args()


# ------------------------------------------------------------------- the environment


@contextlib.contextmanager
def cluster(conf: str | None) -> Iterator[str]:
    if conf is not None:
        yield conf
        return
    folder = Path(tempfile.mkdtemp(prefix="mlrp-bench-slurm-", dir="/tmp"))
    env = {**os.environ, "SLURM_TC_RESTD": "0", "SLURM_TC_SCHED_PARAMS": "batch_sched_delay=0"}
    note(f"starting a test cluster in {folder}")
    subprocess.run(["bash", str(SHARED / "start-test-cluster.sh"), str(folder)], env=env,
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        yield str(folder / "etc" / "slurm.conf")
    finally:
        subprocess.run(["bash", str(SHARED / "stop-test-cluster.sh"), "--purge", str(folder)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


@contextlib.contextmanager
def shims() -> Iterator[tuple[str, Path]]:
    """A folder of counting stand-ins for Slurm's commands, and their log."""
    folder = Path(tempfile.mkdtemp(prefix="mlrp-shims-", dir="/tmp"))
    log = folder / "calls.log"
    log.touch()
    for name in TOOLS:
        real = shutil.which(name)
        if real is None:
            raise SystemExit(f"Slurm's {name} is not on PATH")
        path = folder / name
        path.write_text(SHIM.format(name=name, log=log, real=real))
        path.chmod(0o755)
    try:
        yield str(folder), log
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def daemon(conf: str, bin_dir: str) -> Iterator[Client]:
    home = Path(tempfile.mkdtemp(prefix="mlrp-", dir="/tmp"))
    (home / "config.toml").write_text(
        f'[backend]\nkind = "slurm"\nconf = "{conf}"\nbin_dir = "{bin_dir}"\n'
    )
    env = {**os.environ, "MLRP_HOME": str(home)}
    command = [sys.executable, "-m", "mlrp.cli.main", "up", "--mode", "personal"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    client = Client(str(home / "mlrp.sock"))
    try:
        for _ in range(300):
            with contextlib.suppress(DaemonUnavailable):
                client.whoami()
                break
            time.sleep(0.1)
        yield client
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


# ------------------------------------------------------------------------- submitting


def time_plain_loop(jobs: int, env: dict[str, str], command: list[str]) -> float:
    note(f"plain sbatch loop: {jobs} jobs")
    workdir = tempfile.gettempdir()
    start = time.perf_counter()
    for _ in range(jobs):
        subprocess.run(
            ["sbatch", "--parsable", "--hold", "-J", "plain", f"--chdir={workdir}",
             "--wrap", " ".join(command)],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
    return time.perf_counter() - start


def time_mlrp(client: Client, jobs: int, command: list[str], *, batch: bool) -> float:
    note(f"mlrp {'submit_batch' if batch else 'submit, one call each'}: {jobs} jobs")
    spec = {"argv": command, "hold": True, "name": "mlrp", "workdir": tempfile.gettempdir()}
    start = time.perf_counter()
    if batch:
        client.submit_batch([spec] * jobs, env={"PATH": "/usr/bin:/bin"})
    else:
        for _ in range(jobs):
            client.submit({**spec, "env": {"PATH": "/usr/bin:/bin"}})
    return time.perf_counter() - start


def print_submit_table(jobs: int, plain: float, single: float, batch: float) -> None:
    print(f"\nSubmitting {jobs} held jobs")
    print(f"{'method':<34} {'seconds':>8} {'jobs/s':>8} {'vs plain sbatch':>16}")
    for name, seconds in (
        ("plain sbatch loop", plain),
        ("mlrp, Client.submit per job", single),
        ("mlrp, one Client.submit_batch", batch),
    ):
        print(f"{name:<34} {seconds:8.2f} {jobs / seconds:8.1f} {seconds / plain:15.2f}x")


# -------------------------------------------------------------------------- call rates


def wait_until_idle(env: dict[str, str]) -> None:
    for _ in range(600):
        out = subprocess.run(["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True)
        if not out.stdout.strip():
            return
        time.sleep(0.5)


def count(log: Path, seconds: float) -> Counter[str]:
    """The calls logged during the next `seconds`."""
    before = len(log.read_text().splitlines())
    time.sleep(seconds)
    lines = log.read_text().splitlines()[before:]
    return Counter(line.split()[0] for line in lines)


def measure_rates(client: Client, log: Path, args: argparse.Namespace) -> dict[str, Counter[str]]:
    note(f"idle: counting for {args.idle:.0f} s")
    client.queue_table()  # one read, so that the poller has seen the queue empty
    time.sleep(2.5)
    idle = count(log, args.idle)
    note(f"busy: {3 * args.jobs} held jobs, counting for {args.busy:.0f} s")
    spec = {"argv": ["sleep", "1"], "hold": True, "name": "busy", "env": {}}
    client.submit_batch([spec] * (3 * args.jobs))
    time.sleep(2.5)
    busy = count(log, args.busy)
    note(f"busy with {args.readers} readers: counting for {args.busy:.0f} s")
    stop = threading.Event()
    readers = [
        threading.Thread(target=read_queue, args=(client, stop)) for _ in range(args.readers)
    ]
    for thread in readers:
        thread.start()
    reading = count(log, args.busy)
    stop.set()
    for thread in readers:
        thread.join()
    return {"idle": idle, "busy": busy, "busy + readers": reading}


def read_queue(client: Client, stop: threading.Event) -> None:
    while not stop.is_set():
        Client(client.socket_path).queue_table()
        time.sleep(0.2)


def print_rate_table(rates: dict[str, Counter[str]], args: argparse.Namespace) -> None:
    print("\nSlurm calls mlrp makes (poll_interval 2 s, idle_poll_interval 30 s)")
    print(f"{'state':<18} {'seconds':>8} {'calls':>6} {'calls/s':>8}  by command")
    for state, calls in rates.items():
        seconds = args.idle if state == "idle" else args.busy
        total = sum(calls.values())
        detail = ", ".join(f"{name} {n}" for name, n in sorted(calls.items())) or "-"
        print(f"{state:<18} {seconds:8.0f} {total:6d} {total / seconds:8.2f}  {detail}")


def note(text: str) -> None:
    print(f"[slurm_overhead {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
