"""PyTorch backends: which builds exist, where they live, and which one fits a machine.

A *backend* is one flavour of the torch wheels on download.pytorch.org: ``cpu``, a CUDA
toolkit (``cu128``), a ROCm release (``rocm6.4``) or Intel ``xpu``. This module holds the
facts as data (each table cites where it comes from) and pure functions over them; it does
no IO. Detection (what the machine has) lives in :mod:`torchup.torch.detect`; this module
only reads a :class:`~torchup.torch.detect.Detection`'s attributes.

The central function is :func:`choose_backend`: given what was detected and the torch
version wanted, it returns a :class:`Choice` whose ``reasons`` and ``warnings`` explain it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

from packaging.version import InvalidVersion, Version

from torchup.errors import ConfigError
from torchup.torch.routing import DEFAULT_INDEX_BASE

if TYPE_CHECKING:
    from torchup.torch.detect import Detection, Gpu

__all__ = [
    "Backend",
    "BackendKind",
    "Channel",
    "CHANNELS",
    "CPU",
    "XPU",
    "DEFAULT_INDEX_BASE",
    "TorchRelease",
    "TORCH_RELEASES",
    "CUDA_TOOLKIT_MIN_DRIVER",
    "CUDA_MINOR_COMPAT_FLOOR",
    "ROCM_GFX_SUPPORT",
    "Choice",
    "parse_backend",
    "parse_backend_or_auto",
    "parse_local_label",
    "backend_of_version",
    "index_url",
    "local_label",
    "cuda_needs_driver",
    "cuda_minor_compat_floor",
    "driver_version_tuple",
    "normalize_windows_driver_version",
    "release_for",
    "newest_release",
    "backends_for_torch",
    "pypi_default_backend",
    "cuda_arch_list",
    "has_kernels",
    "architecture_name",
    "rocm_supports",
    "normalize_os",
    "normalize_machine",
    "choose_backend",
]

BackendKind = Literal["cpu", "cuda", "rocm", "xpu"]
Channel = Literal["stable", "test", "nightly"]
CHANNELS: tuple[Channel, ...] = ("stable", "test", "nightly")

_VALID_FORMS = (
    "cpu, cu<NNN> (for example cu118, cu126, cu128, cu130), rocm<X.Y[.Z]> "
    "(for example rocm6.4, rocm6.2.4, rocm7.1) or xpu"
)


@dataclass(frozen=True, order=True)
class Backend:
    """One flavour of torch build: ``kind`` plus the toolkit version (empty for cpu/xpu).

    ``Backend("cuda", (12, 8)).name == "cu128"``; ``Backend("rocm", (6, 2, 4)).name ==
    "rocm6.2.4"``. Instances are hashable and compare by (kind, version).
    """

    kind: BackendKind
    version: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        """The index directory and local-version label: cpu, cu128, rocm6.4, xpu."""
        if self.kind == "cuda":
            major, minor = (self.version + (0, 0))[:2]
            return f"cu{major}{minor}"
        if self.kind == "rocm":
            return "rocm" + ".".join(str(p) for p in self.version)
        return self.kind

    @property
    def is_accelerated(self) -> bool:
        """True for every backend except ``cpu``."""
        return self.kind != "cpu"

    @property
    def cuda_version(self) -> tuple[int, int] | None:
        """(major, minor) of the CUDA toolkit for a CUDA backend, else None."""
        if self.kind != "cuda":
            return None
        major, minor = (self.version + (0, 0))[:2]
        return (major, minor)

    def describe(self) -> str:
        """Human words: 'CUDA 12.8 (cu128)', 'ROCm 6.4 (rocm6.4)', 'CPU only', 'Intel XPU'."""
        if self.kind == "cuda":
            major, minor = self.cuda_version or (0, 0)
            return f"CUDA {major}.{minor} ({self.name})"
        if self.kind == "rocm":
            return f"ROCm {'.'.join(str(p) for p in self.version)} ({self.name})"
        if self.kind == "xpu":
            return "Intel XPU (xpu)"
        return "CPU only (cpu)"

    def __str__(self) -> str:
        return self.name


CPU = Backend("cpu")
XPU = Backend("xpu")


@cache
def _cuda_re() -> re.Pattern[str]:
    # Compiled on first use, like _rocm_re: a plain `pip install` never parses a backend name.
    return re.compile(r"cu(\d{2,3})")


@cache
def _rocm_re() -> re.Pattern[str]:
    return re.compile(r"rocm(\d+)\.(\d+)(?:\.(\d+))?")


def _try_parse(text: str) -> Backend | None:
    t = text.strip().lower()
    if t in ("cpu", "xpu"):
        return CPU if t == "cpu" else XPU
    m = _cuda_re().fullmatch(t)
    if m:
        digits = m.group(1)
        # The last digit is the minor version: cu92 -> 9.2, cu118 -> 11.8, cu130 -> 13.0.
        return Backend("cuda", (int(digits[:-1]), int(digits[-1])))
    m = _rocm_re().fullmatch(t)
    if m:
        parts = tuple(int(g) for g in m.groups() if g is not None)
        return Backend("rocm", parts)
    return None


def parse_backend(text: str) -> Backend:
    """Parse ``cpu``, ``cu128``, ``rocm6.4``, ``rocm6.2.4`` or ``xpu`` (case-insensitive).

    ``auto`` is not a backend: resolve it with :func:`choose_backend` (or use
    :func:`parse_backend_or_auto`). Anything else raises :class:`ConfigError` naming the
    valid forms.
    """
    backend = _try_parse(text)
    if backend is not None:
        return backend
    if text.strip().lower() == "auto":
        raise ConfigError(
            "'auto' is not a concrete torch backend",
            key="torch-backend",
            hint="detect the machine and call choose_backend(), or name one of: " + _VALID_FORMS,
        )
    raise ConfigError(
        f"invalid torch backend {text!r}",
        key="torch-backend",
        hint="use auto, " + _VALID_FORMS,
    )


def parse_backend_or_auto(text: str) -> Backend | Literal["auto"]:
    """Like :func:`parse_backend` but returns the string ``"auto"`` for ``auto``."""
    if text.strip().lower() == "auto":
        return "auto"
    return parse_backend(text)


def parse_local_label(label: str | None) -> Backend | None:
    """The backend a local version label names (``cu128``, ``cpu.cxx11.abi``), else None.

    Labels that name no backend (``git35c6c7c6`` on pytorch-triton, ``None``) give None.
    """
    if not label:
        return None
    # "+cpu.cxx11.abi" (older Linux builds) and "+cu118.post1"-style suffixes: first segment.
    return _try_parse(label.split(".")[0] if not label.startswith("rocm") else _rocm_head(label))


def _rocm_head(label: str) -> str:
    m = _rocm_re().match(label)
    return m.group(0) if m else label


def backend_of_version(version: Version | str) -> Backend | None:
    """The backend named by a version's local label: ``2.5.1+cu124`` -> cu124, else None."""
    v = version if isinstance(version, Version) else Version(str(version))
    return parse_local_label(v.local)


