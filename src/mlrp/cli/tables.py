"""Plain-text tables and squeue-style formatting."""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Sequence

from mlrp.models.durations import format_duration

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing would slow every CLI call
    from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def duration(seconds: float | None) -> str:
    """An elapsed time or limit for a table cell; empty when unknown."""
    return "" if seconds is None else format_duration(max(int(seconds), 0))


def timestamp(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(epoch))


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
