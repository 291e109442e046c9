"""Bad input gets one clear line on stderr and exit status 1 — no traceback — and changes
nothing: the jobs accepted before are still there, as they were, and no job is added.
(The calls run the CLI in-process, where an uncaught exception fails the test; a few are
repeated as real `mlrp` processes.)"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration_support import listing, private_daemon

from daemon_harness import Daemon, Result

FILES = {
    "bad-directive.sh": "#!/bin/bash\n#SBATCH --gpus=1\n#SBATCH --bogus=1\necho hi\n",
    "broken.yaml": "name: broken\nrun: [echo, unclosed\n",
    "wrong-gpu.yaml": "resources:\n  accelerators: h100:2\nrun: echo hi\n",
}


@pytest.fixture(scope="module")
def accepted() -> Iterator[Daemon]:
    """One daemon for the module, holding a running job, a held job and an ended one."""
    with private_daemon() as daemon:
        files = daemon.home / "files"
        files.mkdir()
        for name, text in FILES.items():
            (files / name).write_text(text)
        running = daemon.submit("--gpus", "2", "--job-name", "keeps-running", "--", "sleep", "300")
        daemon.wait(running, {"RUNNING"})
        daemon.submit("--hold", "--gpus", "1", "--job-name", "held", "--", "true")
        ended = daemon.submit("--job-name", "ended", "--", "true")
        daemon.wait(ended)
        yield daemon


def snapshot(daemon: Daemon) -> tuple[list[tuple[Any, ...]], int]:
    """The queue as a user sees it (without the ever-changing priority), and how many
    jobs history knows."""
    keys = ("id", "name", "user", "account", "state", "reason", "held", "gpus", "start_time")
    queue = [tuple(str(row[k]) for k in keys) for row in listing(daemon, "queue")]
    return sorted(queue), len(listing(daemon, "history", "--since", "7d"))


BAD_CALLS: list[tuple[list[str], str]] = [
    (["submit", "--gpus", "9", "--", "true"], "9 GPUs"),
    (["run", "--gpus", "9", "--", "true"], "9 GPUs"),
    (["submit", "--account", "nosuch", "--", "true"], "'nosuch'"),
    (["submit", "--partition", "nosuch", "--", "true"], "'nosuch'"),
    (["submit", "--qos", "nosuch", "--", "true"], "'nosuch'"),
    (["submit", "-p", "interactive", "--time", "9:00:00", "--", "true"], "exceeds"),
    (["submit", "--time", "8-00:00:00", "--", "true"], "exceeds"),
    (["submit", "--gpus", "3", "-p", "interactive", "--", "true"], "at most 2"),
    (["submit", "--time", "abc", "--", "true"], "--time 'abc'"),
    (["submit", "--time=1:xx", "--", "true"], "--time '1:xx'"),
    (["submit", "--array", "1-x", "--", "true"], "--array '1-x'"),
    (["submit", "--array", "5-1", "--", "true"], "--array '5-1'"),
    (["submit", "--array", "0-3%0", "--", "true"], "throttle"),
    (["submit", "{files}/bad-directive.sh"], "--bogus"),
    (["submit", "--gpu", "2", "--", "true"], "--gpu"),
    (["submit", "--dependency", "afterok:99999", "--", "true"], "99999"),
    (["submit", "--dependency", "afterwhat:1", "--", "true"], "afterwhat"),
    (["submit", "{files}/broken.yaml"], "invalid YAML"),
    (["submit", "{files}/misspelled.sh"], "no such batch script"),
    (["submit", "{files}/wrong-gpu.yaml"], "h100"),
    (["submit", "--gpus", "2"], "nothing to run"),
    (["submit", "--begin", "whenever", "--", "true"], "--begin 'whenever'"),
    (["show", "999"], "999"),
    (["logs", "999"], "999"),
    (["cancel", "abc"], "'abc'"),
    (["cancel", "\u00b2"], "invalid job id"),  # a digit to str.isdigit(), not to int()
    (["cancel", "999"], "999"),
    (["hold", "1"], "only pending jobs"),
    (["queue", "--state", "bogus"], "bogus"),
    (["cancel", "--state", "bogus"], "bogus"),
    (["history", "--since", "yesterday"], "yesterday"),
]


def check_refused(result: Result, command: str, mentions: str) -> None:
    assert result.code == 1, result
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(f"mlrp {command}: error: "), lines[0]
    assert mentions in lines[0]
    assert result.out == ""


@pytest.mark.parametrize(("args", "mentions"), BAD_CALLS, ids=[" ".join(a) for a, _ in BAD_CALLS])
def test_bad_input_is_one_clear_line_and_records_nothing(
    accepted: Daemon, args: list[str], mentions: str
) -> None:
    before = snapshot(accepted)
    files = str(accepted.home / "files")
    run = accepted.run_cli if args[0] in {"logs", "run"} else accepted.cli  # they need real stdio
    result = run(*(a.replace("{files}", files) for a in args))
    check_refused(result, args[0], mentions)
    assert snapshot(accepted) == before


def test_bad_input_as_real_processes(accepted: Daemon) -> None:
    before = snapshot(accepted)
    for args, mentions in (BAD_CALLS[0], BAD_CALLS[8], BAD_CALLS[-3]):
        result = accepted.run_cli(*args)
        check_refused(result, args[0], mentions)
    assert snapshot(accepted) == before


def test_accepted_jobs_survive_all_that(accepted: Daemon) -> None:
    queue = {row["name"]: row for row in listing(accepted, "queue")}
    assert queue["keeps-running"]["state"] == "RUNNING"
    assert queue["held"]["state"] == "PENDING" and queue["held"]["held"]
    names = [row["name"] for row in listing(accepted, "history")]
    assert names == ["keeps-running", "held", "ended"]


@pytest.mark.parametrize(
    ("detach", "section", "key"),
    [(False, "scheduler", "half_lfe"), (True, "hardware", "simulated_gpu")],
    ids=["foreground", "detached"],
)
def test_config_with_unknown_key_stops_the_daemon_naming_the_key(
    home: Path, detach: bool, section: str, key: str
) -> None:
    (home / "config.toml").write_text(f"[daemon]\ngrace = 1\n\n[{section}]\n{key} = 60\n")
    command = [sys.executable, "-m", "mlrp.cli.main", "up", "--simulated-gpus", "8"]
    command += ["--mode", "personal"] + (["--detach"] if detach else [])
    env = {"MLRP_HOME": str(home), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 1
    assert proc.stderr.startswith("mlrp up: error: ")
    assert f"{section}.{key}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (home / "mlrp.sock").exists()
