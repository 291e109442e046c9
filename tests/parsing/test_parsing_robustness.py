"""Whatever a user types, a parser either succeeds or says InvalidSpec — never a traceback."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlrp.errors import InvalidSpec
from mlrp.parsing.arrays import parse_array
from mlrp.parsing.dependency import parse_dependency
from mlrp.parsing.patterns import expand_filename
from mlrp.parsing.sbatch import parse_options, read_directives, spec_from_script
from mlrp.parsing.skypilot import spec_from_task_yaml
from mlrp.parsing.slurmtime import parse_begin, parse_duration, parse_memory

NOW = 1_700_000_000.0

# Text biased towards the characters these formats are made of.
slurmish = st.text(alphabet="0123456789:-+,?%_@=#.'\"\\ abdefhklmnoprstuwxyzAGKMT\n", max_size=40)
anything = st.text(max_size=40)

PARSERS: dict[str, Callable[[str], object]] = {
    "duration": parse_duration,
    "begin": lambda text: parse_begin(text, NOW),
    "memory": parse_memory,
    "array": parse_array,
    "dependency": parse_dependency,
}


@pytest.mark.parametrize("name", sorted(PARSERS))
@given(text=slurmish | anything)
@settings(max_examples=300)
def test_value_parsers_only_ever_raise_invalid_spec(name: str, text: str) -> None:
    try:
        PARSERS[name](text)
    except InvalidSpec as err:
        assert str(err)


@given(tokens=st.lists(slurmish.map(lambda t: "-" + t) | slurmish, max_size=6))
@settings(max_examples=300)
def test_option_lists_only_ever_raise_invalid_spec(tokens: list[str]) -> None:
    try:
        parse_options(tokens, now=NOW, source="command line")
    except InvalidSpec as err:
        assert str(err).startswith("command line: ")


@given(body=st.lists(slurmish.map(lambda t: "#SBATCH " + t) | slurmish, max_size=5))
@settings(max_examples=300)
def test_scripts_only_ever_raise_invalid_spec(body: list[str]) -> None:
    text = "\n".join(["#!/bin/sh", *body])
    try:
        read_directives(text)
        spec_from_script(text, cli_tokens=[], script_args=[], environ={}, now=NOW, source="s.sh")
    except InvalidSpec as err:
        assert "s.sh" in str(err) or "the script" in str(err)


@given(text=st.text(alphabet="abcnrume:-[]{}!&*|>'\"\n 0123456789", max_size=60))
@settings(max_examples=300)
def test_task_yaml_only_ever_raises_invalid_spec(text: str) -> None:
    try:
        spec_from_task_yaml(text, environ={}, source="t.yaml")
    except InvalidSpec as err:
        assert str(err).startswith("t.yaml: ")


@given(pattern=st.text(alphabet="%0123456789jxuAaNsq-._/", max_size=30))
def test_filename_patterns_never_fail(pattern: str) -> None:
    expanded = expand_filename(
        pattern, job_id=5, array_job_id=None, array_task_id=None, name="n", user="u"
    )
    if "%" not in pattern:
        assert expanded == pattern
