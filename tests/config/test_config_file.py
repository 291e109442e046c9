"""The config file: the README's example is valid, mistakes are named."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from mlrp.config import load_config, parse_config
from mlrp.errors import ConfigError

README = Path(__file__).parents[2] / "README.md"


def test_the_readme_example_config_is_accepted_as_written() -> None:
    block = re.search(r"```toml\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    config = parse_config(tomllib.loads(block.group(1)), source="README")
    assert config.daemon.admins == ["alice"]
    vision = config.scheduler.account("vision")
    assert vision is not None and vision.shares == 2 and vision.max_gpus == 6
    assert config.scheduler.qos_named("high") is not None


def test_no_file_means_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path / "absent.toml")
    assert [p.name for p in config.scheduler.partitions] == ["batch", "interactive"]
    assert config.hardware.simulated_gpus == 8


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[daemon]\nadmin = ['x']\n", "daemon.admin"),
        ("[scheduler]\nhalf_life = -1\n", "scheduler.half_life"),
        ("[[scheduler.accounts]]\nname = 'a'\nparent = 'nope'\n", "'nope'"),
        ("[[scheduler.qos]]\nname = 'high'\n", "default_qos 'normal'"),
        ("[daemon\n", "cannot read config"),
    ],
)
def test_a_bad_config_is_refused_naming_the_problem(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_config(path)
