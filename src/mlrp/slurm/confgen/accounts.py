"""accounts.sh: the sacctmgr commands that recreate mlrp's QOS, accounts, users and GPU
limits as Slurm associations."""

from __future__ import annotations

from collections.abc import Sequence

from mlrp.errors import ConfigError
from mlrp.models.policy import Account, Policy, Qos
from mlrp.slurm.confgen.names import (
    block,
    has_gpu_limits,
    header,
    number,
    optional,
    partition_qos_name,
    slurm_time,
)
from mlrp.slurm.confgen.values import SiteOptions

_GPU_TRES_UNKNOWN = '[ -z "$(sacctmgr -nP show tres where type=gres name=gpu)" ]'


def render_accounts(policy: Policy, options: SiteOptions) -> str:
    """sacctmgr commands that recreate mlrp's QOS, accounts and users, in two parts:
    everything but GPU limits (needed before slurmctld first starts: partitions name
    their QOS), then the GPU limits (Slurm knows TRES gres/gpu only once slurmctld has
    registered with slurmdbd). The script runs the second part when it can."""
    cluster = options.cluster_name.lower()
    lines = [
        "#!/bin/sh",
        *header("accounts.sh", options),
        "# mlrp's QOS, accounts and users as Slurm associations. Run it once slurmdbd is up,",
        "# before slurmctld first starts (partitions name QOS made here), and again once",
        "# slurmctld runs: Slurm knows TRES gres/gpu, and so the GPU limits, only from then.",
        "# Running it again adds what is missing and sets every QOS setting and GPU limit",
        "# again (a limit since removed from mlrp's config stays: clear it with sacctmgr).",
        "",
        f"sacctmgr -i add cluster {cluster}",
        "",
        *_qos_lines(policy),
        *_account_lines(policy, cluster),
        *_user_lines(policy, cluster),
        "",
        "# GPU limits",
        f"if {_GPU_TRES_UNKNOWN}; then",
        '    echo "accounts.sh: GPU limits not set: start slurmctld, then run me again" >&2',
        "    exit 0",
        "fi",
        *_gpu_limit_lines(policy, cluster),
        *_open_account_note(policy),
    ]
    return block(lines)


def _all_qos(policy: Policy) -> list[tuple[str, list[str]]]:
    """(name, settings without GPU limits) of every QOS: mlrp's, then the partitions'."""
    found = [(q.name, _qos_settings(q)) for q in policy.qos]
    taken = {q.name.lower() for q in policy.qos}
    for partition in policy.partitions:
        if not has_gpu_limits(partition):
            continue
        name = partition_qos_name(partition)
        if name.lower() in taken:
            raise ConfigError(f"QOS {name!r} is taken: partition {partition.name!r} needs it")
        found.append((name, ["Flags=DenyOnLimit"]))
    return found


def _qos_lines(policy: Policy) -> list[str]:
    qos = _all_qos(policy)
    lines = [
        "# QOS (all made first: a QOS names others in Preempt=)",
        f"sacctmgr -i add qos {','.join(name for name, _ in qos)}",
    ]
    lines += [
        f"sacctmgr -i modify qos where Name={name} set {' '.join(settings)}"
        for name, settings in qos
    ]
    return [*lines, ""]


def _qos_settings(qos: Qos) -> list[str]:
    """Priority, preemption, usage factor and the limits that are not GPUs."""
    settings = [f"Priority={qos.priority}"]
    if qos.preempt:
        settings.append(f"Preempt={','.join(qos.preempt)}")
    settings += [f"PreemptMode={qos.preempt_mode}", f"UsageFactor={number(qos.usage_factor)}"]
    settings += optional("MaxSubmitJobsPerUser", qos.max_pending_per_user)
    if qos.max_time is not None:
        settings.append(f"MaxWall={slurm_time(qos.max_time, f'qos[{qos.name}].max_time')}")
    limited = qos.max_gpus_per_user, qos.max_gpus, qos.max_pending_per_user, qos.max_time
    if any(x is not None for x in limited):
        settings.append("Flags=DenyOnLimit")
    return settings


