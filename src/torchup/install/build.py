"""Build wheels from source trees and sdists with PEP 517 / PEP 660 backends.

A backend is Python code of the project's choosing, so it runs in a subprocess: a tiny hook
runner (written below; ``pyproject_hooks`` is not a dependency) imports the backend, calls one
hook, and writes the result as JSON into a control directory.

Build isolation: the backend sees the standard library, its ``backend-path`` and the build
requirements, nothing else. Installing those requirements needs resolution, which lives above
this layer, so the caller passes a ``provision(requirements) -> Path`` callable that returns either
a site directory to add (the backend then runs on ``build_env_python -S``) or the ``python`` of a
ready build environment. Requirement-free backends (in-tree ones) need no provisioning at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchup.errors import BuildError
from torchup.install.wheel import _member_problem

__all__ = [
    "BuildSystem",
    "Provision",
    "build_wheel",
    "prepare_metadata",
    "read_build_system",
    "unpack_sdist",
]

Provision = Callable[[list[str]], Path]
"""Install build requirements; return a site directory or a build environment's python."""

# PEP 517: "If the pyproject.toml file is absent, or the build-backend key is missing, the
# source tree is not using this specification": tools fall back to setuptools' legacy backend.
_LEGACY = ("setuptools>=40.8.0",)
_LEGACY_BACKEND = "setuptools.build_meta:__legacy__"
_TAIL_LINES = 40

# Runs under the build interpreter (any Python >= 3.9): stdlib only.
_HOOK_RUNNER = r"""
import importlib, json, os, site, sys, traceback

def main():
    control = sys.argv[1]
    with open(os.path.join(control, "input.json"), encoding="utf-8") as f:
        data = json.load(f)
    for directory in data["site_dirs"]:
        site.addsitedir(directory)
    backend_path = [os.path.abspath(p) for p in data["backend_path"]]
    sys.path[:0] = backend_path
    module_name, _, object_path = data["backend"].partition(":")
    try:
        obj = importlib.import_module(module_name)
    except ImportError:
        result = {"unavailable": traceback.format_exc()}
    else:
        origin = os.path.abspath(getattr(obj, "__file__", "") or "")
        if backend_path and not any(
            origin.startswith(p.rstrip(os.sep) + os.sep) for p in backend_path
        ) and data["check_backend_path"]:
            # PEP 517: an in-tree backend must come from backend-path, not from elsewhere.
            result = {"unavailable": "backend %s was loaded from %s, outside backend-path"
                      % (data["backend"], origin)}
        else:
            for attr in filter(None, object_path.split(".")):
                obj = getattr(obj, attr)
            hook = getattr(obj, data["hook"], None)
            if hook is None:
                result = {"unsupported": True}
            else:
                result = {"return": hook(**data["kwargs"])}
    with open(os.path.join(control, "output.json"), "w", encoding="utf-8") as f:
        json.dump(result, f)

main()
"""


@dataclass(frozen=True)
class BuildSystem:
    """A project's ``[build-system]`` table (PEP 518), with PEP 517's defaults applied."""

    requires: tuple[str, ...]
    backend: str
    backend_path: tuple[str, ...] = ()

    @classmethod
    def from_pyproject(cls, data: Mapping[str, Any] | None) -> BuildSystem:
        """From parsed ``pyproject.toml`` data (None when the file is absent). Pure."""
        table = (data or {}).get("build-system")
        if table is None:
            return cls(_LEGACY, _LEGACY_BACKEND)
        if not isinstance(table, Mapping):
            raise BuildError("[build-system] in pyproject.toml is not a table")
        requires = table.get("requires")
        if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
            raise BuildError(
                "[build-system] requires must be a list of strings (PEP 518)",
                hint='for example: requires = ["setuptools>=61"]',
            )
        backend = table.get("build-backend")
        if backend is None:
            return cls(tuple(requires) or _LEGACY, _LEGACY_BACKEND)
        if not isinstance(backend, str) or not backend:
            raise BuildError("[build-system] build-backend must be a string")
        backend_path = table.get("backend-path", [])
        if not isinstance(backend_path, list) or not all(isinstance(p, str) for p in backend_path):
            raise BuildError("[build-system] backend-path must be a list of strings")
        return cls(tuple(requires), backend, tuple(backend_path))


