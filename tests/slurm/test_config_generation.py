"""`mlrp slurm config`: what the rendered files say (table-driven), and a real Slurm
22.05 started from them.

The real-Slurm tests need root and Slurm's daemons (installed with apt-get when missing,
as shared/slurm/start-test-cluster.sh does); they skip, saying why, when neither is
possible. Each cluster lives in its own temporary folder, with its own munged, on ports
from 17300 up (the shared test clusters use 16800+ blocks whose ports never meet these),
and is stopped at the end of the module.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlrp.cli.main import main
from mlrp.config import parse_config
from mlrp.errors import ConfigError
from mlrp.models.hardware import Gpu
from mlrp.models.policy import Policy
from mlrp.parsing.topology import expand_hostlist
from mlrp.slurm.confgen import (
    GpuGroup,
    NodeHardware,
    SiteOptions,
    SlurmFiles,
    gpu_groups,
    hostlist,
    parse_inventory,
    render,
    uniform_gpus,
)

# A lab: two top accounts (vision with a sub-account), billing for two GPU models, a
# one-day half-life, and mlrp's default QOS (normal, high, scavenger) and partitions
# (batch; interactive with at most 2 GPUs a job).
LAB: dict[str, Any] = {
    "daemon": {"grace": 15},
    "scheduler": {
        "half_life": 86400,
        "billing": {"a100": 2.0, "v100": 0.5},
        "weights": {"age": 1000, "fairshare": 50000, "job_size": 300, "qos": 2000},
        "accounts": [
            {"name": "vision", "shares": 3, "users": ["root", "alice"]},
            {"name": "vision-3d", "parent": "vision", "users": ["carol"], "max_gpus_per_user": 2},
            {"name": "nlp", "shares": 1, "users": ["bob", "alice"], "max_gpus": 6},
        ],
    },
}
LAB_TOML = """\
[daemon]
grace = 15

[scheduler]
half_life = 86400
billing = { a100 = 2.0, v100 = 0.5 }

[scheduler.weights]
age = 1000
fairshare = 50000
job_size = 300
qos = 2000

[[scheduler.accounts]]
name = "vision"
shares = 3
users = ["root", "alice"]

[[scheduler.accounts]]
name = "vision-3d"
parent = "vision"
users = ["carol"]
max_gpus_per_user = 2

