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

QUEUE_HEADERS = ("JOBID", "USER", "ACCOUNT", "NAME", "ST", "TIME", "GPUS", "NODELIST(REASON)")
# `squeue --start`'s columns, as far as they apply here.
START_HEADERS = ("JOBID", "USER", "ACCOUNT", "NAME", "ST", "START_TIME", "GPUS", "REASON")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns two spaces apart, no trailing blanks; None is an empty cell."""
    width = len(headers)
    cells = [tuple(str(h) for h in headers)]
    for row in rows:
        if len(row) != width:
            raise ValueError(f"a row of {len(row)} cells under {width} headers")
        cells.append(tuple("" if c is None else str(c) for c in row))
    return _layout(cells)


def _layout(cells: list[tuple[str, ...]]) -> str:
    """`table` of cells that are all strings, the headers first. One `%` format a line
    (`%-8s  %-4s  ...  %s`): for a long queue, faster than padding cell by cell."""
    widths = [max(map(len, column)) for column in zip(*cells, strict=True)]
    line = "  ".join([*(f"%-{w}s" for w in widths[:-1]), "%s"])
    return "\n".join([(line % row).rstrip() for row in cells])


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
    rows: Sequence[Sequence[Any]],
    now: float,
    *,
    start: bool = False,
    localtime: LocalTime = time.localtime,
) -> str:
    """`mlrp queue` from the queue's rows (running jobs first, then pending ones by
    priority), without the final newline. `start`: `mlrp queue --start`, the time each
    job started or is expected to start ("N/A" when none is known), soonest first.

    A row is a tuple (display_id, user, account, name, state, held, reason, gpu_count,
    gpus, start_time, end_time, expected_start), as mlrp.store.Store.queue_rows reads
    them (`gpus`: None when the job holds none; a string, such as Slurm's node list
    "n[1-2]", is shown as it is): only the cells shown, so that a long queue costs
    little to list."""
    from mlrp.models.states import JobState  # the daemon's import, not the CLI's

    short = {state.value: state.short for state in JobState}
    if start:
        return _layout(
            [
                START_HEADERS,
                *(
                    (
                        display_id,
                        user,
                        account,
                        name[:24],
                        short[state],
                        timestamp(expected if started is None else started, localtime) or "N/A",
                        str(gpu_count),
                        "" if state == "RUNNING" else _reason(held, reason),
                    )
                    for (
                        display_id, user, account, name, state, held, reason, gpu_count, _,
                        started, _, expected,
                    ) in sorted(rows, key=_start_order)
                ),
            ]
        )  # fmt: skip
    return _layout(
        [
            QUEUE_HEADERS,
            *(
                (
                    display_id,
                    user,
                    account,
                    name[:24],
                    short[state],
                    "" if started is None else duration((ended or now) - started),
                    str(gpu_count),
                    _where(gpus) if state == "RUNNING" else f"({_reason(held, reason)})",
                )
                for (
                    display_id, user, account, name, state, held, reason, gpu_count, gpus,
                    started, ended, _,
                ) in rows
            ),
        ]
    )  # fmt: skip


_STARTED, _EXPECTED = 9, 11  # in a queue row


def _start_order(row: Sequence[Any]) -> tuple[bool, float]:
    """Known start times first, soonest first; the rest keep their order (sorted is
    stable)."""
    when = row[_STARTED] if row[_STARTED] is not None else row[_EXPECTED]
    return when is None, 0.0 if when is None else when


def _where(gpus: Sequence[int] | str | None) -> str:
    return gpus if isinstance(gpus, str) else gpu_list(gpus or ())


def _reason(held: bool, reason: str) -> str:
    return "JobHeldUser" if held else reason