def index_url(backend: Backend, channel: str = "stable", base: str = DEFAULT_INDEX_BASE) -> str:
    """The simple-index URL of a backend: ``.../whl/cu128``, ``.../whl/nightly/cu128``.

    ``channel`` is one of :data:`CHANNELS` (checked: anything else raises ConfigError).
    """
    if channel not in CHANNELS:
        raise ConfigError(
            f"invalid torch channel {channel!r}",
            key="torch-channel",
            hint="use one of: " + ", ".join(CHANNELS),
        )
    root = base.rstrip("/")
    if channel != "stable":
        root = f"{root}/{channel}"
    return f"{root}/{backend.name}"


def local_label(backend: Backend) -> str:
    """The local version suffix wheels of this backend carry: ``+cu128``, ``+cpu``."""
    return "+" + backend.name


# ---------------------------------------------------------------------------------------------
# NVIDIA drivers
# ---------------------------------------------------------------------------------------------

# Minimum driver for each CUDA toolkit's GA release, (Linux x86_64, Windows).
# Source: CUDA Toolkit release notes, Table 3 "CUDA Toolkit and Corresponding Driver Versions"
# (https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html), as copied into
# /work/shared/NOTES.md. 11.7 from the 11.7 release notes (archive). NVIDIA lists no Windows
# minimum for 13.0 (the display driver is no longer bundled); we fall back to the 13.x floor.
CUDA_TOOLKIT_MIN_DRIVER: Mapping[tuple[int, int], tuple[str, str | None]] = {
    (11, 7): ("515.43.04", "516.01"),
    (11, 8): ("520.61.05", "520.06"),
    (12, 1): ("530.30.02", "531.14"),
    (12, 4): ("550.54.14", "551.61"),
    (12, 6): ("560.28.03", "560.76"),
    (12, 8): ("570.26", "570.65"),
    (12, 9): ("575.51.03", "576.02"),
    (13, 0): ("580.65.06", None),
}

# Minor-version compatibility: any toolkit of a major version runs (without PTX JIT and with a
# few other limits) on a driver at or above this floor, (Linux, Windows).
# Source: CUDA Toolkit release notes, Table 2 "CUDA Toolkit and Minimum Required Driver Version
# for CUDA Minor Version Compatibility"; /work/shared/NOTES.md. uv and light-the-torch choose
# by these floors alone.
CUDA_MINOR_COMPAT_FLOOR: Mapping[int, tuple[str, str]] = {
    11: ("450.80.02", "452.39"),
    12: ("525.60.13", "528.33"),
    13: ("580", "580"),
}


def driver_version_tuple(version: str) -> tuple[int, ...]:
    """``"580.159.04"`` -> ``(580, 159, 4)``; non-numeric parts end the tuple."""
    parts: list[int] = []
    for piece in version.strip().split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group(0)))
        if m.end() != len(piece):
            break
    return tuple(parts)


def normalize_windows_driver_version(version: str) -> str:
    """Windows' file version ``32.0.15.7602`` -> NVIDIA's ``576.02``; others unchanged.

    Device Manager and WMI report the driver as an OS file version whose last five digits
    are the NVIDIA version (``xx.xx.1X.YYZZ`` -> ``XYY.ZZ``).
    """
    parts = version.strip().split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts) and int(parts[0]) >= 10:
        digits = (parts[2] + parts[3])[-5:]
        return f"{int(digits[:3])}.{digits[3:]}"
    return version.strip()


def _is_windows_like(os_name: str, wsl: bool) -> bool:
    # Under WSL2 the GPU driver is the Windows driver; nvidia-smi reports its Windows version.
    return os_name == "windows" or wsl


def cuda_needs_driver(backend: Backend, *, os: str = "linux") -> str:
    """The minimum NVIDIA driver that fully supports a CUDA backend's toolkit on ``os``.

    Falls back to the major version's minor-version-compatibility floor where NVIDIA lists no
    minimum (unknown toolkits, Windows for CUDA 13.0). Raises ValueError for non-CUDA backends.
    """
    cuda = backend.cuda_version
    if cuda is None:
        raise ValueError(f"{backend} is not a CUDA backend")
    windows = normalize_os(os) == "windows"
    row = CUDA_TOOLKIT_MIN_DRIVER.get(cuda)
    if row is not None:
        linux_min, windows_min = row
        if not windows:
            return linux_min
        if windows_min is not None:
            return windows_min
    return cuda_minor_compat_floor(backend, os=os) or "unknown"


