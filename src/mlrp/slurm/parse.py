"""The output of Slurm's commands (22.05) -> typed records (mlrp.slurm.records).

    parse_submitted     sbatch --parsable        "123" or "123;cluster"
    parse_squeue        squeue --json            every job slurmctld holds
    parse_sacct         sacct -P -n -o SACCT_FIELDS (SLURM_TIME_FORMAT=%s)
    parse_sinfo         sinfo --json             the nodes
    parse_sshare        sshare -a -l -P -n -o SSHARE_FIELDS

sacct is read as text, not JSON: in 22.05 `sacct --json` reports a job that exited
with status 3 as `return_code: 0` (the text form says 3:0). Its one free-text field,
the job name, is last, so a `|` in a name cannot shift the columns.

Malformed output raises MlrpError naming the command: it means a Slurm this module does
not know, not a user's mistake.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from mlrp.errors import MlrpError
from mlrp.parsing.slurmtime import parse_duration
from mlrp.slurm.records import ShareLine, SlurmJob, SlurmNode

SACCT_FIELDS = (
    "JobIDRaw", "JobID", "State", "ExitCode", "Submit", "Eligible", "Start", "End",
    "Timelimit", "UID", "User", "GID", "Account", "Partition", "QOS", "NodeList", "NNodes",
    "AllocTRES", "ReqTRES", "Reason", "Priority", "WorkDir", "JobName",
)  # fmt: skip
SSHARE_FIELDS = (
    "Account", "User", "RawShares", "NormShares", "RawUsage", "NormUsage", "EffectvUsage",
    "FairShare", "LevelFS",
)  # fmt: skip
_GPU = re.compile(r"(?:gres:|gres/)?gpu(?::([^:=(]+))?[:=](\d+)")
_IDX = re.compile(r"IDX:([0-9,\-]+)")
_ARRAY_ID = re.compile(r"(\d+)_(?:(\d+)|\[(.*)\])")


def parse_submitted(text: str) -> int:
    """The job id sbatch --parsable printed."""
    head = text.strip().split(";", 1)[0]
    if not head.isdigit():
        raise MlrpError(f"sbatch --parsable printed {text.strip()[:200]!r}, not a job id")
    return int(head)


def _json(text: str, command: str) -> Mapping[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise MlrpError(f"{command} printed something that is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise MlrpError(f"{command} printed JSON that is not an object")
    return data


# ------------------------------------------------------------------------------ squeue


def parse_squeue(text: str) -> list[SlurmJob]:
    jobs = _json(text, "squeue --json").get("jobs", [])
    try:
        return [_squeue_job(item) for item in jobs]
    except (KeyError, TypeError, ValueError) as e:
        raise MlrpError(f"squeue --json: a job record this version cannot read ({e!r})") from e


def _squeue_job(d: Mapping[str, Any]) -> SlurmJob:
    array_job = d.get("array_job_id") or None
    pending = (d.get("array_task_string") or None) if d.get("array_task_id") is None else None
    nodes = int(d.get("node_count") or 1)
    tasks = int(d.get("tasks") or 1)
    gpus, gpu_type = _gpus_of(d, nodes, tasks)
    exit_code, exit_signal = _wait_status(d.get("exit_code"))
    return SlurmJob(
        job_id=int(d["job_id"]),
        name=str(d.get("name") or ""),
        user=str(d.get("user_name") or d.get("user_id")),
        uid=_int(d.get("user_id")),
        gid=_int(d.get("group_id")),
        account=str(d.get("account") or ""),
        partition=str(d.get("partition") or ""),
        qos=str(d.get("qos") or ""),
        state=str(d["job_state"]),
        reason=str(d.get("state_reason") or "None"),
        submit_time=_epoch(d.get("submit_time")),
        array_job_id=array_job,
        array_task_id=_int(d.get("array_task_id")),
        pending_tasks=pending if array_job else None,
        array_throttle=d.get("array_max_tasks") or None,
        start_time=_epoch(d.get("start_time")),
        end_time=_epoch(d.get("end_time")),
        eligible_time=_epoch(d.get("eligible_time")),
        time_limit=None if d.get("time_limit") is None else int(d["time_limit"]) * 60,
        exit_code=exit_code,
        exit_signal=exit_signal,
        nodes=d.get("nodes") or None,
        node_count=nodes,
        tasks=tasks,
        cpus_per_task=int(d.get("cpus_per_task") or 1),
        mem_mb=_int(d.get("memory_per_node")),
        gpus_per_node=gpus,
        gpu_type=gpu_type,
        gpu_indices=_indices(d.get("gres_detail") or [], nodes),
        priority=float(d.get("priority") or 0),
        nice=int(d.get("nice") or 0),
        dependency=d.get("dependency") or None,
        requeue=bool(d.get("requeue")),
        restarts=int(d.get("restart_cnt") or 0),
        workdir=d.get("current_working_directory") or None,
        stdout=d.get("standard_output") or None,
        stderr=d.get("standard_error") or None,
        batch_host=d.get("batch_host") or None,
    )


def _gpus_of(d: Mapping[str, Any], nodes: int, tasks: int) -> tuple[int, str | None]:
    """GPUs per node, and the model, from --gres / --gpus-per-node, --gpus, --gpus-per-task."""
    for key, scale in (("tres_per_node", 1.0), ("tres_per_job", 1 / nodes),
                       ("tres_per_task", tasks / nodes)):  # fmt: skip
        match = _GPU.search(str(d.get(key) or ""))
        if match:
            return int(int(match.group(2)) * scale), match.group(1)
    return 0, None


def _indices(details: list[str], nodes: int) -> tuple[int, ...]:
    """GPU indices of a one-node job, from gres_detail ["gpu:2(IDX:0-1)"]."""
    if nodes != 1 or not details:
        return ()
    match = _IDX.search(details[0])
    return () if match is None else tuple(_ranges(match.group(1)))


def _ranges(text: str) -> list[int]:
    found: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        if low.isdigit():
            found.extend(range(int(low), int(high or low) + 1))
    return found


def _wait_status(status: object) -> tuple[int | None, int | None]:
    """squeue's exit_code is a wait(2) status: 768 is exit 3, 9 is SIGKILL."""
    if not isinstance(status, int):
        return None, None
    return (status >> 8) & 0xFF, status & 0x7F


