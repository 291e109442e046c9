"""Slurm time, date and memory values: --time, --begin and --mem.

Contract:

* `parse_duration(text)` reads a Slurm time limit and returns seconds, or None for
  "UNLIMITED" / "INFINITE" / "-1" (the caller then applies the partition's cap).
  Accepted: "minutes", "minutes:seconds", "hours:minutes:seconds", "days-hours",
  "days-hours:minutes", "days-hours:minutes:seconds". As in Slurm, fields are not
  range-checked ("90" and "0:90" are fine); the total must be positive.
* `format_duration(seconds)` writes squeue's TIME style: "M:SS", "H:MM:SS",
  "D-HH:MM:SS", and "UNLIMITED" for None. `parse_duration` reads it back exactly.
* `parse_begin(text, now)` reads a Slurm --begin value and returns an epoch time.
  Wall-clock forms are in the system's local time zone; `now` is passed in.
* `parse_memory(text)` reads a Slurm --mem value and returns MiB (K is rounded up).

Every error is `InvalidSpec` naming the option and quoting the text.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from datetime import time as clock

from mlrp.errors import InvalidSpec
from mlrp.models.durations import format_duration

__all__ = [
    "MAX_DURATION",
    "MAX_MEMORY_MB",
    "format_duration",
    "parse_begin",
    "parse_duration",
    "parse_memory",
]

MAX_DURATION = 2**31 - 1
"""The longest accepted time limit in seconds (about 68 years)."""

MAX_MEMORY_MB = 2**30
"""The largest accepted memory request in MiB (1 PiB)."""

_UNLIMITED = frozenset({"unlimited", "infinite", "-1"})

_DURATION_FORMATS: tuple[tuple[re.Pattern[str], tuple[int, ...]], ...] = (
    (re.compile(r"([0-9]+)"), (60,)),
    (re.compile(r"([0-9]+):([0-9]+)"), (60, 1)),
    (re.compile(r"([0-9]+):([0-9]+):([0-9]+)"), (3600, 60, 1)),
    (re.compile(r"([0-9]+)-([0-9]+)"), (86400, 3600)),
    (re.compile(r"([0-9]+)-([0-9]+):([0-9]+)"), (86400, 3600, 60)),
    (re.compile(r"([0-9]+)-([0-9]+):([0-9]+):([0-9]+)"), (86400, 3600, 60, 1)),
)

_DURATION_HELP = "expected minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"


def parse_duration(text: str, option: str = "--time") -> int | None:
    """Seconds in a Slurm time limit, or None when it is unlimited."""
    value = text.strip()
    if value.lower() in _UNLIMITED:
        return None
    for pattern, weights in _DURATION_FORMATS:
        match = pattern.fullmatch(value)
        if match is not None:
            return _checked_duration(_weighted_sum(match.groups(), weights), text, option)
    raise InvalidSpec(f"invalid {option} {text!r}: {_DURATION_HELP}")


def _weighted_sum(fields: tuple[str | None, ...], weights: tuple[int, ...]) -> int:
    # Field lengths are capped so int() never meets Python's digit limit.
    if any(len(f or "") > 12 for f in fields):
        return MAX_DURATION + 1
    return sum(int(f or "0") * w for f, w in zip(fields, weights, strict=True))


def _checked_duration(seconds: int, text: str, option: str) -> int:
    if seconds <= 0:
        raise InvalidSpec(f"invalid {option} {text!r}: the time limit must be positive")
    if seconds > MAX_DURATION:
        raise InvalidSpec(f"invalid {option} {text!r}: longer than {format_duration(MAX_DURATION)}")
    return seconds


# --begin ---------------------------------------------------------------------------

_BEGIN_HELP = (
    "expected now[+N[seconds|minutes|hours|days|weeks]], HH:MM[:SS][AM|PM], "
    "YYYY-MM-DD[THH:MM[:SS]], MM/DD[/YY], MMDD[YY], midnight, noon, elevenses, fika, "
    "teatime, today or tomorrow"
)

_UNIT_SECONDS: dict[str, int] = {
    **dict.fromkeys(("", "s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("w", "week", "weeks"), 604800),
}

_NAMED_TIMES: dict[str, clock] = {
    "midnight": clock(0, 0),
    "elevenses": clock(11, 0),
    "noon": clock(12, 0),
    "fika": clock(15, 0),
    "teatime": clock(16, 0),
}

_NOW = re.compile(r"now(?:\s*([+-])\s*([0-9]{1,12})\s*([a-z]*))?")
_CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?\s*([ap]m)?")
_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:t([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?)?")
_MONTH_DAY = re.compile(
    r"([0-9]{2})/([0-9]{2})(?:/([0-9]{2}))?"
    r"|([0-9]{2})\.([0-9]{2})(?:\.([0-9]{2}))?"
    r"|([0-9]{2})([0-9]{2})([0-9]{2})?"
)


def parse_begin(text: str, now: float, option: str = "--begin") -> float:
    """The epoch time a Slurm --begin value names, relative to `now` (local time)."""
    value = text.strip().lower()
    try:
        result = _begin(value, now)
    except (ValueError, OverflowError, OSError) as err:  # e.g. February 30th
        raise InvalidSpec(f"invalid {option} {text!r}: {err}") from err
    if result is None:
        raise InvalidSpec(f"invalid {option} {text!r}: {_BEGIN_HELP}")
    return result


def _begin(value: str, now: float) -> float | None:
    today = datetime.fromtimestamp(now).date()
    if value == "today":
        return _epoch(today, clock(0, 0))
    if value == "tomorrow":
        return _epoch(today + timedelta(days=1), clock(0, 0))
    if value in _NAMED_TIMES:
        return _next_occurrence(_NAMED_TIMES[value], now)
    for parse in (_begin_now, _begin_clock, _begin_iso, _begin_month_day):
        result = parse(value, now)
        if result is not None:
            return result
    return None


def _epoch(day: date, at: clock) -> float:
    return datetime.combine(day, at).timestamp()


def _next_occurrence(at: clock, now: float) -> float:
    """`at` today, or tomorrow when that has already passed."""
    today = datetime.fromtimestamp(now).date()
    candidate = _epoch(today, at)
    return candidate if candidate >= now else _epoch(today + timedelta(days=1), at)


def _begin_now(value: str, now: float) -> float | None:
    match = _NOW.fullmatch(value)
    if match is None:
        return None
    sign, count, unit = match.groups()
    if sign is None:
        return now
    if unit not in _UNIT_SECONDS:
        raise ValueError(f"unknown time unit {unit!r} (use seconds, minutes, hours, days or weeks)")
    delta = int(count) * _UNIT_SECONDS[unit]
    return now + delta if sign == "+" else now - delta


def _begin_clock(value: str, now: float) -> float | None:
    match = _CLOCK.fullmatch(value)
    if match is None:
        return None
    hour, minute, second = (int(g or "0") for g in match.groups()[:3])
    meridiem = match.group(4)
    if meridiem is not None:
        if not 1 <= hour <= 12:
            raise ValueError(f"hour {hour} does not exist with AM/PM")
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    return _next_occurrence(clock(hour, minute, second), now)


def _begin_iso(value: str, now: float) -> float | None:
    match = _ISO.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g or "0") for g in match.groups())
    return _epoch(date(year, month, day), clock(hour, minute, second))


def _begin_month_day(value: str, now: float) -> float | None:
    match = _MONTH_DAY.fullmatch(value)
    if match is None:
        return None
    month, day, year = _first_triple(match.groups())
    today = datetime.fromtimestamp(now).date()
    if year is not None:
        return _epoch(date(2000 + int(year), int(month), int(day)), clock(0, 0))
    candidate = date(today.year, int(month), int(day))
    if candidate < today:
        candidate = date(today.year + 1, int(month), int(day))
    return _epoch(candidate, clock(0, 0))


def _first_triple(groups: tuple[str | None, ...]) -> tuple[str, str, str | None]:
    """(month, day, year) from whichever of the three MM/DD alternatives matched."""
    for start in (0, 3, 6):
        month, day, year = groups[start : start + 3]
        if month is not None and day is not None:
            return month, day, year
    raise ValueError("no month and day")


# --mem -----------------------------------------------------------------------------

_MEMORY = re.compile(r"([0-9]{1,15})(?:([kmgt])b?)?")
_KIB_PER_UNIT = {"k": 1, "": 1024, "m": 1024, "g": 1024**2, "t": 1024**3}


def parse_memory(text: str, option: str = "--mem") -> int:
    """MiB in a Slurm --mem value: "4096" (MiB), "2048K", "500M", "4G", "1T"."""
    match = _MEMORY.fullmatch(text.strip().lower())
    if match is None:
        raise InvalidSpec(
            f"invalid {option} {text!r}: expected a whole number of megabytes, "
            "optionally with a K, M, G or T suffix (e.g. 4096, 500M, 16G)"
        )
    kib = int(match.group(1)) * _KIB_PER_UNIT[match.group(2) or ""]
    if kib == 0:
        raise InvalidSpec(
            f"invalid {option} {text!r}: give an amount of memory "
            "(Slurm's --mem=0, 'all of the node', is not supported)"
        )
    mb = -(-kib // 1024)
    if mb > MAX_MEMORY_MB:
        raise InvalidSpec(f"invalid {option} {text!r}: more than {MAX_MEMORY_MB // 1024**2}T")
    return mb
