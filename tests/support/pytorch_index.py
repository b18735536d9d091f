"""A download.pytorch.org-like set of indexes plus a PyPI-like index, on one :class:`IndexServer`.

``build_pytorch_world(root, big=False) -> World``. Facts follow docs NOTES.md (backend table,
labels, 403s, stale mirrors) and real wheel metadata, shrunk to a small but real closure.

Indexes (names as passed to ``server.index_url(name)``)
---------------------------------------------------------
=====================  ====  =======  =====  ===========  ======
index                  JSON  PEP 658  Range  missing ->   #sha256
=====================  ====  =======  =====  ===========  ======
pypi                   yes   yes      yes    404          yes
whl/cpu, whl/cu124,    no    no       yes    403          yes
whl/cu126, whl/cu128,
whl/cu130, whl/rocm6.4,
whl/xpu
whl/nightly/cpu,       no    no       yes    403          no
whl/nightly/cu128
=====================  ====  =======  =====  ===========  ======

torch builds (torchvision / torchaudio follow with the same labels and platforms)
--------------------------------------------------------------------------------
=========  ===========  =================================================================
torch      vision/audio where (label)
=========  ===========  =================================================================
2.4.1      0.19.1/2.4.1 pypi; whl/cpu
2.5.1      0.20.1/2.5.1 pypi; whl/cpu, cu124
2.7.1      0.22.1/2.7.1 pypi; whl/cpu, cu126, cu128, xpu
2.8.0      0.23.0/2.8.0 pypi; whl/cpu, cu126, cu128, rocm6.4, xpu
2.9.1      0.24.1/2.9.1 pypi; whl/cpu, cu126, cu128, cu130, rocm6.4, xpu
2.10.0.dev20251010  0.25.0.dev20251010/2.10.0.dev20251010  whl/nightly/cpu, whl/nightly/cu128
=========  ===========  =================================================================

Platforms and filenames
* pypi: no local label. Linux x86_64 (``manylinux1_x86_64`` for 2.4/2.5, ``manylinux_2_28_x86_64``
  after) is a CUDA build (nvidia deps: cu121 for 2.4.1, cu124 for 2.5.1, cu126 for 2.7.1, cu128
  for 2.8.0/2.9.1, plus ``triton==``); Linux aarch64 (``manylinux2014_aarch64`` /
  ``manylinux_2_28_aarch64``), macOS (``macosx_11_0_arm64``), Windows (``win_amd64``) are CPU.
* whl/cpu: ``+cpu`` on Linux x86_64 (``linux_x86_64`` for 2.4/2.5, ``manylinux_2_28_x86_64``
  after) and Windows; Linux aarch64 without label for 2.4.1/2.5.1, ``+cpu`` from 2.7.1; macOS
  arm64 never labelled.
* whl/cuXYZ: ``+cuXYZ`` on Linux x86_64 and Windows; Linux wheels require pinned
  ``nvidia-*`` packages and ``triton==`` with ``platform_system == "Linux" and platform_machine ==
  "x86_64"`` markers (cu130 uses the CUDA 13 names ``nvidia-cuda-runtime``, ``nvidia-cublas``,
  ``nvidia-cudnn-cu13``, ``nvidia-nccl-cu13``). Those nvidia packages and triton are mirrored on
  the matching CUDA index *and* on pypi.
* whl/rocm6.4: ``+rocm6.4``, Linux x86_64 only; requires ``pytorch-triton-rocm==3.4.0`` (2.8.0) /
  ``==3.5.1`` (2.9.1), which only whl/rocm6.4 has (pypi has only 2.1.0).
* whl/xpu: ``+xpu`` on Linux x86_64 and Windows; requires ``pytorch-triton-xpu==3.3.1/3.4.0/3.5.0``
  (Linux only), only on whl/xpu.
* nightly: torch ``2.10.0.dev20251010+cpu`` / ``+cu128`` (Linux x86_64, Windows; nightly/cpu also
  Linux aarch64 ``+cpu`` and macOS ``cp3xx-none-macosx_11_0_arm64`` without label). The ``+cu128``
  build requires ``pytorch-triton==3.5.0+git7416ffcb; platform_system == "Linux" and
  platform_machine == "x86_64"``, published on both nightly indexes only (pypi has the
  placeholder ``pytorch-triton 0.0.1``, as the real PyPI does). CPU builds carry no triton dep.
* Python tags: 2.4.1 cp310-cp312; 2.5.1 cp311-cp313; 2.7.1, 2.8.0, nightly cp311-cp312;
  2.9.1 cp310-cp313. Requires-Python: >=3.8.0 (2.4/2.5), >=3.9.0 (2.7/2.8), >=3.10 (2.9, nightly).
* torch requires filelock, typing-extensions, sympy (``==1.13.1`` for 2.5.1), networkx, jinja2,
  fsspec, and has extras ``opt-einsum`` / ``optree``. torchvision requires numpy, pillow and
  ``torch==<paired>`` (no label: matches any local build); torchaudio requires ``torch==<paired>``.

Third-party packages
* pypi (current): certifi (2025.10.5; also 2024.2.2 and 2022.12.7, the stale mirrors' version,
  as the real PyPI keeps every release), requests, idna, urllib3, charset-normalizer, numpy (1.26.4, 2.2.6,
  2.3.4; platform wheels cp310-cp313 where real), pillow (11.3.0, 12.0.0), jinja2, markupsafe,
  filelock, typing-extensions, sympy (1.13.1, 1.13.3, 1.14.0), mpmath, networkx, fsspec,
  opt-einsum, optree, nvidia-* (pinned versions above), triton (3.0.0 ... 3.5.1),
  pytorch-triton-rocm 2.1.0, pytorch-triton 0.0.1, and for seed scenarios torchmetrics,
  lightning-utilities, packaging, setuptools, lightgbm, scipy. Pure packages also have sdists.
* every whl/* index: stale mirrors certifi 2022.12.7, requests 2.28.1, urllib3 1.26.13, idna 3.4,
  charset-normalizer 2.1.1, pillow 10.2.0, numpy 1.26.3 (cp310-cp312 only), ``MarkupSafe-2.1.5``
  and ``Jinja2-3.1.4`` (non-normalized filenames, as there), markupsafe 3.0.2, filelock 3.13.1,
  typing-extensions 4.12.2, sympy 1.13.1 and 1.13.3, mpmath 1.3.0, networkx 3.3, fsspec 2024.6.1; enough
  for ``torch`` to resolve from one pytorch index alone, as ``pip install --index-url`` does.

``big=True``: every torch wheel carries a sparse payload (600 MB for CUDA/ROCm/XPU/pypi-Linux-x86_64
builds, 300 MB for the rest), so a whole-wheel download shows in ``server.bytes_sent``.
Built dist files are cached per process (per ``big``) and hard-linked into each world.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

from .server import IndexServer
from .wheels import DistSpec, build_sdist, build_wheel

__all__ = [
    "CUDA_INDEXES",
    "NIGHTLY",
    "PYTORCH_INDEXES",
    "TORCH_RELEASES",
    "World",
    "build_pytorch_world",
]

PYPI = "pypi"
# whl/cu124 carries only the torch 2.5.1 family (what an old pin with --torch-backend auto needs).
STABLE_INDEXES = (
    "whl/cpu",
    "whl/cu124",
    "whl/cu126",
    "whl/cu128",
    "whl/cu130",
    "whl/rocm6.4",
    "whl/xpu",
)
NIGHTLY_INDEXES = ("whl/nightly/cpu", "whl/nightly/cu128")
PYTORCH_INDEXES = STABLE_INDEXES + NIGHTLY_INDEXES
CUDA_INDEXES = ("whl/cu124", "whl/cu126", "whl/cu128", "whl/cu130")
NIGHTLY = "2.10.0.dev20251010"

LINUX_CUDA = 'platform_system == "Linux" and platform_machine == "x86_64"'

# torch -> (torchvision, torchaudio, backends on download.pytorch.org among our indexes, pythons)
TORCH_RELEASES: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    "2.4.1": ("0.19.1", "2.4.1", ("cpu",), ("cp310", "cp311", "cp312")),
    "2.5.1": ("0.20.1", "2.5.1", ("cpu", "cu124"), ("cp311", "cp312", "cp313")),
    "2.7.1": ("0.22.1", "2.7.1", ("cpu", "cu126", "cu128", "xpu"), ("cp311", "cp312")),
    "2.8.0": (
        "0.23.0",
        "2.8.0",
        ("cpu", "cu126", "cu128", "rocm6.4", "xpu"),
        ("cp311", "cp312"),
    ),
    "2.9.1": (
        "0.24.1",
        "2.9.1",
        ("cpu", "cu126", "cu128", "cu130", "rocm6.4", "xpu"),
        ("cp310", "cp311", "cp312", "cp313"),
    ),
}
NIGHTLY_VISION = "0.25.0.dev20251010"
NIGHTLY_PYTHONS = ("cp311", "cp312")

_REQUIRES_PYTHON = {"2.4.1": ">=3.8.0", "2.5.1": ">=3.8.0", "2.7.1": ">=3.9.0", "2.8.0": ">=3.9.0"}

# (cuda-runtime, cublas, cudnn, nccl) pins per (torch, cuda flavour); real values from wheels.
_NVIDIA_PINS: dict[tuple[str, str], tuple[str, str, str, str]] = {
    ("2.4.1", "cu121"): ("12.1.105", "12.1.3.1", "9.1.0.70", "2.20.5"),
    ("2.5.1", "cu124"): ("12.4.127", "12.4.5.8", "9.1.0.70", "2.21.5"),
    ("2.7.1", "cu126"): ("12.6.77", "12.6.4.1", "9.5.1.17", "2.26.2"),
    ("2.7.1", "cu128"): ("12.8.57", "12.8.3.14", "9.7.1.26", "2.26.2"),
    ("2.8.0", "cu126"): ("12.6.77", "12.6.4.1", "9.10.2.21", "2.27.3"),
    ("2.8.0", "cu128"): ("12.8.90", "12.8.4.1", "9.10.2.21", "2.27.3"),
    ("2.9.1", "cu126"): ("12.6.77", "12.6.4.1", "9.10.2.21", "2.27.5"),
    ("2.9.1", "cu128"): ("12.8.90", "12.8.4.1", "9.10.2.21", "2.27.5"),
    ("2.9.1", "cu130"): ("13.0.96", "13.1.0.3", "9.13.0.50", "2.27.7"),
    (NIGHTLY, "cu128"): ("12.8.90", "12.8.4.1", "9.10.2.21", "2.27.5"),
}
# The CUDA build PyPI's Linux x86_64 torch is.
_PYPI_CUDA = {
    "2.4.1": "cu121",
    "2.5.1": "cu124",
    "2.7.1": "cu126",
    "2.8.0": "cu128",
    "2.9.1": "cu128",
}
_TRITON = {"2.4.1": "3.0.0", "2.5.1": "3.1.0", "2.7.1": "3.3.1", "2.8.0": "3.4.0", "2.9.1": "3.5.1"}
_TRITON_ROCM = {"2.8.0": "3.4.0", "2.9.1": "3.5.1"}
_TRITON_XPU = {"2.7.1": "3.3.1", "2.8.0": "3.4.0", "2.9.1": "3.5.0"}
PYTORCH_TRITON_NIGHTLY = "3.5.0+git7416ffcb"

_BIG_GPU = 600_000_000
_BIG_CPU = 300_000_000

ALL_PYTHONS = ("cp310", "cp311", "cp312", "cp313")


def _nvidia_names(flavour: str) -> tuple[str, str, str, str]:
    if flavour == "cu130":
        return ("nvidia-cuda-runtime", "nvidia-cublas", "nvidia-cudnn-cu13", "nvidia-nccl-cu13")
    return (
        "nvidia-cuda-runtime-cu12",
        "nvidia-cublas-cu12",
        "nvidia-cudnn-cu12",
        "nvidia-nccl-cu12",
    )


def _nvidia_reqs(torch: str, flavour: str) -> list[str]:
    pins = _NVIDIA_PINS[(torch, flavour)]
    return [f"{n}=={v}; {LINUX_CUDA}" for n, v in zip(_nvidia_names(flavour), pins, strict=True)]


def _torch_base_reqs(version: str) -> list[str]:
    if version == "2.5.1":
        sympy = 'sympy==1.13.1; python_version >= "3.9"'
    elif version == "2.4.1":
        sympy = "sympy"
    else:
        sympy = "sympy>=1.13.3"
    te = (
        "typing-extensions>=4.8.0" if version in ("2.4.1", "2.5.1") else "typing-extensions>=4.10.0"
    )
    return [
        "filelock",
        te,
        sympy,
        "networkx",
        "jinja2",
        "fsspec",
    ]


_TORCH_EXTRAS = ['opt-einsum>=3.3; extra == "opt-einsum"', 'optree>=0.13.0; extra == "optree"']


def _torch_reqs(version: str, flavour: str) -> list[str]:
    """torch's Requires-Dist for a build flavour: cpu, cuXYZ, rocm6.4, xpu (or pypi:<cuXYZ>)."""
    base = _torch_base_reqs(version if version != NIGHTLY else "2.9.1")
    gpu: list[str] = []
    if flavour.startswith("cu"):
        gpu = _nvidia_reqs(version, flavour)
        if version == NIGHTLY:
            gpu.append(f"pytorch-triton=={PYTORCH_TRITON_NIGHTLY}; {LINUX_CUDA}")
        else:
            gpu.append(f"triton=={_TRITON[version]}; {LINUX_CUDA}")
    elif flavour.startswith("rocm"):
        gpu = [f"pytorch-triton-rocm=={_TRITON_ROCM[version]}; {LINUX_CUDA}"]
    elif flavour == "xpu":
        gpu = [f'pytorch-triton-xpu=={_TRITON_XPU[version]}; platform_system == "Linux"']
    return base + gpu + _TORCH_EXTRAS


