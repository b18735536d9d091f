"""Shared helpers of the reliability tests: run torchup (in process or as a subprocess), check
that a failure is one clear paragraph, and describe the state a run must leave behind."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.cli import Cli, Result
from tests.support.faults import (
    REPO_ROOT,
    cache_problems,
    environment_problems,
    staging_leftovers,
    torchup_command,
    tree_snapshot,
)
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec

__all__ = [
    "APP1",
    "APP2",
    "DEP1",
    "DEP2",
    "Cli",
    "Result",
    "Venv",
    "assert_clean_failure",
    "assert_consistent",
    "run_subprocess",
    "subprocess_env",
]

DEP1 = DistSpec("dep", "1.0")
DEP2 = DistSpec("dep", "2.0")
APP1 = DistSpec(
    "app",
    "1.0",
    requires_dist=("dep>=1",),
    files={"app/__init__.py": "import dep\nVERSION = '1.0'\n\ndef main():\n    print('app 1.0')\n"},
    entry_points={"console_scripts": {"app-cli": "app:main"}},
)
APP2 = DistSpec(
    "app",
    "2.0",
    requires_dist=("dep>=1",),
    files={"app/__init__.py": "import dep\nVERSION = '2.0'\n\ndef main():\n    print('app 2.0')\n"},
    entry_points={"console_scripts": {"app-cli": "app:main"}},
)


@dataclass(frozen=True)
class Venv:
    root: Path

    @property
    def site_packages(self) -> Path:
        found = sorted((self.root / "lib").glob("python3.*/site-packages"))
        assert len(found) == 1, found
        return found[0]

    def versions(self) -> dict[str, str]:
        """{name: version} of the ``.dist-info`` directories present."""
        out = {}
        for info in self.site_packages.glob("*.dist-info"):
            name, _, version = info.name[: -len(".dist-info")].rpartition("-")
            out[name.lower().replace("_", "-")] = version
        return out

    def snapshot(self) -> dict[str, str]:
        return tree_snapshot(self.root)


def assert_clean_failure(res: Result, *needles: str, codes: Sequence[int] = (1, 2)) -> None:
    """A failure reported as one error paragraph: exit code 1/2 (not 70, the internal-error
    code), no traceback, and every ``needle`` in the text."""
    assert res.rc in codes, f"exit code {res.rc}, expected one of {codes}\n{res.err}{res.out}"
    assert "Traceback" not in res.text, res.text
    assert "internal error" not in res.text, res.text
    assert "error:" in res.err, res.err
    for needle in needles:
        assert needle in res.text, f"{needle!r} not in:\n{res.text}"


def assert_consistent(venv: Venv, cache_dir: Path | None = None) -> None:
    """Every installed distribution complete, no staging leftovers, every cache entry valid."""
    assert environment_problems(venv.site_packages) == []
    assert staging_leftovers(venv.site_packages) == []
    if cache_dir is not None:
        assert cache_problems(cache_dir) == []


def index_args(server: IndexServer) -> list[str]:
    return ["--index-url", server.index_url("simple")]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def run_subprocess(
    *args: str | os.PathLike[str], env: dict[str, str] | None = None, timeout: float = 60
) -> Result:
    """``torchup ARGS`` in a fresh interpreter (kill points from ``env`` honoured)."""
    proc = subprocess.run(
        torchup_command(*args),
        cwd=REPO_ROOT,
        env=env or subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def python() -> str:
    return sys.executable