def read_build_system(source_dir: Path) -> BuildSystem:
    """Read ``source_dir/pyproject.toml``'s build system (PEP 517 defaults when absent)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib

    path = source_dir / "pyproject.toml"
    if not path.is_file():
        if not (source_dir / "setup.py").is_file() and not (source_dir / "setup.cfg").is_file():
            raise BuildError(
                f"{source_dir} is not a Python project (no pyproject.toml or setup.py)"
            )
        return BuildSystem.from_pyproject(None)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BuildError(f"cannot read {path}: {exc}") from exc
    system = BuildSystem.from_pyproject(data)
    root = os.path.realpath(source_dir)
    for entry in system.backend_path:
        real = os.path.realpath(source_dir / entry)
        if real != root and not real.startswith(root + os.sep):
            raise BuildError(f"backend-path entry {entry!r} is outside the source tree (PEP 517)")
    return system


# -- running hooks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Runner:
    python: Path
    site_dirs: tuple[str, ...]
    no_site: bool


def _tail(text: str) -> str:
    lines = text.rstrip().splitlines()
    return "\n".join(lines[-_TAIL_LINES:])


def _call_hook(
    runner: _Runner,
    source_dir: Path,
    system: BuildSystem,
    hook: str,
    kwargs: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None,
    timeout: float | None,
) -> tuple[bool, Any]:
    """Run one hook; returns (supported, value). Raises BuildError on failure."""
    with tempfile.TemporaryDirectory(prefix="torchup-hook-") as control:
        script = Path(control) / "_torchup_hook_runner.py"
        script.write_text(_HOOK_RUNNER, encoding="utf-8")
        payload = {
            "backend": system.backend,
            "backend_path": list(system.backend_path),
            "check_backend_path": bool(system.backend_path),
            "hook": hook,
            "kwargs": dict(kwargs),
            "site_dirs": list(runner.site_dirs),
        }
        (Path(control) / "input.json").write_text(json.dumps(payload), encoding="utf-8")
        child_env = dict(os.environ if env is None else env)
        if runner.no_site:
            # Isolation: nothing from the caller's environment leaks into the backend's imports.
            for key in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE"):
                child_env.pop(key, None)
            child_env["PYTHONNOUSERSITE"] = "1"
        flags = ["-S", "-s"] if runner.no_site else []
        try:
            proc = subprocess.run(
                [str(runner.python), *flags, str(script), control],
                cwd=source_dir,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                timeout=timeout,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise BuildError(f"could not run the build backend for {source_dir}: {exc}") from exc
        output_file = Path(control) / "output.json"
        if proc.returncode != 0 or not output_file.exists():
            raise BuildError(
                f"the build backend {system.backend} failed in {hook} for {source_dir}:\n"
                f"{_tail(proc.stdout)}",
                hint="the lines above are the backend's output; fix the project or its build "
                "requirements",
            )
        result = json.loads(output_file.read_text(encoding="utf-8"))
    if "unavailable" in result:
        raise BuildError(
            f"the build backend {system.backend} could not be imported for {source_dir}:\n"
            f"{_tail(result['unavailable'])}",
            hint="add the package that provides it to [build-system] requires",
        )
    if result.get("unsupported"):
        return False, None
    return True, result.get("return")


def _runner_for(env_path: Path, build_env_python: Path) -> _Runner:
    if env_path.is_dir():
        return _Runner(build_env_python, (str(env_path),), no_site=True)
    return _Runner(env_path, (), no_site=False)  # the python of a ready build environment


def _prepare_runner(
    source_dir: Path,
    system: BuildSystem,
    *,
    build_env_python: Path,
    provision: Provision | None,
    isolated: bool,
    editable: bool,
    config_settings: Mapping[str, Any] | None,
    env: Mapping[str, str] | None,
    timeout: float | None,
    extra_requires: Sequence[str] = (),
) -> _Runner:
    if not isolated:
        return _Runner(build_env_python, (), no_site=False)

    def provisioned(requirements: list[str]) -> _Runner:
        if provision is None:
            raise BuildError(
                f"building {source_dir} needs {', '.join(requirements)}, "
                "but no way to install build requirements was given",
                hint="this is a bug in the caller; or build without isolation",
            )
        return _runner_for(provision(requirements), build_env_python)

    # Build requirements the project does not declare, given by the user (uv's
    # extra-build-dependencies: torch for flash-attn) join the declared ones.
    requires = list(system.requires) + [r for r in extra_requires if r not in system.requires]
    runner = provisioned(requires) if requires else _Runner(build_env_python, (), no_site=True)
    hook = "get_requires_for_build_editable" if editable else "get_requires_for_build_wheel"
    supported, extra = _call_hook(
        runner,
        source_dir,
        system,
        hook,
        {"config_settings": dict(config_settings) if config_settings else None},
        env=env,
        timeout=timeout,
    )
    if supported and extra:
        if not isinstance(extra, list) or not all(isinstance(r, str) for r in extra):
            raise BuildError(f"{system.backend}.{hook} returned {extra!r}, not a list of strings")
        missing = [r for r in extra if r not in requires]
        if missing:
            runner = provisioned(requires + missing)
    return runner


def build_wheel(
    source_dir: Path,
    out_dir: Path,
    *,
    build_env_python: Path | str,
    provision: Provision | None = None,
    editable: bool = False,
    isolated: bool = True,
    config_settings: Mapping[str, Any] | None = None,
    metadata_directory: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    extra_requires: Sequence[str] = (),
) -> Path:
    """Build a wheel (``editable=True``: a PEP 660 editable wheel) of ``source_dir`` into
    ``out_dir``; return its path. Raises :class:`BuildError` with the tail of the backend's
    output when the backend fails, or when it cannot build editables."""
    source_dir = Path(os.path.abspath(source_dir))
    out_dir = Path(os.path.abspath(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    system = read_build_system(source_dir)
    runner = _prepare_runner(
        source_dir,
        system,
        build_env_python=Path(build_env_python),
        provision=provision,
        isolated=isolated,
        editable=editable,
        config_settings=config_settings,
        env=env,
        timeout=timeout,
        extra_requires=extra_requires,
    )
    return _build(
        runner,
        source_dir,
        out_dir,
        system,
        editable=editable,
        config_settings=config_settings,
        metadata_directory=metadata_directory,
        env=env,
        timeout=timeout,
    )


def _build(
    runner: _Runner,
    source_dir: Path,
    out_dir: Path,
    system: BuildSystem,
    *,
    editable: bool,
    config_settings: Mapping[str, Any] | None,
    metadata_directory: Path | None,
    env: Mapping[str, str] | None,
    timeout: float | None,
) -> Path:
    """Run the build hook with a prepared runner; return the wheel's path."""
    hook = "build_editable" if editable else "build_wheel"
    kwargs: dict[str, Any] = {
        "wheel_directory": str(out_dir),
        "config_settings": dict(config_settings) if config_settings else None,
    }
    if metadata_directory is not None:
        kwargs["metadata_directory"] = str(metadata_directory)
    supported, name = _call_hook(runner, source_dir, system, hook, kwargs, env=env, timeout=timeout)
    if not supported:
        if editable:
            raise BuildError(
                f"the build backend {system.backend} of {source_dir} cannot build editable "
                "installs (PEP 660)",
                hint="upgrade the backend (setuptools>=64, hatchling, flit-core>=3.4, ...)",
            )
        raise BuildError(f"the build backend {system.backend} has no build_wheel hook")
    if not isinstance(name, str) or os.path.basename(name) != name:
        raise BuildError(f"{system.backend}.{hook} returned {name!r}, not a file name")
    wheel = out_dir / name
    if not wheel.is_file():
        raise BuildError(f"{system.backend}.{hook} said it built {name}, but it is not there")
    return wheel


