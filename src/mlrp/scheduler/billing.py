"""What one GPU-second costs in fair-share usage (Slurm's TRESBillingWeights and QOS
UsageFactor, for GPUs only).

rate = the GPU model's billing weight x the QOS's usage factor, where

* the weight is `policy.billing[model]`, matched case-insensitively on the whole model
  name as the hardware reports it (the same match as a job's `gpu_type`); a model that
  is not listed, or an unknown model (None), weighs 1.0;
* the usage factor is the QOS's `usage_factor` (0: free of charge); a QOS the policy
  does not define counts 1.0.
"""

from __future__ import annotations

from mlrp.models.policy import Policy


def gpu_weight(policy: Policy, gpu_model: str | None) -> float:
    """The billing weight of one GPU-second of `gpu_model` (unlisted or None: 1.0)."""
    if gpu_model is None:
        return 1.0
    wanted = gpu_model.lower()
    for model, weight in policy.billing.items():
        if model.lower() == wanted:
            return max(weight, 0.0)
    return 1.0


def usage_factor(policy: Policy, qos: str) -> float:
    """The usage factor of the QOS named `qos` (a QOS the policy lacks: 1.0)."""
    found = policy.qos_named(qos)
    return 1.0 if found is None else found.usage_factor


def billing_rate(policy: Policy, gpu_model: str | None, qos: str) -> float:
    """Fair-share usage charged for one GPU-second of `gpu_model` under `qos`."""
    return gpu_weight(policy, gpu_model) * usage_factor(policy, qos)
