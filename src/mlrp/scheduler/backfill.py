"""The GPUs of the cluster over time, for one pass: which are free now, when the busy
ones are expected to free up, and the reservations ("shadow" plans) of blocked jobs.

A running job is expected to end at start_time + time_limit (never before now; a job
being preempted: now); a job started in this pass at now + time_limit; a GPU a slot says
is held by a job the pass does not know never frees up. A reservation holds its GPUs
from its start until its start + the job's time limit.

Backfill: a job may start now on GPUs free now unless that could delay a reservation,
i.e. unless it would still run at the reservation's start on one of its GPUs.

Placement (gang: all of a job's GPUs or none):

* a job that fits in one node goes on one node: the node with the fewest free GPUs of
  its model that can hold it (best fit), and inside it an NVLink group when the link
  groups allow (placement.choose_gpus);
* a larger job spans nodes as topology.Topology chooses (lowest switch, best fit).

Free nodes are kept in buckets by free-GPU count, so placing a job costs about the
GPUs of one node, not of the cluster: a pass over thousands of nodes stays cheap.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import NamedTuple

from mlrp.errors import MlrpError
from mlrp.scheduler.placement import choose_gpus
from mlrp.scheduler.snapshot import GpuSlot, RunningJob, Switch
from mlrp.scheduler.topology import Topology

_ANY = ""  # the pool key of "any model"
_PER_NODE_CACHE = 65536  # GPU sets whose nodes a Layout remembers


class Reservation(NamedTuple):
    """GPUs a blocked job holds from `start` to `end` (a named tuple: a pass makes
    thousands)."""

    job_id: int
    start: float
    end: float
    gpus: tuple[int, ...]


class Layout:
    """What a pass needs to know about the GPUs that does not change between passes:
    models, nodes, per-node pools, link groups, the switch tree. Built once per
    distinct (slots, link groups, switches) and cached, since a daemon or a simulator
    passes the same cluster to every pass."""

    __slots__ = (
        "alias",
        "capacity",
        "gpu_keys",
        "held",
        "key_nodes",
        "live_keys",
        "model",
        "node_cap",
        "node_capacity",
        "node_groups",
        "node_of",
        "node_pool",
        "per_node",
        "topology",
        "uniform",
    )

    def __init__(
        self,
        slots: Sequence[GpuSlot],
        link_groups: Sequence[Sequence[int]],
        switches: Sequence[Switch],
    ) -> None:
        ordered = sorted(slots, key=lambda s: s.index)
        self.model = {s.index: s.model.lower() for s in ordered}
        node_names = list(dict.fromkeys(s.node for s in ordered))
        node_id = {name: i for i, name in enumerate(node_names)}
        self.node_of = {s.index: node_id[s.node] for s in ordered}
        # node -> model (and _ANY) -> its GPUs, ascending
        self.node_pool: list[dict[str, list[int]]] = [{_ANY: []} for _ in node_names]
        for s in ordered:
            pools = self.node_pool[node_id[s.node]]
            pools[_ANY].append(s.index)
            pools.setdefault(self.model[s.index], []).append(s.index)
        self.capacity: Counter[str] = Counter(self.model.values())
        self.capacity[_ANY] = len(ordered)
        self.node_capacity = [{key: len(g) for key, g in pools.items()} for pools in self.node_pool]
        # key -> the nodes that have GPUs of it, ascending
        self.key_nodes: dict[str, list[int]] = {}
        for node, pools in enumerate(self.node_pool):
            for key in pools:
                self.key_nodes.setdefault(key, []).append(node)
        self.node_cap: dict[str, int] = {}
        for pools in self.node_pool:
            for key, gpus in pools.items():
                self.node_cap[key] = max(self.node_cap.get(key, 0), len(gpus))
        self.node_groups: list[tuple[frozenset[int], ...]] = [() for _ in node_names]
        for group in link_groups:
            members = frozenset(g for g in group if g in self.model)
            if members:
                node = self.node_of[min(members)]
                if all(self.node_of[g] == node for g in members):
                    self.node_groups[node] += (members,)
        self.topology = Topology(node_names, switches)
        self.held = tuple(s.index for s in ordered if s.job_id is not None)
        self.uniform = all(len(pools) <= 2 for pools in self.node_pool)  # _ANY + one model
        # With one model in the whole cluster, its GPUs are all the GPUs: a Machine keeps
        # what changes per GPU (free counts, busy ends) for _ANY alone, and reads the
        # model's through `alias` (model -> _ANY), halving the work of every start.
        models = set(self.model.values())
        self.alias = {model: _ANY for model in models} if len(models) == 1 else {}
        # GPU -> the keys whose counts it is in; the keys a Machine keeps counts of
        self.gpu_keys = {
            g: (_ANY,) if m in self.alias else (m, _ANY) for g, m in self.model.items()
        }
        self.live_keys = [key for key in self.node_cap if key not in self.alias]
        # (GPUs, model) -> node -> how many of those GPUs it has: see Machine.gpus_per_node
        self.per_node: dict[tuple[tuple[int, ...], str | None], dict[int, int]] = {}

    @staticmethod
    def of(
        slots: Sequence[GpuSlot],
        link_groups: Sequence[Sequence[int]],
        switches: Sequence[Switch],
    ) -> Layout:
        """The layout of these GPUs, from a small cache: found by identity first (the
        simulator passes the same tuples every pass), else by equality."""
        for cached in _LAYOUTS:
            if cached[0] is slots and cached[1] is link_groups and cached[2] is switches:
                return cached[3]
        key = (tuple(slots), tuple(tuple(g) for g in link_groups), tuple(switches))
        for cached in _LAYOUTS:
            if (cached[0], cached[1], cached[2]) == key:
                layout = cached[3]
                break
        else:
            layout = Layout(*key)
        _LAYOUTS.insert(0, (slots, link_groups, switches, layout))
        del _LAYOUTS[_LAYOUT_CACHE:]
        return layout


_LAYOUT_CACHE = 4
_REBUILD = 16  # more stale nodes than this: _Bounds are rebuilt, not refreshed
_LAYOUTS: list[tuple[Sequence[GpuSlot], Sequence[Sequence[int]], Sequence[Switch], Layout]] = []


def _buckets(
    node_cap: Mapping[str, int],
    node_free: Mapping[str, Sequence[int]],
    key_nodes: Mapping[str, Sequence[int]],
) -> dict[str, list[dict[int, None]]]:
    """key -> k -> the nodes with k free GPUs of that key, in node order (an
    insertion-ordered dict used as a set: best fit takes the first one)."""
    buckets: dict[str, list[dict[int, None]]] = {
        key: [{} for _ in range(cap + 1)] for key, cap in node_cap.items()
    }
    for key, by_count in buckets.items():
        free = node_free[key]
        for node in key_nodes[key]:
            by_count[free[node]][node] = None
    return buckets


def _overlaps(spans: Sequence[tuple[float, float]], start: float, end: float) -> bool:
    """Whether one of the reservation `spans` (start, end) overlaps [start, end)."""
    for s, e in spans:  # noqa: SIM110 (a loop: no generator to build, in a hot path)
        if s < end and start < e:
            return True
    return False


class _Bounds:
    """A Machine's cache, for one (key, n): (when the node's n-th GPU of the key frees
    up, node) for every node where that ever happens, ascending (`order`), each node's
    entry (`at`), and the nodes whose GPUs changed since (`stale`)."""

    __slots__ = ("at", "order", "stale")

    def __init__(
        self, at: dict[int, float], order: list[tuple[float, int]], stale: set[int]
    ) -> None:
        self.at = at
        self.order = order
        self.stale = stale

    @classmethod
    def of(cls, machine: Machine, key: str, n: int) -> _Bounds:
        """The bounds of `machine` as they are."""
        # Machine._bound for every node that has n GPUs of the key, inlined: this runs
        # once per pass and size
        now, node_free, busy_ends = machine.now, machine._node_free[key], machine._busy_ends
        at: dict[int, float] = {}
        for node, pools in enumerate(machine._node_pool):
            if len(pools.get(key, ())) >= n:
                k = n - node_free[node] - 1
                if k < 0:
                    at[node] = now
                else:
                    ends = busy_ends.get((node, key), ())
                    if k < len(ends) and ends[k] < math.inf:
                        at[node] = ends[k] if ends[k] > now else now
        return cls(at, sorted([(bound, node) for node, bound in at.items()]), set())

    @classmethod
    def later(cls, origin: _Bounds, now: float, stale: set[int]) -> _Bounds:
        """`origin`'s bounds (a Machine's at an earlier time) as a copy of that Machine at
        `now` sees them, with `stale` the nodes the copy has changed since: a bound
        before `now` is `now` (those nodes then in node order, as _Bounds sorts them)."""
        at = origin.at.copy()
        passed = bisect.bisect_right(origin.order, (now, math.inf))
        if passed:
            nodes = sorted([node for _, node in origin.order[:passed]])
            order = [(now, node) for node in nodes] + origin.order[passed:]
            at.update(dict.fromkeys(nodes, now))
        else:
            order = origin.order.copy()
        return cls(at, order, stale.copy())

    def refresh(self, machine: Machine, key: str, n: int) -> None:
        """Re-sort the stale nodes (same order as a new _Bounds: by bound, then node)."""
        order, at = self.order, self.at
        for node in self.stale:
            old = at.pop(node, None)
            if old is not None:
                del order[bisect.bisect_left(order, (old, node))]
            if len(machine._node_pool[node].get(key, ())) >= n:
                bound = machine._bound(node, key, n)
                if bound < math.inf:
                    at[node] = bound
                    bisect.insort(order, (bound, node))
        self.stale.clear()


class Machine:
    """The GPUs of one pass; mutated as the pass starts jobs and makes reservations."""

    __slots__ = (
        "_alias",
        "_bounds",
        "_buckets",
        "_busy_ends",
        "_busy_until",
        "_capacity",
        "_deferred",
        "_end_heap",
        "_ended",
        "_free",
        "_free_count",
        "_freeable",
        "_gpu_keys",
        "_model",
        "_node_cap",
        "_node_free",
        "_node_groups",
        "_node_of",
        "_node_pool",
        "_origin",
        "_origin_version",
        "_owned_ends",
        "_per_node",
        "_reservations",
        "_reserved",
        "_reserved_nodes",
        "_room",
        "_topology",
        "_touched",
        "_unsorted",
        "_version",
        "now",
    )

    def __init__(
        self,
        now: float,
        slots: Sequence[GpuSlot] = (),
        running: Sequence[RunningJob] = (),
        link_groups: Sequence[Sequence[int]] = (),
        switches: Sequence[Switch] = (),
        *,
        copy_of: Machine | None = None,
    ) -> None:
        """The GPUs `slots` at `now`, busy with `running`; or, with `copy_of`, that
        Machine's GPUs as a new pass at `now` sees them (see copy)."""
        self.now = now
        if copy_of is not None:
            self._copy(copy_of)
            return
        layout = Layout.of(tuple(slots), tuple(tuple(g) for g in link_groups), tuple(switches))
        self._model = layout.model
        self._node_of = layout.node_of
        self._node_pool = layout.node_pool
        self._capacity = layout.capacity
        self._node_cap = layout.node_cap
        self._node_groups = layout.node_groups
        self._topology = layout.topology
        self._per_node = layout.per_node
        self._alias = layout.alias
        self._gpu_keys = layout.gpu_keys

        model, gpu_keys = self._model, self._gpu_keys
        busy: dict[int, float] = {}
        for job in running:
            end = now if job.preempting else max(job.start_time + job.time_limit, now)
            gpus = job.gpus
            if len(gpus) == 1 or not busy.keys() & gpus:
                busy.update(dict.fromkeys(gpus, end))
            else:  # a GPU listed by two running jobs: the later end holds it
                for g in gpus:
                    busy[g] = max(busy.get(g, end), end)
        if len(busy) > len(model) or not busy.keys() <= model.keys():
            busy = {g: t for g, t in busy.items() if g in model}
        for g in layout.held:  # held by a job the pass does not know: never frees up
            busy.setdefault(g, math.inf)
        self._busy_until = busy  # only GPUs busy now
        # (node, key) -> the expected ends of its busy GPUs, ascending (inf: held)
        self._busy_ends: dict[tuple[int, str], list[float]] = {}
        for g, t in busy.items():
            node = self._node_of[g]
            for key in gpu_keys[g]:
                self._busy_ends.setdefault((node, key), []).append(t)
        for ends in self._busy_ends.values():
            ends.sort()
        # the lists of _busy_ends this Machine may change: the others, another Machine
        # holds too (copy on write)
        self._owned_ends: set[tuple[int, str]] = set(self._busy_ends)
        busy_models = Counter(map(model.__getitem__, busy))
        free_count = Counter({key: self._capacity[key] for key in layout.live_keys})
        free_count.subtract({m: k for m, k in busy_models.items() if m not in self._alias})
        free_count[_ANY] -= len(busy)
        self._free_count: dict[str, int] = dict(free_count)  # a dict copies fast
        self._freeable: Counter[str] = Counter(self._capacity)
        forever = [g for g in layout.held if busy[g] == math.inf]
        self._freeable.subtract(Counter(map(model.__getitem__, forever)))
        self._freeable[_ANY] -= len(forever)
        # key -> the most GPUs of it one node has that ever free up: a job of up to
        # that many in one node always finds a time (see reserve_later)
        never = Counter((self._node_of[g], key) for g in forever for key in gpu_keys[g])
        self._room: dict[str, int] = {}
        for node, caps in enumerate(layout.node_capacity):
            for key, cap in caps.items():
                self._room[key] = max(self._room.get(key, 0), cap - never[(node, key)])
        self._free = set(model).difference(busy)
        # the busy ends as a heap, with the ends released since (to drop when they
        # reach the top): built by the first copy, so that the Machine a ClusterState
        # keeps finds its earliest end without a scan
        self._end_heap: list[float] | None = None
        self._ended: Counter[float] = Counter()
        # key -> node -> its free GPUs of the key (0 for a node without any)
        node_free = {
            key: [caps.get(key, 0) for caps in layout.node_capacity] for key in layout.live_keys
        }
        node_of = self._node_of
        if layout.uniform:  # one model per node: count per node in C
            for node, count in Counter(map(node_of.__getitem__, busy)).items():
                for key in layout.node_capacity[node]:
                    if key in node_free:
                        node_free[key][node] -= count
        else:
            for g in busy:
                node = node_of[g]
                for key in gpu_keys[g]:
                    node_free[key][node] -= 1
        self._buckets = _buckets(
            {key: self._node_cap[key] for key in layout.live_keys}, node_free, layout.key_nodes
        )
        # buckets whose nodes may no longer be in node order: (key, free count)
        self._unsorted: set[tuple[str, int]] = set()
        self._node_free = node_free
        self._bounds: dict[tuple[str, int], _Bounds] = {}  # cache, see _sorted_bounds
        # the Machine this one is a copy of, while its bounds still hold (see copy)
        self._origin: Machine | None = None
        self._origin_version = 0
        self._version = 0  # counts the starts and releases
        self._touched: set[int] = set()  # nodes changed since the copy (with an origin)
        self._reservations: list[Reservation] = []
        # reservations asked for and not worked out yet: (job id, n, model, duration)
        self._deferred: list[tuple[int, int, str | None, float]] = []
        self._reserved: dict[int, list[tuple[float, float]]] = {}
        # node with a reserved GPU -> the ends of its reservations
        self._reserved_nodes: dict[int, set[float]] = {}

    def copy(self, now: float) -> Machine:
        """This machine's GPUs as a new pass at `now` sees them: the same busy GPUs (a
        job past its expected end frees up at `now`), no reservations. Far cheaper than
        building a Machine from the running jobs (see ClusterState)."""
        return Machine(now, copy_of=self)

    def _copy(self, origin: Machine) -> None:
        """Become a copy of `origin` at self.now (see copy)."""
        self._alias = origin._alias
        self._capacity = origin._capacity
        self._freeable = origin._freeable
        self._gpu_keys = origin._gpu_keys
        self._model = origin._model
        self._node_cap = origin._node_cap
        self._node_groups = origin._node_groups
        self._node_of = origin._node_of
        self._node_pool = origin._node_pool
        self._topology = origin._topology
        self._per_node = origin._per_node
        now = self.now
        busy = origin._busy_until
        self._end_heap = None
        self._ended = Counter()
        if origin._earliest_end() < now:  # a job past its expected end: frees up now
            self._busy_until = {g: max(t, now) for g, t in busy.items()}
            self._busy_ends = {
                where: [max(t, now) for t in ends] for where, ends in origin._busy_ends.items()
            }
            self._owned_ends = set(self._busy_ends)
        else:
            self._busy_until = busy.copy()
            # copy on write: both hold the lists until one of them changes one
            self._busy_ends = dict(origin._busy_ends)
            origin._owned_ends = set()
            self._owned_ends = set()
        self._free_count = origin._free_count.copy()
        self._free = origin._free.copy()
        self._node_free = {key: counts.copy() for key, counts in origin._node_free.items()}
        for key, k in origin._unsorted:  # in node order, as in a new Machine
            bucket = origin._buckets[key][k]
            origin._buckets[key][k] = dict.fromkeys(sorted(bucket))
        origin._unsorted.clear()
        self._buckets = {key: [b.copy() for b in bs] for key, bs in origin._buckets.items()}
        self._unsorted = set()
        self._bounds = {}
        # its bounds come from the origin's (kept up to date between passes by a
        # ClusterState) as long as the origin does not change
        self._origin = origin if now >= origin.now else None
        self._origin_version = origin._version
        self._version = 0
        self._touched = set()
        self._room = origin._room
        self._reservations = []
        self._deferred = []
        self._reserved = {}
        self._reserved_nodes = {}

    # --- what there is -----------------------------------------------------------------

    @property
    def total(self) -> int:
        return len(self._model)

    def capacity(self, gpu_type: str | None) -> int:
        """GPUs of the cluster of that model (all GPUs for None)."""
        return self._capacity.get(gpu_type or _ANY, 0)

    def _key(self, gpu_type: str | None) -> str:
        """The key the counts of that model (all models for None) are kept under."""
        key = gpu_type or _ANY
        return self._alias.get(key, key)

    def free_count(self, gpu_type: str | None) -> int:
        """GPUs free now of that model (all models for None), reservations aside."""
        return self._free_count.get(self._key(gpu_type), 0)

    def node_of(self, gpu: int) -> int:
        return self._node_of[gpu]

    def has_gpu(self, gpu: int, gpu_type: str | None) -> bool:
        """Whether `gpu` is a GPU of the cluster, of that model when one is given."""
        model = self._model.get(gpu)
        return model is not None and (gpu_type is None or model == gpu_type)

    def gpus_per_node(self, gpus: tuple[int, ...], gpu_type: str | None) -> dict[int, int]:
        """node -> how many of `gpus` (of that model, when one is given) it has; the
        caller must not change it (kept for later passes on these GPUs)."""
        key = (gpus, gpu_type)
        per_node = self._per_node.get(key)
        if per_node is None:
            node_of, model = self._node_of, self._model
            per_node = {}
            for g in gpus:
                m = model.get(g)
                if m is not None and (gpu_type is None or m == gpu_type):
                    node = node_of[g]
                    per_node[node] = per_node.get(node, 0) + 1
            if len(self._per_node) >= _PER_NODE_CACHE:
                self._per_node.clear()
            self._per_node[key] = per_node
        return per_node

    def node_capacity(self, gpu_type: str | None) -> int:
        """The most GPUs of that model one node has."""
        return self._node_cap.get(gpu_type or _ANY, 0)

    def node_free(self, node: int, gpu_type: str | None) -> int:
        counts = self._node_free.get(self._key(gpu_type))
        return 0 if counts is None else counts[node]

    def most_free_on_a_node(self, gpu_type: str | None) -> int:
        """The most GPUs of that model free now on one node, reservations aside."""
        buckets = self._buckets.get(self._key(gpu_type), [])
        for k in range(len(buckets) - 1, 0, -1):
            if buckets[k]:
                return k
        return 0

    def nodes_with_free(self, n: int, gpu_type: str | None) -> Iterator[int]:
        """The nodes with at least `n` GPUs of that model free now, reservations aside."""
        buckets = self._buckets.get(self._key(gpu_type), [])
        for k in range(max(n, 0), len(buckets)):
            yield from buckets[k]

    # --- now ---------------------------------------------------------------------------

    def try_place(self, n: int, gpu_type: str | None, end: float) -> tuple[int, ...] | None:
        """GPUs for a job starting now and ending at `end`, delaying no reservation."""
        if n <= 0:
            return ()
        key = self._key(gpu_type)
        if self._free_count.get(key, 0) < n:
            return None
        buckets = self._buckets[key]
        one_node = n <= self._node_cap.get(key, 0)
        if one_node and not any(buckets[k] for k in range(n, len(buckets))):
            return None  # no node has n free, reservations aside (none worked out)
        forbidden: set[int] = set()
        for r in self.reservations:  # (worked out first, if deferred)
            if end > r.start:
                forbidden.update(r.gpus)
        free = self._free

        def usable(node: int) -> list[int]:
            return [g for g in self._node_pool[node][key] if g in free and g not in forbidden]

        if one_node:
            for k in range(n, len(buckets)):
                for node in buckets[k]:
                    gpus = usable(node)
                    if len(gpus) >= n:
                        return choose_gpus(n, gpus, self._node_groups[node])
            return None
        if self._topology.flat and not forbidden:
            return self._spread_flat(n, key)
        counts = {node: k for k in range(1, len(buckets)) for node in buckets[k]}
        for g in forbidden:
            node = self._node_of[g]
            if g in free and node in counts and (key == _ANY or self._model[g] == key):
                counts[node] -= 1
        return self._spread(n, counts, usable)

    def _spread_flat(self, n: int, key: str) -> tuple[int, ...] | None:
        """Topology.choose's rule with every node under one switch, read straight from
        the free-count buckets: roomiest nodes first, and the last one the smallest
        node that covers the rest. Costs the nodes taken, not the cluster."""
        buckets = self._buckets[key]
        free = self._free
        taken: list[int] = []
        used: set[int] = set()
        need = n
        k = len(buckets) - 1
        while need > 0 and k > 0:
            if k >= need:  # a node with >= need free covers the rest: the smallest one
                for size in range(need, k + 1):
                    node = next((m for m in buckets[size] if m not in used), None)
                    if node is not None:
                        gpus = [g for g in self._node_pool[node][key] if g in free]
                        picked = choose_gpus(need, gpus, self._node_groups[node])
                        if picked is None:
                            return None
                        taken.extend(picked)
                        return tuple(sorted(taken))
                k = need - 1  # no node covers it: take the roomiest smaller ones
                continue
            node = next((m for m in buckets[k] if m not in used), None)
            if node is None:
                k -= 1
                continue
            used.add(node)
            taken.extend(g for g in self._node_pool[node][key] if g in free)
            need -= k
        return None

    def _spread(
        self, n: int, counts: Mapping[int, int], usable: Callable[[int], list[int]]
    ) -> tuple[int, ...] | None:
        """`n` GPUs over the nodes Topology.choose picks from each node's usable count;
        `usable(node)` lists that node's usable GPUs."""
        plan = self._topology.choose(n, counts)
        if plan is None:
            return None
        chosen: list[int] = []
        for node, count in plan:
            picked = choose_gpus(count, usable(node), self._node_groups[node])
            if picked is None:  # cannot happen: count <= usable GPUs of the node
                return None
            chosen.extend(picked)
        return tuple(sorted(chosen))

    def start(self, gpus: Sequence[int], end: float) -> None:
        """`gpus` (free now) become busy until `end`."""
        if self._deferred:
            self._settle()
        self._stale(gpus)
        if self._end_heap is not None:
            for _ in gpus:
                heapq.heappush(self._end_heap, end)
        free, busy = self._free, self._busy_until
        for g in gpus:
            free.remove(g)
            busy[g] = end
        for (node, key), count in self._per_node_key(gpus):
            self._count(node, key, -count)
            ends = self._own_ends(node, key)
            at = bisect.bisect_right(ends, end)
            ends[at:at] = [end] * count

    def release(self, gpus: Sequence[int]) -> None:
        """`gpus` (busy now) are free again: their job ended."""
        if self._deferred:
            self._settle()
        self._stale(gpus)
        busy, node_of, gpu_keys = self._busy_until, self._node_of, self._gpu_keys
        for g in gpus:
            end = busy.pop(g)
            if self._end_heap is not None:
                self._ended[end] += 1
            node = node_of[g]
            for key in gpu_keys[g]:
                self._own_ends(node, key).remove(end)
        self._free.update(gpus)
        for (node, key), count in self._per_node_key(gpus):
            self._count(node, key, count)

    def _per_node_key(self, gpus: Sequence[int]) -> list[tuple[tuple[int, str], int]]:
        """((node, key), how many of `gpus` it has) for each node and key (those of
        Layout.gpu_keys), in order of the node's last GPU in `gpus`: a job's start or
        release moves each node between free-count buckets once, where one move per
        GPU would leave the buckets in that order."""
        node_of, gpu_keys = self._node_of, self._gpu_keys
        if len(gpus) == 1:
            [g] = gpus
            return [((node_of[g], key), 1) for key in gpu_keys[g]]
        counts: dict[tuple[int, str], int] = {}
        for g in reversed(gpus):
            node = node_of[g]
            for key in reversed(gpu_keys[g]):
                counts[(node, key)] = counts.get((node, key), 0) + 1
        return list(reversed(counts.items()))

    def _earliest_end(self) -> float:
        """The earliest end of a busy GPU (inf: none), from the heap of ends."""
        heap, ended = self._end_heap, self._ended
        if heap is None:
            heap = self._end_heap = list(self._busy_until.values())
            heapq.heapify(heap)
            ended.clear()
        while heap and heap[0] in ended:
            top = heapq.heappop(heap)
            ended[top] -= 1
            if not ended[top]:
                del ended[top]
        return heap[0] if heap else math.inf

    def _stale(self, gpus: Sequence[int]) -> None:
        """The bounds of the nodes of `gpus` are about to change."""
        self._version += 1
        if self._bounds or self._origin is not None:
            nodes = {self._node_of[g] for g in gpus}
            for bounds in self._bounds.values():
                bounds.stale.update(nodes)
            if self._origin is not None:
                self._touched.update(nodes)

    def _own_ends(self, node: int, key: str) -> list[float]:
        """The (node, key) busy ends, copied first if another Machine holds them too."""
        where = (node, key)
        if where not in self._owned_ends:
            self._owned_ends.add(where)
            self._busy_ends[where] = list(self._busy_ends.get(where, ()))
        return self._busy_ends[where]

    def _count(self, node: int, key: str, change: int) -> None:
        """`change` more GPUs of `key` free on `node`: its free-count bucket moves."""
        self._free_count[key] += change
        free = self._node_free[key]
        buckets = self._buckets[key]
        del buckets[free[node]][node]
        free[node] += change
        bucket = buckets[free[node]]
        if bucket and node < next(reversed(bucket)):
            self._unsorted.add((key, free[node]))
        bucket[node] = None

    # --- later -------------------------------------------------------------------------

    def _bound(self, node: int, key: str, n: int) -> float:
        """When the node's n-th GPU of that key frees up (inf: never)."""
        free = self.node_free(node, key)
        if n <= free:
            return self.now
        ends = self._busy_ends.get((node, key), ())
        k = n - free - 1
        return max(ends[k], self.now) if k < len(ends) else math.inf

    def _conflicts(self, gpu: int, start: float, end: float) -> bool:
        return _overlaps(self._reserved.get(gpu, ()), start, end)

    def _usable_at(self, gpus: Sequence[int], t: float, end: float) -> list[int]:
        busy, now, reserved = self._busy_until, self.now, self._reserved
        return [
            g
            for g in gpus
            if busy.get(g, now) <= t and (g not in reserved or not self._conflicts(g, t, end))
        ]

    def free_for(self, end: float, besides: int) -> int:
        """GPUs free now on nodes other than `besides` that a job starting now and ending
        at `end` may take without delaying a reservation."""
        if self._deferred:
            self._settle()
        node_of, now = self._node_of, self.now
        return sum(
            1 for g in self._free if node_of[g] != besides and not self._conflicts(g, now, end)
        )

    @property
    def reservations(self) -> list[Reservation]:
        """The reservations made so far, in order (the caller must not change it)."""
        if self._deferred:
            self._settle()
        return self._reservations

    @property
    def reservation_count(self) -> int:
        """How many reservations were made (deferred ones included)."""
        return len(self._reservations) + len(self._deferred)

    def reserve_later(self, job_id: int, n: int, gpu_type: str | None, duration: float) -> bool:
        """`reserve`, worked out only once something depends on it: whether a
        reservation is made is known now, its time and GPUs when first read (through
        `reservations`) or before the GPUs or reservations next change. A pass's last
        reservations often constrain nothing after them, and are then never worked out
        unless their expected starts are asked for.

        A job that fits in one node finds a time whenever some node has n GPUs of its
        model that ever free up: once every known end and every reservation on that
        node has passed, they are all usable (see _earliest_on_node). A larger job is
        reserved at once."""
        key = self._key(gpu_type)
        if n <= 0 or self._freeable.get(key, 0) < n:
            return False
        if n <= self._node_cap.get(key, 0):
            if n > self._room.get(key, 0):
                return False
            self._deferred.append((job_id, n, gpu_type, duration))
            return True
        return self.reserve(job_id, n, gpu_type, duration) is not None

    def _settle(self) -> None:
        """Work out the deferred reservations, in the order they were asked for."""
        deferred, self._deferred = self._deferred, []
        for job_id, n, gpu_type, duration in deferred:
            if self.reserve(job_id, n, gpu_type, duration) is None:  # see reserve_later
                raise MlrpError(f"scheduler: job {job_id}'s deferred reservation found no time")

    def reserve(
        self, job_id: int, n: int, gpu_type: str | None, duration: float
    ) -> Reservation | None:
        """The earliest start at which `n` GPUs of `gpu_type` will be free for `duration`
        seconds, given the expected ends and the reservations already made, and which
        GPUs; the reservation is recorded. None if there is no such time."""
        if self._deferred:
            self._settle()
        key = self._key(gpu_type)
        if n <= 0 or self._freeable.get(key, 0) < n:
            return None  # also: there is then always a time, after every known end
        if n <= self._node_cap.get(key, 0):
            found = self._reserve_on_one_node(n, key, duration)
        else:
            found = self._reserve_across_nodes(n, key, duration)
        if found is None:
            return None
        start, gpus = found
        reservation = Reservation(job_id, start, start + duration, gpus)
        self._reservations.append(reservation)
        for g in gpus:
            self._reserved.setdefault(g, []).append((start, reservation.end))
            self._reserved_nodes.setdefault(self._node_of[g], set()).add(reservation.end)
        return reservation

    def _reserve_on_one_node(
        self, n: int, key: str, duration: float
    ) -> tuple[float, tuple[int, ...]] | None:
        """Nodes in order of the time their n-th GPU frees up (a lower bound of when the
        job could start there); the first exact fit found before the next node's bound
        wins. A node without reservations fits at its bound."""
        best: tuple[float, tuple[int, ...]] | None = None
        reserved_nodes = self._reserved_nodes
        for bound, node in self._sorted_bounds(key, n):
            if best is not None and bound >= best[0]:
                break
            if node in reserved_nodes:
                found = self._earliest_on_node(node, key, n, duration, bound)
            else:  # n of its GPUs are free from `bound` on, for as long as needed
                busy, now = self._busy_until, self.now
                usable = [g for g in self._node_pool[node][key] if busy.get(g, now) <= bound]
                chosen = choose_gpus(n, usable, self._node_groups[node])
                found = None if chosen is None else (bound, chosen)
            if found is not None and (best is None or found[0] < best[0]):
                best = found
        return best

    def _sorted_bounds(self, key: str, n: int) -> list[tuple[float, int]]:
        """(bound, node), ascending, for the nodes where `n` GPUs of `key` free up some
        time (see _bound): kept between reservations of a pass, and taken from the
        Machine this is a copy of when it has not changed since; a start or release
        re-sorts only its nodes."""
        bounds = self._bounds.get((key, n))
        if bounds is None:
            origin = self._origin
            if origin is not None and origin._version == self._origin_version:
                origin._sorted_bounds(key, n)
                bounds = _Bounds.later(origin._bounds[(key, n)], self.now, self._touched)
            else:
                bounds = _Bounds.of(self, key, n)
            self._bounds[(key, n)] = bounds
        if len(bounds.stale) > _REBUILD:
            bounds = self._bounds[(key, n)] = _Bounds.of(self, key, n)
        elif bounds.stale:
            bounds.refresh(self, key, n)
        return bounds.order

    def _earliest_on_node(
        self, node: int, key: str, n: int, duration: float, bound: float
    ) -> tuple[float, tuple[int, ...]] | None:
        """The earliest time from `bound` on at which n GPUs of the node are free for
        `duration` (reservations included): a release time, `bound`, or the end of a
        reservation on the node; and which GPUs."""
        busy, now, reserved = self._busy_until, self.now, self._reserved
        # the release times after `bound` (which is now or later) of the node's GPUs
        ends = self._busy_ends.get((node, key), [])
        times = set(ends[bisect.bisect_right(ends, bound) : bisect.bisect_left(ends, math.inf)])
        times.update([e for e in self._reserved_nodes.get(node, ()) if e > bound])
        pool = self._node_pool[node][key]
        # the release times of its GPUs without reservations, ascending (counted by
        # bisection), and (GPU, release time, reservations) of the others
        free_from = sorted([busy.get(g, now) for g in pool if g not in reserved])
        spanned = [(g, busy.get(g, now), reserved[g]) for g in pool if g in reserved]
        for t in [bound, *sorted(times)]:
            end = t + duration
            usable_count = bisect.bisect_right(free_from, t)
            for _, release, spans in spanned:
                if release <= t and not _overlaps(spans, t, end):
                    usable_count += 1
            if usable_count >= n:
                usable = [
                    g
                    for g in pool
                    if busy.get(g, now) <= t
                    and (g not in reserved or not _overlaps(reserved[g], t, end))
                ]
                chosen = choose_gpus(n, usable, self._node_groups[node])
                if chosen is not None:
                    return t, chosen
        return None

    def _reserve_across_nodes(
        self, n: int, key: str, duration: float
    ) -> tuple[float, tuple[int, ...]] | None:
        """Sweep the release times of the whole pool, earliest first, until a switch has
        enough GPUs free for the whole duration."""
        now, busy = self.now, self._busy_until
        if key == _ANY:
            ends = sorted(busy.values())
        else:
            model = self._model
            ends = sorted([t for g, t in busy.items() if model[g] == key])
        del ends[bisect.bisect_left(ends, math.inf) :]  # held GPUs never free up
        if ends and ends[0] < now:
            ends = [max(t, now) for t in ends]
        releases = [now] * self._free_count.get(key, 0)  # the free GPUs, then the busy ones
        releases += ends
        if len(releases) < n:
            return None
        first = releases[n - 1]
        times = {t for t in releases if t >= first}
        times.add(first)
        for spans in self._reserved.values():
            times.update(e for _, e in spans if e > first)
        # GPUs of the pool under a reservation: the only ones that may be released by t
        # and still not usable from t
        reserved = [
            (busy.get(g, now), spans)
            for g, spans in self._reserved.items()
            if key == _ANY or self._model[g] == key
        ]
        for t in sorted(times):
            end = t + duration
            released = bisect.bisect_right(releases, t)
            blocked = 0
            for release, spans in reserved:
                if release <= t and _overlaps(spans, t, end):
                    blocked += 1
            if released - blocked < n:
                continue  # too few GPUs usable from t, wherever they are
            usable_by_node: dict[int, list[int]] = {}
            for node, pools in enumerate(self._node_pool):
                usable = self._usable_at(pools.get(key, ()), t, end)
                if usable:
                    usable_by_node[node] = usable
            if sum(map(len, usable_by_node.values())) < n:
                continue
            counts = {node: len(gpus) for node, gpus in usable_by_node.items()}
            chosen = self._spread(n, counts, usable_by_node.__getitem__)
            if chosen is not None:
                return t, chosen
        return None
