"""Python discovery, the interpreter cache, and choosing the environment to act on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import packaging
import pytest
from packaging.version import Version

from torchup.errors import EnvironmentError_
from torchup.install import interpreters
from torchup.install.interpreters import (
    Interpreter,
    find_python,
    parse_python_request,
    query_interpreter,
    select_environment,
)
from torchup.install.venv import create_venv

from .conftest import PYENV_ROOT, pyenv_python


@pytest.mark.parametrize(
    ("request_", "kind", "matches", "rejects"),
    [
        (None, "any", ["3.9.0", "3.13.1"], []),
        ("3.12", "version", ["3.12.0", "3.12.7"], ["3.11.9", "3.13.0"]),
        ("3.12.1", "version", ["3.12.1"], ["3.12.2"]),
        ("3", "version", ["3.8.1", "3.13.0"], []),
        ("cpython3.12", "version", ["3.12.3"], ["3.11.0"]),
        ("cpython@3.11", "version", ["3.11.3"], ["3.12.0"]),
        ("python3.12", "name", ["3.12.3"], ["3.11.0"]),
        ("python3", "name", ["3.11.0"], []),
        (">=3.11,<3.13", "version", ["3.11.0", "3.12.9"], ["3.10.4", "3.13.0"]),
        ("/usr/bin/python3", "path", [], []),
        ("./venv", "path", [], []),
        ("~/py", "path", [], []),
        ("pypy", "name", ["3.10.0"], []),
    ],
)
def test_parse_python_request(
    request_: str | None, kind: str, matches: list[str], rejects: list[str]
) -> None:
    parsed = parse_python_request(request_)
    assert parsed.kind == kind
    for version in matches:
        assert parsed.matches(Version(version)), version
    for version in rejects:
        assert not parsed.matches(Version(version)), version


def test_query_describes_the_running_interpreter(base_python: Interpreter) -> None:
    assert base_python.version.release[:3] == sys.version_info[:3]
    assert not base_python.is_venv or sys.prefix != sys.base_prefix
    assert base_python.markers["python_version"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert base_python.tags[0].startswith(f"cp{sys.version_info[0]}{sys.version_info[1]}")
    target = base_python.target()
    assert target.python_version == Version(base_python.python_version)
    assert base_python.scheme.purelib.name in ("site-packages", "dist-packages")


def test_query_is_cached_by_path_and_mtime(
    tmp_path: Path, base_python: Interpreter, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    # A link to the base outside any venv: nothing to derive it from, so it is asked.
    (tmp_path / "bin").mkdir()
    link = tmp_path / "bin" / "python"
    link.symlink_to(os.path.realpath(base_python.base_executable))
    calls: list[object] = []
    real_run = subprocess.run

    def counting_run(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(subprocess, "run", counting_run)
    first = query_interpreter(link, cache_dir=cache)
    assert query_interpreter(link, cache_dir=cache) == first
    assert len(calls) == 1
    # Re-pointing the link (a new link, so a new lstat mtime) invalidates the entry.
    target = os.readlink(link)
    link.unlink()
    os.symlink(target, link)
    os.utime(link, ns=(1, 1), follow_symlinks=False)
    assert query_interpreter(link, cache_dir=cache) == first
    assert len(calls) == 2


@pytest.mark.parametrize("minor", ["3.10", "3.11", "3.12", "3.13"])
def test_a_base_is_probed_without_site_and_answers_the_same(
    minor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # -S skips the .pth files (32 of 91 ms here); every answer must stay what `site` gives.
    exe = pyenv_python(minor)
    if exe is None:
        pytest.skip(f"no Python {minor} under {PYENV_ROOT}")
    assert interpreters._probe_flags(exe) == ("-I", "-S")
    quick = query_interpreter(exe)
    monkeypatch.setattr(interpreters, "_probe_flags", lambda _exe: ("-I",))
    assert query_interpreter(exe).to_probe() == quick.to_probe()


def test_without_site_the_probe_still_sees_the_site_packages() -> None:
    # Where packaging looks for a PEP 600 _manylinux module when the tags are computed.
    # The base interpreter of the one running the tests (on 3.10 a venv's _base_executable is
    # the venv's own python).
    exe = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    if not exe.is_file() or interpreters._probe_flags(exe) != ("-I", "-S"):
        pytest.skip(f"no base interpreter at {exe}")
    code = interpreters._PROBE.replace("print(json.dumps({", "print(json.dumps({'sys_path': sys.path,")
    out = subprocess.run(
        [str(exe), "-I", "-S", "-c", code, str(Path(packaging.__file__).resolve().parents[1]), "/venv"],
        capture_output=True, text=True, check=True,
    ).stdout
    import json

    sys_path = json.loads(out.splitlines()[-1])["sys_path"]
    expected = subprocess.run(
        [str(exe), "-I", "-c", "import site, json; print(json.dumps(site.getsitepackages()))"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert json.loads(expected) and all(d in sys_path for d in json.loads(expected))


def test_a_venv_python_is_probed_with_site(venv: Interpreter) -> None:
    # Without site a venv's python reports its base's sys.prefix (PEP 405).
    assert interpreters._probe_flags(venv.executable) == ("-I",)
    assert query_interpreter(venv.executable).is_venv


def test_query_of_a_non_python_fails_clearly(tmp_path: Path) -> None:
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\necho not python\n")
    fake.chmod(0o755)
    with pytest.raises(EnvironmentError_, match="did not answer like a Python"):
        query_interpreter(fake)


def _fake_path(tmp_path: Path, *exes: Path) -> str:
    """A PATH with one directory holding symlinks named like the real interpreters."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for exe in exes:
        version = exe.parent.parent.name  # pyenv: versions/3.12.1/bin/python3
        minor = ".".join(version.split(".")[:2])
        (bindir / f"python{minor}").symlink_to(exe)
    return str(bindir)


