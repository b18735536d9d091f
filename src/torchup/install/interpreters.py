"""Find Python interpreters, describe them, and pick the environment to install into.

An :class:`Interpreter` is everything torchup needs to know about a Python: its version, prefixes,
marker environment, wheel tags and install scheme. Asking an interpreter about itself costs a
subprocess (~30 ms), so answers are cached in a JSON file keyed by the executable's path and
modification time; the cache directory is passed in (no hidden global state).

Nothing here reads ``os.environ``: ``PATH``, ``VIRTUAL_ENV`` and the pyenv root are parameters,
so the CLI captures them once and tests pass whatever they like.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import packaging
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import parse_tag
from packaging.version import InvalidVersion, Version

from torchup.errors import EnvironmentError_
from torchup.target import Target

__all__ = [
    "Interpreter",
    "PythonRequest",
    "Scheme",
    "find_python",
    "parse_python_request",
    "query_interpreter",
    "select_environment",
]

# Bump when the probe's output changes shape: old cache files are then ignored, not misread.
_CACHE_VERSION = 2
_CACHE_BUCKET = f"interpreters-v{_CACHE_VERSION}"
_VENV_PLACEHOLDER = "/__torchup_venv__"
_WINDOWS = os.name == "nt"

# Runs inside the interpreter being described, which may be older than torchup's own Python:
# keep it Python 3.9-compatible and stdlib-only (except `packaging`, put on sys.path by us so tags
# are computed by the same packaging version that ranks wheels).
_PROBE = r"""
import json, os, platform, sys, sysconfig
sys.path.insert(0, sys.argv[1])
from packaging import markers, tags

def _venv_home_executable():
    cfg = os.path.join(sys.prefix, "pyvenv.cfg")
    home = None
    try:
        with open(cfg, encoding="utf-8") as f:
            for line in f:
                key, sep, value = line.partition("=")
                if sep and key.strip().lower() == "home":
                    home = value.strip()
    except OSError:
        return None
    if not home:
        return None
    names = ["python%d.%d" % sys.version_info[:2], "python3", "python"]
    if os.name == "nt":
        names = ["python.exe"]
    for name in names:
        candidate = os.path.join(home, name)
        if os.path.exists(candidate):
            return candidate
    return None

is_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix) or hasattr(sys, "real_prefix")
base_executable = getattr(sys, "_base_executable", None) or sys.executable
if is_venv and (base_executable == sys.executable
                or os.path.dirname(base_executable).startswith(sys.prefix)):
    base_executable = _venv_home_executable() or base_executable

names = sysconfig.get_scheme_names()
if "venv" in names:
    venv_scheme = "venv"
elif os.name == "nt":
    venv_scheme = "nt"
else:
    venv_scheme = "posix_prefix"
p = sys.argv[2]
venv_paths = sysconfig.get_paths(
    scheme=venv_scheme,
    vars={"base": p, "platbase": p},
)
paths = sysconfig.get_paths()
managed = None
if not is_venv:
    marker = os.path.join(paths.get("stdlib", ""), "EXTERNALLY-MANAGED")
    if os.path.isfile(marker):
        import configparser
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(marker, encoding="utf-8")
            managed = parser.get("externally-managed", "Error", fallback="")
        except Exception:
            managed = ""
        managed = managed or "this Python's packages are managed by the operating system"