[[scheduler.accounts]]
name = "nlp"
shares = 1
users = ["bob", "alice"]
max_gpus = 6
"""


def lab_policy(**changes: Any) -> Policy:
    scheduler = {**LAB["scheduler"], **changes}
    return parse_config({"scheduler": scheduler}).scheduler


def a100_nodes(names: str = "gpu[01-04]", gpus: int = 8) -> list[NodeHardware]:
    return [NodeHardware(n, 64, 512000, uniform_gpus(gpus, "a100")) for n in expand_hostlist(names)]


def files(
    nodes: list[NodeHardware] | None = None, policy: Policy | None = None, **options: Any
) -> SlurmFiles:
    return render(nodes or a100_nodes(), policy or lab_policy(), SiteOptions(**options))


def setting(text: str, key: str) -> str:
    """The value of `key=` on its own line of a rendered file."""
    values = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]
    assert len(values) == 1, f"{key}: {values}"
    return values[0]


def lines_starting(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


# ------------------------------------------------------------------------ slurm.conf


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ({}, {"Age": "1000", "Fairshare": "10000", "QOS": "2000", "Partition": "1000"}),
        (
            {"age": 0, "fairshare": 100000, "qos": 0, "partition": 5},
            {"Age": "0", "Fairshare": "100000", "QOS": "0", "Partition": "5"},
        ),
    ],
)
def test_priority_weights_mirror_mlrp(weights: dict[str, int], expected: dict[str, str]) -> None:
    conf = files(policy=lab_policy(weights=weights)).slurm_conf
    for factor, value in expected.items():
        assert setting(conf, f"PriorityWeight{factor}") == value
    assert setting(conf, "PriorityType") == "priority/multifactor"


@pytest.mark.parametrize(("job_size", "tres"), [(100, "GRES/gpu=100"), (0, "GRES/gpu=0")])
def test_job_size_weighs_gpus_not_nodes(job_size: int, tres: str) -> None:
    conf = files(policy=lab_policy(weights={"job_size": job_size})).slurm_conf
    assert setting(conf, "PriorityWeightJobSize") == "0"
    assert setting(conf, "PriorityWeightTRES") == tres


@pytest.mark.parametrize(
    ("seconds", "slurm"),
    [(604800, "7-00:00:00"), (86400, "1-00:00:00"), (5400, "1:30:00"), (60, "1:00")],
)
def test_half_life_and_age_cap_in_slurm_time(seconds: float, slurm: str) -> None:
    conf = files(policy=lab_policy(half_life=seconds, age_max=seconds)).slurm_conf
    assert setting(conf, "PriorityDecayHalfLife") == slurm
    assert setting(conf, "PriorityMaxAge") == slurm


@pytest.mark.parametrize(
    ("billing", "models", "expected"),
    [
        ({"a100": 2.0}, ["a100"], "CPU=0,Mem=0G,GRES/gpu:a100=2.0"),
        ({"A100": 3}, ["a100"], "CPU=0,Mem=0G,GRES/gpu:a100=3.0"),
        ({}, ["a100"], "CPU=0,Mem=0G,GRES/gpu:a100=1.0"),  # unlisted: 1.0, as mlrp
        (
            {"a100": 2.0, "v100": 0.25},
            ["a100", "v100"],
            "CPU=0,Mem=0G,GRES/gpu:a100=2.0,GRES/gpu:v100=0.25",
        ),
        (
            {"NVIDIA A100-SXM4-80GB": 2.5},
            ["NVIDIA A100-SXM4-80GB"],
            "CPU=0,Mem=0G,GRES/gpu:nvidia_a100-sxm4-80gb=2.5",
        ),
    ],
)
def test_billing_mirrors_gpu_weights(
    billing: dict[str, float], models: list[str], expected: str
) -> None:
    nodes = [NodeHardware(f"n{i}", 8, 64000, uniform_gpus(4, m)) for i, m in enumerate(models)]
    conf = files(nodes, lab_policy(billing=billing)).slurm_conf
    partitions = lines_starting(conf, "PartitionName=")
    assert len(partitions) == 2
    assert all(f'TRESBillingWeights="{expected}"' in line for line in partitions)


def test_billing_of_models_no_node_has_is_named_and_left_out() -> None:
    conf = files(policy=lab_policy(billing={"a100": 2.0, "v100": 0.5})).slurm_conf
    assert "left out: v100" in conf
    assert "gpu:v100" not in conf


@pytest.mark.parametrize(
    ("nodes", "node_name"),
    [
        ("gpu[01-04]", "gpu[01-04]"),
        ("gpu01,gpu02,gpu03,gpu04", "gpu[01-04]"),
        ("n[1-3,5]", "n[1-3,5]"),
        ("n[8-12]", "n[8-9],n[10-12]"),
        ("login", "login"),
        ("a[1-2],b1", "a[1-2],b1"),
    ],
)
def test_nodes_of_one_kind_share_one_line(nodes: str, node_name: str) -> None:
    conf = files(a100_nodes(nodes)).slurm_conf
    (line,) = lines_starting(conf, "NodeName=")
    assert line == f"NodeName={node_name} CPUs=64 RealMemory=512000 Gres=gpu:a100:8 State=UNKNOWN"
    assert expand_hostlist(node_name) == expand_hostlist(nodes)


@pytest.mark.parametrize(
    "names", [["n1"], ["gpu01", "gpu02", "gpu10"], ["x", "n009", "n010", "n2"], ["a-1", "a-3"]]
)
def test_hostlist_expands_back_to_the_same_names(names: list[str]) -> None:
    assert sorted(expand_hostlist(hostlist(names))) == sorted(names)


def test_nodes_of_different_kinds_get_their_own_lines() -> None:
    nodes = [*a100_nodes("a[1-2]"), NodeHardware("big1", 128, 1_000_000, uniform_gpus(4, "v100"))]
    lines = lines_starting(files(nodes).slurm_conf, "NodeName=")
    assert lines == [
        "NodeName=a[1-2] CPUs=64 RealMemory=512000 Gres=gpu:a100:8 State=UNKNOWN",
        "NodeName=big1 CPUs=128 RealMemory=1000000 Gres=gpu:v100:4 State=UNKNOWN",
    ]


def test_cluster_core_settings() -> None:
    conf = files(cluster_name="Lab").slurm_conf
    expected = {
        "ClusterName": "lab",
        "SlurmctldHost": "gpu01",
        "SelectType": "select/cons_tres",
        "GresTypes": "gpu",
        "SchedulerType": "sched/backfill",
        "SchedulerParameters": "bf_max_job_test=500",
        "AccountingStorageType": "accounting_storage/slurmdbd",
        "AccountingStorageTRES": "gres/gpu,gres/gpu:a100",
        "AccountingStorageEnforce": "associations,limits,qos",
        "ProctrackType": "proctrack/cgroup",
        "TaskPlugin": "task/cgroup,task/affinity",
        "PreemptType": "preempt/qos",
        "PreemptMode": "REQUEUE",
        "DefMemPerCPU": "8000",
    }
    assert {key: setting(conf, key) for key in expected} == expected


def test_partitions_mirror_mlrp_partitions() -> None:
    billing = 'TRESBillingWeights="CPU=0,Mem=0G,GRES/gpu:a100=2.0"'
    assert lines_starting(files().slurm_conf, "PartitionName=") == [
        "PartitionName=batch Nodes=ALL Default=YES MaxTime=7-00:00:00 DefaultTime=1-00:00:00 "
        f"PriorityJobFactor=0 State=UP {billing}",
        # its 2-GPU cap per job lives in the partition QOS
        "PartitionName=interactive Nodes=ALL Default=NO MaxTime=8:00:00 DefaultTime=1:00:00 "
        f"PriorityJobFactor=1 State=UP {billing} QOS=part_interactive",
    ]


def test_fair_tree_needs_no_flag_and_classic_turns_it_off() -> None:
    assert not lines_starting(files().slurm_conf, "PriorityFlags=")
    classic = files(policy=lab_policy(fairshare="classic")).slurm_conf
    assert setting(classic, "PriorityFlags") == "NO_FAIR_TREE"


def test_without_preempting_qos_preemption_is_off() -> None:
    qos = [{"name": "normal"}, {"name": "scavenger", "usage_factor": 0.25}]
    conf = files(policy=lab_policy(qos=qos)).slurm_conf
    assert (setting(conf, "PreemptType"), setting(conf, "PreemptMode")) == ("preempt/none", "OFF")


def test_backfill_off_is_strict_priority() -> None:
    conf = files(policy=lab_policy(backfill=False)).slurm_conf
    assert setting(conf, "SchedulerType") == "sched/builtin"


def test_kill_wait_is_mlrp_grace() -> None:
    assert setting(files(kill_wait=15).slurm_conf, "KillWait") == "15"


def test_single_host_test_cluster_overrides() -> None:
    conf = files(
        a100_nodes("t[1-2]", 4),
        state_dir="/tmp/c",
        ctld_port=17317,
        slurmd_port=17401,
        single_host=True,
        slurm_user="root",
        munge_socket="/tmp/c/run/munge.socket",
        cgroups=False,
        accounting_port=17319,
    ).slurm_conf
    assert lines_starting(conf, "NodeName=") == [
        f"NodeName=t{i} NodeHostname=localhost NodeAddr=127.0.0.1 Port={17400 + i} CPUs=64 "
        "RealMemory=512000 Gres=gpu:a100:4 State=UNKNOWN"
        for i in (1, 2)
    ]
    expected = {
        "SlurmctldHost": "localhost",
        "SlurmctldPort": "17317",
        "SlurmUser": "root",
        "AuthInfo": "socket=/tmp/c/run/munge.socket",
        "AccountingStoragePass": "/tmp/c/run/munge.socket",
        "AccountingStoragePort": "17319",
        "StateSaveLocation": "/tmp/c/state",
        "SlurmdSpoolDir": "/tmp/c/spool/slurmd.%n",
        "SlurmdLogFile": "/tmp/c/log/slurmd.%n.log",
        "ProctrackType": "proctrack/linuxproc",
        "TaskPlugin": "task/none",
        "SlurmdParameters": "config_overrides",
    }
    assert {key: setting(conf, key) for key in expected} == expected


def test_without_accounting_no_gpu_tres_billing_or_partition_qos() -> None:
    """slurmctld refuses TRES gres/gpu (and billing weights naming it) without slurmdbd."""
    conf = files(accounting=False).slurm_conf
    assert setting(conf, "AccountingStorageType") == "accounting_storage/none"
    for key in ("AccountingStorageTRES", "AccountingStorageEnforce", "PriorityWeightTRES"):
        assert not lines_starting(conf, key + "=")
    assert "TRESBillingWeights" not in conf
    assert "QOS=part_interactive" not in conf


# ------------------------------------------------------------------------ gres.conf, cgroup.conf


def test_gres_conf_names_each_gpu_device_file() -> None:
    mixed = gpu_groups(
        [
            Gpu(index=i, uuid=f"u{i}", model="a100" if i < 4 else "v100", memory_mb=1)
            for i in range(8)
        ]
    )
    nodes = [*a100_nodes("a[1-2]"), NodeHardware("mix1", 64, 512000, mixed)]
    gres = files(nodes).gres_conf
    assert lines_starting(gres, "AutoDetect=") == ["AutoDetect=off"]
    assert lines_starting(gres, "NodeName=") == [
        "NodeName=a[1-2] Name=gpu Type=a100 File=/dev/nvidia[0-7]",
        "NodeName=mix1 Name=gpu Type=a100 File=/dev/nvidia[0-3]",
        "NodeName=mix1 Name=gpu Type=v100 File=/dev/nvidia[4-7]",
    ]
    (mix_line,) = [n for n in lines_starting(files(nodes).slurm_conf, "NodeName=") if "mix1" in n]
    assert "Gres=gpu:a100:4,gpu:v100:4" in mix_line


def test_gres_conf_single_gpu_and_device_dir() -> None:
    gres = files(a100_nodes("n1", 1), device_dir="/tmp/dev/").gres_conf
    assert lines_starting(gres, "NodeName=") == [
        "NodeName=n1 Name=gpu Type=a100 File=/tmp/dev/nvidia0"
    ]


def test_gres_autodetect_leaves_devices_to_nvml() -> None:
    gres = files(gres_autodetect=True).gres_conf
    assert lines_starting(gres, "AutoDetect=") == ["AutoDetect=nvml"]
    assert not lines_starting(gres, "NodeName=")


def test_cgroup_conf_confines_devices() -> None:
    cgroup = files().cgroup_conf
    for key in ("ConstrainDevices", "ConstrainCores", "ConstrainRAMSpace"):
        assert setting(cgroup, key) == "yes"


# ------------------------------------------------------------------------ accounts.sh


def test_accounts_script_recreates_qos_accounts_and_users() -> None:
    script = files(cluster_name="lab").accounts_sh
    qos = "QOS=normal,high,scavenger DefaultQOS=normal"
    assert lines_starting(script, "sacctmgr -i add ") == [
        "sacctmgr -i add cluster lab",
        "sacctmgr -i add qos normal,high,scavenger,part_interactive",
        f"sacctmgr -i add account vision Cluster=lab Parent=root Fairshare=3 {qos}",
        f"sacctmgr -i add account vision-3d Cluster=lab Parent=vision Fairshare=1 {qos}",
        f"sacctmgr -i add account nlp Cluster=lab Parent=root Fairshare=1 {qos}",
        "sacctmgr -i add user root Cluster=lab Account=vision DefaultAccount=vision",
        "sacctmgr -i add user alice Cluster=lab Account=vision DefaultAccount=vision",
        "sacctmgr -i add user carol Cluster=lab Account=vision-3d DefaultAccount=vision-3d",
        "sacctmgr -i add user bob Cluster=lab Account=nlp DefaultAccount=nlp",
        "sacctmgr -i add user alice Cluster=lab Account=nlp DefaultAccount=vision",
    ]


def test_qos_settings_mirror_mlrp_qos() -> None:
    qos = [
        {"name": "normal", "preempt": ["scavenger"]},
        {"name": "high", "priority": 100, "max_gpus_per_user": 2, "preempt": ["scavenger"]},
        {"name": "scavenger", "usage_factor": 0.25, "preempt_mode": "cancel"},
        {"name": "long", "max_time": 14 * 86400, "max_pending_per_user": 10, "max_gpus": 16},
    ]
    script = files(policy=lab_policy(qos=qos)).accounts_sh
    assert lines_starting(script, "sacctmgr -i modify qos") == [
        "sacctmgr -i modify qos where Name=normal set Priority=0 Preempt=scavenger "
        "PreemptMode=requeue UsageFactor=1.0",
        "sacctmgr -i modify qos where Name=high set Priority=100 Preempt=scavenger "
        "PreemptMode=requeue UsageFactor=1.0 Flags=DenyOnLimit",
        "sacctmgr -i modify qos where Name=scavenger set Priority=0 PreemptMode=cancel "
        "UsageFactor=0.25",
        "sacctmgr -i modify qos where Name=long set Priority=0 PreemptMode=requeue "
        "UsageFactor=1.0 MaxSubmitJobsPerUser=10 MaxWall=14-00:00:00 Flags=DenyOnLimit",
        "sacctmgr -i modify qos where Name=part_interactive set Flags=DenyOnLimit",
        # GPU limits, once slurmctld has registered TRES gres/gpu
        "sacctmgr -i modify qos where Name=high set MaxTRESPerUser=gres/gpu=2",
        "sacctmgr -i modify qos where Name=long set GrpTRES=gres/gpu=16",
        "sacctmgr -i modify qos where Name=part_interactive set MaxTRESPerJob=gres/gpu=2",
    ]


def test_gpu_limits_wait_until_slurmctld_registered_gres() -> None:
    script = files(policy=lab_policy(max_gpus_per_user=4)).accounts_sh
    guard = script.index('if [ -z "$(sacctmgr -nP show tres where type=gres name=gpu)" ]')
    limits = [line for line in script.splitlines() if "gres/gpu=" in line]
    assert limits and all(script.index(line) > guard for line in limits)
    assert "sacctmgr -i modify account where Cluster=lab Name=nlp set GrpTRES=gres/gpu=6" in limits
    # per user: the account's cap, its ancestors' and the policy's, whichever is smallest
    assert (
        "sacctmgr -i modify user where Cluster=lab Name=carol Account=vision-3d "
        "set GrpTRES=gres/gpu=2" in limits
    )
    assert (
        "sacctmgr -i modify user where Cluster=lab Name=bob Account=nlp "
        "set GrpTRES=gres/gpu=4" in limits
    )


@pytest.mark.parametrize(
    ("parent_cap", "own_cap", "policy_cap", "expected"),
    [(None, 2, None, "2"), (3, 5, None, "3"), (3, None, 1, "1"), (None, None, None, None)],
)
def test_per_user_gpu_cap_is_the_smallest_up_the_tree(
    parent_cap: int | None, own_cap: int | None, policy_cap: int | None, expected: str | None
) -> None:
    accounts = [
        {"name": "vision", "max_gpus_per_user": parent_cap},
        {"name": "vision-3d", "parent": "vision", "users": ["carol"], "max_gpus_per_user": own_cap},
    ]
    policy = lab_policy(accounts=accounts, max_gpus_per_user=policy_cap)
    carol = [x for x in files(policy=policy).accounts_sh.splitlines() if "modify user" in x]
    assert carol == (
        [f"sacctmgr -i modify user where Cluster=lab Name=carol Account=vision-3d set "
         f"GrpTRES=gres/gpu={expected}"] if expected else []
    )  # fmt: skip


def test_accounts_come_after_their_parents() -> None:
    accounts = [
        {"name": "leaf", "parent": "mid"},
        {"name": "mid", "parent": "top"},
        {"name": "top"},
    ]
    script = files(policy=lab_policy(accounts=accounts)).accounts_sh
    added = [line.split()[4] for line in lines_starting(script, "sacctmgr -i add account")]
    assert added == ["top", "mid", "leaf"]


def test_open_default_account_is_explained() -> None:
    script = files(policy=Policy()).accounts_sh
    assert "#   sacctmgr -i add user NAME Account=default" in script


# ------------------------------------------------------------------------ errors


def _policy_with(**changes: Any) -> Callable[[], object]:
    return lambda: files(policy=Policy.model_validate({**lab_policy().model_dump(), **changes}))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: files(a100_nodes("gpu_01")), "node name 'gpu_01' is not a valid host name"),
        (
            lambda: files([NodeHardware("gpu01.lab.org", 8, 1000)]),
            "use the short name, 'gpu01'",
        ),
        (lambda: files(a100_nodes("default")), "node name 'default' is reserved"),
        (lambda: files(a100_nodes("n1") * 2), "node 'n1' is listed twice"),
        (lambda: render([], lab_policy(), SiteOptions()), "no nodes"),
        (
            lambda: files([NodeHardware("n1", 8, 1000, uniform_gpus(2, "A100:80GB"))]),
            "GPU model 'A100:80GB' cannot be a Slurm GRES type",
        ),
        (lambda: files(controller="ctl_1"), "controller name 'ctl_1'"),
        (
            _policy_with(accounts=[{"name": "my lab", "users": []}]),
            "account name 'my lab' cannot be written for Slurm",
        ),
        (
            _policy_with(accounts=[{"name": "lab", "users": ["alice smith"]}]),
            "user name 'alice smith'",
        ),
        (
            _policy_with(accounts=[{"name": "Lab"}, {"name": "lab"}]),
            "account names 'Lab' and 'lab' are the same name to Slurm",
        ),
        (
            _policy_with(qos=[{"name": "a,b"}], default_qos="a,b"),
            "QOS name 'a,b' cannot be written",
        ),
        (
            _policy_with(qos=[{"name": "normal"}, {"name": "normal"}]),
            "QOS 'normal' is defined twice",
        ),
        (
            _policy_with(qos=[{"name": "normal"}, {"name": "part_interactive"}]),
            "QOS 'part_interactive' is taken",
        ),
        (
            _policy_with(partitions=[{"name": "DEFAULT"}], default_partition="DEFAULT"),
            "partition name 'DEFAULT' is reserved",
        ),
        (
            _policy_with(accounts=[{"name": "a", "parent": "b"}, {"name": "b", "parent": "a"}]),
            "accounts a, b are their own ancestors",
        ),
        (
            _policy_with(accounts=[{"name": "a", "parent": "gone"}]),
            "account 'a' has unknown parent 'gone'",
        ),
        (_policy_with(half_life=90.5), "scheduler.half_life = 90.5 s cannot be written"),
        (
            _policy_with(partitions=[{"name": "batch", "max_time": 100}]),
            "partitions[batch].max_time = 100 s",
        ),
        (_policy_with(weights={"age": 2**32}), "weights.age = 4294967296 is larger"),
        (lambda: files(cluster_name="my lab"), "cluster name 'my lab'"),
    ],
)
def test_what_slurm_cannot_express_is_a_clear_error(
    make: Callable[[], object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        make()
    assert message in str(caught.value)


# ------------------------------------------------------------------------ inventory files

TEMPLATE = NodeHardware("here", 16, 64000, uniform_gpus(2, "sim-gpu"))


def test_inventory_file_gives_each_node_its_hardware() -> None:
    text = """