@pytest.mark.parametrize("minor", ["3.10", "3.11", "3.12", "3.13"])
def test_find_python_by_version_in_pyenv(
    minor: str, interpreter_cache: Path, tmp_path: Path
) -> None:
    if pyenv_python(minor) is None:
        pytest.skip(f"no Python {minor} under {PYENV_ROOT}")
    found = find_python(
        minor, path_env=str(tmp_path), pyenv_root=PYENV_ROOT, cache_dir=interpreter_cache
    )
    assert f"{found.version.major}.{found.version.minor}" == minor
    assert not found.is_venv


def test_find_python_prefers_path_over_pyenv(interpreter_cache: Path, tmp_path: Path) -> None:
    exe = pyenv_python("3.12")
    if exe is None:
        pytest.skip("no Python 3.12 under pyenv")
    path_env = _fake_path(tmp_path, exe)
    found = find_python(
        "python3.12", path_env=path_env, pyenv_root=None, cache_dir=interpreter_cache
    )
    assert found.version.minor == 12


def test_find_python_by_path_and_venv_directory(
    tmp_path: Path, base_python: Interpreter, interpreter_cache: Path
) -> None:
    venv = create_venv(tmp_path / "venv", base_python)
    by_dir = find_python(str(tmp_path / "venv"), path_env="", cache_dir=interpreter_cache)
    by_exe = find_python(str(venv.executable), path_env="", cache_dir=interpreter_cache)
    assert by_dir.is_venv and by_exe.is_venv
    assert by_dir.sys_prefix == tmp_path / "venv"
    assert by_dir.base_prefix == base_python.base_prefix


def test_find_python_not_found(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentError_, match="no Python interpreter found matching '2.1'"):
        find_python("2.1", path_env=str(tmp_path), pyenv_root=tmp_path)
    with pytest.raises(EnvironmentError_, match="does not exist"):
        find_python(str(tmp_path / "nope" / "python"), path_env="")