def _requires_python(version: str) -> str:
    return _REQUIRES_PYTHON.get(version, ">=3.10")


# --- platform tags ------------------------------------------------------------------------------


def _linux_x86(version: str, pypi: bool) -> str:
    if version in ("2.4.1", "2.5.1"):
        return "manylinux1_x86_64" if pypi else "linux_x86_64"
    return "manylinux_2_28_x86_64"


def _linux_arm(version: str) -> str:
    return "manylinux2014_aarch64" if version in ("2.4.1", "2.5.1") else "manylinux_2_28_aarch64"


@dataclass(frozen=True)
class _Build:
    """One (version, label) build of the torch family: which platforms, which label where."""

    label: str | None  # "cpu", "cu128", ... ; None for pypi
    platforms: tuple[tuple[str, str | None], ...]  # (platform tag, local label or None)


def _builds(version: str, backend: str) -> _Build:
    """Platforms published on whl/<backend> for a torch version (label per platform)."""
    x86 = _linux_x86(version, pypi=False)
    if backend == "cpu":
        arm_label = None if version in ("2.4.1", "2.5.1") else "cpu"
        plats: list[tuple[str, str | None]] = [
            (x86, "cpu"),
            (_linux_arm(version), arm_label),
            ("macosx_11_0_arm64", None),
            ("win_amd64", "cpu"),
        ]
    elif backend.startswith("rocm"):
        plats = [(x86, backend)]
    else:  # cuXYZ, xpu
        plats = [(x86, backend), ("win_amd64", backend)]
    return _Build(backend, tuple(plats))