def cuda_minor_compat_floor(backend: Backend, *, os: str = "linux") -> str | None:
    """The driver floor for CUDA minor-version compatibility of this backend's major version."""
    cuda = backend.cuda_version
    if cuda is None:
        return None
    row = CUDA_MINOR_COMPAT_FLOOR.get(cuda[0])
    if row is None:
        return None
    return row[1] if normalize_os(os) == "windows" else row[0]


@dataclass(frozen=True)
class _DriverVerdict:
    """Whether a driver supports a CUDA backend fully, or by minor-version compatibility."""

    full: bool
    compat: bool
    why: str


def _driver_verdict(backend: Backend, detection: Detection, os_name: str) -> _DriverVerdict:
    """Whether the detected driver fully supports ``backend``, or only by minor-version compat."""
    cuda = backend.cuda_version
    assert cuda is not None
    table_os = "windows" if _is_windows_like(os_name, detection.wsl) else "linux"
    driver = detection.nvidia_driver
    if driver:
        have = driver_version_tuple(driver)
        need = cuda_needs_driver(backend, os=table_os)
        floor = cuda_minor_compat_floor(backend, os=table_os)
        exact = cuda in CUDA_TOOLKIT_MIN_DRIVER
        full = exact and have >= driver_version_tuple(need)
        compat = floor is not None and have >= driver_version_tuple(floor)
        if full:
            why = f"driver {driver} >= {need} (CUDA {cuda[0]}.{cuda[1]} toolkit minimum)"
        elif compat:
            why = (
                f"driver {driver} < {need} (CUDA {cuda[0]}.{cuda[1]} toolkit minimum) but >= "
                f"{floor} (CUDA {cuda[0]}.x minor-version compatibility)"
            )
        else:
            why = f"needs driver >= {need}" + (f" (>= {floor} at the least)" if floor else "")
            why += f"; you have {driver}"
        return _DriverVerdict(full, compat, why)
    api = detection.cuda_driver_version
    if api is not None:
        # The driver API version is what the driver itself says it supports in full.
        full = api >= cuda
        compat = api[0] >= cuda[0]
        if full:
            why = f"the driver supports CUDA {api[0]}.{api[1]} >= {cuda[0]}.{cuda[1]}"
        elif compat:
            why = (
                f"the driver supports CUDA {api[0]}.{api[1]} < {cuda[0]}.{cuda[1]}; "
                f"usable by CUDA {cuda[0]}.x minor-version compatibility"
            )
        else:
            why = f"the driver supports only CUDA {api[0]}.{api[1]}"
        return _DriverVerdict(full, compat, why)
    return _DriverVerdict(False, False, "the NVIDIA driver version is unknown")


# ---------------------------------------------------------------------------------------------
# torch releases
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TorchRelease:
    """What one torch minor release ships on download.pytorch.org.

    ``cuda`` lists the CUDA builds for Linux x86_64 and Windows; ``cuda_aarch64`` those for
    Linux aarch64 (SBSA); ``rocm`` Linux x86_64 only; ``xpu`` Linux x86_64 and Windows.
    ``pypi_cuda`` is the CUDA build PyPI serves, unlabelled, for Linux x86_64.
    """

    version: tuple[int, int]
    cuda: tuple[str, ...]
    rocm: tuple[str, ...]
    xpu: bool
    pypi_cuda: str
    torchvision: str
    torchaudio: str
    cuda_aarch64: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"


# Sources: /work/shared/NOTES.md table (PyTorch RELEASE.md "Release Compatibility Matrix" and
# https://pytorch.org/get-started/previous-versions/); 2.7's rocm6.2.4 and the XPU builds of
# 2.5/2.6 from the same previous-versions page (`torch==2.7.1+rocm6.2.4`, `torch==2.5.1+xpu`,
# `torch==2.6.0+xpu` on /whl/rocm6.2.4 and /whl/xpu); aarch64 CUDA sets from
# .github/scripts/generate_binary_build_matrix.py (CUDA_AARCH64_ARCHES) of each release branch;
# PyPI's CUDA from the same file's CUDA_STABLE (13.0 for 2.11 per the H100 capture's Requires-Dist).
# 2.0-2.3 are best effort, from the previous-versions page.
TORCH_RELEASES: tuple[TorchRelease, ...] = (
    TorchRelease((2, 0), ("cu117", "cu118"), ("rocm5.4.2",), False, "cu117", "0.15", "2.0"),
    TorchRelease((2, 1), ("cu118", "cu121"), ("rocm5.6",), False, "cu121", "0.16", "2.1"),
    TorchRelease((2, 2), ("cu118", "cu121"), ("rocm5.6", "rocm5.7"), False, "cu121", "0.17", "2.2"),
    TorchRelease((2, 3), ("cu118", "cu121"), ("rocm5.7", "rocm6.0"), False, "cu121", "0.18", "2.3"),
    TorchRelease((2, 4), ("cu118", "cu121", "cu124"), ("rocm6.1",), False, "cu121", "0.19", "2.4"),
    TorchRelease(
        (2, 5), ("cu118", "cu121", "cu124"), ("rocm6.1", "rocm6.2"), True, "cu124", "0.20", "2.5"
    ),
    TorchRelease(
        (2, 6), ("cu118", "cu124", "cu126"), ("rocm6.1", "rocm6.2.4"), True, "cu124", "0.21", "2.6"
    ),
    TorchRelease(
        (2, 7),
        ("cu118", "cu126", "cu128"),
        ("rocm6.2.4", "rocm6.3"),
        True,
        "cu126",
        "0.22",
        "2.7",
        cuda_aarch64=("cu128",),
    ),
    TorchRelease(
        (2, 8),
        ("cu126", "cu128", "cu129"),
        ("rocm6.3", "rocm6.4"),
        True,
        "cu128",
        "0.23",
        "2.8",
        cuda_aarch64=("cu128", "cu129"),
    ),
    TorchRelease(
        (2, 9),
        ("cu126", "cu128", "cu130"),
        ("rocm6.3", "rocm6.4"),
        True,
        "cu128",
        "0.24",
        "2.9",
        cuda_aarch64=("cu126", "cu128", "cu130"),
    ),
    TorchRelease(
        (2, 10),
        ("cu126", "cu128", "cu130"),
        ("rocm7.0", "rocm7.1"),
        True,
        "cu128",
        "0.25",
        "2.10",
        cuda_aarch64=("cu126", "cu128", "cu130"),
    ),
    TorchRelease(
        (2, 11),
        ("cu126", "cu128", "cu130"),
        ("rocm7.2",),
        True,
        "cu130",
        "0.26",
        "2.11",
        cuda_aarch64=("cu126", "cu128", "cu130"),
    ),
)

