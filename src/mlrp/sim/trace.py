"""Workload traces: the Philly CSV format, mlrp's native JSONL, and Slurm's own job
history (`sacct --json`, `sacct --parsable2`).

Philly CSV (header `timestamp,duration,num_gpus,gpu_time,cluster`): `timestamp` is the
submission time (UTC, `YYYY-MM-DD HH:MM:SS`, or epoch seconds), `duration` the seconds
the job ran, `num_gpus` its gang size, `cluster` the team, used as the fair-share
account. `gpu_time` is redundant and ignored. Ids are the 1-based data row numbers.

Native JSONL: one object per line with keys `submit` (epoch seconds), `duration`,
`gpus`, `account` and optionally `id` (an int; the line number when absent), `user` and
`time_limit` (seconds). Blank lines are skipped.

Slurm history, from `sacct --json` (Slurm 22.05 and later: a top-level `jobs` list) or
`sacct --parsable2 --allusers` (`|`-separated, header line first; `--parsable`'s
trailing `|` is accepted too). What is read from each job:

* id: `job_id` (JSON); `JobIDRaw` when that column is present, else `JobID`. An array
  task (`12_3`) or heterogeneous component (`12+1`) without `JobIDRaw` gets an id above
  the largest plain id of the file, in file order.
* submit: `time.submission` / `Submit`;
* duration: end - start (`time.end - time.start` / `End - Start`): the time the job held
  its GPUs, whatever its final state (completed, failed, cancelled, timed out);
* GPUs: the `gres/gpu` count of the allocated TRES (`tres.allocated` / `AllocTRES`),
  or of the requested TRES when nothing was allocated. An untyped `gres/gpu` entry
  wins; without one the typed entries (`gres/gpu:a100`) are added up;
* account: `account` / `Account`, the user when empty; user: `user` / `User`, the
  account when empty;
* time limit (optional): `time.limit` (minutes) / `Timelimit` (Slurm's time forms,
  e.g. `1-00:00:00`); `UNLIMITED`, `Partition_Limit` and unset limits read as no limit.

Not used: the state (a job's times say all the replay needs), `Elapsed` (it leaves out
suspended time, during which the job still held its GPUs), and everything else. In sacct
JSON a time of 0 means "not yet" (Slurm's way); newer releases' `{"set", "infinite",
"number"}` values are read as their number.

Parsable output must have the columns `JobID`, `Submit`, `Start`, `End`, at least one
of `AllocTRES` / `ReqTRES` and at least one of `Account` / `User` (any order, any case;
other columns are ignored). Timestamps without a UTC offset are read as UTC: only
differences between times matter to a replay (run sacct with `TZ=UTC` to avoid a
daylight-saving jump).

Left out of a replay, and counted by reason in `Trace.left_out`: job steps
(`123.batch`, `123.0`), jobs that never started (no start time), jobs that have not
ended (no end time: still running when sacct ran), and jobs without GPUs (the simulator
schedules GPUs only; a 0-GPU job would occupy nothing).

The format is detected from the content (`detect_format`) unless given: a first line
holding a complete JSON object is JSONL, unless that object has a `jobs` key (compact
sacct JSON); a `{` that does not close on its first line starts sacct JSON; a header
with `|` is sacct parsable output; anything else is Philly CSV.

Jobs are returned sorted by (submit, id); `limit` keeps the first N of that order.
Malformed input raises InvalidSpec naming the file and the line (sacct JSON: the line
of a syntax error, else the index of the job in `jobs` and its id) and the problem.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlrp.errors import InvalidSpec, NotFound
from mlrp.parsing.slurmtime import parse_duration

PHILLY_COLUMNS = ("timestamp", "duration", "num_gpus", "cluster")

PHILLY = "philly"
JSONL = "jsonl"
SACCT_JSON = "sacct-json"
SACCT_PARSABLE = "sacct-parsable"
FORMATS = (PHILLY, JSONL, SACCT_JSON, SACCT_PARSABLE)

# Why a record of a sacct file is not replayed.
STEP = "job steps"
NEVER_STARTED = "never started"
NOT_ENDED = "not ended"
NO_GPUS = "without GPUs"

SACCT_REQUIRED = ("JobID", "Submit", "Start", "End")
SACCT_ONE_OF = (("AllocTRES", "ReqTRES"), ("Account", "User"))
SACCT_OPTIONAL = ("JobIDRaw", "Timelimit")
_NO_TIME = frozenset({"", "unknown", "none", "n/a"})
_NO_LIMIT = frozenset({"", "partition_limit", "none", "n/a"})  # and parse_duration's


@dataclass(frozen=True, slots=True)
class TraceJob:
    id: int
    submit: float  # epoch seconds
    duration: float  # seconds the job runs
    gpus: int  # gang size
    account: str  # fair-share account (Philly: the team / virtual cluster)
    user: str | None = None  # None: unknown, the account stands in for it
    time_limit: int | None = None  # seconds the job asked for; None: unknown or unlimited


@dataclass(frozen=True, slots=True)
class Trace:
    """A trace as read: its format, the jobs to replay, and how many records were left
    out, by reason (STEP, NEVER_STARTED, NOT_ENDED, NO_GPUS)."""

    path: Path
    format: str
    jobs: list[TraceJob]
    left_out: dict[str, int] = field(default_factory=dict)


# --- shared value parsing ------------------------------------------------------------


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


def _job(
    where: str,
    job_id: int,
    submit: Any,
    duration: Any,
    gpus: Any,
    account: Any,
    user: str | None = None,
    time_limit: int | None = None,
) -> TraceJob:
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
    if time_limit is not None and time_limit < 1:
        raise InvalidSpec(f"{where}: time limit must be >= 1 s, not {time_limit!r}")
    return TraceJob(job_id, submit_s, duration_s, n, account.strip(), user, time_limit)


# --- Philly CSV and native JSONL -----------------------------------------------------


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


def _jsonl_optional(where: str, obj: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """The optional `user` (a non-empty string) and `time_limit` (whole seconds)."""
    user = obj.get("user")
    if user is not None and (not isinstance(user, str) or not user.strip()):
        raise InvalidSpec(f"{where}: user must be a non-empty string, not {user!r}")
    limit = obj.get("time_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise InvalidSpec(f"{where}: time_limit must be whole seconds, not {limit!r}")
    return (user.strip() if user else None), limit


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
            user, limit = _jsonl_optional(where, obj)
            jobs.append(
                _job(
                    where, raw_id, submit, obj["duration"], obj["gpus"], obj["account"], user, limit
                )
            )
    return jobs


# --- sacct: what both sacct formats share --------------------------------------------


@dataclass(frozen=True, slots=True)
class _SacctJob:
    """One sacct job record, values parsed, before the replay rules are applied."""

    where: str
    submit: float | None
    start: float | None
    end: float | None
    gpus: int
    account: str | None
    user: str | None
    time_limit: int | None


def _left_out_reason(job: _SacctJob) -> str | None:
    if job.start is None:
        return NEVER_STARTED
    if job.end is None:
        return NOT_ENDED
    return NO_GPUS if job.gpus == 0 else None


def _replayable(job: _SacctJob, job_id: int, left_out: Counter[str]) -> TraceJob | None:
    """The TraceJob of a sacct record, or None (counted in `left_out`) for a job that
    never started, has not ended or holds no GPU."""
    if job.submit is None:
        raise InvalidSpec(f"{job.where}: missing submit time")
    reason = _left_out_reason(job)
    if reason is not None:
        left_out[reason] += 1
        return None
    assert job.start is not None and job.end is not None
    if job.end < job.start:
        raise InvalidSpec(f"{job.where}: ends before it starts")
    account = job.account or job.user
    user = job.user or job.account
    return _job(
        job.where, job_id, job.submit, job.end - job.start, job.gpus, account, user, job.time_limit
    )


def tres_gpus(entries: Iterable[tuple[str, int]]) -> int:
    """GPUs among (`gres/gpu[:type]`, count) TRES entries: the untyped entry when there
    is one, else the sum of the typed ones; 0 when none."""
    untyped = 0
    typed = 0
    seen_untyped = False
    for name, count in entries:
        key = name.strip().lower()
        if key == "gres/gpu":
            untyped, seen_untyped = count, True
        elif key.startswith("gres/gpu:"):
            typed += count
    return untyped if seen_untyped else typed


# --- sacct --parsable2 -----------------------------------------------------------------


def _parsable_time(where: str, column: str, value: str) -> float | None:
    if value.strip().lower() in _NO_TIME:
        return None
    try:
        seconds = _time(value)
    except ValueError:
        raise InvalidSpec(f"{where}: bad {column} time {value!r}") from None
    if not math.isfinite(seconds):
        raise InvalidSpec(f"{where}: bad {column} time {value!r}")
    return seconds


def _parsable_tres(where: str, column: str, value: str) -> int:
    """The GPU count of a TRES string such as `billing=2,cpu=1,gres/gpu=2,node=1`."""
    entries: list[tuple[str, int]] = []
    for item in value.split(","):
        if not item.strip():
            continue
        name, sep, count = item.partition("=")
        if not sep:
            raise InvalidSpec(f"{where}: bad {column} entry {item!r} (expected NAME=COUNT)")
        if name.strip().lower().startswith("gres/gpu"):
            if not (count.strip().isascii() and count.strip().isdigit()):
                raise InvalidSpec(f"{where}: bad GPU count {count!r} in {column}")
            entries.append((name, int(count)))
    return tres_gpus(entries)


def _parsable_limit(where: str, value: str) -> int | None:
    """Seconds of a `Timelimit` cell; None for no limit (`UNLIMITED`, `Partition_Limit`,
    empty)."""
    if value.strip().lower() in _NO_LIMIT:
        return None
    try:
        return parse_duration(value, "Timelimit")
    except InvalidSpec as e:
        raise InvalidSpec(f"{where}: {e}") from None


def _columns(path: Path, header: list[str]) -> dict[str, int]:
    """Canonical column name -> index, checking the required set."""
    index = {name.strip().lower(): i for i, name in enumerate(header)}
    known = (*SACCT_REQUIRED, *(c for group in SACCT_ONE_OF for c in group), *SACCT_OPTIONAL)
    found = {c: index[c.lower()] for c in known if c.lower() in index}
    missing = [c for c in SACCT_REQUIRED if c not in found]
    missing += [" or ".join(g) for g in SACCT_ONE_OF if not any(c in found for c in g)]
    if missing:
        raise InvalidSpec(
            f"{path}:1: sacct header lacks column(s) {', '.join(missing)} "
            "(use sacct --parsable2 --format=JobID,User,Account,Submit,Start,End,"
            "Timelimit,AllocTRES,ReqTRES)"
        )
    return found


def _parsable_record(where: str, cols: dict[str, int], row: list[str]) -> _SacctJob:
    def cell(name: str) -> str:
        return row[cols[name]].strip() if name in cols else ""

    gpus = _parsable_tres(where, "AllocTRES", cell("AllocTRES"))
    if not cell("AllocTRES"):
        gpus = _parsable_tres(where, "ReqTRES", cell("ReqTRES"))
    limit = _parsable_limit(where, cell("Timelimit"))
    return _SacctJob(
        where,
        _parsable_time(where, "Submit", cell("Submit")),
        _parsable_time(where, "Start", cell("Start")),
        _parsable_time(where, "End", cell("End")),
        gpus,
        cell("Account") or None,
        cell("User") or None,
        limit,
    )


def _parsable_id(where: str, cols: dict[str, int], row: list[str]) -> int | None:
    """The job's id, or None for an array task / het component named without JobIDRaw."""
    text = row[cols["JobIDRaw"]] if "JobIDRaw" in cols else row[cols["JobID"]]
    text = text.strip()
    if text.isdigit():
        return int(text)
    if "JobIDRaw" not in cols and re.fullmatch(r"\d+[_+][\w\[\]\-,%]+", text):
        return None
    raise InvalidSpec(f"{where}: bad job id {text!r}")


