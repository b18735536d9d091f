"""Which index serves which package once a torch backend is chosen.

The rule torchup follows: the torch family (torch, torchvision, triton, ...) comes from the
PyTorch index of the chosen backend; nothing else ever comes from a PyTorch index unless the
user pinned it there. download.pytorch.org also lists certifi, requests, numpy, nvidia-* and
more, often at old versions (NOTES.md): taking those from it is how resolutions break (uv
#9647). ``nvidia-*`` are deliberately not routed: PyPI carries them current.

Also here: recognising PyTorch index URLs (and mirrors the user marked ``torch-index = true``),
their channel (stable/test/nightly) and backend, and which local version labels a backend
accepts (``+cu128`` yes, ``+rocm6.4`` never, unlabelled only where the platform has no labels).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

if TYPE_CHECKING:
    from torchup.torch.backend import Backend, Channel

# torchup.torch.backend (its tables and dataclasses, ~3 ms to import) is imported by the
# functions that need it: a plain `pip install` asks only whether an index URL is a PyTorch
# one and whether a package is in the torch family.

__all__ = [
    "DEFAULT_INDEX_BASE",
    "TORCH_FAMILY",
    "ACCELERATOR_BUILT",
    "PYTORCH_INDEX_HOSTS",
    "PytorchIndex",
    "TorchRouting",
    "is_torch_family",
    "has_accelerator_builds",
    "is_pytorch_index_url",
    "parse_pytorch_index_url",
    "backend_from_url",
    "channel_from_url",
    "is_nightly_url",
    "accepts_local_label",
    "label_preference",
]

# Packages published on download.pytorch.org for each backend. Source: the brief's list, checked
# against astral-sh/uv crates/uv-torch/src/backend.rs `TorchStrategy::applies_to` (PyTorch
# source), which adds fbgemm-gpu-genai, torch-tensorrt, torcharrow, torchcsprng, torchdistx.
TORCH_FAMILY: frozenset[NormalizedName] = frozenset(
    canonicalize_name(n)
    for n in (
        "torch",
        "torchvision",
        "torchaudio",
        "torchtext",
        "torchdata",
        "torchao",
        "torchcodec",
        "torchrec",
        "torchtune",
        "torchserve",
        "torch-model-archiver",
        "torch-tensorrt",
        "torcharrow",
        "torchcsprng",
        "torchdistx",
        "fbgemm-gpu",
        "fbgemm-gpu-genai",
        "xformers",
        "triton",
        "pytorch-triton",
        "pytorch-triton-rocm",
        "pytorch-triton-xpu",
        "triton-rocm",
        "triton-xpu",
    )
)

# Family members whose builds differ per backend (they carry +cu128-style labels, or are
# unlabelled CPU/CUDA builds depending on the platform). Triton and pure-Python packages are
# the same on every index. Source: uv's `has_system_dependency`.
ACCELERATOR_BUILT: frozenset[NormalizedName] = frozenset(
    canonicalize_name(n)
    for n in (
        "torch",
        "torchvision",
        "torchaudio",
        "torchtext",
        "torchao",
        "torchcodec",
        "torchrec",
        "torchtune",
        "torch-tensorrt",
        "torcharrow",
        "torchcsprng",
        "torchdistx",
        "fbgemm-gpu",
        "fbgemm-gpu-genai",
        "xformers",
    )
)

PYTORCH_INDEX_HOSTS: frozenset[str] = frozenset({"download.pytorch.org"})
# The ``.../whl`` root of the PyTorch indexes (also :data:`torchup.torch.backend.DEFAULT_INDEX_BASE`).
DEFAULT_INDEX_BASE = "https://download.pytorch.org/whl"


def is_torch_family(name: str) -> bool:
    """Whether a package (any spelling: ``Torch_Vision`` too) is served by the PyTorch index."""
    return canonicalize_name(name) in TORCH_FAMILY


def has_accelerator_builds(name: str) -> bool:
    """Whether a torch-family package has per-backend builds (local labels matter for it)."""
    return canonicalize_name(name) in ACCELERATOR_BUILT


def _norm_prefix(url: str) -> str:
    return url.strip().rstrip("/") + "/"


@dataclass(frozen=True)
class PytorchIndex:
    """A PyTorch index URL taken apart: ``base`` + optional channel + optional backend."""

    base: str
    channel: Channel
    backend: Backend | None


def parse_pytorch_index_url(url: str, mirror_prefixes: Iterable[str] = ()) -> PytorchIndex | None:
    """Split ``https://download.pytorch.org/whl/nightly/cu128`` into base, channel, backend.

    Mirrors are given as URL prefixes standing for ``.../whl`` (the user's ``torch-index =
    true`` indexes). A URL that is not a PyTorch index gives None; one without a backend
    segment (``/whl/nightly/pytorch-triton/``, ``/whl``) has ``backend`` None.
    """
    base: str | None = None
    rest = ""
    candidate = url.strip()
    for prefix in sorted({_norm_prefix(p) for p in mirror_prefixes}, key=len, reverse=True):
        if _norm_prefix(candidate).startswith(prefix):
            base = prefix.rstrip("/")
            rest = _norm_prefix(candidate)[len(prefix) :]
            break
    if base is None:
        parts = urlsplit(candidate)
        if parts.scheme not in ("http", "https") or parts.hostname not in PYTORCH_INDEX_HOSTS:
            return None
        path = parts.path
        if not (path == "/whl" or path.startswith("/whl/")):
            return None
        base = f"{parts.scheme}://{parts.netloc}/whl"
        rest = path[len("/whl") :]
    from torchup.torch.backend import CHANNELS

    segments = [s for s in rest.split("/") if s]
    channel: Channel = "stable"
    if segments and segments[0] in CHANNELS and segments[0] != "stable":
        channel = "nightly" if segments[0] == "nightly" else "test"
        segments = segments[1:]
    backend = None
    if segments:
        backend = _backend_segment(segments[0])
    return PytorchIndex(base, channel, backend)


def _backend_segment(segment: str) -> Backend | None:
    from torchup.torch.backend import parse_local_label

    label = parse_local_label(segment)
    # parse_local_label accepts "cpu.cxx11.abi"; a directory must be the exact name.
    if label is not None and label.name == segment.lower():
        return label
    return None


def is_pytorch_index_url(url: str, mirror_prefixes: Iterable[str] = ()) -> bool:
    """Whether ``url`` is download.pytorch.org/whl/... or under one of ``mirror_prefixes``."""
    return parse_pytorch_index_url(url, mirror_prefixes) is not None


def backend_from_url(url: str, mirror_prefixes: Iterable[str] = ()) -> Backend | None:
    """The backend a PyTorch index URL serves (``.../whl/cu128`` -> cu128), else None."""
    parsed = parse_pytorch_index_url(url, mirror_prefixes)
    return parsed.backend if parsed else None


def channel_from_url(url: str, mirror_prefixes: Iterable[str] = ()) -> Channel | None:
    """``stable``, ``test`` or ``nightly`` for a PyTorch index URL, else None."""
    parsed = parse_pytorch_index_url(url, mirror_prefixes)
    return parsed.channel if parsed else None


def is_nightly_url(url: str, mirror_prefixes: Iterable[str] = ()) -> bool:
    """Whether a URL is a PyTorch nightly index (``.../whl/nightly/...``)."""
    return channel_from_url(url, mirror_prefixes) == "nightly"


@dataclass(frozen=True)
class TorchRouting:
    """Where torch-family packages come from for one backend and channel.

    ``base_url`` is the ``.../whl`` root (download.pytorch.org or a mirror);
    ``mirror_prefixes`` are other URL prefixes that count as PyTorch indexes.
    """

    backend: Backend
    channel: Channel = "stable"
    base_url: str = DEFAULT_INDEX_BASE
    mirror_prefixes: frozenset[str] = frozenset()

    @property
    def index_url(self) -> str:
        """The backend's index: ``https://download.pytorch.org/whl/cu128``."""
        from torchup.torch.backend import index_url

        return index_url(self.backend, self.channel, self.base_url)

    def applies_to(self, package: str) -> bool:
        """Whether ``package`` is routed to the PyTorch index."""
        return is_torch_family(package)

    def index_for(self, package: str) -> str | None:
        """The PyTorch index URL for a torch-family package; None for every other package."""
        return self.index_url if is_torch_family(package) else None

    def is_pytorch_index(self, url: str) -> bool:
        """Whether ``url`` is a PyTorch index (the default host, this base or a mirror)."""
        prefixes = set(self.mirror_prefixes) | {self.base_url}
        return is_pytorch_index_url(url, prefixes)

    @classmethod
    def from_index_url(cls, url: str, mirror_prefixes: Iterable[str] = ()) -> TorchRouting | None:
        """The routing a user's ``--index-url https://download.pytorch.org/whl/cu128`` implies."""
        prefixes = frozenset(mirror_prefixes)
        parsed = parse_pytorch_index_url(url, prefixes)
        if parsed is None or parsed.backend is None:
            return None
        return cls(parsed.backend, parsed.channel, parsed.base, prefixes)