[[nodes]]
names = "gpu[01-02]"
gpus = 8
gpu_model = "a100"
cpus = 64
memory_mb = 512000

[[nodes]]
names = "old1"
gpu_model = "v100"
"""
    nodes = parse_inventory(text, "inv.toml", TEMPLATE)
    assert nodes == [
        NodeHardware("gpu01", 64, 512000, (GpuGroup("a100", tuple(range(8))),)),
        NodeHardware("gpu02", 64, 512000, (GpuGroup("a100", tuple(range(8))),)),
        NodeHardware("old1", 16, 64000, (GpuGroup("v100", (0, 1)),)),  # the rest: template
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[nodes]]\nnames = "a"\ngpu = 8\n', "inv.toml: nodes[0]: unknown key 'gpu'"),
        ('[[nodes]]\nnames = "a"\ngpus = "8"\n', "inv.toml: nodes[0].gpus: expected int"),
        ("[[nodes]]\ngpus = 8\n", "inv.toml: nodes[0]: names is required"),
        ('[[nodes]]\nnames = "a_1"\n', "inv.toml: nodes[0].names: node name 'a_1'"),
        ('[[nodes]]\nnames = "n[1-2]"\n[[nodes]]\nnames = "n2"\n', "node 'n2' is listed twice"),
        ("nodes = 3\n", "expected one or more [[nodes]] tables"),
        ("[[nodes]\n", "inv.toml:"),
    ],
)
def test_inventory_file_errors_name_the_entry(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_inventory(text, "inv.toml", TEMPLATE)
    assert message in str(caught.value)


# ------------------------------------------------------------------------ the command


@pytest.fixture
def lab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLRP_HOME", str(tmp_path))
    (tmp_path / "config.toml").write_text(LAB_TOML)
    return tmp_path


def test_command_prints_all_four_files_with_headers(
    lab_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["slurm", "config", "--nodes", "gpu[01-02]", "--gpus", "8", "--gpu-model", "a100"])
    out = capsys.readouterr().out
    assert code == 0
    headers = re.findall(r"^# ===== (\S+) =====$", out, re.MULTILINE)
    assert headers == ["slurm.conf", "gres.conf", "cgroup.conf", "accounts.sh"]
    assert "Gres=gpu:a100:8" in out
    assert "PriorityDecayHalfLife=1-00:00:00" in out  # from the config file
    assert "KillWait=15" in out  # the daemon's grace
    assert f"from the mlrp policy in {lab_home / 'config.toml'}" in out


def test_command_writes_the_files_into_out(lab_home: Path) -> None:
    out = lab_home / "slurm"
    code = main(["slurm", "config", "--nodes", "n1", "--gpus", "2", "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "accounts.sh",
        "cgroup.conf",
        "gres.conf",
        "slurm.conf",
    ]
    assert os.access(out / "accounts.sh", os.X_OK)
    assert "NodeName=n1 " in (out / "slurm.conf").read_text()


def test_command_defaults_to_this_machine(
    lab_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["slurm", "config"]) == 0
    captured = capsys.readouterr()
    assert f"NodeName={socket.gethostname().split('.')[0]} " in captured.out
    if "simulated" in captured.err:  # no NVIDIA GPU here: the admin is told
        assert "give --gpus and --gpu-model, or --inventory" in captured.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nodes", "gpu_1"], "node name 'gpu_1' is not a valid host name"),
        (["--nodes", "n[3-1]"], "bad hostlist 'n[3-1]': range '3-1' runs backwards"),
        (["--nodes", "n1", "--inventory", "x.toml"], "give --nodes or --inventory, not both"),
        (["--inventory", "/nonexistent.toml"], "cannot read inventory /nonexistent.toml"),
        (["--config", "/nonexistent.toml"], "config file /nonexistent.toml does not exist"),
        (["--ctld-port", "70000"], "--ctld-port 70000 is not a port"),
        (["--gpus", "-1"], "a node cannot have -1 GPUs"),
    ],
)
def test_command_errors_are_one_line_without_traceback(
    lab_home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["slurm", "config", *argv]) == 1
    err = capsys.readouterr().err
    assert f"mlrp slurm: error: {message}" in err
    assert "Traceback" not in err


# ======================================================================== real Slurm

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge", "slurm-wlm-basic-plugins")
BINARIES = ("slurmctld", "slurmd", "sinfo", "scontrol", "sbatch", "munged", "mungekey")
DB_PACKAGES = ("slurmdbd", "slurm-wlm-mysql-plugin", "mariadb-server", "mariadb-client")
DB_BINARIES = ("slurmdbd", "sacctmgr", "mariadbd", "mariadb-install-db", "mariadb")
NODES = ("cfg1", "cfg2")
GPUS_PER_NODE = 4
WAIT = 90.0  # seconds a daemon or a job may take before the test gives up on it
_used_bases: set[int] = set()


def require(binaries: tuple[str, ...], packages: tuple[str, ...]) -> None:
    """Skip unless root and the binaries exist (installing `packages` if needed)."""
    if os.geteuid() != 0:
        pytest.skip("real Slurm: needs root (slurmctld, slurmd and munged run as root)")
    missing = [b for b in binaries if shutil.which(b) is None]
    if missing and not apt_install(packages):
        pytest.skip(f"real Slurm: {', '.join(missing)} missing and apt-get could not install them")


def apt_install(packages: tuple[str, ...]) -> bool:
    if shutil.which("apt-get") is None:
        return False
    policy = Path("/usr/sbin/policy-rc.d")  # keep the packages from starting system daemons
    added = not policy.exists()
    if added:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        done = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
            env=env,
            capture_output=True,
            timeout=900,
        )
        return done.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
    finally:
        if added:
            policy.unlink(missing_ok=True)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def free_port_base() -> int:
    """A block whose ports (+6 MariaDB, +17 slurmctld, +19 slurmdbd, +101.. slurmd) are
    free: 17300, 17500, ... (never a shared test cluster's: those are 16800 + 200k)."""
    for base in range(17300, 24000, 200):
        ports = [base + 6, base + 17, base + 19, *(base + 101 + i for i in range(len(NODES)))]
        if base not in _used_bases and all(port_free(p) for p in ports):
            _used_bases.add(base)
            return base
    pytest.fail("no free port block from 17300 up")


@dataclass
class Cluster:
    """A Slurm cluster on this machine, configured by `mlrp slurm config` only."""

    root: Path
    base: int
    accounting: bool
    daemons: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.etc / "slurm.conf")}

    @property
    def munge_socket(self) -> Path:
        return self.root / "run" / "munge.socket"

    # --- processes ------------------------------------------------------------------

    def spawn(self, name: str, argv: list[str]) -> None:
        with open(self.root / "log" / f"{name}.out", "ab") as log:
            self.daemons[name] = subprocess.Popen(
                argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=self.env,
                start_new_session=True,
            )  # fmt: skip

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
        return done

    def wait_for(self, what: str, ready: Callable[[], bool]) -> None:
        """Poll until `ready()`; fail with the logs when a daemon dies or WAIT passes."""
        deadline = time.monotonic() + WAIT
        while not ready():
            dead = [n for n, p in self.daemons.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                problem = f"{', '.join(dead)} exited" if dead else f"no {what} after {WAIT}s"
                raise AssertionError(f"{problem}\n{self.logs()}")
            time.sleep(0.2)

    def logs(self) -> str:
        tails = []
        for path in sorted((self.root / "log").glob("*")):
            lines = path.read_text(errors="replace").splitlines()[-8:]
            tails.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(tails)

    # --- bring-up -------------------------------------------------------------------

    def generate(self) -> None:
        (self.root / "mlrp").mkdir()
        (self.root / "mlrp" / "config.toml").write_text(LAB_TOML)
        argv = [
            sys.executable, "-m", "mlrp.cli.main", "slurm", "config",
            "--nodes", "cfg[1-2]", "--gpus", str(GPUS_PER_NODE), "--gpu-model", "a100",
            "--cluster-name", "mlrpcfg", "--single-host", "--no-cgroups",
            "--state-dir", str(self.root), "--device-dir", str(self.root / "dev"),
            "--ctld-port", str(self.base + 17), "--slurmd-port", str(self.base + 101),
            "--accounting-port", str(self.base + 19), "--slurm-user", "root",
            "--munge-socket", str(self.munge_socket), "--out", str(self.etc),
        ]  # fmt: skip
        if not self.accounting:
            argv.append("--no-accounting")
        env = {**os.environ, "MLRP_HOME": str(self.root / "mlrp")}
        subprocess.run(argv, env=env, check=True, capture_output=True, timeout=120)

    def make_folders(self) -> None:
        for sub in ("etc", "state", "run", "log", "dev", "munge", "jobs", "mysql"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for node in NODES:
            (self.root / "spool" / f"slurmd.{node}").mkdir(parents=True)
        for g in range(GPUS_PER_NODE):  # fake GPUs: gres.conf File= needs a device
            (self.root / "dev" / f"nvidia{g}").symlink_to("/dev/null")

    def start_munge(self) -> None:
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o600)
        (self.root / "munge").chmod(0o700)
        self.spawn("munged", [
            "munged", "-F", f"--socket={self.munge_socket}", f"--key-file={key}",
            f"--log-file={self.root / 'log' / 'munged.log'}",
            f"--pid-file={self.root / 'run' / 'munged.pid'}",
            f"--seed-file={self.root / 'munge' / 'seed'}",
        ])  # fmt: skip
        self.wait_for("munged", lambda: self.munge_socket.exists())

    def start_database(self) -> None:
        data, sock = self.root / "mysql" / "data", self.root / "run" / "mysqld.sock"
        self.run("mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                 "--auth-root-authentication-method=socket", "--skip-test-db")  # fmt: skip
        self.spawn("mariadbd", [
            "mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={sock}",
            f"--port={self.base + 6}", "--bind-address=127.0.0.1", "--skip-name-resolve",
            "--user=root", f"--log-error={self.root / 'log' / 'mariadbd.log'}",
            "--innodb-buffer-pool-size=64M",
        ])  # fmt: skip
        client = ["mariadb", "--no-defaults", "-S", str(sock), "-u", "root"]
        self.wait_for(
            "MariaDB", lambda: self.run(*client, "-e", "select 1", check=False).returncode == 0
        )
        self.run(*client, "-e", "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'test'; "
                 "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';")  # fmt: skip
        dbd = self.etc / "slurmdbd.conf"  # slurmdbd reads it next to $SLURM_CONF
        dbd.write_text(
            f"AuthType=auth/munge\nAuthInfo=socket={self.munge_socket}\nDbdHost=localhost\n"
            f"DbdPort={self.base + 19}\nSlurmUser=root\nLogFile={self.root}/log/slurmdbd.log\n"
            f"PidFile={self.root}/run/slurmdbd.pid\nStorageType=accounting_storage/mysql\n"
            f"StorageHost=127.0.0.1\nStoragePort={self.base + 6}\nStorageUser=slurm\n"
            "StoragePass=test\nStorageLoc=slurm_acct_db\n"
        )
        dbd.chmod(0o600)
        self.spawn("slurmdbd", ["slurmdbd", "-D"])
        self.wait_for("slurmdbd", lambda: not port_free(self.base + 19))

    def start_slurm(self) -> None:
        conf = str(self.etc / "slurm.conf")
        self.spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", conf])
        self.wait_for(
            "slurmctld", lambda: self.run("scontrol", "ping", check=False).returncode == 0
        )
        for node in NODES:
            self.spawn(f"slurmd.{node}", ["slurmd", "-D", "-f", conf, "-N", node])
        self.wait_for("idle nodes", self.nodes_idle)

    def nodes_idle(self) -> bool:
        states = self.run("sinfo", "-h", "-N", "-o", "%N %t", check=False).stdout.split("\n")
        idle = {line.split()[0] for line in states if line.endswith(" idle")}
        return idle == set(NODES)

    def accounts(self) -> subprocess.CompletedProcess[str]:
        return self.run("sh", str(self.etc / "accounts.sh"))

    # --- jobs -----------------------------------------------------------------------

    def sbatch(self, *options: str, wrap: str = "sleep 300") -> str:
        out = self.run("sbatch", "--parsable", f"--chdir={self.root / 'jobs'}",
                       "-o", "job-%j.out", *options, "--wrap", wrap).stdout  # fmt: skip
        return out.strip().split(";")[0]

    def job(self, job_id: str) -> dict[str, str]:
        """`scontrol show job`'s KEY=VALUE fields."""
        out = self.run("scontrol", "-o", "show", "job", job_id).stdout
        return dict(re.findall(r"(\w+)=(\S*)", out))

    def wait_job(self, job_id: str, *states: str) -> dict[str, str]:
        self.wait_for(f"job {job_id} in {states}", lambda: self.job(job_id)["JobState"] in states)
        return self.job(job_id)

    # --- tear-down ------------------------------------------------------------------

    def stop(self) -> None:
        if "slurmctld" in self.daemons and self.daemons["slurmctld"].poll() is None:
            self.run("scancel", "--full", "-u", "root", check=False)
            deadline = time.monotonic() + 30
            while self.run("squeue", "-h", check=False).stdout.strip():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        order = [n for n in self.daemons if n.startswith("slurmd.")]
        order += ["slurmctld", "slurmdbd", "mariadbd", "munged"]
        for name in order:
            process = self.daemons.get(name)
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


def cluster_up(accounting: bool) -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="mlrp-slurmcfg-", dir="/tmp"))  # short: socket paths
    root.chmod(0o755)
    cluster = Cluster(root=root, base=free_port_base(), accounting=accounting)
    try:
        cluster.make_folders()
        cluster.generate()
        cluster.start_munge()
        if accounting:
            cluster.start_database()
            first = cluster.accounts()  # before slurmctld: QOS the partitions name
            assert "GPU limits not set: start slurmctld, then run me again" in first.stderr
        cluster.start_slurm()
        if accounting:
            cluster.accounts()  # again: gres/gpu is known now, so the GPU limits
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def plain_cluster() -> Iterator[Cluster]:
    """slurmctld + two slurmd, no accounting database."""
    require(BINARIES, PACKAGES)
    yield from cluster_up(accounting=False)


