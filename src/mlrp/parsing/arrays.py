"""Slurm job array specifications (--array).

Contract: `parse_array(text)` returns an `ArraySpec` whose `indices` are sorted and
unique and whose `throttle` is the "%N" limit on simultaneously running tasks (None when
absent). Accepted, as in Slurm:

* "0-15"          a range (inclusive)
* "0,6,16-32"     a comma-separated list of indices and ranges
* "0-15:4"        a range with a step (0, 4, 8, 12)
* "0-15,20%4"     a trailing "%N" throttles the whole array, not just the last item

At most `MAX_TASKS` tasks and indices up to `MAX_INDEX`; anything else raises
`InvalidSpec` naming the option and quoting the text.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from mlrp.errors import InvalidSpec

MAX_TASKS = 10_000
MAX_INDEX = 4_000_000

_ITEM = re.compile(r"([0-9]{1,9})(?:-([0-9]{1,9})(?::([0-9]{1,9}))?)?")
_THROTTLE = re.compile(r"[0-9]{1,9}")
_HELP = "expected indices and ranges like 0-15, 0,6,16-32, 0-15:4 or 1-7%2"


class ArraySpec(NamedTuple):
    """The task indices of a job array and its throttle (max tasks running at once)."""

    indices: tuple[int, ...]
    throttle: int | None = None


def parse_array(text: str, option: str = "--array") -> ArraySpec:
    """Parse a Slurm --array value such as "0-15:4,20%2"."""
    body, throttle = _split_throttle(text.strip(), text, option)
    indices: set[int] = set()
    for item in body.split(","):
        indices.update(_item(item, text, option))
        if len(indices) > MAX_TASKS:
            raise InvalidSpec(f"invalid {option} {text!r}: more than {MAX_TASKS} tasks")
    return ArraySpec(indices=tuple(sorted(indices)), throttle=throttle)


def _split_throttle(value: str, text: str, option: str) -> tuple[str, int | None]:
    body, percent, limit = value.partition("%")
    if not percent:
        return body, None
    if _THROTTLE.fullmatch(limit) is None:
        raise InvalidSpec(
            f"invalid {option} {text!r}: the throttle after '%' must be a whole number"
        )
    if int(limit) < 1:
        raise InvalidSpec(f"invalid {option} {text!r}: the throttle after '%' must be at least 1")
    return body, int(limit)


def _item(item: str, text: str, option: str) -> range:
    match = _ITEM.fullmatch(item)
    if match is None:
        shown = f"{item!r} in {text!r}" if item != text.strip() else repr(text)
        raise InvalidSpec(f"invalid {option} {shown}: {_HELP}")
    first = int(match.group(1))
    last = int(match.group(2) or first)
    step = int(match.group(3) or 1)
    _check_item(item, first, last, step, text, option)
    return range(first, last + 1, step)


def _check_item(item: str, first: int, last: int, step: int, text: str, option: str) -> None:
    if last < first:
        raise InvalidSpec(f"invalid {option} {text!r}: range {item!r} ends before it starts")
    if step < 1:
        raise InvalidSpec(f"invalid {option} {text!r}: the step in {item!r} must be at least 1")
    if last > MAX_INDEX:
        raise InvalidSpec(f"invalid {option} {text!r}: indices go up to {MAX_INDEX}")
    if (last - first) // step + 1 > MAX_TASKS:
        raise InvalidSpec(f"invalid {option} {text!r}: more than {MAX_TASKS} tasks")
