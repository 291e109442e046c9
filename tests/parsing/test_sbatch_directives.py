"""Which #SBATCH lines count, and how their values are split (Slurm's rules)."""

from __future__ import annotations

import pytest

from mlrp.errors import InvalidSpec
from mlrp.parsing.sbatch import read_directives


def script(*lines: str) -> str:
    return "\n".join(("#!/bin/bash", *lines)) + "\n"


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        (script("#SBATCH -J train", "#SBATCH --time=10"), ["-J", "train", "--time=10"]),
        (script("#SBATCH -c 4 --mem=8G"), ["-c", "4", "--mem=8G"]),
        (
            script("# setup", "", "#SBATCH -p gpu", "   ", "## note", "#SBATCH -A lab"),
            ["-p", "gpu", "-A", "lab"],
        ),
        (script("#SBATCH -p gpu", "echo hi", "#SBATCH -A lab"), ["-p", "gpu"]),
        (script("module load cuda", "#SBATCH -p gpu"), []),
        (script("# SBATCH -p gpu", "#SBATCH -A lab"), ["-A", "lab"]),
        (script("  #SBATCH -p gpu", "#SBATCH -A lab"), ["-A", "lab"]),
        (script("#sbatch -p gpu"), []),
        (script('#SBATCH --job-name="my run"'), ["--job-name=my run"]),
        (script("#SBATCH -J 'two words' -t 5"), ["-J", "two words", "-t", "5"]),
        (script(r"#SBATCH -J two\ words"), ["-J", "two words"]),
        (script("#SBATCH -t 10  # ten minutes"), ["-t", "10"]),
        (script("#SBATCH -t 10 #ten minutes"), ["-t", "10"]),
        (script('#SBATCH -J "run #3"'), ["-J", "run #3"]),
        (script("#SBATCH -J 'run #3' # comment"), ["-J", "run #3"]),
        (script(r"#SBATCH -J run\ #3"), ["-J", "run #3"]),
        (script("#SBATCH --output=log#1.out"), ["--output=log#1.out"]),
        (script("#SBATCH # -p gpu"), []),
        (script("#SBATCH"), []),
        (script("#SBATCH--time=5"), ["--time=5"]),
        ("#SBATCH -p gpu\n", ["-p", "gpu"]),
        ("", []),
    ],
)
def test_directive_rules(text: str, tokens: list[str]) -> None:
    assert read_directives(text) == tokens


def test_an_unclosed_quote_names_the_line() -> None:
    text = script("#SBATCH -p gpu", '#SBATCH -J "oops')
    with pytest.raises(InvalidSpec, match=r"^line 3 of train\.sh: cannot read '#SBATCH -J \"oops'"):
        read_directives(text, source="train.sh")
