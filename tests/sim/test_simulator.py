"""The trace simulator: trace reading, the event loop driving the real scheduler, the
figures, and `mlrp sim`."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlrp.cli.main import main
from mlrp.errors import InvalidSpec, NotFound
from mlrp.sim import (
    POLICIES,
    JobRecord,
    SimResult,
    TraceJob,
    parse_cluster,
    read_trace,
    simulate,
    summarize,
)

DATA = Path(__file__).resolve().parent.parent / "data"
SMALL = DATA / "small_trace.csv"
CLUSTER = "2x8"
HEADER = "timestamp,duration,num_gpus,gpu_time,cluster"


def generate_trace(seed: int = 7, bursts: int = 10, per_burst: int = 20) -> str:
    """The small test trace, in Philly CSV: bursts of mixed-size jobs from 3 teams,
    a burst every 3 hours on a 16-GPU cluster, so that a queue builds and backfill
    matters. Deterministic; `tests/data/small_trace.csv` is its output."""
    rng = random.Random(seed)
    origin = datetime(2017, 10, 1, tzinfo=UTC).timestamp()
    lines = [HEADER]
    for b in range(bursts):
        for _ in range(per_burst):
            submit = origin + b * 3 * 3600 + rng.randint(0, 1800)
            gpus = rng.choice([1, 1, 1, 1, 2, 2, 4, 8, 16])
            duration = float(rng.choice([rng.randint(60, 900), rng.randint(1800, 14400)]))
            team = rng.choice(["aa11", "bb22", "cc33"])
            stamp = datetime.fromtimestamp(submit, UTC).strftime("%Y-%m-%d %H:%M:%S")
            lines.append(f"{stamp},{duration},{gpus},{duration * gpus},{team}")
    return "\n".join(lines) + "\n"


def test_committed_trace_is_the_generator_output() -> None:
    assert SMALL.read_text() == generate_trace()


@pytest.fixture(scope="module")
def jobs() -> list[TraceJob]:
    return read_trace(SMALL)


@pytest.fixture(scope="module")
def runs(jobs: list[TraceJob]) -> dict[str, SimResult]:
    cluster = parse_cluster(CLUSTER)
    return {p: simulate(jobs, cluster, p) for p in POLICIES}


@pytest.fixture(scope="module")
def results(runs: dict[str, SimResult]) -> dict[str, list[JobRecord]]:
    return {p: list(run.records) for p, run in runs.items()}


# --- trace reading -------------------------------------------------------------------


def test_read_philly_sorted_with_limit(jobs: list[TraceJob]) -> None:
    assert len(jobs) == 200
    assert [j.submit for j in jobs] == sorted(j.submit for j in jobs)
    assert {j.account for j in jobs} == {"aa11", "bb22", "cc33"}
    assert read_trace(SMALL, limit=5) == jobs[:5]


def test_malformed_row_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        f"{HEADER}\n2017-10-01 00:00:00,60.0,1,60.0,a\n"
        "2017-10-01 00:01:00,60.0,1,60.0,a\n2017-10-01 00:02:00,sixty,1,60.0,a\n"
    )
    with pytest.raises(InvalidSpec, match=r"bad\.csv:4: bad duration 'sixty'"):
        read_trace(bad)
    bad.write_text(f"{HEADER}\n2017-10-01 00:00:00,60.0,0,0,a\n")
    with pytest.raises(InvalidSpec, match=r":2: GPU count must be >= 1"):
        read_trace(bad)
    bad.write_text(f"{HEADER}\nyesterday,60.0,1,60.0,a\n")
    with pytest.raises(InvalidSpec, match=r":2: bad submit time"):
        read_trace(bad)
    bad.write_text(f"{HEADER}\n2017-10-01 00:00:00,60.0\n")
    with pytest.raises(InvalidSpec, match=r":2: expected 5 fields"):
        read_trace(bad)
    with pytest.raises(NotFound):
        read_trace(tmp_path / "missing.csv")


def test_jsonl_trace(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"id": 9, "submit": 100, "duration": 5, "gpus": 2, "account": "x"}\n\n'
        '{"submit": 50.5, "duration": 7.5, "gpus": 1, "account": "y"}\n'
    )
    assert read_trace(path) == [TraceJob(3, 50.5, 7.5, 1, "y"), TraceJob(9, 100.0, 5.0, 2, "x")]
    path.write_text('{"submit": 1, "duration": 5, "account": "x"}\n')
    with pytest.raises(InvalidSpec, match=r"t\.jsonl:1: missing key\(s\) gpus"):
        read_trace(path)


def test_parse_cluster() -> None:
    assert parse_cluster("64x8").total_gpus == 512
    for bad in ("64", "0x8", "ax8", "8x"):
        with pytest.raises(InvalidSpec):
            parse_cluster(bad)


# --- the simulation ------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_every_job_finishes(
    policy: str, jobs: list[TraceJob], results: dict[str, list[JobRecord]]
) -> None:
    records = results[policy]
    by_id = {j.id: j for j in jobs}
    assert sorted(r.id for r in records) == sorted(by_id)
    for r in records:
        job = by_id[r.id]
        assert r.start >= r.submit == job.submit
        ran = sum(end - start for start, end in r.runs)
        if r.preempted_runs:  # it redid the work since its last checkpoint
            assert ran >= job.duration
        else:
            assert ran == pytest.approx(job.duration)


@pytest.mark.parametrize("policy", POLICIES)
def test_no_gpu_oversubscription(policy: str, results: dict[str, list[JobRecord]]) -> None:
    total = parse_cluster(CLUSTER).total_gpus
    # at one instant, ends free GPUs before starts take them
    runs = [(start, end, r.gpus) for r in results[policy] for start, end in r.runs]
    deltas = sorted(
        [(start, 1, gpus) for start, _, gpus in runs] + [(end, 0, -gpus) for _, end, gpus in runs]
    )
    in_use = 0
    peak = 0
    for _, _, delta in deltas:
        in_use += delta
        peak = max(peak, in_use)
        assert 0 <= in_use <= total
    assert peak == total  # the small trace does fill the cluster


def test_fifo_starts_in_arrival_order(results: dict[str, list[JobRecord]]) -> None:
    records = sorted(results["fifo"], key=lambda r: (r.submit, r.id))
    starts = [r.start for r in records]
    assert starts == sorted(starts)


def test_backfill_beats_fifo_on_average_jct(runs: dict[str, SimResult]) -> None:
    default = summarize(runs["default"]).overall
    fifo = summarize(runs["fifo"]).overall
    assert default["jct_avg_s"] < fifo["jct_avg_s"]
    assert default["wait_avg_s"] < fifo["wait_avg_s"]


def test_oversized_jobs_are_skipped_and_counted() -> None:
    jobs = [TraceJob(1, 0.0, 60.0, 32, "a"), TraceJob(2, 10.0, 60.0, 4, "a")]
    result = simulate(jobs, parse_cluster("2x8"), "default")
    assert result.skipped == (1,)
    assert [(r.id, r.start, r.end) for r in result.records] == [(2, 10.0, 70.0)]


def test_interval_zero_starts_at_the_event() -> None:
    jobs = [TraceJob(1, 0.0, 100.0, 8, "a"), TraceJob(2, 1.0, 10.0, 8, "b")]
    cluster = parse_cluster("1x8")
    at_event = {r.id: r.start for r in simulate(jobs, cluster, "fifo", interval=0).records}
    assert at_event == {1: 0.0, 2: 100.0}
    # the second pass would come 100 s after the first: not deferred past it
    deferred = {r.id: r.start for r in simulate(jobs, cluster, "fifo", interval=150).records}
    assert deferred == {1: 0.0, 2: 150.0}


def test_fairshare_favours_the_account_that_used_less() -> None:
    # "a" ran alone for a long time; then both queue one job at the same instant:
    # under the default policy, "b" (no usage) goes first, under fifo the lower id.
    jobs = [
        TraceJob(1, 0.0, 86400.0, 8, "a"),
        TraceJob(2, 100.0, 600.0, 8, "a"),
        TraceJob(3, 100.0, 600.0, 8, "b"),
    ]
    cluster = parse_cluster("1x8")
    default = {r.id: r.start for r in simulate(jobs, cluster, "default").records}
    assert default[3] < default[2]
    fifo = {r.id: r.start for r in simulate(jobs, cluster, "fifo").records}
    assert fifo[2] < fifo[3]


# --- the CLI -------------------------------------------------------------------------


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", str(SMALL), "--cluster", CLUSTER, "--policy", "fifo", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"overall", "accounts"}
    overall = doc["overall"]
    assert overall["jobs"] == 200 and overall["policy"] == "fifo"
    assert set(doc["accounts"]) == {"aa11", "bb22", "cc33"}
    for figures in doc["accounts"].values():
        assert set(figures) >= {"jobs", "jct_avg_s", "jct_p99_s", "wait_avg_s", "wait_p99_s"}
        assert 0 < figures["gpu_share"] < 1


def test_cli_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", str(SMALL), "--cluster", CLUSTER, "--limit", "50"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("50 jobs (0 skipped")
    assert "JCT_AVG" in out and "aa11" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cluster", "64by8"], "bad cluster '64by8'"),
        (["--cluster", "2x8", "--limit", "-1"], "--limit must be >= 0"),
    ],
)
def test_cli_bad_arguments(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", str(SMALL), *argv]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_cli_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", str(tmp_path / "nope.csv"), "--cluster", "2x8"]) == 1
    assert "no trace file" in capsys.readouterr().err