def _parsable_rows(path: Path) -> Iterable[tuple[int, list[str]]]:
    """(line number, cells) of the non-blank lines of a `|`-separated file."""
    with path.open() as f:
        for line, text in enumerate(f, start=1):
            text = text.rstrip("\r\n")
            if text.strip():
                yield line, text.lstrip("\ufeff").split("|")


def _read_sacct_parsable(path: Path, left_out: Counter[str]) -> list[TraceJob]:
    rows = iter(_parsable_rows(path))
    first = next(rows, None)
    if first is None:
        raise InvalidSpec(f"{path}: empty trace")
    header = first[1]
    trailing = len(header) > 1 and not header[-1].strip()  # --parsable ends lines with |
    if trailing:
        header = header[:-1]
    cols = _columns(path, header)
    jobs: list[TraceJob] = []
    unnumbered: list[int] = []  # indexes in jobs of array tasks waiting for an id
    seen: set[int] = set()
    for line, cells in rows:
        where = f"{path}:{line}"
        if trailing and len(cells) == len(header) + 1 and not cells[-1].strip():
            cells = cells[:-1]
        if len(cells) != len(header):
            raise InvalidSpec(f"{where}: expected {len(header)} fields, got {len(cells)}")
        if "." in cells[cols["JobID"]]:
            left_out[STEP] += 1
            continue
        job_id = _parsable_id(where, cols, cells)
        job = _replayable(_parsable_record(where, cols, cells), job_id or 0, left_out)
        if job is None:
            continue
        if job_id is None:
            unnumbered.append(len(jobs))
        elif job_id in seen:
            raise InvalidSpec(f"{where}: duplicate job id {job_id}")
        else:
            seen.add(job_id)
        jobs.append(job)
    next_id = max(seen, default=0) + 1
    for offset, index in enumerate(unnumbered):
        jobs[index] = replace(jobs[index], id=next_id + offset)
    return jobs


