"""Fixtures for the install layer: interpreters (cached once per session), venvs, tree snapshots."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.pythons import PYENV_ROOT, pyenv_python

from torchup.install.interpreters import Interpreter, query_interpreter
from torchup.install.venv import create_venv

__all__ = ["PYENV_ROOT", "pyenv_python"]  # re-exported: tests import them from here


@pytest.fixture(scope="session")
def interpreter_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("interpreter-cache")


@pytest.fixture(scope="session")
def base_python(interpreter_cache: Path) -> Interpreter:
    """The interpreter running the tests, described once per session."""
    exe = Path(getattr(sys, "_base_executable", sys.executable))
    return query_interpreter(exe, cache_dir=interpreter_cache)


@pytest.fixture
def venv(tmp_path: Path, base_python: Interpreter) -> Interpreter:
    return create_venv(tmp_path / "venv", base_python)


@pytest.fixture
def unpacked_cache(tmp_path: Path) -> Path:
    return tmp_path / "unpacked-cache"


Snapshot = dict[str, str]


def snapshot(root: Path) -> Snapshot:
    """Every path under ``root`` -> what it is (content hash, link target, "dir")."""
    out: Snapshot = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture
def take_snapshot() -> Callable[[Path], Snapshot]:
    return snapshot
