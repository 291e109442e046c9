"""--array specifications, as Slurm documents them."""

from __future__ import annotations

import re

import pytest

from mlrp.errors import InvalidSpec
from mlrp.parsing.arrays import MAX_INDEX, MAX_TASKS, ArraySpec, parse_array


@pytest.mark.parametrize(
    ("text", "indices", "throttle"),
    [
        ("0-15", tuple(range(16)), None),
        ("7", (7,), None),
        ("0,6,16-32", (0, 6, *range(16, 33)), None),
        ("0-15:4", (0, 4, 8, 12), None),
        ("1-10:3", (1, 4, 7, 10), None),
        ("1-7%2", tuple(range(1, 8)), 2),
        ("0-15,20%4", (*range(16), 20), 4),  # the throttle covers the whole array
        ("5,3,1,3", (1, 3, 5), None),  # sorted, duplicates merged
        ("0-4,2-6", tuple(range(7)), None),
        ("0-20:5,7%1", (0, 5, 7, 10, 15, 20), 1),
        (" 1-3 ", (1, 2, 3), None),
        (f"0-{MAX_TASKS - 1}", tuple(range(MAX_TASKS)), None),
        (f"{MAX_INDEX}", (MAX_INDEX,), None),
    ],
)
def test_array_forms(text: str, indices: tuple[int, ...], throttle: int | None) -> None:
    assert parse_array(text) == ArraySpec(indices=indices, throttle=throttle)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "expected indices and ranges like 0-15"),
        ("abc", "expected indices and ranges"),
        ("1-", "expected indices and ranges"),
        ("-3", "expected indices and ranges"),
        ("1,,2", "invalid --array '' in '1,,2'"),
        ("0-15:x", "expected indices and ranges"),
        ("5:2", "expected indices and ranges"),
        ("1 - 3", "expected indices and ranges"),
        ("10-2", "range '10-2' ends before it starts"),
        ("0-10:0", "the step in '0-10:0' must be at least 1"),
        ("0-15%", "the throttle after '%' must be a whole number"),
        ("0-15%x", "the throttle after '%' must be a whole number"),
        ("0-15%0", "the throttle after '%' must be at least 1"),
        ("0-15%2%3", "the throttle after '%' must be a whole number"),
        (f"0-{MAX_TASKS}", f"more than {MAX_TASKS} tasks"),
        (f"0-{MAX_TASKS - 1},{MAX_TASKS + 5}", f"more than {MAX_TASKS} tasks"),
        (f"{MAX_INDEX + 1}", f"indices go up to {MAX_INDEX}"),
        ("0-99999999999999999", "expected indices and ranges"),
    ],
)
def test_bad_arrays_name_the_text(text: str, problem: str) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(problem)) as caught:
        parse_array(text)
    assert repr(text) in str(caught.value) or repr(text.strip()) in str(caught.value)


def test_a_huge_range_is_refused_without_building_it() -> None:
    with pytest.raises(InvalidSpec, match="more than 10000 tasks"):
        parse_array(f"0-{MAX_INDEX}")
