"""Jobs, usage and daemon metadata in SQLite.

Contract: every state change is a guarded update (`WHERE state = expected`) that checks
the transition table first; transactions are short and never wrap a subprocess or
network call. One `Store` per process; the daemon calls it from its event loop only.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlrp.errors import InvalidTransition
from mlrp.models.jobs import Job, JobSpec
from mlrp.models.reasons import Reason
from mlrp.models.states import JobState, can_transition
from mlrp.store.schema import ADDED_COLUMNS, SCHEMA

JSON_COLUMNS = ("gpus", "priority_factors")
INSERT_COLUMNS = (
    "array_job_id", "array_task_id", "array_throttle", "name", "user", "uid", "gid",
    "account", "partition", "qos", "state", "reason", "held", "spec", "gpu_count",
    "gpu_type", "nice", "dependency", "submit_time", "begin_time", "time_limit", "priority",
)  # fmt: skip
# What a scheduling pass needs of each active job: no spec to parse.
SCHEDULING_COLUMNS = (
    "id", "array_job_id", "array_throttle", "name", "user", "account", "partition", "qos",
    "state", "held", "gpu_count", "gpu_type", "nice", "dependency", "gpus", "submit_time",
    "begin_time", "start_time", "time_limit", "preempted_by",
)  # fmt: skip
# One `mlrp queue` row as a JSON object: enough to list, cheap to build.
_QUEUE_FIELDS = (
    "id", "array_job_id", "array_task_id", "name", "user", "account", "partition", "qos",
    "state", "reason", "gpu_count", "submit_time", "start_time", "end_time", "time_limit",
    "priority", "expected_start", "exit_code", "exit_signal",
)  # fmt: skip
_DISPLAY_ID = (
    "CASE WHEN array_job_id IS NULL THEN CAST(id AS TEXT) "
    "ELSE array_job_id || '_' || array_task_id END"
)
QUEUE_OBJECT = (
    "json_object("
    + ", ".join(f"'{name}', {name}" for name in _QUEUE_FIELDS)
    + ", 'held', json(CASE WHEN held THEN 'true' ELSE 'false' END), 'gpus', json(gpus),"
    f" 'display_id', {_DISPLAY_ID})"
)
# One row of `mlrp queue`'s table (mlrp.tables.queue_table): only what it shows, as a
# tuple in this order (`display_id` as users write it; `gpus` a tuple of indices, None
# when the job holds none).
QUEUE_ROW_COLUMNS = (
    "display_id", "user", "account", "name", "state", "held", "reason", "gpu_count", "gpus",
    "start_time", "end_time", "expected_start",
)  # fmt: skip
_QUEUE_ROW = ", ".join(
    _DISPLAY_ID if c == "display_id" else "NULLIF(gpus, '[]')" if c == "gpus" else c
    for c in QUEUE_ROW_COLUMNS
)
_GPUS = QUEUE_ROW_COLUMNS.index("gpus")
_BY_PRIORITY = "state != 'RUNNING', priority DESC, id"


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA)
        for table, column, kind in ADDED_COLUMNS:
            present = {r["name"] for r in self.db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- jobs: create ------------------------------------------------------------------

    def insert_jobs(self, jobs: Sequence[Job], *, as_array: bool) -> list[int]:
        """Insert jobs (their `id` is ignored) and return the new ids in order. With
        `as_array`, every job's array_job_id becomes the first new id."""
        return self.insert_groups([(jobs, as_array)])[0]

    def insert_groups(self, groups: Sequence[tuple[Sequence[Job], bool]]) -> list[list[int]]:
        """`insert_jobs` for many groups (jobs, as_array) in one transaction."""
        sql = (
            f"INSERT INTO jobs ({', '.join(INSERT_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in INSERT_COLUMNS)})"
        )
        all_ids: list[list[int]] = []
        spec_json: dict[int, str] = {}  # array tasks share one spec: serialize it once
        with self.transaction() as db:
            for jobs, as_array in groups:
                ids = []
                for job in jobs:
                    text = spec_json.setdefault(id(job.spec), job.spec.model_dump_json())
                    cursor = db.execute(sql, _insert_values(job, text))
                    assert cursor.lastrowid is not None
                    ids.append(cursor.lastrowid)
                if as_array and ids:
                    db.execute(
                        "UPDATE jobs SET array_job_id = ? WHERE id BETWEEN ? AND ?",
                        (ids[0], ids[0], ids[-1]),
                    )
                all_ids.append(ids)
        return all_ids

    # --- jobs: read --------------------------------------------------------------------

    def get(self, job_id: int) -> Job | None:
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job_from_row(row) if row else None

    def array_tasks(self, array_job_id: int) -> list[Job]:
        rows = self.db.execute(
            "SELECT * FROM jobs WHERE array_job_id = ? ORDER BY id", (array_job_id,)
        ).fetchall()
        return [_job_from_row(r) for r in rows]

    def scheduling_rows(self) -> list[sqlite3.Row]:
        """The active jobs, with only the columns a scheduling pass reads."""
        return self.db.execute(
            f"SELECT {', '.join(SCHEDULING_COLUMNS)} FROM jobs "
            "WHERE state IN ('PENDING', 'RUNNING') ORDER BY id"
        ).fetchall()

    def pending_counts(self, users: Iterable[str]) -> dict[tuple[str, str], int]:
        """(user, qos) -> pending jobs (array tasks count one each), for these users."""
        names = list(dict.fromkeys(users))
        if not names:
            return {}
        marks = ", ".join("?" * len(names))
        rows = self.db.execute(
            "SELECT user, qos, COUNT(*) FROM jobs WHERE state = 'PENDING' "
            f"AND user IN ({marks}) GROUP BY user, qos",
            names,
        ).fetchall()
        return {(r[0], r[1]): r[2] for r in rows}

    def pending_ranking(self) -> list[int]:
        """Ids of the pending jobs, highest recorded priority first (ties: earlier
        submit, then lower id), as the last scheduling pass ranked them."""
        rows = self.db.execute(
            "SELECT id FROM jobs WHERE state = 'PENDING' ORDER BY priority DESC, submit_time, id"
        ).fetchall()
        return [r[0] for r in rows]

    def find(
        self,
        *,
        states: Sequence[JobState] | None = None,
        user: str | None = None,
        account: str | None = None,
        name: str | None = None,
        ended_since: float | None = None,
        limit: int | None = None,
    ) -> list[Job]:
        where, params = _filters(states, user, account, name, ended_since)
        sql = f"SELECT * FROM jobs{where} ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_job_from_row(r) for r in self.db.execute(sql, params).fetchall()]

    def queue_json(
        self,
        *,
        states: Sequence[JobState] | None = None,
        user: str | None = None,
        account: str | None = None,
        name: str | None = None,
        ended_since: float | None = None,
        by_priority: bool = False,
    ) -> str:
        """Listing rows as one JSON array, built by SQLite itself (no per-row Python):
        the fast path of `mlrp queue`. `by_priority`: running jobs first, then pending
        ones by priority, as squeue."""
        where, params = _filters(states, user, account, name, ended_since)
        order = _BY_PRIORITY if by_priority else "id"
        sql = (
            f"SELECT json_group_array(json(row)) FROM "
            f"(SELECT {QUEUE_OBJECT} AS row FROM jobs{where} ORDER BY {order})"
        )
        return str(self.db.execute(sql, params).fetchone()[0])

    def queue_rows(
        self,
        *,
        states: Sequence[JobState] | None = None,
        user: str | None = None,
        account: str | None = None,
        name: str | None = None,
    ) -> list[tuple[Any, ...]]:
        """The rows of `mlrp queue`'s table, running jobs first, then pending ones by
        priority (as squeue): tuples of QUEUE_ROW_COLUMNS. Only the cells the table
        shows, as plain tuples: for a long queue, a fraction of the cost of the JSON
        listing (building, then decoding it)."""
        where, params = _filters(states, user, account, name, None)
        cursor = self.db.cursor()
        cursor.row_factory = None  # tuples, not sqlite3.Row
        rows = cursor.execute(
            f"SELECT {_QUEUE_ROW} FROM jobs{where} ORDER BY {_BY_PRIORITY}", params
        ).fetchall()
        at = _GPUS
        return [
            row if row[at] is None else (*row[:at], tuple(json.loads(row[at])), *row[at + 1 :])
            for row in rows
        ]

    def states_of(
        self, keys: Iterable[tuple[int, int | None]]
    ) -> dict[tuple[int, int | None], tuple[JobState, ...]]:
        """What dependencies name: (id, None) -> the state of job `id`, or of every task
        when `id` is an array; (id, task) -> the state of that array task. Unknown keys
        are absent."""
        wanted = set(keys)
        ids = sorted({job_id for job_id, _ in wanted})
        if not ids:
            return {}
        marks = ",".join("?" for _ in ids)
        sql = (
            f"SELECT id, array_job_id, array_task_id, state FROM jobs "
            f"WHERE id IN ({marks}) OR array_job_id IN ({marks})"
        )
        found: dict[tuple[int, int | None], list[JobState]] = {}
        for row in self.db.execute(sql, ids + ids):
            array = row["array_job_id"]
            if array is None:
                keys = [(row["id"], None)]
            else:
                keys = [(array, None), (array, row["array_task_id"])]
            for key in keys:
                if key in wanted:
                    found.setdefault(key, []).append(JobState(row["state"]))
        return {k: tuple(v) for k, v in found.items()}

    # --- jobs: change ------------------------------------------------------------------

    def transition(self, job_id: int, old: JobState, new: JobState, **fields: Any) -> bool:
        """Move a job from `old` to `new`, setting `fields`; False if it was no longer in
        `old` (someone else changed it first). Raises on a transition the table forbids."""
        if not can_transition(old, new):
            raise InvalidTransition(f"job {job_id}: {old} -> {new} is not allowed")
        assignments, values = _assignments({"state": new.value, **fields})
        cursor = self.db.execute(
            f"UPDATE jobs SET {assignments} WHERE id = ? AND state = ?",
            (*values, job_id, old.value),
        )
        return cursor.rowcount == 1

    def update(self, job_id: int, **fields: Any) -> None:
        """Set non-state fields (hold flag, supervisor handle...)."""
        if "state" in fields:
            raise ValueError("use transition() to change a job's state")
        assignments, values = _assignments(fields)
        self.db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*values, job_id))

    def save_pending_info(
        self, infos: Iterable[tuple[int, Reason, float, Mapping[str, float], float | None]]
    ) -> None:
        """Bulk-record (id, reason, priority, factors, expected_start) for pending jobs."""
        rows = [
            (reason.value, priority, json.dumps(factors), expected, job_id)
            for job_id, reason, priority, factors, expected in infos
        ]
        with self.transaction() as db:
            db.executemany(
                "UPDATE jobs SET reason = ?, priority = ?, priority_factors = ?, "
                "expected_start = ? WHERE id = ? AND state = 'PENDING'",
                rows,
            )

    # --- jobs of an external engine --------------------------------------------------

    def record_external(self, rows: Sequence[tuple[int, str, JobSpec, float]]) -> None:
        """(engine job id, user, spec, submit time) of jobs handed to an engine."""
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO external_jobs (job_id, user, spec, submit_time) "
                "VALUES (?, ?, ?, ?)",
                [(job_id, user, spec.model_dump_json(), at) for job_id, user, spec, at in rows],
            )

    def external_specs(self, job_ids: Iterable[int]) -> dict[int, JobSpec]:
        """The specs recorded for those of `job_ids` that are known."""
        ids = sorted(set(job_ids))
        found: dict[int, JobSpec] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" for _ in chunk)
            rows = self.db.execute(
                f"SELECT job_id, spec FROM external_jobs WHERE job_id IN ({marks})", chunk
            )
            for row in rows:
                found[row["job_id"]] = JobSpec.model_validate_json(row["spec"])
        return found

    # --- usage -------------------------------------------------------------------------

    def usage(self) -> dict[tuple[str, str], float]:
        rows = self.db.execute("SELECT account, user, gpu_seconds FROM usage")
        return {(r["account"], r["user"]): r["gpu_seconds"] for r in rows}

    def decay_and_add_usage(self, factor: float, added: Mapping[tuple[str, str], float]) -> None:
        """Multiply every usage by `factor` (decay), then add `added` GPU-seconds."""
        with self.transaction() as db:
            db.execute("UPDATE usage SET gpu_seconds = gpu_seconds * ?", (factor,))
            db.executemany(
                "INSERT INTO usage (account, user, gpu_seconds) VALUES (?, ?, ?) "
                "ON CONFLICT(account, user) DO UPDATE SET gpu_seconds = gpu_seconds + ?",
                [(a, u, s, s) for (a, u), s in added.items()],
            )

    # --- metadata ----------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row["value"]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def _insert_values(job: Job, spec_json: str) -> tuple[Any, ...]:
    spec = job.spec
    return (
        job.array_job_id, job.array_task_id, job.array_throttle, job.name, job.user,
        job.uid, job.gid, job.account, job.partition, job.qos, job.state.value,
        job.reason.value, int(job.held), spec_json, spec.gpus, spec.gpu_type, spec.nice,
        spec.dependency, job.submit_time, job.begin_time, job.time_limit, job.priority,
    )  # fmt: skip


