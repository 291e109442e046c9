"""Fair-share preemption: a job of an account below its fair share may take GPUs from
jobs of accounts above theirs (`Policy.fairshare_preemption`).

Fair-share priority alone orders the queue; it cannot help an account whose jobs wait
for GPUs that other accounts' multi-day jobs hold. So, as Kueue's fair sharing does
between cluster queues, a pass may stop such jobs:

* an account's *share* is the GPUs its running jobs hold (not counting jobs being
  preempted; counting those this pass starts) over its entitlement S (its normalized
  shares down the account tree, Slurm's S);
* a pending job J of account A asking for n GPUs, blocked by resources, may preempt a
  running job V of another account B when, after the preemption, A with J is still
  not above B without V:  (held(A) + n) / S(A) <= (held(B) - gpus(V)) / S(B) (Kueue's
  "LessThanOrEqualToFinalShare"). B cannot then take the GPUs straight back by the
  same rule, so two preemptions never undo each other, and the accounts with work
  waiting move towards max-min fair shares of the cluster (each its part, by S, of
  what the others leave);
* a job that spans nodes (`Policy.fairshare_gang_overshoot`) needs only A *without*
  it to be below B without V: held(A) / S(A) < (held(B) - gpus(V)) / S(B). By the
  first rule an account whose waiting work is all, say, 32-GPU gangs could stay short
  of its share by a whole gang plus a victim (32 + 8 of a fair 88 on the Philly trace);
  now it may end above B, by less than the job. Either rule only ever raises the
  lowest share a preemption touches (every account it changes ends above A's share
  before it), so the sorted shares of the accounts rise with each preemption and no
  sequence of them can come back to where it started. Jobs within a node keep the
  first rule: for them its wider margin saves many preemptions for little fairness;
* V's QOS must not have a higher priority than J's; an account outside the tree
  (S unknown) never preempts and is never a victim;
* the victims come from one account if they can, the account highest above its share
  first (as Kueue orders candidates), so that GPUs go to the under-served account
  straight from the most over-served one rather than down a chain of preemptions;
  otherwise from several. Among those, the cheapest in lost work
  (preemption.cheapest_victims); J must fit on the GPUs they free without delaying
  any reservation of the pass.

When every node also runs jobs of accounts that are not above the preemptor's share,
victims alone free no node for a job that needs one: relocation.py then moves those
jobs elsewhere (`Policy.fairshare_relocation`).

In a pass, the first blocked job of each class (jobs of one user, account, QOS and
size: see core.py) tries, in priority order; once a job finds no victims, larger jobs
of its account and GPU model do not try until a preemption succeeds. No new fair-share
preemption is decided
while victims of an earlier one are still stopping (the daemon's grace time): the
shares are then in flux.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

from mlrp.models.policy import Policy
from mlrp.scheduler.fairshare import share_tree
from mlrp.scheduler.policy_cache import per_policy
from mlrp.scheduler.snapshot import QueuedJob, RunningJob

SHARE_TOLERANCE = 1e-9  # GPUs: float rounding in held - share x entitlement


@per_policy
def entitlements(policy: Policy) -> dict[str, float]:
    """Each account's normalized share of the whole cluster (Slurm's S, down the tree)."""
    return {r.account: r.norm_shares for r in share_tree(policy, {}) if r.user is None}


class FairShares:
    """The accounts' shares during one pass, and whether a preemption keeps them fair."""

    __slots__ = ("_entitlement", "_held", "_node_capacity", "_overshoot", "_qos_priority", "_top")

    def __init__(
        self,
        policy: Policy,
        held: Mapping[str, int],
        node_capacity: Callable[[str | None], int],
    ) -> None:
        """`held`: account -> the GPUs its running jobs hold (not counting jobs being
        preempted); `node_capacity`: GPU model (lower-case; None: any) -> the most GPUs
        of it one node has."""
        self._entitlement = entitlements(policy)
        self._qos_priority = {q.name: q.priority for q in policy.qos}
        self._held = dict(held)
        self._overshoot = policy.fairshare_gang_overshoot
        self._node_capacity = node_capacity
        # the two highest shares an account holding GPUs has after losing one, with
        # the accounts (cache, see may_preempt)
        self._top: list[tuple[float, str]] | None = None

    def add(self, account: str, gpus: int) -> None:
        """`account` holds `gpus` more (fewer, when negative)."""
        self._held[account] = self._held.get(account, 0) + gpus
        top = self._top
        if top is None:
            return
        if gpus > 0 and account in self._entitlement and self._held[account] > 0:
            # a share that grows stays in the top two, or enters it by passing the
            # second; the others keep their places
            top = [entry for entry in top if entry[1] != account]
            top.append((self.share(account, -1), account))
            top.sort(reverse=True)
            self._top = top[:2]
        elif gpus:  # a share that falls may leave the top two: work it out again
            self._top = None

    def floor(self, account: str, gpus: int, gpu_type: str | None) -> tuple[float, float]:
        """(the share every victim account must keep for a job of `account` asking for
        `gpus` of `gpu_type`, the GPUs a victim account may lose beyond it: a tolerance
        of float rounding, negative where it must stay strictly above)."""
        if self._overshoot and gpus > self._node_capacity(gpu_type.lower() if gpu_type else None):
            return self.share(account), -SHARE_TOLERANCE
        return self.share(account, gpus), SHARE_TOLERANCE

    def held(self, account: str) -> int:
        return self._held.get(account, 0)

    def share(self, account: str, change: int = 0) -> float:
        """held / entitlement, after adding `change` GPUs; inf outside the tree."""
        entitled = self._entitlement.get(account, 0.0)
        if entitled <= 0:
            return math.inf
        return (self.held(account) + change) / entitled

    def may_preempt(self, job: QueuedJob) -> bool:
        """Whether some other account is far enough above `job`'s account that one of
        its GPUs could go to `job` (a cheap test before looking for victims)."""
        mine = self.floor(job.account, job.gpus, job.gpu_type)[0]
        if math.isinf(mine):
            return False
        if self._top is None:
            entitled = self._entitlement
            self._top = sorted(
                (
                    (self.share(account, -1), account)
                    for account, held in self._held.items()
                    if held > 0 and account in entitled
                ),
                reverse=True,
            )[:2]
        return any(share >= mine for share, account in self._top if account != job.account)

    def stoppable(self, job: QueuedJob) -> dict[str, float]:
        """account -> the most GPUs it may lose to `job` and keep the share `floor`
        asks: also the largest of its jobs `job` may stop."""
        mine, margin = self.floor(job.account, job.gpus, job.gpu_type)
        return {
            account: held - mine * self._entitlement[account] + margin
            for account, held in self._held.items()
            if account != job.account and account in self._entitlement
        }

    def victim_test(
        self, job: QueuedJob, most: Mapping[str, float] | None = None
    ) -> Callable[[RunningJob], bool]:
        """Whether `job` may preempt a running job alone: the test, for many of them.
        `most`: `stoppable(job)`, when the caller has it."""
        if most is None:
            most = self.stoppable(job)
        qos_priority = self._qos_priority
        ceiling = qos_priority.get(job.qos, 0)
        least = -math.inf
        if max(qos_priority.values(), default=0) <= ceiling and ceiling >= 0:  # any QOS

            def may_stop_any_qos(victim: RunningJob) -> bool:
                return len(victim.gpus) <= most.get(victim.account, least)

            return may_stop_any_qos

        def may_stop(victim: RunningJob) -> bool:
            return (
                len(victim.gpus) <= most.get(victim.account, least)
                and qos_priority.get(victim.qos, 0) <= ceiling
            )

        return may_stop

    def may_move(self, job: QueuedJob) -> Callable[[RunningJob], bool]:
        """Whether `job` may have a running job moved to make room (relocation.py): one
        of another account, of a QOS no higher than its own."""
        qos_priority = self._qos_priority
        ceiling = qos_priority.get(job.qos, 0)
        account = job.account

        def movable(other: RunningJob) -> bool:
            return other.account != account and qos_priority.get(other.qos, 0) <= ceiling

        return movable

    def freeable(self, account: str, gpus: int, gpu_type: str | None) -> int:
        """The most GPUs preemptions for a job of `account` asking for `gpus` of
        `gpu_type` may free: every other account's GPUs above the share `floor` asks,
        summed."""
        mine, margin = self.floor(account, gpus, gpu_type)
        entitled = self._entitlement
        return sum(
            max(math.floor(held - mine * entitled[other] + margin), 0)
            for other, held in self._held.items()
            if other != account and other in entitled
        )

    def over_first(self, job: QueuedJob) -> list[str]:
        """The other accounts `job` might take GPUs from, highest share first."""
        mine, margin = self.floor(job.account, job.gpus, job.gpu_type)
        others = [
            (-self.share(account), account)
            for account, held in self._held.items()
            if account != job.account
            and account in self._entitlement
            and held - mine * self._entitlement[account] + margin >= 1
        ]
        return [account for _, account in sorted(others)]

    def keeps_fair(self, job: QueuedJob, victims: Iterable[RunningJob]) -> bool:
        """Whether every victim account keeps the share `floor` asks once all of
        `victims` are stopped."""
        lost: dict[str, int] = {}
        for victim in victims:
            lost[victim.account] = lost.get(victim.account, 0) + len(victim.gpus)
        mine, margin = self.floor(job.account, job.gpus, job.gpu_type)
        return all(
            (self.held(account) - gpus) + margin >= mine * self._entitlement[account]
            for account, gpus in lost.items()
        )
