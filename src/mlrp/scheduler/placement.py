"""Which GPUs a job gets: all it asks for or none (gang), inside one NVLink group when
possible, else the lowest indices.

Among the NVLink groups that can hold the whole job, the one with the fewest usable
GPUs wins (best fit, which keeps larger groups whole for larger jobs); ties go to the
lowest indices.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def choose_gpus(
    n: int, candidates: Sequence[int], link_groups: Sequence[frozenset[int]] = ()
) -> tuple[int, ...] | None:
    """`n` GPUs out of `candidates` (usable indices, sorted ascending), or None."""
    if n <= 0:
        return ()
    if len(candidates) < n:
        return None
    best: tuple[int, ...] | None = None
    best_size = 0
    if link_groups:
        usable = set(candidates)
        for group in link_groups:
            if len(group) < n:
                continue
            inside = sorted(usable.intersection(group))
            if len(inside) < n:
                continue
            chosen = tuple(inside[:n])
            if best is None or (len(inside), chosen) < (best_size, best):
                best, best_size = chosen, len(inside)
    if best is not None:
        return best
    return tuple(candidates[:n])


def place(
    n: int,
    free: Iterable[int],
    link_groups: Iterable[Iterable[int]] = (),
    gpu_type: str | None = None,
    models: Mapping[int, str] | None = None,
) -> tuple[int, ...] | None:
    """`n` of the `free` GPU indices (only of `gpu_type` when given, models by index in
    `models`, compared case-insensitively), or None when there are not enough."""
    if gpu_type is not None:
        wanted = gpu_type.lower()
        lookup = models or {}
        free = [g for g in free if lookup.get(g, "").lower() == wanted]
    groups = [frozenset(g) for g in link_groups]
    return choose_gpus(n, sorted(set(free)), [g for g in groups if g])