def prepare_metadata(
    source_dir: Path,
    out_dir: Path,
    *,
    build_env_python: Path | str,
    provision: Provision | None = None,
    editable: bool = False,
    isolated: bool = True,
    config_settings: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    extra_requires: Sequence[str] = (),
) -> Path:
    """The ``.dist-info`` directory of ``source_dir`` (in ``out_dir``), from the backend's
    ``prepare_metadata_for_build_*`` hook, or by building the wheel when it has none."""
    source_dir = Path(os.path.abspath(source_dir))
    out_dir = Path(os.path.abspath(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    system = read_build_system(source_dir)
    runner = _prepare_runner(
        source_dir,
        system,
        build_env_python=Path(build_env_python),
        provision=provision,
        isolated=isolated,
        editable=editable,
        config_settings=config_settings,
        env=env,
        timeout=timeout,
        extra_requires=extra_requires,
    )
    hook = "prepare_metadata_for_build_editable" if editable else "prepare_metadata_for_build_wheel"
    kwargs = {
        "metadata_directory": str(out_dir),
        "config_settings": dict(config_settings) if config_settings else None,
    }
    supported, name = _call_hook(runner, source_dir, system, hook, kwargs, env=env, timeout=timeout)
    if supported:
        if not isinstance(name, str) or os.path.basename(name) != name:
            raise BuildError(f"{system.backend}.{hook} returned {name!r}, not a directory name")
        return out_dir / name
    # The hook is optional: build the wheel and take its .dist-info (what pip does).
    with tempfile.TemporaryDirectory(prefix="torchup-meta-") as tmp:
        wheel = _build(
            runner,
            source_dir,
            Path(tmp),
            system,
            editable=editable,
            config_settings=config_settings,
            metadata_directory=None,
            env=env,
            timeout=timeout,
        )
        return _extract_dist_info(wheel, out_dir)


def _extract_dist_info(wheel: Path, out_dir: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        members = [
            n for n in zf.namelist() if n.split("/", 1)[0].endswith(".dist-info") and n[-1] != "/"
        ]
        if not members:
            raise BuildError(f"{wheel.name} has no .dist-info directory")
        for name in members:
            if _member_problem(name):
                raise BuildError(f"{wheel.name} has an unsafe member {name!r}")
            target = out_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(name))
        return out_dir / members[0].split("/", 1)[0]


# -- sdists ----------------------------------------------------------------------------------------


def _check_tar(tf: tarfile.TarFile, sdist: Path) -> None:
    for member in tf.getmembers():
        problem = _member_problem(member.name.rstrip("/") or member.name)
        if problem:
            raise BuildError(f"{sdist.name}: member {member.name!r} {problem}")
        if member.issym() or member.islnk():
            link = member.linkname
            base = os.path.dirname(member.name) if member.issym() else ""
            resolved = os.path.normpath(os.path.join(base, link))
            if os.path.isabs(link) or resolved.startswith(".."):
                raise BuildError(f"{sdist.name}: link {member.name!r} points outside the archive")
        elif not (member.isfile() or member.isdir()):
            raise BuildError(f"{sdist.name}: member {member.name!r} is a device or a pipe")


def unpack_sdist(sdist: Path, dest: Path) -> Path:
    """Unpack a source archive (``.tar.gz``, ``.tar.bz2``, ``.tar.xz``, ``.tar``, ``.zip``)
    into ``dest`` safely; return the project directory (its single top-level directory)."""
    dest.mkdir(parents=True, exist_ok=True)
    name = sdist.name.lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(sdist) as zf:
                for member in zf.namelist():
                    problem = _member_problem(member)
                    if problem:
                        raise BuildError(f"{sdist.name}: member {member!r} {problem}")
                zf.extractall(dest)
        else:
            with tarfile.open(sdist) as tf:
                _check_tar(tf, sdist)
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(dest, filter="data")
                else:  # pragma: no cover - Pythons without PEP 706; members checked above
                    tf.extractall(dest)
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise BuildError(f"cannot unpack {sdist.name}: {exc}") from exc
    entries = [p for p in dest.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return dest
