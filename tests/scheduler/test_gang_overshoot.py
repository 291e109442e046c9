"""Fair-share preemption for jobs that span nodes: an account whose waiting work is a
multi-node gang may take GPUs while its share without the gang is below what each
victim account keeps, so it does not stay a whole gang short of its share; a job within
one node keeps the stricter rule; and no preemption either rule allows can ever be
undone by a chain of others (the sorted shares of the accounts only rise)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from sched_factory import NOW, job, policy, running

from mlrp.models.policy import Account
from mlrp.scheduler import Decisions, GpuSlot, RunningJob, Snapshot, decide
from mlrp.scheduler.fair_preemption import FairShares

PER_NODE = 8


def node_of(account: str, id: int, node: int, age: float) -> RunningJob:
    """A one-node job of `account` on all of node `node`."""
    gpus = range(node * PER_NODE, (node + 1) * PER_NODE)
    return running(id, user=f"{account}-user", account=account, gpus=gpus,
                   start_time=NOW - age)  # fmt: skip


def decide_for_a_gang(**kw: object) -> Decisions:
    """80 GPUs on 10 nodes: a holds one 16-GPU gang (n0-n1), b and c four whole nodes
    each; a's second 16-GPU gang waits. Fair for three backlogged teams: 26.7 each.
    With the gang a would hold 32 against the 24 b and c keep after losing a node each:
    the rule for jobs within a node forbids it, the rule for gangs allows it (16 < 24)."""
    pol = policy(
        accounts=[Account(name=a, users=[f"{a}-user"]) for a in "abc"],
        fairshare_preemption=True,
        **kw,
    )
    run = [
        running(1, user="a-user", account="a", gpus=range(16), start_time=NOW - 9000),
        *(node_of("b", 10 + k, 2 + k, age=5000 - k) for k in range(4)),
        *(node_of("c", 20 + k, 6 + k, age=5000 - k) for k in range(4)),
    ]
    held = {g: r.id for r in run for g in r.gpus}
    gpus = tuple(GpuSlot(i, "a100", held.get(i), f"n{i // PER_NODE}") for i in range(80))
    gang = job(100, user="a-user", account="a", gpus=16)
    return decide(Snapshot(now=NOW, policy=pol, gpus=gpus, pending=(gang,), running=tuple(run)))


def test_a_gang_short_of_its_share_takes_a_node_from_each_account_above() -> None:
    d = decide_for_a_gang()
    [preemption] = d.preemptions
    assert preemption.job_id == 100
    # one node from each of b and c (their youngest), not two from one: b would keep
    # 16, no more than a without the gang
    assert set(preemption.victims) == {13, 23}
    assert sorted(preemption.gpus) == [*range(40, 48), *range(72, 80)]
    assert d.pending[100].reason == "Preempting"


def test_without_gang_overshoot_the_gang_waits_a_whole_gang_short() -> None:
    d = decide_for_a_gang(fairshare_gang_overshoot=False)
    assert d.preemptions == ()
    assert d.pending[100].reason == "Resources"


def shares(**held: int) -> FairShares:
    pol = policy(accounts=[Account(name=a) for a in "ab"], fairshare_preemption=True)
    return FairShares(pol, held, lambda _model: PER_NODE)


def test_only_a_job_larger_than_a_node_counts_without_itself() -> None:
    # a holds 24, b 36: b must keep more than a's 24 for a gang, at least a's 32 for an
    # 8-GPU job of a
    fair = shares(a=24, b=36)
    one_node, gang = job(account="a", gpus=8), job(account="a", gpus=16)
    assert fair.stoppable(one_node)["b"] < 8 <= fair.stoppable(gang)["b"]
    assert fair.freeable("a", 8, None) == 4
    assert fair.freeable("a", 16, None) == 11  # 12 would leave b level with a: not above


def test_a_model_with_smaller_nodes_makes_a_smaller_job_a_gang() -> None:
    pol = policy(accounts=[Account(name=a) for a in "ab"], fairshare_preemption=True)
    fair = FairShares(pol, {"a": 24, "b": 36}, lambda model: 4 if model == "v100" else 8)
    assert fair.stoppable(job(account="a", gpus=8, gpu_type="V100"))["b"] >= 8
    assert fair.stoppable(job(account="a", gpus=8, gpu_type="a100"))["b"] < 8


ACCOUNTS = ("a", "b", "c", "d")


@settings(max_examples=400, deadline=None)
@given(
    entitled=st.lists(st.integers(1, 4), min_size=4, max_size=4),
    held=st.lists(st.integers(0, 40), min_size=4, max_size=4),
    size=st.integers(1, 32),
    lost=st.lists(st.integers(0, 40), min_size=4, max_size=4),
    overshoot=st.booleans(),
)
def test_every_allowed_preemption_raises_the_sorted_shares(
    entitled: list[int], held: list[int], size: int, lost: list[int], overshoot: bool
) -> None:
    """Whatever the rule, a preemption FairShares allows leaves every account it changes
    above the preemptor's share before it: the accounts' shares, sorted, rise
    lexicographically, so no sequence of preemptions returns to where it started (no
    ping-pong)."""
    pol = policy(
        accounts=[Account(name=a, shares=s) for a, s in zip(ACCOUNTS, entitled, strict=True)],
        fairshare_preemption=True,
        fairshare_gang_overshoot=overshoot,
    )
    before = dict(zip(ACCOUNTS, held, strict=True))
    fair = FairShares(pol, before, lambda _model: PER_NODE)
    preemptor = job(account="a", gpus=size)
    # one victim per other account, of the GPUs it loses (none: no victim)
    victims = [
        running(k, account=account, gpus=range(gpus))
        for k, (account, gpus) in enumerate(zip(ACCOUNTS[1:], lost[1:], strict=True))
        if 0 < gpus <= before[account]
    ]
    may_stop = fair.victim_test(preemptor)
    if not victims or not all(map(may_stop, victims)) or not fair.keeps_fair(preemptor, victims):
        return
    after = dict(before)
    after["a"] += size
    for victim in victims:
        after[victim.account] -= len(victim.gpus)
    total = sum(entitled)

    def sorted_shares(gpus: dict[str, int]) -> list[float]:
        return sorted(gpus[a] * total / s for a, s in zip(ACCOUNTS, entitled, strict=True))

    assert sorted_shares(after) > sorted_shares(before)
    if overshoot and size > PER_NODE:  # a may end above its victims, by less than the gang
        assert all(
            (after["a"] - size) * entitled[ACCOUNTS.index(v.account)]
            < after[v.account] * entitled[0]
            for v in victims
        )
