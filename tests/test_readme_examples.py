"""Every ```python block of the README runs as written (a user copies them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def test_the_readme_has_examples():
    assert len(BLOCKS) >= 6


# examples that start a cluster or compile many sweeps: run with the slow cases
SLOW = ("local_cluster(", "simulate_sizes(")


@pytest.mark.parametrize(
    "index",
    [
        pytest.param(i, marks=pytest.mark.slow) if any(m in b for m in SLOW) else i
        for i, b in enumerate(BLOCKS)
    ],
)
def test_readme_example_runs(index):
    code = compile(BLOCKS[index], f"README.md python block {index}", "exec")
    exec(code, {"__name__": f"readme_example_{index}"})  # noqa: S102 (the README's own code)