# --- sacct --json ------------------------------------------------------------------------


def _json_number(where: str, what: str, value: Any) -> float | None:
    """A number of sacct JSON: plain (22.05) or `{"set", "infinite", "number"}` (23.02+);
    None when absent, unset, infinite or 0 (Slurm's "not yet")."""
    if isinstance(value, dict):
        if not value.get("set", True) or value.get("infinite", False):
            return None
        value = value.get("number")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSpec(f"{where}: bad {what} {value!r}")
    if not math.isfinite(value) or value < 0:
        raise InvalidSpec(f"{where}: bad {what} {value!r}")
    return float(value) if value else None


def _json_gpus(where: str, tres: Any) -> int:
    """GPUs of a TRES list `[{"type": "gres", "name": "gpu", "count": 2}, ...]`."""
    if tres is None:
        return 0
    if not isinstance(tres, list):
        raise InvalidSpec(f"{where}: tres must be a list")
    entries: list[tuple[str, int]] = []
    for item in tres:
        if not isinstance(item, dict) or item.get("type") != "gres":
            continue
        name = item.get("name")
        if not isinstance(name, str) or not (name == "gpu" or name.startswith("gpu:")):
            continue
        count = _json_number(where, "GPU count", item.get("count"))
        if count is not None and count != int(count):
            raise InvalidSpec(f"{where}: bad GPU count {count!r}")
        entries.append((f"gres/{name}", int(count or 0)))
    return tres_gpus(entries)


