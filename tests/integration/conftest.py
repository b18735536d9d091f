"""Fixtures the integration tests share: the in-process CLI and fresh venvs made by it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.integration.test_pip_install import Venv
from tests.support.cli import Cli


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


@pytest.fixture
def make_venv(cli: Cli, tmp_path: Path) -> Callable[..., Venv]:
    """``make_venv(name=".venv", *extra_venv_args)``: a new venv under the test's tmp dir."""

    def make(name: str = ".venv", *extra: str) -> Venv:
        cli.ok("venv", tmp_path / name, "--python", sys.executable, *extra)
        return Venv(tmp_path / name)

    return make


@pytest.fixture
def venv(make_venv: Callable[..., Venv]) -> Venv:
    return make_venv()
