"""Trace formats: Slurm history (sacct --json, sacct --parsable2) captured from a real
Slurm 22.05 test cluster, hand-made edge cases, format detection, and bad input."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from mlrp.errors import InvalidSpec
from mlrp.sim import TraceJob, detect_format, load_trace, read_trace
from mlrp.sim.trace import NEVER_STARTED, NO_GPUS, NOT_ENDED, STEP

DATA = Path(__file__).resolve().parent.parent / "data"
# Real output of one Slurm 22.05.8 cluster (4 nodes x 8 GPUs, accounts teama/teamb): jobs
# 1-15 as `sacct --json`, as `sacct --parsable2 --format=JobID,User,Account,Submit,Start,
# End,Elapsed,Timelimit,AllocTRES,ReqTRES,State`, and as `sacct --parsable -X` with
# JobIDRaw. Job 5 had no GPU, 6 timed out, 7 failed at once, 8 was cancelled while held,
# 11 is an array (tasks 11_1 = job 12 and 11_2 = job 11), 13 and 14 were still pending
# and 15 running when sacct ran.
REAL_JSON = DATA / "sacct_2205.json"
REAL_PARSABLE = DATA / "sacct_2205_parsable.txt"
REAL_JOBIDRAW = DATA / "sacct_2205_jobidraw.txt"
EDGE_PARSABLE = DATA / "sacct_edge_parsable.txt"
EDGE_JSON = DATA / "sacct_edge.json"
T0 = 1795921821.0  # 2026-11-29T03:10:21Z, when jobs 1-10 were submitted
HEADER = "JobID|User|Account|Submit|Start|End|Timelimit|AllocTRES|ReqTRES"


def job(id: int, dt: float, duration: float, gpus: int, user: str, limit: int | None) -> TraceJob:
    account = {"alice": "teama", "bob": "teamb"}[user]
    return TraceJob(id, T0 + dt, duration, gpus, account, user, limit)


REAL_JOBS = [
    job(1, 0, 3, 2, "alice", 300),
    job(2, 0, 5, 8, "alice", 600),
    job(3, 0, 2, 1, "bob", None),  # UNLIMITED
    job(4, 0, 4, 16, "bob", 3600),  # two nodes
    job(6, 0, 62, 4, "alice", 60),  # ran past its limit: TIMEOUT
    job(7, 0, 0, 1, "alice", None),  # FAILED at once
    job(9, 0, 5, 24, "bob", 180),  # three nodes
    job(10, 0, 2, 8, "alice", 240),
    job(11, 2, 2, 1, "alice", 120),  # array task 11_2
    job(12, 2, 2, 1, "alice", 120),  # array task 11_1
]
REAL_LEFT_OUT = {NO_GPUS: 1, NEVER_STARTED: 3, NOT_ENDED: 1}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- real sacct output -----------------------------------------------------------------


def test_real_sacct_json() -> None:
    trace = load_trace(REAL_JSON)
    assert trace.format == "sacct-json"
    assert trace.jobs == REAL_JOBS
    assert trace.left_out == REAL_LEFT_OUT


def test_real_sacct_parsable2_skips_steps() -> None:
    trace = load_trace(REAL_PARSABLE)
    assert trace.format == "sacct-parsable"
    assert trace.left_out == {STEP: 14, **REAL_LEFT_OUT}
    # without JobIDRaw the array tasks 11_1 and 11_2 are numbered after the largest id
    renumbered = {11: 12, 12: 11}
    expected = [replace(j, id=renumbered.get(j.id, j.id)) for j in REAL_JOBS]
    assert trace.jobs == sorted(expected, key=lambda j: (j.submit, j.id))


def test_real_sacct_parsable_with_jobidraw_matches_json() -> None:
    trace = load_trace(REAL_JOBIDRAW)  # --parsable: a trailing | on every line
    assert trace.jobs == [replace(j, time_limit=None) for j in REAL_JOBS]  # no Timelimit
    assert trace.left_out == REAL_LEFT_OUT


# --- hand-made edge cases --------------------------------------------------------------


def test_parsable_edge_cases() -> None:
    trace = load_trace(EDGE_PARSABLE)
    assert trace.left_out == {STEP: 4, NO_GPUS: 1, NEVER_STARTED: 2, NOT_ENDED: 1}
    by_id = {j.id: j for j in trace.jobs}
    assert sorted(by_id) == [100, 101, 102, 108, 109, 110]
    assert (by_id[100].gpus, by_id[100].duration, by_id[100].time_limit) == (4, 3600, 86400)
    # no account: the user stands in; typed GPUs only: added up; limit in minutes
    assert (by_id[101].account, by_id[101].gpus, by_id[101].time_limit) == ("dave", 2, 1800)
    # an untyped gres/gpu entry wins over the typed ones; UNLIMITED: no limit
    assert (by_id[102].gpus, by_id[102].time_limit) == (3, None)
    # nothing allocated (AllocTRES empty): the requested GPUs
    assert by_id[108].gpus == 2
    # array task 106_1 and het component 107+0: ids after the largest plain id (108)
    assert (by_id[109].user, by_id[109].duration, by_id[110].duration) == ("frank", 600, 90)


def test_json_edge_cases_of_newer_slurm() -> None:
    trace = load_trace(EDGE_JSON)
    assert trace.left_out == {NEVER_STARTED: 1, NOT_ENDED: 1, NO_GPUS: 1}
    assert trace.jobs == [
        TraceJob(200, 1709287200.0, 3600.0, 4, "vision", "carol", 7200),
        # account and user from the association; typed GPUs added, gpumem ignored
        TraceJob(201, 1709287260.0, 1200.0, 3, "nlp", "erin", None),
        # nothing allocated: the requested count, itself a {"set", "number"} value
        TraceJob(205, 1709287500.0, 300.0, 2, "vision", "grace", 1800),
    ]


def test_format_detection(tmp_path: Path) -> None:
    assert detect_format(REAL_JSON) == "sacct-json"
    assert detect_format(REAL_PARSABLE) == "sacct-parsable"
    assert detect_format(DATA / "small_trace.csv") == "philly"
    compact = write(tmp_path, "compact.txt", json.dumps(json.loads(EDGE_JSON.read_text())))
    assert detect_format(compact) == "sacct-json"
    assert load_trace(compact).jobs == load_trace(EDGE_JSON).jobs
    jsonl = write(tmp_path, "t.data", '{"submit": 1, "duration": 2, "gpus": 1, "account": "x"}\n')
    assert detect_format(jsonl) == "jsonl"
    assert read_trace(jsonl) == [TraceJob(1, 1.0, 2.0, 1, "x")]


def test_forced_format(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match=r"header lacks column\(s\) timestamp"):
        load_trace(REAL_PARSABLE, fmt="philly")
    with pytest.raises(InvalidSpec, match="unknown trace format 'slurm'"):
        load_trace(REAL_PARSABLE, fmt="slurm")
    assert load_trace(REAL_JSON, fmt="sacct-json").jobs == REAL_JOBS


def test_jsonl_user_and_time_limit(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.jsonl",
        '{"submit": 1, "duration": 2, "gpus": 1, "account": "x", "user": "u", "time_limit": 60}\n',
    )
    assert read_trace(path) == [TraceJob(1, 1.0, 2.0, 1, "x", "u", 60)]
    path.write_text('{"submit": 1, "duration": 2, "gpus": 1, "account": "x", "time_limit": 1.5}\n')
    with pytest.raises(InvalidSpec, match=r"t\.jsonl:1: time_limit must be whole seconds"):
        read_trace(path)


# --- bad input: each error names the file, where, and the problem ------------------------

ROW = "1|u|a|2024-01-01T00:00:00|2024-01-01T00:01:00|2024-01-01T00:02:00|10|gres/gpu=1|"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("JobID|User|Submit|AllocTRES\n", r":1: sacct header lacks column\(s\) Start, End"),
        ("JobID|Submit|Start|End\n", r"lacks column\(s\) AllocTRES or ReqTRES, Account or User"),
        (f"{HEADER}\n{ROW}\n1|u|a\n", r":3: expected 9 fields, got 3"),
        (f"{HEADER}\n{ROW.replace('T00:01:00', 'noon')}\n", r":2: bad Start time '2024-01-01noon'"),
        (f"{HEADER}\n{ROW.replace('gres/gpu=1', 'gres/gpu=two')}\n", r":2: bad GPU count 'two'"),
        (f"{HEADER}\n{ROW.replace('gres/gpu=1', 'gpus')}\n", r":2: bad AllocTRES entry 'gpus'"),
        (f"{HEADER}\n{ROW.replace('|10|', '|1:2:3:4|')}\n", r":2: invalid Timelimit '1:2:3:4'"),
        (f"{HEADER}\n{ROW.replace('T00:02', 'T00:00')}\n", r":2: ends before it starts"),
        (f"{HEADER}\n{ROW}\n{ROW}\n", r":3: duplicate job id 1"),
        (f"{HEADER}\nx{ROW}\n", r":2: bad job id 'x1'"),
        (f"{HEADER}\n{ROW.replace('|u|a|', '|||')}\n", r":2: missing account"),
        (f"{HEADER}\n{ROW.replace('2024-01-01T00:00:00', 'Unknown')}\n", r":2: missing submit"),
    ],
)
def test_bad_parsable(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "bad.txt", text)
    with pytest.raises(InvalidSpec, match=r"bad\.txt" + ".*" + message):
        load_trace(path)


def sacct_doc(**changes: object) -> str:
    """A one-job sacct JSON document, with the job's keys replaced by `changes`."""
    job: dict[str, object] = {
        "job_id": 7,
        "account": "a",
        "user": "u",
        "time": {"submission": 100, "start": 110, "end": 150, "limit": 5},
        "tres": {"allocated": [{"type": "gres", "name": "gpu", "count": 2}]},
    }
    job.update(changes)
    return json.dumps({"jobs": [job]}, indent=1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{\n "jobs": [\n  {"job_id": 1,}\n ]\n}\n', r"bad\.json:3: not JSON"),
        ('{\n "meta": {}\n}\n', r"bad\.json: not sacct --json output \(no top-level 'jobs'"),
        ('{"jobs": [1]}', r"jobs\[0\]: expected a JSON object"),
        (sacct_doc(job_id="7"), r"jobs\[0\]: job_id must be an integer, not '7'"),
        (sacct_doc(time=None), r"jobs\[0\] \(job 7\): missing time"),
        (sacct_doc(time={"submission": "x", "start": 1, "end": 2}), r"bad time\.submission 'x'"),
        (sacct_doc(time={"submission": 0, "start": 1, "end": 2}), r"\(job 7\): missing submit"),
        (sacct_doc(time={"submission": 1, "start": 9, "end": 2}), r"ends before it starts"),
        (sacct_doc(time={"submission": 1, "start": -9, "end": 2}), r"bad time\.start -9"),
        (sacct_doc(tres={"allocated": "gpu=2"}), r"\(job 7\): tres must be a list"),
        (sacct_doc(account=None, user=None), r"\(job 7\): missing account"),
    ],
)
def test_bad_sacct_json(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "bad.json", text)
    with pytest.raises(InvalidSpec, match=message):
        load_trace(path)


def test_duplicate_json_job_id(tmp_path: Path) -> None:
    doc = json.loads(sacct_doc())
    doc["jobs"].append(doc["jobs"][0])
    path = write(tmp_path, "dup.json", json.dumps(doc))
    with pytest.raises(InvalidSpec, match=re.escape("jobs[1] (job 7): duplicate job id 7")):
        load_trace(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty trace"), ("\n\n", "empty trace"), ("[1, 2]\n", "a JSON array is not")],
)
def test_empty_or_unknown(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        load_trace(write(tmp_path, "t.txt", text))


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "t.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(InvalidSpec, match=r"t\.bin: not a text file"):
        load_trace(path)
