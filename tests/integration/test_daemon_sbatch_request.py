"""`mlrp submit` / `mlrp run` parsed by the daemon (POST /api/v1/jobs/sbatch): the CLI
only splits its tokens and reads a script or task file as the user; the daemon builds
the spec with the parsers the CLI used before, so the errors read as they did, and it
never opens a path the caller names."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from integration_support import listing, private_daemon, show

import mlrp
from daemon_harness import Daemon, kill_leftovers, short_tempdir
from mlrp.cli.submit import build_request
from mlrp.errors import InvalidSpec, MlrpError
from mlrp.parsing.request import spec_from_request

SRC_DIR = Path(mlrp.__file__).resolve().parent.parent

SCRIPT = """\
#!/bin/bash
#SBATCH --job-name=directed
#SBATCH --gres=gpu:2
#SBATCH --time=0:30
#SBATCH --export=ALL,FROM_DIRECTIVE=yes
echo "hello"
"""


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with private_daemon() as shared:
        yield shared


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def refused_with(result: Any, command: str, message: str) -> None:
    """Exit 1, and exactly `mlrp COMMAND: error: MESSAGE` on stderr."""
    assert result.code == 1, result
    assert result.out == ""
    assert result.err == f"mlrp {command}: error: {message}\n"


# ------------------------------------------------------------------- the same errors


def test_a_bad_directive_reads_as_before(daemon: Daemon, tmp_path: Path) -> None:
    script = write(tmp_path, "bad.sh", "#!/bin/bash\n#SBATCH --gpus=1\n#SBATCH --bogus=1\necho\n")
    before = len(listing(daemon, "history"))
    expected = f"line 3 of {script}: unknown #SBATCH option --bogus"
    refused_with(daemon.cli("submit", str(script)), "submit", expected)
    refused_with(daemon.run_cli("submit", str(script)), "submit", expected)
    assert len(listing(daemon, "history")) == before


FILES = {
    "script": "#!/bin/bash\n#SBATCH --time=0\necho\n",
    "good.sh": "#!/bin/bash\n#SBATCH --gpus=1\necho\n",
    "noshebang.sh": "echo hi\n",
    "quoted.sh": '#!/bin/bash\n#SBATCH --job-name="unclosed\necho\n',
    "broken.yaml": "name: broken\nrun: [echo, unclosed\n",
    "extra.yaml": "run: echo\nflavour: mint\n",
}

# (arguments, the message mlrp printed before the daemon parsed them)
BAD_CALLS: list[tuple[list[str], str]] = [
    (["--gpu", "2", "--", "true"], "command line: unknown option --gpu"),
    (["--time", "0", "--", "true"],
     "command line: invalid --time '0': the time limit must be positive"),
    (["-H5", "--", "true"], "command line: unknown option -5"),
    (["--hold=1", "--", "true"], "command line: option --hold takes no value (got '--hold=1')"),
    (["--gpus", "2"], "nothing to run: give a script, a task YAML or -- COMMAND "
                      "(see `mlrp submit --help`)"),
    (["--wrap", "echo", "--", "true"],
     "give either --wrap or a command after --, not both (--wrap 'echo')"),
    (["--wrap=echo", "{files}/good.sh"], "--wrap cannot be combined with a batch script "
                                         "({files}/good.sh)"),
    (["{files}/script"],
     "line 2 of {files}/script: invalid --time '0': the time limit must be positive"),
    (["{files}/noshebang.sh"], "{files}/noshebang.sh does not look like a batch script: its "
                               "first line must start with #! and the path of an interpreter, "
                               "e.g. #!/bin/bash"),
    (["{files}/quoted.sh"], "line 2 of {files}/quoted.sh: cannot read "
                            "'#SBATCH --job-name=\"unclosed': No closing quotation"),
    (["{files}/broken.yaml"], None),  # the YAML parser's words: compared with a local parse
    (["{files}/extra.yaml"], "{files}/extra.yaml: unsupported key(s) flavour (supported: envs, "
                             "name, num_nodes, resources, run, setup, workdir)"),
    (["{files}/missing.sh"], "no such batch script or task file: {files}/missing.sh"),
]  # fmt: skip


def local_error(args: list[str]) -> str:
    """The message of the same parse, done here (as `--dry-run` does)."""
    request, _ = build_request("submit", args)
    with pytest.raises(InvalidSpec) as caught:
        spec_from_request(now=time.time(), **request)
    return caught.value.message


@pytest.mark.parametrize(("args", "message"), BAD_CALLS, ids=[" ".join(a) for a, _ in BAD_CALLS])
def test_errors_come_back_from_the_daemon_worded_as_before(
    daemon: Daemon, tmp_path: Path, args: list[str], message: str | None
) -> None:
    for name, text in FILES.items():
        write(tmp_path, name, text)
    args = [a.replace("{files}", str(tmp_path)) for a in args]
    message = local_error(args) if message is None else message.replace("{files}", str(tmp_path))
    before = len(listing(daemon, "history"))
    refused_with(daemon.cli("submit", *args), "submit", message)
    if not args[-1].endswith("missing.sh"):  # the CLI's own refusal: it sent nothing
        assert local_error(args) == message
    assert len(listing(daemon, "history")) == before


def test_run_errors_come_back_too(daemon: Daemon) -> None:
    result = daemon.run_cli("run", "--gpu", "2", "--", "true")
    refused_with(result, "run", "command line: unknown option --gpu")


def test_a_spec_the_model_refuses_is_worded_as_a_refused_body(
    daemon: Daemon, tmp_path: Path
) -> None:
    """A task's name longer than JobSpec allows: the parser lets it through, the model
    refuses it, in the words the API used when the CLI sent the spec itself."""
    task = write(tmp_path, "long.yaml", f"name: {'n' * 250}\nrun: echo\n")
    result = daemon.cli("submit", str(task))
    refused_with(result, "submit", "name: String should have at most 200 characters")


# ------------------------------------------------------- directives, overrides, files


def test_directives_and_overrides_through_the_endpoint(daemon: Daemon, tmp_path: Path) -> None:
    script = write(tmp_path, "train.sh", SCRIPT)
    request, flags = build_request(
        "submit",
        ["--parsable", "--hold", "--gpus", "1", "-J", "cli", str(script), "a b", "--lr=1"],
    )
    assert flags == {"--parsable"}
    assert request["file_name"] == str(script) and request["file_text"] == SCRIPT
    assert request["rest"] == ["a b", "--lr=1"]
    request["environ"] = {"HOME": "/home/x", "MARK": "from-the-caller"}
    request["workdir"] = str(tmp_path)
    submitted = daemon.client.submit_request(request)
    job = show(daemon, submitted["ids"][0])
    spec = job["spec"]
    assert (job["name"], job["time_limit"], job["gpu_count"]) == ("cli", 30, 1)
    assert spec["script"] == SCRIPT and spec["argv"] is None
    assert spec["script_args"] == ["a b", "--lr=1"]
    assert spec["env"] == {"HOME": "/home/x", "MARK": "from-the-caller", "FROM_DIRECTIVE": "yes"}
    assert spec["workdir"] == str(tmp_path) and spec["hold"] is True


def test_the_cli_sends_the_script_and_its_directives_apply(daemon: Daemon, tmp_path: Path) -> None:
    script = write(tmp_path, "train.sh", SCRIPT)
    job_id = daemon.submit("--hold", "--time", "0:20", str(script), "arg")
    job = show(daemon, job_id)
    assert (job["name"], job["time_limit"], job["gpu_count"]) == ("directed", 20, 2)
    assert job["spec"]["script"] == SCRIPT and job["spec"]["script_args"] == ["arg"]
    assert job["spec"]["env"]["FROM_DIRECTIVE"] == "yes"
    assert job["spec"]["workdir"] == os.getcwd()


def test_a_task_yaml_through_the_endpoint(daemon: Daemon, tmp_path: Path) -> None:
    task = write(tmp_path, "task.yaml", "name: sky\nresources:\n  accelerators: x:1\nrun: echo\n")
    job_id = daemon.submit("--hold", "--gpus", "3", "-t", "5", str(task))
    job = show(daemon, job_id)
    assert (job["name"], job["gpu_count"], job["time_limit"]) == ("sky", 3, 300)
    assert job["spec"]["gpu_type"] is None  # --gpus=3 replaces the task's x:1 entirely


def test_as_user_and_a_command_that_looks_like_a_file(daemon: Daemon, tmp_path: Path) -> None:
    write(tmp_path, "train.sh", SCRIPT)
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        after_dashes = daemon.submit("--hold", "--as-user", "label", "--", "train.sh", "x")
    finally:
        os.chdir(here)
    job = show(daemon, after_dashes)
    assert job["user"] == "label"
    assert job["spec"]["argv"] == ["train.sh", "x"] and job["spec"]["script"] is None
    assert job["spec"]["workdir"] == str(tmp_path)


def test_the_daemon_never_opens_a_path_named_in_a_request(daemon: Daemon, tmp_path: Path) -> None:
    """A FIFO named like a script: opening it would block the daemon. Named as the rest
    of a request it is a command; named as the file without its text, it is refused."""
    fifo = tmp_path / "job.sh"
    os.mkfifo(fifo)
    base = {"command": "submit", "options": ["--hold"], "workdir": str(tmp_path)}
    answers: list[Any] = []

    def call() -> None:
        try:
            answers.append(daemon.client.submit_request({**base, "rest": [str(fifo)]}))
            answers.append(daemon.client.submit_request({**base, "file_name": str(fifo)}))
        except MlrpError as e:
            answers.append(e)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    caller.join(timeout=20)
    if caller.is_alive():  # let the daemon go, then fail
        with open(fifo, "w"):
            pass
        pytest.fail("the daemon opened the path it was given")
    submitted, refused = answers
    spec = show(daemon, submitted["ids"][0])["spec"]
    assert spec["argv"] == [str(fifo)] and spec["script"] is None
    assert isinstance(refused, InvalidSpec)
    assert "give both file_name and file_text" in refused.message
    result = daemon.cli("submit", str(fifo))  # the CLI does not read it either
    refused_with(result, "submit", f"no such batch script or task file: {fifo}")


def next_wall_clock(zone: Any, hour: int, now: float) -> float:
    """The epoch of the next HH:00 in `zone` (what --begin HH:00 means there)."""
    here = datetime.fromtimestamp(now, zone)
    for days in (0, 1):
        day = (here + timedelta(days=days)).date()
        when = datetime(day.year, day.month, day.day, hour, tzinfo=zone).timestamp()
        if when >= now:
            return when
    raise AssertionError("unreachable")


def test_wall_clock_times_are_read_in_the_callers_zone(daemon: Daemon, tmp_path: Path) -> None:
    """The daemon's zone is the machine's (no TZ); a caller with TZ set means 16:00 there,
    as when the CLI parsed --begin itself. A TZ naming a path is not followed (a FIFO
    would block the daemon): the daemon's own zone is used."""
    own = time.localtime().tm_gmtoff
    zone = next(z for z in ("America/New_York", "Asia/Kolkata") if ZoneInfo(z).utcoffset(
        datetime.now()) != timedelta(seconds=own))  # fmt: skip
    base = {"command": "submit", "options": ["--hold", "--begin", "16:00"], "rest": ["true"]}
    before = time.time()
    for tz in (zone, f":{zone}", f"/usr/share/zoneinfo/{zone}"):
        submitted = daemon.client.submit_request(
            {**base, "environ": {"TZ": tz}, "workdir": str(tmp_path)}
        )
        job = show(daemon, submitted["ids"][0])
        assert job["begin_time"] == next_wall_clock(ZoneInfo(zone), 16, before), tz
        assert job["spec"]["env"] == {"TZ": tz}
    fifo = tmp_path / "zone"
    os.mkfifo(fifo)
    answers: list[Any] = []
    caller = threading.Thread(
        target=lambda: answers.append(
            daemon.client.submit_request(
                {**base, "environ": {"TZ": str(fifo)}, "workdir": str(tmp_path)}
            )
        ),
        daemon=True,
    )
    caller.start()
    caller.join(timeout=20)
    if caller.is_alive():
        with open(fifo, "w"):
            pass
        pytest.fail("the daemon opened the file that the caller's TZ names")
    job = show(daemon, answers[0]["ids"][0])  # and the daemon's zone is back
    local = datetime.now().astimezone().tzinfo
    assert job["begin_time"] == next_wall_clock(local, 16, before)


