"""Held, begin time, dependencies of every kind, singleton."""

from __future__ import annotations

import pytest
from sched_factory import NOW, job, reasons, run, running, started

from mlrp.models.reasons import Reason
from mlrp.models.states import JobState
from mlrp.scheduler import DepRef, dependency_reason, eligibility_reason

P, R, CD, F, CA, TO = (
    JobState.PENDING,
    JobState.RUNNING,
    JobState.COMPLETED,
    JobState.FAILED,
    JobState.CANCELLED,
    JobState.TIMEOUT,
)
OK = None
WAIT = Reason.DEPENDENCY
NEVER = Reason.DEPENDENCY_NEVER_SATISFIED


@pytest.mark.parametrize(
    ("kind", "states", "expected"),
    [
        ("after", (P,), WAIT),
        ("after", (R,), OK),
        ("after", (CD,), OK),
        ("after", (CA,), OK),
        ("after", (R, P), WAIT),
        ("afterok", (P,), WAIT),
        ("afterok", (R,), WAIT),
        ("afterok", (CD,), OK),
        ("afterok", (F,), NEVER),
        ("afterok", (CA,), NEVER),
        ("afterok", (TO,), NEVER),
        ("afterok", (CD, R), WAIT),
        ("afterok", (CD, CD), OK),
        ("afterok", (CD, F), NEVER),
        ("afternotok", (R,), WAIT),
        ("afternotok", (F,), OK),
        ("afternotok", (TO,), OK),
        ("afternotok", (CD,), NEVER),
        ("afternotok", (F, R), WAIT),
        ("afternotok", (F, CD), NEVER),
        ("afterany", (P,), WAIT),
        ("afterany", (R,), WAIT),
        ("afterany", (CD,), OK),
        ("afterany", (F,), OK),
        ("afterany", (CA, CD), OK),
        ("afterany", (CD, R), WAIT),
        ("afterok", (), NEVER),
        ("bogus", (CD,), NEVER),
    ],
)
def test_dependency_kinds(kind, states, expected):
    j = job(1, dependencies=(DepRef(kind, 7, None),))
    assert dependency_reason(j, {(7, None): states}) is expected


@pytest.mark.parametrize("kind", ["after", "afterok", "afternotok", "afterany"])
def test_unknown_job_never_satisfies(kind):
    j = job(1, dependencies=(DepRef(kind, 7, None),))
    assert dependency_reason(j, {(8, None): (CD,)}) is NEVER


@pytest.mark.parametrize(
    ("any_of", "states7", "states8", "expected"),
    [
        (False, (CD,), (CD,), OK),
        (False, (CD,), (R,), WAIT),
        (False, (F,), (R,), NEVER),
        (False, (CD,), (F,), NEVER),
        (True, (CD,), (R,), OK),
        (True, (F,), (R,), WAIT),
        (True, (F,), (F,), NEVER),
        (True, (F,), (CD,), OK),
    ],
)
def test_all_of_and_any_of(any_of, states7, states8, expected):
    deps = (DepRef("afterok", 7, None), DepRef("afterok", 8, None))
    j = job(1, dependencies=deps, dependency_any=any_of)
    assert dependency_reason(j, {(7, None): states7, (8, None): states8}) is expected


def test_array_dependency_uses_the_states_of_every_task():
    j = job(1, dependencies=(DepRef("afterok", 7, None),))
    assert dependency_reason(j, {(7, None): (CD, CD, R)}) is WAIT


def test_array_task_dependency_uses_only_that_task():
    j = job(1, dependencies=(DepRef("afterok", 7, 2),))
    states = {(7, None): (CD, F, R), (7, 2): (CD,)}
    assert dependency_reason(j, states) is None


def test_held_begin_time_precedence():
    assert eligibility_reason(job(1, held=True, begin_time=NOW + 10), NOW, {}) is Reason.HELD_USER
    assert eligibility_reason(job(1, begin_time=NOW + 10), NOW, {}) is Reason.BEGIN_TIME
    assert eligibility_reason(job(1, begin_time=NOW), NOW, {}) is None
    deps = (DepRef("afterok", 7, None),)
    assert eligibility_reason(job(1, dependencies=deps), NOW, {(7, None): (CD,)}) is None


def test_decide_reports_eligibility_reasons_and_starts_the_rest():
    queue = [
        job(1, held=True),
        job(2, begin_time=NOW + 60),
        job(3, dependencies=(DepRef("afterok", 7, None),)),
        job(4, dependencies=(DepRef("afterok", 8, None),)),
        job(5, dependencies=(DepRef("afterok", 99, None),)),
        job(6, dependencies=(DepRef("afterany", 8, None),)),
        job(7, begin_time=NOW - 60),
    ]
    d = run(queue, dependency_states={(7, None): (R,), (8, None): (F,)})
    assert reasons(d) == {
        1: "JobHeldUser",
        2: "BeginTime",
        3: "Dependency",
        4: "DependencyNeverSatisfied",
        5: "DependencyNeverSatisfied",
    }
    assert set(started(d)) == {6, 7}


def test_held_top_job_blocks_nothing_even_without_backfill():
    from sched_factory import policy

    d = run([job(1, held=True, gpus=8), job(2, gpus=8)], pol=policy(backfill=False))
    assert set(started(d)) == {2}


def test_singleton_waits_for_running_job_of_same_user_and_name():
    r = running(90, user="alice", name="train", gpus=(0,))
    queue = [
        job(1, name="train", singleton=True),
        job(2, name="train", singleton=True, user="bob"),
        job(3, name="eval", singleton=True),
        job(4, name="train"),  # not a singleton: unaffected
    ]
    d = run(queue, [r])
    assert reasons(d) == {1: "DependencySingleton"}
    assert set(started(d)) == {2, 3, 4}


def test_only_the_first_pending_singleton_starts():
    # Job 2 is submitted later but ranks first (negative nice).
    queue = [job(1, name="t", singleton=True), job(2, name="t", singleton=True, nice=-1000)]
    d = run(queue)
    assert set(started(d)) == {2}
    assert reasons(d) == {1: "DependencySingleton"}


def test_singleton_held_does_not_claim_the_name():
    queue = [job(1, name="t", singleton=True, held=True), job(2, name="t", singleton=True)]
    d = run(queue)
    assert set(started(d)) == {2}
    assert reasons(d) == {1: "JobHeldUser"}


def test_singleton_after_a_job_started_in_the_same_pass():
    queue = [job(1, name="t"), job(2, name="t", singleton=True)]
    d = run(queue)
    assert set(started(d)) == {1}
    assert reasons(d) == {2: "DependencySingleton"}
