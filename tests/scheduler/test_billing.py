"""Billing: a GPU-second costs the model's billing weight x the QOS usage factor, and
the daemon's accounting charges running jobs at that rate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlrp.config import Config
from mlrp.executors.fake import FakeExecutor
from mlrp.models.hardware import Gpu, Inventory
from mlrp.models.jobs import Job, JobSpec
from mlrp.models.policy import Policy, Qos
from mlrp.models.states import JobState
from mlrp.scheduler import billing_rate
from mlrp.services import accounting
from mlrp.services.context import Platform
from mlrp.store import Store

H200 = "NVIDIA H200"
A100 = "NVIDIA A100-SXM4-80GB"
POLICY = Policy(
    billing={"nvidia h200": 2.0, "NVIDIA A100-SXM4-80GB": 1.5},
    qos=[
        Qos(name="normal", preempt=["scavenger"]),
        Qos(name="scavenger", usage_factor=0.25),
        Qos(name="free", usage_factor=0.0),
    ],
)


@pytest.mark.parametrize(
    ("gpu_model", "qos", "rate"),
    [
        (None, "normal", 1.0),  # model unknown: weight 1
        ("nvidia h200", "normal", 2.0),
        (H200, "normal", 2.0),  # case-insensitive
        ("nvidia a100-sxm4-80gb", "normal", 1.5),  # key given in mixed case
        ("h200", "normal", 1.0),  # the whole model name must match
        ("Tesla V100", "normal", 1.0),  # unlisted model: weight 1
        (H200, "scavenger", 0.5),  # weight x usage factor
        (None, "scavenger", 0.25),
        (H200, "free", 0.0),  # usage factor 0: free
        (H200, "no-such-qos", 2.0),  # unknown QOS: factor 1
    ],
)
def test_billing_rate(gpu_model: str | None, qos: str, rate: float) -> None:
    assert billing_rate(POLICY, gpu_model, qos) == pytest.approx(rate)


def test_negative_billing_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="billing"):
        Policy(billing={"broken": -3.0})


def test_default_policy_rates() -> None:
    policy = Policy()
    assert billing_rate(policy, H200, "normal") == 1.0
    assert billing_rate(policy, H200, "high") == 1.0
    assert billing_rate(policy, H200, "scavenger") == 0.25


# --- accounting ----------------------------------------------------------------------

T0 = 1_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def platform(tmp_path: Path, clock: Clock) -> Iterator[Platform]:
    gpus = [
        Gpu(index=0, uuid="GPU-0", model=H200, memory_mb=141_000),
        Gpu(index=1, uuid="GPU-1", model=H200, memory_mb=141_000),
        Gpu(index=2, uuid="GPU-2", model=A100, memory_mb=80_000),
        Gpu(index=3, uuid="GPU-3", model="Tesla V100", memory_mb=32_000),
    ]
    store = Store(tmp_path / "state.db")
    yield Platform(
        config=Config(scheduler=POLICY),
        home=tmp_path,
        store=store,
        inventory=Inventory(hostname="node", gpus=gpus),
        executor=FakeExecutor(clock),
        clock=clock,
        multi_user=False,
    )
    store.close()


def start_job(
    platform: Platform, gpus: list[int], *, qos: str = "normal", gpu_type: str | None = None
) -> Job:
    """A RUNNING job of alice (account vision) on `gpus`, started at T0."""
    spec = JobSpec(argv=["true"], gpus=len(gpus), gpu_type=gpu_type)
    pending = Job(
        id=0, name="train", user="alice", uid=1000, gid=1000, account="vision",
        partition="batch", qos=qos, state=JobState.PENDING, spec=spec, submit_time=T0,
        time_limit=3600,
    )  # fmt: skip
    [job_id] = platform.store.insert_jobs([pending], as_array=False)
    moved = platform.store.transition(
        job_id, JobState.PENDING, JobState.RUNNING, gpus=gpus, start_time=T0
    )
    assert moved
    job = platform.store.get(job_id)
    assert job is not None
    return job


@pytest.mark.parametrize(
    ("gpus", "qos", "gpu_type", "per_second"),
    [
        ([0, 1], "normal", None, 4.0),  # 2 H200 x 2.0
        ([1, 2], "normal", None, 3.5),  # H200 2.0 + A100 1.5: each GPU's own model
        ([2], "normal", "nvidia h200", 1.5),  # the real model wins over the request
        ([3], "normal", None, 1.0),  # unlisted model
        ([0, 1], "scavenger", None, 1.0),  # 4.0 x 0.25
        ([0], "free", None, 0.0),
        ([7], "normal", "nvidia h200", 2.0),  # not in the inventory: the request
        ([7], "normal", None, 1.0),  # neither: weight 1
    ],
)
def test_accrual_charges_billed_gpu_seconds(
    platform: Platform,
    clock: Clock,
    gpus: list[int],
    qos: str,
    gpu_type: str | None,
    per_second: float,
) -> None:
    accounting.last_accrual(platform)  # usage is up to date at T0
    job = start_job(platform, gpus, qos=qos, gpu_type=gpu_type)
    clock.now = T0 + 10
    accounting.accrue(platform, force=True)
    assert platform.store.usage().get(("vision", "alice"), 0.0) == pytest.approx(10 * per_second)
    # The end is charged from the last accrual on, at the same rate.
    accounting.charge_final(platform, job, T0 + 15)
    assert platform.store.usage().get(("vision", "alice"), 0.0) == pytest.approx(15 * per_second)
