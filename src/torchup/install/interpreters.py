"""Find Python interpreters, describe them, and pick the environment to install into.

An :class:`Interpreter` is everything torchup needs to know about a Python: its version, prefixes,
marker environment, wheel tags and install scheme. Asking an interpreter about itself costs a
subprocess (~30-80 ms), so answers are cached in a JSON file keyed by the executable's path and
modification time; the cache directory is passed in (no hidden global state). A virtual
environment whose base interpreter's answer is cached is described from that answer and its
``pyvenv.cfg``, without a subprocess (see :func:`_derive_from_base`): a fresh venv is then as
cheap to install into as a known one. A venv whose base is not cached yet gets its base asked
in its place, so the next venv of that base needs no subprocess either.

Nothing here reads ``os.environ``: ``PATH``, ``VIRTUAL_ENV`` and the pyenv root are parameters,
so the CLI captures them once and tests pass whatever they like.

Start-up matters (``torchup venv`` is mostly start-up): ``subprocess``, ``hashlib``,
``packaging.specifiers``/``tags`` and :mod:`torchup.target` are imported where they are used.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from packaging.version import InvalidVersion, Version

from torchup.errors import EnvironmentError_

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Iterator, Mapping
    from typing import Any, ClassVar, Literal

    from packaging.specifiers import SpecifierSet

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

# Bump when the probe's output changes shape or meaning: old cache files are then ignored, not
# misread. (3: a symlinked venv python reports the binary it resolves to as base_executable.)
_CACHE_VERSION = 3
_CACHE_BUCKET = f"interpreters-v{_CACHE_VERSION}"
_VENV_PLACEHOLDER = "/__torchup_venv__"
_WINDOWS = os.name == "nt"

# Runs inside the interpreter being described, which may be older than torchup's own Python:
# keep it Python 3.9-compatible and stdlib-only (except `packaging`, put on sys.path by us so tags
# are computed by the same packaging version that ranks wheels).
_PROBE = r"""
import json, os, platform, sys, sysconfig
if sys.flags.no_site:
    # Run with -S (see _probe_flags): the site-packages still go on the path, where packaging
    # looks for a PEP 600 _manylinux module; only their .pth files are not run.
    import site
    sys.path.extend(d for d in site.getsitepackages() if d not in sys.path)
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
real_executable = os.path.realpath(sys.executable)
if is_venv and os.path.isfile(real_executable) and not real_executable.startswith(
        os.path.join(sys.prefix, "")):
    # A venv python linked to its base: the binary it resolves to, the same answer on every
    # CPython (sys._base_executable differs between releases) and one torchup can derive.
    base_executable = real_executable
elif is_venv and (base_executable == sys.executable
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


class _Record:
    """An immutable record compared by value, as a frozen dataclass is.

    Written out because importing ``dataclasses`` (it imports ``inspect``) costs ~6 ms, a tenth
    of ``torchup venv``. ``_FIELDS`` lists the fields in order (repr), ``_COMPARE`` those that
    take part in ``==`` and ``hash``. Like a dataclass, an instance keeps its fields in its
    ``__dict__`` (so copy and pickle work) and refuses assignment.
    """

    _FIELDS: ClassVar[tuple[str, ...]] = ()
    _COMPARE: ClassVar[tuple[str, ...]] = ()

    def _init(self, **values: object) -> None:
        vars(self).update(values)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")  # as FrozenInstanceError

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._COMPARE)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, _Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        body = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS)
        return f"{type(self).__qualname__}({body})"


class Scheme(_Record):
    """Where each part of a wheel goes in one environment (the ``installer`` scheme names).

    ``headers`` is the *base* headers directory; a distribution's headers go in
    ``headers / <dist name>`` (see :meth:`for_dist`), as pip does.
    """

    purelib: Path
    platlib: Path
    scripts: Path
    data: Path
    headers: Path
    _FIELDS = _COMPARE = ("purelib", "platlib", "scripts", "data", "headers")

    def __init__(self, purelib: Path, platlib: Path, scripts: Path, data: Path, headers: Path) -> None:
        self._init(purelib=purelib, platlib=platlib, scripts=scripts, data=data, headers=headers)

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