_RELEASES_BY_MINOR: Mapping[tuple[int, int], TorchRelease] = {r.version: r for r in TORCH_RELEASES}


def newest_release() -> TorchRelease:
    """The newest torch release torchup's tables know."""
    return TORCH_RELEASES[-1]


def _as_version(version: Version | str | None) -> Version | None:
    if version is None or isinstance(version, Version):
        return version
    try:
        return Version(str(version))
    except InvalidVersion as exc:
        raise ConfigError(f"invalid torch version {version!r}", key="torch") from exc


def release_for(version: Version | str | None) -> tuple[TorchRelease, str | None]:
    """The table row for a torch version and a note when it had to be approximated.

    None means the newest known release. Versions newer than the tables (a nightly of the next
    release) use the newest row; older ones the oldest row; both say so in the note.
    """
    v = _as_version(version)
    if v is None:
        return newest_release(), None
    key = (v.major, v.minor)
    row = _RELEASES_BY_MINOR.get(key)
    if row is not None:
        return row, None
    if key > newest_release().version:
        newest = newest_release()
        return newest, (
            f"torch {v.public} is newer than torchup's tables; assuming it ships the backends "
            f"of torch {newest.label}"
        )
    oldest = TORCH_RELEASES[0]
    return oldest, (
        f"torch {v.public} is older than torchup's tables; assuming the backends of "
        f"torch {oldest.label}"
    )


def normalize_os(os_name: str) -> str:
    """``linux``/``windows``/``macos`` from marker-ish spellings (Darwin, win32, Windows...)."""
    o = os_name.strip().lower()
    if o in ("darwin", "macos", "mac", "osx", "macosx"):
        return "macos"
    if o in ("win32", "windows", "win", "nt", "cygwin"):
        return "windows"
    if o.startswith("linux") or o == "posix":
        return "linux"
    return o


def normalize_machine(machine: str) -> str:
    """``x86_64`` or ``aarch64``/``arm64`` from platform.machine() spellings."""
    m = machine.strip().lower()
    if m in ("amd64", "x64", "x86-64", "x86_64"):
        return "x86_64"
    if m in ("aarch64", "arm64", "armv8", "armv8l"):
        return "aarch64"
    return m


def _platform(os_name: str, machine: str) -> tuple[str, str]:
    o = normalize_os(os_name)
    m = normalize_machine(machine)
    if o == "macos" and m == "aarch64":
        m = "arm64"
    return o, m


def backends_for_torch(
    version: Version | str | None = None, *, os: str = "linux", machine: str = "x86_64"
) -> list[Backend]:
    """Every backend a torch version ships for a platform, best (newest accelerator) first.

    Order: CUDA builds newest first, then ROCm newest first, then xpu, then cpu. macOS and
    other platforms without accelerator builds get ``[cpu]``.
    """
    row, _ = release_for(version)
    o, m = _platform(os, machine)
    out: list[Backend] = []
    if o in ("linux", "windows") and m == "x86_64":
        out += sorted((parse_backend(n) for n in row.cuda), reverse=True)
        if o == "linux":
            out += sorted((parse_backend(n) for n in row.rocm), reverse=True)
        if row.xpu:
            out.append(XPU)
    elif o == "linux" and m == "aarch64":
        out += sorted((parse_backend(n) for n in row.cuda_aarch64), reverse=True)
    out.append(CPU)
    return out


def pypi_default_backend(
    version: Version | str | None = None, *, os: str = "linux", machine: str = "x86_64"
) -> Backend:
    """What the unlabelled torch wheel on PyPI is for a platform (NOTES.md, 'PyPI').

    Linux x86_64: a CUDA build (cu12x up to 2.10, cu130 from 2.11); macOS, Windows and Linux
    aarch64: CPU builds (macOS ones include MPS).
    """
    row, _ = release_for(version)
    o, m = _platform(os, machine)
    if o == "linux" and m == "x86_64":
        return parse_backend(row.pypi_cuda)
    return CPU


# ---------------------------------------------------------------------------------------------
# GPU architectures
# ---------------------------------------------------------------------------------------------

