"""The bench harness's own arithmetic: the run order of the tools and the paired ratio.

bench/ is not a package (its scripts run as ``python bench/bench_install.py``), so its shared
module is loaded from its path.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest

_COMMON = Path(__file__).resolve().parents[2] / "bench" / "common.py"


@pytest.fixture(scope="module")
def common():  # noqa: ANN201 - a module object
    spec = importlib.util.spec_from_file_location("torchup_bench_common", _COMMON)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being made
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_each_tool_goes_first_and_follows_each_other_tool_equally_often(common) -> None:
    tools = ["torchup", "uv", "pip"]
    orders = [common.run_order(tools, i) for i in range(6)]
    assert all(sorted(order) == sorted(tools) for order in orders)
    assert len({tuple(order) for order in orders}) == 6
    assert Counter(order[0] for order in orders) == {"torchup": 2, "uv": 2, "pip": 2}
    right_after = Counter(pair for order in orders for pair in zip(order, order[1:], strict=False))
    assert set(right_after.values()) == {2}
    assert len(right_after) == 6  # every ordered pair of two tools
    assert common.run_order(tools, 6) == orders[0]  # the cycle starts again
    assert [common.run_order(["torchup", "uv"], i) for i in range(3)] == [
        ["torchup", "uv"],
        ["uv", "torchup"],
        ["torchup", "uv"],
    ]


def test_paired_ratio_is_the_median_of_per_repetition_ratios(common) -> None:
    def cell(tool: str, seconds: list[float], rcs: list[int] | None = None):  # noqa: ANN202
        made = common.Cell("torch", "warm", tool)
        for s, rc in zip(seconds, rcs or [0] * len(seconds), strict=True):
            made.runs.append(common.RunResult(seconds=s, rc=rc))
        return made

    # The machine slows down in the middle repetition for both tools: the paired ratio
    # stays 2.0 where the ratio of medians would say 4.0 / 1.5.
    torchup = cell("torchup", [1.0, 8.0, 4.0])
    uv = cell("uv", [0.5, 4.0, 1.5])
    assert common.paired_ratio(torchup, uv) == pytest.approx(2.0)
    # A failed run drops its pair; runs of different counts give no pairing at all.
    assert common.paired_ratio(cell("torchup", [1.0, 9.0], [0, 1]), cell("uv", [0.5, 1.0])) == 2.0
    assert common.paired_ratio(cell("torchup", [1.0]), cell("uv", [0.5, 1.0])) is None