# --- the plan: (index, DistSpec, also_sdist) ----------------------------------------------------


@dataclass
class _Plan:
    items: list[tuple[str, DistSpec, str | None]] = field(default_factory=list)
    # (index, spec, rename-to filename or None)

    def add(self, index: str, spec: DistSpec, rename: str | None = None) -> None:
        self.items.append((index, spec, rename))

    def add_all(self, indexes: tuple[str, ...], spec: DistSpec) -> None:
        for index in indexes:
            self.add(index, spec)


def _py_tags(py: str, abi: str | None = None, plat: str = "any") -> str:
    return f"{py}-{abi or py}-{plat}"


def _torch_family(
    plan: _Plan,
    index: str,
    version: str,
    vision: str,
    audio: str,
    platforms: tuple[tuple[str, str | None], ...],
    pythons: tuple[str, ...],
    flavour_for: dict[str | None, str],
    big: bool,
    nightly_mac_abi_none: bool = False,
) -> None:
    for plat, label in platforms:
        flavour = flavour_for.get(label, "cpu")
        # All wheels of one version+label share their metadata, as on the real indexes: the GPU
        # deps carry markers that keep them off other platforms.
        local = f"+{label}" if label else ""
        payload = 0
        if big:
            payload = _BIG_GPU if flavour != "cpu" else _BIG_CPU
        for py in pythons:
            abi = "none" if (nightly_mac_abi_none and plat.startswith("macosx")) else py
            tags = f"{py}-{abi}-{plat}"
            plan.add(
                index,
                DistSpec(
                    "torch",
                    version + local,
                    requires_dist=tuple(_torch_reqs(version, flavour)),
                    requires_python=_requires_python(version),
                    tags=tags,
                    payload_bytes=payload,
                    entry_points={"console_scripts": {"torchrun": "torch.distributed.run:main"}},
                    summary="Tensors and Dynamic neural networks in Python with strong GPU acceleration",
                ),
            )
            plan.add(
                index,
                DistSpec(
                    "torchvision",
                    vision + local,
                    requires_dist=("numpy", f"torch=={version}", "pillow!=8.3.*,>=5.3.0"),
                    requires_python=_requires_python(version),
                    tags=tags,
                    summary="image and video datasets and models for torch deep learning",
                ),
            )
            plan.add(
                index,
                DistSpec(
                    "torchaudio",
                    audio + local,
                    requires_dist=(f"torch=={version}",),
                    requires_python=_requires_python(version),
                    tags=tags,
                    summary="An audio package for PyTorch",
                ),
            )