# TORCH_CUDA_ARCH_LIST of the x86_64 wheel builds (Linux; Windows assumed the same), keyed by
# backend and the first torch minor release that used the list. Sources: pytorch
# .ci/manywheel/build_cuda.sh and .github/scripts/generate_binary_build_matrix.py on each release
# branch ("removing sm_50-sm_60 as these architectures are deprecated in CUDA 12.8/9 ... however
# we would like to keep sm_70 architecture see: pytorch/pytorch#157517" -- so 2.7's cu128 lacks
# sm_70 and 2.8+'s cu128/cu129 have it back); cu130 drops everything below sm_75 (CUDA 13.0 removed
# Maxwell, Pascal and Volta, CUDA 13.0 release notes "Deprecated architectures").
# Older lists cross-checked with moi90/pytorch_compute_capabilities table.md.
_CUDA_ARCHS_X86: Mapping[str, Sequence[tuple[tuple[int, int], str]]] = {
    "cu117": (((2, 0), "3.7;5.0;6.0;6.1;7.0;7.5;8.0;8.6"),),
    "cu118": (
        ((2, 0), "3.7;5.0;6.0;6.1;7.0;7.5;8.0;8.6;9.0"),
        ((2, 6), "3.7;5.0;6.0;7.0;7.5;8.0;8.6;9.0"),
    ),
    "cu121": (((2, 1), "5.0;6.0;6.1;7.0;7.5;8.0;8.6;9.0"),),
    "cu124": (
        ((2, 4), "5.0;6.0;6.1;7.0;7.5;8.0;8.6;9.0"),
        ((2, 6), "5.0;6.0;7.0;7.5;8.0;8.6;9.0"),
    ),
    "cu126": (((2, 6), "5.0;6.0;7.0;7.5;8.0;8.6;9.0"),),
    "cu128": (
        ((2, 7), "7.5;8.0;8.6;9.0;10.0;12.0+PTX"),
        ((2, 8), "7.0;7.5;8.0;8.6;9.0;10.0;12.0"),
    ),
    "cu129": (((2, 8), "7.0;7.5;8.0;8.6;9.0;10.0;12.0+PTX"),),
    "cu130": (((2, 9), "7.5;8.0;8.6;9.0;10.0;12.0+PTX"),),
}

# Linux aarch64 (SBSA: Grace Hopper, Grace Blackwell, DGX Spark, Jetson Thor) wheel builds.
# Source: pytorch .ci/aarch64_linux/aarch64_ci_build.sh ("Set CUDA architecture lists to match
# x86 build_cuda.sh").
_CUDA_ARCHS_AARCH64: Mapping[str, str] = {
    "cu126": "8.0;9.0",
    "cu128": "8.0;9.0;10.0;12.0",
    "cu129": "8.0;9.0;10.0;12.0",
    "cu130": "8.0;9.0;10.0;11.0;12.0+PTX",
}


def cuda_arch_list(
    backend: Backend, torch_version: Version | str | None = None, *, machine: str = "x86_64"
) -> tuple[str, ...]:
    """The compute capabilities a CUDA build has kernels for: ``("7.5", ..., "12.0+PTX")``.

    ``+PTX`` marks an entry whose PTX also ships (JIT-compiled for newer GPUs). Unknown
    backends get the list of the nearest known toolkit (best effort).
    """
    if backend.kind != "cuda":
        return ()
    name = backend.name
    if normalize_machine(machine) == "aarch64":
        spec = _CUDA_ARCHS_AARCH64.get(name)
        if spec is None:
            spec = _CUDA_ARCHS_AARCH64["cu130" if backend >= Backend("cuda", (13, 0)) else "cu128"]
        return tuple(spec.split(";"))
    row, _ = release_for(torch_version)
    entries = _CUDA_ARCHS_X86.get(name)
    if entries is None:
        cuda = backend.cuda_version or (0, 0)
        fallback = "cu130" if cuda >= (13, 0) else "cu128" if cuda >= (12, 8) else "cu126"
        if cuda < (12, 0):
            fallback = "cu118"
        entries = _CUDA_ARCHS_X86[fallback]
    chosen = entries[0][1]
    for first, spec in entries:
        if row.version >= first:
            chosen = spec
    return tuple(chosen.split(";"))


def has_kernels(capability: tuple[int, int], arch_list: Iterable[str]) -> bool:
    """Whether a GPU of ``capability`` can run a build with ``arch_list``.

    A cubin for sm_XY runs on sm_XZ for Z >= Y (same major: CUDA binary compatibility); PTX
    for compute_XY is JIT-compiled for any capability >= X.Y.
    """
    for entry in arch_list:
        ptx = entry.endswith("+PTX")
        base = entry.removesuffix("+PTX")
        try:
            major_s, minor_s = base.split(".")
            arch = (int(major_s), int(minor_s))
        except ValueError:
            continue
        if arch[0] == capability[0] and arch[1] <= capability[1]:
            return True
        if ptx and arch <= capability:
            return True
    return False


def architecture_name(capability: tuple[int, int]) -> str:
    """NVIDIA architecture family of a compute capability (CUDA C Programming Guide)."""
    major, minor = capability
    if major <= 2:
        return "Fermi"
    if major == 3:
        return "Kepler"
    if major == 5:
        return "Maxwell"
    if major == 6:
        return "Pascal"
    if major == 7:
        return "Turing" if minor >= 5 else "Volta"
    if major == 8:
        return "Ada" if minor == 9 else "Ampere"
    if major == 9:
        return "Hopper"
    if major in (10, 11, 12):
        return "Blackwell"
    return f"sm_{major}{minor}"