print(json.dumps({
    "executable": sys.executable,
    "base_executable": base_executable,
    "prefix": sys.prefix,
    "base_prefix": getattr(sys, "base_prefix", sys.prefix),
    "is_venv": is_venv,
    "implementation": sys.implementation.name,
    "version": platform.python_version(),
    "markers": markers.default_environment(),
    "tags": [str(t) for t in tags.sys_tags()],
    "paths": paths,
    "venv_paths": venv_paths,
    "gil_disabled": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "pointer_bits": 64 if sys.maxsize > 2**32 else 32,
    "externally_managed": managed,
}))
"""


@dataclass(frozen=True)
class Scheme:
    """Where each part of a wheel goes in one environment (the ``installer`` scheme names).

    ``headers`` is the *base* headers directory; a distribution's headers go in
    ``headers / <dist name>`` (see :meth:`for_dist`), as pip does.
    """

    purelib: Path
    platlib: Path
    scripts: Path
    data: Path
    headers: Path

    def for_dist(self, dist_name: str) -> dict[str, str]:
        """The ``{scheme name: directory}`` mapping the ``installer`` library expects."""
        return {
            "purelib": str(self.purelib),
            "platlib": str(self.platlib),
            "scripts": str(self.scripts),
            "data": str(self.data),
            "headers": str(self.headers / dist_name),
        }

    @property
    def site_dirs(self) -> tuple[Path, ...]:
        """purelib and platlib, without duplicates (they are usually the same directory)."""
        return (self.purelib,) if self.purelib == self.platlib else (self.purelib, self.platlib)

    @property
    def roots(self) -> tuple[Path, ...]:
        """Every directory a wheel may write under; nothing outside them is ever touched."""
        out: dict[Path, None] = {}
        for path in (self.purelib, self.platlib, self.scripts, self.data, self.headers):
            out.setdefault(path, None)
        return tuple(out)


@dataclass(frozen=True)
class Interpreter:
    """One Python interpreter, as it described itself (see :func:`query_interpreter`).

    ``executable`` is ``sys.executable`` as the interpreter reports it (so a pyenv shim found on
    PATH is replaced by the real binary); ``base_executable`` is the non-venv Python behind it.
    """

    executable: Path
    version: Version
    sys_prefix: Path
    base_prefix: Path
    is_venv: bool
    base_executable: Path
    implementation: str = "cpython"
    markers: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    tags: tuple[str, ...] = field(default=(), compare=False)
    paths: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    venv_paths: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    gil_disabled: bool = False
    pointer_bits: int = 64
    externally_managed: str | None = None

    # -- derived values --------------------------------------------------------------------
    @property
    def python_version(self) -> str:
        """``"3.12"``."""
        return f"{self.version.major}.{self.version.minor}"

    @property
    def scheme(self) -> Scheme:
        """The install scheme of this interpreter's environment (pip's layout for headers)."""
        paths = self.paths
        if self.is_venv:
            headers = self.sys_prefix / "include" / "site" / f"python{self.python_version}"
        else:
            headers = Path(paths.get("include", self.sys_prefix / "include"))
        return Scheme(
            purelib=Path(paths["purelib"]),
            platlib=Path(paths["platlib"]),
            scripts=Path(paths["scripts"]),
            data=Path(paths["data"]),
            headers=headers,
        )

    @property
    def site_packages(self) -> tuple[Path, ...]:
        """The environment's site-packages directories (purelib, platlib)."""
        return self.scheme.site_dirs

    def target(self, *, torch_backend: str | None = None) -> Target:
        """The :class:`Target` (markers + tags) this interpreter installs for."""
        return Target.from_markers(
            self.markers,
            (t for s in self.tags for t in parse_tag(s)),
            torch_backend=torch_backend,
            label=str(self.executable),
        )

    def for_venv(self, venv: Path, executable: Path) -> Interpreter:
        """This interpreter as seen from inside a new venv at ``venv`` (no subprocess)."""
        root = str(venv)
        paths = {k: v.replace(_VENV_PLACEHOLDER, root, 1) for k, v in self.venv_paths.items()}
        return Interpreter(
            executable=executable,
            version=self.version,
            sys_prefix=venv,
            base_prefix=self.base_prefix,
            is_venv=True,
            base_executable=self.base_executable,
            implementation=self.implementation,
            markers=dict(self.markers),
            tags=self.tags,
            paths=paths,
            venv_paths=dict(self.venv_paths),
            gil_disabled=self.gil_disabled,
            pointer_bits=self.pointer_bits,
            externally_managed=None,
        )

    # -- (de)serialisation -----------------------------------------------------------------
    @classmethod
    def from_probe(cls, data: Mapping[str, Any]) -> Interpreter:
        """Build from the probe script's JSON (also the cache file format)."""
        return cls(
            executable=Path(data["executable"]),
            version=Version(data["version"]),
            sys_prefix=Path(data["prefix"]),
            base_prefix=Path(data["base_prefix"]),
            is_venv=bool(data["is_venv"]),
            base_executable=Path(data["base_executable"]),
            implementation=data.get("implementation", "cpython"),
            markers=dict(data["markers"]),
            tags=tuple(data["tags"]),
            paths=dict(data["paths"]),
            venv_paths=dict(data.get("venv_paths", {})),
            gil_disabled=bool(data.get("gil_disabled", False)),
            pointer_bits=int(data.get("pointer_bits", 64)),
            externally_managed=data.get("externally_managed"),
        )

    def to_probe(self) -> dict[str, Any]:
        """Inverse of :meth:`from_probe`."""
        return {
            "executable": str(self.executable),
            "version": str(self.version),
            "prefix": str(self.sys_prefix),
            "base_prefix": str(self.base_prefix),
            "is_venv": self.is_venv,
            "base_executable": str(self.base_executable),
            "implementation": self.implementation,
            "markers": dict(self.markers),
            "tags": list(self.tags),
            "paths": dict(self.paths),
            "venv_paths": dict(self.venv_paths),
            "gil_disabled": self.gil_disabled,
            "pointer_bits": self.pointer_bits,
            "externally_managed": self.externally_managed,
        }


