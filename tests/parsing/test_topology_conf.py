"""Slurm topology.conf and hostlist expressions, as `mlrp sim --topology` reads them."""

from __future__ import annotations

import re

import pytest

from mlrp.errors import InvalidSpec
from mlrp.parsing.topology import SwitchLine, expand_hostlist, parse_topology


@pytest.mark.parametrize(
    ("text", "hosts"),
    [
        ("n0", ["n0"]),
        ("n[0-2]", ["n0", "n1", "n2"]),
        ("n[0-1,5],login", ["n0", "n1", "n5", "login"]),
        ("gpu[01-03]", ["gpu01", "gpu02", "gpu03"]),  # leading zeros kept
        ("r[1-2]n[0-1]", ["r1n0", "r1n1", "r2n0", "r2n1"]),
        ("a[7]-ib", ["a7-ib"]),
    ],
)
def test_hostlists_expand_like_slurm(text: str, hosts: list[str]) -> None:
    assert expand_hostlist(text) == hosts


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("n[0-", "without ']'"),
        ("n0]", "without '['"),
        ("n[a-b]", "not N or N-M"),
        ("n[5-2]", "backwards"),
    ],
)
def test_bad_hostlists_are_named(text: str, message: str) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(message)):
        expand_hostlist(text)


def test_topology_conf_lines() -> None:
    text = """
    # two leaves under a spine
    SwitchName=leaf0 Nodes=n[0-1] LinkSpeed=100
    switchname=leaf1 nodes=n[2-3]
    SwitchName=spine Switches=leaf[0-1]
    """
    assert parse_topology(text) == [
        SwitchLine("leaf0", ("n0", "n1"), ()),
        SwitchLine("leaf1", ("n2", "n3"), ()),
        SwitchLine("spine", (), ("leaf0", "leaf1")),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Nodes=n0", "topo:1: a line must start with SwitchName="),
        ("SwitchName=s0", "topo:1: switch 's0' has no Nodes= or Switches="),
        ("SwitchName=s0 Nodes=n0\nSwitchName=s0 Nodes=n1", "topo:2: switch 's0' is defined twice"),
        ("SwitchName=s0 Switches=s9", "lists unknown switches"),
        ("SwitchName=s0 Nodes", "expected KEY=VALUE"),
        ("SwitchName=s0 Nodes=n[1-", "topo:1: bad hostlist"),
    ],
)
def test_bad_topology_lines_are_named(text: str, message: str) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(message)):
        parse_topology(text, "topo")