def _epoch(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and value > 0 else None


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int) else None


# ------------------------------------------------------------------------------- sacct


def parse_sacct(text: str) -> list[SlurmJob]:
    """`sacct -P -n -o SACCT_FIELDS` lines (a name with a line break continues the
    record before it)."""
    rows: list[list[str]] = []
    width = len(SACCT_FIELDS)
    for line in text.split("\n"):
        cells = line.split("|", width - 1)
        if len(cells) == width and cells[0].isdigit():
            rows.append(cells)
        elif rows and line:
            rows[-1][-1] += "\n" + line
    try:
        return [_sacct_job(dict(zip(SACCT_FIELDS, row, strict=True))) for row in rows]
    except (KeyError, ValueError) as e:
        raise MlrpError(f"sacct: a line this version cannot read ({e!r})") from e


def _sacct_job(c: dict[str, str]) -> SlurmJob:
    array_job, task, pending = _array_of(c["JobID"])
    nodes = int(c["NNodes"] or 1)
    tres = c["AllocTRES"] or c["ReqTRES"]
    gpus, gpu_type = _tres_gpus(tres)
    code, _, signal = c["ExitCode"].partition(":")
    return SlurmJob(
        job_id=int(c["JobIDRaw"]),
        name=c["JobName"],
        user=c["User"],
        uid=_digits(c["UID"]),
        gid=_digits(c["GID"]),
        account=c["Account"],
        partition=c["Partition"],
        qos=c["QOS"],
        state=c["State"],
        reason=c["Reason"] or "None",
        submit_time=_stamp(c["Submit"]),
        array_job_id=array_job,
        array_task_id=task,
        pending_tasks=pending,
        eligible_time=_stamp(c["Eligible"]),
        start_time=_stamp(c["Start"]),
        end_time=_stamp(c["End"]),
        time_limit=_limit(c["Timelimit"]),
        exit_code=_digits(code),
        exit_signal=_digits(signal),
        nodes=None if c["NodeList"] in ("", "None assigned") else c["NodeList"],
        node_count=nodes,
        gpus_per_node=gpus // nodes,
        gpu_type=gpu_type,
        priority=float(c["Priority"] or 0),
        workdir=c["WorkDir"] or None,
    )