# -- querying ----------------------------------------------------------------------------------


def _cache_key(executable: Path) -> list[Any] | None:
    try:
        link = executable.lstat()
        real = executable.stat()
    except OSError:
        return None
    # lstat catches a venv's python re-pointed at another base; stat catches the base upgraded.
    return [str(executable), link.st_mtime_ns, real.st_mtime_ns, real.st_ino, real.st_size]


def _cache_file(cache_dir: Path, executable: Path) -> Path:
    digest = hashlib.sha256(str(executable).encode()).hexdigest()[:32]
    return cache_dir / _CACHE_BUCKET / f"{digest}.json"


def query_interpreter(executable: Path | str, *, cache_dir: Path | None = None) -> Interpreter:
    """Ask ``executable`` about itself (one subprocess), or read the cached answer.

    Raises :class:`EnvironmentError_` when it cannot be run or does not answer like a Python.
    """
    exe = Path(os.path.abspath(executable))
    key = _cache_key(exe)
    if key is None:
        raise EnvironmentError_(f"no Python interpreter at {exe}")
    cache_path = _cache_file(cache_dir, exe) if cache_dir is not None else None
    if cache_path is not None:
        try:
            cached = json.loads(cache_path.read_text(encoding="utf-8"))
            if cached.get("key") == key:
                return Interpreter.from_probe(cached["info"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a missing or corrupt cache entry is just a miss
    packaging_root = str(Path(packaging.__file__).resolve().parent.parent)
    try:
        proc = subprocess.run(
            [str(exe), "-I", "-c", _PROBE, packaging_root, _VENV_PLACEHOLDER],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise EnvironmentError_(f"could not run the Python interpreter {exe}: {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise EnvironmentError_(
            f"the Python interpreter {exe} failed when queried:\n{tail}",
            hint="torchup supports CPython and PyPy 3.9 and newer",
        )
    try:
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        interpreter = Interpreter.from_probe(info)
    except (ValueError, KeyError, IndexError, InvalidVersion) as exc:
        raise EnvironmentError_(f"{exe} did not answer like a Python interpreter") from exc
    if cache_path is not None:
        _write_json_atomic(cache_path, {"key": key, "info": info})
    return interpreter


def _write_json_atomic(path: Path, data: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # the cache is an optimisation: a read-only cache dir must not break anything


# -- requests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PythonRequest:
    """A parsed ``--python`` value.

    ``kind`` is ``any`` (no preference), ``version`` (``3.12``, ``3.12.1``, ``>=3.11``,
    ``cpython3.12``), ``name`` (an executable name such as ``python3.12`` to look up on PATH) or
    ``path`` (a file or directory). A name that looks like a version (``python3.12``) also
    carries ``specifier`` so that pyenv installs are searched when PATH has no such command.
    """

    kind: Literal["any", "version", "name", "path"]
    raw: str = ""
    specifier: SpecifierSet | None = None
    minor: tuple[int, int] | None = None

    def matches(self, version: Version) -> bool:
        """Whether an interpreter of ``version`` satisfies the request."""
        if self.specifier is None:
            return True
        return self.specifier.contains(version, prereleases=True)


_VERSION_RE = re.compile(r"^(?:cpython|python|py|cp)?[@-]?(\d+(?:\.\d+){0,2})([abrc]+\d+)?$", re.I)


def parse_python_request(request: str | None) -> PythonRequest:
    """Classify a ``--python`` value (pure; see :class:`PythonRequest`)."""
    if request is None or request.strip() in ("", "any", "default"):
        return PythonRequest("any")
    raw = request.strip()
    if os.sep in raw or "/" in raw or raw.startswith(("~", ".")) or (_WINDOWS and ":" in raw):
        return PythonRequest("path", raw=raw)
    m = _VERSION_RE.match(raw)
    if m:
        parts = [int(p) for p in m.group(1).split(".")]
        pre = m.group(2) or ""
        text = ".".join(str(p) for p in parts)
        if len(parts) == 3 or pre:
            spec = SpecifierSet(f"=={text}{pre}")
        else:
            spec = SpecifierSet(f"=={text}.*")
        minor = (parts[0], parts[1]) if len(parts) >= 2 else None
        kind: Literal["version", "name"] = "name" if raw.lower().startswith("python") else "version"
        if kind == "name" and len(parts) < 2 and not pre:
            # `python3` names a command, and any Python 3 satisfies it.
            return PythonRequest("name", raw=raw, specifier=spec)
        return PythonRequest(kind, raw=raw, specifier=spec, minor=minor)
    try:
        spec = SpecifierSet(raw)
    except InvalidSpecifier:
        return PythonRequest("name", raw=raw)
    return PythonRequest("version", raw=raw, specifier=spec)


# -- discovery ---------------------------------------------------------------------------------


def _exe_name(name: str) -> str:
    return name + ".exe" if _WINDOWS and not name.endswith(".exe") else name


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _path_dirs(path_env: str, *, skip: Path | None = None) -> list[Path]:
    out: list[Path] = []
    for entry in path_env.split(os.pathsep):
        if not entry:
            continue
        directory = Path(entry)
        if skip is not None and directory == skip:
            continue
        out.append(directory)
    return out


def _pyenv_pythons(pyenv_root: Path | None) -> list[tuple[Version | None, Path]]:
    """pyenv-style ``versions/*/bin/python3``, newest parseable version first."""
    if pyenv_root is None:
        return []
    versions = pyenv_root / "versions"
    try:
        entries = sorted(versions.iterdir())
    except OSError:
        return []
    found: list[tuple[Version | None, Path]] = []
    for entry in entries:
        bindir = entry / ("Scripts" if _WINDOWS else "bin")
        for name in ("python3", "python"):
            exe = bindir / _exe_name(name)
            if _is_executable(exe):
                try:
                    version: Version | None = Version(entry.name)
                except InvalidVersion:
                    version = None  # e.g. "pypy3.10-7.3.12": must be asked
                found.append((version, exe))
                break
    found.sort(key=lambda item: (item[0] is not None, item[0] or Version("0")), reverse=True)
    return found


def _candidates(
    request: PythonRequest, path_env: str, pyenv_root: Path | None
) -> Iterator[tuple[Path, bool]]:
    """Executables worth asking, in preference order; the bool says "must check the version"."""
    # pyenv shims are shell scripts that pick a version by themselves, and fail loudly for
    # versions that are not selected; when we search pyenv's versions directly they only cost.
    shims = pyenv_root / "shims" if pyenv_root is not None else None
    if request.kind == "any":
        for directory in _path_dirs(path_env):
            for name in ("python3", "python"):
                yield directory / _exe_name(name), False
        for _, exe in _pyenv_pythons(pyenv_root):
            yield exe, False
        return
    if request.kind == "name":
        for directory in _path_dirs(path_env):
            yield directory / _exe_name(request.raw), True
        if request.specifier is None:
            return
    names: list[str] = []
    if request.minor is not None:
        names.append(f"python{request.minor[0]}.{request.minor[1]}")
    names += ["python3", "python"]
    for directory in _path_dirs(path_env, skip=shims):
        for name in names:
            yield directory / _exe_name(name), True
    for version, exe in _pyenv_pythons(pyenv_root):
        if version is not None and not request.matches(version):
            continue
        yield exe, True


def _resolve_path_request(raw: str, cache_dir: Path | None) -> Interpreter:
    path = Path(os.path.expanduser(raw))
    if path.is_dir():
        bindir = path / ("Scripts" if _WINDOWS else "bin")
        for name in ("python", "python3"):
            exe = bindir / _exe_name(name)
            if _is_executable(exe):
                return query_interpreter(exe, cache_dir=cache_dir)
        raise EnvironmentError_(
            f"{path} is a directory without a Python interpreter in {bindir.name}/",
            hint="pass the path of a Python executable or of a virtual environment",
        )
    if not path.exists():
        raise EnvironmentError_(f"no Python interpreter at {path}: the path does not exist")
    return query_interpreter(path, cache_dir=cache_dir)


def find_python(
    request: str | None,
    *,
    path_env: str,
    pyenv_root: Path | None = None,
    cache_dir: Path | None = None,
) -> Interpreter:
    """Find an interpreter for ``request`` (``None``, ``3.12``, ``3.12.1``, ``python3.12``,
    ``>=3.11``, a path to an executable, or a venv/prefix directory).

    Searches the directories of ``path_env`` in order, then ``<pyenv_root>/versions/*``
    (newest first). Each candidate is queried at most once per change of its file (cache).
    Raises :class:`EnvironmentError_` when nothing matches.
    """
    parsed = parse_python_request(request)
    if parsed.kind == "path":
        return _resolve_path_request(parsed.raw, cache_dir)
    seen: set[Path] = set()
    for exe, check in _candidates(parsed, path_env, pyenv_root):
        if exe in seen or not _is_executable(exe):
            continue
        seen.add(exe)
        try:
            interpreter = query_interpreter(exe, cache_dir=cache_dir)
        except EnvironmentError_:
            continue  # a broken or foreign executable on PATH: keep looking
        if not check or parsed.matches(interpreter.version):
            return interpreter
    where = "PATH" + (f" and {pyenv_root / 'versions'}" if pyenv_root is not None else "")
    what = f"matching {parsed.raw!r}" if parsed.kind != "any" else "at all"
    raise EnvironmentError_(
        f"no Python interpreter found {what} (searched {where})",
        hint="install that version (for example with pyenv) or pass --python with a path",
    )


def select_environment(
    python: str | None = None,
    virtual_env: str | None = None,
    *,
    cwd: Path,
    system: bool = False,
    path_env: str = "",
    pyenv_root: Path | None = None,
    cache_dir: Path | None = None,
) -> Interpreter:
    """The interpreter whose environment ``torchup pip ...`` acts on.

    Order, as uv: ``--python`` (any interpreter, venv or not), then ``--system`` (the first
    Python on PATH), then ``$VIRTUAL_ENV`` (its value passed in), then ``.venv`` in ``cwd`` or
    the nearest parent directory. Otherwise :class:`EnvironmentError_` says how to make one.
    """
    if python:
        return find_python(python, path_env=path_env, pyenv_root=pyenv_root, cache_dir=cache_dir)
    if system:
        return find_python(None, path_env=path_env, pyenv_root=pyenv_root, cache_dir=cache_dir)
    if virtual_env:
        venv = Path(virtual_env)
        if not (venv / "pyvenv.cfg").is_file():
            raise EnvironmentError_(
                f"VIRTUAL_ENV points at {venv}, which is not a virtual environment",
                hint="deactivate it, or create it with `torchup venv " + str(venv) + "`",
            )
        return _resolve_path_request(str(venv), cache_dir)
    for directory in (cwd, *cwd.parents):
        candidate = directory / ".venv"
        if (candidate / "pyvenv.cfg").is_file():
            return _resolve_path_request(str(candidate), cache_dir)
    raise EnvironmentError_(
        f"no virtual environment found in {cwd} or its parents, and none is active",
        hint="create one with `torchup venv`, or pass `--system` to use the system Python",
    )
