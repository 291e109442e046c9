"""Cluster-model decisions: jobs that fit a node stay on one node (best fit), larger
ones span nodes under the lowest switch that can hold them (best fit on leaf switches),
reservations across nodes, and conservative backfill."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sched_factory import NOW, job, policy, reasons, run, running, started

from mlrp.scheduler import GpuSlot, Switch


def cluster(
    nodes: int, per_node: int = 8, busy: dict[int, int] | None = None
) -> tuple[GpuSlot, ...]:
    busy = busy or {}
    return tuple(
        GpuSlot(i, "a100", busy.get(i), node=f"n{i // per_node}") for i in range(nodes * per_node)
    )


def nodes_of(gpus: tuple[int, ...], per_node: int = 8) -> Counter[int]:
    return Counter(g // per_node for g in gpus)


def test_a_job_that_fits_a_node_never_spans_nodes() -> None:
    # n0 has 3 free GPUs, n1 has 3: 6 free in all, but a 4-GPU job fits neither.
    busy = {g: 1 for g in (0, 1, 2, 3, 4, 8, 9, 10, 11, 12)}
    d = run([job(1, gpus=4)], [running(1, gpus=tuple(busy))], slots=cluster(2, busy=busy))
    assert started(d) == {}
    assert reasons(d)[1] == "Resources"


def test_best_fit_node_keeps_the_emptier_node_whole() -> None:
    # n0 has 2 free GPUs, n1 all 8: a 2-GPU job goes to n0.
    busy = {g: 1 for g in range(6)}
    d = run(
        [job(1, gpus=2), job(2, gpus=8)], [running(1, gpus=range(6))], slots=cluster(2, busy=busy)
    )
    assert nodes_of(started(d)[1]) == {0: 2}
    assert nodes_of(started(d)[2]) == {1: 8}


def test_large_job_spans_the_fewest_nodes() -> None:
    d = run([job(1, gpus=16)], slots=cluster(4))
    gpus = started(d)[1]
    assert len(gpus) == 16 and len(nodes_of(gpus)) == 2


# Two leaf switches: s0 over n0-n1, s1 over n2-n3, joined by the top switch.
SWITCHES = (
    Switch("s0", nodes=("n0", "n1")),
    Switch("s1", nodes=("n2", "n3")),
    Switch("top", switches=("s0", "s1")),
)


def test_multi_node_job_goes_under_one_leaf_switch_when_one_can_hold_it() -> None:
    # s0 has 8 + 4 free, s1 has 8 + 8: a 12-GPU job fits under either leaf; best fit
    # picks s0 (fewest free GPUs that still hold it), keeping s1 whole for a 16-GPU job.
    busy = {g: 1 for g in range(8, 12)}
    d = run(
        [job(1, gpus=12), job(2, gpus=16)],
        [running(1, gpus=range(8, 12))],
        slots=cluster(4, busy=busy),
        switches=SWITCHES,
    )
    assert set(nodes_of(started(d)[1])) <= {0, 1}
    assert set(nodes_of(started(d)[2])) == {2, 3}


def test_job_larger_than_any_leaf_switch_spans_switches() -> None:
    d = run([job(1, gpus=24)], slots=cluster(4), switches=SWITCHES)
    assert len(started(d)[1]) == 24


def test_nodes_without_a_common_switch_still_combine() -> None:
    switches = (Switch("s0", nodes=("n0",)), Switch("s1", nodes=("n1",)))
    d = run([job(1, gpus=16)], slots=cluster(2), switches=switches)
    assert len(started(d)[1]) == 16


def test_multi_node_reservation_is_the_time_enough_nodes_free_up() -> None:
    # n0 frees at NOW+100, n1 at NOW+500: a 16-GPU job can start at NOW+500.
    r0 = running(1, gpus=range(8), start_time=NOW, time_limit=100)
    r1 = running(2, gpus=range(8, 16), start_time=NOW, time_limit=500)
    busy = {g: (1 if g < 8 else 2) for g in range(16)}
    d = run([job(3, gpus=16)], [r0, r1], slots=cluster(3, busy=busy))
    # n2 is free now, so only one more node is needed: n0 at NOW+100.
    assert d.pending[3].expected_start == pytest.approx(NOW + 100)


def test_backfill_never_delays_a_multi_node_reservation() -> None:
    r0 = running(1, gpus=range(8), start_time=NOW, time_limit=100)
    busy = {g: 1 for g in range(8)}
    top = job(2, gpus=16)
    long = job(3, gpus=8, time_limit=10_000)  # would hold n1 past NOW+100
    short = job(4, gpus=8, time_limit=50)  # ends before it
    d = run([top, long, short], [r0], slots=cluster(2, busy=busy))
    assert 3 not in started(d)
    assert 4 in started(d)
    assert d.pending[2].expected_start == pytest.approx(NOW + 100)


def test_conservative_backfill_protects_every_blocked_job() -> None:
    # 8 GPUs: 4 busy until NOW+100, 4 until NOW+1000.
    r0 = running(1, gpus=range(4), start_time=NOW, time_limit=100)
    r1 = running(2, gpus=range(4, 8), start_time=NOW, time_limit=1000)
    first = job(3, gpus=8, time_limit=100)  # reserved at NOW+1000 (all 8)
    second = job(4, gpus=4, time_limit=100)  # conservative: reserved at NOW+100..200
    third = job(5, gpus=4, time_limit=500)  # NOW+200..700, before the first's NOW+1000
    pending = [first, second, third]
    easy = run(pending, [r0, r1], pol=policy(backfill_mode="easy"))
    conservative = run(pending, [r0, r1], pol=policy(backfill_mode="conservative"))
    assert easy.pending[4].expected_start is None
    assert conservative.pending[4].expected_start == pytest.approx(NOW + 100)
    assert conservative.pending[3].expected_start == pytest.approx(NOW + 1000)
    assert conservative.pending[5].expected_start == pytest.approx(NOW + 200)


def test_conservative_backfill_refuses_a_job_that_would_delay_the_second_reservation() -> None:
    # GPUs 0-5 busy until NOW+100; 6 and 7 free now.
    r0 = running(1, gpus=range(6), start_time=NOW, time_limit=100)
    top = job(2, gpus=6, time_limit=100)  # reserved NOW+100..200 on GPUs 0-5
    second = job(3, gpus=8, time_limit=100)  # all 8 free from NOW+200
    filler = job(4, gpus=2, time_limit=500)  # on 6-7 until NOW+500: clear of top only
    pending = [top, second, filler]
    easy = run(pending, [r0], pol=policy(backfill_mode="easy"))
    conservative = run(pending, [r0], pol=policy(backfill_mode="conservative"))
    assert 4 in started(easy)  # EASY protects only the top job
    assert 4 not in started(conservative)
    assert conservative.pending[3].expected_start == pytest.approx(NOW + 200)


@settings(max_examples=150, deadline=None)
@given(
    nodes=st.integers(1, 6),
    sizes=st.lists(st.sampled_from((1, 2, 3, 4, 8, 12, 16)), max_size=25),
    busy_nodes=st.sets(st.integers(0, 5)),
    mode=st.sampled_from(("easy", "conservative")),
)
def test_starts_fit_the_free_gpus_and_small_jobs_stay_on_one_node(
    nodes: int, sizes: list[int], busy_nodes: set[int], mode: str
) -> None:
    held = [n for n in busy_nodes if n < nodes]
    runs = [
        running(100 + n, gpus=range(8 * n, 8 * n + 5), start_time=NOW, time_limit=300 * (n + 1))
        for n in held
    ]
    busy = {g: r.id for r in runs for g in r.gpus}
    pending = [job(i + 1, gpus=s, time_limit=60 * (1 + i % 7)) for i, s in enumerate(sizes)]
    d = run(pending, runs, slots=cluster(nodes, busy=busy), pol=policy(backfill_mode=mode))
    taken = [g for s in d.starts for g in s.gpus]
    assert len(taken) == len(set(taken))  # no GPU given twice
    assert not set(taken) & set(busy)  # only free GPUs
    size = {j.id: j.gpus for j in pending}
    for s in d.starts:
        assert len(s.gpus) == size[s.job_id]  # gang: all of it
        if size[s.job_id] <= 8:
            assert len(nodes_of(s.gpus)) == 1  # fits a node: on one node
    assert set(d.pending) | set(started(d)) == set(size)


def test_gpu_model_picks_the_nodes_of_that_model() -> None:
    slots = tuple(GpuSlot(i, "a100", node="n0") for i in range(4)) + tuple(
        GpuSlot(i, "h100", node="n1") for i in range(4, 8)
    )
    d = run([job(1, gpus=2, gpu_type="H100"), job(2, gpus=3, gpu_type="a100")], slots=slots)
    assert set(started(d)[1]) <= {4, 5, 6, 7}
    assert set(started(d)[2]) <= {0, 1, 2, 3}
    # a model the cluster lacks, or more of a model than it has, waits for Resources
    d = run([job(3, gpus=1, gpu_type="v100"), job(4, gpus=5, gpu_type="a100")], slots=slots)
    assert started(d) == {} and reasons(d) == {3: "Resources", 4: "Resources"}


def test_multi_node_backfill_avoids_reserved_gpus_under_a_topology() -> None:
    # Every node has 4 GPUs free; n1's other 4 free up at NOW+100, so the 8-GPU top job
    # is reserved on all of n1 from then. A long 12-GPU job must leave n1's free GPUs
    # alone: it fits on n0, n2, n3 and n4 (4 each), across the two switches.
    switches = (Switch("s0", nodes=("n0", "n1", "n2")), Switch("s1", nodes=("n3", "n4")))
    soon = running(1, gpus=range(12, 16), start_time=NOW, time_limit=100)
    late = [
        running(10 + n, gpus=range(8 * n, 8 * n + 4), start_time=NOW, time_limit=10_000)
        for n in (0, 2, 3, 4)
    ]
    busy = {g: r.id for r in (soon, *late) for g in r.gpus}
    top = job(2, gpus=8, time_limit=100)
    long = job(3, gpus=12, time_limit=500)
    d = run([top, long], [soon, *late], slots=cluster(5, busy=busy), switches=switches)
    assert d.pending[2].expected_start == pytest.approx(NOW + 100)
    assert 1 not in nodes_of(started(d)[3])
    assert len(started(d)[3]) == 12