@pytest.fixture(scope="module")
def lab_cluster() -> Iterator[Cluster]:
    """slurmdbd (MariaDB) + slurmctld + two slurmd, the lab's accounts from accounts.sh."""
    require(BINARIES, PACKAGES)
    require(DB_BINARIES, DB_PACKAGES)
    yield from cluster_up(accounting=True)


def test_real_slurm_reports_the_generated_nodes_and_gres(plain_cluster: Cluster) -> None:
    sinfo = plain_cluster.run("sinfo", "-h", "-o", "%P %D %G %N %t").stdout.split("\n")
    assert sinfo[:2] == [
        "batch* 2 gpu:a100:4 cfg[1-2] idle",
        "interactive 2 gpu:a100:4 cfg[1-2] idle",
    ]
    node = plain_cluster.run("scontrol", "-o", "show", "node", "cfg1").stdout
    fields = dict(re.findall(r"(\w+)=(\S*)", node))
    conf = (plain_cluster.etc / "slurm.conf").read_text()
    (line,) = lines_starting(conf, "NodeName=cfg1 ")
    assert fields["Gres"] == "gpu:a100:4"
    assert f"CPUs={fields['CPUTot']} " in line
    assert f"RealMemory={fields['RealMemory']} " in line


def test_real_slurm_runs_a_gpu_job_to_completion(plain_cluster: Cluster) -> None:
    job = plain_cluster.sbatch("--gres=gpu:a100:2", wrap="echo gpus=$CUDA_VISIBLE_DEVICES")
    done = plain_cluster.wait_job(job, "COMPLETED", "FAILED", "CANCELLED", "NODE_FAIL")
    assert (done["JobState"], done["ExitCode"]) == ("COMPLETED", "0:0")
    output = (plain_cluster.root / "jobs" / f"job-{job}.out").read_text()
    assert output.strip() == "gpus=0,1"


