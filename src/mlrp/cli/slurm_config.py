"""`mlrp slurm config`: this lab's hardware and policy as a Slurm cluster's configuration.

* Nodes: `--nodes` (names or hostlists, `gpu[01-04]`; default: this machine's name),
  each with this machine's hardware (NVML, or the config's simulated GPUs) unless
  `--gpus`, `--gpu-model`, `--cpus` or `--memory-mb` say otherwise; or `--inventory
  FILE`, a TOML list of `[[nodes]]` with their own hardware (`mlrp.slurm.confgen`).
* Policy: the `[scheduler]` table of `--config` (default `$MLRP_HOME/config.toml`;
  without a file, mlrp's defaults), read by the daemon's own loader.
* Output: all four files on stdout under `# ===== NAME =====` headers, or written into
  `--out DIR` (accounts.sh executable). Notes (simulated GPUs, no config file) go to
  stderr.

The rendering is `mlrp.slurm.confgen.render`; this module only gathers its inputs and
writes its outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mlrp.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from mlrp.config import Config
    from mlrp.slurm.confgen import NodeHardware, SiteOptions, SlurmFiles


def register(sub: Any) -> None:
    p = sub.add_parser(
        "slurm",
        help="Slurm: render this lab's slurm.conf, gres.conf, cgroup.conf and accounts",
        description=(
            "mlrp slurm config: render slurm.conf, gres.conf, cgroup.conf and the sacctmgr "
            "commands (accounts.sh) of a Slurm cluster from this machine's GPUs (or the "
            "hardware given) and the mlrp policy: weights, half-life, billing, accounts, QOS."
        ),
    )
    p.add_argument("action", choices=("config",), metavar="config", help="render the files")
    for flag, metavar, kind, default, text in _OPTIONS:
        p.add_argument(flag, metavar=metavar, type=kind, default=default, help=text)
    for flag, text in _SWITCHES:
        p.add_argument(flag, action="store_true", help=text)
    p.set_defaults(handler=cmd_slurm)


# (flag, metavar, type, default, help): the nodes, the cluster, then test-cluster options
_OPTIONS: tuple[tuple[str, str, Any, str | None, str], ...] = (
    ("--nodes", "HOSTLIST", None, None, "names or hostlists, gpu[01-04],n7 (default: this host)"),
    ("--inventory", "FILE", Path, None, "TOML file of [[nodes]] with their own hardware"),
    ("--gpus", "N", int, None, "GPUs per node (default: this machine's)"),
    ("--gpu-model", "MODEL", None, None, "GPU model of every node, e.g. a100"),
    ("--cpus", "N", int, None, "CPUs per node (default: this machine's)"),
    ("--memory-mb", "MB", int, None, "RealMemory per node (default: this machine's)"),
    ("--config", "FILE", Path, None, "mlrp config (default $MLRP_HOME/config.toml)"),
    ("--out", "DIR", Path, None, "write the four files into DIR instead of printing them"),
    ("--cluster-name", "NAME", None, "lab", "ClusterName (default lab)"),
    ("--controller", "HOST", None, None, "SlurmctldHost (default: the first node)"),
    ("--device-dir", "DIR", None, "/dev", "where the nvidiaN devices are (default /dev)"),
    ("--accounting-host", "HOST", None, None, "slurmdbd's host (default: the controller)"),
    ("--accounting-port", "PORT", int, None, "slurmdbd's port"),
    ("--state-dir", "DIR", None, None, "one folder for state, spool, pid and log files"),
    ("--ctld-port", "PORT", int, None, "SlurmctldPort"),
    ("--slurmd-port", "PORT", int, None, "slurmd's Port (with --single-host: the first)"),
    ("--slurm-user", "USER", None, "slurm", "SlurmUser (default slurm)"),
    ("--munge-socket", "PATH", None, None, "munged's socket, when not the default one"),
)  # fmt: skip
_SWITCHES = (
    ("--gres-autodetect", "gres.conf: AutoDetect=nvml instead of device files"),
    ("--no-accounting", "no slurmdbd: no associations, QOS, billing or fair-share usage"),
    ("--no-cgroups", "proctrack/linuxproc and task/none (where cgroups are unavailable)"),
    ("--single-host", "every node a slurmd on this machine at 127.0.0.1 (slurmd -N NAME)"),
)


# --- the command ---------------------------------------------------------------------


def cmd_slurm(args: argparse.Namespace) -> int:
    from mlrp.slurm.confgen import render

    for name in ("ctld_port", "slurmd_port", "accounting_port"):
        _check_port(name, getattr(args, name))
    config, source = _load(args.config)
    nodes = _nodes(args, config)
    files = render(nodes, config.scheduler, _site_options(args, config, source))
    if args.out is None:
        _print(files)
    else:
        _write(files, args.out)
    return 0


def _check_port(name: str, port: int | None) -> None:
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"--{name.replace('_', '-')} {port} is not a port (1-65535)")


def _load(path: Path | None) -> tuple[Config, str]:
    """The config and how to name it; a missing --config is an error, a missing default
    file means mlrp's defaults (said on stderr)."""
    from mlrp.config import load_config
    from mlrp.locations import home_dir

    if path is not None and not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    chosen = path or Path(home_dir()) / "config.toml"
    if not chosen.is_file():
        _note(f"no config file at {chosen}: using mlrp's default policy")
        return load_config(None), "mlrp's default policy"
    return load_config(chosen), f"the mlrp policy in {chosen}"