def test_dry_run_prints_the_spec_the_daemon_would_build(daemon: Daemon, tmp_path: Path) -> None:
    script = write(tmp_path, "train.sh", SCRIPT)
    result = daemon.cli("submit", "--dry-run", "--gpus", "1", str(script), "arg")
    assert result.code == 0, result.err
    printed = json.loads(result.out)
    assert (printed["name"], printed["gpus"], printed["time_limit"]) == ("directed", 1, 30)
    assert printed["script_args"] == ["arg"] and printed["workdir"] == os.getcwd()


# ------------------------------------------------------------------- what the CLI loads


def loaded_by(daemon: Daemon, *args: str) -> set[str]:
    """The modules a CLI process has loaded when it is done with `args`."""
    code = (
        "import sys\nfrom mlrp.cli.main import main\n"
        f"code = main({list(args)!r})\n"
        "sys.stdout.flush()\nprint('MODULES', *sorted(sys.modules))\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={**os.environ, "MLRP_HOME": str(daemon.home)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("MODULES "))
    return set(line.split()[1:])


def test_submit_loads_no_parser_and_no_re(daemon: Daemon, tmp_path: Path) -> None:
    script = write(tmp_path, "train.sh", SCRIPT)
    for args in (
        ["submit", "--parsable", "--hold", "--", "true"],
        ["submit", "--parsable", "--hold", "-G", "1", "--time=5", str(script), "x"],
    ):
        modules = loaded_by(daemon, *args)
        assert "mlrp.cli.submit" in modules
        unwanted = {"re", "mlrp.parsing.sbatch", "mlrp.parsing.request", "typing", "json"}
        assert not modules & unwanted, args


# ------------------------------------------------------------------ multi-user mode


def _as_nobody_skip() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root, to run a multi-user daemon and a CLI as another user"
    if not os.path.exists(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"):
        return "needs a system Python of this version that any user may run"
    return None


@pytest.fixture(scope="module")
def multi_user() -> Iterator[Daemon]:
    home = short_tempdir()
    daemon = Daemon(home=home, mode="multi-user")
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()
        kill_leftovers(home)
        shutil.rmtree(home, ignore_errors=True)


def as_nobody(daemon: Daemon, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`mlrp ARGS` as the user `nobody`, from `cwd` (the CLI is stdlib-only: the system
    Python runs it from the source tree)."""
    python = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    env = {"PYTHONPATH": str(SRC_DIR), "MLRP_HOME": str(daemon.home), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [python, "-m", "mlrp.cli.main", *args], capture_output=True, text=True, timeout=60,
        cwd=cwd, env=env, user=65534, group=65534, extra_groups=[],
    )  # fmt: skip


@pytest.mark.skipif(_as_nobody_skip() is not None, reason=_as_nobody_skip() or "")
def test_in_multi_user_mode_the_cli_reads_the_file_as_the_user(multi_user: Daemon) -> None:
    """A script only root (the daemon's user) may read: the CLI, running as the caller,
    cannot read it and says so; the daemon never sees it. One the caller may read
    travels as its text."""
    folder = Path(short_tempdir())
    try:
        folder.chmod(0o777)
        secret = write(folder, "secret.sh", "#!/bin/bash\n#SBATCH --job-name=leaked\necho s\n")
        secret.chmod(0o600)
        assert secret.stat().st_uid == 0 and stat.S_IMODE(secret.stat().st_mode) == 0o600
        refused = as_nobody(multi_user, folder, "submit", "--hold", str(secret))
        assert refused.returncode == 1, refused
        assert refused.stderr.startswith(f"mlrp submit: error: cannot read {secret}: ")
        assert "Permission denied" in refused.stderr
        jobs = multi_user.client.jobs(states=["PENDING", "RUNNING"])
        assert not [j for j in jobs if j["name"] == "leaked"]

        mine = write(folder, "mine.sh", "#!/bin/bash\n#SBATCH --job-name=mine\necho m\n")
        mine.chmod(0o644)
        done = as_nobody(multi_user, folder, "submit", "--parsable", "--hold", str(mine))
        assert done.returncode == 0, done.stderr
        job = multi_user.client.job(int(done.stdout))
        assert (job["name"], job["user"]) == ("mine", "nobody")
        assert job["spec"]["script"] == mine.read_text()
        assert job["spec"]["workdir"] == str(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
