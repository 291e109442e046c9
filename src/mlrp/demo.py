"""`make demo`: a shared 8-GPU server, three researchers, two accounts, one fair queue.

Starts a personal-mode daemon on a temporary MLRP_HOME (real GPUs when NVML finds
some, 8 simulated ones otherwise), submits a mixed workload of 1-, 2-, 4- and 8-GPU
jobs from alice and bob (account vision) and carol (account nlp), shows the queue
moving, then the history and the fair-share report, stops the daemon and checks
that no process of any job is left.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

CONFIG = """
[hardware]
simulated_gpus = 8

[scheduler]
half_life = 3600

[[scheduler.accounts]]
name = "vision"
shares = 1
users = ["alice", "bob"]

[[scheduler.accounts]]
name = "nlp"
shares = 1
users = ["carol"]
"""

TRAIN = """\
import os, sys, time
steps = int(sys.argv[1])
gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
for step in range(1, steps + 1):
    print(f"job {os.environ['MLRP_JOB_ID']} on GPUs [{gpus}]: step {step}/{steps}", flush=True)
    time.sleep(0.5)
"""

# (user, gpus, steps of 0.5 s, count)
WORKLOAD = [
    ("alice", 1, 8, 6),
    ("alice", 8, 10, 1),
    ("bob", 2, 10, 3),
    ("bob", 4, 12, 1),
    ("carol", 1, 6, 4),
    ("carol", 4, 10, 2),
    ("carol", 2, 8, 2),
]


def mlrp(home: Path, *args: str, show: bool = True) -> str:
    if show:
        print(f"\n$ mlrp {' '.join(args)}", flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "mlrp.cli.main", *args],
        env={**os.environ, "MLRP_HOME": str(home)},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"mlrp {' '.join(args)} failed:\n{result.stderr}")
    if show:
        print(result.stdout.rstrip(), flush=True)
    return result.stdout


def submit_workload(home: Path, script: Path) -> list[str]:
    ids = []
    for user, gpus, steps, count in WORKLOAD:
        for _ in range(count):
            out = mlrp(
                home,
                "submit",
                "--parsable",
                "--as-user",
                user,
                "--gpus",
                str(gpus),
                "--time",
                "5:00",
                "--job-name",
                f"train-{gpus}g",
                "--",
                sys.executable,
                str(script),
                str(steps),
                show=False,
            )
            ids.append(out.strip())
    print(f"submitted {len(ids)} jobs from alice, bob (vision) and carol (nlp)")
    return ids


def watch(home: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        mlrp(home, "queue")
        if not mlrp(home, "queue", "--json", show=False).strip("[]\n "):
            return
        time.sleep(4)
    raise SystemExit("the demo workload did not finish in time")


def leftovers(home: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(home) in part for part in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def main() -> int:
    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="mlrp-demo-", dir="/tmp"))
    try:
        (home / "config.toml").write_text(CONFIG)
        script = home / "train.py"
        script.write_text(TRAIN)
        up = ("up", "--detach", "--mode", "personal", "--port", "0")  # no TCP: a private demo
        print(mlrp(home, *up, show=False).strip())
        mlrp(home, "nodes")
        submit_workload(home, script)
        watch(home, deadline=started + 100)
        mlrp(home, "history", "--since", "1h")
        mlrp(home, "share")
        mlrp(home, "down")
        left = leftovers(home)
        print(f"\nprocesses left behind: {len(left)}")
        print(f"demo finished in {time.monotonic() - started:.0f} s")
        return 1 if left else 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