def _array_of(job_id: str) -> tuple[int | None, int | None, str | None]:
    """ "12" -> no array; "12_3" -> task 3 of 12; "12_[4-9%2]" -> its pending tasks."""
    match = _ARRAY_ID.fullmatch(job_id)
    if match is None:
        return None, None, None
    task = match.group(2)
    return int(match.group(1)), None if task is None else int(task), match.group(3)


def _tres_gpus(tres: str) -> tuple[int, str | None]:
    """ "billing=2,cpu=1,gres/gpu=2,gres/gpu:a100=2" -> (2, "a100")."""
    total, model = 0, None
    for item in tres.split(","):
        key, _, value = item.partition("=")
        if key == "gres/gpu" and value.isdigit():
            total = int(value)
        elif key.startswith("gres/gpu:"):
            model = key.removeprefix("gres/gpu:")
    return total, model


def _stamp(text: str) -> float | None:
    return float(text) if text.isdigit() and int(text) > 0 else None


def _digits(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _limit(text: str) -> int | None:
    """A Timelimit cell; UNLIMITED and Partition_Limit (not set) are None."""
    if not text or not text[0].isdigit():
        return None
    try:
        return parse_duration(text, "Timelimit")
    except MlrpError:
        return None


# ------------------------------------------------------------------------------- sinfo


def parse_sinfo(text: str) -> list[SlurmNode]:
    nodes = _json(text, "sinfo --json").get("nodes", [])
    try:
        return [_node(item) for item in nodes]
    except (KeyError, TypeError, ValueError) as e:
        raise MlrpError(f"sinfo --json: a node record this version cannot read ({e!r})") from e


def _node(d: Mapping[str, Any]) -> SlurmNode:
    configured = [_GPU.search(part) for part in str(d.get("gres") or "").split(",")]
    used = [_GPU.search(part) for part in str(d.get("gres_used") or "").split(",")]
    flags = [str(flag).lower() for flag in d.get("state_flags") or []]
    return SlurmNode(
        name=str(d["name"]),
        state="+".join([str(d.get("state") or "unknown").lower(), *flags]),
        cpus=int(d.get("cpus") or 0),
        cpus_allocated=int(d.get("alloc_cpus") or 0),
        memory_mb=int(d.get("real_memory") or 0),
        gpus=sum(int(m.group(2)) for m in configured if m),
        gpus_allocated=sum(int(m.group(2)) for m in used if m),
        gpu_types=tuple(sorted({m.group(1) or "gpu" for m in configured if m})),
        partitions=tuple(str(p) for p in d.get("partitions") or []),
        reason=str(d.get("reason") or ""),
    )


# ------------------------------------------------------------------------------ sshare


def parse_sshare(text: str) -> list[ShareLine]:
    """Lines below the root, depth 0 for the root's children (as mlrp's share tree)."""
    lines = []
    for line in text.split("\n"):
        cells = line.split("|")
        if len(cells) != len(SSHARE_FIELDS) or not cells[0].startswith(" "):
            continue  # the root (the one line not indented), or not a line of the table
        lines.append(_share(cells))
    return lines


def _share(cells: list[str]) -> ShareLine:
    account, user, raw, norm, usage, norm_usage, effective, fairshare, level = cells
    return ShareLine(
        account=account.strip(),
        user=user or None,
        depth=max(len(account) - len(account.lstrip(" ")) - 1, 0),
        raw_shares=_digits(raw),
        norm_shares=_float(norm) or 0.0,
        raw_usage=_float(usage) or 0.0,
        norm_usage=_float(norm_usage),
        effective_usage=_float(effective) or 0.0,
        fairshare=_float(fairshare),
        level_fs=None if level in ("", "inf") else _float(level),
    )


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
