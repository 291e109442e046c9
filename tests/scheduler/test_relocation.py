"""Moving jobs to make a whole node for a fair-share preemptor: when every node also
runs jobs of accounts that are not above the preemptor's share, the jobs in the way are
moved to free GPUs elsewhere, with at least one real victim on the node, and never
when they cannot all be placed, are of a higher QOS, or the policy says no."""

from __future__ import annotations

from sched_factory import NOW, job, policy, running

from mlrp.models.policy import Account, Qos
from mlrp.scheduler import Decisions, GpuSlot, RunningJob, Snapshot, decide

PER_NODE = 8


def slots(nodes: int) -> tuple[GpuSlot, ...]:
    return tuple(GpuSlot(i, "a100", node=f"n{i // PER_NODE}") for i in range(nodes * PER_NODE))


def on(
    account: str, id: int, gpus: range | tuple[int, ...], age: float, **kw: object
) -> RunningJob:
    return running(id, user=f"{account}-user", account=account, gpus=gpus,
                   start_time=NOW - age, **kw)  # fmt: skip


def fragmented(keeper_qos: str = "normal") -> list[RunningJob]:
    """Account a holds 12 of 24 GPUs, c holds 6, b none; no node can be emptied by
    stopping a's jobs alone: n0 holds a 4-GPU job of a beside four 1-GPU jobs of c,
    n1 two old 4-GPU jobs of a (a may lose only one), n2 two jobs of c and 6 free."""
    return [
        on("a", 1, range(0, 4), age=60),
        *(on("c", 6 + g, (g,), age=60, qos=keeper_qos) for g in range(4, 8)),
        on("a", 2, range(8, 12), age=9000),
        on("a", 3, range(12, 16), age=9000),
        on("c", 20, (16,), age=9000),
        on("c", 21, (17,), age=9000),
    ]


def decide_for_b(run: list[RunningJob], accounts: str = "abc", **kw: object) -> Decisions:
    pol = policy(
        accounts=[Account(name=a, users=[f"{a}-user"]) for a in accounts],
        fairshare_preemption=True,
        qos=[Qos(name="normal"), Qos(name="high", priority=100)],
        **kw,
    )
    wanted = job(100, user="b-user", account="b", gpus=8)
    held = {g: r.id for r in run for g in r.gpus}
    gpus = tuple(GpuSlot(s.index, s.model, held.get(s.index), s.node) for s in slots(3))
    return decide(Snapshot(now=NOW, policy=pol, gpus=gpus, pending=(wanted,), running=tuple(run)))


def test_jobs_in_the_way_move_to_free_gpus_elsewhere_and_the_preemptor_gets_the_node() -> None:
    d = decide_for_b(fragmented())
    [preemption] = d.preemptions
    assert preemption.job_id == 100
    assert preemption.gpus == tuple(range(8))  # all of n0
    assert set(preemption.victims) == {1, 10, 11, 12, 13}  # a's job, and c's in the way
    assert set(preemption.moved) == {10, 11, 12, 13}  # c keeps its share: they restart
    assert d.pending[100].reason == "Preempting"
    assert "moved" in preemption.cause_for(10) and preemption.cause_for(1) == "fair share"


def test_without_the_policy_switch_the_job_waits() -> None:
    d = decide_for_b(fragmented(), fairshare_relocation=False)
    assert d.preemptions == ()
    assert d.pending[100].reason == "Resources"


def test_jobs_of_a_higher_qos_are_not_moved() -> None:
    assert decide_for_b(fragmented(keeper_qos="high")).preemptions == ()


def test_nothing_moves_when_the_jobs_in_the_way_cannot_all_be_placed_elsewhere() -> None:
    # d fills five of n2's six free GPUs: c's four jobs on n0 would have one GPU to go to
    run = [*fragmented(), *(on("d", 20 + g, (g,), age=60) for g in range(18, 23))]
    d = decide_for_b(run, accounts="abcd")
    assert d.preemptions == ()
    assert d.pending[100].reason == "Resources"


def test_a_node_without_a_victim_is_not_emptied_by_moving_jobs_alone() -> None:
    # n0: three jobs of c and 5 free GPUs; moving c's jobs to n2's 3 free GPUs would
    # empty it, but no account above b's share would give anything there. n1: a may
    # lose one of its two jobs only; n2: a's job, d's job of a higher QOS, 3 free.
    run = [
        *(on("c", 10 + g, (g,), age=60) for g in range(0, 3)),
        on("a", 2, range(8, 12), age=9000),
        on("a", 3, range(12, 16), age=9000),
        on("a", 4, range(16, 20), age=9000),
        on("d", 5, (20,), age=60, qos="high"),
    ]
    d = decide_for_b(run, accounts="abcd")
    assert d.preemptions == ()
    assert d.pending[100].reason == "Resources"


def decide_on_two_models(moved_model: str | None) -> Decisions:
    """n0-n2 of A100s, n3 of V100s; b asks for 8 A100s. n0: d's job of a higher QOS;
    n1: a's two old 4-GPU jobs (a may lose only one); n2: a's 2-GPU job, two 1-GPU jobs
    of c that asked for `moved_model`, 4 free; n3: a's 2-GPU job, 6 free. No A100 is free
    outside n2: c's jobs can go only to the V100s."""
    run = [
        on("d", 1, range(0, 8), age=9000, qos="high"),
        on("a", 2, range(8, 12), age=9000),
        on("a", 3, range(12, 16), age=9000),
        on("a", 4, (16, 17), age=60),
        *(on("c", g, (g,), age=60, gpu_type=moved_model) for g in (18, 19)),
        on("a", 5, (24, 25), age=9000),
    ]
    pol = policy(
        accounts=[Account(name=a, users=[f"{a}-user"]) for a in "abcd"],
        fairshare_preemption=True,
        qos=[Qos(name="normal"), Qos(name="high", priority=100)],
    )
    held = {g: r.id for r in run for g in r.gpus}
    models = ["a100"] * 3 * PER_NODE + ["v100"] * PER_NODE
    gpus = tuple(
        GpuSlot(i, model, held.get(i), f"n{i // PER_NODE}") for i, model in enumerate(models)
    )
    wanted = job(100, user="b-user", account="b", gpus=8, gpu_type="A100")
    return decide(Snapshot(now=NOW, policy=pol, gpus=gpus, pending=(wanted,), running=tuple(run)))


def test_on_two_models_jobs_that_asked_for_none_move_to_the_other_model() -> None:
    [preemption] = decide_on_two_models(moved_model=None).preemptions
    assert preemption.gpus == tuple(range(16, 24))  # all of n2, of the model b asked for
    assert set(preemption.victims) == {4, 18, 19}  # a's job there, and c's
    assert set(preemption.moved) == {18, 19}  # to the free V100s of n3


def test_a_job_that_asked_for_a_model_is_not_moved_to_another() -> None:
    d = decide_on_two_models(moved_model="a100")  # no A100 free for them elsewhere
    assert d.preemptions == ()
    assert d.pending[100].reason == "ResourcesGpuModel"  # waits for A100s
