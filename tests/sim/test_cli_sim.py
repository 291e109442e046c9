"""`mlrp sim`: the JSON document, the table, --config, --plot, the progress line, and
errors printed as one line without a traceback (through the real `mlrp` executable)."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from mlrp.cli.main import main
from mlrp.cli.sim import ProgressLine, parse_window, with_trace_accounts
from mlrp.errors import InvalidSpec
from mlrp.models.policy import Account, Policy

DATA = Path(__file__).resolve().parent.parent / "data"
SMALL = DATA / "small_trace.csv"  # accounts aa11, bb22, cc33
SACCT = DATA / "sacct_2205.json"  # accounts teama, teamb
MLRP = Path(sys.executable).with_name("mlrp")

OVERALL_KEYS = {
    "jobs",
    "skipped",
    "preemptions",
    "moved",
    "lost_gpu_s",
    "lost_fraction",
    "fair_ratio_min",
    "fair_ratio_max",
    "fair_outside_10pct",
    "checkpoint_s",
    "gpus",
    "makespan_s",
    "gpu_utilization",
    "gpu_utilization_arrivals",
    "jct_avg_s",
    "jct_median_s",
    "jct_p99_s",
    "wait_avg_s",
    "wait_median_s",
    "wait_p99_s",
    "jain_7d_mean",
    "jain_7d_min",
    "jain_windows",
    "share_origin",
    "share_window_s",
    "share_windows",
    "backlogged_windows",
    "backlog_dev_abs_mean",
    "backlog_dev_min",
    "gang_min_gpus",
    "gang_jobs",
    "gang_wait_max_s",
    "gang_wait_max_job",
    "cluster",
    "policy",
    "passes",
    "wall_s",
    "trace_format",
    "trace_left_out",
}
ACCOUNT_KEYS = {
    "jobs",
    "jct_avg_s",
    "jct_p99_s",
    "wait_avg_s",
    "wait_p99_s",
    "gpu_share",
    "entitlement",
    "backlogged_windows",
    "backlog_dev_mean",
    "backlog_dev_min",
    "fair_ratio_min",
    "fair_ratio_max",
    "gang_jobs",
    "gang_wait_max_s",
    "share_series",
    "backlogged_series",
}


def mlrp(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MLRP), *map(str, argv)], capture_output=True, text=True, timeout=120, check=False
    )


def sim_json(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> dict[str, object]:
    assert main(["sim", *map(str, argv), "--json"]) == 0
    doc: dict[str, object] = json.loads(capsys.readouterr().out)
    return doc


# --- the JSON document -------------------------------------------------------------------


def test_json_document_shape(capsys: pytest.CaptureFixture[str]) -> None:
    doc = sim_json(capsys, SMALL, "--cluster", "2x8", "--window", "6h")
    assert set(doc) == {"overall", "accounts"}
    overall = doc["overall"]
    accounts = doc["accounts"]
    assert isinstance(overall, dict) and isinstance(accounts, dict)
    assert set(overall) == OVERALL_KEYS
    assert overall["share_window_s"] == 6 * 3600 and overall["trace_format"] == "philly"
    assert set(accounts) == {"aa11", "bb22", "cc33"}
    for figures in accounts.values():
        assert set(figures) == ACCOUNT_KEYS
        assert figures["entitlement"] == pytest.approx(1 / 3)
        assert len(figures["share_series"]) == overall["share_windows"]
        assert all(s is None or 0 <= s <= 1 for s in figures["share_series"])
    assert sum(a["gpu_share"] for a in accounts.values()) == pytest.approx(1.0)


def test_json_of_a_sacct_trace_counts_what_was_left_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    doc = sim_json(capsys, SACCT, "--cluster", "4x8")
    overall = doc["overall"]
    assert isinstance(overall, dict)
    assert overall["trace_format"] == "sacct-json" and overall["jobs"] == 10
    assert overall["trace_left_out"] == {"never started": 3, "not ended": 1, "without GPUs": 1}
    # jobs 2, 4, 9 and 10 ask for >= 8 GPUs
    assert overall["gang_jobs"] == 4


def test_table_through_the_executable() -> None:
    run = mlrp("sim", SACCT, "--cluster", "4x8")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # no progress line: stderr is not a terminal
    lines = run.stdout.splitlines()
    assert lines[0].startswith("10 jobs (0 skipped")
    assert lines[1] == ("trace (sacct-json): left out 3 never started, 1 not ended, 1 without GPUs")
    assert "BACKLOGGED" in run.stdout and "GANG_WAIT_MAX" in run.stdout
    assert any(line.startswith("teama ") for line in lines)


# --- --config -----------------------------------------------------------------------------


def write_policy(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(body)
    return path


def test_config_policy_sets_the_entitlement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = write_policy(
        tmp_path,
        "[scheduler]\nbackfill = false\nfairshare_preemption = false\n"
        "[[scheduler.accounts]]\nname = 'aa11'\nshares = 2\n"
        "[[scheduler.accounts]]\nname = 'bb22'\nshares = 1\n",
    )
    assert main(["sim", str(SMALL), "--cluster", "2x8", "--config", str(policy), "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    # cc33 is in the trace, not in the policy: added with 1 share, and said so
    assert "added as 1-share children of the root: cc33" in captured.err
    entitled = {name: a["entitlement"] for name, a in doc["accounts"].items()}
    assert entitled == pytest.approx({"aa11": 0.5, "bb22": 0.25, "cc33": 0.25})
    overall = doc["overall"]
    assert overall["policy"] == "config" and overall["config"] == str(policy)
    assert overall["added_accounts"] == ["cc33"]


def test_config_policy_is_what_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a config with fifo-like weights and no backfill gives the fifo preset's run
    policy = write_policy(
        tmp_path,
        "[scheduler]\nbackfill = false\nfairshare_preemption = false\n"
        "[scheduler.weights]\nage = 1000\nfairshare = 0\njob_size = 0\nqos = 0\npartition = 0\n"
        + "".join(f"[[scheduler.accounts]]\nname = '{a}'\n" for a in ("aa11", "bb22", "cc33")),
    )
    configured = sim_json(capsys, SMALL, "--cluster", "2x8", "--config", policy)
    fifo = sim_json(capsys, SMALL, "--cluster", "2x8", "--policy", "fifo")
    assert configured["accounts"] == fifo["accounts"]
    assert configured["overall"]["added_accounts"] == []  # type: ignore[index]


def test_with_trace_accounts_keeps_the_policy() -> None:
    policy = Policy(accounts=[Account(name="a", shares=3)], half_life=60)
    same, added = with_trace_accounts(policy, ["a"])
    assert same is policy and added == []
    grown, added = with_trace_accounts(policy, ["b", "a", "c", "b"])
    assert added == ["b", "c"]
    assert [(a.name, a.shares, a.parent) for a in grown.accounts] == [
        ("a", 3, None),
        ("b", 1, None),
        ("c", 1, None),
    ]
    assert grown.half_life == 60


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[scheduler]\nhalf_lif = 3\n", "scheduler.half_lif: Extra inputs are not permitted"),
        ("[scheduler\n", "cannot read config"),
        ("[[scheduler.accounts]]\nname = 'a'\nparent = 'x'\n", "unknown parent 'x'"),
    ],
)
def test_bad_config_is_named_like_the_daemons(tmp_path: Path, body: str, message: str) -> None:
    run = mlrp("sim", SMALL, "--cluster", "2x8", "--config", write_policy(tmp_path, body))
    assert run.returncode == 1
    assert run.stderr.startswith("mlrp sim: error: ") and message in run.stderr
    assert "Traceback" not in run.stderr and run.stderr.count("\n") == 1


def test_missing_config_and_exclusive_options(tmp_path: Path) -> None:
    run = mlrp("sim", SMALL, "--cluster", "2x8", "--config", tmp_path / "none.toml")
    assert run.returncode == 1
    assert f"config file {tmp_path / 'none.toml'} does not exist" in run.stderr
    run = mlrp("sim", SMALL, "--cluster", "2x8", "--config", "x.toml", "--policy", "fifo")
    assert run.returncode == 1 and "give --policy or --config, not both" in run.stderr


# --- errors without a traceback --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "extra", "message"),
    [
        ("bad.txt", "JobID|Submit|Start\n", (), "bad.txt:1: sacct header lacks column(s) End"),
        ("bad.json", '{"jobs": [{"job_id": 1}]}', (), "bad.json: jobs[0] (job 1): missing time"),
        ("t.csv", "x\n", ("--format", "sacct-json"), "t.csv:1: not JSON"),
        ("t.csv", "x\n", ("--window", "0h"), "bad --window '0h'"),
        ("t.csv", "x\n", ("--checkpoint", "1x"), "bad --checkpoint '1x': expected seconds >= 0"),
        ("t.csv", "x\n", ("--plot", "/nonexistent/dir/p.png"), "no directory /nonexistent/dir"),
    ],
)
def test_errors_are_one_line(
    tmp_path: Path, name: str, text: str, extra: tuple[str, ...], message: str
) -> None:
    if "--plot" in extra:
        pytest.importorskip("matplotlib")
    path = tmp_path / name
    path.write_text(text)
    run = mlrp("sim", path, "--cluster", "2x8", *extra)
    assert run.returncode == 1, run.stdout
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert message in run.stderr


def test_parse_window() -> None:
    assert [parse_window(t) for t in ("3600", "30m", "12h", "1d", "90s", "1.5h")] == [
        3600,
        1800,
        43200,
        86400,
        90,
        5400,
    ]
    for bad in ("", "d", "-1h", "1w", "nan", "inf"):
        with pytest.raises(InvalidSpec, match="bad --window"):
            parse_window(bad)
    # --checkpoint also takes 0 (jobs that never save their work)
    assert parse_window("0", "--checkpoint", zero=True) == 0
    with pytest.raises(InvalidSpec, match="bad --window '0'"):
        parse_window("0")


# --- --plot -------------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_plot_writes_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    from mlrp.sim.plot import HEIGHT, WIDTH

    out = tmp_path / "run.png"
    assert main(["sim", str(SMALL), "--cluster", "2x8", "--plot", str(out)]) == 0
    assert "JCT_AVG" in capsys.readouterr().out
    assert png_size(out) == (WIDTH, HEIGHT) == (1200, 800)


def test_plot_of_an_empty_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "empty.png"
    assert main(["sim", str(SMALL), "--cluster", "2x8", "--limit", "0", "--plot", str(out)]) == 0
    capsys.readouterr()
    assert png_size(out) == (1200, 800)


# --- progress ------------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_rewrites_itself_and_is_erased() -> None:
    stream = io.StringIO()
    progress = ProgressLine(stream, every=3600)
    progress(10, 200)
    progress(20, 200)  # too soon: not written
    progress(200, 200)  # the end is always written
    progress.close()
    text = stream.getvalue()
    width = len("simulating: 200/200 jobs (100%)")
    assert text == (
        "\rsimulating: 10/200 jobs (5%)"
        + " " * 0
        + "\rsimulating: 200/200 jobs (100%)"
        + "\r"
        + " " * width
        + "\r"
    )


def test_progress_on_a_terminal_only_without_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["sim", str(SMALL), "--cluster", "2x8", "--limit", "20"]) == 0
    assert "\rsimulating: 20/20 jobs (100%)" in terminal.getvalue()
    assert terminal.getvalue().endswith("\r")
    capsys.readouterr()
    monkeypatch.setattr(sys, "stderr", terminal := FakeTerminal())
    assert main(["sim", str(SMALL), "--cluster", "2x8", "--limit", "20", "--json"]) == 0
    assert terminal.getvalue() == ""


def test_topology_file_is_used_and_unknown_nodes_are_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    topology = tmp_path / "topology.conf"
    topology.write_text("SwitchName=l0 Nodes=n[0-1]\nSwitchName=l1 Nodes=n[2-3]\n")
    doc = sim_json(capsys, SMALL, "--cluster", "4x8", "--topology", topology)
    assert doc["overall"]["jobs"] == 200  # type: ignore[index]
    result = mlrp("sim", SMALL, "--cluster", "2x8", "--topology", topology)
    assert result.returncode == 1
    assert "nodes not in the 2x8 cluster (n0..n1): n2, n3" in result.stderr
    assert "Traceback" not in result.stderr