def _json_text(obj: Mapping[str, Any], key: str) -> str | None:
    """obj[key], else association[key], as a non-empty string; None when neither is."""
    for source in (obj, obj.get("association")):
        if isinstance(source, dict):
            value = source.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def _json_record(where: str, obj: Mapping[str, Any]) -> _SacctJob:
    times = obj.get("time")
    if not isinstance(times, dict):
        raise InvalidSpec(f"{where}: missing time")
    tres = obj.get("tres")
    tres = tres if isinstance(tres, dict) else {}
    gpus = _json_gpus(where, tres.get("allocated"))
    if not tres.get("allocated"):
        gpus = _json_gpus(where, tres.get("requested"))
    limit = _json_number(where, "time.limit", times.get("limit"))
    return _SacctJob(
        where,
        _json_number(where, "time.submission", times.get("submission")),
        _json_number(where, "time.start", times.get("start")),
        _json_number(where, "time.end", times.get("end")),
        gpus,
        _json_text(obj, "account"),
        _json_text(obj, "user"),
        round(limit * 60) if limit is not None else None,
    )


def _sacct_json_jobs(path: Path) -> list[Any]:
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InvalidSpec(f"{path}:{e.lineno}: not JSON ({e.msg})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("jobs"), list):
        raise InvalidSpec(f"{path}: not sacct --json output (no top-level 'jobs' list)")
    jobs: list[Any] = doc["jobs"]
    return jobs


def _read_sacct_json(path: Path, left_out: Counter[str]) -> list[TraceJob]:
    jobs: list[TraceJob] = []
    seen: set[int] = set()
    for index, obj in enumerate(_sacct_json_jobs(path)):
        where = f"{path}: jobs[{index}]"
        if not isinstance(obj, dict):
            raise InvalidSpec(f"{where}: expected a JSON object")
        job_id = obj.get("job_id")
        if isinstance(job_id, bool) or not isinstance(job_id, int):
            raise InvalidSpec(f"{where}: job_id must be an integer, not {job_id!r}")
        where = f"{where} (job {job_id})"
        if job_id in seen:
            raise InvalidSpec(f"{where}: duplicate job id {job_id}")
        seen.add(job_id)
        job = _replayable(_json_record(where, obj), job_id, left_out)
        if job is not None:
            jobs.append(job)
    return jobs


# --- format detection and the entry points ---------------------------------------------


def _first_line(path: Path) -> str:
    with path.open() as f:
        for text in f:
            if text.strip():
                return text.strip().lstrip("\ufeff")
    return ""


def detect_format(path: Path) -> str:
    """The format of `path` from its first non-blank line (see the module docstring)."""
    head = _first_line(path)
    if not head:
        raise InvalidSpec(f"{path}: empty trace")
    if head.startswith("["):
        raise InvalidSpec(
            f"{path}:1: a JSON array is not a trace format (expected one of {', '.join(FORMATS)})"
        )
    if head.startswith("{"):
        try:
            obj = json.loads(head)
        except json.JSONDecodeError:
            return SACCT_JSON  # a JSON document over several lines
        return SACCT_JSON if isinstance(obj, dict) and "jobs" in obj else JSONL
    return SACCT_PARSABLE if "|" in head else PHILLY


def load_trace(path: str | Path, limit: int | None = None, fmt: str | None = None) -> Trace:
    """The trace at `path` in format `fmt` (one of FORMATS; None: detected), its jobs
    sorted by submit time (then id), the first `limit` only when given. Raises NotFound
    for a missing file, InvalidSpec (naming file and line) for malformed content."""
    p = Path(path)
    if limit is not None and limit < 0:
        raise InvalidSpec(f"limit must be >= 0, not {limit}")
    if fmt is not None and fmt not in FORMATS:
        raise InvalidSpec(f"unknown trace format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if not p.is_file():
        raise NotFound(f"no trace file {p}")
    try:
        chosen = fmt or detect_format(p)
        left_out: Counter[str] = Counter()
        if chosen == SACCT_JSON:
            jobs = _read_sacct_json(p, left_out)
        elif chosen == SACCT_PARSABLE:
            jobs = _read_sacct_parsable(p, left_out)
        else:
            jobs = _read_jsonl(p) if chosen == JSONL else _read_csv(p)
    except UnicodeDecodeError as e:
        raise InvalidSpec(f"{p}: not a text file ({e.reason})") from None
    jobs.sort(key=lambda j: (j.submit, j.id))
    return Trace(p, chosen, jobs if limit is None else jobs[:limit], dict(left_out))


def read_trace(
    path: str | Path, limit: int | None = None, fmt: str | None = None
) -> list[TraceJob]:
    """The jobs of `load_trace(path, limit, fmt)`."""
    return load_trace(path, limit, fmt).jobs