def test_real_slurm_associations_are_mlrps_accounts(lab_cluster: Cluster) -> None:
    out = lab_cluster.run(
        "sacctmgr", "-nP", "show", "assoc", "cluster=mlrpcfg",
        "format=account,user,parentname,fairshare,grptres,defaultqos",
    ).stdout  # fmt: skip
    rows = {tuple(line.split("|")[:2]): line.split("|")[2:] for line in out.split()}
    assert rows[("vision", "")] == ["root", "3", "", "normal"]
    assert rows[("vision-3d", "")] == ["vision", "1", "", "normal"]
    assert rows[("nlp", "")] == ["root", "1", "gres/gpu=6", "normal"]
    assert rows[("vision-3d", "carol")][1:3] == ["1", "gres/gpu=2"]
    users = sorted(k for k in rows if k[1] and k != ("root", "root"))
    assert users == [
        ("nlp", "alice"),
        ("nlp", "bob"),
        ("vision", "alice"),
        ("vision", "root"),
        ("vision-3d", "carol"),
    ]


def test_real_slurm_qos_are_mlrps_qos(lab_cluster: Cluster) -> None:
    out = lab_cluster.run(
        "sacctmgr", "-nP", "show", "qos",
        "format=name,priority,preempt,preemptmode,usagefactor,maxtrespu,maxtres,flags",
    ).stdout  # fmt: skip
    rows = {line.split("|")[0]: line.split("|")[1:] for line in out.split()}
    assert rows["normal"] == ["0", "scavenger", "requeue", "1.000000", "", "", ""]
    high = ["100", "scavenger", "requeue", "1.000000", "gres/gpu=2", "", "DenyOnLimit"]
    assert rows["high"] == high
    assert rows["scavenger"] == ["0", "", "requeue", "0.250000", "", "", ""]
    assert rows["part_interactive"][4:] == ["", "gres/gpu=2", "DenyOnLimit"]