def test_bare_name_of_an_existing_directory_or_file_is_that_path(
    tmp_path: Path,
    base_python: Interpreter,
    interpreter_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`-p v0` with a `v0/` venv in the working directory uses it, as uv does."""
    venv = create_venv(tmp_path / "v0", base_python)
    (tmp_path / "mypython").symlink_to(base_python.executable)
    monkeypatch.chdir(tmp_path)
    by_dir = find_python("v0", path_env="", cache_dir=interpreter_cache)
    assert by_dir.is_venv and by_dir.sys_prefix == venv.sys_prefix
    chosen = select_environment("v0", cwd=tmp_path, path_env="", cache_dir=interpreter_cache)
    assert chosen.sys_prefix == venv.sys_prefix
    by_file = find_python("mypython", path_env="", cache_dir=interpreter_cache)
    assert by_file.version == base_python.version and not by_file.is_venv
    # A name that is no file is still looked up as a command.
    with pytest.raises(EnvironmentError_, match="no Python interpreter found matching 'v1'"):
        find_python("v1", path_env=str(tmp_path / "empty"), pyenv_root=None)
    # A directory that holds no Python says so.
    (tmp_path / "empty").mkdir()
    with pytest.raises(EnvironmentError_, match="without a Python interpreter"):
        find_python("empty", path_env="")


def test_version_requests_are_not_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "3.12").mkdir()
    (tmp_path / "python3").mkdir()
    monkeypatch.chdir(tmp_path)
    assert parse_python_request("3.12").kind == "version"
    with pytest.raises(EnvironmentError_, match="no Python interpreter found matching '3.12'"):
        find_python("3.12", path_env=str(tmp_path / "bin"), pyenv_root=None)
    with pytest.raises(EnvironmentError_, match="no Python interpreter found matching 'python3'"):
        find_python("python3", path_env=str(tmp_path / "bin"), pyenv_root=None)


def test_select_environment_order(
    tmp_path: Path, base_python: Interpreter, interpreter_cache: Path
) -> None:
    project = tmp_path / "project"
    nested = project / "src" / "pkg"
    nested.mkdir(parents=True)
    dot_venv = create_venv(project / ".venv", base_python)
    active = create_venv(tmp_path / "active", base_python)
    explicit = create_venv(tmp_path / "explicit", base_python)
    kw = {"cache_dir": interpreter_cache, "path_env": ""}

    # .venv is found from a subdirectory
    assert select_environment(cwd=nested, **kw).sys_prefix == dot_venv.sys_prefix  # type: ignore[arg-type]
    # $VIRTUAL_ENV beats .venv
    chosen = select_environment(virtual_env=str(active.sys_prefix), cwd=nested, **kw)  # type: ignore[arg-type]
    assert chosen.sys_prefix == active.sys_prefix
    # --python beats both
    chosen = select_environment(
        python=str(explicit.sys_prefix),
        virtual_env=str(active.sys_prefix),
        cwd=nested,
        **kw,  # type: ignore[arg-type]
    )
    assert chosen.sys_prefix == explicit.sys_prefix


def test_select_environment_system_uses_path(
    tmp_path: Path, base_python: Interpreter, interpreter_cache: Path
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(base_python.executable)
    chosen = select_environment(
        cwd=tmp_path, system=True, path_env=str(bindir), cache_dir=interpreter_cache
    )
    assert chosen.version == base_python.version
    assert not chosen.is_venv


def test_select_environment_without_a_venv_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentError_) as info:
        select_environment(cwd=tmp_path, path_env="")
    assert "torchup venv" in str(info.value) and "--system" in str(info.value)


def test_virtual_env_that_is_not_a_venv(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentError_, match="not a virtual environment"):
        select_environment(virtual_env=str(tmp_path), cwd=tmp_path, path_env="")
