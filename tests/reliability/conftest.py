"""Fixtures of the reliability tests.

* ``sleeps`` (autouse): the HTTP client's ``time.sleep`` records the delay instead of sleeping,
  so retry tests run fast and can assert the backoff schedule.
* ``world``: an :class:`IndexServer` with app 1.0/2.0 (app needs dep>=1) and dep 1.0/2.0 on
  index ``simple``, plus a :class:`FaultInjector` on it (``world.faults``).
* ``venv``: an empty virtual environment; ``cli``: torchup in process.

Tests marked ``slow`` (more kill points, more credential-leak cases, the lock-file reader race)
are skipped by default to keep this directory under 90 s on 2 cores; ``-m slow`` or
``RELIABILITY_SLOW=1`` runs them.
"""

from __future__ import annotations

import sys
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reliability.helpers import APP1, APP2, DEP1, DEP2, Cli, Venv
from tests.support.faults import FaultInjector
from tests.support.server import IndexServer
from tests.support.wheels import build_wheel


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import os

    if os.environ.get("RELIABILITY_SLOW") or "slow" in (config.getoption("-m") or "").replace(
        "not slow", ""
    ):
        return
    skip = pytest.mark.skip(reason="slow reliability test: run with -m slow or RELIABILITY_SLOW=1")
    here = Path(__file__).parent
    for item in items:
        if "slow" in item.keywords and Path(str(item.fspath)).parent == here:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    from torchup.index import client

    recorded: list[float] = []
    fake = types.SimpleNamespace(
        sleep=recorded.append, monotonic=time.monotonic, time=time.time
    )
    monkeypatch.setattr(client, "time", fake)
    return recorded


@dataclass
class World:
    server: IndexServer
    faults: FaultInjector
    wheels: dict[str, Path]

    @property
    def index(self) -> str:
        return self.server.index_url("simple")

    def get_count(self, path_contains: str) -> int:
        """GET requests whose path contains ``path_contains`` (``$``: ends with)."""
        if path_contains.endswith("$"):
            return sum(
                1 for r in self.server.requests
                if r.method == "GET" and r.path.endswith(path_contains[:-1])
            )
        return sum(
            1 for r in self.server.requests if r.method == "GET" and path_contains in r.path
        )


@pytest.fixture
def world(index_server: IndexServer, tmp_path: Path) -> Iterator[World]:
    wheels = {}
    for spec in (DEP1, DEP2, APP1, APP2):
        path = build_wheel(spec, tmp_path / "dists")
        wheels[f"{spec.name}-{spec.version}"] = path
    index_server.publish("simple", wheels.values())
    with FaultInjector(index_server) as faults:
        yield World(index_server, faults, wheels)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


@dataclass(frozen=True)
class _SharedVenv:
    venv: Venv
    pristine: dict[str, set[str]]  # directory -> names it holds when empty
    probe_cache: Path  # interpreters-v1 bucket holding the venv python's probe


@pytest.fixture(scope="session")
def _shared_venv(tmp_path_factory: pytest.TempPathFactory) -> _SharedVenv:
    """One venv made by `torchup venv`, reused (emptied) by every test of a worker.

    A new venv costs ~300 ms and probing its interpreter (cached per path) another ~300 ms; at
    ~80 tests that was most of the time. Tests get it back empty, with the probe's cache entry
    copied into their own fresh cache dir.
    """
    from tests.reliability.helpers import run_subprocess, subprocess_env

    root = tmp_path_factory.mktemp("shared-venv") / "venv"
    cache = tmp_path_factory.mktemp("shared-venv-cache")
    env = subprocess_env(TORCHUP_CACHE_DIR=str(cache))
    res = run_subprocess("venv", root, "--python", sys.executable, "-q", env=env)
    assert res.rc == 0, res.err
    res = run_subprocess("pip", "list", "--python", root, env=env)
    assert res.rc == 0, res.err
    venv = Venv(root)
    pristine = {
        str(d): {p.name for p in d.iterdir()} for d in (root, root / "bin", venv.site_packages)
    }
    return _SharedVenv(venv, pristine, cache / "interpreters-v1")


@pytest.fixture
def venv(_shared_venv: _SharedVenv, cache_dir: Path) -> Venv:
    import shutil

    for directory, names in _shared_venv.pristine.items():
        for path in Path(directory).iterdir():
            if path.name not in names:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
    shutil.copytree(_shared_venv.probe_cache, cache_dir / "interpreters-v1", dirs_exist_ok=True)
    return _shared_venv.venv


@pytest.fixture
def cache_dir() -> Path:
    """This test's (fresh) TORCHUP_CACHE_DIR, set by the root conftest."""
    import os

    return Path(os.environ["TORCHUP_CACHE_DIR"])
