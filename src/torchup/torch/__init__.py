"""PyTorch knowledge: backends and their index URLs, machine detection, package routing.

Everything torchup knows about PyTorch lives in this package and nowhere else:

- :mod:`torchup.torch.backend`: :class:`Backend` (cpu, cu128, rocm6.4, xpu), the tables of
  torch releases, NVIDIA drivers and GPU architectures, :func:`choose_backend`.
- :mod:`torchup.torch.detect`: probes (a thin reader plus a pure parser each) and
  :func:`detect`; :func:`inspect_installed_torch`.
- :mod:`torchup.torch.routing`: which packages come from a PyTorch index, URL recognition,
  local-label acceptance.
- :mod:`torchup.torch.explain`: text and JSON for ``torchup detect``.

This package imports only ``packaging``, :mod:`torchup.errors` and the standard library.
Importing it imports none of its modules: the names re-exported here load theirs on first use
(a plain ``pip install`` needs routing's URL checks, not the backend tables or the detection
probes' ctypes/subprocess users).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torchup.torch.backend import (
        CPU,
        XPU,
        Backend,
        Channel,
        Choice,
        backends_for_torch,
        choose_backend,
        cuda_needs_driver,
        index_url,
        local_label,
        parse_backend,
        parse_backend_or_auto,
    )
    from torchup.torch.routing import (
        DEFAULT_INDEX_BASE,
        TorchRouting,
        accepts_local_label,
        is_nightly_url,
        is_pytorch_index_url,
        is_torch_family,
    )

__all__ = [
    "CPU",
    "XPU",
    "DEFAULT_INDEX_BASE",
    "Backend",
    "Channel",
    "Choice",
    "TorchRouting",
    "accepts_local_label",
    "backends_for_torch",
    "choose_backend",
    "cuda_needs_driver",
    "index_url",
    "is_nightly_url",
    "is_pytorch_index_url",
    "is_torch_family",
    "local_label",
    "parse_backend",
    "parse_backend_or_auto",
]

# ``from torchup.torch import routing`` loads routing alone; each name below loads its module
# on first access.
_BACKEND_NAMES = frozenset(
    {
        "CPU",
        "XPU",
        "Backend",
        "Channel",
        "Choice",
        "backends_for_torch",
        "choose_backend",
        "cuda_needs_driver",
        "index_url",
        "local_label",
        "parse_backend",
        "parse_backend_or_auto",
    }
)


def __getattr__(name: str) -> Any:
    if name in __all__:
        import importlib

        module = "backend" if name in _BACKEND_NAMES else "routing"
        value = getattr(importlib.import_module(f"torchup.torch.{module}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
