"""--dependency specifications, as Slurm documents them."""

from __future__ import annotations

import re

import pytest

from mlrp.errors import InvalidSpec
from mlrp.parsing.dependency import Dependencies, Dependency, parse_dependency


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("afterok:12", Dependencies(items=(Dependency("afterok", 12),))),
        (
            "afterok:12:13,afterany:14",
            Dependencies(
                items=(
                    Dependency("afterok", 12),
                    Dependency("afterok", 13),
                    Dependency("afterany", 14),
                )
            ),
        ),
        ("afterok:12_3", Dependencies(items=(Dependency("afterok", 12, array_task=3),))),
        ("afternotok:7", Dependencies(items=(Dependency("afternotok", 7),))),
        ("after:5", Dependencies(items=(Dependency("after", 5),))),
        ("singleton", Dependencies(items=(), singleton=True)),
        (
            "afterok:12,singleton",
            Dependencies(items=(Dependency("afterok", 12),), singleton=True),
        ),
        (
            "after:5?afterok:6",
            Dependencies(items=(Dependency("after", 5), Dependency("afterok", 6)), any_of=True),
        ),
        (
            "afterany:1_0:1_1",
            Dependencies(items=(Dependency("afterany", 1, 0), Dependency("afterany", 1, 1))),
        ),
    ],
)
def test_dependency_forms(text: str, expected: Dependencies) -> None:
    assert parse_dependency(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("aftercorr:12", "unknown dependency type 'aftercorr'"),
        ("afterOK:12", "unknown dependency type 'afterOK'"),
        ("expand:12", "unknown dependency type 'expand'"),
        ("afterok:12,after:5?afterok:6", "use either ',' (all of) or '?' (any of), not both"),
        ("afterok", "'afterok' needs job ids, e.g. afterok:123"),
        ("afterok:", "'' is not a job id"),
        ("afterok:abc", "'abc' is not a job id"),
        ("afterok:12+5", "'12+5' is not a job id"),
        ("afterok:12_", "'12_' is not a job id"),
        ("afterok:0", "job ids start at 1"),
        ("afterok:12,", "expected conditions like afterok:12 or singleton"),
        ("", "expected conditions like afterok:12 or singleton"),
        ("singleton:4", "singleton takes no job ids"),
    ],
)
def test_bad_dependencies_name_the_text(text: str, problem: str) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(problem)) as caught:
        parse_dependency(text)
    assert f"invalid --dependency {text!r}" in str(caught.value)
