"""Workload traces: the Philly CSV format and mlrp's native JSONL.

Philly CSV (header `timestamp,duration,num_gpus,gpu_time,cluster`): `timestamp` is the
submission time (UTC, `YYYY-MM-DD HH:MM:SS`, or epoch seconds), `duration` the seconds
the job ran, `num_gpus` its gang size, `cluster` the team, used as the fair-share
account. `gpu_time` is redundant and ignored.

Native JSONL: one object per line with keys `submit` (epoch seconds), `duration`,
`gpus`, `account` and optionally `id` (an int; the line number when absent). Blank lines
are skipped.

The format is chosen by suffix: `.jsonl` / `.ndjson` are JSONL, anything else CSV.
Jobs are returned sorted by (submit, id); `limit` keeps the first N of that order.
CSV ids are the 1-based data row numbers.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlrp.errors import InvalidSpec, NotFound

PHILLY_COLUMNS = ("timestamp", "duration", "num_gpus", "cluster")
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})


@dataclass(frozen=True, slots=True)
class TraceJob:
    id: int
    submit: float  # epoch seconds
    duration: float  # seconds the job runs
    gpus: int  # gang size
    account: str  # fair-share account (Philly: the team / virtual cluster)


def _time(value: str) -> float:
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    stamp = datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def _job(where: str, job_id: int, submit: Any, duration: Any, gpus: Any, account: Any) -> TraceJob:
    try:
        submit_s = _time(submit) if isinstance(submit, str) else float(submit)
    except (TypeError, ValueError):
        raise InvalidSpec(f"{where}: bad submit time {submit!r}") from None
    try:
        duration_s = float(duration)
    except (TypeError, ValueError):
        raise InvalidSpec(f"{where}: bad duration {duration!r}") from None
    try:
        as_float = float(gpus)
        n = int(as_float)
        if n != as_float:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise InvalidSpec(f"{where}: bad GPU count {gpus!r}") from None
    if not math.isfinite(submit_s):
        raise InvalidSpec(f"{where}: bad submit time {submit!r}")
    if not math.isfinite(duration_s) or duration_s < 0:
        raise InvalidSpec(f"{where}: duration must be a finite number >= 0, not {duration!r}")
    if n < 1:
        raise InvalidSpec(f"{where}: GPU count must be >= 1, not {gpus!r}")
    if not isinstance(account, str) or not account.strip():
        raise InvalidSpec(f"{where}: missing account")
    return TraceJob(job_id, submit_s, duration_s, n, account.strip())


def _read_csv(path: Path) -> list[TraceJob]:
    jobs: list[TraceJob] = []
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise InvalidSpec(f"{path}: empty trace")
        names = [h.strip() for h in header]
        missing = [c for c in PHILLY_COLUMNS if c not in names]
        if missing:
            raise InvalidSpec(f"{path}:1: header lacks column(s) {', '.join(missing)}")
        ts, du, ng, cl = (names.index(c) for c in PHILLY_COLUMNS)
        width = max(ts, du, ng, cl) + 1
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            where = f"{path}:{line}"
            if len(row) < width:
                raise InvalidSpec(f"{where}: expected {len(names)} fields, got {len(row)}")
            jobs.append(_job(where, len(jobs) + 1, row[ts], row[du], row[ng], row[cl]))
    return jobs


def _read_jsonl(path: Path) -> list[TraceJob]:
    jobs: list[TraceJob] = []
    seen: set[int] = set()
    with path.open() as f:
        for line, text in enumerate(f, start=1):
            if not text.strip():
                continue
            where = f"{path}:{line}"
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise InvalidSpec(f"{where}: not JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise InvalidSpec(f"{where}: expected a JSON object")
            missing = [k for k in ("submit", "duration", "gpus", "account") if k not in obj]
            if missing:
                raise InvalidSpec(f"{where}: missing key(s) {', '.join(missing)}")
            raw_id = obj.get("id", line)
            if not isinstance(raw_id, int) or isinstance(raw_id, bool):
                raise InvalidSpec(f"{where}: id must be an integer, not {raw_id!r}")
            if raw_id in seen:
                raise InvalidSpec(f"{where}: duplicate id {raw_id}")
            seen.add(raw_id)
            submit = obj["submit"]
            if isinstance(submit, bool) or not isinstance(submit, int | float | str):
                raise InvalidSpec(f"{where}: bad submit time {submit!r}")
            jobs.append(_job(where, raw_id, submit, obj["duration"], obj["gpus"], obj["account"]))
    return jobs


def read_trace(path: str | Path, limit: int | None = None) -> list[TraceJob]:
    """The jobs of a trace, sorted by submit time (then id); the first `limit` only
    when given. Raises NotFound for a missing file, InvalidSpec (naming file and line)
    for a malformed row."""
    p = Path(path)
    if limit is not None and limit < 0:
        raise InvalidSpec(f"limit must be >= 0, not {limit}")
    if not p.is_file():
        raise NotFound(f"no trace file {p}")
    jobs = _read_jsonl(p) if p.suffix.lower() in JSONL_SUFFIXES else _read_csv(p)
    jobs.sort(key=lambda j: (j.submit, j.id))
    return jobs if limit is None else jobs[:limit]
