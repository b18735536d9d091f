"""The machine a resolution is for: marker environment + wheel tags + torch backend.

Core code never reads ``sys.platform`` or ``os.environ``: it takes a :class:`Target`. Resolving
for another machine is building another Target with :func:`Target.for_platform`.
Only :func:`Target.from_interpreter` does IO (it asks an interpreter about itself).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms, parse_tag
from packaging.utils import parse_wheel_filename
from packaging.version import Version

from torchup.errors import ConfigError, EnvironmentError_

TYPE_CHECKING = False
if TYPE_CHECKING:
    # Only annotations use Marker: packaging.markers (its parser and tokenizer) loads with the
    # first requirement parsed, not with this module. json and subprocess load in
    # from_interpreter, the only IO here.
    from packaging.markers import Marker

__all__ = ["Target", "PLATFORM_NAMES"]


# uv's --python-platform names -> (os, arch, manylinux glibc minor or macOS version).
PLATFORM_NAMES: dict[str, tuple[str, str, tuple[int, int] | None]] = {
    "linux": ("linux", "x86_64", (2, 28)),
    "x86_64-unknown-linux-gnu": ("linux", "x86_64", (2, 28)),
    "x86_64-manylinux_2_17": ("linux", "x86_64", (2, 17)),
    "x86_64-manylinux_2_28": ("linux", "x86_64", (2, 28)),
    "x86_64-manylinux_2_31": ("linux", "x86_64", (2, 31)),
    "x86_64-manylinux_2_34": ("linux", "x86_64", (2, 34)),
    "x86_64-manylinux_2_39": ("linux", "x86_64", (2, 39)),
    "aarch64-unknown-linux-gnu": ("linux", "aarch64", (2, 28)),
    "aarch64-manylinux_2_17": ("linux", "aarch64", (2, 17)),
    "aarch64-manylinux_2_28": ("linux", "aarch64", (2, 28)),
    "aarch64-manylinux_2_34": ("linux", "aarch64", (2, 34)),
    # uv's default macOS deployment target is 13.0 (MACOSX_DEPLOYMENT_TARGET overrides it).
    "macos": ("macos", "arm64", (13, 0)),
    "aarch64-apple-darwin": ("macos", "arm64", (13, 0)),
    "x86_64-apple-darwin": ("macos", "x86_64", (13, 0)),
    "windows": ("windows", "x86_64", None),
    "x86_64-pc-windows-msvc": ("windows", "x86_64", None),
    "aarch64-pc-windows-msvc": ("windows", "arm64", None),
}

_OS_MARKERS = {
    "linux": {"os_name": "posix", "sys_platform": "linux", "platform_system": "Linux"},
    "macos": {"os_name": "posix", "sys_platform": "darwin", "platform_system": "Darwin"},
    "windows": {"os_name": "nt", "sys_platform": "win32", "platform_system": "Windows"},
}


def _platform_tags(os_name: str, arch: str, version: tuple[int, int] | None) -> list[str]:
    if os_name == "linux":
        assert version is not None
        major, newest = version
        plats = [f"manylinux_{major}_{minor}_{arch}" for minor in range(newest, 16, -1)]
        # Legacy aliases, and the plain linux tag: old download.pytorch.org wheels use it.
        plats += [f"manylinux2014_{arch}"]
        if arch == "x86_64":
            plats += ["manylinux2010_x86_64", "manylinux1_x86_64"]
        plats.append(f"linux_{arch}")
        return plats
    if os_name == "macos":
        assert version is not None
        return list(mac_platforms(version, arch))
    return ["win_amd64" if arch == "x86_64" else "win_arm64"]


@dataclass(frozen=True)
class Target:
    """A marker environment, the wheel tags it accepts (best first) and a torch backend."""

    marker_items: tuple[tuple[str, str], ...]
    tags: tuple[Tag, ...]
    torch_backend: str | None = None
    label: str = ""
    _tag_rank: Mapping[Tag, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self._tag_rank:
            object.__setattr__(self, "_tag_rank", {t: i for i, t in enumerate(self.tags)})

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_markers(
        cls,
        markers: Mapping[str, str],
        tags: Iterable[Tag],
        *,
        torch_backend: str | None = None,
        label: str = "",
    ) -> Target:
        """Build a Target from a marker mapping and an ordered tag list."""
        return cls(
            marker_items=tuple(sorted(markers.items())),
            tags=tuple(tags),
            torch_backend=torch_backend,
            label=label,
        )

    @classmethod
    def for_platform(
        cls,
        python_version: str,
        platform: str,
        *,
        torch_backend: str | None = None,
        macos_version: tuple[int, int] | None = None,
    ) -> Target:
        """A Target for uv's ``--python-version X.Y`` and ``--python-platform NAME``.

        ``macos_version`` (from ``MACOSX_DEPLOYMENT_TARGET``, read by the CLI) replaces the
        default macOS version of a macOS platform: newer torch ships only macosx_14_0 wheels.
        """
        try:
            os_name, arch, version = PLATFORM_NAMES[platform]
        except KeyError:
            raise ConfigError(
                f"unknown --python-platform {platform!r}",
                key="python-platform",
                hint="use one of: " + ", ".join(sorted(PLATFORM_NAMES)),
            ) from None
        if os_name == "macos" and macos_version is not None:
            version = macos_version
        parts = python_version.split(".")
        try:
            major, minor = int(parts[0]), int(parts[1])
        except (ValueError, IndexError):
            raise ConfigError(
                f"invalid Python version {python_version!r}", hint="write it as 3.12 or 3.12.4"
            ) from None
        full = python_version if len(parts) >= 3 else f"{major}.{minor}.0"
        machine = {"x86_64": "AMD64" if os_name == "windows" else "x86_64", "arm64": "arm64"}.get(
            arch, arch
        )
        if os_name == "windows" and arch == "arm64":
            machine = "ARM64"
        markers = {
            **_OS_MARKERS[os_name],
            "platform_machine": machine,
            "platform_release": "",
            "platform_version": "",
            "implementation_name": "cpython",
            "implementation_version": full,
            "platform_python_implementation": "CPython",
            "python_version": f"{major}.{minor}",
            "python_full_version": full,
        }
        plats = _platform_tags(os_name, arch, version)
        tags = list(cpython_tags((major, minor), platforms=plats))
        tags += list(compatible_tags((major, minor), "cp" + f"{major}{minor}", platforms=plats))
        return cls.from_markers(
            markers,
            tags,
            torch_backend=torch_backend,
            label=f"{os_name} {arch}, Python {major}.{minor}",
        )

    @classmethod
    def from_interpreter(cls, python: str, *, torch_backend: str | None = None) -> Target:
        """Ask an interpreter for its marker environment and tags (IO: runs a subprocess)."""
        import json
        import subprocess

        probe = (
            "import json,sys\n"
            "try:\n"
            " from packaging import tags, markers\n"
            " env=markers.default_environment(); tg=[str(t) for t in tags.sys_tags()]\n"
            "except ImportError:\n"
            " env=None; tg=None\n"
            "print(json.dumps({'env':env,'tags':tg,'exe':sys.executable}))\n"
        )
        try:
            out = subprocess.run(
                [python, "-c", probe], capture_output=True, text=True, check=True, timeout=60
            ).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            raise EnvironmentError_(
                f"could not query the Python interpreter {python}: {exc}",
                hint="pass --python with a working interpreter",
            ) from exc
        data = json.loads(out)
        if data["env"] is None:
            # The interpreter lacks `packaging`: evaluate with ours, run in that interpreter.
            return _from_interpreter_without_packaging(python, torch_backend)
        return cls.from_markers(
            data["env"],
            (t for s in data["tags"] for t in parse_tag(s)),
            torch_backend=torch_backend,
            label=f"{data['exe']}",
        )

    def with_backend(self, torch_backend: str | None) -> Target:
        """The same machine with another torch backend."""
        return replace(self, torch_backend=torch_backend, _tag_rank=self._tag_rank)

    # -- queries -----------------------------------------------------------------------
    @cached_property
    def environment(self) -> dict[str, str]:
        """The PEP 508 marker environment as a plain dict."""
        return dict(self.marker_items)

    @property
    def python_version(self) -> Version:
        return Version(self.environment["python_version"])

    @property
    def python_full_version(self) -> Version:
        return Version(self.environment["python_full_version"])

    def evaluate(self, marker: Marker | None, extras: Iterable[str] = ()) -> bool:
        """Whether ``marker`` holds here, with ``extra`` bound to each of ``extras`` in turn."""
        if marker is None:
            return True
        env: dict[str, str | frozenset[str]] = dict(self.environment)
        extra_list = list(extras)
        if not extra_list:
            env["extra"] = ""
            return marker.evaluate(env)  # type: ignore[arg-type]
        for extra in extra_list:
            env["extra"] = extra
            if marker.evaluate(env):  # type: ignore[arg-type]
                return True
        return False

    def tag_rank(self, tags: Iterable[Tag]) -> int | None:
        """Rank of the best of ``tags`` here (0 is best), or None if none is accepted."""
        ranks = [self._tag_rank[t] for t in tags if t in self._tag_rank]
        return min(ranks) if ranks else None

    def wheel_rank(self, filename: str) -> int | None:
        """Rank of a wheel file for this target, or None when it cannot be installed here."""
        try:
            _, _, _, tags = parse_wheel_filename(filename)
        except Exception:
            return None
        return self.tag_rank(tags)

    def __str__(self) -> str:
        return self.label or f"{self.environment.get('sys_platform')} {self.python_version}"


def _from_interpreter_without_packaging(python: str, torch_backend: str | None) -> Target:
    import json
    import subprocess
    from pathlib import Path

    import packaging

    pkg_root = str(Path(packaging.__file__).parent.parent)
    probe = (
        f"import sys,json; sys.path.insert(0,{pkg_root!r})\n"
        "from packaging import tags, markers\n"
        "print(json.dumps({'env':markers.default_environment(),"
        "'tags':[str(t) for t in tags.sys_tags()],'exe':sys.executable}))\n"
    )
    out = subprocess.run(
        [python, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    data = json.loads(out)
    return Target.from_markers(
        data["env"],
        (t for s in data["tags"] for t in parse_tag(s)),
        torch_backend=torch_backend,
        label=data["exe"],
    )
