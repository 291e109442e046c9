"""Properties of whole simulated runs (hypothesis): every job of a finite trace finishes,
no GPU is ever held by two jobs at once, the cluster is never over capacity, and a job
that fits a node runs on one node — under every policy, with and without a topology."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mlrp.scheduler import Switch
from mlrp.sim import Cluster, TraceJob, simulate

jobs_strategy = st.lists(
    st.tuples(
        st.integers(0, 20_000),  # submit
        st.integers(1, 20_000),  # duration
        st.sampled_from((1, 1, 2, 4, 8, 16)),  # gpus
        st.sampled_from(("a", "b", "c")),  # account
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(
    raw=jobs_strategy,
    policy=st.sampled_from(("default", "fifo", "nobackfill")),
    with_topology=st.booleans(),
)
def test_every_job_finishes_within_capacity(
    raw: list[tuple[int, int, int, str]], policy: str, with_topology: bool
) -> None:
    jobs = [TraceJob(i, float(s), float(d), g, a) for i, (s, d, g, a) in enumerate(raw)]
    cluster = Cluster(nodes=4, gpus_per_node=8)
    switches = (
        (Switch("l0", nodes=("n0", "n1")), Switch("l1", nodes=("n2", "n3")))
        if with_topology
        else ()
    )
    result = simulate(jobs, cluster, policy, switches=switches)
    assert sorted(r.id for r in result.records) == [j.id for j in jobs]  # all finished
    for r in result.records:
        job = jobs[r.id]
        ran = sum(end - start for start, end in r.runs)
        assert r.start >= job.submit
        assert ran == job.duration if not r.preempted_runs else ran >= job.duration
    # capacity: sweep the starts and ends of every run
    runs = [(start, end, r.gpus) for r in result.records for start, end in r.runs]
    events = sorted(
        [(start, gpus) for start, _, gpus in runs] + [(end, -gpus) for _, end, gpus in runs],
        key=lambda e: (e[0], e[1]),
    )
    in_use = 0
    for _, delta in events:
        in_use += delta
        assert in_use <= cluster.total_gpus
    for r in result.records:
        assert len(set(r.gpu_ids)) == r.gpus  # gang: all its GPUs
        if r.gpus <= cluster.gpus_per_node:
            assert len({g // cluster.gpus_per_node for g in r.gpu_ids}) == 1  # one node
    # no GPU held by two jobs at once (gpu_ids: those of each job's last run)
    last_runs = sorted((r.runs[-1], r.gpu_ids) for r in result.records)
    for i, ((_, a_end), a_gpus) in enumerate(last_runs):
        for (b_start, _), b_gpus in last_runs[i + 1 :]:
            if b_start >= a_end:
                continue
            assert not set(a_gpus) & set(b_gpus)