class Interpreter(_Record):
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
    implementation: str
    markers: Mapping[str, str]
    tags: tuple[str, ...]
    paths: Mapping[str, str]
    venv_paths: Mapping[str, str]
    gil_disabled: bool
    pointer_bits: int
    externally_managed: str | None
    _FIELDS = (
        "executable",
        "version",
        "sys_prefix",
        "base_prefix",
        "is_venv",
        "base_executable",
        "implementation",
        "markers",
        "tags",
        "paths",
        "venv_paths",
        "gil_disabled",
        "pointer_bits",
        "externally_managed",
    )
    # The marker environment, tags and paths follow from the rest: they stay out of == and hash.
    _COMPARE = tuple(f for f in _FIELDS if f not in ("markers", "tags", "paths", "venv_paths"))

    def __init__(
        self,
        executable: Path,
        version: Version,
        sys_prefix: Path,
        base_prefix: Path,
        is_venv: bool,
        base_executable: Path,
        implementation: str = "cpython",
        markers: Mapping[str, str] | None = None,
        tags: tuple[str, ...] = (),
        paths: Mapping[str, str] | None = None,
        venv_paths: Mapping[str, str] | None = None,
        gil_disabled: bool = False,
        pointer_bits: int = 64,
        externally_managed: str | None = None,
    ) -> None:
        self._init(
            executable=executable,
            version=version,
            sys_prefix=sys_prefix,
            base_prefix=base_prefix,
            is_venv=is_venv,
            base_executable=base_executable,
            implementation=implementation,
            markers={} if markers is None else markers,
            tags=tags,
            paths={} if paths is None else paths,
            venv_paths={} if venv_paths is None else venv_paths,
            gil_disabled=gil_disabled,
            pointer_bits=pointer_bits,
            externally_managed=externally_managed,
        )

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
        # Made once per backend (it parses ~900 tags, ~10 ms) and kept beside the fields
        # (vars(), as _init does; not a field: equality and repr ignore it).
        key = f"_target_{torch_backend}"
        made: Target | None = vars(self).get(key)
        if made is None:
            from packaging.tags import parse_tag

            from torchup.target import Target

            made = vars(self)[key] = Target.from_markers(
                self.markers,
                (t for s in self.tags for t in parse_tag(s)),
                torch_backend=torch_backend,
                label=str(self.executable),
            )
        return made

    def for_venv(
        self, venv: Path, executable: Path, *, base_executable: Path | None = None
    ) -> Interpreter:
        """This interpreter as seen from inside a venv at ``venv`` (no subprocess).

        ``base_executable`` is what the venv's python reports as its base (see the probe);
        by default the binary this interpreter's base executable resolves to, which is what a
        venv whose python links to it reports.
        """
        root = str(venv)
        paths = {k: v.replace(_VENV_PLACEHOLDER, root, 1) for k, v in self.venv_paths.items()}
        if base_executable is None:
            base_executable = Path(os.path.realpath(self.base_executable))
        return self._replace(
            executable=executable, sys_prefix=venv, is_venv=True,
            base_executable=base_executable, paths=paths, externally_managed=None,
        )

    def _replace(self, **changes: Any) -> Interpreter:
        """A copy of this interpreter with ``changes`` (field name -> value)."""
        return Interpreter(**{**{name: getattr(self, name) for name in self._FIELDS}, **changes})

    def for_directory(self, root: Path, *, layout: Literal["target", "prefix"]) -> Interpreter:
        """This interpreter installing into ``root`` instead of its environment (pip's and
        uv's ``--target`` / ``--prefix``): markers and tags stay this interpreter's.

        ``target``: packages directly in ``root``, scripts in ``root/bin``, data in ``root``.
        ``prefix``: the layout of a prefix install, ``root/lib/pythonX.Y/site-packages`` and
        ``root/bin``, as a venv at ``root`` would have it.
        """
        if layout == "target":
            base = str(root)
            paths = {
                "purelib": base, "platlib": base, "scripts": f"{base}/bin", "data": base,
                "include": f"{base}/include",
            }
        else:
            paths = {k: v.replace(_VENV_PLACEHOLDER, str(root), 1) for k, v in self.venv_paths.items()}
        # externally_managed: the interpreter's own environment is not touched
        return self._replace(sys_prefix=root, is_venv=False, paths=paths, externally_managed=None)

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
    # lstat catches a venv's python re-pointed at another base; stat catches the base upgraded;
    # the packaging version, tags computed by another packaging.
    return [
        str(executable),
        link.st_mtime_ns,
        real.st_mtime_ns,
        real.st_ino,
        real.st_size,
        _packaging_version(),
    ]


def _packaging_version() -> str:
    import packaging  # already loaded with packaging.version

    return str(packaging.__version__)


def _sha256_hex(text: str) -> str:
    # hashlib's import loads OpenSSL (~3 ms, a tenth of `torchup venv`); the builtin module it
    # falls back to gives the same digest for a few hundred bytes of path.
    try:
        from _sha256 import sha256  # type: ignore[import-not-found]  # CPython <= 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found,no-redef]  # CPython >= 3.12
        except ImportError:
            from hashlib import sha256  # type: ignore[assignment]
    return str(sha256(text.encode()).hexdigest())


