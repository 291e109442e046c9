"""Grow a lab into Slurm: render slurm.conf, gres.conf, cgroup.conf and the sacctmgr
commands (accounts.sh) from mlrp's hardware inventory and scheduling policy.

Pure: values in (`NodeHardware` per node, a `Policy`, `SiteOptions`), text out
(`SlurmFiles`); nothing here reads a file, a clock or the machine. What cannot be
written as Slurm configuration (a node name that is no host name, an account name with
a space, a half-life of 90.5 seconds) raises ConfigError naming the value.

How mlrp's policy maps onto Slurm:

    mlrp [scheduler]                    Slurm
    half_life, age_max                  PriorityDecayHalfLife, PriorityMaxAge
    weights.age/fairshare/qos/partition PriorityWeightAge/Fairshare/QOS/Partition
    weights.job_size (GPUs / all GPUs)  PriorityWeightTRES=GRES/gpu=W (GPUs / the
                                        partition's GPUs; PriorityWeightJobSize=0)
    fairshare = "fair_tree" | "classic" Fair Tree (Slurm's default) | NO_FAIR_TREE
    billing {model = weight}            TRESBillingWeights GRES/gpu:TYPE=weight on
                                        every partition (unlisted models 1.0; CPU and
                                        memory free, as in mlrp)
    backfill, backfill_depth            sched/backfill bf_max_job_test | sched/builtin
    partitions                          PartitionName: MaxTime, DefaultTime,
                                        PriorityJobFactor=priority_tier; GPU limits in
                                        a partition QOS "part_NAME"
    qos: priority, preempt,             QOS Priority, Preempt, PreemptMode, UsageFactor,
         preempt_mode, usage_factor,    MaxTRESPerUser / GrpTRES gres/gpu,
         max_gpus_per_user, max_gpus,   MaxSubmitJobsPerUser, MaxWall (with DenyOnLimit,
         max_pending_per_user, max_time as mlrp refuses what can never run)
    accounts: shares, parent, users,    accounts (Fairshare, Parent), user associations,
              max_gpus, max_gpus_per_user  GrpTRES=gres/gpu on the account / per user

A GPU model becomes a GRES type the way Slurm's NVML autodetection names it: lower case,
spaces as underscores ("NVIDIA A100-SXM4-80GB" -> "nvidia_a100-sxm4-80gb").
Slurm counts times in whole minutes, so a duration must be one.

The modules, one job each: `values` (what goes in and comes out), `names` (names and
values as Slurm writes them), `nodes` (the nodes, from `--nodes`, this machine or an
inventory file), `slurm_conf`, `gres` (gres.conf and cgroup.conf) and `accounts`
(accounts.sh).
"""

from __future__ import annotations

from collections.abc import Sequence

from mlrp.models.policy import Policy
from mlrp.slurm.confgen.accounts import accounts_in_order, render_accounts
from mlrp.slurm.confgen.gres import device_files, render_cgroup_conf, render_gres_conf
from mlrp.slurm.confgen.names import (
    UINT32_MAX,
    check_host_name,
    check_name,
    check_policy_names,
    gpu_type,
    has_gpu_limits,
    hostlist,
    number,
    partition_qos_name,
    ranges,
    slurm_time,
    weight,
)
from mlrp.slurm.confgen.nodes import (
    check_nodes,
    gpu_groups,
    machine_node,
    named,
    node_names,
    parse_inventory,
    uniform_gpus,
    with_overrides,
)
from mlrp.slurm.confgen.slurm_conf import billing_weights, controller, render_slurm_conf
from mlrp.slurm.confgen.values import GpuGroup, NodeHardware, SiteOptions, SlurmFiles

__all__ = [
    "UINT32_MAX",
    "GpuGroup",
    "NodeHardware",
    "SiteOptions",
    "SlurmFiles",
    "accounts_in_order",
    "billing_weights",
    "check_host_name",
    "check_name",
    "check_nodes",
    "check_policy_names",
    "controller",
    "device_files",
    "gpu_groups",
    "gpu_type",
    "has_gpu_limits",
    "hostlist",
    "machine_node",
    "named",
    "node_names",
    "number",
    "parse_inventory",
    "partition_qos_name",
    "ranges",
    "render",
    "render_accounts",
    "render_cgroup_conf",
    "render_gres_conf",
    "render_slurm_conf",
    "slurm_time",
    "uniform_gpus",
    "weight",
    "with_overrides",
]


def render(nodes: Sequence[NodeHardware], policy: Policy, options: SiteOptions) -> SlurmFiles:
    """All four files of a cluster of `nodes` run under `policy`."""
    check_nodes(nodes)
    check_policy_names(policy)
    return SlurmFiles(
        slurm_conf=render_slurm_conf(nodes, policy, options),
        gres_conf=render_gres_conf(nodes, options),
        cgroup_conf=render_cgroup_conf(options),
        accounts_sh=render_accounts(policy, options),
    )