# ROCm: the gfx targets each PyTorch ROCm build was compiled for (torch.cuda.get_arch_list()).
# Source: astral-sh/uv crates/uv-torch/src/backend.rs LINUX_AMD_GPU_DRIVERS (inferred by running
# torch.cuda.get_arch_list() per ROCm build); AMD's matrix:
# https://rocm.docs.amd.com/en/latest/compatibility/compatibility-matrix.html. ROCm 5.x rows are
# best effort (not in uv's table).
_GFX_63: tuple[str, ...] = (
    "gfx900",
    "gfx906",
    "gfx908",
    "gfx90a",
    "gfx942",
    "gfx1030",
    "gfx1100",
    "gfx1101",
)
_GFX_63 += ("gfx1102", "gfx1200", "gfx1201")
_GFX_70 = _GFX_63 + ("gfx950",)
ROCM_GFX_SUPPORT: Mapping[str, frozenset[str]] = {
    "rocm7.2": frozenset(_GFX_70 + ("gfx1150", "gfx1151")),
    "rocm7.1": frozenset(_GFX_70),
    "rocm7.0": frozenset(_GFX_70),
    "rocm6.4": frozenset(_GFX_63),
    "rocm6.3": frozenset(_GFX_63),
    "rocm6.2.4": frozenset(_GFX_63),
    "rocm6.2": frozenset(("gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx1030", "gfx1100")),
    "rocm6.1": frozenset(
        ("gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx1030", "gfx1100", "gfx1101")
    ),
    "rocm6.0": frozenset(("gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx1030", "gfx1100")),
    "rocm5.7": frozenset(("gfx900", "gfx906", "gfx908", "gfx90a", "gfx1030", "gfx1100")),
    "rocm5.6": frozenset(("gfx900", "gfx906", "gfx908", "gfx90a", "gfx1030", "gfx1100")),
    "rocm5.4.2": frozenset(("gfx900", "gfx906", "gfx908", "gfx90a", "gfx1030")),
}

# Consumer RDNA chips PyTorch does not build for, but which run the kernels of a sibling when
# HSA_OVERRIDE_GFX_VERSION says so (community practice, e.g. ROCm/ROCm#1756; unsupported by AMD).
_HSA_OVERRIDES: Mapping[str, tuple[str, str]] = {
    "gfx1031": ("gfx1030", "10.3.0"),
    "gfx1032": ("gfx1030", "10.3.0"),
    "gfx1033": ("gfx1030", "10.3.0"),
    "gfx1034": ("gfx1030", "10.3.0"),
    "gfx1035": ("gfx1030", "10.3.0"),
    "gfx1036": ("gfx1030", "10.3.0"),
    "gfx1103": ("gfx1100", "11.0.0"),
}


def rocm_supports(backend: Backend, arch: str) -> bool:
    """Whether a ROCm build of PyTorch has kernels for an AMD gfx target."""
    return arch in ROCM_GFX_SUPPORT.get(backend.name, frozenset())


# ---------------------------------------------------------------------------------------------
# choosing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """A chosen backend and why: every line of ``reasons``/``warnings`` is for a human."""

    backend: Backend
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    torch_version: str | None = None

    def index_url(self, channel: str = "stable", base: str = DEFAULT_INDEX_BASE) -> str:
        """The PyTorch index URL of the chosen backend."""
        return index_url(self.backend, channel, base)

    def to_dict(self) -> dict[str, object]:
        """JSON-able form."""
        return {
            "backend": self.backend.name,
            "torch": self.torch_version,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
        }


def _gpu_label(gpu: Gpu) -> str:
    name = gpu.name or "GPU"
    if gpu.compute_capability is not None:
        return f"{name} (sm_{gpu.compute_capability[0]}{gpu.compute_capability[1]})"
    if gpu.arch:
        return f"{name} ({gpu.arch})"
    return name


def choose_backend(
    detected: Detection,
    torch_version: Version | str | None = None,
    *,
    os: str = "linux",
    machine: str = "x86_64",
) -> Choice:
    """Pick the torch backend for a machine, explaining why.

    NVIDIA: the newest CUDA build that (a) the driver fully supports (toolkit minimum driver),
    else -- with a warning -- one CUDA minor-version compatibility allows; (b) has kernels for
    every detected GPU's compute capability; (c) exists for ``torch_version`` (None: the newest
    release torchup knows). AMD: the newest ROCm build with kernels for every gfx target.
    Intel: xpu. No GPU: cpu. macOS: cpu (the unlabelled macOS wheels include MPS).
    NVIDIA wins over AMD, AMD over Intel, when a machine has several.
    """
    o, m = _platform(os, machine)
    v = _as_version(torch_version)
    row, approx = release_for(v)
    tv = str(v.public) if v is not None else row.label
    torch_label = tv
    head: list[str] = []
    warnings: list[str] = []
    if approx:
        warnings.append(approx)
    if v is None:
        head.append(f"no torch version given: choosing for torch {tv}, the newest torchup knows")

    if o == "macos":
        head.append(
            "macOS: PyTorch publishes CPU builds only; the macOS wheels (PyPI and /whl/cpu, "
            "unlabelled) include the MPS backend for Apple GPUs"
        )
        return Choice(CPU, tuple(head), tuple(warnings), tv)

    nvidia = [g for g in detected.gpus if g.vendor == "nvidia"]
    has_nvidia_driver = bool(detected.nvidia_driver) or detected.cuda_driver_version is not None
    if has_nvidia_driver or nvidia:
        if has_nvidia_driver:
            return _choose_cuda(detected, nvidia, v, row, torch_label, o, m, head, warnings, tv)
        warnings.append(
            "found an NVIDIA GPU but no NVIDIA driver (no /sys/module/nvidia, nvidia-smi or "
            "NVML): install the driver, or set TORCHUP_CUDA_DRIVER_VERSION"
        )
    amd = detected.amd_archs
    if amd:
        choice = _choose_rocm(detected, v, row, torch_label, o, m, head, warnings, tv)
        if choice is not None:
            return choice
    if detected.intel:
        choice = _choose_xpu(detected, row, torch_label, o, m, head, warnings, tv)
        if choice is not None:
            return choice
    if not (nvidia or amd or detected.intel):
        head.append("no GPU detected: using the CPU build")
    else:
        head.append("no accelerator build fits this machine: using the CPU build")
    return Choice(CPU, tuple(head), tuple(warnings), tv)


