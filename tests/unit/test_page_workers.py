"""How many index pages a command reads at once (see torchup.cli.context.page_workers)."""

from __future__ import annotations

import pytest

from torchup.cli.context import Context, page_workers
from torchup.cli.main import build_parser
from torchup.index.finder import IndexSource


@pytest.mark.parametrize(
    ("cpus", "workers"), [(None, 4), (1, 4), (2, 4), (3, 4), (4, 8), (64, 8)]
)
def test_small_machines_read_fewer_pages_at_once(cpus: int | None, workers: int) -> None:
    assert page_workers(cpus) == workers


def test_the_command_finders_use_it(monkeypatch: pytest.MonkeyPatch) -> None:
    ns = build_parser().parse_args(["pip", "install", "six"])
    source = IndexSource(url="https://pypi.org/simple")
    for cpus, expected in ((2, 4), (8, 8)):
        monkeypatch.setattr("os.cpu_count", lambda cpus=cpus: cpus)
        finder = Context(ns, env={}).finder([source])
        assert finder.max_workers == expected
