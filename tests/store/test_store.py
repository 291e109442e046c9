"""The SQLite store: guarded transitions, arrays, dependency lookups, usage decay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlrp.errors import InvalidTransition
from mlrp.models.jobs import Job, JobSpec
from mlrp.models.reasons import Reason
from mlrp.models.states import JobState
from mlrp.store import Store

CD, F, PD, R = JobState.COMPLETED, JobState.FAILED, JobState.PENDING, JobState.RUNNING


def new_job(**changes: object) -> Job:
    base = Job(
        id=0, name="train", user="alice", uid=1000, gid=1000, account="vision",
        partition="batch", qos="normal", state=PD, spec=JobSpec(argv=["true"], gpus=1),
        submit_time=1.0, time_limit=60,
    )  # fmt: skip
    return base.model_copy(update=changes)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "state.db")


def test_state_survives_reopening_the_database(tmp_path: Path) -> None:
    first = Store(tmp_path / "state.db")
    [job_id] = first.insert_jobs([new_job()], as_array=False)
    first.close()
    again = Store(tmp_path / "state.db").get(job_id)
    assert again is not None and again.spec.argv == ["true"] and again.state is PD


def test_a_transition_from_a_stale_state_changes_nothing(store: Store) -> None:
    [job_id] = store.insert_jobs([new_job()], as_array=False)
    assert store.transition(job_id, PD, R, gpus=[3], start_time=2.0)
    assert not store.transition(job_id, PD, JobState.CANCELLED)  # it already runs
    job = store.get(job_id)
    assert job is not None and job.state is R and job.gpus == [3]


def test_a_transition_the_table_forbids_is_refused(store: Store) -> None:
    [job_id] = store.insert_jobs([new_job()], as_array=False)
    store.transition(job_id, PD, R)
    store.transition(job_id, R, CD)
    with pytest.raises(InvalidTransition, match="COMPLETED -> RUNNING"):
        store.transition(job_id, CD, R)


def test_array_tasks_share_the_first_id_as_array_job_id(store: Store) -> None:
    ids = store.insert_jobs([new_job(array_task_id=i) for i in (0, 5, 9)], as_array=True)
    tasks = store.array_tasks(ids[0])
    assert [(t.array_job_id, t.array_task_id) for t in tasks] == [
        (ids[0], 0),
        (ids[0], 5),
        (ids[0], 9),
    ]
    assert tasks[1].display_id == f"{ids[0]}_5"


def test_dependency_states_of_jobs_arrays_and_single_tasks(store: Store) -> None:
    [single] = store.insert_jobs([new_job()], as_array=False)
    array = store.insert_jobs([new_job(array_task_id=i) for i in range(3)], as_array=True)
    store.transition(array[1], PD, R)
    store.transition(array[1], R, F)
    states = store.states_of([(single, None), (array[0], None), (array[0], 1), (999, None)])
    assert states[(single, None)] == (PD,)
    assert sorted(states[(array[0], None)]) == sorted((PD, F, PD))
    assert states[(array[0], 1)] == (F,)
    assert (999, None) not in states


def test_usage_decays_then_adds(store: Store) -> None:
    store.decay_and_add_usage(1.0, {("vision", "alice"): 100.0})
    store.decay_and_add_usage(0.5, {("vision", "alice"): 10.0, ("nlp", "carol"): 4.0})
    assert store.usage() == {("vision", "alice"): 60.0, ("nlp", "carol"): 4.0}


def test_queue_rows_list_running_first_then_by_priority(store: Store) -> None:
    ids = store.insert_jobs([new_job(), new_job(), new_job()], as_array=False)
    store.save_pending_info([(ids[0], Reason.PRIORITY, 1.0, {}, None)])
    store.transition(ids[2], PD, R)
    rows = json.loads(store.queue_json(states=[PD, R], by_priority=True))
    assert [r["id"] for r in rows] == [ids[2], ids[0], ids[1]]