def _choose_cuda(
    detected: Detection,
    nvidia: list[Gpu],
    v: Version | None,
    row: TorchRelease,
    torch_label: str,
    o: str,
    m: str,
    head: list[str],
    warnings: list[str],
    tv: str,
) -> Choice:
    reasons: list[str] = list(head)
    table_os = "windows" if _is_windows_like(o, detected.wsl) else "linux"
    driver_words = []
    if detected.nvidia_driver:
        driver_words.append(f"NVIDIA driver {detected.nvidia_driver}")
    if detected.cuda_driver_version is not None:
        major, minor = detected.cuda_driver_version
        driver_words.append(f"CUDA driver API {major}.{minor}")
    reasons.append(", ".join(driver_words) + (" (WSL2: Windows driver)" if detected.wsl else ""))
    candidates = [b for b in backends_for_torch(v, os=o, machine=m) if b.kind == "cuda"]
    if not candidates:
        warnings.append(f"torch {torch_label} has no CUDA builds for {o} {m}: using the CPU build")
        return Choice(CPU, tuple(reasons), tuple(warnings), tv)
    reasons.append(
        f"torch {torch_label} ships CUDA builds " + ", ".join(b.name for b in candidates)
    )
    known = [g for g in nvidia if g.compute_capability is not None]
    if nvidia and not known:
        reasons.append("GPU compute capability unknown: assuming every build has its kernels")
    elif not nvidia:
        reasons.append("no GPU list (only the driver was detected): not checking kernels")

    verdicts: dict[Backend, _DriverVerdict] = {}
    missing: dict[Backend, list[Gpu]] = {}
    for b in candidates:
        verdicts[b] = _driver_verdict(b, detected, o)
        archs = cuda_arch_list(b, v if v is not None else row.label, machine=m)
        missing[b] = [
            g
            for g in known
            if g.compute_capability is not None and not has_kernels(g.compute_capability, archs)
        ]

    def skip_line(b: Backend) -> str:
        verdict = verdicts[b]
        parts = []
        if not verdict.full:
            parts.append(verdict.why)
        if missing[b]:
            parts.append("no kernels for " + ", ".join(_gpu_label(g) for g in missing[b]))
        return f"{b.name} skipped: " + "; ".join(parts)

    full = [b for b in candidates if verdicts[b].full and not missing[b]]
    compat = [b for b in candidates if verdicts[b].compat and not missing[b]]
    if full:
        chosen = full[0]
        for b in candidates[: candidates.index(chosen)]:
            reasons.append(skip_line(b))
        reasons.append(f"{chosen.name}: {verdicts[chosen].why}" + _kernel_words(known, chosen))
        reasons.append(
            f"chose {chosen.name}: the newest CUDA build of torch {torch_label} that the driver "
            "fully supports and that has kernels for every GPU"
        )
        return Choice(chosen, tuple(reasons), tuple(warnings), tv)
    if compat:
        chosen = compat[0]
        for b in candidates[: candidates.index(chosen)]:
            reasons.append(skip_line(b))
        reasons.append(f"{chosen.name}: {verdicts[chosen].why}" + _kernel_words(known, chosen))
        reasons.append(
            f"chose {chosen.name}: no CUDA build of torch {torch_label} is fully supported by "
            "this driver; this one runs through CUDA minor-version compatibility"
        )
        warnings.append(
            f"{chosen.name} runs on driver {detected.nvidia_driver or '?'} only through CUDA "
            "minor-version compatibility (no PTX JIT; some libraries may refuse to load); "
            f"upgrade the driver to >= {cuda_needs_driver(chosen, os=table_os)} for full support"
        )
        return Choice(chosen, tuple(reasons), tuple(warnings), tv)
    usable = [b for b in candidates if verdicts[b].full] + [
        b for b in candidates if verdicts[b].compat and not verdicts[b].full
    ]
    if usable:
        # No build has kernels for every GPU: take the one covering most, full support first.
        chosen = min(usable, key=lambda b: (len(missing[b]), usable.index(b)))
        for b in candidates:
            if b != chosen:
                reasons.append(skip_line(b))
        reasons.append(f"{chosen.name}: {verdicts[chosen].why}")
        lost = ", ".join(_gpu_label(g) for g in missing[chosen])
        warnings.append(
            f"no CUDA build of torch {torch_label} has kernels for every GPU; with "
            f"{chosen.name} these cannot be used ('no kernel image is available'): {lost}"
            + _kernel_hint(missing[chosen])
        )
        return Choice(chosen, tuple(reasons), tuple(warnings), tv)
    for b in candidates:
        reasons.append(skip_line(b))
    oldest = candidates[-1]
    warnings.append(
        f"the NVIDIA driver is too old for every CUDA build of torch {torch_label}: using the "
        f"CPU build; upgrade the driver to >= {cuda_needs_driver(oldest, os=table_os)} "
        f"(>= {cuda_minor_compat_floor(oldest, os=table_os)} at the least) for {oldest.name}, "
        "or pick an older torch"
    )
    return Choice(CPU, tuple(reasons), tuple(warnings), tv)


