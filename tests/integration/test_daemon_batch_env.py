"""`Client.submit_batch`: the environment the specs share travels once (the batch's
`env`), and every job still runs with exactly the environment its spec had."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration_support import log_text, private_daemon, show

from daemon_harness import Daemon
from mlrp.client import api, wire
from mlrp.client.transport import Reply
from mlrp.errors import InvalidSpec

SHOW = ["/bin/sh", "-c", 'echo "shared=${MLRP_SHARED-unset} own=${MLRP_OWN-unset}"']


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with private_daemon() as shared:
        yield shared


def spec(workdir: Path, name: str, **fields: Any) -> dict[str, Any]:
    return {"argv": SHOW, "name": name, "workdir": str(workdir), **fields}


def outputs(daemon: Daemon, receipts: list[dict[str, Any]]) -> list[str]:
    lines = []
    for receipt in receipts:
        for job_id in receipt["ids"]:
            assert daemon.wait(job_id)["state"] == "COMPLETED"
            lines.append(log_text(daemon, job_id).strip())
    return lines


def test_batch_sends_the_shared_environment_once(
    daemon: Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = {"PATH": os.environ["PATH"], "MLRP_SHARED": "from-the-batch"}
    own = {"PATH": os.environ["PATH"], "MLRP_OWN": "mine"}
    specs = [
        spec(tmp_path, "shares", env=shared),
        spec(tmp_path, "shares-too", env=dict(shared)),  # equal, not the same object
        spec(tmp_path, "own", env=own),
        spec(tmp_path, "none"),  # no env: an empty one, as when submitted alone
        spec(tmp_path, "array", env=shared, array="0-2"),
    ]
    bodies: list[dict[str, Any]] = []
    real_exchange = api.exchange

    def spying(path: str, method: str, url: str, body: bytes | None = None) -> Reply:
        if body is not None:
            bodies.append(wire.loads(body))
        return real_exchange(path, method, url, body)

    monkeypatch.setattr(api, "exchange", spying)
    receipts = daemon.client.submit_batch(specs)

    (body,) = bodies
    assert body["env"] == shared
    sent = {s["name"]: s for s in body["specs"]}
    assert "env" not in sent["shares"] and "env" not in sent["shares-too"]
    assert "env" not in sent["array"]
    assert sent["own"]["env"] == own
    assert sent["none"]["env"] == {}
    assert specs[0]["env"] is shared  # the caller's specs are left as they were

    assert outputs(daemon, receipts) == [
        "shared=from-the-batch own=unset",
        "shared=from-the-batch own=unset",
        "shared=unset own=mine",
        "shared=unset own=unset",
        *["shared=from-the-batch own=unset"] * 3,
    ]
    recorded = show(daemon, receipts[1]["ids"][0])["spec"]["env"]
    assert recorded == shared
    assert show(daemon, receipts[3]["ids"][0])["spec"]["env"] == {}


def test_batch_level_env_for_specs_that_give_none(daemon: Daemon, tmp_path: Path) -> None:
    """Given explicitly, `env` is the environment of every spec without one of its own."""
    shared = {"PATH": os.environ["PATH"], "MLRP_SHARED": "explicit"}
    specs = [spec(tmp_path, "same") for _ in range(3)]  # one request three times
    specs.append(spec(tmp_path, "same", env={}))  # the same, but with an empty env
    specs.append(spec(tmp_path, "own", env={"MLRP_OWN": "kept"}))
    specs.append(spec(tmp_path, "same"))
    receipts = daemon.client.submit_batch(specs, env=shared)
    assert outputs(daemon, receipts) == [
        *["shared=explicit own=unset"] * 3,
        "shared=unset own=unset",
        "shared=unset own=kept",
        "shared=explicit own=unset",
    ]
    ids = [r["ids"][0] for r in receipts]
    assert len(set(ids)) == len(ids)  # a job each, though planned once


def test_batch_env_is_validated_once_and_refused_whole(daemon: Daemon, tmp_path: Path) -> None:
    before = len(daemon.client.jobs(since=0))
    with pytest.raises(InvalidSpec, match="env"):
        daemon.client.submit_batch([spec(tmp_path, "x")], env={"A": 1})  # type: ignore[dict-item]
    assert len(daemon.client.jobs(since=0)) == before


def test_single_spec_path_is_unchanged(daemon: Daemon, tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "MLRP_SHARED": "alone"}
    receipt = daemon.client.submit(spec(tmp_path, "single", env=env))
    assert outputs(daemon, [receipt]) == ["shared=alone own=unset"]