def test_real_slurm_priority_mirrors_mlrp_policy(lab_cluster: Cluster) -> None:
    out = lab_cluster.run("scontrol", "show", "config").stdout
    config = dict(re.findall(r"^(\w+)\s+= (.*)$", out, re.MULTILINE))
    expected = {
        "PriorityType": "priority/multifactor",
        "PriorityDecayHalfLife": "1-00:00:00",
        "PriorityWeightAge": "1000",
        "PriorityWeightFairShare": "50000",
        "PriorityWeightQOS": "2000",
        "PriorityWeightPartition": "1000",
        "PriorityWeightJobSize": "0",
        "PriorityWeightTRES": "GRES/gpu=300",
        "PreemptType": "preempt/qos",
        "PreemptMode": "REQUEUE",
        "SelectType": "select/cons_tres",
        "AccountingStorageEnforce": "associations,limits,qos",
        "KillWait": "15 sec",
    }
    assert {key: config.get(key) for key in expected} == expected


def test_real_slurm_bills_gpus_at_mlrps_weight(lab_cluster: Cluster) -> None:
    """mlrp charges 2.0 per a100 GPU-second: two a100s bill 4, typed or not."""
    typed = lab_cluster.sbatch("-A", "vision", "--gres=gpu:a100:2")
    plain = lab_cluster.sbatch("-A", "vision", "--gres=gpu:2")
    for job in (typed, plain):
        tres = lab_cluster.wait_job(job, "RUNNING")["TRES"]
        assert "billing=4," in tres and "gres/gpu:a100=2" in tres
    lab_cluster.run("scancel", typed, plain)


