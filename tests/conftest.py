"""Shared fixtures: a hermetic index server, wheel builders, the PyTorch-like world, isolation.

* ``index_server``: an empty, started :class:`IndexServer` rooted in the test's tmp dir.
* ``make_wheel`` / ``make_sdist`` / ``make_project``: build a :class:`DistSpec` (or
  ``name, version, **fields``) into a per-test directory and return the path.
* ``pytorch_world`` / ``pytorch_world_big``: session-scoped :class:`World` (see
  ``tests/support/pytorch_index.py`` for what exists where). Shared across tests: change switches
  only through ``world.configured(...)`` and call ``world.server.reset_stats()`` before counting.
* autouse isolation: ``TORCHUP_CACHE_DIR`` points at a fresh tmp dir; every other ``TORCHUP_*``,
  ``PIP_*``, ``UV_*``, proxy and ``VIRTUAL_ENV`` variable is removed, and ``PIP_CONFIG_FILE`` is
  ``os.devnull`` so neither this machine's pip.conf nor its environment leaks into a test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.pytorch_index import World, build_pytorch_world
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec, build_sdist, build_wheel, write_project

_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


@pytest.fixture(autouse=True)
def _isolate_torchup(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    for key in list(os.environ):
        if (
            key.startswith(("PIP_", "UV_", "TORCHUP_", "CONDA_"))
            or key.lower() in _PROXY_VARS
            or key == "VIRTUAL_ENV"
        ):
            monkeypatch.delenv(key, raising=False)
    # A subprocess pip (if a test ever runs one) must not read the machine's pip.conf either.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("TORCHUP_CACHE_DIR", str(tmp_path_factory.mktemp("torchup-cache")))


@pytest.fixture
def index_server(tmp_path: Path) -> Iterator[IndexServer]:
    with IndexServer(tmp_path / "index-root") as server:
        yield server


def _spec(spec: DistSpec | str, version: str | None, fields: dict[str, Any]) -> DistSpec:
    if isinstance(spec, DistSpec):
        if version is not None or fields:
            raise TypeError("pass either a DistSpec or name, version and fields")
        return spec
    if version is None:
        raise TypeError("version is required with a name")
    return DistSpec(spec, version, **fields)


@pytest.fixture
def make_wheel(tmp_path: Path) -> Callable[..., Path]:
    """``make_wheel(DistSpec(...))`` or ``make_wheel("name", "1.0", requires_dist=[...])``."""

    def make(spec: DistSpec | str, version: str | None = None, **fields: Any) -> Path:
        return build_wheel(_spec(spec, version, fields), tmp_path / "built-wheels")

    return make


@pytest.fixture
def make_sdist(tmp_path: Path) -> Callable[..., Path]:
    def make(spec: DistSpec | str, version: str | None = None, **fields: Any) -> Path:
        return build_sdist(_spec(spec, version, fields), tmp_path / "built-sdists")

    return make


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """Write a source tree (in-tree PEP 517 backend) to ``tmp_path/projects/<name>``."""

    def make(spec: DistSpec | str, version: str | None = None, **fields: Any) -> Path:
        built = _spec(spec, version, fields)
        return write_project(built, tmp_path / "projects" / built.import_name)

    return make


@pytest.fixture(scope="session")
def pytorch_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_pytorch_world(tmp_path_factory.mktemp("pytorch-world"))
    try:
        yield world
    finally:
        world.server.stop()


@pytest.fixture(scope="session")
def pytorch_world_big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_pytorch_world(tmp_path_factory.mktemp("pytorch-world-big"), big=True)
    try:
        yield world
    finally:
        world.server.stop()