def _account_lines(policy: Policy, cluster: str) -> list[str]:
    qos = ",".join(q.name for q in policy.qos)
    lines = ["# accounts: the fair-share tree (a user counts 1 share, as in mlrp)"]
    for account in accounts_in_order(policy.accounts):
        lines.append(
            f"sacctmgr -i add account {account.name} Cluster={cluster} "
            f"Parent={account.parent or 'root'} Fairshare={account.shares} QOS={qos} "
            f"DefaultQOS={policy.default_qos}"
        )
    return [*lines, ""]


def accounts_in_order(accounts: Sequence[Account]) -> list[Account]:
    """The tree depth first, each account followed by its children, in config order
    (sacctmgr needs a parent before its children)."""
    known = {a.name for a in accounts}
    for account in accounts:
        if account.parent is not None and account.parent not in known:
            raise ConfigError(f"account {account.name!r} has unknown parent {account.parent!r}")
    ordered: list[Account] = []
    pending = [a for a in reversed(accounts) if a.parent is None]
    while pending:
        account = pending.pop()
        ordered.append(account)
        pending += [a for a in reversed(accounts) if a.parent == account.name]
    if len(ordered) < len(accounts):
        names = ", ".join(a.name for a in accounts if a not in ordered)
        raise ConfigError(f"accounts {names} are their own ancestors")
    return ordered


def _user_lines(policy: Policy, cluster: str) -> list[str]:
    lines = ["# users: one association per (user, account); the first account is the default"]
    default_of: dict[str, str] = {}
    for account in policy.accounts:
        for user in account.users:
            default_of.setdefault(user, account.name)
            lines.append(
                f"sacctmgr -i add user {user} Cluster={cluster} Account={account.name} "
                f"DefaultAccount={default_of[user]}"
            )
    return lines


def _gpu_limit_lines(policy: Policy, cluster: str) -> list[str]:
    """GPU limits of QOS, partition QOS, accounts and user associations."""
    lines = []
    for qos in policy.qos:
        limits = [
            *_tres_limit("MaxTRESPerUser", qos.max_gpus_per_user),
            *_tres_limit("GrpTRES", qos.max_gpus),
        ]
        lines += _modify("qos", f"Name={qos.name}", limits)
    for partition in policy.partitions:
        limits = [
            *_tres_limit("MaxTRESPerJob", partition.max_gpus_per_job),
            *_tres_limit("GrpTRES", partition.max_gpus),
        ]
        lines += _modify("qos", f"Name={partition_qos_name(partition)}", limits)
    for account in policy.accounts:
        where = f"Cluster={cluster} Name={account.name}"
        lines += _modify("account", where, _tres_limit("GrpTRES", account.max_gpus))
        for user in account.users:
            limit = _tres_limit("GrpTRES", _user_gpu_limit(account, policy))
            who = f"Cluster={cluster} Name={user} Account={account.name}"
            lines += _modify("user", who, limit)
    return lines or ["# (mlrp's policy sets none)"]


def _modify(entity: str, where: str, limits: list[str]) -> list[str]:
    return [f"sacctmgr -i modify {entity} where {where} set {' '.join(limits)}"] if limits else []


def _tres_limit(key: str, gpus: int | None) -> list[str]:
    return [] if gpus is None else [f"{key}=gres/gpu={gpus}"]


def _user_gpu_limit(account: Account, policy: Policy) -> int | None:
    """GPUs a user may run under `account`: the smallest per-user limit of the account,
    its ancestors and the policy. mlrp counts a user's GPUs over each ancestor's subtree
    (and the policy's over all accounts); Slurm counts per association."""
    limits = [policy.max_gpus_per_user]
    node: Account | None = account
    while node is not None and len(limits) <= len(policy.accounts):
        limits.append(node.max_gpus_per_user)
        node = policy.account(node.parent) if node.parent is not None else None
    given = [x for x in limits if x is not None]
    return min(given) if given else None


def _open_account_note(policy: Policy) -> list[str]:
    if not (policy.open_default_account and policy.default_account is not None):
        return []
    return [
        "",
        f"# mlrp lets users listed nowhere run under {policy.default_account!r}; Slurm needs an",
        "# association for each (root too, to submit):",
        f"#   sacctmgr -i add user NAME Account={policy.default_account}",
    ]