def _cache_file(cache_dir: Path, executable: Path) -> Path:
    digest = _sha256_hex(str(executable))[:32]
    return cache_dir / _CACHE_BUCKET / f"{digest}.json"


def _read_cached(exe: Path, key: list[Any], cache_dir: Path) -> Interpreter | None:
    """The cached answer for ``exe`` if it was recorded under ``key``; None otherwise."""
    try:
        cached = json.loads(_cache_file(cache_dir, exe).read_text(encoding="utf-8"))
        if cached.get("key") == key:
            return Interpreter.from_probe(cached["info"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, InvalidVersion):
        pass  # a missing or corrupt cache entry is just a miss
    return None


def _probe_flags(exe: Path) -> tuple[str, ...]:
    """How to start ``exe`` for the probe: isolated (``-I``: no user site, no PYTHON* variables),
    and without ``site`` (``-S``) unless it is a venv's python.

    ``site`` runs every .pth file of the site-packages, which some installs make slow (one here
    imports certifi at every start: ``python -I -c pass`` takes 44 ms, 12 ms with ``-S``; the
    probe went from 67 to 56 ms); the probe puts the site-packages on the path itself. A venv's python needs ``site``: without it, ``sys.prefix`` is its base's
    (PEP 405 leaves setting it to ``site``), so it is recognised by its pyvenv.cfg, which sits
    next to the executable or one directory up, as Python itself looks for it."""
    if any((d / "pyvenv.cfg").is_file() for d in (exe.parent, exe.parent.parent)):
        return ("-I",)
    return ("-I", "-S")


def query_interpreter(executable: Path | str, *, cache_dir: Path | None = None) -> Interpreter:
    """Ask ``executable`` about itself (one subprocess), or read the cached answer.

    A venv's python not in the cache is described from its base interpreter's cached answer
    when that is certain to give what asking it would (:func:`_derive_from_base`).
    Raises :class:`EnvironmentError_` when it cannot be run or does not answer like a Python.
    """
    exe = Path(os.path.abspath(executable))
    key = _cache_key(exe)
    if key is None:
        raise EnvironmentError_(f"no Python interpreter at {exe}")
    if cache_dir is not None:
        cached = _read_cached(exe, key, cache_dir)
        if cached is None:
            cached = _derive_from_base(exe, cache_dir, ask_base=True)
        if cached is not None:
            return cached
    import subprocess

    import packaging

    packaging_root = str(Path(packaging.__file__).resolve().parent.parent)
    try:
        proc = subprocess.run(
            [str(exe), *_probe_flags(exe), "-c", _PROBE, packaging_root, _VENV_PLACEHOLDER],
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
    if cache_dir is not None:
        _write_json_atomic(_cache_file(cache_dir, exe), {"key": key, "info": info})
    return interpreter


# -- venvs described from their base interpreter -----------------------------------------------
#
# Running a fresh venv's python to learn what its base already told us costs a subprocess
# (~80 ms: most of `torchup pip install` into a new venv). Everything the probe reports for a
# venv follows from the base's answer, the venv's location and its python link, *if* the venv is
# laid out the usual way; each condition below rules out a layout where that is not certain, and
# any doubt returns None: the caller then asks the interpreter. tests/unit/install/
# test_interpreters_derive.py compares the result with real answers.

# CPython releases whose venv start-up (getpath, site) was checked to agree with the derivation.
_DERIVABLE_MINORS = ((3, 9), (3, 10), (3, 11), (3, 12), (3, 13))


def _read_pyvenv_cfg(path: Path) -> dict[str, str] | None:
    """``key -> value`` of a pyvenv.cfg, parsed as CPython's start-up does (last key wins)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out


def _release(text: str) -> tuple[int, ...]:
    """The leading ``X.Y.Z`` numbers of ``3.12.1``, ``3.12.1.final.0`` or ``3.13.0rc1``."""
    out: list[int] = []
    for part in text.split(".")[:3]:
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        out.append(int(digits))
        if len(digits) != len(part):
            break
    return tuple(out)


def _link_hops(path: str) -> list[str]:
    """Each path a symlink chain passes through after ``path`` (absolute, in order)."""
    hops: list[str] = []
    current = path
    for _ in range(40):  # a link loop is no Python
        try:
            target = os.readlink(current)
        except OSError:
            break
        current = os.path.normpath(os.path.join(os.path.dirname(current), target))
        if current in hops:
            break
        hops.append(current)
    return hops


def _glibc_minor() -> int | None:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):
        return None
    name, _, version = text.partition(" ")
    parts = _release(version)
    return parts[1] if name == "glibc" and len(parts) >= 2 and parts[0] == 2 else None


def _tags_still_current(base: Interpreter) -> bool:
    """Whether the C library the base's cached tags were computed for is still this one."""
    for tag in base.tags:
        if "musllinux_" in tag:
            return False  # not checked here: ask the interpreter
        marker = tag.find("manylinux_2_")
        if marker >= 0:
            minor = tag[marker + len("manylinux_2_") :].split("_", 1)[0]
            return minor.isdigit() and int(minor) == _glibc_minor()
    return True  # no glibc tags to go stale


def _has_manylinux_override(dirs: tuple[Path, ...]) -> bool:
    """A PEP 600 ``_manylinux`` module on the path changes the tags packaging computes."""
    from importlib.machinery import EXTENSION_SUFFIXES

    names = ["_manylinux.py", "_manylinux", *("_manylinux" + s for s in EXTENSION_SUFFIXES)]
    return any(os.path.lexists(d / name) for d in dirs for name in names)


def _derive_from_base(exe: Path, cache_dir: Path, *, ask_base: bool = False) -> Interpreter | None:
    """What the probe would report for the venv python ``exe``, from its base's cached answer;
    None whenever that is not certain.

    ``ask_base``: when the base's answer is not cached, ask the base (one subprocess, as asking
    the venv would cost) and cache it, so that every later venv of that base is described
    without one: venvs made by ``python -m venv``, by uv or with another cache directory than
    the install's (a fresh CI or tox venv each run) would otherwise be asked one by one.
    """
    if sys.platform != "linux" or exe.parent.name != "bin":
        return None
    venv = exe.parent.parent
    cfg = _read_pyvenv_cfg(venv / "pyvenv.cfg")
    # Start-up reads a pyvenv.cfg next to the executable first.
    if cfg is None or os.path.lexists(exe.parent / "pyvenv.cfg"):
        return None
    home = cfg.get("home")
    release = _release(cfg.get("version") or cfg.get("version_info") or "")
    real = os.path.realpath(exe)
    if not home or len(release) < 2 or not os.path.isfile(real):
        return None
    # The venv's python must link out of the venv, into `home`, exactly (no symlinked home: its
    # base prefix would then depend on how this CPython searches), with the standard layout
    # <prefix>/bin/python under it.
    if real.startswith(os.path.join(str(venv), "")) or os.path.dirname(real) != home:
        return None
    base = None
    major_minor = f"{release[0]}.{release[1]}"
    names = (f"python{major_minor}", f"python{release[0]}", "python")
    for candidate in (*_link_hops(str(exe)), *(os.path.join(home, n) for n in names), real):
        path = Path(candidate)
        key = _cache_key(path)
        found = _read_cached(path, key, cache_dir) if key is not None else None
        if found is not None and os.path.realpath(candidate) == real:
            base = found
            break
    if base is None and ask_base:
        try:
            base = query_interpreter(real, cache_dir=cache_dir)
        except EnvironmentError_:
            return None  # the caller asks the venv's python, and reports its failure
    if base is None or base.is_venv or base.implementation != "cpython":
        return None
    if base.version.release[:2] not in _DERIVABLE_MINORS:
        return None
    if base.version.release[: len(release)] != release[:3]:
        return None  # pyvenv.cfg names another Python than the one its python runs
    if str(base.base_prefix) != os.path.dirname(home) or base.sys_prefix != base.base_prefix:
        return None
    if "purelib" not in base.paths or not any(
        v.startswith(_VENV_PLACEHOLDER) for v in base.venv_paths.values()
    ):
        return None
    # The marker environment includes uname; the cached answer may predate a kernel update.
    uname = os.uname()
    markers = base.markers
    if (
        markers.get("platform_release") != uname.release
        or markers.get("platform_version") != uname.version
        or markers.get("platform_machine") != uname.machine
        or markers.get("sys_platform") != "linux"
    ):
        return None
    if not _tags_still_current(base):
        return None
    derived = base.for_venv(venv, exe, base_executable=Path(real))
    site_dirs = derived.site_packages
    if cfg.get("include-system-site-packages", "").lower() != "true":
        site_dirs += base.site_packages  # the base saw these when its tags were computed
    if _has_manylinux_override(site_dirs):
        return None
    return derived


def _write_json_atomic(path: Path, data: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # the cache is an optimisation: a read-only cache dir must not break anything


# -- requests ----------------------------------------------------------------------------------


class PythonRequest(_Record):
    """A parsed ``--python`` value.

    ``kind`` is ``any`` (no preference), ``version`` (``3.12``, ``3.12.1``, ``>=3.11``,
    ``cpython3.12``), ``name`` (an executable name such as ``python3.12`` to look up on PATH) or
    ``path`` (a file or directory). A name that looks like a version (``python3.12``) also
    carries ``specifier`` so that pyenv installs are searched when PATH has no such command.
    """

    kind: Literal["any", "version", "name", "path"]
    raw: str
    specifier: SpecifierSet | None
    minor: tuple[int, int] | None
    _FIELDS = _COMPARE = ("kind", "raw", "specifier", "minor")

    def __init__(
        self,
        kind: Literal["any", "version", "name", "path"],
        raw: str = "",
        specifier: SpecifierSet | None = None,
        minor: tuple[int, int] | None = None,
    ) -> None:
        self._init(kind=kind, raw=raw, specifier=specifier, minor=minor)

    def matches(self, version: Version) -> bool:
        """Whether an interpreter of ``version`` satisfies the request."""
        if self.specifier is None:
            return True
        return self.specifier.contains(version, prereleases=True)


_VERSION_PATTERN = r"^(?:cpython|python|py|cp)?[@-]?(\d+(?:\.\d+){0,2})([abrc]+\d+)?$"
_version_re: re.Pattern[str] | None = None


def _version_match(raw: str) -> re.Match[str] | None:
    # Compiled on first use: a path request (`-p .venv`) never needs it.
    global _version_re
    if _version_re is None:
        import re

        _version_re = re.compile(_VERSION_PATTERN, re.I)
    return _version_re.match(raw)


def parse_python_request(request: str | None) -> PythonRequest:
    """Classify a ``--python`` value (pure; see :class:`PythonRequest`)."""
    if request is None or request.strip() in ("", "any", "default"):
        return PythonRequest("any")
    raw = request.strip()
    if os.sep in raw or "/" in raw or raw.startswith(("~", ".")) or (_WINDOWS and ":" in raw):
        return PythonRequest("path", raw=raw)
    m = _version_match(raw)
    if m is None and not any(ch in raw for ch in "<>=!~,"):
        # No operator: not a specifier set (SpecifierSet would refuse it), so a command name,
        # told apart without importing packaging.specifiers (~10 ms).
        return PythonRequest("name", raw=raw)
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

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


# Requests that name an implementation, not a file, even when a file of that name is here.
_IMPLEMENTATION_NAMES = frozenset({"python", "cpython", "pypy", "graalpy", "py", "cp"})


def _names_existing_path(parsed: PythonRequest) -> bool:
    """A bare name (``-p v0``) that is an existing directory or file relative to the working
    directory is that environment or interpreter, as uv reads it; version requests
    (``3.12``, ``python3.12``) and implementation names stay requests."""
    if parsed.kind != "name" or parsed.specifier is not None:
        return False
    if parsed.raw.lower() in _IMPLEMENTATION_NAMES:
        return False
    return os.path.exists(parsed.raw)


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
    if parsed.kind == "path" or _names_existing_path(parsed):
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
    conda_prefix: str | None = None,
) -> Interpreter:
    """The interpreter whose environment ``torchup pip ...`` acts on.

    Order, as uv: ``--python`` (any interpreter, venv or not), then ``--system`` (the first
    Python on PATH), then ``$VIRTUAL_ENV`` (its value passed in), then an activated Conda
    environment (``conda_prefix``: ``$CONDA_PREFIX``, left out by the caller for the base
    environment, which uv treats as a system Python), then ``.venv`` in ``cwd`` or the nearest
    parent directory. Otherwise :class:`EnvironmentError_` says how to make one.
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
    if conda_prefix:
        prefix = Path(conda_prefix)
        conda_python = prefix / ("python.exe" if (prefix / "python.exe").is_file() else "bin/python")
        if not conda_python.is_file():
            raise EnvironmentError_(
                f"CONDA_PREFIX points at {prefix}, which has no Python",
                hint="activate an environment that has Python (`conda install python`), or "
                "deactivate it",
            )
        return _resolve_path_request(str(conda_python), cache_dir)
    for directory in (cwd, *cwd.parents):
        candidate = directory / ".venv"
        if (candidate / "pyvenv.cfg").is_file():
            return _resolve_path_request(str(candidate), cache_dir)
    raise EnvironmentError_(
        f"no virtual environment found in {cwd} or its parents, and none is active",
        hint="create one with `torchup venv`, or pass `--system` to use the system Python",
    )