def _platform_wheels(
    plan: _Plan,
    indexes: tuple[str, ...],
    name: str,
    version: str,
    pythons: tuple[str, ...],
    plats: tuple[str, ...],
    requires_python: str | None = None,
    requires_dist: tuple[str, ...] = (),
    abi3: bool = False,
) -> None:
    for plat in plats:
        for py in pythons:
            tags = f"{py}-abi3-{plat}" if abi3 else f"{py}-{py}-{plat}"
            plan.add_all(
                indexes,
                DistSpec(
                    name,
                    version,
                    requires_dist=requires_dist,
                    requires_python=requires_python,
                    tags=tags,
                ),
            )
            if abi3:
                break


_COMMON_PLATS = (
    "manylinux_2_17_x86_64.manylinux2014_x86_64",
    "manylinux_2_17_aarch64.manylinux2014_aarch64",
    "macosx_11_0_arm64",
    "win_amd64",
)


def _pure(
    name: str,
    version: str,
    deps: tuple[str, ...] = (),
    rp: str | None = None,
    sdist: bool = False,
    summary: str = "",
) -> DistSpec:
    return DistSpec(
        name, version, requires_dist=deps, requires_python=rp, sdist=sdist, summary=summary
    )


def _make_plan(big: bool) -> _Plan:
    plan = _Plan()
    pypi = (PYPI,)

    # --- torch family on the pytorch indexes -------------------------------------------------
    for version, (vision, audio, backends, pythons) in TORCH_RELEASES.items():
        for backend in backends:
            build = _builds(version, backend)
            _torch_family(
                plan,
                f"whl/{backend}",
                version,
                vision,
                audio,
                build.platforms,
                pythons,
                {backend: backend, None: "cpu"},
                big,
            )
        # PyPI: unlabelled; Linux x86_64 is the CUDA build.
        for plat, flavour in (
            (_linux_x86(version, pypi=True), _PYPI_CUDA[version]),
            (_linux_arm(version), "cpu"),
            ("macosx_11_0_arm64", "cpu"),
            ("win_amd64", "cpu"),
        ):
            _torch_family(
                plan,
                PYPI,
                version,
                vision,
                audio,
                ((plat, None),),
                pythons,
                {None: flavour},
                big,
            )
    # Nightly.
    _torch_family(
        plan,
        "whl/nightly/cpu",
        NIGHTLY,
        NIGHTLY_VISION,
        NIGHTLY,
        (
            ("manylinux_2_28_x86_64", "cpu"),
            ("manylinux_2_28_aarch64", "cpu"),
            ("macosx_11_0_arm64", None),
            ("win_amd64", "cpu"),
        ),
        NIGHTLY_PYTHONS,
        {"cpu": "cpu", None: "cpu"},
        big,
        nightly_mac_abi_none=True,
    )
    _torch_family(
        plan,
        "whl/nightly/cu128",
        NIGHTLY,
        NIGHTLY_VISION,
        NIGHTLY,
        (("manylinux_2_28_x86_64", "cu128"), ("win_amd64", "cu128")),
        NIGHTLY_PYTHONS,
        {"cu128": "cu128"},
        big,
    )

    # --- GPU support packages ------------------------------------------------------------------
    nvidia_plat = "manylinux_2_27_x86_64.manylinux_2_28_x86_64"
    seen: set[tuple[str, str, str]] = set()
    for (torch, flavour), pins in _NVIDIA_PINS.items():
        names = _nvidia_names(flavour)
        where: list[str] = [PYPI]
        if torch == NIGHTLY:
            where = ["whl/nightly/cu128"]
        elif f"whl/{flavour}" in CUDA_INDEXES:
            where.append(f"whl/{flavour}")
        for name, pin in zip(names, pins, strict=True):
            deps: tuple[str, ...] = ()
            if "cudnn" in name:
                deps = (names[1],)  # cudnn needs cublas, as the real wheels say
            for index in where:
                if (index, name, pin) in seen:
                    continue
                seen.add((index, name, pin))
                plan.add(
                    index,
                    DistSpec(
                        name,
                        pin,
                        requires_dist=deps,
                        requires_python=">=3",
                        tags=f"py3-none-{nvidia_plat}",
                    ),
                )
    triton_plat = "manylinux_2_27_x86_64.manylinux_2_28_x86_64"
    for torch, triton in _TRITON.items():
        where = [PYPI] + [
            f"whl/{b}" for b in TORCH_RELEASES[torch][2] if f"whl/{b}" in CUDA_INDEXES
        ]
        for index in where:
            if (index, "triton", triton) in seen:
                continue
            seen.add((index, "triton", triton))
            _platform_wheels(plan, (index,), "triton", triton, ALL_PYTHONS, (triton_plat,))
    for triton in sorted(set(_TRITON_ROCM.values())):
        _platform_wheels(
            plan,
            ("whl/rocm6.4",),
            "pytorch-triton-rocm",
            triton,
            ("cp310", "cp311", "cp312", "cp313"),
            ("linux_x86_64",),
        )
    _platform_wheels(
        plan, pypi, "pytorch-triton-rocm", "2.1.0", ("cp310", "cp311"), ("linux_x86_64",)
    )
    for triton in sorted(set(_TRITON_XPU.values())):
        _platform_wheels(
            plan,
            ("whl/xpu",),
            "pytorch-triton-xpu",
            triton,
            ALL_PYTHONS,
            ("manylinux_2_27_x86_64.manylinux_2_28_x86_64",),
        )
    _platform_wheels(
        plan,
        NIGHTLY_INDEXES,
        "pytorch-triton",
        PYTORCH_TRITON_NIGHTLY,
        NIGHTLY_PYTHONS,
        ("linux_x86_64",),
    )
    plan.add(PYPI, _pure("pytorch-triton", "0.0.1", summary="placeholder"))

    # --- stale mirrors on every pytorch index ---------------------------------------------------
    for spec in (
        _pure("certifi", "2022.12.7", rp=">=3.6"),
        _pure(
            "requests",
            "2.28.1",
            (
                "charset-normalizer<3,>=2",
                "idna<4,>=2.5",
                "urllib3<1.27,>=1.21.1",
                "certifi>=2017.4.17",
            ),
            rp=">=3.7, <4",
        ),
        _pure("urllib3", "1.26.13", rp="!=3.0.*,!=3.1.*,!=3.2.*,!=3.3.*,!=3.4.*,!=3.5.*,>=2.7"),
        _pure("idna", "3.4", rp=">=3.5"),
        _pure("charset-normalizer", "2.1.1", rp=">=3.6.0"),
        _pure("filelock", "3.13.1", rp=">=3.8"),
        _pure("typing-extensions", "4.12.2", rp=">=3.8"),
        _pure("sympy", "1.13.3", ("mpmath<1.4,>=1.1.0",), rp=">=3.8"),
        _pure("sympy", "1.13.1", ("mpmath<1.4,>=1.1.0",), rp=">=3.8"),  # torch 2.5.1 pins it
        _pure("mpmath", "1.3.0"),
        _pure("networkx", "3.3", rp=">=3.10"),
        _pure("fsspec", "2024.6.1", rp=">=3.8"),
    ):
        plan.add_all(PYTORCH_INDEXES, spec)
    # Old uploads keep their non-normalized filenames there (MarkupSafe-2.1.5-..., Jinja2-3.1.4-...).
    jinja = _pure("Jinja2", "3.1.4", ("MarkupSafe>=2.0",), rp=">=3.7")
    for index in PYTORCH_INDEXES:
        plan.add(index, jinja, rename="Jinja2-3.1.4-py3-none-any.whl")
        for py in ("cp310", "cp311", "cp312"):
            for plat in (
                "manylinux_2_17_x86_64.manylinux2014_x86_64",
                "win_amd64",
                "macosx_10_9_universal2",
            ):
                spec = DistSpec(
                    "MarkupSafe", "2.1.5", requires_python=">=3.7", tags=f"{py}-{py}-{plat}"
                )
                plan.add(index, spec, rename=f"MarkupSafe-2.1.5-{py}-{py}-{plat}.whl")
    # MarkupSafe 2.1.5 has no cp313 wheels; the mirrors also carry 3.0.2 (normalized name).
    _platform_wheels(
        plan,
        PYTORCH_INDEXES,
        "markupsafe",
        "3.0.2",
        ALL_PYTHONS,
        _COMMON_PLATS,
        requires_python=">=3.9",
    )
    _platform_wheels(
        plan,
        PYTORCH_INDEXES,
        "pillow",
        "10.2.0",
        ("cp310", "cp311", "cp312"),
        _COMMON_PLATS,
        requires_python=">=3.8",
    )
    _platform_wheels(
        plan,
        PYTORCH_INDEXES,
        "numpy",
        "1.26.3",
        ("cp310", "cp311", "cp312"),
        _COMMON_PLATS,
        requires_python=">=3.9",
    )

    # --- the PyPI-like index ----------------------------------------------------------------
    for spec in (
        _pure("certifi", "2025.10.5", rp=">=3.7", sdist=True),
        # Old releases PyPI still serves: 2022.12.7 is also the stale mirror on every whl/*
        # index (same file), 2024.2.2 is seed 004's pin.
        _pure("certifi", "2024.2.2", rp=">=3.6"),
        _pure("certifi", "2022.12.7", rp=">=3.6"),
        _pure(
            "requests",
            "2.32.5",
            (
                "charset_normalizer<4,>=2",
                "idna<4,>=2.5",
                "urllib3<3,>=1.21.1",
                "certifi>=2017.4.17",
                'PySocks!=1.5.7,>=1.5.6; extra == "socks"',
                'chardet<6,>=3.0.2; extra == "use-chardet-on-py3"',
            ),
            rp=">=3.9",
            sdist=True,
        ),
        _pure("idna", "3.11", rp=">=3.8", sdist=True),
        _pure("urllib3", "2.5.0", rp=">=3.9", sdist=True),
        _pure("charset-normalizer", "3.4.4", rp=">=3.7"),
        _pure("filelock", "3.20.0", rp=">=3.10", sdist=True),
        _pure("filelock", "3.13.1", rp=">=3.8"),
        _pure("typing-extensions", "4.15.0", rp=">=3.9"),
        _pure("typing-extensions", "4.12.2", rp=">=3.8"),
        _pure("jinja2", "3.1.6", ("MarkupSafe>=2.0", 'Babel>=2.7; extra == "i18n"'), rp=">=3.7"),
        _pure("sympy", "1.14.0", ("mpmath<1.4,>=1.1.0",), rp=">=3.9"),
        _pure("sympy", "1.13.3", ("mpmath<1.4,>=1.1.0",), rp=">=3.8"),
        _pure("sympy", "1.13.1", ("mpmath<1.4,>=1.1.0",), rp=">=3.8"),
        _pure("mpmath", "1.3.0", sdist=True),
        _pure("networkx", "3.5", rp=">=3.11"),
        _pure("networkx", "3.4.2", rp=">=3.10"),
        _pure("networkx", "3.2.1", rp=">=3.9"),
        _pure("fsspec", "2025.9.0", rp=">=3.9"),
        _pure("opt-einsum", "3.4.0", rp=">=3.8"),
        _pure("packaging", "25.0", rp=">=3.8", sdist=True),
        _pure("setuptools", "80.9.0", rp=">=3.9"),
        _pure(
            "lightning-utilities",
            "0.15.2",
            ("packaging>=17.1", "setuptools", "typing_extensions"),
            rp=">=3.9",
        ),
        _pure(
            "torchmetrics",
            "1.8.2",
            ("numpy>1.20.2", "packaging>17.1", "torch>=2.0.0", "lightning-utilities>=0.8.0"),
            rp=">=3.9",
        ),
        _pure(
            "torchmetrics",
            "1.4.3",
            ("numpy>1.20.2", "packaging>17.1", "torch>=1.10.0", "lightning-utilities>=0.8.0"),
            rp=">=3.8",
        ),
    ):
        plan.add(PYPI, spec)
        if spec.sdist:
            plan.add(PYPI, spec, rename="sdist")
    _platform_wheels(
        plan, pypi, "markupsafe", "3.0.3", ALL_PYTHONS, _COMMON_PLATS, requires_python=">=3.9"
    )
    _platform_wheels(
        plan,
        pypi,
        "markupsafe",
        "2.1.5",
        ("cp310", "cp311", "cp312"),
        _COMMON_PLATS,
        requires_python=">=3.7",
    )
    _platform_wheels(
        plan,
        pypi,
        "numpy",
        "2.3.4",
        ("cp311", "cp312", "cp313"),
        _COMMON_PLATS,
        requires_python=">=3.11",
    )
    _platform_wheels(
        plan, pypi, "numpy", "2.2.6", ALL_PYTHONS, _COMMON_PLATS, requires_python=">=3.10"
    )
    _platform_wheels(
        plan,
        pypi,
        "numpy",
        "1.26.4",
        ("cp310", "cp311", "cp312"),
        _COMMON_PLATS,
        requires_python=">=3.9",
    )
    _platform_wheels(
        plan, pypi, "pillow", "12.0.0", ALL_PYTHONS, _COMMON_PLATS, requires_python=">=3.10"
    )
    _platform_wheels(
        plan, pypi, "pillow", "11.3.0", ALL_PYTHONS, _COMMON_PLATS, requires_python=">=3.9"
    )
    _platform_wheels(
        plan,
        pypi,
        "optree",
        "0.17.0",
        ALL_PYTHONS,
        _COMMON_PLATS,
        requires_python=">=3.9",
        requires_dist=("typing-extensions>=4.6.0",),
    )
    _platform_wheels(
        plan,
        pypi,
        "scipy",
        "1.16.2",
        ("cp311", "cp312", "cp313"),
        _COMMON_PLATS,
        requires_python=">=3.11",
        requires_dist=("numpy<2.6,>=1.25.2",),
    )
    _platform_wheels(
        plan,
        pypi,
        "scipy",
        "1.15.3",
        ("cp310", "cp311", "cp312", "cp313"),
        _COMMON_PLATS,
        requires_python=">=3.10",
        requires_dist=("numpy<2.5,>=1.23.5",),
    )
    plan.add(
        PYPI,
        DistSpec(
            "lightgbm",
            "4.6.0",
            requires_dist=("numpy>=1.17.0", "scipy"),
            requires_python=">=3.7",
            tags="py3-none-manylinux_2_28_x86_64",
        ),
    )
    plan.add(
        PYPI,
        DistSpec(
            "lightgbm",
            "4.6.0",
            requires_dist=("numpy>=1.17.0", "scipy"),
            requires_python=">=3.7",
            tags="py3-none-macosx_12_0_arm64",
        ),
    )
    plan.add(
        PYPI,
        DistSpec(
            "lightgbm",
            "4.6.0",
            requires_dist=("numpy>=1.17.0", "scipy"),
            requires_python=">=3.7",
            tags="py3-none-win_amd64",
        ),
    )
    plan.add(
        PYPI,
        DistSpec(
            "lightgbm", "4.6.0", requires_dist=("numpy>=1.17.0", "scipy"), requires_python=">=3.7"
        ),
        rename="sdist",
    )
    return plan


