"""--time, --begin and --mem values read as Slurm documents them."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlrp.errors import InvalidSpec
from mlrp.parsing.slurmtime import (
    MAX_DURATION,
    format_duration,
    parse_begin,
    parse_duration,
    parse_memory,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30 * 60),  # minutes
        ("90", 90 * 60),  # minutes are not range-checked, as in Slurm
        ("5:30", 5 * 60 + 30),  # minutes:seconds
        ("0:45", 45),
        ("2:00:00", 2 * 3600),  # hours:minutes:seconds
        ("1:02:03", 3723),
        ("2-0", 2 * 86400),  # days-hours
        ("1-12", 86400 + 12 * 3600),
        ("1-2:30", 86400 + 2 * 3600 + 30 * 60),  # days-hours:minutes
        ("3-04:05:06", 3 * 86400 + 4 * 3600 + 5 * 60 + 6),  # days-hours:minutes:seconds
        (" 10 ", 600),
    ],
)
def test_every_slurm_time_format(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["UNLIMITED", "unlimited", "INFINITE", "infinite", "-1"])
def test_unlimited_means_no_limit_of_our_own(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1:xx:00", "expected minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"),
        ("", "expected minutes"),
        ("1h", "expected minutes"),
        ("1:2:3:4", "expected minutes"),
        ("1-2-3", "expected minutes"),
        ("-5", "expected minutes"),
        ("1.5", "expected minutes"),
        ("0", "must be positive"),
        ("0:00", "must be positive"),
        ("0-0:0:0", "must be positive"),
        ("99999999999", "longer than"),
        ("9" * 5000, "longer than"),
    ],
)
def test_bad_time_limits_name_the_text(text: str, problem: str) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(problem)) as caught:
        parse_duration(text)
    assert f"invalid --time {text!r}" in str(caught.value)


def test_the_option_name_in_errors_is_the_one_the_user_typed() -> None:
    with pytest.raises(InvalidSpec, match=r"^invalid -t '1:xx:00': "):
        parse_duration("1:xx:00", option="-t")


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0:00"),
        (5, "0:05"),
        (65, "1:05"),
        (59 * 60 + 59, "59:59"),
        (3600, "1:00:00"),
        (3723, "1:02:03"),
        (86399, "23:59:59"),
        (86400, "1-00:00:00"),
        (3 * 86400 + 4 * 3600 + 5 * 60 + 6, "3-04:05:06"),
        (None, "UNLIMITED"),
        (-65, "-1:05"),
    ],
)
def test_durations_display_like_squeue(seconds: int | None, shown: str) -> None:
    assert format_duration(seconds) == shown


@given(st.integers(min_value=1, max_value=MAX_DURATION) | st.none())
def test_displayed_durations_read_back_exactly(seconds: int | None) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


# --begin ---------------------------------------------------------------------------

NOW = datetime(2024, 5, 10, 15, 30, 0).timestamp()  # a Friday afternoon, local time


def local(*fields: int) -> float:
    return datetime(*fields).timestamp()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("NOW", NOW),
        ("now+60", NOW + 60),  # seconds by default
        ("now+90seconds", NOW + 90),
        ("now+10minutes", NOW + 600),
        ("now+1minute", NOW + 60),
        ("now+10min", NOW + 600),
        ("now+2hours", NOW + 7200),
        ("now+1hour", NOW + 3600),
        ("now+1day", NOW + 86400),
        ("now+3days", NOW + 3 * 86400),
        ("now+2weeks", NOW + 14 * 86400),
        ("now + 1 hour", NOW + 3600),
        ("now-30", NOW - 30),
        ("16:00", local(2024, 5, 10, 16, 0)),  # later today
        ("15:30", NOW),  # this very moment is not "past"
        ("09:15", local(2024, 5, 11, 9, 15)),  # already past: tomorrow
        ("16:00:30", local(2024, 5, 10, 16, 0, 30)),
        ("4:00PM", local(2024, 5, 10, 16, 0)),
        ("4:00pm", local(2024, 5, 10, 16, 0)),
        ("10:00AM", local(2024, 5, 11, 10, 0)),
        ("12:00AM", local(2024, 5, 11, 0, 0)),
        ("12:30PM", local(2024, 5, 11, 12, 30)),
        ("2024-06-01", local(2024, 6, 1)),
        ("2024-06-01T08:30", local(2024, 6, 1, 8, 30)),
        ("2024-06-01T08:30:15", local(2024, 6, 1, 8, 30, 15)),
        ("2024-01-01", local(2024, 1, 1)),  # a past date just means "eligible now"
        ("midnight", local(2024, 5, 11, 0, 0)),
        ("noon", local(2024, 5, 11, 12, 0)),  # noon has passed
        ("elevenses", local(2024, 5, 11, 11, 0)),
        ("fika", local(2024, 5, 11, 15, 0)),
        ("teatime", local(2024, 5, 10, 16, 0)),  # 16:00 is still ahead
        ("today", local(2024, 5, 10)),
        ("tomorrow", local(2024, 5, 11)),
        ("06/01", local(2024, 6, 1)),
        ("06/01/25", local(2025, 6, 1)),
        ("0601", local(2024, 6, 1)),
        ("06.01.25", local(2025, 6, 1)),
        ("05/01", local(2025, 5, 1)),  # this year's May 1st is past: next year
    ],
)
def test_every_begin_form(text: str, expected: float) -> None:
    assert parse_begin(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("soon", "expected now[+N"),
        ("now+5fortnights", "unknown time unit 'fortnights'"),
        ("25:00", "hour must be in 0..23"),
        ("2024-02-30", "day is out of range for month"),
        ("2024-13-01", "month must be in 1..12"),
        ("13:00PM", "does not exist with AM/PM"),
        ("", "expected now[+N"),
    ],
)
def test_bad_begin_times_name_the_text(text: str, problem: str) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(problem)) as caught:
        parse_begin(text, NOW)
    assert f"invalid --begin {text!r}" in str(caught.value)


# --mem -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mb"),
    [
        ("4096", 4096),  # megabytes by default
        ("500M", 500),
        ("500m", 500),
        ("4G", 4096),
        ("4g", 4096),
        ("16GB", 16384),
        ("1T", 1024 * 1024),
        ("2048K", 2),
        ("1K", 1),  # kilobytes round up to a whole megabyte
        ("1025K", 2),
    ],
)
def test_memory_sizes(text: str, mb: int) -> None:
    assert parse_memory(text) == mb


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("0", "Slurm's --mem=0, 'all of the node', is not supported"),
        ("0G", "give an amount of memory"),
        ("4X", "expected a whole number of megabytes"),
        ("1.5G", "expected a whole number of megabytes"),
        ("-4G", "expected a whole number of megabytes"),
        ("G", "expected a whole number of megabytes"),
        ("4096B", "expected a whole number of megabytes"),
        ("", "expected a whole number of megabytes"),
        ("99999999T", "more than"),
    ],
)
def test_bad_memory_sizes_name_the_text(text: str, problem: str) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(problem)) as caught:
        parse_memory(text)
    assert f"invalid --mem {text!r}" in str(caught.value)