def test_real_slurm_refuses_what_mlrp_refuses(lab_cluster: Cluster) -> None:
    """Over a QOS's or a partition's GPU cap: refused at submit, as mlrp does."""
    over_qos = lab_cluster.run(
        "sbatch", "-A", "vision", "--qos=high", "--gres=gpu:3", "--wrap", "true", check=False
    )
    over_partition = lab_cluster.run(
        "sbatch", "-A", "vision", "-p", "interactive", "--gres=gpu:3", "--wrap", "true",
        check=False,
    )  # fmt: skip
    assert over_qos.returncode != 0 and "QOSMaxGRESPerUser" in over_qos.stderr
    assert over_partition.returncode != 0 and "QOSMaxGRESPerJob" in over_partition.stderr


def test_real_slurm_normal_preempts_scavenger(lab_cluster: Cluster) -> None:
    gpus = f"--gres=gpu:{GPUS_PER_NODE}"
    scavengers = [lab_cluster.sbatch("-A", "vision", "--qos=scavenger", gpus) for _ in NODES]
    for job in scavengers:
        lab_cluster.wait_job(job, "RUNNING")
    normal = lab_cluster.sbatch("-A", "vision", gpus)
    lab_cluster.wait_job(normal, "RUNNING")
    restarts = [lab_cluster.job(job)["Restarts"] for job in scavengers]
    assert sorted(restarts) == ["0", "1"]  # one requeued (PreemptMode=requeue), one kept
    lab_cluster.run("scancel", normal, *scavengers)
