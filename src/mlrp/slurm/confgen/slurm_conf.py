"""slurm.conf: the controller, paths, process tracking, scheduling, priority,
preemption, accounting, nodes and partitions, each a section of its own."""

from __future__ import annotations

from collections.abc import Sequence

from mlrp.models.policy import Partition, Policy
from mlrp.slurm.confgen.names import (
    block,
    check_host_name,
    check_name,
    gpu_type,
    has_gpu_limits,
    header,
    hostlist,
    number,
    optional,
    partition_qos_name,
    slurm_time,
    weight,
)
from mlrp.slurm.confgen.nodes import grouped
from mlrp.slurm.confgen.values import NodeHardware, SiteOptions


def render_slurm_conf(nodes: Sequence[NodeHardware], policy: Policy, options: SiteOptions) -> str:
    sections = [
        block(header("slurm.conf", options)),
        _control_section(nodes, options),
        _paths_section(options),
        _process_section(options),
        _scheduling_section(nodes, policy),
        _priority_section(policy, options),
        _preemption_section(policy),
        _accounting_section(nodes, options),
        _nodes_section(nodes, options),
        _partitions_section(nodes, policy, options),
    ]
    return "\n".join(sections)


def controller(nodes: Sequence[NodeHardware], options: SiteOptions) -> str:
    if options.controller is not None:
        check_host_name(options.controller, "controller")
        return options.controller
    return "localhost" if options.single_host else nodes[0].name


def _control_section(nodes: Sequence[NodeHardware], options: SiteOptions) -> str:
    check_name(options.cluster_name, "cluster")
    check_name(options.slurm_user, "SlurmUser")
    lines = [
        f"ClusterName={options.cluster_name.lower()}",
        f"SlurmctldHost={controller(nodes, options)}",
        *optional("SlurmctldPort", options.ctld_port),
        f"SlurmUser={options.slurm_user}",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
    ]
    if options.munge_socket is not None:
        lines.append(f"AuthInfo=socket={options.munge_socket}")
    return block(lines)


def _paths_section(options: SiteOptions) -> str:
    if options.state_dir is None:
        paths = {
            "StateSaveLocation": "/var/lib/slurm/slurmctld",
            "SlurmdSpoolDir": "/var/lib/slurm/slurmd",
            "SlurmctldPidFile": "/run/slurmctld.pid",
            "SlurmdPidFile": "/run/slurmd.pid",
            "SlurmctldLogFile": "/var/log/slurm/slurmctld.log",
            "SlurmdLogFile": "/var/log/slurm/slurmd.log",
        }
    else:
        d = options.state_dir.rstrip("/")
        paths = {
            "StateSaveLocation": f"{d}/state",
            "SlurmdSpoolDir": f"{d}/spool/slurmd.%n",
            "SlurmctldPidFile": f"{d}/run/slurmctld.pid",
            "SlurmdPidFile": f"{d}/run/slurmd.%n.pid",
            "SlurmctldLogFile": f"{d}/log/slurmctld.log",
            "SlurmdLogFile": f"{d}/log/slurmd.%n.log",
        }
    head = "# state, spool, pid and log files (the folders must exist)"
    return block([head, *(f"{k}={v}" for k, v in paths.items())])


def _process_section(options: SiteOptions) -> str:
    if options.cgroups:
        head = "# jobs tracked and confined (CPUs, memory, GPU devices) by cgroups"
        plugins = ["proctrack/cgroup", "task/cgroup,task/affinity", "jobacct_gather/cgroup"]
    else:
        head = "# no cgroups: jobs tracked by process tree, not confined"
        plugins = ["proctrack/linuxproc", "task/none", "jobacct_gather/linux"]
    lines = [
        head,
        f"ProctrackType={plugins[0]}",
        f"TaskPlugin={plugins[1]}",
        f"JobAcctGatherType={plugins[2]}",
        "MpiDefault=none",
        "ReturnToService=2",
        *optional("KillWait", options.kill_wait),
    ]
    if options.single_host:
        lines += [
            "# the nodes share one machine: slurm.conf's CPUs and memory count, not the host's",
            "SlurmdParameters=config_overrides",
        ]
    return block(lines)


