"""Deferred reservations (Machine.reserve_later) against reservations made at once.

A pass asks for a reservation for each blocked job it reserves for, but often nothing
after it reads or changes the GPUs, so the machine works a reservation out only when
something depends on it. That must never show: any sequence of reservations, starts,
releases and placements gives the same reservations (times and GPUs), placements and
successes whether each reservation is made at once or deferred.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from sched_factory import NOW, running

from mlrp.scheduler import GpuSlot
from mlrp.scheduler.backfill import Machine

PER_NODE = 4
NODES = 3

# one step: ("reserve", n, duration) | ("place", n, duration) | ("release", index of a
# job placed earlier)
_step = st.one_of(
    st.tuples(st.just("reserve"), st.integers(1, PER_NODE * NODES + 1), st.integers(60, 7200)),
    st.tuples(st.just("place"), st.integers(1, PER_NODE * NODES), st.integers(60, 7200)),
    st.tuples(st.just("release"), st.integers(0, 5), st.just(0)),
)


def _machine(busy: list[tuple[int, int]], held: int | None) -> Machine:
    """NODES x PER_NODE GPUs; `busy`: (GPU, seconds left) of one-GPU running jobs;
    `held`: a GPU held by a job the pass does not know (never frees up)."""
    slots = tuple(
        GpuSlot(i, "a100", job_id=99 if i == held else None, node=f"n{i // PER_NODE}")
        for i in range(PER_NODE * NODES)
    )
    jobs = [
        running(100 + k, gpus=(gpu,), start_time=NOW - 600, time_limit=600 + left)
        for k, (gpu, left) in enumerate(dict(busy).items())
        if gpu != held
    ]
    return Machine(NOW, slots, jobs)


@settings(max_examples=400, deadline=None)
@given(
    busy=st.lists(
        st.tuples(st.integers(0, PER_NODE * NODES - 1), st.integers(60, 7200)), max_size=10
    ),
    held=st.one_of(st.none(), st.integers(0, PER_NODE * NODES - 1)),
    steps=st.lists(_step, max_size=12),
)
def test_deferred_reservations_decide_as_eager_ones(
    busy: list[tuple[int, int]], held: int | None, steps: list[tuple[str, int, int]]
) -> None:
    eager, lazy = _machine(busy, held), _machine(busy, held)
    placed: list[tuple[int, ...]] = []
    for job_id, (kind, n, duration) in enumerate(steps):
        if kind == "reserve":
            made = eager.reserve(job_id, n, None, duration) is not None
            assert lazy.reserve_later(job_id, n, None, duration) == made
            assert lazy.reservation_count == len(eager.reservations)
        elif kind == "place":
            gpus = eager.try_place(n, None, NOW + duration)
            assert lazy.try_place(n, None, NOW + duration) == gpus
            if gpus is not None:
                eager.start(gpus, NOW + duration)
                lazy.start(gpus, NOW + duration)
                placed.append(gpus)
        elif n < len(placed):
            gpus = placed.pop(n)
            eager.release(gpus)
            lazy.release(gpus)
    assert lazy.reservations == eager.reservations


def test_a_deferred_reservation_is_worked_out_before_the_gpus_change() -> None:
    """Worked out after the start, the reservation would move behind the new job."""
    machine = _machine([(g, 3600) for g in range(1, PER_NODE * NODES)], None)
    assert machine.reserve_later(1, PER_NODE, None, 600)  # node 0 frees up in an hour
    machine.start((0,), NOW + 7200)  # then its last free GPU is taken for two hours
    [reservation] = machine.reservations
    assert reservation.start == NOW + 3600
    assert machine.node_of(reservation.gpus[0]) == 0


def test_no_deferred_reservation_where_no_node_ever_has_room() -> None:
    """A GPU held forever on every node: a whole-node job never finds a time."""
    slots = tuple(
        GpuSlot(i, "a100", job_id=99 if i % PER_NODE == 0 else None, node=f"n{i // PER_NODE}")
        for i in range(PER_NODE * NODES)
    )
    machine = Machine(NOW, slots, [])
    assert not machine.reserve_later(1, PER_NODE, None, 600)
    assert machine.reserve_later(2, PER_NODE - 1, None, 600)
    assert [r.job_id for r in machine.reservations] == [2]
