"""Creating virtual environments without ``python -m venv``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.support.wheels import DistSpec, build_wheel

from torchup.errors import EnvironmentError_
from torchup.install import venv as venv_mod
from torchup.install.interpreters import Interpreter, query_interpreter
from torchup.install.venv import create_venv, is_venv

from .conftest import pyenv_python, snapshot


def _ask(python: Path, code: str) -> str:
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.parametrize("minor", ["3.10", "3.11", "3.12", "3.13"])
def test_venv_works_for_each_python(minor: str, tmp_path: Path, interpreter_cache: Path) -> None:
    exe = pyenv_python(minor)
    if exe is None:
        pytest.skip(f"no Python {minor} installed")
    base = query_interpreter(exe, cache_dir=interpreter_cache)
    path = tmp_path / f"venv-{minor}"
    created = create_venv(path, base)
    assert is_venv(path)
    out = _ask(
        path / "bin" / "python",
        "import sys, site; print(sys.prefix); print(site.getsitepackages()[0])",
    )
    prefix, site_packages = out.splitlines()
    assert Path(prefix) == path
    assert Path(site_packages) == created.scheme.purelib
    for name in ("python", "python3", f"python{minor}"):
        assert (path / "bin" / name).exists(), name
    # The description derived without running the venv matches asking it.
    asked = query_interpreter(created.executable)
    assert asked.sys_prefix == created.sys_prefix
    assert asked.paths == created.paths
    assert asked.scheme == created.scheme
    assert asked.is_venv and created.is_venv


def test_pyvenv_cfg_and_activation(tmp_path: Path, base_python: Interpreter) -> None:
    path = tmp_path / "my env"  # a space: quoting must hold
    create_venv(path, base_python, prompt="demo")
    cfg = dict(
        line.split(" = ", 1) for line in (path / "pyvenv.cfg").read_text().splitlines() if line
    )
    assert cfg["home"] == str(base_python.base_executable.parent)
    assert cfg["include-system-site-packages"] == "false"
    assert cfg["version"] == str(base_python.version)
    assert cfg["prompt"] == "demo"
    assert "executable" in cfg and "command" in cfg
    assert (path / "bin" / "activate.fish").is_file()
    out = subprocess.run(
        [
            "bash",
            "-c",
            f'source "{path}/bin/activate" && echo "$VIRTUAL_ENV" && command -v python'
            ' && echo "$VIRTUAL_ENV_PROMPT" && deactivate && echo "${VIRTUAL_ENV:-unset}"',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out == [str(path), str(path / "bin" / "python"), "demo", "unset"]


def test_existing_directory_needs_clear(tmp_path: Path, base_python: Interpreter) -> None:
    path = tmp_path / "venv"
    create_venv(path, base_python)
    (path / "marker").write_text("old")
    with pytest.raises(EnvironmentError_, match="--clear"):
        create_venv(path, base_python)
    assert (path / "marker").exists()
    create_venv(path, base_python, clear=True)
    assert not (path / "marker").exists()
    assert is_venv(path)
    # An empty directory is fine without --clear.
    empty = tmp_path / "empty"
    empty.mkdir()
    create_venv(empty, base_python)
    assert is_venv(empty)


def test_failure_leaves_nothing_behind(
    tmp_path: Path, base_python: Interpreter, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "venv"
    create_venv(old, base_python)
    before = snapshot(tmp_path)

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(venv_mod, "_write_layout", broken)
    with pytest.raises(EnvironmentError_, match="No space left"):
        create_venv(old, base_python, clear=True)
    with pytest.raises(EnvironmentError_):
        create_venv(tmp_path / "new", base_python)
    assert snapshot(tmp_path) == before


def test_seed_wheels_are_installed(tmp_path: Path, base_python: Interpreter) -> None:
    seed = build_wheel(
        DistSpec(
            "seedpkg",
            "1.0",
            entry_points={"console_scripts": {"seed": "seedpkg:main"}},
            files={"seedpkg/__init__.py": "def main():\n    print('seeded')\n"},
        ),
        tmp_path / "wheels",
    )
    path = tmp_path / "venv"
    create_venv(path, base_python, seed_wheels=[seed], unpacked_cache=tmp_path / "cache")
    assert (
        subprocess.run([str(path / "bin" / "seed")], capture_output=True, text=True).stdout
        == "seeded\n"
    )


def test_bad_seed_wheel_removes_the_venv(tmp_path: Path, base_python: Interpreter) -> None:
    bad = tmp_path / "bad-1.0-py3-none-any.whl"
    bad.write_bytes(b"not a zip")
    with pytest.raises(Exception, match="cannot open the wheel"):
        create_venv(tmp_path / "venv", base_python, seed_wheels=[bad])
    assert not (tmp_path / "venv").exists()