def _unlabelled_build(version: Version, platform_os: str, machine: str) -> Backend:
    # What an unlabelled torch-family wheel is on this platform: PyPI's build.
    from torchup.torch.backend import pypi_default_backend

    return pypi_default_backend(version, os=platform_os, machine=machine)


def accepts_local_label(
    version: Version | str, backend: Backend, platform_os: str, machine: str
) -> bool:
    """Whether a build with this version's local label may be used for ``backend``.

    Accepted: the backend's own label (``+cu128``, also ``+cpu.cxx11.abi`` for cpu); a label
    that names no backend (``+git35c6c7c6``); an unlabelled build where it *is* that backend:
    macOS, Windows and Linux aarch64 CPU wheels, PyPI's Linux x86_64 CUDA build for its CUDA
    version (cu130 for torch 2.11). Never another accelerator's label.
    Apply it to packages with :func:`has_accelerator_builds`; others are the same everywhere.
    """
    from torchup.torch.backend import normalize_machine, normalize_os, parse_local_label

    try:
        v = version if isinstance(version, Version) else Version(str(version))
    except InvalidVersion:
        return False
    labelled = parse_local_label(v.local)
    if labelled is not None:
        return labelled == backend
    if v.local is not None:
        return True
    o, m = normalize_os(platform_os), normalize_machine(machine)
    return _unlabelled_build(v, o, m) == backend


def label_preference(
    backend: Backend,
    available_versions: Iterable[Version | str],
    platform_os: str = "linux",
    machine: str = "x86_64",
) -> list[Version]:
    """The acceptable versions for ``backend``, best first.

    Newest public version first; among builds of one public version, the one labelled for the
    backend before an accepted unlabelled one. Versions another backend's label names, and
    unlabelled builds that are a different backend here, are dropped.
    """
    from torchup.torch.backend import parse_local_label

    out: list[tuple[Version, int]] = []
    for item in available_versions:
        try:
            v = item if isinstance(item, Version) else Version(str(item))
        except InvalidVersion:
            continue
        if not accepts_local_label(v, backend, platform_os, machine):
            continue
        exact = parse_local_label(v.local) == backend
        out.append((v, 0 if exact else 1))
    out.sort(key=lambda pair: (Version(pair[0].public), -pair[1]), reverse=True)
    return [v for v, _ in out]