def _scheduling_section(nodes: Sequence[NodeHardware], policy: Policy) -> str:
    if policy.backfill:
        lines = [
            f"# backfill (mlrp backfill_mode = {policy.backfill_mode!r}; Slurm's backfill is "
            "conservative:",
            "# it reserves for every job it tests, up to bf_max_job_test = mlrp backfill_depth)",
            "SchedulerType=sched/backfill",
            f"SchedulerParameters=bf_max_job_test={policy.backfill_depth}",
        ]
    else:
        lines = ["# mlrp backfill = false: strict priority order", "SchedulerType=sched/builtin"]
    mem_per_cpu = min(n.memory_mb // n.cpus for n in nodes)
    lines += [
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "# a job without --mem gets its CPUs' share of the smallest node's memory",
        f"DefMemPerCPU={max(mem_per_cpu, 1)}",
        "GresTypes=gpu",
    ]
    return block(lines)


def _priority_section(policy: Policy, options: SiteOptions) -> str:
    w = policy.weights
    job_size = f"PriorityWeightTRES=GRES/gpu={weight(w.job_size, 'weights.job_size')}"
    lines = [
        "# priority: mlrp's multifactor weights, usage half-life and age cap",
        "PriorityType=priority/multifactor",
        f"PriorityDecayHalfLife={slurm_time(policy.half_life, 'scheduler.half_life')}",
        "PriorityCalcPeriod=1",
        f"PriorityMaxAge={slurm_time(policy.age_max, 'scheduler.age_max')}",
        f"PriorityWeightAge={weight(w.age, 'weights.age')}",
        f"PriorityWeightFairshare={weight(w.fairshare, 'weights.fairshare')}",
        f"PriorityWeightQOS={weight(w.qos, 'weights.qos')}",
        f"PriorityWeightPartition={weight(w.partition, 'weights.partition')}",
        "# mlrp's job size is a job's share of the GPUs: weigh GPUs, not nodes or CPUs",
        "PriorityWeightJobSize=0",
        job_size if options.accounting else f"# {job_size} (needs accounting)",
    ]
    if policy.fairshare == "classic":
        lines += ["# mlrp fairshare = 'classic'", "PriorityFlags=NO_FAIR_TREE"]
    else:
        lines.append("# mlrp fairshare = 'fair_tree': Slurm's default, no PriorityFlags needed")
    return block(lines)


def _preemption_section(policy: Policy) -> str:
    unmatched = (
        [
            "# mlrp fairshare_preemption: Slurm has no equivalent (it preempts by QOS or",
            "# partition only); jobs below their fair share wait as in Slurm",
        ]
        if policy.fairshare_preemption
        else []
    )
    if not any(q.preempt for q in policy.qos):
        return block(
            [*unmatched, "# no QOS preempts another", "PreemptType=preempt/none", "PreemptMode=OFF"]
        )
    return block(
        [
            *unmatched,
            "# preemption by QOS (each QOS's Preempt= and PreemptMode= are in accounts.sh);",
            "# a preempted job is requeued unless its QOS says cancel",
            "PreemptType=preempt/qos",
            "PreemptMode=REQUEUE",
        ]
    )


def _gpu_tres(nodes: Sequence[NodeHardware]) -> list[str]:
    """The GRES types of the cluster, first appearance first."""
    types = (gpu_type(g.model) for n in nodes for g in n.gpus)
    return list(dict.fromkeys(types))


def _accounting_section(nodes: Sequence[NodeHardware], options: SiteOptions) -> str:
    tres = ",".join(["gres/gpu", *(f"gres/gpu:{t}" for t in _gpu_tres(nodes))])
    if not options.accounting:
        return block(
            [
                "# no accounting database: no associations, QOS, GPU TRES, billing or fair-share",
                "# usage; slurmctld ignores the age and fair-share weights (a first test only)",
                "AccountingStorageType=accounting_storage/none",
            ]
        )
    return block(
        [
            "# accounting in slurmdbd: usage per GPU type, associations and QOS enforced",
            "AccountingStorageType=accounting_storage/slurmdbd",
            f"AccountingStorageHost={options.accounting_host or controller(nodes, options)}",
            *optional("AccountingStoragePort", options.accounting_port),
            f"AccountingStorageTRES={tres}",
            "AccountingStorageEnforce=associations,limits,qos",
            *optional("AccountingStoragePass", options.munge_socket),
        ]
    )


def _nodes_section(nodes: Sequence[NodeHardware], options: SiteOptions) -> str:
    """One line a node on one machine (each slurmd its own port), else one line for
    each kind of node."""
    lines = ["# nodes"]
    if options.single_host:
        for i, node in enumerate(nodes):
            where = f" NodeHostname=localhost NodeAddr=127.0.0.1{_port(options, i)}"
            lines.append(_node_line(node.name, node, where))
    else:
        for same in grouped(nodes, _node_key):
            lines.append(_node_line(hostlist(n.name for n in same), same[0], _port(options)))
    return block(lines)


def _port(options: SiteOptions, offset: int = 0) -> str:
    return "" if options.slurmd_port is None else f" Port={options.slurmd_port + offset}"


def _node_key(node: NodeHardware) -> tuple[int, int, str]:
    return (node.cpus, node.memory_mb, _gres(node))


def _gres(node: NodeHardware) -> str:
    return ",".join(f"gpu:{gpu_type(g.model)}:{len(g.indices)}" for g in node.gpus)


def _node_line(names: str, node: NodeHardware, where: str) -> str:
    gres = f" Gres={_gres(node)}" if node.gpus else ""
    return (
        f"NodeName={names}{where} CPUs={node.cpus} RealMemory={node.memory_mb}{gres} State=UNKNOWN"
    )


def billing_weights(nodes: Sequence[NodeHardware], policy: Policy) -> str:
    """TRESBillingWeights: each GPU type of the cluster at its mlrp billing weight
    (unlisted: 1.0); CPUs and memory free, as mlrp charges GPU-seconds only."""
    weights = {gpu_type(model): w for model, w in policy.billing.items()}
    parts = ["CPU=0", "Mem=0G"]
    parts += [f"GRES/gpu:{t}={number(weights.get(t, 1.0))}" for t in _gpu_tres(nodes)]
    return ",".join(parts)


def _partitions_section(nodes: Sequence[NodeHardware], policy: Policy, options: SiteOptions) -> str:
    lines = ["# partitions: every node in each; billing = mlrp's GPU billing weights"]
    if not options.accounting:
        lines[0] = "# partitions: every node in each (no billing without accounting)"
    present = set(_gpu_tres(nodes))
    unused = sorted({gpu_type(m) for m in policy.billing} - present)
    if unused:
        lines.append(f"# billing weights of models no node has, left out: {', '.join(unused)}")
    billing = billing_weights(nodes, policy)
    for partition in policy.partitions:
        lines += _partition_lines(partition, policy, billing, options)
    return block(lines)


def _partition_lines(
    partition: Partition, policy: Policy, billing: str, options: SiteOptions
) -> list[str]:
    where = f"partitions[{partition.name}]"
    fields = [
        f"PartitionName={partition.name}",
        "Nodes=ALL",
        f"Default={'YES' if partition.name == policy.default_partition else 'NO'}",
        f"MaxTime={slurm_time(partition.max_time, where + '.max_time')}",
        f"DefaultTime={slurm_time(partition.default_time, where + '.default_time')}",
        f"PriorityJobFactor={partition.priority_tier}",
        "State=UP",
    ]
    notes: list[str] = []
    if options.accounting:
        fields.append(f'TRESBillingWeights="{billing}"')
    if has_gpu_limits(partition):
        if options.accounting:
            fields.append(f"QOS={partition_qos_name(partition)}")
        else:
            notes.append(f"# GPU limits of {partition.name} need accounting: not enforced")
    return [*notes, " ".join(fields)]