def _assignments(fields: Mapping[str, Any]) -> tuple[str, list[Any]]:
    names = ", ".join(f"{name} = ?" for name in fields)
    return names, [_to_column(name, value) for name, value in fields.items()]


def _to_column(name: str, value: Any) -> Any:
    if name in JSON_COLUMNS:
        return json.dumps(list(value) if name == "gpus" else value)
    if isinstance(value, JobState | Reason):
        return value.value
    if isinstance(value, bool):
        return int(value)
    return value


def _filters(
    states: Sequence[JobState] | None,
    user: str | None,
    account: str | None,
    name: str | None,
    ended_since: float | None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if states:
        clauses.append(f"state IN ({','.join('?' for _ in states)})")
        params.extend(s.value for s in states)
    for column, value in (("user", user), ("account", account), ("name", name)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if ended_since is not None:
        clauses.append("(end_time >= ? OR state IN ('PENDING', 'RUNNING'))")
        params.append(ended_since)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _job_from_row(row: sqlite3.Row) -> Job:
    data = dict(row)
    data["spec"] = JobSpec.model_validate_json(data["spec"])
    data["gpus"] = json.loads(data["gpus"])
    data["priority_factors"] = json.loads(data["priority_factors"])
    data["held"] = bool(data["held"])
    data["state"] = JobState(data["state"])
    data["reason"] = Reason(data["reason"])
    for derived in ("gpu_count", "gpu_type", "nice", "dependency"):  # copies of spec fields
        data.pop(derived)
    return Job.model_construct(**data)
