"""GPU-hours per day from listing rows (mlrp.services.usage), in UTC so that days are
plain 86,400-second spans."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from mlrp.errors import InvalidSpec
from mlrp.services.usage import daily_usage, window_start

UTC = dt.UTC
DAY = 86400.0
NOW = dt.datetime(2024, 5, 10, 12, 0, tzinfo=UTC).timestamp()  # noon, May 10th
MIDNIGHT = NOW - 12 * 3600  # May 10th, 00:00


def row(start: float | None, end: float | None, gpus: int = 1, *, state: str = "COMPLETED",
        account: str = "vision", user: str = "alice") -> dict[str, Any]:  # fmt: skip
    return {"start_time": start, "end_time": end, "gpu_count": gpus, "state": state,
            "account": account, "user": user}  # fmt: skip


def test_a_job_within_one_day_counts_gpus_times_hours() -> None:
    usage = daily_usage([row(MIDNIGHT + 3600, MIDNIGHT + 3 * 3600, 4)], now=NOW, days=3, tz=UTC)
    assert usage.days == [dt.date(2024, 5, 8), dt.date(2024, 5, 9), dt.date(2024, 5, 10)]
    assert usage.by_account == {"vision": [0.0, 0.0, 8.0]}
    assert usage.by_user == {"alice": [0.0, 0.0, 8.0]}
    assert usage.total() == 8.0


def test_a_job_across_midnight_is_split_between_the_days() -> None:
    job = row(MIDNIGHT - 2 * 3600, MIDNIGHT + 1800, 2)  # 22:00 to 00:30
    usage = daily_usage([job], now=NOW, days=2, tz=UTC)
    assert usage.by_account["vision"] == [4.0, 1.0]


def test_a_running_job_counts_until_now_and_pending_ones_not_at_all() -> None:
    rows = [
        row(MIDNIGHT + 6 * 3600, None, 1, state="RUNNING"),  # 06:00 to now (noon)
        row(None, None, 8, state="PENDING"),
        row(MIDNIGHT, None, 8, state="PENDING"),  # requeued: charged when it stopped
    ]
    usage = daily_usage(rows, now=NOW, days=1, tz=UTC)
    assert usage.by_account == {"vision": [6.0]}


def test_time_before_the_window_is_not_counted() -> None:
    job = row(MIDNIGHT - 5 * DAY, MIDNIGHT + 3600, 1)  # began long before the window
    usage = daily_usage([job], now=NOW, days=1, tz=UTC)
    assert usage.by_account == {"vision": [1.0]}


def test_accounts_and_users_are_ordered_by_total_use() -> None:
    rows = [
        row(MIDNIGHT, MIDNIGHT + 3600, 1, account="nlp", user="bob"),
        row(MIDNIGHT, MIDNIGHT + 3600, 3, account="vision", user="alice"),
        row(MIDNIGHT, MIDNIGHT + 3600, 1, account="vision", user="carol"),
    ]
    usage = daily_usage(rows, now=NOW, days=1, tz=UTC)
    assert list(usage.by_account) == ["vision", "nlp"]
    assert usage.by_account == {"vision": [4.0], "nlp": [1.0]}
    assert list(usage.by_user) == ["alice", "bob", "carol"]


def test_jobs_without_gpus_or_that_never_ran_are_left_out() -> None:
    rows = [row(MIDNIGHT, MIDNIGHT + 3600, 0), row(None, MIDNIGHT, 2, state="CANCELLED")]
    assert daily_usage(rows, now=NOW, days=1, tz=UTC).by_account == {}


def test_the_window_starts_at_midnight_of_its_first_day() -> None:
    assert window_start(NOW, 1, UTC) == MIDNIGHT
    assert window_start(NOW, 7, UTC) == MIDNIGHT - 6 * DAY


def test_a_window_of_no_days_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="days must be between 1 and 366"):
        daily_usage([], now=NOW, days=0)
