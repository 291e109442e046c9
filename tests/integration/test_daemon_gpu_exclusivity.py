"""No GPU is ever held by two jobs at once, under a long random mix of submits (1, 2, 4
and 8 GPUs), cancels and time-outs. Each job writes the GPUs it sees and when it ran;
afterwards the intervals are rebuilt from the outputs and `mlrp show --json`."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from integration_support import (
    FAST_GRACE,
    ids_of,
    listing,
    log_text,
    max_concurrency,
    overlap,
    show,
)

from daemon_harness import Daemon

SEED = 20261129
OPERATIONS = 64
REPORT = 'echo "start $CUDA_VISIBLE_DEVICES $(date +%s.%N)"; sleep {}; echo "end $(date +%s.%N)"'


@dataclass
class Submitted:
    job_id: int
    gpus: int
    overruns: bool  # sleeps past its 1 s time limit
    cancelled: bool = False


def test_random_submits_cancels_and_timeouts_never_share_a_gpu(
    daemon_factory: Callable[..., Daemon],
) -> None:
    daemon = daemon_factory(FAST_GRACE)
    rng = random.Random(SEED)
    jobs: dict[int, Submitted] = {}
    for _ in range(OPERATIONS):
        roll = rng.random()
        if roll < 0.15 and jobs:
            running = sorted(ids_of(listing(daemon, "queue", "--state", "R")))
            if running and roll < 0.1:  # a running job...
                victim = jobs[rng.choice(running)]
            else:  # ...or a recent one, most likely pending
                victim = jobs[rng.choice(sorted(jobs)[-6:])]
            result = daemon.cli("cancel", str(victim.job_id))
            assert result.code == 0, result.err
            victim.cancelled = True
        else:
            overruns = roll > 0.92
            gpus = rng.choice([1, 2, 4] if overruns else [1, 1, 1, 2, 2, 4, 8])
            sleep = 5 if overruns else rng.choice([0.05, 0.1, 0.2])
            limit = "0:01" if overruns else "0:30"
            job_id = daemon.submit(
                "--gpus", str(gpus), "--time", limit, "--", "sh", "-c", REPORT.format(sleep)
            )
            jobs[job_id] = Submitted(job_id, gpus, overruns)
        time.sleep(rng.uniform(0, 0.06))

    records = {job_id: daemon.wait(job_id, timeout=120) for job_id in jobs}
    assert all(g["job_id"] is None for g in daemon.client.gpus())

    held: dict[int, tuple[list[int], tuple[float, float]]] = {}
    for job_id in records:
        asked = jobs[job_id]
        detail = show(daemon, job_id)
        assert detail["gpu_count"] == asked.gpus
        state = detail["state"]
        if asked.cancelled:
            assert state in {"CANCELLED", "COMPLETED", "TIMEOUT"}, detail
        elif asked.overruns:
            assert state == "TIMEOUT", detail
        else:
            assert state == "COMPLETED", detail
        if detail["start_time"] is None:  # cancelled while pending
            assert state == "CANCELLED" and detail["gpus"] == []
            continue
        gpus = detail["gpus"]
        assert len(gpus) == asked.gpus and len(set(gpus)) == asked.gpus, detail
        assert set(gpus) <= set(range(8))
        start, end = detail["start_time"], detail["end_time"]
        assert start <= end
        held[job_id] = (gpus, (start, end))

        # What the job itself saw: exactly its GPUs, while the daemon says it held them.
        lines = [line.split() for line in log_text(daemon, job_id).splitlines()]
        if not lines:  # killed before its shell printed anything
            assert state in {"CANCELLED", "TIMEOUT"}, detail
            continue
        assert lines[0][0] == "start", lines
        assert lines[0][1] == ",".join(str(g) for g in gpus)
        assert start <= float(lines[0][2]) <= end
        if state == "COMPLETED":
            assert lines[-1][0] == "end" and float(lines[-1][1]) <= end

    for (a, (gpus_a, span_a)), (b, (gpus_b, span_b)) in itertools.combinations(held.items(), 2):
        shared = set(gpus_a) & set(gpus_b)
        assert not (shared and overlap(span_a, span_b)), (
            f"jobs {a} and {b} both held GPU(s) {sorted(shared)}: {span_a} and {span_b}"
        )

    # The run really exercised concurrency, gang jobs, cancels and time-outs.
    assert max_concurrency(span for _, span in held.values()) >= 3
    assert any(jobs[j].gpus == 8 for j in held)
    assert any(r["state"] == "TIMEOUT" for r in records.values())
    assert any(r["state"] == "CANCELLED" for r in records.values())
