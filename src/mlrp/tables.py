"""Plain-text tables and squeue-style formatting, shared by the CLI and the daemon (it
sits below both: stdlib and models only).

The queue's table (`queue_table`) is rendered by the daemon, which imports it from here:
`mlrp queue` only prints what the daemon sends, so one implementation serves both.
"""

from __future__ import annotations

import os
import pwd
import time

from mlrp.models.durations import format_duration

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing would slow every CLI call
    from collections.abc import Callable, Sequence
    from typing import Any

    LocalTime = Callable[[float], time.struct_time]

QUEUE_HEADERS = ["JOBID", "USER", "ACCOUNT", "NAME", "ST", "TIME", "GPUS", "NODELIST(REASON)"]
# `squeue --start`'s columns, as far as they apply here.
START_HEADERS = ["JOBID", "USER", "ACCOUNT", "NAME", "ST", "START_TIME", "GPUS", "REASON"]


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns two spaces apart, no trailing blanks; None is an empty cell."""
    width = len(headers)
    cells = [[str(h) for h in headers]]
    for row in rows:
        if len(row) != width:
            raise ValueError(f"a row of {len(row)} cells under {width} headers")
        cells.append(["" if c is None else str(c) for c in row])
    return _layout(cells)


def _layout(cells: list[list[str]]) -> str:
    """`table` of cells that are all strings, the headers first."""
    widths = [max(map(len, column)) for column in zip(*cells, strict=True)]
    ljust = str.ljust
    return "\n".join("  ".join(map(ljust, row, widths)).rstrip() for row in cells)


def duration(seconds: float | None) -> str:
    """An elapsed time or limit for a table cell; empty when unknown."""
    return "" if seconds is None else format_duration(max(int(seconds), 0))


def timestamp(epoch: float | None, localtime: LocalTime = time.localtime) -> str:
    if epoch is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%S", localtime(epoch))


def gpu_list(indices: Sequence[int]) -> str:
    return ",".join(str(i) for i in indices)


def elapsed(job: dict[str, Any], now: float) -> float | None:
    start: float | None = job.get("start_time")
    if start is None:
        return None
    end: float = job.get("end_time") or now
    return end - start


def exit_text(job: dict[str, Any]) -> str:
    """sacct's ExitCode: `code:signal`, empty while the job has not ended."""
    if job["exit_code"] is None and job["exit_signal"] is None:
        return ""
    return f"{job['exit_code'] or 0}:{job['exit_signal'] or 0}"


def user_name() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def queue_table(
    rows: Sequence[dict[str, Any]],
    now: float,
    *,
    start: bool = False,
    localtime: LocalTime = time.localtime,
) -> str:
    """`mlrp queue` from the queue's rows (running jobs first, then pending ones by
    priority), without the final newline. `start`: `mlrp queue --start`, the time each
    job started or is expected to start ("N/A" when none is known), soonest first."""
    from mlrp.models.states import JobState  # the daemon's import, not the CLI's

    short = {state.value: state.short for state in JobState}
    if start:
        return _layout(
            [
                START_HEADERS,
                *(
                    [
                        job["display_id"],
                        job["user"],
                        job["account"],
                        job["name"][:24],
                        short[job["state"]],
                        timestamp(_start_of(job), localtime) or "N/A",
                        str(job["gpu_count"]),
                        "" if job["state"] == "RUNNING" else _reason(job),
                    ]
                    for job in sorted(rows, key=_start_order)
                ),
            ]
        )
    return _layout(
        [
            QUEUE_HEADERS,
            *(
                [
                    job["display_id"],
                    job["user"],
                    job["account"],
                    job["name"][:24],
                    short[job["state"]],
                    duration(elapsed(job, now)),
                    str(job["gpu_count"]),
                    gpu_list(job["gpus"]) if job["state"] == "RUNNING" else f"({_reason(job)})",
                ]
                for job in rows
            ),
        ]
    )


def _start_of(job: dict[str, Any]) -> float | None:
    started: float | None = job["start_time"]
    return started if started is not None else job["expected_start"]


def _start_order(job: dict[str, Any]) -> tuple[bool, float]:
    """Known start times first, soonest first; the rest keep their order (sorted is
    stable)."""
    when = _start_of(job)
    return when is None, 0.0 if when is None else when


def _reason(job: dict[str, Any]) -> str:
    return "JobHeldUser" if job["held"] else str(job["reason"])
