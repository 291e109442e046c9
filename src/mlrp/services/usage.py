"""GPU-hours used per day, per account and per user, from the job history.

The input is the backend's listing rows (`Backend.queue_json(Listing(ended_since=...))`:
the jobs that ended since a time, and the active ones), so both backends give the same
figures. A job uses `gpu_count` GPUs from its `start_time` to its `end_time` (to `now`
while it runs); those GPU-seconds are split over the calendar days they fall in, in the
time zone given (the daemon's local time by default). Pending jobs and jobs that never
started used nothing.

This is what jobs held, not the decayed, billing-weighted usage that fair share counts
(mlrp.services.accounting).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlrp.errors import InvalidSpec

SECONDS_PER_HOUR = 3600.0
MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """GPU-hours per day: `days` in order, and for each account and user one figure per
    day (aligned with `days`). Keys are ordered by total use, largest first."""

    days: list[dt.date]
    by_account: dict[str, list[float]]
    by_user: dict[str, list[float]]

    def total(self) -> float:
        return sum(sum(values) for values in self.by_account.values())


def window_start(now: float, days: int, tz: dt.tzinfo | None = None) -> float:
    """The first instant counted by a `days`-day window ending today: midnight of the
    first day (use it as the listing's `ended_since`)."""
    return _midnight(_window_days(now, days, tz)[0], tz)


def daily_usage(
    rows: Iterable[Mapping[str, Any]], *, now: float, days: int, tz: dt.tzinfo | None = None
) -> DailyUsage:
    """GPU-hours of `rows` on each of the last `days` days (today included)."""
    calendar = _window_days(now, days, tz)
    bounds = [_midnight(day, tz) for day in calendar]
    bounds.append(_midnight(calendar[-1] + dt.timedelta(days=1), tz))
    by_account: dict[str, list[float]] = {}
    by_user: dict[str, list[float]] = {}
    for row in rows:
        held = _held(row, now)
        if held is None:
            continue
        start, end, gpus = held
        for index, seconds in _per_day(start, end, bounds):
            hours = gpus * seconds / SECONDS_PER_HOUR
            for key, table in ((row["account"], by_account), (row["user"], by_user)):
                table.setdefault(key, [0.0] * len(calendar))[index] += hours
    return DailyUsage(calendar, _by_total(by_account), _by_total(by_user))


def _held(row: Mapping[str, Any], now: float) -> tuple[float, float, int] | None:
    """(start, end, GPUs) of the time the job held GPUs; None if it held none."""
    start, gpus = row.get("start_time"), row.get("gpu_count") or 0
    if start is None or gpus <= 0:
        return None
    end = row.get("end_time")
    if end is None:
        if row.get("state") != "RUNNING":
            return None  # requeued, or pending again: what it held was charged then
        end = now
    end = min(float(end), now)
    return (float(start), end, int(gpus)) if end > start else None


def _per_day(start: float, end: float, bounds: list[float]) -> Iterable[tuple[int, float]]:
    """(day index, seconds) of [start, end) within each day that `bounds` delimit."""
    first = max(bisect.bisect_right(bounds, start) - 1, 0)
    for index in range(first, len(bounds) - 1):
        low, high = max(start, bounds[index]), min(end, bounds[index + 1])
        if low >= end:
            break
        if high > low:
            yield index, high - low


def _by_total(table: dict[str, list[float]]) -> dict[str, list[float]]:
    ordered = sorted(table.items(), key=lambda item: (-sum(item[1]), item[0]))
    return {key: [round(v, 6) for v in values] for key, values in ordered}


def _window_days(now: float, days: int, tz: dt.tzinfo | None) -> list[dt.date]:
    if not 1 <= days <= MAX_DAYS:
        raise InvalidSpec(f"days must be between 1 and {MAX_DAYS}, not {days}")
    today = dt.datetime.fromtimestamp(now, tz).date()
    return [today - dt.timedelta(days=days - 1 - i) for i in range(days)]


def _midnight(day: dt.date, tz: dt.tzinfo | None) -> float:
    """The epoch of `day`'s midnight in `tz` (None: local time, daylight saving included)."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()
