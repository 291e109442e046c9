"""Plain-text tables and squeue-style formatting."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]  # fmt: skip
    return "\n".join(lines)


def duration(seconds: float | None) -> str:
    """squeue's TIME: M:SS, H:MM:SS or D-HH:MM:SS."""
    if seconds is None:
        return ""
    total = max(int(seconds), 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


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
