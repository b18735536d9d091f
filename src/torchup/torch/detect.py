"""What accelerators a machine has: probes, each a thin reader (IO) plus a pure parser.

Every parser takes the text a tool or kernel file produced and returns data; every reader
takes its roots (``sys_root``, ``proc_root``), its command runner and its library loader as
parameters, so tests run them against fake trees and captured output. :func:`detect` runs the
probes in order after the explicit overrides (``TORCHUP_CUDA_DRIVER_VERSION``,
``TORCHUP_GPU_COMPUTE_CAPABILITY``, ``TORCHUP_AMD_GPU_ARCH``) and never raises because a
library or tool is missing: probes that fail leave a note.

Captured outputs of every tool parsed here live in ``tests/fixtures/machines/``.
"""

from __future__ import annotations

import csv
import ctypes
import json
import platform
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from torchup.errors import ConfigError
from torchup.torch.backend import (
    CPU,
    Backend,
    choose_backend,
    cuda_arch_list,
    cuda_minor_compat_floor,
    cuda_needs_driver,
    driver_version_tuple,
    has_kernels,
    normalize_machine,
    normalize_os,
    normalize_windows_driver_version,
    parse_local_label,
    pypi_default_backend,
    rocm_supports,
)

__all__ = [
    "Vendor",
    "Gpu",
    "Detection",
    "Facts",
    "NvidiaReport",
    "NvmlReading",
    "CommandResult",
    "System",
    "Probe",
    "DEFAULT_PROBES",
    "OVERRIDE_KEYS",
    "detect",
    "parse_overrides",
    "parse_sys_module_version",
    "parse_proc_driver_version",
    "parse_nvidia_smi_query_csv",
    "parse_nvidia_smi_table",
    "parse_nvidia_smi_xml",
    "parse_nvidia_smi_list",
    "parse_cuda_version",
    "cuda_version_from_int",
    "parse_kfd_properties",
    "gfx_arch_from_target_version",
    "kfd_node_gpu",
    "parse_rocm_agent_enumerator",
    "parse_amd_smi",
    "pci_display_device",
    "parse_pci_listing",
    "parse_proc_version_is_wsl",
    "parse_sysctl_cpu_brand",
    "parse_win32_video_controllers",
    "read_sys_module_version",
    "read_proc_driver_version",
    "read_kfd_topology",
    "read_pci_devices",
    "read_nvml",
    "read_libcuda_version",
    "run_command",
    "load_library",
    "InstalledTorch",
    "parse_torch_distribution",
    "inspect_installed_torch",
]

Vendor = Literal["nvidia", "amd", "intel", "apple"]

PCI_VENDORS: Mapping[str, Vendor] = {"10de": "nvidia", "1002": "amd", "8086": "intel"}

# Intel GPU device IDs: families PyTorch XPU supports (Intel "Getting Started on Intel GPU":
# Arc A/B series, Core Ultra integrated Arc graphics, Data Center GPU Max), keyed by the leading
# hex digits of the PCI device ID as listed in the Linux kernel's include/drm/intel/pciids.h
# (DG2 0x56xx, BMG 0xe2xx, MTL/ARL 0x7dxx, LNL 0x64xx, PTL 0xb0xx, PVC 0x0bdx). Best effort.
_INTEL_XPU_PREFIXES: tuple[str, ...] = ("56", "e2", "7d", "64", "b0", "0bd")
_INTEL_NAMES: Mapping[str, str] = {
    "56a0": "Intel Arc A770",
    "56a1": "Intel Arc A750",
    "56a5": "Intel Arc A380",
    "e20b": "Intel Arc B580",
    "e20c": "Intel Arc B570",
    "7d55": "Intel Arc Graphics (Meteor Lake)",
    "7dd5": "Intel Graphics (Meteor Lake)",
    "64a0": "Intel Arc Graphics 130V/140V (Lunar Lake)",
    "0bd5": "Intel Data Center GPU Max 1550",
    "0bda": "Intel Data Center GPU Max 1100",
    "3e92": "Intel UHD Graphics 630",
    "4680": "Intel UHD Graphics 770",
    "9a49": "Intel Iris Xe Graphics (Tiger Lake)",
    "a7a0": "Intel Iris Xe Graphics (Raptor Lake)",
}


@dataclass(frozen=True)
class Gpu:
    """One GPU as a probe saw it; unknown fields are None.

    ``compute_capability`` is NVIDIA's (major, minor); ``arch`` is AMD's gfx target
    (``gfx1100``); ``pci_id`` is ``vendor:device`` in lower-case hex (``10de:2330``).
    """

    vendor: Vendor
    name: str | None = None
    compute_capability: tuple[int, int] | None = None
    arch: str | None = None
    memory_mib: int | None = None
    pci_bus_id: str | None = None
    pci_id: str | None = None
    family: str | None = None
    source: str = ""

    @property
    def sm(self) -> str | None:
        """``sm_90`` for compute capability 9.0, else None."""
        if self.compute_capability is None:
            return None
        return f"sm_{self.compute_capability[0]}{self.compute_capability[1]}"

    @property
    def xpu_supported(self) -> bool:
        """Whether PyTorch XPU supports this Intel GPU (best effort, by PCI ID or name)."""
        if self.vendor != "intel":
            return False
        if self.pci_id:
            device = self.pci_id.split(":")[-1].lower()
            return device.startswith(_INTEL_XPU_PREFIXES)
        name = (self.name or "").lower()
        return "arc" in name or "gpu max" in name

    def to_dict(self) -> dict[str, object]:
        """JSON-able form (None fields dropped)."""
        out: dict[str, object] = {"vendor": self.vendor}
        if self.name:
            out["name"] = self.name
        if self.compute_capability is not None:
            out["compute_capability"] = f"{self.compute_capability[0]}.{self.compute_capability[1]}"
            out["sm"] = self.sm
        for key in ("arch", "memory_mib", "pci_bus_id", "pci_id", "family"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.source:
            out["source"] = self.source
        return out


@dataclass(frozen=True)
class Detection:
    """Everything torchup learned about a machine's accelerators, and from where.

    ``sources`` has one line per probe that said something ("nvml: driver 580.159.04, ...");
    ``notes`` holds what went wrong or looks odd (a GPU without a driver, a tool that failed).
    """

    gpus: tuple[Gpu, ...] = ()
    nvidia_driver: str | None = None
    cuda_driver_version: tuple[int, int] | None = None
    amd_archs: tuple[str, ...] = ()
    intel: bool = False
    os: str = "linux"
    machine: str = "x86_64"
    wsl: bool = False
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def nvidia_gpus(self) -> tuple[Gpu, ...]:
        return tuple(g for g in self.gpus if g.vendor == "nvidia")

    @property
    def compute_capabilities(self) -> tuple[tuple[int, int], ...]:
        """Distinct NVIDIA compute capabilities, ascending."""
        caps = {g.compute_capability for g in self.gpus if g.compute_capability is not None}
        return tuple(sorted(caps))

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus) or self.nvidia_driver is not None


