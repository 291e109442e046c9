"""Which nodes a job larger than one node gets, from a tree of switches.

Like Slurm's topology/tree: the job goes under the lowest-level switch whose nodes have
enough usable GPUs, and among the switches of that level the one with the fewest
(best fit, which keeps the roomier switches whole for larger jobs). Inside that switch,
its children (child switches, or nodes of a leaf switch) are taken roomiest first; the
last one taken is the smallest child that covers what is still needed (best fit again),
so a job spans as few nodes and switches as it can.

Switches come from the config (`Switch`: a leaf lists nodes, an upper switch lists
child switches). Every node sits under an implicit root above all switches, so nodes
that share no switch can still be combined, as a last resort.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence

from mlrp.scheduler.snapshot import Switch

_Item = tuple[str, int]  # ("node" | "switch", index)


class Topology:
    """The switch tree over node indices 0..len(node_names)-1."""

    __slots__ = ("_children", "_levels", "_members", "_root", "flat")

    def __init__(self, node_names: Sequence[str], switches: Sequence[Switch] = ()) -> None:
        index = {name: i for i, name in enumerate(node_names)}
        by_name = {s.name: i for i, s in enumerate(switches)}
        children: list[list[_Item]] = []
        for switch in switches:
            items: list[_Item] = [("node", index[n]) for n in switch.nodes if n in index]
            items += [("switch", by_name[c]) for c in switch.switches if c in by_name]
            children.append(items)
        # The implicit root: every switch nobody names as a child, and every node no
        # switch lists.
        named = {c for s in switches for c in s.switches if c in by_name}
        listed = {index[n] for s in switches for n in s.nodes if n in index}
        root: list[_Item] = [
            ("switch", i) for i in range(len(switches)) if switches[i].name not in named
        ]
        root += [("node", i) for i in range(len(node_names)) if i not in listed]
        children.append(root)
        self._root = len(children) - 1
        self.flat = not switches  # every node under the root alone
        self._children = children
        self._members: list[tuple[int, ...]] = [()] * len(children)
        self._levels: list[int] = [0] * len(children)
        for s in range(len(children)):
            self._resolve(s, set())

    def _resolve(self, s: int, path: set[int]) -> None:
        """Members (nodes under the switch) and level (0 for leaves), cycle-safe."""
        if self._members[s] or s in path:
            return
        path = path | {s}
        nodes: list[int] = []
        level = 0
        for kind, i in self._children[s]:
            if kind == "node":
                nodes.append(i)
            elif i not in path:
                self._resolve(i, path)
                nodes.extend(self._members[i])
                level = max(level, self._levels[i] + 1)
        self._members[s] = tuple(dict.fromkeys(nodes))
        self._levels[s] = level

    def choose(self, n: int, usable: Mapping[int, int]) -> list[tuple[int, int]] | None:
        """(node, GPUs to take there) for `n` GPUs, given each node's usable GPUs;
        None when no switch (the implicit root included) has enough."""
        sums = [sum(usable.get(node, 0) for node in members) for members in self._members]
        fitting = [s for s, total in enumerate(sums) if total >= n]
        if not fitting:
            return None
        best = min(fitting, key=lambda s: (self._levels[s], sums[s], s))
        taken: list[tuple[int, int]] = []
        self._take(best, n, usable, sums, taken)
        return taken

    def _take(
        self,
        s: int,
        need: int,
        usable: Mapping[int, int],
        sums: Sequence[int],
        taken: list[tuple[int, int]],
    ) -> int:
        """Take up to `need` GPUs under switch `s` into `taken`; returns what is left."""
        items = [
            (usable.get(i, 0) if kind == "node" else sums[i], kind, i)
            for kind, i in self._children[s]
        ]
        items = [item for item in items if item[0] > 0]
        items.sort(key=lambda item: (-item[0], item[1], item[2]))
        rooms = [-item[0] for item in items]  # ascending, for bisect
        head = 0
        while need > 0 and head < len(items):
            if items[head][0] >= need:
                # the smallest child that covers the rest: the last one with room >= need
                j = bisect.bisect_right(rooms, -need, lo=head) - 1
                room, kind, i = items[j]
                head = len(items)
            else:
                room, kind, i = items[head]
                head += 1
            if kind == "node":
                count = min(room, need)
                taken.append((i, count))
                need -= count
            else:
                need = self._take(i, min(room, need), usable, sums, taken) + max(need - room, 0)
        return need
