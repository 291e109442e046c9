"""API load benchmark: submissions through the REST API on TCP, with an API token.

    .venv/bin/python benchmarks/api_load.py [--batches 10 --batch-size 1000]
                                            [--clients 50 --per-client 200]

A fresh daemon for each measurement (`mlrp up --mode personal --simulated-gpus 8 --port
PORT`) on a temporary MLRP_HOME; a token made over its Unix socket; every job a held
1-GPU `true` (held, so that no job runs). Two measurements:

- batch: `Client.submit_batch` of `--batch-size` specs, `--batches` times, one after
  the other; jobs/s = jobs submitted / wall time of all the calls;
- concurrent: `--clients` threads, each its own `Client(url=..., token=...)` submitting
  `--per-client` jobs one request at a time; latency of each request (p50, p99), the
  overall rate, and whether every job came back with a distinct id and is in the queue
  ("lost": submitted but not listed, or a request that failed).

Every submit wakes the scheduling loop, whose pass covers every pending job (held ones
too): as the concurrent run's queue grows to thousands of jobs, passes of a few hundred
milliseconds, not the API, set its pace (the batch path wakes it once per batch).

Figures only; nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mlrp.client import Client
from mlrp.errors import DaemonUnavailable, MlrpError

GPUS = 8


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def daemon() -> Iterator[tuple[Client, str]]:
    """(a client on the Unix socket, the TCP URL) of a fresh daemon, stopped at the end."""
    home = Path(tempfile.mkdtemp(prefix="mlrp-apibench-", dir="/tmp"))
    port = free_port()
    env = {**os.environ, "MLRP_HOME": str(home)}
    env.pop("MLRP_URL", None)
    command = [sys.executable, "-m", "mlrp.cli.main", "up", "--mode", "personal"]
    command += ["--simulated-gpus", str(GPUS), "--port", str(port)]
    with open(home / "daemon.out", "ab") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env
        )
    local = Client(str(home / "mlrp.sock"))
    try:
        _wait_for(process, local, home)
        yield local, f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(MlrpError, OSError):
            local.cancel([], states=["PENDING", "RUNNING"])
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(home, ignore_errors=True)


def _wait_for(process: subprocess.Popen[bytes], client: Client, home: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((home / "daemon.out").read_text(errors="replace")[-3000:])
        with contextlib.suppress(DaemonUnavailable):
            client.whoami()
            return
        time.sleep(0.05)
    raise RuntimeError("the daemon did not answer within 60 s")


def spec(name: str) -> dict[str, Any]:
    return {"argv": ["true"], "gpus": 1, "hold": True, "name": name}


def batch_benchmark(remote: Client, batches: int, size: int) -> None:
    specs = [spec("batch")] * size
    started = time.perf_counter()
    submitted = sum(len(remote.submit_batch(specs, env={})) for _ in range(batches))
    seconds = time.perf_counter() - started
    print(f"\n== batch submit over TCP ({batches} x {size} specs)")
    print(f"   {submitted} jobs in {seconds:.2f} s: {submitted / seconds:,.0f} jobs/s")


def concurrent_benchmark(local: Client, url: str, token: str, clients: int, each: int) -> None:
    latencies: list[float] = []
    ids: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client_thread() -> None:
        remote = Client(url=url, token=token)
        mine, times = [], []
        start.wait()
        for _ in range(each):
            t0 = time.perf_counter()
            try:
                mine.extend(remote.submit(spec("concurrent"))["ids"])
            except MlrpError as e:
                with lock:
                    failures.append(str(e))
            times.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(times)
            ids.extend(mine)

    threads = [threading.Thread(target=client_thread) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    listed = {row["id"] for row in local.jobs(name="concurrent")}
    wanted = clients * each
    lost = wanted - len(set(ids) & listed)
    print(f"\n== {clients} concurrent clients x {each} single submits over TCP")
    rate = len(ids) / seconds
    print(f"   {len(ids)} of {wanted} jobs accepted in {seconds:.2f} s: {rate:,.0f} jobs/s")
    print(f"   ids distinct: {len(set(ids)) == len(ids)}; listed in the queue: {len(listed)}")
    print(f"   lost: {lost}" + (" (none lost)" if lost == 0 and not failures else ""))
    if failures:
        print(f"   failed requests: {len(failures)}, e.g. {failures[0]}")
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(f"   latency per submit: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--per-client", type=int, default=200)
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with daemon() as (local, url):
        token = local.create_token(name="bench")["token"]
        batch_benchmark(Client(url=url, token=token), args.batches, args.batch_size)
    with daemon() as (local, url):  # a fresh one: the batch's jobs would weigh on this
        token = local.create_token(name="bench")["token"]
        concurrent_benchmark(local, url, token, args.clients, args.per_client)
    return 0


if __name__ == "__main__":
    sys.exit(main())