def _kernel_words(known: list[Gpu], backend: Backend) -> str:
    if not known:
        return ""
    return "; has kernels for " + ", ".join(_gpu_label(g) for g in known)


def _kernel_hint(lost: list[Gpu]) -> str:
    caps = [g.compute_capability for g in lost if g.compute_capability is not None]
    if any(c >= (10, 0) for c in caps):
        return "; Blackwell GPUs need torch >= 2.7 with cu128 or newer"
    if any(c < (7, 5) for c in caps):
        return (
            "; Maxwell/Pascal/Volta GPUs need a cu126 (or older) build; CUDA 13 builds dropped them"
        )
    return ""


def _choose_rocm(
    detected: Detection,
    v: Version | None,
    row: TorchRelease,
    torch_label: str,
    o: str,
    m: str,
    head: list[str],
    warnings: list[str],
    tv: str,
) -> Choice | None:
    archs = detected.amd_archs
    reasons = [*head, f"AMD GPU{'s' if len(archs) > 1 else ''}: " + ", ".join(archs)]
    candidates = [b for b in backends_for_torch(v, os=o, machine=m) if b.kind == "rocm"]
    if not candidates:
        warnings.append(
            f"torch {torch_label} has no ROCm builds for {o} {m} on download.pytorch.org: "
            "using the CPU build"
        )
        if detected.intel:
            return None
        return Choice(CPU, tuple(reasons), tuple(warnings), tv)
    reasons.append(
        f"torch {torch_label} ships ROCm builds " + ", ".join(b.name for b in candidates)
    )

    for b in candidates:
        native = [a for a in archs if rocm_supports(b, a)]
        if len(native) == len(archs):
            reasons.append(
                f"chose {b.name}: the newest ROCm build of torch {torch_label} with kernels for "
                + ", ".join(archs)
            )
            return Choice(b, tuple(reasons), tuple(warnings), tv)
        reasons.append(
            f"{b.name} skipped: no kernels for " + ", ".join(a for a in archs if a not in native)
        )
    # HSA_OVERRIDE_GFX_VERSION is one value for the whole process: usable only when every GPU
    # needs the same override (an RX 6700 XT alone, not next to a natively supported card).
    overrides = {_HSA_OVERRIDES[a] for a in archs if a in _HSA_OVERRIDES}
    if len(overrides) == 1 and all(a in _HSA_OVERRIDES for a in archs):
        ((target, value),) = overrides
        for b in candidates:
            if rocm_supports(b, target):
                reasons.append(
                    f"chose {b.name}: its {target} kernels run on {', '.join(archs)} with "
                    f"HSA_OVERRIDE_GFX_VERSION={value}"
                )
                warnings.append(
                    f"PyTorch does not build for {', '.join(archs)}; set "
                    f"HSA_OVERRIDE_GFX_VERSION={value} at run time to use the {target} kernels "
                    "(unsupported by AMD; usually works)"
                )
                return Choice(b, tuple(reasons), tuple(warnings), tv)
    some = [b for b in candidates if any(rocm_supports(b, a) for a in archs)]
    if some:
        chosen = max(some, key=lambda b: (sum(rocm_supports(b, a) for a in archs), -some.index(b)))
        lost = [a for a in archs if not rocm_supports(chosen, a)]
        reasons.append(f"chose {chosen.name}: it has kernels for the most AMD GPUs")
        warnings.append(
            f"no ROCm build of torch {torch_label} supports every AMD GPU; with {chosen.name} "
            f"these cannot be used: {', '.join(lost)} (hide them with HIP_VISIBLE_DEVICES, "
            "e.g. an integrated GPU)"
        )
        return Choice(chosen, tuple(reasons), tuple(warnings), tv)
    warnings.append(
        f"no ROCm build of torch {torch_label} supports {', '.join(archs)}: using the CPU build"
    )
    if detected.intel:
        return None
    return Choice(CPU, tuple(reasons), tuple(warnings), tv)


def _choose_xpu(
    detected: Detection,
    row: TorchRelease,
    torch_label: str,
    o: str,
    m: str,
    head: list[str],
    warnings: list[str],
    tv: str,
) -> Choice | None:
    intel = [g for g in detected.gpus if g.vendor == "intel"]
    names = ", ".join(g.name or (f"PCI {g.pci_id}" if g.pci_id else "Intel GPU") for g in intel)
    reasons = [*head, f"Intel GPU: {names or 'present'}"]
    if not (row.xpu and o in ("linux", "windows") and m == "x86_64"):
        warnings.append(
            f"torch {torch_label} has no XPU build for {o} {m} (XPU wheels exist for Linux and "
            "Windows x86_64 from torch 2.5): using the CPU build"
        )
        return Choice(CPU, tuple(reasons), tuple(warnings), tv)
    unknown = [g for g in intel if not g.xpu_supported]
    if unknown:
        warnings.append(
            "PyTorch XPU supports Intel Arc (A/B series), Core Ultra integrated graphics and "
            "Data Center GPU Max; older integrated graphics fall back to the CPU: "
            + ", ".join(g.name or (g.pci_id or "Intel GPU") for g in unknown)
        )
    reasons.append(f"chose xpu: torch {torch_label} ships an XPU build")
    return Choice(XPU, tuple(reasons), tuple(warnings), tv)