# --- building (cached per process) --------------------------------------------------------------

_CACHE: dict[bool, tuple[Path, list[tuple[str, str]]]] = {}
_CACHE_LOCK = threading.Lock()


def _build_all(big: bool) -> tuple[Path, list[tuple[str, str]]]:
    """Build every dist once per process; return (dist dir, [(index, filename)])."""
    with _CACHE_LOCK:
        cached = _CACHE.get(big)
        if cached is not None and cached[0].exists():
            return cached
        dist_dir = Path(tempfile.mkdtemp(prefix=f"torchup-world-{'big' if big else 'small'}-"))
        built: dict[tuple[DistSpec, str | None], str] = {}
        owners: dict[str, tuple[DistSpec, str | None]] = {}
        placements: list[tuple[str, str]] = []
        scratch = dist_dir / "_renames"
        for index, spec, rename in _make_plan(big).items:
            key = (spec, rename)
            filename = built.get(key)
            if filename is None:
                if rename == "sdist":
                    path = build_sdist(spec, dist_dir)
                elif rename is not None:
                    # Built aside: its normalized name may be another spec's file.
                    path = build_wheel(spec, scratch).rename(dist_dir / rename)
                else:
                    path = build_wheel(spec, dist_dir)
                filename = path.name
                if owners.setdefault(filename, key) != key:
                    raise AssertionError(f"two different specs build {filename}")
                built[key] = filename
            placements.append((index, filename))
        shutil.rmtree(scratch, ignore_errors=True)
        _CACHE[big] = (dist_dir, placements)
        return _CACHE[big]


