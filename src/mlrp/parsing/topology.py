"""Slurm's topology.conf (topology/tree) and its hostlist expressions.

    # comments and blank lines are ignored
    SwitchName=leaf0 Nodes=n[0-31]
    SwitchName=leaf1 Nodes=n[32-63]
    SwitchName=spine Switches=leaf[0-1]

Each line names one switch and lists the nodes (a leaf switch) or the child switches
below it, as hostlists: comma-separated names where `prefix[a-b,c]suffix` expands to
the numbers in the brackets, keeping leading zeros (`gpu[01-03]` is gpu01 gpu02 gpu03).
Keys are case-insensitive, as in Slurm; other keys (LinkSpeed) are accepted and ignored.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from mlrp.errors import InvalidSpec

_RANGE = re.compile(r"(\d+)(?:-(\d+))?")
MAX_HOSTS = 1_000_000


class SwitchLine(NamedTuple):
    name: str
    nodes: tuple[str, ...]
    switches: tuple[str, ...]


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise InvalidSpec(f"bad hostlist {text!r}: ']' without '['")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise InvalidSpec(f"bad hostlist {text!r}: '[' without ']'")
    parts.append("".join(current))
    return [p for p in parts if p]


def expand_hostlist(text: str) -> list[str]:
    """`n[0-2,5],login` -> ["n0", "n1", "n2", "n5", "login"]."""
    hosts: list[str] = []
    for part in _split_top_level(text.strip()):
        start = part.find("[")
        if start < 0:
            hosts.append(part)
            continue
        end = part.index("]", start)
        prefix, body, rest = part[:start], part[start + 1 : end], part[end + 1 :]
        tails = expand_hostlist(rest) if "[" in rest else [rest]
        for item in body.split(","):
            m = _RANGE.fullmatch(item.strip())
            if m is None:
                raise InvalidSpec(f"bad hostlist {text!r}: {item!r} is not N or N-M")
            lo, hi = m.group(1), m.group(2) or m.group(1)
            if int(hi) < int(lo):
                raise InvalidSpec(f"bad hostlist {text!r}: range {item!r} runs backwards")
            if int(hi) - int(lo) > MAX_HOSTS:
                raise InvalidSpec(f"bad hostlist {text!r}: range {item!r} is too large")
            width = len(lo) if lo.startswith("0") and len(lo) > 1 else 0
            for number in range(int(lo), int(hi) + 1):
                hosts.extend(f"{prefix}{number:0{width}d}{tail}" for tail in tails)
    return hosts


def parse_topology(text: str, source: str = "topology.conf") -> list[SwitchLine]:
    """The switches of a topology.conf text; errors name the source and line."""
    switches: list[SwitchLine] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields: dict[str, str] = {}
        for token in line.split():
            key, sep, value = token.partition("=")
            if not sep or not value:
                raise InvalidSpec(f"{source}:{number}: expected KEY=VALUE, got {token!r}")
            fields[key.lower()] = value
        name = fields.get("switchname")
        if name is None:
            raise InvalidSpec(f"{source}:{number}: a line must start with SwitchName=")
        if name in seen:
            raise InvalidSpec(f"{source}:{number}: switch {name!r} is defined twice")
        seen.add(name)
        try:
            nodes = tuple(expand_hostlist(fields.get("nodes", "")))
            children = tuple(expand_hostlist(fields.get("switches", "")))
        except InvalidSpec as e:
            raise InvalidSpec(f"{source}:{number}: {e}") from None
        if not nodes and not children:
            raise InvalidSpec(f"{source}:{number}: switch {name!r} has no Nodes= or Switches=")
        switches.append(SwitchLine(name, nodes, children))
    names = {s.name for s in switches}
    for s in switches:
        unknown = [c for c in s.switches if c not in names]
        if unknown:
            raise InvalidSpec(f"{source}: switch {s.name!r} lists unknown switches {unknown}")
    return switches
