"""A venv's python described from its base interpreter's cached answer, without a subprocess.

The derived description must be exactly what asking the venv's python reports, for venvs made
by torchup, by ``python -m venv`` and by uv (when installed), with and without system
site-packages; and whenever the layout leaves any doubt, torchup must ask the interpreter
instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from torchup.install import interpreters
from torchup.install.interpreters import Interpreter, query_interpreter
from torchup.install.venv import create_venv

from .conftest import PYENV_ROOT, pyenv_python

MINORS = ["3.9", "3.10", "3.11", "3.12", "3.13"]


def _base(minor: str, cache: Path) -> Interpreter:
    exe = pyenv_python(minor)
    if exe is None:
        pytest.skip(f"no Python {minor} under {PYENV_ROOT}")
    return query_interpreter(exe, cache_dir=cache)


def _uv() -> str | None:
    """uv from PATH, or the bench venv's (bench/common.py), for the uv-made venv case."""
    bench = Path(os.environ.get("BENCH_VENV", "/tmp/bench-venv")) / "bin" / "uv"
    return shutil.which("uv") or (str(bench) if bench.is_file() else None)


def _make_venv(kind: str, base: Interpreter, path: Path, *, ssp: bool) -> Path:
    if kind == "torchup":
        create_venv(path, base, system_site_packages=ssp)
    elif kind == "uv":
        uv = _uv()
        if uv is None:
            pytest.skip("uv is not installed")
        cmd = [uv, "venv", "-q", "--no-config", "--python", str(base.executable), str(path)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
        env["UV_PYTHON_DOWNLOADS"] = "never"
        subprocess.run([*cmd, *(["--system-site-packages"] if ssp else [])], check=True, env=env)
    else:
        cmd = [str(base.executable), "-m", "venv", "--without-pip", str(path)]
        subprocess.run([*cmd, *(["--system-site-packages"] if ssp else [])], check=True)
    return path


class _NoSubprocess:
    """Fails the test if the code under test starts a process; counts attempts otherwise."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, allow: bool = False) -> None:
        self.calls = 0
        self.allow = allow
        self._real = subprocess.run
        monkeypatch.setattr(subprocess, "run", self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if not self.allow:
            raise AssertionError(f"unexpected subprocess: {args[0] if args else kwargs}")
        return self._real(*args, **kwargs)


def _asked(exe: Path) -> dict[str, Any]:
    """What the probe reports when the interpreter is really run (no cache, no derivation)."""
    return query_interpreter(exe).to_probe()


@pytest.mark.parametrize("ssp", [False, True], ids=["isolated", "system-site"])
@pytest.mark.parametrize("kind", ["torchup", "stdlib", "uv"])
@pytest.mark.parametrize("minor", MINORS)
def test_derived_venv_matches_asking_it(
    minor: str, kind: str, ssp: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    base = _base(minor, cache)
    venv = _make_venv(kind, base, tmp_path / "venv", ssp=ssp)
    names = ["python"] if ssp else ["python", "python3", f"python{minor}"]
    expected = {name: _asked(venv / "bin" / name) for name in names}

    guard = _NoSubprocess(monkeypatch)
    for name in names:
        derived = query_interpreter(venv / "bin" / name, cache_dir=cache)
        assert derived.to_probe() == expected[name], name
        assert derived == Interpreter.from_probe(expected[name])
    assert guard.calls == 0


def test_created_venv_description_matches_asking_it(tmp_path: Path, base_python: Interpreter) -> None:
    created = create_venv(tmp_path / "venv", base_python)
    assert created.to_probe() == _asked(created.executable)


def test_derived_through_the_cli_cache_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`torchup venv` fills the cache that `torchup pip install -p <venv>` then reads."""
    from torchup.cli.main import main

    exe = pyenv_python("3.11") or pyenv_python("3.12")
    if exe is None:
        pytest.skip("no pyenv Python")
    monkeypatch.setenv("TORCHUP_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["venv", str(tmp_path / "venv"), "-q", "-p", str(exe)]) == 0
    expected = _asked(tmp_path / "venv" / "bin" / "python")
    guard = _NoSubprocess(monkeypatch)
    found = interpreters.select_environment(
        str(tmp_path / "venv"),
        cwd=tmp_path,
        cache_dir=tmp_path / "cache" / "interpreters-v1",
    )
    assert found.to_probe() == expected
    assert guard.calls == 0


# -- doubt means asking -----------------------------------------------------------------------


@pytest.fixture
def made(tmp_path: Path, base_python: Interpreter) -> tuple[Path, Path]:
    """(cache with the base's answer, a torchup venv of that base)."""
    cache = tmp_path / "cache"
    exe = Path(os.path.realpath(base_python.base_executable))
    base = query_interpreter(exe, cache_dir=cache)
    venv = create_venv(tmp_path / "venv", base)
    return cache, venv.sys_prefix


def _asks(monkeypatch: pytest.MonkeyPatch, exe: Path, cache: Path) -> int:
    guard = _NoSubprocess(monkeypatch, allow=True)
    found = query_interpreter(exe, cache_dir=cache)
    monkeypatch.undo()
    assert found.to_probe() == _asked(exe)
    return guard.calls


def test_derivation_used_when_certain(made: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    cache, venv = made
    assert _asks(monkeypatch, venv / "bin" / "python", cache) == 0


def test_asks_the_base_when_it_is_not_cached(made: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base_python: Interpreter) -> None:
    """The one subprocess goes to the base, whose answer then serves every venv of it: a
    second fresh venv (another path, made by `python -m venv`) is described without one."""
    _, venv = made
    cache = tmp_path / "empty-cache"
    assert _asks(monkeypatch, venv / "bin" / "python", cache) == 1
    assert [json.loads(p.read_text())["info"]["executable"] for p in cache.glob("*/*.json")] == [
        os.path.realpath(base_python.base_executable)
    ]
    base = query_interpreter(os.path.realpath(base_python.base_executable), cache_dir=cache)
    other = _make_venv("stdlib", base, tmp_path / "other-venv", ssp=False)
    assert _asks(monkeypatch, other / "bin" / "python", cache) == 0


def test_asks_when_pyvenv_cfg_names_another_version(made: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    cache, venv = made
    cfg = venv / "pyvenv.cfg"
    cfg.write_text(
        "".join(
            "version = 3.1.0\n" if line.startswith(("version =", "version_info =")) else line + "\n"
            for line in cfg.read_text().splitlines()
        )
    )
    assert _asks(monkeypatch, venv / "bin" / "python", cache) == 1


def test_asks_when_the_kernel_changed(made: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    cache, venv = made
    real = os.uname()
    fake = os.uname_result((real.sysname, real.nodename, real.release + "-new", real.version, real.machine))
    guard = _NoSubprocess(monkeypatch, allow=True)
    monkeypatch.setattr(os, "uname", lambda: fake)
    query_interpreter(venv / "bin" / "python", cache_dir=cache)
    assert guard.calls == 1


def test_asks_for_a_copied_python(made: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    cache, venv = made
    python3 = venv / "bin" / "python3"
    real = os.path.realpath(python3)
    python3.unlink()
    shutil.copy2(real, python3)  # like `python -m venv --copies`
    assert _asks(monkeypatch, venv / "bin" / "python", cache) == 1


def test_asks_with_a_manylinux_override_module(made: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    cache, venv = made
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "_manylinux.py").write_text("manylinux1_compatible = False\n")
    assert _asks(monkeypatch, venv / "bin" / "python", cache) == 1


def test_asks_when_home_is_a_symlinked_directory(made: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache, venv = made
    cfg = venv / "pyvenv.cfg"
    lines = cfg.read_text().splitlines()
    home = next(line.split(" = ", 1)[1] for line in lines if line.startswith("home = "))
    (tmp_path / "linked-bin").symlink_to(home)
    cfg.write_text("".join(
        f"home = {tmp_path / 'linked-bin'}\n" if line.startswith("home = ") else line + "\n" for line in lines
    ))
    assert _asks(monkeypatch, venv / "bin" / "python", cache) == 1


def test_asks_when_the_base_entry_is_stale(made: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    cache, venv = made
    for entry in cache.glob("interpreters-v*/*.json"):
        data = json.loads(entry.read_text())
        data["key"][1] += 1  # as if the base executable had been replaced
        entry.write_text(json.dumps(data))
    assert _asks(monkeypatch, venv / "bin" / "python", cache) == 1
