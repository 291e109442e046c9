"""Submit/drain benchmark: how fast mlrp takes, starts and finishes tiny 1-GPU jobs.

    .venv/bin/python benchmarks/submit_drain.py [--jobs 1000] [--cli-jobs 200] [--vs-slurm]

Each kind of measurement runs against a fresh daemon (`mlrp up --simulated-gpus 8 --mode
personal`, default `[daemon] tick`) on a temporary MLRP_HOME under /tmp; every job is
`true` with one GPU. With --vs-slurm the same figures are measured, in the same run, on
the local Slurm 22.05 test cluster (/work/shared/slurm), once with Slurm's default
scheduler settings and once with `batch_sched_delay=0`, and printed side by side.

Definitions (all wall-clock figures on this machine's clock):

- submit s: from just before the first submit call to the return of the last;
- drain s: from just before the first submit call (Slurm: the release of the held jobs)
  to the end of the last job (mlrp: the job's recorded end_time; Slurm: the moment
  `squeue` no longer lists any of them, polled every 0.25 s);
- submit-to-start: a job's recorded start_time minus the wall time just before its
  submit call, one job at a time on an idle machine;
- start-up: the wall time of one process run (`python -c pass`, a CLI call), the runs of
  all commands interleaved so that noise hits them alike.

See benchmarks/README.md for what each figure is compared with and why.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from mlrp.client import Client
from mlrp.errors import DaemonUnavailable, MlrpError
from mlrp.models.states import JobState

REPO = Path(__file__).resolve().parent.parent
SLURM_DIR = Path("/work/shared/slurm")
ACTIVE = ["PENDING", "RUNNING"]
TERMINAL = frozenset(state.value for state in JobState if state.is_terminal)
GPUS = 8
TUNED_SCHED_PARAMS = "batch_sched_delay=0"

# Figures measured earlier on the test cluster (the issue), by (figure, tuned cluster?);
# used only where this run has no measured figure.
SLURM_REFERENCE: dict[tuple[str, bool], float] = {
    ("loop_rate", False): 130.0,  # sbatch loop, jobs/s
    ("array_submit_s", False): 0.01,  # 1,000-task array
    ("drain_rate", False): 3.5,  # 1,000 jobs on one 8-GPU node, jobs/s (3.2-3.5)
    ("drain_rate", True): 9.0,  # the same with batch_sched_delay=0
    ("done_latency_s", False): 1.5,  # one job, submit to done (1-2 s)
    ("squeue_s", False): 0.025,  # squeue with 1,000 pending
}


# ---------------------------------------------------------------------------- helpers


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def run(argv: Sequence[str], env: dict[str, str], *, check: bool = True) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def timed_run(argv: Sequence[str], env: dict[str, str]) -> float:
    seconds, _ = timed(lambda: run(argv, env))
    return seconds


def mlrp_command() -> list[str]:
    """The `mlrp` console script next to this interpreter, as users run it."""
    script = Path(sys.executable).parent / "mlrp"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mlrp.cli.main"]


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None or value != value:  # None or NaN
        return "n/a"
    return f"{value:.{digits}f}"


def fmt_ms(seconds: float | None) -> str:
    return "n/a" if seconds is None or seconds != seconds else f"{seconds * 1000:.1f} ms"


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    print(f"\n== {title}")
    for line in (headers, ["-" * w for w in widths], *rows):
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)))


def note(text: str) -> None:
    print(f"   {text}", flush=True)


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- mlrp daemon


@dataclass
class Daemon:
    home: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def client(self) -> Client:
        return Client(str(self.home / "mlrp.sock"))

    def cli(self, *args: str) -> str:
        return run([*mlrp_command(), *args], self.env)

    def cpu_seconds(self) -> tuple[float, float]:
        """(the daemon's own CPU time, the CPU time of everything else on the machine).

        Supervisors are forked by the daemon's fork server and reaped by the kernel, so
        their time reaches no parent's counters: the rest of the machine's busy time
        (from /proc/stat) stands for them and the jobs — on a quiet machine, that is all
        it holds."""
        assert self.process is not None
        stat = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        own = sum(int(x) for x in stat[11:13]) / ticks
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        busy = sum(int(x) for i, x in enumerate(fields[:8]) if i not in (3, 4)) / ticks
        return own, busy - own


def start_daemon(env: dict[str, str]) -> Daemon:
    home = Path(tempfile.mkdtemp(prefix="mlrp-bench-", dir="/tmp"))
    daemon = Daemon(home=home, env={**env, "MLRP_HOME": str(home)})
    command = [sys.executable, "-m", "mlrp.cli.main", "up", "--mode", "personal"]
    command += ["--simulated-gpus", str(GPUS)]
    with open(home / "daemon.out", "ab") as log:
        daemon.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=daemon.env
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            raise RuntimeError("mlrp daemon exited:\n" + daemon_log(daemon))
        with contextlib.suppress(DaemonUnavailable):
            daemon.client.whoami()
            return daemon
        time.sleep(0.05)
    raise RuntimeError("mlrp daemon did not answer within 60 s:\n" + daemon_log(daemon))


def daemon_log(daemon: Daemon) -> str:
    path = daemon.home / "daemon.out"
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def stop_daemon(daemon: Daemon) -> None:
    """Cancel what is left, stop the daemon, kill stray supervisors, remove the home."""
    if daemon.process is not None and daemon.process.poll() is None:
        with contextlib.suppress(MlrpError, OSError):
            daemon.client.cancel([], states=ACTIVE)
            wait_until(lambda: not daemon.client.jobs(states=ACTIVE), timeout=30)
        daemon.process.send_signal(signal.SIGTERM)
        try:
            daemon.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            daemon.process.kill()
            daemon.process.wait()
    kill_processes_under(daemon.home)
    shutil.rmtree(daemon.home, ignore_errors=True)


def kill_processes_under(home: Path) -> None:
    """Supervisors run `python -I -S supervisor.py <home>/supervisors/<id>`: kill any left."""
    marker = str(home) + "/"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGKILL)


@contextlib.contextmanager
def fresh_daemon(env: dict[str, str]) -> Iterator[Daemon]:
    daemon = start_daemon(env)
    try:
        yield daemon
    finally:
        stop_daemon(daemon)


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"still waiting after {timeout:.0f} s")
        time.sleep(interval)


# ---------------------------------------------------------------------------- mlrp: drain


@dataclass
class Drain:
    jobs: int
    submit_s: float
    drain_s: float
    completed: int
    daemon_cpu: float  # seconds, the daemon process itself
    children_cpu: float  # seconds, the rest of the machine: supervisors, jobs, anything else

    @property
    def submit_rate(self) -> float:
        return self.jobs / self.submit_s

    @property
    def drain_rate(self) -> float:
        return self.jobs / self.drain_s


@dataclass
class DrainSeries:
    label: str
    runs: list[Drain] = field(default_factory=list)

    def median_of(self, key: Callable[[Drain], float]) -> float:
        return median([key(r) for r in self.runs])

    def spread(self, key: Callable[[Drain], float]) -> str:
        values = [key(r) for r in self.runs]
        if len(values) < 2:
            return fmt(median(values), 1)
        return f"{median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def wait_drained(client: Client, last_id: int, name: str, timeout: float) -> None:
    """Cheap first (one job's state), then the filtered active list until it is empty."""
    wait_until(lambda: client.job(last_id)["state"] in TERMINAL, timeout=timeout)
    wait_until(lambda: not client.jobs(states=ACTIVE, name=name), timeout=timeout)


def finished(client: Client, name: str, since: float) -> tuple[int, float]:
    """(how many completed, the last end_time) of the jobs called `name`."""
    rows = [r for r in client.jobs(since=since - 1, name=name) if r["name"] == name]
    ends = [r["end_time"] for r in rows if r["end_time"] is not None]
    completed = sum(1 for r in rows if r["state"] == "COMPLETED")
    return completed, max(ends) if ends else float("nan")


def measure_drain(
    daemon: Daemon, jobs: int, name: str, submit: Callable[[], int], timeout: float
) -> Drain:
    """`submit` sends `jobs` jobs called `name` and returns the highest job id."""
    cpu0 = daemon.cpu_seconds()
    wall0 = time.time()
    submit_s, last_id = timed(submit)
    wait_drained(daemon.client, last_id, name, timeout)
    completed, last_end = finished(daemon.client, name, wall0)
    cpu1 = daemon.cpu_seconds()
    return Drain(
        jobs=jobs,
        submit_s=submit_s,
        drain_s=last_end - wall0,
        completed=completed,
        daemon_cpu=cpu1[0] - cpu0[0],
        children_cpu=cpu1[1] - cpu0[1],
    )


def job_args(name: str) -> list[str]:
    return ["--parsable", "--gpus", "1", "-J", name]


def submit_cli_loop(daemon: Daemon, jobs: int, name: str) -> Callable[[], int]:
    def submit() -> int:
        last = 0
        for _ in range(jobs):
            last = int(daemon.cli("submit", *job_args(name), "--", "true").strip())
        return last

    return submit


def submit_cli_array(daemon: Daemon, jobs: int, name: str) -> Callable[[], int]:
    def submit() -> int:
        out = daemon.cli("submit", *job_args(name), "--array", f"0-{jobs - 1}", "--", "true")
        return int(out.strip().split("_")[0]) + jobs - 1  # tasks get consecutive ids

    return submit


def spec_template(daemon: Daemon, name: str) -> dict[str, Any]:
    """The spec the CLI would send for `mlrp submit --gpus 1 -J name -- true`."""
    out = daemon.cli("submit", "--dry-run", "--gpus", "1", "-J", name, "--", "true")
    spec: dict[str, Any] = json.loads(out)
    return spec


def submit_client_array(daemon: Daemon, jobs: int, name: str) -> Callable[[], int]:
    spec = {**spec_template(daemon, name), "array": f"0-{jobs - 1}"}

    def submit() -> int:
        return int(daemon.client.submit(spec)["ids"][-1])

    return submit


def submit_client_batch(daemon: Daemon, jobs: int, name: str) -> Callable[[], int]:
    specs = [spec_template(daemon, name)] * jobs

    def submit() -> int:
        return int(daemon.client.submit_batch(specs)[-1]["ids"][-1])

    return submit


Submitter = Callable[[Daemon, int, str], Callable[[], int]]

DRAIN_VARIANTS: list[tuple[str, str, Submitter]] = [
    ("cli-loop", "a. one `mlrp submit` per job", submit_cli_loop),
    ("cli-array", "b. one `mlrp submit --array`", submit_cli_array),
    ("client-array", "b'. one array, Python client", submit_client_array),
    ("client-batch", "c. Client.submit_batch", submit_client_batch),
]


def drain_series(
    env: dict[str, str], key: str, label: str, submitter: Submitter, jobs: int, repeats: int
) -> DrainSeries:
    series = DrainSeries(label=f"{label} ({jobs} jobs)")
    with fresh_daemon(env) as daemon:
        for i in range(repeats):
            progress(f"mlrp drain {key}: run {i + 1}/{repeats}, {jobs} jobs")
            name = f"bench-{key}-{i}"
            submit = submitter(daemon, jobs, name)
            series.runs.append(measure_drain(daemon, jobs, name, submit, timeout=60 + jobs))
    return series


def report_drains(series: Sequence[DrainSeries]) -> None:
    rows = []
    for s in series:
        incomplete = sum(r.jobs - r.completed for r in s.runs)
        rows.append(
            [
                s.label,
                str(len(s.runs)),
                fmt(s.median_of(lambda r: r.submit_s), 4),
                s.spread(lambda r: r.submit_rate),
                fmt(s.median_of(lambda r: r.drain_s), 2),
                s.spread(lambda r: r.drain_rate),
                fmt(s.median_of(lambda r: 1000 * r.daemon_cpu / r.jobs), 1),
                fmt(s.median_of(lambda r: 1000 * r.children_cpu / r.jobs), 1),
                "" if not incomplete else f"{incomplete} not OK",
            ]
        )
    headers = [
        "mlrp, 1-GPU `true` jobs, 8 GPUs",
        "runs",
        "submit s",
        "submit jobs/s",
        "drain s",
        "drain jobs/s",
        "daemon CPU ms/job",
        "rest of machine CPU ms/job",
        "",
    ]
    print_table("mlrp submit and drain (medians; min-max of the runs in brackets)", headers, rows)
    note("drain s = just before the first submit -> end_time of the last job. CPU: the daemon")
    note("process's own, and the rest of the machine's busy time (supervisors, jobs, and anything")
    note("else running: read it on a quiet machine) during the run;")
    note(f"with {os.cpu_count()} CPUs the drain cannot beat {os.cpu_count()} / (their sum) jobs/s.")


# ---------------------------------------------------------------------------- mlrp: latency


@dataclass
class Latency:
    start: list[float]
    done: list[float]


def measure_latency(env: dict[str, str], samples: int) -> Latency:
    progress(f"mlrp latency: {samples} single jobs on an idle machine")
    latency = Latency(start=[], done=[])
    with fresh_daemon(env) as daemon:
        client = daemon.client
        spec = spec_template(daemon, "bench-latency")
        for _ in range(samples):
            wall0 = time.time()
            job_id = int(client.submit(spec)["ids"][0])
            job = wait_job_ended(client, job_id)
            latency.done.append(time.time() - wall0)
            latency.start.append(float(job["start_time"]) - wall0)
    return latency


def wait_job_ended(client: Client, job_id: int, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.job(job_id)
        if job["state"] in TERMINAL:
            return job
        time.sleep(0.005)
    raise TimeoutError(f"job {job_id} did not end within {timeout} s")


def report_latency(latency: Latency) -> None:
    rows = [
        [
            "submit -> start (start_time)",
            fmt_ms(percentile(latency.start, 50)),
            fmt_ms(percentile(latency.start, 90)),
            fmt_ms(max(latency.start)),
        ],
        [
            "submit -> done (polled /5 ms)",
            fmt_ms(percentile(latency.done, 50)),
            fmt_ms(percentile(latency.done, 90)),
            fmt_ms(max(latency.done)),
        ],
    ]
    title = f"mlrp one job at a time on idle GPUs ({len(latency.start)} jobs, Python client)"
    print_table(title, ["latency", "p50", "p90", "max"], rows)


# ---------------------------------------------------------------------------- start-up


@dataclass
class Startup:
    env_label: str
    medians: dict[str, float]
    queued: int = 0

    def ratio(self, command: str) -> float:
        return self.medians[command] / self.medians["bare"]


def cached_bytecode_env(env: dict[str, str], prefix: Path) -> dict[str, str]:
    """The environment with .pyc files written and read (kept under `prefix`, outside
    the tree), as on an ordinary installation."""
    out = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out["PYTHONPYCACHEPREFIX"] = str(prefix)
    return out


SETTLE_S = 0.75  # after a submit: let the scheduling pass it triggers finish


def startup_commands() -> dict[str, list[str]]:
    """In the order they run in each round; "queue-busy" runs right after the submit,
    while the daemon runs the scheduling pass that the submit woke, "queue" after a
    pause of SETTLE_S."""
    mlrp = mlrp_command()
    return {
        "bare": [sys.executable, "-c", "pass"],
        "submit": [*mlrp, "submit", "--parsable", "--hold", "--", "true"],
        "queue-busy": [*mlrp, "queue"],
        "queue": [*mlrp, "queue"],
    }


def measure_startup(daemon: Daemon, env: dict[str, str], label: str, runs: int) -> Startup:
    commands = startup_commands()
    env = {**env, "MLRP_HOME": str(daemon.home)}
    for argv in commands.values():  # warm the page cache (and the .pyc cache, if any)
        run(argv, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            if name == "queue":
                time.sleep(SETTLE_S)
            times[name].append(timed_run(argv, env))
    return Startup(env_label=label, medians={k: median(v) for k, v in times.items()})


def measure_startups(env: dict[str, str], pending: int, runs: int) -> list[Startup]:
    progress(f"start-up: {runs} interleaved runs per command, {pending} held jobs queued")
    with fresh_daemon(env) as daemon, tempfile.TemporaryDirectory(prefix="mlrp-pyc-") as pyc:
        spec = {**spec_template(daemon, "bench-held"), "array": f"0-{pending - 1}", "hold": True}
        daemon.client.submit(spec)
        queued = len(daemon.client.jobs(states=ACTIVE))
        results = [measure_startup(daemon, env, "this environment", runs)]
        cached = cached_bytecode_env(env, Path(pyc))
        results.append(measure_startup(daemon, cached, ".pyc cache on", runs))
    for result in results:
        result.queued = queued
    return results


def note_startup_env(queued: int) -> None:
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        note("PYTHONDONTWRITEBYTECODE is set here, and src/mlrp has no .pyc files: every CLI")
        note("call compiles the mlrp modules it imports. The '.pyc cache on' rows unset it")
        note("and keep .pyc files under a temporary PYTHONPYCACHEPREFIX, as a normal install.")
    note(f"`mlrp queue` ran with {queued} jobs pending (held), {SETTLE_S} s after the last")
    note("submit; 'just after a submit' ran at once, while the daemon's scheduling pass (woken")
    note("by that submit) was running. `mlrp submit` used --hold so that the queue stays put.")


def report_startup(results: Sequence[Startup], runs: int) -> None:
    rows = []
    for result in results:
        for name, label in (
            ("bare", "python -c pass"),
            ("submit", "mlrp submit --parsable -- true"),
            ("queue", "mlrp queue"),
            ("queue-busy", "mlrp queue, just after a submit"),
        ):
            ratio = "1.00" if name == "bare" else fmt(result.ratio(name), 2)
            rows.append([result.env_label, label, fmt_ms(result.medians[name]), ratio])
    title = f"process start-up (median of {runs} runs each)"
    print_table(title, ["environment", "command", "median", "x bare"], rows)
    note_startup_env(results[0].queued if results else 0)


# ---------------------------------------------------------------------------- Slurm


@dataclass
class SlurmFigures:
    sched_params: str
    loop_jobs: int = 0
    loop_rate: float | None = None
    array_submit_s: float | None = None
    squeue_s: float | None = None
    squeue_r_s: float | None = None
    drain_jobs: int = 0
    drain_s: float | None = None
    done_latency: list[float] = field(default_factory=list)

    def value(self, name: str) -> float | None:
        """A figure by name: loop_rate, array_submit_s, drain_rate, done_latency_s..."""
        if name == "drain_rate":
            return None if not self.drain_s else self.drain_jobs / self.drain_s
        if name == "done_latency_s":
            return median(self.done_latency) if self.done_latency else None
        value = getattr(self, name)
        return None if value is None else float(value)


@dataclass
class SlurmCluster:
    directory: Path
    env: dict[str, str]

    def cmd(self, *argv: str, check: bool = True) -> str:
        return run(argv, self.env, check=check)


SLURM_JOB = ["--gres=gpu:1", "-o", "/dev/null", "-e", "/dev/null", "--chdir=/tmp", "-w", "n1"]


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.removeprefix("export ").partition("=")
        if sep and key.strip().isidentifier():
            env[key.strip()] = value.strip().strip("'\"")
    return env


@contextlib.contextmanager
def slurm_cluster(sched_params: str) -> Iterator[SlurmCluster]:
    """Start a private test cluster (own directory, own ports); always stop and purge it."""
    directory = Path(tempfile.mkdtemp(prefix="mlrp-bench-slurm-", dir="/tmp"))
    env = {**os.environ, "SLURM_TC_SCHED_PARAMS": sched_params, "SLURM_TC_RESTD": "0"}
    try:
        done = subprocess.run(
            [str(SLURM_DIR / "start-test-cluster.sh"), str(directory)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"start-test-cluster.sh exited {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()[-1500:]}"
            )
        cluster_env = {**os.environ, **read_env_file(directory / "env.sh")}
        yield SlurmCluster(directory=directory, env=cluster_env)
    finally:
        subprocess.run(
            [str(SLURM_DIR / "stop-test-cluster.sh"), "--purge", str(directory)],
            capture_output=True,
            timeout=300,
            check=False,
        )
        shutil.rmtree(directory, ignore_errors=True)


def slurm_unavailable() -> str | None:
    if not (SLURM_DIR / "start-test-cluster.sh").exists():
        return f"{SLURM_DIR}/start-test-cluster.sh not found"
    if os.geteuid() != 0:
        return "the Slurm test cluster needs root"
    return None


def sbatch(cluster: SlurmCluster, name: str, *extra: str) -> int:
    out = cluster.cmd("sbatch", "--parsable", "-J", name, *SLURM_JOB, *extra, "--wrap", "true")
    return int(out.strip().split(";")[0].split("_")[0])


def slurm_loop(cluster: SlurmCluster, jobs: int, name: str) -> tuple[float, list[int]]:
    """`jobs` x `sbatch --hold`: (seconds, ids). Held, so that none runs meanwhile."""
    return timed(lambda: [sbatch(cluster, name, "--hold") for _ in range(jobs)])


def slurm_squeue(cluster: SlurmCluster, runs: int, *extra: str) -> float:
    return median([timed(lambda: cluster.cmd("squeue", *extra))[0] for _ in range(runs)])


def slurm_cancel(cluster: SlurmCluster, ids: Sequence[int]) -> None:
    for i in range(0, len(ids), 500):
        cluster.cmd("scancel", *map(str, ids[i : i + 500]), check=False)
    wanted = set(ids)
    wait_until(lambda: not wanted & slurm_job_ids(cluster), timeout=120, interval=0.25)


def slurm_job_ids(cluster: SlurmCluster) -> set[int]:
    """Ids of the jobs squeue lists (an array's tasks count as the array's id)."""
    return {int(item.split("_")[0]) for item in slurm_listed(cluster)}


def slurm_listed(cluster: SlurmCluster, *extra: str) -> list[str]:
    return cluster.cmd("squeue", "-h", "-o", "%i", *extra, check=False).split()


def slurm_drain(cluster: SlurmCluster, ids: Sequence[int], name: str) -> float:
    """Release the held jobs; seconds until squeue lists none of them."""
    t0 = time.perf_counter()
    for i in range(0, len(ids), 200):
        cluster.cmd("scontrol", "release", ",".join(map(str, ids[i : i + 200])))
    timeout = 120 + 2 * len(ids)
    wait_until(lambda: not slurm_listed(cluster, "-n", name), timeout=timeout, interval=0.25)
    return time.perf_counter() - t0


def slurm_done_latency(cluster: SlurmCluster, samples: int) -> list[float]:
    latencies = []
    for _ in range(samples):
        t0 = time.perf_counter()
        job_id = sbatch(cluster, "mb-one")
        wait_until(partial(slurm_job_done, cluster, job_id), timeout=120, interval=0.02)
        latencies.append(time.perf_counter() - t0)
    return latencies


def slurm_job_done(cluster: SlurmCluster, job_id: int) -> bool:
    out = cluster.cmd("scontrol", "show", "job", "-o", str(job_id), check=False)
    state = next((w.split("=", 1)[1] for w in out.split() if w.startswith("JobState=")), "")
    return state in TERMINAL or not out.strip()


def measure_slurm(
    cluster: SlurmCluster, figures: SlurmFigures, jobs: int, drain_jobs: int, full: bool
) -> None:
    """full: also the loop, array and squeue figures (else only drain and latency)."""
    loop_jobs = jobs if full else drain_jobs
    progress(f"slurm [{figures.sched_params or 'defaults'}]: {loop_jobs} x sbatch --hold")
    seconds, ids = slurm_loop(cluster, loop_jobs, "mb-drain")
    if full:
        figures.loop_jobs, figures.loop_rate = loop_jobs, loop_jobs / seconds
        figures.squeue_s = slurm_squeue(cluster, 10)
        slurm_cancel(cluster, ids[drain_jobs:])
        measure_slurm_array(cluster, figures, jobs)
    progress(f"slurm [{figures.sched_params or 'defaults'}]: drain of {drain_jobs} jobs on n1")
    figures.drain_jobs = drain_jobs
    figures.drain_s = slurm_drain(cluster, ids[:drain_jobs], "mb-drain")
    figures.done_latency = slurm_done_latency(cluster, 5)


def measure_slurm_array(cluster: SlurmCluster, figures: SlurmFigures, jobs: int) -> None:
    """Time a held `--array=0-(jobs-1)` three times; `squeue -r` with the first pending."""
    times = []
    for i in range(3):
        seconds, array_id = timed(
            lambda: sbatch(cluster, "mb-array", "--hold", f"--array=0-{jobs - 1}")
        )
        times.append(seconds)
        if i == 0:
            figures.squeue_r_s = slurm_squeue(cluster, 10, "-r", "-n", "mb-array")
        slurm_cancel(cluster, [array_id])
    figures.array_submit_s = median(times)


def run_slurm(jobs: int, drain_jobs: int, tuned: bool) -> list[SlurmFigures]:
    results = []
    for params in ["", TUNED_SCHED_PARAMS] if tuned else [""]:
        figures = SlurmFigures(sched_params=params)
        progress(f"slurm: starting the test cluster ({params or 'default settings'})")
        try:
            with slurm_cluster(params) as cluster:
                measure_slurm(cluster, figures, jobs, drain_jobs, full=params == "")
        except (RuntimeError, TimeoutError, subprocess.SubprocessError, OSError) as e:
            print(f"\n!! Slurm ({params or 'defaults'}) failed, figures missing: {e}")
        results.append(figures)
    return results


def report_slurm(results: Sequence[SlurmFigures]) -> None:
    rows = []
    for f in results:
        label = f.sched_params or "defaults"
        rows.append(
            [
                label,
                fmt(f.loop_rate, 1),
                fmt(f.array_submit_s, 4),
                f"{fmt(f.drain_s, 1)} / {fmt(f.value('drain_rate'), 2)}",
                fmt_ms(f.value("done_latency_s")),
                fmt_ms(f.squeue_s),
                fmt_ms(f.squeue_r_s),
            ]
        )
    headers = [
        "Slurm 22.05 SchedulerParameters",
        "sbatch loop jobs/s",
        "array submit s",
        "drain s / jobs/s",
        "submit->done p50",
        "squeue (PD)",
        "squeue -r (array)",
    ]
    print_table(
        "Slurm test cluster, same run (1-GPU `true` jobs, -w n1: one 8-GPU node)", headers, rows
    )
    jobs = next((f for f in results if f.loop_jobs), None)
    if jobs is not None:
        note(
            f"sbatch loop: {jobs.loop_jobs} held jobs; squeue with those pending; array: "
            f"median of 3 held {jobs.loop_jobs}-task arrays"
        )
    note(
        f"drain: {results[0].drain_jobs} held jobs released at once (--slurm-jobs); "
        "submit->done: 5 single jobs, polled with scontrol every 20 ms"
    )


# ---------------------------------------------------------------------------- comparison


@dataclass
class Figures:
    jobs: int
    drains: dict[str, DrainSeries]
    latency: Latency | None
    startups: list[Startup]
    slurm: list[SlurmFigures]

    def drain_rate(self, key: str) -> float | None:
        series = self.drains.get(key)
        return None if series is None else series.median_of(lambda r: r.drain_rate)

    def submit_s(self, key: str) -> float | None:
        series = self.drains.get(key)
        return None if series is None else series.median_of(lambda r: r.submit_s)

    def slurm_value(self, name: str, *, tuned: bool = False) -> tuple[float | None, str]:
        """(value, "measured" or "reference") of one Slurm figure."""
        wanted = TUNED_SCHED_PARAMS if tuned else ""
        found = next((f for f in self.slurm if f.sched_params == wanted), None)
        value = found.value(name) if found is not None else None
        if value is not None:
            return value, "measured"
        return SLURM_REFERENCE.get((name, tuned)), "reference"


def ratio_rows(figures: Figures) -> list[list[str]]:
    """(figure, mlrp, Slurm, mlrp advantage): > 1 means mlrp is better."""
    first = figures.startups[0].medians if figures.startups else {}
    done = median(figures.latency.done) if figures.latency else None
    cli_loop = figures.drains.get("cli-loop")
    loop_rate = cli_loop.median_of(lambda r: r.submit_rate) if cli_loop else None
    sbatch_rate, source = figures.slurm_value("loop_rate")
    sbatch_once = (1 / sbatch_rate if sbatch_rate else None, source)
    return [
        ratio_row(
            "submit loop, jobs/s (CLI vs sbatch)",
            loop_rate,
            figures.slurm_value("loop_rate"),
            higher=True,
        ),
        ratio_row(
            "one submit process, s (vs 1/sbatch rate)",
            first.get("submit"),
            sbatch_once,
            higher=False,
        ),
        ratio_row(
            f"{figures.jobs:,}-task array submit, s (CLI)",
            figures.submit_s("cli-array"),
            figures.slurm_value("array_submit_s"),
            higher=False,
        ),
        ratio_row(
            "drain jobs/s, array (CLI) vs default",
            figures.drain_rate("cli-array"),
            figures.slurm_value("drain_rate"),
            higher=True,
        ),
        ratio_row(
            "drain jobs/s, batch vs default",
            figures.drain_rate("client-batch"),
            figures.slurm_value("drain_rate"),
            higher=True,
        ),
        ratio_row(
            "drain jobs/s, array (CLI) vs tuned",
            figures.drain_rate("cli-array"),
            figures.slurm_value("drain_rate", tuned=True),
            higher=True,
        ),
        ratio_row(
            "drain jobs/s, batch vs tuned",
            figures.drain_rate("client-batch"),
            figures.slurm_value("drain_rate", tuned=True),
            higher=True,
        ),
        ratio_row(
            "one job submit->done, s (default)",
            done,
            figures.slurm_value("done_latency_s"),
            higher=False,
        ),
        ratio_row(
            "one job submit->done, s (tuned)",
            done,
            figures.slurm_value("done_latency_s", tuned=True),
            higher=False,
        ),
        ratio_row(
            f"queue with {figures.jobs:,} pending, s (squeue)",
            first.get("queue"),
            figures.slurm_value("squeue_s"),
            higher=False,
        ),
    ]


def ratio_row(
    label: str, mine: float | None, theirs: tuple[float | None, str], *, higher: bool
) -> list[str]:
    value, source = theirs
    if not mine or not value:
        advantage = "n/a"
    else:
        advantage = f"{(mine / value) if higher else (value / mine):.2f}x"
    return [label, fmt(mine, 4), f"{fmt(value, 4)} ({source})", advantage]


def report_ratios(figures: Figures) -> None:
    headers = ["figure", "mlrp", "Slurm", "mlrp advantage"]
    print_table("mlrp vs Slurm (advantage > 1: mlrp better)", headers, ratio_rows(figures))
    note("'reference' = the figure measured earlier on this cluster (the issue), used only")
    note("where this run has no measured one; 'one CLI submit vs sbatch' compares one")
    note("`mlrp submit` process with 1 / (sbatch loop rate).")


def target_rows(figures: Figures) -> list[list[str]]:
    rows: list[list[str]] = []
    default, default_src = figures.slurm_value("drain_rate")
    tuned, tuned_src = figures.slurm_value("drain_rate", tuned=True)
    for key in ("cli-array", "client-batch"):
        rate = figures.drain_rate(key)
        if rate is None:  # not measured in this run (--only)
            continue
        if default is not None:
            label = f"drain ({key}) >= 10x Slurm default ({default:.2f}/s, {default_src})"
            rows.append(target(label, rate, 10 * default, ">="))
        if tuned is not None:
            label = f"drain ({key}) >= 3x Slurm tuned ({tuned:.2f}/s, {tuned_src})"
            rows.append(target(label, rate, 3 * tuned, ">="))
    if figures.latency is not None:
        p50 = percentile(figures.latency.start, 50)
        rows.append(target("submit-to-start p50 <= 50 ms (s)", p50, 0.050, "<="))
    for key, how in (
        ("cli-array", "array via CLI"),
        ("client-array", "array via client"),
        ("client-batch", "batch via client"),
    ):
        if key not in figures.drains:
            continue
        label = f"{figures.jobs:,}-job {how} submitted <= 0.1 s"
        rows.append(target(label, figures.submit_s(key), 0.1, "<="))
    for startup in figures.startups:
        for name in ("submit", "queue"):
            label = f"{name} <= 2x bare interpreter [{startup.env_label}] (x)"
            rows.append(target(label, startup.ratio(name), 2.0, "<="))
    return rows


def target(label: str, value: float | None, limit: float, op: str) -> list[str]:
    if value is None or value != value:
        return [label, "n/a", fmt(limit, 3), "NOT MEASURED"]
    met = value >= limit if op == ">=" else value <= limit
    return [label, fmt(value, 3), f"{op} {fmt(limit, 3)}", "MET" if met else "MISSED"]


def report_targets(figures: Figures) -> None:
    print_table("targets", ["target", "measured", "needed", "verdict"], target_rows(figures))


# ---------------------------------------------------------------------------- main


PARTS = [*(key for key, _, _ in DRAIN_VARIANTS), "latency", "startup"]


def parts_list(text: str) -> list[str]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [part for part in parts if part not in PARTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown part(s) {', '.join(unknown)}; parts: {PARTS}")
    return parts


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=1000, help="jobs per array/batch (default 1000)")
    p.add_argument(
        "--cli-jobs",
        type=int,
        default=200,
        help="jobs in the one-CLI-call-per-job loop (default 200)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of each array/batch drain, median reported (default 3)",
    )
    p.add_argument("--latency-samples", type=int, default=50)
    p.add_argument("--startup-runs", type=int, default=20)
    p.add_argument("--vs-slurm", action="store_true", help="also measure the Slurm test cluster")
    p.add_argument(
        "--slurm-jobs",
        type=int,
        default=300,
        help="jobs in each Slurm drain (default 300; ~3.5 jobs/s)",
    )
    p.add_argument(
        "--only",
        type=parts_list,
        default=None,
        metavar="PART[,PART...]",
        help=f"measure only these parts of mlrp: {', '.join(PARTS)} (default: all)",
    )
    p.add_argument(
        "--no-slurm-tuned",
        action="store_true",
        help=f"skip the second Slurm cluster with {TUNED_SCHED_PARAMS}",
    )
    return p.parse_args(argv)


def print_header(args: argparse.Namespace) -> None:
    head = run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], dict(os.environ), check=False
    ).strip()
    dirty = run(
        ["git", "-C", str(REPO), "status", "--short", "src"], dict(os.environ), check=False
    ).splitlines()
    print("mlrp submit/drain benchmark")
    print(f"  command : {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"  tree    : {head or '?'} + {len(dirty)} changed file(s) under src/")
    print(
        f"  host    : {platform.node()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, "
        f"Python {platform.python_version()}"
    )
    print(
        f"  jobs    : {args.jobs} per array/batch, {args.cli_jobs} in the CLI loop, "
        f"{args.repeats} runs each; {GPUS} simulated GPUs, personal mode, default tick"
    )


def measure_mlrp(args: argparse.Namespace, env: dict[str, str]) -> Figures:
    wanted = set(args.only or PARTS)
    drains = {}
    for key, label, submitter in DRAIN_VARIANTS:
        if key not in wanted:
            continue
        jobs, repeats = (args.cli_jobs, 1) if key == "cli-loop" else (args.jobs, args.repeats)
        drains[key] = drain_series(env, key, label, submitter, jobs, repeats)
    latency = measure_latency(env, args.latency_samples) if "latency" in wanted else None
    startups = measure_startups(env, args.jobs, args.startup_runs) if "startup" in wanted else []
    return Figures(jobs=args.jobs, drains=drains, latency=latency, startups=startups, slurm=[])


def raise_on_sigterm() -> None:
    """So that a SIGTERM runs the clean-ups too."""

    def handler(signum: int, _: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_sigterm()
    env = dict(os.environ)
    print_header(args)
    figures = measure_mlrp(args, env)
    if figures.drains:
        report_drains(list(figures.drains.values()))
    if figures.latency is not None:
        report_latency(figures.latency)
    if figures.startups:
        report_startup(figures.startups, args.startup_runs)
    if args.vs_slurm:
        why = slurm_unavailable()
        if why is None:
            figures.slurm = run_slurm(args.jobs, args.slurm_jobs, tuned=not args.no_slurm_tuned)
            report_slurm(figures.slurm)
        else:
            print(f"\n!! no Slurm comparison: {why}")
        report_ratios(figures)
    report_targets(figures)
    print(f"\n  load average at the end: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
