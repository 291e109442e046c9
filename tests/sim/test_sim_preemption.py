"""Fair-share preemption in the simulator: a team arriving at a cluster another team
fills gets its share at once instead of after the other team's long jobs; the victims
resume from their last checkpoint, and the work since is counted as lost."""

from __future__ import annotations

import pytest

from mlrp.errors import InvalidSpec
from mlrp.models.policy import Account, Policy
from mlrp.sim import Cluster, TraceJob, simulate, summarize

CLUSTER = Cluster(nodes=1, gpus_per_node=8)
HOUR = 3600.0


def trace() -> list[TraceJob]:
    # "a" fills the 8 GPUs with four 2-GPU jobs of 10 hours; "b" comes 90 minutes later
    # with one 4-GPU job of one hour.
    jobs = [TraceJob(i, 0.0, 10 * HOUR, 2, "a") for i in range(4)]
    return [*jobs, TraceJob(9, 1.5 * HOUR, HOUR, 4, "b")]


def teams(**kw: object) -> Policy:
    return Policy(accounts=[Account(name="a"), Account(name="b")], default_account=None, **kw)


def test_a_team_below_its_share_starts_at_once_and_the_victims_resume() -> None:
    result = simulate(trace(), CLUSTER, teams(), checkpoint_interval=HOUR)
    by_id = {r.id: r for r in result.records}
    assert by_id[9].start == 1.5 * HOUR  # no wait for a's 10-hour jobs
    victims = [r for r in result.records if r.preempted_runs]
    assert len(victims) == 2 and result.preemptions == 2  # 4 GPUs: two 2-GPU jobs
    for victim in victims:
        assert victim.preempted_runs == ((0.0, 1.5 * HOUR),)
        ran = sum(end - start for start, end in victim.runs)
        assert ran == 10.5 * HOUR  # it redid the half hour since its checkpoint
    assert result.lost_gpu_seconds == 2 * 2 * 0.5 * HOUR
    overall = summarize(result).overall
    assert overall["preemptions"] == 2
    used = (4 * 2 * 10 + 2 * 2 * 0.5 + 4) * HOUR  # a's work, what it redid, b's job
    assert overall["lost_fraction"] == pytest.approx(result.lost_gpu_seconds / used)


def test_without_checkpoints_a_victim_starts_over() -> None:
    result = simulate(trace(), CLUSTER, teams(), checkpoint_interval=0)
    for victim in (r for r in result.records if r.preempted_runs):
        assert sum(end - start for start, end in victim.runs) == 11.5 * HOUR
    assert result.lost_gpu_seconds == 2 * 2 * 1.5 * HOUR


def test_without_fair_share_preemption_the_team_waits_for_the_long_jobs() -> None:
    result = simulate(trace(), CLUSTER, teams(fairshare_preemption=False))
    by_id = {r.id: r for r in result.records}
    assert by_id[9].start == 10 * HOUR
    assert result.preemptions == 0 and not any(r.preempted_runs for r in result.records)


def test_fifo_preset_never_preempts() -> None:
    assert simulate(trace(), CLUSTER, "fifo").preemptions == 0


def test_a_preempted_team_is_backlogged_again_until_it_restarts() -> None:
    result = simulate(trace(), CLUSTER, teams(), checkpoint_interval=HOUR)
    summary = summarize(result, window=HOUR / 2)
    # a's two victims wait from 1.5 h until b's job ends at 2.5 h: "a" is backlogged in
    # the half-hour windows in between, and only there
    backlogged = [(w.start, w.end) for w in summary.windows if "a" in w.backlogged]
    assert backlogged == [(1.5 * HOUR, 2 * HOUR), (2 * HOUR, 2.5 * HOUR)]


def test_a_bad_checkpoint_interval_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="checkpoint interval"):
        simulate(trace(), CLUSTER, teams(), checkpoint_interval=-1)


def fragmented_trace() -> list[TraceJob]:
    # At 0, on 3 nodes of 8 GPUs (best fit, larger jobs first): a's three 4-GPU jobs
    # fill one node and half of another, whose other half takes four of c's six 1-GPU
    # jobs; the last node holds c's other two. All run 10 hours. At 1 h, b asks for a
    # whole node: a may lose one 4-GPU job only, c nothing.
    jobs = [TraceJob(i, 0.0, 10 * HOUR, 4, "a") for i in range(3)]
    jobs += [TraceJob(i, 0.0, 10 * HOUR, 1, "c") for i in range(3, 9)]
    return [*jobs, TraceJob(9, HOUR, HOUR, 8, "b")]


def three_teams(**kw: object) -> Policy:
    return Policy(accounts=[Account(name=a) for a in "abc"], default_account=None, **kw)


def test_jobs_in_the_way_of_a_whole_node_move_and_restart_elsewhere() -> None:
    result = simulate(fragmented_trace(), Cluster(3, 8), three_teams(), checkpoint_interval=HOUR)
    by_id = {r.id: r for r in result.records}
    b = by_id[9]
    node = b.gpu_ids[0] // 8
    assert b.start == HOUR and b.gpu_ids == tuple(range(8 * node, 8 * node + 8))  # a node
    assert result.moved == 4 and result.preemptions == 5  # four of c's, one of a's
    cut_short = [r for r in result.records if r.preempted_runs]
    assert sorted(r.account for r in cut_short) == ["a", "c", "c", "c", "c"]
    for record in cut_short:
        assert record.preempted_runs == ((0.0, HOUR),)
        if record.account == "c":  # moved: back at the next pass, on another node
            assert record.last_start is not None and record.last_start - HOUR <= 120
            assert all(g // 8 != node for g in record.gpu_ids)
    assert summarize(result).overall["moved"] == 4


def test_without_relocation_the_whole_node_job_waits() -> None:
    result = simulate(fragmented_trace(), Cluster(3, 8), three_teams(fairshare_relocation=False))
    assert {r.id: r for r in result.records}[9].start > HOUR
    assert result.moved == 0
