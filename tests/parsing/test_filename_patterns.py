"""--output / --error filename patterns, as sbatch expands them."""

from __future__ import annotations

import pytest

from mlrp.parsing.patterns import expand_filename

PLAIN = {"job_id": 42, "array_job_id": None, "array_task_id": None}
TASK = {"job_id": 107, "array_job_id": 100, "array_task_id": 7}


@pytest.mark.parametrize(
    ("pattern", "job", "expected"),
    [
        ("slurm-%j.out", PLAIN, "slurm-42.out"),
        ("%x-%j.log", PLAIN, "train-42.log"),
        ("/home/%u/logs/%j", PLAIN, "/home/alice/logs/42"),
        ("slurm-%A_%a.out", TASK, "slurm-100_7.out"),
        ("%j", TASK, "107"),  # %j is the task's own id
        ("slurm-%A_%a.out", PLAIN, "slurm-42_4294967294.out"),  # Slurm's not-an-array value
        ("%N.out", PLAIN, "gpu01.out"),  # short node name
        ("100%%-%j", PLAIN, "100%-42"),
        ("%%j", PLAIN, "%j"),
        ("%4j", PLAIN, "0042"),
        ("%3a", TASK, "007"),
        ("%6A_%2a", TASK, "000100_07"),
        ("%1j", PLAIN, "42"),  # padding never truncates
        ("%15j", PLAIN, "0000000042"),  # at most 10 digits, as in Slurm
        ("%5x", PLAIN, "train"),  # no padding for names
        ("%3u", PLAIN, "alice"),
        ("%q-%4s-%J", PLAIN, "%q-%4s-%J"),  # unknown letters stay as written
        ("out%", PLAIN, "out%"),
        ("no-pattern.txt", PLAIN, "no-pattern.txt"),
    ],
)
def test_filename_patterns(pattern: str, job: dict[str, int | None], expected: str) -> None:
    expanded = expand_filename(
        pattern,
        job_id=job["job_id"] or 0,
        array_job_id=job["array_job_id"],
        array_task_id=job["array_task_id"],
        name="train",
        user="alice",
        node="gpu01.cluster.example.org",
    )
    assert expanded == expected


def test_the_node_defaults_to_localhost() -> None:
    expanded = expand_filename(
        "%N-%j", job_id=1, array_job_id=None, array_task_id=None, name="n", user="u"
    )
    assert expanded == "localhost-1"