@dataclass(frozen=True)
class Facts:
    """What one probe (or the overrides) said; merged by :func:`detect`."""

    source: str
    nvidia_driver: str | None = None
    cuda_driver_version: tuple[int, int] | None = None
    gpus: tuple[Gpu, ...] = ()
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for ``Detection.sources``."""
        bits: list[str] = []
        if self.nvidia_driver:
            bits.append(f"driver {self.nvidia_driver}")
        if self.cuda_driver_version is not None:
            bits.append(f"CUDA {self.cuda_driver_version[0]}.{self.cuda_driver_version[1]}")
        for vendor in ("nvidia", "amd", "intel", "apple"):
            gpus = [g for g in self.gpus if g.vendor == vendor]
            if gpus:
                names = ", ".join(_short_gpu(g) for g in gpus)
                plural = "s" if len(gpus) > 1 else ""
                bits.append(f"{len(gpus)} {_VENDOR_NAMES[vendor]} GPU{plural} ({names})")
        return f"{self.source}: " + ("; ".join(bits) if bits else "nothing")


_VENDOR_NAMES: Mapping[str, str] = {
    "nvidia": "NVIDIA",
    "amd": "AMD",
    "intel": "Intel",
    "apple": "Apple",
}


def _short_gpu(gpu: Gpu) -> str:
    parts = [gpu.name or gpu.pci_id or "unnamed"]
    if gpu.sm:
        parts.append(gpu.sm)
    if gpu.arch:
        parts.append(gpu.arch)
    return " ".join(parts)


@dataclass(frozen=True)
class NvidiaReport:
    """What an NVIDIA tool (nvidia-smi in any format, NVML) reported."""

    driver_version: str | None = None
    cuda_driver_version: tuple[int, int] | None = None
    gpus: tuple[Gpu, ...] = ()
    error: str | None = None

    def facts(self, source: str) -> Facts:
        notes = (f"{source}: {self.error}",) if self.error else ()
        return Facts(source, self.driver_version, self.cuda_driver_version, self.gpus, notes)


# ---------------------------------------------------------------------------------------------
# NVIDIA parsers
# ---------------------------------------------------------------------------------------------

_DRIVER_RE = re.compile(r"\d{2,4}\.\d{1,3}(?:\.\d{1,3})?")


def parse_sys_module_version(text: str) -> str | None:
    """``/sys/module/nvidia/version`` (``580.159.04``) -> the driver version, else None."""
    value = text.strip()
    return value if _DRIVER_RE.fullmatch(value) else None


def parse_proc_driver_version(text: str) -> str | None:
    """The driver version from ``/proc/driver/nvidia/version``'s NVRM line, else None.

    ``NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build ...``:
    the fields are separated by two spaces (the GRID variant names a GRID release first, so
    take the first double-space field that looks like a driver version).
    """
    for line in text.splitlines():
        if not line.startswith("NVRM version:"):
            continue
        for piece in line.split("  ")[1:]:
            if _DRIVER_RE.fullmatch(piece.strip()):
                return piece.strip()
    return None


def parse_cuda_version(text: str) -> tuple[int, int] | None:
    """``"13.0"`` -> ``(13, 0)``; ``N/A`` and garbage -> None."""
    m = re.fullmatch(r"\s*(\d+)\.(\d+)\s*", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def cuda_version_from_int(value: int) -> tuple[int, int] | None:
    """The CUDA driver API's integer (``cuDriverGetVersion``: 13000, 12080) -> (major, minor)."""
    if value <= 0:
        return None
    return (value // 1000, (value % 1000) // 10)


def _capability(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    t = text.strip().lower().removeprefix("sm_").removeprefix("sm")
    m = re.fullmatch(r"(\d+)\.(\d+)", t)
    if m:
        return (int(m.group(1)), int(m.group(2)))
    if re.fullmatch(r"\d{2,3}", t):
        return (int(t[:-1]), int(t[-1]))
    return None


def _na(value: str | None) -> str | None:
    if value is None:
        return None
    v = value.strip()
    if not v or v.strip("[]").lower() in ("n/a", "not supported", "unknown error", "nan"):
        return None
    return v


def _mib(value: str | None) -> int | None:
    v = _na(value)
    if v is None:
        return None
    m = re.match(r"(\d+)", v)
    return int(m.group(1)) if m else None


DEFAULT_QUERY_FIELDS: tuple[str, ...] = (
    "name",
    "driver_version",
    "compute_cap",
    "memory.total",
    "pci.bus_id",
)
_KNOWN_QUERY_FIELDS = frozenset(
    DEFAULT_QUERY_FIELDS + ("index", "uuid", "pci.device_id", "driver_model.current")
)


def parse_nvidia_smi_query_csv(text: str, fields: Sequence[str] | None = None) -> NvidiaReport:
    """``nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]`` output.

    With a header row the columns are taken from it (units like `` [MiB]`` stripped);
    without one, ``fields`` names them (default: name, driver_version, compute_cap,
    memory.total, pci.bus_id; a single column is driver_version). ``[N/A]`` values are None.
    An error message instead of CSV ("Field "compute_cap" is not a valid field to query.")
    gives an empty report carrying the error.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    rows = list(csv.reader(lines, skipinitialspace=True))
    header: list[str]
    if (
        rows
        and any(_field_key(c) in _KNOWN_QUERY_FIELDS for c in rows[0])
        and not any(_DRIVER_RE.fullmatch(c.strip()) for c in rows[0])
    ):
        header = [_field_key(c) for c in rows[0]]
        rows = rows[1:]
    elif fields is not None:
        header = list(fields)
    elif rows and len(rows[0]) == 1:
        header = ["driver_version"]
    else:
        header = list(DEFAULT_QUERY_FIELDS)
    records = [
        dict(zip(header, (c.strip() for c in row), strict=True))
        for row in rows
        if len(row) == len(header)
    ]
    # An error message has one "column" too: keep rows whose driver_version looks like one.
    records = [
        r
        for r in records
        if "driver_version" not in r
        or _na(r["driver_version"]) is None
        or _DRIVER_RE.fullmatch(r["driver_version"])
    ]
    if not records:
        return NvidiaReport(error=lines[0].strip() if lines else "no output")
    driver = next((r["driver_version"] for r in records if _na(r.get("driver_version"))), None)
    gpus: list[Gpu] = []
    if "name" in header or "compute_cap" in header:
        for r in records:
            pci_device = _na(r.get("pci.device_id"))
            gpus.append(
                Gpu(
                    "nvidia",
                    name=_na(r.get("name")),
                    compute_capability=_capability(_na(r.get("compute_cap"))),
                    memory_mib=_mib(r.get("memory.total")),
                    pci_bus_id=_na(r.get("pci.bus_id")),
                    pci_id=_pci_id_from_nvidia(pci_device) if pci_device else None,
                    source="nvidia-smi --query-gpu",
                )
            )
    return NvidiaReport(driver_version=_na(driver), gpus=tuple(gpus))


def _field_key(cell: str) -> str:
    return re.sub(r"\s*\[.*\]\s*$", "", cell.strip()).lower()


def _pci_id_from_nvidia(value: str) -> str | None:
    # nvidia-smi prints the PCI device ID as DDDDVVVV (device, then vendor): 0x233010DE.
    v = value.lower().removeprefix("0x")
    if re.fullmatch(r"[0-9a-f]{8}", v):
        return f"{v[4:]}:{v[:4]}"
    return None


_TABLE_GPU_RE = re.compile(
    r"^\|\s+(\d+)\s+(.+?)\s+(On|Off|WDDM|TCC|N/A)\s*\|\s*"
    r"([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7])"
)
_TABLE_MEM_RE = re.compile(r"(\d+)MiB\s*/\s*(\d+)MiB")


def parse_nvidia_smi_table(text: str) -> NvidiaReport:
    """Plain ``nvidia-smi``: the header's driver and "CUDA Version", and the GPU rows.

    Works for the layouts of the 470 through 580 drivers and Windows/WSL (WDDM). GPU names
    may be truncated with ``...`` by the tool. Error messages ("NVIDIA-SMI has failed because
    it couldn't communicate with the NVIDIA driver", "Failed to initialize NVML: Driver/library
    version mismatch") give an empty report carrying the message.
    """
    driver_m = re.search(r"Driver Version:\s*([0-9][0-9.]*)", text)
    cuda_m = re.search(r"CUDA Version:\s*(\S+)", text)
    lines = text.splitlines()
    gpus: list[Gpu] = []
    for i, line in enumerate(lines):
        m = _TABLE_GPU_RE.match(line)
        if not m:
            continue
        memory = None
        if i + 1 < len(lines):
            mm = _TABLE_MEM_RE.search(lines[i + 1])
            if mm:
                memory = int(mm.group(2))
        gpus.append(
            Gpu(
                "nvidia",
                name=m.group(2).strip(),
                memory_mib=memory,
                pci_bus_id=m.group(4),
                source="nvidia-smi",
            )
        )
    if not driver_m:
        first = next((ln.strip() for ln in lines if ln.strip()), "no output")
        return NvidiaReport(error=first)
    cuda = parse_cuda_version(cuda_m.group(1)) if cuda_m else None
    return NvidiaReport(driver_m.group(1), cuda, tuple(gpus))


def parse_nvidia_smi_xml(text: str) -> NvidiaReport:
    """``nvidia-smi -q -x``: driver, CUDA version and per GPU name, memory, PCI, family.

    The XML carries no compute capability; ``Gpu.family`` holds ``product_architecture``.
    """
    start = text.find("<")
    try:
        root = ET.fromstring(text[start:] if start >= 0 else text)
    except ET.ParseError as exc:
        return NvidiaReport(error=f"unreadable XML: {exc}")
    driver = _na(root.findtext("driver_version"))
    cuda = parse_cuda_version(root.findtext("cuda_version") or "")
    gpus: list[Gpu] = []
    for g in root.findall("gpu"):
        device_id = _na(g.findtext("pci/pci_device_id"))
        gpus.append(
            Gpu(
                "nvidia",
                name=_na(g.findtext("product_name")),
                memory_mib=_mib(g.findtext("fb_memory_usage/total")),
                pci_bus_id=_na(g.findtext("pci/pci_bus_id")) or g.get("id"),
                pci_id=_pci_id_from_nvidia(device_id) if device_id else None,
                family=_na(g.findtext("product_architecture")),
                source="nvidia-smi -q -x",
            )
        )
    return NvidiaReport(driver, cuda, tuple(gpus))


def parse_nvidia_smi_list(text: str) -> tuple[Gpu, ...]:
    """``nvidia-smi -L``: ``GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)`` -> names."""
    out = []
    for line in text.splitlines():
        m = re.match(r"GPU (\d+): (.+?) \(UUID:", line)
        if m:
            out.append(Gpu("nvidia", name=m.group(2), source="nvidia-smi -L"))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# AMD parsers
# ---------------------------------------------------------------------------------------------


def parse_kfd_properties(text: str) -> dict[str, int]:
    """A KFD topology node's ``properties`` file (``key value`` lines) -> ints."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def gfx_arch_from_target_version(value: int) -> str | None:
    """KFD's ``gfx_target_version`` (major*10000 + minor*100 + stepping) -> ``gfx90a``.

    90010 -> gfx90a, 110000 -> gfx1100, 110501 -> gfx1151, 90402 -> gfx942; 0 (a CPU node)
    -> None. Minor and stepping print as hex digits, as LLVM names the targets.
    """
    if value <= 0:
        return None
    major, minor, step = value // 10000, (value // 100) % 100, value % 100
    if major == 0 or minor > 15 or step > 15:
        return None
    return f"gfx{major}{minor:x}{step:x}"


def kfd_node_gpu(props: Mapping[str, int], node: str = "") -> Gpu | None:
    """The GPU a KFD node describes (``simd_count`` > 0 and a gfx target), else None."""
    arch = gfx_arch_from_target_version(props.get("gfx_target_version", 0))
    if arch is None or props.get("simd_count", 0) <= 0:
        return None
    vendor = props.get("vendor_id", 0x1002)
    device = props.get("device_id")
    location = props.get("location_id")
    bus = None
    if location:
        domain = props.get("domain", 0)
        bus = f"{domain:04x}:{location >> 8:02x}:{(location >> 3) & 0x1F:02x}.{location & 7}"
    return Gpu(
        "amd",
        arch=arch,
        pci_id=f"{vendor:04x}:{device:04x}" if device else None,
        pci_bus_id=bus,
        source=f"kfd node {node}".strip(),
    )


def parse_rocm_agent_enumerator(text: str) -> tuple[str, ...]:
    """``rocm_agent_enumerator``'s lines -> gfx targets, without the CPU agent ``gfx000``."""
    out = []
    for line in text.splitlines():
        t = line.strip()
        if re.fullmatch(r"gfx[0-9a-f]{3,4}", t) and t != "gfx000":
            out.append(t)
    return tuple(out)


def parse_amd_smi(text: str) -> tuple[Gpu, ...]:
    """``amd-smi static [--asic]`` as text or ``--json``: name, gfx target, device ID, BDF."""
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        try:
            return _parse_amd_smi_json(json.loads(stripped))
        except (ValueError, TypeError, AttributeError):
            return ()
    gpus: list[Gpu] = []
    current: dict[str, str] | None = None

    def flush() -> None:
        if current is not None:
            gpus.append(_amd_gpu(current))

    for line in text.splitlines():
        m = re.match(r"^GPU:\s*(\d+)\s*$", line)
        if m:
            flush()
            current = {}
            continue
        if current is None:
            continue
        km = re.match(r"^\s+([A-Z_]+):\s*(.*)$", line)
        if km and km.group(1) not in current:
            current[km.group(1)] = km.group(2).strip()
    flush()
    return tuple(gpus)


def _amd_gpu(fields: Mapping[str, str]) -> Gpu:
    arch = _na(fields.get("TARGET_GRAPHICS_VERSION"))
    device = _na(fields.get("DEVICE_ID"))
    return Gpu(
        "amd",
        name=_na(fields.get("MARKET_NAME")),
        arch=arch if arch and re.fullmatch(r"gfx[0-9a-f]{3,4}", arch) else None,
        pci_id=f"1002:{device.lower().removeprefix('0x')}" if device else None,
        pci_bus_id=_na(fields.get("BDF")),
        source="amd-smi",
    )


def _parse_amd_smi_json(data: Any) -> tuple[Gpu, ...]:
    if isinstance(data, dict):
        data = data.get("gpu_data", [data])
    out = []
    for entry in data:
        asic = entry.get("asic", {}) if isinstance(entry, dict) else {}
        bus = entry.get("bus", {}) if isinstance(entry, dict) else {}
        fields = {k.upper(): str(v) for k, v in asic.items()}
        if isinstance(bus, dict) and "bdf" in bus:
            fields["BDF"] = str(bus["bdf"])
        out.append(_amd_gpu(fields))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# PCI, WSL, macOS, Windows parsers
# ---------------------------------------------------------------------------------------------


def pci_display_device(
    address: str, vendor: str, device: str, pci_class: str, driver: str | None = None
) -> Gpu | None:
    """A PCI function as a GPU, or None when it is not one.

    GPUs are base class 0x03 (display: VGA 0x0300, 3D 0x0302, other 0x0380). AMD Instinct
    accelerators may report 0x12 (processing accelerator) instead. Everything else -- notably
    Intel's host bridges (0x0600) and NPUs (0x1200), which share vendor 0x8086 -- is not.
    """
    v = vendor.strip().lower().removeprefix("0x")
    d = device.strip().lower().removeprefix("0x")
    try:
        klass = int(pci_class.strip(), 16)
    except ValueError:
        return None
    base = klass >> 16
    maker = PCI_VENDORS.get(v)
    if maker is None:
        return None
    if base != 0x03 and not (maker == "amd" and base == 0x12):
        return None
    name = _INTEL_NAMES.get(d) if maker == "intel" else None
    note = f"pci ({driver})" if driver else "pci (no driver bound)"
    return Gpu(maker, name=name, pci_id=f"{v}:{d}", pci_bus_id=address or None, source=note)


def parse_pci_listing(text: str) -> tuple[Gpu, ...]:
    """Lines ``/sys/bus/pci/devices/ADDR vendor=0x.. device=0x.. class=0x.. driver=..``."""
    out = []
    for line in text.splitlines():
        m = re.match(
            r"\S*?([0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\s+vendor=(\S+)\s+"
            r"device=(\S+)\s+class=(\S+)(?:\s+driver=(\S*))?",
            line.strip(),
        )
        if m:
            gpu = pci_display_device(m.group(1), m.group(2), m.group(3), m.group(4), m.group(5))
            if gpu is not None:
                out.append(gpu)
    return tuple(out)


def parse_proc_version_is_wsl(text: str) -> bool:
    """Whether ``/proc/version`` (or ``osrelease``) is a WSL kernel's (``microsoft-standard-WSL2``)."""
    t = text.lower()
    return "microsoft" in t or "wsl" in t


def parse_sysctl_cpu_brand(text: str) -> Gpu | None:
    """``sysctl -n machdep.cpu.brand_string`` on macOS: Apple silicon -> its GPU (MPS)."""
    brand = text.strip()
    if brand.startswith("Apple"):
        return Gpu("apple", name=f"{brand} GPU", family="Apple silicon (MPS)", source="sysctl")
    return None


def parse_win32_video_controllers(text: str) -> tuple[Gpu, ...]:
    """Win32_VideoController as CSV (PowerShell ``ConvertTo-Csv``): Name, PNPDeviceID, ...

    The vendor and device come from ``PCI\\VEN_8086&DEV_56A0&...``; the driver version
    (Windows file version) is normalized to NVIDIA's form for NVIDIA adapters.
    """
    rows = list(csv.DictReader(line for line in text.splitlines() if line.strip()))
    out = []
    for row in rows:
        pnp = (row.get("PNPDeviceID") or "").upper()
        m = re.search(r"VEN_([0-9A-F]{4})&DEV_([0-9A-F]{4})", pnp)
        if not m:
            continue
        vendor, device = m.group(1).lower(), m.group(2).lower()
        maker = PCI_VENDORS.get(vendor)
        if maker is None:
            continue
        out.append(
            Gpu(
                maker,
                name=_na(row.get("Name")),
                pci_id=f"{vendor}:{device}",
                source="Win32_VideoController",
            )
        )
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# readers (IO)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandResult:
    """A finished command: exit status and output."""

    returncode: int
    stdout: str
    stderr: str = ""


Runner = Callable[[Sequence[str]], CommandResult | None]
LibraryLoader = Callable[[str], Any]


def run_command(argv: Sequence[str], timeout: float = 15.0) -> CommandResult | None:
    """Run a tool; None when it is missing, cannot start or times out (never raises)."""
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return CommandResult(proc.returncode, proc.stdout, proc.stderr)


def load_library(name: str) -> Any:
    """``ctypes.CDLL(name)``, or None when it cannot be loaded."""
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def read_sys_module_version(sys_root: Path = Path("/sys")) -> str | None:
    """The driver version in ``<sys_root>/module/nvidia/version``, else None."""
    text = _read_text(sys_root / "module" / "nvidia" / "version")
    return parse_sys_module_version(text) if text is not None else None


def read_proc_driver_version(proc_root: Path = Path("/proc")) -> str | None:
    """The driver version in ``<proc_root>/driver/nvidia/version``, else None."""
    text = _read_text(proc_root / "driver" / "nvidia" / "version")
    return parse_proc_driver_version(text) if text is not None else None


def read_kfd_topology(sys_root: Path = Path("/sys")) -> tuple[Gpu, ...]:
    """AMD GPUs from ``<sys_root>/class/kfd/kfd/topology/nodes/*/properties`` (ROCm's view)."""
    nodes = sys_root / "class" / "kfd" / "kfd" / "topology" / "nodes"
    try:
        entries = sorted(
            (p for p in nodes.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
        )
    except OSError:
        return ()
    out = []
    for node in entries:
        text = _read_text(node / "properties")
        if text is None:
            continue
        gpu = kfd_node_gpu(parse_kfd_properties(text), node.name)
        if gpu is not None:
            out.append(gpu)
    return tuple(out)


def read_pci_devices(sys_root: Path = Path("/sys")) -> tuple[Gpu, ...]:
    """GPUs among ``<sys_root>/bus/pci/devices/*`` (vendor, device, class, bound driver)."""
    devices = sys_root / "bus" / "pci" / "devices"
    try:
        entries = sorted(devices.iterdir())
    except OSError:
        return ()
    out = []
    for dev in entries:
        vendor = _read_text(dev / "vendor")
        device = _read_text(dev / "device")
        klass = _read_text(dev / "class")
        if vendor is None or device is None or klass is None:
            continue
        driver = None
        try:
            driver = (dev / "driver").resolve(strict=True).name
        except OSError:
            driver = None
        gpu = pci_display_device(dev.name, vendor, device, klass, driver)
        if gpu is not None:
            out.append(gpu)
    return tuple(out)


@dataclass(frozen=True)
class NvmlReading:
    """What NVML said through ctypes (raw values; see :meth:`report`)."""

    library: str
    driver_version: str | None = None
    cuda_driver_version: int | None = None
    devices: tuple[tuple[str | None, tuple[int, int] | None], ...] = ()

    def report(self) -> NvidiaReport:
        cuda = (
            cuda_version_from_int(self.cuda_driver_version)
            if self.cuda_driver_version is not None
            else None
        )
        gpus = tuple(
            Gpu("nvidia", name=name, compute_capability=cap, source="nvml")
            for name, cap in self.devices
        )
        return NvidiaReport(self.driver_version, cuda, gpus)


_NVML_BUFFER = 96  # NVML_DEVICE_NAME_V2_BUFFER_SIZE; the driver version needs 80.


def read_nvml(
    load: LibraryLoader = load_library, names: Sequence[str] = ("libnvidia-ml.so.1",)
) -> NvmlReading | None:
    """Ask NVML (nvmlInit_v2 ... nvmlShutdown) for driver, CUDA version and devices.

    Returns None when no library in ``names`` loads or ``nvmlInit_v2`` fails; never raises
    for a missing or broken library.
    """
    for name in names:
        lib = load(name)
        if lib is None:
            continue
        try:
            return _read_nvml(lib, name)
        except (OSError, AttributeError, TypeError, ValueError, ctypes.ArgumentError):
            return None
    return None


def _read_nvml(lib: Any, name: str) -> NvmlReading | None:
    if lib.nvmlInit_v2() != 0:
        return None
    try:
        buf = ctypes.create_string_buffer(_NVML_BUFFER)
        driver = None
        if lib.nvmlSystemGetDriverVersion(buf, ctypes.c_uint(_NVML_BUFFER)) == 0:
            driver = buf.value.decode("ascii", "replace") or None
        cuda = ctypes.c_int(0)
        cuda_value = None
        if lib.nvmlSystemGetCudaDriverVersion_v2(ctypes.byref(cuda)) == 0:
            cuda_value = cuda.value
        count = ctypes.c_uint(0)
        devices: list[tuple[str | None, tuple[int, int] | None]] = []
        if lib.nvmlDeviceGetCount_v2(ctypes.byref(count)) == 0:
            for index in range(count.value):
                handle = ctypes.c_void_p()
                if lib.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(index), ctypes.byref(handle)):
                    devices.append((None, None))
                    continue
                name_buf = ctypes.create_string_buffer(_NVML_BUFFER)
                gpu_name = None
                if lib.nvmlDeviceGetName(handle, name_buf, ctypes.c_uint(_NVML_BUFFER)) == 0:
                    gpu_name = name_buf.value.decode("utf-8", "replace") or None
                major, minor = ctypes.c_int(0), ctypes.c_int(0)
                cap = None
                if (
                    lib.nvmlDeviceGetCudaComputeCapability(
                        handle, ctypes.byref(major), ctypes.byref(minor)
                    )
                    == 0
                ):
                    cap = (major.value, minor.value)
                devices.append((gpu_name, cap))
        return NvmlReading(name, driver, cuda_value, tuple(devices))
    finally:
        lib.nvmlShutdown()


def read_libcuda_version(
    load: LibraryLoader = load_library, names: Sequence[str] = ("libcuda.so.1",)
) -> int | None:
    """``cuDriverGetVersion`` from the CUDA driver library (13000 for CUDA 13.0), else None.

    Does not call ``cuInit``: the version query needs no context and stays cheap.
    """
    for name in names:
        lib = load(name)
        if lib is None:
            continue
        try:
            value = ctypes.c_int(0)
            if lib.cuDriverGetVersion(ctypes.byref(value)) == 0 and value.value > 0:
                return int(value.value)
        except (OSError, AttributeError, TypeError, ValueError, ctypes.ArgumentError):
            return None
    return None


@dataclass(frozen=True)
class System:
    """The machine probes read: platform, filesystem roots, a command runner, a lib loader.

    Tests build one with fake roots (``tmp_path``), a runner that replays captures and a
    loader returning fake libraries; :meth:`current` describes the running machine.
    """

    os: str = "linux"
    machine: str = "x86_64"
    wsl: bool = False
    sys_root: Path = Path("/sys")
    proc_root: Path = Path("/proc")
    wsl_lib_dir: Path = Path("/usr/lib/wsl/lib")
    rocm_bin_dir: Path = Path("/opt/rocm/bin")
    run: Runner = run_command
    which: Callable[[str], str | None] = shutil.which
    load_library: LibraryLoader = load_library

    @classmethod
    def current(cls) -> System:
        """This machine (reads ``/proc/version`` to recognise WSL)."""
        os_name = normalize_os(platform.system())
        machine = platform.machine() or "x86_64"
        wsl = False
        if os_name == "linux":
            text = _read_text(Path("/proc/version"))
            wsl = bool(text and parse_proc_version_is_wsl(text))
        return cls(os=os_name, machine=machine, wsl=wsl)

    def tool(self, name: str, *fallbacks: Path | str) -> str | None:
        """A tool on PATH, else the first existing fallback path."""
        found = self.which(name)
        if found:
            return found
        for fb in fallbacks:
            if Path(fb).exists():
                return str(fb)
        return None


@dataclass(frozen=True)
class Probe:
    """A named reader: which facts it can provide and on which OSes it runs.

    ``provides`` is a subset of {"driver", "cuda", "nvidia_gpus", "amd", "intel", "pci",
    "apple"}; :func:`detect` skips a probe whose facts are all known already ("pci" never is),
    or when any fact in ``skip_when`` is known (a costly probe made pointless by another).
    """

    name: str
    provides: frozenset[str]
    read: Callable[[System], Facts | None]
    oses: frozenset[str] = frozenset({"linux"})
    skip_when: frozenset[str] = frozenset()


def _probe_sys_module(system: System) -> Facts | None:
    version = read_sys_module_version(system.sys_root)
    return Facts("/sys/module/nvidia/version", nvidia_driver=version) if version else None


def _probe_proc_driver(system: System) -> Facts | None:
    version = read_proc_driver_version(system.proc_root)
    return Facts("/proc/driver/nvidia/version", nvidia_driver=version) if version else None


def _nvml_names(system: System) -> list[str]:
    if system.os == "windows":
        return ["nvml.dll", r"C:\Program Files\NVIDIA Corporation\NVSMI\nvml.dll"]
    names = ["libnvidia-ml.so.1"]
    if system.wsl:
        names.insert(0, str(system.wsl_lib_dir / "libnvidia-ml.so.1"))
    return names


def _probe_nvml(system: System) -> Facts | None:
    reading = read_nvml(system.load_library, _nvml_names(system))
    if reading is None:
        return None
    return reading.report().facts(f"NVML ({reading.library})")


def _nvidia_smi(system: System) -> str | None:
    if system.os == "windows":
        return system.tool(
            "nvidia-smi",
            r"C:\Windows\System32\nvidia-smi.exe",
            r"C:\Program Files\NVIDIA Corporation\NVSMI\nvidia-smi.exe",
        )
    return system.tool("nvidia-smi", system.wsl_lib_dir / "nvidia-smi")


def _probe_nvidia_smi_query(system: System) -> Facts | None:
    tool = _nvidia_smi(system)
    if tool is None:
        return None
    fields = ",".join(DEFAULT_QUERY_FIELDS)
    result = system.run([tool, f"--query-gpu={fields}", "--format=csv"])
    if result is None:
        return None
    report = parse_nvidia_smi_query_csv(result.stdout) if result.returncode == 0 else None
    if report is None or not report.gpus:
        # Drivers before ~510 do not know the compute_cap field: ask again without it.
        older = ",".join(f for f in DEFAULT_QUERY_FIELDS if f != "compute_cap")
        retry = system.run([tool, f"--query-gpu={older}", "--format=csv"])
        if retry is None or retry.returncode != 0:
            message = (result.stdout or result.stderr).strip().splitlines()
            return Facts(
                "nvidia-smi --query-gpu",
                notes=(f"nvidia-smi --query-gpu failed: {message[0] if message else '?'}",),
            )
        report = parse_nvidia_smi_query_csv(retry.stdout)
    return report.facts("nvidia-smi --query-gpu")


def _probe_nvidia_smi_table(system: System) -> Facts | None:
    tool = _nvidia_smi(system)
    if tool is None:
        return None
    result = system.run([tool])
    if result is None:
        return None
    return parse_nvidia_smi_table(result.stdout or result.stderr).facts("nvidia-smi")


def _libcuda_names(system: System) -> list[str]:
    if system.os == "windows":
        return ["nvcuda.dll"]
    names = ["libcuda.so.1"]
    if system.wsl:
        names.insert(0, str(system.wsl_lib_dir / "libcuda.so.1"))
    return names


def _probe_libcuda(system: System) -> Facts | None:
    value = read_libcuda_version(system.load_library, _libcuda_names(system))
    if value is None:
        return None
    return Facts("libcuda cuDriverGetVersion", cuda_driver_version=cuda_version_from_int(value))


def _probe_kfd(system: System) -> Facts | None:
    gpus = read_kfd_topology(system.sys_root)
    return Facts("/sys/class/kfd topology", gpus=gpus) if gpus else None


def _probe_rocm_agent_enumerator(system: System) -> Facts | None:
    tool = system.tool("rocm_agent_enumerator", system.rocm_bin_dir / "rocm_agent_enumerator")
    if tool is None:
        return None
    result = system.run([tool])
    if result is None or result.returncode != 0:
        return None
    archs = parse_rocm_agent_enumerator(result.stdout)
    gpus = tuple(Gpu("amd", arch=a, source="rocm_agent_enumerator") for a in archs)
    return Facts("rocm_agent_enumerator", gpus=gpus) if gpus else None


def _probe_amd_smi(system: System) -> Facts | None:
    tool = system.tool("amd-smi", system.rocm_bin_dir / "amd-smi")
    if tool is None:
        return None
    result = system.run([tool, "static", "--asic", "--bus"])
    if result is None or result.returncode != 0:
        return None
    gpus = parse_amd_smi(result.stdout)
    return Facts("amd-smi static", gpus=gpus) if gpus else None


def _probe_pci(system: System) -> Facts | None:
    gpus = read_pci_devices(system.sys_root)
    return Facts("/sys/bus/pci/devices", gpus=gpus)


def _probe_windows_video(system: System) -> Facts | None:
    command = (
        "Get-CimInstance Win32_VideoController | Select-Object Name,PNPDeviceID,DriverVersion "
        "| ConvertTo-Csv -NoTypeInformation"
    )
    result = system.run(["powershell", "-NoProfile", "-NonInteractive", "-Command", command])
    if result is None or result.returncode != 0:
        return None
    return Facts("Win32_VideoController", gpus=parse_win32_video_controllers(result.stdout))


def _probe_macos(system: System) -> Facts | None:
    result = system.run(["sysctl", "-n", "machdep.cpu.brand_string"])
    if result is None or result.returncode != 0:
        return None
    gpu = parse_sysctl_cpu_brand(result.stdout)
    return Facts("sysctl machdep.cpu.brand_string", gpus=(gpu,) if gpu else ())


_LINUX = frozenset({"linux"})
_LINUX_WINDOWS = frozenset({"linux", "windows"})

# Cheapest first: kernel files, NVML (one dlopen, every fact), nvidia-smi, libcuda, AMD, bus.
DEFAULT_PROBES: tuple[Probe, ...] = (
    Probe("sys-module", frozenset({"driver"}), _probe_sys_module, _LINUX),
    Probe("proc-driver", frozenset({"driver"}), _probe_proc_driver, _LINUX),
    Probe("nvml", frozenset({"driver", "cuda", "nvidia_gpus"}), _probe_nvml, _LINUX_WINDOWS),
    Probe(
        "nvidia-smi-query",
        frozenset({"driver", "nvidia_gpus"}),
        _probe_nvidia_smi_query,
        _LINUX_WINDOWS,
    ),
    Probe("libcuda", frozenset({"cuda"}), _probe_libcuda, _LINUX_WINDOWS),
    Probe("nvidia-smi", frozenset({"driver", "cuda"}), _probe_nvidia_smi_table, _LINUX_WINDOWS),
    Probe("kfd", frozenset({"amd"}), _probe_kfd, _LINUX),
    Probe("rocm-agent-enumerator", frozenset({"amd"}), _probe_rocm_agent_enumerator, _LINUX),
    Probe("amd-smi", frozenset({"amd"}), _probe_amd_smi, _LINUX),
    Probe("pci", frozenset({"intel", "pci"}), _probe_pci, _LINUX),
    # PowerShell takes ~1 s to start: not worth it once an NVIDIA driver answered.
    Probe(
        "windows-video",
        frozenset({"intel", "pci"}),
        _probe_windows_video,
        frozenset({"windows"}),
        skip_when=frozenset({"driver"}),
    ),
    Probe("macos", frozenset({"apple"}), _probe_macos, frozenset({"macos"})),
)


# ---------------------------------------------------------------------------------------------
# overrides and detect()
# ---------------------------------------------------------------------------------------------

OVERRIDE_KEYS = (
    "TORCHUP_CUDA_DRIVER_VERSION",
    "TORCHUP_GPU_COMPUTE_CAPABILITY",
    "TORCHUP_AMD_GPU_ARCH",
)


def parse_overrides(overrides: Mapping[str, str]) -> Facts | None:
    """The explicit overrides as Facts (None when none is set); invalid values raise ConfigError.

    ``TORCHUP_CUDA_DRIVER_VERSION``: ``550.144.03`` (a Windows file version such as
    ``32.0.15.7602`` is converted); ``TORCHUP_GPU_COMPUTE_CAPABILITY``: ``8.6``, ``86`` or
    ``sm_86``, comma-separated for several GPUs; ``TORCHUP_AMD_GPU_ARCH``: ``gfx1100[,gfx90a]``.
    """
    driver = (overrides.get("TORCHUP_CUDA_DRIVER_VERSION") or "").strip()
    caps = (overrides.get("TORCHUP_GPU_COMPUTE_CAPABILITY") or "").strip()
    archs = (overrides.get("TORCHUP_AMD_GPU_ARCH") or "").strip()
    if not (driver or caps or archs):
        return None
    gpus: list[Gpu] = []
    used = []
    if driver:
        driver = normalize_windows_driver_version(driver)
        if not re.fullmatch(r"\d{2,4}(\.\d{1,3}){0,2}", driver):
            raise ConfigError(
                f"invalid NVIDIA driver version {driver!r}",
                key="TORCHUP_CUDA_DRIVER_VERSION",
                hint="write it as nvidia-smi shows it, for example 550.144.03",
            )
        used.append("TORCHUP_CUDA_DRIVER_VERSION")
    if caps:
        for piece in caps.split(","):
            cap = _capability(piece)
            if cap is None:
                raise ConfigError(
                    f"invalid compute capability {piece.strip()!r}",
                    key="TORCHUP_GPU_COMPUTE_CAPABILITY",
                    hint="write it as 8.6 (or 86, sm_86); separate several GPUs with commas",
                )
            gpus.append(
                Gpu("nvidia", compute_capability=cap, source="TORCHUP_GPU_COMPUTE_CAPABILITY")
            )
        used.append("TORCHUP_GPU_COMPUTE_CAPABILITY")
    if archs:
        for piece in archs.split(","):
            arch = piece.strip().lower()
            if not re.fullmatch(r"gfx[0-9a-f]{3,4}", arch):
                raise ConfigError(
                    f"invalid AMD GPU architecture {piece.strip()!r}",
                    key="TORCHUP_AMD_GPU_ARCH",
                    hint="write the gfx target rocminfo shows, for example gfx1100 or gfx90a",
                )
            gpus.append(Gpu("amd", arch=arch, source="TORCHUP_AMD_GPU_ARCH"))
        used.append("TORCHUP_AMD_GPU_ARCH")
    return Facts("+".join(used), nvidia_driver=driver or None, gpus=tuple(gpus))


def _known(state: _Merge) -> set[str]:
    known: set[str] = set()
    if state.pinned_driver:
        known.update(("driver", "cuda"))
    if state.driver is not None:
        known.add("driver")
    if state.cuda is not None:
        known.add("cuda")
    if state.nvidia and all(g.compute_capability is not None for g in state.nvidia):
        known.add("nvidia_gpus")
    if state.amd:
        known.add("amd")
    if state.apple:
        known.add("apple")
    return known


_BUS_SOURCES = frozenset({"/sys/bus/pci/devices", "Win32_VideoController"})


@dataclass
class _Merge:
    driver: str | None = None
    driver_source: str | None = None
    cuda: tuple[int, int] | None = None
    nvidia: tuple[Gpu, ...] = ()
    amd: tuple[Gpu, ...] = ()
    intel: tuple[Gpu, ...] = ()
    apple: tuple[Gpu, ...] = ()
    pci: tuple[Gpu, ...] = ()
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pinned_driver: bool = False
    pinned_nvidia: bool = False
    pinned_amd: bool = False
    hidden: str | None = None  # the vendor the overrides rule out (see _hidden_vendor)

    def add(self, facts: Facts) -> None:
        self.sources.append(facts.summary())
        self.notes.extend(facts.notes)
        if facts.nvidia_driver and self.driver is None:
            self.driver, self.driver_source = facts.nvidia_driver, facts.source
        elif (
            facts.nvidia_driver
            and self.driver
            and not self.pinned_driver
            and driver_version_tuple(facts.nvidia_driver) != driver_version_tuple(self.driver)
        ):
            self.notes.append(
                f"{facts.source} reports driver {facts.nvidia_driver} but {self.driver_source} "
                f"said {self.driver}; using {self.driver} (reboot after a driver upgrade?)"
            )
        if facts.cuda_driver_version is not None and self.cuda is None and not self.pinned_driver:
            self.cuda = facts.cuda_driver_version
        intel = tuple(g for g in facts.gpus if g.vendor == "intel")
        if intel and not self.intel:
            self.intel = intel
        if facts.source in _BUS_SOURCES:
            # Bus listings say a GPU is present, not that a driver serves it: kept apart.
            self.pci = facts.gpus
            return
        nvidia = tuple(g for g in facts.gpus if g.vendor == "nvidia")
        if nvidia and not self.pinned_nvidia:
            richer = sum(g.compute_capability is not None for g in nvidia) > sum(
                g.compute_capability is not None for g in self.nvidia
            )
            if not self.nvidia or richer:
                self.nvidia = nvidia
        amd = tuple(g for g in facts.gpus if g.vendor == "amd" and g.arch)
        if amd and not self.pinned_amd and not self.amd:
            self.amd = amd
        apple = tuple(g for g in facts.gpus if g.vendor == "apple")
        if apple and not self.apple:
            self.apple = apple


def detect(
    probes: Sequence[Probe] = DEFAULT_PROBES,
    overrides: Mapping[str, str] | None = None,
    *,
    system: System | None = None,
) -> Detection:
    """Detect the machine's accelerators: overrides first, then ``probes`` in order.

    A probe is skipped when every fact it provides is already known (so a machine whose NVML
    answers never starts nvidia-smi). Probes that raise are recorded in ``notes``, never
    propagated: a broken library must not break an install. Only invalid ``overrides`` raise
    (:class:`ConfigError`).
    """
    sysm = system if system is not None else System.current()
    state = _Merge()
    pinned = parse_overrides(overrides or {})
    if pinned is not None:
        state.add(pinned)
        state.pinned_driver = pinned.nvidia_driver is not None
        state.pinned_nvidia = any(g.vendor == "nvidia" for g in pinned.gpus)
        state.pinned_amd = any(g.vendor == "amd" for g in pinned.gpus)
        if state.pinned_driver:
            state.notes.append(
                "TORCHUP_CUDA_DRIVER_VERSION is set: driver facts from probes are ignored"
            )
    os_name = normalize_os(sysm.os)
    hidden = state.hidden = _hidden_vendor(state)
    if hidden == "nvidia":
        state.notes.append("TORCHUP_AMD_GPU_ARCH is set: NVIDIA GPUs and drivers are ignored")
    elif hidden == "amd":
        state.notes.append("NVIDIA overrides are set: AMD GPUs are ignored")
    for probe in probes:
        if os_name not in probe.oses:
            continue
        if hidden is not None and probe.provides <= _VENDOR_PROVIDES[hidden]:
            continue
        known = _known(state)
        if "pci" not in probe.provides and probe.provides <= known:
            continue
        if probe.skip_when & known:
            continue
        try:
            facts = probe.read(sysm)
        except Exception as exc:  # noqa: BLE001 - a probe bug must not break detection
            state.notes.append(f"probe {probe.name} failed: {type(exc).__name__}: {exc}")
            continue
        if facts is None:
            continue
        if state.pinned_driver and (facts.nvidia_driver or facts.cuda_driver_version):
            facts = replace(facts, nvidia_driver=None, cuda_driver_version=None)
        state.add(_without_vendor(facts, hidden))
    return _finish(state, sysm, os_name)


_VENDOR_PROVIDES: Mapping[str, frozenset[str]] = {
    "nvidia": frozenset({"driver", "cuda", "nvidia_gpus"}),
    "amd": frozenset({"amd"}),
}


def _hidden_vendor(state: _Merge) -> str | None:
    """The vendor the overrides rule out, if any.

    An override names the accelerator to build for: ``TORCHUP_AMD_GPU_ARCH`` alone on a machine
    that also has an NVIDIA GPU (a CI runner, a mixed box) means "choose ROCm", yet the NVIDIA
    driver the probes find would win the backend choice. Likewise the NVIDIA overrides rule out
    AMD GPUs. Both vendors pinned keeps both, as given."""
    pinned_nvidia = state.pinned_nvidia or state.pinned_driver
    if state.pinned_amd and not pinned_nvidia:
        return "nvidia"
    if pinned_nvidia and not state.pinned_amd:
        return "amd"
    return None


def _without_vendor(facts: Facts, vendor: str | None) -> Facts:
    """``facts`` less the GPUs (and, for NVIDIA, the driver) of ``vendor``. Bus listings are kept
    whole, so the sources say what is there; :func:`_finish` leaves their ``vendor`` GPUs out."""
    if vendor is None or facts.source in _BUS_SOURCES:
        return facts
    kept = tuple(g for g in facts.gpus if g.vendor != vendor)
    if vendor == "nvidia":
        return replace(facts, gpus=kept, nvidia_driver=None, cuda_driver_version=None)
    return replace(facts, gpus=kept)


def _machine_name(os_name: str, machine: str) -> str:
    m = normalize_machine(machine)
    # Apple calls it arm64 (wheel tags macosx_11_0_arm64); Linux calls it aarch64.
    return "arm64" if os_name == "macos" and m == "aarch64" else m


def _finish(state: _Merge, sysm: System, os_name: str) -> Detection:
    nvidia = state.nvidia
    pci = tuple(g for g in state.pci if g.vendor != state.hidden)
    pci_nvidia = tuple(g for g in pci if g.vendor == "nvidia")
    if not nvidia and pci_nvidia:
        nvidia = pci_nvidia
        if state.driver is None and state.cuda is None:
            state.notes.append(
                "an NVIDIA GPU is on the PCI bus but no NVIDIA driver answered "
                "(no /sys/module/nvidia, NVML or nvidia-smi)"
            )
    elif nvidia and pci_nvidia and len(pci_nvidia) > len(nvidia):
        state.notes.append(
            f"{len(pci_nvidia)} NVIDIA GPUs on the PCI bus but the driver lists {len(nvidia)}"
        )
    if (
        state.driver is None
        and state.cuda is None
        and nvidia
        and not pci_nvidia
        and not any(g.source == "TORCHUP_GPU_COMPUTE_CAPABILITY" for g in nvidia)
    ):
        state.notes.append("NVIDIA GPUs listed without a driver version")
    amd = state.amd
    pci_amd = tuple(g for g in pci if g.vendor == "amd")
    if not amd and pci_amd:
        amd = pci_amd
        state.notes.append(
            "an AMD GPU is on the PCI bus but ROCm's KFD reports none (is the amdgpu driver "
            "loaded?); set TORCHUP_AMD_GPU_ARCH to choose a ROCm build anyway"
        )
    archs = tuple(sorted({g.arch for g in amd if g.arch}))
    gpus = nvidia + amd + state.intel + state.apple
    return Detection(
        gpus=gpus,
        nvidia_driver=state.driver,
        cuda_driver_version=state.cuda,
        amd_archs=archs,
        intel=bool(state.intel),
        os=os_name,
        machine=_machine_name(os_name, sysm.machine),
        wsl=sysm.wsl,
        sources=tuple(state.sources),
        notes=tuple(dict.fromkeys(state.notes)),
    )


# ---------------------------------------------------------------------------------------------
# installed torch
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstalledTorch:
    """An installed torch, the backend it was built for and whether this machine can use it."""

    version: Version
    backend: Backend | None
    backend_source: str
    usable: bool | None
    message: str
    suggestion: Backend | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "version": str(self.version),
            "backend": self.backend.name if self.backend else None,
            "backend_source": self.backend_source,
            "usable": self.usable,
            "message": self.message,
            "suggestion": self.suggestion.name if self.suggestion else None,
        }


def parse_torch_distribution(text: str) -> tuple[Version, tuple[str, ...]]:
    """A torch version and its Requires-Dist from any of: a version string (``2.11.0+cu130``),
    METADATA text (``Version:`` / ``Requires-Dist:`` lines), or ``== torch 2.11.0`` followed by
    requirement lines (importlib.metadata dumps). Raises ValueError when there is no version.
    """
    stripped = text.strip()
    try:
        return Version(stripped), ()
    except InvalidVersion:
        pass
    lines = stripped.splitlines()
    version: Version | None = None
    requires: list[str] = []
    in_torch = False
    for line in lines:
        m = re.match(r"^==\s*(\S+)\s+(\S+)", line)
        if m:
            in_torch = m.group(1).lower() == "torch"
            if in_torch:
                version = Version(m.group(2))
            continue
        if in_torch and line.strip() and version is not None:
            requires.append(line.strip())
            continue
        m = re.match(r"^Version:\s*(\S+)", line)
        if m and version is None:
            version = Version(m.group(1))
        m = re.match(r"^Requires-Dist:\s*(.+)$", line)
        if m:
            requires.append(m.group(1).strip())
    if version is None:
        raise ValueError("no torch version found")
    return version, tuple(requires)


def _backend_from_requires(requires: Iterable[str]) -> Backend | None:
    """The CUDA/ROCm/XPU flavour a torch wheel's Requires-Dist reveals."""
    names: list[tuple[str, str]] = []
    for line in requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        names.append((req.name.lower().replace("_", "-"), str(req.specifier)))
    for name, spec in names:
        # cuda-toolkit[...]==13.0.2 (cu13 wheels); nvidia-cuda-runtime[-cu12]==12.8.90.
        if name in (
            "cuda-toolkit",
            "nvidia-cuda-runtime",
            "nvidia-cuda-runtime-cu12",
            "nvidia-cuda-runtime-cu11",
            "nvidia-cuda-nvrtc-cu12",
            "nvidia-cuda-nvrtc-cu11",
        ):
            m = re.search(r"==\s*(\d+)\.(\d+)", spec)
            if m:
                return Backend("cuda", (int(m.group(1)), int(m.group(2))))
    for name, _ in names:
        if name == "pytorch-triton-rocm":
            return Backend("rocm", ())
        if name in ("pytorch-triton-xpu", "intel-sycl-rt", "intel-cmplr-lib-rt"):
            return Backend("xpu")
    if names and not any(n.startswith(("nvidia-", "cuda-")) for n, _ in names):
        return CPU
    return None


def inspect_installed_torch(
    text: str,
    detection: Detection | None = None,
    *,
    os: str | None = None,
    machine: str | None = None,
) -> InstalledTorch:
    """Which backend an installed torch is and whether the detected machine can use it.

    ``text`` is a version (``2.11.0+cu130``), METADATA text or a ``== torch`` dump. The backend
    comes from the local label, else from Requires-Dist, else from what PyPI serves for the
    platform. With ``detection`` the verdict says e.g. "torch 2.11.0+cu130 needs NVIDIA driver
    >= 580.65.06; you have 575.57.08: torch.cuda.is_available() will be False; run `torchup pip
    install --torch-backend auto torch` to get cu128".
    """
    version, requires = parse_torch_distribution(text)
    o = normalize_os(os or (detection.os if detection else "linux"))
    m = normalize_machine(machine or (detection.machine if detection else "x86_64"))
    backend = parse_local_label(version.local)
    source = "local version label"
    if backend is None:
        backend = _backend_from_requires(requires)
        source = "Requires-Dist"
    if backend is None:
        backend = pypi_default_backend(version, os=o, machine=m)
        source = f"PyPI's build for {o} {m}"
    shown = str(version) if version.local else f"{version} ({backend.name})"
    if detection is None:
        return InstalledTorch(
            version, backend, source, None, f"torch {shown}: {backend.describe()}"
        )
    fix = "run `torchup pip install --torch-backend auto torch`"
    if o == "macos":
        message = f"torch {shown}: macOS build; MPS is available on Apple silicon"
        return InstalledTorch(version, backend, source, True, message)
    best = choose_backend(detection, version.public, os=o, machine=m).backend
    usable = True
    problems: list[str] = []
    consequence = ""
    if backend.kind == "cuda":
        usable, problems, consequence = _cuda_verdict(backend, detection, version, o, m)
    elif backend.kind == "rocm":
        consequence = "torch.cuda.is_available() will be False"
        if not detection.amd_archs:
            usable, problems = False, ["needs an AMD GPU that ROCm sees; none was found"]
        elif backend.version:
            lost = [a for a in detection.amd_archs if not rocm_supports(backend, a)]
            if lost:
                usable, problems = False, [f"has no kernels for {', '.join(lost)}"]
                consequence = "GPU kernels will fail ('invalid device function')"
    elif backend.kind == "xpu":
        if not detection.intel:
            usable, problems = False, ["needs an Intel GPU; none was found"]
            consequence = "torch.xpu.is_available() will be False"
    elif best.is_accelerated:
        message = (
            f"torch {shown} is a CPU-only build; this machine could use {best.name}: {fix} "
            f"to get {best.name}"
        )
        return InstalledTorch(version, backend, source, True, message, best)
    if usable:
        extra = f" ({'; '.join(problems)})" if problems else ""
        return InstalledTorch(version, backend, source, True, f"torch {shown}: usable here{extra}")
    tail = f"{fix} to get {best.name}" if best != backend else fix
    message = f"torch {shown} " + "; ".join(problems) + f": {consequence}; {tail}"
    return InstalledTorch(version, backend, source, False, message, best)


def _cuda_verdict(
    backend: Backend, detection: Detection, version: Version, o: str, m: str
) -> tuple[bool, list[str], str]:
    """(usable, problems, what the user will see) for a CUDA build on the detected machine."""
    unavailable = "torch.cuda.is_available() will be False"
    table_os = "windows" if (o == "windows" or detection.wsl) else "linux"
    need = cuda_needs_driver(backend, os=table_os)
    floor = cuda_minor_compat_floor(backend, os=table_os)
    driver = detection.nvidia_driver
    cuda = backend.cuda_version or (0, 0)
    if driver is None and detection.cuda_driver_version is None:
        return False, [f"needs an NVIDIA driver >= {need}; none was found"], unavailable
    problems: list[str] = []
    if driver is not None:
        have = driver_version_tuple(driver)
        if have < driver_version_tuple(floor or need):
            return False, [f"needs NVIDIA driver >= {need}; you have {driver}"], unavailable
        if have < driver_version_tuple(need):
            problems.append(
                f"runs on driver {driver} only by CUDA minor-version compatibility "
                f"(full support from {need})"
            )
    elif detection.cuda_driver_version is not None:
        api = detection.cuda_driver_version
        if api[0] < cuda[0]:
            message = (
                f"needs a driver for CUDA {cuda[0]}.{cuda[1]}; yours supports {api[0]}.{api[1]}"
            )
            return False, [message], unavailable
    archs = cuda_arch_list(backend, version, machine=m)
    lost = [
        g
        for g in detection.nvidia_gpus
        if g.compute_capability is not None and not has_kernels(g.compute_capability, archs)
    ]
    if lost:
        names = ", ".join(f"{g.name or 'GPU'} ({g.sm})" for g in lost)
        return (
            False,
            [f"has no kernels for {names}"],
            "CUDA operations will fail with 'no kernel image is available for execution on the "
            "device'",
        )
    return True, problems, ""