def _nodes(args: argparse.Namespace, config: Config) -> list[NodeHardware]:
    from mlrp.slurm import confgen

    if args.nodes is not None and args.inventory is not None:
        raise ConfigError("give --nodes or --inventory, not both")
    template = _this_machine(args, config)
    if args.inventory is None:
        return confgen.named(template, confgen.node_names(args.nodes or template.name))
    try:
        text = args.inventory.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read inventory {args.inventory}: {e.strerror or e}") from None
    return confgen.parse_inventory(text, str(args.inventory), template)


def _this_machine(args: argparse.Namespace, config: Config) -> NodeHardware:
    """This machine (its host name and hardware) with the command line's overrides."""
    from mlrp.hardware.inventory import discover
    from mlrp.slurm import confgen

    inventory = discover(config.hardware)
    overridden = args.gpus is not None or args.gpu_model is not None
    if inventory.source == "simulated" and inventory.gpus and not overridden:
        _note(
            f"this machine's {len(inventory.gpus)} GPUs ({inventory.gpus[0].model}) are "
            "simulated: give --gpus and --gpu-model, or --inventory, for the real nodes"
        )
    return confgen.with_overrides(
        confgen.machine_node(inventory),
        gpus=args.gpus,
        gpu_model=args.gpu_model,
        cpus=args.cpus,
        memory_mb=args.memory_mb,
    )


def _site_options(args: argparse.Namespace, config: Config, source: str) -> SiteOptions:
    from mlrp.slurm.confgen import SiteOptions

    return SiteOptions(
        cluster_name=args.cluster_name,
        controller=args.controller,
        source=source,
        accounting=not args.no_accounting,
        accounting_host=args.accounting_host,
        accounting_port=args.accounting_port,
        cgroups=not args.no_cgroups,
        gres_autodetect=args.gres_autodetect,
        device_dir=args.device_dir,
        state_dir=args.state_dir,
        ctld_port=args.ctld_port,
        slurmd_port=args.slurmd_port,
        single_host=args.single_host,
        slurm_user=args.slurm_user,
        munge_socket=args.munge_socket,
        kill_wait=config.daemon.grace,
    )


# --- output --------------------------------------------------------------------------


def _print(files: SlurmFiles) -> None:
    blocks = [f"# ===== {name} =====\n{text}" for name, text in files.named()]
    sys.stdout.write("\n".join(blocks))


def _write(files: SlurmFiles, folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.named():
            path = folder / name
            path.write_text(text)
            path.chmod(0o755 if name.endswith(".sh") else 0o644)
    except OSError as e:
        raise ConfigError(f"cannot write into {folder}: {e.strerror or e}") from None
    print(f"wrote {', '.join(name for name, _ in files.named())} into {folder}")


def _note(text: str) -> None:
    print(f"mlrp slurm: note: {text}", file=sys.stderr)