def _cleanup() -> None:
    for dist_dir, _ in _CACHE.values():
        shutil.rmtree(dist_dir, ignore_errors=True)


import atexit  # noqa: E402 - registered right after the cache it cleans

atexit.register(_cleanup)


# --- the world ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """A started server holding the PyTorch-like indexes and ``pypi``.

    ``urls`` maps each index name ("pypi", "whl/cpu", "whl/nightly/cu128", ...) to its URL.
    Session-scoped worlds are shared: use :meth:`configured` to change switches temporarily.
    """

    server: IndexServer
    urls: dict[str, str]
    published: dict[str, tuple[str, ...]]  # index name -> filenames

    def url(self, name: str) -> str:
        """URL of an index; accepts short names too ("cu128" -> "whl/cu128", "nightly/cpu")."""
        if name in self.urls:
            return self.urls[name]
        return self.urls[f"whl/{name.strip('/')}"]

    def files(self, index: str, project: str | None = None) -> list[str]:
        """Filenames published on ``index`` (a name accepted by :meth:`url`), optionally of one
        project."""
        index = index if index in self.published else f"whl/{index.strip('/')}"
        names = list(self.published[index])
        if project is None:
            return names
        want = canonicalize_name(project)
        return [n for n in names if _project_of(n) == want]

    def versions(self, index: str, project: str) -> list[str]:
        """Distinct versions of ``project`` on ``index`` (string form, sorted by PEP 440)."""
        from packaging.version import Version

        vs = {_version_of(n) for n in self.files(index, project)}
        return sorted(vs, key=Version)

    @contextlib.contextmanager
    def configured(self, index: str, **switches: object) -> Iterator[IndexServer]:
        """Temporarily ``server.configure(index, **switches)``; restores the old settings."""
        index = index if index in self.published else f"whl/{index.strip('/')}"
        srv = self.server
        with srv._lock:
            old = srv._configs.get(index)
        srv.configure(index, **switches)  # type: ignore[arg-type]
        try:
            yield srv
        finally:
            with srv._lock:
                if old is None:
                    srv._configs.pop(index, None)
                else:
                    srv._configs[index] = old


def _project_of(filename: str) -> str:
    if filename.endswith(".whl"):
        return str(parse_wheel_filename(filename)[0])
    return str(parse_sdist_filename(filename)[0])


def _version_of(filename: str) -> str:
    if filename.endswith(".whl"):
        return str(parse_wheel_filename(filename)[1])
    return str(parse_sdist_filename(filename)[1])


def build_pytorch_world(root: Path, *, big: bool = False, start: bool = True) -> World:
    """Publish the world into ``root`` on a new :class:`IndexServer` (started unless
    ``start=False``; the caller stops it)."""
    dist_dir, placements = _build_all(big)
    server = IndexServer(Path(root))
    by_index: dict[str, list[Path]] = {}
    for index, filename in placements:
        by_index.setdefault(index, []).append(dist_dir / filename)
    for index, paths in by_index.items():
        server.publish(index, paths)
    for index in STABLE_INDEXES:
        server.configure(index, json=False, pep658=False, missing_status=403)
    for index in NIGHTLY_INDEXES:
        server.configure(index, json=False, pep658=False, missing_status=403, hashes=False)
    if start:
        server.start()
    published = {k: tuple(v) for k, v in server.indexes().items()}
    urls = {name: server.index_url(name) for name in published} if start else {}
    return World(server=server, urls=urls, published=published)
