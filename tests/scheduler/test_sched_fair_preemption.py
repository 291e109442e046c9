"""Fair-share preemption decisions: an account below its fair share takes GPUs back
from accounts above theirs, the youngest jobs first, never leaving a victim account
below the preemptor, never over a reservation, and only when the policy allows it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from sched_factory import NOW, job, policy, run, running

from mlrp.models.policy import Account, Qos
from mlrp.scheduler import Decisions
from mlrp.scheduler.fair_preemption import FairShares

TEAMS = [Account(name="a", users=["alice"]), Account(name="b", users=["bob"])]


def fair_policy(**kw: object) -> object:
    kw.setdefault("accounts", TEAMS)
    kw.setdefault("fairshare_preemption", True)
    return policy(**kw)


def a_job(id: int, gpus: range | tuple[int, ...], age: float, **kw: object) -> object:
    return running(id, user="alice", account="a", gpus=gpus, start_time=NOW - age, **kw)


def b_job(id: int, gpus: int = 4, **kw: object) -> object:
    return job(id, user="bob", account="b", gpus=gpus, **kw)


def preempted(d: Decisions) -> dict[int, tuple[tuple[int, ...], tuple[int, ...]]]:
    return {p.job_id: (p.victims, p.gpus) for p in d.preemptions}


def test_account_below_its_share_takes_gpus_from_the_youngest_job_above() -> None:
    a_jobs = [a_job(1, range(0, 4), age=9000), a_job(2, range(4, 8), age=60)]
    d = run([b_job(10)], a_jobs, pol=fair_policy())
    assert preempted(d) == {10: ((2,), (4, 5, 6, 7))}  # the younger one loses less work
    assert d.starts == ()  # it starts once its victim has stopped
    assert d.pending[10].reason == "Preempting"


def test_nothing_is_preempted_without_the_policy_switch() -> None:
    a_jobs = [a_job(1, range(0, 4), age=9000), a_job(2, range(4, 8), age=60)]
    d = run([b_job(10)], a_jobs, pol=fair_policy(fairshare_preemption=False))
    assert preempted(d) == {}
    assert d.pending[10].reason == "Resources"


def test_a_victim_account_is_never_left_below_the_preemptor() -> None:
    # One 8-GPU job: taking it would leave "a" with 0 GPUs against b's 4.
    d = run([b_job(10)], [a_job(1, range(8), age=60)], pol=fair_policy())
    assert preempted(d) == {}


def test_an_account_at_its_fair_share_preempts_nothing() -> None:
    # b holds 4 of 8 GPUs, as much as a: a second job of b waits, even though a holds
    # its 4 in small jobs.
    hold = [
        running(5, user="bob", account="b", gpus=range(4)),
        a_job(1, (4, 5), age=60),
        a_job(2, (6, 7), age=60),
    ]
    d = run([b_job(10, gpus=2)], hold, pol=fair_policy())
    assert preempted(d) == {}


def test_jobs_of_a_higher_qos_are_not_fair_share_victims() -> None:
    qos = [Qos(name="normal"), Qos(name="high", priority=100)]
    a_jobs = [a_job(1, range(0, 4), age=60, qos="high"), a_job(2, range(4, 8), age=60)]
    d = run([b_job(10)], a_jobs, pol=fair_policy(qos=qos))
    assert preempted(d) == {10: ((2,), (4, 5, 6, 7))}
    a_jobs = [a_job(1, range(0, 4), age=60, qos="high"), a_job(2, range(4, 8), age=90, qos="high")]
    assert preempted(run([b_job(10)], a_jobs, pol=fair_policy(qos=qos))) == {}


def test_gpus_already_being_freed_are_not_preempted_for_twice() -> None:
    a_jobs = [
        a_job(1, range(0, 4), age=60, preempting=True),
        a_job(2, range(4, 6), age=60),
        a_job(3, range(6, 8), age=60),
    ]
    d = run([b_job(10)], a_jobs, pol=fair_policy())
    assert preempted(d) == {}
    assert d.pending[10].expected_start == NOW  # on the GPUs being freed


def test_a_preemption_never_delays_a_reservation_above_it() -> None:
    # b's 4-GPU job would fit on a's young job's GPUs, but the 8-GPU job of "c" at the
    # top holds a reservation for when a's jobs end, and b's job would outlast it.
    teams = [*TEAMS, Account(name="c", users=["carol"])]
    a_jobs = [a_job(1, range(0, 4), age=60), a_job(2, range(4, 8), age=30)]
    top = job(9, user="carol", account="c", gpus=8, submit_time=0.0)
    late = b_job(10, time_limit=100_000, submit_time=5.0)
    d = run([top, late], a_jobs, pol=fair_policy(accounts=teams))
    assert 10 not in preempted(d)
    assert d.pending[10].reason in {"Resources", "Priority"}


def test_the_preemptor_counts_as_started_so_the_walk_goes_on() -> None:
    # Two accounts below their share, each takes a young job of "a" (which holds all 8).
    teams = [*TEAMS, Account(name="c", users=["carol"])]
    a_jobs = [
        a_job(1, (0, 1), age=9000),
        a_job(2, (2, 3), age=8000),
        a_job(3, (4, 5), age=50),
        a_job(4, (6, 7), age=40),
    ]
    carol = job(11, user="carol", account="c", gpus=2)
    d = run([b_job(10, gpus=2), carol], a_jobs, pol=fair_policy(accounts=teams))
    victims = {v for victims, _ in preempted(d).values() for v in victims}
    assert set(preempted(d)) == {10, 11} and victims == {3, 4}
    gpus = [g for _, placed in preempted(d).values() for g in placed]
    assert sorted(gpus) == [4, 5, 6, 7]  # no GPU given twice


def test_a_smaller_job_of_the_account_tries_when_its_larger_one_cannot() -> None:
    # b's 8-GPU job would leave "a" with nothing; b's 2-GPU job, behind it, may take one
    # of a's small jobs (short enough not to delay the big one's reservation).
    a_jobs = [a_job(k, (2 * k, 2 * k + 1), age=60 * (k + 1)) for k in range(4)]
    big = b_job(10, gpus=8, submit_time=1.0)
    small = b_job(11, gpus=2, submit_time=2.0, time_limit=300)
    d = run([big, small], a_jobs, pol=fair_policy())
    assert preempted(d) == {11: ((0,), (0, 1))}


def test_no_new_fair_share_preemption_while_victims_are_still_stopping() -> None:
    teams = [*TEAMS, Account(name="c", users=["carol"])]
    a_jobs = [
        a_job(1, (0, 1), age=60, preempting=True),
        a_job(2, (2, 3), age=60),
        a_job(3, (4, 5), age=60),
        a_job(4, (6, 7), age=60),
    ]
    carol = job(11, user="carol", account="c", gpus=2)
    assert preempted(run([carol], a_jobs, pol=fair_policy(accounts=teams))) == {}
    a_jobs[0] = a_job(1, (0, 1), age=60)
    assert 11 in preempted(run([carol], a_jobs, pol=fair_policy(accounts=teams)))


def test_victims_come_from_the_account_furthest_above_its_share() -> None:
    # 16 GPUs: "a" holds 10, "c" 6 in young jobs; b (nothing) takes from a, though c's
    # jobs would lose less work and c could spare them: the GPUs go straight from the
    # most over-served account.
    teams = [*TEAMS, Account(name="c", users=["carol"])]
    hold = [a_job(k, (2 * k, 2 * k + 1), age=5000 - k) for k in range(5)]
    hold += [
        running(
            5 + k, user="carol", account="c", gpus=(10 + 2 * k, 11 + 2 * k), start_time=NOW - 10
        )
        for k in range(3)
    ]
    d = run([b_job(10, gpus=2)], hold, n_gpus=16, pol=fair_policy(accounts=teams))
    assert preempted(d) == {10: ((4,), (8, 9))}  # a's youngest


_ACCOUNTS = ("a", "b", "c", "d")


@settings(max_examples=300, deadline=None)
@given(
    held=st.dictionaries(st.sampled_from(_ACCOUNTS), st.integers(0, 16)),
    changes=st.lists(st.tuples(st.sampled_from(_ACCOUNTS), st.integers(-4, 8)), max_size=8),
    asks=st.lists(st.tuples(st.sampled_from(_ACCOUNTS), st.integers(1, 8)), min_size=1),
)
def test_shares_kept_up_to_date_answer_as_shares_built_afresh(
    held: dict[str, int], changes: list[tuple[str, int]], asks: list[tuple[str, int]]
) -> None:
    """FairShares.add updates the two highest shares in place on a start: after any
    starts and stops, may_preempt answers as shares built from the same holdings."""
    pol = policy(
        accounts=[Account(name=name, shares=1 + i) for i, name in enumerate(_ACCOUNTS)],
        fairshare_preemption=True,
    )
    kept = FairShares(pol, held, lambda _model: 8)
    now = dict(held)
    for asked in asks[:1]:  # the cache is built by a first question, then kept
        kept.may_preempt(job(account=asked[0], gpus=asked[1]))
    for account, gpus in changes:
        gpus = max(gpus, -now.get(account, 0))  # nothing holds fewer than 0 GPUs
        kept.add(account, gpus)
        now[account] = now.get(account, 0) + gpus
        fresh = FairShares(pol, now, lambda _model: 8)
        for account_asking, size in asks:
            probe = job(account=account_asking, gpus=size)
            assert kept.may_preempt(probe) == fresh.may_preempt(probe)
